//! SaslHandshake (key 17), v0 to v1: whether the broker enables the SASL mechanism asked
//! for, and which mechanisms it does enable.
//!
//! The error code is UNSUPPORTED_SASL_MECHANISM (33) when the mechanism is not enabled;
//! the list is what the client tells its user instead. v1 (Kafka 1.0+) means the SASL
//! tokens that follow travel in SaslAuthenticate requests. No flexible version exists.

use super::flex::{Layout, check_version};
use crate::kafka::protocol::{DecodeError, Reader};
use bytes::Bytes;

/// The versions this decoder handles.
pub const VERSIONS: std::ops::RangeInclusive<i16> = 0..=1;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaslHandshake {
    pub error_code: i16,
    /// The mechanisms the broker enables (`sasl.enabled.mechanisms`).
    pub mechanisms: Vec<String>,
}

/// Decodes a SaslHandshake response body requested at `version` (one of [`VERSIONS`]).
pub fn decode(body: Bytes, version: i16) -> Result<SaslHandshake, DecodeError> {
    check_version("SaslHandshake version", &VERSIONS, version)?;
    let l = Layout { flexible: false };
    let mut r = Reader::new(body);
    let error_code = r.read_i16("SaslHandshake error_code")?;
    // Each mechanism is at least its two-byte length.
    let n = l.array_len(&mut r, "SaslHandshake mechanisms", 2)?;
    let mut mechanisms = Vec::with_capacity(n);
    for _ in 0..n {
        mechanisms.push(l.string(&mut r, "SaslHandshake mechanism")?);
    }
    Ok(SaslHandshake {
        error_code,
        mechanisms,
    })
}

#[cfg(test)]
mod tests;
