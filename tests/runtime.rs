//! `kafka-esm run` end to end: nisshi, the runtime, and aws-sdk-lambda against the rig's
//! scriptable Invoke endpoint. The function receives AWS's `SelfManagedKafka` events
//! holding exactly the records produced; a failing batch is retried whole and nothing is
//! committed until it succeeds; a bad configuration is refused before anything starts.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kafka_esm::config::from_cli_input_json;
use kafka_esm::runtime;
use kafka_esm_rig::{Broker, Compression, InvokeServer, Record, Reply, unique_name};
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn mapping_json(topic: &str, bootstrap: &str, group: &str, batch_size: u32) -> String {
    common::mapping_with(topic, bootstrap, group, batch_size, json!({}))
}

/// Runs the mapping `json` describes against the function `my-fn` at `server`.
async fn run_mapping(json: &str, server: &InvokeServer) -> common::Running {
    let mapping = from_cli_input_json(json).unwrap();
    let invoker = common::lambda_invoker(server, "my-fn").await;
    common::start_mapping(mapping, invoker, runtime::RunOptions::default())
}

/// A one-partition topic holding `n` records valued `v0`, `v1`, ...
fn topic_with(broker: &dyn Broker, prefix: &str, n: usize) -> String {
    let records: Vec<Record> = (0..n)
        .map(|i| Record::new(None, Some(format!("v{i}").as_bytes())))
        .collect();
    common::topic_holding(broker, prefix, 1, &records)
}

/// The records of one event, checked against AWS's format: (partition, offset) → record.
fn records_of(event: &Value, topic: &str, bootstrap: &str) -> Vec<(i32, i64, Value)> {
    assert_eq!(event["eventSource"], "SelfManagedKafka");
    assert_eq!(event["bootstrapServers"], bootstrap);
    let mut out = Vec::new();
    for (key, records) in event["records"].as_object().unwrap() {
        for r in records.as_array().unwrap() {
            let partition = r["partition"].as_i64().unwrap() as i32;
            assert_eq!(key, &format!("{topic}-{partition}"));
            assert_eq!(r["topic"], topic);
            assert_eq!(r["timestampType"], "CREATE_TIME");
            out.push((partition, r["offset"].as_i64().unwrap(), r.clone()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_receives_aws_events_and_offsets_are_committed_after_success() {
    let broker = common::nisshi().await;
    let topic = unique_name("mapping");
    let group = unique_name("mapping-group");
    let produced: Vec<Record> = (0..25)
        .map(|i| {
            let mut r = Record::new(
                (i % 3 != 0)
                    .then(|| format!("key-{i}").into_bytes())
                    .as_deref(),
                Some(format!("value {i} ë").as_bytes()),
            );
            r.partition = Some(i % 2);
            if i % 4 == 0 {
                r = r.header("h", Some("ë".as_bytes()));
            }
            r
        })
        .collect();
    let delivered = tokio::task::block_in_place(|| {
        broker.create_topic(&topic, 2)?;
        broker
            .refclient()
            .produce(&topic, &produced, Compression::Lz4)
    })
    .unwrap();
    let sent: BTreeMap<(i32, i64), &Record> = delivered
        .iter()
        .zip(&produced)
        .map(|(d, r)| ((d.partition, d.offset), r))
        .collect();

    let mut server = InvokeServer::start().await.unwrap();
    server.set_default(Reply::json(json!(null)));
    let bootstrap = broker.bootstrap();
    let running = run_mapping(&mapping_json(&topic, &bootstrap, &group, 10), &server).await;

    let mut got: BTreeMap<(i32, i64), Value> = BTreeMap::new();
    while got.len() < sent.len() {
        let req = tokio::time::timeout(std::time::Duration::from_secs(60), server.next_request())
            .await
            .expect("an invocation within 60 s");
        let event: Value = serde_json::from_slice(&req.body).unwrap();
        let records = records_of(&event, &topic, &bootstrap);
        assert!(
            !records.is_empty() && records.len() <= 10,
            "BatchSize: {}",
            records.len()
        );
        for (p, o, r) in records {
            // In order per partition, across invocations too.
            let last = got.range((p, i64::MIN)..(p + 1, i64::MIN)).next_back();
            assert!(
                last.is_none_or(|((_, l), _)| *l < o),
                "({p}, {o}) after {last:?}"
            );
            assert!(got.insert((p, o), r).is_none(), "({p}, {o}) invoked twice");
        }
    }
    let stats = running.finish().await;
    assert_eq!(stats.records_invoked, 25);

    for ((p, o), r) in &got {
        let s = sent[&(*p, *o)];
        let field = |name: &str| {
            r.get(name)
                .map(|v| B64.decode(v.as_str().unwrap()).unwrap())
        };
        assert_eq!(field("key"), s.key, "({p}, {o}) key");
        assert_eq!(field("value"), s.value, "({p}, {o}) value");
        let headers: Vec<(String, Vec<i8>)> = r["headers"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|h| h.as_object().unwrap().iter())
            .map(|(k, v)| {
                let bytes = v
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b.as_i64().unwrap() as i8)
                    .collect();
                (k.clone(), bytes)
            })
            .collect();
        let want: Vec<(String, Vec<i8>)> = s
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.clone().unwrap().into_iter().map(|b| b as i8).collect(),
                )
            })
            .collect();
        assert_eq!(headers, want, "({p}, {o}) headers, signed bytes");
    }
    let committed = common::committed(&broker, &topic, &group);
    let mut want = BTreeMap::new();
    for (p, o) in sent.keys() {
        let e = want.entry(*p).or_insert(0);
        *e = (*e).max(o + 1);
    }
    assert_eq!(committed, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_batch_is_retried_whole_and_committed_only_after_it_succeeds() {
    let broker = common::nisshi().await;
    let topic = unique_name("mapping-retry");
    let group = unique_name("mapping-group");
    let records: Vec<Record> = (0..5)
        .map(|i| Record::new(None, Some(format!("v{i}").as_bytes())))
        .collect();
    tokio::task::block_in_place(|| {
        broker.create_topic(&topic, 1)?;
        broker
            .refclient()
            .produce(&topic, &records, Compression::None)
    })
    .unwrap();
    let mut server = InvokeServer::start().await.unwrap();
    server.script([
        Reply::unhandled("Error", "first"),
        Reply::handled("Error", "second"),
    ]);
    server.set_default(Reply::json(json!({"batchItemFailures": []})));
    let bootstrap = broker.bootstrap();
    let running = run_mapping(&mapping_json(&topic, &bootstrap, &group, 100), &server).await;

    let first = server.next_request().await;
    let second = server.next_request().await;
    assert_eq!(first.body, second.body, "the whole batch again");
    // Two failures handled, no success yet: nothing committed.
    let committed = common::committed(&broker, &topic, &group);
    assert!(committed.values().all(|o| *o < 0), "{committed:?}");
    let third = server.next_request().await;
    assert_eq!(third.body, first.body);
    let event: Value = serde_json::from_slice(&third.body).unwrap();
    assert_eq!(records_of(&event, &topic, &bootstrap).len(), 5);

    let stats = running.finish().await;
    assert_eq!(stats.invocations, 3);
    let committed = common::committed(&broker, &topic, &group);
    assert_eq!(committed, BTreeMap::from([(0, 5)]));
}

#[test]
fn an_invalid_configuration_is_refused_naming_every_field() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kafka-esm"))
        .args([
            "run",
            "--function-name",
            "my-fn",
            "--topics",
            "a,b",
            "--batch-size",
            "0",
            "--bootstrap-servers",
            "127.0.0.1:9092",
            "--starting-position",
            "SOMEWHERE",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "ESM_CONFIG_NOT_VALID",
        "BatchSize",
        "Topics",
        "StartingPosition",
    ] {
        assert!(err.contains(want), "{want} missing from: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_given_up_after_its_retries_is_dropped_and_processing_continues() {
    let broker = common::nisshi().await;
    let topic = topic_with(&broker, "mapping-giveup", 4);
    let group = unique_name("mapping-group");
    let mut server = InvokeServer::start().await.unwrap();
    server.script([
        Reply::unhandled("Error", "1"),
        Reply::unhandled("Error", "2"),
    ]);
    server.set_default(Reply::json(json!(null)));
    let running = run_mapping(
        &common::mapping_with(
            &topic,
            &broker.bootstrap(),
            &group,
            2,
            json!({"MaximumRetryAttempts": 1}),
        ),
        &server,
    )
    .await;
    assert_eq!(common::offsets(&server.next_request().await.body), [0, 1]);
    assert_eq!(
        common::offsets(&server.next_request().await.body),
        [0, 1],
        "one retry"
    );
    assert_eq!(
        common::offsets(&server.next_request().await.body),
        [2, 3],
        "then the next batch"
    );
    let stats = running.finish().await;
    assert_eq!(stats.records_dropped, 2);
    let committed = common::committed(&broker, &topic, &group);
    assert_eq!(committed, BTreeMap::from([(0, 4)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_batch_response_retries_from_the_first_failed_record() {
    let broker = common::nisshi().await;
    let topic = topic_with(&broker, "mapping-partial", 5);
    let group = unique_name("mapping-group");
    let mut server = InvokeServer::start().await.unwrap();
    server.script([Reply::json(json!({"batchItemFailures": [
        {"itemIdentifier": {"topic-partition": format!("{topic}-0"), "offset": 4}},
        {"itemIdentifier": {"topic-partition": format!("{topic}-0"), "offset": 3}},
    ]}))]);
    server.set_default(Reply::json(json!({"batchItemFailures": []})));
    let running = run_mapping(
        &common::mapping_with(
            &topic,
            &broker.bootstrap(),
            &group,
            10,
            json!({"FunctionResponseTypes": ["ReportBatchItemFailures"]}),
        ),
        &server,
    )
    .await;
    assert_eq!(
        common::offsets(&server.next_request().await.body),
        [0, 1, 2, 3, 4]
    );
    assert_eq!(common::offsets(&server.next_request().await.body), [3, 4]);
    running.finish().await;
    let committed = common::committed(&broker, &topic, &group);
    assert_eq!(committed, BTreeMap::from([(0, 5)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_from_the_groups_offsets_which_win_over_the_starting_position() {
    let broker = common::nisshi().await;
    let topic = topic_with(&broker, "mapping-restart", 3);
    let group = unique_name("mapping-group");
    let mut server = InvokeServer::start().await.unwrap();
    server.set_default(Reply::json(json!(null)));
    let running = run_mapping(
        &mapping_json(&topic, &broker.bootstrap(), &group, 10),
        &server,
    )
    .await;
    assert_eq!(
        common::offsets(&server.next_request().await.body),
        [0, 1, 2]
    );
    running.finish().await;

    let more: Vec<Record> = (3..5)
        .map(|i| Record::new(None, Some(format!("v{i}").as_bytes())))
        .collect();
    tokio::task::block_in_place(|| broker.refclient().produce(&topic, &more, Compression::None))
        .unwrap();
    // LATEST would skip records 3 and 4; the group's committed offset (3) wins.
    let running = run_mapping(
        &common::mapping_with(
            &topic,
            &broker.bootstrap(),
            &group,
            10,
            json!({"StartingPosition": "LATEST"}),
        ),
        &server,
    )
    .await;
    assert_eq!(common::offsets(&server.next_request().await.body), [3, 4]);
    running.finish().await;
    assert_eq!(server.requests().len(), 2, "nothing read twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_says_enabled_then_problem_then_ok_then_disabled() {
    let broker = common::nisshi().await;
    let topic = topic_with(&broker, "mapping-status", 2);
    let group = unique_name("mapping-group");
    let server = InvokeServer::start().await.unwrap();
    server.script([Reply::unhandled("Error", "boom")]);
    server.set_default(Reply::json(json!(null)));
    let mapping =
        from_cli_input_json(&mapping_json(&topic, &broker.bootstrap(), &group, 10)).unwrap();
    let invoker = common::lambda_invoker(&server, "my-fn").await;
    let running = common::start_mapping(mapping, invoker, runtime::RunOptions::default());
    let mut watch = running.status.clone();
    let seen = |what: &'static str, f: fn(&runtime::MappingStatus) -> bool| {
        let mut w = watch.clone();
        async move {
            tokio::time::timeout(std::time::Duration::from_secs(60), w.wait_for(f))
                .await
                .unwrap_or_else(|_| panic!("never {what}"))
                .unwrap()
                .clone()
        }
    };
    seen("enabled", |s| s.state == runtime::State::Enabled).await;
    let problem = seen("a problem", |s| {
        s.last_processing_result.starts_with("PROBLEM")
    })
    .await;
    assert_eq!(
        problem.last_processing_result,
        "PROBLEM: Function call failed (Unhandled)"
    );
    let ok = seen("OK", |s| s.last_processing_result == "OK").await;
    assert_eq!(ok.records_invoked, 4, "2 records, invoked twice");
    running.finish().await;
    let last = watch.borrow_and_update().clone();
    assert_eq!(last.state, runtime::State::Disabled);
    assert_eq!(last.state_transition_reason, "USER_INITIATED");
    assert_eq!(
        last.to_string(),
        "State: Disabled (USER_INITIATED); LastProcessingResult: OK; records invoked 4, dropped 0"
    );
}

/// Sends SIGTERM to a `kafka-esm run` child, checks it exits 0, and returns its stderr.
/// `kafka-esm run --config file://FILE` with `mapping` written to `file`, AWS test
/// credentials, its stderr piped (killed if the test drops it).
fn run_with_file(file: &std::path::Path, mapping: String) -> tokio::process::Child {
    std::fs::write(file, mapping).unwrap();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_kafka-esm"))
        .args(["run", "--config"])
        .arg(format!("file://{}", file.display()))
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn stop_cleanly(child: tokio::process::Child) -> String {
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{err}");
    err
}

/// The binary as a user runs it: a mapping file, AWS credentials from the environment,
/// a Lambda-compatible endpoint; SIGTERM stops it cleanly after committing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_esm_run_with_a_mapping_file_invokes_prints_its_status_and_stops_on_sigterm() {
    let broker = common::nisshi().await;
    let topic = topic_with(&broker, "mapping-cli", 3);
    let group = unique_name("mapping-group");
    let mut server = InvokeServer::start().await.unwrap();
    server.set_default(Reply::json(json!(null)));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mapping.json");
    let mapping = common::mapping_with(
        &topic,
        &broker.bootstrap(),
        &group,
        10,
        json!({"KafkaEsm": {"LambdaEndpointUrl": server.endpoint(), "Region": "us-east-1"}}),
    );
    let child = run_with_file(&file, mapping);
    let req = tokio::time::timeout(std::time::Duration::from_secs(60), server.next_request())
        .await
        .expect("an invocation");
    assert_eq!(common::offsets(&req.body), [0, 1, 2]);
    let err = stop_cleanly(child).await;
    assert!(err.contains("State: Enabled (USER_INITIATED)"), "{err}");
    assert!(err.contains("LastProcessingResult: OK"), "{err}");
    assert!(err.contains("State: Disabled (USER_INITIATED)"), "{err}");
    let committed = common::committed(&broker, &topic, &group);
    assert_eq!(committed, BTreeMap::from([(0, 3)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_criteria_invoke_only_matching_records_and_commit_past_the_rest() {
    let broker = common::nisshi().await;
    let topic = unique_name("mapping-filter");
    let group = unique_name("mapping-group");
    // Even records are wanted; the last two are not, so the commit must pass records
    // that were never invoked.
    let records: Vec<Record> = (0..8)
        .map(|i| {
            let kind = if i % 2 == 0 && i < 6 { "keep" } else { "skip" };
            Record::new(
                None,
                Some(json!({"kind": kind, "n": i}).to_string().as_bytes()),
            )
        })
        .collect();
    tokio::task::block_in_place(|| {
        broker.create_topic(&topic, 1)?;
        broker
            .refclient()
            .produce(&topic, &records, Compression::None)
    })
    .unwrap();
    let mut server = InvokeServer::start().await.unwrap();
    server.set_default(Reply::json(json!(null)));
    let filter = json!({"value": {"kind": ["keep"], "n": [{"numeric": [">=", 0]}]}});
    let running = run_mapping(
        &common::mapping_with(
            &topic,
            &broker.bootstrap(),
            &group,
            10,
            json!({"FilterCriteria": {"Filters": [{"Pattern": filter.to_string()}]}}),
        ),
        &server,
    )
    .await;
    let mut invoked = Vec::new();
    while invoked.len() < 3 {
        let req = tokio::time::timeout(std::time::Duration::from_secs(60), server.next_request())
            .await
            .expect("an invocation within 60 s");
        invoked.extend(common::offsets(&req.body));
    }
    assert_eq!(invoked, [0, 2, 4], "only the records matching the filter");
    let stats = running.finish().await;
    assert_eq!(stats.records_invoked, 3);
    assert_eq!(stats.records_filtered_out, 5);
    assert_eq!(
        common::committed(&broker, &topic, &group),
        BTreeMap::from([(0, 8)]),
        "filtered-out records are committed too"
    );
}

/// `kafka-esm run` with a local function: AWS's Python runtime client (awslambdaric, in
/// the rig's venv) runs `handler.report` through our Runtime API, with no AWS at all. The
/// handler reports each event's offsets through a FIFO the test reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_esm_run_invokes_a_local_handler_through_the_runtime_api() {
    let broker = common::nisshi().await;
    let topic = topic_with(&broker, "mapping-local", 3);
    let group = unique_name("mapping-group");
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("report");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let python = kafka_esm_rig::rig_tool("venv/bin/python").unwrap();
    let command = format!("{} -m awslambdaric handler.report", python.display());
    let file = dir.path().join("mapping.json");
    let mapping = common::mapping_with(
        &topic,
        &broker.bootstrap(),
        &group,
        10,
        json!({"KafkaEsm": {
            "FunctionCommand": command,
            "FunctionTimeout": 30,
            // The handler sees kafka-esm's environment no more: it is given this.
            "FunctionEnvironment": {"KAFKA_ESM_TEST_REPORT": fifo.to_str().unwrap()},
        }}),
    );
    std::fs::write(&file, mapping).unwrap();
    let handlers = common::fixtures();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kafka-esm"))
        .args(["run", "--config"])
        .arg(format!("file://{}", file.display()))
        .current_dir(&handlers)
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Each open of the FIFO ends when the handler closes it: read until 3 offsets came.
    let reports = tokio::time::timeout(
        std::time::Duration::from_secs(90),
        tokio::task::spawn_blocking(move || {
            let mut lines = Vec::new();
            while lines
                .iter()
                .map(|l: &Value| l["offsets"].as_array().unwrap().len())
                .sum::<usize>()
                < 3
            {
                let text = std::fs::read_to_string(&fifo).unwrap();
                lines.extend(
                    text.lines()
                        .map(|l| serde_json::from_str::<Value>(l).unwrap()),
                );
            }
            lines
        }),
    )
    .await
    .expect("the handler reports within 90 s")
    .unwrap();
    let offsets: Vec<i64> = reports
        .iter()
        .flat_map(|l| {
            l["offsets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o.as_i64().unwrap())
        })
        .collect();
    assert_eq!(offsets, [0, 1, 2]);
    assert!(
        reports
            .iter()
            .all(|l| l["eventSource"] == "SelfManagedKafka")
    );
    let err = stop_cleanly(child).await;
    assert_eq!(
        common::committed(&broker, &topic, &group),
        BTreeMap::from([(0, 3)]),
        "{err}"
    );
}

/// How `kafka-esm run` ended: its exit code and stderr, within `bound`.
async fn exit_within(child: tokio::process::Child, bound: std::time::Duration) -> (i32, String) {
    let out = tokio::time::timeout(bound, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("kafka-esm run still running after {bound:?}"))
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), err)
}

/// A function Lambda says doesn't exist (404) is a configuration problem, not a failed
/// batch: with `MaximumRetryAttempts` 0 and no destination the batch would otherwise be
/// dropped and committed. `kafka-esm run` stops with FUNCTION_CONFIG_NOT_VALID, exits 1,
/// and commits nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_does_not_exist_stops_the_mapping_and_commits_nothing() {
    let broker = common::nisshi().await;
    let topic = topic_with(&broker, "mapping-404", 4);
    let group = unique_name("mapping-group");
    let mut server = InvokeServer::start().await.unwrap();
    server.script([Reply::not_found()]);
    server.set_default(Reply::json(json!(null)));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mapping.json");
    let mapping = common::mapping_with(
        &topic,
        &broker.bootstrap(),
        &group,
        2,
        json!({
            "MaximumRetryAttempts": 0,
            "KafkaEsm": {"LambdaEndpointUrl": server.endpoint(), "Region": "us-east-1"},
        }),
    );
    let child = run_with_file(&file, mapping);
    let req = tokio::time::timeout(std::time::Duration::from_secs(60), server.next_request())
        .await
        .expect("an invocation");
    assert_eq!(common::offsets(&req.body), [0, 1]);
    let (code, err) = exit_within(child, std::time::Duration::from_secs(60)).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("State: Disabled (FUNCTION_CONFIG_NOT_VALID)"),
        "{err}"
    );
    assert!(err.contains("ResourceNotFoundException"), "{err}");
    assert_eq!(server.requests().len(), 1, "no retry, no next batch");
    let committed = common::committed(&broker, &topic, &group);
    assert!(committed.values().all(|o| *o < 0), "{committed:?}");
}

/// As AWS checks a mapping's function when it is enabled (GetFunctionConfiguration): a
/// function that does not exist, or whose timeout is over 14 minutes, stops the mapping
/// with FUNCTION_CONFIG_NOT_VALID before any record is consumed or invoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_function_or_one_over_14_minutes_is_refused_before_anything_is_consumed() {
    let broker = common::nisshi().await;
    let topic = topic_with(&broker, "mapping-check", 1);
    for (configuration, cause) in [
        (Reply::not_found(), "does not exist"),
        (
            Reply::json(json!({"FunctionName": "f", "Timeout": 900})),
            "its timeout is 900 s",
        ),
    ] {
        let group = unique_name("mapping-group");
        let server = InvokeServer::start().await.unwrap();
        server.set_configuration(configuration);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mapping.json");
        let mapping = common::mapping_with(
            &topic,
            &broker.bootstrap(),
            &group,
            2,
            json!({"KafkaEsm": {"LambdaEndpointUrl": server.endpoint(), "Region": "us-east-1"}}),
        );
        let child = run_with_file(&file, mapping);
        let (code, err) = exit_within(child, std::time::Duration::from_secs(60)).await;
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains("State: Disabled (FUNCTION_CONFIG_NOT_VALID)"),
            "{err}"
        );
        assert!(err.contains(cause), "{cause}: {err}");
        assert!(server.requests().is_empty(), "nothing invoked");
        let committed = common::committed(&broker, &topic, &group);
        assert!(committed.values().all(|o| *o < 0), "{committed:?}");
    }
}

/// AccessDenied (403) on every partition's batch: the mapping ends Disabled with
/// FUNCTION_CONFIG_NOT_VALID and the cause, and no partition commits anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_stops_the_mapping_with_function_config_not_valid() {
    let broker = common::nisshi().await;
    let group = unique_name("mapping-group");
    let records: Vec<Record> = (0..6)
        .map(|i| {
            let mut r = Record::new(None, Some(format!("v{i}").as_bytes()));
            r.partition = Some(i % 2);
            r
        })
        .collect();
    let topic = common::topic_holding(&broker, "mapping-403", 2, &records);
    let server = InvokeServer::start().await.unwrap();
    server.set_default(Reply::error(
        403,
        "AccessDeniedException",
        "User: arn:aws:iam::123456789012:user/esm is not authorized to perform: lambda:InvokeFunction",
    ));
    let running = run_mapping(
        &common::mapping_with(
            &topic,
            &broker.bootstrap(),
            &group,
            2,
            json!({"MaximumRetryAttempts": 0}),
        ),
        &server,
    )
    .await;
    let (e, last) = running.stopped_on_its_own().await;
    assert_eq!(e.reason(), "FUNCTION_CONFIG_NOT_VALID", "{e}");
    assert_eq!(last.state, runtime::State::Disabled);
    assert_eq!(last.state_transition_reason, "FUNCTION_CONFIG_NOT_VALID");
    assert!(
        last.last_processing_result.starts_with("PROBLEM: ")
            && last
                .last_processing_result
                .contains("AccessDeniedException"),
        "{}",
        last.last_processing_result
    );
    assert_eq!(last.records_dropped, 0);
    let committed = common::committed(&broker, &topic, &group);
    assert_eq!(committed.len(), 2, "{committed:?}");
    assert!(committed.values().all(|o| *o < 0), "{committed:?}");
}
