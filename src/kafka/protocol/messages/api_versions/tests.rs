use super::*;
use crate::kafka::protocol::messages::testing::{assert_truncations_fail, encode};
use bytes::BufMut;
use kafka_protocol::messages::ApiVersionsResponse;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use proptest::prelude::*;

proptest! {
    #[test]
    fn round_trips_every_version(
        keys in proptest::collection::vec((0i16..100, 0i16..5, 0i16..20), 0..40),
        version in 0i16..=3,
        throttle in any::<i32>(),
    ) {
        let resp = ApiVersionsResponse::default()
            .with_throttle_time_ms(throttle)
            .with_api_keys(keys.iter().map(|&(k, min, extra)| {
                ApiVersion::default().with_api_key(k).with_min_version(min).with_max_version(min + extra)
            }).collect());
        let got = decode(encode(&resp, version), version).unwrap();
        let want = ApiVersions::new(keys.iter().map(|&(k, min, extra)| (k, min, min + extra)).collect());
        prop_assert_eq!(got, Outcome::Supported(want));
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..64), version in 0i16..=3) {
        let _ = decode(Bytes::from(data), version);
    }
}

#[test]
fn unsupported_version_answer_asks_for_a_retry_at_the_brokers_max() {
    // error 35, then the v0 list: ApiVersions (18) 0..=2, Fetch (1) 0..=11.
    let mut b = bytes::BytesMut::new();
    b.put_i16(35);
    b.put_i32(2);
    for (k, lo, hi) in [(18i16, 0i16, 2i16), (1, 0, 11)] {
        b.put_i16(k);
        b.put_i16(lo);
        b.put_i16(hi);
    }
    assert_eq!(
        decode(b.freeze(), 3).unwrap(),
        Outcome::Retry { version: 2 }
    );
}

#[test]
fn a_garbled_unsupported_version_answer_falls_back_to_v0() {
    // As librdkafka's mock cluster sends it: a one-byte count.
    let body = Bytes::from_static(&[0, 35, 1, 0, 18, 0, 0, 0, 2, 0, 0, 0, 0]);
    assert_eq!(decode(body, 3).unwrap(), Outcome::Retry { version: 0 });
}

#[test]
fn lying_counts_are_refused_before_allocating() {
    let mut b = bytes::BytesMut::new();
    b.put_i16(0);
    b.put_i32(i32::MAX);
    let err = decode(b.freeze(), 0).unwrap_err();
    assert!(matches!(err, DecodeError::CountTooLarge { .. }), "{err}");
}

#[test]
fn every_truncation_is_an_error() {
    let resp = ApiVersionsResponse::default().with_api_keys(vec![
        ApiVersion::default().with_api_key(1).with_max_version(12),
        ApiVersion::default().with_api_key(3).with_max_version(12),
    ]);
    for version in 0..=3 {
        let full = encode(&resp, version);
        assert_truncations_fail(&full, &format!("v{version}"), |b| decode(b, version));
    }
}

#[test]
fn pick_takes_the_highest_common_version() {
    let v = ApiVersions::new(vec![(1, 4, 12), (3, 0, 9)]);
    assert_eq!(v.pick(1, 4, 18), Some(12));
    assert_eq!(v.pick(1, 0, 3), None);
    assert_eq!(v.pick(3, 1, 5), Some(5));
    assert_eq!(v.pick(2, 0, 5), None);
}
