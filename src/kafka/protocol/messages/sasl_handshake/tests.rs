use super::*;
use crate::kafka::protocol::messages::testing::{
    assert_versions_refused, decodes_only_whole, encode,
};
use kafka_protocol::messages::SaslHandshakeResponse;
use kafka_protocol::protocol::StrBytes;
use proptest::prelude::*;

fn response(error_code: i16, mechanisms: &[String]) -> SaslHandshakeResponse {
    SaslHandshakeResponse::default()
        .with_error_code(error_code)
        .with_mechanisms(
            mechanisms
                .iter()
                .map(|m| StrBytes::from_string(m.clone()))
                .collect(),
        )
}

proptest! {
    #[test]
    fn round_trips_every_version(
        version in VERSIONS,
        error_code in any::<i16>(),
        mechanisms in proptest::collection::vec("[A-Z0-9-]{0,20}", 0..6),
    ) {
        let got = decode(encode(&response(error_code, &mechanisms), version), version).unwrap();
        prop_assert_eq!(got, SaslHandshake { error_code, mechanisms });
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
    let mechanisms = ["PLAIN".to_string(), "SCRAM-SHA-512".to_string()];
    for version in VERSIONS {
        let full = encode(&response(33, &mechanisms), version);
        decodes_only_whole(&full, version, decode);
    }
}

#[test]
fn lying_mechanism_count_is_refused_before_allocating() {
    // error code (2), then the mechanism count.
    let mut body = encode(&response(0, &["PLAIN".into()]), 1).to_vec();
    body[2..6].copy_from_slice(&i32::MAX.to_be_bytes());
    let err = decode(Bytes::from(body), 1).unwrap_err();
    assert!(matches!(err, DecodeError::CountTooLarge { .. }), "{err}");
}

#[test]
fn unsupported_versions_are_refused() {
    assert_versions_refused(&[0; 8], &[-1, 2], decode);
}
