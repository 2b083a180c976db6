//! JoinGroup (key 11), v1 to v9: the generation a member joined, its id, the group's
//! chosen protocol and, for the leader only, every member with its subscription metadata.
//!
//! Members' metadata comes back as opaque bytes (slices of the response, not copies):
//! decoding it is [`super::consumer_protocol`]'s job, since other members wrote it. Error
//! codes (MEMBER_ID_REQUIRED, ...) are handed back as is, for the group logic to act on.
//! v0 is not decoded: every broker from 0.10.1 on has v1, and v0 has no rebalance timeout
//! (the broker would use the session timeout for both). Flexible versions (v6+) carry
//! tagged fields, which are skipped.

use super::flex::{Layout, check_version};
use crate::kafka::protocol::{DecodeError, Reader};
use bytes::Bytes;

/// The versions this decoder handles.
pub const VERSIONS: std::ops::RangeInclusive<i16> = 1..=9;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinGroup {
    /// 0 before v2.
    pub throttle_time_ms: i32,
    pub error_code: i16,
    pub generation_id: i32,
    /// None before v7.
    pub protocol_type: Option<String>,
    /// Null only in v7+ (when the join failed).
    pub protocol_name: Option<String>,
    pub leader: String,
    /// v9+: the leader must not compute the assignment (the broker does); false before.
    pub skip_assignment: bool,
    pub member_id: String,
    /// Empty unless this member is the leader.
    pub members: Vec<JoinGroupMember>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinGroupMember {
    pub member_id: String,
    /// None before v5.
    pub group_instance_id: Option<String>,
    /// The member's subscription, in the group protocol's encoding.
    pub metadata: Bytes,
}

/// Decodes a JoinGroup response body requested at `version` (one of [`VERSIONS`]).
pub fn decode(body: Bytes, version: i16) -> Result<JoinGroup, DecodeError> {
    check_version("JoinGroup version", &VERSIONS, version)?;
    let l = Layout {
        flexible: version >= 6,
    };
    let mut r = Reader::new(body);
    let throttle_time_ms = if version >= 2 {
        r.read_i32("JoinGroup throttle_time_ms")?
    } else {
        0
    };
    let error_code = r.read_i16("JoinGroup error_code")?;
    let generation_id = r.read_i32("JoinGroup generation_id")?;
    let protocol_type = if version >= 7 {
        l.nullable_string(&mut r, "JoinGroup protocol_type")?
    } else {
        None
    };
    let protocol_name = if version >= 7 {
        l.nullable_string(&mut r, "JoinGroup protocol_name")?
    } else {
        Some(l.string(&mut r, "JoinGroup protocol_name")?)
    };
    let leader = l.string(&mut r, "JoinGroup leader")?;
    let skip_assignment = if version >= 9 {
        r.read_i8("JoinGroup skip_assignment")? != 0
    } else {
        false
    };
    let member_id = l.string(&mut r, "JoinGroup member_id")?;
    // member id + metadata (+ group instance id v5+, + tags) at the least.
    let min = match (l.flexible, version >= 5) {
        (true, _) => 4,
        (false, true) => 8,
        (false, false) => 6,
    };
    let n = l.array_len(&mut r, "JoinGroup members", min)?;
    let mut members = Vec::with_capacity(n);
    for _ in 0..n {
        let member_id = l.string(&mut r, "JoinGroup member member_id")?;
        let group_instance_id = if version >= 5 {
            l.nullable_string(&mut r, "JoinGroup member group_instance_id")?
        } else {
            None
        };
        let metadata = l.bytes(&mut r, "JoinGroup member metadata")?;
        l.tags(&mut r, "JoinGroup member tagged fields")?;
        members.push(JoinGroupMember {
            member_id,
            group_instance_id,
            metadata,
        });
    }
    l.tags(&mut r, "JoinGroup tagged fields")?;
    Ok(JoinGroup {
        throttle_time_ms,
        error_code,
        generation_id,
        protocol_type,
        protocol_name,
        leader,
        skip_assignment,
        member_id,
        members,
    })
}

#[cfg(test)]
mod tests;
