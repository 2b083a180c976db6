use super::*;
use crate::kafka::protocol::messages::testing::{
    assert_counts_too_large, assert_versions_refused, decodes_only_whole, encode,
};
use kafka_protocol::messages::LeaveGroupResponse;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::protocol::StrBytes;
use proptest::prelude::*;

type Member = (String, Option<String>, i16);

fn response(throttle: i32, error_code: i16, members: &[Member]) -> LeaveGroupResponse {
    LeaveGroupResponse::default()
        .with_throttle_time_ms(throttle)
        .with_error_code(error_code)
        .with_members(
            members
                .iter()
                .map(|(id, instance, err)| {
                    MemberResponse::default()
                        .with_member_id(StrBytes::from_string(id.clone()))
                        .with_group_instance_id(instance.clone().map(StrBytes::from_string))
                        .with_error_code(*err)
                })
                .collect(),
        )
}

proptest! {
    #[test]
    fn round_trips_every_version(
        version in VERSIONS,
        throttle in any::<i32>(),
        error_code in any::<i16>(),
        members in proptest::collection::vec(
            ("[a-z0-9-]{0,40}", proptest::option::of("[a-z0-9-]{1,20}"), any::<i16>()),
            0..6),
    ) {
        let members = if version >= 3 { members } else { Vec::new() };
        let resp = response(throttle, error_code, &members);
        let got = decode(encode(&resp, version), version).unwrap();
        let want = LeaveGroup {
            throttle_time_ms: if version >= 1 { throttle } else { 0 },
            error_code,
            members: members.into_iter().map(|(member_id, group_instance_id, error_code)| {
                LeaveGroupMember { member_id, group_instance_id, error_code }
            }).collect(),
        };
        prop_assert_eq!(got, want);
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
    for version in VERSIONS {
        let members: &[Member] = if version >= 3 {
            &[
                ("consumer-1-abc".into(), None, 0),
                ("consumer-2-def".into(), Some("i-2".into()), 25),
            ]
        } else {
            &[]
        };
        let full = encode(&response(3, 0, members), version);
        decodes_only_whole(&full, version, decode);
    }
}

#[test]
fn lying_member_count_is_refused_before_allocating() {
    let members = [("m".to_string(), None, 0)];
    // v3: throttle(4) error(2), then the member count.
    let mut classic = encode(&response(0, 0, &members), 3).to_vec();
    classic[6..10].copy_from_slice(&i32::MAX.to_be_bytes());
    // v4: the same, with a one-byte compact count made a five-byte one.
    let mut flexible = encode(&response(0, 0, &members), 4).to_vec();
    flexible.splice(6..7, [0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert_counts_too_large([(3, classic), (4, flexible)], decode);
}

#[test]
fn a_null_member_list_reads_as_none() {
    // v3: throttle(4) error(2) members -1; v4: compact 0 (null), then no tags.
    let v3 = Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    assert!(decode(v3, 3).unwrap().members.is_empty());
    let v4 = Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0]);
    assert!(decode(v4, 4).unwrap().members.is_empty());
}

#[test]
fn unsupported_versions_are_refused() {
    assert_versions_refused(&[0; 8], &[-1, 6], decode);
}
