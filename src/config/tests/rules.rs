//! Each rule of SPEC §1, through `from_cli_input_json`: accepted at its limits, refused
//! past them with a message naming the field, and every problem reported at once.

use super::*;

#[test]
fn required_fields() {
    let e = errors(json!({}));
    assert_eq!(
        e,
        [
            "FunctionName: is required",
            "Topics: is required",
            "SelfManagedEventSource: is required",
            "StartingPosition: is required",
        ]
    );
    // null counts as absent.
    assert_eq!(
        error(with(json!({"FunctionName": null}))),
        "FunctionName: is required"
    );
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let e = errors(json!({
        "FunctionName": "my function",
        "Topics": ["a", "b"],
        "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["broker"]}},
        "StartingPosition": "EARLIEST",
        "BatchSize": 0,
        "MaximumBatchingWindowInSeconds": 301,
        "Enabled": "yes",
        "MaximumRetryAttempts": -2,
        "MaximumRecordAgeInSeconds": 59,
        "FunctionResponseTypes": ["Nope"],
        "ParallelizationFactor": 2,
        "batchSize": 10,
        "KafkaEsm": {"FunctionTimeout": 900}
    }));
    let expected = [
        "ParallelizationFactor: does not apply to self-managed Kafka (it is for Kinesis and DynamoDB streams; Kafka scales by partition); remove it",
        "batchSize: unknown key; did you mean BatchSize?",
        "FunctionName: \"my function\" is not a function name",
        "Topics: must hold exactly one topic, got 2",
        "SelfManagedEventSource.Endpoints.KAFKA_BOOTSTRAP_SERVERS[0]: \"broker\" is not host:port: missing :port",
        "StartingPosition: must be LATEST, TRIM_HORIZON or AT_TIMESTAMP, got \"EARLIEST\"",
        "BatchSize: must be between 1 and 10000, got 0",
        "MaximumBatchingWindowInSeconds: must be between 0 and 300, got 301",
        "Enabled: must be true or false, got a string",
        "MaximumRetryAttempts: must be -1 (infinite) or between 0 and 10000, got -2",
        "MaximumRecordAgeInSeconds: must be -1 (infinite) or between 60 and 604800, got 59",
        "FunctionResponseTypes[0]: must be ReportBatchItemFailures, got \"Nope\"",
        "KafkaEsm.FunctionTimeout: must be between 1 and 840 seconds",
    ];
    assert_eq!(e.len(), expected.len(), "{e:#?}");
    for (got, want) in e.iter().zip(expected) {
        assert!(got.starts_with(want), "{got}\n  should start with\n{want}");
    }
    let refused =
        resolve(&json!({"BatchSize": 0, "KafkaEsm": {"FunctionTimeout": 900}})).unwrap_err();
    assert_eq!(refused.reason(), ESM_CONFIG_NOT_VALID);
    assert!(refused.for_field("BatchSize").is_some());
}

#[test]
fn a_timeout_beyond_14_minutes_alone_is_function_config_not_valid() {
    let e = resolve(&with(json!({"KafkaEsm": {"FunctionTimeout": 900}}))).unwrap_err();
    assert_eq!(e.reason(), FUNCTION_CONFIG_NOT_VALID);
    assert_eq!(
        e.for_field("KafkaEsm.FunctionTimeout"),
        Some(&Problem::FunctionTimeout {
            max_seconds: 840,
            got: 900
        })
    );
    let m = ok(with(json!({"KafkaEsm": {"FunctionTimeout": 840}})));
    assert_eq!(m.esm.function_timeout, Some(Duration::from_secs(840)));
}

#[test]
fn batch_size_limits() {
    assert_eq!(ok(with(json!({"BatchSize": 1}))).batch_size, 1);
    assert_eq!(ok(with(json!({"BatchSize": 10000}))).batch_size, 10000);
    assert_eq!(
        error(with(json!({"BatchSize": 10001}))),
        "BatchSize: must be between 1 and 10000, got 10001"
    );
    assert_eq!(
        error(with(json!({"BatchSize": 0}))),
        "BatchSize: must be between 1 and 10000, got 0"
    );
    assert_eq!(
        error(with(json!({"BatchSize": 1.5}))),
        "BatchSize: must be an integer, got a decimal number"
    );
    assert_eq!(
        error(with(json!({"BatchSize": "100"}))),
        "BatchSize: must be an integer, got a string"
    );
}

#[test]
fn batching_window_limits() {
    let w =
        |v: Value| ok(with(json!({"MaximumBatchingWindowInSeconds": v}))).maximum_batching_window;
    assert_eq!(w(json!(0)), Duration::ZERO);
    assert_eq!(w(json!(300)), Duration::from_secs(300));
    assert_eq!(
        error(with(json!({"MaximumBatchingWindowInSeconds": -1}))),
        "MaximumBatchingWindowInSeconds: must be between 0 and 300, got -1"
    );
}

#[test]
fn enabled_and_bisect_are_booleans() {
    assert!(!ok(with(json!({"Enabled": false}))).enabled);
    assert!(ok(with(json!({"BisectBatchOnFunctionError": true}))).bisect_batch_on_function_error);
    assert_eq!(
        error(with(json!({"BisectBatchOnFunctionError": 1}))),
        "BisectBatchOnFunctionError: must be true or false, got an integer"
    );
}

#[test]
fn retry_attempts_infinite_or_in_range_and_capped_with_a_destination() {
    let r = |v: Value| ok(with(json!({"MaximumRetryAttempts": v})));
    assert_eq!(r(json!(-1)).maximum_retry_attempts, None);
    assert_eq!(r(json!(0)).maximum_retry_attempts, Some(0));
    assert_eq!(r(json!(10000)).maximum_retry_attempts, Some(10000));
    assert_eq!(
        error(with(json!({"MaximumRetryAttempts": 10001}))),
        "MaximumRetryAttempts: must be -1 (infinite) or between 0 and 10000, got 10001"
    );
    let dest = json!({"OnFailure": {"Destination": "arn:aws:s3:::dest-bucket"}});
    // Infinite, explicitly or by default, with a destination: capped at 10, recorded.
    for retries in [json!(-1), Value::Null] {
        let m = ok(with(
            json!({"MaximumRetryAttempts": retries, "DestinationConfig": dest}),
        ));
        assert_eq!(m.maximum_retry_attempts, Some(10));
        assert!(m.retry_attempts_capped);
        assert_eq!(
            m.warnings[0].to_string(),
            "MaximumRetryAttempts: infinite (-1) with an on-failure destination is capped at 10 attempts"
        );
    }
    // A finite limit is kept as it is, even above 10.
    let m = ok(with(
        json!({"MaximumRetryAttempts": 50, "DestinationConfig": dest}),
    ));
    assert_eq!(m.maximum_retry_attempts, Some(50));
    assert!(!m.retry_attempts_capped);
    // An empty destination is no destination: no cap.
    let m = ok(with(
        json!({"DestinationConfig": {"OnFailure": {"Destination": ""}}}),
    ));
    assert_eq!(
        (m.maximum_retry_attempts, m.retry_attempts_capped),
        (None, false)
    );
}

#[test]
fn record_age_infinite_or_in_range() {
    let a = |v: Value| ok(with(json!({"MaximumRecordAgeInSeconds": v}))).maximum_record_age;
    assert_eq!(a(json!(-1)), None);
    assert_eq!(a(json!(60)), Some(Duration::from_secs(60)));
    assert_eq!(a(json!(604800)), Some(Duration::from_secs(604800)));
    for bad in [0, 59, 604801, -2] {
        assert_eq!(
            error(with(json!({"MaximumRecordAgeInSeconds": bad}))),
            format!(
                "MaximumRecordAgeInSeconds: must be -1 (infinite) or between 60 and 604800, got {bad}"
            )
        );
    }
}

#[test]
fn topics_exactly_one_valid_name() {
    assert_eq!(ok(with(json!({"Topics": ["a.b_c-1"]}))).topic, "a.b_c-1");
    assert_eq!(
        error(with(json!({"Topics": []}))),
        "Topics: must hold exactly one topic, got none"
    );
    assert_eq!(
        errors(with(json!({"Topics": ["ok", ".."]}))),
        [
            "Topics[1]: \"..\" is not a valid Kafka topic name",
            "Topics: must hold exactly one topic, got 2"
        ]
    );
    assert_eq!(
        error(with(json!({"Topics": ["t".repeat(250)]}))),
        "Topics[0]: must be at most 249 characters, got 250"
    );
    assert_eq!(
        error(with(json!({"Topics": "orders"}))),
        "Topics: must be a list, got a string"
    );
}

#[test]
fn starting_position_and_its_timestamp() {
    assert_eq!(
        ok(with(json!({"StartingPosition": "TRIM_HORIZON"}))).starting_position,
        StartingPosition::TrimHorizon
    );
    assert_eq!(
        ok(with(
            json!({"StartingPosition": "AT_TIMESTAMP", "StartingPositionTimestamp": 1714564800})
        ))
        .starting_position,
        StartingPosition::AtTimestamp {
            epoch_millis: 1_714_564_800_000
        }
    );
    assert_eq!(
        error(with(json!({"StartingPosition": "AT_TIMESTAMP"}))),
        "StartingPositionTimestamp: is required when StartingPosition is AT_TIMESTAMP"
    );
    for position in ["LATEST", "TRIM_HORIZON"] {
        assert_eq!(
            error(with(
                json!({"StartingPosition": position, "StartingPositionTimestamp": 1714564800})
            )),
            "StartingPositionTimestamp: is only allowed with StartingPosition AT_TIMESTAMP"
        );
    }
    assert!(
        error(with(
            json!({"StartingPosition": "AT_TIMESTAMP", "StartingPositionTimestamp": "soon"})
        ))
        .starts_with("StartingPositionTimestamp: must be seconds since the epoch")
    );
    assert_eq!(
        error(with(json!({"StartingPosition": "latest"}))),
        "StartingPosition: must be LATEST, TRIM_HORIZON or AT_TIMESTAMP, got \"latest\""
    );
}

#[test]
fn function_names() {
    for name in [
        "f",
        "my-function:$LATEST",
        "123456789012:function:my-function",
        "arn:aws:lambda:us-east-1:123456789012:function:my-function:3",
    ] {
        assert_eq!(ok(with(json!({"FunctionName": name}))).function.raw, name);
    }
    assert_eq!(
        error(with(json!({"FunctionName": "f".repeat(141)}))),
        "FunctionName: must be at most 140 characters, got 141"
    );
    assert_eq!(
        error(with(json!({"FunctionName": ""}))),
        "FunctionName: must not be empty"
    );
}

#[test]
fn consumer_group_id_configured_or_a_stable_default() {
    let m = ok(with(
        json!({"SelfManagedKafkaEventSourceConfig": {"ConsumerGroupId": "g1"}}),
    ));
    assert_eq!(
        (m.consumer_group_id.as_str(), m.consumer_group_id_origin),
        ("g1", ConsumerGroupIdOrigin::Configured)
    );
    // Without one: the same on every start, while the mapping's own UUID is new each time.
    let (a, b) = (ok(minimal()), ok(minimal()));
    assert_eq!(a.consumer_group_id, b.consumer_group_id);
    assert_ne!(a.uuid, b.uuid);
    assert_ne!(a.consumer_group_id, a.uuid.to_string());
    // With a configured mapping UUID, the group is that UUID, as AWS defaults it.
    let u = "f89f8514-cdd9-4602-9e1f-01a5b77d449b";
    let m = ok(with(json!({"KafkaEsm": {"Uuid": u}})));
    assert_eq!(m.uuid.to_string(), u);
    assert_eq!(m.consumer_group_id, u);
    assert_eq!(
        m.consumer_group_id_origin,
        ConsumerGroupIdOrigin::MappingUuid
    );
    assert_eq!(
        error(with(
            json!({"SelfManagedKafkaEventSourceConfig": {"ConsumerGroupId": "g".repeat(201)}})
        )),
        "SelfManagedKafkaEventSourceConfig.ConsumerGroupId: must be between 1 and 200 characters, got 201"
    );
}

#[test]
fn other_sources_parameters_are_refused_by_name() {
    let e = errors(with(json!({
        "EventSourceArn": "arn:aws:kafka:us-east-1:123456789012:cluster/my-cluster/abc123",
        "AmazonManagedKafkaEventSourceConfig": {"ConsumerGroupId": "g"},
        "ParallelizationFactor": 1,
        "TumblingWindowInSeconds": 60,
        "Queues": ["q"],
        "ScalingConfig": {"MaximumConcurrency": 2},
        "DocumentDBEventSourceConfig": {"DatabaseName": "d"}
    })));
    assert_eq!(e.len(), 7, "{e:#?}");
    for (msg, key) in e.iter().zip([
        "AmazonManagedKafkaEventSourceConfig",
        "DocumentDBEventSourceConfig",
        "EventSourceArn",
        "ParallelizationFactor",
        "Queues",
        "ScalingConfig",
        "TumblingWindowInSeconds",
    ]) {
        assert!(
            msg.starts_with(&format!(
                "{key}: does not apply to self-managed Kafka (it is for "
            )),
            "{msg}"
        );
        assert!(msg.ends_with("; remove it"), "{msg}");
    }
}

#[test]
fn unknown_keys_are_errors_at_every_level() {
    let e = errors(with(json!({
        "Topic": ["x"],
        "DestinationConfig": {"OnFailure": {"Destination": "", "Condition": "x"}},
        "FilterCriteria": {"Filters": [{"Pattern": "{}", "pattern": "{}"}]}
    })));
    assert_eq!(
        e,
        [
            "Topic: unknown key",
            "DestinationConfig.OnFailure.Condition: unknown key",
            "FilterCriteria.Filters[0].pattern: unknown key; did you mean Pattern?",
        ]
    );
}

#[test]
fn aws_only_settings_are_type_checked_then_ignored() {
    let m = ok(with(
        json!({"LoggingConfig": {"SystemLogLevel": "DEBUG"}, "KMSKeyArn": null}),
    ));
    assert_eq!(m.warnings.len(), 1);
    assert_eq!(
        errors(with(
            json!({"Tags": {"a": 1}, "KMSKeyArn": 7, "MetricsConfig": []})
        )),
        [
            "KMSKeyArn: must be a string, got an integer",
            "MetricsConfig: must be an object, got a list",
            "Tags.a: must be a string, got an integer",
        ]
    );
}

#[test]
fn function_response_types() {
    assert!(
        ok(with(
            json!({"FunctionResponseTypes": ["ReportBatchItemFailures"]})
        ))
        .report_batch_item_failures
    );
    assert!(!ok(with(json!({"FunctionResponseTypes": []}))).report_batch_item_failures);
    assert_eq!(
        error(with(
            json!({"FunctionResponseTypes": "ReportBatchItemFailures"})
        )),
        "FunctionResponseTypes: must be a list, got a string"
    );
}

#[test]
fn security_protocol_follows_the_access_configurations() {
    let sasl = json!([{"Type": "BASIC_AUTH", "URI": "env://KAFKA_SASL"}]);
    let mtls =
        json!([{"Type": "CLIENT_CERTIFICATE_TLS_AUTH", "URI": "file:///etc/kafka/client.json"}]);
    let ca = json!([{"Type": "SERVER_ROOT_CA_CERTIFICATE", "URI": "file://ca.json"}]);
    let p = |access: &Value, insecure: bool| {
        ok(with(json!({
            "SourceAccessConfigurations": access,
            "KafkaEsm": {"AllowInsecureSaslOverPlaintext": insecure}
        })))
        .security_protocol
    };
    assert_eq!(p(&sasl, false), SecurityProtocol::SaslSsl);
    assert_eq!(p(&sasl, true), SecurityProtocol::SaslPlaintext);
    assert_eq!(p(&mtls, false), SecurityProtocol::Ssl);
    assert_eq!(p(&ca, false), SecurityProtocol::Ssl);
    assert_eq!(p(&json!([]), false), SecurityProtocol::Plaintext);
    // The opt-in with nothing to send in the clear: accepted, warned.
    let m = ok(with(
        json!({"KafkaEsm": {"AllowInsecureSaslOverPlaintext": true}}),
    ));
    assert_eq!(m.security_protocol, SecurityProtocol::Plaintext);
    assert!(
        m.warnings[0]
            .to_string()
            .starts_with("KafkaEsm.AllowInsecureSaslOverPlaintext: accepted and ignored")
    );
    // The opt-in contradicts TLS settings.
    for access in [&mtls, &ca] {
        let e = error(with(json!({
            "SourceAccessConfigurations": access,
            "KafkaEsm": {"AllowInsecureSaslOverPlaintext": true}
        })));
        assert!(
            e.starts_with("KafkaEsm.AllowInsecureSaslOverPlaintext: cannot be combined with"),
            "{e}"
        );
    }
}

#[test]
fn destinations_in_context() {
    assert_eq!(
        error(with(
            json!({"DestinationConfig": {"OnFailure": {"Destination": "kafka://AWSKafkaTopic"}}})
        )),
        "DestinationConfig.OnFailure.Destination: kafka://AWSKafkaTopic is the source topic; a \
         destination topic equal to the source would feed failures back into the mapping"
    );
    let m = ok(with(
        json!({"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sns:us-east-1:123456789012:alerts"}}}),
    ));
    assert!(matches!(
        m.on_failure,
        Some(OnFailureDestination::Sns { .. })
    ));
}

#[test]
fn the_document_must_be_an_object() {
    assert_eq!(
        error(json!([1])),
        "(configuration): must be an object, got a list"
    );
    let e = from_cli_input_json("{nope").unwrap_err();
    assert!(
        e.errors()[0]
            .to_string()
            .starts_with("--cli-input-json: not valid JSON")
    );
}

/// The table: at least 30 bad inputs, each refused with one message that starts
/// with the field it is about, and the whole error is `ESM_CONFIG_NOT_VALID`.
#[test]
fn a_table_of_bad_inputs_each_names_its_field() {
    let endpoints = |servers: Value| json!({"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": servers}});
    let table: Vec<(Value, &str)> = vec![
        (json!({"FunctionName": ""}), "FunctionName"),
        (json!({"FunctionName": "has space"}), "FunctionName"),
        (json!({"FunctionName": "x".repeat(141)}), "FunctionName"),
        (json!({"FunctionName": 7}), "FunctionName"),
        (json!({"Topics": []}), "Topics"),
        (json!({"Topics": ["a", "b"]}), "Topics"),
        (json!({"Topics": ["bad/name"]}), "Topics"),
        (json!({"Topics": ["."]}), "Topics"),
        (json!({"Topics": ["t".repeat(250)]}), "Topics"),
        (json!({"Topics": "orders"}), "Topics"),
        (
            json!({"SelfManagedEventSource": endpoints(json!([]))}),
            "SelfManagedEventSource",
        ),
        (
            json!({"SelfManagedEventSource": endpoints(json!(["nohost"]))}),
            "SelfManagedEventSource",
        ),
        (
            json!({"SelfManagedEventSource": endpoints(json!(["h:0"]))}),
            "SelfManagedEventSource",
        ),
        (
            json!({"SelfManagedEventSource": endpoints(json!(["h:65536"]))}),
            "SelfManagedEventSource",
        ),
        (json!({"StartingPosition": "EARLIEST"}), "StartingPosition"),
        (
            json!({"StartingPosition": "AT_TIMESTAMP"}),
            "StartingPositionTimestamp",
        ),
        (
            json!({"StartingPositionTimestamp": 1700000000}),
            "StartingPositionTimestamp",
        ),
        (json!({"BatchSize": 0}), "BatchSize"),
        (json!({"BatchSize": 10001}), "BatchSize"),
        (json!({"BatchSize": "100"}), "BatchSize"),
        (
            json!({"MaximumBatchingWindowInSeconds": -1}),
            "MaximumBatchingWindowInSeconds",
        ),
        (
            json!({"MaximumBatchingWindowInSeconds": 301}),
            "MaximumBatchingWindowInSeconds",
        ),
        (json!({"Enabled": "true"}), "Enabled"),
        (json!({"MaximumRetryAttempts": -2}), "MaximumRetryAttempts"),
        (
            json!({"MaximumRetryAttempts": 10001}),
            "MaximumRetryAttempts",
        ),
        (
            json!({"MaximumRecordAgeInSeconds": 59}),
            "MaximumRecordAgeInSeconds",
        ),
        (
            json!({"MaximumRecordAgeInSeconds": 604801}),
            "MaximumRecordAgeInSeconds",
        ),
        (
            json!({"BisectBatchOnFunctionError": 1}),
            "BisectBatchOnFunctionError",
        ),
        (
            json!({"FunctionResponseTypes": ["Partial"]}),
            "FunctionResponseTypes",
        ),
        (
            json!({"SelfManagedKafkaEventSourceConfig": {"ConsumerGroupId": ""}}),
            "SelfManagedKafkaEventSourceConfig",
        ),
        (
            json!({"SelfManagedKafkaEventSourceConfig": {"ConsumerGroupId": "g".repeat(201)}}),
            "SelfManagedKafkaEventSourceConfig",
        ),
        (
            json!({"ProvisionedPollerConfig": {"MinimumPollers": 0}}),
            "ProvisionedPollerConfig",
        ),
        (
            json!({"ProvisionedPollerConfig": {"MinimumPollers": 5, "MaximumPollers": 2}}),
            "ProvisionedPollerConfig",
        ),
        (
            json!({"DestinationConfig": {"OnFailure": {"Destination": "kafka://AWSKafkaTopic"}}}),
            "DestinationConfig",
        ),
        (
            json!({"DestinationConfig": {"OnFailure": {"Destination": "https://example.com"}}}),
            "DestinationConfig",
        ),
        (
            json!({"SourceAccessConfigurations": [{"Type": "NOPE", "URI": "x"}]}),
            "SourceAccessConfigurations",
        ),
        (
            json!({"FilterCriteria": {"Filters": [{"Pattern": "not json"}]}}),
            "FilterCriteria",
        ),
        (json!({"ParallelizationFactor": 2}), "ParallelizationFactor"),
        (json!({"Whatever": 1}), "Whatever"),
    ];
    assert!(table.len() >= 30);
    for (changes, field) in table {
        let doc = with(changes.clone());
        let err = resolve(&doc).expect_err(&format!("accepted: {changes}"));
        assert_eq!(err.reason(), ESM_CONFIG_NOT_VALID, "{changes}");
        let messages: Vec<String> = err.errors().iter().map(ToString::to_string).collect();
        assert!(
            messages.iter().any(|m| m.starts_with(field)),
            "{changes}: no message about {field}: {messages:#?}"
        );
    }
}
