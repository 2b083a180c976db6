//! OffsetFetch (key 9), v1 to v9: the offsets a group has committed.
//!
//! Returns, per group, topic and partition, the committed offset, its leader epoch (v5+),
//! its metadata and error code, plus each group's error code (v2+). Before v8 a response
//! answers for the one group asked; from v8 on it answers a batch. Both come back as a
//! list of groups, the older form as a single entry with an empty group id. v0 is not
//! decoded (it read ZooKeeper-stored offsets; `kafka-protocol` no longer encodes it), nor
//! v10 (topic ids), which `kafka-protocol` 0.18 cannot encode a request for. Flexible
//! versions (v6+) carry tagged fields, which are skipped.

use super::flex::{Layout, check_version};
use crate::kafka::protocol::{DecodeError, Reader};
use bytes::Bytes;

/// The versions this decoder handles.
pub const VERSIONS: std::ops::RangeInclusive<i16> = 1..=9;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetFetch {
    /// 0 before v3.
    pub throttle_time_ms: i32,
    /// Before v8, exactly one entry (with an empty group id); from v8 on, one per group
    /// asked.
    pub groups: Vec<OffsetFetchGroup>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetFetchGroup {
    /// Empty before v8.
    pub group_id: String,
    /// 0 in v1 (which reports errors per partition only).
    pub error_code: i16,
    pub topics: Vec<OffsetFetchTopic>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetFetchTopic {
    pub name: String,
    pub partitions: Vec<OffsetFetchPartition>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetFetchPartition {
    pub partition: i32,
    /// -1 when the group has no committed offset for the partition.
    pub committed_offset: i64,
    /// -1 before v5 or when unknown.
    pub committed_leader_epoch: i32,
    pub metadata: Option<String>,
    pub error_code: i16,
}

/// Decodes an OffsetFetch response body requested at `version` (one of [`VERSIONS`]).
pub fn decode(body: Bytes, version: i16) -> Result<OffsetFetch, DecodeError> {
    check_version("OffsetFetch version", &VERSIONS, version)?;
    let l = Layout {
        flexible: version >= 6,
    };
    let mut r = Reader::new(body);
    let throttle_time_ms = if version >= 3 {
        r.read_i32("OffsetFetch throttle_time_ms")?
    } else {
        0
    };
    let groups = if version >= 8 {
        // group id + topic count + error code + tags at the least.
        let n = l.array_len(&mut r, "OffsetFetch groups", 5)?;
        let mut groups = Vec::with_capacity(n);
        for _ in 0..n {
            let group_id = l.string(&mut r, "OffsetFetch group_id")?;
            let topics = read_topics(&mut r, l, version)?;
            let error_code = r.read_i16("OffsetFetch group error_code")?;
            l.tags(&mut r, "OffsetFetch group tagged fields")?;
            groups.push(OffsetFetchGroup {
                group_id,
                error_code,
                topics,
            });
        }
        groups
    } else {
        let topics = read_topics(&mut r, l, version)?;
        let error_code = if version >= 2 {
            r.read_i16("OffsetFetch error_code")?
        } else {
            0
        };
        vec![OffsetFetchGroup {
            group_id: String::new(),
            error_code,
            topics,
        }]
    };
    l.tags(&mut r, "OffsetFetch tagged fields")?;
    Ok(OffsetFetch {
        throttle_time_ms,
        groups,
    })
}

/// The topics array, laid out alike in the single-group and the batched forms.
fn read_topics(
    r: &mut Reader,
    l: Layout,
    version: i16,
) -> Result<Vec<OffsetFetchTopic>, DecodeError> {
    // name + partition count (+ tags) at the least.
    let n = l.array_len(r, "OffsetFetch topics", if l.flexible { 3 } else { 6 })?;
    // index + offset (+ leader epoch v5+) + metadata length + error code (+ tags v6+).
    let partition_size = if l.flexible || version >= 5 { 20 } else { 16 };
    let mut topics = Vec::with_capacity(n);
    for _ in 0..n {
        let name = l.string(r, "OffsetFetch topic name")?;
        let np = l.array_len(r, "OffsetFetch partitions", partition_size)?;
        let mut partitions = Vec::with_capacity(np);
        for _ in 0..np {
            let partition = r.read_i32("OffsetFetch partition_index")?;
            let committed_offset = r.read_i64("OffsetFetch partition committed_offset")?;
            let committed_leader_epoch = if version >= 5 {
                r.read_i32("OffsetFetch partition committed_leader_epoch")?
            } else {
                -1
            };
            let metadata = l.nullable_string(r, "OffsetFetch partition metadata")?;
            let error_code = r.read_i16("OffsetFetch partition error_code")?;
            l.tags(r, "OffsetFetch partition tagged fields")?;
            partitions.push(OffsetFetchPartition {
                partition,
                committed_offset,
                committed_leader_epoch,
                metadata,
                error_code,
            });
        }
        l.tags(r, "OffsetFetch topic tagged fields")?;
        topics.push(OffsetFetchTopic { name, partitions });
    }
    Ok(topics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::protocol::messages::testing::{assert_truncations_fail, encode};
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
                                                            .with_committed_offset(
                                                                p.committed_offset,
                                                            )
                                                            .with_committed_leader_epoch(
                                                                p.committed_leader_epoch,
                                                            )
                                                            .with_metadata(
                                                                p.metadata.as_deref().map(s),
                                                            )
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
            assert_eq!(decode(full.clone(), version).unwrap(), want);
            assert_truncations_fail(&full, &format!("v{version}"), |b| decode(b, version));
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
        for (version, bytes) in [(1, classic), (6, flexible), (8, batched)] {
            let err = decode(Bytes::from(bytes), version).unwrap_err();
            assert!(
                matches!(err, DecodeError::CountTooLarge { .. }),
                "v{version}: {err}"
            );
        }
    }

    #[test]
    fn unsupported_versions_are_refused() {
        assert!(decode(Bytes::from_static(&[0; 32]), 0).is_err());
        assert!(decode(Bytes::from_static(&[0; 32]), 10).is_err());
    }
}
