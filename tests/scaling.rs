//! Consumers scaled on offset lag, several kafka-esm processes sharing a topic, and the
//! metrics endpoint, against nisshi and the rig's Invoke endpoint.
//!
//! - A slow function behind a 6-partition topic: the lag grows, consumers grow to 6 and
//!   never beyond; the lag drains, consumers shrink back to 1; every record is invoked
//!   exactly once and in order within its partition.
//! - Two `kafka-esm run` processes with one mapping split the partitions; the second is
//!   killed (SIGKILL) and the first takes them all back, losing nothing.
//! - Two runtimes with one mapping, both behind on lag, run one member per partition
//!   between them, not one each.
//! - The metrics endpoint's lag is ListOffsets minus the committed offsets, read by the
//!   reference client.

mod common;

use kafka_esm::config::from_cli_input_json;
use kafka_esm::metrics::Metrics;
use kafka_esm::runtime::{MappingStatus, RunOptions};
use kafka_esm_rig::{Broker, Compression, InvokeServer, Record, Reply, unique_name};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// `per_partition` records in each of `partitions` partitions, valued `p<P>-<i>`.
fn produce(broker: &dyn Broker, topic: &str, partitions: i32, per_partition: usize, round: usize) {
    let records: Vec<Record> = (0..per_partition)
        .flat_map(|i| {
            (0..partitions).map(move |p| {
                let mut r = Record::new(None, Some(format!("p{p}-r{round}-{i}").as_bytes()));
                r.partition = Some(p);
                r
            })
        })
        .collect();
    tokio::task::block_in_place(|| {
        broker
            .refclient()
            .produce(topic, &records, Compression::Lz4)
    })
    .unwrap();
}

/// Waits (at most `within`) until the status satisfies `cond`.
async fn until(
    status: &mut watch::Receiver<MappingStatus>,
    within: Duration,
    what: &str,
    cond: impl Fn(&MappingStatus) -> bool,
) -> MappingStatus {
    let result = match tokio::time::timeout(within, status.wait_for(|s| cond(s))).await {
        Ok(Ok(s)) => Ok(s.clone()),
        Ok(Err(_)) => Err("the mapping stopped"),
        Err(_) => Err("timed out"),
    };
    result
        .unwrap_or_else(|why| panic!("not {what} within {within:?} ({why}): {}", *status.borrow()))
}

/// A topic behind a slow function, and a mapping evaluating its consumers every second.
struct Behind {
    topic: String,
    group: String,
    server: InvokeServer,
    mapping: kafka_esm::config::Mapping,
}

/// `per_partition` records in each of `partitions` partitions of a new topic, and a slow
/// function: 10 records per 300 ms per partition, about 200 records/s for 6 partitions,
/// whatever the consumer count (each consumer already invokes all its partitions at
/// once): the lag stays over the 6-second drain target for a while.
async fn behind(broker: &dyn Broker, name: &str, partitions: i32, per_partition: usize) -> Behind {
    let topic = unique_name(name);
    let group = unique_name("scaling-group");
    tokio::task::block_in_place(|| broker.create_topic(&topic, partitions)).unwrap();
    produce(broker, &topic, partitions, per_partition, 0);
    let server = InvokeServer::start().await.unwrap();
    server.set_default(Reply::delayed(
        Duration::from_millis(300),
        Reply::json(json!(null)),
    ));
    let mapping = from_cli_input_json(&common::mapping_with(
        &topic,
        &broker.bootstrap(),
        &group,
        10,
        json!({"KafkaEsm": {"ScalingInterval": 1}}),
    ))
    .unwrap();
    Behind {
        topic,
        group,
        server,
        mapping,
    }
}

/// Per partition, the invocations carried exactly offsets 0..per_partition, in order.
fn exactly_once_in_order(server: &InvokeServer, partitions: i32, per_partition: usize) {
    let mut by_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for req in server.requests() {
        for (p, o) in common::event_records(&req.body) {
            by_partition.entry(p).or_default().push(o);
        }
    }
    assert_eq!(by_partition.len(), partitions as usize);
    let expected: Vec<i64> = (0..per_partition as i64).collect();
    for (p, offsets) in &by_partition {
        assert!(offsets == &expected, "partition {p}: {offsets:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumers_follow_the_lag_up_to_the_partition_count_and_back_losing_and_reordering_nothing()
{
    let broker = common::nisshi().await;
    let partitions = 6;
    let per_partition = 500;
    let Behind {
        topic,
        group,
        server,
        mapping,
    } = behind(&broker, "scaling", partitions, per_partition).await;
    let common::Running {
        stop,
        mut status,
        task,
    } = common::start_mapping(
        mapping,
        common::lambda_invoker(&server, "my-fn").await,
        RunOptions::default(),
    );
    // Every consumer count the status ever showed.
    let mut counts_seen = status.clone();
    let counts = tokio::spawn(async move {
        let mut seen = vec![];
        loop {
            let n = counts_seen.borrow_and_update().consumers;
            if seen.last() != Some(&n) {
                seen.push(n);
            }
            if counts_seen.changed().await.is_err() {
                return seen;
            }
        }
    });
    until(&mut status, Duration::from_secs(60), "6 consumers", |s| {
        s.consumers == 6
    })
    .await;
    let total = partitions as u64 * per_partition as u64;
    until(
        &mut status,
        Duration::from_secs(120),
        "every record invoked and back to 1 consumer",
        |s| s.records_invoked >= total && s.consumers == 1,
    )
    .await;
    stop.send(()).unwrap();
    let stats = task.await.unwrap().unwrap();
    assert_eq!(stats.records_invoked, total, "no record invoked twice");
    let counts = counts.await.unwrap();
    eprintln!("consumer counts: {counts:?}");
    assert_eq!(
        counts.iter().max(),
        Some(&6),
        "never beyond the partitions: {counts:?}"
    );
    assert!(
        counts
            .windows(2)
            .all(|w| w[0].abs_diff(w[1]) == 1 || w[1] == 0),
        "one consumer at a time: {counts:?}"
    );
    exactly_once_in_order(&server, partitions, per_partition);
    let committed = common::committed(&broker, &topic, &group);
    assert_eq!(
        committed,
        (0..partitions)
            .map(|p| (p, per_partition as i64))
            .collect::<BTreeMap<_, _>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_never_run_more_members_together_than_the_topic_has_partitions() {
    let broker = common::nisshi().await;
    let partitions = 6;
    let per_partition = 400;
    let Behind {
        server, mapping, ..
    } = behind(&broker, "scaling-shared", partitions, per_partition).await;
    // Two runtimes with one mapping: two processes as far as the group (and each
    // supervisor's count of its own members) goes.
    let mut statuses = Vec::new();
    let mut tasks = Vec::new();
    let mut stops = Vec::new();
    for _ in 0..2 {
        let running = common::start_mapping(
            mapping.clone(),
            common::lambda_invoker(&server, "my-fn").await,
            RunOptions::default(),
        );
        tasks.push(running.task);
        statuses.push(running.status);
        stops.push(running.stop);
    }
    // Every (first, second, total) consumer count seen, until every record was invoked
    // and both are back to one consumer.
    let total = partitions as u64 * per_partition as u64;
    let (mut a, mut b) = (statuses[0].clone(), statuses[1].clone());
    let mut seen: Vec<(u32, u32)> = Vec::new();
    let watched = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let (sa, sb) = (a.borrow_and_update().clone(), b.borrow_and_update().clone());
            let now = (sa.consumers, sb.consumers);
            if seen.last() != Some(&now) {
                seen.push(now);
            }
            if sa.records_invoked + sb.records_invoked >= total && now == (1, 1) {
                return;
            }
            tokio::select! {
                r = a.changed() => r.expect("the first mapping stopped"),
                r = b.changed() => r.expect("the second mapping stopped"),
            }
        }
    })
    .await;
    eprintln!("consumer counts (first, second): {seen:?}");
    assert!(watched.is_ok(), "not drained and back to 1 + 1: {seen:?}");
    for stop in stops {
        stop.send(()).unwrap();
    }
    let mut invoked = 0;
    for task in tasks {
        invoked += task.await.unwrap().unwrap().records_invoked;
    }
    assert_eq!(invoked, total, "no record invoked twice");
    let most = seen.iter().map(|(x, y)| x + y).max().unwrap();
    // Both grew (each wanted every partition) and shared the topic: together they ran a
    // member per partition. Two evaluations in the same second may each take the last
    // free partition: one member too many for at most an evaluation, given back at the
    // next. Without the group's count each would have grown to 6.
    assert!((6..=7).contains(&most), "{seen:?}");
    assert!(seen.iter().all(|(x, y)| *x <= 5 && *y <= 5), "{seen:?}");
    let over: Vec<_> = seen.iter().filter(|(x, y)| x + y > 6).collect();
    assert!(
        over.len() <= 2,
        "more members than partitions for long: {seen:?}"
    );
    exactly_once_in_order(&server, partitions, per_partition);
}

/// `kafka-esm run` as a user starts it, with JSON logs at info level into `log` (a file:
/// a pipe nobody reads until the end could fill and stall the process).
fn spawn_run(file: &std::path::Path, log: &std::path::Path) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_kafka-esm"))
        .args(["--log-format", "json", "run", "--config"])
        .arg(format!("file://{}", file.display()))
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Produces a round of one record per partition, then reads invocations until each of
/// them arrived; returns which function got which partition.
async fn round(
    broker: &dyn Broker,
    server: &mut InvokeServer,
    topic: &str,
    partitions: i32,
    n: usize,
) -> BTreeMap<i32, String> {
    produce(broker, topic, partitions, 1, n);
    let marker = format!("-r{n}-");
    let mut got = BTreeMap::new();
    while got.len() < partitions as usize {
        let req = tokio::time::timeout(Duration::from_secs(60), server.next_request())
            .await
            .unwrap_or_else(|_| panic!("round {n}: only {got:?} within 60 s"));
        let event: Value = serde_json::from_slice(&req.body).unwrap();
        for rs in event["records"].as_object().unwrap().values() {
            for r in rs.as_array().unwrap() {
                let value = base64::Engine::decode(
                    &base64::engine::general_purpose::STANDARD,
                    r["value"].as_str().unwrap(),
                )
                .unwrap();
                if String::from_utf8_lossy(&value).contains(&marker) {
                    got.insert(
                        r["partition"].as_i64().unwrap() as i32,
                        req.function.clone(),
                    );
                }
            }
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_shares_the_partitions_and_when_killed_the_first_takes_them_back() {
    let broker = common::nisshi().await;
    let topic = unique_name("scaling-procs");
    let group = unique_name("scaling-group");
    let partitions = 6;
    tokio::task::block_in_place(|| broker.create_topic(&topic, partitions)).unwrap();
    let mut server = InvokeServer::start().await.unwrap();
    server.set_default(Reply::json(json!(null)));
    let dir = tempfile::tempdir().unwrap();
    let endpoint = server.endpoint();
    // The same mapping (topic, group) but for the function name, which tells the
    // processes apart at the Invoke endpoint. One consumer each: the split is the
    // group protocol's between processes.
    let file = |name: &str| {
        let path = dir.path().join(format!("{name}.json"));
        let mut m: Value = serde_json::from_str(&common::mapping_with(
            &topic,
            &broker.bootstrap(),
            &group,
            100,
            json!({
                "ProvisionedPollerConfig": {"MinimumPollers": 1, "MaximumPollers": 1},
                "KafkaEsm": {
                    "LambdaEndpointUrl": endpoint,
                    "Region": "us-east-1",
                    "SessionTimeout": 6,
                },
            }),
        ))
        .unwrap();
        m["FunctionName"] = json!(name);
        std::fs::write(&path, m.to_string()).unwrap();
        path
    };
    let first_log = dir.path().join("first.log");
    let mut first = spawn_run(&file("first"), &first_log);
    let all_first = round(&broker, &mut server, &topic, partitions, 0).await;
    assert!(all_first.values().all(|f| f == "first"), "{all_first:?}");

    let mut second = spawn_run(&file("second"), &dir.path().join("second.log"));
    // Rounds until the second process has partitions (the group rebalances when it
    // joins); then each partition belongs to exactly one process.
    let mut n = 1;
    let split = loop {
        let owners = round(&broker, &mut server, &topic, partitions, n).await;
        n += 1;
        if owners.values().any(|f| f == "second") {
            // The round that saw the move may mix old and new owners: one more.
            break round(&broker, &mut server, &topic, partitions, n).await;
        }
        assert!(n < 30, "the second process never got a partition");
    };
    n += 1;
    let firsts: BTreeSet<i32> = split
        .iter()
        .filter(|(_, f)| *f == "first")
        .map(|(p, _)| *p)
        .collect();
    let seconds: BTreeSet<i32> = split
        .iter()
        .filter(|(_, f)| *f == "second")
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(firsts.len() + seconds.len(), partitions as usize);
    assert_eq!((firsts.len(), seconds.len()), (3, 3), "{split:?}");
    eprintln!("split after {n} rounds: {split:?}");

    // SIGKILL: no LeaveGroup; the group notices after the 6 s session timeout.
    second.start_kill().unwrap();
    second.wait().await.unwrap();
    let back = round(&broker, &mut server, &topic, partitions, n).await;
    // The round's records of the killed process's partitions may first have gone to
    // it; they are delivered to the first once it takes the partitions over.
    let taken = loop {
        n += 1;
        let owners = round(&broker, &mut server, &topic, partitions, n).await;
        if owners.values().all(|f| f == "first") {
            break owners;
        }
        assert!(
            n < 40,
            "the first process never took the partitions back: {owners:?}"
        );
    };
    assert_eq!(taken.len(), partitions as usize);
    let _ = back;

    // Nothing lost: every produced record reached a function at least once.
    let offsets =
        tokio::task::block_in_place(|| broker.refclient().list_offsets(&topic, None)).unwrap();
    let mut invoked: BTreeSet<(i32, i64)> = BTreeSet::new();
    for req in server.requests() {
        invoked.extend(common::event_records(&req.body));
    }
    for (p, o) in &offsets {
        for offset in o.earliest..o.latest {
            assert!(
                invoked.contains(&(*p, offset)),
                "partition {p} offset {offset} never invoked"
            );
        }
    }
    // SIGTERM: a clean stop, exit code 0.
    let pid = first.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let code = first.wait().await.unwrap();
    let err = std::fs::read_to_string(&first_log).unwrap();
    assert_eq!(code.code(), Some(0), "{err}");
    // Structured logs: one JSON object per line, each naming the mapping.
    let mut lines = 0;
    for line in err.lines().filter(|l| l.starts_with('{')) {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let in_span = v["spans"]
            .as_array()
            .is_some_and(|spans| spans.iter().any(|s| s["uuid"].is_string()));
        assert!(in_span || v["uuid"].is_string(), "no mapping UUID: {line}");
        lines += 1;
    }
    assert!(err.contains("\"message\":\"assigned\""), "{err}");
    assert!(lines > 5, "{err}");
}

/// The value of the series `name{...}` whose labels contain `label`, in `text`.
fn sample(text: &str, name: &str, label: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix('{')?;
        let (labels, value) = rest.split_once("} ")?;
        labels.contains(label).then(|| value.parse().ok())?
    })
}

/// `GET path` over HTTP/1.1: (status code, body).
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    (status, body.to_string())
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_endpoint_reports_list_offsets_minus_the_committed_offsets() {
    let broker = common::nisshi().await;
    let topic = unique_name("scaling-metrics");
    let group = unique_name("scaling-group");
    let partitions = 3;
    tokio::task::block_in_place(|| broker.create_topic(&topic, partitions)).unwrap();
    produce(&broker, &topic, partitions, 12, 0);
    // Three batches succeed, every later one fails and is retried forever: the committed
    // offsets stop moving with a lag on every partition.
    let mut server = InvokeServer::start().await.unwrap();
    server.script([
        Reply::json(json!(null)),
        Reply::json(json!(null)),
        Reply::json(json!(null)),
    ]);
    server.set_default(Reply::unhandled("Boom", "failing on purpose"));
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mapping = from_cli_input_json(&common::mapping_with(
        &topic,
        &broker.bootstrap(),
        &group,
        5,
        json!({
            // One consumer: the failing batches would otherwise look like a lag to scale.
            "ProvisionedPollerConfig": {"MinimumPollers": 1, "MaximumPollers": 1},
            "KafkaEsm": {"ScalingInterval": 1, "MetricsAddress": addr.to_string()},
        }),
    ))
    .unwrap();
    let metrics = Arc::new(Metrics::new(&mapping.uuid.to_string(), &topic));
    let options = RunOptions {
        metrics: Some(metrics.clone()),
        ..RunOptions::default()
    };
    let common::Running { stop, task, .. } = common::start_mapping(
        mapping,
        common::lambda_invoker(&server, "my-fn").await,
        options,
    );
    // Stable once every partition's failing batch was retried: its commits (sent right
    // after the successes) have landed by then.
    let mut failures: BTreeMap<i32, usize> = BTreeMap::new();
    let mut seen = 0;
    while failures.len() < partitions as usize || failures.values().any(|n| *n < 2) {
        let req = tokio::time::timeout(Duration::from_secs(60), server.next_request())
            .await
            .unwrap_or_else(|_| panic!("failures so far: {failures:?}"));
        seen += 1;
        if seen > 3 {
            *failures
                .entry(common::event_records(&req.body)[0].0)
                .or_default() += 1;
        }
    }
    let ends =
        tokio::task::block_in_place(|| broker.refclient().list_offsets(&topic, None)).unwrap();
    let committed = common::committed(&broker, &topic, &group);
    let expected: BTreeMap<i32, u64> = ends
        .iter()
        .map(|(p, o)| {
            let from = committed
                .get(p)
                .copied()
                .filter(|c| *c >= 0)
                .unwrap_or(o.earliest);
            (*p, (o.latest - from) as u64)
        })
        .collect();
    assert!(
        expected.values().all(|l| *l > 0),
        "{expected:?} {committed:?}"
    );
    assert!(
        committed.values().any(|c| *c > 0),
        "some batches were committed: {committed:?}"
    );
    // The lag is measured every second: wait for a measurement of this state.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = scrape(addr).await;
        let scraped: BTreeMap<i32, u64> = (0..partitions)
            .filter_map(|p| {
                sample(
                    &text,
                    "kafka_esm_partition_offset_lag",
                    &format!("partition=\"{p}\""),
                )
                .map(|v| (p, v))
            })
            .collect();
        if scraped == expected {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "scraped {scraped:?}, expected {expected:?}\n{text}"
        );
        // Nothing announces a measurement but the endpoint itself: scrape again, as
        // Prometheus would.
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let total: u64 = expected.values().sum();
    assert_eq!(
        sample(&text, "kafka_esm_offset_lag", "mapping="),
        Some(total)
    );
    assert_eq!(metrics.lag(), expected);
    let polled = sample(&text, "kafka_esm_polled_records_total", "mapping=").unwrap();
    assert_eq!(polled, 36, "every record fetched once");
    let invoked = sample(&text, "kafka_esm_invoked_records_total", "mapping=").unwrap();
    let failed = sample(&text, "kafka_esm_failed_invoke_records_total", "mapping=").unwrap();
    let invocations = sample(&text, "kafka_esm_invocations_total", "mapping=").unwrap();
    assert!(invocations >= seen as u64, "{invocations} < {seen}");
    let succeeded: usize = server.requests()[..3]
        .iter()
        .map(|r| common::event_records(&r.body).len())
        .sum();
    // A failing batch may be in flight as the endpoint is scraped: counted invoked at
    // dispatch, failed only when it returns. The exact count is checked once stopped.
    assert!(
        invoked - failed >= succeeded as u64,
        "the three successful batches:\n{text}"
    );
    assert_eq!(sample(&text, "kafka_esm_consumers", "mapping="), Some(1));
    assert_eq!(
        sample(&text, "kafka_esm_batch_size_records_count", "mapping="),
        Some(invocations)
    );
    // The endpoint serves nothing else.
    assert_eq!(get(addr, "/").await.0, 404);
    // A stop with failing batches in their backoff abandons them; nothing more commits.
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(900), task)
        .await
        .expect("the mapping stops within 15 minutes")
        .unwrap()
        .unwrap();
    assert_eq!(common::committed(&broker, &topic, &group), committed);
    // Stopped, nothing is in flight: the records invoked less those that failed are
    // exactly the three successful batches'.
    assert_eq!(
        metrics.invoked.get() - metrics.failed_invoke.get(),
        succeeded as u64
    );
}
