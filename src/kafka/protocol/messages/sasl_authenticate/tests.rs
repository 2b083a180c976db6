use super::*;
use crate::kafka::protocol::messages::testing::{
    assert_versions_refused, decodes_only_whole, encode,
};
use kafka_protocol::messages::SaslAuthenticateResponse;
use kafka_protocol::protocol::StrBytes;
use proptest::prelude::*;

fn response(
    error_code: i16,
    message: Option<&str>,
    auth: &[u8],
    lifetime: i64,
) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(error_code)
        .with_error_message(message.map(|m| StrBytes::from_string(m.to_string())))
        .with_auth_bytes(Bytes::copy_from_slice(auth))
        .with_session_lifetime_ms(lifetime)
}

proptest! {
    #[test]
    fn round_trips_every_version(
        version in VERSIONS,
        error_code in any::<i16>(),
        message in proptest::option::of("[ -~]{0,40}"),
        auth in proptest::collection::vec(any::<u8>(), 0..100),
        lifetime in any::<i64>(),
    ) {
        let resp = response(error_code, message.as_deref(), &auth, lifetime);
        let got = decode(encode(&resp, version), version).unwrap();
        prop_assert_eq!(got, SaslAuthenticate {
            error_code,
            error_message: message,
            auth_bytes: Bytes::from(auth),
            session_lifetime_ms: if version >= 1 { lifetime } else { 0 },
        });
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..64),
        version in VERSIONS,
    ) {
        let _ = decode(Bytes::from(data), version);
    }
}

#[test]
fn every_truncation_is_an_error() {
    let resp = response(58, Some("Authentication failed"), b"v=abc", 3_600_000);
    for version in VERSIONS {
        let full = encode(&resp, version);
        decodes_only_whole(&full, version, decode);
    }
}

#[test]
fn lying_lengths_are_refused_before_allocating() {
    // v0: error code (2), message length (2) "x", then the auth_bytes length.
    let mut classic = encode(&response(0, Some("x"), b"abc", 0), 0).to_vec();
    classic[5..9].copy_from_slice(&i32::MAX.to_be_bytes());
    // v2: error code (2), compact message length (1) "x", then a five-byte length.
    let mut flexible = encode(&response(0, Some("x"), b"abc", 0), 2).to_vec();
    flexible.splice(4..5, [0xff, 0xff, 0xff, 0xff, 0x0f]);
    for (version, bytes) in [(0, classic), (2, flexible)] {
        assert!(decode(Bytes::from(bytes), version).is_err(), "v{version}");
    }
}

#[test]
fn unsupported_versions_are_refused() {
    assert_versions_refused(&[0; 16], &[-1, 3], decode);
}
