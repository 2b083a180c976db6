//! The producer side of the Kafka client: what a record sent to Kafka needs before it
//! goes on the wire.
//!
//! Today that is the [`partitioner`]: which partition a record lands in, computed exactly
//! as the Java producer does so that keyed records meet the ones Java clients wrote.
//! This module must stay pure: no connections, no batching, no clocks; sending records
//! belongs to the layers that own the connections.

pub mod partitioner;
