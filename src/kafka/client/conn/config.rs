//! [`ConnectionConfig`]: how a [`Connection`](super::Connection) behaves.

use super::sasl::SaslSource;
use crate::kafka::client::tls::TlsConfig;
use kafka_protocol::messages::ApiKey;
use std::time::Duration;

/// How a connection behaves.
#[derive(Clone, Debug)]
pub struct ConnectionConfig {
    /// Sent in every request header.
    pub client_id: String,
    /// The largest response frame accepted; a larger one closes the connection.
    pub max_response_size: usize,
    /// How long a request may wait for its response.
    pub request_timeout: Duration,
    /// How long the TCP connect may take.
    pub connect_timeout: Duration,
    /// Highest versions to use per API key, below what brokers announce: talks to a
    /// cluster as to an older one (librdkafka's `broker.version.fallback` in spirit),
    /// and lets tests exercise old-broker paths against a new broker.
    pub version_caps: Vec<(ApiKey, i16)>,
    /// TLS for every connection (`SSL`/`SASL_SSL`); plain TCP when absent.
    pub tls: Option<TlsConfig>,
    /// SASL authentication right after version negotiation, on every connection.
    /// The credentials are the source's newest when the connection is made.
    pub sasl: Option<SaslSource>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            client_id: "kafka-esm".into(),
            max_response_size: 128 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            version_caps: Vec::new(),
            tls: None,
            sasl: None,
        }
    }
}
