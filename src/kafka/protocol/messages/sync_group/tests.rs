use super::*;
use crate::kafka::protocol::messages::testing::{
    assert_versions_refused, decodes_only_whole, encode,
};
use kafka_protocol::messages::SyncGroupResponse;
use kafka_protocol::protocol::StrBytes;
use proptest::prelude::*;

fn response(
    throttle: i32,
    error_code: i16,
    protocol: Option<(String, String)>,
    assignment: &[u8],
) -> SyncGroupResponse {
    let (ty, name) = protocol.unzip();
    SyncGroupResponse::default()
        .with_throttle_time_ms(throttle)
        .with_error_code(error_code)
        .with_protocol_type(ty.map(StrBytes::from_string))
        .with_protocol_name(name.map(StrBytes::from_string))
        .with_assignment(Bytes::copy_from_slice(assignment))
}

proptest! {
    #[test]
    fn round_trips_every_version(
        version in VERSIONS,
        throttle in any::<i32>(),
        error_code in any::<i16>(),
        protocol in proptest::option::of(("[a-z]{0,10}", "[a-z-]{0,20}")),
        assignment in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let resp = response(throttle, error_code, protocol.clone(), &assignment);
        let got = decode(encode(&resp, version), version).unwrap();
        let (ty, name) = if version >= 5 { protocol.unzip() } else { (None, None) };
        prop_assert_eq!(got, SyncGroup {
            throttle_time_ms: if version >= 1 { throttle } else { 0 },
            error_code,
            protocol_type: ty,
            protocol_name: name,
            assignment: Bytes::from(assignment),
        });
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..128),
        version in VERSIONS,
    ) {
        let _ = decode(Bytes::from(data), version);
    }
}

#[test]
fn a_null_assignment_reads_as_empty() {
    // v3: throttle_time_ms, error_code 27 (RebalanceInProgress), bytes length -1.
    let mut body = Vec::new();
    body.extend_from_slice(&0i32.to_be_bytes());
    body.extend_from_slice(&27i16.to_be_bytes());
    body.extend_from_slice(&(-1i32).to_be_bytes());
    let got = decode(Bytes::from(body), 3).unwrap();
    assert_eq!((got.error_code, got.assignment.len()), (27, 0));
    // v4 (flexible): compact length 0 means null, then no tagged fields.
    let got = decode(Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0]), 4).unwrap();
    assert!(got.assignment.is_empty());
}

#[test]
fn every_truncation_is_an_error() {
    let resp = response(
        7,
        0,
        Some(("consumer".into(), "range".into())),
        b"\x00\x01assignment",
    );
    for version in VERSIONS {
        let full = encode(&resp, version);
        decodes_only_whole(&full, version, decode);
    }
}

#[test]
fn lying_assignment_length_is_refused_without_copying() {
    // v0: error code, then an assignment of i32::MAX bytes with 3 present.
    let body = Bytes::from_static(&[0, 0, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3]);
    let err = decode(body, 0).unwrap_err();
    assert!(matches!(err, DecodeError::Truncated { .. }), "{err}");
}

#[test]
fn lying_tagged_field_count_is_refused_before_allocating() {
    let mut bytes = encode(&response(0, 0, None, b""), 5).to_vec();
    // The last byte is the (empty) tagged-field count.
    bytes.pop();
    bytes.extend([0xff, 0xff, 0xff, 0xff, 0x0f]);
    let err = decode(Bytes::from(bytes), 5).unwrap_err();
    assert!(matches!(err, DecodeError::CountTooLarge { .. }), "{err}");
}

#[test]
fn assignment_is_a_slice_of_the_body() {
    let body = encode(&response(0, 0, None, b"abc"), 3);
    let got = decode(body.clone(), 3).unwrap();
    assert_eq!(got.assignment.as_ptr(), body[body.len() - 3..].as_ptr());
}

#[test]
fn unsupported_versions_are_refused() {
    assert_versions_refused(&[0; 8], &[-1, 6], decode);
}
