//! Applying the leaders' Fetch answers to a [`FetchState`]: deliveries, position moves,
//! fetch sessions, throttles and what each per-partition error code does (retry later,
//! reset the position, or fail). Pure: the answers and the time they arrived come in as
//! arguments; nothing here does I/O or reads the clock.

use super::plan::{Planned, Sent, Session};
use super::request::LeaderOutcome;
use super::state::{FetchState, Pos};
use super::{FetchError, FetchPosition, OffsetReset, PartitionRecords, drain};
use crate::kafka::client::cluster::KafkaCode;
use crate::kafka::protocol::messages::fetch::FetchResponse;
use std::collections::HashMap;
use std::time::Duration;
use std::time::Instant;

impl FetchState {
    /// Turns the leaders' answers into deliveries and position moves, all or nothing:
    /// on an error no position moves. `now` is when they arrived.
    pub(super) fn apply(
        &mut self,
        outcomes: Vec<LeaderOutcome>,
        now: Instant,
    ) -> Result<Vec<PartitionRecords>, FetchError> {
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
                now,
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
        now: Instant,
    ) {
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
