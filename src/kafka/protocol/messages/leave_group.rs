//! LeaveGroup (key 13), v0 to v5: the answer to a member (or, v3+, a batch of static
//! members) leaving its group.
//!
//! Returns the top-level error code and, from v3 on, one result per member named in the
//! request (member id, group instance id, error code). Error codes are handed back as is;
//! what they mean for the member is the group logic's business. Every broker from 0.10.1
//! on speaks v0; flexible versions (v4+) carry tagged fields, which are skipped.

use super::flex::{Layout, check_version};
use crate::kafka::protocol::{DecodeError, Reader};
use bytes::Bytes;

/// The versions this decoder handles.
pub const VERSIONS: std::ops::RangeInclusive<i16> = 0..=5;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaveGroup {
    /// 0 in v0.
    pub throttle_time_ms: i32,
    pub error_code: i16,
    /// Empty before v3.
    pub members: Vec<LeaveGroupMember>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaveGroupMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub error_code: i16,
}

/// Decodes a LeaveGroup response body requested at `version` (one of [`VERSIONS`]).
pub fn decode(body: Bytes, version: i16) -> Result<LeaveGroup, DecodeError> {
    check_version("LeaveGroup version", &VERSIONS, version)?;
    let l = Layout {
        flexible: version >= 4,
    };
    let mut r = Reader::new(body);
    let throttle_time_ms = if version >= 1 {
        r.read_i32("LeaveGroup throttle_time_ms")?
    } else {
        0
    };
    let error_code = r.read_i16("LeaveGroup error_code")?;
    let mut members = Vec::new();
    if version >= 3 {
        // member id + group instance id + error code (+ tags) at the least.
        let min = if l.flexible { 5 } else { 6 };
        // Non-nullable in Kafka's schema; librdkafka's mock cluster sends null when the
        // request named no members (a dynamic member leaving): no members.
        let n = l
            .nullable_array_len(&mut r, "LeaveGroup members", min)?
            .unwrap_or(0);
        members.reserve_exact(n);
        for _ in 0..n {
            let member_id = l.string(&mut r, "LeaveGroup member_id")?;
            let group_instance_id = l.nullable_string(&mut r, "LeaveGroup group_instance_id")?;
            let error_code = r.read_i16("LeaveGroup member error_code")?;
            l.tags(&mut r, "LeaveGroup member tagged fields")?;
            members.push(LeaveGroupMember {
                member_id,
                group_instance_id,
                error_code,
            });
        }
    }
    l.tags(&mut r, "LeaveGroup tagged fields")?;
    Ok(LeaveGroup {
        throttle_time_ms,
        error_code,
        members,
    })
}

#[cfg(test)]
mod tests;
