//! The consumer group protocol (protocol type "consumer"): the subscription each member
//! puts in its JoinGroup metadata and the assignment the leader hands out via SyncGroup.
//!
//! Not a Kafka API: these bytes are written by other group members, so they are decoded
//! as untrusted input like any response. Both are classic encodings behind an int16
//! version. As Java's client does, a version newer than we know is decoded as the newest
//! we know and whatever follows is ignored, as are trailing bytes at any version. The
//! matching encoders are here too. Choosing or checking assignments is the group logic's
//! job, not this module's.

use crate::kafka::protocol::{DecodeError, Reader};
use bytes::{BufMut, Bytes, BytesMut};

/// The subscription versions this module knows (newer ones decode as the newest).
pub const SUBSCRIPTION_VERSIONS: std::ops::RangeInclusive<i16> = 0..=3;

/// The assignment versions this module knows (newer ones decode as the newest). All share
/// one layout; the version only tells which assignor features the writer understood.
pub const ASSIGNMENT_VERSIONS: std::ops::RangeInclusive<i16> = 0..=3;

/// A member's subscription (`ConsumerProtocolSubscription`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// The version it is encoded at; when decoded, as written (it may be newer than
    /// [`SUBSCRIPTION_VERSIONS`]).
    pub version: i16,
    pub topics: Vec<String>,
    pub user_data: Option<Bytes>,
    /// v1+: the partitions the member owns (cooperative rebalancing); empty before.
    pub owned_partitions: Vec<TopicPartitions>,
    /// v2+: the generation the owned partitions are from; -1 before.
    pub generation_id: i32,
    /// v3+: the member's rack; None before.
    pub rack_id: Option<String>,
}

/// A member's assignment (`ConsumerProtocolAssignment`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    /// The version it is encoded at; when decoded, as written (it may be newer than
    /// [`ASSIGNMENT_VERSIONS`]).
    pub version: i16,
    pub assigned_partitions: Vec<TopicPartitions>,
    pub user_data: Option<Bytes>,
}

/// Some partitions of one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicPartitions {
    pub topic: String,
    pub partitions: Vec<i32>,
}

/// Why a subscription or assignment could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A string, byte array or array is longer than its length prefix can say.
    #[error("{field}: length {len} does not fit its length prefix")]
    TooLong { field: &'static str, len: usize },
    /// The version asked for is not one this module knows.
    #[error("{field}: unsupported version {version}")]
    UnsupportedVersion { field: &'static str, version: i16 },
}

/// Decodes a member's subscription (JoinGroup member metadata for protocol type
/// "consumer").
pub fn decode_subscription(data: Bytes) -> Result<Subscription, DecodeError> {
    let mut r = Reader::new(data);
    let version = read_version(&mut r, "Subscription version")?;
    let known = version.min(*SUBSCRIPTION_VERSIONS.end());
    // A string's length at the least.
    let n = r.read_array_len("Subscription topics", 2)?;
    let mut topics = Vec::with_capacity(n);
    for _ in 0..n {
        topics.push(text(r.read_string("Subscription topic")?));
    }
    let user_data = r.read_nullable_bytes("Subscription user_data")?;
    let owned_partitions = if known >= 1 {
        read_topic_partitions(&mut r, "Subscription owned_partitions")?
    } else {
        Vec::new()
    };
    let generation_id = if known >= 2 {
        r.read_i32("Subscription generation_id")?
    } else {
        -1
    };
    let rack_id = if known >= 3 {
        r.read_nullable_string("Subscription rack_id")?.map(text)
    } else {
        None
    };
    Ok(Subscription {
        version,
        topics,
        user_data,
        owned_partitions,
        generation_id,
        rack_id,
    })
}

/// Decodes a member's assignment (the SyncGroup assignment for protocol type "consumer").
pub fn decode_assignment(data: Bytes) -> Result<Assignment, DecodeError> {
    let mut r = Reader::new(data);
    let version = read_version(&mut r, "Assignment version")?;
    let assigned_partitions = read_topic_partitions(&mut r, "Assignment assigned_partitions")?;
    let user_data = r.read_nullable_bytes("Assignment user_data")?;
    Ok(Assignment {
        version,
        assigned_partitions,
        user_data,
    })
}

/// Appends `s` to `buf`, encoded at `s.version` (one of [`SUBSCRIPTION_VERSIONS`]); fields
/// that version lacks are left out. On error `buf` is left as it was.
pub fn encode_subscription(s: &Subscription, buf: &mut BytesMut) -> Result<(), EncodeError> {
    let start = buf.len();
    let result = write_subscription(s, buf);
    if result.is_err() {
        buf.truncate(start);
    }
    result
}

/// Appends `a` to `buf`, encoded at `a.version` (one of [`ASSIGNMENT_VERSIONS`]). On error
/// `buf` is left as it was.
pub fn encode_assignment(a: &Assignment, buf: &mut BytesMut) -> Result<(), EncodeError> {
    let start = buf.len();
    let result = write_assignment(a, buf);
    if result.is_err() {
        buf.truncate(start);
    }
    result
}

fn read_version(r: &mut Reader, field: &'static str) -> Result<i16, DecodeError> {
    let version = r.read_i16(field)?;
    if version < 0 {
        return Err(DecodeError::InvalidValue {
            field,
            value: version.into(),
        });
    }
    Ok(version)
}

fn read_topic_partitions(
    r: &mut Reader,
    field: &'static str,
) -> Result<Vec<TopicPartitions>, DecodeError> {
    // topic length + partition count at the least.
    let n = r.read_array_len(field, 6)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let topic = text(r.read_string("TopicPartitions topic")?);
        let np = r.read_array_len("TopicPartitions partitions", 4)?;
        let mut partitions = Vec::with_capacity(np);
        for _ in 0..np {
            partitions.push(r.read_i32("TopicPartitions partition")?);
        }
        out.push(TopicPartitions { topic, partitions });
    }
    Ok(out)
}

/// The reader has already checked the bytes are UTF-8.
fn text(b: Bytes) -> String {
    String::from_utf8_lossy(&b).into_owned()
}

fn write_subscription(s: &Subscription, buf: &mut BytesMut) -> Result<(), EncodeError> {
    let version = s.version;
    if !SUBSCRIPTION_VERSIONS.contains(&version) {
        return Err(EncodeError::UnsupportedVersion {
            field: "Subscription version",
            version,
        });
    }
    buf.put_i16(version);
    put_len(buf, "Subscription topics", s.topics.len())?;
    for topic in &s.topics {
        put_string(buf, "Subscription topic", Some(topic))?;
    }
    put_nullable_bytes(buf, "Subscription user_data", s.user_data.as_deref())?;
    if version >= 1 {
        put_topic_partitions(buf, "Subscription owned_partitions", &s.owned_partitions)?;
    }
    if version >= 2 {
        buf.put_i32(s.generation_id);
    }
    if version >= 3 {
        put_string(buf, "Subscription rack_id", s.rack_id.as_deref())?;
    }
    Ok(())
}

fn write_assignment(a: &Assignment, buf: &mut BytesMut) -> Result<(), EncodeError> {
    if !ASSIGNMENT_VERSIONS.contains(&a.version) {
        return Err(EncodeError::UnsupportedVersion {
            field: "Assignment version",
            version: a.version,
        });
    }
    buf.put_i16(a.version);
    put_topic_partitions(
        buf,
        "Assignment assigned_partitions",
        &a.assigned_partitions,
    )?;
    put_nullable_bytes(buf, "Assignment user_data", a.user_data.as_deref())
}

/// An int32 array count.
fn put_len(buf: &mut BytesMut, field: &'static str, len: usize) -> Result<(), EncodeError> {
    let n = i32::try_from(len).map_err(|_| EncodeError::TooLong { field, len })?;
    buf.put_i32(n);
    Ok(())
}

/// A nullable string (int16 length, -1 for null).
fn put_string(buf: &mut BytesMut, field: &'static str, s: Option<&str>) -> Result<(), EncodeError> {
    match s {
        None => buf.put_i16(-1),
        Some(s) => {
            let len = s.len();
            buf.put_i16(i16::try_from(len).map_err(|_| EncodeError::TooLong { field, len })?);
            buf.put_slice(s.as_bytes());
        }
    }
    Ok(())
}

/// Nullable bytes (int32 length, -1 for null).
fn put_nullable_bytes(
    buf: &mut BytesMut,
    field: &'static str,
    b: Option<&[u8]>,
) -> Result<(), EncodeError> {
    match b {
        None => buf.put_i32(-1),
        Some(b) => {
            put_len(buf, field, b.len())?;
            buf.put_slice(b);
        }
    }
    Ok(())
}

fn put_topic_partitions(
    buf: &mut BytesMut,
    field: &'static str,
    tps: &[TopicPartitions],
) -> Result<(), EncodeError> {
    put_len(buf, field, tps.len())?;
    for tp in tps {
        put_string(buf, "TopicPartitions topic", Some(&tp.topic))?;
        put_len(buf, "TopicPartitions partitions", tp.partitions.len())?;
        for &p in &tp.partitions {
            buf.put_i32(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::protocol::messages::testing::assert_truncations_fail;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as KpAssigned;
    use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as KpOwned;
    use kafka_protocol::messages::{
        ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
    };
    use kafka_protocol::protocol::{Encodable, StrBytes};
    use proptest::prelude::*;

    fn s(v: &str) -> StrBytes {
        StrBytes::from_string(v.to_owned())
    }

    /// `sub` cut down to what its version carries.
    fn at_its_version(mut sub: Subscription) -> Subscription {
        if sub.version < 1 {
            sub.owned_partitions.clear();
        }
        if sub.version < 2 {
            sub.generation_id = -1;
        }
        if sub.version < 3 {
            sub.rack_id = None;
        }
        sub
    }

    /// The version header, then `kafka-protocol`'s encoding of `sub`.
    fn kp_subscription(sub: &Subscription) -> Bytes {
        let kp = ConsumerProtocolSubscription::default()
            .with_topics(sub.topics.iter().map(|t| s(t)).collect())
            .with_user_data(sub.user_data.clone())
            .with_owned_partitions(
                sub.owned_partitions
                    .iter()
                    .map(|tp| {
                        KpOwned::default()
                            .with_topic(TopicName(s(&tp.topic)))
                            .with_partitions(tp.partitions.clone())
                    })
                    .collect(),
            )
            .with_generation_id(sub.generation_id)
            .with_rack_id(sub.rack_id.as_deref().map(s));
        let mut buf = BytesMut::new();
        buf.put_i16(sub.version);
        kp.encode(&mut buf, sub.version).unwrap();
        buf.freeze()
    }

    /// The version header, then `kafka-protocol`'s encoding of `a`.
    fn kp_assignment(a: &Assignment) -> Bytes {
        let kp = ConsumerProtocolAssignment::default()
            .with_assigned_partitions(
                a.assigned_partitions
                    .iter()
                    .map(|tp| {
                        KpAssigned::default()
                            .with_topic(TopicName(s(&tp.topic)))
                            .with_partitions(tp.partitions.clone())
                    })
                    .collect(),
            )
            .with_user_data(a.user_data.clone());
        let mut buf = BytesMut::new();
        buf.put_i16(a.version);
        kp.encode(&mut buf, a.version).unwrap();
        buf.freeze()
    }

    fn ours<T>(value: &T, encode: fn(&T, &mut BytesMut) -> Result<(), EncodeError>) -> Bytes {
        let mut buf = BytesMut::new();
        encode(value, &mut buf).unwrap();
        buf.freeze()
    }

    fn topic_partitions() -> impl Strategy<Value = Vec<TopicPartitions>> {
        proptest::collection::vec(
            (
                "[a-zA-Z0-9._-]{1,40}",
                proptest::collection::vec(any::<i32>(), 0..8),
            )
                .prop_map(|(topic, partitions)| TopicPartitions { topic, partitions }),
            0..5,
        )
    }

    fn user_data() -> impl Strategy<Value = Option<Bytes>> {
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from))
    }

    fn subscription() -> impl Strategy<Value = Subscription> {
        (
            SUBSCRIPTION_VERSIONS,
            proptest::collection::vec("[a-zA-Z0-9._-]{1,40}", 0..6),
            user_data(),
            topic_partitions(),
            any::<i32>(),
            proptest::option::of("[a-z0-9-]{0,20}"),
        )
            .prop_map(
                |(version, topics, user_data, owned_partitions, generation_id, rack_id)| {
                    at_its_version(Subscription {
                        version,
                        topics,
                        user_data,
                        owned_partitions,
                        generation_id,
                        rack_id,
                    })
                },
            )
    }

    fn assignment() -> impl Strategy<Value = Assignment> {
        (ASSIGNMENT_VERSIONS, topic_partitions(), user_data()).prop_map(
            |(version, assigned_partitions, user_data)| Assignment {
                version,
                assigned_partitions,
                user_data,
            },
        )
    }

    proptest! {
        #[test]
        fn subscriptions_round_trip_with_kafka_protocol(sub in subscription()) {
            let theirs = kp_subscription(&sub);
            prop_assert_eq!(&ours(&sub, encode_subscription), &theirs);
            prop_assert_eq!(decode_subscription(theirs).unwrap(), sub);
        }

        #[test]
        fn assignments_round_trip_with_kafka_protocol(a in assignment()) {
            let theirs = kp_assignment(&a);
            prop_assert_eq!(&ours(&a, encode_assignment), &theirs);
            prop_assert_eq!(decode_assignment(theirs).unwrap(), a);
        }

        #[test]
        fn newer_versions_decode_as_the_newest_known(
            sub in subscription(),
            a in assignment(),
            newer in 4i16..=i16::MAX,
            trailer in proptest::collection::vec(any::<u8>(), 0..32),
        ) {
            let mut sub = sub;
            sub.version = *SUBSCRIPTION_VERSIONS.end();
            let mut bytes = kp_subscription(&sub).to_vec();
            bytes[..2].copy_from_slice(&newer.to_be_bytes());
            bytes.extend(&trailer);
            let got = decode_subscription(Bytes::from(bytes)).unwrap();
            prop_assert_eq!(got, Subscription { version: newer, ..sub });

            let mut a = a;
            a.version = *ASSIGNMENT_VERSIONS.end();
            let mut bytes = kp_assignment(&a).to_vec();
            bytes[..2].copy_from_slice(&newer.to_be_bytes());
            bytes.extend(&trailer);
            let got = decode_assignment(Bytes::from(bytes)).unwrap();
            prop_assert_eq!(got, Assignment { version: newer, ..a });
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_subscription(Bytes::from(data.clone()));
            let _ = decode_assignment(Bytes::from(data));
        }
    }

    fn sample_subscription(version: i16) -> Subscription {
        at_its_version(Subscription {
            version,
            topics: vec!["orders".into(), "audit".into()],
            user_data: Some(Bytes::from_static(b"ud")),
            owned_partitions: vec![TopicPartitions {
                topic: "orders".into(),
                partitions: vec![0, 3],
            }],
            generation_id: 7,
            rack_id: Some("use1-az1".into()),
        })
    }

    fn sample_assignment(version: i16) -> Assignment {
        Assignment {
            version,
            assigned_partitions: vec![
                TopicPartitions {
                    topic: "orders".into(),
                    partitions: vec![0, 1, 2],
                },
                TopicPartitions {
                    topic: "audit".into(),
                    partitions: vec![],
                },
            ],
            user_data: None,
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        for version in SUBSCRIPTION_VERSIONS {
            let full = ours(&sample_subscription(version), encode_subscription);
            assert!(decode_subscription(full.clone()).is_ok());
            assert_truncations_fail(
                &full,
                &format!("subscription v{version}"),
                decode_subscription,
            );
        }
        for version in ASSIGNMENT_VERSIONS {
            let full = ours(&sample_assignment(version), encode_assignment);
            assert!(decode_assignment(full.clone()).is_ok());
            assert_truncations_fail(&full, &format!("assignment v{version}"), decode_assignment);
        }
    }

    #[test]
    fn trailing_bytes_are_ignored_at_known_versions_too() {
        let sub = sample_subscription(1);
        let mut bytes = ours(&sub, encode_subscription).to_vec();
        bytes.extend(b"extra");
        assert_eq!(decode_subscription(Bytes::from(bytes)).unwrap(), sub);
    }

    #[test]
    fn lying_counts_are_refused_before_allocating() {
        // Subscription: version(2), then the topic count.
        let mut sub = ours(&sample_subscription(3), encode_subscription).to_vec();
        sub[2..6].copy_from_slice(&i32::MAX.to_be_bytes());
        // Assignment: version(2), topic count(4), topic(2+6), then the partition count.
        let mut assignment = ours(&sample_assignment(0), encode_assignment).to_vec();
        assignment[14..18].copy_from_slice(&i32::MAX.to_be_bytes());
        for err in [
            decode_subscription(Bytes::from(sub)).unwrap_err(),
            decode_assignment(Bytes::from(assignment)).unwrap_err(),
        ] {
            assert!(matches!(err, DecodeError::CountTooLarge { .. }), "{err}");
        }
    }

    #[test]
    fn negative_versions_are_refused() {
        let mut bytes = ours(&sample_assignment(0), encode_assignment).to_vec();
        bytes[..2].copy_from_slice(&(-1i16).to_be_bytes());
        assert_eq!(
            decode_assignment(Bytes::from(bytes.clone())),
            Err(DecodeError::InvalidValue {
                field: "Assignment version",
                value: -1
            })
        );
        assert!(decode_subscription(Bytes::from(bytes)).is_err());
    }

    #[test]
    fn encoders_refuse_what_they_cannot_write_and_leave_the_buffer_alone() {
        let mut buf = BytesMut::from(&b"keep"[..]);
        let sub = Subscription {
            version: 4,
            ..sample_subscription(3)
        };
        assert_eq!(
            encode_subscription(&sub, &mut buf),
            Err(EncodeError::UnsupportedVersion {
                field: "Subscription version",
                version: 4
            })
        );
        let sub = Subscription {
            rack_id: Some("r".repeat(40_000)),
            ..sample_subscription(3)
        };
        assert_eq!(
            encode_subscription(&sub, &mut buf),
            Err(EncodeError::TooLong {
                field: "Subscription rack_id",
                len: 40_000
            })
        );
        let a = Assignment {
            version: -1,
            ..sample_assignment(0)
        };
        assert!(encode_assignment(&a, &mut buf).is_err());
        assert_eq!(&buf[..], b"keep");
    }
}
