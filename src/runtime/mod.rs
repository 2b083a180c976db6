//! The runtime: runs one mapping (`kafka-esm run`), driving the [`crate::engine::Engine`]
//! with the Kafka consumer, the event encoder and an [`Invoker`]. It owns the wiring
//! (credentials, cluster, destination, metrics endpoint: here), the mapping's status
//! (`status.rs`), the supervisor that scales its consumers (`supervisor.rs`, `lag.rs`),
//! each consumer's loop (`member.rs`), its record path through one encoder, each batch
//! encoded once (`records.rs`), and the carrying out of the engine's actions
//! (`actions.rs`).
//!
//! It must not decide anything about batching, retries or commits (the engine's job) nor
//! how many consumers to run (the [`crate::scaling::Scaler`]'s), nor speak the Kafka
//! protocol itself: a member reaches its consumer only through `source::Source`.

mod actions;
mod lag;
mod member;
mod records;
mod source;
pub mod status;
mod supervisor;
#[cfg(test)]
mod tests;

pub use status::{MappingStatus, State};

use crate::access::{self, AccessError};
use crate::aws::AwsOptions;
use crate::config::{Mapping, StartingPosition};
use crate::destination::{Destination, DestinationError, Origin};
use crate::engine::{EngineConfig, Millis};
use crate::invoke::{InvokeError, Invoker};
use crate::kafka::TopicPartition;
use crate::kafka::client::cluster::{Cluster, ClusterConfig, ClusterError};
use crate::kafka::client::conn::ConnectionConfig;
use crate::kafka::consumer::ConsumerError;
use crate::kafka::consumer::fetcher::FetchPosition;
use crate::lambda::MAX_PAYLOAD_BYTES;
use crate::metrics::{Metrics, MetricsServer};
use lag::{Lag, LagMonitor};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use supervisor::Supervisor;
use tokio::sync::watch;
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
            RuntimeError::Unsupported { .. } | RuntimeError::Metrics { .. } => {
                "ESM_CONFIG_NOT_VALID"
            }
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
    stopped(mapping, &status, result)
}

/// The mapping stopped with `result`: `Disabled`, with the reason and, after an error, the
/// `LastProcessingResult` it leaves.
fn stopped(
    mapping: &Mapping,
    status: &watch::Sender<MappingStatus>,
    result: Result<Stats, RuntimeError>,
) -> Result<Stats, RuntimeError> {
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
    let shutdown = std::pin::pin!(shutdown);
    if !mapping.enabled {
        tracing::info!("the mapping is disabled: polling nothing");
        transition(status, State::Disabled);
        shutdown.await;
        return Ok(Stats::default());
    }
    let enabling = enable(mapping, invoker, status, options);
    operate(mapping, shutdown, status, enabling).await
}

/// Runs the mapping once `enabling` has built its supervisor: `Enabling`, then `Enabled`
/// with its first consumers started, then `Disabling` at `shutdown`.
async fn operate<I: Invoker, L: Lag>(
    mapping: &Mapping,
    mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
    status: &watch::Sender<MappingStatus>,
    enabling: impl Future<Output = Result<(Supervisor<I, L>, Option<MetricsServer>), RuntimeError>>,
) -> Result<Stats, RuntimeError> {
    transition(status, State::Enabling);
    // Start-up waits on the network (secrets, brokers, the destination): a shutdown
    // meanwhile stops it there.
    let (mut supervisor, _server) = tokio::select! {
        enabled = enabling => enabled?,
        _ = shutdown.as_mut() => {
            tracing::info!("stopped while enabling");
            transition(status, State::Disabling);
            return Ok(Stats::default());
        }
    };
    supervisor.start();
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
    status: &watch::Sender<MappingStatus>,
    options: &RunOptions,
) -> Result<(Supervisor<I>, Option<MetricsServer>), RuntimeError> {
    // As AWS does when the mapping is enabled: a missing function, or one that may run
    // past 14 minutes, is refused before anything is consumed.
    invoker.check().await.map_err(RuntimeError::Invoke)?;
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
    let cluster = Arc::new(connect_cluster(&cluster_config, &mapping.topic, status, None).await?);
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
        member_ids: Mutex::new(BTreeMap::new()),
    });
    let lag = LagMonitor::new(cluster, mapping);
    Ok((
        Supervisor::new(shared, lag, Arc::new(member::start), now),
        server,
    ))
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
    /// Each running consumer's member id as the coordinator gave it (empty until it
    /// joins): how the supervisor tells this process's group members from others'.
    member_ids: Mutex<BTreeMap<u32, watch::Receiver<String>>>,
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

/// Connects to the cluster for `topic`. What may pass (brokers restarting, connections
/// refused or reset, a coordinator moving) is retried with backoff, as AWS's mapping
/// keeps trying, with the cause in `LastProcessingResult` meanwhile (and counted as a
/// polling error when `metrics` is given); an error no retry can fix (authentication,
/// authorization, TLS trust) is returned at once.
pub(super) async fn connect_cluster(
    config: &ClusterConfig,
    topic: &str,
    status: &watch::Sender<MappingStatus>,
    metrics: Option<&Metrics>,
) -> Result<Cluster, ClusterError> {
    let mut failures = 0u32;
    loop {
        match Cluster::connect(config.clone(), &[topic.to_string()]).await {
            Ok(cluster) => return Ok(cluster),
            Err(e) if e.is_retriable() => {
                failures += 1;
                let wait = connect_backoff(failures);
                tracing::warn!("connecting to the Kafka cluster, again in {wait:?}: {e}");
                if let Some(m) = metrics {
                    m.polling_errors.add(1);
                }
                status::set_last_processing_result(
                    status,
                    format!("PROBLEM: connecting to the Kafka cluster: {e}"),
                );
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// 500 ms doubling to 30 s.
fn connect_backoff(failures: u32) -> Duration {
    Duration::from_millis(250u64 << failures.min(7)).min(Duration::from_secs(30))
}

/// Where a partition with no committed offset starts, for `mapping`.
fn default_position(mapping: &Mapping) -> FetchPosition {
    match mapping.starting_position {
        StartingPosition::Latest => FetchPosition::Latest,
        StartingPosition::TrimHorizon => FetchPosition::Earliest,
        StartingPosition::AtTimestamp { epoch_millis } => FetchPosition::Timestamp(epoch_millis),
    }
}

/// `"topic-partition"`, as the event and partial batch responses name it.
fn key(tp: &TopicPartition) -> String {
    format!("{}-{}", tp.0, tp.1)
}
