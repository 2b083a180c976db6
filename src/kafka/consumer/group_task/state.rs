//! [`GroupState`]: the group task's decisions, with no I/O and no clock.
//!
//! It owns what this member holds (the partitions owned, and those being revoked), the
//! generation they are from, until when the coordinator surely counts the member alive,
//! when the next heartbeat is due, and the rules of a generation: what a join's
//! assignment revokes and adds, what each heartbeat answer means (rebalance, eviction,
//! a passing failure), when a revocation is complete, and when partitions are lost rather
//! than revoked. The [`GroupTask`](super::GroupTask)'s async loop feeds it events (a join
//! answered, a heartbeat answered, the consumer's release, a timer at an [`Instant`]) and
//! carries out the [`Action`]s it queues ([`GroupState::poll_action`]). It must not touch
//! a socket, a channel or the clock.

use crate::kafka::TopicPartition;
use crate::kafka::client::cluster::KafkaCode;
use crate::kafka::consumer::assignor::{self, Assignor, RebalanceProtocol};
use crate::kafka::consumer::coordinator::GroupError;
use crate::kafka::protocol::messages::consumer_protocol::{Subscription, TopicPartitions};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

/// Error codes of a heartbeat that mean this member is no longer in the group (its
/// partitions may have new owners), as opposed to a rebalance it takes part in.
pub(super) const UNKNOWN_MEMBER_ID: i16 = 25;
pub(super) const ILLEGAL_GENERATION: i16 = 22;
pub(super) const REBALANCE_IN_PROGRESS: i16 = 27;

/// Whether `e` says the member was evicted or its generation is gone.
pub(super) fn evicted(e: &GroupError) -> bool {
    matches!(
        e,
        GroupError::Rejoin {
            code: KafkaCode(UNKNOWN_MEMBER_ID | ILLEGAL_GENERATION),
            ..
        }
    )
}

/// What a heartbeat came to, as the state machine needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Beat {
    /// Answered: still a member of this generation.
    Ok,
    /// The coordinator asks for a rejoin; `answered` when that was an answer that renews
    /// the session (REBALANCE_IN_PROGRESS).
    Rebalance { answered: bool },
    /// Evicted (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION), or the session ran out first.
    Gone,
    /// A failure worth retrying on the next beat (transport, coordinator moving).
    Retriable,
    /// Anything else: it ends the task, unless a revocation is waiting.
    Fatal,
}

impl Beat {
    pub(super) fn of(result: &Result<(), GroupError>) -> Beat {
        match result {
            Ok(()) => Beat::Ok,
            Err(e) if evicted(e) || matches!(e, GroupError::SessionExpired { .. }) => Beat::Gone,
            Err(e) if e.needs_rejoin() => Beat::Rebalance {
                answered: matches!(
                    e,
                    GroupError::Rejoin {
                        code: KafkaCode(REBALANCE_IN_PROGRESS),
                        ..
                    }
                ),
            },
            Err(e) if e.is_retriable() => Beat::Retriable,
            Err(_) => Beat::Fatal,
        }
    }
}

/// What the group task does next, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Action {
    /// Tell the consumer to revoke these and wait for its release (then call
    /// [`GroupState::revocation_announced`]).
    Revoke(Vec<TopicPartition>),
    /// Tell the consumer these are gone already. `stop_if_gone`: a consumer that no
    /// longer listens ends the task.
    Lost {
        partitions: Vec<TopicPartition>,
        stop_if_gone: bool,
    },
    /// Fetch the committed offsets of these, take them ([`GroupState::took`]), commit
    /// where they start when so configured, tell the consumer, then call
    /// [`GroupState::assignment_announced`].
    Announce(Vec<TopicPartition>),
    /// Forget every pending commit: the partitions may have new owners already.
    ForgetCommits,
    /// Forget the pending commits of partitions this member no longer holds.
    ForgetUnheldCommits,
    /// Send the pending commits, retrying until they land or `within` passed, then
    /// call [`GroupState::commits_flushed`].
    Flush { within: Duration },
    /// Send a heartbeat and report it with [`GroupState::heartbeat_answered`].
    Heartbeat,
    /// The generation ended: join again.
    Rejoin,
    /// The heartbeat's error ends the task.
    Fail,
}

#[derive(Debug)]
enum Phase {
    /// Not in a generation (joining, or backing off before a rejoin).
    Joining,
    /// In a generation, heartbeating.
    Stable { cooperative: bool },
    /// Waiting for the consumer to release `partitions`, heartbeating meanwhile.
    Revoking {
        partitions: Vec<TopicPartition>,
        then: AfterRevoke,
        /// Released: the final commits are being flushed.
        released: bool,
    },
}

#[derive(Debug)]
enum AfterRevoke {
    /// A rebalance asked for it (eager): rejoin once released.
    Rejoin,
    /// A join whose assignment no longer holds them: then take the generation's new
    /// partitions, and rejoin (cooperative: the leader hands them on) or heartbeat.
    Join {
        generation: i32,
        cooperative: bool,
        added: Vec<TopicPartition>,
    },
}

/// The group task's state machine. See the module docs.
#[derive(Debug)]
pub(super) struct GroupState {
    /// The group's id, for the logs.
    group: String,
    session_timeout: Duration,
    heartbeat_interval: Duration,
    phase: Phase,
    /// The partitions the consumer holds, and the generation they are from.
    owned: BTreeSet<TopicPartition>,
    owned_generation: i32,
    /// Partitions announced revoked and not released yet: their final commits are
    /// still taken.
    revoking: BTreeSet<TopicPartition>,
    /// Until when the coordinator surely still counts this member alive: the sending
    /// time of the last heartbeat it answered (or of the join), plus the session
    /// timeout, less a margin.
    alive_until: Instant,
    /// When the next heartbeat is due.
    beat_at: Instant,
    /// Consecutive failed rounds, for the rejoin backoff.
    failures: u32,
    actions: VecDeque<Action>,
}

impl GroupState {
    pub(super) fn new(
        group: &str,
        session_timeout: Duration,
        heartbeat_interval: Duration,
        now: Instant,
    ) -> GroupState {
        GroupState {
            group: group.to_string(),
            session_timeout,
            heartbeat_interval,
            phase: Phase::Joining,
            owned: BTreeSet::new(),
            owned_generation: -1,
            revoking: BTreeSet::new(),
            alive_until: now,
            beat_at: now,
            failures: 0,
            actions: VecDeque::new(),
        }
    }

    /// The next thing to do, if any.
    pub(super) fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Whether this member may still commit `tp`: it owns it or is revoking it.
    pub(super) fn holds(&self, tp: &TopicPartition) -> bool {
        self.owned.contains(tp) || self.revoking.contains(tp)
    }

    /// In a revocation (released or not).
    pub(super) fn in_revocation(&self) -> bool {
        matches!(self.phase, Phase::Revoking { .. })
    }

    /// Waiting for the consumer to release a revocation.
    pub(super) fn awaiting_release(&self) -> bool {
        matches!(
            self.phase,
            Phase::Revoking {
                released: false,
                ..
            }
        )
    }

    /// Until when a request may run before the session is given up: only while this
    /// member holds partitions (then it may be evicted already, and waiting longer would
    /// delay giving them up).
    pub(super) fn session_deadline(&self) -> Option<Instant> {
        (!self.owned.is_empty() || !self.revoking.is_empty()).then_some(self.alive_until)
    }

    /// When [`GroupState::timer`] has something to do next: the next heartbeat, or the
    /// end of the session while it guards partitions. `None` outside a generation.
    pub(super) fn next_timer(&self) -> Option<Instant> {
        match self.phase {
            Phase::Joining => None,
            _ => Some(match self.expiry_armed() {
                true => self.beat_at.min(self.alive_until),
                false => self.beat_at,
            }),
        }
    }

    fn expiry_armed(&self) -> bool {
        match self.phase {
            Phase::Joining => false,
            Phase::Stable { .. } => !self.owned.is_empty(),
            Phase::Revoking { .. } => true,
        }
    }

    /// The coordinator answered something sent at `sent`: it counts this member alive
    /// for a session timeout from when it got it, which is no earlier.
    fn alive(&mut self, sent: Instant) {
        let session = self.session_timeout;
        let margin = (session / 10).clamp(Duration::from_millis(200), Duration::from_secs(2));
        self.alive_until = sent + session.saturating_sub(margin);
    }

    /// A round (join to rejoin) failed with a retriable error: how long to wait first.
    pub(super) fn round_failed(&mut self) -> Duration {
        self.phase = Phase::Joining;
        self.actions.clear();
        self.failures += 1;
        Duration::from_millis(100u64 << self.failures.min(6)).min(Duration::from_secs(5))
    }

    /// A round ended in a rejoin as it should.
    pub(super) fn round_ended(&mut self) {
        self.phase = Phase::Joining;
        self.actions.clear();
        self.failures = 0;
    }

    /// The JoinGroup protocols: each assignor with this member's subscription to
    /// `topics` (a cooperative one lists the partitions still owned and their generation).
    pub(super) fn protocols(
        &self,
        assignors: &[Assignor],
        topics: &[String],
    ) -> Vec<(String, Subscription)> {
        let mut owned: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in &self.owned {
            owned.entry(t.as_str()).or_default().push(*p);
        }
        let owned_partitions: Vec<TopicPartitions> = owned
            .into_iter()
            .map(|(topic, partitions)| TopicPartitions {
                topic: topic.to_string(),
                partitions,
            })
            .collect();
        assignors
            .iter()
            .map(|a| {
                let cooperative = a.rebalance_protocol() == RebalanceProtocol::Cooperative;
                let subscription = Subscription {
                    version: if cooperative { 2 } else { 0 },
                    topics: topics.to_vec(),
                    user_data: cooperative
                        .then(|| assignor::cooperative_sticky_user_data(self.owned_generation)),
                    owned_partitions: if cooperative {
                        owned_partitions.clone()
                    } else {
                        Vec::new()
                    },
                    generation_id: if cooperative {
                        self.owned_generation
                    } else {
                        -1
                    },
                    rack_id: None,
                };
                (a.name().to_string(), subscription)
            })
            .collect()
    }

    /// The join (JoinGroup and SyncGroup) answered at `now`: generation `generation`
    /// with `protocol`, assigning this member `assignment`. Partitions owned and no
    /// longer assigned are revoked first (only a cooperative member still owns any
    /// here: an eager one revoked everything before rejoining); the new ones are
    /// announced.
    pub(super) fn joined(
        &mut self,
        generation: i32,
        protocol: &str,
        assignment: BTreeSet<TopicPartition>,
        now: Instant,
    ) {
        // The coordinator starts this member's session when it completes the join, which
        // may have waited for a whole rebalance: count from the answer (the margin covers
        // its way back).
        self.alive(now);
        let cooperative = Assignor::from_name(protocol)
            .is_some_and(|a| a.rebalance_protocol() == RebalanceProtocol::Cooperative);
        let revoked: Vec<TopicPartition> = self.owned.difference(&assignment).cloned().collect();
        let added: Vec<TopicPartition> = assignment.difference(&self.owned).cloned().collect();
        if !revoked.is_empty() {
            // Give them up, then (cooperative) rejoin so the leader can hand them to
            // their new owners.
            self.revoke(
                revoked,
                AfterRevoke::Join {
                    generation,
                    cooperative,
                    added,
                },
            );
            return;
        }
        self.settle(generation, cooperative, added);
    }

    /// Takes generation `generation`'s new partitions and heartbeats.
    fn settle(&mut self, generation: i32, cooperative: bool, added: Vec<TopicPartition>) {
        self.owned_generation = generation;
        // Commits kept from the last generation go out again with this one.
        self.actions.push_back(Action::ForgetUnheldCommits);
        self.actions.push_back(Action::Announce(added));
        self.phase = Phase::Stable { cooperative };
    }

    fn revoke(&mut self, partitions: Vec<TopicPartition>, then: AfterRevoke) {
        for tp in &partitions {
            self.owned.remove(tp);
            self.revoking.insert(tp.clone());
        }
        self.actions.push_back(Action::Revoke(partitions.clone()));
        self.phase = Phase::Revoking {
            partitions,
            then,
            released: false,
        };
    }

    /// The committed offsets of `added` are known: the member owns them now.
    pub(super) fn took(&mut self, added: &[TopicPartition]) {
        self.owned.extend(added.iter().cloned());
    }

    /// The consumer was told of a revocation at `now`: heartbeats go on from there.
    pub(super) fn revocation_announced(&mut self, now: Instant) {
        self.beat_at = now + self.heartbeat_interval;
    }

    /// The consumer was told of its new partitions at `now`: heartbeats start from there.
    pub(super) fn assignment_announced(&mut self, now: Instant) {
        self.beat_at = now + self.heartbeat_interval;
    }

    /// The consumer released the partitions being revoked: their final commits go out.
    pub(super) fn released(&mut self) {
        if let Phase::Revoking { released, .. } = &mut self.phase
            && !*released
        {
            *released = true;
            self.actions.push_back(Action::Flush {
                within: self.session_timeout / 2,
            });
        }
    }

    /// The [`Action::Flush`] asked for is done.
    pub(super) fn commits_flushed(&mut self) {
        let Phase::Revoking { released: true, .. } = self.phase else {
            return;
        };
        let Phase::Revoking { then, .. } = std::mem::replace(&mut self.phase, Phase::Joining)
        else {
            unreachable!()
        };
        self.end_revocation();
        match then {
            AfterRevoke::Rejoin => self.actions.push_back(Action::Rejoin),
            AfterRevoke::Join {
                generation,
                cooperative: true,
                added,
            } => {
                self.owned_generation = generation;
                self.actions.push_back(Action::Announce(added));
                self.actions.push_back(Action::Rejoin);
            }
            AfterRevoke::Join {
                generation,
                cooperative: false,
                added,
            } => self.settle(generation, false, added),
        }
    }

    fn end_revocation(&mut self) {
        self.revoking.clear();
        self.actions.push_back(Action::ForgetUnheldCommits);
    }

    /// Time passed to `now`: the session may have run out (the partitions are lost), or
    /// a heartbeat be due.
    pub(super) fn timer(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Joining) {
            return;
        }
        if self.expiry_armed() && now >= self.alive_until {
            match self.phase {
                Phase::Revoking { .. } => {
                    tracing::warn!(
                        group = %self.group,
                        "no heartbeat answered within the session timeout while revoking"
                    );
                    self.lost_while_revoking();
                }
                _ => {
                    tracing::warn!(
                        group = %self.group,
                        "no heartbeat answered within the session timeout: giving up its partitions"
                    );
                    self.lose_all();
                }
            }
            return;
        }
        if now >= self.beat_at {
            // Like a tokio interval that delays missed ticks.
            self.beat_at = if now.saturating_duration_since(self.beat_at) > Duration::from_millis(5)
            {
                now + self.heartbeat_interval
            } else {
                self.beat_at + self.heartbeat_interval
            };
            self.actions.push_back(Action::Heartbeat);
        }
    }

    /// A heartbeat sent at `sent` came to `beat`.
    pub(super) fn heartbeat_answered(&mut self, sent: Instant, beat: Beat) {
        if matches!(beat, Beat::Ok | Beat::Rebalance { answered: true }) {
            self.alive(sent);
        }
        match self.phase {
            Phase::Joining => {}
            // REBALANCE_IN_PROGRESS is the expected answer: it keeps the session alive
            // while the coordinator waits for this member to rejoin.
            Phase::Revoking { .. } => {
                if beat == Beat::Gone {
                    self.lost_while_revoking();
                }
            }
            Phase::Stable { cooperative } => match beat {
                Beat::Ok | Beat::Retriable => {}
                Beat::Gone => self.lose_all(),
                // A cooperative member keeps its partitions through a rebalance.
                Beat::Rebalance { .. } if !cooperative && !self.owned.is_empty() => {
                    let all: Vec<_> = self.owned.iter().cloned().collect();
                    self.revoke(all, AfterRevoke::Rejoin);
                }
                Beat::Rebalance { .. } => {
                    self.phase = Phase::Joining;
                    self.actions.push_back(Action::Rejoin);
                }
                Beat::Fatal => {
                    self.phase = Phase::Joining;
                    self.actions.push_back(Action::Fail);
                }
            },
        }
    }

    /// The member was evicted (or its session ran out) while revoking: the partitions
    /// being revoked, and those it kept (a cooperative member keeps some through a
    /// rebalance), may have new owners already, so the pending commits go and the
    /// consumer is told they are all lost, as [`GroupState::lose_all`] does.
    fn lost_while_revoking(&mut self) {
        let Phase::Revoking { partitions, .. } = std::mem::replace(&mut self.phase, Phase::Joining)
        else {
            return;
        };
        let kept = std::mem::take(&mut self.owned);
        let partitions: Vec<TopicPartition> = partitions
            .into_iter()
            .chain(kept)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        self.actions.push_back(Action::ForgetCommits);
        self.actions.push_back(Action::Lost {
            partitions,
            stop_if_gone: false,
        });
        self.end_revocation();
        self.actions.push_back(Action::Rejoin);
    }

    /// The member was evicted: every partition it held may have a new owner already.
    fn lose_all(&mut self) {
        self.phase = Phase::Joining;
        let all: Vec<TopicPartition> = std::mem::take(&mut self.owned).into_iter().collect();
        self.actions.push_back(Action::ForgetCommits);
        if !all.is_empty() {
            self.actions.push_back(Action::Lost {
                partitions: all,
                stop_if_gone: true,
            });
        }
        self.actions.push_back(Action::Rejoin);
    }
}

#[cfg(test)]
mod tests;
