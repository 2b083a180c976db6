//! Reading the broker's SCRAM messages (RFC 5802 section 7): server-first
//! (`r=nonce,s=salt,i=count[,ext]`) and server-final (`v=verifier` or `e=error`).
//!
//! Attributes must come in the RFC's order; a mandatory extension (`m=`) is refused and
//! optional trailing ones are ignored. Checks that need the client's state (the nonce
//! prefix, the signature) belong to the state machine, not here. Never panics on input.

use super::super::{SaslError, ScramMessage, broker_text};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// The server-first message's fields.
#[derive(Debug, PartialEq, Eq)]
pub struct ServerFirst<'a> {
    /// The client nonce followed by the server's.
    pub nonce: &'a str,
    pub salt: Vec<u8>,
    pub iterations: u32,
}

/// The server-final message's verdict.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerFinal {
    /// `v=`: the server signature, decoded.
    Verifier(Vec<u8>),
    /// `e=`: the server's error value (shortened).
    Error(String),
}

fn malformed(message: ScramMessage, attribute: &'static str, problem: &'static str) -> SaslError {
    SaslError::MalformedServerMessage {
        message,
        attribute,
        problem,
    }
}

/// `msg` as text (SCRAM messages are UTF-8).
fn text(message: ScramMessage, msg: &[u8]) -> Result<&str, SaslError> {
    std::str::from_utf8(msg).map_err(|_| malformed(message, "(whole message)", "not UTF-8"))
}

/// The value of `part` if it is attribute `name` (`name=value`).
fn value<'a>(
    message: ScramMessage,
    part: Option<&'a str>,
    name: &'static str,
) -> Result<&'a str, SaslError> {
    let part = part.ok_or_else(|| malformed(message, name, "missing"))?;
    match part.split_once('=') {
        Some((n, v)) if n == name => Ok(v),
        _ => Err(malformed(message, name, "missing or out of order")),
    }
}

/// Parses a server-first message, refusing an iteration count outside
/// `1..=max_iterations` before any work is done with it.
pub fn server_first(msg: &[u8], max_iterations: u32) -> Result<ServerFirst<'_>, SaslError> {
    const M: ScramMessage = ScramMessage::ServerFirst;
    let text = text(M, msg)?;
    let mut parts = text.split(',');
    let first = parts.next();
    if first.is_some_and(|p| p.starts_with("m=")) {
        return Err(malformed(
            M,
            "m",
            "a mandatory extension kafka-esm does not support",
        ));
    }
    let nonce = value(M, first, "r")?;
    if nonce.is_empty() {
        return Err(malformed(M, "r", "empty nonce"));
    }
    if !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(malformed(M, "r", "the nonce has non-printable characters"));
    }
    let salt = value(M, parts.next(), "s")?;
    let salt = B64
        .decode(salt)
        .map_err(|_| malformed(M, "s", "the salt is not valid base64"))?;
    if salt.is_empty() {
        return Err(malformed(M, "s", "empty salt"));
    }
    let count = value(M, parts.next(), "i")?;
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(
            M,
            "i",
            "the iteration count is not a decimal number",
        ));
    }
    let count = count.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    let iterations = match u32::try_from(count) {
        Ok(i) if (1..=max_iterations).contains(&i) => i,
        _ => {
            return Err(SaslError::IterationCount {
                count,
                max: max_iterations,
            });
        }
    };
    // Anything after `i` is an optional extension, which the client may ignore.
    Ok(ServerFirst {
        nonce,
        salt,
        iterations,
    })
}

/// Parses a server-final message.
pub fn server_final(msg: &[u8]) -> Result<ServerFinal, SaslError> {
    const M: ScramMessage = ScramMessage::ServerFinal;
    let text = text(M, msg)?;
    let first = text.split(',').next().unwrap_or_default();
    if let Some(error) = first.strip_prefix("e=") {
        return Ok(ServerFinal::Error(broker_text(error)));
    }
    let verifier =
        value(M, Some(first), "v").map_err(|_| malformed(M, "v", "missing (neither v= nor e=)"))?;
    let verifier = B64
        .decode(verifier)
        .map_err(|_| malformed(M, "v", "the server signature is not valid base64"))?;
    Ok(ServerFinal::Verifier(verifier))
}

#[cfg(test)]
mod tests;
