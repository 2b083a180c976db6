use super::*;
use crate::kafka::protocol::messages::testing::{
    assert_counts_too_large, assert_versions_refused, decodes_only_whole, encode,
};
use kafka_protocol::messages::JoinGroupResponse;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::protocol::StrBytes;
use proptest::prelude::*;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

/// A response with only the fields `version` has set, and what we should decode.
fn case(
    version: i16,
    head: (i32, i16, i32),
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    skip_assignment: bool,
    members: &[(String, Option<String>, Vec<u8>)],
) -> (JoinGroupResponse, JoinGroup) {
    let (throttle, error_code, generation_id) = head;
    let protocol_type = protocol_type.filter(|_| version >= 7);
    let protocol_name = if version >= 7 {
        protocol_name
    } else {
        Some(protocol_name.unwrap_or_default())
    };
    let skip_assignment = skip_assignment && version >= 9;
    let members: Vec<_> = members
        .iter()
        .map(|(id, instance, metadata)| JoinGroupMember {
            member_id: id.clone(),
            group_instance_id: instance.clone().filter(|_| version >= 5),
            metadata: Bytes::copy_from_slice(metadata),
        })
        .collect();
    let resp = JoinGroupResponse::default()
        .with_throttle_time_ms(throttle)
        .with_error_code(error_code)
        .with_generation_id(generation_id)
        .with_protocol_type(protocol_type.as_deref().map(s))
        .with_protocol_name(protocol_name.as_deref().map(s))
        .with_leader(s("leader-1"))
        .with_skip_assignment(skip_assignment)
        .with_member_id(s("member-1"))
        .with_members(
            members
                .iter()
                .map(|m| {
                    JoinGroupResponseMember::default()
                        .with_member_id(s(&m.member_id))
                        .with_group_instance_id(m.group_instance_id.as_deref().map(s))
                        .with_metadata(m.metadata.clone())
                })
                .collect(),
        );
    let want = JoinGroup {
        throttle_time_ms: if version >= 2 { throttle } else { 0 },
        error_code,
        generation_id,
        protocol_type,
        protocol_name,
        leader: "leader-1".into(),
        skip_assignment,
        member_id: "member-1".into(),
        members,
    };
    (resp, want)
}

proptest! {
    #[test]
    fn round_trips_every_version(
        version in VERSIONS,
        head in (any::<i32>(), any::<i16>(), any::<i32>()),
        protocol_type in proptest::option::of("[a-z]{0,10}"),
        protocol_name in proptest::option::of("[a-z-]{0,20}"),
        skip_assignment in any::<bool>(),
        members in proptest::collection::vec(
            ("[a-z0-9-]{0,40}", proptest::option::of("[a-z0-9-]{1,20}"),
             proptest::collection::vec(any::<u8>(), 0..64)),
            0..6),
    ) {
        let (resp, want) =
            case(version, head, protocol_type, protocol_name, skip_assignment, &members);
        prop_assert_eq!(decode(encode(&resp, version), version).unwrap(), want);
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..256),
        version in VERSIONS,
    ) {
        let _ = decode(Bytes::from(data), version);
    }
}

#[test]
fn every_truncation_is_an_error() {
    let members = [
        ("member-1".to_string(), None, b"\x00\x01sub".to_vec()),
        ("member-2".to_string(), Some("i-2".to_string()), Vec::new()),
    ];
    for version in VERSIONS {
        let (resp, want) = case(
            version,
            (100, 0, 3),
            Some("consumer".into()),
            Some("range".into()),
            true,
            &members,
        );
        let full = encode(&resp, version);
        assert_eq!(decodes_only_whole(&full, version, decode), want);
    }
}

#[test]
fn lying_member_count_is_refused_before_allocating() {
    let members = [("m".to_string(), None, Vec::new())];
    let (resp, _) = case(1, (0, 0, 1), None, Some("r".into()), false, &members);
    // v1: error(2) generation(4) protocol_name(2+1) leader(2+8) member_id(2+8), then
    // the member count.
    let mut classic = encode(&resp, 1).to_vec();
    let at = 2 + 4 + 3 + 10 + 10;
    classic[at..at + 4].copy_from_slice(&i32::MAX.to_be_bytes());
    // v6: throttle(4) error(2) generation(4) protocol_name(1+1) leader(1+8)
    // member_id(1+8), then a one-byte compact count made a five-byte one.
    let (resp, _) = case(6, (0, 0, 1), None, Some("r".into()), false, &members);
    let mut flexible = encode(&resp, 6).to_vec();
    let at = 4 + 2 + 4 + 2 + 9 + 9;
    assert_eq!(flexible[at], 2);
    flexible.splice(at..at + 1, [0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert_counts_too_large([(1, classic), (6, flexible)], decode);
}

#[test]
fn null_protocol_name_is_refused_before_v7() {
    // v1: error, generation, then a null protocol name.
    let body = Bytes::from_static(&[0, 0, 0, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        decode(body, 1),
        Err(DecodeError::UnexpectedNull {
            field: "JoinGroup protocol_name"
        })
    );
}

#[test]
fn unsupported_versions_are_refused() {
    assert_versions_refused(&[0; 32], &[0, 10], decode);
}
