//! Looking up offsets outside any group ([`list_offsets`]).

use super::plan::Resolve;
use super::{FetchError, FetchPosition, Isolation, request};
use crate::kafka::client::cluster::{Cluster, KafkaCode};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::task::JoinSet;

/// The offset at `position` (earliest, latest or by timestamp; never
/// [`FetchPosition::Offset`]) of each of `topic`'s `partitions`, asking every leader at
/// once. Outside any group: what a lag monitor or an admin tool needs. A partition whose
/// leader is unknown, or whose leader answers with an error, is a [`FetchError`]; the
/// caller decides whether to refresh metadata and ask again.
pub async fn list_offsets(
    cluster: &Arc<Cluster>,
    topic: &str,
    partitions: &[i32],
    position: FetchPosition,
    isolation: Isolation,
) -> Result<BTreeMap<i32, i64>, FetchError> {
    let mut by_leader: BTreeMap<i32, Vec<Resolve>> = BTreeMap::new();
    for &p in partitions {
        let leader = cluster.leader(topic, p)?;
        by_leader.entry(leader.node_id).or_default().push(Resolve {
            key: (topic.to_string(), p),
            spec: position,
            leader_epoch: leader.epoch,
        });
    }
    let mut set = JoinSet::new();
    for (node, parts) in by_leader {
        let cluster = cluster.clone();
        set.spawn(async move { request::list_offsets(&cluster, node, &parts, isolation).await });
    }
    let mut out = BTreeMap::new();
    while let Some(done) = set.join_next().await {
        let Ok(answers) = done else { continue };
        for ((t, p), answer) in answers? {
            match answer {
                Ok(offset) => {
                    out.insert(p, offset);
                }
                Err(code) => {
                    return Err(FetchError::Partition {
                        topic: t,
                        partition: p,
                        error: KafkaCode(code),
                    });
                }
            }
        }
    }
    for &p in partitions {
        if !out.contains_key(&p) {
            return Err(FetchError::Partition {
                topic: topic.to_string(),
                partition: p,
                error: KafkaCode(3), /* UNKNOWN_TOPIC_OR_PARTITION */
            });
        }
    }
    Ok(out)
}
