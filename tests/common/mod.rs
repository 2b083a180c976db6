//! Helpers the integration test binaries share: logging, the two rig brokers, a cluster
//! client for a topic, an AWS SDK configuration for the rig's local endpoints, and a
//! mapping running on a task.
//! Each binary (`mod common;`) uses some of them, hence the `dead_code` allowance.

#![allow(dead_code)]

use kafka_esm::aws::{AwsOptions, StaticCredentials, sdk_config};
use kafka_esm::config::Mapping;
use kafka_esm::invoke::Invoker;
use kafka_esm::invoke::lambda::LambdaInvoker;
use kafka_esm::kafka::client::cluster::{Cluster, ClusterConfig};
use kafka_esm::kafka::client::conn::ConnectionConfig;
use kafka_esm::runtime::{self, MappingStatus, RunOptions, RuntimeError, Stats};
use kafka_esm_rig::{
    Broker, Compression, InvokeServer, MockCluster, Nisshi, NisshiOptions, Record, Storage,
    unique_name,
};
use kafka_protocol::messages::ApiKey;
use serde_json::{Value, json};
use std::sync::Arc;

/// `tests/fixtures`: the Python programs the tests run (handlers, the SCRAM server, the
/// reference client), and the task root of the local handlers.
pub fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Logs to the test output, filtered by `RUST_LOG`.
pub fn trace() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Both rig brokers: nisshi and librdkafka's three-broker mock cluster.
pub async fn both_brokers() -> Vec<Box<dyn Broker>> {
    trace();
    tokio::task::spawn_blocking(|| {
        vec![
            Box::new(Nisshi::start().unwrap()) as Box<dyn Broker>,
            Box::new(MockCluster::start(3).unwrap()),
        ]
    })
    .await
    .unwrap()
}

/// A nisshi broker with default options.
pub async fn nisshi() -> Nisshi {
    trace();
    tokio::task::spawn_blocking(|| Nisshi::start().unwrap())
        .await
        .unwrap()
}

/// A nisshi broker on sqlite storage: what it holds survives `kill` and `restart`.
pub async fn sqlite_nisshi() -> Nisshi {
    trace();
    tokio::task::spawn_blocking(|| {
        Nisshi::start_with(NisshiOptions {
            storage: Storage::Sqlite,
            ..NisshiOptions::default()
        })
        .unwrap()
    })
    .await
    .unwrap()
}

/// A new topic (`prefix` made unique) of `partitions` partitions holding `records`,
/// uncompressed, written by the reference client.
pub fn topic_holding(
    broker: &dyn Broker,
    prefix: &str,
    partitions: i32,
    records: &[Record],
) -> String {
    let topic = unique_name(prefix);
    tokio::task::block_in_place(|| {
        broker.create_topic(&topic, partitions)?;
        broker
            .refclient()
            .produce(&topic, records, Compression::None)
    })
    .unwrap();
    topic
}

/// A Lambda invoker of function `name` at the rig's scriptable Invoke endpoint.
pub async fn lambda_invoker(server: &InvokeServer, name: &str) -> LambdaInvoker {
    qualified_lambda_invoker(server, name, None).await
}

/// A Lambda invoker of function `name`, version or alias `qualifier`, at the rig's
/// scriptable Invoke endpoint.
pub async fn qualified_lambda_invoker(
    server: &InvokeServer,
    name: &str,
    qualifier: Option<&str>,
) -> LambdaInvoker {
    let config = local_aws(server.endpoint()).await;
    LambdaInvoker::new(
        aws_sdk_lambda::Client::new(&config),
        name,
        qualifier.map(str::to_string),
    )
}

/// `got`, as our client decoded it, holds what `sent` was produced with: its key, value,
/// timestamp and headers (`what` names the record in failures).
pub fn assert_record_is(got: &kafka_esm::kafka::Record, sent: &Record, what: &str) {
    assert_eq!(got.key.as_deref(), sent.key.as_deref(), "{what} key");
    assert_eq!(got.value.as_deref(), sent.value.as_deref(), "{what} value");
    assert_eq!(got.timestamp, sent.timestamp.unwrap(), "{what} timestamp");
    let headers: Vec<(String, Option<Vec<u8>>)> = got
        .headers
        .clone()
        .map(|(k, v)| {
            (
                String::from_utf8(k.to_vec()).unwrap(),
                v.map(|v| v.to_vec()),
            )
        })
        .collect();
    assert_eq!(headers, sent.headers, "{what} headers");
}

/// (partition, offset) of every record of a `SelfManagedKafka` event, in event order.
pub fn event_records(body: &[u8]) -> Vec<(i32, i64)> {
    let event: Value = serde_json::from_slice(body).unwrap();
    event["records"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|rs| rs.as_array().unwrap().clone())
        .map(|r| {
            (
                r["partition"].as_i64().unwrap() as i32,
                r["offset"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// The offsets of every record of a `SelfManagedKafka` event, in event order.
pub fn offsets(body: &[u8]) -> Vec<i64> {
    event_records(body).into_iter().map(|(_, o)| o).collect()
}

/// How we connect to `broker`. librdkafka's mock cluster announces JoinGroup v6 and
/// SyncGroup v4 (the first flexible versions) but its handlers don't skip the tagged
/// fields inside their arrays, so it closes the connection on a valid request (found
/// by capping versions one API at a time; librdkafka's own client stops at v5 and v3,
/// so it never meets this). Its LeaveGroup responses hold only the v0
/// fields (no v3 member list, no v4 tagged fields). Talk to it as to a broker without those versions.
pub fn connection_config(broker: &dyn Broker) -> ConnectionConfig {
    let mut config = ConnectionConfig::default();
    if broker.kind() == "mock" {
        config.version_caps = vec![
            (ApiKey::JoinGroup, 5),
            (ApiKey::SyncGroup, 3),
            (ApiKey::LeaveGroup, 2),
        ];
    }
    config
}

/// The group's committed offsets, as the reference client reads them.
pub fn committed(
    broker: &dyn Broker,
    topic: &str,
    group: &str,
) -> std::collections::BTreeMap<i32, i64> {
    tokio::task::block_in_place(|| broker.refclient().committed(topic, group)).unwrap()
}

/// Our cluster client for `topic` (which must exist) on `broker`.
pub async fn cluster(broker: &dyn Broker, topic: &str) -> Arc<Cluster> {
    let config = ClusterConfig {
        bootstrap: broker.bootstrap().split(',').map(str::to_string).collect(),
        connection: connection_config(broker),
    };
    Arc::new(
        Cluster::connect(config, &[topic.to_string()])
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", broker.kind())),
    )
}

/// An SDK configuration for a local endpoint: region us-east-1, test credentials, no
/// SDK retries.
pub async fn local_aws(endpoint: String) -> aws_config::SdkConfig {
    sdk_config(&AwsOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint),
        credentials: Some(StaticCredentials {
            access_key_id: "test".into(),
            secret_access_key: "test".into(),
            session_token: None,
        }),
        max_attempts: Some(1),
        ..AwsOptions::default()
    })
    .await
}

/// The integration tests' mapping JSON: `my-fn` on `topic` from TRIM_HORIZON, no batching
/// window, group `group`, with `extra` keys merged in.
pub fn mapping_with(
    topic: &str,
    bootstrap: &str,
    group: &str,
    batch_size: u32,
    extra: Value,
) -> String {
    let mut m = json!({
        "FunctionName": "my-fn",
        "Topics": [topic],
        "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": [bootstrap]}},
        "StartingPosition": "TRIM_HORIZON",
        "BatchSize": batch_size,
        "MaximumBatchingWindowInSeconds": 0,
        "SelfManagedKafkaEventSourceConfig": {"ConsumerGroupId": group},
    });
    for (k, v) in extra.as_object().unwrap() {
        m[k] = v.clone();
    }
    m.to_string()
}

/// A mapping running on its own task: send (or drop) `stop` to stop it, then await
/// `task` for its stats.
pub struct Running {
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub status: tokio::sync::watch::Receiver<MappingStatus>,
    pub task: tokio::task::JoinHandle<Result<Stats, RuntimeError>>,
}

/// Starts `mapping` with `invoker` and `options` on a task of its own.
pub fn start_mapping<I: Invoker + 'static>(
    mapping: Mapping,
    invoker: I,
    options: RunOptions,
) -> Running {
    let (status_tx, status) = tokio::sync::watch::channel(MappingStatus::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        runtime::run(
            &mapping,
            invoker,
            async {
                let _ = stopped.await;
            },
            RunOptions {
                status: Some(status_tx),
                ..options
            },
        )
        .await
    });
    Running { stop, status, task }
}

impl Running {
    /// Waits up to 60 s for the mapping to stop on its own (not asked to), and returns
    /// its error and its last status.
    pub async fn stopped_on_its_own(self) -> (RuntimeError, MappingStatus) {
        let status = self.status.clone();
        let result = tokio::time::timeout(std::time::Duration::from_secs(60), self.task)
            .await
            .expect("the mapping stops on its own within 60 s")
            .unwrap();
        let e = result.expect_err("the mapping stopped on an error");
        let last = status.borrow().clone();
        drop(self.stop);
        (e, last)
    }

    /// Stops the mapping and returns its stats (panicking if it failed).
    /// A mapping that does not stop within 15 minutes fails the test (rather than hanging
    /// the run until CI gives up; a slow stop, e.g. a coordinator search, still passes).
    pub async fn finish(self) -> Stats {
        self.stop.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(900), self.task)
            .await
            .expect("the mapping stops within 15 minutes")
            .unwrap()
            .unwrap()
    }
}
