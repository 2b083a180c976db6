//! Fetch (key 1) responses, v1 to v18: per partition, its watermarks, aborted
//! transactions and the raw records field; and Fetch v1–v3 requests
//! ([`encode_legacy_request`]), which `kafka-protocol` does not encode.
//!
//! The records field is handed up as a zero-copy slice of the response
//! ([`FetchPartition::records`]) for [`crate::kafka::protocol::records::RecordBatches`] to
//! iterate; this decoder never looks inside it. v1–v3 are what Kafka 0.10.x brokers
//! speak (no last stable offset, no aborted transactions); v4+ adds transactions, v7+
//! fetch sessions (KIP-227), v12+ is flexible, v13+ names topics by id.

use super::flex::{Layout, check_version};
use crate::kafka::protocol::records::AbortedTransaction;
use crate::kafka::protocol::{DecodeError, Reader};
use bytes::{BufMut, Bytes, BytesMut};

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

/// One partition of a Fetch v1–v3 request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegacyFetchPartition {
    pub partition: i32,
    pub fetch_offset: i64,
    pub partition_max_bytes: i32,
}

/// Encodes a Fetch v1–v3 request body (no sessions, no isolation level: those brokers
/// have neither), which `kafka-protocol` no longer encodes: it starts at v4. `topics`
/// are in the order to send, each with its partitions; `max_bytes` is sent from v3 on.
pub fn encode_legacy_request(
    buf: &mut BytesMut,
    version: i16,
    max_wait_ms: i32,
    min_bytes: i32,
    max_bytes: i32,
    topics: &[(&str, Vec<LegacyFetchPartition>)],
) {
    buf.put_i32(-1); // replica id: a consumer
    buf.put_i32(max_wait_ms);
    buf.put_i32(min_bytes);
    if version >= 3 {
        buf.put_i32(max_bytes);
    }
    buf.put_i32(topics.len() as i32);
    for (topic, parts) in topics {
        // Topic names are at most 249 bytes: the i16 length can't overflow.
        buf.put_i16(topic.len() as i16);
        buf.put_slice(topic.as_bytes());
        buf.put_i32(parts.len() as i32);
        for p in parts {
            buf.put_i32(p.partition);
            buf.put_i64(p.fetch_offset);
            buf.put_i32(p.partition_max_bytes);
        }
    }
}

#[cfg(test)]
mod tests;
