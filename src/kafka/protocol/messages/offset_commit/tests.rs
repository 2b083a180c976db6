use super::*;
use crate::kafka::protocol::messages::testing::{
    assert_counts_too_large, assert_versions_refused, decodes_only_whole, encode,
};
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use proptest::prelude::*;

fn response(throttle: i32, topics: &[OffsetCommitTopic]) -> OffsetCommitResponse {
    OffsetCommitResponse::default()
        .with_throttle_time_ms(throttle)
        .with_topics(
            topics
                .iter()
                .map(|t| {
                    OffsetCommitResponseTopic::default()
                        .with_name(TopicName(StrBytes::from_string(t.name.clone())))
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    OffsetCommitResponsePartition::default()
                                        .with_partition_index(p.partition)
                                        .with_error_code(p.error_code)
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
}

fn topic() -> impl Strategy<Value = OffsetCommitTopic> {
    let partition =
        (any::<i32>(), any::<i16>()).prop_map(|(partition, error_code)| OffsetCommitPartition {
            partition,
            error_code,
        });
    (
        "[a-zA-Z0-9._-]{1,40}",
        proptest::collection::vec(partition, 0..8),
    )
        .prop_map(|(name, partitions)| OffsetCommitTopic { name, partitions })
}

proptest! {
    #[test]
    fn round_trips_every_version(
        version in VERSIONS,
        throttle in any::<i32>(),
        topics in proptest::collection::vec(topic(), 0..5),
    ) {
        let got = decode(encode(&response(throttle, &topics), version), version).unwrap();
        prop_assert_eq!(got, OffsetCommit {
            throttle_time_ms: if version >= 3 { throttle } else { 0 },
            topics,
        });
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..256),
        version in VERSIONS,
    ) {
        let _ = decode(Bytes::from(data), version);
    }
}

fn sample() -> Vec<OffsetCommitTopic> {
    let p = |partition, error_code| OffsetCommitPartition {
        partition,
        error_code,
    };
    vec![
        OffsetCommitTopic {
            name: "orders".into(),
            partitions: vec![p(0, 0), p(1, 22)],
        },
        OffsetCommitTopic {
            name: "audit".into(),
            partitions: vec![],
        },
    ]
}

#[test]
fn every_truncation_is_an_error() {
    for version in VERSIONS {
        let full = encode(&response(1, &sample()), version);
        decodes_only_whole(&full, version, decode);
    }
}

#[test]
fn lying_partition_count_is_refused_before_allocating() {
    // v2: topic count(4), name(2+6), then the partition count.
    let mut classic = encode(&response(0, &sample()), 2).to_vec();
    classic[12..16].copy_from_slice(&i32::MAX.to_be_bytes());
    // v8: throttle(4), compact topic count(1), name(1+6), then a one-byte compact
    // partition count made a five-byte one.
    let mut flexible = encode(&response(0, &sample()), 8).to_vec();
    assert_eq!(flexible[12], 3);
    flexible.splice(12..13, [0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert_counts_too_large([(2, classic), (8, flexible)], decode);
}

#[test]
fn unsupported_versions_are_refused() {
    assert_versions_refused(&[0; 32], &[1, 10], decode);
}
