//! [`FetchError`]: why a fetch failed.

use crate::kafka::client::cluster::{ClusterError, KafkaCode};
use crate::kafka::client::conn::ConnError;
use crate::kafka::protocol::DecodeError;

/// Why a fetch failed. Retriable conditions (leader moved, broker restarting) are not
/// errors: the partitions concerned are retried on later calls.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    #[error("{topic} partition {partition}: {error}")]
    Partition {
        topic: String,
        partition: i32,
        error: KafkaCode,
    },
    #[error(
        "{topic} partition {partition}: offset {offset} is out of range and the reset policy is none"
    )]
    OffsetOutOfRange {
        topic: String,
        partition: i32,
        offset: i64,
    },
    #[error("{topic} partition {partition} at offset {offset}: undecodable records: {source}")]
    Corrupt {
        topic: String,
        partition: i32,
        offset: i64,
        source: DecodeError,
    },
    #[error(
        "{topic} partition {partition} at offset {offset}: the broker sends only part of a {} batch even with max_bytes {max_bytes}",
        size.map_or("larger".to_string(), |s| format!("{s}-byte"))
    )]
    BatchTooLarge {
        topic: String,
        partition: i32,
        offset: i64,
        size: Option<usize>,
        max_bytes: i32,
    },
    #[error("Fetch from {broker}: {error}")]
    Broker { broker: String, error: KafkaCode },
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Conn(#[from] ConnError),
}

impl FetchError {
    /// The documented reason a mapping stopped by this error reports, where one applies.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            FetchError::Partition { error, .. } | FetchError::Broker { error, .. } => {
                error.reason()
            }
            FetchError::Cluster(e) => e.reason(),
            FetchError::Conn(e) => e.reason(),
            _ => None,
        }
    }

    /// The partition the error is about, if it is about one.
    pub fn partition(&self) -> Option<(&str, i32)> {
        match self {
            FetchError::Partition {
                topic, partition, ..
            }
            | FetchError::OffsetOutOfRange {
                topic, partition, ..
            }
            | FetchError::Corrupt {
                topic, partition, ..
            }
            | FetchError::BatchTooLarge {
                topic, partition, ..
            } => Some((topic, *partition)),
            _ => None,
        }
    }

    /// Whether a later attempt may succeed: a transient transport or metadata
    /// condition, or a retriable Kafka error code.
    pub fn is_retriable(&self) -> bool {
        match self {
            FetchError::Partition { error, .. } | FetchError::Broker { error, .. } => {
                error.is_retriable()
            }
            _ => self.is_transient(),
        }
    }

    /// A transport or metadata condition worth a metadata refresh and a later retry.
    pub(super) fn is_transient(&self) -> bool {
        match self {
            FetchError::Cluster(e) => e.is_retriable(),
            FetchError::Conn(e) => e.is_retriable(),
            _ => false,
        }
    }
}
