//! FindCoordinator (key 10), v0 to v6: which broker coordinates a group.
//!
//! Before v4 a response answers for the one key asked; from v4 on it answers a batch of
//! keys. Both come back as a list of [`Coordinator`]s, the older form as a single entry
//! with an empty key. Error codes (COORDINATOR_NOT_AVAILABLE, ...) are handed back as is:
//! retrying is the caller's decision. Every broker from 0.10.1 on speaks v0; flexible
//! versions (v3+) carry tagged fields, which are skipped.

use super::flex::{Layout, check_version};
use crate::kafka::protocol::{DecodeError, Reader};
use bytes::Bytes;

/// The versions this decoder handles.
pub const VERSIONS: std::ops::RangeInclusive<i16> = 0..=6;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FindCoordinator {
    /// 0 in v0.
    pub throttle_time_ms: i32,
    /// Before v4, exactly one entry (with an empty key); from v4 on, one per key asked.
    pub coordinators: Vec<Coordinator>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coordinator {
    /// The key (group id) this entry answers for; empty before v4.
    pub key: String,
    pub error_code: i16,
    /// None in v0.
    pub error_message: Option<String>,
    pub node_id: i32,
    pub host: String,
    pub port: i32,
}

/// Decodes a FindCoordinator response body requested at `version` (one of [`VERSIONS`]).
pub fn decode(body: Bytes, version: i16) -> Result<FindCoordinator, DecodeError> {
    check_version("FindCoordinator version", &VERSIONS, version)?;
    let l = Layout {
        flexible: version >= 3,
    };
    let mut r = Reader::new(body);
    let throttle_time_ms = if version >= 1 {
        r.read_i32("FindCoordinator throttle_time_ms")?
    } else {
        0
    };
    let coordinators = if version >= 4 {
        // key + node id + host + port + error code + error message + tags at the least.
        let n = l.array_len(&mut r, "FindCoordinator coordinators", 14)?;
        let mut coordinators = Vec::with_capacity(n);
        for _ in 0..n {
            let key = l.string(&mut r, "FindCoordinator coordinator key")?;
            let node_id = r.read_i32("FindCoordinator coordinator node_id")?;
            let host = l.string(&mut r, "FindCoordinator coordinator host")?;
            let port = r.read_i32("FindCoordinator coordinator port")?;
            let error_code = r.read_i16("FindCoordinator coordinator error_code")?;
            let error_message =
                l.nullable_string(&mut r, "FindCoordinator coordinator error_message")?;
            l.tags(&mut r, "FindCoordinator coordinator tagged fields")?;
            coordinators.push(Coordinator {
                key,
                error_code,
                error_message,
                node_id,
                host,
                port,
            });
        }
        coordinators
    } else {
        let error_code = r.read_i16("FindCoordinator error_code")?;
        let error_message = if version >= 1 {
            l.nullable_string(&mut r, "FindCoordinator error_message")?
        } else {
            None
        };
        let node_id = r.read_i32("FindCoordinator node_id")?;
        let host = l.string(&mut r, "FindCoordinator host")?;
        let port = r.read_i32("FindCoordinator port")?;
        vec![Coordinator {
            key: String::new(),
            error_code,
            error_message,
            node_id,
            host,
            port,
        }]
    };
    l.tags(&mut r, "FindCoordinator tagged fields")?;
    Ok(FindCoordinator {
        throttle_time_ms,
        coordinators,
    })
}

#[cfg(test)]
mod tests;
