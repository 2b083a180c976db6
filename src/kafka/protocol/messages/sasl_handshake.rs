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
mod tests {
    use super::*;
    use crate::kafka::protocol::messages::testing::{assert_truncations_fail, encode};
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
            assert!(decode(full.clone(), version).is_ok());
            assert_truncations_fail(&full, &format!("v{version}"), |b| decode(b, version));
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
        assert!(decode(Bytes::from_static(&[0; 8]), -1).is_err());
        assert!(decode(Bytes::from_static(&[0; 8]), 2).is_err());
    }
}
