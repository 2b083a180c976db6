//! Helpers shared by the decoders' tests: building response bodies with
//! `kafka-protocol`'s (trusted) encoders, and the check that every truncation of a valid
//! body is an error. Test-only; it must hold no decoding logic.

use crate::kafka::protocol::DecodeError;
use bytes::Bytes;
use kafka_protocol::protocol::Encodable;

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
