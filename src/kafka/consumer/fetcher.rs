//! The consumer's fetch side: positions, ListOffsets resolution and Fetch requests.
//!
//! A [`Fetcher`] owns the position of every partition it was given, resolves symbolic
//! positions (earliest, latest, by timestamp) with ListOffsets, and fetches from each
//! partition's leader, one pipelined request per leader (with KIP-227 fetch sessions and
//! an optional prefetch), delivering records in offset order, none twice, none missing.
//! It must not know about consumer groups, commits or the mapping engine: the layer above
//! says which partitions to fetch from where, and pauses them for back-pressure. Retriable
//! broker errors are retried on a later [`Fetcher::fetch`] call, never in a loop inside one.

mod config;
mod drain;
mod error;
mod lookup;
mod request;
mod responses;
#[cfg(test)]
mod tests;

use crate::kafka::TopicPartition;
use crate::kafka::client::cluster::{Cluster, KafkaCode};
use crate::kafka::protocol::records::Record;
use bytes::Bytes;
use request::{LeaderFetch, LeaderOutcome, Planned, Resolve, Session};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use config::{FetchConfig, FetchPosition, Isolation, OffsetReset};
pub use error::FetchError;
pub use lookup::list_offsets;

/// What one [`Fetcher::fetch`] delivers of one partition.
#[derive(Clone, Debug)]
pub struct PartitionRecords {
    pub topic: String,
    pub partition: i32,
    pub high_watermark: i64,
    /// -1 when the broker doesn't say (Fetch v3 and older).
    pub last_stable_offset: i64,
    /// -1 when the broker doesn't say (Fetch v4 and older).
    pub log_start_offset: i64,
    /// The partition's records field as the broker sent it. Uncompressed records slice
    /// it; compressed ones slice their batch's decompressed buffer.
    pub raw: Bytes,
    /// The records from the position on, in offset order. May be empty when the
    /// position moved only past control or aborted batches: [`PartitionRecords::next_offset`]
    /// is then still the position to commit.
    pub records: Vec<Record>,
    /// The partition's position after this delivery: the next offset to fetch.
    pub next_offset: i64,
}

/// A partition whose position the [`OffsetReset`] policy moved, because the log no
/// longer held it (OFFSET_OUT_OF_RANGE). Returned by [`Fetcher::take_resets`] before any
/// record from the new position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PositionReset {
    pub topic: String,
    pub partition: i32,
    /// The position the broker refused.
    pub from: i64,
    /// Where fetching resumes.
    pub to: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pos {
    At(i64),
    /// To be resolved with ListOffsets (never `FetchPosition::Offset`).
    Resolve(FetchPosition),
}

#[derive(Debug)]
struct Assigned {
    pos: Pos,
    paused: bool,
    /// The partition limit sent; above the configured one while a truncated batch grows.
    limit: i32,
    failures: u32,
    retry_at: Option<Instant>,
    /// The position OFFSET_OUT_OF_RANGE refused, while the reset policy's position is
    /// resolved.
    reset_from: Option<i64>,
}

/// The fetch side of a consumer. See the module docs.
pub struct Fetcher {
    cluster: Arc<Cluster>,
    config: FetchConfig,
    partitions: BTreeMap<TopicPartition, Assigned>,
    needs_refresh: bool,
    refresh_at: Option<Instant>,
    sessions: HashMap<i32, Session>,
    throttled: HashMap<i32, Instant>,
    /// Rotates the order partitions are listed in, so none is always last.
    round: usize,
    /// The prefetch under way.
    inflight: Option<JoinSet<LeaderOutcome>>,
    /// Partition fetches (or position lookups) that failed and wait to be retried.
    retried: u64,
    /// Positions reset, not taken by the caller yet.
    resets: Vec<PositionReset>,
}

impl Fetcher {
    pub fn new(cluster: Arc<Cluster>, config: FetchConfig) -> Fetcher {
        Fetcher {
            cluster,
            config,
            partitions: BTreeMap::new(),
            needs_refresh: false,
            refresh_at: None,
            sessions: HashMap::new(),
            throttled: HashMap::new(),
            round: 0,
            inflight: None,
            retried: 0,
            resets: Vec::new(),
        }
    }

    /// How many times a partition's fetch or position lookup failed with an error
    /// retried later (a leader lost, a connection dropped, a retriable Kafka code): the
    /// mapping's polling errors.
    pub fn retried_errors(&self) -> u64 {
        self.retried
    }

    /// The positions reset since the last call, in the order they were resolved. A
    /// [`Fetcher::fetch`] call that resolves a reset returns no records, so a caller that
    /// takes them after each call sees a partition's reset before its records from the
    /// new position.
    pub fn take_resets(&mut self) -> Vec<PositionReset> {
        std::mem::take(&mut self.resets)
    }

    pub fn config(&self) -> &FetchConfig {
        &self.config
    }

    /// Starts fetching `topic`/`partition` at `position`, or moves it there if it is
    /// already assigned (its paused state is kept).
    pub fn assign(&mut self, topic: &str, partition: i32, position: FetchPosition) {
        let pos = match position {
            FetchPosition::Offset(o) => Pos::At(o),
            symbolic => Pos::Resolve(symbolic),
        };
        let limit = self.config.max_partition_bytes;
        let entry = self
            .partitions
            .entry((topic.to_string(), partition))
            .or_insert(Assigned {
                pos,
                paused: false,
                limit,
                failures: 0,
                retry_at: None,
                reset_from: None,
            });
        entry.pos = pos;
        entry.limit = limit;
        entry.reset_from = None;
    }

    /// Stops fetching `topic`/`partition`; records of it already on their way are dropped.
    pub fn unassign(&mut self, topic: &str, partition: i32) {
        self.partitions.remove(&(topic.to_string(), partition));
        self.resets
            .retain(|r| !(r.topic == topic && r.partition == partition));
    }

    /// The partitions assigned, in order.
    pub fn assigned(&self) -> Vec<TopicPartition> {
        self.partitions.keys().cloned().collect()
    }

    /// The next offset to fetch, once known (`None` while a symbolic position waits for
    /// ListOffsets, or when the partition isn't assigned).
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        match self.state(topic, partition)?.pos {
            Pos::At(o) => Some(o),
            Pos::Resolve(_) => None,
        }
    }

    /// Stops fetching the partition, keeping its position, until [`Fetcher::resume`].
    pub fn pause(&mut self, topic: &str, partition: i32) {
        if let Some(s) = self.state_mut(topic, partition) {
            s.paused = true;
        }
    }

    pub fn resume(&mut self, topic: &str, partition: i32) {
        if let Some(s) = self.state_mut(topic, partition) {
            s.paused = false;
        }
    }

    pub fn is_paused(&self, topic: &str, partition: i32) -> bool {
        self.state(topic, partition).is_some_and(|s| s.paused)
    }

    fn state(&self, topic: &str, partition: i32) -> Option<&Assigned> {
        self.partitions.get(&(topic.to_string(), partition))
    }

    fn state_mut(&mut self, topic: &str, partition: i32) -> Option<&mut Assigned> {
        self.partitions.get_mut(&(topic.to_string(), partition))
    }

    /// Fetches once from every leader of an assigned, unpaused partition, concurrently,
    /// and returns what each partition delivered (only partitions whose position moved).
    ///
    /// Waits at most about `max_wait` plus a round trip (plus a ListOffsets round trip
    /// when a symbolic position is resolved). With nothing to fetch (all paused, or
    /// waiting to retry), it sleeps up to `max_wait` and returns nothing. Positions move
    /// only when it returns `Ok`, so a call dropped half-way or an error loses nothing:
    /// the same records come again. An error about one partition fails the whole call
    /// (other partitions' records are fetched again next time); the caller fixes the
    /// partition (a new position, or unassign) to get past it.
    pub async fn fetch(&mut self) -> Result<Vec<PartitionRecords>, FetchError> {
        self.refresh_if_needed().await?;
        let resets = self.resets.len();
        self.resolve_positions().await?;
        if self.resets.len() > resets {
            // The caller hears of a reset before records from the new position.
            return Ok(Vec::new());
        }
        let mut set = match self.inflight.take() {
            Some(set) => set,
            None => {
                let set = self.start_fetches(Instant::now());
                if set.is_empty() {
                    self.idle().await;
                    return Ok(Vec::new());
                }
                set
            }
        };
        let mut outcomes = Vec::with_capacity(set.len());
        while let Some(done) = set.join_next().await {
            match done {
                Ok(o) => outcomes.push(o),
                // A fetch task never panics; if one did, its partitions are fetched again.
                Err(e) => tracing::error!("fetch task failed: {e}"),
            }
        }
        let delivered = self.apply(outcomes)?;
        if self.config.prefetch {
            let set = self.start_fetches(Instant::now());
            if !set.is_empty() {
                self.inflight = Some(set);
            }
        }
        Ok(delivered)
    }

    fn topics(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self.partitions.keys().map(|(t, _)| t).collect();
        set.into_iter().cloned().collect()
    }

    /// Reloads metadata when a leader failed, or a topic is not in the metadata yet.
    async fn refresh_if_needed(&mut self) -> Result<(), FetchError> {
        let topics = self.topics();
        let unknown = topics
            .iter()
            .any(|t| self.cluster.partition_count(t).is_none());
        if !(self.needs_refresh || unknown) || topics.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        if self.refresh_at.is_some_and(|at| at > now) {
            return Ok(());
        }
        match self.cluster.refresh(&topics).await {
            Ok(()) => {
                self.needs_refresh = false;
                self.refresh_at = None;
                Ok(())
            }
            Err(e) if e.is_retriable() => {
                tracing::debug!("metadata refresh failed, retrying later: {e}");
                self.refresh_at = Some(now + self.config.retry_backoff);
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn retry_later(&mut self, key: &TopicPartition, now: Instant) {
        self.retried += 1;
        let (base, max) = (self.config.retry_backoff, self.config.retry_backoff_max);
        if let Some(s) = self.partitions.get_mut(key) {
            let wait = base
                .saturating_mul(1u32 << s.failures.min(16))
                .min(max.max(base));
            s.failures = s.failures.saturating_add(1);
            s.retry_at = Some(now + wait);
        }
        self.needs_refresh = true;
    }

    fn ready(s: &Assigned, now: Instant) -> bool {
        s.retry_at.is_none_or(|at| at <= now)
    }

    /// Resolves symbolic positions with ListOffsets, one request per leader, concurrently.
    async fn resolve_positions(&mut self) -> Result<(), FetchError> {
        let now = Instant::now();
        let mut by_leader: BTreeMap<i32, Vec<Resolve>> = BTreeMap::new();
        let mut no_leader = Vec::new();
        for (key, s) in &self.partitions {
            let Pos::Resolve(spec) = s.pos else { continue };
            if !Self::ready(s, now) {
                continue;
            }
            match self.cluster.leader(&key.0, key.1) {
                Ok(leader) => by_leader.entry(leader.node_id).or_default().push(Resolve {
                    key: key.clone(),
                    spec,
                    leader_epoch: leader.epoch,
                }),
                Err(_) => no_leader.push(key.clone()),
            }
        }
        for key in &no_leader {
            self.retry_later(key, now);
        }
        if by_leader.is_empty() {
            return Ok(());
        }
        let mut set = JoinSet::new();
        for (node, parts) in by_leader {
            let cluster = self.cluster.clone();
            let isolation = self.config.isolation;
            set.spawn(async move {
                let result = request::list_offsets(&cluster, node, &parts, isolation).await;
                (parts, result)
            });
        }
        let mut first_error = None;
        while let Some(done) = set.join_next().await {
            let Ok((parts, result)) = done else { continue };
            let now = Instant::now();
            let answers = match result {
                Ok(answers) => answers,
                Err(e) if e.is_transient() => {
                    tracing::debug!("ListOffsets failed, retrying later: {e}");
                    for p in &parts {
                        self.retry_later(&p.key, now);
                    }
                    continue;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            for p in &parts {
                let answer = answers.get(&p.key).copied();
                let Some(s) = self.partitions.get_mut(&p.key) else {
                    continue;
                };
                if s.pos != Pos::Resolve(p.spec) {
                    continue;
                }
                match answer {
                    Some(Ok(offset)) if offset >= 0 => {
                        tracing::debug!(
                            "{} partition {}: {:?} is offset {offset}",
                            p.key.0,
                            p.key.1,
                            p.spec
                        );
                        s.pos = Pos::At(offset);
                        s.failures = 0;
                        s.retry_at = None;
                        if let Some(from) = s.reset_from.take() {
                            self.resets.push(PositionReset {
                                topic: p.key.0.clone(),
                                partition: p.key.1,
                                from,
                                to: offset,
                            });
                        }
                    }
                    Some(Err(code)) if !KafkaCode(code).is_retriable() => {
                        first_error.get_or_insert(FetchError::Partition {
                            topic: p.key.0.clone(),
                            partition: p.key.1,
                            error: KafkaCode(code),
                        });
                    }
                    // Retriable, missing from the answer, or no offset yet.
                    _ => self.retry_later(&p.key, now),
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Sends one Fetch request to each leader of a fetchable partition.
    fn start_fetches(&mut self, now: Instant) -> JoinSet<LeaderOutcome> {
        self.throttled.retain(|_, until| *until > now);
        let mut keys: Vec<&TopicPartition> = self
            .partitions
            .iter()
            .filter(|(_, s)| !s.paused && matches!(s.pos, Pos::At(_)) && Self::ready(s, now))
            .map(|(k, _)| k)
            .collect();
        if !keys.is_empty() {
            let n = keys.len();
            keys.rotate_left(self.round % n);
            self.round = self.round.wrapping_add(1);
        }
        let mut by_leader: BTreeMap<i32, Vec<Planned>> = BTreeMap::new();
        let mut no_leader = Vec::new();
        for key in keys {
            let s = &self.partitions[key];
            let Pos::At(offset) = s.pos else { continue };
            match self.cluster.leader(&key.0, key.1) {
                Ok(leader) if self.throttled.contains_key(&leader.node_id) => {}
                Ok(leader) => by_leader.entry(leader.node_id).or_default().push(Planned {
                    key: key.clone(),
                    offset,
                    limit: s.limit,
                    grown: s.limit > self.config.max_partition_bytes,
                    leader_epoch: leader.epoch,
                }),
                Err(_) => no_leader.push(key.clone()),
            }
        }
        for key in &no_leader {
            self.retry_later(key, now);
        }
        let mut set = JoinSet::new();
        for (node, mut plan) in by_leader {
            // A partition growing its limit goes first: KIP-74 brokers return a whole
            // batch, whatever the limits, only for the first partition with data.
            plan.sort_by_key(|p| !p.grown);
            let grown = plan.iter().any(|p| p.grown);
            let session = self.sessions.remove(&node).filter(|_| !grown);
            let job = LeaderFetch {
                node,
                plan,
                session,
                sessions: self.config.sessions,
                max_wait: self.config.max_wait,
                min_bytes: self.config.min_bytes,
                max_bytes: self.config.max_bytes,
                isolation: self.config.isolation,
            };
            set.spawn(job.run(self.cluster.clone()));
        }
        set
    }

    /// Sleeps until a partition may be fetched again, at most `max_wait`.
    async fn idle(&self) {
        let now = Instant::now();
        let mut until = now + self.config.max_wait;
        for s in self.partitions.values().filter(|s| !s.paused) {
            if let Some(at) = s.retry_at {
                until = until.min(at.max(now));
            }
        }
        if let Some(at) = self.refresh_at.filter(|_| self.needs_refresh) {
            until = until.min(at.max(now));
        }
        tokio::time::sleep_until(until).await;
    }
}
