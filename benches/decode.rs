//! Record batch decoding: kafka-esm's zero-copy iterator against kafka-protocol's
//! `RecordBatchDecoder::decode`, per codec, over the same fetch-response-sized buffer
//! (500 records of 1 KiB with 2 headers each, in batches of 50 as a producer would send).
//! Both sides touch every key, value and header. After criterion's groups, a plain
//! alternating timing loop prints the ours/baseline ratio per codec for this run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use criterion::{Criterion, Throughput};
use kafka_esm::kafka::wire::records::RecordBatches;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

const RECORDS: usize = 500;
const PER_BATCH: usize = 50;
const VALUE_SIZE: usize = 1024;

const CODECS: [(&str, Compression); 5] = [
    ("none", Compression::None),
    ("gzip", Compression::Gzip),
    ("snappy", Compression::Snappy),
    ("lz4", Compression::Lz4),
    ("zstd", Compression::Zstd),
];

/// A small deterministic generator, so every run decodes the same bytes.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// `n` characters from a 32-letter alphabet: compressible about as well as JSON.
    fn text(&mut self, n: usize) -> String {
        const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz012345";
        (0..n)
            .map(|_| ALPHABET[(self.next() % 32) as usize] as char)
            .collect()
    }
}

fn record(i: usize, rng: &mut XorShift) -> Record {
    let mut value = format!(
        r#"{{"id":{i},"user":"user-{}","event":"click","payload":""#,
        rng.next() % 10_000
    );
    let pad = VALUE_SIZE - value.len() - 2;
    value.push_str(&rng.text(pad));
    value.push_str(r#""}"#);
    let mut headers = IndexMap::new();
    headers.insert(
        StrBytes::from_static_str("trace-id"),
        Some(Bytes::from(rng.text(32))),
    );
    headers.insert(
        StrBytes::from_static_str("content-type"),
        Some(Bytes::from_static(b"application/json")),
    );
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: i as i64,
        // Keep `offset - sequence` constant so the encoder keeps a batch together.
        sequence: (i % PER_BATCH) as i32 - 1,
        timestamp: 1_700_000_000_000 + i as i64,
        key: Some(Bytes::from(format!("key-{i:012}"))),
        value: Some(Bytes::from(value)),
        headers,
    }
}

/// A records field of `RECORDS` records in batches of `PER_BATCH`.
fn fetch_response(compression: Compression) -> Bytes {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let records: Vec<Record> = (0..RECORDS).map(|i| record(i, &mut rng)).collect();
    let mut buf = BytesMut::new();
    for batch in records.chunks(PER_BATCH) {
        RecordBatchEncoder::encode(
            &mut buf,
            batch,
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )
        .expect("encode");
    }
    buf.freeze()
}

/// Our iterator, touching every key, value and header.
fn ours(data: &Bytes) -> usize {
    let mut n = 0;
    for batch in RecordBatches::new(data.clone()) {
        for record in batch.expect("batch").records().expect("records") {
            let record = record.expect("record");
            n += record.key.map_or(0, |k| k.len()) + record.value.map_or(0, |v| v.len());
            for (k, v) in record.headers {
                n += k.len() + v.map_or(0, |v| v.len());
            }
        }
    }
    n
}

/// kafka-protocol's decoder, touching the same.
fn theirs(data: &Bytes) -> usize {
    let mut buf = data.clone();
    let mut n = 0;
    while buf.has_remaining() {
        let set = RecordBatchDecoder::decode(&mut buf).expect("decode");
        for record in &set.records {
            n += record.key.as_ref().map_or(0, |k| k.len())
                + record.value.as_ref().map_or(0, |v| v.len());
            for (k, v) in &record.headers {
                n += k.len() + v.as_ref().map_or(0, |v| v.len());
            }
        }
    }
    n
}

/// Nanoseconds per record of `f` over `data`, averaged over about `budget`.
fn ns_per_record(f: fn(&Bytes) -> usize, data: &Bytes, budget: Duration) -> f64 {
    let start = Instant::now();
    let mut iters = 0u32;
    while start.elapsed() < budget {
        black_box(f(black_box(data)));
        iters += 1;
    }
    start.elapsed().as_nanos() as f64 / f64::from(iters) / RECORDS as f64
}

fn main() {
    let inputs: Vec<(&str, Bytes)> = CODECS
        .iter()
        .map(|&(name, codec)| (name, fetch_response(codec)))
        .collect();
    for (name, data) in &inputs {
        assert_eq!(ours(data), theirs(data), "{name}: decoders disagree");
    }

    let mut c = Criterion::default().configure_from_args();
    for (name, data) in &inputs {
        let mut group = c.benchmark_group(format!("decode/{name}"));
        group.throughput(Throughput::Elements(RECORDS as u64));
        group.bench_function("kafka-esm", |b| b.iter(|| ours(black_box(data))));
        group.bench_function("kafka-protocol", |b| b.iter(|| theirs(black_box(data))));
        group.finish();
    }
    c.final_summary();

    // `cargo bench` passes --bench; `cargo test --benches` does not (one quick pass only).
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    eprintln!();
    eprintln!("ratio ours/kafka-protocol (ns per record, best of 5 alternating rounds of 200 ms):");
    eprintln!(
        "{:<8} {:>8} {:>10} {:>14} {:>7}",
        "codec", "bytes", "kafka-esm", "kafka-protocol", "ratio"
    );
    for (name, data) in &inputs {
        let (mut best_ours, mut best_theirs) = (f64::MAX, f64::MAX);
        for _ in 0..5 {
            best_ours = best_ours.min(ns_per_record(ours, data, Duration::from_millis(200)));
            best_theirs = best_theirs.min(ns_per_record(theirs, data, Duration::from_millis(200)));
        }
        eprintln!(
            "{name:<8} {:>8} {best_ours:>10.1} {best_theirs:>14.1} {:>7.2}",
            data.len(),
            best_ours / best_theirs
        );
    }
}
