use super::*;
use crate::kafka::protocol::messages::testing::{
    assert_counts_too_large, assert_versions_refused, decodes_only_whole, encode,
};
use kafka_protocol::messages::ProduceResponse;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{BrokerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use proptest::prelude::*;

fn response(version: i16, throttle: i32, topics: &[ProduceTopic]) -> ProduceResponse {
    ProduceResponse::default()
        .with_throttle_time_ms(throttle)
        .with_responses(
            topics
                .iter()
                .map(|t| {
                    TopicProduceResponse::default()
                        .with_name(TopicName(StrBytes::from_string(t.name.clone())))
                        .with_partition_responses(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    let mut r = PartitionProduceResponse::default()
                                        .with_index(p.partition)
                                        .with_error_code(p.error_code)
                                        .with_base_offset(p.base_offset)
                                        .with_log_append_time_ms(p.log_append_time_ms)
                                        .with_log_start_offset(p.log_start_offset)
                                        .with_record_errors(
                                            p.record_errors
                                                .iter()
                                                .map(|e| {
                                                    BatchIndexAndErrorMessage::default()
                                                        .with_batch_index(e.batch_index)
                                                        .with_batch_index_error_message(
                                                            e.message
                                                                .clone()
                                                                .map(StrBytes::from_string),
                                                        )
                                                })
                                                .collect(),
                                        )
                                        .with_error_message(
                                            p.error_message.clone().map(StrBytes::from_string),
                                        );
                                    if version >= 10 {
                                        // A leader hint, sent as a tagged field.
                                        r = r.with_current_leader(
                                            LeaderIdAndEpoch::default()
                                                .with_leader_id(BrokerId(3))
                                                .with_leader_epoch(9),
                                        );
                                    }
                                    r
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
}

/// What a response at `version` can carry of `t`.
fn visible(version: i16, mut t: ProduceTopic) -> ProduceTopic {
    for p in &mut t.partitions {
        if version < 5 {
            p.log_start_offset = -1;
        }
        if version < 8 {
            p.record_errors.clear();
            p.error_message = None;
        }
    }
    t
}

fn topic() -> impl Strategy<Value = ProduceTopic> {
    let error =
        (any::<i32>(), proptest::option::of("[a-z ]{0,12}")).prop_map(|(batch_index, message)| {
            RecordError {
                batch_index,
                message,
            }
        });
    let partition = (
        any::<i32>(),
        any::<i16>(),
        any::<i64>(),
        any::<i64>(),
        any::<i64>(),
        proptest::collection::vec(error, 0..3),
        proptest::option::of("[a-z ]{0,12}"),
    )
        .prop_map(
            |(partition, error_code, base_offset, append, start, record_errors, message)| {
                ProducePartition {
                    partition,
                    error_code,
                    base_offset,
                    log_append_time_ms: append,
                    log_start_offset: start,
                    record_errors,
                    error_message: message,
                }
            },
        );
    (
        "[a-zA-Z0-9._-]{1,30}",
        proptest::collection::vec(partition, 0..5),
    )
        .prop_map(|(name, partitions)| ProduceTopic { name, partitions })
}

proptest! {
    #[test]
    fn round_trips_every_version(
        version in VERSIONS,
        throttle in any::<i32>(),
        topics in proptest::collection::vec(topic(), 0..4),
    ) {
        let topics: Vec<_> = topics.into_iter().map(|t| visible(version, t)).collect();
        let got = decode(encode(&response(version, throttle, &topics), version), version).unwrap();
        prop_assert_eq!(got, Produce { topics, throttle_time_ms: throttle });
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..256),
        version in VERSIONS,
    ) {
        let _ = decode(Bytes::from(data), version);
    }
}

fn sample() -> Vec<ProduceTopic> {
    vec![ProduceTopic {
        name: "orders".into(),
        partitions: vec![ProducePartition {
            partition: 2,
            error_code: 87,
            base_offset: -1,
            log_append_time_ms: -1,
            log_start_offset: 0,
            record_errors: vec![RecordError {
                batch_index: 1,
                message: Some("bad".into()),
            }],
            error_message: Some("invalid record".into()),
        }],
    }]
}

#[test]
fn every_truncation_is_an_error() {
    for version in VERSIONS {
        let full = encode(&response(version, 1, &sample()), version);
        decodes_only_whole(&full, version, decode);
    }
}

#[test]
fn lying_partition_count_is_refused_before_allocating() {
    // v3: topic count(4), name(2+6), then the partition count.
    let mut classic = encode(&response(3, 0, &sample()), 3).to_vec();
    classic[12..16].copy_from_slice(&i32::MAX.to_be_bytes());
    // v9: compact topic count(1), name(1+6), then a one-byte compact partition count
    // made a five-byte one.
    let mut flexible = encode(&response(9, 0, &sample()), 9).to_vec();
    assert_eq!(flexible[8], 2);
    flexible.splice(8..9, [0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert_counts_too_large([(3, classic), (9, flexible)], decode);
}

#[test]
fn unsupported_versions_are_refused() {
    assert_versions_refused(&[0; 32], &[2, 13], decode);
}
