//! Consume and encode, end to end: the CPU time per record that kafka-esm spends reading
//! N records from a real broker and turning them into Lambda `SelfManagedKafka` events,
//! against a peer built on librdkafka (the `rdkafka` crate, its bundled librdkafka
//! 2.12) that builds the same events the straightforward way with serde_json and base64.
//!
//! Setup (not measured): a nisshi broker from the rig (in-memory storage), a topic of
//! [`PARTITIONS`] partitions, and N records (200 000 unless `KAFKA_ESM_BENCH_RECORDS`
//! says otherwise) written by kafka-esm's own producer in uncompressed batches of
//! [`PER_BATCH`]: 1 KiB values (`KAFKA_ESM_BENCH_VALUE_BYTES`) of random letters and digits, a
//! 16-byte key and two headers (`trace-id`, 32 bytes; `content-type`).
//!
//! Each measured run starts from nothing (connect, metadata, every partition assigned
//! at offset 0, no consumer group), reads until every partition reaches its end and
//! encodes events of [`BATCH_SIZE`] records (the mapping's default `BatchSize`) of one
//! partition each, as the mapping engine hands them over. The payloads are dropped as
//! soon as they are made (an invoker would send them). The two sides:
//!
//! - **kafka-esm**: `Cluster` + `Fetcher` (the runtime's fetch settings: 500 ms max wait,
//!   prefetch on, 1 MiB per partition, 50 MiB per response, read_committed), records
//!   kept per partition until 100 are there, then `EventEncoder::push` and `finish`, as
//!   `src/runtime` does. On a multi-thread tokio runtime, as `kafka-esm run` uses. The
//!   engine's bookkeeping and its per-record size arithmetic are not included.
//! - **rdkafka**: a `BaseConsumer` with `assign` (a `group.id`, which librdkafka
//!   requires, but no group joined and no commits), polled message by message;
//!   each message becomes a struct (topic, partition, offset, timestamp, type, key and
//!   value in standard base64, headers as arrays of signed bytes), and every 100 of a
//!   partition become a `{"eventSource", "bootstrapServers", "records": {"topic-p": [..]}}`
//!   struct serialized with `serde_json::to_vec`. librdkafka's fetch settings are its
//!   defaults, which match ours (500 ms `fetch.wait.max.ms`, 1 MiB
//!   `max.partition.fetch.bytes`, 50 MiB `fetch.max.bytes`), and it prefetches more
//!   (`queued.min.messages` 100 000), which costs it no extra work. Our fetcher checks
//!   every batch's CRC-32C; librdkafka does only with `check.crcs=true`. The peer runs
//!   both ways: with it (the same job, the headline ratio) and with its defaults.
//!
//! CPU time is the process's (`CLOCK_PROCESS_CPUTIME_ID`: user + system of every
//! thread, so librdkafka's broker threads and tokio's workers count); the broker is
//! another process. Wall time is printed too, and records/s from CPU time (what a core
//! would do) and from wall time. Rounds alternate (ours, peer with CRCs, peer defaults),
//! three unless `KAFKA_ESM_BENCH_ROUNDS` says otherwise; the best round of each is
//! reported, and the median with it.
//!
//! Before timing, one run of each side keeps every event and the bench fails unless
//! they are the same events: same count per partition, each equal as JSON (and the
//! bytes are compared too). Every timed run must then deliver the same tally: records,
//! events, the sum of offsets, and the key and value bytes.
//!
//! Without the rig (`scripts/install-rig`) it says so and exits 0, measuring nothing.
//! Under `cargo test --benches` (no `--bench` argument) it does one small quick round.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use cpu_time::ProcessTime;
use kafka_esm::kafka::client::cluster::{Cluster, ClusterConfig};
use kafka_esm::kafka::client::conn::ConnectionConfig;
use kafka_esm::kafka::consumer::fetcher::{FetchConfig, FetchPosition, Fetcher};
use kafka_esm::kafka::producer::{Producer, ProducerConfig};
use kafka_esm::kafka::protocol::records::Record;
use kafka_esm::kafka::protocol::records::encode::ProduceRecord;
use kafka_esm::lambda::EventEncoder;
use kafka_esm_rig::{Broker, Nisshi};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::{Headers as _, Message as _, Timestamp};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::Serialize;

const PARTITIONS: i32 = 4;
/// Records per producer batch, as in the other benches.
const PER_BATCH: usize = 50;
/// Records per event: the mapping's default `BatchSize`.
const BATCH_SIZE: usize = 100;
const TOPIC: &str = "bench-consume";

/// What a run delivered, compared across runs and sides.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Tally {
    records: u64,
    events: u64,
    offset_sum: i64,
    key_value_bytes: u64,
    payload_bytes: u64,
}

impl Tally {
    fn record(&mut self, offset: i64, key: Option<&[u8]>, value: Option<&[u8]>) {
        self.records += 1;
        self.offset_sum += offset;
        self.key_value_bytes += (key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len)) as u64;
    }
}

/// The events of a run, kept for the equivalence check: partition → payloads in order.
type Kept = BTreeMap<i32, Vec<Vec<u8>>>;

/// One run's result.
struct Run {
    tally: Tally,
    cpu: Duration,
    wall: Duration,
}

/// Runs `f`, measuring the process's CPU time and the wall time it took.
fn measured(f: impl FnOnce() -> Tally) -> Run {
    let (cpu0, wall0) = (ProcessTime::now(), Instant::now());
    let tally = f();
    Run {
        cpu: cpu0.elapsed(),
        wall: wall0.elapsed(),
        tally,
    }
}

// --- setup -------------------------------------------------------------------------------

/// A small deterministic generator, so every run reads the same bytes.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// `n` characters from a 32-letter alphabet.
    fn text(&mut self, n: usize) -> Vec<u8> {
        const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz012345";
        (0..n)
            .map(|_| ALPHABET[(self.next() % 32) as usize])
            .collect()
    }
}

/// Writes `n` records with `value_bytes`-byte values, round-robin over the partitions in
/// batches of [`PER_BATCH`]; returns each partition's end offset.
async fn produce(bootstrap: &str, n: usize, value_bytes: usize) -> Vec<i64> {
    let cluster = Arc::new(connect(bootstrap).await);
    let mut producer = Producer::new(cluster, ProducerConfig::default());
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut ends = vec![0i64; PARTITIONS as usize];
    let mut i = 0;
    let mut batch_no = 0;
    while i < n {
        let partition = batch_no % PARTITIONS;
        let records: Vec<ProduceRecord> = (i..n.min(i + PER_BATCH))
            .map(|i| ProduceRecord {
                key: Some(Bytes::from(format!("key-{i:012}"))),
                value: Some(Bytes::from(rng.text(value_bytes))),
                headers: vec![
                    (
                        Bytes::from_static(b"trace-id"),
                        Some(Bytes::from(rng.text(32))),
                    ),
                    (
                        Bytes::from_static(b"content-type"),
                        Some(Bytes::from_static(b"application/json")),
                    ),
                ],
                timestamp: 1_700_000_000_000 + i as i64,
            })
            .collect();
        let delivered = producer
            .send_to(TOPIC, partition, &records)
            .await
            .expect("produce");
        let last = delivered.last().expect("a delivery");
        ends[partition as usize] = last.offset + 1;
        i += records.len();
        batch_no += 1;
    }
    ends
}

async fn connect(bootstrap: &str) -> Cluster {
    Cluster::connect(
        ClusterConfig {
            bootstrap: vec![bootstrap.to_string()],
            connection: ConnectionConfig::default(),
        },
        &[TOPIC.to_string()],
    )
    .await
    .expect("connect")
}

// --- kafka-esm ---------------------------------------------------------------------------

/// Reads every partition from offset 0 to `ends` and encodes events of [`BATCH_SIZE`].
async fn ours(bootstrap: &str, ends: &[i64], mut keep: Option<&mut Kept>) -> Tally {
    let cluster = Arc::new(connect(bootstrap).await);
    let mut fetcher = Fetcher::new(
        cluster,
        FetchConfig {
            max_wait: Duration::from_millis(500),
            prefetch: true,
            ..FetchConfig::default()
        },
    );
    for p in 0..PARTITIONS {
        fetcher.assign(TOPIC, p, FetchPosition::Offset(0));
    }
    let mut encoder = EventEncoder::new(bootstrap);
    let mut pending: Vec<Vec<Record>> = (0..PARTITIONS)
        .map(|_| Vec::with_capacity(BATCH_SIZE))
        .collect();
    let mut positions = vec![0i64; ends.len()];
    let mut tally = Tally::default();
    let mut emit = |partition: i32, records: &mut Vec<Record>, tally: &mut Tally| {
        for r in records.drain(..) {
            tally.record(r.offset, r.key.as_deref(), r.value.as_deref());
            encoder.push(TOPIC, partition, r).expect("push");
        }
        let payload = encoder.finish().payload();
        tally.events += 1;
        tally.payload_bytes += payload.len() as u64;
        if let Some(kept) = keep.as_deref_mut() {
            kept.entry(partition).or_default().push(payload.to_vec());
        }
    };
    while positions.iter().zip(ends).any(|(p, e)| p < e) {
        for fetched in fetcher.fetch().await.expect("fetch") {
            let p = fetched.partition;
            positions[p as usize] = fetched.next_offset;
            let pend = &mut pending[p as usize];
            for r in fetched.records {
                pend.push(r);
                if pend.len() == BATCH_SIZE {
                    emit(p, pend, &mut tally);
                }
            }
        }
    }
    for (p, pend) in pending.iter_mut().enumerate() {
        if !pend.is_empty() {
            emit(p as i32, pend, &mut tally);
        }
    }
    tally
}

// --- the peer: rdkafka + serde_json ------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PeerEvent<'a> {
    event_source: &'static str,
    bootstrap_servers: &'a str,
    records: BTreeMap<String, Vec<PeerRecord>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PeerRecord {
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

/// The same job with librdkafka and serde_json; `config` adds consumer properties.
fn peer(bootstrap: &str, ends: &[i64], config: &[(&str, &str)], keep: Option<&mut Kept>) -> Tally {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", bootstrap)
        // librdkafka's assign needs one; it joins no group and commits nothing.
        .set("group.id", "kafka-esm-bench-peer")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false");
    for (k, v) in config {
        client.set(*k, *v);
    }
    let consumer: BaseConsumer = client.create().expect("rdkafka consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(TOPIC, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");

    let b64 = base64::engine::general_purpose::STANDARD;
    let total: i64 = ends.iter().sum();
    let mut pending: Vec<Vec<PeerRecord>> = (0..PARTITIONS).map(|_| Vec::new()).collect();
    let mut tally = Tally::default();
    let mut keep = keep;
    let mut emit = |partition: i32, records: Vec<PeerRecord>, tally: &mut Tally| {
        let event = PeerEvent {
            event_source: "SelfManagedKafka",
            bootstrap_servers: bootstrap,
            records: BTreeMap::from([(format!("{TOPIC}-{partition}"), records)]),
        };
        let payload = serde_json::to_vec(&event).expect("serialize");
        tally.events += 1;
        tally.payload_bytes += payload.len() as u64;
        if let Some(kept) = keep.as_deref_mut() {
            kept.entry(partition).or_default().push(payload);
        }
    };
    let mut seen = 0i64;
    while seen < total {
        let Some(msg) = consumer.poll(Duration::from_secs(10)) else {
            panic!("rdkafka: nothing for 10 s after {seen} of {total} records");
        };
        let msg = msg.expect("rdkafka message");
        seen += 1;
        tally.record(msg.offset(), msg.key(), msg.payload());
        let (timestamp, timestamp_type) = match msg.timestamp() {
            Timestamp::CreateTime(t) => (t, "CREATE_TIME"),
            Timestamp::LogAppendTime(t) => (t, "LOG_APPEND_TIME"),
            Timestamp::NotAvailable => (-1, "NO_TIMESTAMP_TYPE"),
        };
        let record = PeerRecord {
            topic: msg.topic().to_owned(),
            partition: msg.partition(),
            offset: msg.offset(),
            timestamp,
            timestamp_type,
            key: msg.key().map(|k| b64.encode(k)),
            value: msg.payload().map(|v| b64.encode(v)),
            headers: msg
                .headers()
                .map(|hs| {
                    hs.iter()
                        .map(|h| {
                            let v = h.value.map(|v| v.iter().map(|&b| b as i8).collect());
                            BTreeMap::from([(h.key.to_owned(), v)])
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
        let p = msg.partition();
        let pend = &mut pending[p as usize];
        pend.push(record);
        if pend.len() == BATCH_SIZE {
            emit(p, std::mem::take(pend), &mut tally);
        }
    }
    for (p, pend) in pending.into_iter().enumerate() {
        if !pend.is_empty() {
            emit(p as i32, pend, &mut tally);
        }
    }
    // librdkafka's threads stop in the drop: part of the job, so inside the measurement.
    drop(consumer);
    tally
}

/// With CRC checks, as our fetcher always does.
const PEER_CRC: &[(&str, &str)] = &[("check.crcs", "true")];

// --- main --------------------------------------------------------------------------------

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

/// Fails unless both runs made the same events.
fn check_equivalent(ours: &Kept, theirs: &Kept) -> (usize, usize) {
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "the two sides' events cover different partitions"
    );
    let (mut identical, mut equal) = (0, 0);
    for (p, a) in ours {
        let b = &theirs[p];
        assert_eq!(a.len(), b.len(), "partition {p}: event counts differ");
        for (i, (a, b)) in a.iter().zip(b).enumerate() {
            if a == b {
                identical += 1;
                continue;
            }
            let a: serde_json::Value = serde_json::from_slice(a).expect("our event is JSON");
            let b: serde_json::Value = serde_json::from_slice(b).expect("peer event is JSON");
            assert!(a == b, "partition {p} event {i}: the two sides disagree");
            equal += 1;
        }
    }
    (identical, equal)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    for tool in ["nisshi-0.8.1/bin/nisshi", "venv/bin/python"] {
        if let Err(e) = kafka_esm_rig::rig_tool(tool) {
            eprintln!("consume bench: skipped, the test rig is not installed ({e})");
            return;
        }
    }
    let n = env_usize(
        "KAFKA_ESM_BENCH_RECORDS",
        if bench { 200_000 } else { 2_000 },
    );
    let value_bytes = env_usize("KAFKA_ESM_BENCH_VALUE_BYTES", 1024);
    let rounds = env_usize("KAFKA_ESM_BENCH_ROUNDS", if bench { 3 } else { 1 }).max(1);

    let broker = Nisshi::start().expect("starting nisshi");
    let bootstrap = broker.bootstrap();
    broker
        .create_topic(TOPIC, PARTITIONS)
        .expect("creating the topic");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let started = Instant::now();
    let ends = runtime.block_on(produce(&bootstrap, n, value_bytes));
    eprintln!(
        "consume bench: {n} records of {value_bytes} B values, {PARTITIONS} partitions \
         (ends {ends:?}), produced in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The equivalence check, once, untimed.
    let mut kept_ours = Kept::new();
    let mut kept_peer = Kept::new();
    let expected = runtime.block_on(ours(&bootstrap, &ends, Some(&mut kept_ours)));
    let peer_tally = peer(&bootstrap, &ends, PEER_CRC, Some(&mut kept_peer));
    assert_eq!(
        expected.records, n as u64,
        "kafka-esm read a different count"
    );
    let (identical, equal) = check_equivalent(&kept_ours, &kept_peer);
    eprintln!(
        "consume bench: {} events each, the same: {identical} byte-identical, {equal} equal as JSON",
        expected.events
    );
    let same_bytes = equal == 0;
    let comparable = |t: &Tally| Tally {
        payload_bytes: if same_bytes { t.payload_bytes } else { 0 },
        ..t.clone()
    };
    assert_eq!(
        comparable(&peer_tally),
        comparable(&expected),
        "the sides' tallies differ"
    );
    drop((kept_ours, kept_peer));

    type Side<'a> = (&'static str, Box<dyn Fn() -> Tally + 'a>);
    let sides: [Side; 3] = [
        (
            "kafka-esm",
            Box::new(|| runtime.block_on(ours(&bootstrap, &ends, None))),
        ),
        (
            "rdkafka+serde_json (check.crcs=true)",
            Box::new(|| peer(&bootstrap, &ends, PEER_CRC, None)),
        ),
        (
            "rdkafka+serde_json (defaults)",
            Box::new(|| peer(&bootstrap, &ends, &[], None)),
        ),
    ];
    let mut runs: Vec<Vec<Run>> = sides.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for ((name, side), runs) in sides.iter().zip(&mut runs) {
            let run = measured(side);
            let want = if *name == "kafka-esm" {
                expected.clone()
            } else {
                peer_tally.clone()
            };
            assert_eq!(run.tally, want, "{name}, round {round}: a different tally");
            runs.push(run);
        }
    }

    let per_record = |d: Duration| d.as_nanos() as f64 / n as f64;
    eprintln!();
    eprintln!(
        "CPU time per record (process user+sys), best and median of {rounds} rounds; \
         records/s per CPU-second and per wall-second (best):"
    );
    eprintln!(
        "{:<38} {:>10} {:>10} {:>12} {:>12}",
        "", "best ns", "median ns", "rec/CPU-s", "rec/wall-s"
    );
    let mut best = Vec::new();
    for ((name, _), runs) in sides.iter().zip(&runs) {
        let cpu = runs
            .iter()
            .map(|r| per_record(r.cpu))
            .fold(f64::MAX, f64::min);
        let med = median(runs.iter().map(|r| per_record(r.cpu)).collect());
        let wall = runs.iter().map(|r| r.wall).min().unwrap_or_default();
        eprintln!(
            "{name:<38} {cpu:>10.0} {med:>10.0} {:>12.0} {:>12.0}",
            1e9 / cpu,
            n as f64 / wall.as_secs_f64()
        );
        best.push((cpu, med));
    }
    eprintln!();
    eprintln!(
        "ratio kafka-esm / peer, CPU per record (best; median): {:.2}; {:.2} (peer with \
         check.crcs=true, the same job), {:.2}; {:.2} (peer defaults)",
        best[0].0 / best[1].0,
        best[0].1 / best[1].1,
        best[0].0 / best[2].0,
        best[0].1 / best[2].1,
    );
    drop(broker);
}
