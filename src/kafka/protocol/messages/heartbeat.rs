//! Heartbeat (key 12), v0 to v4: whether a member is still in its group's generation.
//!
//! The error code is the whole answer (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION,
//! UNKNOWN_MEMBER_ID, ...). It is handed back as is: deciding what a code means for the
//! member belongs to the group logic, not to this decoder. Every broker from 0.10.1 on
//! speaks v0; flexible versions (v4+) carry tagged fields, which are skipped.

use super::flex::{Layout, check_version};
use crate::kafka::protocol::{DecodeError, Reader};
use bytes::Bytes;

/// The versions this decoder handles.
pub const VERSIONS: std::ops::RangeInclusive<i16> = 0..=4;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// 0 in v0.
    pub throttle_time_ms: i32,
    pub error_code: i16,
}

/// Decodes a Heartbeat response body requested at `version` (one of [`VERSIONS`]).
pub fn decode(body: Bytes, version: i16) -> Result<Heartbeat, DecodeError> {
    check_version("Heartbeat version", &VERSIONS, version)?;
    let l = Layout {
        flexible: version >= 4,
    };
    let mut r = Reader::new(body);
    let throttle_time_ms = if version >= 1 {
        r.read_i32("Heartbeat throttle_time_ms")?
    } else {
        0
    };
    let error_code = r.read_i16("Heartbeat error_code")?;
    l.tags(&mut r, "Heartbeat tagged fields")?;
    Ok(Heartbeat {
        throttle_time_ms,
        error_code,
    })
}

#[cfg(test)]
mod tests;
