//! [`GroupError`]: why a group operation failed, and what the member should do about it.

use crate::kafka::client::cluster::{ClusterError, KafkaCode};
use crate::kafka::client::conn::ConnError;
use crate::kafka::consumer::fetcher::FetchError;
use crate::kafka::protocol::DecodeError;
use kafka_protocol::messages::ApiKey;

/// Why a group operation failed, and what the member should do about it.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// The group is rebalancing, or this member's generation or id is stale: stop
    /// using the current assignment (finish or abandon in-flight work) and rejoin.
    #[error("group {group}: {api:?} answered {code}; the member must rejoin")]
    Rejoin {
        group: String,
        api: ApiKey,
        code: KafkaCode,
    },
    /// Another member uses this group instance id.
    #[error("group {group}: group instance id {instance} is in use by another member")]
    Fenced { group: String, instance: String },
    /// Any other Kafka error.
    #[error("group {group}: {api:?} answered {code}")]
    Kafka {
        group: String,
        api: ApiKey,
        code: KafkaCode,
    },
    #[error("group {group}: {api:?} answer: {source}")]
    Decode {
        group: String,
        api: ApiKey,
        source: DecodeError,
    },
    /// A DescribeGroups answer without the group asked about.
    #[error("group {group}: the DescribeGroups answer does not describe the group")]
    NotDescribed { group: String },
    #[error("group {group}: the leader's assignor failed: {reason}")]
    Assignor { group: String, reason: String },
    /// No heartbeat was answered within the session timeout: the coordinator may have
    /// evicted this member already (a request cut short at that moment gets this).
    #[error("group {group}: no heartbeat answered within the session timeout")]
    SessionExpired { group: String },
    /// Resolving where newly assigned partitions start (ListOffsets) failed.
    #[error("group {group}: resolving where the assigned partitions start: {source}")]
    StartPosition {
        group: String,
        source: Box<FetchError>,
    },
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

impl From<ConnError> for GroupError {
    fn from(e: ConnError) -> Self {
        GroupError::Cluster(ClusterError::Conn(e))
    }
}

impl GroupError {
    /// Whether the member should rejoin the group.
    pub fn needs_rejoin(&self) -> bool {
        matches!(self, GroupError::Rejoin { .. })
    }

    /// Whether trying again (after finding the coordinator) may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            GroupError::Rejoin { .. } => true,
            GroupError::Kafka { code, .. } => code.is_retriable(),
            GroupError::Cluster(e) => e.is_retriable(),
            GroupError::StartPosition { source, .. } => source.is_retriable(),
            GroupError::SessionExpired { .. } => true,
            _ => false,
        }
    }

    /// The documented reason a mapping stopped by this error reports, where one applies.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            GroupError::Kafka { code, .. } | GroupError::Rejoin { code, .. } => code.reason(),
            GroupError::Cluster(e) => e.reason(),
            GroupError::StartPosition { source, .. } => source.reason(),
            _ => None,
        }
    }
}
