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
