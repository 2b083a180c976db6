//! Produce (key 0), v3 to v12: per partition, whether the leader appended the batch and
//! at which offset.
//!
//! v3 is the first version that carries record batches (magic 2), so it is the oldest
//! the producer sends. v13 names topics by id, which the producer doesn't use. Per-record
//! errors (v8+) are decoded so that a refused batch can say which record was at fault.
//! The leader hints of v10+ (tagged fields) are skipped: the producer refreshes metadata.

use super::flex::{Layout, check_version};
use crate::kafka::protocol::{DecodeError, Reader};
use bytes::Bytes;

/// The versions this decoder handles.
pub const VERSIONS: std::ops::RangeInclusive<i16> = 3..=12;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Produce {
    pub topics: Vec<ProduceTopic>,
    pub throttle_time_ms: i32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProduceTopic {
    pub name: String,
    pub partitions: Vec<ProducePartition>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducePartition {
    pub partition: i32,
    pub error_code: i16,
    /// The offset of the batch's first record.
    pub base_offset: i64,
    /// -1 unless the topic uses LogAppendTime.
    pub log_append_time_ms: i64,
    /// -1 before v5.
    pub log_start_offset: i64,
    /// v8+: the records that made the batch fail, by index in the batch.
    pub record_errors: Vec<RecordError>,
    /// v8+.
    pub error_message: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordError {
    pub batch_index: i32,
    pub message: Option<String>,
}

/// Decodes a Produce response body requested at `version` (one of [`VERSIONS`]).
pub fn decode(body: Bytes, version: i16) -> Result<Produce, DecodeError> {
    check_version("Produce version", &VERSIONS, version)?;
    let l = Layout {
        flexible: version >= 9,
    };
    let f = usize::from(l.flexible);
    let mut r = Reader::new(body);
    // name + partition count (+ tags) at the least.
    let n = l.array_len(&mut r, "Produce topics", if l.flexible { 3 } else { 6 })?;
    let mut topics = Vec::with_capacity(n);
    for _ in 0..n {
        let name = l.string(&mut r, "Produce topic name")?;
        let min = 4
            + 2
            + 8
            + 8
            + if version >= 5 { 8 } else { 0 }
            + if version >= 8 {
                if l.flexible { 2 } else { 6 }
            } else {
                0
            }
            + f;
        let np = l.array_len(&mut r, "Produce partitions", min)?;
        let mut partitions = Vec::with_capacity(np);
        for _ in 0..np {
            let partition = r.read_i32("Produce partition index")?;
            let error_code = r.read_i16("Produce partition error_code")?;
            let base_offset = r.read_i64("Produce base_offset")?;
            let log_append_time_ms = r.read_i64("Produce log_append_time_ms")?;
            let log_start_offset = if version >= 5 {
                r.read_i64("Produce log_start_offset")?
            } else {
                -1
            };
            let mut record_errors = Vec::new();
            let mut error_message = None;
            if version >= 8 {
                // index + message (+ tags).
                let ne = l.array_len(&mut r, "Produce record_errors", 5 + f)?;
                record_errors.reserve(ne);
                for _ in 0..ne {
                    let batch_index = r.read_i32("Produce record error batch_index")?;
                    let message = l.nullable_string(&mut r, "Produce record error message")?;
                    l.tags(&mut r, "Produce record error tagged fields")?;
                    record_errors.push(RecordError {
                        batch_index,
                        message,
                    });
                }
                error_message = l.nullable_string(&mut r, "Produce error_message")?;
            }
            l.tags(&mut r, "Produce partition tagged fields")?;
            partitions.push(ProducePartition {
                partition,
                error_code,
                base_offset,
                log_append_time_ms,
                log_start_offset,
                record_errors,
                error_message,
            });
        }
        l.tags(&mut r, "Produce topic tagged fields")?;
        topics.push(ProduceTopic { name, partitions });
    }
    let throttle_time_ms = r.read_i32("Produce throttle_time_ms")?;
    l.tags(&mut r, "Produce tagged fields")?;
    Ok(Produce {
        topics,
        throttle_time_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::protocol::messages::testing::{assert_truncations_fail, encode};
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
        let error = (any::<i32>(), proptest::option::of("[a-z ]{0,12}")).prop_map(
            |(batch_index, message)| RecordError {
                batch_index,
                message,
            },
        );
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
            assert!(decode(full.clone(), version).is_ok());
            assert_truncations_fail(&full, &format!("v{version}"), |b| decode(b, version));
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
        for (version, bytes) in [(3, classic), (9, flexible)] {
            let err = decode(Bytes::from(bytes), version).unwrap_err();
            assert!(
                matches!(err, DecodeError::CountTooLarge { .. }),
                "v{version}: {err}"
            );
        }
    }

    #[test]
    fn unsupported_versions_are_refused() {
        assert!(decode(Bytes::from_static(&[0; 32]), 2).is_err());
        assert!(decode(Bytes::from_static(&[0; 32]), 13).is_err());
    }
}
