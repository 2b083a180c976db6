use super::*;
use crate::kafka::protocol::messages::testing::{
    assert_versions_refused, decodes_only_whole, encode,
};
use kafka_protocol::messages::{InitProducerIdResponse, ProducerId};
use proptest::prelude::*;

fn response(throttle: i32, error_code: i16, id: i64, epoch: i16) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_throttle_time_ms(throttle)
        .with_error_code(error_code)
        .with_producer_id(ProducerId(id))
        .with_producer_epoch(epoch)
}

proptest! {
    #[test]
    fn round_trips_every_version(
        version in VERSIONS,
        throttle in any::<i32>(),
        error_code in any::<i16>(),
        id in any::<i64>(),
        epoch in any::<i16>(),
    ) {
        let got = decode(encode(&response(throttle, error_code, id, epoch), version), version).unwrap();
        prop_assert_eq!(got, InitProducerId {
            throttle_time_ms: throttle,
            error_code,
            producer_id: id,
            producer_epoch: epoch,
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
    for version in VERSIONS {
        let full = encode(&response(0, 0, 1000, 2), version);
        decodes_only_whole(&full, version, decode);
    }
}

#[test]
fn lying_tagged_field_count_is_refused_before_allocating() {
    let mut body = encode(&response(0, 0, 1000, 2), 2).to_vec();
    body.pop();
    body.extend([0xff, 0xff, 0xff, 0xff, 0x0f]);
    let err = decode(Bytes::from(body), 2).unwrap_err();
    assert!(matches!(err, DecodeError::CountTooLarge { .. }), "{err}");
}

#[test]
fn unsupported_versions_are_refused() {
    assert_versions_refused(&[0; 32], &[-1, 6], decode);
}
