//! The mapping engine: which records to invoke together, when to retry, what to give up
//! on, and which offsets to commit. A deterministic state machine with no I/O and no
//! clock (after quinn's protocol core): the runtime feeds it fetched records, invoke
//! outcomes, destination acknowledgements and the current time, and carries out the
//! [`Action`]s it emits (invoke this batch, commit this offset, send this batch to the
//! on-failure destination, pause or resume fetching a partition).
//!
//! The rules it owns (SPEC.md §2–§4):
//! - A batch closes at `BatchSize` records, when the batching window has passed since
//!   its oldest record arrived, or when the next record would push the event past the
//!   payload cap (sizes are the encoder's exact per-record sizes). A record too large
//!   to fit alone is not invoked: it goes to the destination as
//!   `MaximumPayloadSizeExceeded`.
//! - One batch per partition in flight, so records of a partition are handled in order.
//! - A failed batch is retried whole, with exponential backoff and jitter, until it
//!   succeeds, `MaximumRetryAttempts` retries were made, or its oldest record is older
//!   than `MaximumRecordAgeInSeconds`; then it goes to the destination
//!   (`RetryAttemptsExhausted`) or, without one, is dropped and counted.
//! - With `BisectBatchOnFunctionError`, a batch that fails with a function error is
//!   split in two and the halves are handled in order, each counting the retry.
//! - With `ReportBatchItemFailures`, records before the lowest failed offset are done
//!   and the rest is retried.
//! - An offset is committed only once every record before it was handled: invoked
//!   successfully, acknowledged by the destination, or dropped by the rules above.
//! - Fetching pauses while the records held across partitions pass a byte budget, never
//!   before a partition holds one full batch.
//! - When the log no longer holds a partition's position, handling resumes where the
//!   fetcher reset it ([`Engine::reset`]); offsets that no longer exist are reported.
//!
//! It must not encode payloads, call Lambda or Kafka, or read a clock.

mod partition;
#[cfg(test)]
mod tests;

use crate::kafka::TopicPartition;
use partition::PartitionState;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// The default of [`EngineConfig::max_buffered_bytes`]: 48 MiB, two full 6 MiB batches
/// (one in the making while one is invoked) for each of four partitions, beyond the one
/// full batch every partition may always hold.
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 2 * 6 * 1024 * 1024 * 4;

/// Wall-clock milliseconds since the Unix epoch, the unit of record timestamps. The
/// caller passes the current time into every call.
pub type Millis = i64;

/// What the engine needs to know of a record.
pub trait EngineRecord: Clone {
    fn offset(&self) -> i64;
    /// The record's timestamp (ms since the epoch), for `MaximumRecordAgeInSeconds`.
    fn timestamp(&self) -> i64;
    /// The exact bytes the record adds to an event, separators included.
    fn encoded_size(&self) -> usize;
}

/// The rules of one mapping, resolved from its configuration.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// `BatchSize`.
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds`.
    pub batching_window: Duration,
    /// The invoke payload cap (6 MB for synchronous Lambda invocations).
    pub max_payload: usize,
    /// The bytes of an event holding one partition's group and no records.
    pub envelope_size: usize,
    /// `MaximumRetryAttempts`: None retries forever.
    pub max_retry_attempts: Option<u32>,
    /// `MaximumRecordAgeInSeconds`: None never expires.
    pub max_record_age: Option<Duration>,
    /// `BisectBatchOnFunctionError`.
    pub bisect_on_error: bool,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`.
    pub report_batch_item_failures: bool,
    /// Whether an on-failure destination is configured.
    pub has_destination: bool,
    /// The first retry waits about this long, doubling up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// The encoded bytes of fetched records (not yet in a batch) the engine holds across
    /// all its partitions before it pauses fetching: partitions holding at least one full
    /// batch stop fetching while the total is over this, and fetch again once it is back
    /// under half of it. A partition holding less than a full batch (`batch_size`
    /// records, or `max_payload` bytes) is never paused, so every batch can fill.
    pub max_buffered_bytes: usize,
    /// Seeds the retry jitter, so a run can be replayed.
    pub seed: u64,
}

impl EngineConfig {
    /// AWS's defaults for a Kafka mapping.
    pub fn aws_defaults() -> EngineConfig {
        EngineConfig {
            batch_size: 100,
            batching_window: Duration::from_millis(500),
            max_payload: 6 * 1024 * 1024,
            envelope_size: 0,
            max_retry_attempts: None,
            max_record_age: None,
            bisect_on_error: false,
            report_batch_item_failures: false,
            has_destination: false,
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(60),
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            seed: 0x6b61_666b_612d_6573,
        }
    }
}

/// Identifies one invocation or destination write, to match its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BatchId(pub u64);

/// Why a batch went to the on-failure destination (the record's `condition`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    RetryAttemptsExhausted,
    MaximumPayloadSizeExceeded,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            Condition::MaximumPayloadSizeExceeded => "MaximumPayloadSizeExceeded",
        }
    }
}

/// How an invocation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The function returned an error (`Handled` or `Unhandled`), or timed out.
    Function,
    /// Lambda throttled the invocation (429): retried without counting an attempt.
    Throttled,
    /// Anything else (service error, network): retried as an attempt, never bisected.
    Service,
}

/// What became of an invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvokeOutcome {
    Success,
    Failed(Failure),
    /// A partial batch response (`ReportBatchItemFailures`): the offsets the function
    /// reported failed, of this batch's partition. An empty list is a success.
    PartialFailure {
        failed_offsets: Vec<i64>,
    },
}

impl InvokeOutcome {
    /// Whether the whole batch succeeded: a success, or a partial batch response that
    /// names no failed record.
    pub fn is_success(&self) -> bool {
        match self {
            InvokeOutcome::Success => true,
            InvokeOutcome::PartialFailure { failed_offsets } => failed_offsets.is_empty(),
            InvokeOutcome::Failed(_) => false,
        }
    }
}

/// What the runtime must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action<R> {
    /// Invoke the function with these records (one partition, in offset order).
    /// `attempt` is 1 for the first invocation of these records.
    Invoke {
        id: BatchId,
        partition: TopicPartition,
        records: Vec<R>,
        attempt: u32,
    },
    /// Commit `offset` (the next offset to read) for the partition.
    Commit {
        partition: TopicPartition,
        offset: i64,
    },
    /// Write these records to the on-failure destination; answer with
    /// [`Engine::delivered`]. `attempts` is how many times they were invoked.
    SendToDestination {
        id: BatchId,
        partition: TopicPartition,
        records: Vec<R>,
        condition: Condition,
        attempts: u32,
    },
    /// Records given up without a destination (AWS drops them); for metrics and logs.
    Dropped {
        partition: TopicPartition,
        first_offset: i64,
        last_offset: i64,
        count: usize,
        condition: Condition,
    },
    /// Stop fetching the partition: the engine holds enough of its records.
    Pause(TopicPartition),
    Resume(TopicPartition),
    /// A revoked partition has no work left: its last commit was emitted before this.
    Revoked(TopicPartition),
    /// The partition's log no longer held the engine's position (OFFSET_OUT_OF_RANGE)
    /// and fetching moved from `from` to `to` (see [`Engine::reset`]). When `to` is past
    /// `from`, the `skipped` offsets between them no longer exist (retention deleted
    /// them): they are lost, and count as dropped. When `to` is before `from`, the log
    /// was truncated or re-created below the position: the records from `to` on are
    /// read again, and the `discarded` records the engine held at or past `to` (fetched
    /// from the log before the reset, not handled yet) were let go.
    Reset {
        partition: TopicPartition,
        from: i64,
        to: i64,
        skipped: u64,
        discarded: usize,
    },
}

impl<R> Action<R> {
    /// The partition the action is about.
    pub fn partition(&self) -> &TopicPartition {
        match self {
            Action::Invoke { partition, .. }
            | Action::Commit { partition, .. }
            | Action::SendToDestination { partition, .. }
            | Action::Dropped { partition, .. }
            | Action::Reset { partition, .. } => partition,
            Action::Pause(tp) | Action::Resume(tp) | Action::Revoked(tp) => tp,
        }
    }
}

/// The mapping engine. See the module docs.
pub struct Engine<R: EngineRecord> {
    config: EngineConfig,
    partitions: BTreeMap<TopicPartition, PartitionState<R>>,
    actions: VecDeque<Action<R>>,
    next_id: u64,
    rng: u64,
    /// The encoded bytes buffered across partitions (what flow control weighs).
    buffered_bytes: usize,
    /// Partitions whose fetching is paused.
    paused: usize,
}

impl<R: EngineRecord> Engine<R> {
    pub fn new(config: EngineConfig) -> Engine<R> {
        let rng = config.seed | 1;
        Engine {
            config,
            partitions: BTreeMap::new(),
            actions: VecDeque::new(),
            next_id: 0,
            rng,
            buffered_bytes: 0,
            paused: 0,
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Starts handling a partition whose records will be fetched from `position` on
    /// (its committed offset, or where the starting position resolved to).
    pub fn assign(&mut self, partition: TopicPartition, position: i64) {
        if let Some(old) = self
            .partitions
            .insert(partition, PartitionState::new(position))
        {
            self.forget(&old);
        }
    }

    /// The encoded bytes of the fetched records held, not yet in a batch, across
    /// partitions.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    /// Takes a partition's state out of the totals.
    fn forget(&mut self, p: &PartitionState<R>) {
        self.buffered_bytes -= p.accounted_bytes;
        if p.is_paused() {
            self.paused -= 1;
        }
    }

    /// Stops handling a partition: buffered records are dropped uncommitted (the next
    /// owner reads them again) and no new batch starts. An invocation in flight may
    /// finish and be committed; [`Action::Revoked`] follows once nothing is in flight.
    pub fn revoke(&mut self, partition: &TopicPartition, now: Millis) {
        if let Some(p) = self.partitions.get_mut(partition) {
            p.revoke();
        }
        self.drive(partition, now);
    }

    /// Forgets a partition the group took away without a revocation (this member was
    /// evicted): its buffered records and any batch in flight are abandoned, nothing of
    /// it is committed (another member may own it already), and no action of it stays
    /// queued. Results of its batches in flight are ignored when they come.
    pub fn lose(&mut self, partition: &TopicPartition) {
        self.partitions.remove(partition);
        self.actions.retain(|a| a.partition() != partition);
    }

    /// The partitions assigned and not fully revoked.
    pub fn partitions(&self) -> impl Iterator<Item = &TopicPartition> {
        self.partitions.keys()
    }

    /// Records fetched for `partition`, in offset order, and the partition's position
    /// after them (past filtered-out, control or aborted records, which count as handled
    /// once everything before them is).
    pub fn fetched(
        &mut self,
        partition: &TopicPartition,
        records: Vec<R>,
        next_offset: i64,
        now: Millis,
    ) {
        let Some(p) = self.partitions.get_mut(partition) else {
            return;
        };
        p.push(records, next_offset, now);
        self.drive(partition, now);
    }

    /// The partition's fetch position was reset from `from` to `to` because the log no
    /// longer holds `from` (OFFSET_OUT_OF_RANGE: retention deleted the records there, or
    /// the log was truncated or re-created below it). The engine resumes at `to`, as a
    /// Kafka consumer's offset reset does, and emits [`Action::Reset`]:
    /// - forward (`to` past the position): what the engine holds (buffered, in flight,
    ///   waiting for a retry) was fetched and is handled as usual; the offsets in between
    ///   are skipped and counted; the commit moves to `to` once everything before is
    ///   handled.
    /// - backward (`to` before the position): records held at or past `to` are let go
    ///   uncommitted (the log is read again from `to`), records below `to` are handled as
    ///   usual, and the commit moves back to `to` if it was past it. A batch in flight
    ///   finishes, but only its records below `to` count: its success commits nothing
    ///   past `to`, and a failure retries only them. The partition's next batch waits
    ///   for it (one batch per partition at a time).
    ///
    /// `from` is the fetcher's position; the engine's own is used when it knows one.
    pub fn reset(&mut self, partition: &TopicPartition, from: i64, to: i64, now: Millis) {
        let Some(p) = self.partitions.get_mut(partition) else {
            return;
        };
        if let Some((from, skipped, discarded)) = p.reset(from, to) {
            self.actions.push_back(Action::Reset {
                partition: partition.clone(),
                from,
                to,
                skipped,
                discarded,
            });
        }
        self.drive(partition, now);
    }

    /// The result of an [`Action::Invoke`].
    pub fn invoked(&mut self, id: BatchId, outcome: InvokeOutcome, now: Millis) {
        let Some(partition) = self.owner(id) else {
            return;
        };
        let config = self.config.clone();
        let delay = self.backoff_for(&partition);
        let p = self.partitions.get_mut(&partition).expect("owner exists");
        p.invoked(&config, outcome, now, delay);
        self.drive(&partition, now);
    }

    /// The result of an [`Action::SendToDestination`]: written (true), or failed and to
    /// be retried (false).
    pub fn delivered(&mut self, id: BatchId, written: bool, now: Millis) {
        let Some(partition) = self.owner(id) else {
            return;
        };
        let delay = self.backoff_for(&partition);
        let p = self.partitions.get_mut(&partition).expect("owner exists");
        p.delivered(written, now, delay);
        self.drive(&partition, now);
    }

    /// Lets time pass: batching windows close and retry backoffs end.
    pub fn handle_timeout(&mut self, now: Millis) {
        let keys: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
        for k in keys {
            self.drive(&k, now);
        }
    }

    /// The earliest time [`Engine::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.partitions
            .values()
            .filter_map(|p| p.deadline(&self.config))
            .min()
    }

    /// The next action to carry out.
    pub fn poll_action(&mut self) -> Option<Action<R>> {
        self.actions.pop_front()
    }

    /// Whether any partition has work buffered or in flight.
    pub fn is_idle(&self) -> bool {
        self.partitions.values().all(PartitionState::is_idle)
    }

    fn owner(&self, id: BatchId) -> Option<TopicPartition> {
        self.partitions
            .iter()
            .find(|(_, p)| p.inflight_id() == Some(id))
            .map(|(k, _)| k.clone())
    }

    /// The wait before the partition's next retry: exponential in its consecutive
    /// failures, with jitter between half and all of it.
    fn backoff_for(&mut self, partition: &TopicPartition) -> Duration {
        let failures = self
            .partitions
            .get(partition)
            .map_or(0, PartitionState::failures);
        let base = self.config.retry_base.as_millis() as u64;
        let max = self.config.retry_max.as_millis() as u64;
        let full = base.saturating_mul(1u64 << failures.min(20)).min(max);
        // xorshift64*: deterministic from the seed.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let jitter = if full == 0 { 0 } else { r % (full / 2 + 1) };
        Duration::from_millis(full - jitter)
    }

    /// Lets a partition act on what it has: start a batch, give one up, commit.
    fn drive(&mut self, partition: &TopicPartition, now: Millis) {
        let Some(p) = self.partitions.get_mut(partition) else {
            return;
        };
        let mut next_id = self.next_id;
        p.drive(
            &self.config,
            partition,
            now,
            &mut next_id,
            &mut self.actions,
        );
        self.next_id = next_id;
        self.buffered_bytes = self.buffered_bytes - p.accounted_bytes + p.buffered_bytes();
        p.accounted_bytes = p.buffered_bytes();
        let was_paused = p.is_paused();
        p.flow_control(
            &self.config,
            partition,
            self.buffered_bytes,
            &mut self.actions,
        );
        match (was_paused, p.is_paused()) {
            (false, true) => self.paused += 1,
            (true, false) => self.paused -= 1,
            _ => {}
        }
        if p.is_revoked_and_done() {
            let p = self.partitions.remove(partition).expect("driven");
            self.forget(&p);
            self.actions.push_back(Action::Revoked(partition.clone()));
        }
        if self.paused > 0 && self.buffered_bytes <= self.config.max_buffered_bytes / 2 {
            // Back under the low mark: every paused partition fetches again.
            for (key, p) in self.partitions.iter_mut().filter(|(_, p)| p.is_paused()) {
                p.flow_control(&self.config, key, self.buffered_bytes, &mut self.actions);
            }
            self.paused = 0;
        }
    }
}
