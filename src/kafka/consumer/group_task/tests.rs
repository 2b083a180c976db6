use super::*;

#[test]
fn eviction_is_told_from_a_rebalance() {
    let rejoin = |code| GroupError::Rejoin {
        group: "g".into(),
        api: kafka_protocol::messages::ApiKey::Heartbeat,
        code: KafkaCode(code),
    };
    assert!(evicted(&rejoin(UNKNOWN_MEMBER_ID)));
    assert!(evicted(&rejoin(ILLEGAL_GENERATION)));
    assert!(
        !evicted(&rejoin(27)),
        "REBALANCE_IN_PROGRESS keeps the partitions"
    );
}
