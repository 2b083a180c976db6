//! The runtime at the edges of what it fetches, end to end on nisshi with the scriptable
//! Invoke endpoint: a group offset the log no longer holds (records deleted under it, as
//! retention does), and batches of 10000 records, which must fill without waiting out
//! the batching window.

mod common;

use kafka_esm::config::from_cli_input_json;
use kafka_esm::metrics::Metrics;
use kafka_esm::runtime::RunOptions;
use kafka_esm_rig::{Broker, Compression, InvokeServer, Record, Reply, unique_name};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A one-partition topic holding `n` records with `value_bytes`-byte values.
fn topic_with(broker: &dyn Broker, prefix: &str, n: usize, value_bytes: usize) -> String {
    let records: Vec<Record> = (0..n)
        .map(|i| {
            let mut v = format!("v{i}-").into_bytes();
            v.resize(value_bytes.max(v.len()), b'x');
            Record::new(None, Some(&v))
        })
        .collect();
    common::topic_holding(broker, prefix, 1, &records)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_deleted_under_the_groups_offset_are_counted_dropped_and_the_rest_delivered() {
    let broker = common::nisshi().await;
    let topic = topic_with(&broker, "reset", 10, 8);
    let group = unique_name("reset-group");
    // The group handled 0 and 1; then 2..5 are deleted before the mapping reads them.
    let low = tokio::task::block_in_place(|| {
        let rc = broker.refclient();
        rc.consume(&topic, &group, 2, true)?;
        rc.delete_records(&topic, 0, 5)
    })
    .unwrap();
    assert_eq!(low, 5);
    assert_eq!(common::committed(&broker, &topic, &group)[&0], 2);

    let mut server = InvokeServer::start().await.unwrap();
    server.set_default(Reply::json(json!(null)));
    let mapping = from_cli_input_json(&common::mapping_with(
        &topic,
        &broker.bootstrap(),
        &group,
        100,
        json!({}),
    ))
    .unwrap();
    let metrics = Arc::new(Metrics::new(&mapping.uuid.to_string(), &topic));
    let running = common::start_mapping(
        mapping,
        common::lambda_invoker(&server, "my-fn").await,
        RunOptions {
            metrics: Some(metrics.clone()),
            ..RunOptions::default()
        },
    );
    let req = tokio::time::timeout(Duration::from_secs(60), server.next_request())
        .await
        .expect("an invocation within 60 s");
    assert_eq!(common::offsets(&req.body), (5..10).collect::<Vec<_>>());
    let status = running.status.clone();
    let stats = running.finish().await;
    // 2, 3 and 4 no longer exist: lost, and said so.
    assert_eq!(stats.records_dropped, 3);
    assert_eq!(metrics.dropped.get(), 3);
    assert_eq!(status.borrow().records_dropped, 3);
    assert_eq!(stats.records_invoked, 5);
    assert_eq!(common::committed(&broker, &topic, &group)[&0], 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_10000_records_is_invoked_once_they_are_there_not_after_the_window() {
    let broker = common::nisshi().await;
    // 10000 records of 200-byte values make a ~4 MB event, under the 6 MB cap. Half are
    // there at the start, half come once the mapping fetched the first half: the batch
    // fills over several fetches.
    let topic = topic_with(&broker, "big-batch", 5_000, 200);
    let group = unique_name("big-batch-group");
    let mut server = InvokeServer::start().await.unwrap();
    server.set_default(Reply::json(json!(null)));
    let mapping = from_cli_input_json(&common::mapping_with(
        &topic,
        &broker.bootstrap(),
        &group,
        10_000,
        json!({"MaximumBatchingWindowInSeconds": 300}),
    ))
    .unwrap();
    let metrics = Arc::new(Metrics::new(&mapping.uuid.to_string(), &topic));
    let running = common::start_mapping(
        mapping,
        common::lambda_invoker(&server, "my-fn").await,
        RunOptions {
            metrics: Some(metrics.clone()),
            ..RunOptions::default()
        },
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while metrics.polled.get() < 5_000 {
        assert!(
            Instant::now() < deadline,
            "the first half fetched within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let more: Vec<Record> = (5_000..10_000)
        .map(|i| {
            let mut v = format!("v{i}-").into_bytes();
            v.resize(200, b'x');
            Record::new(None, Some(&v))
        })
        .collect();
    tokio::task::block_in_place(|| broker.refclient().produce(&topic, &more, Compression::None))
        .unwrap();
    let produced = Instant::now();
    let req = tokio::time::timeout(Duration::from_secs(60), server.next_request())
        .await
        .expect("the batch within 60 s, not after the 300 s window");
    let took = produced.elapsed();
    assert_eq!(common::offsets(&req.body), (0..10_000).collect::<Vec<_>>());
    let stats = running.finish().await;
    assert_eq!((stats.invocations, stats.records_invoked), (1, 10_000));
    assert_eq!(common::committed(&broker, &topic, &group)[&0], 10_000);
    eprintln!(
        "10000 records ({} bytes of event) invoked {took:?} after the last was produced",
        req.body.len()
    );
}
