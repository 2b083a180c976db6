//! DescribeGroups (key 15), v0 to v6: each group's state, protocol and members, as the
//! coordinator knows them.
//!
//! The runtime asks for its own group, to count the members that are not its consumers
//! (other kafka-esm processes running the same mapping) and so never run more members
//! than the topic has partitions. Members' metadata and assignments come back as opaque
//! slices of the response (not copies). Error codes are handed back as is. Flexible
//! versions (v5+) carry tagged fields, which are skipped.

use super::flex::{Layout, check_version};
use crate::kafka::protocol::{DecodeError, Reader};
use bytes::Bytes;

/// The versions this decoder handles.
pub const VERSIONS: std::ops::RangeInclusive<i16> = 0..=6;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribeGroups {
    /// 0 in v0.
    pub throttle_time_ms: i32,
    pub groups: Vec<DescribedGroup>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribedGroup {
    pub error_code: i16,
    /// v6+ only.
    pub error_message: Option<String>,
    pub group_id: String,
    /// `Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty` or `Dead`.
    pub group_state: String,
    /// `consumer` for consumer groups.
    pub protocol_type: String,
    /// The assignment strategy chosen (when the group is stable).
    pub protocol_data: String,
    pub members: Vec<DescribedMember>,
    /// v3+; `i32::MIN` (not requested) before.
    pub authorized_operations: i32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribedMember {
    pub member_id: String,
    /// v4+ only.
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// The member's subscription, in the group protocol's encoding.
    pub metadata: Bytes,
    /// The member's assignment, in the group protocol's encoding.
    pub assignment: Bytes,
}

/// Decodes a DescribeGroups response body requested at `version` (one of [`VERSIONS`]).
pub fn decode(body: Bytes, version: i16) -> Result<DescribeGroups, DecodeError> {
    check_version("DescribeGroups version", &VERSIONS, version)?;
    let l = Layout {
        flexible: version >= 5,
    };
    let mut r = Reader::new(body);
    let throttle_time_ms = if version >= 1 {
        r.read_i32("DescribeGroups throttle_time_ms")?
    } else {
        0
    };
    // error code, four strings, the member array (+ authorized operations v3+, + error
    // message v6, + tags) at the least.
    let min_group = match (l.flexible, version) {
        (true, 6) => 2 + 1 + 4 + 1 + 4 + 1,
        (true, _) => 2 + 4 + 1 + 4 + 1,
        (false, v) if v >= 3 => 2 + 8 + 4 + 4,
        (false, _) => 2 + 8 + 4,
    };
    // member id, client id and host, metadata and assignment (+ instance id v4+, + tags).
    let min_member = match (l.flexible, version >= 4) {
        (true, _) => 7,
        (false, true) => 2 + 2 + 2 + 2 + 4 + 4,
        (false, false) => 2 + 2 + 2 + 4 + 4,
    };
    let n = l.array_len(&mut r, "DescribeGroups groups", min_group)?;
    let mut groups = Vec::with_capacity(n);
    for _ in 0..n {
        let error_code = r.read_i16("DescribeGroups error_code")?;
        let error_message = if version >= 6 {
            l.nullable_string(&mut r, "DescribeGroups error_message")?
        } else {
            None
        };
        let group_id = l.string(&mut r, "DescribeGroups group_id")?;
        let group_state = l.string(&mut r, "DescribeGroups group_state")?;
        let protocol_type = l.string(&mut r, "DescribeGroups protocol_type")?;
        let protocol_data = l.string(&mut r, "DescribeGroups protocol_data")?;
        let m = l.array_len(&mut r, "DescribeGroups members", min_member)?;
        let mut members = Vec::with_capacity(m);
        for _ in 0..m {
            let member_id = l.string(&mut r, "DescribeGroups member_id")?;
            let group_instance_id = if version >= 4 {
                l.nullable_string(&mut r, "DescribeGroups group_instance_id")?
            } else {
                None
            };
            let client_id = l.string(&mut r, "DescribeGroups client_id")?;
            let client_host = l.string(&mut r, "DescribeGroups client_host")?;
            let metadata = l.bytes(&mut r, "DescribeGroups member_metadata")?;
            let assignment = l.bytes(&mut r, "DescribeGroups member_assignment")?;
            l.tags(&mut r, "DescribeGroups member tagged fields")?;
            members.push(DescribedMember {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                metadata,
                assignment,
            });
        }
        let authorized_operations = if version >= 3 {
            r.read_i32("DescribeGroups authorized_operations")?
        } else {
            i32::MIN
        };
        l.tags(&mut r, "DescribeGroups group tagged fields")?;
        groups.push(DescribedGroup {
            error_code,
            error_message,
            group_id,
            group_state,
            protocol_type,
            protocol_data,
            members,
            authorized_operations,
        });
    }
    l.tags(&mut r, "DescribeGroups tagged fields")?;
    Ok(DescribeGroups {
        throttle_time_ms,
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::protocol::messages::testing::{assert_truncations_fail, encode};
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
            assert_eq!(decode(full.clone(), version).unwrap(), want);
            assert_truncations_fail(&full, &format!("v{version}"), |b| decode(b, version));
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
        for (version, bytes) in [(0, classic), (5, flexible), (1, members_v1)] {
            let err = decode(Bytes::from(bytes), version).unwrap_err();
            assert!(
                matches!(err, DecodeError::CountTooLarge { .. }),
                "v{version}: {err}"
            );
        }
    }

    #[test]
    fn unsupported_versions_are_refused() {
        assert!(decode(Bytes::from_static(&[0; 32]), -1).is_err());
        assert!(decode(Bytes::from_static(&[0; 32]), 7).is_err());
    }
}
