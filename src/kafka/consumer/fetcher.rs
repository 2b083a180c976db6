//! The consumer's fetch side: positions, ListOffsets resolution and Fetch requests.
//!
//! A [`Fetcher`] owns the position of every partition it was given, resolves symbolic
//! positions (earliest, latest, by timestamp) with ListOffsets, and fetches from each
//! partition's leader, one pipelined request per leader (with KIP-227 fetch sessions and
//! an optional prefetch), delivering records in offset order, none twice, none missing.
//! It must not know about consumer groups, commits or the mapping engine: the layer above
//! says which partitions to fetch from where, and pauses them for back-pressure. Retriable
//! broker errors are retried on a later [`Fetcher::fetch`] call, never in a loop inside one.
//!
//! Sans-I/O, as quinn-proto is driven by quinn: every decision (positions, sessions,
//! backoff, the reset policy, what a response's errors do) is the pure `state.rs`
//! machine's (`FetchState`), and the requests it plans are plain data (`plan.rs`);
//! [`Fetcher`] is the thin tokio loop that sends them (`request.rs`) and feeds the
//! answers back.

mod config;
mod drain;
mod error;
mod lookup;
mod plan;
mod request;
mod responses;
mod state;
#[cfg(test)]
mod tests;

use crate::kafka::TopicPartition;
use crate::kafka::client::cluster::Cluster;
use crate::kafka::protocol::records::Record;
use bytes::Bytes;
use request::LeaderOutcome;
use state::FetchState;
use std::sync::Arc;
use tokio::task::JoinSet;

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

/// The fetch side of a consumer. See the module docs.
///
/// A thin async driver: the decisions are `FetchState`'s; this does the I/O (metadata
/// reloads, ListOffsets, the Fetch requests, idling) and feeds the answers back.
pub struct Fetcher {
    cluster: Arc<Cluster>,
    state: FetchState,
    /// The prefetch under way.
    inflight: Option<JoinSet<LeaderOutcome>>,
}

impl Fetcher {
    pub fn new(cluster: Arc<Cluster>, config: FetchConfig) -> Fetcher {
        Fetcher {
            cluster,
            state: FetchState::new(config),
            inflight: None,
        }
    }

    /// How many times a partition's fetch or position lookup failed with an error
    /// retried later (a leader lost, a connection dropped, a retriable Kafka code): the
    /// mapping's polling errors.
    pub fn retried_errors(&self) -> u64 {
        self.state.retried_errors()
    }

    /// The positions reset since the last call, in the order they were resolved. A
    /// [`Fetcher::fetch`] call that resolves a reset returns no records, so a caller that
    /// takes them after each call sees a partition's reset before its records from the
    /// new position.
    pub fn take_resets(&mut self) -> Vec<PositionReset> {
        self.state.take_resets()
    }

    pub fn config(&self) -> &FetchConfig {
        self.state.config()
    }

    /// Starts fetching `topic`/`partition` at `position`, or moves it there if it is
    /// already assigned (its paused state is kept).
    pub fn assign(&mut self, topic: &str, partition: i32, position: FetchPosition) {
        self.state.assign(topic, partition, position);
    }

    /// Stops fetching `topic`/`partition`; records of it already on their way are dropped.
    pub fn unassign(&mut self, topic: &str, partition: i32) {
        self.state.unassign(topic, partition);
    }

    /// The partitions assigned, in order.
    pub fn assigned(&self) -> Vec<TopicPartition> {
        self.state.assigned()
    }

    /// The next offset to fetch, once known (`None` while a symbolic position waits for
    /// ListOffsets, or when the partition isn't assigned).
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        self.state.position(topic, partition)
    }

    /// Stops fetching the partition, keeping its position, until [`Fetcher::resume`].
    pub fn pause(&mut self, topic: &str, partition: i32) {
        self.state.pause(topic, partition);
    }

    pub fn resume(&mut self, topic: &str, partition: i32) {
        self.state.resume(topic, partition);
    }

    pub fn is_paused(&self, topic: &str, partition: i32) -> bool {
        self.state.is_paused(topic, partition)
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
        let resets = self.state.resets_pending();
        self.resolve_positions().await?;
        if self.state.resets_pending() > resets {
            // The caller hears of a reset before records from the new position.
            return Ok(Vec::new());
        }
        let mut set = match self.inflight.take() {
            Some(set) => set,
            None => {
                let set = self.start_fetches();
                if set.is_empty() {
                    let until = self.state.idle_until(now());
                    tokio::time::sleep_until(until.into()).await;
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
        let delivered = self.state.apply(outcomes, now())?;
        if self.state.config().prefetch {
            let set = self.start_fetches();
            if !set.is_empty() {
                self.inflight = Some(set);
            }
        }
        Ok(delivered)
    }

    /// Reloads metadata when the state asks for it.
    async fn refresh_if_needed(&mut self) -> Result<(), FetchError> {
        let cluster = &self.cluster;
        let Some(topics) = self
            .state
            .refresh_due(now(), |t| cluster.partition_count(t).is_some())
        else {
            return Ok(());
        };
        let now = now();
        match self.cluster.refresh(&topics).await {
            Ok(()) => {
                self.state.refreshed(true, now);
                Ok(())
            }
            Err(e) if e.is_retriable() => {
                tracing::debug!("metadata refresh failed, retrying later: {e}");
                self.state.refreshed(false, now);
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Resolves symbolic positions with ListOffsets, one request per leader, concurrently.
    async fn resolve_positions(&mut self) -> Result<(), FetchError> {
        let cluster = self.cluster.clone();
        let by_leader = self
            .state
            .resolutions(now(), |t, p| cluster.leader(t, p).ok());
        if by_leader.is_empty() {
            return Ok(());
        }
        let mut set = JoinSet::new();
        for (node, parts) in by_leader {
            let cluster = self.cluster.clone();
            let isolation = self.state.config().isolation;
            set.spawn(async move {
                let result = request::list_offsets(&cluster, node, &parts, isolation).await;
                (parts, result)
            });
        }
        let mut first_error = None;
        while let Some(done) = set.join_next().await {
            let Ok((parts, result)) = done else { continue };
            if let Some(e) = self.state.resolved(&parts, result, now()) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Sends the Fetch requests the state plans, one task per leader.
    fn start_fetches(&mut self) -> JoinSet<LeaderOutcome> {
        let cluster = self.cluster.clone();
        let jobs = self
            .state
            .plan_fetches(now(), |t, p| cluster.leader(t, p).ok());
        let mut set = JoinSet::new();
        for job in jobs {
            set.spawn(job.run(self.cluster.clone()));
        }
        set
    }
}

/// Tokio's clock (paused in tests), as the state machine's [`std::time::Instant`].
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}
