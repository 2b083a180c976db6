//! [`ConnError`]: why a request on a connection failed.

use super::sasl::SaslError;
use crate::kafka::client::tls::TlsFailure;
use crate::kafka::protocol::DecodeError;
use kafka_protocol::messages::ApiKey;
use std::sync::Arc;
use std::time::Duration;

/// Why a request on a connection failed.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnError {
    #[error("connecting to {broker}: {source}")]
    Connect {
        broker: Arc<str>,
        source: Arc<std::io::Error>,
    },
    #[error("connecting to {broker}: no answer within {after:?}")]
    ConnectTimeout { broker: Arc<str>, after: Duration },
    #[error("connection to {broker} is closed: {reason}")]
    Closed { broker: Arc<str>, reason: Arc<str> },
    #[error("{api:?} v{version} to {broker}: no response within {after:?}")]
    Timeout {
        broker: Arc<str>,
        api: ApiKey,
        version: i16,
        after: Duration,
    },
    #[error("encoding {api:?} v{version}: {reason}")]
    Encode {
        api: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("{api:?} v{version} from {broker}: {source}")]
    Decode {
        broker: Arc<str>,
        api: ApiKey,
        version: i16,
        source: DecodeError,
    },
    #[error("{api:?} to {broker}: error code {error_code}")]
    ErrorCode {
        broker: Arc<str>,
        api: ApiKey,
        error_code: i16,
    },
    #[error("{broker} supports no version of {api:?} that kafka-esm speaks")]
    UnsupportedApi { broker: Arc<str>, api: ApiKey },
    #[error("TLS with {broker}: {failure}")]
    Tls {
        broker: Arc<str>,
        failure: TlsFailure,
    },
    #[error("SASL with {broker}: {source}")]
    Sasl {
        broker: Arc<str>,
        source: Arc<SaslError>,
    },
}

impl ConnError {
    /// Whether a new connection (or another broker) may succeed where this one failed.
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            ConnError::Connect { .. }
                | ConnError::ConnectTimeout { .. }
                | ConnError::Closed { .. }
                | ConnError::Timeout { .. }
        ) || matches!(self, ConnError::Sasl { source, .. } if source.is_retriable())
    }

    /// The documented reason a mapping stopped by this error reports, where one applies
    /// (`EVENT_SOURCE_AUTHN_ERROR` for TLS failures).
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            ConnError::Tls { failure, .. } => Some(failure.reason()),
            ConnError::Sasl { source, .. } => match source.as_ref() {
                SaslError::Connection(e) => e.reason(),
                e => Some(e.reason()),
            },
            _ => None,
        }
    }
}
