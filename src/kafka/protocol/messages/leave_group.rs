//! LeaveGroup (key 13), v0 to v5: the answer to a member (or, v3+, a batch of static
//! members) leaving its group.
//!
//! Returns the top-level error code and, from v3 on, one result per member named in the
//! request (member id, group instance id, error code). Error codes are handed back as is;
//! what they mean for the member is the group logic's business. Every broker from 0.10.1
//! on speaks v0; flexible versions (v4+) carry tagged fields, which are skipped.

use super::flex::{Layout, check_version};
use crate::kafka::protocol::{DecodeError, Reader};
use bytes::Bytes;

/// The versions this decoder handles.
pub const VERSIONS: std::ops::RangeInclusive<i16> = 0..=5;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaveGroup {
    /// 0 in v0.
    pub throttle_time_ms: i32,
    pub error_code: i16,
    /// Empty before v3.
    pub members: Vec<LeaveGroupMember>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaveGroupMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub error_code: i16,
}

/// Decodes a LeaveGroup response body requested at `version` (one of [`VERSIONS`]).
pub fn decode(body: Bytes, version: i16) -> Result<LeaveGroup, DecodeError> {
    check_version("LeaveGroup version", &VERSIONS, version)?;
    let l = Layout {
        flexible: version >= 4,
    };
    let mut r = Reader::new(body);
    let throttle_time_ms = if version >= 1 {
        r.read_i32("LeaveGroup throttle_time_ms")?
    } else {
        0
    };
    let error_code = r.read_i16("LeaveGroup error_code")?;
    let mut members = Vec::new();
    if version >= 3 {
        // member id + group instance id + error code (+ tags) at the least.
        let min = if l.flexible { 5 } else { 6 };
        // Non-nullable in Kafka's schema; librdkafka's mock cluster sends null when the
        // request named no members (a dynamic member leaving): no members.
        let n = l
            .nullable_array_len(&mut r, "LeaveGroup members", min)?
            .unwrap_or(0);
        members.reserve_exact(n);
        for _ in 0..n {
            let member_id = l.string(&mut r, "LeaveGroup member_id")?;
            let group_instance_id = l.nullable_string(&mut r, "LeaveGroup group_instance_id")?;
            let error_code = r.read_i16("LeaveGroup member error_code")?;
            l.tags(&mut r, "LeaveGroup member tagged fields")?;
            members.push(LeaveGroupMember {
                member_id,
                group_instance_id,
                error_code,
            });
        }
    }
    l.tags(&mut r, "LeaveGroup tagged fields")?;
    Ok(LeaveGroup {
        throttle_time_ms,
        error_code,
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::protocol::messages::testing::{assert_truncations_fail, encode};
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
            assert!(decode(full.clone(), version).is_ok());
            assert_truncations_fail(&full, &format!("v{version}"), |b| decode(b, version));
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
        for (version, bytes) in [(3, classic), (4, flexible)] {
            let err = decode(Bytes::from(bytes), version).unwrap_err();
            assert!(
                matches!(err, DecodeError::CountTooLarge { .. }),
                "v{version}: {err}"
            );
        }
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
        assert!(decode(Bytes::from_static(&[0; 8]), -1).is_err());
        assert!(decode(Bytes::from_static(&[0; 8]), 6).is_err());
    }
}
