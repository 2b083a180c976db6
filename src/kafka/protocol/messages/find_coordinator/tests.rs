use super::*;
use crate::kafka::protocol::messages::testing::{
    assert_versions_refused, decodes_only_whole, encode,
};
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
        .prop_map(
            |(key, error_code, error_message, node_id, host, port)| Coordinator {
                key,
                error_code,
                error_message,
                node_id,
                host,
                port,
            },
        )
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
        assert_eq!(decodes_only_whole(&full, version, decode), want);
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
    assert_versions_refused(&[0; 32], &[-1, 7], decode);
}
