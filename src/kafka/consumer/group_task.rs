//! The group task of a [`Consumer`](super::Consumer): it owns the [`GroupMember`], joins,
//! heartbeats, serves commits, announces assignment changes and waits for revocations to
//! be acknowledged. The consumer and the task talk through [`GroupEvent`]s and
//! [`Command`]s.

use super::config::ConsumerConfig;
use super::pending_commits::PendingCommits;
use crate::kafka::TopicPartition;
use crate::kafka::client::cluster::{Cluster, KafkaCode};
use crate::kafka::consumer::assignor::{self, Assignor, RebalanceProtocol};
use crate::kafka::consumer::coordinator::{
    GroupConfig, GroupError, GroupMember, MemberSubscription,
};
use crate::kafka::consumer::fetcher::{FetchPosition, list_offsets};
use crate::kafka::protocol::messages::consumer_protocol::{Subscription, TopicPartitions};
use std::collections::{BTreeMap, BTreeSet};
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

/// How waiting for a revocation's acknowledgement ended.
enum Waited {
    Acked,
    /// The coordinator evicted the member meanwhile: the partitions are lost.
    Lost,
    Stop,
}

/// Error codes of a heartbeat that mean this member is no longer in the group (its
/// partitions may have new owners), as opposed to a rebalance it takes part in.
const UNKNOWN_MEMBER_ID: i16 = 25;
const ILLEGAL_GENERATION: i16 = 22;
const REBALANCE_IN_PROGRESS: i16 = 27;

/// Whether `e` says the member was evicted or its generation is gone.
fn evicted(e: &GroupError) -> bool {
    matches!(
        e,
        GroupError::Rejoin {
            code: KafkaCode(UNKNOWN_MEMBER_ID | ILLEGAL_GENERATION),
            ..
        }
    )
}

/// Owns the [`GroupMember`]: joins, heartbeats, serves commits, announces assignment
/// changes and waits for revocations to be acknowledged.
pub(super) struct GroupTask {
    cluster: Arc<Cluster>,
    config: ConsumerConfig,
    member: GroupMember,
    events: mpsc::Sender<GroupEvent>,
    commands: mpsc::Receiver<Command>,
    /// The partitions the consumer holds, and the generation they are from.
    owned: BTreeSet<TopicPartition>,
    owned_generation: i32,
    /// Partitions announced revoked and not acknowledged yet: their final commits are
    /// still taken.
    revoking: BTreeSet<TopicPartition>,
    pending: PendingCommits,
    /// Until when the coordinator surely still counts this member alive: the sending
    /// time of the last heartbeat it answered (or of the join), plus the session
    /// timeout, less a margin.
    alive_until: tokio::time::Instant,
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
        GroupTask {
            cluster,
            config,
            member,
            events,
            commands,
            owned: BTreeSet::new(),
            owned_generation: -1,
            revoking: BTreeSet::new(),
            pending: PendingCommits::default(),
            alive_until: tokio::time::Instant::now(),
            member_id,
        }
    }

    pub(super) async fn run(mut self) {
        let mut failures = 0u32;
        loop {
            match self.round().await {
                Ok(Next::Rejoin) => failures = 0,
                Ok(Next::Stop) => return,
                Err(e) if e.is_retriable() => {
                    failures += 1;
                    tracing::warn!(group = %self.config.group_id, "rejoining after: {e}");
                    let wait = Duration::from_millis(100u64 << failures.min(6));
                    if self.serve_for(wait.min(Duration::from_secs(5))).await {
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

    /// One generation: join, announce, heartbeat until a rebalance or a leave.
    async fn round(&mut self) -> Result<Next, GroupError> {
        self.cluster.refresh(&self.config.topics).await?;
        self.member.set_protocols(self.protocols());
        let cluster = self.cluster.clone();
        let mut assign = |protocol: &str, members: &[MemberSubscription]| {
            leader_assign(&cluster, protocol, members)
        };
        let generation = self.member.join(&mut assign).await?;
        // The coordinator starts this member's session when it completes the join, which
        // may have waited for a whole rebalance: count from the answer (the margin covers
        // its way back).
        self.alive(tokio::time::Instant::now());
        self.member_id.send_replace(generation.member_id.clone());
        let cooperative = Assignor::from_name(&generation.protocol)
            .is_some_and(|a| a.rebalance_protocol() == RebalanceProtocol::Cooperative);
        let new = partitions_of(&generation.assignment);
        let revoked: Vec<TopicPartition> = self.owned.difference(&new).cloned().collect();
        let added: Vec<TopicPartition> = new.difference(&self.owned).cloned().collect();
        tracing::info!(
            group = %self.config.group_id,
            generation = generation.generation_id,
            protocol = %generation.protocol,
            leader = generation.is_leader,
            assigned = new.len(),
            "joined"
        );
        if !revoked.is_empty() {
            // Only a cooperative member still owns partitions here (an eager one revoked
            // everything before joining): give them up, then rejoin so the leader can
            // hand them to their new owners.
            match self.revoke(revoked).await {
                Waited::Stop => return Ok(Next::Stop),
                Waited::Lost => return Ok(Next::Rejoin),
                Waited::Acked => {}
            }
            if cooperative {
                self.owned_generation = generation.generation_id;
                self.announce_added(added).await?;
                return Ok(Next::Rejoin);
            }
        }
        self.owned_generation = generation.generation_id;
        // Commits kept from the last generation go out again with this one.
        self.pending.keep_only(|tp| self.owned.contains(tp));
        self.announce_added(added).await?;

        let mut beat = tokio::time::interval(self.config.heartbeat_interval);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        beat.tick().await;
        loop {
            tokio::select! {
                _ = beat.tick() => match self.heartbeat().await {
                    Ok(()) => {}
                    Err(e) if evicted(&e) || Self::expired(&e) => {
                        tracing::warn!(group = %self.config.group_id, "giving up its partitions: {e}");
                        if self.lose_all().await {
                            return Ok(Next::Stop);
                        }
                        return Ok(Next::Rejoin);
                    }
                    Err(e) if e.needs_rejoin() => {
                        tracing::info!(group = %self.config.group_id, "rebalance: {e}");
                        // A cooperative member keeps its partitions through a rebalance.
                        if !cooperative && !self.owned.is_empty() {
                            let all: Vec<_> = self.owned.iter().cloned().collect();
                            match self.revoke(all).await {
                                Waited::Stop => return Ok(Next::Stop),
                                Waited::Acked | Waited::Lost => {}
                            }
                        }
                        return Ok(Next::Rejoin);
                    }
                    Err(e) if e.is_retriable() => {
                        tracing::debug!(group = %self.config.group_id, "heartbeat: {e}");
                    }
                    Err(e) => return Err(e),
                },
                _ = tokio::time::sleep_until(self.alive_until), if !self.owned.is_empty() => {
                    tracing::warn!(
                        group = %self.config.group_id,
                        "no heartbeat answered within the session timeout: giving up its partitions"
                    );
                    if self.lose_all().await {
                        return Ok(Next::Stop);
                    }
                    return Ok(Next::Rejoin);
                }
                _ = self.pending.due() => self.flush().await,
                command = self.commands.recv() => {
                    if self.serve(command).await {
                        return Ok(Next::Stop);
                    }
                }
            }
        }
    }

    /// The coordinator answered something sent at `sent`: it counts this member alive
    /// for a session timeout from when it got it, which is no earlier.
    fn alive(&mut self, sent: tokio::time::Instant) {
        let session = self.config.session_timeout;
        let margin = (session / 10).clamp(Duration::from_millis(200), Duration::from_secs(2));
        self.alive_until = sent + session.saturating_sub(margin);
    }

    fn expired(e: &GroupError) -> bool {
        matches!(e, GroupError::SessionExpired { .. })
    }

    /// One heartbeat, given up (as [`GroupError::SessionExpired`]) when the session
    /// runs out before it is answered. An answer, even REBALANCE_IN_PROGRESS, renews the
    /// session.
    async fn heartbeat(&mut self) -> Result<(), GroupError> {
        let sent = tokio::time::Instant::now();
        let result = self.within_session(|m| Box::pin(m.heartbeat())).await;
        let answered = match &result {
            Ok(()) => true,
            Err(GroupError::Rejoin { code, .. }) => code.0 == REBALANCE_IN_PROGRESS,
            Err(_) => false,
        };
        if answered {
            self.alive(sent);
        }
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
        if self.owned.is_empty() && self.revoking.is_empty() {
            return request(&mut self.member).await;
        }
        let deadline = self.alive_until;
        let group = self.config.group_id.clone();
        match tokio::time::timeout_at(deadline, request(&mut self.member)).await {
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
        self.owned.extend(added.iter().cloned());
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

    /// Announces a revocation and waits for the consumer's acknowledgement, heartbeating
    /// (the consumer's in-flight work may take long) and serving its commits meanwhile;
    /// then sends what is still pending of the revoked partitions' commits, and forgets
    /// them.
    async fn revoke(&mut self, partitions: Vec<TopicPartition>) -> Waited {
        for tp in &partitions {
            self.owned.remove(tp);
            self.revoking.insert(tp.clone());
        }
        let (ack, mut acked) = oneshot::channel();
        if self
            .events
            .send(GroupEvent::Revoke(partitions.clone(), ack))
            .await
            .is_err()
        {
            return Waited::Stop;
        }
        let mut beat = tokio::time::interval(self.config.heartbeat_interval);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        beat.tick().await;
        let waited = loop {
            tokio::select! {
                // An acknowledgement dropped unsent: the consumer is gone.
                done = &mut acked => break if done.is_err() { Waited::Stop } else { Waited::Acked },
                // REBALANCE_IN_PROGRESS is the expected answer: it keeps the session
                // alive while the coordinator waits for this member to rejoin.
                _ = beat.tick() => match self.heartbeat().await {
                    Err(e) if evicted(&e) || Self::expired(&e) => {
                        tracing::warn!(group = %self.config.group_id, "lost while revoking: {e}");
                        self.lost_while_revoking(&partitions).await;
                        break Waited::Lost;
                    }
                    Err(e) if !e.is_retriable() => {
                        tracing::warn!(group = %self.config.group_id, "heartbeat while revoking: {e}");
                    }
                    _ => {}
                },
                _ = tokio::time::sleep_until(self.alive_until) => {
                    tracing::warn!(
                        group = %self.config.group_id,
                        "no heartbeat answered within the session timeout while revoking"
                    );
                    self.lost_while_revoking(&partitions).await;
                    break Waited::Lost;
                }
                _ = self.pending.due() => self.flush().await,
                command = self.commands.recv() => {
                    if self.serve(command).await {
                        break Waited::Stop;
                    }
                }
            }
        };
        if matches!(waited, Waited::Acked) {
            self.flush_within(self.config.session_timeout / 2).await;
        }
        self.revoking.clear();
        self.pending.keep_only(|tp| self.owned.contains(tp));
        waited
    }

    /// The member was evicted (or its session ran out) while revoking `partitions`: they
    /// may have new owners already, so their pending commits go and the consumer is told
    /// they are lost.
    async fn lost_while_revoking(&mut self, partitions: &[TopicPartition]) {
        self.revoking.clear();
        self.pending.keep_only(|_| false);
        let _ = self
            .events
            .send(GroupEvent::Lost(partitions.to_vec()))
            .await;
    }

    /// The member was evicted: every partition it held may have a new owner already.
    /// Returns true when the task must stop (the consumer is gone).
    async fn lose_all(&mut self) -> bool {
        let all: Vec<TopicPartition> = std::mem::take(&mut self.owned).into_iter().collect();
        self.pending.keep_only(|_| false);
        if all.is_empty() {
            return false;
        }
        self.events.send(GroupEvent::Lost(all)).await.is_err()
    }

    /// Sends the pending commits of partitions this member owns or is revoking; a
    /// retriable failure is retried later, any other drops them (and is logged).
    async fn flush(&mut self) {
        let _ = self.try_flush().await;
    }

    async fn try_flush(&mut self) -> Result<(), GroupError> {
        let (owned, revoking) = (&self.owned, &self.revoking);
        self.pending
            .keep_only(|tp| owned.contains(tp) || revoking.contains(tp));
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
    /// The JoinGroup protocols: each assignor with this member's subscription (a
    /// cooperative one lists the partitions still owned and their generation).
    fn protocols(&self) -> Vec<(String, Subscription)> {
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
        self.config
            .assignors
            .iter()
            .map(|a| {
                let cooperative = a.rebalance_protocol() == RebalanceProtocol::Cooperative;
                let subscription = Subscription {
                    version: if cooperative { 2 } else { 0 },
                    topics: self.config.topics.clone(),
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
}

mod leader;
use leader::{leader_assign, partitions_of};

#[cfg(test)]
mod tests;
