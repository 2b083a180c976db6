//! On-failure destinations end to end: nisshi, the runtime, the rig's Invoke endpoint
//! failing every invocation, and moto (SQS, SNS→SQS, S3) or a `kafka://` topic on the same
//! broker. The destination receives AWS's record field for field; the batch's offsets are
//! committed only after the destination acknowledged it; a destination outage holds the
//! partition (nothing committed, nothing skipped) until the destination works.

mod common;

use kafka_esm::aws::{AwsOptions, StaticCredentials};
use kafka_esm::config::{Mapping, from_cli_input_json};
use kafka_esm::runtime::RunOptions;
use kafka_esm_rig::{Broker, Compression, InvokeServer, Moto, Nisshi, Record, Reply, unique_name};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const ACCOUNT: &str = Moto::ACCOUNT_ID;

async fn moto() -> String {
    tokio::task::spawn_blocking(|| Moto::shared().map(|m| m.endpoint().to_string()))
        .await
        .unwrap()
        .unwrap()
}

fn mapping(topic: &str, bootstrap: &str, group: &str, destination: &str) -> Mapping {
    from_cli_input_json(
        &json!({
            "FunctionName": format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:my-fn"),
            "Topics": [topic],
            "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": [bootstrap]}},
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": 10,
            "MaximumBatchingWindowInSeconds": 0,
            "MaximumRetryAttempts": 1,
            "SelfManagedKafkaEventSourceConfig": {"ConsumerGroupId": group},
            "DestinationConfig": {"OnFailure": {"Destination": destination}},
        })
        .to_string(),
    )
    .unwrap()
}

/// A one-partition topic with records keyed `k0`, `k1`, none, valued `v0`, `v1`, `v2`.
fn source_topic(broker: &dyn Broker) -> String {
    let topic = unique_name("dest-src");
    let records = vec![
        Record::new(Some(b"k0"), Some(b"v0")),
        Record::new(Some(b"k1"), Some(b"v1")),
        Record::new(None, Some(b"v2")),
    ];
    tokio::task::block_in_place(|| {
        broker.create_topic(&topic, 1)?;
        broker
            .refclient()
            .produce(&topic, &records, Compression::None)
    })
    .unwrap();
    topic
}

/// What most tests start with: moto's endpoint, a nisshi broker holding a
/// [`source_topic`], and a new group name.
async fn setup() -> (String, Nisshi, String, String) {
    let moto = moto().await;
    let broker = common::nisshi().await;
    let topic = source_topic(&broker);
    (moto, broker, topic, unique_name("dest-group"))
}

/// A new SQS queue in moto (`prefix` made unique): a client, its URL and its ARN.
async fn sqs_queue(moto: &str, prefix: &str) -> (aws_sdk_sqs::Client, String, String) {
    let aws = common::local_aws(moto.to_string()).await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let queue = unique_name(prefix);
    let url = sqs.create_queue().queue_name(&queue).send().await.unwrap();
    let url = url.queue_url().unwrap().to_string();
    (sqs, url, format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{queue}"))
}

/// A one-partition topic holding `records`, some too large for a 1 MB batch: written
/// lz4-compressed (nisshi refuses batches over 1 MB; compressed, they are a few KiB).
fn topic_with_large_records(broker: &dyn Broker, prefix: &str, records: &[Record]) -> String {
    let topic = unique_name(prefix);
    tokio::task::block_in_place(|| {
        broker.create_topic(&topic, 1)?;
        broker
            .refclient()
            .with("message.max.bytes", "10000000")
            .produce(&topic, records, Compression::Lz4)
    })
    .unwrap();
    topic
}

/// librdkafka reports a partition without a committed offset as -1001.
fn assert_nothing_committed(broker: &dyn Broker, topic: &str, group: &str) {
    let none = common::committed(broker, topic, group);
    assert!(
        none.values().all(|o| *o == -1001),
        "nothing committed: {none:?}"
    );
}

/// Runs `mapping` against a function that always fails, its destination through moto.
async fn start(mapping: Mapping, server: &InvokeServer, moto: &str) -> common::Running {
    let invoker = common::lambda_invoker(server, "my-fn").await;
    let options = RunOptions {
        destination_aws: AwsOptions {
            region: Some(Moto::REGION.into()),
            endpoint_url: Some(moto.to_string()),
            credentials: Some(StaticCredentials {
                access_key_id: Moto::ACCESS_KEY_ID.into(),
                secret_access_key: Moto::SECRET_ACCESS_KEY.into(),
                session_token: None,
            }),
            max_attempts: Some(1),
            ..AwsOptions::default()
        },
        ..RunOptions::default()
    };
    common::start_mapping(mapping, invoker, options)
}

async fn failing_function() -> InvokeServer {
    let server = InvokeServer::start().await.unwrap();
    server.set_default(Reply::unhandled("Boom", "always fails"));
    server
}

/// Waits for up to 60 s for one SQS message on `url`.
async fn receive_one(sqs: &aws_sdk_sqs::Client, url: &str) -> Value {
    for _ in 0..12 {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .wait_time_seconds(5)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = out.messages();
        if let Some(m) = messages.first() {
            assert_eq!(messages.len(), 1, "one message per failed batch");
            return serde_json::from_str(m.body().unwrap()).unwrap();
        }
    }
    panic!("no message on {url} within 60 s");
}

/// The checks every record of the three-record batch passes (SQS, SNS, S3).
fn check_batch_record(r: &Value, topic: &str, bootstrap: &str) {
    let rc = &r["requestContext"];
    assert_eq!(rc["condition"], "RetryAttemptsExhausted");
    assert_eq!(
        rc["approximateInvokeCount"], 2,
        "the first try and one retry"
    );
    assert_eq!(
        rc["functionArn"],
        format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:my-fn")
    );
    assert!(uuid::Uuid::parse_str(rc["requestId"].as_str().unwrap()).is_ok());
    assert_eq!(
        r["responseContext"],
        json!({"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"})
    );
    assert_eq!(r["version"], "1.0");
    let ts = r["timestamp"].as_str().unwrap();
    assert_eq!(ts.len(), 24, "{ts}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[19] == b'.', "{ts}");
    let info = &r["KafkaBatchInfo"];
    assert_eq!(info["batchSize"], 3);
    assert_eq!(info["bootstrapServers"], bootstrap);
    assert!(
        info["eventSourceArn"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "arn:aws:lambda:us-east-1:{ACCOUNT}:event-source-mapping:"
            ))
    );
    assert!(info["payloadSize"].as_u64().unwrap() > 100);
    let parts = info["recordsInfo"].as_object().unwrap();
    assert_eq!(parts.len(), 1);
    let p = &parts[&format!("{topic}-0")];
    assert_eq!(p["firstRecordOffset"], "0");
    assert_eq!(p["lastRecordOffset"], "2");
    assert_eq!(p["firstRecordTimestamp"].as_str().unwrap().len(), 24);
    assert_eq!(p["lastRecordTimestamp"].as_str().unwrap().len(), 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_receives_awss_record_and_the_batch_is_committed_after_it() {
    let (moto, broker, topic, group) = setup().await;
    let (sqs, url, arn) = sqs_queue(&moto, "dest-queue").await;
    let server = failing_function().await;
    let running = start(
        mapping(&topic, &broker.bootstrap(), &group, &arn),
        &server,
        &moto,
    )
    .await;

    let r = receive_one(&sqs, &url).await;
    check_batch_record(&r, &topic, &broker.bootstrap());
    assert!(r.get("payload").is_none(), "SQS gets metadata only");
    let stats = running.finish().await;
    assert_eq!(stats.records_to_destination, 3);
    assert_eq!(stats.invocations, 2);
    assert_eq!(
        common::committed(&broker, &topic, &group),
        BTreeMap::from([(0, 3)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_publishes_the_record_to_its_sqs_subscription() {
    let (moto, broker, topic, group) = setup().await;
    let (sqs, url, queue_arn) = sqs_queue(&moto, "dest-sub").await;
    let sns = aws_sdk_sns::Client::new(&common::local_aws(moto.clone()).await);
    let sns_topic = unique_name("dest-topic");
    let created = sns.create_topic().name(&sns_topic).send().await.unwrap();
    let topic_arn = created.topic_arn().unwrap().to_string();
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    let server = failing_function().await;
    let running = start(
        mapping(&topic, &broker.bootstrap(), &group, &topic_arn),
        &server,
        &moto,
    )
    .await;

    let r = receive_one(&sqs, &url).await;
    check_batch_record(&r, &topic, &broker.bootstrap());
    assert!(r.get("payload").is_none(), "SNS gets metadata only");
    running.finish().await;
    assert_eq!(
        common::committed(&broker, &topic, &group),
        BTreeMap::from([(0, 3)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_stores_the_record_with_the_whole_event_under_a_time_ordered_key() {
    let (moto, broker, topic, group) = setup().await;
    let aws = common::local_aws(moto.clone()).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&aws)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique_name("dest-bucket").to_lowercase().replace('_', "-");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let server = failing_function().await;
    let mapping = mapping(
        &topic,
        &broker.bootstrap(),
        &group,
        &format!("arn:aws:s3:::{bucket}"),
    );
    let prefix = format!("aws/lambda/{}/{topic}-0/", mapping.uuid);
    let running = start(mapping, &server, &moto).await;

    let mut keys = Vec::new();
    for _ in 0..60 {
        let listed = s3
            .list_objects_v2()
            .bucket(&bucket)
            .prefix(&prefix)
            .send()
            .await
            .unwrap();
        keys = listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect();
        if !keys.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(keys.len(), 1, "one object under {prefix}");
    let name = keys[0].strip_prefix(&prefix).unwrap();
    // YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS.mmm-0-2-<uuid>
    let parts: Vec<&str> = name.splitn(4, '/').collect();
    assert_eq!(parts.len(), 4, "{name}");
    assert!(
        parts[3].starts_with(&format!("{}-{}-{}T", parts[0], parts[1], parts[2])),
        "{name}"
    );
    assert!(parts[3].contains("-0-2-"), "{name}");
    let object = s3
        .get_object()
        .bucket(&bucket)
        .key(&keys[0])
        .send()
        .await
        .unwrap();
    let body = object.body.collect().await.unwrap().into_bytes();
    let r: Value = serde_json::from_slice(&body).unwrap();
    check_batch_record(&r, &topic, &broker.bootstrap());
    let payload = r["payload"].as_str().expect("payload is a JSON string");
    assert_eq!(r["KafkaBatchInfo"]["payloadSize"], payload.len());
    let event: Value = serde_json::from_str(payload).unwrap();
    assert_eq!(event["eventSource"], "SelfManagedKafka");
    assert_eq!(event["bootstrapServers"], broker.bootstrap());
    let records = event["records"][format!("{topic}-0")].as_array().unwrap();
    let offsets: Vec<i64> = records
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, [0, 1, 2]);
    running.finish().await;
    assert_eq!(
        common::committed(&broker, &topic, &group),
        BTreeMap::from([(0, 3)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_destination_gets_one_message_per_record_with_its_key() {
    let (moto, broker, topic, group) = setup().await;
    let dlt = unique_name("dest-dlt");
    tokio::task::block_in_place(|| broker.create_topic(&dlt, 3)).unwrap();
    let server = failing_function().await;
    let running = start(
        mapping(
            &topic,
            &broker.bootstrap(),
            &group,
            &format!("kafka://{dlt}"),
        ),
        &server,
        &moto,
    )
    .await;

    let consumed = tokio::task::block_in_place(|| {
        broker
            .refclient()
            .consume(&dlt, &unique_name("dlt-reader"), 3, false)
    })
    .unwrap();
    let stats = running.finish().await;
    assert_eq!(stats.records_to_destination, 3);
    assert_eq!(consumed.len(), 3);
    let mut by_offset = BTreeMap::new();
    for c in &consumed {
        let r: Value = serde_json::from_slice(c.value.as_deref().unwrap()).unwrap();
        let info = &r["KafkaBatchInfo"];
        assert_eq!(info["batchSize"], 1);
        assert_eq!(r["requestContext"]["condition"], "RetryAttemptsExhausted");
        assert_eq!(r["responseContext"]["functionError"], "Unhandled");
        let offset: i64 = info["recordInfo"]["offset"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let records = r["payload"]["records"][format!("{topic}-0")]
            .as_array()
            .unwrap();
        assert_eq!(records.len(), 1, "the event holding that record");
        assert_eq!(records[0]["offset"], offset);
        by_offset.insert(offset, (c.key.clone(), c.partition));
    }
    assert_eq!(by_offset[&0].0.as_deref(), Some(&b"k0"[..]));
    assert_eq!(by_offset[&1].0.as_deref(), Some(&b"k1"[..]));
    assert_eq!(by_offset[&2].0, None, "a null key stays null");
    assert_eq!(
        common::committed(&broker, &topic, &group),
        BTreeMap::from([(0, 3)])
    );
}

/// A fault between us and the destination: a loopback TCP proxy to `target`
/// (`http://host:port`) that, until `up` is set, accepts every connection and drops it at
/// once (an outage the client sees as a reset), then forwards the traffic.
async fn switchable_proxy(target: &str) -> (String, tokio::sync::watch::Sender<bool>) {
    let target = target.trim_start_matches("http://").to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (up, is_up) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            if !*is_up.borrow() {
                continue; // dropped: closed before any answer
            }
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (endpoint, up)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_outage_holds_the_partition_until_the_destination_works() {
    let (moto, broker, topic, group) = setup().await;
    let (sqs, url, arn) = sqs_queue(&moto, "dest-later").await;
    let (proxy, up) = switchable_proxy(&moto).await;
    let server = failing_function().await;
    let mut running = start(
        mapping(&topic, &broker.bootstrap(), &group, &arn),
        &server,
        &proxy,
    )
    .await;

    // SQS can't be reached: the write fails, the mapping says so, nothing commits.
    let problem = tokio::time::timeout(
        Duration::from_secs(60),
        running.status.wait_for(|s| {
            s.last_processing_result.starts_with("PROBLEM")
                && s.last_processing_result.contains(&arn)
        }),
    )
    .await
    .expect("the outage reported within 60 s")
    .unwrap()
    .last_processing_result
    .clone();
    assert!(problem.contains("GetQueueUrl"), "{problem}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_nothing_committed(&broker, &topic, &group);
    assert_eq!(server.requests().len(), 2, "the batch is not invoked again");
    assert!(
        !running.task.is_finished(),
        "an outage doesn't stop the mapping"
    );

    up.send(true).unwrap();
    let r = receive_one(&sqs, &url).await;
    assert_eq!(
        r["KafkaBatchInfo"]["recordsInfo"][format!("{topic}-0")]["lastRecordOffset"],
        "2"
    );
    let stats = running.finish().await;
    assert_eq!(stats.records_to_destination, 3);
    assert_eq!(
        common::committed(&broker, &topic, &group),
        BTreeMap::from([(0, 3)])
    );
}

/// A queue that doesn't exist will not exist on the next try either: the mapping stops
/// with ESM_CONFIG_NOT_VALID naming the queue, and the batch is not committed (nor
/// dropped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_that_does_not_exist_stops_the_mapping_instead_of_retrying_forever() {
    let (moto, broker, topic, group) = setup().await;
    let arn = format!(
        "arn:aws:sqs:us-east-1:{ACCOUNT}:{}",
        unique_name("dest-none")
    );
    let server = failing_function().await;
    let running = start(
        mapping(&topic, &broker.bootstrap(), &group, &arn),
        &server,
        &moto,
    )
    .await;
    let (e, last) = running.stopped_on_its_own().await;
    assert_eq!(e.reason(), "ESM_CONFIG_NOT_VALID", "{e}");
    assert_eq!(last.state, kafka_esm::runtime::State::Disabled);
    assert_eq!(last.state_transition_reason, "ESM_CONFIG_NOT_VALID");
    assert!(
        last.last_processing_result.contains(&arn)
            && last.last_processing_result.contains("GetQueueUrl"),
        "{}",
        last.last_processing_result
    );
    assert_eq!(last.records_dropped, 0);
    assert_eq!(server.requests().len(), 2, "the first try and one retry");
    assert_nothing_committed(&broker, &topic, &group);
}

/// A record the `kafka://` topic's broker refuses as too large (our producer writes it
/// uncompressed; nisshi takes at most 1 MB) will be refused again: the mapping stops
/// with ESM_CONFIG_NOT_VALID, nothing committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_destination_refusing_a_record_as_too_large_stops_the_mapping() {
    let moto = moto().await;
    let broker = common::nisshi().await;
    // 5 MB: never invocable, so it goes to the destination as MaximumPayloadSizeExceeded.
    let big = vec![b'x'; 5 * 1024 * 1024];
    let topic = topic_with_large_records(
        &broker,
        "dest-huge",
        &[Record::new(Some(b"big"), Some(&big))],
    );
    let dlt = unique_name("dest-dlt");
    tokio::task::block_in_place(|| broker.create_topic(&dlt, 1)).unwrap();
    let group = unique_name("dest-group");
    let server = InvokeServer::start().await.unwrap();
    server.set_default(Reply::json(json!(null)));
    let running = start(
        mapping(
            &topic,
            &broker.bootstrap(),
            &group,
            &format!("kafka://{dlt}"),
        ),
        &server,
        &moto,
    )
    .await;
    let (e, last) = running.stopped_on_its_own().await;
    assert_eq!(e.reason(), "ESM_CONFIG_NOT_VALID", "{e}");
    assert_eq!(last.state_transition_reason, "ESM_CONFIG_NOT_VALID");
    assert!(
        last.last_processing_result
            .contains(&format!("kafka://{dlt}"))
            && last.last_processing_result.contains("MessageTooLarge"),
        "{}",
        last.last_processing_result
    );
    assert!(server.requests().is_empty(), "never invocable");
    assert_nothing_committed(&broker, &topic, &group);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_too_large_to_invoke_goes_to_the_destination_with_a_null_response() {
    let moto = moto().await;
    let broker = common::nisshi().await;
    // 5 MB of value is over 6 MB once base64-encoded in the event: never invocable.
    let big = vec![b'x'; 5 * 1024 * 1024];
    let records = vec![
        Record::new(Some(b"a"), Some(b"small")),
        Record::new(Some(b"b"), Some(&big)),
        Record::new(Some(b"c"), Some(b"small")),
    ];
    let topic = topic_with_large_records(&broker, "dest-big", &records);
    let group = unique_name("dest-group");
    let (sqs, url, arn) = sqs_queue(&moto, "dest-big").await;
    let server = InvokeServer::start().await.unwrap();
    server.set_default(Reply::json(json!(null)));
    let running = start(
        mapping(&topic, &broker.bootstrap(), &group, &arn),
        &server,
        &moto,
    )
    .await;

    let r = receive_one(&sqs, &url).await;
    assert_eq!(
        r["requestContext"]["condition"],
        "MaximumPayloadSizeExceeded"
    );
    assert_eq!(r["requestContext"]["approximateInvokeCount"], 0);
    assert!(r.as_object().unwrap().contains_key("responseContext"));
    assert_eq!(r["responseContext"], Value::Null);
    let info = &r["KafkaBatchInfo"];
    assert_eq!(info["batchSize"], 1);
    assert!(info["payloadSize"].as_u64().unwrap() > 6 * 1024 * 1024);
    let p = &info["recordsInfo"][format!("{topic}-0")];
    assert_eq!(
        (&p["firstRecordOffset"], &p["lastRecordOffset"]),
        (&json!("1"), &json!("1"))
    );
    for _ in 0..60 {
        if common::committed(&broker, &topic, &group).get(&0) == Some(&3) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    running.finish().await;
    let invoked: Vec<i64> = server
        .requests()
        .iter()
        .flat_map(|req| {
            let event: Value = serde_json::from_slice(&req.body).unwrap();
            event["records"][format!("{topic}-0")]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["offset"].as_i64().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(invoked, [0, 2], "processing goes on around the record");
    assert_eq!(
        common::committed(&broker, &topic, &group),
        BTreeMap::from([(0, 3)])
    );
}
