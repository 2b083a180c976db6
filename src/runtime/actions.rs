//! Carrying out the engine's actions for one consumer ([`Runner`]): encoding and invoking
//! a batch, committing offsets (together, last), writing a batch given up to the
//! on-failure destination, pausing and resuming partitions, and counting all of it in
//! the stats, the metrics and the mapping's status; and feeding the results of
//! invocations and destination writes back to the engine.

use super::member::{Runner, Underway};
use super::records::EngineRec;
use super::source::Source;
use super::status::set_last_processing_result;
use super::{RuntimeError, key, now};
use crate::destination::{DestinationError, Failure, ResponseContext};
use crate::engine::{Action, BatchId, Condition};
use crate::invoke::{Invocation, InvokeError, Invoker, outcome};
use crate::kafka::TopicPartition;
use std::collections::BTreeMap;
use std::time::Duration;
use tracing::Instrument;

impl<I: Invoker, S: Source> Runner<I, S> {
    /// An invocation ended: counts it, stops the mapping on an error no retry can fix,
    /// and tells the engine.
    pub(super) fn invoked(
        &mut self,
        id: BatchId,
        key: &str,
        result: Result<Invocation, InvokeError>,
        took: Duration,
    ) {
        let Some(Underway {
            partition: tp,
            records,
            last_offset,
            ..
        }) = self.inflight.remove(&id)
        else {
            // Its partition was lost meanwhile.
            return;
        };
        self.last_response
            .insert(tp.clone(), response_context(&result));
        self.count_invocation(&result, records, took);
        match &result {
            // Before the engine hears of it: the batch is abandoned
            // uncommitted, not counted as a failed attempt.
            Err(e) if e.reason().is_some() => {
                self.stop_on(RuntimeError::Invoke(e.clone()));
            }
            Err(e) => tracing::warn!(partition = %key, "invocation failed: {e}"),
            Ok(_) => {}
        }
        let o = outcome(&result, self.shared.mapping.report_batch_item_failures, key);
        if o.is_success() {
            self.events.done(&tp, last_offset);
        }
        self.record_result(&result);
        self.engine.invoked(id, o, (self.clock)());
    }

    /// A write to the destination ended: counts it and tells the engine.
    pub(super) fn delivered(
        &mut self,
        id: BatchId,
        key: &str,
        count: usize,
        result: Result<(), DestinationError>,
    ) {
        let Some(done) = self.delivering.remove(&id) else {
            // Its partition was lost meanwhile.
            return;
        };
        let written = result.is_ok();
        if written {
            self.events.done(&done.partition, done.last_offset);
        }
        self.record_delivery(key, count, result);
        self.engine.delivered(id, written, (self.clock)());
    }

    /// `LastProcessingResult` after an invocation.
    fn record_result(&self, result: &Result<Invocation, InvokeError>) {
        let text = match result {
            Ok(inv) => match &inv.function_error {
                None => "OK".to_string(),
                Some(kind) => format!("PROBLEM: Function call failed ({kind})"),
            },
            Err(e) => format!("PROBLEM: {e}"),
        };
        set_last_processing_result(&self.shared.status, text);
    }

    /// Carries out every pending engine action; commits are sent together, last.
    pub(super) async fn act(&mut self) -> Result<(), RuntimeError> {
        let mut commits: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        while let Some(action) = self.engine.poll_action() {
            match action {
                Action::Invoke {
                    id,
                    partition,
                    records,
                    attempt,
                } => self.invoke(id, partition, records, attempt),
                Action::Commit { partition, offset } => {
                    commits.insert(partition, offset);
                }
                Action::Dropped {
                    partition,
                    first_offset,
                    last_offset,
                    count,
                    condition,
                } => {
                    self.events.done(&partition, last_offset);
                    self.stats.records_dropped += count as u64;
                    self.shared.metrics.dropped.add(count as u64);
                    self.shared
                        .status
                        .send_modify(|s| s.records_dropped += count as u64);
                    tracing::warn!(
                        partition = %key(&partition),
                        first_offset,
                        last_offset,
                        count,
                        condition = condition.as_str(),
                        "records dropped (no on-failure destination)"
                    );
                }
                Action::SendToDestination {
                    id,
                    partition,
                    records,
                    condition,
                    attempts,
                } => self.send_to_destination(id, partition, records, condition, attempts),
                Action::Pause(tp) => self.consumer.pause(&tp),
                Action::Resume(tp) => self.consumer.resume(&tp),
                Action::Reset {
                    partition,
                    from,
                    to,
                    skipped,
                    discarded,
                } => self.log_reset(&partition, from, to, skipped, discarded),
                Action::Revoked(tp) => {
                    // Its commits came before this action; send them before the group
                    // moves the partition.
                    self.commit(&mut commits).await?;
                    self.revoking.remove(&tp);
                    self.events.forget(&tp);
                    self.consumer.release(&tp);
                }
            }
        }
        self.commit(&mut commits).await
    }

    /// Reports a partition's log reset (the engine's [`Action::Reset`]): what no longer
    /// exists is counted as dropped.
    fn log_reset(
        &mut self,
        partition: &TopicPartition,
        from: i64,
        to: i64,
        skipped: u64,
        discarded: usize,
    ) {
        if to >= from {
            self.stats.records_dropped += skipped;
            self.shared.metrics.dropped.add(skipped);
            self.shared
                .status
                .send_modify(|s| s.records_dropped += skipped);
            tracing::warn!(
                partition = %key(partition),
                first_offset = from,
                last_offset = to - 1,
                count = skipped,
                "offsets {from}..={} no longer exist in the log (deleted before they were \
                 read): resuming at {to}; counted as dropped",
                to - 1
            );
        } else {
            tracing::warn!(
                partition = %key(partition),
                from,
                to,
                discarded,
                "the log restarts below the position {from} (truncated, or the topic deleted \
                 and re-created): resuming at {to}, records from there on are delivered \
                 again; {discarded} records fetched at or past {to} before the reset were let go"
            );
        }
    }

    async fn commit(
        &mut self,
        commits: &mut BTreeMap<TopicPartition, i64>,
    ) -> Result<(), RuntimeError> {
        if commits.is_empty() {
            return Ok(());
        }
        let offsets = std::mem::take(commits);
        match self.consumer.commit(offsets.clone()).await {
            Ok(()) => {
                self.stats.commits += 1;
                tracing::debug!(?offsets, "committed");
                Ok(())
            }
            // The consumer sends it again with backoff while the partitions are this
            // member's; if the group moved on, the next owner reads those records again
            // (at least once), and the rebalance itself arrives through poll.
            Err(e) if e.is_retriable() => {
                self.shared.metrics.polling_errors.add(1);
                tracing::warn!("commit not taken yet, retrying: {e}");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Writes a batch given up to the destination, in a task; its result goes back to
    /// the engine, which commits the batch only once it was written.
    fn send_to_destination(
        &mut self,
        id: BatchId,
        tp: TopicPartition,
        records: Vec<EngineRec>,
        condition: Condition,
        attempts: u32,
    ) {
        let k = key(&tp);
        let Some(destination) = self.shared.destination.clone() else {
            // The engine sends here only when a destination is configured.
            tracing::error!(partition = %k, "no on-failure destination: the batch waits");
            return;
        };
        let keys = records.iter().map(|r| r.record.key.clone()).collect();
        let last_offset = last_offset(&records);
        let event = self.events.event(&tp, records);
        let response = match condition {
            Condition::MaximumPayloadSizeExceeded => None,
            Condition::RetryAttemptsExhausted => self.last_response.get(&tp).cloned(),
        };
        let count = event.record_count();
        let failure = Failure {
            condition,
            attempts,
            response,
            event,
            keys,
            at: now(),
        };
        tracing::debug!(partition = %k, records = count, condition = condition.as_str(), "writing to the on-failure destination");
        let task = self.deliveries.spawn(
            async move {
                let result = destination.send(&failure).await;
                (id, k, count, result)
            }
            .in_current_span(),
        );
        self.delivering.insert(
            id,
            Underway {
                partition: tp,
                records: count,
                last_offset,
                task,
            },
        );
    }

    /// Counts a write to the destination and reports a failing one.
    fn record_delivery(
        &mut self,
        partition: &str,
        count: usize,
        result: Result<(), DestinationError>,
    ) {
        match result {
            Ok(()) => {
                self.stats.records_to_destination += count as u64;
                self.shared.metrics.destination_delivered.add(count as u64);
                tracing::info!(
                    partition,
                    records = count,
                    "written to the on-failure destination"
                );
            }
            Err(e) => {
                set_last_processing_result(&self.shared.status, format!("PROBLEM: {e}"));
                if e.is_permanent() {
                    // Retrying can't help and dropping would lose the batch: stop, with
                    // the batch uncommitted (the engine hears of it after the revocation).
                    self.stop_on(RuntimeError::Destination(e));
                } else {
                    tracing::warn!(partition, "{e}; retrying, the partition waits");
                }
            }
        }
    }

    fn invoke(&mut self, id: BatchId, tp: TopicPartition, records: Vec<EngineRec>, attempt: u32) {
        let n = records.len();
        let last_offset = last_offset(&records);
        let event = self.events.event(&tp, records);
        self.stats.invocations += 1;
        self.stats.records_invoked += n as u64;
        self.shared
            .status
            .send_modify(|s| s.records_invoked += n as u64);
        self.shared.metrics.dispatched(n);
        tracing::debug!(partition = %key(&tp), records = n, bytes = event.len(), attempt, "invoking");
        let invoker = self.shared.invoker.clone();
        let k = key(&tp);
        let payload = event.payload();
        let task = self.invocations.spawn(
            async move {
                let started = std::time::Instant::now();
                let result = invoker.invoke(payload).await;
                (id, k, result, started.elapsed())
            }
            .in_current_span(),
        );
        self.inflight.insert(
            id,
            Underway {
                partition: tp,
                records: n,
                last_offset,
                task,
            },
        );
    }

    /// The metrics of a finished invocation of `records` records.
    fn count_invocation(
        &self,
        result: &Result<Invocation, InvokeError>,
        records: usize,
        took: Duration,
    ) {
        let m = &self.shared.metrics;
        m.invocation_duration.observe(took.as_secs_f64());
        let failed = match result {
            Ok(inv) => inv.function_error.is_some(),
            Err(InvokeError::Throttled { .. }) => {
                m.throttled.add(1);
                true
            }
            Err(InvokeError::Timeout { .. }) => {
                m.timed_out.add(1);
                true
            }
            Err(_) => true,
        };
        if failed {
            m.failed_invoke.add(records as u64);
        }
    }
}

/// The offset of the last of `records` (-1 for none).
fn last_offset(records: &[EngineRec]) -> i64 {
    records.last().map_or(-1, |r| r.record.offset)
}

/// The `responseContext` an invocation leaves for a batch given up after it. Errors that
/// never reached the function get the status Lambda answers them with.
pub(super) fn response_context(result: &Result<Invocation, InvokeError>) -> ResponseContext {
    match result {
        Ok(inv) => ResponseContext {
            status_code: inv.status_code,
            executed_version: inv.executed_version.clone(),
            function_error: inv.function_error.clone(),
        },
        Err(e) => ResponseContext {
            status_code: match e {
                InvokeError::Throttled { .. } => 429,
                InvokeError::PayloadTooLarge { .. } => 413,
                InvokeError::Function { .. } => 404,
                InvokeError::Timeout { .. } => 200,
                _ => 500,
            },
            executed_version: None,
            function_error: matches!(e, InvokeError::Timeout { .. }).then(|| "Unhandled".into()),
        },
    }
}
