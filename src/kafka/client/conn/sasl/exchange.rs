//! Authenticating a negotiated connection: SaslHandshake v1, then one SaslAuthenticate
//! round per mechanism message (PLAIN: one; SCRAM: two, then the server's signature is
//! checked).
//!
//! Runs right after ApiVersions and before any other request, over the connection's
//! public API only. The broker's refusals become [`SaslError`]s that say what to fix.
//! Brokers before Kafka 1.0 (no SaslAuthenticate, raw SASL tokens) are refused.

use super::scram::{ScramClient, ScramHash};
use super::{SaslCredentials, SaslError, broker_text, plain};
use crate::kafka::client::conn::{ConnError, Connection};
use crate::kafka::protocol::DecodeError;
use crate::kafka::protocol::messages::{sasl_authenticate, sasl_handshake};
use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;
use std::time::Duration;

/// Kafka's UNSUPPORTED_SASL_MECHANISM error code.
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;

/// What the broker said about the authenticated session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    /// How long the broker keeps the connection before it must re-authenticate
    /// (`connections.max.reauth.ms`, KIP-368); `None` when it sets no limit. kafka-esm
    /// does not re-authenticate: the broker closes the connection and a new one is made.
    pub lifetime: Option<Duration>,
}

/// Authenticates `conn` (already through ApiVersions) with `creds`.
pub async fn authenticate(
    conn: &Connection,
    creds: &SaslCredentials,
) -> Result<Session, SaslError> {
    let too_old = |e: ConnError| match e {
        ConnError::UnsupportedApi { .. } => SaslError::BrokerTooOld {
            broker: conn.broker().to_string(),
        },
        e => SaslError::Connection(e),
    };
    let auth_version = conn
        .pick_version::<SaslAuthenticateRequest>(sasl_authenticate::VERSIONS)
        .map_err(too_old)?;
    // v1 says the tokens follow in SaslAuthenticate; v0 would mean raw tokens.
    let handshake_version = conn
        .pick_version::<SaslHandshakeRequest>(1..=1)
        .map_err(too_old)?;
    handshake(conn, creds, handshake_version).await?;
    let mut rounds = Rounds {
        conn,
        creds,
        version: auth_version,
        lifetime_ms: 0,
    };
    match ScramHash::of(creds.mechanism) {
        None => {
            let msg = plain::initial_response(&creds.username, &creds.password)?;
            rounds.round(Bytes::from_owner(msg)).await?;
        }
        Some(hash) => {
            let mut scram = ScramClient::new(hash, &creds.username, &creds.password)?;
            let server_first = rounds.round(scram.client_first().into()).await?;
            let client_final = scram.handle_server_first(&server_first)?;
            let server_final = rounds.round(client_final.into()).await?;
            scram.handle_server_final(&server_final)?;
        }
    }
    Ok(Session {
        lifetime: u64::try_from(rounds.lifetime_ms)
            .ok()
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis),
    })
}

async fn handshake(
    conn: &Connection,
    creds: &SaslCredentials,
    version: i16,
) -> Result<(), SaslError> {
    let request = SaslHandshakeRequest::default()
        .with_mechanism(StrBytes::from_static_str(creds.mechanism.name()));
    let body = conn.request(&request, version).await?;
    let response = sasl_handshake::decode(body, version)
        .map_err(|e| decode_error(conn, ApiKey::SaslHandshake, version, e))?;
    match response.error_code {
        0 => Ok(()),
        UNSUPPORTED_SASL_MECHANISM => Err(SaslError::MechanismNotEnabled {
            wanted: creds.mechanism,
            enabled: response.mechanisms.iter().map(|m| broker_text(m)).collect(),
        }),
        error_code => Err(SaslError::AuthenticationFailed {
            mechanism: creds.mechanism,
            username: creds.username.clone(),
            error_code,
            message: Some("the broker refused the SaslHandshake".into()),
        }),
    }
}

/// SaslAuthenticate rounds on one connection.
struct Rounds<'a> {
    conn: &'a Connection,
    creds: &'a SaslCredentials,
    version: i16,
    /// The last session lifetime the broker gave.
    lifetime_ms: i64,
}

impl Rounds<'_> {
    /// Sends one mechanism message; returns the broker's answer.
    async fn round(&mut self, token: Bytes) -> Result<Bytes, SaslError> {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(token);
        let body = self.conn.request(&request, self.version).await?;
        let response = sasl_authenticate::decode(body, self.version)
            .map_err(|e| decode_error(self.conn, ApiKey::SaslAuthenticate, self.version, e))?;
        if response.error_code != 0 {
            return Err(SaslError::AuthenticationFailed {
                mechanism: self.creds.mechanism,
                username: self.creds.username.clone(),
                error_code: response.error_code,
                message: response.error_message.as_deref().map(broker_text),
            });
        }
        self.lifetime_ms = response.session_lifetime_ms;
        Ok(response.auth_bytes)
    }
}

fn decode_error(conn: &Connection, api: ApiKey, version: i16, source: DecodeError) -> SaslError {
    SaslError::Connection(ConnError::Decode {
        broker: conn.broker().into(),
        api,
        version,
        source,
    })
}

#[cfg(test)]
mod tests;
