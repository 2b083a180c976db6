//! Event encoding: kafka-esm's `EventEncoder` fed by its zero-copy `RecordBatches`, against
//! a straightforward implementation (kafka-protocol's `RecordBatchDecoder`, derive structs,
//! the `base64` crate and `serde_json::to_vec`), and against base64-simd alone over the
//! same values (the physical floor). Each input is a fetched records field of 500 records
//! (in producer batches of 50, uncompressed, two headers each) with values of 100 B, 1 KiB
//! and 64 KiB; one iteration makes the event for all 500. Throughput counts value bytes.
//!
//! A counting global allocator (below, the only `unsafe` in the project's own code)
//! reports allocations per event. After criterion's groups, a plain alternating timing
//! loop prints the ratios for this run.

mod common;

use common::RECORDS;
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::{Buf, Bytes};
use criterion::{Criterion, Throughput};
use kafka_esm::kafka::protocol::records::RecordBatches;
use kafka_esm::lambda::EventEncoder;
use kafka_protocol::records::{Compression, RecordBatchDecoder, TimestampType};
use serde::Serialize;

/// Counts allocations (and reallocations), then lets `System` do the work.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method passes its arguments unchanged to `System`, whose implementation
// meets `GlobalAlloc`'s contract, and returns what `System` returns; the only addition is
// a relaxed atomic increment, which neither allocates, touches the memory managed, nor
// unwinds. So each method upholds exactly the contract `System` does.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, which `System.alloc` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by this allocator, that is by `System`, with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator, that is by `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SIZES: [(&str, usize); 3] = [("100B", 100), ("1KiB", 1024), ("64KiB", 64 * 1024)];
const TOPIC: &str = "orders";
const PARTITION: i32 = 3;
const SERVERS: &str = "b-1.example:9092,b-2.example:9092";

/// A records field of the bench's records with `value_size`-byte values, uncompressed.
fn fetch_response(value_size: usize) -> Bytes {
    common::fetch_response(1_000_000, Compression::None, |_, rng| rng.text(value_size))
}

/// Ours without the event: iterate the fetched buffer (CRC checks included), keeping each
/// record until the end as the encoder does. What encoding adds is `ours - decode_only`.
fn decode_only(keep: &mut Vec<kafka_esm::kafka::protocol::records::Record>, data: &Bytes) -> usize {
    keep.clear();
    for batch in RecordBatches::new(data.clone()) {
        for record in batch.expect("batch").records().expect("records") {
            keep.push(record.expect("record"));
        }
    }
    keep.len()
}

/// Ours: iterate the fetched buffer and encode every record into one event.
fn ours(enc: &mut EventEncoder, data: &Bytes) -> Bytes {
    for batch in RecordBatches::new(data.clone()) {
        for record in batch.expect("batch").records().expect("records") {
            enc.push(TOPIC, PARTITION, record.expect("record"))
                .expect("push");
        }
    }
    enc.finish().payload()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BaselineEvent {
    event_source: &'static str,
    bootstrap_servers: String,
    records: BTreeMap<String, Vec<BaselineRecord>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BaselineRecord {
    topic: String,
    partition: i32,
    offset: i64,
    timestamp: i64,
    timestamp_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    headers: Vec<BTreeMap<String, Option<Vec<i8>>>>,
}

/// The straightforward implementation: decode, build structs, serialize.
fn baseline(data: &Bytes) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut buf = data.clone();
    let mut records = Vec::new();
    while buf.has_remaining() {
        let set = RecordBatchDecoder::decode(&mut buf).expect("decode");
        for r in set.records {
            records.push(BaselineRecord {
                topic: TOPIC.to_owned(),
                partition: PARTITION,
                offset: r.offset,
                timestamp: r.timestamp,
                timestamp_type: match r.timestamp_type {
                    TimestampType::Creation => "CREATE_TIME",
                    TimestampType::LogAppend => "LOG_APPEND_TIME",
                },
                key: r.key.map(|k| b64.encode(k)),
                value: r.value.map(|v| b64.encode(v)),
                headers: r
                    .headers
                    .into_iter()
                    .map(|(k, v)| {
                        let v = v.map(|v| v.iter().map(|&b| b as i8).collect());
                        BTreeMap::from([(k.to_string(), v)])
                    })
                    .collect(),
            });
        }
    }
    let event = BaselineEvent {
        event_source: "SelfManagedKafka",
        bootstrap_servers: SERVERS.to_owned(),
        records: BTreeMap::from([(format!("{TOPIC}-{PARTITION}"), records)]),
    };
    serde_json::to_vec(&event).expect("serialize")
}

/// The values of `data`, for the base64-only reference.
fn values(data: &Bytes) -> Vec<Bytes> {
    RecordBatches::new(data.clone())
        .flat_map(|b| b.expect("batch").records().expect("records"))
        .filter_map(|r| r.expect("record").value)
        .collect()
}

/// base64-simd alone over every value, into one warm buffer.
fn base64_only(out: &mut Vec<u8>, values: &[Bytes]) -> usize {
    out.clear();
    for v in values {
        base64_simd::STANDARD.encode_append(v, out);
    }
    out.len()
}

/// Allocations made by `f`.
fn allocations<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let out = f();
    (ALLOCATIONS.load(Ordering::Relaxed) - before, out)
}

/// Nanoseconds per event of `f`, averaged over about `budget`.
fn ns_per_event(mut f: impl FnMut() -> usize, budget: Duration) -> f64 {
    let start = Instant::now();
    let mut iters = 0u32;
    while start.elapsed() < budget {
        black_box(f());
        iters += 1;
    }
    start.elapsed().as_nanos() as f64 / f64::from(iters)
}

struct Input {
    name: &'static str,
    data: Bytes,
    values: Vec<Bytes>,
    value_bytes: u64,
}

fn main() {
    let inputs: Vec<Input> = SIZES
        .iter()
        .map(|&(name, size)| {
            let data = fetch_response(size);
            let values = values(&data);
            let value_bytes = values.iter().map(|v| v.len() as u64).sum();
            Input {
                name,
                data,
                values,
                value_bytes,
            }
        })
        .collect();

    let mut enc = EventEncoder::new(SERVERS);
    let mut out = Vec::new();
    let mut keep = Vec::new();
    for input in &inputs {
        let a: serde_json::Value = serde_json::from_slice(&ours(&mut enc, &input.data)).unwrap();
        let b: serde_json::Value = serde_json::from_slice(&baseline(&input.data)).unwrap();
        assert_eq!(a, b, "{}: encoders disagree", input.name);
    }

    let mut c = Criterion::default().configure_from_args();
    for input in &inputs {
        let mut group = c.benchmark_group(format!("encode/{}", input.name));
        group.throughput(Throughput::Bytes(input.value_bytes));
        group.bench_function("kafka-esm", |b| {
            b.iter(|| ours(&mut enc, black_box(&input.data)))
        });
        group.bench_function("serde_json+base64", |b| {
            b.iter(|| baseline(black_box(&input.data)))
        });
        group.bench_function("base64-simd only", |b| {
            b.iter(|| base64_only(&mut out, black_box(&input.values)))
        });
        group.bench_function("kafka-esm decode only", |b| {
            b.iter(|| decode_only(&mut keep, black_box(&input.data)))
        });
        group.finish();
    }
    c.final_summary();

    // `cargo bench` passes --bench; `cargo test --benches` does not (one quick pass only).
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    eprintln!();
    eprintln!("allocations per event of {RECORDS} records (encoder warm):");
    eprintln!(
        "{:<6} {:>12} {:>16} {:>18}",
        "values", "kafka-esm", "+ payload()", "serde_json+base64"
    );
    for input in &inputs {
        let (encode, event) = allocations(|| {
            for batch in RecordBatches::new(input.data.clone()) {
                for record in batch.unwrap().records().unwrap() {
                    enc.push(TOPIC, PARTITION, record.unwrap()).unwrap();
                }
            }
            enc.finish()
        });
        let (payload, _) = allocations(|| event.payload());
        let (theirs, _) = allocations(|| baseline(&input.data));
        eprintln!("{:<6} {encode:>12} {payload:>16} {theirs:>18}", input.name);
    }
    eprintln!();
    eprintln!("throughput of value bytes (best of 5 alternating rounds of 300 ms), and ratios:");
    eprintln!(
        "{:<6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>13} {:>13}",
        "values",
        "kafka-esm",
        "serde+b64",
        "b64-simd",
        "decode",
        "esm/serde",
        "esm/b64-simd",
        "encode part"
    );
    for input in &inputs {
        let mut best = [f64::MAX; 4];
        let budget = Duration::from_millis(300);
        for _ in 0..5 {
            let round = [
                ns_per_event(|| ours(&mut enc, &input.data).len(), budget),
                ns_per_event(|| baseline(&input.data).len(), budget),
                ns_per_event(|| base64_only(&mut out, &input.values), budget),
                ns_per_event(|| decode_only(&mut keep, &input.data), budget),
            ];
            for (b, r) in best.iter_mut().zip(round) {
                *b = b.min(r);
            }
        }
        let [ours_ns, base_ns, b64_ns, decode_ns] = best;
        let gbps = |ns: f64| input.value_bytes as f64 / ns;
        eprintln!(
            "{:<6} {:>5.2} GB/s {:>5.2} GB/s {:>5.2} GB/s {:>5.2} GB/s {:>9.2}x {:>12.0}% {:>12.0}%",
            input.name,
            gbps(ours_ns),
            gbps(base_ns),
            gbps(b64_ns),
            gbps(decode_ns),
            base_ns / ours_ns,
            100.0 * b64_ns / ours_ns,
            100.0 * b64_ns / (ours_ns - decode_ns)
        );
    }
}
