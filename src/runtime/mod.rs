//! The runtime: drives the [`Engine`] with the Kafka consumer, the event encoder and an
//! [`Invoker`]. This is `kafka-esm run`.
//!
//! A supervisor runs the mapping's consumers (each a member of the mapping's consumer
//! group, with its own connections) and, every scaling interval, measures the offset lag
//! (ListOffsets minus the group's committed offsets) on a connection of its own, publishes
//! it as a metric and lets the [`Scaler`] decide how many consumers to run. A consumer
//! stopped by a scale-down finishes its work like a revocation (below) and leaves the
//! group, whose next rebalance hands its partitions to the others.
//!
//! Each consumer is one task that owns everything it needs: it feeds fetched records to
//! its engine, carries out the engine's actions (encode and invoke a batch, commit
//! offsets, pause or resume a partition), feeds invocation results back, and lets time
//! pass. Invocations run concurrently (one per partition at most, the engine's rule), and
//! so do writes to the on-failure destination, whose acknowledgement (or failure, which
//! the engine retries with backoff while the partition waits) goes back to the engine. An
//! error no retry can fix (Lambda: the function doesn't exist or may not be invoked; the
//! destination: it doesn't exist, refuses access or the record) stops the mapping with its
//! documented reason: every partition is revoked first, so that batch is abandoned, never
//! committed nor dropped, while other in-flight work finishes and commits. On
//! a revocation it stops polling the group until the engine has finished or abandoned the
//! revoked partitions' work and committed what was done; on shutdown it revokes
//! everything the same way, then leaves the group. It decides nothing about batching,
//! retries or commits: that is the engine's job.

mod records;
pub mod status;

pub use status::{MappingStatus, State};

use crate::access::{self, AccessError};
use crate::aws::AwsOptions;
use crate::config::{Mapping, StartingPosition};
use crate::destination::{Destination, DestinationError, Failure, Origin, ResponseContext};
use crate::engine::{Action, BatchId, Condition, Engine, EngineConfig, Millis, TopicPartition};
use crate::filter::{FilterSet, RecordView};
use crate::invoke::{Invocation, InvokeError, Invoker, outcome};
use crate::kafka::cluster::{Cluster, ClusterConfig, ClusterError};
use crate::kafka::conn::ConnectionConfig;
use crate::kafka::consumer::{Consumer, ConsumerConfig, ConsumerError, ConsumerEvent};
use crate::kafka::coordinator::{GroupConfig, GroupMember};
use crate::kafka::fetcher::{FetchConfig, FetchPosition, Isolation, list_offsets};
use crate::kafka::messages::describe_groups::DescribedGroup;
use crate::lambda::{EventEncoder, MAX_PAYLOAD_BYTES};
use crate::metrics::{Metrics, MetricsServer};
use crate::scaling::{Decision, Observation, Scaler, ScalingConfig};
use records::{EngineRec, Sizer};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinSet};
use tracing::Instrument;

/// Why the mapping stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    #[error("the mapping's credentials: {0}")]
    Access(#[from] AccessError),
    #[error("connecting to the Kafka cluster: {0}")]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
    /// A `FilterCriteria` pattern is invalid.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Filters(Vec<crate::filter::FilterError>),
    /// The mapping asks for something this build can't do yet.
    #[error("{what} is not supported yet")]
    Unsupported { what: &'static str },
    /// `MetricsAddress` could not be bound.
    #[error("serving metrics at {address}: {source}")]
    Metrics {
        address: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// A consumer task panicked: a bug.
    #[error("a consumer task failed: {0}")]
    Panicked(String),
    /// Lambda refused to invoke the function in a way no retry can change (it doesn't
    /// exist, we may not invoke it, it can't start as configured).
    #[error(transparent)]
    Invoke(InvokeError),
    /// The on-failure destination refused a write in a way no retry can change.
    #[error(transparent)]
    Destination(DestinationError),
}

impl RuntimeError {
    /// The documented reason a stopped mapping reports.
    pub fn reason(&self) -> &'static str {
        match self {
            RuntimeError::Unsupported { .. }
            | RuntimeError::Filters(_)
            | RuntimeError::Metrics { .. } => "ESM_CONFIG_NOT_VALID",
            RuntimeError::Panicked(_) => "PROBLEM",
            RuntimeError::Access(e) => e.reason(),
            RuntimeError::Cluster(e) => e.reason().unwrap_or("PROBLEM"),
            RuntimeError::Consumer(e) => e.reason().unwrap_or("PROBLEM"),
            RuntimeError::Invoke(e) => e.reason().unwrap_or("PROBLEM"),
            RuntimeError::Destination(e) => e.reason(),
        }
    }
}

/// What the runtime did, for the caller's logs and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub invocations: u64,
    pub records_invoked: u64,
    pub records_dropped: u64,
    /// Records that matched none of the mapping's filters (never invoked, committed).
    pub records_filtered_out: u64,
    /// Records written to the on-failure destination.
    pub records_to_destination: u64,
    pub commits: u64,
}

impl Stats {
    /// Adds another consumer's counts.
    pub fn add(&mut self, other: &Stats) {
        self.invocations += other.invocations;
        self.records_invoked += other.records_invoked;
        self.records_dropped += other.records_dropped;
        self.records_filtered_out += other.records_filtered_out;
        self.records_to_destination += other.records_to_destination;
        self.commits += other.commits;
    }
}

/// How the runtime reaches what is around the mapping, beyond its configuration.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The base AWS settings of the on-failure destination's client (SQS, SNS, S3): an
    /// endpoint override, credentials. The destination ARN's region always wins; the
    /// default is the SDK's default chain (so `AWS_ENDPOINT_URL_SQS` and the like apply).
    pub destination_aws: AwsOptions,
    /// Where the mapping counts what it does; a fresh set when `None`. Served at
    /// `KafkaEsm.MetricsAddress` either way when that is set.
    pub metrics: Option<Arc<Metrics>>,
    /// Where the mapping's [`MappingStatus`] is published as it changes; nowhere when
    /// `None`.
    pub status: Option<watch::Sender<MappingStatus>>,
}

/// The engine's rules for `mapping`.
pub fn engine_config(mapping: &Mapping, envelope: usize) -> EngineConfig {
    EngineConfig {
        batch_size: mapping.batch_size as usize,
        batching_window: mapping.maximum_batching_window,
        max_payload: MAX_PAYLOAD_BYTES,
        envelope_size: envelope,
        max_retry_attempts: mapping.maximum_retry_attempts,
        max_record_age: mapping.maximum_record_age,
        bisect_on_error: mapping.bisect_batch_on_function_error,
        report_batch_item_failures: mapping.report_batch_item_failures,
        has_destination: mapping.on_failure.is_some(),
        max_buffered_bytes: mapping
            .esm
            .max_buffered_bytes
            .unwrap_or(crate::engine::DEFAULT_MAX_BUFFERED_BYTES),
        ..EngineConfig::aws_defaults()
    }
}

/// Wall-clock milliseconds.
fn now() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs `mapping` until `shutdown` resolves, invoking `invoker`, publishing its
/// [`MappingStatus`] on [`RunOptions::status`] as it changes.
pub async fn run<I: Invoker>(
    mapping: &Mapping,
    invoker: I,
    shutdown: impl Future<Output = ()>,
    options: RunOptions,
) -> Result<Stats, RuntimeError> {
    let status = options
        .status
        .clone()
        .unwrap_or_else(|| watch::channel(MappingStatus::default()).0);
    let span = tracing::info_span!("mapping", uuid = %mapping.uuid);
    let result = run_inner(mapping, invoker, shutdown, &status, &options)
        .instrument(span)
        .await;
    let reason = match &result {
        Ok(_) => "USER_INITIATED".to_string(),
        Err(e) => e.reason().to_string(),
    };
    match &result {
        Ok(_) => tracing::info!(
            uuid = %mapping.uuid,
            state = State::Disabled.as_str(),
            reason = %reason,
            "state transition"
        ),
        // The caller reports the error itself (the CLI prints it with its reason).
        Err(e) => tracing::info!(
            uuid = %mapping.uuid,
            state = State::Disabled.as_str(),
            reason = %reason,
            "state transition: the mapping stopped: {e}"
        ),
    }
    status.send_modify(|s| {
        s.state = State::Disabled;
        s.state_transition_reason = reason;
        if let Err(e) = &result {
            s.last_processing_result = format!("PROBLEM: {e}");
        }
    });
    result
}

fn transition(status: &watch::Sender<MappingStatus>, state: State) {
    status.send_modify(|s| {
        s.state = state;
        s.state_transition_reason = "USER_INITIATED".into();
    });
    tracing::info!(
        state = state.as_str(),
        reason = "USER_INITIATED",
        "state transition"
    );
}

async fn run_inner<I: Invoker>(
    mapping: &Mapping,
    invoker: I,
    shutdown: impl Future<Output = ()>,
    status: &watch::Sender<MappingStatus>,
    options: &RunOptions,
) -> Result<Stats, RuntimeError> {
    // The configuration checked the patterns already; a hand-built Mapping may not have.
    // Compiled once here, and shared by every consumer.
    let filters = FilterSet::compile(&mapping.filters).map_err(RuntimeError::Filters)?;
    let mut shutdown = std::pin::pin!(shutdown);
    if !mapping.enabled {
        tracing::info!("the mapping is disabled: polling nothing");
        transition(status, State::Disabled);
        shutdown.await;
        return Ok(Stats::default());
    }
    transition(status, State::Enabling);
    // Start-up waits on the network (secrets, brokers, the destination): a shutdown
    // meanwhile stops it there.
    let (mut supervisor, _server) = tokio::select! {
        enabled = enable(mapping, invoker, filters, status, options) => enabled?,
        _ = shutdown.as_mut() => {
            tracing::info!("stopped while enabling");
            transition(status, State::Disabling);
            return Ok(Stats::default());
        }
    };
    supervisor.scale_to(supervisor.scaler.consumers());
    transition(status, State::Enabled);
    tracing::info!(
        group = %mapping.consumer_group_id,
        topic = %mapping.topic,
        "mapping enabled"
    );
    supervisor.run(shutdown.as_mut()).await
}

/// Connects what the mapping needs (its credentials, the cluster, the destination, the
/// metrics endpoint) and builds its supervisor, with no consumer started yet.
async fn enable<I: Invoker>(
    mapping: &Mapping,
    invoker: I,
    filters: FilterSet,
    status: &watch::Sender<MappingStatus>,
    options: &RunOptions,
) -> Result<(Supervisor<I>, Option<MetricsServer>), RuntimeError> {
    let bootstrap: Vec<String> = mapping
        .bootstrap_servers
        .iter()
        .map(|b| format!("{}:{}", b.host, b.port))
        .collect();
    // Secrets Manager in each secret ARN's region, with the SDK's default credentials and
    // endpoint settings (AWS_ENDPOINT_URL_SECRETS_MANAGER reaches a local emulator).
    let connection = access::connection_config(
        mapping,
        &AwsOptions::default(),
        ConnectionConfig {
            client_id: format!("kafka-esm-{}", mapping.uuid),
            ..ConnectionConfig::default()
        },
    )
    .await?;
    let cluster_config = ClusterConfig {
        bootstrap: bootstrap.clone(),
        connection,
    };
    // The supervisor's own connections: the lag monitor and the destination's producer.
    // Each consumer connects on its own (a broker answers one connection's requests in
    // order, and a consumer's long-polling fetches would hold the others up).
    let cluster = Arc::new(
        Cluster::connect(cluster_config.clone(), std::slice::from_ref(&mapping.topic)).await?,
    );
    let destination = match &mapping.on_failure {
        Some(config) => Some(Arc::new(
            Destination::new(
                config,
                Origin::new(mapping, &bootstrap.join(",")),
                &options.destination_aws,
                mapping.esm.region.as_deref(),
                cluster.clone(),
            )
            .await,
        )),
        None => None,
    };
    let metrics = options
        .metrics
        .clone()
        .unwrap_or_else(|| Arc::new(Metrics::new(&mapping.uuid.to_string(), &mapping.topic)));
    let server = match mapping.esm.metrics_address {
        Some(addr) => match MetricsServer::start(addr, metrics.clone()).await {
            Ok(server) => {
                tracing::info!(address = %server.addr(), "serving metrics at /metrics");
                Some(server)
            }
            Err(e) => {
                return Err(RuntimeError::Metrics {
                    address: addr,
                    source: e,
                });
            }
        },
        None => None,
    };
    let shared = Arc::new(Shared {
        mapping: Arc::new(mapping.clone()),
        cluster_config,
        bootstrap: bootstrap.join(","),
        invoker: Arc::new(invoker),
        destination,
        metrics: metrics.clone(),
        status: status.clone(),
        filters,
        member_ids: Mutex::new(BTreeMap::new()),
    });
    Ok((Supervisor::new(shared, cluster), server))
}

/// What every consumer of the mapping shares.
struct Shared<I: Invoker> {
    mapping: Arc<Mapping>,
    cluster_config: ClusterConfig,
    /// `bootstrapServers` as events carry it.
    bootstrap: String,
    invoker: Arc<I>,
    destination: Option<Arc<Destination>>,
    metrics: Arc<Metrics>,
    status: watch::Sender<MappingStatus>,
    /// The mapping's `FilterCriteria`, compiled (matches everything when empty).
    filters: FilterSet,
    /// Each running consumer's member id as the coordinator gave it (empty until it
    /// joins): how the supervisor tells this process's group members from others'.
    member_ids: Mutex<BTreeMap<u32, watch::Receiver<String>>>,
}

/// Runs the mapping's consumers and changes their number as the [`Scaler`] decides.
struct Supervisor<I: Invoker> {
    shared: Arc<Shared<I>>,
    scaler: Scaler,
    lag: LagMonitor,
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

impl<I: Invoker> Supervisor<I> {
    fn new(shared: Arc<Shared<I>>, cluster: Arc<Cluster>) -> Supervisor<I> {
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
        let lag = LagMonitor::new(cluster, mapping);
        let seen = FunctionCounters::of(&shared.metrics);
        Supervisor {
            shared,
            scaler: Scaler::new(config),
            lag,
            running: BTreeMap::new(),
            members: JoinSet::new(),
            next_index: 0,
            stats: Stats::default(),
            seen,
            others: 0,
        }
    }

    async fn run(
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

    /// Starts or stops consumers until `n` run. The newest are stopped first.
    fn scale_to(&mut self, n: u32) {
        while (self.running.len() as u32) < n {
            let index = self.next_index;
            self.next_index += 1;
            let (stop, stopped) = watch::channel(false);
            self.running.insert(index, stop);
            let shared = self.shared.clone();
            let span = tracing::info_span!("consumer", consumer = index);
            self.members.spawn(
                async move { (index, run_member(shared, index, stopped).await) }.instrument(span),
            );
        }
        while (self.running.len() as u32) > n {
            if let Some((index, stop)) = self.running.pop_last() {
                tracing::debug!(consumer = index, "stopping a consumer");
                let _ = stop.send(true);
            }
        }
        self.publish_consumers();
    }

    /// Measures the lag, publishes it and lets the scaler decide.
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
        match self.lag.group.describe().await {
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
            at: now(),
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

/// Measures the group's offset lag: per partition, the end of the log minus the
/// committed offset (or, with none committed, minus where the mapping starts).
struct LagMonitor {
    cluster: Arc<Cluster>,
    group: GroupMember,
    topic: String,
    start: FetchPosition,
    isolation: Isolation,
}

impl LagMonitor {
    fn new(cluster: Arc<Cluster>, mapping: &Mapping) -> LagMonitor {
        let group = GroupMember::new(
            cluster.clone(),
            GroupConfig {
                group_id: mapping.consumer_group_id.clone(),
                group_instance_id: None,
                session_timeout: Duration::from_secs(45),
                rebalance_timeout: Duration::from_secs(300),
                protocols: Vec::new(),
                leader_sync_delay: Duration::ZERO,
            },
        );
        LagMonitor {
            cluster,
            group,
            topic: mapping.topic.clone(),
            start: default_position(mapping),
            isolation: Isolation::ReadCommitted,
        }
    }

    /// The partition count and each partition's lag.
    async fn measure(&mut self) -> Result<(u32, BTreeMap<i32, u64>), RuntimeError> {
        let topics = std::slice::from_ref(&self.topic);
        self.cluster.refresh(topics).await?;
        let count = self
            .cluster
            .partition_count(&self.topic)
            .unwrap_or(0)
            .max(0);
        let partitions: Vec<i32> = (0..count).collect();
        let ends = list_offsets(
            &self.cluster,
            &self.topic,
            &partitions,
            FetchPosition::Latest,
            self.isolation,
        )
        .await
        .map_err(ConsumerError::from)?;
        let asked: Vec<(String, i32)> = partitions
            .iter()
            .map(|p| (self.topic.clone(), *p))
            .collect();
        let committed = self
            .group
            .committed(&asked)
            .await
            .map_err(ConsumerError::from)?;
        let fresh: Vec<i32> = partitions
            .iter()
            .copied()
            .filter(|p| !committed.contains_key(&(self.topic.clone(), *p)))
            .collect();
        let starts = if fresh.is_empty() || self.start == FetchPosition::Latest {
            BTreeMap::new()
        } else {
            list_offsets(
                &self.cluster,
                &self.topic,
                &fresh,
                self.start,
                self.isolation,
            )
            .await
            .map_err(ConsumerError::from)?
        };
        let lag = ends
            .iter()
            .map(|(p, end)| {
                let from = committed
                    .get(&(self.topic.clone(), *p))
                    .or_else(|| starts.get(p))
                    .copied()
                    .unwrap_or(*end);
                (*p, (end - from).max(0) as u64)
            })
            .collect();
        Ok((count as u32, lag))
    }
}

/// The longest one invocation of `mapping`'s function may take before the invoker gives
/// up: `FunctionTimeout`, else Lambda's maximum function timeout, plus the Lambda
/// client's margin ([`crate::invoke::lambda::timeouts`]).
pub fn invocation_limit(mapping: &Mapping) -> Duration {
    mapping
        .esm
        .function_timeout
        .unwrap_or(crate::invoke::lambda::MAX_FUNCTION_TIMEOUT)
        + crate::invoke::lambda::TIMEOUT_MARGIN
}

/// What the rebalance timeout adds to [`invocation_limit`]: the commit after the last
/// invocation of a revoked partition.
const REBALANCE_MARGIN: Duration = Duration::from_secs(60);

/// Where a partition with no committed offset starts, for `mapping`.
fn default_position(mapping: &Mapping) -> FetchPosition {
    match mapping.starting_position {
        StartingPosition::Latest => FetchPosition::Latest,
        StartingPosition::TrimHorizon => FetchPosition::Earliest,
        StartingPosition::AtTimestamp { epoch_millis } => FetchPosition::Timestamp(epoch_millis),
    }
}

/// One consumer: its own connections, group membership, engine and invocations, until
/// `stop` says true (then it finishes or abandons its work, commits, leaves the group).
async fn run_member<I: Invoker>(
    shared: Arc<Shared<I>>,
    index: u32,
    mut stop: watch::Receiver<bool>,
) -> Result<Stats, RuntimeError> {
    let mapping = shared.mapping.clone();
    let cluster = Arc::new(
        Cluster::connect(
            shared.cluster_config.clone(),
            std::slice::from_ref(&mapping.topic),
        )
        .await?,
    );
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
    shared
        .member_ids
        .lock()
        .expect("member ids")
        .insert(index, consumer.member_id());
    let sizer = Sizer::new(&shared.bootstrap, &mapping.topic);
    let engine = Engine::new(engine_config(&mapping, sizer.envelope()));
    let mut runner = Runner {
        consumer,
        engine,
        encoder: EventEncoder::new(&shared.bootstrap),
        sizer,
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
    };
    tracing::debug!(consumer = index, "consumer started");
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    let result = runner.run(std::pin::pin!(stopped)).await;
    let stats = runner.stats.clone();
    let closed = runner.consumer.close().await;
    runner
        .shared
        .member_ids
        .lock()
        .expect("member ids")
        .remove(&index);
    result?;
    closed?;
    Ok(stats)
}

type InvokeResult = (BatchId, String, Result<Invocation, InvokeError>, Duration);
type DeliveryResult = (BatchId, String, usize, Result<(), DestinationError>);

struct Runner<I: Invoker> {
    shared: Arc<Shared<I>>,
    consumer: Consumer,
    engine: Engine<EngineRec>,
    encoder: EventEncoder,
    sizer: Sizer,
    invocations: JoinSet<InvokeResult>,
    /// Invocations under way: id → partition, record count and the task.
    inflight: HashMap<BatchId, (TopicPartition, usize, AbortHandle)>,
    /// Writes to the destination under way.
    deliveries: JoinSet<DeliveryResult>,
    /// Each write to the destination under way: id → partition and the task.
    delivering: HashMap<BatchId, (TopicPartition, AbortHandle)>,
    /// What each partition's last invocation returned: the `responseContext` of a batch
    /// given up (one batch per partition is handled at a time, so it is that batch's).
    last_response: HashMap<TopicPartition, ResponseContext>,
    /// Partitions revoked whose work the engine is still finishing.
    revoking: BTreeSet<TopicPartition>,
    stats: Stats,
    /// The fetcher's retried errors already counted in the metrics.
    retried_seen: u64,
    /// What stops the mapping (the first such error): every partition was revoked when
    /// it came, so nothing of the batch that met it, nor anything after, is committed.
    fatal: Option<RuntimeError>,
}

impl<I: Invoker> Runner<I> {
    async fn run(
        &mut self,
        mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Result<(), RuntimeError> {
        let mut stopping = false;
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
                        let wait = (at - now()).max(0) as u64;
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
                        Ok((id, key, result, took)) => {
                            let Some((tp, records, _)) = self.inflight.remove(&id) else {
                                // Its partition was lost meanwhile.
                                continue;
                            };
                            self.last_response.insert(tp, response_context(&result));
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
                            let o = outcome(
                                &result,
                                self.shared.mapping.report_batch_item_failures,
                                &key,
                            );
                            self.record_result(&result);
                            self.engine.invoked(id, o, now());
                        }
                        Err(e) if e.is_cancelled() => {}
                        Err(e) => tracing::error!("an invocation task failed: {e}"),
                    }
                }
                Some(done) = self.deliveries.join_next(), if !self.deliveries.is_empty() => {
                    match done {
                        Ok((id, key, count, result)) => {
                            if self.delivering.remove(&id).is_none() {
                                // Its partition was lost meanwhile.
                                continue;
                            }
                            let written = result.is_ok();
                            self.record_delivery(&key, count, result);
                            self.engine.delivered(id, written, now());
                        }
                        Err(e) if e.is_cancelled() => {}
                        Err(e) => tracing::error!("a destination task failed: {e}"),
                    }
                }
                _ = sleep => self.engine.handle_timeout(now()),
                event = self.consumer.poll(), if !stopping => {
                    let retried = self.consumer.fetcher().retried_errors();
                    self.shared.metrics.polling_errors.add(retried.saturating_sub(self.retried_seen));
                    self.retried_seen = retried;
                    self.on_event(event?);
                }
            }
        }
    }

    /// Stops every partition's work like a shutdown: in-flight invocations and writes
    /// finish (and what they complete is committed), nothing new starts.
    fn revoke_all(&mut self) {
        let all: Vec<TopicPartition> = self.engine.partitions().cloned().collect();
        let t = now();
        for tp in all {
            self.revoking.insert(tp.clone());
            self.engine.revoke(&tp, t);
        }
    }

    /// Stops the mapping on `e`: revokes everything, so the batch that met it is given to
    /// the engine as abandoned (never committed, never dropped), and `run` returns `e`
    /// once the in-flight work is done.
    fn stop_on(&mut self, e: RuntimeError) {
        if self.fatal.is_some() {
            return;
        }
        tracing::error!(reason = e.reason(), "stopping the mapping: {e}");
        self.revoke_all();
        self.fatal = Some(e);
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
        self.shared.status.send_if_modified(|s| {
            if s.last_processing_result == text {
                return false;
            }
            tracing::info!(last_processing_result = %text, "processing result changed");
            s.last_processing_result = text;
            true
        });
    }

    fn on_event(&mut self, event: ConsumerEvent) {
        let t = now();
        match event {
            ConsumerEvent::Assigned(parts) => {
                for tp in parts {
                    let position = self.consumer.fetcher().position(&tp.0, tp.1).unwrap_or(-1);
                    tracing::info!(partition = %key(&tp), "assigned");
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
                    self.engine
                        .reset(&(r.topic.clone(), r.partition), r.from, r.to, t);
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
                            self.shared
                                .filters
                                .matches(&RecordView::new(&p.topic, p.partition, r))
                        })
                        .map(|r| EngineRec::new(&self.sizer, &p.topic, p.partition, r))
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
        self.revoking.remove(tp);
        self.last_response.remove(tp);
        self.inflight.retain(|_, (p, _, task)| {
            let keep = p != tp;
            if !keep {
                task.abort();
            }
            keep
        });
        self.delivering.retain(|_, (p, task)| {
            let keep = p != tp;
            if !keep {
                task.abort();
            }
            keep
        });
    }

    /// Carries out every pending engine action; commits are sent together, last.
    async fn act(&mut self) -> Result<(), RuntimeError> {
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
                Action::Pause(tp) => self.consumer.fetcher().pause(&tp.0, tp.1),
                Action::Resume(tp) => self.consumer.fetcher().resume(&tp.0, tp.1),
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
        for r in records {
            if let Err(e) = self.encoder.push(&tp.0, tp.1, r.record) {
                tracing::error!("encoding a batch: {e}");
            }
        }
        let event = self.encoder.finish();
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
        self.delivering.insert(id, (tp, task));
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
                let text = format!("PROBLEM: {e}");
                self.shared.status.send_if_modified(|s| {
                    if s.last_processing_result == text {
                        return false;
                    }
                    s.last_processing_result = text;
                    true
                });
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
        for r in records {
            if let Err(e) = self.encoder.push(&tp.0, tp.1, r.record) {
                // The engine hands records in offset order: this is a bug, not input.
                tracing::error!("encoding a batch: {e}");
            }
        }
        let event = self.encoder.finish();
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
        self.inflight.insert(id, (tp, n, task));
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

/// The `responseContext` an invocation leaves for a batch given up after it. Errors that
/// never reached the function get the status Lambda answers them with.
fn response_context(result: &Result<Invocation, InvokeError>) -> ResponseContext {
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

/// `"topic-partition"`, as the event and partial batch responses name it.
fn key(tp: &TopicPartition) -> String {
    format!("{}-{}", tp.0, tp.1)
}
