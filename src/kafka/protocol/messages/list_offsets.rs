//! ListOffsets (key 2), v1 to v10: per partition, the offset for a timestamp (or the
//! earliest / latest offset).
//!
//! Returns, per topic and partition, the error code, the timestamp and offset found and
//! (v4+) the leader epoch; choosing a reset position from them is the caller's job. v0 is
//! not decoded: it answers with an array of old-style offsets, every broker from 0.10.1
//! on has v1, and `kafka-protocol` no longer encodes v0 requests. Flexible versions (v6+)
//! carry tagged fields, which are skipped.

use super::flex::{Layout, check_version};
use crate::kafka::protocol::{DecodeError, Reader};
use bytes::Bytes;

/// The versions this decoder handles.
pub const VERSIONS: std::ops::RangeInclusive<i16> = 1..=10;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListOffsets {
    /// 0 before v2.
    pub throttle_time_ms: i32,
    pub topics: Vec<ListOffsetsTopic>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListOffsetsTopic {
    pub name: String,
    pub partitions: Vec<ListOffsetsPartition>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListOffsetsPartition {
    pub partition: i32,
    pub error_code: i16,
    /// The timestamp of the offset found; -1 when none applies.
    pub timestamp: i64,
    /// -1 when no offset was found.
    pub offset: i64,
    /// -1 before v4 or when unknown.
    pub leader_epoch: i32,
}

/// Decodes a ListOffsets response body requested at `version` (one of [`VERSIONS`]).
pub fn decode(body: Bytes, version: i16) -> Result<ListOffsets, DecodeError> {
    check_version("ListOffsets version", &VERSIONS, version)?;
    let l = Layout {
        flexible: version >= 6,
    };
    let mut r = Reader::new(body);
    let throttle_time_ms = if version >= 2 {
        r.read_i32("ListOffsets throttle_time_ms")?
    } else {
        0
    };
    // name + partition count (+ tags) at the least.
    let n = l.array_len(&mut r, "ListOffsets topics", if l.flexible { 3 } else { 6 })?;
    let mut topics = Vec::with_capacity(n);
    // index + error code + timestamp + offset (+ leader epoch v4+, + tags v6+).
    let partition_size = 22 + if version >= 4 { 4 } else { 0 } + usize::from(l.flexible);
    for _ in 0..n {
        let name = l.string(&mut r, "ListOffsets topic name")?;
        let np = l.array_len(&mut r, "ListOffsets partitions", partition_size)?;
        let mut partitions = Vec::with_capacity(np);
        for _ in 0..np {
            let partition = r.read_i32("ListOffsets partition_index")?;
            let error_code = r.read_i16("ListOffsets partition error_code")?;
            let timestamp = r.read_i64("ListOffsets partition timestamp")?;
            let offset = r.read_i64("ListOffsets partition offset")?;
            let leader_epoch = if version >= 4 {
                r.read_i32("ListOffsets partition leader_epoch")?
            } else {
                -1
            };
            l.tags(&mut r, "ListOffsets partition tagged fields")?;
            partitions.push(ListOffsetsPartition {
                partition,
                error_code,
                timestamp,
                offset,
                leader_epoch,
            });
        }
        l.tags(&mut r, "ListOffsets topic tagged fields")?;
        topics.push(ListOffsetsTopic { name, partitions });
    }
    l.tags(&mut r, "ListOffsets tagged fields")?;
    Ok(ListOffsets {
        throttle_time_ms,
        topics,
    })
}

#[cfg(test)]
mod tests;
