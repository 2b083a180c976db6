//! Every top-level key of `create-event-source-mapping --cli-input-json`, and what
//! kafka-esm does with it.
//!
//! The AWS CLI skeleton carries parameters of every event source type. Those of other
//! sources are refused, naming what they are for; a few AWS-only bookkeeping settings
//! are accepted and ignored with a warning so a file shared with AWS still loads; keys
//! nobody knows are errors. This file is the table only; the rules live in the resolver.

/// What kafka-esm does with a top-level key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// Read and validated.
    Applies,
    /// A parameter of another event source type: refused.
    NotApplicable { used_for: &'static str },
    /// Means something only inside AWS: accepted (type-checked), warned, ignored.
    Ignored { why: &'static str },
}

/// kafka-esm's own section, the only non-AWS top-level key.
pub const ESM_SECTION: &str = "KafkaEsm";

/// The table, in the order the resolver reports fields.
pub const TOP_LEVEL: &[(&str, KeyUse)] = &[
    ("FunctionName", KeyUse::Applies),
    ("Topics", KeyUse::Applies),
    ("SelfManagedEventSource", KeyUse::Applies),
    ("StartingPosition", KeyUse::Applies),
    ("StartingPositionTimestamp", KeyUse::Applies),
    ("BatchSize", KeyUse::Applies),
    ("MaximumBatchingWindowInSeconds", KeyUse::Applies),
    ("Enabled", KeyUse::Applies),
    ("SelfManagedKafkaEventSourceConfig", KeyUse::Applies),
    ("SourceAccessConfigurations", KeyUse::Applies),
    ("DestinationConfig", KeyUse::Applies),
    ("FilterCriteria", KeyUse::Applies),
    ("ProvisionedPollerConfig", KeyUse::Applies),
    ("MaximumRetryAttempts", KeyUse::Applies),
    ("MaximumRecordAgeInSeconds", KeyUse::Applies),
    ("BisectBatchOnFunctionError", KeyUse::Applies),
    ("FunctionResponseTypes", KeyUse::Applies),
    (ESM_SECTION, KeyUse::Applies),
    (
        "EventSourceArn",
        KeyUse::NotApplicable {
            used_for: "Amazon MSK, Kinesis, DynamoDB, SQS, Amazon MQ and DocumentDB; a \
                       self-managed cluster is given by SelfManagedEventSource",
        },
    ),
    (
        "AmazonManagedKafkaEventSourceConfig",
        KeyUse::NotApplicable {
            used_for: "Amazon MSK; use SelfManagedKafkaEventSourceConfig",
        },
    ),
    (
        "ParallelizationFactor",
        KeyUse::NotApplicable {
            used_for: "Kinesis and DynamoDB streams; Kafka scales by partition",
        },
    ),
    (
        "TumblingWindowInSeconds",
        KeyUse::NotApplicable {
            used_for: "Kinesis and DynamoDB streams",
        },
    ),
    (
        "Queues",
        KeyUse::NotApplicable {
            used_for: "Amazon MQ",
        },
    ),
    (
        "ScalingConfig",
        KeyUse::NotApplicable {
            used_for: "Amazon SQS; use ProvisionedPollerConfig",
        },
    ),
    (
        "DocumentDBEventSourceConfig",
        KeyUse::NotApplicable {
            used_for: "Amazon DocumentDB",
        },
    ),
    (
        "Tags",
        KeyUse::Ignored {
            why: "tags label the mapping as an AWS resource",
        },
    ),
    (
        "KMSKeyArn",
        KeyUse::Ignored {
            why: "AWS encrypts the filter criteria it stores with this key; kafka-esm stores nothing",
        },
    ),
    (
        "MetricsConfig",
        KeyUse::Ignored {
            why: "kafka-esm always serves all its metrics at KafkaEsm.MetricsAddress",
        },
    ),
    (
        "LoggingConfig",
        KeyUse::Ignored {
            why: "kafka-esm's log level is set with RUST_LOG",
        },
    ),
];

/// The treatment of `key`, `None` for a key nobody knows.
pub fn key_use(key: &str) -> Option<KeyUse> {
    TOP_LEVEL.iter().find(|(k, _)| *k == key).map(|(_, u)| *u)
}

/// All known top-level keys (for unknown-key suggestions).
pub fn known_keys() -> Vec<&'static str> {
    TOP_LEVEL.iter().map(|(k, _)| *k).collect()
}
