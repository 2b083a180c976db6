use super::*;
use crate::kafka::protocol::messages::testing::{decodes_only_whole, encode};
use bytes::BufMut;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction as KpAborted, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchResponse as KpFetch, ProducerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use proptest::prelude::*;

type Part = (i32, i16, i64, Option<Vec<(i64, i64)>>, Vec<u8>);

fn kp(version: i16, topics: &[(String, Vec<Part>)]) -> Bytes {
    let resp = KpFetch::default()
        .with_throttle_time_ms(7)
        .with_session_id(if version >= 7 { 42 } else { 0 })
        .with_responses(
            topics
                .iter()
                .enumerate()
                .map(|(i, (name, parts))| {
                    let mut t = FetchableTopicResponse::default().with_partitions(
                        parts
                            .iter()
                            .map(|(p, err, hw, aborted, records)| {
                                PartitionData::default()
                                    .with_partition_index(*p)
                                    .with_error_code(*err)
                                    .with_high_watermark(*hw)
                                    .with_last_stable_offset(hw - 1)
                                    .with_log_start_offset(if version >= 5 { 3 } else { -1 })
                                    .with_aborted_transactions(aborted.as_ref().map(|a| {
                                        a.iter()
                                            .map(|&(pid, first)| {
                                                KpAborted::default()
                                                    .with_producer_id(ProducerId(pid))
                                                    .with_first_offset(first)
                                            })
                                            .collect()
                                    }))
                                    .with_records(Some(Bytes::from(records.clone())))
                            })
                            .collect(),
                    );
                    if version >= 13 {
                        t = t.with_topic_id(uuid::Uuid::from_bytes([i as u8 + 1; 16]));
                    } else {
                        t = t.with_topic(TopicName(StrBytes::from_string(name.clone())));
                    }
                    t
                })
                .collect(),
        );
    encode(&resp, version)
}

proptest! {
    #[test]
    fn round_trips_every_version_kafka_protocol_encodes(
        version in 4i16..=18,
        topics in proptest::collection::vec(("[a-z.-]{1,20}", proptest::collection::vec(
            (0i32..50, prop_oneof![Just(0i16), Just(6i16)], 1i64..1_000_000,
             proptest::option::of(proptest::collection::vec((any::<i64>(), 0i64..1000), 0..3)),
             proptest::collection::vec(any::<u8>(), 0..64)), 0..4)), 0..4),
    ) {
        let got = decode(kp(version, &topics), version).unwrap();
        prop_assert_eq!(got.throttle_time_ms, 7);
        prop_assert_eq!(got.session_id, if version >= 7 { 42 } else { 0 });
        prop_assert_eq!(got.topics.len(), topics.len());
        for (i, (t, (name, parts))) in got.topics.iter().zip(&topics).enumerate() {
            if version >= 13 {
                prop_assert_eq!(t.topic_id, [i as u8 + 1; 16]);
            } else {
                prop_assert_eq!(t.name.as_deref(), Some(name.as_str()));
            }
            for (p, (idx, err, hw, aborted, records)) in t.partitions.iter().zip(parts) {
                prop_assert_eq!(p.partition, *idx);
                prop_assert_eq!(p.error_code, *err);
                prop_assert_eq!(p.high_watermark, *hw);
                prop_assert_eq!(p.last_stable_offset, hw - 1);
                prop_assert_eq!(p.log_start_offset, if version >= 5 { 3 } else { -1 });
                let want = aborted.as_ref().map(|a| a.iter().map(|&(producer_id, first_offset)| {
                    AbortedTransaction { producer_id, first_offset }
                }).collect::<Vec<_>>());
                prop_assert_eq!(&p.aborted_transactions, &want);
                prop_assert_eq!(&p.records[..], &records[..]);
            }
        }
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..256), version in 1i16..=18) {
        let _ = decode(Bytes::from(data), version);
    }
}

/// v3, as a Kafka 0.10.x broker sends it (kafka-protocol can't encode it).
#[test]
fn decodes_the_pre_transaction_v3_layout() {
    let mut b = bytes::BytesMut::new();
    b.put_i32(5); // throttle
    b.put_i32(1); // topics
    b.put_i16(6);
    b.put_slice(b"orders");
    b.put_i32(1); // partitions
    b.put_i32(2); // partition
    b.put_i16(0); // error
    b.put_i64(99); // high watermark
    b.put_i32(3); // records length
    b.put_slice(b"abc");
    let got = decode(b.freeze(), 3).unwrap();
    assert_eq!(got.throttle_time_ms, 5);
    let p = &got.topics[0].partitions[0];
    assert_eq!(got.topics[0].name.as_deref(), Some("orders"));
    assert_eq!(
        (p.partition, p.high_watermark, &p.records[..]),
        (2, 99, &b"abc"[..])
    );
    assert_eq!((p.last_stable_offset, p.log_start_offset), (-1, -1));
    assert_eq!(p.aborted_transactions, None);
}

#[test]
fn every_truncation_is_an_error() {
    let topics = vec![(
        "t".to_string(),
        vec![(0, 0, 10, Some(vec![(1, 2)]), b"records".to_vec())],
    )];
    for version in 4..=18 {
        let full = kp(version, &topics);
        decodes_only_whole(&full, version, decode);
    }
}

#[test]
fn records_are_a_slice_of_the_response_not_a_copy() {
    let topics = vec![("t".to_string(), vec![(0, 0, 10, None, vec![7; 1000])])];
    let full = kp(11, &topics);
    let got = decode(full.clone(), 11).unwrap();
    let records = &got.topics[0].partitions[0].records;
    let start = records.as_ptr() as usize - full.as_ptr() as usize;
    assert!(
        start < full.len(),
        "records must point into the response buffer"
    );
}

#[test]
fn lying_records_length_is_an_error() {
    let topics = vec![("t".to_string(), vec![(0, 0, 10, None, b"abc".to_vec())])];
    let mut bytes = kp(4, &topics).to_vec();
    let n = bytes.len();
    // The records length is the int32 before the last 3 bytes.
    bytes[n - 7..n - 3].copy_from_slice(&1_000_000i32.to_be_bytes());
    assert!(matches!(
        decode(Bytes::from(bytes), 4),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn a_legacy_request_is_laid_out_as_fetch_v1_to_v3() {
    let topics = [(
        "t",
        vec![LegacyFetchPartition {
            partition: 2,
            fetch_offset: 7,
            partition_max_bytes: 1024,
        }],
    )];
    let mut v3 = BytesMut::new();
    encode_legacy_request(&mut v3, 3, 500, 1, 4096, &topics);
    let mut expected = Vec::new();
    expected.extend((-1i32).to_be_bytes()); // replica id
    expected.extend(500i32.to_be_bytes()); // max wait
    expected.extend(1i32.to_be_bytes()); // min bytes
    expected.extend(4096i32.to_be_bytes()); // max bytes (v3+)
    expected.extend(1i32.to_be_bytes()); // topics
    expected.extend(1i16.to_be_bytes());
    expected.extend(b"t");
    expected.extend(1i32.to_be_bytes()); // partitions
    expected.extend(2i32.to_be_bytes());
    expected.extend(7i64.to_be_bytes());
    expected.extend(1024i32.to_be_bytes());
    assert_eq!(&v3[..], &expected[..]);

    let mut v2 = BytesMut::new();
    encode_legacy_request(&mut v2, 2, 500, 1, 4096, &topics);
    expected.drain(12..16);
    assert_eq!(&v2[..], &expected[..]);
}
