//! The cluster: bootstrap, metadata, one connection per broker, and leader routing.
//!
//! A [`Cluster`] starts from the bootstrap list (tried in order until one answers),
//! learns brokers and partition leaders from Metadata, and hands out a live
//! [`Connection`] to a broker or to a partition's leader, reconnecting when the old
//! connection died. Callers that get `NOT_LEADER_OR_FOLLOWER`,
//! `UNKNOWN_TOPIC_OR_PARTITION` or a dead connection call [`Cluster::refresh`] and try
//! again; this layer never retries a request itself (retry policy belongs to the layer
//! that knows whether the request is safe to repeat).

use crate::kafka::TopicPartition;
use crate::kafka::client::conn::{ConnError, Connection, ConnectionConfig};
use crate::kafka::protocol::DecodeError;
use crate::kafka::protocol::messages::metadata::{self, Metadata};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Why a cluster operation failed.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    #[error("no bootstrap server given")]
    NoBootstrap,
    #[error("no bootstrap server answered: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    BootstrapFailed(Vec<ConnError>),
    #[error(transparent)]
    Conn(#[from] ConnError),
    #[error("Metadata from {broker}: {source}")]
    Decode { broker: String, source: DecodeError },
    #[error("topic {topic}: {error}")]
    Topic { topic: String, error: KafkaCode },
    #[error("topic {topic} partition {partition}: {error}")]
    Partition {
        topic: String,
        partition: i32,
        error: KafkaCode,
    },
    #[error("topic {topic} partition {partition} is not in the cluster's metadata")]
    UnknownPartition { topic: String, partition: i32 },
    #[error("broker {node_id} is not in the cluster's metadata")]
    UnknownBroker { node_id: i32 },
}

impl ClusterError {
    /// Whether refreshing metadata and trying again may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClusterError::NoBootstrap | ClusterError::Decode { .. } => false,
            ClusterError::BootstrapFailed(errors) => errors.iter().all(ConnError::is_retriable),
            ClusterError::Conn(e) => e.is_retriable(),
            ClusterError::Topic { error, .. } | ClusterError::Partition { error, .. } => {
                error.is_retriable()
            }
            ClusterError::UnknownPartition { .. } | ClusterError::UnknownBroker { .. } => true,
        }
    }

    /// The documented reason a mapping stopped by this error reports, where one applies
    /// (authentication or authorization failures).
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            ClusterError::BootstrapFailed(errors) => errors.iter().find_map(ConnError::reason),
            ClusterError::Conn(e) => e.reason(),
            ClusterError::Topic { error, .. } | ClusterError::Partition { error, .. } => {
                error.reason()
            }
            _ => None,
        }
    }
}

/// A Kafka error code, shown with its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KafkaCode(pub i16);

impl KafkaCode {
    pub fn is_retriable(self) -> bool {
        ResponseError::try_from_code(self.0).is_some_and(|e| e.is_retriable())
    }

    /// `EVENT_SOURCE_AUTHZ_ERROR` for the broker's authorization refusals (topic, group,
    /// cluster or transactional id ACLs missing), as AWS reports them.
    pub fn reason(self) -> Option<&'static str> {
        match ResponseError::try_from_code(self.0) {
            Some(
                ResponseError::TopicAuthorizationFailed
                | ResponseError::GroupAuthorizationFailed
                | ResponseError::ClusterAuthorizationFailed
                | ResponseError::TransactionalIdAuthorizationFailed,
            ) => Some(EVENT_SOURCE_AUTHZ_ERROR),
            Some(ResponseError::SaslAuthenticationFailed) => Some(EVENT_SOURCE_AUTHN_ERROR),
            _ => None,
        }
    }
}

/// The documented reason for credentials the cluster refuses or can't be used.
pub const EVENT_SOURCE_AUTHN_ERROR: &str = "EVENT_SOURCE_AUTHN_ERROR";
/// The documented reason for missing Kafka ACLs.
pub const EVENT_SOURCE_AUTHZ_ERROR: &str = "EVENT_SOURCE_AUTHZ_ERROR";

impl std::fmt::Display for KafkaCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match ResponseError::try_from_code(self.0) {
            Some(ResponseError::Unknown(_)) | None => write!(f, "error code {}", self.0),
            Some(e) => write!(f, "{e:?} ({})", self.0),
        }
    }
}

/// How to reach the cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// `host:port` entries, tried in order.
    pub bootstrap: Vec<String>,
    pub connection: ConnectionConfig,
}

/// A partition's leader, as metadata last said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leader {
    pub node_id: i32,
    pub epoch: i32,
}

#[derive(Default)]
struct State {
    /// node id → `host:port`.
    brokers: HashMap<i32, String>,
    /// (topic, partition) → leader.
    leaders: HashMap<TopicPartition, Leader>,
    /// topic → partition count.
    partitions: HashMap<String, i32>,
    connections: HashMap<i32, Arc<Connection>>,
}

/// A Kafka cluster, shared by the tasks that talk to it.
pub struct Cluster {
    config: ClusterConfig,
    state: Mutex<State>,
    /// The connection metadata comes from (a bootstrap server, then any broker).
    control: tokio::sync::Mutex<Option<Arc<Connection>>>,
}

impl Cluster {
    /// Connects to the first bootstrap server that answers and loads metadata for
    /// `topics`.
    pub async fn connect(
        config: ClusterConfig,
        topics: &[String],
    ) -> Result<Cluster, ClusterError> {
        if config.bootstrap.is_empty() {
            return Err(ClusterError::NoBootstrap);
        }
        let cluster = Cluster {
            config,
            state: Mutex::new(State::default()),
            control: tokio::sync::Mutex::new(None),
        };
        cluster.refresh(topics).await?;
        Ok(cluster)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("cluster state lock")
    }

    /// A live connection for metadata requests: the last one if it still works, else a
    /// known broker, else the bootstrap list.
    async fn control(&self) -> Result<Arc<Connection>, ClusterError> {
        let mut control = self.control.lock().await;
        if let Some(conn) = control.as_ref().filter(|c| !c.is_closed()) {
            return Ok(conn.clone());
        }
        let known: Vec<String> = self.state().brokers.values().cloned().collect();
        let mut errors = Vec::new();
        for addr in known.iter().chain(&self.config.bootstrap) {
            match Connection::connect(addr, self.config.connection.clone()).await {
                Ok(conn) => {
                    let conn = Arc::new(conn);
                    *control = Some(conn.clone());
                    return Ok(conn);
                }
                Err(e) => errors.push(e),
            }
        }
        Err(ClusterError::BootstrapFailed(errors))
    }

    /// Reloads brokers and the leaders of `topics`' partitions. A topic the broker
    /// reports an error for (unknown, not authorized, ...) is an error naming it.
    pub async fn refresh(&self, topics: &[String]) -> Result<(), ClusterError> {
        let conn = self.control().await?;
        let version = conn.pick_version::<MetadataRequest>(metadata::VERSIONS)?;
        let request = MetadataRequest::default()
            .with_allow_auto_topic_creation(false)
            .with_topics(Some(
                topics
                    .iter()
                    .map(|t| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                    })
                    .collect(),
            ));
        let body = conn.request(&request, version).await?;
        let md = metadata::decode(body, version).map_err(|source| ClusterError::Decode {
            broker: conn.broker().to_string(),
            source,
        })?;
        self.apply(md)
    }

    fn apply(&self, md: Metadata) -> Result<(), ClusterError> {
        let mut state = self.state();
        state.brokers = md
            .brokers
            .iter()
            .map(|b| (b.node_id, format!("{}:{}", b.host, b.port)))
            .collect();
        // Connections to brokers that left the cluster or moved are dropped.
        let brokers = state.brokers.clone();
        state
            .connections
            .retain(|id, conn| brokers.get(id).is_some_and(|addr| addr == conn.broker()));
        let mut first_error = None;
        for topic in md.topics {
            let Some(name) = topic.name else { continue };
            if topic.error_code != 0 {
                first_error.get_or_insert(ClusterError::Topic {
                    topic: name.clone(),
                    error: KafkaCode(topic.error_code),
                });
                continue;
            }
            state.leaders.retain(|(t, _), _| *t != name);
            state
                .partitions
                .insert(name.clone(), topic.partitions.len() as i32);
            for p in topic.partitions {
                // A partition without a leader (election under way) is left out: asking
                // for its leader says so, and a later refresh fills it in.
                if p.error_code == 0 && p.leader >= 0 {
                    state.leaders.insert(
                        (name.clone(), p.partition),
                        Leader {
                            node_id: p.leader,
                            epoch: p.leader_epoch,
                        },
                    );
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// How this cluster's connections are configured (for connections opened beside the
    /// shared ones, such as a group member's own coordinator connection).
    pub fn connection_config(&self) -> &ConnectionConfig {
        &self.config.connection
    }

    /// The partition count of `topic`, as last loaded.
    pub fn partition_count(&self, topic: &str) -> Option<i32> {
        self.state().partitions.get(topic).copied()
    }

    /// The leader of `topic`/`partition`, as last loaded.
    pub fn leader(&self, topic: &str, partition: i32) -> Result<Leader, ClusterError> {
        self.state()
            .leaders
            .get(&(topic.to_string(), partition))
            .copied()
            .ok_or_else(|| ClusterError::UnknownPartition {
                topic: topic.to_string(),
                partition,
            })
    }

    /// A live connection to broker `node_id`, opened (or reopened) as needed.
    pub async fn broker(&self, node_id: i32) -> Result<Arc<Connection>, ClusterError> {
        let addr = {
            let state = self.state();
            if let Some(conn) = state.connections.get(&node_id).filter(|c| !c.is_closed()) {
                return Ok(conn.clone());
            }
            state
                .brokers
                .get(&node_id)
                .cloned()
                .ok_or(ClusterError::UnknownBroker { node_id })?
        };
        let conn = Arc::new(Connection::connect(&addr, self.config.connection.clone()).await?);
        let mut state = self.state();
        // Another task may have connected meanwhile: keep one connection per broker.
        let entry = state
            .connections
            .entry(node_id)
            .and_modify(|c| {
                if c.is_closed() {
                    *c = conn.clone();
                }
            })
            .or_insert(conn);
        Ok(entry.clone())
    }

    /// A live connection to the leader of `topic`/`partition`.
    pub async fn leader_connection(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Arc<Connection>, ClusterError> {
        let leader = self.leader(topic, partition)?;
        self.broker(leader.node_id).await
    }

    /// Node ids of the brokers metadata named, sorted.
    pub fn brokers(&self) -> Vec<i32> {
        let mut ids: Vec<i32> = self.state().brokers.keys().copied().collect();
        ids.sort_unstable();
        ids
    }
}

#[cfg(test)]
mod tests;
