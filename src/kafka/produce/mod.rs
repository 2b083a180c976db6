//! The producer side of the Kafka client: what a record sent to Kafka needs before it
//! goes on the wire.
//!
//! The [`partitioner`] decides which partition a record lands in, exactly as the Java
//! producer does so that keyed records meet the ones Java clients wrote; [`batch`] encodes
//! records into a record batch.
//! This module must stay pure: no connections, no batching, no clocks; sending records
//! belongs to the layers that own the connections.

pub mod batch;
pub mod partitioner;
