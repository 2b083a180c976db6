//! What a [`super::Fetcher`] asks of a leader, as data: the partitions planned into one
//! Fetch request, the KIP-227 fetch session they go in (what the broker holds, so an
//! incremental request lists only the changes), the positions to resolve with
//! ListOffsets, and the `kafka-protocol` requests (or the Fetch v1–v3 body, through
//! [`fetch::encode_legacy_request`]) that carry them.
//!
//! Pure: no connection, no task, no clock. Sending them is `request.rs`'s job; deciding
//! what to plan is the state machine's. Topics are named, not identified by id, so Fetch
//! stops at v12.

use super::{FetchPosition, Isolation};
use crate::kafka::TopicPartition;
use crate::kafka::protocol::messages::fetch;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::collections::HashMap;
use std::time::Duration;

/// Fetch versions we send: kafka-protocol encodes v4 and up; v13 and up name topics by id.
pub(super) const FETCH_VERSIONS: std::ops::RangeInclusive<i16> = 4..=12;
/// Fetch versions of brokers older than 0.11 (0.10.1 and 0.10.2 have v3), which we
/// encode ourselves.
pub(super) const LEGACY_FETCH_VERSIONS: std::ops::RangeInclusive<i16> = 1..=3;
/// Fetch sessions exist from v7 on.
pub(super) const SESSION_VERSION: i16 = 7;

/// One partition of a leader's Fetch request.
#[derive(Clone, Debug)]
pub(super) struct Planned {
    pub key: TopicPartition,
    pub offset: i64,
    pub limit: i32,
    /// Its limit was raised to fetch a truncated batch.
    pub grown: bool,
    pub leader_epoch: i32,
}

/// A fetch session with one broker: what the broker holds for each partition.
#[derive(Clone, Debug)]
pub(super) struct Session {
    pub id: i32,
    /// The epoch of the next request.
    epoch: i32,
    /// Per partition: (fetch offset, partition limit, leader epoch) as last sent.
    sent: HashMap<TopicPartition, (i64, i32, i32)>,
}

impl Session {
    /// A session the broker just created (after a full request, epoch 0).
    pub fn new(id: i32) -> Session {
        Session {
            id,
            epoch: 0,
            sent: HashMap::new(),
        }
    }

    /// The session after a request for `plan` succeeded.
    pub fn after(mut self, plan: &[Planned]) -> Session {
        // Epochs run 1..=i32::MAX, then wrap to 1 (0 asks for a new session).
        self.epoch = self.epoch.checked_add(1).unwrap_or(1);
        self.sent = plan
            .iter()
            .map(|p| (p.key.clone(), (p.offset, p.limit, p.leader_epoch)))
            .collect();
        self
    }
}

/// What kind of Fetch request went out.
#[derive(Debug)]
pub(super) enum Sent {
    /// No session (sessions off, or a broker older than v7).
    Sessionless,
    /// Every partition, asking for a new session.
    Full,
    /// The changes since the session's last request.
    Incremental(Session),
}

/// One leader's Fetch request, ready to run.
pub(super) struct LeaderFetch {
    pub node: i32,
    pub plan: Vec<Planned>,
    pub session: Option<Session>,
    pub sessions: bool,
    pub max_wait: Duration,
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub isolation: Isolation,
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// Groups partitions by topic, topics in order of first appearance.
fn by_topic<'a, T>(items: impl IntoIterator<Item = (&'a str, T)>) -> Vec<(&'a str, Vec<T>)> {
    let mut out: Vec<(&str, Vec<T>)> = Vec::new();
    for (topic, item) in items {
        match out.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, v)) => v.push(item),
            None => out.push((topic, vec![item])),
        }
    }
    out
}

impl LeaderFetch {
    /// A Fetch v1–v3 body, encoded by [`fetch::encode_legacy_request`].
    pub(super) fn encode_legacy(&self, version: i16, buf: &mut bytes::BytesMut) {
        let max_wait_ms = self.max_wait.as_millis().min(i32::MAX as u128) as i32;
        let topics = by_topic(self.plan.iter().map(|p| {
            let partition = fetch::LegacyFetchPartition {
                partition: p.key.1,
                fetch_offset: p.offset,
                partition_max_bytes: p.limit,
            };
            (p.key.0.as_str(), partition)
        }));
        fetch::encode_legacy_request(
            buf,
            version,
            max_wait_ms,
            self.min_bytes,
            self.max_bytes,
            &topics,
        );
    }

    pub(super) fn request(&self, sent: &Sent, version: i16) -> FetchRequest {
        let partition = |p: &Planned| {
            FetchPartition::default()
                .with_partition(p.key.1)
                .with_fetch_offset(p.offset)
                .with_partition_max_bytes(p.limit)
                .with_current_leader_epoch(if version >= 9 { p.leader_epoch } else { -1 })
        };
        let (session_id, epoch, listed, forgotten): (i32, i32, Vec<&Planned>, Vec<(&str, i32)>) =
            match sent {
                Sent::Sessionless => (0, -1, self.plan.iter().collect(), vec![]),
                Sent::Full => (0, 0, self.plan.iter().collect(), vec![]),
                Sent::Incremental(s) => {
                    let changed = self
                        .plan
                        .iter()
                        .filter(|p| {
                            s.sent.get(&p.key) != Some(&(p.offset, p.limit, p.leader_epoch))
                        })
                        .collect();
                    let mut gone: Vec<(&str, i32)> = s
                        .sent
                        .keys()
                        .filter(|k| !self.plan.iter().any(|p| &p.key == *k))
                        .map(|(t, p)| (t.as_str(), *p))
                        .collect();
                    gone.sort_unstable();
                    (s.id, s.epoch, changed, gone)
                }
            };
        FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(self.max_wait.as_millis().min(i32::MAX as u128) as i32)
            .with_min_bytes(self.min_bytes)
            .with_max_bytes(self.max_bytes)
            .with_isolation_level(self.isolation.level())
            .with_session_id(session_id)
            .with_session_epoch(epoch)
            .with_topics(
                by_topic(listed.into_iter().map(|p| (p.key.0.as_str(), partition(p))))
                    .into_iter()
                    .map(|(t, partitions)| {
                        FetchTopic::default()
                            .with_topic(topic_name(t))
                            .with_partitions(partitions)
                    })
                    .collect(),
            )
            .with_forgotten_topics_data(
                by_topic(forgotten)
                    .into_iter()
                    .map(|(t, partitions)| {
                        ForgottenTopic::default()
                            .with_topic(topic_name(t))
                            .with_partitions(partitions)
                    })
                    .collect(),
            )
    }
}

/// One partition whose symbolic position needs resolving.
#[derive(Clone, Debug)]
pub(super) struct Resolve {
    pub key: TopicPartition,
    pub spec: FetchPosition,
    pub leader_epoch: i32,
}

impl FetchPosition {
    /// The timestamp ListOffsets asks for this position: -2 for the earliest offset, -1
    /// for the latest.
    pub(super) fn list_offsets_timestamp(self) -> i64 {
        match self {
            FetchPosition::Earliest => -2,
            FetchPosition::Latest => -1,
            FetchPosition::Timestamp(ts) => ts,
            // Never asked for: offsets need no resolving.
            FetchPosition::Offset(o) => o,
        }
    }
}

/// A ListOffsets request at `version` for each resolution with the timestamp to ask.
pub(super) fn list_offsets_request(
    version: i16,
    isolation: Isolation,
    items: Vec<(&Resolve, i64)>,
) -> ListOffsetsRequest {
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(if version >= 2 { isolation.level() } else { 0 })
        .with_timeout_ms(30_000)
        .with_topics(
            by_topic(items.into_iter().map(|(r, timestamp)| {
                (
                    r.key.0.as_str(),
                    ListOffsetsPartition::default()
                        .with_partition_index(r.key.1)
                        .with_current_leader_epoch(if version >= 4 { r.leader_epoch } else { -1 })
                        .with_timestamp(timestamp),
                )
            }))
            .into_iter()
            .map(|(t, partitions)| {
                ListOffsetsTopic::default()
                    .with_name(topic_name(t))
                    .with_partitions(partitions)
            })
            .collect(),
        )
}

#[cfg(test)]
mod tests;
