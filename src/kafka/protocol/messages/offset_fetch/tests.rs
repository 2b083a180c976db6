use super::*;
use crate::kafka::protocol::messages::testing::{
    assert_counts_too_large, assert_versions_refused, decodes_only_whole, encode,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use proptest::prelude::*;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

/// `groups` cut down to what `version` can carry (the first group only before v8),
/// and the response encoding them.
fn case(
    version: i16,
    throttle: i32,
    groups: &[OffsetFetchGroup],
) -> (OffsetFetchResponse, OffsetFetch) {
    let mut groups = groups.to_vec();
    if version < 8 {
        groups.truncate(1);
        if groups.is_empty() {
            groups.push(OffsetFetchGroup {
                group_id: String::new(),
                error_code: 0,
                topics: Vec::new(),
            });
        }
        groups[0].group_id.clear();
        if version < 2 {
            groups[0].error_code = 0;
        }
    }
    for p in groups
        .iter_mut()
        .flat_map(|g| &mut g.topics)
        .flat_map(|t| &mut t.partitions)
    {
        if version < 5 {
            p.committed_leader_epoch = -1;
        }
    }
    let want = OffsetFetch {
        throttle_time_ms: if version >= 3 { throttle } else { 0 },
        groups,
    };
    let resp = OffsetFetchResponse::default().with_throttle_time_ms(throttle);
    let resp = if version >= 8 {
        resp.with_groups(
            want.groups
                .iter()
                .map(|g| {
                    OffsetFetchResponseGroup::default()
                        .with_group_id(GroupId(s(&g.group_id)))
                        .with_error_code(g.error_code)
                        .with_topics(
                            g.topics
                                .iter()
                                .map(|t| {
                                    OffsetFetchResponseTopics::default()
                                        .with_name(TopicName(s(&t.name)))
                                        .with_partitions(
                                            t.partitions
                                                .iter()
                                                .map(|p| {
                                                    OffsetFetchResponsePartitions::default()
                                                        .with_partition_index(p.partition)
                                                        .with_committed_offset(p.committed_offset)
                                                        .with_committed_leader_epoch(
                                                            p.committed_leader_epoch,
                                                        )
                                                        .with_metadata(p.metadata.as_deref().map(s))
                                                        .with_error_code(p.error_code)
                                                })
                                                .collect(),
                                        )
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
    } else {
        let g = &want.groups[0];
        resp.with_error_code(g.error_code).with_topics(
            g.topics
                .iter()
                .map(|t| {
                    OffsetFetchResponseTopic::default()
                        .with_name(TopicName(s(&t.name)))
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    OffsetFetchResponsePartition::default()
                                        .with_partition_index(p.partition)
                                        .with_committed_offset(p.committed_offset)
                                        .with_committed_leader_epoch(p.committed_leader_epoch)
                                        .with_metadata(p.metadata.as_deref().map(s))
                                        .with_error_code(p.error_code)
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
    };
    (resp, want)
}

fn group() -> impl Strategy<Value = OffsetFetchGroup> {
    let partition = (
        any::<i32>(),
        any::<i64>(),
        any::<i32>(),
        proptest::option::of("[ -~]{0,30}"),
        any::<i16>(),
    )
        .prop_map(
            |(partition, committed_offset, committed_leader_epoch, metadata, error_code)| {
                OffsetFetchPartition {
                    partition,
                    committed_offset,
                    committed_leader_epoch,
                    metadata,
                    error_code,
                }
            },
        );
    let topic = (
        "[a-zA-Z0-9._-]{1,40}",
        proptest::collection::vec(partition, 0..6),
    )
        .prop_map(|(name, partitions)| OffsetFetchTopic { name, partitions });
    (
        "[a-z0-9._-]{0,20}",
        any::<i16>(),
        proptest::collection::vec(topic, 0..4),
    )
        .prop_map(|(group_id, error_code, topics)| OffsetFetchGroup {
            group_id,
            error_code,
            topics,
        })
}

proptest! {
    #[test]
    fn round_trips_every_version(
        version in VERSIONS,
        throttle in any::<i32>(),
        groups in proptest::collection::vec(group(), 0..4),
    ) {
        let (resp, want) = case(version, throttle, &groups);
        prop_assert_eq!(decode(encode(&resp, version), version).unwrap(), want);
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..256),
        version in VERSIONS,
    ) {
        let _ = decode(Bytes::from(data), version);
    }
}

fn sample() -> Vec<OffsetFetchGroup> {
    let p = |partition, committed_offset, metadata: Option<&str>| OffsetFetchPartition {
        partition,
        committed_offset,
        committed_leader_epoch: 2,
        metadata: metadata.map(str::to_owned),
        error_code: 0,
    };
    let topics = vec![
        OffsetFetchTopic {
            name: "orders".into(),
            partitions: vec![p(0, 42, Some("m")), p(1, -1, None)],
        },
        OffsetFetchTopic {
            name: "audit".into(),
            partitions: vec![],
        },
    ];
    vec![
        OffsetFetchGroup {
            group_id: "g1".into(),
            error_code: 0,
            topics: topics.clone(),
        },
        OffsetFetchGroup {
            group_id: "g2".into(),
            error_code: 16,
            topics: Vec::new(),
        },
    ]
}

#[test]
fn every_truncation_is_an_error() {
    for version in VERSIONS {
        let (resp, want) = case(version, 1, &sample());
        let full = encode(&resp, version);
        assert_eq!(decodes_only_whole(&full, version, decode), want);
    }
}

#[test]
fn lying_counts_are_refused_before_allocating() {
    // v1: topic count(4), name(2+6), then the partition count.
    let (resp, _) = case(1, 0, &sample());
    let mut classic = encode(&resp, 1).to_vec();
    classic[12..16].copy_from_slice(&i32::MAX.to_be_bytes());
    // v6: throttle(4), compact topic count(1), name(1+6), then a one-byte compact
    // partition count made a five-byte one.
    let (resp, _) = case(6, 0, &sample());
    let mut flexible = encode(&resp, 6).to_vec();
    assert_eq!(flexible[12], 3);
    flexible.splice(12..13, [0xff, 0xff, 0xff, 0xff, 0x0f]);
    // v8: throttle(4), then the compact group count.
    let (resp, _) = case(8, 0, &sample());
    let mut batched = encode(&resp, 8).to_vec();
    assert_eq!(batched[4], 3);
    batched.splice(4..5, [0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert_counts_too_large([(1, classic), (6, flexible), (8, batched)], decode);
}

#[test]
fn unsupported_versions_are_refused() {
    assert_versions_refused(&[0; 32], &[0, 10], decode);
}
