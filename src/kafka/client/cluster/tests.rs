use super::*;

#[test]
fn error_codes_are_named_and_classified() {
    assert_eq!(KafkaCode(6).to_string(), "NotLeaderOrFollower (6)");
    assert!(KafkaCode(6).is_retriable());
    assert!(!KafkaCode(29).is_retriable(), "TopicAuthorizationFailed");
    assert_eq!(KafkaCode(-2000).to_string(), "error code -2000");
    assert!(!KafkaCode(-2000).is_retriable());
}

#[test]
fn acl_refusals_are_authorization_errors() {
    for code in [29, 30, 31, 53] {
        assert_eq!(
            KafkaCode(code).reason(),
            Some(EVENT_SOURCE_AUTHZ_ERROR),
            "{code}"
        );
    }
    assert_eq!(KafkaCode(58).reason(), Some(EVENT_SOURCE_AUTHN_ERROR));
    assert_eq!(KafkaCode(6).reason(), None);
    let topic = ClusterError::Topic {
        topic: "t".into(),
        error: KafkaCode(29),
    };
    assert_eq!(topic.reason(), Some(EVENT_SOURCE_AUTHZ_ERROR));
}
