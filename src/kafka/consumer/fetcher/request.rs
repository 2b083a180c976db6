//! The requests a [`super::Fetcher`] sends: one Fetch per leader (full, or incremental in
//! a KIP-227 session) and ListOffsets to resolve symbolic positions.
//!
//! Each runs as its own task on a shared [`Cluster`] and hands back what it sent and what
//! came back; it keeps no state and applies nothing. Topics are named, not identified by
//! id, so Fetch stops at v12.

use super::{FetchError, FetchPosition, Isolation};
use crate::kafka::TopicPartition;
use crate::kafka::client::cluster::Cluster;
use crate::kafka::client::conn::ConnError;
use crate::kafka::protocol::messages::fetch::{self, FetchResponse};
use crate::kafka::protocol::messages::list_offsets;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Fetch versions we send: kafka-protocol encodes v4 and up; v13 and up name topics by id.
const FETCH_VERSIONS: std::ops::RangeInclusive<i16> = 4..=12;
/// Fetch versions of brokers older than 0.11 (0.10.1 and 0.10.2 have v3), which we
/// encode ourselves.
const LEGACY_FETCH_VERSIONS: std::ops::RangeInclusive<i16> = 1..=3;
/// Fetch sessions exist from v7 on.
const SESSION_VERSION: i16 = 7;

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

/// What one leader's Fetch request came to.
pub(super) struct LeaderOutcome {
    pub node: i32,
    /// The broker's address, or its node id when no connection was made.
    pub broker: String,
    /// Every partition the broker fetches for us (in a session: unchanged ones too).
    pub plan: Vec<Planned>,
    pub sent: Sent,
    pub result: Result<FetchResponse, FetchError>,
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
    pub async fn run(self, cluster: Arc<Cluster>) -> LeaderOutcome {
        let mut broker = format!("node {}", self.node);
        let mut sent = Sent::Sessionless;
        let result = self.send(&cluster, &mut broker, &mut sent).await;
        LeaderOutcome {
            node: self.node,
            broker,
            plan: self.plan,
            sent,
            result,
        }
    }

    async fn send(
        &self,
        cluster: &Cluster,
        broker: &mut String,
        sent: &mut Sent,
    ) -> Result<FetchResponse, FetchError> {
        let conn = cluster.broker(self.node).await?;
        *broker = conn.broker().to_string();
        let version = match conn.pick_version::<FetchRequest>(FETCH_VERSIONS) {
            Ok(v) => v,
            Err(e) => {
                let (lo, hi) = LEGACY_FETCH_VERSIONS.into_inner();
                let Some(v) = conn.versions().pick(ApiKey::Fetch as i16, lo, hi) else {
                    return Err(e.into());
                };
                *sent = Sent::Sessionless;
                // Request header v1 and response header v0, as for every pre-flexible API.
                let body = conn
                    .request_with(ApiKey::Fetch, v, 1, 0, |buf| {
                        self.encode_legacy(v, buf);
                        Ok(())
                    })
                    .await?;
                return fetch::decode(body, v).map_err(|source| {
                    FetchError::Conn(ConnError::Decode {
                        broker: conn.broker().into(),
                        api: ApiKey::Fetch,
                        version: v,
                        source,
                    })
                });
            }
        };
        *sent = if !self.sessions || version < SESSION_VERSION {
            Sent::Sessionless
        } else {
            match &self.session {
                Some(s) => Sent::Incremental(s.clone()),
                None => Sent::Full,
            }
        };
        let request = self.request(sent, version);
        let body = conn.request(&request, version).await?;
        fetch::decode(body, version).map_err(|source| {
            FetchError::Conn(ConnError::Decode {
                broker: conn.broker().into(),
                api: ApiKey::Fetch,
                version,
                source,
            })
        })
    }

    /// A Fetch v1–v3 body, encoded by [`fetch::encode_legacy_request`].
    fn encode_legacy(&self, version: i16, buf: &mut bytes::BytesMut) {
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

    fn request(&self, sent: &Sent, version: i16) -> FetchRequest {
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

/// ListOffsets to `node` for `parts`: per partition, the offset or the Kafka error code.
/// A timestamp no record reaches resolves to the end of the log.
pub(super) async fn list_offsets(
    cluster: &Cluster,
    node: i32,
    parts: &[Resolve],
    isolation: Isolation,
) -> Result<HashMap<TopicPartition, Result<i64, i16>>, FetchError> {
    let conn = cluster.broker(node).await?;
    let version = conn.pick_version::<ListOffsetsRequest>(list_offsets::VERSIONS)?;
    let ask = |items: Vec<(&Resolve, i64)>| {
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
                            .with_current_leader_epoch(if version >= 4 {
                                r.leader_epoch
                            } else {
                                -1
                            })
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
    };
    let query = async |request: ListOffsetsRequest| -> Result<_, FetchError> {
        let body = conn.request(&request, version).await?;
        let decoded = list_offsets::decode(body, version).map_err(|source| ConnError::Decode {
            broker: conn.broker().into(),
            api: ApiKey::ListOffsets,
            version,
            source,
        })?;
        let mut answers = HashMap::new();
        for t in decoded.topics {
            for p in t.partitions {
                let answer = if p.error_code == 0 {
                    Ok(p.offset)
                } else {
                    Err(p.error_code)
                };
                answers.insert((t.name.clone(), p.partition), answer);
            }
        }
        Ok(answers)
    };
    let first = parts
        .iter()
        .map(|r| {
            let timestamp = match r.spec {
                FetchPosition::Earliest => -2,
                FetchPosition::Latest => -1,
                FetchPosition::Timestamp(ts) => ts,
                // Never asked for: offsets need no resolving.
                FetchPosition::Offset(o) => o,
            };
            (r, timestamp)
        })
        .collect();
    let mut answers = query(ask(first)).await?;
    let misses: Vec<(&Resolve, i64)> = parts
        .iter()
        .filter(|r| {
            matches!(r.spec, FetchPosition::Timestamp(_)) && answers.get(&r.key) == Some(&Ok(-1))
        })
        .map(|r| (r, -1))
        .collect();
    if !misses.is_empty() {
        let latest = query(ask(misses)).await?;
        answers.extend(latest);
    }
    Ok(answers)
}

#[cfg(test)]
mod tests;
