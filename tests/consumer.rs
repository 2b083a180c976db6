//! The group consumer against both rig brokers: two of our consumers share a topic's
//! partitions and, when one leaves, the other takes them over; the reference client reads
//! the same committed offsets. Run with an eager assignor (range) and with the cooperative
//! one (cooperative-sticky), whose revocations take two rebalances.
//!
//! On Kafka (nisshi) every record is read exactly once: each is committed before its
//! partition is revoked. librdkafka's mock cluster refuses an OffsetCommit from the
//! current generation while the group is joining (REBALANCE_IN_PROGRESS; Kafka accepts
//! it, so that revoked partitions can be committed), so there a record may be read again,
//! but only past a commit that was refused: nothing is lost, and nothing is read twice
//! past the last commit. The mock also needs the followers' SyncGroups before the
//! leader's (`ConsumerConfig::leader_sync_delay`) and lower JoinGroup, SyncGroup and
//! LeaveGroup versions (`common::connection_config`).

mod common;

use common::cluster;
use kafka_esm::kafka::TopicPartition;
use kafka_esm::kafka::consumer::assignor::Assignor;
use kafka_esm::kafka::consumer::fetcher::{FetchConfig, FetchPosition};
use kafka_esm::kafka::consumer::{Consumer, ConsumerConfig, ConsumerEvent};
use kafka_esm_rig::{Broker, Compression, Record, unique_name};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, watch};

const PARTITIONS: i32 = 4;

fn config(broker: &dyn Broker, group: &str, topic: &str, assignor: Assignor) -> ConsumerConfig {
    ConsumerConfig {
        // librdkafka's mock completes a generation with the leader's SyncGroup and
        // refuses the followers' after it: let theirs arrive first there.
        leader_sync_delay: if broker.kind() == "mock" {
            Duration::from_millis(200)
        } else {
            Duration::ZERO
        },
        assignors: vec![assignor],
        session_timeout: Duration::from_secs(10),
        rebalance_timeout: Duration::from_secs(10),
        heartbeat_interval: Duration::from_millis(100),
        default_position: FetchPosition::Earliest,
        fetch: FetchConfig {
            max_wait: Duration::from_millis(200),
            ..FetchConfig::default()
        },
        ..ConsumerConfig::new(group, vec![topic.to_string()])
    }
}

/// Every record read: (partition, offset) → the consumers that read it.
type Reads = Arc<Mutex<BTreeMap<(i32, i64), Vec<&'static str>>>>;

/// Per partition, the offsets from which a revocation's commit was refused (the records
/// from there on may be read again by the next owner: at least once).
type Refused = Arc<Mutex<BTreeMap<i32, Vec<i64>>>>;

/// A consumer that commits lazily: what it read is committed only when the partition is
/// revoked, or when it stops. So the records read before a rebalance are read again by
/// the next owner unless the revocation really waits for the commit.
struct Running {
    assigned: watch::Receiver<BTreeSet<i32>>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

fn run(
    name: &'static str,
    mut consumer: Consumer,
    reads: Reads,
    refused: Refused,
    count: Arc<watch::Sender<usize>>,
) -> Running {
    let (tx, assigned) = watch::channel(BTreeSet::new());
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut pending: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        // What this consumer saw committed or read as its start, per partition.
        let mut last_committed: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        loop {
            let event = tokio::select! {
                _ = &mut stopped => {
                    consumer.commit(std::mem::take(&mut pending)).await.unwrap();
                    consumer.close().await.unwrap();
                    return;
                }
                event = consumer.poll() => event.unwrap_or_else(|e| panic!("{name}: {e}")),
            };
            match event {
                ConsumerEvent::Assigned(parts) => {
                    for tp in parts {
                        let at = consumer.fetcher().position(&tp.0, tp.1).unwrap_or(0);
                        last_committed.insert(tp, at.max(0));
                    }
                }
                ConsumerEvent::Revoked(revoked) => {
                    let done: BTreeMap<TopicPartition, i64> = revoked
                        .iter()
                        .filter_map(|tp| pending.remove_entry(tp))
                        .collect();
                    match consumer.commit(done.clone()).await {
                        Ok(()) => last_committed.extend(done),
                        // librdkafka's mock refuses commits while the group is joining
                        // (Kafka accepts the current generation's): the records since
                        // the last commit go to the next owner again.
                        Err(e) if e.is_retriable() => {
                            let mut refused = refused.lock().unwrap();
                            for (tp, _) in done {
                                let last = last_committed.get(&tp).copied().unwrap_or(0);
                                refused.entry(tp.1).or_default().push(last);
                            }
                        }
                        Err(e) => panic!("{name}: commit: {e}"),
                    }
                }
                ConsumerEvent::Lost(lost) => panic!("{name}: evicted, lost {lost:?}"),
                ConsumerEvent::Reset(resets) => panic!("{name}: unexpected reset: {resets:?}"),
                ConsumerEvent::Records(batch) => {
                    let mut reads = reads.lock().unwrap();
                    for p in &batch {
                        assert!(
                            consumer
                                .assignment()
                                .contains(&(p.topic.clone(), p.partition)),
                            "{name}: records of unassigned partition {}",
                            p.partition
                        );
                        for r in &p.records {
                            reads.entry((p.partition, r.offset)).or_default().push(name);
                        }
                        pending.insert((p.topic.clone(), p.partition), p.next_offset);
                    }
                    count.send_replace(reads.len()); // distinct records: a re-read adds nothing
                }
            }
            tx.send_replace(consumer.assignment().iter().map(|(_, p)| *p).collect());
        }
    });
    Running {
        assigned,
        stop,
        task,
    }
}

/// Waits until every member has partitions, and their assignments are disjoint and
/// cover every partition.
async fn until_split(members: &mut [&mut Running]) -> Vec<BTreeSet<i32>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let sets: Vec<BTreeSet<i32>> = members
            .iter()
            .map(|m| m.assigned.borrow().clone())
            .collect();
        let total: usize = sets.iter().map(BTreeSet::len).sum();
        let union: BTreeSet<i32> = sets.iter().flatten().copied().collect();
        let everyone = sets.iter().all(|s| !s.is_empty());
        if everyone && total == PARTITIONS as usize && union == (0..PARTITIONS).collect() {
            return sets;
        }
        let changes: Vec<_> = members
            .iter_mut()
            .map(|m| Box::pin(m.assigned.changed()))
            .collect();
        tokio::time::timeout_at(deadline, first(changes))
            .await
            .unwrap_or_else(|_| panic!("no split within 60 s: {sets:?}"))
            // A dead member would wake this loop forever: stop on it instead.
            .unwrap_or_else(|_| panic!("a member's task stopped (its panic is above): {sets:?}"));
    }
}

/// The output of whichever of `futures` resolves first.
async fn first<F: std::future::Future + Unpin>(futures: Vec<F>) -> F::Output {
    let mut futures = futures;
    std::future::poll_fn(move |cx| {
        for f in futures.iter_mut() {
            if let std::task::Poll::Ready(out) = std::pin::Pin::new(f).poll(cx) {
                return std::task::Poll::Ready(out);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

async fn until_count(count: &mut watch::Receiver<usize>, want: usize) {
    let reached = tokio::time::timeout(Duration::from_secs(60), count.wait_for(|n| *n >= want))
        .await
        .is_ok();
    assert!(
        reached,
        "{} of {want} records read within 60 s",
        *count.borrow()
    );
}

/// `n` records per partition, values naming their round.
fn produce(broker: &dyn Broker, topic: &str, round: usize, n: usize) {
    let records: Vec<Record> = (0..PARTITIONS)
        .flat_map(|p| {
            (0..n).map(move |i| {
                let mut r = Record::new(None, Some(format!("r{round}-p{p}-{i}").as_bytes()));
                r.partition = Some(p);
                r
            })
        })
        .collect();
    tokio::task::block_in_place(|| {
        broker
            .refclient()
            .produce(topic, &records, Compression::None)
    })
    .unwrap();
}

async fn split_and_take_over(broker: &dyn Broker, assignor: Assignor) {
    let kind = broker.kind();
    let topic = unique_name("consumer");
    tokio::task::block_in_place(|| broker.create_topic(&topic, PARTITIONS)).unwrap();
    let group = unique_name("group");
    let c = cluster(broker, &topic).await;
    let reads: Reads = Arc::default();
    let refused: Refused = Arc::default();
    let (count_tx, mut count) = watch::channel(0);
    let count_tx = Arc::new(count_tx);
    produce(broker, &topic, 0, 5);
    let mut a = run(
        "a",
        Consumer::start(c.clone(), config(broker, &group, &topic, assignor)),
        reads.clone(),
        refused.clone(),
        count_tx.clone(),
    );
    let [alone] = &until_split(&mut [&mut a]).await[..] else {
        unreachable!()
    };
    assert_eq!(alone.len(), 4);
    until_count(&mut count, 20).await;

    let mut b = run(
        "b",
        Consumer::start(c.clone(), config(broker, &group, &topic, assignor)),
        reads.clone(),
        refused.clone(),
        count_tx.clone(),
    );
    let both = until_split(&mut [&mut a, &mut b]).await;
    assert_eq!((both[0].len(), both[1].len()), (2, 2), "{both:?}");
    produce(broker, &topic, 1, 5);
    until_count(&mut count, 40).await;

    b.stop.send(()).unwrap();
    b.task.await.unwrap();
    let [last] = &until_split(&mut [&mut a]).await[..] else {
        unreachable!()
    };
    assert_eq!(last.len(), 4);
    produce(broker, &topic, 2, 5);
    until_count(&mut count, 60).await;
    a.stop.send(()).unwrap();
    a.task.await.unwrap();

    // Every record read; twice only past a commit that was refused, and then by the
    // partition's next owner; on Kafka (nisshi), exactly once.
    let reads = reads.lock().unwrap().clone();
    let refused = refused.lock().unwrap().clone();
    let want: BTreeSet<(i32, i64)> = (0..PARTITIONS)
        .flat_map(|p| (0..15).map(move |o| (p, o)))
        .collect();
    assert_eq!(
        reads.keys().copied().collect::<BTreeSet<_>>(),
        want,
        "{kind}"
    );
    for ((p, o), by) in &reads {
        // Each read after the first needs a refused commit that left this record
        // uncommitted (a commit from an offset at or before it).
        let refusals = refused
            .get(p)
            .map_or(0, |from| from.iter().filter(|f| *f <= o).count());
        assert!(
            by.len() <= 1 + refusals,
            "{kind} {assignor:?}: ({p}, {o}) read by {by:?}, refused commits {refused:?}"
        );
    }
    if kind == "nisshi" {
        assert!(refused.is_empty(), "{refused:?}");
    }
    let b_read: BTreeSet<i32> = reads
        .iter()
        .filter(|((_, o), by)| by[0] == "b" && *o < 10)
        .map(|((p, _), _)| *p)
        .collect();
    assert_eq!(b_read, both[1], "{kind}: b read exactly its partitions");

    // The group's committed offsets, as the reference client sees them.
    let committed =
        tokio::task::block_in_place(|| broker.refclient().committed(&topic, &group)).unwrap();
    assert_eq!(
        committed,
        (0..PARTITIONS).map(|p| (p, 15)).collect::<BTreeMap<_, _>>(),
        "{kind}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eager_consumers_split_and_take_over_losing_nothing() {
    for broker in common::both_brokers().await {
        split_and_take_over(broker.as_ref(), Assignor::Range).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_consumers_split_and_take_over_losing_nothing() {
    for broker in common::both_brokers().await {
        split_and_take_over(broker.as_ref(), Assignor::CooperativeSticky).await;
    }
}
