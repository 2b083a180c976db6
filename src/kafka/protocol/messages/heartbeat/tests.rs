use super::*;
use crate::kafka::protocol::messages::testing::{
    assert_versions_refused, decodes_only_whole, encode,
};
use kafka_protocol::messages::HeartbeatResponse;
use proptest::prelude::*;

proptest! {
    #[test]
    fn round_trips_every_version(
        version in VERSIONS,
        throttle in any::<i32>(),
        error_code in any::<i16>(),
    ) {
        let resp = HeartbeatResponse::default()
            .with_throttle_time_ms(throttle)
            .with_error_code(error_code);
        let got = decode(encode(&resp, version), version).unwrap();
        prop_assert_eq!(got, Heartbeat {
            throttle_time_ms: if version >= 1 { throttle } else { 0 },
            error_code,
        });
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..32),
        version in VERSIONS,
    ) {
        let _ = decode(Bytes::from(data), version);
    }
}

#[test]
fn every_truncation_is_an_error() {
    let resp = HeartbeatResponse::default()
        .with_throttle_time_ms(5)
        .with_error_code(27);
    for version in VERSIONS {
        let full = encode(&resp, version);
        decodes_only_whole(&full, version, decode);
    }
}

#[test]
fn lying_tagged_field_count_is_refused_before_allocating() {
    // v4: throttle, error code, then a tagged-field count of u32::MAX.
    let body = Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    let err = decode(body, 4).unwrap_err();
    assert!(matches!(err, DecodeError::CountTooLarge { .. }), "{err}");
}

#[test]
fn unsupported_versions_are_refused() {
    assert_versions_refused(&[0; 8], &[-1, 5], decode);
}
