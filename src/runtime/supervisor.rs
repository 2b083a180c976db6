//! The supervisor: runs the mapping's consumers (each a member of the mapping's consumer
//! group, with its own connections) and, every scaling interval, measures the offset lag
//! ([`LagMonitor`]), publishes it as a metric and lets the [`Scaler`] decide how many
//! consumers to run. A consumer stopped by a scale-down finishes its work like a
//! revocation and leaves the group, whose next rebalance hands its partitions to the
//! others. The first consumer to stop on an error stops the mapping.

use super::lag::{Lag, LagMonitor};
use super::member::StartMember;
use super::{RuntimeError, Shared, State, Stats, transition};
use crate::engine::Millis;
use crate::invoke::Invoker;
use crate::kafka::protocol::messages::describe_groups::DescribedGroup;
use crate::metrics::Metrics;
use crate::scaling::{Decision, Observation, Scaler, ScalingConfig};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

/// Runs the mapping's consumers and changes their number as the [`Scaler`] decides.
pub(super) struct Supervisor<I: Invoker, L: Lag = LagMonitor> {
    shared: Arc<Shared<I>>,
    scaler: Scaler,
    lag: L,
    /// Starts consumer `index` ([`super::member::start`] but in tests).
    start_member: StartMember<I>,
    /// Wall-clock milliseconds ([`super::now`]) but in tests.
    clock: fn() -> Millis,
    /// Consumers running: index → its stop signal. Stopped ones finish their work
    /// (and leave the group) in `members` before they are gone.
    running: BTreeMap<u32, watch::Sender<bool>>,
    members: JoinSet<(u32, Result<Stats, RuntimeError>)>,
    next_index: u32,
    stats: Stats,
    /// The function's counters at the previous evaluation.
    seen: FunctionCounters,
    /// Group members of other processes, at the last DescribeGroups that answered.
    others: u32,
}

#[derive(Clone, Copy, Debug, Default)]
struct FunctionCounters {
    invocations: u64,
    throttled: u64,
    timed_out: u64,
    durations: u64,
    duration_sum: f64,
}

impl FunctionCounters {
    fn of(m: &Metrics) -> FunctionCounters {
        FunctionCounters {
            invocations: m.invocations.get(),
            throttled: m.throttled.get(),
            timed_out: m.timed_out.get(),
            durations: m.invocation_duration.count(),
            duration_sum: m.invocation_duration.sum(),
        }
    }
}

impl<I: Invoker, L: Lag> Supervisor<I, L> {
    pub(super) fn new(
        shared: Arc<Shared<I>>,
        lag: L,
        start_member: StartMember<I>,
        clock: fn() -> Millis,
    ) -> Self {
        let mapping = &shared.mapping;
        let mut config = ScalingConfig::new(u64::from(mapping.batch_size));
        if let Some(p) = &mapping.provisioned_pollers {
            config.min = p.minimum;
            config.max = p.maximum;
        }
        if let Some(interval) = mapping.esm.scaling_interval {
            config.interval = interval;
        }
        // Drained within six evaluations (a minute by default) is keeping up.
        config.drain_target = config.interval * 6;
        let seen = FunctionCounters::of(&shared.metrics);
        Supervisor {
            shared,
            scaler: Scaler::new(config),
            lag,
            start_member,
            clock,
            running: BTreeMap::new(),
            members: JoinSet::new(),
            next_index: 0,
            stats: Stats::default(),
            seen,
            others: 0,
        }
    }

    pub(super) async fn run(
        mut self,
        mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Result<Stats, RuntimeError> {
        let interval = self.scaler.config().interval;
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failure = None;
        loop {
            tokio::select! {
                _ = shutdown.as_mut() => {
                    tracing::info!("stopping: finishing in-flight invocations");
                    transition(&self.shared.status, State::Disabling);
                    break;
                }
                Some(done) = self.members.join_next() => {
                    if let Some(e) = self.ended(done) {
                        failure = Some(e);
                        break;
                    }
                }
                _ = tick.tick() => self.evaluate().await,
            }
        }
        for stop in self.running.values() {
            let _ = stop.send(true);
        }
        while let Some(done) = self.members.join_next().await {
            if let Some(e) = self.ended(done) {
                failure.get_or_insert(e);
            }
        }
        self.running.clear();
        self.publish_consumers();
        match failure {
            Some(e) => Err(e),
            None => Ok(self.stats),
        }
    }

    /// A consumer task ended: counts its work; its error stops the mapping.
    fn ended(
        &mut self,
        done: Result<(u32, Result<Stats, RuntimeError>), tokio::task::JoinError>,
    ) -> Option<RuntimeError> {
        match done {
            Ok((index, result)) => {
                self.running.remove(&index);
                self.publish_consumers();
                match result {
                    Ok(stats) => {
                        self.stats.add(&stats);
                        None
                    }
                    Err(e) => {
                        tracing::error!(consumer = index, "consumer stopped: {e}");
                        Some(e)
                    }
                }
            }
            Err(e) => {
                tracing::error!("a consumer task failed: {e}");
                Some(RuntimeError::Panicked(e.to_string()))
            }
        }
    }

    fn publish_consumers(&self) {
        let n = self.running.len() as u32;
        self.shared.metrics.consumers.set(u64::from(n));
        self.shared.status.send_if_modified(|s| {
            let changed = s.consumers != n;
            s.consumers = n;
            changed
        });
    }

    /// Starts as many consumers as the scaler starts with.
    pub(super) fn start(&mut self) {
        self.scale_to(self.scaler.consumers());
    }

    /// Starts or stops consumers until `n` run. The newest are stopped first.
    fn scale_to(&mut self, n: u32) {
        while (self.running.len() as u32) < n {
            let index = self.next_index;
            self.next_index += 1;
            let (stop, stopped) = watch::channel(false);
            self.running.insert(index, stop);
            let member = (self.start_member)(self.shared.clone(), index, stopped);
            let span = tracing::info_span!("consumer", consumer = index);
            self.members
                .spawn(async move { (index, member.await) }.instrument(span));
        }
        while (self.running.len() as u32) > n {
            if let Some((index, stop)) = self.running.pop_last() {
                tracing::debug!(consumer = index, "stopping a consumer");
                let _ = stop.send(true);
            }
        }
        self.publish_consumers();
    }

    /// The members of `group` that are not this process's consumers. A consumer of ours
    /// still joining has a member id the coordinator lists but we don't know yet: as many
    /// unknown members as we have such consumers are taken to be them.
    fn others_in(&self, group: &DescribedGroup) -> u32 {
        let (ours, joining) = {
            let ids = self.shared.member_ids.lock().expect("member ids");
            let ours: BTreeSet<String> = ids
                .values()
                .map(|id| id.borrow().clone())
                .filter(|id| !id.is_empty())
                .collect();
            let joining = ids.len() - ours.len();
            (ours, joining)
        };
        let unknown = group
            .members
            .iter()
            .filter(|m| !ours.contains(&m.member_id))
            .count();
        u32::try_from(unknown.saturating_sub(joining)).unwrap_or(u32::MAX)
    }

    /// Measures the lag, publishes it and lets the scaler decide.
    async fn evaluate(&mut self) {
        let (partitions, lag) = match self.lag.measure().await {
            Ok(m) => m,
            Err(e) => {
                self.shared.metrics.polling_errors.add(1);
                tracing::warn!("measuring the offset lag: {e}");
                return;
            }
        };
        let total: u64 = lag.values().sum();
        self.shared.metrics.set_lag(lag);
        match self.lag.describe().await {
            Ok(group) => self.others = self.others_in(&group),
            Err(e) => {
                // Scaling goes on with the last count; the next evaluation asks again.
                self.shared.metrics.polling_errors.add(1);
                tracing::warn!("describing the consumer group: {e}");
            }
        }
        let now_counters = FunctionCounters::of(&self.shared.metrics);
        let was = std::mem::replace(&mut self.seen, now_counters);
        let durations = now_counters.durations.saturating_sub(was.durations);
        let observation = Observation {
            at: (self.clock)(),
            partitions,
            lag: total,
            others: self.others,
            invocations: now_counters.invocations.saturating_sub(was.invocations),
            throttled: now_counters.throttled.saturating_sub(was.throttled),
            timed_out: now_counters.timed_out.saturating_sub(was.timed_out),
            mean_duration: (durations > 0).then(|| {
                Duration::from_secs_f64(
                    ((now_counters.duration_sum - was.duration_sum) / durations as f64).max(0.0),
                )
            }),
        };
        tracing::debug!(
            lag = total,
            partitions,
            consumers = self.running.len(),
            others = self.others,
            "offset lag"
        );
        if let Decision::Scale { from, to, reason } = self.scaler.evaluate(&observation) {
            tracing::info!(
                from,
                to,
                reason = reason.as_str(),
                lag = total,
                "scaling consumers"
            );
            self.scale_to(to);
        }
    }
}
