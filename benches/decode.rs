//! Record batch decoding: kafka-esm's zero-copy iterator against kafka-protocol's
//! `RecordBatchDecoder::decode`, per codec, over the same fetch-response-sized buffer
//! (500 records of 1 KiB with 2 headers each, in batches of 50 as a producer would send).
//! Both sides touch every key, value and header. After criterion's groups, a plain
//! alternating timing loop prints the ours/baseline ratio per codec for this run.

mod common;

use common::{RECORDS, XorShift};
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use criterion::{Criterion, Throughput};
use kafka_esm::kafka::protocol::records::RecordBatches;
use kafka_protocol::records::{Compression, RecordBatchDecoder};

const VALUE_SIZE: usize = 1024;

const CODECS: [(&str, Compression); 5] = [
    ("none", Compression::None),
    ("gzip", Compression::Gzip),
    ("snappy", Compression::Snappy),
    ("lz4", Compression::Lz4),
    ("zstd", Compression::Zstd),
];

/// Record `i`'s value: a JSON-like object of `VALUE_SIZE` bytes.
fn value(i: usize, rng: &mut XorShift) -> String {
    let mut value = format!(
        r#"{{"id":{i},"user":"user-{}","event":"click","payload":""#,
        rng.next() % 10_000
    );
    let pad = VALUE_SIZE - value.len() - 2;
    value.push_str(&rng.text(pad));
    value.push_str(r#""}"#);
    value
}

/// A records field of the bench's records, compressed with `compression`.
fn fetch_response(compression: Compression) -> Bytes {
    common::fetch_response(0, compression, value)
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
