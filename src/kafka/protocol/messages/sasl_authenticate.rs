//! SaslAuthenticate (key 36), v0 to v2: one round of a SASL exchange (KIP-152, Kafka
//! 1.0+).
//!
//! Returns the error code with the broker's message (why authentication failed), the
//! mechanism's next token, and from v1 on how long the session may last before the
//! client must re-authenticate (0: no limit; KIP-368). Judging a code or a token belongs
//! to the SASL layer. v2 is flexible: compact strings and tagged fields, which are skipped.

use super::flex::{Layout, check_version};
use crate::kafka::protocol::{DecodeError, Reader};
use bytes::Bytes;

/// The versions this decoder handles.
pub const VERSIONS: std::ops::RangeInclusive<i16> = 0..=2;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaslAuthenticate {
    pub error_code: i16,
    pub error_message: Option<String>,
    /// The mechanism's token from the broker (a slice of the response).
    pub auth_bytes: Bytes,
    /// 0 before v1, and when the broker sets no limit.
    pub session_lifetime_ms: i64,
}

/// Decodes a SaslAuthenticate response body requested at `version` (one of
/// [`VERSIONS`]).
pub fn decode(body: Bytes, version: i16) -> Result<SaslAuthenticate, DecodeError> {
    check_version("SaslAuthenticate version", &VERSIONS, version)?;
    let l = Layout {
        flexible: version >= 2,
    };
    let mut r = Reader::new(body);
    let error_code = r.read_i16("SaslAuthenticate error_code")?;
    let error_message = l.nullable_string(&mut r, "SaslAuthenticate error_message")?;
    let auth_bytes = l.bytes(&mut r, "SaslAuthenticate auth_bytes")?;
    let session_lifetime_ms = if version >= 1 {
        r.read_i64("SaslAuthenticate session_lifetime_ms")?
    } else {
        0
    };
    l.tags(&mut r, "SaslAuthenticate tagged fields")?;
    Ok(SaslAuthenticate {
        error_code,
        error_message,
        auth_bytes,
        session_lifetime_ms,
    })
}

#[cfg(test)]
mod tests;
