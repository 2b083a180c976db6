use super::*;

#[test]
fn debug_never_shows_the_password() {
    let creds = SaslCredentials::new(Mechanism::ScramSha512, "alice", "hunter2-s3cret".into());
    let shown = format!("{creds:?} {creds:#?}");
    assert!(!shown.contains("hunter2-s3cret"), "{shown}");
    assert!(shown.contains("alice"), "{shown}");
    assert!(shown.contains("ScramSha512"), "{shown}");
}

#[test]
fn mechanism_names_are_the_brokers() {
    assert_eq!(Mechanism::Plain.name(), "PLAIN");
    assert_eq!(Mechanism::ScramSha256.name(), "SCRAM-SHA-256");
    assert_eq!(Mechanism::ScramSha512.to_string(), "SCRAM-SHA-512");
}

#[test]
fn errors_name_what_went_wrong_and_their_reason() {
    let e = SaslError::MechanismNotEnabled {
        wanted: Mechanism::ScramSha512,
        enabled: vec!["PLAIN".into(), "SCRAM-SHA-256".into()],
    };
    assert_eq!(
        e.to_string(),
        "the broker does not enable SASL mechanism SCRAM-SHA-512; it enables: PLAIN, \
             SCRAM-SHA-256"
    );
    assert_eq!(e.reason(), EVENT_SOURCE_AUTHN_ERROR);
    assert!(!e.is_retriable());
    let e = SaslError::IterationCount {
        count: 4_000_000_000,
        max: 100_000,
    };
    assert!(e.to_string().contains("4000000000"), "{e}");
    assert!(e.to_string().contains("100000"), "{e}");
    let closed = SaslError::from(ConnError::Closed {
        broker: "b:9092".into(),
        reason: "the broker closed it".into(),
    });
    assert_eq!(closed.reason(), "PROBLEM");
    assert!(closed.is_retriable());
}

#[test]
fn broker_text_is_shortened() {
    assert_eq!(broker_text("short"), "short");
    let long = "é".repeat(500);
    let cut = broker_text(&long);
    assert_eq!(cut.chars().count(), 201);
}
