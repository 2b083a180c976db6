//! FindCoordinator (key 10), v0 to v6: which broker coordinates a group.
//!
//! Before v4 a response answers for the one key asked; from v4 on it answers a batch of
//! keys. Both come back as a list of [`Coordinator`]s, the older form as a single entry
//! with an empty key. Error codes (COORDINATOR_NOT_AVAILABLE, ...) are handed back as is:
//! retrying is the caller's decision. Every broker from 0.10.1 on speaks v0; flexible
//! versions (v3+) carry tagged fields, which are skipped.

use super::flex::{Layout, check_version};
use crate::kafka::protocol::{DecodeError, Reader};
use bytes::Bytes;

/// The versions this decoder handles.
pub const VERSIONS: std::ops::RangeInclusive<i16> = 0..=6;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FindCoordinator {
    /// 0 in v0.
    pub throttle_time_ms: i32,
    /// Before v4, exactly one entry (with an empty key); from v4 on, one per key asked.
    pub coordinators: Vec<Coordinator>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coordinator {
    /// The key (group id) this entry answers for; empty before v4.
    pub key: String,
    pub error_code: i16,
    /// None in v0.
    pub error_message: Option<String>,
    pub node_id: i32,
    pub host: String,
    pub port: i32,
}

/// Decodes a FindCoordinator response body requested at `version` (one of [`VERSIONS`]).
pub fn decode(body: Bytes, version: i16) -> Result<FindCoordinator, DecodeError> {
    check_version("FindCoordinator version", &VERSIONS, version)?;
    let l = Layout {
        flexible: version >= 3,
    };
    let mut r = Reader::new(body);
    let throttle_time_ms = if version >= 1 {
        r.read_i32("FindCoordinator throttle_time_ms")?
    } else {
        0
    };
    let coordinators = if version >= 4 {
        // key + node id + host + port + error code + error message + tags at the least.
        let n = l.array_len(&mut r, "FindCoordinator coordinators", 14)?;
        let mut coordinators = Vec::with_capacity(n);
        for _ in 0..n {
            let key = l.string(&mut r, "FindCoordinator coordinator key")?;
            let node_id = r.read_i32("FindCoordinator coordinator node_id")?;
            let host = l.string(&mut r, "FindCoordinator coordinator host")?;
            let port = r.read_i32("FindCoordinator coordinator port")?;
            let error_code = r.read_i16("FindCoordinator coordinator error_code")?;
            let error_message =
                l.nullable_string(&mut r, "FindCoordinator coordinator error_message")?;
            l.tags(&mut r, "FindCoordinator coordinator tagged fields")?;
            coordinators.push(Coordinator {
                key,
                error_code,
                error_message,
                node_id,
                host,
                port,
            });
        }
        coordinators
    } else {
        let error_code = r.read_i16("FindCoordinator error_code")?;
        let error_message = if version >= 1 {
            l.nullable_string(&mut r, "FindCoordinator error_message")?
        } else {
            None
        };
        let node_id = r.read_i32("FindCoordinator node_id")?;
        let host = l.string(&mut r, "FindCoordinator host")?;
        let port = r.read_i32("FindCoordinator port")?;
        vec![Coordinator {
            key: String::new(),
            error_code,
            error_message,
            node_id,
            host,
            port,
        }]
    };
    l.tags(&mut r, "FindCoordinator tagged fields")?;
    Ok(FindCoordinator {
        throttle_time_ms,
        coordinators,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::protocol::messages::testing::{assert_truncations_fail, encode};
    use kafka_protocol::messages::find_coordinator_response::Coordinator as KpCoordinator;
    use kafka_protocol::messages::{BrokerId, FindCoordinatorResponse};
    use kafka_protocol::protocol::StrBytes;
    use proptest::prelude::*;

    fn s(v: &str) -> StrBytes {
        StrBytes::from_string(v.to_owned())
    }

    /// The response encoding `coordinators` at `version` (only the first before v4), and
    /// what we should decode from it.
    fn case(
        version: i16,
        throttle: i32,
        coordinators: &[Coordinator],
    ) -> (FindCoordinatorResponse, FindCoordinator) {
        let resp = FindCoordinatorResponse::default().with_throttle_time_ms(throttle);
        if version >= 4 {
            let resp = resp.with_coordinators(
                coordinators
                    .iter()
                    .map(|c| {
                        KpCoordinator::default()
                            .with_key(s(&c.key))
                            .with_node_id(BrokerId(c.node_id))
                            .with_host(s(&c.host))
                            .with_port(c.port)
                            .with_error_code(c.error_code)
                            .with_error_message(c.error_message.as_deref().map(s))
                    })
                    .collect(),
            );
            let want = FindCoordinator {
                throttle_time_ms: throttle,
                coordinators: coordinators.to_vec(),
            };
            (resp, want)
        } else {
            let c = coordinators.first().cloned().unwrap_or(Coordinator {
                key: String::new(),
                error_code: 15,
                error_message: None,
                node_id: -1,
                host: String::new(),
                port: -1,
            });
            let resp = resp
                .with_error_code(c.error_code)
                .with_error_message(c.error_message.as_deref().map(s))
                .with_node_id(BrokerId(c.node_id))
                .with_host(s(&c.host))
                .with_port(c.port);
            let want = FindCoordinator {
                throttle_time_ms: if version >= 1 { throttle } else { 0 },
                coordinators: vec![Coordinator {
                    key: String::new(),
                    error_message: if version >= 1 { c.error_message } else { None },
                    ..c
                }],
            };
            (resp, want)
        }
    }

    fn coordinator() -> impl Strategy<Value = Coordinator> {
        (
            "[a-z0-9._-]{0,30}",
            any::<i16>(),
            proptest::option::of("[ -~]{0,30}"),
            any::<i32>(),
            "[a-z0-9.-]{0,20}",
            any::<i32>(),
        )
            .prop_map(|(key, error_code, error_message, node_id, host, port)| {
                Coordinator {
                    key,
                    error_code,
                    error_message,
                    node_id,
                    host,
                    port,
                }
            })
    }

    proptest! {
        #[test]
        fn round_trips_every_version(
            version in VERSIONS,
            throttle in any::<i32>(),
            coordinators in proptest::collection::vec(coordinator(), 0..5),
        ) {
            let (resp, want) = case(version, throttle, &coordinators);
            prop_assert_eq!(decode(encode(&resp, version), version).unwrap(), want);
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
    fn every_truncation_is_an_error() {
        let c = |key: &str, node_id| Coordinator {
            key: key.into(),
            error_code: 0,
            error_message: None,
            node_id,
            host: "broker-1.example".into(),
            port: 9092,
        };
        let coordinators = [c("group-a", 1), c("group-b", 2)];
        for version in VERSIONS {
            let (resp, want) = case(version, 0, &coordinators);
            let full = encode(&resp, version);
            assert_eq!(decode(full.clone(), version).unwrap(), want);
            assert_truncations_fail(&full, &format!("v{version}"), |b| decode(b, version));
        }
    }

    #[test]
    fn lying_coordinator_count_is_refused_before_allocating() {
        // v4: throttle(4), then a compact count of u32::MAX - 1 with nothing after.
        let body = Bytes::from_static(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0]);
        let err = decode(body, 4).unwrap_err();
        assert!(matches!(err, DecodeError::CountTooLarge { .. }), "{err}");
    }

    #[test]
    fn unsupported_versions_are_refused() {
        assert!(decode(Bytes::from_static(&[0; 32]), -1).is_err());
        assert!(decode(Bytes::from_static(&[0; 32]), 7).is_err());
    }
}
