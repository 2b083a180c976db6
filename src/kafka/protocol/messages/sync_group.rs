//! SyncGroup (key 14), v0 to v5: the assignment the group leader gave this member.
//!
//! The assignment comes back as opaque bytes (a slice of the response, not a copy):
//! decoding it is [`super::consumer_protocol`]'s job, since it was written by another
//! member and is just as untrusted. From v5 on the broker echoes the protocol type and
//! name, which the caller should check against what it joined with. Every broker from
//! 0.10.1 on speaks v0; flexible versions (v4+) carry tagged fields, which are skipped.

use super::flex::{Layout, check_version};
use crate::kafka::protocol::{DecodeError, Reader};
use bytes::Bytes;

/// The versions this decoder handles.
pub const VERSIONS: std::ops::RangeInclusive<i16> = 0..=5;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncGroup {
    /// 0 in v0.
    pub throttle_time_ms: i32,
    pub error_code: i16,
    /// None before v5.
    pub protocol_type: Option<String>,
    /// None before v5.
    pub protocol_name: Option<String>,
    /// The member's assignment, in the group protocol's encoding.
    pub assignment: Bytes,
}

/// Decodes a SyncGroup response body requested at `version` (one of [`VERSIONS`]).
pub fn decode(body: Bytes, version: i16) -> Result<SyncGroup, DecodeError> {
    check_version("SyncGroup version", &VERSIONS, version)?;
    let l = Layout {
        flexible: version >= 4,
    };
    let mut r = Reader::new(body);
    let throttle_time_ms = if version >= 1 {
        r.read_i32("SyncGroup throttle_time_ms")?
    } else {
        0
    };
    let error_code = r.read_i16("SyncGroup error_code")?;
    let (protocol_type, protocol_name) = if version >= 5 {
        (
            l.nullable_string(&mut r, "SyncGroup protocol_type")?,
            l.nullable_string(&mut r, "SyncGroup protocol_name")?,
        )
    } else {
        (None, None)
    };
    // Non-nullable in Kafka's schema, but librdkafka's mock cluster sends null for a
    // member it gives nothing (and with errors): read as an empty assignment.
    let assignment = l
        .nullable_bytes(&mut r, "SyncGroup assignment")?
        .unwrap_or_default();
    l.tags(&mut r, "SyncGroup tagged fields")?;
    Ok(SyncGroup {
        throttle_time_ms,
        error_code,
        protocol_type,
        protocol_name,
        assignment,
    })
}

#[cfg(test)]
mod tests;
