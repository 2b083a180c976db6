//! Fetch (key 1) responses, v1 to v18: per partition, its watermarks, aborted
//! transactions and the raw records field.
//!
//! The records field is handed up as a zero-copy slice of the response
//! ([`FetchPartition::records`]) for [`crate::kafka::protocol::records::RecordBatches`] to
//! iterate; this decoder never looks inside it. v1–v3 are what Kafka 0.10.x brokers
//! speak (no last stable offset, no aborted transactions); v4+ adds transactions, v7+
//! fetch sessions (KIP-227), v12+ is flexible, v13+ names topics by id.

use super::flex::{Layout, check_version};
use crate::kafka::protocol::records::AbortedTransaction;
use crate::kafka::protocol::{DecodeError, Reader};
use bytes::Bytes;

/// The versions this decoder handles.
pub const VERSIONS: std::ops::RangeInclusive<i16> = 1..=18;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchResponse {
    pub throttle_time_ms: i32,
    /// Top-level error (fetch sessions), 0 before v7.
    pub error_code: i16,
    /// The fetch session id (KIP-227), 0 before v7 or without a session.
    pub session_id: i32,
    pub topics: Vec<FetchTopic>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchTopic {
    /// The topic's name (v1–v12); `None` from v13 on, where [`FetchTopic::topic_id`] names it.
    pub name: Option<String>,
    /// All zero before v13.
    pub topic_id: [u8; 16],
    pub partitions: Vec<FetchPartition>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchPartition {
    pub partition: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    /// -1 before v4.
    pub last_stable_offset: i64,
    /// -1 before v5.
    pub log_start_offset: i64,
    /// `None` when the broker sent null (or before v4).
    pub aborted_transactions: Option<Vec<AbortedTransaction>>,
    /// -1 unless the broker names a follower to fetch from (v11+).
    pub preferred_read_replica: i32,
    /// The records field, undecoded; empty when null.
    pub records: Bytes,
}

/// Decodes a Fetch response body requested at `version` (one of [`VERSIONS`]).
pub fn decode(body: Bytes, version: i16) -> Result<FetchResponse, DecodeError> {
    check_version("Fetch version", &VERSIONS, version)?;
    let l = Layout {
        flexible: version >= 12,
    };
    let mut r = Reader::new(body);
    let throttle_time_ms = r.read_i32("Fetch throttle_time_ms")?;
    let (error_code, session_id) = if version >= 7 {
        (
            r.read_i16("Fetch error_code")?,
            r.read_i32("Fetch session_id")?,
        )
    } else {
        (0, 0)
    };
    // A topic is at least a one-byte name (or 16-byte id) and a partition count.
    let n = l.array_len(&mut r, "Fetch responses", 2)?;
    let mut topics = Vec::with_capacity(n);
    for _ in 0..n {
        let (name, topic_id) = if version >= 13 {
            (None, r.read_uuid("Fetch topic_id")?)
        } else {
            (Some(l.string(&mut r, "Fetch topic")?), [0; 16])
        };
        // partition + error + high watermark + records length at the least.
        let np = l.array_len(&mut r, "Fetch partitions", 15)?;
        let mut partitions = Vec::with_capacity(np);
        for _ in 0..np {
            partitions.push(partition(&mut r, l, version)?);
        }
        l.tags(&mut r, "Fetch topic tagged fields")?;
        topics.push(FetchTopic {
            name,
            topic_id,
            partitions,
        });
    }
    l.tags(&mut r, "Fetch tagged fields")?;
    Ok(FetchResponse {
        throttle_time_ms,
        error_code,
        session_id,
        topics,
    })
}

fn partition(r: &mut Reader, l: Layout, version: i16) -> Result<FetchPartition, DecodeError> {
    let partition = r.read_i32("Fetch partition_index")?;
    let error_code = r.read_i16("Fetch partition error_code")?;
    let high_watermark = r.read_i64("Fetch high_watermark")?;
    let last_stable_offset = if version >= 4 {
        r.read_i64("Fetch last_stable_offset")?
    } else {
        -1
    };
    let log_start_offset = if version >= 5 {
        r.read_i64("Fetch log_start_offset")?
    } else {
        -1
    };
    let aborted_transactions = if version >= 4 {
        const FIELD: &str = "Fetch aborted_transactions";
        let n = if l.flexible {
            r.read_compact_nullable_array_len(FIELD, 16)?
        } else {
            r.read_nullable_array_len(FIELD, 16)?
        };
        match n {
            None => None,
            Some(n) => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    let producer_id = r.read_i64("Fetch aborted producer_id")?;
                    let first_offset = r.read_i64("Fetch aborted first_offset")?;
                    l.tags(r, "Fetch aborted transaction tagged fields")?;
                    v.push(AbortedTransaction {
                        producer_id,
                        first_offset,
                    });
                }
                Some(v)
            }
        }
    } else {
        None
    };
    let preferred_read_replica = if version >= 11 {
        r.read_i32("Fetch preferred_read_replica")?
    } else {
        -1
    };
    let records = if l.flexible {
        r.read_compact_nullable_bytes("Fetch records")?
    } else {
        r.read_nullable_bytes("Fetch records")?
    }
    .unwrap_or_default();
    l.tags(r, "Fetch partition tagged fields")?;
    Ok(FetchPartition {
        partition,
        error_code,
        high_watermark,
        last_stable_offset,
        log_start_offset,
        aborted_transactions,
        preferred_read_replica,
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::protocol::messages::testing::{assert_truncations_fail, encode};
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
            assert!(decode(full.clone(), version).is_ok());
            assert_truncations_fail(&full, &format!("v{version}"), |b| decode(b, version));
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
}
