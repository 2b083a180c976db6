//! DescribeGroups (key 15), v0 to v6: each group's state, protocol and members, as the
//! coordinator knows them.
//!
//! The runtime asks for its own group, to count the members that are not its consumers
//! (other kafka-esm processes running the same mapping) and so never run more members
//! than the topic has partitions. Members' metadata and assignments come back as opaque
//! slices of the response (not copies). Error codes are handed back as is. Flexible
//! versions (v5+) carry tagged fields, which are skipped.

use super::flex::{Layout, check_version};
use crate::kafka::protocol::{DecodeError, Reader};
use bytes::Bytes;

/// The versions this decoder handles.
pub const VERSIONS: std::ops::RangeInclusive<i16> = 0..=6;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribeGroups {
    /// 0 in v0.
    pub throttle_time_ms: i32,
    pub groups: Vec<DescribedGroup>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribedGroup {
    pub error_code: i16,
    /// v6+ only.
    pub error_message: Option<String>,
    pub group_id: String,
    /// `Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty` or `Dead`.
    pub group_state: String,
    /// `consumer` for consumer groups.
    pub protocol_type: String,
    /// The assignment strategy chosen (when the group is stable).
    pub protocol_data: String,
    pub members: Vec<DescribedMember>,
    /// v3+; `i32::MIN` (not requested) before.
    pub authorized_operations: i32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribedMember {
    pub member_id: String,
    /// v4+ only.
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// The member's subscription, in the group protocol's encoding.
    pub metadata: Bytes,
    /// The member's assignment, in the group protocol's encoding.
    pub assignment: Bytes,
}

/// Decodes a DescribeGroups response body requested at `version` (one of [`VERSIONS`]).
pub fn decode(body: Bytes, version: i16) -> Result<DescribeGroups, DecodeError> {
    check_version("DescribeGroups version", &VERSIONS, version)?;
    let l = Layout {
        flexible: version >= 5,
    };
    let mut r = Reader::new(body);
    let throttle_time_ms = if version >= 1 {
        r.read_i32("DescribeGroups throttle_time_ms")?
    } else {
        0
    };
    // error code, four strings, the member array (+ authorized operations v3+, + error
    // message v6, + tags) at the least.
    let min_group = match (l.flexible, version) {
        (true, 6) => 2 + 1 + 4 + 1 + 4 + 1,
        (true, _) => 2 + 4 + 1 + 4 + 1,
        (false, v) if v >= 3 => 2 + 8 + 4 + 4,
        (false, _) => 2 + 8 + 4,
    };
    // member id, client id and host, metadata and assignment (+ instance id v4+, + tags).
    let min_member = match (l.flexible, version >= 4) {
        (true, _) => 7,
        (false, true) => 2 + 2 + 2 + 2 + 4 + 4,
        (false, false) => 2 + 2 + 2 + 4 + 4,
    };
    let n = l.array_len(&mut r, "DescribeGroups groups", min_group)?;
    let mut groups = Vec::with_capacity(n);
    for _ in 0..n {
        let error_code = r.read_i16("DescribeGroups error_code")?;
        let error_message = if version >= 6 {
            l.nullable_string(&mut r, "DescribeGroups error_message")?
        } else {
            None
        };
        let group_id = l.string(&mut r, "DescribeGroups group_id")?;
        let group_state = l.string(&mut r, "DescribeGroups group_state")?;
        let protocol_type = l.string(&mut r, "DescribeGroups protocol_type")?;
        let protocol_data = l.string(&mut r, "DescribeGroups protocol_data")?;
        let m = l.array_len(&mut r, "DescribeGroups members", min_member)?;
        let mut members = Vec::with_capacity(m);
        for _ in 0..m {
            let member_id = l.string(&mut r, "DescribeGroups member_id")?;
            let group_instance_id = if version >= 4 {
                l.nullable_string(&mut r, "DescribeGroups group_instance_id")?
            } else {
                None
            };
            let client_id = l.string(&mut r, "DescribeGroups client_id")?;
            let client_host = l.string(&mut r, "DescribeGroups client_host")?;
            let metadata = l.bytes(&mut r, "DescribeGroups member_metadata")?;
            let assignment = l.bytes(&mut r, "DescribeGroups member_assignment")?;
            l.tags(&mut r, "DescribeGroups member tagged fields")?;
            members.push(DescribedMember {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                metadata,
                assignment,
            });
        }
        let authorized_operations = if version >= 3 {
            r.read_i32("DescribeGroups authorized_operations")?
        } else {
            i32::MIN
        };
        l.tags(&mut r, "DescribeGroups group tagged fields")?;
        groups.push(DescribedGroup {
            error_code,
            error_message,
            group_id,
            group_state,
            protocol_type,
            protocol_data,
            members,
            authorized_operations,
        });
    }
    l.tags(&mut r, "DescribeGroups tagged fields")?;
    Ok(DescribeGroups {
        throttle_time_ms,
        groups,
    })
}

#[cfg(test)]
mod tests;
