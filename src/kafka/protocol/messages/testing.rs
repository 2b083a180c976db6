//! Helpers shared by the decoders' tests: building response bodies with
//! `kafka-protocol`'s (trusted) encoders, and the checks every decoder passes (every
//! truncation of a valid body is an error, lying counts are refused before allocating,
//! unsupported versions are refused). Test-only; it must hold no decoding logic.

use crate::kafka::protocol::DecodeError;
use bytes::Bytes;
use kafka_protocol::protocol::Encodable;
use std::fmt::Debug;

/// `msg` encoded at `version`.
pub fn encode<T: Encodable>(msg: &T, version: i16) -> Bytes {
    let mut buf = bytes::BytesMut::new();
    msg.encode(&mut buf, version).unwrap();
    buf.freeze()
}

/// Every proper prefix of `full` must fail to decode (`what` names the case).
pub fn assert_truncations_fail<T>(
    full: &Bytes,
    what: &str,
    decode: impl Fn(Bytes) -> Result<T, DecodeError>,
) {
    for cut in 0..full.len() {
        assert!(decode(full.slice(..cut)).is_err(), "{what} cut at {cut}");
    }
}

/// `full` decodes at `version`, and every proper prefix of it fails: returns what it
/// decodes to.
pub fn decodes_only_whole<T: Debug>(
    full: &Bytes,
    version: i16,
    decode: impl Fn(Bytes, i16) -> Result<T, DecodeError>,
) -> T {
    let whole = decode(full.clone(), version).unwrap();
    assert_truncations_fail(full, &format!("v{version}"), |b| decode(b, version));
    whole
}

/// Each `(version, body)` is refused with [`DecodeError::CountTooLarge`]: a count that
/// claims more than the body could hold, refused before anything is allocated.
pub fn assert_counts_too_large<T: Debug, const N: usize>(
    cases: [(i16, Vec<u8>); N],
    decode: impl Fn(Bytes, i16) -> Result<T, DecodeError>,
) {
    for (version, bytes) in cases {
        let err = decode(Bytes::from(bytes), version).unwrap_err();
        assert!(
            matches!(err, DecodeError::CountTooLarge { .. }),
            "v{version}: {err}"
        );
    }
}

/// `body` is refused at each of `versions` (the decoder does not speak them).
pub fn assert_versions_refused<T>(
    body: &'static [u8],
    versions: &[i16],
    decode: impl Fn(Bytes, i16) -> Result<T, DecodeError>,
) {
    for &version in versions {
        assert!(
            decode(Bytes::from_static(body), version).is_err(),
            "v{version}"
        );
    }
}
