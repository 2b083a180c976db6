use super::*;

fn planned(topic: &str, partition: i32, offset: i64) -> Planned {
    Planned {
        key: (topic.to_string(), partition),
        offset,
        limit: 1024,
        grown: false,
        leader_epoch: 3,
    }
}

fn job(plan: Vec<Planned>, session: Option<Session>) -> LeaderFetch {
    LeaderFetch {
        node: 1,
        plan,
        session,
        sessions: true,
        max_wait: Duration::from_millis(250),
        min_bytes: 1,
        max_bytes: 1 << 20,
        isolation: Isolation::ReadCommitted,
    }
}

fn listed(r: &FetchRequest) -> Vec<(String, i32, i64)> {
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.topic.0.to_string(), p.partition, p.fetch_offset))
        })
        .collect()
}

#[test]
fn full_requests_list_every_partition_grouped_by_topic() {
    let plan = vec![planned("a", 1, 10), planned("b", 0, 5), planned("a", 0, 7)];
    let r = job(plan, None).request(&Sent::Full, 12);
    assert_eq!((r.session_id, r.session_epoch), (0, 0));
    assert_eq!(r.topics.len(), 2);
    assert_eq!(
        listed(&r),
        [("a".into(), 1, 10), ("a".into(), 0, 7), ("b".into(), 0, 5)]
    );
    assert_eq!(r.topics[0].partitions[0].current_leader_epoch, 3);
    assert_eq!(r.isolation_level, 1);
    assert_eq!(r.max_wait_ms, 250);
    let r = job(vec![planned("a", 0, 1)], None).request(&Sent::Sessionless, 8);
    assert_eq!((r.session_id, r.session_epoch), (0, -1));
    assert_eq!(
        r.topics[0].partitions[0].current_leader_epoch, -1,
        "v8 has no leader epoch"
    );
}

#[test]
fn incremental_requests_send_changes_and_forget_what_left() {
    let first = vec![
        planned("a", 0, 10),
        planned("a", 1, 20),
        planned("b", 0, 30),
    ];
    let session = Session::new(77).after(&first);
    assert_eq!(session.epoch, 1);
    // a-0 moved, a-1 unchanged, b-0 left, c-0 joined.
    let next = vec![planned("a", 0, 15), planned("a", 1, 20), planned("c", 0, 0)];
    let j = job(next.clone(), Some(session.clone()));
    let r = j.request(&Sent::Incremental(session.clone()), 12);
    assert_eq!((r.session_id, r.session_epoch), (77, 1));
    assert_eq!(listed(&r), [("a".into(), 0, 15), ("c".into(), 0, 0)]);
    assert_eq!(r.forgotten_topics_data.len(), 1);
    assert_eq!(r.forgotten_topics_data[0].topic.0.as_str(), "b");
    assert_eq!(r.forgotten_topics_data[0].partitions, [0]);
    let session = session.after(&next);
    assert_eq!(session.epoch, 2);
    // Nothing changed: an empty incremental request.
    let r = job(next, Some(session.clone())).request(&Sent::Incremental(session), 12);
    assert!(r.topics.is_empty() && r.forgotten_topics_data.is_empty());
    assert_eq!(r.session_epoch, 2);
}

#[test]
fn session_epochs_wrap_to_one() {
    let mut s = Session::new(1);
    s.epoch = i32::MAX;
    assert_eq!(s.after(&[]).epoch, 1);
}

#[test]
fn requests_encode_at_every_version_we_send() {
    use kafka_protocol::protocol::Encodable;
    let plan = vec![planned("a", 0, 10)];
    let session = Session::new(5).after(&plan);
    for version in FETCH_VERSIONS {
        let sent = if version >= SESSION_VERSION {
            Sent::Incremental(session.clone())
        } else {
            Sent::Sessionless
        };
        let r = job(vec![planned("b", 0, 1)], Some(session.clone())).request(&sent, version);
        let mut buf = bytes::BytesMut::new();
        r.encode(&mut buf, version)
            .unwrap_or_else(|e| panic!("v{version}: {e}"));
    }
}
