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
mod tests;
