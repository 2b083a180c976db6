//! The Kafka client: a pure-Rust implementation of the parts of the Kafka protocol the
//! mapping engine needs.
//!
//! This layer owns everything between the broker's bytes and typed values: the wire codec
//! ([`wire`]) today; connections, cluster metadata and the consumer group land next. It
//! must not know about AWS Lambda, the mapping engine or the event format: it hands the
//! layers above offsets, records and errors, nothing more.

pub mod cluster;
pub mod conn;
pub mod consumer;
pub mod coordinator;
pub mod fetcher;
pub mod group;
pub mod messages;
pub mod produce;
pub mod producer;
pub mod sasl;
pub mod tls;
pub mod wire;
