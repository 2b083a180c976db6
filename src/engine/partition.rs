//! One partition's state in the engine: records waiting for a batch, the batch being
//! handled (possibly bisected into parts), and the offset committed so far.
//!
//! At most one part is invoked or written to the destination at a time, so a
//! partition's records are handled in offset order. Nothing here knows about other
//! partitions, the clock or I/O.

use super::{
    Action, BatchId, Condition, EngineConfig, EngineRecord, Failure, InvokeOutcome, Millis,
    TopicPartition,
};
use std::collections::VecDeque;
use std::time::Duration;

/// Records handled together, and how many times they were invoked.
struct Part<R> {
    records: Vec<R>,
    attempts: u32,
}

impl<R: EngineRecord> Part<R> {
    fn first_offset(&self) -> i64 {
        self.records.first().map_or(-1, R::offset)
    }

    fn last_offset(&self) -> i64 {
        self.records.last().map_or(-1, R::offset)
    }

    /// Whether its oldest record is older than `max_age` at `now`. Records without a
    /// timestamp (-1) never expire.
    fn expired(&self, max_age: Option<Duration>, now: Millis) -> bool {
        let Some(max_age) = max_age else {
            return false;
        };
        let oldest = self
            .records
            .iter()
            .map(R::timestamp)
            .filter(|t| *t >= 0)
            .min();
        oldest.is_some_and(|t| now.saturating_sub(t) > max_age.as_millis() as i64)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// The front part is to be invoked now.
    Ready,
    /// Invoked under this id; waiting for the outcome.
    Invoking(BatchId),
    /// Waiting to retry the front part.
    Backoff { until: Millis },
    /// The front part is given up: to the destination, or dropped.
    GiveUp(Condition),
    /// Written to the destination under this id; waiting for the acknowledgement.
    Delivering(BatchId, Condition),
    /// Waiting to write the front part to the destination again.
    DeliveryBackoff { until: Millis, condition: Condition },
}

/// A batch being handled: its parts in offset order, the front one current.
struct Work<R> {
    parts: VecDeque<Part<R>>,
    stage: Stage,
}

pub(super) struct PartitionState<R> {
    /// Fetched records not yet in a batch, with the time each arrived.
    buffer: VecDeque<(R, Millis)>,
    /// The encoded sizes of the records in `buffer`, summed.
    buffered_bytes: usize,
    /// What the engine's total counts of `buffered_bytes` (updated by the engine).
    pub(super) accounted_bytes: usize,
    /// The offset after everything fetched.
    consumed_to: i64,
    /// The offset after the last record fetched (not counting filtered-out or control
    /// records past it): once `committed` reaches it, everything fetched is handled.
    records_end: i64,
    /// The offset last committed (or the position handling started at).
    committed: i64,
    /// `committed` moved and the commit is not emitted yet.
    pending_commit: bool,
    work: Option<Work<R>>,
    /// Consecutive failures, for the backoff.
    failures: u32,
    paused: bool,
    revoking: bool,
}

impl<R: EngineRecord> PartitionState<R> {
    pub(super) fn new(position: i64) -> PartitionState<R> {
        PartitionState {
            buffer: VecDeque::new(),
            buffered_bytes: 0,
            accounted_bytes: 0,
            consumed_to: position,
            records_end: position,
            committed: position,
            pending_commit: false,
            work: None,
            failures: 0,
            paused: false,
            revoking: false,
        }
    }

    pub(super) fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    pub(super) fn is_paused(&self) -> bool {
        self.paused
    }

    pub(super) fn failures(&self) -> u32 {
        self.failures
    }

    pub(super) fn is_idle(&self) -> bool {
        self.work.is_none() && self.buffer.is_empty()
    }

    pub(super) fn is_revoked_and_done(&self) -> bool {
        self.revoking && self.work.is_none()
    }

    pub(super) fn inflight_id(&self) -> Option<BatchId> {
        match self.work.as_ref()?.stage {
            Stage::Invoking(id) | Stage::Delivering(id, _) => Some(id),
            _ => None,
        }
    }

    pub(super) fn revoke(&mut self) {
        self.revoking = true;
        self.buffer.clear();
        self.buffered_bytes = 0;
        // Work not in flight is abandoned, uncommitted: the next owner redoes it.
        if self.inflight_id().is_none() {
            self.work = None;
        }
    }

    pub(super) fn push(&mut self, records: Vec<R>, next_offset: i64, now: Millis) {
        if self.revoking {
            return;
        }
        // Records at or past what was already fetched only (a refetch after a seek
        // must not duplicate work).
        for r in records {
            if r.offset() >= self.consumed_to {
                self.consumed_to = r.offset() + 1;
                self.records_end = self.consumed_to;
                self.buffered_bytes += r.encoded_size();
                self.buffer.push_back((r, now));
            }
        }
        self.consumed_to = self.consumed_to.max(next_offset);
    }

    /// The log no longer holds the position: fetching resumed at `to` (see
    /// [`super::Engine::reset`]). Returns the offsets skipped and the records let go.
    pub(super) fn reset(&mut self, from: i64, to: i64) -> Option<(i64, u64, usize)> {
        if self.revoking {
            return None;
        }
        // A partition assigned at a symbolic position (-1) learns it from the fetcher.
        let old = if self.consumed_to >= 0 {
            self.consumed_to
        } else {
            from
        };
        let skipped = to.saturating_sub(old).max(0) as u64;
        // Records held at or past `to` come again from the log.
        let before = self.buffer.len();
        self.buffer.retain(|(r, _)| r.offset() < to);
        let mut discarded = before - self.buffer.len();
        self.buffered_bytes = self.buffer.iter().map(|(r, _)| r.encoded_size()).sum();
        if let Some(work) = self.work.as_mut() {
            let in_flight = matches!(work.stage, Stage::Invoking(_) | Stage::Delivering(..));
            let front_gone = work.parts.front().is_some_and(|p| p.first_offset() >= to);
            for part in work.parts.iter_mut() {
                let n = part.records.len();
                part.records.retain(|r| r.offset() < to);
                discarded += n - part.records.len();
            }
            // A part in flight stays, even emptied: its outcome is awaited, and then
            // counts for its records below `to` only.
            let mut front = in_flight;
            work.parts
                .retain(|p| std::mem::take(&mut front) || !p.records.is_empty());
            if work.parts.is_empty() {
                self.work = None;
            } else if front_gone && !in_flight {
                // What the stage said was about a part let go.
                work.stage = Stage::Ready;
            }
        }
        self.records_end = self.records_end.min(to);
        if to < self.committed {
            self.committed = to;
            self.pending_commit = true;
        }
        self.consumed_to = to;
        Some((old, skipped, discarded))
    }

    /// Whether the buffer holds a full batch: `batch_size` records, or enough to reach
    /// the payload cap.
    pub(super) fn holds_full_batch(&self, config: &EngineConfig) -> bool {
        self.buffer.len() >= config.batch_size.max(1)
            || config.envelope_size + self.buffered_bytes >= config.max_payload
    }

    pub(super) fn deadline(&self, config: &EngineConfig) -> Option<Millis> {
        match &self.work {
            Some(w) => match w.stage {
                Stage::Backoff { until } | Stage::DeliveryBackoff { until, .. } => Some(until),
                _ => None,
            },
            None if self.revoking => None,
            None => self
                .buffer
                .front()
                .map(|(_, arrived)| arrived + config.batching_window.as_millis() as i64),
        }
    }

    pub(super) fn invoked(
        &mut self,
        config: &EngineConfig,
        outcome: InvokeOutcome,
        now: Millis,
        delay: Duration,
    ) {
        let Some(work) = self.work.as_mut() else {
            return;
        };
        if work.parts.front().is_some_and(|p| p.records.is_empty()) {
            // Every record of it was let go by a reset while it ran.
            self.drop_emptied_part();
            return;
        }
        let outcome = match outcome {
            InvokeOutcome::PartialFailure { failed_offsets } if failed_offsets.is_empty() => {
                InvokeOutcome::Success
            }
            InvokeOutcome::PartialFailure { .. } if !config.report_batch_item_failures => {
                // Without ReportBatchItemFailures the body is not a partial response.
                InvokeOutcome::Success
            }
            other => other,
        };
        match outcome {
            InvokeOutcome::Success => {
                self.failures = 0;
                self.finish_part();
            }
            InvokeOutcome::PartialFailure { failed_offsets } => {
                let part = work.parts.front_mut().expect("a part is in flight");
                let in_batch = failed_offsets
                    .iter()
                    .all(|o| part.records.iter().any(|r| r.offset() == *o));
                if !in_batch {
                    // An identifier naming no record of the batch: AWS treats the
                    // response as a failure of the whole batch.
                    self.failed(config, Failure::Function, now, delay, true);
                    return;
                }
                let lowest = *failed_offsets.iter().min().expect("not empty");
                let keep = part.records.iter().position(|r| r.offset() >= lowest);
                let done: Vec<R> = part.records.drain(..keep.unwrap_or(0)).collect();
                if !done.is_empty() {
                    // Records before the lowest failure are handled: commit them now.
                    self.committed = self.committed.max(lowest);
                    self.pending_commit = true;
                }
                // The batch is split at the failure already: the rest is retried as is
                // (AWS doesn't bisect it further).
                self.failed(config, Failure::Function, now, delay, false);
            }
            InvokeOutcome::Failed(kind) => self.failed(config, kind, now, delay, true),
        }
    }

    fn failed(
        &mut self,
        config: &EngineConfig,
        kind: Failure,
        now: Millis,
        delay: Duration,
        may_bisect: bool,
    ) {
        let revoking = self.revoking;
        let Some(work) = self.work.as_mut() else {
            return;
        };
        if revoking {
            // Not retried by us: the next owner reads these records again.
            self.work = None;
            return;
        }
        self.failures += 1;
        let part = work.parts.front_mut().expect("a part is in flight");
        if kind == Failure::Throttled {
            // A throttled call didn't run the function: it is not an attempt.
            part.attempts = part.attempts.saturating_sub(1);
            work.stage = Stage::Backoff {
                until: now + delay.as_millis() as i64,
            };
            return;
        }
        let retries = part.attempts.saturating_sub(1);
        if config.max_retry_attempts.is_some_and(|max| retries >= max) {
            work.stage = Stage::GiveUp(Condition::RetryAttemptsExhausted);
            return;
        }
        if may_bisect
            && kind == Failure::Function
            && config.bisect_on_error
            && part.records.len() > 1
        {
            let part = work.parts.pop_front().expect("front exists");
            let mut first = part.records;
            let second = first.split_off(first.len() / 2);
            // Each half inherits the attempts: its next invocation is a retry.
            work.parts.push_front(Part {
                records: second,
                attempts: part.attempts,
            });
            work.parts.push_front(Part {
                records: first,
                attempts: part.attempts,
            });
            work.stage = Stage::Ready;
            return;
        }
        work.stage = Stage::Backoff {
            until: now + delay.as_millis() as i64,
        };
    }

    pub(super) fn delivered(&mut self, written: bool, now: Millis, delay: Duration) {
        let Some(work) = self.work.as_mut() else {
            return;
        };
        let Stage::Delivering(_, condition) = work.stage else {
            return;
        };
        if work.parts.front().is_some_and(|p| p.records.is_empty()) {
            self.drop_emptied_part();
            return;
        }
        if written {
            self.failures = 0;
            self.finish_part();
        } else if self.revoking {
            self.work = None;
        } else {
            self.failures += 1;
            work.stage = Stage::DeliveryBackoff {
                until: now + delay.as_millis() as i64,
                condition,
            };
        }
    }

    /// The front part, in flight when a reset let all its records go, is over: nothing
    /// to commit, nothing to retry.
    fn drop_emptied_part(&mut self) {
        let Some(work) = self.work.as_mut() else {
            return;
        };
        work.parts.pop_front();
        if work.parts.is_empty() || self.revoking {
            self.work = None;
        } else {
            work.stage = Stage::Ready;
        }
    }

    /// The front part is handled: its offsets can be committed.
    fn finish_part(&mut self) {
        let Some(work) = self.work.as_mut() else {
            return;
        };
        if let Some(part) = work.parts.pop_front() {
            let next = part.last_offset() + 1;
            if next > self.committed {
                self.committed = next;
                self.pending_commit = true;
            }
        }
        if work.parts.is_empty() || self.revoking {
            self.work = None;
        } else {
            work.stage = Stage::Ready;
        }
    }
}

impl<R: EngineRecord> PartitionState<R> {
    /// Acts on what the partition has at `now`, pushing actions.
    pub(super) fn drive(
        &mut self,
        config: &EngineConfig,
        key: &TopicPartition,
        now: Millis,
        next_id: &mut u64,
        actions: &mut VecDeque<Action<R>>,
    ) {
        let mut new_id = || {
            *next_id += 1;
            BatchId(*next_id)
        };
        loop {
            let Some(work) = self.work.as_mut() else {
                if self.revoking {
                    // Every record fetched was handled (none abandoned in the buffer or
                    // in a failed batch): what was fetched past them (filtered out,
                    // control) is handled too, and goes with the last commit.
                    if self.committed >= self.records_end && self.consumed_to > self.committed {
                        self.committed = self.consumed_to;
                        self.pending_commit = true;
                    }
                    break;
                }
                match self.take_batch(config, now) {
                    Some(work) => {
                        self.work = Some(work);
                        continue;
                    }
                    None => {
                        // Nothing buffered or in flight: everything fetched is handled
                        // (what is past the last record was filtered out or control).
                        if self.buffer.is_empty() && self.consumed_to > self.committed {
                            self.committed = self.consumed_to;
                            self.pending_commit = true;
                        }
                        break;
                    }
                }
            };
            match work.stage {
                Stage::Ready => {
                    let part = work.parts.front_mut().expect("work has a part");
                    if part.expired(config.max_record_age, now) {
                        work.stage = Stage::GiveUp(Condition::RetryAttemptsExhausted);
                        continue;
                    }
                    // Commit what is done before invoking what follows.
                    self.flush_commit(key, actions);
                    let part = self.work.as_mut().expect("still here").parts.front_mut();
                    let part = part.expect("work has a part");
                    part.attempts += 1;
                    let id = new_id();
                    actions.push_back(Action::Invoke {
                        id,
                        partition: key.clone(),
                        records: part.records.clone(),
                        attempt: part.attempts,
                    });
                    self.work.as_mut().expect("still here").stage = Stage::Invoking(id);
                    break;
                }
                Stage::Backoff { until } if now >= until => work.stage = Stage::Ready,
                Stage::DeliveryBackoff { until, condition } if now >= until => {
                    work.stage = Stage::GiveUp(condition);
                }
                Stage::GiveUp(condition) => {
                    let part = work.parts.front().expect("work has a part");
                    if config.has_destination {
                        let id = new_id();
                        actions.push_back(Action::SendToDestination {
                            id,
                            partition: key.clone(),
                            records: part.records.clone(),
                            condition,
                            attempts: part.attempts,
                        });
                        work.stage = Stage::Delivering(id, condition);
                        break;
                    }
                    actions.push_back(Action::Dropped {
                        partition: key.clone(),
                        first_offset: part.first_offset(),
                        last_offset: part.last_offset(),
                        count: part.records.len(),
                        condition,
                    });
                    self.finish_part();
                }
                Stage::Backoff { .. }
                | Stage::DeliveryBackoff { .. }
                | Stage::Invoking(_)
                | Stage::Delivering(..) => break,
            }
        }
        self.flush_commit(key, actions);
    }

    fn flush_commit(&mut self, key: &TopicPartition, actions: &mut VecDeque<Action<R>>) {
        if self.pending_commit {
            self.pending_commit = false;
            actions.push_back(Action::Commit {
                partition: key.clone(),
                offset: self.committed,
            });
        }
    }

    /// Pauses fetching while the engine holds more than its byte budget (`total`) and
    /// this partition a full batch; resumes once the total is back under half the
    /// budget, or the partition needs more records to fill a batch.
    pub(super) fn flow_control(
        &mut self,
        config: &EngineConfig,
        key: &TopicPartition,
        total: usize,
        actions: &mut VecDeque<Action<R>>,
    ) {
        let full = self.holds_full_batch(config);
        let budget = config.max_buffered_bytes;
        if !self.paused && !self.revoking && full && total > budget {
            self.paused = true;
            actions.push_back(Action::Pause(key.clone()));
        } else if self.paused && (!full || total <= budget / 2) {
            self.paused = false;
            actions.push_back(Action::Resume(key.clone()));
        }
    }

    /// The next batch from the buffer, if one is due: full (`batch_size` records, or
    /// the payload cap reached), or its oldest record waited out the window. A first
    /// record too big for an event on its own makes a batch of one to give up.
    fn take_batch(&mut self, config: &EngineConfig, now: Millis) -> Option<Work<R>> {
        let (first, arrived) = self.buffer.front()?;
        if config.envelope_size + first.encoded_size() > config.max_payload {
            let (r, _) = self.buffer.pop_front().expect("front exists");
            self.buffered_bytes -= r.encoded_size();
            return Some(Work {
                parts: VecDeque::from([Part {
                    records: vec![r],
                    attempts: 0,
                }]),
                stage: Stage::GiveUp(Condition::MaximumPayloadSizeExceeded),
            });
        }
        let window_over = now >= arrived + config.batching_window.as_millis() as i64;
        let mut size = config.envelope_size;
        let mut n = 0;
        for (r, _) in &self.buffer {
            if n == config.batch_size.max(1) || size + r.encoded_size() > config.max_payload {
                break;
            }
            size += r.encoded_size();
            n += 1;
        }
        let full = n == config.batch_size.max(1) || n < self.buffer.len();
        if !full && !window_over {
            return None;
        }
        let records: Vec<R> = self.buffer.drain(..n).map(|(r, _)| r).collect();
        self.buffered_bytes -= size - config.envelope_size;
        Some(Work {
            parts: VecDeque::from([Part {
                records,
                attempts: 0,
            }]),
            stage: Stage::Ready,
        })
    }
}
