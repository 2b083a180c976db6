//! The producer layer: records sent to a topic's partitions.
//!
//! The [`partitioner`] decides which partition a record lands in, exactly as the Java
//! producer does so that keyed records meet the ones Java clients wrote (pure: no I/O, no
//! clock); [`Producer`] batches records per partition (encoded by
//! [`super::protocol::records::encode`]) and sends them to each leader through
//! [`super::client`], retrying idempotently. It must not know about consumer groups or
//! the mapping engine.

pub mod partitioner;
mod send;

pub use send::{Acks, Delivery, ProduceError, Producer, ProducerConfig};
