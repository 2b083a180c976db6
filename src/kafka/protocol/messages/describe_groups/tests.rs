use super::*;
use crate::kafka::protocol::messages::testing::{
    assert_counts_too_large, assert_versions_refused, decodes_only_whole, encode,
};
use kafka_protocol::messages::describe_groups_response::{
    DescribedGroup as KpGroup, DescribedGroupMember,
};
use kafka_protocol::messages::{DescribeGroupsResponse, GroupId};
use kafka_protocol::protocol::StrBytes;
use proptest::prelude::*;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

/// A member: id, instance id, client id, host, metadata, assignment.
type Member = (String, Option<String>, String, String, Vec<u8>, Vec<u8>);

/// A response with two groups holding `members` (the second one failed), at
/// `version`, and what we should decode.
fn case(
    version: i16,
    throttle: i32,
    message: Option<String>,
    members: &[Member],
) -> (DescribeGroupsResponse, DescribeGroups) {
    let message = message.filter(|_| version >= 6);
    let members: Vec<DescribedMember> = members
        .iter()
        .map(
            |(id, instance, client, host, metadata, assignment)| DescribedMember {
                member_id: id.clone(),
                group_instance_id: instance.clone().filter(|_| version >= 4),
                client_id: client.clone(),
                client_host: host.clone(),
                metadata: Bytes::copy_from_slice(metadata),
                assignment: Bytes::copy_from_slice(assignment),
            },
        )
        .collect();
    let ops = if version >= 3 { 0b1010 } else { i32::MIN };
    let want = DescribeGroups {
        throttle_time_ms: if version >= 1 { throttle } else { 0 },
        groups: vec![
            DescribedGroup {
                error_code: 0,
                error_message: None,
                group_id: "orders".into(),
                group_state: "Stable".into(),
                protocol_type: "consumer".into(),
                protocol_data: "range".into(),
                members,
                authorized_operations: ops,
            },
            DescribedGroup {
                error_code: 16,
                error_message: message,
                group_id: "other".into(),
                group_state: String::new(),
                protocol_type: String::new(),
                protocol_data: String::new(),
                members: Vec::new(),
                authorized_operations: ops,
            },
        ],
    };
    let resp = DescribeGroupsResponse::default()
        .with_throttle_time_ms(throttle)
        .with_groups(
            want.groups
                .iter()
                .map(|g| {
                    KpGroup::default()
                        .with_error_code(g.error_code)
                        .with_error_message(g.error_message.as_deref().map(s))
                        .with_group_id(GroupId(s(&g.group_id)))
                        .with_group_state(s(&g.group_state))
                        .with_protocol_type(s(&g.protocol_type))
                        .with_protocol_data(s(&g.protocol_data))
                        .with_authorized_operations(g.authorized_operations)
                        .with_members(
                            g.members
                                .iter()
                                .map(|m| {
                                    DescribedGroupMember::default()
                                        .with_member_id(s(&m.member_id))
                                        .with_group_instance_id(
                                            m.group_instance_id.as_deref().map(s),
                                        )
                                        .with_client_id(s(&m.client_id))
                                        .with_client_host(s(&m.client_host))
                                        .with_member_metadata(m.metadata.clone())
                                        .with_member_assignment(m.assignment.clone())
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    (resp, want)
}

fn members() -> Vec<Member> {
    vec![
        (
            "kafka-esm-1-abc".into(),
            None,
            "kafka-esm-f89f".into(),
            "/127.0.0.1".into(),
            b"\x00\x01sub".to_vec(),
            b"\x00\x01asg".to_vec(),
        ),
        (
            "kafka-esm-2-def".into(),
            Some("i-2".into()),
            "kafka-esm-f89f".into(),
            "/10.0.0.2".into(),
            Vec::new(),
            Vec::new(),
        ),
    ]
}

proptest! {
    #[test]
    fn round_trips_every_version(
        version in VERSIONS,
        throttle in any::<i32>(),
        message in proptest::option::of("[a-z ]{0,20}"),
        members in proptest::collection::vec(
            ("[a-z0-9-]{0,40}", proptest::option::of("[a-z0-9-]{1,20}"),
             "[a-z0-9-]{0,20}", "[/0-9.]{0,16}",
             proptest::collection::vec(any::<u8>(), 0..32),
             proptest::collection::vec(any::<u8>(), 0..32)),
            0..5),
    ) {
        let (resp, want) = case(version, throttle, message, &members);
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
    for version in VERSIONS {
        let (resp, want) = case(version, 7, Some("not the coordinator".into()), &members());
        let full = encode(&resp, version);
        assert_eq!(decodes_only_whole(&full, version, decode), want);
    }
}

#[test]
fn lying_counts_are_refused_before_allocating() {
    // v0: the group count first; v5: throttle(4), then a one-byte compact count.
    let (resp, _) = case(0, 0, None, &members());
    let mut classic = encode(&resp, 0).to_vec();
    classic[0..4].copy_from_slice(&i32::MAX.to_be_bytes());
    let (resp, _) = case(5, 0, None, &members());
    let mut flexible = encode(&resp, 5).to_vec();
    assert_eq!(flexible[4], 3);
    flexible.splice(4..5, [0xff, 0xff, 0xff, 0xff, 0x0f]);
    // v1: throttle(4) count(4) error(2) "orders"(2+6) "Stable"(2+6) "consumer"(2+8)
    // "range"(2+5), then the member count.
    let (resp, _) = case(1, 0, None, &members());
    let mut members_v1 = encode(&resp, 1).to_vec();
    let at = 4 + 4 + 2 + 8 + 8 + 10 + 7;
    assert_eq!(members_v1[at..at + 4], [0, 0, 0, 2]);
    members_v1[at..at + 4].copy_from_slice(&0x0100_0000i32.to_be_bytes());
    assert_counts_too_large([(0, classic), (5, flexible), (1, members_v1)], decode);
}

#[test]
fn unsupported_versions_are_refused() {
    assert_versions_refused(&[0; 32], &[-1, 7], decode);
}
