//! SASL authentication of a Kafka connection: PLAIN (RFC 4616) and SCRAM-SHA-256/512
//! (RFC 5802, RFC 7677).
//!
//! The mechanisms are sans-I/O: [`plain`] builds PLAIN's single message and [`scram`] is
//! a state machine fed the broker's messages. [`exchange`] carries them over a
//! negotiated [`Connection`](crate::kafka::client::conn::Connection) with SaslHandshake v1 and
//! SaslAuthenticate (Kafka 1.0+, KIP-152). This layer owns the credentials while it
//! authenticates and must never let the password reach `Debug`, `Display` or a log line;
//! choosing TLS, reconnecting and retrying belong to the layers above.

pub mod exchange;
pub mod plain;
pub mod scram;
pub mod source;

pub use exchange::{Session, authenticate};
pub use source::SaslSource;

use crate::kafka::client::conn::ConnError;
use std::fmt;
use zeroize::Zeroizing;

/// The documented reason for a failed authentication.
pub const EVENT_SOURCE_AUTHN_ERROR: &str = "EVENT_SOURCE_AUTHN_ERROR";

/// A SASL mechanism kafka-esm speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// RFC 4616: the password travels as is (AWS's `BASIC_AUTH`); only safe over TLS.
    Plain,
    /// RFC 7677 (`SASL_SCRAM_256_AUTH`).
    ScramSha256,
    /// RFC 5802 with SHA-512 (`SASL_SCRAM_512_AUTH`).
    ScramSha512,
}

impl Mechanism {
    /// The name brokers know it by (`sasl.enabled.mechanisms`).
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A user name and password for one mechanism. `Debug` shows the user name only; the
/// password is wiped from memory when the credentials are dropped.
#[derive(Clone)]
pub struct SaslCredentials {
    pub mechanism: Mechanism,
    pub username: String,
    pub password: Zeroizing<String>,
}

impl SaslCredentials {
    pub fn new(mechanism: Mechanism, username: impl Into<String>, password: String) -> Self {
        SaslCredentials {
            mechanism,
            username: username.into(),
            password: Zeroizing::new(password),
        }
    }
}

impl fmt::Debug for SaslCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslCredentials")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Which SCRAM message a [`SaslError::MalformedServerMessage`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScramMessage {
    ServerFirst,
    ServerFinal,
}

impl fmt::Display for ScramMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScramMessage::ServerFirst => "server-first",
            ScramMessage::ServerFinal => "server-final",
        })
    }
}

/// Why SASL authentication failed. Nothing here holds the password; text that came from
/// the broker is shortened and shown escaped.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    #[error(
        "the broker does not enable SASL mechanism {wanted}; it enables: {}",
        if enabled.is_empty() { "none".to_string() } else { enabled.join(", ") }
    )]
    MechanismNotEnabled {
        wanted: Mechanism,
        enabled: Vec<String>,
    },
    #[error(
        "SASL {mechanism} authentication as {username:?} failed (error code {error_code}): {}",
        message.as_deref().unwrap_or("the broker gave no message")
    )]
    AuthenticationFailed {
        mechanism: Mechanism,
        username: String,
        error_code: i16,
        message: Option<String>,
    },
    #[error(
        "the broker's {mechanism} server signature does not match: it does not know this \
         user's password, or something between us and the broker is impersonating it"
    )]
    ServerSignatureMismatch { mechanism: Mechanism },
    #[error("the broker's SCRAM nonce {problem} (a replayed or forged answer)")]
    NonceMismatch { problem: &'static str },
    #[error(
        "the broker asks for {count} SCRAM iterations; kafka-esm accepts 1 to {max} \
         (Kafka brokers allow at most 16384)"
    )]
    IterationCount { count: u64, max: u32 },
    #[error("malformed SCRAM {message} message from the broker: attribute {attribute}: {problem}")]
    MalformedServerMessage {
        message: ScramMessage,
        attribute: &'static str,
        problem: &'static str,
    },
    #[error(
        "SASL {mechanism} authentication as {username:?} failed: the broker answered \
         {error:?}{}",
        match error.as_str() {
            "invalid-proof" => " (the password is wrong)",
            "unknown-user" => " (the broker has no such user)",
            _ => "",
        }
    )]
    ServerError {
        mechanism: Mechanism,
        username: String,
        error: String,
    },
    #[error("the SASL {what} contains a NUL character, which SASL cannot carry")]
    NulInCredentials { what: &'static str },
    #[error(
        "{broker} has no SaslAuthenticate API: it runs Kafka older than 1.0, and kafka-esm \
         authenticates with SASL only against Kafka 1.0 or later"
    )]
    BrokerTooOld { broker: String },
    #[error("the operating system gave no random bytes for the SCRAM nonce: {0}")]
    NoRandomness(String),
    /// A bug in kafka-esm: a SCRAM step called out of order, or a bad fixed nonce.
    #[error("kafka-esm misused its SCRAM client (a bug): {0}")]
    Misuse(&'static str),
    #[error("during SASL authentication: {0}")]
    Connection(#[from] ConnError),
}

impl SaslError {
    /// The documented reason a mapping stopped by this error reports:
    /// `EVENT_SOURCE_AUTHN_ERROR` for wrong credentials and failed or broken exchanges,
    /// `PROBLEM` for a connection that failed underneath (as other connection failures
    /// report), which [`SaslError::is_retriable`] may clear.
    pub fn reason(&self) -> &'static str {
        match self {
            SaslError::Connection(_) => "PROBLEM",
            _ => EVENT_SOURCE_AUTHN_ERROR,
        }
    }

    /// Whether a new connection may succeed: only when the connection itself failed.
    pub fn is_retriable(&self) -> bool {
        match self {
            SaslError::Connection(e) => e.is_retriable(),
            _ => false,
        }
    }
}

/// Broker text for an error message: at most 200 characters (shown escaped by `{:?}`).
pub(crate) fn broker_text(raw: &str) -> String {
    const MAX: usize = 200;
    match raw.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &raw[..cut]),
        None => raw.to_string(),
    }
}

#[cfg(test)]
mod tests;
