use super::*;
use crate::kafka::protocol::messages::testing::{assert_truncations_fail, encode};
use kafka_protocol::messages::TopicName;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicResult, CreateTopicsResponse,
};
use kafka_protocol::protocol::StrBytes;
use proptest::prelude::*;

fn response(throttle: i32, topics: &[(String, i16, Option<String>)]) -> CreateTopicsResponse {
    CreateTopicsResponse::default()
        .with_throttle_time_ms(throttle)
        .with_topics(
            topics
                .iter()
                .map(|(name, code, message)| {
                    CreatableTopicResult::default()
                        .with_name(TopicName(StrBytes::from_string(name.clone())))
                        .with_error_code(*code)
                        .with_error_message(message.clone().map(StrBytes::from_string))
                })
                .collect(),
        )
}

proptest! {
    #[test]
    fn round_trips_every_version(
        version in VERSIONS,
        throttle in any::<i32>(),
        topics in proptest::collection::vec(
            ("[a-z._-]{1,20}", any::<i16>(), proptest::option::of("[ -~]{0,30}")),
            0..4,
        ),
    ) {
        let got = decode(encode(&response(throttle, &topics), version), version).unwrap();
        prop_assert_eq!(got.throttle_time_ms, throttle);
        let want: Vec<CreatedTopic> = topics
            .iter()
            .map(|(name, code, message)| CreatedTopic {
                name: name.clone(),
                error_code: *code,
                error_message: message.clone(),
            })
            .collect();
        prop_assert_eq!(got.topics, want);
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..64),
        version in VERSIONS,
    ) {
        let _ = decode(Bytes::from(data), version);
    }
}

#[test]
fn every_truncation_is_an_error() {
    let topics = [("state".to_string(), 36, Some("exists".to_string()))];
    for version in VERSIONS {
        let full = encode(&response(5, &topics), version);
        assert!(decode(full.clone(), version).is_ok());
        assert_truncations_fail(&full, &format!("v{version}"), |b| decode(b, version));
    }
}

#[test]
fn a_lying_topic_count_is_refused_before_allocating() {
    let body = Bytes::from_static(&[0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]);
    let err = decode(body, 2).unwrap_err();
    assert!(matches!(err, DecodeError::CountTooLarge { .. }), "{err}");
}

#[test]
fn unsupported_versions_are_refused() {
    assert!(decode(Bytes::new(), 5).is_err());
    assert!(decode(Bytes::new(), 1).is_err());
    assert!(decode(Bytes::new(), -1).is_err());
}
