//! The offset lag of the mapping's consumer group, measured on the supervisor's own
//! connection: what the scaler decides on and the metrics publish.

use super::{RuntimeError, default_position};
use crate::config::Mapping;
use crate::kafka::TopicPartition;
use crate::kafka::client::cluster::Cluster;
use crate::kafka::consumer::ConsumerError;
use crate::kafka::consumer::coordinator::{GroupConfig, GroupMember};
use crate::kafka::consumer::fetcher::{FetchPosition, Isolation, list_offsets};
use crate::kafka::protocol::messages::describe_groups::DescribedGroup;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// What the supervisor measures the mapping's consumer group with.
pub(super) trait Lag: Send + 'static {
    /// The partition count and each partition's lag.
    fn measure(
        &mut self,
    ) -> impl Future<Output = Result<(u32, BTreeMap<i32, u64>), RuntimeError>> + Send;
    /// The group as its coordinator describes it (its members).
    fn describe(&mut self) -> impl Future<Output = Result<DescribedGroup, RuntimeError>> + Send;
}

impl Lag for LagMonitor {
    fn measure(
        &mut self,
    ) -> impl Future<Output = Result<(u32, BTreeMap<i32, u64>), RuntimeError>> + Send {
        LagMonitor::measure(self)
    }

    async fn describe(&mut self) -> Result<DescribedGroup, RuntimeError> {
        Ok(self.group.describe().await.map_err(ConsumerError::from)?)
    }
}

/// Measures the group's offset lag: per partition, the end of the log minus the
/// committed offset (or, with none committed, minus where the mapping starts).
pub(super) struct LagMonitor {
    cluster: Arc<Cluster>,
    group: GroupMember,
    topic: String,
    start: FetchPosition,
    isolation: Isolation,
}

impl LagMonitor {
    pub(super) fn new(cluster: Arc<Cluster>, mapping: &Mapping) -> LagMonitor {
        let group = GroupMember::new(
            cluster.clone(),
            GroupConfig {
                group_id: mapping.consumer_group_id.clone(),
                group_instance_id: None,
                session_timeout: Duration::from_secs(45),
                rebalance_timeout: Duration::from_secs(300),
                protocols: Vec::new(),
                leader_sync_delay: Duration::ZERO,
            },
        );
        LagMonitor {
            cluster,
            group,
            topic: mapping.topic.clone(),
            start: default_position(mapping),
            isolation: Isolation::ReadCommitted,
        }
    }

    /// The partition count and each partition's lag.
    async fn measure(&mut self) -> Result<(u32, BTreeMap<i32, u64>), RuntimeError> {
        let topics = std::slice::from_ref(&self.topic);
        self.cluster.refresh(topics).await?;
        let count = self
            .cluster
            .partition_count(&self.topic)
            .unwrap_or(0)
            .max(0);
        let partitions: Vec<i32> = (0..count).collect();
        let ends = list_offsets(
            &self.cluster,
            &self.topic,
            &partitions,
            FetchPosition::Latest,
            self.isolation,
        )
        .await
        .map_err(ConsumerError::from)?;
        let asked: Vec<TopicPartition> = partitions
            .iter()
            .map(|p| (self.topic.clone(), *p))
            .collect();
        let committed = self
            .group
            .committed(&asked)
            .await
            .map_err(ConsumerError::from)?;
        let fresh: Vec<i32> = partitions
            .iter()
            .copied()
            .filter(|p| !committed.contains_key(&(self.topic.clone(), *p)))
            .collect();
        let starts = if fresh.is_empty() || self.start == FetchPosition::Latest {
            BTreeMap::new()
        } else {
            list_offsets(
                &self.cluster,
                &self.topic,
                &fresh,
                self.start,
                self.isolation,
            )
            .await
            .map_err(ConsumerError::from)?
        };
        let lag = ends
            .iter()
            .map(|(p, end)| {
                let from = committed
                    .get(&(self.topic.clone(), *p))
                    .or_else(|| starts.get(p))
                    .copied()
                    .unwrap_or(*end);
                (*p, (end - from).max(0) as u64)
            })
            .collect();
        Ok((count as u32, lag))
    }
}
