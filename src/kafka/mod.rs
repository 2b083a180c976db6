//! The Kafka client: a pure-Rust implementation of the parts of the Kafka protocol the
//! mapping engine needs. It must not know about AWS Lambda, the mapping engine or the
//! event format: it hands the layers above offsets, records and errors, nothing more.
//!
//! Four layers, each a folder; a layer imports only the layers listed before it:
//! - [`protocol`]: sans-I/O. The primitive reader and decode errors, the record-batch
//!   codec (decode, encode, compression, legacy message sets) and every request encoder
//!   and response decoder we own. No I/O, no clock, no state between calls.
//! - [`client`]: I/O. A connection to one broker (TLS, SASL, version negotiation) and the
//!   cluster's metadata and leaders. No group, fetch or produce decisions.
//! - [`consumer`]: the group consumer. Assignors (pure), the coordinator RPCs of a group
//!   member, the fetcher, and the [`Consumer`] that ties them together.
//! - [`producer`]: the partitioner and the produce loop ([`Producer`]).
//!
//! Outside `src/kafka`, prefer the names re-exported here.

pub mod client;
pub mod consumer;
pub mod producer;
pub mod protocol;

/// A topic and one of its partitions: the one name for this pair, in every layer.
pub type TopicPartition = (String, i32);

pub use client::cluster::{Cluster, ClusterConfig, ClusterError};
pub use client::conn::{ConnError, Connection, ConnectionConfig};
pub use consumer::{Consumer, ConsumerConfig, ConsumerError, ConsumerEvent};
pub use producer::{ProduceError, Producer, ProducerConfig};
pub use protocol::DecodeError;
pub use protocol::records::{Record, RecordBatches};
