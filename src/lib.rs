//! kafka-esm: a self-hosted AWS Lambda event source mapping for self-managed Apache Kafka.
//!
//! It consumes Kafka topics as a consumer group, batches records, invokes a function with
//! the JSON event AWS Lambda sends (`eventSource: SelfManagedKafka`), commits offsets only
//! after the function succeeded, and routes what it cannot process to an on-failure
//! destination. The behaviour reproduced is written down in the project's SPEC.
//!
//! Layers, each talking only to the one below it: wire codec → connection → cluster and
//! group → mapping engine → invokers and destinations → CLI. Here: the AWS plumbing
//! ([`aws`]), the Kafka client ([`kafka`]), the mapping configuration ([`config`]), the
//! Lambda event encoder ([`lambda`]), event filtering ([`filter`]), the sans-I/O mapping
//! engine ([`engine`]), the invokers ([`invoke`]), the on-failure destinations
//! ([`destination`]), the runtime that drives them all ([`runtime`]) with its consumer
//! scaling policy ([`scaling`]) and metrics ([`metrics`]), and the mTLS certificates and
//! private keys ([`security`]).

// No unsafe code, but for one block allowed where it stands, with the proof of its
// soundness and its tests: the pre-exec hook that makes local handlers die with
// kafka-esm (src/invoke/local/spawn.rs).
#![deny(unsafe_code)]

pub mod access;
pub mod aws;
pub mod config;
pub mod destination;
pub mod engine;
pub mod filter;
mod http;
pub mod invoke;
pub mod kafka;
pub mod lambda;
pub mod metrics;
pub mod runtime;
pub mod scaling;
pub mod security;
pub mod serve;
