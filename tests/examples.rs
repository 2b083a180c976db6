//! The example handlers in `examples/`, run through kafka-esm's Lambda Runtime API by
//! AWS's own runtime clients: `examples/kafka_handler.rs` on the `lambda_runtime` crate
//! (taking the event as `aws_lambda_events`' `KafkaEvent`) and
//! `examples/python/kafka_handler.py` on `awslambdaric`. For each: the events a real
//! mapping sends (nisshi, our consumer and encoder) come back field for field as the
//! handler parsed them; a returned error or raised exception is a function error with
//! its errorType and errorMessage; a timeout and a crash are followed by a cold start
//! that works.
//!
//! The Rust example is built here with `cargo build --example kafka_handler` (a no-op
//! when `cargo test` already built it) into this test's own target directory.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use kafka_esm::config::MappingArgs;
use kafka_esm::invoke::local::{LocalFunction, LocalInvoker};
use kafka_esm::invoke::{Invocation, InvokeError, Invoker};
use kafka_esm::runtime;
use kafka_esm_rig::{Broker, Compression, Record, unique_name};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Clone, Copy, Debug)]
enum Example {
    Rust,
    Python,
}

/// The Rust example's binary, built once per test run.
fn rust_example() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        // This test runs as TARGET/PROFILE/deps/examples-HASH.
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(Path::parent).unwrap();
        let target_dir = profile_dir.parent().unwrap();
        let mut cargo = std::process::Command::new(env!("CARGO"));
        cargo
            .args([
                "build",
                "--quiet",
                "--example",
                "kafka_handler",
                "--manifest-path",
            ])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .arg("--target-dir")
            .arg(target_dir);
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            cargo.arg("--release");
        }
        let status = cargo.status().unwrap();
        assert!(
            status.success(),
            "cargo build --example kafka_handler failed"
        );
        profile_dir.join("examples/kafka_handler")
    })
}

fn function(example: Example, timeout_s: u64) -> LocalFunction {
    let mut f = match example {
        Example::Rust => LocalFunction::new("example-rust", rust_example()),
        Example::Python => {
            let python = kafka_esm_rig::rig_tool("venv/bin/python").unwrap();
            let mut f = LocalFunction::new("example-python", python);
            f.args = vec![
                "-m".into(),
                "awslambdaric".into(),
                "kafka_handler.handler".into(),
            ];
            f.working_dir = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python"));
            f
        }
    };
    f.timeout = Duration::from_secs(timeout_s);
    f
}

fn json_of(payload: &[u8]) -> Value {
    serde_json::from_slice(payload)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(payload)))
}

/// Forwards to the local function and reports each answer to the test.
struct Recording {
    inner: Arc<LocalInvoker>,
    answers: mpsc::UnboundedSender<Result<Invocation, String>>,
}

impl Invoker for Recording {
    async fn invoke(&self, payload: Bytes) -> Result<Invocation, InvokeError> {
        let result = self.inner.invoke(payload).await;
        let _ = self.answers.send(result.clone().map_err(|e| e.to_string()));
        result
    }
}

/// Records on two partitions, with and without keys and headers, as the producer wrote
/// them; the handler must hand each back as it parsed it.
async fn events_from_a_mapping_deserialize(example: Example) {
    let broker = common::nisshi().await;
    let topic = unique_name("examples");
    let timestamp = 1_714_564_800_123_i64;
    let sent = [
        (
            0,
            Some("order-1"),
            Some("{\"item\": \"widget\"}"),
            vec![("trace", "t-1")],
        ),
        (0, None, Some("no key"), vec![]),
        (1, Some("order-2"), None, vec![("a", "1"), ("b", "two")]),
    ];
    let records: Vec<Record> = sent
        .iter()
        .map(|(partition, key, value, headers)| {
            let mut r = Record::new(key.map(str::as_bytes), value.map(str::as_bytes));
            for (k, v) in headers {
                r = r.header(k, Some(v.as_bytes()));
            }
            r.partition = Some(*partition);
            r.timestamp = Some(timestamp);
            r
        })
        .collect();
    tokio::task::block_in_place(|| {
        broker.create_topic(&topic, 2)?;
        broker
            .refclient()
            .produce(&topic, &records, Compression::None)
    })
    .unwrap();
    let mapping = MappingArgs {
        function_name: Some("example".into()),
        topics: Some(vec![topic.clone()]),
        bootstrap_servers: Some(broker.bootstrap()),
        starting_position: Some("TRIM_HORIZON".into()),
        maximum_batching_window_in_seconds: Some(0),
        ..MappingArgs::default()
    }
    .resolve()
    .unwrap();
    let (answers, mut answered) = mpsc::unbounded_channel();
    let invoker = Recording {
        inner: Arc::new(LocalInvoker::new(function(example, 30)).unwrap()),
        answers,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        runtime::run(
            &mapping,
            invoker,
            async {
                let _ = stopped.await;
            },
            runtime::RunOptions::default(),
        )
        .await
    });
    let mut echoed = Vec::new();
    let mut events = Vec::new();
    while echoed.len() < sent.len() {
        let answer = tokio::time::timeout(Duration::from_secs(90), answered.recv())
            .await
            .expect("the handler answers within 90 s")
            .unwrap()
            .unwrap();
        assert_eq!(
            answer.function_error,
            None,
            "{example:?}: {}",
            String::from_utf8_lossy(&answer.payload)
        );
        let answer = json_of(&answer.payload);
        echoed.extend(answer["records"].as_array().unwrap().iter().cloned());
        events.push(answer);
    }
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    for event in &events {
        assert_eq!(event["eventSource"], "SelfManagedKafka", "{example:?}");
        assert_eq!(event["bootstrapServers"], broker.bootstrap(), "{example:?}");
        // AWS's self-managed Kafka events carry no eventSourceArn (MSK's do).
        assert_eq!(event["eventSourceArn"], Value::Null, "{example:?}");
    }
    echoed.sort_by_key(|r| (r["partition"].as_i64(), r["offset"].as_i64()));
    if let Example::Rust = example {
        // aws_lambda_events 1.2's MillisecondTimestamp goes through f64 seconds and can
        // truncate the last millisecond (1714564800123 parses as ...122). The event
        // carries it exactly (the Python handler sees it): allow for their rounding only.
        for r in &mut echoed {
            let parsed = r["timestamp"].as_i64().unwrap();
            assert!(
                parsed == timestamp || parsed == timestamp - 1,
                "{parsed} is not {timestamp}"
            );
            r["timestamp"] = json!(timestamp);
        }
    }
    let expected: Vec<Value> = sent
        .iter()
        .zip([0, 1, 0])
        .map(|((partition, key, value, headers), offset)| {
            json!({
                "topic": topic,
                "partition": partition,
                "offset": offset,
                "timestamp": timestamp,
                "timestampType": "CREATE_TIME",
                "key": key,
                "value": value,
                "headers": headers
                    .iter()
                    .map(|(k, v)| json!({"key": k, "value": v}))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    assert_eq!(echoed, expected, "{example:?}");
}

/// An event in AWS's format (its documented sample's shape) with the given values.
fn event(values: &[&str]) -> Bytes {
    let records: Vec<Value> = values
        .iter()
        .enumerate()
        .map(|(offset, value)| {
            json!({"topic": "orders", "partition": 0, "offset": offset,
                   "timestamp": 1_545_084_650_987_i64, "timestampType": "CREATE_TIME",
                   "key": STANDARD.encode("k"), "value": STANDARD.encode(value),
                   "headers": [{"headerKey": [104, 101, 97, 100, 101, 114, 86, 97, 108, 117, 101]}]})
        })
        .collect();
    Bytes::from(
        json!({
            "eventSource": "SelfManagedKafka",
            "bootstrapServers": "b-1.example.com:9092",
            "records": {"orders-0": records},
        })
        .to_string(),
    )
}

async fn an_error_is_a_function_error_with_its_type_and_message(example: Example) {
    let invoker = LocalInvoker::new(function(example, 30)).unwrap();
    let inv = invoker.invoke(event(&["ok", "fail"])).await.unwrap();
    assert_eq!(
        inv.function_error.as_deref(),
        Some("Unhandled"),
        "{example:?}"
    );
    let error = json_of(&inv.payload);
    assert_eq!(error["errorType"], "RecordRejected", "{example:?}: {error}");
    assert_eq!(
        error["errorMessage"], "record orders-0@1 rejected: its value is \"fail\"",
        "{example:?}: {error}"
    );
    // The process lives on: the next invocation succeeds.
    let ok = invoker.invoke(event(&["ok"])).await.unwrap();
    assert_eq!(ok.function_error, None);
    let ok = json_of(&ok.payload);
    assert_eq!(ok["records"][0]["value"], "ok");
    assert_eq!(
        ok["records"][0]["headers"],
        json!([{"key": "headerKey", "value": "headerValue"}])
    );
}

async fn a_timeout_kills_and_the_next_invocation_cold_starts(example: Example) {
    let invoker = LocalInvoker::new(function(example, 3)).unwrap();
    let warm = json_of(&invoker.invoke(event(&["ok"])).await.unwrap().payload);
    match invoker.invoke(event(&["sleep 60"])).await {
        Err(InvokeError::Timeout { seconds: 3 }) => {}
        other => panic!("{example:?}: expected a timeout, got {other:?}"),
    }
    let cold = json_of(&invoker.invoke(event(&["ok"])).await.unwrap().payload);
    assert_ne!(cold["pid"], warm["pid"], "{example:?}: not restarted");
}

async fn a_crash_is_an_exit_error_and_the_next_invocation_cold_starts(example: Example) {
    let invoker = LocalInvoker::new(function(example, 30)).unwrap();
    let warm = json_of(&invoker.invoke(event(&["ok"])).await.unwrap().payload);
    let inv = invoker.invoke(event(&["crash"])).await.unwrap();
    assert_eq!(
        inv.function_error.as_deref(),
        Some("Unhandled"),
        "{example:?}"
    );
    assert_eq!(json_of(&inv.payload)["errorType"], "Runtime.ExitError");
    let cold = json_of(&invoker.invoke(event(&["ok"])).await.unwrap().payload);
    assert_ne!(cold["pid"], warm["pid"], "{example:?}: not restarted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_lambda_runtime_parses_the_mappings_events_as_kafka_event() {
    events_from_a_mapping_deserialize(Example::Rust).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_awslambdaric_parses_the_mappings_events() {
    events_from_a_mapping_deserialize(Example::Python).await;
}

#[tokio::test]
async fn rust_lambda_runtime_returned_error() {
    an_error_is_a_function_error_with_its_type_and_message(Example::Rust).await;
}

#[tokio::test]
async fn python_awslambdaric_raised_exception() {
    an_error_is_a_function_error_with_its_type_and_message(Example::Python).await;
}

#[tokio::test]
async fn rust_lambda_runtime_timeout() {
    a_timeout_kills_and_the_next_invocation_cold_starts(Example::Rust).await;
}

#[tokio::test]
async fn python_awslambdaric_timeout() {
    a_timeout_kills_and_the_next_invocation_cold_starts(Example::Python).await;
}

#[tokio::test]
async fn rust_lambda_runtime_crash() {
    a_crash_is_an_exit_error_and_the_next_invocation_cold_starts(Example::Rust).await;
}

#[tokio::test]
async fn python_awslambdaric_crash() {
    a_crash_is_an_exit_error_and_the_next_invocation_cold_starts(Example::Python).await;
}
