//! The eager assignors, reproducing the Java consumer's output exactly: [`range`] and
//! [`round_robin`].

use super::{AssignError, Group, GroupAssignment, Member};
use std::collections::BTreeMap;

/// Java's `RangeAssignor`: per topic, the subscribed members in order (static members
/// first by group instance id, then the others by member id) each get a contiguous range
/// of partitions; with `n` partitions over `m` members the first `n % m` get one extra.
pub fn range(
    members: &[Member],
    partitions_per_topic: &BTreeMap<String, i32>,
) -> Result<GroupAssignment, AssignError> {
    let group = Group::new(members, partitions_per_topic)?;
    let mut plan = vec![Vec::new(); group.members.len()];
    for (t, &(_, count)) in group.topics.iter().enumerate() {
        let partitions: Vec<i32> = (0..count).collect();
        let consumers = &group.subscribers[t];
        let per_consumer = partitions.len() / consumers.len();
        let with_extra = partitions.len() % consumers.len();
        for (i, &m) in consumers.iter().enumerate() {
            let start = per_consumer * i + i.min(with_extra);
            let len = per_consumer + usize::from(i < with_extra);
            plan[m].extend(partitions[start..start + len].iter().map(|&p| (t, p)));
        }
    }
    Ok(group.finish(plan))
}

/// Java's `RoundRobinAssignor`: every partition of every subscribed topic, sorted by
/// topic then partition, dealt in turn over all members in order, skipping members not
/// subscribed to the partition's topic.
pub fn round_robin(
    members: &[Member],
    partitions_per_topic: &BTreeMap<String, i32>,
) -> Result<GroupAssignment, AssignError> {
    let group = Group::new(members, partitions_per_topic)?;
    let n = group.members.len();
    let mut plan = vec![Vec::new(); n];
    let mut next = 0;
    for (t, &(_, count)) in group.topics.iter().enumerate() {
        for p in 0..count {
            // Ends: the topic is in the list because some member subscribes to it.
            while !group.subscribed[next][t] {
                next = (next + 1) % n;
            }
            plan[next].push((t, p));
            next = (next + 1) % n;
        }
    }
    Ok(group.finish(plan))
}
