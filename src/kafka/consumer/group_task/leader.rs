//! What the group task hands the coordinator as the group's leader (an assignment per
//! member, from the protocol's assignor and the partition counts the cluster knows), and
//! the partitions an assignment gives this member. No I/O.

use crate::kafka::TopicPartition;
use crate::kafka::client::cluster::Cluster;
use crate::kafka::consumer::assignor::{self, Assignor, Member};
use crate::kafka::consumer::coordinator::MemberSubscription;
use crate::kafka::protocol::messages::consumer_protocol::Assignment;
use std::collections::{BTreeMap, BTreeSet};

/// The leader's assignment: the protocol's assignor over the members' subscriptions and
/// the partition counts the cluster knows for their topics.
pub(super) fn leader_assign(
    cluster: &Cluster,
    protocol: &str,
    members: &[MemberSubscription],
) -> Result<BTreeMap<String, Assignment>, String> {
    let assignor =
        Assignor::from_name(protocol).ok_or_else(|| format!("unknown assignor {protocol:?}"))?;
    let mut counts = BTreeMap::new();
    for m in members {
        for topic in &m.subscription.topics {
            if let Some(n) = cluster.partition_count(topic) {
                counts.insert(topic.clone(), n);
            }
        }
    }
    let members: Vec<Member> = members
        .iter()
        .map(|m| Member {
            member_id: m.member_id.clone(),
            group_instance_id: m.group_instance_id.clone(),
            subscription: m.subscription.clone(),
        })
        .collect();
    let plan = assignor
        .assign(&members, &counts)
        .map_err(|e| e.to_string())?;
    Ok(assignor::to_assignments(plan))
}

pub(super) fn partitions_of(assignment: &Assignment) -> BTreeSet<TopicPartition> {
    assignment
        .assigned_partitions
        .iter()
        .flat_map(|tp| tp.partitions.iter().map(|p| (tp.topic.clone(), *p)))
        .collect()
}
