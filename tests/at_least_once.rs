//! At least once through crashes, rebalances and coordinator faults, against nisshi, with
//! the runtime in this process (a crash is its task aborted: no commit, no LeaveGroup,
//! as `kill -9` leaves it) and an invoker of the test's that records every invocation.
//!
//! - A LATEST mapping commits where it starts as soon as a partition is assigned, so a
//!   crash during its first invocation and a restart deliver that record and those
//!   produced while it was down (issue 16, item 2).
//! - Two runtimes, invocations longer than the session timeout: the member keeps
//!   heartbeating while a revocation waits for them, so it is never evicted, no
//!   partition is invoked by two members at once and nothing is handled twice (item 3).
//! - A commit the coordinator could not take (its broker was down) is sent again once
//!   the broker is back, with no new commit asked for (item 5).

mod common;

use bytes::Bytes;
use kafka_esm::config::from_cli_input_json;
use kafka_esm::invoke::{Invocation, InvokeError, Invoker};
use kafka_esm::kafka::consumer::fetcher::{FetchConfig, FetchPosition};
use kafka_esm::kafka::consumer::{Consumer, ConsumerConfig, ConsumerEvent};
use kafka_esm::runtime::RunOptions;
use kafka_esm_rig::{Broker, Compression, Nisshi, NisshiOptions, Record, unique_name};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// One invocation as the function saw it.
#[derive(Clone, Debug)]
struct Call {
    instance: &'static str,
    /// (partition, offset) of each record, in event order.
    records: Vec<(i32, i64)>,
    started: Instant,
    /// None while it runs (or if it never returned).
    ended: Option<Instant>,
}

/// Every invocation of every instance, and how many have started (to wait on).
#[derive(Clone)]
struct Journal {
    calls: Arc<Mutex<Vec<Call>>>,
    started: watch::Sender<usize>,
}

impl Journal {
    fn new() -> Journal {
        Journal {
            calls: Arc::default(),
            started: watch::channel(0).0,
        }
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Waits until `n` invocations have started.
    async fn until_started(&self, n: usize, within: Duration) {
        let mut rx = self.started.subscribe();
        let reached = tokio::time::timeout(within, rx.wait_for(|s| *s >= n))
            .await
            .is_ok();
        assert!(
            reached,
            "{} of {n} invocations started within {within:?}: {:?}",
            *rx.borrow(),
            self.calls()
        );
    }

    /// Waits until every record of `want` was handled by an invocation that returned.
    async fn until_handled(&self, want: &[(i32, i64)], within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        let mut rx = self.started.subscribe();
        loop {
            let handled = self.handled();
            if want.iter().all(|r| handled.contains_key(r)) {
                return;
            }
            // Each invocation that starts also means the one before it returned.
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                let missing: Vec<_> = want.iter().filter(|r| !handled.contains_key(r)).collect();
                panic!(
                    "not handled within {within:?}: {missing:?}; calls {:?}",
                    self.calls()
                );
            }
        }
    }

    /// How many times each record was handled (by invocations that returned).
    fn handled(&self) -> BTreeMap<(i32, i64), usize> {
        let mut out = BTreeMap::new();
        for c in self.calls().iter().filter(|c| c.ended.is_some()) {
            for r in &c.records {
                *out.entry(*r).or_default() += 1;
            }
        }
        out
    }
}

/// The function: records each invocation, takes `duration` to run, and succeeds; or,
/// with `hang`, never returns.
#[derive(Clone)]
struct Function {
    instance: &'static str,
    journal: Journal,
    duration: Duration,
    hang: bool,
}

impl Invoker for Function {
    fn invoke(
        &self,
        payload: Bytes,
    ) -> impl std::future::Future<Output = Result<Invocation, InvokeError>> + Send {
        let this = self.clone();
        async move {
            let records = common::event_records(&payload);
            let index = {
                let mut calls = this.journal.calls.lock().unwrap();
                calls.push(Call {
                    instance: this.instance,
                    records,
                    started: Instant::now(),
                    ended: None,
                });
                calls.len() - 1
            };
            this.journal.started.send_modify(|n| *n += 1);
            if this.hang {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(this.duration).await;
            this.journal.calls.lock().unwrap()[index].ended = Some(Instant::now());
            // Wakes until_handled.
            this.journal.started.send_modify(|_| {});
            Ok(Invocation {
                status_code: 200,
                function_error: None,
                executed_version: Some("$LATEST".into()),
                payload: Bytes::from_static(b"null"),
            })
        }
    }
}

fn produce(broker: &dyn Broker, topic: &str, partition: i32, values: &[&str]) {
    let records: Vec<Record> = values
        .iter()
        .map(|v| {
            let mut r = Record::new(None, Some(v.as_bytes()));
            r.partition = Some(partition);
            r
        })
        .collect();
    tokio::task::block_in_place(|| {
        broker
            .refclient()
            .produce(topic, &records, Compression::None)
    })
    .unwrap();
}

/// Waits until the group has committed `want` (partition → offset), read by the
/// reference client. The group's offsets change on the broker with no event to await:
/// this asks again every 100 ms, up to `within`.
async fn until_committed(
    broker: &dyn Broker,
    topic: &str,
    group: &str,
    within: Duration,
    want: impl Fn(&BTreeMap<i32, i64>) -> bool,
) -> BTreeMap<i32, i64> {
    let deadline = Instant::now() + within;
    loop {
        let committed = common::committed(broker, topic, group);
        if want(&committed) {
            return committed;
        }
        assert!(
            Instant::now() < deadline,
            "the group's committed offsets within {within:?}: {committed:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latest_mapping_that_crashes_in_its_first_invocation_loses_nothing_on_restart() {
    let broker = common::nisshi().await;
    let topic = unique_name("latest-crash");
    let group = unique_name("latest-crash-group");
    broker.create_topic(&topic, 2).unwrap();
    // Old records: LATEST skips them, before and after the crash.
    produce(&broker, &topic, 0, &["old-0", "old-1"]);
    produce(&broker, &topic, 1, &["old-0"]);
    let json = common::mapping_with(
        &topic,
        &broker.bootstrap(),
        &group,
        10,
        json!({"StartingPosition": "LATEST", "KafkaEsm": {"SessionTimeout": 6}}),
    );
    let mapping = from_cli_input_json(&json).unwrap();
    let journal = Journal::new();
    let first = common::start_mapping(
        mapping.clone(),
        Function {
            instance: "first",
            journal: journal.clone(),
            duration: Duration::ZERO,
            hang: true,
        },
        RunOptions::default(),
    );

    // Where LATEST resolved is committed once the partitions are assigned: before any
    // record arrives (without it, nothing is committed and this times out).
    // (The reference client reads "none" as -1001.)
    let starts = until_committed(&broker, &topic, &group, Duration::from_secs(30), |c| {
        c.len() == 2 && c.values().all(|o| *o >= 0)
    })
    .await;
    assert_eq!(starts, BTreeMap::from([(0, 2), (1, 1)]));

    produce(&broker, &topic, 0, &["new-2"]);
    journal.until_started(1, Duration::from_secs(30)).await;
    assert_eq!(journal.calls()[0].records, vec![(0, 2)]);
    // The crash, in the middle of that invocation.
    first.task.abort();
    let _ = first.task.await;
    produce(&broker, &topic, 0, &["while-down-3"]);
    produce(&broker, &topic, 1, &["while-down-1"]);

    let second = common::start_mapping(
        mapping,
        Function {
            instance: "second",
            journal: journal.clone(),
            duration: Duration::ZERO,
            hang: false,
        },
        RunOptions::default(),
    );
    // The first instance's member stays in the group until its session times out (6 s).
    journal
        .until_handled(&[(0, 2), (0, 3), (1, 1)], Duration::from_secs(60))
        .await;
    second.finish().await;
    let handled = journal.handled();
    assert_eq!(
        handled.keys().copied().collect::<Vec<_>>(),
        vec![(0, 2), (0, 3), (1, 1)],
        "the old records stay skipped, the new ones are all handled"
    );
    assert_eq!(
        common::committed(&broker, &topic, &group),
        BTreeMap::from([(0, 4), (1, 2)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_longer_than_the_session_timeout_survive_a_rebalance_with_one_owner() {
    const PARTITIONS: i32 = 4;
    const PER_PARTITION: i64 = 4;
    let broker = common::nisshi().await;
    let topic = unique_name("long-invocations");
    let group = unique_name("long-invocations-group");
    broker.create_topic(&topic, PARTITIONS).unwrap();
    for p in 0..PARTITIONS {
        produce(&broker, &topic, p, &["a", "b", "c", "d"]);
    }
    let json = common::mapping_with(
        &topic,
        &broker.bootstrap(),
        &group,
        2,
        // Invocations of 12 s, a session of 6 s: only heartbeats sent while invocations
        // run (and while a revocation waits for them) keep each member in the group.
        json!({"KafkaEsm": {"SessionTimeout": 6}}),
    );
    let mapping = from_cli_input_json(&json).unwrap();
    let journal = Journal::new();
    let function = |instance| Function {
        instance,
        journal: journal.clone(),
        duration: Duration::from_secs(12),
        hang: false,
    };
    let a = common::start_mapping(mapping.clone(), function("a"), RunOptions::default());
    // a owns every partition and invokes them all; then b joins the group.
    journal
        .until_started(PARTITIONS as usize, Duration::from_secs(30))
        .await;
    let b = common::start_mapping(mapping, function("b"), RunOptions::default());
    let want: Vec<(i32, i64)> = (0..PARTITIONS)
        .flat_map(|p| (0..PER_PARTITION).map(move |o| (p, o)))
        .collect();
    journal.until_handled(&want, Duration::from_secs(120)).await;
    a.finish().await;
    b.finish().await;

    let calls = journal.calls();
    // No partition ever invoked by two members at once.
    for (i, x) in calls.iter().enumerate() {
        for y in &calls[i + 1..] {
            let same_partition = x.records[0].0 == y.records[0].0;
            let end = |c: &Call| c.ended.unwrap_or_else(Instant::now);
            let overlap = x.started < end(y) && y.started < end(x);
            assert!(
                !(same_partition && overlap),
                "partition {} invoked at once by {} and {}: {calls:?}",
                x.records[0].0,
                x.instance,
                y.instance
            );
        }
    }
    // Every record handled once: the revoked partitions' work finished and was
    // committed before their new owner started.
    let handled = journal.handled();
    assert_eq!(handled.keys().copied().collect::<Vec<_>>(), want);
    assert!(
        handled.values().all(|n| *n == 1),
        "records handled more than once: {handled:?}; calls {calls:?}"
    );
    assert!(
        calls.iter().any(|c| c.instance == "b"),
        "b took partitions over: {calls:?}"
    );
    assert_eq!(
        common::committed(&broker, &topic, &group),
        (0..PARTITIONS).map(|p| (p, PER_PARTITION)).collect()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_the_coordinator_could_not_take_is_sent_again_once_it_is_back() {
    common::trace();
    let mut broker = common::sqlite_nisshi().await;
    let topic = unique_name("commit-retry");
    let group = unique_name("commit-retry-group");
    broker.create_topic(&topic, 1).unwrap();
    produce(&broker, &topic, 0, &["a", "b", "c"]);
    let cluster = common::cluster(&broker, &topic).await;
    let mut consumer = Consumer::start(
        cluster,
        ConsumerConfig {
            default_position: FetchPosition::Earliest,
            fetch: FetchConfig {
                max_wait: Duration::from_millis(200),
                ..FetchConfig::default()
            },
            ..ConsumerConfig::new(group.clone(), vec![topic.clone()])
        },
    );
    let mut read = 0;
    while read < 3 {
        match tokio::time::timeout(Duration::from_secs(30), consumer.poll())
            .await
            .expect("records within 30 s")
            .unwrap()
        {
            ConsumerEvent::Records(batch) => {
                read += batch.iter().map(|p| p.records.len()).sum::<usize>()
            }
            ConsumerEvent::Assigned(_) => {}
            other => panic!("{other:?}"),
        }
    }

    tokio::task::block_in_place(|| broker.kill());
    let offsets = BTreeMap::from([((topic.clone(), 0), 3)]);
    let refused = consumer.commit(offsets).await;
    assert!(
        refused.as_ref().is_err_and(|e| e.is_retriable()),
        "a commit with the broker down fails, retriably: {refused:?}"
    );
    tokio::task::block_in_place(|| broker.restart()).unwrap();
    // Nothing asks for a commit again: the consumer keeps it and retries.
    until_committed(&broker, &topic, &group, Duration::from_secs(30), |c| {
        c.get(&0) == Some(&3)
    })
    .await;
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_started_while_its_broker_is_down_waits_for_it_and_loses_nothing() {
    common::trace();
    let mut broker = common::sqlite_nisshi().await;
    let topic = unique_name("broker-down");
    let group = unique_name("broker-down-group");
    broker.create_topic(&topic, 1).unwrap();
    produce(&broker, &topic, 0, &["a", "b"]);
    tokio::task::block_in_place(|| broker.kill());
    let json = common::mapping_with(&topic, &broker.bootstrap(), &group, 10, json!({}));
    let journal = Journal::new();
    let mut running = common::start_mapping(
        from_cli_input_json(&json).unwrap(),
        Function {
            instance: "only",
            journal: journal.clone(),
            duration: Duration::ZERO,
            hang: false,
        },
        RunOptions::default(),
    );
    // It keeps trying, and says why, instead of stopping.
    let waiting = tokio::time::timeout(
        Duration::from_secs(30),
        running.status.wait_for(|s| {
            s.last_processing_result
                .starts_with("PROBLEM: connecting to the Kafka cluster")
        }),
    )
    .await
    .map(|r| r.is_ok())
    .unwrap_or(false);
    assert!(
        waiting,
        "the status while the broker is down: {:?}",
        running.status.borrow()
    );
    assert!(!running.task.is_finished(), "the mapping stopped");
    tokio::task::block_in_place(|| broker.restart()).unwrap();
    journal
        .until_handled(&[(0, 0), (0, 1)], Duration::from_secs(60))
        .await;
    running.finish().await;
    assert_eq!(
        common::committed(&broker, &topic, &group),
        BTreeMap::from([(0, 2)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cut_off_from_its_coordinator_gives_its_partitions_up_within_the_session() {
    common::trace();
    let (broker, proxy) = tokio::task::spawn_blocking(|| {
        Nisshi::start_behind_proxy(NisshiOptions::default()).unwrap()
    })
    .await
    .unwrap();
    let topic = unique_name("cut-off");
    let group = unique_name("cut-off-group");
    broker.create_topic(&topic, 1).unwrap();
    let session = Duration::from_secs(6);
    let mut consumer = Consumer::start(
        common::cluster(&broker, &topic).await,
        ConsumerConfig {
            session_timeout: session,
            heartbeat_interval: Duration::from_secs(2),
            default_position: FetchPosition::Earliest,
            fetch: FetchConfig {
                max_wait: Duration::from_millis(200),
                ..FetchConfig::default()
            },
            ..ConsumerConfig::new(group.clone(), vec![topic.clone()])
        },
    );
    match tokio::time::timeout(Duration::from_secs(30), consumer.poll())
        .await
        .expect("assigned within 30 s")
        .unwrap()
    {
        ConsumerEvent::Assigned(parts) => assert_eq!(parts, [(topic.clone(), 0)]),
        other => panic!("{other:?}"),
    }
    // The network to the broker stops answering for longer than the session: the
    // coordinator evicts the member once its session runs out, counted from the last
    // heartbeat it got; the member must have let the partition go by then.
    let cut = Instant::now();
    proxy.stall(Duration::from_secs(12));
    let lost = loop {
        match tokio::time::timeout(Duration::from_secs(20), consumer.poll())
            .await
            .expect("an event within 20 s")
            .unwrap()
        {
            ConsumerEvent::Lost(parts) => break (cut.elapsed(), parts),
            ConsumerEvent::Records(r) if r.iter().all(|p| p.records.is_empty()) => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(lost.1, [(topic.clone(), 0)]);
    assert!(
        lost.0 < session,
        "the partition was given up {:?} after the cut, not within the session ({session:?})",
        lost.0
    );
    proxy.resume();
    drop(consumer);
}
