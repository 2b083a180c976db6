//! How many consumers a mapping runs (SPEC section 8): a sans-I/O policy.
//!
//! The runtime measures, every [`ScalingConfig::interval`], the mapping's offset lag (the
//! end of every partition minus the group's committed offset) and what the function did
//! since the last evaluation (throttles, timeouts, durations), and hands it to
//! [`Scaler::evaluate`] as an [`Observation`]. The scaler answers with a [`Decision`]: keep
//! the consumers, or run this many instead, and why. It never asks for more consumers than
//! the topic has partitions (a partition is read by one consumer at a time, which keeps
//! the records of a partition in order) and stays within `ProvisionedPollerConfig`'s
//! `MinimumPollers..=MaximumPollers`.
//!
//! The rules, first match wins:
//!
//! 1. Outside the bounds (a partition count changed, or the start): move inside them.
//! 2. The function was throttled (429): one consumer fewer. Lambda's own answer to
//!    throttling is to back off; fewer consumers mean fewer concurrent invocations.
//! 3. The function is overloaded (invocations timed out, or their mean duration rose to
//!    more than [`ScalingConfig::overload_factor`] times its running average): one fewer.
//! 4. The lag is above [`ScalingConfig::lag_threshold`] and either grew since the last
//!    evaluation or, at the rate it fell, would take longer than
//!    [`ScalingConfig::drain_target`] to drain: one consumer more.
//! 5. The lag stayed at or under the threshold for [`ScalingConfig::idle_evaluations`]
//!    evaluations in a row: one consumer fewer.
//!
//! One step at a time (but for rule 1): every change rebalances the group, and the next
//! evaluation sees what the change did. AWS evaluates every minute and acts within three
//! more; we evaluate every 10 s by default.
//!
//! Several kafka-esm processes may run the same mapping: their consumers are members of
//! one group. [`Observation::others`] counts the group's members that are not this
//! process's, and the ceiling leaves a partition for each of them: this process grows
//! only into partitions no member holds, and gives one consumer back (rule 1b, one step
//! per evaluation, so that a member counted twice during a rebalance costs at most one
//! step) when the group has more members than partitions. Never below the floor (one
//! consumer, or `MinimumPollers`), so every process stays a member and can take over
//! the partitions of one that stops.

use std::time::Duration;

/// Milliseconds on the caller's clock (the engine's [`Millis`](crate::engine::Millis)).
pub type Millis = i64;

/// The policy's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalingConfig {
    /// `MinimumPollers`: never fewer consumers (1 when unset). Capped by the partitions.
    pub min: u32,
    /// `MaximumPollers`: never more consumers (and never more than the partitions).
    pub max: u32,
    /// How often the runtime evaluates (the scaler itself only reads the timestamps).
    pub interval: Duration,
    /// Lag (records) at or under which the mapping is keeping up.
    pub lag_threshold: u64,
    /// Lag that would take longer than this to drain, at the rate it fell, is behind.
    pub drain_target: Duration,
    /// Evaluations in a row at or under the threshold before a consumer is removed.
    pub idle_evaluations: u32,
    /// The mean invocation duration above this many times its running average is
    /// overload.
    pub overload_factor: f64,
}

impl ScalingConfig {
    /// The defaults: 1 to 200 consumers (AWS's `MaximumPollers` default), every 10 s, a
    /// lag of up to `lag_threshold` records is keeping up, drain within a minute, two quiet
    /// evaluations before scaling down, overload at twice the usual duration.
    pub fn new(lag_threshold: u64) -> ScalingConfig {
        ScalingConfig {
            min: 1,
            max: 200,
            interval: Duration::from_secs(10),
            lag_threshold,
            drain_target: Duration::from_secs(60),
            idle_evaluations: 2,
            overload_factor: 2.0,
        }
    }
}

/// What the runtime measured for one evaluation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observation {
    pub at: Millis,
    /// The topic's partition count.
    pub partitions: u32,
    /// The mapping's offset lag: the sum over partitions.
    pub lag: u64,
    /// Members of the mapping's consumer group that are not this process's consumers
    /// (other processes running the mapping): they hold partitions too.
    pub others: u32,
    /// Invocations since the last evaluation, and how many of them were throttled or
    /// timed out.
    pub invocations: u64,
    pub throttled: u64,
    pub timed_out: u64,
    /// The mean duration of those invocations, when there were any.
    pub mean_duration: Option<Duration>,
}

/// Why the scaler changed the consumer count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Fewer than `MinimumPollers` (or than one).
    BelowMinimum,
    /// More than `MaximumPollers` or than the topic's partitions.
    AboveMaximum,
    /// With the other processes' members, the group has more members than partitions.
    GroupFull,
    /// The function answered 429.
    Throttled,
    /// Invocations timed out or took much longer than usual.
    Overloaded,
    /// The lag grew since the last evaluation.
    LagGrowing,
    /// The lag fell too slowly to drain within the target.
    LagDrainingSlowly,
    /// The lag stayed at or under the threshold.
    KeepingUp,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BelowMinimum => "below the minimum",
            Reason::AboveMaximum => "above the maximum or the partition count",
            Reason::GroupFull => "the group has more members than partitions",
            Reason::Throttled => "the function is throttled",
            Reason::Overloaded => "the function is overloaded",
            Reason::LagGrowing => "the offset lag is growing",
            Reason::LagDrainingSlowly => "the offset lag drains too slowly",
            Reason::KeepingUp => "the offset lag is under the threshold",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do after an evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Hold,
    /// Run `to` consumers instead of `from`.
    Scale {
        from: u32,
        to: u32,
        reason: Reason,
    },
}

/// The policy's state. See the module docs.
#[derive(Clone, Debug)]
pub struct Scaler {
    config: ScalingConfig,
    consumers: u32,
    /// The previous evaluation's time and lag.
    previous: Option<(Millis, u64)>,
    quiet: u32,
    /// Running average of the mean invocation duration, in milliseconds.
    usual_duration: Option<f64>,
}

impl Scaler {
    /// Starts with `MinimumPollers` consumers (one by default), before the partition
    /// count is known; the first evaluation applies it.
    pub fn new(config: ScalingConfig) -> Scaler {
        let consumers = config.min.max(1);
        Scaler {
            config,
            consumers,
            previous: None,
            quiet: 0,
            usual_duration: None,
        }
    }

    pub fn config(&self) -> &ScalingConfig {
        &self.config
    }

    /// The consumer count the scaler wants now.
    pub fn consumers(&self) -> u32 {
        self.consumers
    }

    /// The bounds for `partitions`: (floor, ceiling), both at least 1.
    pub fn bounds(&self, partitions: u32) -> (u32, u32) {
        let ceiling = self.config.max.min(partitions).max(1);
        let floor = self.config.min.clamp(1, ceiling);
        (floor, ceiling)
    }

    /// The ceiling when `others` members of the group belong to other processes: the
    /// partitions none of them holds, within [`Self::bounds`] (and never under its floor).
    pub fn shared_ceiling(&self, partitions: u32, others: u32) -> u32 {
        let (floor, ceiling) = self.bounds(partitions);
        ceiling.min(partitions.saturating_sub(others)).max(floor)
    }

    /// Applies the rules of the module docs to `obs`.
    pub fn evaluate(&mut self, obs: &Observation) -> Decision {
        let previous = self.previous.replace((obs.at, obs.lag));
        let overloaded = self.overloaded(obs);
        let (floor, ceiling) = self.bounds(obs.partitions);
        let shared = self.shared_ceiling(obs.partitions, obs.others);
        let from = self.consumers;
        let (to, reason) = if from < floor {
            (floor, Reason::BelowMinimum)
        } else if from > ceiling {
            (ceiling, Reason::AboveMaximum)
        } else if from > shared {
            (from - 1, Reason::GroupFull)
        } else if obs.throttled > 0 {
            (from - 1, Reason::Throttled)
        } else if overloaded {
            (from - 1, Reason::Overloaded)
        } else if obs.lag > self.config.lag_threshold {
            self.quiet = 0;
            match self.behind(previous, obs) {
                Some(reason) => (from + 1, reason),
                None => (from, Reason::KeepingUp),
            }
        } else {
            self.quiet += 1;
            if self.quiet >= self.config.idle_evaluations.max(1) {
                self.quiet = 0;
                (from - 1, Reason::KeepingUp)
            } else {
                (from, Reason::KeepingUp)
            }
        };
        // Growing stops where the other processes' members start.
        let to = if to > from {
            to.min(shared.max(from))
        } else {
            to
        };
        let to = to.clamp(floor, ceiling);
        if to == from {
            return Decision::Hold;
        }
        self.consumers = to;
        self.quiet = 0;
        Decision::Scale { from, to, reason }
    }

    /// Whether the lag is behind: growing, or draining slower than the target.
    fn behind(&self, previous: Option<(Millis, u64)>, obs: &Observation) -> Option<Reason> {
        // A first look has no trend: wait for the next.
        let (at, lag) = previous?;
        if obs.lag >= lag {
            return Some(Reason::LagGrowing);
        }
        let elapsed_ms = (obs.at - at).max(1) as f64;
        let per_ms = (lag - obs.lag) as f64 / elapsed_ms;
        let drain_ms = obs.lag as f64 / per_ms;
        (drain_ms > self.config.drain_target.as_millis() as f64)
            .then_some(Reason::LagDrainingSlowly)
    }

    /// Timeouts, or a mean duration far above the running average (which this updates
    /// with durations that were not overload).
    fn overloaded(&mut self, obs: &Observation) -> bool {
        if obs.timed_out > 0 {
            return true;
        }
        let Some(mean) = obs.mean_duration else {
            return false;
        };
        let mean = mean.as_secs_f64() * 1000.0;
        match self.usual_duration {
            Some(usual) if mean > usual * self.config.overload_factor && mean > 1.0 => true,
            Some(usual) => {
                self.usual_duration = Some(usual * 0.8 + mean * 0.2);
                false
            }
            None => {
                self.usual_duration = Some(mean);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ScalingConfig {
        ScalingConfig {
            interval: Duration::from_secs(10),
            ..ScalingConfig::new(100)
        }
    }

    fn obs(at_s: i64, partitions: u32, lag: u64) -> Observation {
        Observation {
            at: at_s * 1000,
            partitions,
            lag,
            ..Observation::default()
        }
    }

    fn scale(from: u32, to: u32, reason: Reason) -> Decision {
        Decision::Scale { from, to, reason }
    }

    #[test]
    fn a_growing_lag_adds_one_consumer_per_evaluation_up_to_the_partitions() {
        let mut s = Scaler::new(config());
        assert_eq!(s.consumers(), 1);
        // The first look has no trend.
        assert_eq!(s.evaluate(&obs(0, 6, 1_000)), Decision::Hold);
        let mut decisions = Vec::new();
        for i in 1..=8 {
            decisions.push(s.evaluate(&obs(i * 10, 6, 1_000 + i as u64 * 500)));
        }
        assert_eq!(
            decisions,
            vec![
                scale(1, 2, Reason::LagGrowing),
                scale(2, 3, Reason::LagGrowing),
                scale(3, 4, Reason::LagGrowing),
                scale(4, 5, Reason::LagGrowing),
                scale(5, 6, Reason::LagGrowing),
                Decision::Hold,
                Decision::Hold,
                Decision::Hold,
            ]
        );
        assert_eq!(s.consumers(), 6);
    }

    #[test]
    fn a_lag_draining_slower_than_the_target_adds_a_consumer_and_a_fast_one_does_not() {
        let mut s = Scaler::new(config());
        s.evaluate(&obs(0, 4, 10_000));
        // 1 000 records in 10 s: 90 s to drain the rest, over the 60 s target.
        assert_eq!(
            s.evaluate(&obs(10, 4, 9_000)),
            scale(1, 2, Reason::LagDrainingSlowly)
        );
        // 4 000 in 10 s: 12.5 s to drain the rest.
        assert_eq!(s.evaluate(&obs(20, 4, 5_000)), Decision::Hold);
        assert_eq!(s.consumers(), 2);
    }

    #[test]
    fn a_quiet_lag_removes_one_consumer_after_the_idle_evaluations() {
        let mut s = Scaler::new(config());
        s.evaluate(&obs(0, 3, 1_000));
        s.evaluate(&obs(10, 3, 2_000));
        s.evaluate(&obs(20, 3, 3_000));
        assert_eq!(s.consumers(), 3);
        let decisions: Vec<Decision> = (3..=9).map(|i| s.evaluate(&obs(i * 10, 3, 50))).collect();
        assert_eq!(
            decisions,
            vec![
                Decision::Hold,
                scale(3, 2, Reason::KeepingUp),
                Decision::Hold,
                scale(2, 1, Reason::KeepingUp),
                Decision::Hold,
                Decision::Hold,
                Decision::Hold,
            ]
        );
        // A lag above the threshold resets the quiet streak.
        let mut s = Scaler::new(ScalingConfig { min: 2, ..config() });
        s.evaluate(&obs(0, 3, 1_000));
        s.evaluate(&obs(10, 3, 2_000));
        assert_eq!(s.consumers(), 3);
        assert_eq!(s.evaluate(&obs(20, 3, 0)), Decision::Hold);
        assert_eq!(s.evaluate(&obs(30, 3, 101)), Decision::Hold);
        assert_eq!(s.evaluate(&obs(40, 3, 0)), Decision::Hold);
        assert_eq!(s.evaluate(&obs(50, 3, 0)), scale(3, 2, Reason::KeepingUp));
        // Never under MinimumPollers.
        for i in 6..12 {
            assert_eq!(s.evaluate(&obs(i * 10, 3, 0)), Decision::Hold);
        }
    }

    #[test]
    fn bounds_follow_provisioned_pollers_and_the_partition_count() {
        let s = Scaler::new(ScalingConfig {
            min: 2,
            max: 4,
            ..config()
        });
        assert_eq!(s.consumers(), 2);
        assert_eq!(s.bounds(10), (2, 4));
        assert_eq!(s.bounds(3), (2, 3));
        assert_eq!(s.bounds(1), (1, 1));
        assert_eq!(s.bounds(0), (1, 1));

        // MinimumPollers above the partitions: one consumer per partition.
        let mut s = Scaler::new(ScalingConfig {
            min: 5,
            max: 10,
            ..config()
        });
        assert_eq!(s.consumers(), 5);
        assert_eq!(s.evaluate(&obs(0, 2, 0)), scale(5, 2, Reason::AboveMaximum));
        // Partitions added: back up to the minimum at once.
        assert_eq!(
            s.evaluate(&obs(10, 8, 0)),
            scale(2, 5, Reason::BelowMinimum)
        );
        // Growing lag stops at MaximumPollers.
        for i in 2..20 {
            s.evaluate(&obs(i * 10, 8, i as u64 * 1_000));
        }
        assert_eq!(s.consumers(), 8);
        let mut s = Scaler::new(ScalingConfig { max: 3, ..config() });
        for i in 0..20 {
            s.evaluate(&obs(i * 10, 8, i as u64 * 1_000));
        }
        assert_eq!(s.consumers(), 3);
    }

    #[test]
    fn other_processes_members_leave_their_partitions_to_them() {
        let with_others = |at: i64, lag: u64, others: u32| Observation {
            others,
            ..obs(at, 6, lag)
        };
        let mut s = Scaler::new(config());
        // Another process runs 2 members: this one grows to the 4 partitions left.
        let mut grew = Vec::new();
        for i in 0..8 {
            grew.push(s.evaluate(&with_others(i * 10, 1_000 * (i as u64 + 1), 2)));
        }
        assert_eq!(s.consumers(), 4);
        assert_eq!(grew.iter().filter(|d| **d != Decision::Hold).count(), 3);
        // The other process grew to 4: give back one per evaluation, lag or not.
        assert_eq!(
            s.evaluate(&with_others(80, 20_000, 4)),
            scale(4, 3, Reason::GroupFull)
        );
        assert_eq!(
            s.evaluate(&with_others(90, 30_000, 4)),
            scale(3, 2, Reason::GroupFull)
        );
        assert_eq!(s.evaluate(&with_others(100, 40_000, 4)), Decision::Hold);
        // Others holding every partition (or more): one member stays, to take over.
        assert_eq!(s.shared_ceiling(6, 9), 1);
        for i in 11..16 {
            s.evaluate(&with_others(i * 10, 50_000, 9));
        }
        assert_eq!(s.consumers(), 1);
        // MinimumPollers is kept whatever the others hold.
        let s = Scaler::new(ScalingConfig { min: 3, ..config() });
        assert_eq!(s.shared_ceiling(6, 6), 3);
        assert_eq!(s.shared_ceiling(6, 1), 5);
        // The other process stopped: grow into its partitions again.
        let mut s = Scaler::new(config());
        for i in 0..4 {
            s.evaluate(&with_others(i * 10, 1_000 * (i as u64 + 1), 5));
        }
        assert_eq!(s.consumers(), 1);
        for i in 4..12 {
            s.evaluate(&with_others(i * 10, 1_000 * (i as u64 + 1), 0));
        }
        assert_eq!(s.consumers(), 6);
    }

    #[test]
    fn throttling_and_timeouts_remove_a_consumer_even_with_lag() {
        let mut s = Scaler::new(config());
        for i in 0..4 {
            s.evaluate(&obs(i * 10, 6, 1_000 * (i as u64 + 1)));
        }
        assert_eq!(s.consumers(), 4);
        let throttled = Observation {
            invocations: 10,
            throttled: 3,
            ..obs(40, 6, 9_000)
        };
        assert_eq!(s.evaluate(&throttled), scale(4, 3, Reason::Throttled));
        let timed_out = Observation {
            invocations: 10,
            timed_out: 1,
            ..obs(50, 6, 12_000)
        };
        assert_eq!(s.evaluate(&timed_out), scale(3, 2, Reason::Overloaded));
        // The lag still grows, nothing else is wrong: back up.
        assert_eq!(
            s.evaluate(&obs(60, 6, 15_000)),
            scale(2, 3, Reason::LagGrowing)
        );
        // Throttled at the floor: nothing to remove.
        let mut s = Scaler::new(config());
        let t = Observation {
            throttled: 1,
            ..obs(0, 6, 0)
        };
        assert_eq!(s.evaluate(&t), Decision::Hold);
    }

    #[test]
    fn rising_durations_are_overload_and_steady_ones_are_not() {
        let mut s = Scaler::new(config());
        let with = |at: i64, lag: u64, ms: u64| Observation {
            invocations: 20,
            mean_duration: Some(Duration::from_millis(ms)),
            ..obs(at, 6, lag)
        };
        s.evaluate(&with(0, 1_000, 300));
        // A slow but steady function with a growing lag gets consumers.
        for i in 1..4 {
            s.evaluate(&with(i * 10, 1_000 * (i as u64 + 1), 310));
        }
        assert_eq!(s.consumers(), 4);
        // Durations tripled: the function is struggling.
        assert_eq!(
            s.evaluate(&with(40, 6_000, 950)),
            scale(4, 3, Reason::Overloaded)
        );
        // The average did not learn the overload: still overloaded next time.
        assert_eq!(
            s.evaluate(&with(50, 7_000, 900)),
            scale(3, 2, Reason::Overloaded)
        );
        // Back to normal: the lag is growing, scale up again.
        assert_eq!(
            s.evaluate(&with(60, 8_000, 320)),
            scale(2, 3, Reason::LagGrowing)
        );
    }
}
