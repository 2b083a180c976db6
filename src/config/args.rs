//! The mapping's command-line flags, named as the AWS CLI names them, merged over the
//! `--cli-input-json` document.
//!
//! Each flag replaces its whole top-level key in the document (flags win, as with the AWS
//! CLI), then the merged document is resolved like a file. JSON-valued flags take JSON
//! or `file://PATH`; the AWS CLI's shorthand syntax (`Endpoints={...}`, `Type=X,URI=Y`)
//! is not supported. kafka-esm's own flags fill the `KafkaEsm` section. This file reads
//! flags and files only; every rule is the resolver's.

use super::error::{ConfigErrors, Problem};
use super::json::Report;
use super::keys::ESM_SECTION;
use super::mapping::Mapping;
use super::resolve::resolve_document;
use super::source::{CLI_INPUT_JSON, load_document, load_json};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// The help heading of kafka-esm's own flags.
const ESM_HEADING: &str = "kafka-esm's own settings (the KafkaEsm section)";

/// `kafka-esm run`'s mapping flags: the AWS CLI's `create-event-source-mapping` options
/// that apply to self-managed Kafka, plus kafka-esm's own.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Event source mapping (AWS CLI names)")]
pub struct MappingArgs {
    /// The whole mapping as `aws lambda create-event-source-mapping --cli-input-json`
    /// takes it: `file://PATH`, a plain path, or the JSON itself. Flags override its keys.
    #[arg(long, value_name = "JSON|file://PATH", visible_alias = "config")]
    pub cli_input_json: Option<String>,
    /// `FunctionName`: a name, a partial or full ARN, with an optional `:VERSION`/`:ALIAS`.
    #[arg(long, value_name = "NAME|ARN")]
    pub function_name: Option<String>,
    /// `Topics`: the topic to consume (exactly one).
    #[arg(long, value_name = "TOPIC", num_args = 1.., value_delimiter = ',')]
    pub topics: Option<Vec<String>>,
    /// `SelfManagedEventSource` as JSON:
    /// `{"Endpoints":{"KAFKA_BOOTSTRAP_SERVERS":["host:9092"]}}`.
    #[arg(long, value_name = "JSON")]
    pub self_managed_event_source: Option<String>,
    /// Shorthand for `--self-managed-event-source`: `host:port,host:port`.
    #[arg(
        long,
        value_name = "HOST:PORT,...",
        conflicts_with = "self_managed_event_source"
    )]
    pub bootstrap_servers: Option<String>,
    /// `StartingPosition`: LATEST, TRIM_HORIZON or AT_TIMESTAMP.
    #[arg(long, value_name = "POSITION")]
    pub starting_position: Option<String>,
    /// `StartingPositionTimestamp`: seconds since the epoch or ISO 8601 (with AT_TIMESTAMP).
    #[arg(long, value_name = "TIME")]
    pub starting_position_timestamp: Option<String>,
    /// `BatchSize`: 1..=10000 (default 100).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub batch_size: Option<i64>,
    /// `MaximumBatchingWindowInSeconds`: 0..=300 (default 0.5 s).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub maximum_batching_window_in_seconds: Option<i64>,
    /// `Enabled`: poll (the default).
    #[arg(long, overrides_with = "no_enabled")]
    pub enabled: bool,
    /// `Enabled: false`: poll nothing, keep the offsets.
    #[arg(long, overrides_with = "enabled")]
    pub no_enabled: bool,
    /// `MaximumRetryAttempts`: -1 (infinite, the default) or 0..=10000.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub maximum_retry_attempts: Option<i64>,
    /// `MaximumRecordAgeInSeconds`: -1 (infinite, the default) or 60..=604800.
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub maximum_record_age_in_seconds: Option<i64>,
    /// `BisectBatchOnFunctionError`: split a failing batch in two and retry the halves.
    #[arg(long, overrides_with = "no_bisect_batch_on_function_error")]
    pub bisect_batch_on_function_error: bool,
    /// `BisectBatchOnFunctionError: false` (the default).
    #[arg(long, overrides_with = "bisect_batch_on_function_error")]
    pub no_bisect_batch_on_function_error: bool,
    /// `FunctionResponseTypes`: ReportBatchItemFailures.
    #[arg(long, value_name = "TYPE", num_args = 1.., value_delimiter = ',')]
    pub function_response_types: Option<Vec<String>>,
    /// `DestinationConfig` as JSON: `{"OnFailure":{"Destination":"kafka://dlq"}}`.
    #[arg(long, value_name = "JSON")]
    pub destination_config: Option<String>,
    /// `FilterCriteria` as JSON: `{"Filters":[{"Pattern":"{...}"}]}`.
    #[arg(long, value_name = "JSON")]
    pub filter_criteria: Option<String>,
    /// `SourceAccessConfigurations` as JSON: `[{"Type":"SASL_SCRAM_512_AUTH","URI":"..."}]`.
    #[arg(long, value_name = "JSON")]
    pub source_access_configurations: Option<String>,
    /// `SelfManagedKafkaEventSourceConfig` as JSON: `{"ConsumerGroupId":"my-group"}`.
    #[arg(long, value_name = "JSON")]
    pub self_managed_kafka_event_source_config: Option<String>,
    /// `ProvisionedPollerConfig` as JSON: `{"MinimumPollers":1,"MaximumPollers":3}`.
    #[arg(long, value_name = "JSON")]
    pub provisioned_poller_config: Option<String>,

    /// The mapping's UUID (also the default consumer group, as in AWS).
    #[arg(long, value_name = "UUID", help_heading = ESM_HEADING)]
    pub uuid: Option<String>,
    /// Run the function on this host with this command (`sh -c`), served the
    /// Lambda Runtime API, instead of invoking AWS Lambda.
    #[arg(long, value_name = "COMMAND", help_heading = ESM_HEADING)]
    pub function_command: Option<String>,
    /// The function's timeout in seconds, 1..=840 (14 minutes).
    #[arg(
        long,
        value_name = "SECONDS",
        allow_negative_numbers = true,
        help_heading = ESM_HEADING
    )]
    pub function_timeout: Option<i64>,
    /// How many processes the local function may run at once (one per partition in
    /// flight), 1..=1000; default 10.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = ESM_HEADING
    )]
    pub function_concurrency: Option<i64>,
    /// The local function's own environment variables, a JSON object of strings
    /// (`{"DB_URL":"..."}`, or `file://PATH`), as Lambda's `Environment.Variables`. The
    /// handler gets these, Lambda's variables and PATH, nothing else of kafka-esm's.
    #[arg(long, value_name = "JSON", help_heading = ESM_HEADING)]
    pub function_environment: Option<String>,
    /// Also serve the Lambda Invoke API for the local function at this loopback
    /// IP:PORT (for `aws lambda invoke --endpoint-url http://IP:PORT` and SDKs).
    #[arg(long, value_name = "IP:PORT", help_heading = ESM_HEADING)]
    pub invoke_address: Option<String>,
    /// The Lambda endpoint URL (a Lambda-compatible service).
    #[arg(long, value_name = "URL", help_heading = ESM_HEADING)]
    pub lambda_endpoint_url: Option<String>,
    /// The AWS region of every AWS client.
    #[arg(long, value_name = "REGION", help_heading = ESM_HEADING)]
    pub region: Option<String>,
    /// Serve metrics at this IP:PORT.
    #[arg(long, value_name = "IP:PORT", help_heading = ESM_HEADING)]
    pub metrics_address: Option<String>,
    /// Measure the offset lag and reconsider the consumer count this often, in seconds
    /// (default 10).
    #[arg(
        long,
        value_name = "SECONDS",
        allow_negative_numbers = true,
        help_heading = ESM_HEADING
    )]
    pub scaling_interval: Option<i64>,
    /// Seconds the group waits for a silent consumer (a killed process) before moving
    /// its partitions (default 45).
    #[arg(
        long,
        value_name = "SECONDS",
        allow_negative_numbers = true,
        help_heading = ESM_HEADING
    )]
    pub session_timeout: Option<i64>,
    /// The bytes of fetched records (as encoded in events) a consumer holds across its
    /// partitions before it pauses fetching; each partition may always hold one full
    /// batch (default 48 MiB).
    #[arg(
        long,
        value_name = "BYTES",
        allow_negative_numbers = true,
        help_heading = ESM_HEADING
    )]
    pub max_buffered_bytes: Option<i64>,
    /// LOCAL DEVELOPMENT ONLY: send SASL credentials over plaintext (no TLS).
    #[arg(long, help_heading = ESM_HEADING)]
    pub allow_insecure_sasl_over_plaintext: bool,
}

impl MappingArgs {
    /// Reads the document, merges the flags over it and resolves the mapping, or returns
    /// every problem found.
    pub fn resolve(self) -> Result<Mapping, ConfigErrors> {
        let mut report = Report::default();
        let mut doc = match &self.cli_input_json {
            Some(src) => match load_document(src) {
                Ok(v) => v,
                Err(e) => {
                    report.invalid(CLI_INPUT_JSON, e);
                    return Err(ConfigErrors::from_vec(report.errors).expect("one error"));
                }
            },
            None => Value::Object(Map::new()),
        };
        let mut broken = BTreeSet::new();
        if let Value::Object(top) = &mut doc {
            self.merge_into(top, &mut report, &mut broken);
        }
        resolve_document(&doc, report, &broken)
    }

    fn merge_into(
        self,
        top: &mut Map<String, Value>,
        r: &mut Report,
        broken: &mut BTreeSet<&'static str>,
    ) {
        let set = |top: &mut Map<String, Value>, key: &str, v: Value| {
            top.insert(key.to_owned(), v);
        };
        if let Some(v) = self.function_name {
            set(top, "FunctionName", json!(v));
        }
        if let Some(v) = self.topics {
            set(top, "Topics", json!(v));
        }
        if let Some(v) = self.bootstrap_servers {
            let list: Vec<&str> = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            set(
                top,
                "SelfManagedEventSource",
                json!({"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": list}}),
            );
        }
        if let Some(v) = self.starting_position {
            set(top, "StartingPosition", json!(v));
        }
        if let Some(v) = self.starting_position_timestamp {
            set(top, "StartingPositionTimestamp", json!(v));
        }
        if let Some(v) = self.batch_size {
            set(top, "BatchSize", json!(v));
        }
        if let Some(v) = self.maximum_batching_window_in_seconds {
            set(top, "MaximumBatchingWindowInSeconds", json!(v));
        }
        if self.enabled || self.no_enabled {
            set(top, "Enabled", json!(self.enabled));
        }
        if let Some(v) = self.maximum_retry_attempts {
            set(top, "MaximumRetryAttempts", json!(v));
        }
        if let Some(v) = self.maximum_record_age_in_seconds {
            set(top, "MaximumRecordAgeInSeconds", json!(v));
        }
        if self.bisect_batch_on_function_error || self.no_bisect_batch_on_function_error {
            set(
                top,
                "BisectBatchOnFunctionError",
                json!(self.bisect_batch_on_function_error),
            );
        }
        if let Some(v) = self.function_response_types {
            set(top, "FunctionResponseTypes", json!(v));
        }
        for (flag, key, value) in [
            (
                "--self-managed-event-source",
                "SelfManagedEventSource",
                self.self_managed_event_source,
            ),
            (
                "--destination-config",
                "DestinationConfig",
                self.destination_config,
            ),
            ("--filter-criteria", "FilterCriteria", self.filter_criteria),
            (
                "--source-access-configurations",
                "SourceAccessConfigurations",
                self.source_access_configurations,
            ),
            (
                "--self-managed-kafka-event-source-config",
                "SelfManagedKafkaEventSourceConfig",
                self.self_managed_kafka_event_source_config,
            ),
            (
                "--provisioned-poller-config",
                "ProvisionedPollerConfig",
                self.provisioned_poller_config,
            ),
        ] {
            let Some(text) = value else { continue };
            match load_json(&text) {
                Ok(v) => set(top, key, v),
                Err(e) => {
                    // The flag wins even when broken: the file's value is not used.
                    top.remove(key);
                    broken.insert(key);
                    r.error(key, Problem::Invalid(format!("{flag}: {e}")));
                }
            }
        }

        let mut esm = Map::new();
        if let Some(v) = self.uuid {
            esm.insert("Uuid".into(), json!(v));
        }
        if let Some(v) = self.function_command {
            esm.insert("FunctionCommand".into(), json!(v));
        }
        if let Some(v) = self.function_timeout {
            esm.insert("FunctionTimeout".into(), json!(v));
        }
        if let Some(v) = self.function_concurrency {
            esm.insert("FunctionConcurrency".into(), json!(v));
        }
        if let Some(text) = self.function_environment {
            match load_json(&text) {
                Ok(v) => {
                    esm.insert("FunctionEnvironment".into(), v);
                }
                Err(e) => r.error(
                    format!("{ESM_SECTION}.FunctionEnvironment"),
                    Problem::Invalid(format!("--function-environment: {e}")),
                ),
            }
        }
        if let Some(v) = self.invoke_address {
            esm.insert("InvokeAddress".into(), json!(v));
        }
        if let Some(v) = self.lambda_endpoint_url {
            esm.insert("LambdaEndpointUrl".into(), json!(v));
        }
        if let Some(v) = self.region {
            esm.insert("Region".into(), json!(v));
        }
        if let Some(v) = self.metrics_address {
            esm.insert("MetricsAddress".into(), json!(v));
        }
        if let Some(v) = self.scaling_interval {
            esm.insert("ScalingInterval".into(), json!(v));
        }
        if let Some(v) = self.session_timeout {
            esm.insert("SessionTimeout".into(), json!(v));
        }
        if let Some(v) = self.max_buffered_bytes {
            esm.insert("MaxBufferedBytes".into(), json!(v));
        }
        if self.allow_insecure_sasl_over_plaintext {
            esm.insert("AllowInsecureSaslOverPlaintext".into(), json!(true));
        }
        if esm.is_empty() {
            return;
        }
        let section = top
            .entry(ESM_SECTION)
            .or_insert_with(|| Value::Object(Map::new()));
        if section.is_null() {
            *section = Value::Object(Map::new());
        }
        // A section of the wrong type is left for the resolver to report.
        if let Value::Object(m) = section {
            m.extend(esm);
        }
    }
}
