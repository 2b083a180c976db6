//! A group consumer: a [`GroupMember`] kept alive by its own heartbeat task, and a
//! [`Fetcher`] over the partitions the group gives this member.
//!
//! The caller drives it with [`Consumer::poll`], which returns records or a change of
//! assignment. A revocation is announced before it happens: the member doesn't rejoin
//! until the caller polls again, so it can finish or abandon its in-flight work on the
//! revoked partitions and [`Consumer::commit`] what it finished (the coordinator accepts
//! commits from the current generation during a rebalance). With eager assignors
//! (range, round robin) every partition is revoked at each rebalance; with
//! cooperative-sticky only those the new assignment takes away, followed by a second
//! rebalance that hands them over (KIP-429).
//!
//! Positions of newly assigned partitions come from the group's committed offsets, else
//! from [`ConsumerConfig::default_position`]; with
//! [`ConsumerConfig::commit_start_positions`] a resolved `Latest` or `Timestamp` start is
//! committed at once, so a crash before the first commit never resolves it again past
//! records that arrived meanwhile. Other than that, what is committed and when is the
//! caller's decision; a commit the coordinator could not take (coordinator moved,
//! timeout, broker restart) is kept and sent again with backoff, for partitions this
//! member still owns, until it lands or is superseded.
//!
//! The group task heartbeats all the time, also while a revocation waits for the
//! caller's in-flight work (which may take as long as a function's timeout: the
//! rebalance timeout must cover it). A member the coordinator evicted or fenced has
//! *lost* its partitions ([`ConsumerEvent::Lost`]): another member may own them
//! already, so their work must be abandoned, not committed. A member whose heartbeats
//! went unanswered for (nearly) the session timeout gives its partitions up the same way
//! on its own, before the coordinator can evict it: the coordinator's clock for this
//! member started no earlier than the last answered heartbeat was sent, so the caller
//! stops its work on them before anyone else can be handed them.

use super::config::ConsumerConfig;
use super::group_task::{Command, GroupEvent, GroupTask};
use crate::kafka::TopicPartition;
use crate::kafka::client::cluster::Cluster;
use crate::kafka::consumer::coordinator::GroupError;
use crate::kafka::consumer::fetcher::{
    FetchError, FetchPosition, Fetcher, PartitionRecords, PositionReset,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// What [`Consumer::poll`] returns.
#[derive(Debug)]
pub enum ConsumerEvent {
    /// These partitions are now this member's; fetching starts at each one's committed
    /// offset (or the default position).
    Assigned(Vec<TopicPartition>),
    /// These partitions are being taken away, and no more of their records will be
    /// returned. Finish or abandon their work and commit what is done before the next
    /// [`Consumer::poll`]: the member rejoins only then.
    Revoked(Vec<TopicPartition>),
    /// Records fetched from assigned partitions.
    Records(Vec<PartitionRecords>),
    /// These partitions were taken away without a revocation (the coordinator evicted or
    /// fenced this member): another member may own them already. Abandon their work and
    /// commit nothing of it; no more of their records will be returned.
    Lost(Vec<TopicPartition>),
    /// The logs of these partitions no longer held their positions (OFFSET_OUT_OF_RANGE)
    /// and fetching moved as the reset policy says. Comes before any record from the new
    /// positions.
    Reset(Vec<PositionReset>),
}

/// Why the consumer stopped or a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumerError {
    #[error(transparent)]
    Group(#[from] GroupError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The group task ended (after [`Consumer::close`], or a fatal group error already
    /// returned).
    #[error("group {group}: the consumer is closed")]
    Closed { group: String },
}

impl ConsumerError {
    /// The documented reason a mapping stopped by this error reports, where one applies.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            ConsumerError::Group(e) => e.reason(),
            ConsumerError::Fetch(e) => e.reason(),
            ConsumerError::Closed { .. } => None,
        }
    }

    /// Whether a later call may succeed (the consumer is still usable).
    pub fn is_retriable(&self) -> bool {
        match self {
            ConsumerError::Group(e) => e.is_retriable(),
            ConsumerError::Fetch(_) => true,
            ConsumerError::Closed { .. } => false,
        }
    }
}

/// A consumer group member with a fetcher. See the module docs.
pub struct Consumer {
    group_id: String,
    default_position: FetchPosition,
    fetcher: Fetcher,
    assigned: BTreeSet<TopicPartition>,
    events: mpsc::Receiver<GroupEvent>,
    commands: mpsc::Sender<Command>,
    /// A revocation the caller has been told about and the partitions of it not
    /// released yet: acknowledged at the next poll, or once all are released with
    /// [`ConsumerConfig::hold_revocations`].
    revoking: Option<(BTreeSet<TopicPartition>, oneshot::Sender<()>)>,
    hold_revocations: bool,
    /// The member id the coordinator gave the group task (empty when not a member).
    member_id: watch::Receiver<String>,
    task: Option<JoinHandle<()>>,
}

impl Consumer {
    /// Starts the group task, which finds the coordinator and joins; the first
    /// [`ConsumerEvent::Assigned`] comes from [`Consumer::poll`].
    pub fn start(cluster: Arc<Cluster>, config: ConsumerConfig) -> Consumer {
        let (event_tx, events) = mpsc::channel(8);
        let (commands, command_rx) = mpsc::channel(8);
        let fetcher = Fetcher::new(cluster.clone(), config.fetch.clone());
        let group_id = config.group_id.clone();
        let default_position = config.default_position;
        let hold_revocations = config.hold_revocations;
        let (member_id_tx, member_id) = watch::channel(String::new());
        let task = GroupTask::new(cluster, config, event_tx, command_rx, member_id_tx);
        Consumer {
            group_id,
            default_position,
            fetcher,
            assigned: BTreeSet::new(),
            events,
            commands,
            revoking: None,
            hold_revocations,
            member_id,
            task: Some(tokio::spawn(tracing::Instrument::in_current_span(
                task.run(),
            ))),
        }
    }

    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// The member id the group coordinator knows this consumer by, as it changes: empty
    /// until it joins and after it leaves. (How a process tells its own members from
    /// others' in a DescribeGroups answer.)
    pub fn member_id(&self) -> watch::Receiver<String> {
        self.member_id.clone()
    }

    /// The partitions assigned to this member now.
    pub fn assignment(&self) -> &BTreeSet<TopicPartition> {
        &self.assigned
    }

    /// The fetcher, to pause, resume or seek assigned partitions.
    pub fn fetcher(&mut self) -> &mut Fetcher {
        &mut self.fetcher
    }

    /// The next assignment change or the next records. Acknowledges a revocation
    /// returned by the previous call (unless [`ConsumerConfig::hold_revocations`]).
    /// Cancel-safe: dropping the future loses nothing.
    pub async fn poll(&mut self) -> Result<ConsumerEvent, ConsumerError> {
        if !self.hold_revocations
            && let Some((_, ack)) = self.revoking.take()
        {
            // The group task may be gone (fatal error); the next recv says so.
            let _ = ack.send(());
        }
        loop {
            if let Ok(event) = self.events.try_recv() {
                return self.apply(event);
            }
            let resets = self.fetcher.take_resets();
            if !resets.is_empty() {
                return Ok(ConsumerEvent::Reset(resets));
            }
            if self.fetcher.assigned().is_empty() {
                let event = self.events.recv().await;
                return self.apply_or_closed(event);
            }
            tokio::select! {
                biased;
                event = self.events.recv() => return self.apply_or_closed(event),
                fetched = self.fetcher.fetch() => {
                    let records = fetched?;
                    if !records.is_empty() {
                        return Ok(ConsumerEvent::Records(records));
                    }
                }
            }
        }
    }

    fn apply_or_closed(
        &mut self,
        event: Option<GroupEvent>,
    ) -> Result<ConsumerEvent, ConsumerError> {
        match event {
            Some(event) => self.apply(event),
            None => Err(ConsumerError::Closed {
                group: self.group_id.clone(),
            }),
        }
    }

    fn apply(&mut self, event: GroupEvent) -> Result<ConsumerEvent, ConsumerError> {
        match event {
            GroupEvent::Assigned(partitions) => {
                let mut added = Vec::with_capacity(partitions.len());
                for ((topic, partition), committed) in partitions {
                    let position = committed.map_or(self.default_position, FetchPosition::Offset);
                    self.fetcher.assign(&topic, partition, position);
                    self.assigned.insert((topic.clone(), partition));
                    added.push((topic, partition));
                }
                Ok(ConsumerEvent::Assigned(added))
            }
            GroupEvent::Revoke(partitions, ack) => {
                self.unassign(&partitions);
                self.revoking = Some((partitions.iter().cloned().collect(), ack));
                Ok(ConsumerEvent::Revoked(partitions))
            }
            GroupEvent::Lost(partitions) => {
                self.unassign(&partitions);
                // A revocation of them is moot: the group task no longer waits for it.
                if let Some((left, _)) = &mut self.revoking {
                    for tp in &partitions {
                        left.remove(tp);
                    }
                    if left.is_empty() {
                        self.revoking = None;
                    }
                }
                Ok(ConsumerEvent::Lost(partitions))
            }
            GroupEvent::Fatal(e) => Err(e.into()),
        }
    }

    fn unassign(&mut self, partitions: &[TopicPartition]) {
        for (topic, partition) in partitions {
            self.fetcher.unassign(topic, *partition);
            self.assigned.remove(&(topic.clone(), *partition));
        }
    }

    /// With [`ConsumerConfig::hold_revocations`]: the caller is done with a revoked
    /// partition (its last commit made). Once every partition of the revocation is
    /// released, the member rejoins the group. A partition not being revoked is ignored.
    pub fn release(&mut self, partition: &TopicPartition) {
        let Some((left, _)) = &mut self.revoking else {
            return;
        };
        left.remove(partition);
        if left.is_empty()
            && let Some((_, ack)) = self.revoking.take()
        {
            let _ = ack.send(());
        }
    }

    /// Whether a revocation waits for [`Consumer::release`] of some partitions.
    pub fn is_revoking(&self) -> bool {
        self.revoking.is_some()
    }

    /// Commits `offsets` (partition → the next offset to consume) for this member's
    /// generation. An error says the coordinator did not take them this time: a
    /// retriable one is kept and sent again with backoff (for the partitions this member
    /// still owns, superseded by later commits); [`GroupError::Rejoin`] with a stale
    /// generation means the group moved on, and whoever owns those partitions next reads
    /// the records again.
    pub async fn commit(
        &self,
        offsets: BTreeMap<TopicPartition, i64>,
    ) -> Result<(), ConsumerError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        self.send(Command::Commit(offsets, reply)).await?;
        answer.await.map_err(|_| self.closed())?.map_err(Into::into)
    }

    /// Leaves the group (its partitions go to the other members at once) and stops the
    /// heartbeat task. Commit first: nothing is committed here.
    pub async fn close(mut self) -> Result<(), ConsumerError> {
        if let Some((_, ack)) = self.revoking.take() {
            let _ = ack.send(());
        }
        let (reply, answer) = oneshot::channel();
        let left = match self.send(Command::Leave(reply)).await {
            Ok(()) => answer.await.map_err(|_| self.closed())?,
            Err(_) => Ok(()),
        };
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        left.map_err(Into::into)
    }

    async fn send(&self, command: Command) -> Result<(), ConsumerError> {
        self.commands.send(command).await.map_err(|_| self.closed())
    }

    fn closed(&self) -> ConsumerError {
        ConsumerError::Closed {
            group: self.group_id.clone(),
        }
    }
}

impl Drop for Consumer {
    /// A consumer dropped without [`Consumer::close`] stops heartbeating; the
    /// coordinator evicts it after the session timeout.
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
