//! The command line: AWS CLI flag names, merged over `--cli-input-json` (flags win).

use super::*;
use clap::Parser;
use std::io::Write;

#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    mapping: MappingArgs,
}

fn parse(args: &[&str]) -> MappingArgs {
    let mut argv = vec!["kafka-esm"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv)
        .unwrap_or_else(|e| panic!("{e}"))
        .mapping
}

fn temp_file(contents: &str) -> tempfile_like::TempFile {
    tempfile_like::TempFile::new(contents)
}

/// A file removed on drop, without a dependency for it.
mod tempfile_like {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub struct TempFile(pub PathBuf);

    impl TempFile {
        pub fn new(contents: &str) -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "kafka-esm-config-test-{}-{}.json",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let mut f = std::fs::File::create(&path).unwrap();
            f.write_all(contents.as_bytes()).unwrap();
            TempFile(path)
        }

        pub fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[test]
fn flags_alone_make_a_mapping() {
    let m = parse(&[
        "--function-name",
        "my-kafka-function",
        "--topics",
        "AWSKafkaTopic",
        "--bootstrap-servers",
        "abc3.xyz.com:9092, abc2.xyz.com:9092",
        "--starting-position",
        "AT_TIMESTAMP",
        "--starting-position-timestamp",
        "1714564800",
        "--batch-size",
        "10",
        "--maximum-batching-window-in-seconds",
        "0",
        "--no-enabled",
        "--maximum-retry-attempts",
        "-1",
        "--maximum-record-age-in-seconds",
        "60",
        "--bisect-batch-on-function-error",
        "--function-response-types",
        "ReportBatchItemFailures",
        "--destination-config",
        r#"{"OnFailure":{"Destination":"kafka://failed-records-topic"}}"#,
        "--filter-criteria",
        r#"{"Filters":[{"Pattern":"{\"key\":[\"k\"]}"}]}"#,
        "--source-access-configurations",
        r#"[{"Type":"SASL_SCRAM_256_AUTH","URI":"env://KAFKA_SASL"}]"#,
        "--self-managed-kafka-event-source-config",
        r#"{"ConsumerGroupId":"cg"}"#,
        "--provisioned-poller-config",
        r#"{"MinimumPollers":2}"#,
        "--function-command",
        "./bootstrap",
        "--function-timeout",
        "30",
        "--function-concurrency",
        "3",
        "--invoke-address",
        "127.0.0.1:9001",
        "--region",
        "eu-west-1",
        "--metrics-address",
        "127.0.0.1:9100",
        "--allow-insecure-sasl-over-plaintext",
        "--uuid",
        "f89f8514-cdd9-4602-9e1f-01a5b77d449b",
    ])
    .resolve()
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.function.raw, "my-kafka-function");
    assert_eq!(m.topic, "AWSKafkaTopic");
    assert_eq!(m.bootstrap_servers.len(), 2);
    assert_eq!(
        m.starting_position,
        StartingPosition::AtTimestamp {
            epoch_millis: 1_714_564_800_000
        }
    );
    assert_eq!(m.batch_size, 10);
    assert_eq!(m.maximum_batching_window, Duration::ZERO);
    assert!(!m.enabled);
    assert_eq!(
        m.maximum_retry_attempts,
        Some(10),
        "capped: infinite with a destination"
    );
    assert_eq!(m.maximum_record_age, Some(Duration::from_secs(60)));
    assert!(m.bisect_batch_on_function_error);
    assert!(m.report_batch_item_failures);
    assert_eq!(
        m.on_failure,
        Some(OnFailureDestination::Kafka {
            topic: "failed-records-topic".into()
        })
    );
    assert_eq!(m.filters[0].parsed(), &json!({"key": ["k"]}));
    assert_eq!(
        m.authentication,
        Some(Authentication::SaslScram256(SecretSource::Env(
            "KAFKA_SASL".into()
        )))
    );
    assert_eq!(m.security_protocol, SecurityProtocol::SaslPlaintext);
    assert_eq!(m.consumer_group_id, "cg");
    assert_eq!(
        m.provisioned_pollers,
        Some(ProvisionedPollers {
            minimum: 2,
            maximum: 200
        })
    );
    assert_eq!(m.esm.function_command.as_deref(), Some("./bootstrap"));
    assert_eq!(m.esm.function_timeout, Some(Duration::from_secs(30)));
    assert_eq!(m.esm.function_concurrency, Some(3));
    assert_eq!(
        m.esm.invoke_address,
        Some("127.0.0.1:9001".parse().unwrap())
    );
    assert_eq!(m.esm.region.as_deref(), Some("eu-west-1"));
    assert_eq!(
        m.esm.metrics_address,
        Some("127.0.0.1:9100".parse().unwrap())
    );
    assert!(m.esm.allow_insecure_sasl_over_plaintext);
    assert_eq!(m.uuid.to_string(), "f89f8514-cdd9-4602-9e1f-01a5b77d449b");
}

#[test]
fn flags_win_over_the_file_key_by_key() {
    let file = temp_file(
        &json!({
            "FunctionName": "from-file",
            "Topics": ["orders"],
            "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["file-broker:9092"]}},
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": 50,
            "Enabled": false,
            "DestinationConfig": {"OnFailure": {"Destination": "kafka://dlq"}},
            "KafkaEsm": {"Region": "us-east-1", "FunctionTimeout": 60}
        })
        .to_string(),
    );
    let uri = format!("file://{}", file.path());
    let m = parse(&[
        "--cli-input-json",
        &uri,
        "--batch-size",
        "7",
        "--enabled",
        "--bootstrap-servers",
        "flag-broker:9093",
        "--destination-config",
        r#"{"OnFailure":{"Destination":""}}"#,
        "--region",
        "eu-west-1",
    ])
    .resolve()
    .unwrap_or_else(|e| panic!("{e}"));
    // From the file.
    assert_eq!(m.function.raw, "from-file");
    assert_eq!(m.topic, "orders");
    assert_eq!(m.starting_position, StartingPosition::TrimHorizon);
    assert_eq!(m.esm.function_timeout, Some(Duration::from_secs(60)));
    // From the flags.
    assert_eq!(m.batch_size, 7);
    assert!(m.enabled);
    assert_eq!(m.bootstrap_servers[0].to_string(), "flag-broker:9093");
    assert_eq!(m.bootstrap_servers.len(), 1);
    assert_eq!(
        m.on_failure, None,
        "the flag's empty destination removes the file's"
    );
    assert_eq!(m.esm.region.as_deref(), Some("eu-west-1"));

    // A plain path (kafka-esm's --config) and inline JSON work too.
    let m = parse(&["--config", file.path()]).resolve().unwrap();
    assert_eq!(m.batch_size, 50);
    assert!(!m.enabled);
    let inline = json!({"FunctionName": "inline", "Topics": ["t"], "StartingPosition": "LATEST"})
        .to_string();
    let m = parse(&["--cli-input-json", &inline, "--bootstrap-servers", "b:1"])
        .resolve()
        .unwrap();
    assert_eq!(m.function.raw, "inline");
}

#[test]
fn flag_errors_name_the_aws_field_and_the_flag() {
    let e = parse(&[
        "--function-name",
        "f",
        "--topics",
        "t",
        "--starting-position",
        "LATEST",
        "--self-managed-event-source",
        "Endpoints={KAFKA_BOOTSTRAP_SERVERS=[a:9092]}",
        "--batch-size",
        "-5",
        "--provisioned-poller-config",
        "MinimumPollers=1,MaximumPollers=3",
    ])
    .resolve()
    .unwrap_err();
    let m: Vec<String> = e.errors().iter().map(ToString::to_string).collect();
    assert_eq!(m.len(), 3, "{m:#?}");
    assert!(
        m[0].starts_with("SelfManagedEventSource: --self-managed-event-source: not valid JSON")
    );
    assert!(
        m[0].ends_with("the AWS CLI's shorthand syntax (Key=Value) is not supported, give JSON")
    );
    assert!(
        m[1].starts_with("ProvisionedPollerConfig: --provisioned-poller-config: not valid JSON")
    );
    // The broken SelfManagedEventSource is not also reported missing.
    assert_eq!(m[2], "BatchSize: must be between 1 and 10000, got -5");
    assert_eq!(e.reason(), ESM_CONFIG_NOT_VALID);
}

#[test]
fn json_flags_take_file_uris() {
    let dest = temp_file(r#"{"OnFailure":{"Destination":"arn:aws:s3:::dest-bucket"}}"#);
    let m = parse(&[
        "--function-name",
        "f",
        "--topics",
        "t",
        "--starting-position",
        "LATEST",
        "--bootstrap-servers",
        "b:9092",
        "--destination-config",
        &format!("file://{}", dest.path()),
    ])
    .resolve()
    .unwrap();
    assert!(
        matches!(m.on_failure, Some(OnFailureDestination::S3 { ref bucket, .. }) if bucket == "dest-bucket")
    );
}

#[test]
fn an_unreadable_input_file_is_one_clear_error() {
    let e = parse(&["--cli-input-json", "file:///nonexistent/kafka-esm.json"])
        .resolve()
        .unwrap_err();
    assert_eq!(e.errors().len(), 1);
    assert!(
        e.errors()[0]
            .to_string()
            .starts_with("--cli-input-json: cannot read file:///nonexistent/kafka-esm.json: "),
        "{e}"
    );
}

#[test]
fn clap_rejects_conflicting_and_malformed_flags() {
    let argv = |a: &[&str]| {
        let mut v = vec!["kafka-esm"];
        v.extend_from_slice(a);
        Cli::try_parse_from(v)
    };
    assert!(
        argv(&[
            "--bootstrap-servers",
            "a:1",
            "--self-managed-event-source",
            "{}"
        ])
        .is_err()
    );
    assert!(argv(&["--batch-size", "ten"]).is_err());
    // The last of --enabled / --no-enabled wins, as booleans do in the AWS CLI.
    let a = argv(&["--enabled", "--no-enabled"]).unwrap().mapping;
    assert!(!a.enabled && a.no_enabled);
    // Topics as a list, space- or comma-separated.
    let a = argv(&["--topics", "a", "b"]).unwrap().mapping;
    assert_eq!(a.topics, Some(vec!["a".to_owned(), "b".to_owned()]));
}

#[test]
fn kafka_esm_flags_fill_the_section_over_the_file() {
    let doc = with(json!({"KafkaEsm": {"FunctionCommand": "./from-file"}})).to_string();
    let m = parse(&[
        "--cli-input-json",
        &doc,
        "--lambda-endpoint-url",
        "http://127.0.0.1:9001",
    ])
    .resolve()
    .unwrap_err();
    // The file's FunctionCommand and the flag's endpoint together are refused.
    assert!(
        m.errors()[0]
            .to_string()
            .starts_with("KafkaEsm.LambdaEndpointUrl: cannot be combined with FunctionCommand")
    );
    let m = parse(&[
        "--cli-input-json",
        &doc,
        "--function-command",
        "./from-flag",
    ])
    .resolve()
    .unwrap();
    assert_eq!(m.esm.function_command.as_deref(), Some("./from-flag"));
    let m = parse(&["--cli-input-json", &doc, "--max-buffered-bytes", "1000000"])
        .resolve()
        .unwrap();
    assert_eq!(m.esm.max_buffered_bytes, Some(1_000_000));
    let e = parse(&["--cli-input-json", &doc, "--function-timeout", "901"])
        .resolve()
        .unwrap_err();
    assert_eq!(e.reason(), FUNCTION_CONFIG_NOT_VALID);
}

#[test]
fn the_function_environment_flag_takes_a_json_object() {
    let doc = with(json!({"KafkaEsm": {"FunctionCommand": "./f"}})).to_string();
    let m = parse(&[
        "--cli-input-json",
        &doc,
        "--function-environment",
        r#"{"DB_URL": "postgres://db"}"#,
    ])
    .resolve()
    .unwrap();
    assert_eq!(
        m.esm.function_environment,
        Some([("DB_URL".to_string(), "postgres://db".to_string())].into())
    );
    let e = parse(&[
        "--cli-input-json",
        &doc,
        "--function-environment",
        "DB_URL=x",
    ])
    .resolve()
    .unwrap_err();
    let m: Vec<String> = e.errors().iter().map(ToString::to_string).collect();
    assert!(
        m[0].starts_with("KafkaEsm.FunctionEnvironment: --function-environment: not valid JSON"),
        "{m:?}"
    );
    let e = parse(&[
        "--cli-input-json",
        &doc,
        "--function-environment",
        r#"{"AWS_ACCESS_KEY_ID": "AKIA"}"#,
    ])
    .resolve()
    .unwrap_err();
    assert_eq!(
        e.errors()[0].to_string(),
        "KafkaEsm.FunctionEnvironment.AWS_ACCESS_KEY_ID: reserved: Lambda sets it"
    );
    assert_eq!(e.reason(), ESM_CONFIG_NOT_VALID);
}

#[test]
fn the_flag_definitions_are_consistent() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
    let help = Cli::command().render_long_help().to_string();
    for flag in [
        "--cli-input-json",
        "--function-name",
        "--topics",
        "--self-managed-event-source",
        "--bootstrap-servers",
        "--starting-position",
        "--starting-position-timestamp",
        "--batch-size",
        "--maximum-batching-window-in-seconds",
        "--enabled",
        "--no-enabled",
        "--maximum-retry-attempts",
        "--maximum-record-age-in-seconds",
        "--bisect-batch-on-function-error",
        "--no-bisect-batch-on-function-error",
        "--function-response-types",
        "--destination-config",
        "--filter-criteria",
        "--source-access-configurations",
        "--self-managed-kafka-event-source-config",
        "--provisioned-poller-config",
        "--allow-insecure-sasl-over-plaintext",
        "--function-environment",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}
