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
mod tests;
