//! InitProducerId (key 22), v0 to v5: the producer id and epoch an idempotent producer
//! numbers its batches under.
//!
//! The transactional fields of v5+ (an ongoing transaction's producer) are not decoded:
//! the producer is idempotent, never transactional. Flexible versions (v2+) carry tagged
//! fields, which are skipped.

use super::flex::{Layout, check_version};
use crate::kafka::protocol::{DecodeError, Reader};
use bytes::Bytes;

/// The versions this decoder handles.
pub const VERSIONS: std::ops::RangeInclusive<i16> = 0..=5;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitProducerId {
    pub throttle_time_ms: i32,
    pub error_code: i16,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// Decodes an InitProducerId response body requested at `version` (one of [`VERSIONS`]).
pub fn decode(body: Bytes, version: i16) -> Result<InitProducerId, DecodeError> {
    check_version("InitProducerId version", &VERSIONS, version)?;
    let l = Layout {
        flexible: version >= 2,
    };
    let mut r = Reader::new(body);
    let throttle_time_ms = r.read_i32("InitProducerId throttle_time_ms")?;
    let error_code = r.read_i16("InitProducerId error_code")?;
    let producer_id = r.read_i64("InitProducerId producer_id")?;
    let producer_epoch = r.read_i16("InitProducerId producer_epoch")?;
    l.tags(&mut r, "InitProducerId tagged fields")?;
    Ok(InitProducerId {
        throttle_time_ms,
        error_code,
        producer_id,
        producer_epoch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::protocol::messages::testing::{assert_truncations_fail, encode};
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
            assert!(decode(full.clone(), version).is_ok());
            assert_truncations_fail(&full, &format!("v{version}"), |b| decode(b, version));
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
        assert!(decode(Bytes::from_static(&[0; 32]), -1).is_err());
        assert!(decode(Bytes::from_static(&[0; 32]), 6).is_err());
    }
}
