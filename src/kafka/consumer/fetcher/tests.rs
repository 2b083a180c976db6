//! The whole fetch loop against a scripted broker on loopback: what the rig's brokers
//! never do (truncated batches, fetch sessions, NOT_LEADER, authorization failures,
//! corrupt records, ListOffsets misses) is answered here by a test-supplied handler, and
//! the requests the fetcher sent are checked.

use super::*;
use crate::kafka::protocol::DecodeError;
use bytes::{BufMut, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, FetchRequest,
    FetchResponse as KpFetchResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest,
    MetadataResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{
    Compression as KCompression, Record as KRecord, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType,
};
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

// ---------------------------------------------------------------------------------------
// Record batches

pub(crate) fn krecord(offset: i64) -> KRecord {
    KRecord {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: -1,
        timestamp: 1_700_000_000_000 + offset,
        key: None,
        value: Some(Bytes::from(format!("v{offset}"))),
        headers: IndexMap::new(),
    }
}

/// One batch of the given records (kafka-protocol starts a new batch wherever
/// `offset - sequence` changes; sequences are set so that it doesn't).
pub(crate) fn encode(mut records: Vec<KRecord>, compression: KCompression) -> Bytes {
    let first = records[0].offset;
    for r in &mut records {
        r.sequence = (r.offset - first - 1) as i32;
    }
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    buf.freeze()
}

pub(crate) fn batch(offsets: std::ops::Range<i64>) -> Bytes {
    encode(offsets.map(krecord).collect(), KCompression::None)
}

// ---------------------------------------------------------------------------------------
// The scripted broker

const TOPIC: &str = "t";

/// One partition of a scripted Fetch answer.
#[derive(Clone, Debug, Default)]
struct Answer {
    error: i16,
    high_watermark: i64,
    records: Bytes,
}

type FetchHandler = Box<dyn FnMut(&FetchRequest) -> KpFetchResponse + Send>;
type OffsetsHandler = Box<dyn FnMut(i32, i64) -> (i16, i64) + Send>;

struct Script {
    port: i32,
    partitions: i32,
    metadata_requests: usize,
    fetches: Vec<FetchRequest>,
    list_offsets: Vec<ListOffsetsRequest>,
    on_fetch: FetchHandler,
    on_list_offsets: OffsetsHandler,
}

#[derive(Clone)]
struct Fake {
    addr: String,
    script: Arc<Mutex<Script>>,
}

impl Fake {
    async fn start(partitions: i32) -> Fake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let script = Arc::new(Mutex::new(Script {
            port: port.into(),
            partitions,
            metadata_requests: 0,
            fetches: Vec::new(),
            list_offsets: Vec::new(),
            on_fetch: Box::new(|_| KpFetchResponse::default()),
            on_list_offsets: Box::new(|_, _| (0, 0)),
        }));
        let s = script.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, s.clone()));
            }
        });
        Fake {
            addr: format!("127.0.0.1:{port}"),
            script,
        }
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap()
    }

    /// Answers every Fetch with `f(partition, fetch offset, partition limit)`.
    fn on_fetch(&self, mut f: impl FnMut(i32, i64, i32) -> Answer + Send + 'static) {
        self.on_fetch_request(move |req| {
            let mut partitions = Vec::new();
            for t in &req.topics {
                for p in &t.partitions {
                    partitions.push((
                        p.partition,
                        f(p.partition, p.fetch_offset, p.partition_max_bytes),
                    ));
                }
            }
            fetch_response(0, 0, partitions)
        });
    }

    fn on_fetch_request(&self, f: impl FnMut(&FetchRequest) -> KpFetchResponse + Send + 'static) {
        self.script().on_fetch = Box::new(f);
    }

    fn fetches(&self) -> Vec<FetchRequest> {
        self.script().fetches.clone()
    }

    async fn fetcher(&self, config: FetchConfig) -> Fetcher {
        let cluster = Cluster::connect(
            crate::kafka::client::cluster::ClusterConfig {
                bootstrap: vec![self.addr.clone()],
                connection: Default::default(),
            },
            &[TOPIC.to_string()],
        )
        .await
        .unwrap();
        Fetcher::new(Arc::new(cluster), config)
    }
}

fn fetch_response(error: i16, session_id: i32, partitions: Vec<(i32, Answer)>) -> KpFetchResponse {
    KpFetchResponse::default()
        .with_error_code(error)
        .with_session_id(session_id)
        .with_responses(if partitions.is_empty() {
            vec![]
        } else {
            vec![
                FetchableTopicResponse::default()
                    .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
                    .with_partitions(
                        partitions
                            .into_iter()
                            .map(|(p, a)| {
                                PartitionData::default()
                                    .with_partition_index(p)
                                    .with_error_code(a.error)
                                    .with_high_watermark(a.high_watermark)
                                    .with_last_stable_offset(a.high_watermark)
                                    .with_records(Some(a.records))
                            })
                            .collect(),
                    ),
            ]
        })
}

async fn serve(mut stream: tokio::net::TcpStream, script: Arc<Mutex<Script>>) {
    loop {
        let Ok(size) = stream.read_i32().await else {
            return;
        };
        let mut frame = vec![0; size as usize];
        if stream.read_exact(&mut frame).await.is_err() {
            return;
        }
        let mut body = Bytes::from(frame);
        let key = ApiKey::try_from(i16::from_be_bytes([body[0], body[1]])).unwrap();
        let version = i16::from_be_bytes([body[2], body[3]]);
        let header = RequestHeader::decode(&mut body, key.request_header_version(version)).unwrap();
        let mut out = BytesMut::new();
        let response_header_version = key.response_header_version(version);
        ResponseHeader::default()
            .with_correlation_id(header.correlation_id)
            .encode(&mut out, response_header_version)
            .unwrap();
        {
            let mut s = script.lock().unwrap();
            match key {
                ApiKey::ApiVersions => {
                    ApiVersionsRequest::decode(&mut body, version).unwrap();
                    let range = |key: ApiKey, min, max| {
                        ApiVersion::default()
                            .with_api_key(key as i16)
                            .with_min_version(min)
                            .with_max_version(max)
                    };
                    ApiVersionsResponse::default()
                        .with_api_keys(vec![
                            range(ApiKey::ApiVersions, 0, 3),
                            range(ApiKey::Metadata, 1, 12),
                            range(ApiKey::Fetch, 4, 12),
                            range(ApiKey::ListOffsets, 1, 7),
                        ])
                        .encode(&mut out, version)
                        .unwrap();
                }
                ApiKey::Metadata => {
                    MetadataRequest::decode(&mut body, version).unwrap();
                    s.metadata_requests += 1;
                    MetadataResponse::default()
                        .with_brokers(vec![
                            MetadataResponseBroker::default()
                                .with_node_id(BrokerId(1))
                                .with_host(StrBytes::from_static_str("127.0.0.1"))
                                .with_port(s.port),
                        ])
                        .with_topics(vec![
                            MetadataResponseTopic::default()
                                .with_name(Some(TopicName(StrBytes::from_static_str(TOPIC))))
                                .with_partitions(
                                    (0..s.partitions)
                                        .map(|p| {
                                            MetadataResponsePartition::default()
                                                .with_partition_index(p)
                                                .with_leader_id(BrokerId(1))
                                                .with_leader_epoch(5)
                                        })
                                        .collect(),
                                ),
                        ])
                        .encode(&mut out, version)
                        .unwrap();
                }
                ApiKey::Fetch => {
                    let request = FetchRequest::decode(&mut body, version).unwrap();
                    let response = (s.on_fetch)(&request);
                    s.fetches.push(request);
                    response.encode(&mut out, version).unwrap();
                }
                ApiKey::ListOffsets => {
                    let request = ListOffsetsRequest::decode(&mut body, version).unwrap();
                    let mut topics = Vec::new();
                    for t in &request.topics {
                        let partitions = t
                            .partitions
                            .iter()
                            .map(|p| {
                                let (error, offset) =
                                    (s.on_list_offsets)(p.partition_index, p.timestamp);
                                ListOffsetsPartitionResponse::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(error)
                                    .with_offset(offset)
                            })
                            .collect();
                        topics.push(
                            ListOffsetsTopicResponse::default()
                                .with_name(t.name.clone())
                                .with_partitions(partitions),
                        );
                    }
                    s.list_offsets.push(request);
                    ListOffsetsResponse::default()
                        .with_topics(topics)
                        .encode(&mut out, version)
                        .unwrap();
                }
                other => panic!("the scripted broker doesn't answer {other:?}"),
            }
        }
        let mut frame = BytesMut::with_capacity(out.len() + 4);
        frame.put_i32(out.len() as i32);
        frame.put_slice(&out);
        if stream.write_all(&frame).await.is_err() {
            return;
        }
    }
}

fn quick() -> FetchConfig {
    FetchConfig {
        max_wait: Duration::from_millis(50),
        retry_backoff: Duration::from_millis(1),
        retry_backoff_max: Duration::from_millis(1),
        ..FetchConfig::default()
    }
}

fn offsets(got: &[PartitionRecords]) -> Vec<(i32, Vec<i64>)> {
    got.iter()
        .map(|p| (p.partition, p.records.iter().map(|r| r.offset).collect()))
        .collect()
}

/// A log of `batches` consecutive batches of 5 records each (offsets 0..5*batches),
/// answered from the batch holding the fetch offset, cut at the partition limit.
fn log_of(batches: i64) -> impl FnMut(i32, i64, i32) -> Answer + Send + 'static {
    let log: Vec<(i64, Bytes)> = (0..batches)
        .map(|b| (b * 5, batch(b * 5..b * 5 + 5)))
        .collect();
    move |_, offset, limit| {
        let mut data = BytesMut::new();
        for (base, b) in &log {
            if base + 5 > offset {
                data.extend_from_slice(b);
            }
        }
        data.truncate(limit as usize);
        Answer {
            error: 0,
            high_watermark: batches * 5,
            records: data.freeze(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn a_truncated_batch_is_fetched_again_with_a_grown_limit() {
    let fake = Fake::start(1).await;
    let size = batch(0..5).len() as i32;
    fake.on_fetch(log_of(3));
    let mut f = fake
        .fetcher(FetchConfig {
            max_partition_bytes: 40,
            ..quick()
        })
        .await;
    f.assign(TOPIC, 0, FetchPosition::Offset(2));
    let mut got = Vec::new();
    for _ in 0..8 {
        got.extend(offsets(&f.fetch().await.unwrap()));
    }
    let delivered: Vec<i64> = got.iter().flat_map(|(_, o)| o.clone()).collect();
    assert_eq!(delivered, (2..15).collect::<Vec<_>>());
    let limits: Vec<i32> = fake
        .fetches()
        .iter()
        .map(|r| r.topics[0].partitions[0].partition_max_bytes)
        .collect();
    let mut grown = 40;
    while grown < size {
        grown *= 2;
    }
    // Cut, then grown in one step (the batch length was in the cut), then back to the
    // configured limit once the batch came.
    assert_eq!(
        &limits[..6],
        [40, grown, 40, grown, 40, grown],
        "{limits:?}"
    );
}

#[tokio::test]
async fn a_batch_larger_than_max_bytes_is_an_error_not_a_spin() {
    let fake = Fake::start(1).await;
    fake.on_fetch(log_of(1));
    let mut f = fake
        .fetcher(FetchConfig {
            max_partition_bytes: 16,
            max_bytes: 64,
            ..quick()
        })
        .await;
    f.assign(TOPIC, 0, FetchPosition::Offset(0));
    // 16 → 64 (the cap), then an error naming the partition and offset.
    assert!(f.fetch().await.unwrap().is_empty());
    let err = f.fetch().await.unwrap_err();
    assert!(
        matches!(
            &err,
            FetchError::BatchTooLarge {
                partition: 0,
                offset: 0,
                max_bytes: 64,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(f.position(TOPIC, 0), Some(0));
}

#[tokio::test]
async fn retriable_errors_refresh_metadata_on_the_next_call_not_in_a_loop() {
    let fake = Fake::start(2).await;
    let mut log = log_of(1);
    let mut failures = 2;
    fake.on_fetch(move |p, offset, limit| {
        if p == 0 && failures > 0 {
            failures -= 1;
            return Answer {
                error: 6, // NOT_LEADER_OR_FOLLOWER
                ..Answer::default()
            };
        }
        log(p, offset, limit)
    });
    let mut f = fake.fetcher(quick()).await;
    f.assign(TOPIC, 0, FetchPosition::Offset(0));
    f.assign(TOPIC, 1, FetchPosition::Offset(0));
    let metadata = fake.script().metadata_requests;
    let got = f.fetch().await.unwrap();
    assert_eq!(offsets(&got), [(1, vec![0, 1, 2, 3, 4])]);
    assert_eq!(fake.fetches().len(), 1, "one request per call");
    assert_eq!(fake.script().metadata_requests, metadata, "no refresh yet");
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(f.fetch().await.unwrap().is_empty(), "still not the leader");
    assert_eq!(fake.script().metadata_requests, metadata + 1);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let got = f.fetch().await.unwrap();
    assert_eq!(offsets(&got), [(0, vec![0, 1, 2, 3, 4])]);
    assert_eq!(fake.script().metadata_requests, metadata + 2);
    // Leader epochs from metadata go with each partition (Fetch v9+).
    let last = fake.fetches().pop().unwrap();
    assert_eq!(last.topics[0].partitions[0].current_leader_epoch, 5);
}

#[tokio::test]
async fn a_non_retriable_error_is_typed_and_moves_no_position() {
    let fake = Fake::start(2).await;
    let mut log = log_of(1);
    fake.on_fetch(move |p, offset, limit| {
        if p == 0 {
            Answer {
                error: 29, // TOPIC_AUTHORIZATION_FAILED
                ..Answer::default()
            }
        } else {
            log(p, offset, limit)
        }
    });
    let mut f = fake.fetcher(quick()).await;
    f.assign(TOPIC, 0, FetchPosition::Offset(0));
    f.assign(TOPIC, 1, FetchPosition::Offset(0));
    let err = f.fetch().await.unwrap_err();
    assert!(
        matches!(&err, FetchError::Partition { topic, partition: 0, error } if topic == TOPIC && error.0 == 29),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "t partition 0: TopicAuthorizationFailed (29)"
    );
    assert_eq!(
        f.position(TOPIC, 1),
        Some(0),
        "partition 1's records come again"
    );
    f.unassign(TOPIC, 0);
    let got = f.fetch().await.unwrap();
    assert_eq!(offsets(&got), [(1, vec![0, 1, 2, 3, 4])]);
}

#[tokio::test]
async fn undecodable_records_name_topic_partition_and_offset() {
    let fake = Fake::start(1).await;
    let mut bad = batch(5..10).to_vec();
    let n = bad.len();
    bad[n - 1] ^= 0x55;
    let bad = Bytes::from(bad);
    fake.on_fetch(move |_, offset, _| Answer {
        error: 0,
        high_watermark: 10,
        records: if offset < 5 {
            let mut b = BytesMut::from(&batch(0..5)[..]);
            b.extend_from_slice(&bad);
            b.freeze()
        } else {
            bad.clone()
        },
    });
    let mut f = fake.fetcher(quick()).await;
    f.assign(TOPIC, 0, FetchPosition::Offset(0));
    // The good batch first; the bad one then fails the next call, every time.
    let got = f.fetch().await.unwrap();
    assert_eq!(offsets(&got), [(0, vec![0, 1, 2, 3, 4])]);
    for _ in 0..2 {
        let err = f.fetch().await.unwrap_err();
        assert!(
            matches!(
                &err,
                FetchError::Corrupt {
                    partition: 0,
                    offset: 5,
                    source: DecodeError::CrcMismatch { .. },
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().starts_with("t partition 0 at offset 5:"),
            "{err}"
        );
    }
    assert_eq!(f.position(TOPIC, 0), Some(5));
}

#[tokio::test]
async fn sessions_send_what_changed_and_start_over_when_lost() {
    let fake = Fake::start(3).await;
    let mut log = log_of(2);
    let lose = Arc::new(Mutex::new(false));
    let lose_next = lose.clone();
    fake.on_fetch_request(move |req| {
        if std::mem::take(&mut *lose_next.lock().unwrap()) {
            return fetch_response(71, 0, vec![]); // INVALID_FETCH_SESSION_EPOCH
        }
        // Data for partition 0 only; in a session, only partitions with news answer.
        let mut partitions = Vec::new();
        for t in &req.topics {
            for p in &t.partitions {
                if p.partition == 0 {
                    let a = log(0, p.fetch_offset, p.partition_max_bytes);
                    partitions.push((0, a));
                } else if req.session_id == 0 {
                    partitions.push((p.partition, Answer::default()));
                }
            }
        }
        fetch_response(0, 42, partitions)
    });
    let mut f = fake.fetcher(quick()).await;
    for p in 0..3 {
        f.assign(TOPIC, p, FetchPosition::Offset(0));
    }
    let listed = |r: &FetchRequest| -> Vec<(i32, i64)> {
        let mut v: Vec<(i32, i64)> = r
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (p.partition, p.fetch_offset)))
            .collect();
        v.sort();
        v
    };
    let forgotten = |r: &FetchRequest| -> Vec<i32> {
        r.forgotten_topics_data
            .iter()
            .flat_map(|t| t.partitions.clone())
            .collect()
    };
    let got = f.fetch().await.unwrap();
    assert_eq!(offsets(&got), [(0, vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9])]);
    f.pause(TOPIC, 2);
    assert!(f.fetch().await.unwrap().is_empty());
    assert!(f.fetch().await.unwrap().is_empty());
    *lose.lock().unwrap() = true;
    assert!(f.fetch().await.unwrap().is_empty(), "session lost");
    assert!(f.fetch().await.unwrap().is_empty());
    let r = fake.fetches();
    let kinds: Vec<(i32, i32)> = r.iter().map(|r| (r.session_id, r.session_epoch)).collect();
    assert_eq!(kinds, [(0, 0), (42, 1), (42, 2), (42, 3), (0, 0)]);
    assert_eq!(listed(&r[0]), [(0, 0), (1, 0), (2, 0)]);
    // Partition 0 moved; partition 2 was paused; partition 1 is unchanged.
    assert_eq!(listed(&r[1]), [(0, 10)]);
    assert_eq!(forgotten(&r[1]), [2]);
    assert_eq!(listed(&r[2]), Vec::<(i32, i64)>::new());
    assert_eq!(forgotten(&r[2]), Vec::<i32>::new());
    // After the loss: a full request again.
    assert_eq!(listed(&r[4]), [(0, 10), (1, 0)]);
}

#[tokio::test]
async fn sessions_off_send_every_partition_every_time() {
    let fake = Fake::start(2).await;
    fake.on_fetch_request(|req| {
        let partitions = req
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (p.partition, Answer::default()))
            })
            .collect();
        fetch_response(0, 42, partitions)
    });
    let mut f = fake
        .fetcher(FetchConfig {
            sessions: false,
            ..quick()
        })
        .await;
    f.assign(TOPIC, 0, FetchPosition::Offset(0));
    f.assign(TOPIC, 1, FetchPosition::Offset(0));
    for _ in 0..2 {
        f.fetch().await.unwrap();
    }
    for r in fake.fetches() {
        assert_eq!((r.session_id, r.session_epoch), (0, -1));
        assert_eq!(r.topics[0].partitions.len(), 2);
    }
}

#[tokio::test]
async fn symbolic_positions_resolve_with_list_offsets() {
    let fake = Fake::start(4).await;
    fake.script().on_list_offsets = Box::new(|partition, timestamp| match (partition, timestamp) {
        (_, -2) => (0, 3),
        (_, -1) => (0, 17),
        (2, 1_000) => (0, 9),
        (3, 1_000) => (0, -1), // no record that late
        _ => (0, 12345),
    });
    fake.on_fetch(|_, _, _| Answer::default());
    let mut f = fake.fetcher(quick()).await;
    f.assign(TOPIC, 0, FetchPosition::Earliest);
    f.assign(TOPIC, 1, FetchPosition::Latest);
    f.assign(TOPIC, 2, FetchPosition::Timestamp(1_000));
    f.assign(TOPIC, 3, FetchPosition::Timestamp(1_000));
    f.pause(TOPIC, 3);
    assert_eq!(f.position(TOPIC, 0), None);
    f.fetch().await.unwrap();
    let positions: Vec<_> = (0..4).map(|p| f.position(TOPIC, p)).collect();
    assert_eq!(positions, [Some(3), Some(17), Some(9), Some(17)]);
    let asked = fake.script().list_offsets.clone();
    assert_eq!(asked.len(), 2, "one request, then one for the miss");
    assert_eq!(asked[0].isolation_level, 1);
    let second: Vec<(i32, i64)> = asked[1].topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.timestamp))
        .collect();
    assert_eq!(second, [(3, -1)]);
    // Only the unpaused, resolved partitions were fetched, from their positions.
    let fetched: Vec<(i32, i64)> = fake.fetches()[0].topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition, p.fetch_offset))
        .collect();
    let mut fetched = fetched;
    fetched.sort();
    assert_eq!(fetched, [(0, 3), (1, 17), (2, 9)]);
}

#[tokio::test]
async fn a_list_offsets_error_is_retried_or_typed() {
    let fake = Fake::start(2).await;
    let mut calls = 0;
    fake.script().on_list_offsets = Box::new(move |partition, _| {
        calls += 1;
        match partition {
            0 if calls <= 2 => (6, -1), // NOT_LEADER_OR_FOLLOWER, then fine
            0 => (0, 4),
            _ => (29, -1),
        }
    });
    fake.on_fetch(|_, _, _| Answer::default());
    let mut f = fake.fetcher(quick()).await;
    f.assign(TOPIC, 0, FetchPosition::Latest);
    f.assign(TOPIC, 1, FetchPosition::Latest);
    let err = f.fetch().await.unwrap_err();
    assert!(
        matches!(&err, FetchError::Partition { partition: 1, error, .. } if error.0 == 29),
        "{err}"
    );
    f.unassign(TOPIC, 1);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        f.fetch().await.unwrap();
    }
    assert_eq!(f.position(TOPIC, 0), Some(4));
}

#[tokio::test]
async fn out_of_range_resets_and_none_names_the_partition() {
    let fake = Fake::start(1).await;
    fake.script().on_list_offsets = Box::new(|_, t| (0, if t == -2 { 5 } else { 10 }));
    let mut log = log_of(2);
    fake.on_fetch(move |p, offset, limit| {
        if offset < 5 {
            Answer {
                error: 1,
                ..Answer::default()
            }
        } else {
            log(p, offset, limit)
        }
    });
    let mut f = fake.fetcher(quick()).await;
    f.assign(TOPIC, 0, FetchPosition::Offset(2));
    assert!(f.fetch().await.unwrap().is_empty());
    assert_eq!(f.position(TOPIC, 0), None, "resetting");
    assert!(f.take_resets().is_empty(), "not resolved yet");
    // The call that resolves the reset returns no records: the caller learns of the
    // reset before any record from the new position.
    assert!(f.fetch().await.unwrap().is_empty());
    assert_eq!(
        f.take_resets(),
        [PositionReset {
            topic: TOPIC.into(),
            partition: 0,
            from: 2,
            to: 5
        }]
    );
    assert!(f.take_resets().is_empty());
    let got = f.fetch().await.unwrap();
    assert_eq!(offsets(&got), [(0, vec![5, 6, 7, 8, 9])]);
    assert!(f.take_resets().is_empty());

    let mut f = fake
        .fetcher(FetchConfig {
            offset_reset: OffsetReset::None,
            ..quick()
        })
        .await;
    f.assign(TOPIC, 0, FetchPosition::Offset(2));
    let err = f.fetch().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "t partition 0: offset 2 is out of range and the reset policy is none"
    );

    // Past the end of the log (a log re-created under a committed offset): back to 5.
    let mut f = fake.fetcher(quick()).await;
    f.assign(TOPIC, 0, FetchPosition::Offset(20));
    fake.on_fetch(|_, offset, _| Answer {
        error: if offset >= 10 { 1 } else { 0 },
        high_watermark: 10,
        records: if offset < 10 {
            batch(5..10)
        } else {
            Bytes::new()
        },
    });
    for _ in 0..2 {
        assert!(f.fetch().await.unwrap().is_empty());
    }
    let resets = f.take_resets();
    assert_eq!((resets[0].from, resets[0].to), (20, 5), "{resets:?}");
    let got = f.fetch().await.unwrap();
    assert_eq!(offsets(&got), [(0, vec![5, 6, 7, 8, 9])]);

    // A reset the caller overrides (a new position given) is not reported.
    let mut f = fake.fetcher(quick()).await;
    f.assign(TOPIC, 0, FetchPosition::Offset(20));
    assert!(f.fetch().await.unwrap().is_empty());
    f.assign(TOPIC, 0, FetchPosition::Offset(7));
    let got = f.fetch().await.unwrap();
    assert_eq!(offsets(&got), [(0, vec![7, 8, 9])]);
    assert!(f.take_resets().is_empty());
}

#[tokio::test]
async fn nothing_to_fetch_waits_max_wait_and_returns_nothing() {
    let fake = Fake::start(1).await;
    let mut f = fake
        .fetcher(FetchConfig {
            max_wait: Duration::from_millis(80),
            ..quick()
        })
        .await;
    let started = Instant::now();
    assert!(f.fetch().await.unwrap().is_empty());
    assert!(started.elapsed() >= Duration::from_millis(80));
    f.assign(TOPIC, 0, FetchPosition::Offset(0));
    f.pause(TOPIC, 0);
    let started = Instant::now();
    assert!(f.fetch().await.unwrap().is_empty());
    assert!(started.elapsed() >= Duration::from_millis(80));
    assert!(fake.fetches().is_empty());
}

#[tokio::test]
async fn prefetched_records_of_a_partition_moved_meanwhile_are_dropped() {
    let fake = Fake::start(1).await;
    fake.on_fetch(log_of(4));
    let mut f = fake
        .fetcher(FetchConfig {
            prefetch: true,
            max_partition_bytes: batch(0..5).len() as i32,
            ..quick()
        })
        .await;
    f.assign(TOPIC, 0, FetchPosition::Offset(0));
    let got = f.fetch().await.unwrap();
    assert_eq!(offsets(&got), [(0, vec![0, 1, 2, 3, 4])]);
    // The request for 5.. is out; the caller seeks back to 2.
    f.assign(TOPIC, 0, FetchPosition::Offset(2));
    let got = f.fetch().await.unwrap();
    assert!(
        got.is_empty(),
        "the prefetched 5.. is dropped: {:?}",
        offsets(&got)
    );
    let got = f.fetch().await.unwrap();
    assert_eq!(offsets(&got), [(0, vec![2, 3, 4])]);
    let got = f.fetch().await.unwrap();
    assert_eq!(offsets(&got), [(0, vec![5, 6, 7, 8, 9])]);
}

#[tokio::test]
async fn the_bytes_decompressed_in_one_fetch_stay_under_the_cap_and_nothing_is_skipped() {
    // 40 gzip batches of 4 records with 16 KiB values: a few KiB on the wire, 2.5 MiB
    // decompressed, all in every answer.
    let fake = Fake::start(1).await;
    let log = super::drain::tests::bombs(40);
    fake.on_fetch(move |_, _, _| Answer {
        error: 0,
        high_watermark: 160,
        records: log.clone(),
    });
    let cap = 256 << 10;
    let mut f = fake
        .fetcher(FetchConfig {
            max_decompressed_size: 128 << 10,
            max_decompressed_per_fetch: cap,
            ..quick()
        })
        .await;
    f.assign(TOPIC, 0, FetchPosition::Offset(0));
    let mut delivered = Vec::new();
    let mut fetches = 0;
    while delivered.len() < 160 && fetches < 100 {
        fetches += 1;
        let got = f.fetch().await.unwrap();
        let decoded: usize = got
            .iter()
            .flat_map(|p| &p.records)
            .map(|r| r.value.as_ref().map_or(0, |v| v.len()))
            .sum();
        assert!(decoded <= cap, "fetch {fetches}: {decoded} bytes decoded");
        delivered.extend(got.iter().flat_map(|p| p.records.iter().map(|r| r.offset)));
    }
    assert_eq!(delivered, (0..160).collect::<Vec<_>>());
    assert!(fetches >= 160 / 12, "{fetches} fetches");

    // A cap under one batch still lets one batch through per fetch.
    let mut f = fake
        .fetcher(FetchConfig {
            max_decompressed_size: 128 << 10,
            max_decompressed_per_fetch: 1,
            ..quick()
        })
        .await;
    f.assign(TOPIC, 0, FetchPosition::Offset(0));
    let got = f.fetch().await.unwrap();
    assert_eq!(offsets(&got), [(0, vec![0, 1, 2, 3])]);
}
