//! The group task of a [`Consumer`](super::Consumer): it owns the [`GroupMember`], joins,
//! heartbeats, serves commits, announces assignment changes and waits for revocations to
//! be acknowledged. The consumer and the task talk through [`GroupEvent`]s and
//! [`Command`]s.
//!
//! Sans-I/O, as quinn-proto is driven by quinn: every join, heartbeat and revocation
//! decision is [`GroupState`]'s (`state.rs`); this file is the thin async loop that
//! carries out its [`Action`]s (the coordinator's RPCs, the channels to the consumer,
//! commits) and feeds back what came of them. It must not decide when to rejoin, revoke
//! or give partitions up.

use super::config::ConsumerConfig;
use super::pending_commits::PendingCommits;
use crate::kafka::TopicPartition;
use crate::kafka::client::cluster::Cluster;
use crate::kafka::consumer::coordinator::{
    GroupConfig, GroupError, GroupMember, MemberSubscription,
};
use crate::kafka::consumer::fetcher::{FetchPosition, list_offsets};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// From the group task to the consumer.
pub(super) enum GroupEvent {
    Assigned(Vec<(TopicPartition, Option<i64>)>),
    /// Revoke these; answer on `ack` once their work is done.
    Revoke(Vec<TopicPartition>, oneshot::Sender<()>),
    /// These are gone already (eviction): no acknowledgement is awaited.
    Lost(Vec<TopicPartition>),
    /// The group task stopped on this error.
    Fatal(GroupError),
}

/// From the consumer to the group task.
pub(super) enum Command {
    Commit(
        BTreeMap<TopicPartition, i64>,
        oneshot::Sender<Result<(), GroupError>>,
    ),
    Leave(oneshot::Sender<Result<(), GroupError>>),
}

/// What the group task does next.
enum Next {
    Rejoin,
    Stop,
}

/// Owns the [`GroupMember`]: joins, heartbeats, serves commits, announces assignment
/// changes and waits for revocations to be acknowledged.
pub(super) struct GroupTask {
    cluster: Arc<Cluster>,
    config: ConsumerConfig,
    member: GroupMember,
    events: mpsc::Sender<GroupEvent>,
    commands: mpsc::Receiver<Command>,
    /// The decisions: what this member holds, its session, its heartbeats.
    state: GroupState,
    pending: PendingCommits,
    member_id: watch::Sender<String>,
}

impl GroupTask {
    pub(super) fn new(
        cluster: Arc<Cluster>,
        config: ConsumerConfig,
        events: mpsc::Sender<GroupEvent>,
        commands: mpsc::Receiver<Command>,
        member_id: watch::Sender<String>,
    ) -> GroupTask {
        let member = GroupMember::new(
            cluster.clone(),
            GroupConfig {
                group_id: config.group_id.clone(),
                group_instance_id: config.group_instance_id.clone(),
                session_timeout: config.session_timeout,
                rebalance_timeout: config.rebalance_timeout,
                protocols: Vec::new(),
                leader_sync_delay: config.leader_sync_delay,
            },
        );
        let state = GroupState::new(
            &config.group_id,
            config.session_timeout,
            config.heartbeat_interval,
            now(),
        );
        GroupTask {
            cluster,
            config,
            member,
            events,
            commands,
            state,
            pending: PendingCommits::default(),
            member_id,
        }
    }

    pub(super) async fn run(mut self) {
        loop {
            match self.round().await {
                Ok(Next::Rejoin) => self.state.round_ended(),
                Ok(Next::Stop) => return,
                Err(e) if e.is_retriable() => {
                    let wait = self.state.round_failed();
                    tracing::warn!(group = %self.config.group_id, "rejoining after: {e}");
                    if self.serve_for(wait).await {
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!(group = %self.config.group_id, "consumer stops: {e}");
                    let _ = self.events.send(GroupEvent::Fatal(e)).await;
                    return;
                }
            }
        }
    }

    /// One generation: join, then carry out the state's actions and feed it what
    /// happens (heartbeat answers, the consumer's release, timers, commands) until it
    /// asks for a rejoin, or the task must stop.
    async fn round(&mut self) -> Result<Next, GroupError> {
        self.cluster.refresh(&self.config.topics).await?;
        self.member.set_protocols(
            self.state
                .protocols(&self.config.assignors, &self.config.topics),
        );
        let cluster = self.cluster.clone();
        let mut assign = |protocol: &str, members: &[MemberSubscription]| {
            leader_assign(&cluster, protocol, members)
        };
        let generation = self.member.join(&mut assign).await?;
        let joined_at = now();
        self.member_id.send_replace(generation.member_id.clone());
        let assignment = partitions_of(&generation.assignment);
        tracing::info!(
            group = %self.config.group_id,
            generation = generation.generation_id,
            protocol = %generation.protocol,
            leader = generation.is_leader,
            assigned = assignment.len(),
            "joined"
        );
        self.state.joined(
            generation.generation_id,
            &generation.protocol,
            assignment,
            joined_at,
        );
        let mut ack: Option<oneshot::Receiver<()>> = None;
        let mut failed: Option<GroupError> = None;
        loop {
            while let Some(action) = self.state.poll_action() {
                match action {
                    Action::Revoke(partitions) => {
                        let (tx, rx) = oneshot::channel();
                        let event = GroupEvent::Revoke(partitions, tx);
                        if self.events.send(event).await.is_err() {
                            return Ok(Next::Stop);
                        }
                        ack = Some(rx);
                        self.state.revocation_announced(now());
                    }
                    Action::Lost {
                        partitions,
                        stop_if_gone,
                    } => {
                        let gone = self.events.send(GroupEvent::Lost(partitions)).await;
                        if gone.is_err() && stop_if_gone {
                            return Ok(Next::Stop);
                        }
                    }
                    Action::Announce(added) => {
                        self.announce_added(added).await?;
                        self.state.assignment_announced(now());
                    }
                    Action::ForgetCommits => self.pending.keep_only(|_| false),
                    Action::ForgetUnheldCommits => {
                        let state = &self.state;
                        self.pending.keep_only(|tp| state.holds(tp));
                    }
                    Action::Flush { within } => {
                        self.flush_within(within).await;
                        self.state.commits_flushed();
                    }
                    Action::Heartbeat => failed = self.heartbeat().await.err(),
                    Action::Rejoin => return Ok(Next::Rejoin),
                    Action::Fail => {
                        return Err(failed.take().expect("a failed heartbeat's error"));
                    }
                }
            }
            let Some(timer) = self.state.next_timer() else {
                return Ok(Next::Rejoin);
            };
            let awaiting_release = ack.is_some() && self.state.awaiting_release();
            tokio::select! {
                // An acknowledgement dropped unsent: the consumer is gone.
                done = released(&mut ack), if awaiting_release => {
                    ack = None;
                    if done.is_err() {
                        return Ok(Next::Stop);
                    }
                    self.state.released();
                }
                _ = tokio::time::sleep_until(timer.into()) => self.state.timer(now()),
                _ = self.pending.due() => self.flush().await,
                command = self.commands.recv() => {
                    if self.serve(command).await {
                        return Ok(Next::Stop);
                    }
                }
            }
        }
    }

    /// One heartbeat, given up (as [`GroupError::SessionExpired`]) when the session
    /// runs out before it is answered; what came of it goes to the state.
    async fn heartbeat(&mut self) -> Result<(), GroupError> {
        let sent = now();
        let revoking = self.state.in_revocation();
        let result = self.within_session(|m| Box::pin(m.heartbeat())).await;
        let beat = Beat::of(&result);
        if let Err(e) = &result {
            let group = &self.config.group_id;
            match (revoking, beat) {
                (true, Beat::Gone) => tracing::warn!(group = %group, "lost while revoking: {e}"),
                (true, Beat::Fatal) => {
                    tracing::warn!(group = %group, "heartbeat while revoking: {e}")
                }
                (false, Beat::Gone) => {
                    tracing::warn!(group = %group, "giving up its partitions: {e}")
                }
                (false, Beat::Rebalance { .. }) => tracing::info!(group = %group, "rebalance: {e}"),
                (false, Beat::Retriable) => tracing::debug!(group = %group, "heartbeat: {e}"),
                _ => {}
            }
        }
        self.state.heartbeat_answered(sent, beat);
        result
    }

    /// Runs a request of the member, cut short when the session runs out while this
    /// member holds partitions (then it may be evicted already: waiting longer would
    /// delay giving them up).
    async fn within_session<T>(
        &mut self,
        request: impl for<'m> FnOnce(
            &'m mut GroupMember,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, GroupError>> + Send + 'm>,
        >,
    ) -> Result<T, GroupError> {
        let Some(deadline) = self.state.session_deadline() else {
            return request(&mut self.member).await;
        };
        let group = self.config.group_id.clone();
        match tokio::time::timeout_at(deadline.into(), request(&mut self.member)).await {
            Ok(result) => result,
            Err(_) => Err(GroupError::SessionExpired { group }),
        }
    }

    /// Fetches the committed offsets of `added`, commits the resolved start of those
    /// with none (when configured), and tells the consumer.
    async fn announce_added(&mut self, added: Vec<TopicPartition>) -> Result<(), GroupError> {
        if added.is_empty() {
            return Ok(());
        }
        let mut committed = self.member.committed(&added).await?;
        self.state.took(&added);
        let pin = self.config.commit_start_positions
            && matches!(
                self.config.default_position,
                FetchPosition::Latest | FetchPosition::Timestamp(_)
            );
        if pin {
            let starts = self.resolve_starts(&added, &committed).await?;
            if !starts.is_empty() {
                tracing::info!(group = %self.config.group_id, ?starts, "committing where new partitions start");
                committed.extend(starts.clone());
                self.pending.add(starts);
                self.flush().await;
            }
        }
        let with_offsets = added
            .iter()
            .map(|tp| (tp.clone(), committed.get(tp).copied()))
            .collect();
        // The consumer may be gone; the next command recv ends the task then.
        let _ = self.events.send(GroupEvent::Assigned(with_offsets)).await;
        Ok(())
    }

    /// Where the partitions of `added` without a committed offset start, resolved now.
    async fn resolve_starts(
        &self,
        added: &[TopicPartition],
        committed: &BTreeMap<TopicPartition, i64>,
    ) -> Result<BTreeMap<TopicPartition, i64>, GroupError> {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in added.iter().filter(|tp| !committed.contains_key(*tp)) {
            by_topic.entry(tp.0.as_str()).or_default().push(tp.1);
        }
        let mut starts = BTreeMap::new();
        for (topic, partitions) in by_topic {
            let offsets = list_offsets(
                &self.cluster,
                topic,
                &partitions,
                self.config.default_position,
                self.config.fetch.isolation,
            )
            .await
            .map_err(|e| GroupError::StartPosition {
                group: self.config.group_id.clone(),
                source: Box::new(e),
            })?;
            for (p, offset) in offsets {
                starts.insert((topic.to_string(), p), offset);
            }
        }
        Ok(starts)
    }

    /// Sends the pending commits of partitions this member owns or is revoking; a
    /// retriable failure is retried later, any other drops them (and is logged).
    async fn flush(&mut self) {
        let _ = self.try_flush().await;
    }

    async fn try_flush(&mut self) -> Result<(), GroupError> {
        let state = &self.state;
        self.pending.keep_only(|tp| state.holds(tp));
        if self.pending.offsets.is_empty() {
            return Ok(());
        }
        let sent = self.pending.offsets.clone();
        let committing = sent.clone();
        let result = self
            .within_session(move |m| Box::pin(async move { m.commit(&committing).await }))
            .await;
        match result {
            Ok(()) => {
                if self.pending.failures > 0 {
                    tracing::info!(group = %self.config.group_id, ?sent, "committed after retrying");
                }
                self.pending.landed(&sent);
                Ok(())
            }
            Err(e) if e.is_retriable() => {
                self.pending.failed();
                tracing::warn!(
                    group = %self.config.group_id,
                    attempt = self.pending.failures,
                    "commit not taken, retrying: {e}"
                );
                Err(e)
            }
            Err(e) => {
                tracing::error!(group = %self.config.group_id, ?sent, "commit refused: {e}");
                self.pending.landed(&sent);
                Err(e)
            }
        }
    }

    /// Retries the pending commits until they land or `limit` passed (a revocation or a
    /// leave can't wait for ever: the group waits for this member).
    async fn flush_within(&mut self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        let _ = tokio::time::timeout_at(deadline, async {
            while !self.pending.offsets.is_empty() {
                if let Err(e) = self.try_flush().await
                    && (!e.is_retriable() || e.needs_rejoin())
                {
                    // A stale generation can't commit: the next owner reads them again.
                    return;
                }
                self.pending.due().await;
            }
        })
        .await;
        if !self.pending.offsets.is_empty() {
            tracing::warn!(
                group = %self.config.group_id,
                offsets = ?self.pending.offsets,
                "commits not taken in time; those records will be read again"
            );
        }
    }

    /// Serves commands for `wait` (a backoff). Returns true when the task must stop.
    async fn serve_for(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return false,
                command = self.commands.recv() => {
                    if self.serve(command).await {
                        return true;
                    }
                }
            }
        }
    }

    /// Runs one command. Returns true when the task must stop (a leave, or the consumer
    /// dropped).
    async fn serve(&mut self, command: Option<Command>) -> bool {
        match command {
            Some(Command::Commit(offsets, reply)) => {
                self.pending.add(offsets);
                let _ = reply.send(self.try_flush().await);
                false
            }
            Some(Command::Leave(reply)) => {
                self.flush_within(self.config.session_timeout / 2).await;
                let _ = reply.send(self.member.leave().await);
                self.member_id.send_replace(String::new());
                true
            }
            None => {
                self.flush_within(self.config.session_timeout / 2).await;
                let _ = self.member.leave().await;
                self.member_id.send_replace(String::new());
                true
            }
        }
    }
}

/// Tokio's clock (paused in tests), as the state machine's [`std::time::Instant`].
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// The consumer's release of a revocation (pending for ever when none is awaited).
async fn released(
    ack: &mut Option<oneshot::Receiver<()>>,
) -> Result<(), oneshot::error::RecvError> {
    match ack {
        Some(ack) => ack.await,
        None => std::future::pending().await,
    }
}

mod leader;
mod state;
use leader::{leader_assign, partitions_of};
use state::{Action, Beat, GroupState};
