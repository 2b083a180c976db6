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
mod tests;
