//! OffsetCommit (key 8), v2 to v9: per partition, whether the group coordinator stored
//! the offset committed.
//!
//! Returns an error code per topic and partition, as the broker sent them; deciding which
//! failures to retry is the caller's job. v0 and v1 are not decoded: every broker from
//! 0.10.1 on has v2 and `kafka-protocol` no longer encodes older requests. v10 (topic
//! ids) is not decoded either: `kafka-protocol` 0.18 cannot encode a v10 request.
//! Flexible versions (v8+) carry tagged fields, which are skipped.

use super::flex::{Layout, check_version};
use crate::kafka::protocol::{DecodeError, Reader};
use bytes::Bytes;

/// The versions this decoder handles.
pub const VERSIONS: std::ops::RangeInclusive<i16> = 2..=9;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetCommit {
    /// 0 before v3.
    pub throttle_time_ms: i32,
    pub topics: Vec<OffsetCommitTopic>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetCommitTopic {
    pub name: String,
    pub partitions: Vec<OffsetCommitPartition>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetCommitPartition {
    pub partition: i32,
    pub error_code: i16,
}

/// Decodes an OffsetCommit response body requested at `version` (one of [`VERSIONS`]).
pub fn decode(body: Bytes, version: i16) -> Result<OffsetCommit, DecodeError> {
    check_version("OffsetCommit version", &VERSIONS, version)?;
    let l = Layout {
        flexible: version >= 8,
    };
    let mut r = Reader::new(body);
    let throttle_time_ms = if version >= 3 {
        r.read_i32("OffsetCommit throttle_time_ms")?
    } else {
        0
    };
    // name + partition count (+ tags) at the least.
    let n = l.array_len(
        &mut r,
        "OffsetCommit topics",
        if l.flexible { 3 } else { 6 },
    )?;
    let mut topics = Vec::with_capacity(n);
    for _ in 0..n {
        let name = l.string(&mut r, "OffsetCommit topic name")?;
        // index + error code (+ tags).
        let np = l.array_len(
            &mut r,
            "OffsetCommit partitions",
            6 + usize::from(l.flexible),
        )?;
        let mut partitions = Vec::with_capacity(np);
        for _ in 0..np {
            let partition = r.read_i32("OffsetCommit partition_index")?;
            let error_code = r.read_i16("OffsetCommit partition error_code")?;
            l.tags(&mut r, "OffsetCommit partition tagged fields")?;
            partitions.push(OffsetCommitPartition {
                partition,
                error_code,
            });
        }
        l.tags(&mut r, "OffsetCommit topic tagged fields")?;
        topics.push(OffsetCommitTopic { name, partitions });
    }
    l.tags(&mut r, "OffsetCommit tagged fields")?;
    Ok(OffsetCommit {
        throttle_time_ms,
        topics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::protocol::messages::testing::{assert_truncations_fail, encode};
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
        let partition = (any::<i32>(), any::<i16>()).prop_map(|(partition, error_code)| {
            OffsetCommitPartition {
                partition,
                error_code,
            }
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
            assert!(decode(full.clone(), version).is_ok());
            assert_truncations_fail(&full, &format!("v{version}"), |b| decode(b, version));
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
        for (version, bytes) in [(2, classic), (8, flexible)] {
            let err = decode(Bytes::from(bytes), version).unwrap_err();
            assert!(
                matches!(err, DecodeError::CountTooLarge { .. }),
                "v{version}: {err}"
            );
        }
    }

    #[test]
    fn unsupported_versions_are_refused() {
        assert!(decode(Bytes::from_static(&[0; 32]), 1).is_err());
        assert!(decode(Bytes::from_static(&[0; 32]), 10).is_err());
    }
}
