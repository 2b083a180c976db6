//! The resolved mapping: the typed, validated configuration the engine reads.
//!
//! Nothing here is parsed or checked: values of these types only come out of the
//! resolver, which has already refused every configuration that breaks a rule,
//! so the engine never re-validates. Names follow the AWS parameters (`BatchSize` is
//! `batch_size`); `-1` ("infinite") becomes `None`; seconds become [`Duration`]s.

use crate::filter::FilterSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use uuid::Uuid;

/// One event source mapping: a topic, a function and how records go from one to the other.
///
/// Read it by field; make it only with the resolver ([`crate::config::from_cli_input_json`],
/// [`crate::config::MappingArgs::resolve`]): outside this crate it cannot be built by hand
/// (`#[non_exhaustive]`), so a `Mapping` is always a validated one.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Mapping {
    /// Identifies this mapping in state, logs and metrics: `KafkaEsm.Uuid` (`--uuid`) when
    /// given, else a random v4 UUID per start, as AWS generates one per mapping.
    pub uuid: Uuid,
    /// `FunctionName`.
    pub function: FunctionName,
    /// `Topics`: exactly one topic.
    pub topic: String,
    /// `SelfManagedEventSource.Endpoints.KAFKA_BOOTSTRAP_SERVERS`, in the order given.
    pub bootstrap_servers: Vec<BootstrapServer>,
    /// `StartingPosition` with its `StartingPositionTimestamp`.
    pub starting_position: StartingPosition,
    /// `BatchSize`: 1..=10000, default 100.
    pub batch_size: u32,
    /// `MaximumBatchingWindowInSeconds`: 0..=300 s, default 500 ms.
    pub maximum_batching_window: Duration,
    /// `Enabled`: a disabled mapping polls nothing and keeps its offsets.
    pub enabled: bool,
    /// `SelfManagedKafkaEventSourceConfig.ConsumerGroupId`, or its default.
    pub consumer_group_id: String,
    /// Where [`Mapping::consumer_group_id`] came from.
    pub consumer_group_id_origin: ConsumerGroupIdOrigin,
    /// The SASL or mTLS part of `SourceAccessConfigurations` (at most one).
    pub authentication: Option<Authentication>,
    /// `SERVER_ROOT_CA_CERTIFICATE`: the private CA that signs the brokers' certificates;
    /// `None` means the platform's public roots.
    pub server_root_ca: Option<SecretSource>,
    /// How to talk to the brokers, derived from the access configurations (TLS whenever
    /// any TLS or SASL setting is present, as AWS does) and
    /// `KafkaEsm.AllowInsecureSaslOverPlaintext`.
    pub security_protocol: SecurityProtocol,
    /// `DestinationConfig.OnFailure.Destination`; `None` when absent or `""`.
    pub on_failure: Option<OnFailureDestination>,
    /// `FilterCriteria.Filters`: up to 5, compiled once by the resolver; empty means
    /// every record is delivered.
    pub filters: FilterSet,
    /// `ProvisionedPollerConfig`, with its defaults filled in.
    pub provisioned_pollers: Option<ProvisionedPollers>,
    /// `MaximumRetryAttempts`: `None` is infinite (-1).
    pub maximum_retry_attempts: Option<u32>,
    /// True when `MaximumRetryAttempts` was infinite and an on-failure destination capped
    /// it to [`RETRY_ATTEMPTS_CAP_WITH_DESTINATION`].
    pub retry_attempts_capped: bool,
    /// `MaximumRecordAgeInSeconds`: `None` is infinite (-1).
    pub maximum_record_age: Option<Duration>,
    /// `BisectBatchOnFunctionError`.
    pub bisect_batch_on_function_error: bool,
    /// `FunctionResponseTypes` holds `ReportBatchItemFailures`.
    pub report_batch_item_failures: bool,
    /// kafka-esm's own settings (the `KafkaEsm` section and its flags).
    pub esm: EsmOptions,
    /// What was accepted but has no effect, or was changed; to be logged at start.
    pub warnings: Vec<ConfigWarning>,
}

/// Infinite retries with an on-failure destination are capped at this many attempts.
pub const RETRY_ATTEMPTS_CAP_WITH_DESTINATION: u32 = 10;

/// A validated `FunctionName`: a name, a partial ARN or a full ARN, maybe qualified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionName {
    /// Exactly as configured; what Invoke is given.
    pub raw: String,
    /// The function's name alone (`my-function`).
    pub name: String,
    /// The version or alias (`$LATEST`, `3`, `live`), if the reference carries one.
    pub qualifier: Option<String>,
    /// The region of a full ARN.
    pub region: Option<String>,
    /// The account of a full or partial ARN.
    pub account: Option<String>,
}

/// One `host:port` of the bootstrap list. IPv6 hosts are kept without their brackets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BootstrapServer {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for BootstrapServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Where a partition without a committed offset starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    /// `LATEST`: the end of each partition.
    Latest,
    /// `TRIM_HORIZON`: the earliest available offset.
    TrimHorizon,
    /// `AT_TIMESTAMP`: the first offset whose timestamp is at or after this time, in
    /// milliseconds since the Unix epoch (never negative).
    AtTimestamp { epoch_millis: i64 },
}

/// Where the consumer group id came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerGroupIdOrigin {
    /// `SelfManagedKafkaEventSourceConfig.ConsumerGroupId`.
    Configured,
    /// The configured mapping UUID (`KafkaEsm.Uuid`), as AWS defaults it: a mapping
    /// moved from AWS with its UUID rejoins the group AWS used.
    MappingUuid,
    /// A name-based (v5) UUID of the function name, the topic and the bootstrap servers:
    /// the same on every restart and on every instance of the same mapping.
    Derived,
}

/// The SASL or mTLS credentials of the mapping, with where the secret lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    /// `BASIC_AUTH`: SASL/PLAIN with `{"username","password"}`.
    SaslPlain(SecretSource),
    /// `SASL_SCRAM_256_AUTH`: SCRAM-SHA-256 with `{"username","password"}`.
    SaslScram256(SecretSource),
    /// `SASL_SCRAM_512_AUTH`: SCRAM-SHA-512 with `{"username","password"}`.
    SaslScram512(SecretSource),
    /// `CLIENT_CERTIFICATE_TLS_AUTH`: mutual TLS with
    /// `{"certificate","privateKey","privateKeyPassword"}`.
    ClientCertificateTls(SecretSource),
}

impl Authentication {
    /// The secret holding the credentials.
    pub fn secret(&self) -> &SecretSource {
        match self {
            Authentication::SaslPlain(s)
            | Authentication::SaslScram256(s)
            | Authentication::SaslScram512(s)
            | Authentication::ClientCertificateTls(s) => s,
        }
    }

    /// True for the SASL mechanisms (not mTLS).
    pub fn is_sasl(&self) -> bool {
        !matches!(self, Authentication::ClientCertificateTls(_))
    }
}

/// Where a secret's JSON (in the AWS formats) is read from: a `SourceAccessConfigurations`
/// URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME`.
    SecretsManager { arn: String, region: String },
    /// `file://PATH` (kafka-esm only): a local file holding the secret's JSON.
    File(PathBuf),
    /// `env://VAR` (kafka-esm only): an environment variable holding the secret's JSON.
    Env(String),
}

/// The Kafka security protocol the connections use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// No access configuration: plain TCP, no authentication.
    Plaintext,
    /// TLS, no SASL (server root CA only, or mTLS).
    Ssl,
    /// SASL over TLS: what AWS always uses for SASL.
    SaslSsl,
    /// SASL over plain TCP: only with `KafkaEsm.AllowInsecureSaslOverPlaintext`, for local
    /// development; credentials cross the network in the clear (PLAIN) or unprotected.
    SaslPlaintext,
}

/// Where records that cannot be processed go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnFailureDestination {
    /// An SQS queue (metadata only).
    Sqs {
        arn: String,
        region: String,
        account: String,
        queue_name: String,
    },
    /// An SNS topic (metadata only).
    Sns {
        arn: String,
        region: String,
        account: String,
        topic_name: String,
    },
    /// An S3 bucket (metadata plus the whole event).
    S3 { arn: String, bucket: String },
    /// `kafka://TOPIC`: a topic on the same cluster, one message per failed record.
    Kafka { topic: String },
}

impl OnFailureDestination {
    /// The destination as configured (`arn:...` or `kafka://topic`).
    pub fn to_uri(&self) -> String {
        match self {
            OnFailureDestination::Sqs { arn, .. }
            | OnFailureDestination::Sns { arn, .. }
            | OnFailureDestination::S3 { arn, .. } => arn.clone(),
            OnFailureDestination::Kafka { topic } => format!("kafka://{topic}"),
        }
    }
}

/// `ProvisionedPollerConfig` with defaults: `minimum..=maximum` consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvisionedPollers {
    pub minimum: u32,
    pub maximum: u32,
}

/// kafka-esm's own settings: the `KafkaEsm` section of the file and its flags. None of
/// them is an AWS parameter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EsmOptions {
    /// `FunctionCommand` (`--function-command`): run the function on this host, a command
    /// line run with `sh -c`, served the Lambda Runtime API; `None` invokes AWS Lambda.
    pub function_command: Option<String>,
    /// `FunctionTimeout` (`--function-timeout`, seconds, 1..=840): how long one
    /// invocation may run. `None`: the function's own configuration on AWS Lambda, Lambda's
    /// default (3 s) for a local function.
    pub function_timeout: Option<Duration>,
    /// `FunctionConcurrency` (`--function-concurrency`, 1..=1000): how many processes a
    /// local function may run at once (one per partition in flight); `None`: 10.
    pub function_concurrency: Option<u32>,
    /// `FunctionEnvironment` (`--function-environment`, a JSON object of strings): the
    /// local function's own variables, as Lambda's `Environment.Variables`. The handler
    /// is started with these, the variables Lambda sets and `PATH`, and nothing else of
    /// kafka-esm's environment.
    pub function_environment: Option<std::collections::BTreeMap<String, String>>,
    /// `InvokeAddress` (`--invoke-address`, a loopback IP:PORT): also serve the Lambda
    /// Invoke API there for the local function; not served when `None`.
    pub invoke_address: Option<SocketAddr>,
    /// `LambdaEndpointUrl` (`--lambda-endpoint-url`): replaces the Lambda endpoint (a
    /// Lambda-compatible service). Not with a local function.
    pub lambda_endpoint_url: Option<String>,
    /// `Region` (`--region`): the AWS region of every AWS client (Lambda, Secrets Manager,
    /// SQS, SNS, S3); the SDK's default chain when `None`.
    pub region: Option<String>,
    /// `MetricsAddress` (`--metrics-address`): where metrics are served; none when `None`.
    pub metrics_address: Option<SocketAddr>,
    /// `ScalingInterval` (`--scaling-interval`, seconds, 1..=3600): how often the offset
    /// lag is measured and the consumer count reconsidered; 10 s when `None`.
    pub scaling_interval: Option<Duration>,
    /// `SessionTimeout` (`--session-timeout`, seconds, 6..=1800): how long the group
    /// waits for a consumer that stopped heartbeating (a killed process) before its
    /// partitions move; 45 s (Kafka's default) when `None`.
    pub session_timeout: Option<Duration>,
    /// `MaxBufferedBytes` (`--max-buffered-bytes`, 0..=2^40): the encoded bytes of
    /// fetched records a consumer holds, across its partitions, before it pauses
    /// fetching partitions that hold a full batch; every partition may always hold one
    /// full batch. 48 MiB when `None`.
    pub max_buffered_bytes: Option<usize>,
    /// `AllowInsecureSaslOverPlaintext` (`--allow-insecure-sasl-over-plaintext`): SASL
    /// without TLS, for local development only. AWS never does this.
    pub allow_insecure_sasl_over_plaintext: bool,
}

/// Something accepted that has no effect or was changed, to be logged when the mapping
/// starts. Never a reason to refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigWarning {
    /// Infinite retries with an on-failure destination were capped.
    #[error(
        "MaximumRetryAttempts: infinite (-1) with an on-failure destination is capped at {cap} attempts"
    )]
    RetryAttemptsCapped { cap: u32 },
    /// An AWS setting that means something only inside AWS.
    #[error("{field}: accepted and ignored ({why})")]
    Ignored { field: String, why: &'static str },
}
