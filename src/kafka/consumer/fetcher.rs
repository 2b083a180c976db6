//! The consumer's fetch side: positions, ListOffsets resolution and Fetch requests.
//!
//! A [`Fetcher`] owns the position of every partition it was given, resolves symbolic
//! positions (earliest, latest, by timestamp) with ListOffsets, and fetches from each
//! partition's leader, one pipelined request per leader (with KIP-227 fetch sessions and
//! an optional prefetch), delivering records in offset order, none twice, none missing.
//! It must not know about consumer groups, commits or the mapping engine: the layer above
//! says which partitions to fetch from where, and pauses them for back-pressure. Retriable
//! broker errors are retried on a later [`Fetcher::fetch`] call, never in a loop inside one.

mod drain;
mod request;
#[cfg(test)]
mod tests;

use crate::kafka::TopicPartition;
use crate::kafka::client::cluster::{Cluster, ClusterError, KafkaCode};
use crate::kafka::client::conn::ConnError;
use crate::kafka::protocol::DecodeError;
use crate::kafka::protocol::messages::fetch::FetchResponse;
use crate::kafka::protocol::records::{DEFAULT_MAX_DECOMPRESSED_SIZE, Record};
use bytes::Bytes;
use request::{LeaderFetch, LeaderOutcome, Planned, Resolve, Sent, Session};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Which records a consumer sees of transactional producers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Isolation {
    /// Only committed transactions, up to the last stable offset (Java's default for
    /// transactional readers; what AWS's event source mapping uses).
    #[default]
    ReadCommitted,
    /// Everything up to the high watermark, aborted transactions included.
    ReadUncommitted,
}

impl Isolation {
    fn level(self) -> i8 {
        match self {
            Isolation::ReadUncommitted => 0,
            Isolation::ReadCommitted => 1,
        }
    }
}

/// What to do when the broker says a position is out of range (OFFSET_OUT_OF_RANGE):
/// the records there were deleted by retention, or the log was truncated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OffsetReset {
    /// Restart at the log start offset: loses nothing that is still there.
    #[default]
    Earliest,
    /// Restart at the end of the log.
    Latest,
    /// Fail [`Fetcher::fetch`] with [`FetchError::OffsetOutOfRange`] (each call, until
    /// the partition is given a new position or unassigned).
    None,
}

/// Where to start fetching a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchPosition {
    /// This offset (a committed offset, say). One the log doesn't hold is handled by
    /// the [`OffsetReset`] policy.
    Offset(i64),
    /// The log start offset (ListOffsets -2).
    Earliest,
    /// The end of the log (ListOffsets -1; the last stable offset under read_committed).
    Latest,
    /// The first offset whose timestamp is at or after this one (milliseconds since the
    /// epoch); the end of the log when there is none (like the Java consumer's
    /// `offsetsForTimes` then `seekToEnd`, which AWS uses for `AT_TIMESTAMP`).
    Timestamp(i64),
}

/// How a [`Fetcher`] fetches.
#[derive(Clone, Debug)]
pub struct FetchConfig {
    /// How long the broker may hold a Fetch request waiting for `min_bytes`. Keep it
    /// well under the connection's request timeout.
    pub max_wait: Duration,
    /// The bytes the broker waits for before answering early.
    pub min_bytes: i32,
    /// The most bytes one Fetch response may carry (KIP-74: the first batch may exceed it).
    pub max_bytes: i32,
    /// The most bytes per partition in one response; a batch larger than this is fetched
    /// again with a doubled limit (up to `max_bytes`) until it fits.
    pub max_partition_bytes: i32,
    pub isolation: Isolation,
    /// Cap on the decompressed size of one batch.
    pub max_decompressed_size: usize,
    /// Cap on the bytes decompressed in one [`Fetcher::fetch`], every partition and
    /// batch together: a response of small, highly compressible batches must not expand
    /// to gigabytes. Past it, a partition's delivery ends before its next compressed
    /// batch, and the next fetch goes on from there (nothing is skipped). The first
    /// compressed batch of a fetch may always use `max_decompressed_size`, so fetching
    /// always progresses.
    pub max_decompressed_per_fetch: usize,
    /// What OFFSET_OUT_OF_RANGE does.
    pub offset_reset: OffsetReset,
    /// The wait before a partition whose leader failed is tried again; doubled on each
    /// consecutive failure up to `retry_backoff_max`.
    pub retry_backoff: Duration,
    pub retry_backoff_max: Duration,
    /// Fetch sessions (KIP-227): after the first request, send each leader only the
    /// partitions whose position changed. Off: every request lists every partition.
    pub sessions: bool,
    /// Send the next Fetch requests as soon as [`Fetcher::fetch`] returns, so the
    /// records are on their way while the caller processes the current ones. Prefetched
    /// records of partitions paused, unassigned or moved meanwhile are dropped, unread.
    pub prefetch: bool,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            max_wait: Duration::from_millis(500),
            min_bytes: 1,
            max_bytes: 50 * 1024 * 1024,
            max_partition_bytes: 1024 * 1024,
            isolation: Isolation::ReadCommitted,
            max_decompressed_size: DEFAULT_MAX_DECOMPRESSED_SIZE,
            max_decompressed_per_fetch: DEFAULT_MAX_DECOMPRESSED_SIZE,
            offset_reset: OffsetReset::Earliest,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            sessions: true,
            prefetch: false,
        }
    }
}

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

/// Why a fetch failed. Retriable conditions (leader moved, broker restarting) are not
/// errors: the partitions concerned are retried on later calls.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    #[error("{topic} partition {partition}: {error}")]
    Partition {
        topic: String,
        partition: i32,
        error: KafkaCode,
    },
    #[error(
        "{topic} partition {partition}: offset {offset} is out of range and the reset policy is none"
    )]
    OffsetOutOfRange {
        topic: String,
        partition: i32,
        offset: i64,
    },
    #[error("{topic} partition {partition} at offset {offset}: undecodable records: {source}")]
    Corrupt {
        topic: String,
        partition: i32,
        offset: i64,
        source: DecodeError,
    },
    #[error(
        "{topic} partition {partition} at offset {offset}: the broker sends only part of a {} batch even with max_bytes {max_bytes}",
        size.map_or("larger".to_string(), |s| format!("{s}-byte"))
    )]
    BatchTooLarge {
        topic: String,
        partition: i32,
        offset: i64,
        size: Option<usize>,
        max_bytes: i32,
    },
    #[error("Fetch from {broker}: {error}")]
    Broker { broker: String, error: KafkaCode },
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Conn(#[from] ConnError),
}

impl FetchError {
    /// The documented reason a mapping stopped by this error reports, where one applies.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            FetchError::Partition { error, .. } | FetchError::Broker { error, .. } => {
                error.reason()
            }
            FetchError::Cluster(e) => e.reason(),
            FetchError::Conn(e) => e.reason(),
            _ => None,
        }
    }

    /// The partition the error is about, if it is about one.
    pub fn partition(&self) -> Option<(&str, i32)> {
        match self {
            FetchError::Partition {
                topic, partition, ..
            }
            | FetchError::OffsetOutOfRange {
                topic, partition, ..
            }
            | FetchError::Corrupt {
                topic, partition, ..
            }
            | FetchError::BatchTooLarge {
                topic, partition, ..
            } => Some((topic, *partition)),
            _ => None,
        }
    }

    /// Whether a later attempt may succeed: a transient transport or metadata
    /// condition, or a retriable Kafka error code.
    pub fn is_retriable(&self) -> bool {
        match self {
            FetchError::Partition { error, .. } | FetchError::Broker { error, .. } => {
                error.is_retriable()
            }
            _ => self.is_transient(),
        }
    }

    /// A transport or metadata condition worth a metadata refresh and a later retry.
    fn is_transient(&self) -> bool {
        match self {
            FetchError::Cluster(e) => e.is_retriable(),
            FetchError::Conn(e) => e.is_retriable(),
            _ => false,
        }
    }
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

    /// Turns the leaders' answers into deliveries and position moves, all or nothing:
    /// on an error no position moves.
    fn apply(&mut self, outcomes: Vec<LeaderOutcome>) -> Result<Vec<PartitionRecords>, FetchError> {
        let now = Instant::now();
        let mut first_error: Option<FetchError> = None;
        let mut delivered = Vec::new();
        // At least one batch's worth, so the first compressed batch always fits.
        let mut decoded_budget = self
            .config
            .max_decompressed_per_fetch
            .max(self.config.max_decompressed_size);
        for outcome in outcomes {
            let LeaderOutcome {
                node,
                broker,
                plan,
                sent,
                result,
            } = outcome;
            let response = match result {
                Ok(r) => r,
                Err(e) if e.is_transient() => {
                    tracing::debug!("Fetch from node {node} failed, retrying later: {e}");
                    for p in &plan {
                        self.retry_later(&p.key, now);
                    }
                    continue;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            if response.error_code != 0 {
                let error = KafkaCode(response.error_code);
                // FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH: the next
                // request (without the session, already dropped) starts a new one.
                if matches!(response.error_code, 70 | 71) {
                    tracing::debug!("Fetch session with node {node} lost: {error}");
                } else if error.is_retriable() {
                    for p in &plan {
                        self.retry_later(&p.key, now);
                    }
                } else {
                    first_error.get_or_insert(FetchError::Broker { broker, error });
                }
                continue;
            }
            if response.throttle_time_ms > 0 {
                let wait = Duration::from_millis(response.throttle_time_ms as u64);
                self.throttled.insert(node, now + wait);
            }
            self.keep_session(node, sent, &plan, response.session_id);
            self.apply_response(
                response,
                &plan,
                &mut delivered,
                &mut first_error,
                &mut decoded_budget,
            );
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        for d in &delivered {
            if let Some(s) = self.state_mut(&d.topic, d.partition) {
                s.pos = Pos::At(d.next_offset);
            }
        }
        Ok(delivered)
    }

    fn keep_session(&mut self, node: i32, sent: Sent, plan: &[Planned], session_id: i32) {
        let session = match sent {
            Sent::Sessionless => return,
            Sent::Full if session_id == 0 => return,
            Sent::Full => {
                tracing::debug!("Fetch session {session_id} with node {node}");
                Session::new(session_id)
            }
            Sent::Incremental(s) if s.id == session_id => s,
            Sent::Incremental(_) => return,
        };
        self.sessions.insert(node, session.after(plan));
    }

    fn apply_response(
        &mut self,
        response: FetchResponse,
        plan: &[Planned],
        delivered: &mut Vec<PartitionRecords>,
        first_error: &mut Option<FetchError>,
        decoded_budget: &mut usize,
    ) {
        let now = Instant::now();
        let asked: HashMap<(&str, i32), &Planned> = plan
            .iter()
            .map(|p| ((p.key.0.as_str(), p.key.1), p))
            .collect();
        for topic in response.topics {
            let Some(name) = topic.name else { continue };
            for p in topic.partitions {
                let Some(planned) = asked.get(&(name.as_str(), p.partition)) else {
                    continue;
                };
                let key = &planned.key;
                tracing::trace!(
                    "{} partition {} at {}: error {}, high watermark {}, {} bytes",
                    key.0,
                    key.1,
                    planned.offset,
                    p.error_code,
                    p.high_watermark,
                    p.records.len()
                );
                let Some(s) = self.partitions.get_mut(key) else {
                    continue;
                };
                // Paused, unassigned or moved since the request went out: drop the answer.
                if s.paused || s.pos != Pos::At(planned.offset) {
                    continue;
                }
                let err = |error: i16| FetchError::Partition {
                    topic: key.0.clone(),
                    partition: key.1,
                    error: KafkaCode(error),
                };
                match p.error_code {
                    0 => {}
                    1 => {
                        let reset = match self.config.offset_reset {
                            OffsetReset::Earliest => FetchPosition::Earliest,
                            OffsetReset::Latest => FetchPosition::Latest,
                            OffsetReset::None => {
                                first_error.get_or_insert(FetchError::OffsetOutOfRange {
                                    topic: key.0.clone(),
                                    partition: key.1,
                                    offset: planned.offset,
                                });
                                continue;
                            }
                        };
                        tracing::warn!(
                            "{} partition {}: offset {} is out of range; resetting to {reset:?}",
                            key.0,
                            key.1,
                            planned.offset
                        );
                        s.pos = Pos::Resolve(reset);
                        s.limit = self.config.max_partition_bytes;
                        s.reset_from = Some(planned.offset);
                        continue;
                    }
                    // CORRUPT_MESSAGE: the broker found its own log corrupt; asking
                    // again would loop forever.
                    2 => {
                        first_error.get_or_insert(err(2));
                        continue;
                    }
                    code if KafkaCode(code).is_retriable() => {
                        tracing::debug!(
                            "{} partition {}: {}, retrying later",
                            key.0,
                            key.1,
                            KafkaCode(code)
                        );
                        let key = key.clone();
                        self.retry_later(&key, now);
                        continue;
                    }
                    code => {
                        first_error.get_or_insert(err(code));
                        continue;
                    }
                }
                s.failures = 0;
                s.retry_at = None;
                let d = drain::drain(
                    p.records.clone(),
                    planned.offset,
                    p.aborted_transactions.as_deref(),
                    self.config.isolation,
                    self.config.max_decompressed_size,
                    decoded_budget,
                );
                if let Some(source) = d.error {
                    first_error.get_or_insert(FetchError::Corrupt {
                        topic: key.0.clone(),
                        partition: key.1,
                        offset: planned.offset,
                        source,
                    });
                    continue;
                }
                if let Some(partial) = d.truncated {
                    match drain::grow_limit(s.limit, partial.size, self.config.max_bytes) {
                        Some(limit) => {
                            tracing::debug!(
                                "{} partition {}: batch at {} cut at {} bytes, fetching it with {limit}",
                                key.0,
                                key.1,
                                planned.offset,
                                partial.available
                            );
                            s.limit = limit;
                        }
                        None => {
                            first_error.get_or_insert(FetchError::BatchTooLarge {
                                topic: key.0.clone(),
                                partition: key.1,
                                offset: planned.offset,
                                size: partial.size,
                                max_bytes: self.config.max_bytes,
                            });
                        }
                    }
                    continue;
                }
                if d.next_offset <= planned.offset {
                    continue;
                }
                s.limit = self.config.max_partition_bytes;
                delivered.push(PartitionRecords {
                    topic: key.0.clone(),
                    partition: key.1,
                    high_watermark: p.high_watermark,
                    last_stable_offset: p.last_stable_offset,
                    log_start_offset: p.log_start_offset,
                    raw: p.records,
                    records: d.records,
                    next_offset: d.next_offset,
                });
            }
        }
    }
}

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
