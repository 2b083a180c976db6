//! Whole-configuration tests: documents in, a [`Mapping`] or every error out.
//!
//! `rules` covers each rule of SPEC §1 through the public entry points, `filters` the
//! `FilterCriteria` patterns, `flags` the command line and its merge over the file, and
//! this file the AWS CLI skeleton and the defaults. Per-field parsers have their own unit tests next to them.

mod filters;
mod flags;
mod rules;

use super::*;
use serde_json::{Value, json};
use std::time::Duration;

/// The smallest valid mapping.
fn minimal() -> Value {
    json!({
        "FunctionName": "my-kafka-function",
        "Topics": ["AWSKafkaTopic"],
        "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["abc3.xyz.com:9092", "abc2.xyz.com:9092"]}},
        "StartingPosition": "LATEST"
    })
}

/// `minimal()` with `changes` merged over its top-level keys (`null` removes a key).
fn with(changes: Value) -> Value {
    let mut doc = minimal();
    let top = doc.as_object_mut().unwrap();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            top.remove(k);
        } else {
            top.insert(k.clone(), v.clone());
        }
    }
    doc
}

fn resolve(doc: &Value) -> Result<Mapping, ConfigErrors> {
    from_cli_input_json(&doc.to_string())
}

fn ok(doc: Value) -> Mapping {
    match resolve(&doc) {
        Ok(m) => m,
        Err(e) => panic!("refused:\n{e}\n{doc:#}"),
    }
}

/// The messages of a refused document.
fn errors(doc: Value) -> Vec<String> {
    match resolve(&doc) {
        Ok(m) => panic!("accepted: {m:#?}"),
        Err(e) => e.errors().iter().map(ToString::to_string).collect(),
    }
}

/// The one message of a document refused for one reason.
fn error(doc: Value) -> String {
    let e = errors(doc);
    assert_eq!(e.len(), 1, "{e:#?}");
    e.into_iter().next().unwrap()
}

#[test]
fn defaults_follow_aws_for_kafka() {
    let m = ok(minimal());
    assert_eq!(m.function.raw, "my-kafka-function");
    assert_eq!(m.topic, "AWSKafkaTopic");
    assert_eq!(
        m.bootstrap_servers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["abc3.xyz.com:9092", "abc2.xyz.com:9092"]
    );
    assert_eq!(m.starting_position, StartingPosition::Latest);
    assert_eq!(m.batch_size, 100);
    assert_eq!(m.maximum_batching_window, Duration::from_millis(500));
    assert!(m.enabled);
    assert_eq!(m.consumer_group_id_origin, ConsumerGroupIdOrigin::Derived);
    assert_eq!(m.authentication, None);
    assert_eq!(m.server_root_ca, None);
    assert_eq!(m.security_protocol, SecurityProtocol::Plaintext);
    assert_eq!(m.on_failure, None);
    assert!(m.filters.is_empty());
    assert_eq!(m.provisioned_pollers, None);
    assert_eq!(m.maximum_retry_attempts, None);
    assert!(!m.retry_attempts_capped);
    assert_eq!(m.maximum_record_age, None);
    assert!(!m.bisect_batch_on_function_error);
    assert!(!m.report_batch_item_failures);
    assert_eq!(m.esm, EsmOptions::default());
    assert!(m.warnings.is_empty());
    assert_eq!(m.uuid.get_version_num(), 4);
}

/// `aws lambda create-event-source-mapping --generate-cli-skeleton`, filled in for
/// self-managed Kafka: the other sources' keys removed, everything else kept as the
/// skeleton writes it (an empty OnSuccess, Tags, KMSKeyArn, MetricsConfig).
#[test]
fn a_filled_in_aws_cli_skeleton_is_accepted() {
    let doc = json!({
        "FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:my-kafka-function:live",
        "Enabled": true,
        "BatchSize": 500,
        "FilterCriteria": {"Filters": [{"Pattern": "{\"value\": {\"kind\": [\"order\"]}}"}]},
        "MaximumBatchingWindowInSeconds": 5,
        "StartingPosition": "AT_TIMESTAMP",
        "StartingPositionTimestamp": "2024-05-01T12:00:00",
        "DestinationConfig": {
            "OnSuccess": {"Destination": ""},
            "OnFailure": {"Destination": "arn:aws:sqs:us-east-1:123456789012:dest-queue"}
        },
        "MaximumRecordAgeInSeconds": 3600,
        "BisectBatchOnFunctionError": true,
        "MaximumRetryAttempts": 3,
        "Tags": {"team": "payments"},
        "Topics": ["orders"],
        "SourceAccessConfigurations": [
            {"Type": "SASL_SCRAM_512_AUTH", "URI": "arn:aws:secretsmanager:us-east-1:123456789012:secret:MyBrokerSecretName"},
            {"Type": "SERVER_ROOT_CA_CERTIFICATE", "URI": "arn:aws:secretsmanager:us-east-1:123456789012:secret:MyRootCA"}
        ],
        "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["b-1.example.com:9096", "b-2.example.com:9096"]}},
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "SelfManagedKafkaEventSourceConfig": {"ConsumerGroupId": "orders-consumer"},
        "KMSKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "MetricsConfig": {"Metrics": ["EventCount"]},
        "ProvisionedPollerConfig": {"MinimumPollers": 1, "MaximumPollers": 3}
    });
    let m = ok(doc);
    assert_eq!(m.function.name, "my-kafka-function");
    assert_eq!(m.function.qualifier.as_deref(), Some("live"));
    assert_eq!(m.batch_size, 500);
    assert_eq!(m.maximum_batching_window, Duration::from_secs(5));
    assert_eq!(
        m.starting_position,
        StartingPosition::AtTimestamp {
            epoch_millis: 1_714_564_800_000
        }
    );
    assert_eq!(
        m.on_failure
            .as_ref()
            .map(OnFailureDestination::to_uri)
            .as_deref(),
        Some("arn:aws:sqs:us-east-1:123456789012:dest-queue")
    );
    assert_eq!(m.maximum_record_age, Some(Duration::from_secs(3600)));
    assert!(m.bisect_batch_on_function_error);
    assert_eq!(m.maximum_retry_attempts, Some(3));
    assert!(!m.retry_attempts_capped);
    assert!(matches!(
        m.authentication,
        Some(Authentication::SaslScram512(
            SecretSource::SecretsManager { .. }
        ))
    ));
    assert!(m.server_root_ca.is_some());
    assert_eq!(m.security_protocol, SecurityProtocol::SaslSsl);
    assert!(m.report_batch_item_failures);
    assert_eq!(m.consumer_group_id, "orders-consumer");
    assert_eq!(
        m.consumer_group_id_origin,
        ConsumerGroupIdOrigin::Configured
    );
    assert_eq!(
        m.provisioned_pollers,
        Some(ProvisionedPollers {
            minimum: 1,
            maximum: 3
        })
    );
    assert_eq!(m.filters.len(), 1);
    let warned: Vec<String> = m.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warned.len(), 3, "{warned:#?}");
    for key in ["KMSKeyArn", "MetricsConfig", "Tags"] {
        assert!(
            warned
                .iter()
                .any(|w| w.starts_with(&format!("{key}: accepted and ignored"))),
            "{key}: {warned:#?}"
        );
    }
}

/// The examples of the seeds' CLI commands, as documents.
#[test]
fn the_documented_examples_are_accepted() {
    let m = ok(json!({
        "FunctionName": "my-kafka-function",
        "Topics": ["AWSKafkaTopic"],
        "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["abc.xyz.com:9092"]}},
        "StartingPosition": "LATEST",
        "ProvisionedPollerConfig": {"MinimumPollers": 1, "MaximumPollers": 3},
        "DestinationConfig": {"OnFailure": {"Destination": "kafka://failed-records-topic"}}
    }));
    assert_eq!(
        m.on_failure,
        Some(OnFailureDestination::Kafka {
            topic: "failed-records-topic".into()
        })
    );
    // Infinite retries (the default) with a destination are capped, and say so.
    assert_eq!(m.maximum_retry_attempts, Some(10));
    assert!(m.retry_attempts_capped);
    assert_eq!(m.warnings, [ConfigWarning::RetryAttemptsCapped { cap: 10 }]);
}
