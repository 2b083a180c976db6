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
    Authentication, BootstrapServer, ConfigWarning, ConsumerGroupIdOrigin, EsmOptions, Filter,
    FunctionName, Mapping, OnFailureDestination, ProvisionedPollers,
    RETRY_ATTEMPTS_CAP_WITH_DESTINATION, SecretSource, SecurityProtocol, StartingPosition,
};
pub use resolve::{DEFAULT_BATCH_SIZE, DEFAULT_BATCHING_WINDOW};
pub use source::from_cli_input_json;
