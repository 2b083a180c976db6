//! One consumer of the mapping: a task that owns everything it needs. It feeds fetched
//! records to its engine, carries out the engine's actions ([`super::actions`]), feeds
//! invocation and destination results back, and lets time pass. Invocations run
//! concurrently (one per partition at most, the engine's rule), and so do writes to the
//! on-failure destination. On a revocation it stops polling the group until the engine
//! has finished or abandoned the revoked partitions' work and committed what was done; on
//! shutdown (or an error that stops the mapping) it revokes everything the same way, then
//! leaves the group. It decides nothing about batching, retries or commits.

use super::records::{EngineRec, Events};
use super::source::Source;
use super::{
    REBALANCE_MARGIN, RuntimeError, Shared, Stats, connect_cluster, default_position,
    engine_config, invocation_limit, key, now,
};
use crate::destination::{DestinationError, ResponseContext};
use crate::engine::{BatchId, Engine, Millis};
use crate::filter::RecordView;
use crate::invoke::{Invocation, InvokeError, Invoker};
use crate::kafka::TopicPartition;
use crate::kafka::consumer::fetcher::FetchConfig;
use crate::kafka::consumer::{Consumer, ConsumerConfig, ConsumerEvent};
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinSet};

/// A consumer's task: what [`start`] returns.
pub(super) type MemberTask = Pin<Box<dyn Future<Output = Result<Stats, RuntimeError>> + Send>>;

/// How the supervisor starts consumer `index`, with its stop signal.
pub(super) type StartMember<I> =
    Arc<dyn Fn(Arc<Shared<I>>, u32, watch::Receiver<bool>) -> MemberTask + Send + Sync>;

/// Starts consumer `index` ([`run_member`]).
pub(super) fn start<I: Invoker>(
    shared: Arc<Shared<I>>,
    index: u32,
    stop: watch::Receiver<bool>,
) -> MemberTask {
    Box::pin(run_member(shared, index, stop))
}

/// One consumer: its own connections, group membership, engine and invocations, until
/// `stop` says true (then it finishes or abandons its work, commits, leaves the group).
async fn run_member<I: Invoker>(
    shared: Arc<Shared<I>>,
    index: u32,
    mut stop: watch::Receiver<bool>,
) -> Result<Stats, RuntimeError> {
    let mapping = shared.mapping.clone();
    let connecting = connect_cluster(
        &shared.cluster_config,
        &mapping.topic,
        &shared.status,
        Some(&shared.metrics),
    );
    let cluster = tokio::select! {
        cluster = connecting => Arc::new(cluster?),
        // Stopped (scaled down, or the mapping stops) before it could connect.
        _ = stop.wait_for(|s| *s) => return Ok(Stats::default()),
    };
    let mut config = ConsumerConfig {
        default_position: default_position(&mapping),
        fetch: FetchConfig {
            max_wait: Duration::from_millis(500),
            prefetch: true,
            ..FetchConfig::default()
        },
        ..ConsumerConfig::new(
            mapping.consumer_group_id.clone(),
            vec![mapping.topic.clone()],
        )
    };
    if let Some(t) = mapping.esm.session_timeout {
        config.session_timeout = t;
        config.heartbeat_interval = (t / 3).min(config.heartbeat_interval);
    }
    // A revocation waits for invocations in flight: the group must wait as long, or it
    // evicts this member and hands the partition on while the old invocation runs.
    config.rebalance_timeout = config
        .rebalance_timeout
        .max(invocation_limit(&mapping) + REBALANCE_MARGIN);
    // A restart must not resolve LATEST (or a timestamp) again past what arrived since.
    config.commit_start_positions = true;
    // Partitions not revoked keep flowing while revoked ones finish their work.
    config.hold_revocations = true;
    let consumer = Consumer::start(cluster, config);
    Runner::new(shared, consumer, now).serve(index, stop).await
}

type InvokeResult = (BatchId, String, Result<Invocation, InvokeError>, Duration);
type DeliveryResult = (BatchId, String, usize, Result<(), DestinationError>);

/// One consumer's loop and state, over its [`Source`].
pub(super) struct Runner<I: Invoker, S: Source> {
    pub(super) shared: Arc<Shared<I>>,
    pub(super) consumer: S,
    pub(super) engine: Engine<EngineRec>,
    /// The one encoder: measures fetched records, encodes batches, keeps each
    /// partition's last event for its retries.
    pub(super) events: Events,
    /// The engine's clock: wall-clock milliseconds ([`now`]) but in tests.
    pub(super) clock: fn() -> Millis,
    pub(super) invocations: JoinSet<InvokeResult>,
    /// Invocations under way.
    pub(super) inflight: HashMap<BatchId, Underway>,
    /// Writes to the destination under way.
    pub(super) deliveries: JoinSet<DeliveryResult>,
    /// Each write to the destination under way.
    pub(super) delivering: HashMap<BatchId, Underway>,
    /// What each partition's last invocation returned: the `responseContext` of a batch
    /// given up (one batch per partition is handled at a time, so it is that batch's).
    pub(super) last_response: HashMap<TopicPartition, ResponseContext>,
    /// Partitions revoked whose work the engine is still finishing.
    pub(super) revoking: BTreeSet<TopicPartition>,
    pub(super) stats: Stats,
    /// The fetcher's retried errors already counted in the metrics.
    pub(super) retried_seen: u64,
    /// What stops the mapping (the first such error): every partition was revoked when
    /// it came, so nothing of the batch that met it, nor anything after, is committed.
    pub(super) fatal: Option<RuntimeError>,
}

impl<I: Invoker, S: Source> Runner<I, S> {
    pub(super) fn new(shared: Arc<Shared<I>>, consumer: S, clock: fn() -> Millis) -> Self {
        let events = Events::new(&shared.bootstrap, &shared.mapping.topic);
        let engine = Engine::new(engine_config(&shared.mapping, events.envelope()));
        Runner {
            consumer,
            engine,
            events,
            clock,
            invocations: JoinSet::new(),
            inflight: HashMap::new(),
            deliveries: JoinSet::new(),
            delivering: HashMap::new(),
            last_response: HashMap::new(),
            revoking: BTreeSet::new(),
            stats: Stats::default(),
            retried_seen: 0,
            fatal: None,
            shared,
        }
    }

    /// Runs as consumer `index` (listed in the shared member ids meanwhile) until `stop`
    /// says true, then leaves the group: what [`run_member`] does once connected.
    pub(super) async fn serve(
        mut self,
        index: u32,
        mut stop: watch::Receiver<bool>,
    ) -> Result<Stats, RuntimeError> {
        self.shared
            .member_ids
            .lock()
            .expect("member ids")
            .insert(index, self.consumer.member_id());
        tracing::debug!(consumer = index, "consumer started");
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        let result = self.run(std::pin::pin!(stopped)).await;
        let stats = self.stats.clone();
        let closed = self.consumer.close().await;
        self.shared
            .member_ids
            .lock()
            .expect("member ids")
            .remove(&index);
        result?;
        closed?;
        Ok(stats)
    }

    pub(super) async fn run(
        &mut self,
        mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Result<(), RuntimeError> {
        let mut stopping = false;
        let clock = self.clock;
        loop {
            self.act().await?;
            stopping |= self.fatal.is_some();
            if stopping && self.engine.partitions().next().is_none() {
                return self.fatal.take().map_or(Ok(()), Err);
            }
            let deadline = self.engine.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(at) => {
                        let wait = (at - clock()).max(0) as u64;
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.as_mut(), if !stopping => {
                    stopping = true;
                    self.revoke_all();
                }
                Some(done) = self.invocations.join_next(), if !self.invocations.is_empty() => {
                    match done {
                        Ok((id, key, result, took)) => self.invoked(id, &key, result, took),
                        Err(e) if e.is_cancelled() => {}
                        Err(e) => tracing::error!("an invocation task failed: {e}"),
                    }
                }
                Some(done) = self.deliveries.join_next(), if !self.deliveries.is_empty() => {
                    match done {
                        Ok((id, key, count, result)) => self.delivered(id, &key, count, result),
                        Err(e) if e.is_cancelled() => {}
                        Err(e) => tracing::error!("a destination task failed: {e}"),
                    }
                }
                _ = sleep => self.engine.handle_timeout(clock()),
                event = self.consumer.poll(), if !stopping => {
                    let retried = self.consumer.retried_errors();
                    self.shared.metrics.polling_errors.add(retried.saturating_sub(self.retried_seen));
                    self.retried_seen = retried;
                    self.on_event(event?);
                }
            }
        }
    }

    /// Stops every partition's work like a shutdown: in-flight invocations and writes
    /// finish (and what they complete is committed), nothing new starts.
    pub(super) fn revoke_all(&mut self) {
        let all: Vec<TopicPartition> = self.engine.partitions().cloned().collect();
        let t = (self.clock)();
        for tp in all {
            self.revoking.insert(tp.clone());
            self.engine.revoke(&tp, t);
        }
    }

    /// Stops the mapping on `e`: revokes everything, so the batch that met it is given to
    /// the engine as abandoned (never committed, never dropped), and `run` returns `e`
    /// once the in-flight work is done.
    pub(super) fn stop_on(&mut self, e: RuntimeError) {
        if self.fatal.is_some() {
            return;
        }
        tracing::error!(reason = e.reason(), "stopping the mapping: {e}");
        self.revoke_all();
        self.fatal = Some(e);
    }

    fn on_event(&mut self, event: ConsumerEvent) {
        let t = (self.clock)();
        match event {
            ConsumerEvent::Assigned(parts) => {
                for tp in parts {
                    let position = self.consumer.position(&tp).unwrap_or(-1);
                    tracing::info!(partition = %key(&tp), "assigned");
                    self.events.forget(&tp);
                    self.engine.assign(tp, position);
                }
            }
            ConsumerEvent::Revoked(parts) => {
                for tp in parts {
                    tracing::info!(partition = %key(&tp), "revoked: finishing its work");
                    self.revoking.insert(tp.clone());
                    self.engine.revoke(&tp, t);
                }
            }
            ConsumerEvent::Lost(parts) => {
                for tp in parts {
                    tracing::warn!(
                        partition = %key(&tp),
                        "lost (this member was evicted): its work in flight is abandoned, nothing of it is committed"
                    );
                    self.lose(&tp);
                }
            }
            ConsumerEvent::Reset(resets) => {
                for r in resets {
                    let tp = (r.topic.clone(), r.partition);
                    // Offsets the last event holds may now name other records.
                    self.events.forget(&tp);
                    self.engine.reset(&tp, r.from, r.to, t);
                }
            }
            ConsumerEvent::Records(batch) => {
                for p in batch {
                    let tp = (p.topic.clone(), p.partition);
                    let fetched = p.records.len();
                    // Records that match no filter never reach the function; the engine
                    // counts them handled through next_offset, so their offsets are
                    // committed with the records around them, as AWS does.
                    let recs: Vec<EngineRec> = p
                        .records
                        .into_iter()
                        .filter(|r| {
                            self.shared.mapping.filters.matches(&RecordView::new(
                                &p.topic,
                                p.partition,
                                r,
                            ))
                        })
                        .map(|r| self.events.measure(&p.topic, p.partition, r))
                        .collect();
                    let filtered_out = (fetched - recs.len()) as u64;
                    self.stats.records_filtered_out += filtered_out;
                    self.shared.metrics.polled.add(fetched as u64);
                    self.shared.metrics.filtered_out.add(filtered_out);
                    self.engine.fetched(&tp, recs, p.next_offset, t);
                }
            }
        }
    }

    /// Forgets a partition another member may own already: the engine drops its
    /// records and pending commits, and its invocation and destination write in flight
    /// are abandoned (their results would commit for the wrong owner).
    fn lose(&mut self, tp: &TopicPartition) {
        self.engine.lose(tp);
        self.events.forget(tp);
        self.revoking.remove(tp);
        self.last_response.remove(tp);
        for underway in [&mut self.inflight, &mut self.delivering] {
            underway.retain(|_, u| {
                let keep = u.partition != *tp;
                if !keep {
                    u.task.abort();
                }
                keep
            });
        }
    }
}

/// An invocation or a write to the destination under way.
pub(super) struct Underway {
    pub(super) partition: TopicPartition,
    /// How many records it carries.
    pub(super) records: usize,
    /// Its last record's offset: once it is done, so is the partition's event if it ends
    /// there ([`Events::done`]).
    pub(super) last_offset: i64,
    pub(super) task: AbortHandle,
}
