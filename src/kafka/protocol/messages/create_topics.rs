//! CreateTopics (key 19), v2 to v4: the outcome of creating topics (kafka-esm creates
//! `serve`'s state topic when it is absent).
//!
//! Per topic: its name, error code and error message, and a throttle time. v0–v1 are
//! gone from Kafka 4 (and from `kafka-protocol`, which encodes the request); v5+
//! (flexible, with the created topic's configuration) is not requested: the client asks
//! v2 to v4, which every broker from 1.0 on answers. Error codes are handed back
//! as is (TOPIC_ALREADY_EXISTS is the caller's to accept).

use super::flex::{Layout, check_version};
use crate::kafka::protocol::{DecodeError, Reader};
use bytes::Bytes;

/// The versions this decoder handles.
pub const VERSIONS: std::ops::RangeInclusive<i16> = 2..=4;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateTopics {
    pub throttle_time_ms: i32,
    pub topics: Vec<CreatedTopic>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedTopic {
    pub name: String,
    pub error_code: i16,
    pub error_message: Option<String>,
}

/// Decodes a CreateTopics response body requested at `version` (one of [`VERSIONS`]).
pub fn decode(body: Bytes, version: i16) -> Result<CreateTopics, DecodeError> {
    check_version("CreateTopics version", &VERSIONS, version)?;
    let l = Layout { flexible: false };
    let mut r = Reader::new(body);
    let throttle_time_ms = r.read_i32("CreateTopics throttle_time_ms")?;
    // name (2) + error code (2) + a null message (2) at the least.
    let n = l.array_len(&mut r, "CreateTopics topics", 6)?;
    let mut topics = Vec::with_capacity(n);
    for _ in 0..n {
        let name = l.string(&mut r, "CreateTopics name")?;
        let error_code = r.read_i16("CreateTopics error_code")?;
        let error_message = l.nullable_string(&mut r, "CreateTopics error_message")?;
        topics.push(CreatedTopic {
            name,
            error_code,
            error_message,
        });
    }
    Ok(CreateTopics {
        throttle_time_ms,
        topics,
    })
}

#[cfg(test)]
mod tests;
