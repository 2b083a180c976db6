use super::*;
use crate::kafka::protocol::messages::testing::{decodes_only_whole, encode};
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
        decodes_only_whole(&full, version, decode);
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
