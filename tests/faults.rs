//! Fault injection: three `kafka-esm run` processes in one group on a 6-partition topic,
//! nisshi on sqlite behind the rig's [`FaultProxy`], a reference producer (librdkafka,
//! acks=all, idempotent) writing all along, and a local function (awslambdaric running
//! `tests/fixtures/faults.py`) that records every record it handled. Meanwhile, at
//! seeded random moments: `kill -9` of a kafka-esm process and its restart, one broker
//! `kill -9` and restart on the same sqlite file and port, connection resets, stalls and
//! refused connections at the proxy, and records whose invocation sleeps past
//! `SessionTimeout`.
//!
//! Checks, once the producer stopped and the processes drained:
//! - lost: every offset of the log, and every record the producer saw acknowledged, was
//!   handled at least once;
//! - order: per partition, the handled offsets (in the order handlers wrote them) never
//!   jump forward: each is at most the previous one + 1 (a rewind is a redelivery; a line
//!   right after another process's, which only concurrent owners produce, is held to the
//!   highest offset handled so far + 1);
//! - concurrent owners: no two kafka-esm processes ever had an invocation of the same
//!   partition running at the same moment (overlapping start..end);
//! - committed: the group's committed offsets reach the log ends;
//! - dropped: `kafka_esm_dropped_records_total` stayed 0 in every process.
//!
//! The seed is printed first; `KAFKA_ESM_FAULTS_SEED=S` replays a plan (the faults and
//! their order; timings still vary with the machine). `KAFKA_ESM_FAULTS_MINUTES=N` sets
//! the fault phase's length (default 75 s): `scripts/faults` runs this test as a soak.

use kafka_esm_rig::{Nisshi, NisshiOptions, Record, Storage, unique_name};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 6;
const INSTANCES: usize = 3;
const SESSION_TIMEOUT_S: u64 = 6;
/// How long a record asking for it makes its invocation sleep: past the session timeout.
const SLEEP_S: u64 = SESSION_TIMEOUT_S + 4;

/// splitmix64: a small seeded generator, so that a plan can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `lo..hi` milliseconds.
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo))
    }
}

/// One line of the handler's report.
#[derive(Clone, Debug)]
struct Handled {
    partition: i32,
    offset: i64,
    seq: u64,
    /// The kafka-esm process that ran the handler.
    esm: u64,
    /// The handler process.
    pid: u64,
    start: f64,
    end: f64,
}

fn read_report(path: &Path) -> Vec<Handled> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        // A line being written by a handler killed mid-write is incomplete: not handled.
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| Handled {
            partition: v["partition"].as_i64().unwrap() as i32,
            offset: v["offset"].as_i64().unwrap(),
            seq: v["seq"].as_u64().unwrap(),
            esm: v["esm"].as_u64().unwrap_or(0),
            pid: v["pid"].as_u64().unwrap(),
            start: v["start"].as_f64().unwrap(),
            end: v["end"].as_f64().unwrap(),
        })
        .collect()
}

/// One `kafka-esm run` process (a life of one of the three slots).
struct Instance {
    child: tokio::process::Child,
    pid: u32,
    metrics: SocketAddr,
    log: PathBuf,
    /// The largest `kafka_esm_dropped_records_total` scraped from it.
    dropped: u64,
}

struct Scenario {
    dir: tempfile::TempDir,
    topic: String,
    group: String,
    bootstrap: String,
    report: PathBuf,
    /// kafka-esm, copied at the start: every life runs the same binary even if a build
    /// replaces the original during a long soak.
    binary: PathBuf,
    lives: usize,
}

impl Scenario {
    fn mapping(&self, metrics: SocketAddr) -> String {
        let python = kafka_esm_rig::rig_tool("venv/bin/python").unwrap();
        let handlers = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        // The handler learns where to report from its command line, not from kafka-esm's
        // environment (which a local function need not inherit).
        let command = format!(
            "env PYTHONPATH='{}' KAFKA_ESM_FAULTS_REPORT='{}' '{}' -m awslambdaric faults.handle",
            handlers.display(),
            self.report.display(),
            python.display()
        );
        json!({
            "FunctionName": "faults",
            "Topics": [self.topic],
            "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": [self.bootstrap]}},
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": 20,
            "MaximumBatchingWindowInSeconds": 0,
            "SelfManagedKafkaEventSourceConfig": {"ConsumerGroupId": self.group},
            "ProvisionedPollerConfig": {"MinimumPollers": 1, "MaximumPollers": 1},
            "KafkaEsm": {
                "FunctionCommand": command,
                "FunctionTimeout": 30,
                "SessionTimeout": SESSION_TIMEOUT_S,
                "MetricsAddress": metrics.to_string(),
            },
        })
        .to_string()
    }

    fn spawn(&mut self) -> Instance {
        self.lives += 1;
        let life = self.lives;
        let metrics: SocketAddr = format!("127.0.0.1:{}", kafka_esm_rig::free_port().unwrap())
            .parse()
            .unwrap();
        let file = self.dir.path().join(format!("mapping-{life}.json"));
        std::fs::write(&file, self.mapping(metrics)).unwrap();
        let log = self.dir.path().join(format!("kafka-esm-{life}.log"));
        let child = tokio::process::Command::new(&self.binary)
            .args(["run", "--config"])
            .arg(format!("file://{}", file.display()))
            .env("RUST_LOG", "info")
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        Instance {
            child,
            pid,
            metrics,
            log,
            dropped: 0,
        }
    }
}

/// `kafka_esm_dropped_records_total` from the instance's metrics endpoint, if it answers.
async fn scrape_dropped(addr: SocketAddr) -> Option<u64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fetch = async {
        let mut conn = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        conn.write_all(request.as_bytes()).await.ok()?;
        let mut response = String::new();
        conn.read_to_string(&mut response).await.ok()?;
        response.lines().find_map(|l| {
            let rest = l.strip_prefix("kafka_esm_dropped_records_total")?;
            rest.rsplit_once(' ')?.1.trim().parse().ok()
        })
    };
    tokio::time::timeout(Duration::from_secs(5), fetch)
        .await
        .ok()
        .flatten()
}

/// The last `dropped N` of the status lines `kafka-esm run` printed.
fn logged_dropped(log: &Path) -> u64 {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .rev()
        .find_map(|l| l.rsplit_once(", dropped ")?.1.trim().parse().ok())
        .unwrap_or(0)
}

impl Instance {
    async fn scrape(&mut self) {
        if let Some(n) = scrape_dropped(self.metrics).await {
            self.dropped = self.dropped.max(n);
        }
    }

    fn dropped(&self) -> u64 {
        self.dropped.max(logged_dropped(&self.log))
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

/// What the producer wrote: (partition, offset, seq) acknowledged, and how many records
/// it could not confirm (they may or may not be in the log).
#[derive(Default)]
struct Produced {
    acked: Vec<(i32, i64, u64)>,
    unconfirmed: usize,
    sleepers: usize,
}

/// Writes batches of records until `stop`: record `seq` goes to partition `seq % 6`
/// with the value `{"seq": seq, "sleep": S}`, S past the session timeout for a few.
fn produce(bootstrap: String, topic: String, seed: u64, stop: Arc<AtomicBool>) -> Produced {
    let mut rng = Rng(seed ^ 0x5EED_0000);
    let client = kafka_esm_rig::RefClient::new(bootstrap).timeout(20.0);
    let mut produced = Produced::default();
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let batch: Vec<Record> = (0..20)
            .map(|_| {
                seq += 1;
                // About one record in 120: a sleeping invocation every ~5 s.
                let sleep = if rng.below(120) == 0 {
                    produced.sleepers += 1;
                    SLEEP_S
                } else {
                    0
                };
                let value = json!({"seq": seq, "sleep": sleep}).to_string();
                let mut r = Record::new(None, Some(value.as_bytes()));
                r.partition = Some((seq % PARTITIONS as u64) as i32);
                r
            })
            .collect();
        let seqs: Vec<u64> = (seq + 1 - batch.len() as u64..=seq).collect();
        match client.produce_idempotent_partial(&topic, &batch) {
            Ok(reports) => {
                for (report, s) in reports.into_iter().zip(seqs) {
                    match report {
                        Ok(d) => produced.acked.push((d.partition, d.offset, s)),
                        Err(_) => produced.unconfirmed += 1,
                    }
                }
            }
            Err(e) => {
                eprintln!("faults: a produce call failed: {e:#}");
                produced.unconfirmed += batch.len();
            }
        }
        // Pacing, not synchronisation: about 20-40 records a second.
        std::thread::sleep(Duration::from_millis(300));
    }
    produced
}

/// What the checks found.
#[derive(Default, Debug)]
struct Findings {
    lost: Vec<String>,
    order: Vec<String>,
    concurrent: Vec<String>,
    committed: Vec<String>,
    duplicates: usize,
}

fn check(
    lines: &[Handled],
    ends: &BTreeMap<i32, (i64, i64)>,
    acked: &[(i32, i64, u64)],
    committed: &BTreeMap<i32, i64>,
) -> Findings {
    let mut f = Findings::default();
    let mut handled: BTreeMap<(i32, i64), BTreeSet<u64>> = BTreeMap::new();
    for l in lines {
        handled
            .entry((l.partition, l.offset))
            .or_default()
            .insert(l.seq);
    }
    f.duplicates = lines.len() - handled.len();
    // Lost: an offset of the log never handled, or an acknowledged record not handled
    // where the broker said it landed.
    for (p, (earliest, latest)) in ends {
        for o in *earliest..*latest {
            if !handled.contains_key(&(*p, o)) {
                f.lost
                    .push(format!("partition {p} offset {o} never handled"));
            }
        }
    }
    for (p, o, seq) in acked {
        let latest = ends.get(p).map_or(0, |e| e.1);
        match handled.get(&(*p, *o)) {
            Some(seqs) if seqs.contains(seq) => {}
            Some(seqs) => f.lost.push(format!(
                "acknowledged record {seq} at partition {p} offset {o}: the handler saw {seqs:?} there"
            )),
            None if *o >= latest => f.lost.push(format!(
                "acknowledged record {seq} at partition {p} offset {o} is past the log end {latest}"
            )),
            None => {} // counted above
        }
    }
    // Order: per partition, in the order handlers wrote them, each offset is at most the
    // previous one + 1 (a rewind is a redelivery). Where two processes ran the partition
    // at once (a concurrent owner, reported below) their lines interleave: a line that
    // follows another process's line is then only held to the highest offset handled so
    // far + 1, so that the interleaving is not counted twice while any gap still is.
    let mut prev: BTreeMap<i32, (i64, u64)> =
        ends.iter().map(|(p, e)| (*p, (e.0 - 1, 0))).collect();
    let mut highest: BTreeMap<i32, i64> = ends.iter().map(|(p, e)| (*p, e.0 - 1)).collect();
    for l in lines {
        let (last, last_esm) = prev.entry(l.partition).or_insert((-1, 0));
        let high = highest.entry(l.partition).or_insert(-1);
        let bound = if *last_esm == l.esm || *last_esm == 0 {
            *last
        } else {
            *high
        };
        if l.offset > bound + 1 {
            f.order.push(format!(
                "partition {}: offset {} handled right after {} (kafka-esm pid {})",
                l.partition, l.offset, bound, l.esm
            ));
        }
        *last = l.offset;
        *last_esm = l.esm;
        *high = (*high).max(l.offset);
    }
    // Concurrent owners: invocations (a handler's lines sharing a start) of one
    // partition by two kafka-esm processes overlapping in time.
    // (kafka-esm pid, handler pid, start bits) -> (start, end).
    type Invocations = BTreeMap<(u64, u64, u64), (f64, f64)>;
    let mut invocations: BTreeMap<i32, Invocations> = BTreeMap::new();
    for l in lines {
        invocations
            .entry(l.partition)
            .or_default()
            .insert((l.esm, l.pid, l.start.to_bits()), (l.start, l.end));
    }
    for (p, invs) in &invocations {
        let mut list: Vec<(f64, f64, u64)> = invs
            .iter()
            .map(|((esm, _, _), (s, e))| (*s, *e, *esm))
            .collect();
        list.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (i, a) in list.iter().enumerate() {
            for b in &list[i + 1..] {
                if b.0 >= a.1 {
                    // Sorted by start: no later invocation overlaps `a` either.
                    break;
                }
                if a.2 != b.2 {
                    f.concurrent.push(format!(
                        "partition {p}: kafka-esm {} invoked {:.3}..{:.3} while kafka-esm {} invoked {:.3}..{:.3}",
                        a.2, a.0, a.1, b.2, b.0, b.1
                    ));
                }
            }
        }
    }
    for (p, (_, latest)) in ends {
        let c = committed.get(p).copied().unwrap_or(-1);
        if c != *latest {
            f.committed
                .push(format!("partition {p}: committed {c}, log end {latest}"));
        }
    }
    f
}

fn env_f64(name: &str) -> Option<f64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_record_is_lost_reordered_or_run_twice_at_once_under_crashes_and_network_faults() {
    let seed = match std::env::var("KAFKA_ESM_FAULTS_SEED") {
        Ok(s) => s.parse().expect("KAFKA_ESM_FAULTS_SEED is a number"),
        Err(_) => {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                % 1_000_000_007
        }
    };
    let fault_phase = env_f64("KAFKA_ESM_FAULTS_MINUTES").map_or(Duration::from_secs(75), |m| {
        Duration::from_secs_f64(m * 60.0)
    });
    // A longer soak gets a longer drain: sleeping batches redelivered after faults queue up.
    let drain = Duration::from_secs(90).max(fault_phase / 4);
    eprintln!(
        "faults: seed {seed} (replay with KAFKA_ESM_FAULTS_SEED={seed}), faults for {fault_phase:?}"
    );
    let mut rng = Rng(seed);

    let (mut broker, proxy) = tokio::task::spawn_blocking(|| {
        Nisshi::start_behind_proxy(NisshiOptions {
            storage: Storage::Sqlite,
            ..NisshiOptions::default()
        })
        .unwrap()
    })
    .await
    .unwrap();
    let bootstrap = format!("127.0.0.1:{}", proxy.port());
    let topic = unique_name("faults");
    let group = unique_name("faults-group");
    tokio::task::block_in_place(|| {
        kafka_esm_rig::RefClient::new(bootstrap.clone()).create_topic(&topic, PARTITIONS)
    })
    .unwrap();
    let dir = tempfile::Builder::new()
        .prefix("kafka-esm-faults-")
        .tempdir()
        .unwrap();
    let report = dir.path().join("handled.jsonl");
    eprintln!(
        "faults: handler report and logs in {}",
        dir.path().display()
    );
    let binary = dir.path().join("kafka-esm");
    std::fs::copy(env!("CARGO_BIN_EXE_kafka-esm"), &binary).unwrap();
    let mut scenario = Scenario {
        dir,
        topic: topic.clone(),
        group: group.clone(),
        bootstrap: bootstrap.clone(),
        report: report.clone(),
        binary,
        lives: 0,
    };
    let mut instances: Vec<Instance> = (0..INSTANCES).map(|_| scenario.spawn()).collect();
    // Retired lives (killed, or exited by themselves), for their dropped counts.
    let mut retired: Vec<Instance> = Vec::new();
    let mut unexpected_exits: Vec<String> = Vec::new();
    // Slots killed and waiting for their restart, and when it is due.
    let mut down_until: [Option<Instant>; INSTANCES] = [None; INSTANCES];

    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (bootstrap, topic, stop) = (bootstrap.clone(), topic.clone(), stop.clone());
        tokio::task::spawn_blocking(move || produce(bootstrap, topic, seed, stop))
    };
    // The faults start once the function runs: the first records handled.
    let deadline = Instant::now() + Duration::from_secs(60);
    while read_report(&report).is_empty() {
        assert!(
            Instant::now() < deadline,
            "nothing handled within 60 s; logs:\n{}",
            instances[0].log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let (mut kills, mut broker_restarts) = (0usize, 0usize);
    let started = Instant::now();
    let broker_restart_at = fault_phase.mul_f64(0.3 + rng.below(300) as f64 / 1000.0);
    while started.elapsed() < fault_phase {
        // Pacing of the faults, not synchronisation.
        tokio::time::sleep(rng.millis(1500, 4000)).await;
        for slot in 0..INSTANCES {
            if down_until[slot].is_some_and(|t| t <= Instant::now()) {
                down_until[slot] = None;
                let fresh = scenario.spawn();
                retired.push(std::mem::replace(&mut instances[slot], fresh));
                continue;
            }
            if down_until[slot].is_some() {
                continue;
            }
            if let Ok(Some(status)) = instances[slot].child.try_wait() {
                unexpected_exits.push(format!(
                    "kafka-esm {} exited by itself ({status}):\n{}",
                    instances[slot].pid,
                    instances[slot].log_tail()
                ));
                let fresh = scenario.spawn();
                retired.push(std::mem::replace(&mut instances[slot], fresh));
            }
        }
        if broker_restarts == 0 && started.elapsed() >= broker_restart_at {
            eprintln!(
                "faults: {:?}: broker kill -9 and restart",
                started.elapsed()
            );
            tokio::task::block_in_place(|| broker.restart()).unwrap();
            broker_restarts += 1;
            continue;
        }
        match rng.below(10) {
            0..=2 => {
                let up: Vec<usize> = (0..INSTANCES)
                    .filter(|s| down_until[*s].is_none())
                    .collect();
                if up.is_empty() {
                    continue;
                }
                let slot = up[rng.below(up.len() as u64) as usize];
                instances[slot].scrape().await;
                let _ = instances[slot].child.start_kill();
                let _ = instances[slot].child.wait().await;
                kills += 1;
                // Down for less or more than the session timeout: either the restarted
                // process takes the dead member's place, or the survivors take its
                // partitions first and give some back when it returns (revoking
                // partitions that may have invocations in flight).
                let down = rng.millis(0, 2 * SESSION_TIMEOUT_S * 1000);
                eprintln!(
                    "faults: {:?}: kill -9 kafka-esm {}, restart in {down:?}",
                    started.elapsed(),
                    instances[slot].pid
                );
                down_until[slot] = Some(Instant::now() + down);
            }
            3..=5 => {
                let n = proxy.reset().await;
                eprintln!("faults: {:?}: reset {n} connections", started.elapsed());
            }
            6..=8 => {
                // Up to past the session timeout: the group may expire every member.
                let d = rng.millis(500, 8000);
                eprintln!("faults: {:?}: stall {d:?}", started.elapsed());
                proxy.stall(d);
            }
            _ => {
                let d = rng.millis(500, 3000);
                eprintln!("faults: {:?}: refuse connections {d:?}", started.elapsed());
                proxy.refuse(d);
            }
        }
        for i in instances.iter_mut() {
            i.scrape().await;
        }
    }
    proxy.resume();
    for slot in 0..INSTANCES {
        if down_until[slot].take().is_some() {
            let fresh = scenario.spawn();
            retired.push(std::mem::replace(&mut instances[slot], fresh));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let produced = producer.await.unwrap();
    eprintln!(
        "faults: {:?}: faults over, {} records acknowledged, {} unconfirmed; draining",
        started.elapsed(),
        produced.acked.len(),
        produced.unconfirmed
    );

    // Drain: wait until every offset of the log was handled and the committed offsets
    // reached the log ends (or the deadline passes; the checks then say what is missing).
    let client = kafka_esm_rig::RefClient::new(bootstrap.clone()).timeout(20.0);
    let ends: BTreeMap<i32, (i64, i64)> =
        tokio::task::block_in_place(|| client.list_offsets(&topic, None))
            .unwrap()
            .into_iter()
            .map(|(p, o)| (p, (o.earliest, o.latest)))
            .collect();
    let drain_deadline = Instant::now() + drain;
    let committed = loop {
        let lines = read_report(&report);
        let handled: BTreeSet<(i32, i64)> = lines.iter().map(|l| (l.partition, l.offset)).collect();
        let covered = ends
            .iter()
            .all(|(p, (e, l))| (*e..*l).all(|o| handled.contains(&(*p, o))));
        let committed = if covered || Instant::now() >= drain_deadline {
            tokio::task::block_in_place(|| client.committed(&topic, &group)).unwrap_or_default()
        } else {
            BTreeMap::new()
        };
        let caught_up = ends.iter().all(|(p, (_, l))| committed.get(p) == Some(l));
        if (covered && caught_up) || Instant::now() >= drain_deadline {
            break committed;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!("faults: {:?}: drained", started.elapsed());
    for i in instances.iter_mut() {
        i.scrape().await;
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &i.pid.to_string()])
            .status();
    }
    for i in instances.iter_mut() {
        if tokio::time::timeout(Duration::from_secs(30), i.child.wait())
            .await
            .is_err()
        {
            let _ = i.child.start_kill();
        }
    }
    let dropped: u64 = instances
        .iter()
        .chain(&retired)
        .map(Instance::dropped)
        .sum();

    let lines = read_report(&report);
    let f = check(&lines, &ends, &produced.acked, &committed);
    let records: i64 = ends.values().map(|(e, l)| l - e).sum();
    let stats = proxy.stats();
    let network = stats.resets + stats.stalls + stats.refusals;
    let duplicate_pct = if records > 0 {
        100.0 * f.duplicates as f64 / records as f64
    } else {
        0.0
    };
    let summary = format!(
        "faults: seed {seed}: {records} records ({} sleeping past the session timeout), \
         {kills} kills, {broker_restarts} broker restarts, {network} network faults \
         ({} resets, {} stalls, {} refusals), lost {}, order violations {}, \
         concurrent owners {}, duplicates {} ({duplicate_pct:.1}%), \
         partitions committed behind {}, dropped {dropped}, unexpected exits {}",
        produced.sleepers,
        stats.resets,
        stats.stalls,
        stats.refusals,
        f.lost.len(),
        f.order.len(),
        f.concurrent.len(),
        f.duplicates,
        f.committed.len(),
        unexpected_exits.len(),
    );
    for exit in &unexpected_exits {
        eprintln!("faults: {exit}");
    }
    let mut failures = Vec::new();
    // The harness's own check: the concurrency check needs each line's kafka-esm pid.
    let anonymous = lines.iter().filter(|l| l.esm == 0).count();
    if anonymous > 0 {
        failures.push(format!(
            "harness: {anonymous} handled lines without their kafka-esm pid"
        ));
    }
    for (what, found) in [
        ("lost", &f.lost),
        ("order violations", &f.order),
        ("concurrent owners", &f.concurrent),
        ("committed offsets behind the log end", &f.committed),
    ] {
        if !found.is_empty() {
            failures.push(format!(
                "{what} ({}):\n  {}",
                found.len(),
                found
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n  ")
            ));
        }
    }
    if dropped != 0 {
        failures.push(format!("kafka_esm_dropped_records_total: {dropped}"));
    }
    // The summary line last, where a person reads it (scripts/faults prints it).
    eprintln!("{summary}");
    if !failures.is_empty() {
        // Kept for diagnosis: the handler's report and every process's log.
        let kept = scenario.dir.keep();
        panic!(
            "{}\n(seed {seed}; report and logs kept in {})\n{summary}",
            failures.join("\n"),
            kept.display()
        );
    }
}

/// The checks themselves, on a made-up report: they must see what they claim to.
#[test]
fn the_checks_see_losses_jumps_overlaps_and_lagging_commits() {
    let line = |partition: i32, offset: i64, esm: u64, start: f64, end: f64| Handled {
        partition,
        offset,
        seq: (partition as u64) * 1000 + offset as u64,
        esm,
        pid: esm * 10,
        start,
        end,
    };
    let lines = vec![
        // Partition 0: 0, 1 by one process, then a rewind to 1 and on by another after
        // it: a redelivery, no violation.
        line(0, 0, 1, 0.0, 1.0),
        line(0, 1, 1, 0.0, 1.0),
        line(0, 1, 2, 2.0, 3.0),
        line(0, 2, 2, 2.0, 3.0),
        // Partition 1: offset 1 skipped.
        line(1, 0, 1, 0.0, 1.0),
        line(1, 2, 1, 1.0, 2.0),
        // Partition 2: two processes at once.
        line(2, 0, 1, 0.0, 10.0),
        line(2, 0, 2, 5.0, 6.0),
        // Partition 3: two processes at once (three overlapping pairs of invocations),
        // their lines interleaved, which alone is no order violation; then the second
        // skips offset 5 in its own run, which is.
        line(3, 0, 1, 0.0, 1.0),
        line(3, 1, 1, 0.0, 1.0),
        line(3, 0, 2, 0.5, 2.0),
        line(3, 2, 1, 1.0, 3.0),
        line(3, 1, 2, 2.0, 3.0),
        line(3, 2, 2, 2.0, 3.0),
        line(3, 3, 2, 3.0, 4.0),
        line(3, 4, 2, 3.0, 4.0),
        line(3, 6, 2, 3.0, 4.0),
    ];
    let ends = BTreeMap::from([(0, (0, 3)), (1, (0, 3)), (2, (0, 1)), (3, (0, 7))]);
    let acked = vec![(0, 2, 2), (1, 1, 1001), (2, 0, 7)];
    let committed = BTreeMap::from([(0, 3), (1, 3), (2, 0)]);
    let f = check(&lines, &ends, &acked, &committed);
    assert_eq!(
        f.lost,
        [
            "partition 1 offset 1 never handled",
            "partition 3 offset 5 never handled",
            "acknowledged record 7 at partition 2 offset 0: the handler saw {2000} there",
        ]
    );
    assert_eq!(
        f.order,
        [
            "partition 1: offset 2 handled right after 0 (kafka-esm pid 1)",
            "partition 3: offset 6 handled right after 4 (kafka-esm pid 2)",
        ]
    );
    assert_eq!(f.concurrent.len(), 4, "{:?}", f.concurrent);
    assert!(f.concurrent[0].starts_with("partition 2:"));
    assert!(
        f.concurrent[1..]
            .iter()
            .all(|c| c.starts_with("partition 3:"))
    );
    assert_eq!(
        f.committed,
        [
            "partition 2: committed 0, log end 1",
            "partition 3: committed -1, log end 7"
        ]
    );
    assert_eq!(f.duplicates, 5);
}
