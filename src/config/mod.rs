//! The mapping's configuration: the AWS `CreateEventSourceMapping` shape in, a validated
//! [`Mapping`] out.
//!
//! A JSON document exactly as `aws lambda create-event-source-mapping --cli-input-json`
//! takes it, with the AWS CLI's flags ([`MappingArgs`]) merged over it, is checked against
//! SPEC §1 and AWS's limits. A bad configuration is refused before anything starts, with
//! one message per bad field, all of them ([`ConfigErrors`], reason
//! `ESM_CONFIG_NOT_VALID`). kafka-esm's own settings live in a separate `KafkaEsm` section
//! ([`EsmOptions`]) so the AWS shape stays pure. This layer reads no secret, opens no
//! connection and starts nothing: the engine gets a [`Mapping`] and trusts it.
//!
//! Decisions where AWS is silent or does not apply:
//! - `DestinationConfig.OnSuccess`: an empty one (the CLI skeleton writes
//!   `{"Destination": ""}`) is accepted; a non-empty one is refused, as event source
//!   mappings only send failures.
//! - `Tags`, `KMSKeyArn`, `MetricsConfig`, `LoggingConfig`: type-checked, then accepted
//!   and ignored with a [`ConfigWarning`], so a file shared with AWS loads.
//! - Infinite `MaximumRetryAttempts` with a destination becomes 10, and says so
//!   ([`Mapping::retry_attempts_capped`] and a warning).
//! - The default consumer group is stable across restarts without stored state: the
//!   configured mapping UUID if any (as AWS), else a v5 UUID of function, topic and
//!   bootstrap servers; the mapping's own UUID is random per run when not configured.
//! - TLS is used whenever an access configuration is present (as AWS); SASL over
//!   plaintext only with `KafkaEsm.AllowInsecureSaslOverPlaintext`.
//! - Secrets: a Secrets Manager ARN, or locally `file://PATH` or `env://VAR`.
//! - Flags and `--cli-input-json` take JSON or `file://PATH`, not the AWS CLI's shorthand.

mod access;
mod args;
mod destination;
mod error;
mod esm;
mod group_id;
mod json;
mod keys;
mod mapping;
mod names;
mod resolve;
mod secret_uri;
mod sections;
mod source;
#[cfg(test)]
mod tests;
mod timestamp;

pub use args::MappingArgs;
pub use error::{
    ConfigErrors, ESM_CONFIG_NOT_VALID, FUNCTION_CONFIG_NOT_VALID, FieldError, Problem,
};
pub use esm::MAX_FUNCTION_TIMEOUT_SECONDS;
pub use mapping::{
    Authentication, BootstrapServer, ConfigWarning, ConsumerGroupIdOrigin, EsmOptions,
    FunctionName, Mapping, OnFailureDestination, ProvisionedPollers,
    RETRY_ATTEMPTS_CAP_WITH_DESTINATION, SecretSource, SecurityProtocol, StartingPosition,
};
pub use names::check_topic;
pub use resolve::{DEFAULT_BATCH_SIZE, DEFAULT_BATCHING_WINDOW};
pub use source::{from_cli_input_json, from_document};
