//! [`FetchState`]: the fetcher's decisions, with no I/O and no clock.
//!
//! It owns every assigned partition's position, pause and backoff, the fetch sessions
//! and throttles of each leader, the offset-reset policy and the positions it reset. The
//! [`Fetcher`](super::Fetcher)'s async loop asks it what to do (which metadata to reload,
//! which positions to resolve, which Fetch requests to send, how long to idle), does the
//! I/O, and feeds the answers back ([`FetchState::refreshed`], [`FetchState::resolved`],
//! [`FetchState::apply`]) with the time they arrived. It must not touch a socket, spawn a
//! task or read the clock: time comes in as an [`Instant`] argument, leaders through a
//! lookup function.

use super::plan::{LeaderFetch, Planned, Resolve, Session};
use super::{FetchConfig, FetchError, FetchPosition, PositionReset};
use crate::kafka::TopicPartition;
use crate::kafka::client::cluster::{KafkaCode, Leader};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pos {
    At(i64),
    /// To be resolved with ListOffsets (never `FetchPosition::Offset`).
    Resolve(FetchPosition),
}

#[derive(Debug)]
pub(super) struct Assigned {
    pub(super) pos: Pos,
    pub(super) paused: bool,
    /// The partition limit sent; above the configured one while a truncated batch grows.
    pub(super) limit: i32,
    pub(super) failures: u32,
    pub(super) retry_at: Option<Instant>,
    /// The position OFFSET_OUT_OF_RANGE refused, while the reset policy's position is
    /// resolved.
    pub(super) reset_from: Option<i64>,
}

/// The fetcher's state machine. See the module docs.
#[derive(Debug)]
pub(super) struct FetchState {
    pub(super) config: FetchConfig,
    pub(super) partitions: BTreeMap<TopicPartition, Assigned>,
    needs_refresh: bool,
    refresh_at: Option<Instant>,
    pub(super) sessions: HashMap<i32, Session>,
    pub(super) throttled: HashMap<i32, Instant>,
    /// Rotates the order partitions are listed in, so none is always last.
    round: usize,
    /// Partition fetches (or position lookups) that failed and wait to be retried.
    retried: u64,
    /// Positions reset, not taken by the caller yet.
    pub(super) resets: Vec<PositionReset>,
}

impl FetchState {
    pub(super) fn new(config: FetchConfig) -> FetchState {
        FetchState {
            config,
            partitions: BTreeMap::new(),
            needs_refresh: false,
            refresh_at: None,
            sessions: HashMap::new(),
            throttled: HashMap::new(),
            round: 0,
            retried: 0,
            resets: Vec::new(),
        }
    }

    pub(super) fn config(&self) -> &FetchConfig {
        &self.config
    }

    pub(super) fn retried_errors(&self) -> u64 {
        self.retried
    }

    pub(super) fn take_resets(&mut self) -> Vec<PositionReset> {
        std::mem::take(&mut self.resets)
    }

    /// How many resets wait to be taken.
    pub(super) fn resets_pending(&self) -> usize {
        self.resets.len()
    }

    pub(super) fn assign(&mut self, topic: &str, partition: i32, position: FetchPosition) {
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

    pub(super) fn unassign(&mut self, topic: &str, partition: i32) {
        self.partitions.remove(&(topic.to_string(), partition));
        self.resets
            .retain(|r| !(r.topic == topic && r.partition == partition));
    }

    pub(super) fn assigned(&self) -> Vec<TopicPartition> {
        self.partitions.keys().cloned().collect()
    }

    pub(super) fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        match self.state(topic, partition)?.pos {
            Pos::At(o) => Some(o),
            Pos::Resolve(_) => None,
        }
    }

    pub(super) fn pause(&mut self, topic: &str, partition: i32) {
        if let Some(s) = self.state_mut(topic, partition) {
            s.paused = true;
        }
    }

    pub(super) fn resume(&mut self, topic: &str, partition: i32) {
        if let Some(s) = self.state_mut(topic, partition) {
            s.paused = false;
        }
    }

    pub(super) fn is_paused(&self, topic: &str, partition: i32) -> bool {
        self.state(topic, partition).is_some_and(|s| s.paused)
    }

    fn state(&self, topic: &str, partition: i32) -> Option<&Assigned> {
        self.partitions.get(&(topic.to_string(), partition))
    }

    pub(super) fn state_mut(&mut self, topic: &str, partition: i32) -> Option<&mut Assigned> {
        self.partitions.get_mut(&(topic.to_string(), partition))
    }

    fn topics(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self.partitions.keys().map(|(t, _)| t).collect();
        set.into_iter().cloned().collect()
    }

    /// The topics whose metadata to reload now, if any: when a leader failed, or a topic
    /// is not in the metadata yet (`known` says which are), and no backoff runs.
    pub(super) fn refresh_due(
        &self,
        now: Instant,
        known: impl Fn(&str) -> bool,
    ) -> Option<Vec<String>> {
        let topics = self.topics();
        let unknown = topics.iter().any(|t| !known(t));
        if !(self.needs_refresh || unknown) || topics.is_empty() {
            return None;
        }
        if self.refresh_at.is_some_and(|at| at > now) {
            return None;
        }
        Some(topics)
    }

    /// The metadata reload asked by [`FetchState::refresh_due`] succeeded (`true`), or
    /// failed with a retriable error at `now` (`false`): it is tried again after a backoff.
    pub(super) fn refreshed(&mut self, ok: bool, now: Instant) {
        if ok {
            self.needs_refresh = false;
            self.refresh_at = None;
        } else {
            self.refresh_at = Some(now + self.config.retry_backoff);
        }
    }

    /// The partition's fetch or lookup failed with a retriable error: it waits, doubling
    /// on each consecutive failure, and the metadata is reloaded.
    pub(super) fn retry_later(&mut self, key: &TopicPartition, now: Instant) {
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

    /// The symbolic positions to resolve now, by leader. A partition with no known
    /// leader waits (and the metadata is reloaded).
    pub(super) fn resolutions(
        &mut self,
        now: Instant,
        leader: impl Fn(&str, i32) -> Option<Leader>,
    ) -> BTreeMap<i32, Vec<Resolve>> {
        let mut by_leader: BTreeMap<i32, Vec<Resolve>> = BTreeMap::new();
        let mut no_leader = Vec::new();
        for (key, s) in &self.partitions {
            let Pos::Resolve(spec) = s.pos else { continue };
            if !Self::ready(s, now) {
                continue;
            }
            match leader(&key.0, key.1) {
                Some(leader) => by_leader.entry(leader.node_id).or_default().push(Resolve {
                    key: key.clone(),
                    spec,
                    leader_epoch: leader.epoch,
                }),
                None => no_leader.push(key.clone()),
            }
        }
        for key in &no_leader {
            self.retry_later(key, now);
        }
        by_leader
    }

    /// One leader's ListOffsets answer for `parts`, arrived at `now`. Returns the first
    /// error that is not retried (a transient failure or a retriable code waits instead).
    pub(super) fn resolved(
        &mut self,
        parts: &[Resolve],
        result: Result<HashMap<TopicPartition, Result<i64, i16>>, FetchError>,
        now: Instant,
    ) -> Option<FetchError> {
        let answers = match result {
            Ok(answers) => answers,
            Err(e) if e.is_transient() => {
                tracing::debug!("ListOffsets failed, retrying later: {e}");
                for p in parts {
                    self.retry_later(&p.key, now);
                }
                return None;
            }
            Err(e) => return Some(e),
        };
        let mut first_error = None;
        for p in parts {
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
        first_error
    }

    /// The Fetch requests to send now: one per leader of a fetchable partition (assigned,
    /// unpaused, at a known position, not backing off, its leader not throttling us).
    pub(super) fn plan_fetches(
        &mut self,
        now: Instant,
        leader: impl Fn(&str, i32) -> Option<Leader>,
    ) -> Vec<LeaderFetch> {
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
            match leader(&key.0, key.1) {
                Some(leader) if self.throttled.contains_key(&leader.node_id) => {}
                Some(leader) => by_leader.entry(leader.node_id).or_default().push(Planned {
                    key: key.clone(),
                    offset,
                    limit: s.limit,
                    grown: s.limit > self.config.max_partition_bytes,
                    leader_epoch: leader.epoch,
                }),
                None => no_leader.push(key.clone()),
            }
        }
        for key in &no_leader {
            self.retry_later(key, now);
        }
        let mut jobs = Vec::new();
        for (node, mut plan) in by_leader {
            // A partition growing its limit goes first: KIP-74 brokers return a whole
            // batch, whatever the limits, only for the first partition with data.
            plan.sort_by_key(|p| !p.grown);
            let grown = plan.iter().any(|p| p.grown);
            let session = self.sessions.remove(&node).filter(|_| !grown);
            jobs.push(LeaderFetch {
                node,
                plan,
                session,
                sessions: self.config.sessions,
                max_wait: self.config.max_wait,
                min_bytes: self.config.min_bytes,
                max_bytes: self.config.max_bytes,
                isolation: self.config.isolation,
            });
        }
        jobs
    }

    /// With nothing to fetch: until when to idle, from `now`. At most `max_wait`, less
    /// when an unpaused partition's backoff (or the metadata's) ends sooner.
    pub(super) fn idle_until(&self, now: Instant) -> Instant {
        let mut until = now + self.config.max_wait;
        for s in self.partitions.values().filter(|s| !s.paused) {
            if let Some(at) = s.retry_at {
                until = until.min(at.max(now));
            }
        }
        if let Some(at) = self.refresh_at.filter(|_| self.needs_refresh) {
            until = until.min(at.max(now));
        }
        until
    }
}

#[cfg(test)]
mod tests;
