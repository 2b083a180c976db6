//! Consumer group membership and offsets through our coordinator client, against both
//! rig brokers, cross-checked with the reference client.

mod common;

use common::cluster;
use kafka_esm::kafka::TopicPartition;
use kafka_esm::kafka::client::cluster::Cluster;
use kafka_esm::kafka::consumer::coordinator::{
    Generation, GroupConfig, GroupMember, MemberSubscription,
};
use kafka_esm::kafka::protocol::messages::consumer_protocol::{
    Assignment, Subscription, TopicPartitions,
};
use kafka_esm_rig::{Broker, Compression, Nisshi, Record, unique_name};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

fn member(cluster: Arc<Cluster>, group: &str, topic: &str) -> GroupMember {
    GroupMember::new(
        cluster,
        GroupConfig {
            group_id: group.to_string(),
            group_instance_id: None,
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(10),
            protocols: vec![(
                "roundrobin".into(),
                Subscription {
                    version: 0,
                    topics: vec![topic.to_string()],
                    user_data: None,
                    owned_partitions: vec![],
                    generation_id: -1,
                    rack_id: None,
                },
            )],
            leader_sync_delay: Duration::ZERO,
        },
    )
}

/// A test assignor: `partitions` of the one subscribed topic dealt round robin over the
/// members sorted by id.
fn deal(
    topic: &str,
    partitions: i32,
) -> impl FnMut(&str, &[MemberSubscription]) -> Result<BTreeMap<String, Assignment>, String> {
    let topic = topic.to_string();
    move |_protocol, members| {
        let mut ids: Vec<&str> = members.iter().map(|m| m.member_id.as_str()).collect();
        ids.sort();
        let mut plan: BTreeMap<String, Vec<i32>> =
            ids.iter().map(|id| (id.to_string(), Vec::new())).collect();
        for p in 0..partitions {
            plan.get_mut(ids[p as usize % ids.len()]).unwrap().push(p);
        }
        Ok(plan
            .into_iter()
            .map(|(id, ps)| {
                (
                    id,
                    Assignment {
                        version: 0,
                        assigned_partitions: vec![TopicPartitions {
                            topic: topic.clone(),
                            partitions: ps,
                        }],
                        user_data: None,
                    },
                )
            })
            .collect())
    }
}

fn partitions_of(g: &Generation) -> BTreeSet<i32> {
    g.assignment
        .assigned_partitions
        .iter()
        .flat_map(|tp| tp.partitions.iter().copied())
        .collect()
}

/// A member running as a consumer would: join, then heartbeat every 100 ms, rejoining
/// whenever the coordinator announces a rebalance, until told to leave.
struct Running {
    generation: tokio::sync::watch::Receiver<Option<Generation>>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

fn run(mut m: GroupMember, topic: String, partitions: i32) -> Running {
    let (tx, generation) = tokio::sync::watch::channel(None);
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        loop {
            let g = m.join(&mut deal(&topic, partitions)).await.unwrap();
            tx.send_replace(Some(g));
            loop {
                tokio::select! {
                    _ = &mut stopped => {
                        m.leave().await.unwrap();
                        return;
                    }
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
                match m.heartbeat().await {
                    Ok(()) => {}
                    Err(e) if e.needs_rejoin() => break,
                    // The coordinator moved or a connection dropped: heartbeat again.
                    Err(e) => assert!(e.is_retriable(), "{e}"),
                }
            }
        }
    });
    Running {
        generation,
        stop,
        task,
    }
}

/// Waits (on the members' generation announcements) until every running member is in
/// the same generation and their assignments split `0..partitions` exactly.
async fn until_split(members: &mut [&mut Running], partitions: i32) -> Vec<Generation> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let gens: Vec<Option<Generation>> = members
            .iter()
            .map(|m| m.generation.borrow().clone())
            .collect();
        if let Some(gens) = gens.into_iter().collect::<Option<Vec<_>>>() {
            let same = gens
                .iter()
                .all(|g| g.generation_id == gens[0].generation_id);
            let mut all: Vec<i32> = gens.iter().flat_map(partitions_of).collect();
            all.sort();
            if same && all == (0..partitions).collect::<Vec<_>>() {
                return gens;
            }
        }
        let changes: Vec<_> = members
            .iter_mut()
            .map(|m| Box::pin(m.generation.changed()))
            .collect();
        tokio::time::timeout_at(deadline, futures_select(changes))
            .await
            .expect("the group did not settle within 60 s");
    }
}

/// Resolves when any of the futures does.
async fn futures_select<F: std::future::Future + Unpin>(futures: Vec<F>) {
    let mut futures = futures;
    std::future::poll_fn(|cx| {
        for f in futures.iter_mut() {
            if std::pin::Pin::new(f).poll(cx).is_ready() {
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// Two members split a topic's partitions; when one leaves, the other takes them all.
/// (nisshi only: librdkafka's mock cluster stops answering after our JoinGroup, see
/// the note on the client issue.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_split_the_partitions_and_one_takes_all_when_the_other_leaves() {
    let broker = tokio::task::spawn_blocking(|| Nisshi::start().unwrap())
        .await
        .unwrap();
    let topic = unique_name("group-split");
    tokio::task::block_in_place(|| broker.create_topic(&topic, 4)).unwrap();
    let group = unique_name("group");
    let c = cluster(&broker, &topic).await;
    let mut a = run(member(c.clone(), &group, &topic), topic.clone(), 4);
    let [alone] = &until_split(&mut [&mut a], 4).await[..] else {
        unreachable!()
    };
    assert!(alone.is_leader);

    let mut b = run(member(c.clone(), &group, &topic), topic.clone(), 4);
    let both = until_split(&mut [&mut a, &mut b], 4).await;
    assert!(both[0].generation_id > alone.generation_id);
    assert_eq!(partitions_of(&both[0]).len(), 2, "{both:?}");
    assert_eq!(partitions_of(&both[1]).len(), 2, "{both:?}");

    b.stop.send(()).unwrap();
    b.task.await.unwrap();
    let [last] = &until_split(&mut [&mut a], 4).await[..] else {
        unreachable!()
    };
    assert!(last.generation_id > both[0].generation_id);
    a.stop.send(()).unwrap();
    a.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_commits_and_the_reference_clients_commits_are_one_group_state() {
    // nisshi only for now: librdkafka's mock cluster stops answering after our
    // JoinGroup (see the note on the client issue).
    let brokers = vec![
        tokio::task::spawn_blocking(|| Box::new(Nisshi::start().unwrap()) as Box<dyn Broker>)
            .await
            .unwrap(),
    ];
    for broker in brokers {
        let topic = unique_name("group-commit");
        let partitions = 4;
        let records: Vec<Record> = (0..20)
            .map(|i| {
                let mut r = Record::new(None, Some(format!("v{i}").as_bytes()));
                r.partition = Some(i % partitions);
                r
            })
            .collect();
        tokio::task::block_in_place(|| {
            broker.create_topic(&topic, partitions)?;
            broker
                .refclient()
                .produce(&topic, &records, Compression::None)
        })
        .unwrap();
        let group = unique_name("group");
        let c = cluster(&*broker, &topic).await;
        let mut m = member(c, &group, &topic);
        m.join(&mut deal(&topic, partitions))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", broker.kind()));
        let all: Vec<TopicPartition> = (0..partitions).map(|p| (topic.clone(), p)).collect();
        assert!(
            m.committed(&all).await.unwrap().is_empty(),
            "{}",
            broker.kind()
        );

        let ours: BTreeMap<TopicPartition, i64> =
            [((topic.clone(), 0), 3), ((topic.clone(), 2), 5)].into();
        m.commit(&ours).await.unwrap();
        assert_eq!(m.committed(&all).await.unwrap(), ours, "{}", broker.kind());
        m.leave().await.unwrap();

        // The reference client sees our commits...
        let seen =
            tokio::task::block_in_place(|| broker.refclient().committed(&topic, &group)).unwrap();
        assert_eq!((seen[&0], seen[&2]), (3, 5), "{}: {seen:?}", broker.kind());
        assert!(seen[&1] < 0 && seen[&3] < 0, "{}: {seen:?}", broker.kind());

        // ...continues from them and commits its own, which we read back.
        let consumed = tokio::task::block_in_place(|| {
            broker.refclient().consume(&topic, &group, 20 - 3 - 5, true)
        })
        .unwrap();
        assert!(
            consumed
                .iter()
                .all(|r| !(r.partition == 0 && r.offset < 3 || r.partition == 2 && r.offset < 5))
        );
        let c = cluster(&*broker, &topic).await;
        let mut again = member(c, &group, &topic);
        let theirs = again.committed(&all).await.unwrap();
        for p in 0..partitions {
            assert_eq!(
                theirs[&(topic.clone(), p)],
                5,
                "{} partition {p}",
                broker.kind()
            );
        }
    }
}

/// A member that missed a rebalance (its generation is gone) can't commit: the
/// coordinator refuses and the error says to rejoin. (Commits *during* a rebalance, before
/// rejoining, are allowed with the current generation, as in Kafka.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_from_a_stale_generation_is_refused_and_asks_to_rejoin() {
    let broker = tokio::task::spawn_blocking(|| Nisshi::start().unwrap())
        .await
        .unwrap();
    let topic = unique_name("group-stale");
    tokio::task::block_in_place(|| broker.create_topic(&topic, 2)).unwrap();
    let group = unique_name("group");
    let c = cluster(&broker, &topic).await;
    let mut a = member(c.clone(), &group, &topic);
    a.set_timeouts(Duration::from_secs(6), Duration::from_secs(2));
    a.join(&mut deal(&topic, 2)).await.unwrap();
    // `b` joins; `a` never rejoins, so the rebalance completes without it.
    let mut b = member(c.clone(), &group, &topic);
    b.set_timeouts(Duration::from_secs(6), Duration::from_secs(2));
    let g = b.join(&mut deal(&topic, 2)).await.unwrap();
    assert_eq!(partitions_of(&g), [0, 1].into());
    let stale: BTreeMap<TopicPartition, i64> = [((topic.clone(), 0), 1)].into();
    let err = a.commit(&stale).await.unwrap_err();
    assert!(err.needs_rejoin(), "{err}");
    let all = vec![(topic.clone(), 0), (topic.clone(), 1)];
    assert!(
        b.committed(&all).await.unwrap().is_empty(),
        "nothing may be committed from a stale generation"
    );
}

/// DescribeGroups, as the runtime's scaling asks it from an unjoined member: the
/// coordinator lists the joined member with the id it gave it, and no one once it left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_lists_the_members_by_the_ids_the_coordinator_gave_them() {
    let broker = tokio::task::spawn_blocking(|| Nisshi::start().unwrap())
        .await
        .unwrap();
    let topic = unique_name("group-describe");
    tokio::task::block_in_place(|| broker.create_topic(&topic, 2)).unwrap();
    let group = unique_name("group");
    let c = cluster(&broker, &topic).await;
    let mut a = member(c.clone(), &group, &topic);
    let g = a.join(&mut deal(&topic, 2)).await.unwrap();
    let mut observer = member(c.clone(), &group, &topic);
    let described = observer.describe().await.unwrap();
    assert_eq!(described.group_id, group);
    assert_eq!(described.group_state, "Stable");
    assert_eq!(described.protocol_type, "consumer");
    // (nisshi leaves the protocol name, client ids and hosts and the members' metadata
    // empty; the runtime needs only the member ids.)
    let ids: Vec<&str> = described
        .members
        .iter()
        .map(|m| m.member_id.as_str())
        .collect();
    assert_eq!(ids, [g.member_id.as_str()]);
    a.leave().await.unwrap();
    let described = observer.describe().await.unwrap();
    assert!(described.members.is_empty(), "{described:?}");
    assert_eq!(described.group_state, "Empty");
}
