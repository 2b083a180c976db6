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
mod tests;
