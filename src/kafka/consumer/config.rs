//! [`ConsumerConfig`]: how a [`Consumer`](super::Consumer) joins its group and fetches.

use crate::kafka::consumer::assignor::Assignor;
use crate::kafka::consumer::fetcher::{FetchConfig, FetchPosition};
use std::time::Duration;

// Only named in the docs below.
#[cfg(doc)]
use crate::kafka::consumer::{Consumer, coordinator::GroupConfig};

/// How a [`Consumer`] joins its group and fetches.
#[derive(Clone, Debug)]
pub struct ConsumerConfig {
    pub group_id: String,
    /// Static membership (KIP-345) when set.
    pub group_instance_id: Option<String>,
    pub topics: Vec<String>,
    /// Assignors offered, in order of preference; the group picks one all members offer.
    pub assignors: Vec<Assignor>,
    pub session_timeout: Duration,
    /// How long the coordinator waits for members to rejoin: the time the caller has to
    /// finish its work on revoked partitions.
    pub rebalance_timeout: Duration,
    pub heartbeat_interval: Duration,
    /// Where a partition with no committed offset starts.
    pub default_position: FetchPosition,
    pub fetch: FetchConfig,
    /// [`GroupConfig::leader_sync_delay`]: zero but for librdkafka's mock coordinator.
    pub leader_sync_delay: Duration,
    /// Commit the resolved start of a newly assigned partition that has no committed
    /// offset, when `default_position` is `Latest` or `Timestamp` (which would resolve
    /// elsewhere later).
    pub commit_start_positions: bool,
    /// Acknowledge a revocation only once [`Consumer::release`] was called for each of its
    /// partitions (the caller may go on polling the others meanwhile), instead of at the
    /// next [`Consumer::poll`].
    pub hold_revocations: bool,
}

impl ConsumerConfig {
    /// Kafka's defaults (range then cooperative-sticky is Java's; we prefer
    /// cooperative-sticky, which moves fewer partitions), for `group_id` and `topics`.
    pub fn new(group_id: impl Into<String>, topics: Vec<String>) -> ConsumerConfig {
        ConsumerConfig {
            group_id: group_id.into(),
            group_instance_id: None,
            topics,
            assignors: vec![Assignor::CooperativeSticky, Assignor::Range],
            session_timeout: Duration::from_secs(45),
            rebalance_timeout: Duration::from_secs(300),
            heartbeat_interval: Duration::from_secs(3),
            default_position: FetchPosition::Latest,
            fetch: FetchConfig::default(),
            leader_sync_delay: Duration::ZERO,
            commit_start_positions: false,
            hold_revocations: false,
        }
    }
}
