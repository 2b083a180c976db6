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
mod tests;
