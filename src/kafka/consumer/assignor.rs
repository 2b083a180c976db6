//! The client-side partition assignors of the classic consumer group protocol: given every
//! member's subscription and each topic's partition count, which member consumes which
//! partitions. The leader runs one after JoinGroup and sends the result with SyncGroup.
//!
//! Three, under the names the Java consumer uses so mixed groups agree on one: "range"
//! (`RangeAssignor`), "roundrobin" (`RoundRobinAssignor`), both eager and reproducing
//! Java's output exactly, and "cooperative-sticky" (the idea of `CooperativeStickyAssignor`,
//! not its exact output). This module only computes: it never talks to the coordinator,
//! never looks up metadata itself, keeps no state between rebalances, and never panics
//! on what members sent (topics without a partition count are skipped, owned partitions
//! that no longer exist ignored).

use crate::kafka::protocol::messages::consumer_protocol::{
    ASSIGNMENT_VERSIONS, Assignment, Subscription, TopicPartitions,
};
use bytes::Bytes;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

mod eager;
mod sticky;

pub use eager::{range, round_robin};
pub use sticky::cooperative_sticky;

/// The protocol name of [`range`].
pub const RANGE: &str = "range";
/// The protocol name of [`round_robin`].
pub const ROUND_ROBIN: &str = "roundrobin";
/// The protocol name of [`cooperative_sticky`].
pub const COOPERATIVE_STICKY: &str = "cooperative-sticky";

/// One of the assignors this module implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Assignor {
    Range,
    RoundRobin,
    CooperativeSticky,
}

/// How members give up partitions in a rebalance under an assignor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RebalanceProtocol {
    /// Every member revokes everything it owns before joining.
    Eager,
    /// Members keep what they own across the rebalance and revoke only what the new
    /// assignment takes away; a partition changing hands takes two rebalances.
    Cooperative,
}

impl Assignor {
    pub const ALL: [Assignor; 3] = [
        Assignor::Range,
        Assignor::RoundRobin,
        Assignor::CooperativeSticky,
    ];

    /// The protocol name sent in JoinGroup, as the Java client spells it.
    pub fn name(self) -> &'static str {
        match self {
            Assignor::Range => RANGE,
            Assignor::RoundRobin => ROUND_ROBIN,
            Assignor::CooperativeSticky => COOPERATIVE_STICKY,
        }
    }

    /// The assignor a protocol name (as JoinGroup returns it) stands for.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn rebalance_protocol(self) -> RebalanceProtocol {
        match self {
            Assignor::Range | Assignor::RoundRobin => RebalanceProtocol::Eager,
            Assignor::CooperativeSticky => RebalanceProtocol::Cooperative,
        }
    }

    /// Runs this assignor; see [`range`], [`round_robin`] and [`cooperative_sticky`].
    pub fn assign(
        self,
        members: &[Member],
        partitions_per_topic: &BTreeMap<String, i32>,
    ) -> Result<GroupAssignment, AssignError> {
        match self {
            Assignor::Range => range(members, partitions_per_topic),
            Assignor::RoundRobin => round_robin(members, partitions_per_topic),
            Assignor::CooperativeSticky => cooperative_sticky(members, partitions_per_topic),
        }
    }
}

/// A group member as the leader sees it in the JoinGroup response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub member_id: String,
    /// Set for static members (`group.instance.id`).
    pub group_instance_id: Option<String>,
    /// Its decoded JoinGroup metadata: the topics it subscribes to and, for
    /// cooperative-sticky, the partitions it owns and their generation.
    pub subscription: Subscription,
}

/// Member id → the partitions it is assigned, topics in order without empty entries,
/// partitions ascending. Every member has an entry, possibly empty.
pub type GroupAssignment = BTreeMap<String, Vec<TopicPartitions>>;

/// Why an assignment could not be computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssignError {
    /// The coordinator listed one member id twice.
    #[error("member {member_id} is listed more than once")]
    DuplicateMember { member_id: String },
}

/// The assignments to send in SyncGroup, at the newest assignment version (all versions
/// share one layout; Java's leader writes its newest too), without user data.
pub fn to_assignments(plan: GroupAssignment) -> BTreeMap<String, Assignment> {
    plan.into_iter()
        .map(|(member_id, assigned_partitions)| {
            let assignment = Assignment {
                version: *ASSIGNMENT_VERSIONS.end(),
                assigned_partitions,
                user_data: None,
            };
            (member_id, assignment)
        })
        .collect()
}

/// The subscription user data a cooperative-sticky member sends (Java's
/// `CooperativeStickyAssignor` user data v0: the generation its owned partitions are
/// from, an int32), for leaders that only read subscriptions before v2.
pub fn cooperative_sticky_user_data(generation: i32) -> Bytes {
    Bytes::copy_from_slice(&generation.to_be_bytes())
}

/// The generation a member's owned partitions are from, as Java's
/// `CooperativeStickyAssignor` reads it: the subscription's field (v2+), else the int32
/// in its user data, else -1 (unknown, older than any).
pub fn owned_generation(subscription: &Subscription) -> i32 {
    if subscription.generation_id >= 0 {
        return subscription.generation_id;
    }
    match subscription.user_data.as_deref() {
        Some([a, b, c, d, ..]) => i32::from_be_bytes([*a, *b, *c, *d]),
        _ => -1,
    }
}

/// A partition: (index into [`Group::topics`], partition id).
type Tp = (usize, i32);

/// The members and topics of one assignment, indexed.
struct Group<'a> {
    /// In Java's `MemberInfo` order.
    members: Vec<&'a Member>,
    /// The subscribed topics that have partitions, with their count, in Java `String`
    /// order.
    topics: Vec<(&'a str, i32)>,
    topic_index: HashMap<&'a str, usize>,
    /// Per topic, the members subscribed to it (never empty), in member order.
    subscribers: Vec<Vec<usize>>,
    /// Per member, per topic: subscribed?
    subscribed: Vec<Vec<bool>>,
}

impl<'a> Group<'a> {
    fn new(
        members: &'a [Member],
        partitions_per_topic: &'a BTreeMap<String, i32>,
    ) -> Result<Self, AssignError> {
        let mut seen = HashSet::new();
        for m in members {
            if !seen.insert(m.member_id.as_str()) {
                return Err(AssignError::DuplicateMember {
                    member_id: m.member_id.clone(),
                });
            }
        }
        let mut members: Vec<&Member> = members.iter().collect();
        members.sort_by(|a, b| member_order(a, b));

        let mut topics: Vec<(&str, i32)> = members
            .iter()
            .flat_map(|m| &m.subscription.topics)
            .filter_map(|t| {
                let (name, &count) = partitions_per_topic.get_key_value(t)?;
                (count > 0).then_some((name.as_str(), count))
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        topics.sort_by(|a, b| java_cmp(a.0, b.0));
        let topic_index: HashMap<&str, usize> = topics
            .iter()
            .enumerate()
            .map(|(i, &(t, _))| (t, i))
            .collect();

        let mut subscribed = vec![vec![false; topics.len()]; members.len()];
        let mut subscribers = vec![Vec::new(); topics.len()];
        for (m, member) in members.iter().enumerate() {
            for topic in &member.subscription.topics {
                if let Some(&t) = topic_index.get(topic.as_str())
                    && !subscribed[m][t]
                {
                    subscribed[m][t] = true;
                    subscribers[t].push(m);
                }
            }
        }
        Ok(Group {
            members,
            topics,
            topic_index,
            subscribers,
            subscribed,
        })
    }

    /// Per member (in [`Group::members`] order), its partitions as the result type.
    fn finish(&self, plan: Vec<impl IntoIterator<Item = Tp>>) -> GroupAssignment {
        self.members
            .iter()
            .zip(plan)
            .map(|(member, tps)| {
                let tps: BTreeSet<Tp> = tps.into_iter().collect();
                let mut out: Vec<TopicPartitions> = Vec::new();
                for (t, p) in tps {
                    let topic = self.topics[t].0;
                    match out.last_mut() {
                        Some(last) if last.topic == topic => last.partitions.push(p),
                        _ => out.push(TopicPartitions {
                            topic: topic.to_owned(),
                            partitions: vec![p],
                        }),
                    }
                }
                (member.member_id.clone(), out)
            })
            .collect()
    }
}

/// Java's `MemberInfo` order: static members first, by group instance id, then the
/// others by member id (and, unlike Java, by member id between equal instance ids, so
/// the order never depends on the input's).
fn member_order(a: &Member, b: &Member) -> Ordering {
    let by_instance = match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => java_cmp(x, y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    by_instance.then_with(|| java_cmp(&a.member_id, &b.member_id))
}

/// Java's `String.compareTo`: by UTF-16 code unit, which differs from Rust's (code
/// point) order only between U+E000..=U+FFFF and characters beyond U+FFFF.
fn java_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

#[cfg(test)]
mod tests;
