//! Metadata (key 3), v1 to v12: the cluster's brokers and, per topic, its partitions
//! and their leaders.
//!
//! Only what routing needs is kept (brokers, leader and leader epoch per partition, error
//! codes); replica lists are checked and skipped. v0 is not decoded: every broker that
//! Lambda supports (0.10.1+) has v1, and v0 can't tell "all topics" from "no topics".

use super::flex::{Layout, check_version};
use crate::kafka::protocol::{DecodeError, Reader};
use bytes::Bytes;

/// The versions this decoder handles.
pub const VERSIONS: std::ops::RangeInclusive<i16> = 1..=12;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub brokers: Vec<BrokerInfo>,
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    pub topics: Vec<TopicMetadata>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerInfo {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicMetadata {
    pub error_code: i16,
    /// Null only in v12+ responses to requests by topic id.
    pub name: Option<String>,
    /// All zero before v10.
    pub topic_id: [u8; 16],
    pub is_internal: bool,
    pub partitions: Vec<PartitionMetadata>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub error_code: i16,
    pub partition: i32,
    /// -1 when the partition has no leader.
    pub leader: i32,
    /// -1 before v7.
    pub leader_epoch: i32,
}

/// Decodes a Metadata response body requested at `version` (one of [`VERSIONS`]).
pub fn decode(body: Bytes, version: i16) -> Result<Metadata, DecodeError> {
    check_version("Metadata version", &VERSIONS, version)?;
    let l = Layout {
        flexible: version >= 9,
    };
    let mut r = Reader::new(body);
    if version >= 3 {
        r.read_i32("Metadata throttle_time_ms")?;
    }
    // node_id + host length + port (+ rack length) at the least.
    let n = l.array_len(&mut r, "Metadata brokers", 9)?;
    let mut brokers = Vec::with_capacity(n);
    for _ in 0..n {
        let node_id = r.read_i32("Metadata broker node_id")?;
        let host = l.string(&mut r, "Metadata broker host")?;
        let port = r.read_i32("Metadata broker port")?;
        let rack = l.nullable_string(&mut r, "Metadata broker rack")?;
        l.tags(&mut r, "Metadata broker tagged fields")?;
        brokers.push(BrokerInfo {
            node_id,
            host,
            port,
            rack,
        });
    }
    let cluster_id = if version >= 2 {
        l.nullable_string(&mut r, "Metadata cluster_id")?
    } else {
        None
    };
    let controller_id = r.read_i32("Metadata controller_id")?;
    // error code + name length + is_internal + partition count at the least.
    let n = l.array_len(&mut r, "Metadata topics", 5)?;
    let mut topics = Vec::with_capacity(n);
    for _ in 0..n {
        let error_code = r.read_i16("Metadata topic error_code")?;
        let name = if version >= 12 {
            l.nullable_string(&mut r, "Metadata topic name")?
        } else {
            Some(l.string(&mut r, "Metadata topic name")?)
        };
        let topic_id = if version >= 10 {
            r.read_uuid("Metadata topic_id")?
        } else {
            [0; 16]
        };
        let is_internal = r.read_i8("Metadata topic is_internal")? != 0;
        // error code + index + leader + two replica arrays at the least.
        let np = l.array_len(&mut r, "Metadata partitions", 12)?;
        let mut partitions = Vec::with_capacity(np);
        for _ in 0..np {
            let error_code = r.read_i16("Metadata partition error_code")?;
            let partition = r.read_i32("Metadata partition_index")?;
            let leader = r.read_i32("Metadata partition leader_id")?;
            let leader_epoch = if version >= 7 {
                r.read_i32("Metadata partition leader_epoch")?
            } else {
                -1
            };
            l.skip_i32_array(&mut r, "Metadata partition replica_nodes")?;
            l.skip_i32_array(&mut r, "Metadata partition isr_nodes")?;
            if version >= 5 {
                l.skip_i32_array(&mut r, "Metadata partition offline_replicas")?;
            }
            l.tags(&mut r, "Metadata partition tagged fields")?;
            partitions.push(PartitionMetadata {
                error_code,
                partition,
                leader,
                leader_epoch,
            });
        }
        if version >= 8 {
            r.read_i32("Metadata topic_authorized_operations")?;
        }
        l.tags(&mut r, "Metadata topic tagged fields")?;
        topics.push(TopicMetadata {
            error_code,
            name,
            topic_id,
            is_internal,
            partitions,
        });
    }
    if (8..=10).contains(&version) {
        r.read_i32("Metadata cluster_authorized_operations")?;
    }
    l.tags(&mut r, "Metadata tagged fields")?;
    Ok(Metadata {
        brokers,
        cluster_id,
        controller_id,
        topics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::protocol::messages::testing::{assert_truncations_fail, encode};
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::{BrokerId, MetadataResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use proptest::prelude::*;

    /// (name, error code, [(partition, leader, leader epoch)])
    type Topic = (String, i16, Vec<(i32, i32, i32)>);

    fn response(brokers: &[(i32, String, i32)], topics: &[Topic]) -> MetadataResponse {
        MetadataResponse::default()
            .with_cluster_id(Some(StrBytes::from_static_str("cluster-1")))
            .with_controller_id(BrokerId(brokers.first().map_or(-1, |b| b.0)))
            .with_brokers(
                brokers
                    .iter()
                    .map(|(id, host, port)| {
                        MetadataResponseBroker::default()
                            .with_node_id(BrokerId(*id))
                            .with_host(StrBytes::from_string(host.clone()))
                            .with_port(*port)
                    })
                    .collect(),
            )
            .with_topics(
                topics
                    .iter()
                    .map(|(name, err, parts)| {
                        MetadataResponseTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(name.clone()))))
                            .with_error_code(*err)
                            .with_partitions(
                                parts
                                    .iter()
                                    .map(|&(p, leader, epoch)| {
                                        MetadataResponsePartition::default()
                                            .with_partition_index(p)
                                            .with_leader_id(BrokerId(leader))
                                            .with_leader_epoch(epoch)
                                            .with_replica_nodes(vec![BrokerId(leader), BrokerId(9)])
                                            .with_isr_nodes(vec![BrokerId(leader)])
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
    }

    proptest! {
        #[test]
        fn round_trips_every_version(
            version in 1i16..=12,
            brokers in proptest::collection::vec((0i32..100, "[a-z0-9.-]{1,20}", 1i32..65536), 0..5),
            topics in proptest::collection::vec(
                ("[a-zA-Z0-9._-]{1,30}", prop_oneof![Just(0i16), Just(3i16)],
                 proptest::collection::vec((0i32..64, -1i32..5, 0i32..1000), 0..8)),
                0..5),
        ) {
            let got = decode(encode(&response(&brokers, &topics), version), version).unwrap();
            prop_assert_eq!(got.brokers.len(), brokers.len());
            for (b, (id, host, port)) in got.brokers.iter().zip(&brokers) {
                prop_assert_eq!((b.node_id, &b.host, b.port), (*id, host, *port));
            }
            prop_assert_eq!(got.cluster_id.as_deref(), (version >= 2).then_some("cluster-1"));
            prop_assert_eq!(got.topics.len(), topics.len());
            for (t, (name, err, parts)) in got.topics.iter().zip(&topics) {
                prop_assert_eq!(t.name.as_deref(), Some(name.as_str()));
                prop_assert_eq!(t.error_code, *err);
                let want: Vec<_> = parts.iter().map(|&(p, leader, epoch)| PartitionMetadata {
                    error_code: 0, partition: p, leader,
                    leader_epoch: if version >= 7 { epoch } else { -1 },
                }).collect();
                prop_assert_eq!(&t.partitions, &want);
            }
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..256), version in 1i16..=12) {
            let _ = decode(Bytes::from(data), version);
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        let resp = response(
            &[(1, "127.0.0.1".into(), 9092)],
            &[("orders".into(), 0, vec![(0, 1, 3), (1, 1, 3)])],
        );
        for version in VERSIONS {
            let full = encode(&resp, version);
            assert!(decode(full.clone(), version).is_ok());
            assert_truncations_fail(&full, &format!("v{version}"), |b| decode(b, version));
        }
    }

    #[test]
    fn lying_partition_count_is_refused_before_allocating() {
        let resp = response(&[], &[("t".into(), 0, vec![(0, 1, 0)])]);
        let mut bytes = encode(&resp, 1).to_vec();
        // v1: brokers count(4) cluster... no cluster id in v1; controller(4); topics
        // count(4); error(2) name(2+1) internal(1); then the partition count.
        let at = 4 + 4 + 4 + 2 + 3 + 1;
        bytes[at..at + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        let err = decode(Bytes::from(bytes), 1).unwrap_err();
        assert!(matches!(err, DecodeError::CountTooLarge { .. }), "{err}");
    }

    #[test]
    fn unsupported_versions_are_refused() {
        assert!(decode(Bytes::new(), 0).is_err());
        assert!(decode(Bytes::new(), 13).is_err());
    }
}
