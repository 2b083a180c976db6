use super::*;
use crate::kafka::protocol::messages::testing::{
    assert_counts_too_large, assert_versions_refused, decodes_only_whole, encode,
};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use proptest::prelude::*;

/// The response carrying `topics` at `version`, and what we should decode from it.
fn case(
    version: i16,
    throttle: i32,
    topics: &[ListOffsetsTopic],
) -> (ListOffsetsResponse, ListOffsets) {
    let want = ListOffsets {
        throttle_time_ms: if version >= 2 { throttle } else { 0 },
        topics: topics
            .iter()
            .map(|t| ListOffsetsTopic {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| ListOffsetsPartition {
                        leader_epoch: if version >= 4 { p.leader_epoch } else { -1 },
                        ..p.clone()
                    })
                    .collect(),
            })
            .collect(),
    };
    let resp = ListOffsetsResponse::default()
        .with_throttle_time_ms(throttle)
        .with_topics(
            want.topics
                .iter()
                .map(|t| {
                    ListOffsetsTopicResponse::default()
                        .with_name(TopicName(StrBytes::from_string(t.name.clone())))
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    ListOffsetsPartitionResponse::default()
                                        .with_partition_index(p.partition)
                                        .with_error_code(p.error_code)
                                        .with_timestamp(p.timestamp)
                                        .with_offset(p.offset)
                                        .with_leader_epoch(p.leader_epoch)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    (resp, want)
}

fn topic() -> impl Strategy<Value = ListOffsetsTopic> {
    let partition = (
        any::<i32>(),
        any::<i16>(),
        any::<i64>(),
        any::<i64>(),
        any::<i32>(),
    )
        .prop_map(|(partition, error_code, timestamp, offset, leader_epoch)| {
            ListOffsetsPartition {
                partition,
                error_code,
                timestamp,
                offset,
                leader_epoch,
            }
        });
    (
        "[a-zA-Z0-9._-]{1,40}",
        proptest::collection::vec(partition, 0..8),
    )
        .prop_map(|(name, partitions)| ListOffsetsTopic { name, partitions })
}

proptest! {
    #[test]
    fn round_trips_every_version(
        version in VERSIONS,
        throttle in any::<i32>(),
        topics in proptest::collection::vec(topic(), 0..5),
    ) {
        let (resp, want) = case(version, throttle, &topics);
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

fn sample() -> Vec<ListOffsetsTopic> {
    let p = |partition, offset| ListOffsetsPartition {
        partition,
        error_code: 0,
        timestamp: -1,
        offset,
        leader_epoch: 4,
    };
    vec![
        ListOffsetsTopic {
            name: "orders".into(),
            partitions: vec![p(0, 42), p(1, 7)],
        },
        ListOffsetsTopic {
            name: "empty".into(),
            partitions: vec![],
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
fn lying_partition_count_is_refused_before_allocating() {
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
    assert_counts_too_large([(1, classic), (6, flexible)], decode);
}

#[test]
fn unsupported_versions_are_refused() {
    assert_versions_refused(&[0; 32], &[0, 11], decode);
}
