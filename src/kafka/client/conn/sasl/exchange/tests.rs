//! The exchange over an in-memory pipe, against a scripted broker that decodes our
//! requests with `kafka-protocol` and answers as a Kafka broker would.

use super::*;
use crate::kafka::client::conn::ConnectionConfig;
use crate::kafka::client::conn::sasl::Mechanism;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::BytesMut;
use hmac::{Hmac, KeyInit, Mac};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiVersionsResponse, RequestHeader, SaslAuthenticateResponse, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{
    Decodable, Encodable, HeaderVersion, decode_request_header_from_buffer,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// The broker's end of the pipe.
struct Peer(DuplexStream);

impl Peer {
    /// The next request's header and body.
    async fn read(&mut self) -> (RequestHeader, Bytes) {
        let size = self.0.read_i32().await.unwrap() as usize;
        let mut frame = vec![0; size];
        self.0.read_exact(&mut frame).await.unwrap();
        let mut frame = Bytes::from(frame);
        let header = decode_request_header_from_buffer(&mut frame).unwrap();
        (header, frame)
    }

    async fn answer<R: Encodable + HeaderVersion>(&mut self, to: &RequestHeader, response: &R) {
        let version = to.request_api_version;
        let mut frame = BytesMut::new();
        frame.extend_from_slice(&to.correlation_id.to_be_bytes());
        if R::header_version(version) >= 1 {
            frame.extend_from_slice(&[0]); // no tagged fields
        }
        response.encode(&mut frame, version).unwrap();
        self.0.write_i32(frame.len() as i32).await.unwrap();
        self.0.write_all(&frame).await.unwrap();
    }

    async fn handshake(&mut self, error_code: i16) -> String {
        let (header, mut body) = self.read().await;
        assert_eq!(header.request_api_key, ApiKey::SaslHandshake as i16);
        assert_eq!(header.request_api_version, 1);
        let request = SaslHandshakeRequest::decode(&mut body, 1).unwrap();
        let enabled = ["PLAIN", "SCRAM-SHA-256"].map(StrBytes::from_static_str);
        let response = SaslHandshakeResponse::default()
            .with_error_code(error_code)
            .with_mechanisms(enabled.to_vec());
        self.answer(&header, &response).await;
        request.mechanism.to_string()
    }

    /// Reads one SaslAuthenticate token, answers with `response`.
    async fn round(&mut self, response: SaslAuthenticateResponse) -> (i16, Bytes) {
        let (header, mut body) = self.read().await;
        assert_eq!(header.request_api_key, ApiKey::SaslAuthenticate as i16);
        let version = header.request_api_version;
        let request = SaslAuthenticateRequest::decode(&mut body, version).unwrap();
        self.answer(&header, &response).await;
        (version, request.auth_bytes)
    }
}

fn ok_with(auth: impl Into<Bytes>, lifetime_ms: i64) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_auth_bytes(auth.into())
        .with_session_lifetime_ms(lifetime_ms)
}

/// A connection through ApiVersions to a peer announcing `apis` (key, min, max).
async fn connected(apis: &[(ApiKey, i16, i16)]) -> (Connection, Peer) {
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let mut conn = Connection::over(ours, "broker-1:9096".into(), ConnectionConfig::default());
    let mut peer = Peer(theirs);
    let response = ApiVersionsResponse::default().with_api_keys(
        apis.iter()
            .map(|(k, min, max)| {
                ApiVersion::default()
                    .with_api_key(*k as i16)
                    .with_min_version(*min)
                    .with_max_version(*max)
            })
            .collect(),
    );
    let serve = async {
        let (header, _) = peer.read().await;
        // ApiVersions responses always use header v0.
        let mut frame = BytesMut::new();
        frame.extend_from_slice(&header.correlation_id.to_be_bytes());
        response
            .encode(&mut frame, header.request_api_version)
            .unwrap();
        peer.0.write_i32(frame.len() as i32).await.unwrap();
        peer.0.write_all(&frame).await.unwrap();
    };
    let (negotiated, ()) = tokio::join!(conn.negotiate(), serve);
    negotiated.unwrap();
    (conn, peer)
}

const KAFKA_3: &[(ApiKey, i16, i16)] = &[
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
];

fn creds(mechanism: Mechanism, password: &str) -> SaslCredentials {
    SaslCredentials::new(mechanism, "alice", password.to_string())
}

#[tokio::test]
async fn plain_sends_one_token() {
    // A Kafka 1.x broker: SaslAuthenticate v0 only (no session lifetime).
    let (conn, mut peer) = connected(&[
        (ApiKey::ApiVersions, 0, 1),
        (ApiKey::SaslHandshake, 0, 1),
        (ApiKey::SaslAuthenticate, 0, 0),
    ])
    .await;
    let c = creds(Mechanism::Plain, "s3cret");
    let script = async {
        assert_eq!(peer.handshake(0).await, "PLAIN");
        let (version, token) = peer.round(ok_with(Bytes::new(), 0)).await;
        assert_eq!(version, 0);
        assert_eq!(&token[..], b"\0alice\0s3cret");
    };
    let (session, ()) = tokio::join!(authenticate(&conn, &c), script);
    assert_eq!(session.unwrap(), Session { lifetime: None });
}

/// The broker's side of SCRAM-SHA-256 (RFC 5802's formulas); `password` is the one the
/// broker stores, `forge` makes it sign with another.
struct ScramBroker {
    password: &'static str,
    forge: bool,
}

fn hmac256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

impl ScramBroker {
    async fn run(&self, peer: &mut Peer) -> Result<(), ()> {
        assert_eq!(peer.handshake(0).await, "SCRAM-SHA-256");
        let salt = b"0123456789abcdef";
        let (header, mut body) = peer.read().await;
        let version = header.request_api_version;
        assert_eq!(version, 2);
        let client_first = SaslAuthenticateRequest::decode(&mut body, version)
            .unwrap()
            .auth_bytes;
        let client_first = std::str::from_utf8(&client_first).unwrap().to_string();
        let bare = client_first.strip_prefix("n,,").unwrap();
        assert!(bare.starts_with("n=alice,r="), "{bare}");
        let nonce = bare.rsplit_once(",r=").unwrap().1;
        let server_first = format!("r={nonce}SERVER,s={},i=4096", B64.encode(salt));
        peer.answer(&header, &ok_with(server_first.clone().into_bytes(), 0))
            .await;

        let (header, mut body) = peer.read().await;
        let client_final = SaslAuthenticateRequest::decode(&mut body, version)
            .unwrap()
            .auth_bytes;
        let client_final = std::str::from_utf8(&client_final).unwrap();
        let (without_proof, proof) = client_final.rsplit_once(",p=").unwrap();
        let auth = format!("{bare},{server_first},{without_proof}");
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(self.password.as_bytes(), salt, 4096, &mut salted);
        let stored = Sha256::digest(hmac256(&salted, b"Client Key"));
        let signature = hmac256(&stored, auth.as_bytes());
        let client_key: Vec<u8> = B64
            .decode(proof)
            .unwrap()
            .iter()
            .zip(&signature)
            .map(|(p, s)| p ^ s)
            .collect();
        if Sha256::digest(&client_key) != stored {
            // What Kafka answers to a wrong password.
            let refused = SaslAuthenticateResponse::default()
                .with_error_code(58)
                .with_error_message(Some(StrBytes::from_static_str(
                    "Authentication failed during authentication due to invalid credentials \
                     with SASL mechanism SCRAM-SHA-256",
                )));
            peer.answer(&header, &refused).await;
            return Err(());
        }
        let server_key = if self.forge {
            hmac256(b"not the server key", b"Server Key")
        } else {
            hmac256(&salted, b"Server Key")
        };
        let verifier = B64.encode(hmac256(&server_key, auth.as_bytes()));
        peer.answer(
            &header,
            &ok_with(format!("v={verifier}").into_bytes(), 3_600_000),
        )
        .await;
        Ok(())
    }
}

#[tokio::test]
async fn scram_sha_256_authenticates_both_ways() {
    let (conn, mut peer) = connected(KAFKA_3).await;
    let c = creds(Mechanism::ScramSha256, "pencil");
    let broker = ScramBroker {
        password: "pencil",
        forge: false,
    };
    let (session, served) = tokio::join!(authenticate(&conn, &c), broker.run(&mut peer));
    served.unwrap();
    assert_eq!(
        session.unwrap(),
        Session {
            lifetime: Some(Duration::from_secs(3600))
        }
    );
}

#[tokio::test]
async fn a_wrong_password_reports_the_brokers_message() {
    let (conn, mut peer) = connected(KAFKA_3).await;
    let c = creds(Mechanism::ScramSha256, "not-pencil");
    let broker = ScramBroker {
        password: "pencil",
        forge: false,
    };
    let (result, served) = tokio::join!(authenticate(&conn, &c), broker.run(&mut peer));
    assert!(served.is_err());
    let err = result.unwrap_err();
    assert!(
        matches!(&err, SaslError::AuthenticationFailed { error_code: 58, message: Some(m), .. }
            if m.contains("invalid credentials")),
        "{err}"
    );
    assert_eq!(err.reason(), "EVENT_SOURCE_AUTHN_ERROR");
    assert!(!err.to_string().contains("not-pencil"), "{err}");
}

#[tokio::test]
async fn a_broker_that_cannot_sign_is_caught() {
    let (conn, mut peer) = connected(KAFKA_3).await;
    let c = creds(Mechanism::ScramSha256, "pencil");
    let broker = ScramBroker {
        password: "pencil",
        forge: true,
    };
    let (result, served) = tokio::join!(authenticate(&conn, &c), broker.run(&mut peer));
    served.unwrap();
    let err = result.unwrap_err();
    assert!(
        matches!(err, SaslError::ServerSignatureMismatch { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_mechanism_the_broker_does_not_enable_lists_the_enabled_ones() {
    let (conn, mut peer) = connected(KAFKA_3).await;
    let c = creds(Mechanism::ScramSha512, "pw");
    let (result, asked) = tokio::join!(authenticate(&conn, &c), peer.handshake(33));
    assert_eq!(asked, "SCRAM-SHA-512");
    let err = result.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the broker does not enable SASL mechanism SCRAM-SHA-512; it enables: PLAIN, \
         SCRAM-SHA-256"
    );
}

#[tokio::test]
async fn brokers_before_kafka_1_0_are_refused_without_a_request() {
    // Kafka 0.10/0.11: SaslHandshake v0 only, no SaslAuthenticate.
    let (conn, _peer) =
        connected(&[(ApiKey::ApiVersions, 0, 1), (ApiKey::SaslHandshake, 0, 0)]).await;
    let err = authenticate(&conn, &creds(Mechanism::Plain, "pw"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SaslError::BrokerTooOld { broker } if broker == "broker-1:9096"),
        "{err}"
    );
    assert!(err.to_string().contains("older than 1.0"), "{err}");
}

#[tokio::test]
async fn a_broken_response_is_a_decode_error_naming_the_api() {
    let (conn, mut peer) = connected(KAFKA_3).await;
    let c = creds(Mechanism::Plain, "pw");
    let script = async {
        let (header, _) = peer.read().await;
        // Just an error code: the mechanism list is missing.
        let frame = [&header.correlation_id.to_be_bytes()[..], &[0, 0]].concat();
        peer.0.write_i32(frame.len() as i32).await.unwrap();
        peer.0.write_all(&frame).await.unwrap();
    };
    let (result, ()) = tokio::join!(authenticate(&conn, &c), script);
    let err = result.unwrap_err();
    assert!(
        matches!(
            &err,
            SaslError::Connection(ConnError::Decode {
                api: ApiKey::SaslHandshake,
                ..
            })
        ),
        "{err}"
    );
}
