//! The fetcher against both rig brokers (nisshi and librdkafka's mock cluster): records
//! the reference client produced come back byte-identical, in order, none twice, none
//! missing; symbolic positions agree with the reference client; pause, resume, offset
//! resets and a broker restart lose and duplicate nothing.

mod common;

use common::{both_brokers as brokers, cluster, trace};
use kafka_esm::kafka::client::conn::ConnectionConfig;
use kafka_esm::kafka::consumer::fetcher::{
    FetchConfig, FetchError, FetchPosition, Fetcher, OffsetReset, PartitionRecords,
};
use kafka_esm_rig::{Broker, Compression, Delivered, MockCluster, Record, unique_name};
use std::collections::BTreeMap;
use std::time::Duration;

const PARTITIONS: i32 = MockCluster::PARTITIONS;

fn config() -> FetchConfig {
    FetchConfig {
        max_wait: Duration::from_millis(200),
        ..FetchConfig::default()
    }
}

/// Record `i` of a test: keys, values and headers of every shape, sizes up to ~2 KiB.
fn record(i: usize, partition: i32) -> Record {
    let mut r = Record::new(
        (!i.is_multiple_of(4))
            .then(|| format!("key-{i}").into_bytes())
            .as_deref(),
        (!i.is_multiple_of(7))
            .then(|| vec![i as u8; i * 37 % 2100])
            .as_deref(),
    );
    if i.is_multiple_of(3) {
        r = r.header("h", Some(&[0xc3, 0xab])).header("null", None);
    }
    r.partition = Some(partition);
    r.timestamp = Some(1_700_000_000_000 + i as i64);
    r
}

/// What was produced, by (partition, offset).
type Sent = BTreeMap<(i32, i64), Record>;

fn produce(broker: &dyn Broker, topic: &str, records: &[Record], codec: Compression) -> Sent {
    let delivered: Vec<Delivered> =
        tokio::task::block_in_place(|| broker.refclient().produce(topic, records, codec))
            .unwrap_or_else(|e| panic!("{} produce: {e}", broker.kind()));
    delivered
        .iter()
        .zip(records)
        .map(|(d, r)| {
            let mut r = r.clone();
            r.timestamp.get_or_insert(d.timestamp);
            ((d.partition, d.offset), r)
        })
        .collect()
}

/// Everything delivered, per partition, checked on arrival: offsets strictly increase
/// within a partition (in order, none twice) and `next_offset` follows the last record.
#[derive(Default)]
struct Received {
    by_partition: BTreeMap<i32, Vec<kafka_esm::kafka::protocol::records::Record>>,
}

impl Received {
    fn add(&mut self, what: &str, batch: Vec<PartitionRecords>) {
        for p in batch {
            let got = self.by_partition.entry(p.partition).or_default();
            for r in &p.records {
                if let Some(last) = got.last() {
                    assert!(
                        r.offset > last.offset,
                        "{what}: partition {} offset {} after {}",
                        p.partition,
                        r.offset,
                        last.offset
                    );
                }
                assert!(r.offset < p.next_offset, "{what}");
                got.push(r.clone());
            }
            assert!(p.high_watermark >= p.next_offset, "{what}");
        }
    }

    fn count(&self) -> usize {
        self.by_partition.values().map(Vec::len).sum()
    }

    /// Exactly `sent`, byte for byte.
    fn assert_matches(&self, what: &str, sent: &Sent) {
        let got: Vec<(i32, i64)> = self
            .by_partition
            .iter()
            .flat_map(|(p, rs)| rs.iter().map(move |r| (*p, r.offset)))
            .collect();
        let want: Vec<(i32, i64)> = sent.keys().copied().collect();
        assert_eq!(got, want, "{what}: offsets delivered");
        for (p, records) in &self.by_partition {
            for r in records {
                let s = &sent[&(*p, r.offset)];
                let at = format!("{what}: partition {p} offset {}", r.offset);
                common::assert_record_is(r, s, &at);
            }
        }
    }
}

/// Fetches until `want` records arrived (then once more, to catch extras), or panics
/// after `calls` calls.
async fn fetch_until(
    fetcher: &mut Fetcher,
    received: &mut Received,
    want: usize,
    calls: usize,
    what: &str,
) {
    for _ in 0..calls {
        if received.count() >= want {
            break;
        }
        let batch = fetcher
            .fetch()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        received.add(what, batch);
    }
    assert!(
        received.count() >= want,
        "{what}: {} of {want} records after {calls} fetches",
        received.count()
    );
    let extra = fetcher.fetch().await.unwrap();
    received.add(what, extra);
}

/// Every codec, four partitions, several fetcher configurations: sessions on and off,
/// prefetch, and a partition limit far below the batch sizes (KIP-74 growth).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_every_codec_come_back_byte_identical_in_order_once() {
    for broker in brokers().await {
        let topic = unique_name("fetcher-codecs");
        tokio::task::block_in_place(|| broker.create_topic(&topic, PARTITIONS)).unwrap();
        let mut sent = Sent::new();
        for (c, codec) in Compression::ALL.into_iter().enumerate() {
            let records: Vec<Record> = (0..40)
                .map(|i| record(c * 40 + i, (i % PARTITIONS as usize) as i32))
                .collect();
            sent.extend(produce(&*broker, &topic, &records, codec));
        }
        let cluster = cluster(&*broker, &topic).await;
        let configs = [
            ("default", config()),
            (
                "no sessions",
                FetchConfig {
                    sessions: false,
                    ..config()
                },
            ),
            (
                "prefetch",
                FetchConfig {
                    prefetch: true,
                    ..config()
                },
            ),
            (
                "tiny partition limit",
                FetchConfig {
                    max_partition_bytes: 512,
                    max_bytes: 64 * 1024,
                    ..config()
                },
            ),
        ];
        for (name, config) in configs {
            let what = format!("{} {name}", broker.kind());
            let mut fetcher = Fetcher::new(cluster.clone(), config);
            for p in 0..PARTITIONS {
                fetcher.assign(&topic, p, FetchPosition::Offset(0));
            }
            let mut received = Received::default();
            fetch_until(&mut fetcher, &mut received, sent.len(), 200, &what).await;
            received.assert_matches(&what, &sent);
            for p in 0..PARTITIONS {
                let end = sent
                    .range((p, 0)..(p + 1, 0))
                    .next_back()
                    .map_or(0, |(k, _)| k.1 + 1);
                assert_eq!(
                    fetcher.position(&topic, p),
                    Some(end),
                    "{what} partition {p}"
                );
            }
        }
    }
}

/// Earliest, Latest and Timestamp resolve to what the reference client lists, and
/// fetching from them delivers from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symbolic_positions_agree_with_the_reference_client() {
    for broker in brokers().await {
        let topic = unique_name("fetcher-positions");
        tokio::task::block_in_place(|| broker.create_topic(&topic, PARTITIONS)).unwrap();
        let records: Vec<Record> = (0..24)
            .map(|i| {
                let mut r = record(i, (i % PARTITIONS as usize) as i32);
                r.timestamp = Some(1_700_000_000_000 + 1000 * i as i64);
                r
            })
            .collect();
        let sent = produce(&*broker, &topic, &records, Compression::None);
        // Between the 3rd and 4th record of each partition; then after every record.
        let probe = 1_700_000_000_000 + 1000 * 10 + 500;
        let beyond = 1_700_000_000_000 + 1000 * 100;
        let (reference, reference_beyond) = tokio::task::block_in_place(|| {
            let rc = broker.refclient();
            Ok::<_, anyhow::Error>((
                rc.list_offsets(&topic, Some(probe))?,
                rc.list_offsets(&topic, Some(beyond))?,
            ))
        })
        .unwrap();
        let cluster = cluster(&*broker, &topic).await;
        let mut positions = vec![
            (FetchPosition::Earliest, "earliest"),
            (FetchPosition::Latest, "latest"),
        ];
        if broker.lists_offsets_by_timestamp() {
            positions.push((FetchPosition::Timestamp(probe), "timestamp"));
            positions.push((FetchPosition::Timestamp(beyond), "beyond"));
        }
        for (position, name) in positions {
            let what = format!("{} {name}", broker.kind());
            let mut fetcher = Fetcher::new(cluster.clone(), config());
            for p in 0..PARTITIONS {
                fetcher.assign(&topic, p, position);
                assert_eq!(
                    fetcher.position(&topic, p),
                    None,
                    "{what}: not resolved yet"
                );
            }
            let mut received = Received::default();
            let batch = fetcher.fetch().await.unwrap();
            received.add(&what, batch);
            let mut want = Sent::new();
            for p in 0..PARTITIONS {
                let r = &reference[&p];
                let start = match name {
                    "earliest" => r.earliest,
                    "latest" => r.latest,
                    "timestamp" => r.by_timestamp.unwrap(),
                    _ => {
                        // No record that late: the end of the log, as the reference
                        // client's -1 ("none") leads AWS to.
                        assert_eq!(reference_beyond[&p].by_timestamp, Some(-1), "{what}");
                        r.latest
                    }
                };
                let first = received.by_partition.get(&p).and_then(|rs| rs.first());
                let at = fetcher.position(&topic, p).unwrap();
                assert!(
                    first.map_or(at == start, |f| f.offset == start),
                    "{what} partition {p}: starts at {:?}/{at}, reference says {start}",
                    first.map(|f| f.offset)
                );
                want.extend(
                    sent.range((p, start)..(p + 1, 0))
                        .map(|(k, v)| (*k, v.clone())),
                );
            }
            fetch_until(&mut fetcher, &mut received, want.len(), 20, &what).await;
            received.assert_matches(&what, &want);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_delivers_only_what_is_produced_after_it() {
    for broker in brokers().await {
        let topic = unique_name("fetcher-latest");
        tokio::task::block_in_place(|| broker.create_topic(&topic, PARTITIONS)).unwrap();
        let old: Vec<Record> = (0..8).map(|i| record(i, i as i32 % PARTITIONS)).collect();
        produce(&*broker, &topic, &old, Compression::Lz4);
        let cluster = cluster(&*broker, &topic).await;
        let mut fetcher = Fetcher::new(cluster, config());
        for p in 0..PARTITIONS {
            fetcher.assign(&topic, p, FetchPosition::Latest);
        }
        let what = broker.kind();
        let mut received = Received::default();
        let batch = fetcher.fetch().await.unwrap();
        received.add(what, batch);
        assert_eq!(received.count(), 0, "{what}");
        for p in 0..PARTITIONS {
            assert_eq!(fetcher.position(&topic, p), Some(2), "{what}");
        }
        let new: Vec<Record> = (8..20).map(|i| record(i, i as i32 % PARTITIONS)).collect();
        let sent = produce(&*broker, &topic, &new, Compression::Zstd);
        fetch_until(&mut fetcher, &mut received, sent.len(), 20, what).await;
        received.assert_matches(what, &sent);
    }
}

/// Fetches until partition 1 has `want` records, checking that paused partition 0
/// delivers nothing.
async fn fetch_around_paused(
    fetcher: &mut Fetcher,
    received: &mut Received,
    want: usize,
    what: &str,
) {
    for _ in 0..50 {
        if received.by_partition.get(&1).map_or(0, Vec::len) >= want {
            return;
        }
        let batch = fetcher.fetch().await.unwrap();
        assert!(
            batch.iter().all(|p| p.partition != 0),
            "{what}: the paused partition delivered"
        );
        received.add(what, batch);
    }
    panic!("{what}: partition 1 never got {want} records");
}

/// Fetches until partition 0 delivers; returns the offset it starts at.
async fn first_of_partition_0(fetcher: &mut Fetcher, received: &mut Received, what: &str) -> i64 {
    for _ in 0..50 {
        let batch = fetcher.fetch().await.unwrap();
        let first = batch
            .iter()
            .find(|p| p.partition == 0)
            .and_then(|p| p.records.first())
            .map(|r| r.offset);
        received.add(what, batch);
        if let Some(first) = first {
            return first;
        }
    }
    panic!("{what}: partition 0 never delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_a_partition_and_resume_restarts_it_at_the_same_offset() {
    for broker in brokers().await {
        let topic = unique_name("fetcher-pause");
        tokio::task::block_in_place(|| broker.create_topic(&topic, PARTITIONS)).unwrap();
        let records: Vec<Record> = (0..30).map(|i| record(i, i as i32 % 2)).collect();
        let mut sent = produce(&*broker, &topic, &records, Compression::Snappy);
        let cluster = cluster(&*broker, &topic).await;
        for prefetch in [false, true] {
            let what = format!("{} prefetch {prefetch}", broker.kind());
            let mut fetcher = Fetcher::new(
                cluster.clone(),
                FetchConfig {
                    prefetch,
                    ..config()
                },
            );
            fetcher.assign(&topic, 0, FetchPosition::Offset(0));
            fetcher.assign(&topic, 1, FetchPosition::Offset(0));
            let mut received = Received::default();
            // Paused from the start.
            fetcher.pause(&topic, 0);
            assert!(fetcher.is_paused(&topic, 0));
            let have = received.count();
            fetch_around_paused(&mut fetcher, &mut received, 15, &what).await;
            assert!(received.count() > have);
            assert_eq!(fetcher.position(&topic, 0), Some(0), "{what}");
            fetcher.resume(&topic, 0);
            let first = first_of_partition_0(&mut fetcher, &mut received, &what).await;
            assert_eq!(first, 0, "{what}: resumed at the paused offset");
            fetch_until(&mut fetcher, &mut received, sent.len(), 50, &what).await;
            received.assert_matches(&what, &sent);

            // Paused half-way through the log, while (with prefetch) a request for it
            // is out: what comes back for it is dropped, and fetched again on resume.
            fetcher.pause(&topic, 0);
            let at = fetcher.position(&topic, 0).unwrap();
            let more: Vec<Record> = (0..20).map(|i| record(100 + i, i as i32 % 2)).collect();
            sent.extend(produce(&*broker, &topic, &more, Compression::None));
            let want = sent.keys().filter(|(p, _)| *p == 1).count();
            fetch_around_paused(&mut fetcher, &mut received, want, &what).await;
            for _ in 0..2 {
                let batch = fetcher.fetch().await.unwrap();
                assert!(batch.iter().all(|p| p.partition != 0), "{what}");
                received.add(&what, batch);
            }
            assert_eq!(fetcher.position(&topic, 0), Some(at), "{what}");
            // All paused: a call waits about max_wait and returns nothing.
            fetcher.pause(&topic, 1);
            assert!(fetcher.fetch().await.unwrap().is_empty(), "{what}");
            let started = std::time::Instant::now();
            assert!(fetcher.fetch().await.unwrap().is_empty(), "{what}");
            assert!(started.elapsed() >= Duration::from_millis(150), "{what}");
            fetcher.resume(&topic, 0);
            fetcher.resume(&topic, 1);
            let first = first_of_partition_0(&mut fetcher, &mut received, &what).await;
            assert_eq!(first, at, "{what}: resumed at the paused offset");
            fetch_until(&mut fetcher, &mut received, sent.len(), 50, &what).await;
            received.assert_matches(&what, &sent);
        }
    }
}

/// DeleteRecords (nisshi only: the mock cluster has no DeleteRecords): moves the log
/// start of `topic`/`partition` to `before`, as retention would.
async fn delete_records(broker: &dyn Broker, topic: &str, partition: i32, before: i64) {
    use kafka_esm::kafka::client::conn::Connection;
    use kafka_protocol::messages::delete_records_request::{
        DeleteRecordsPartition, DeleteRecordsTopic,
    };
    use kafka_protocol::messages::{
        ApiKey, DeleteRecordsRequest, DeleteRecordsResponse, TopicName,
    };
    use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
    let conn = Connection::connect(&broker.bootstrap(), ConnectionConfig::default())
        .await
        .unwrap();
    let (_, max) = conn
        .versions()
        .range(ApiKey::DeleteRecords as i16)
        .expect("DeleteRecords");
    let version = max.min(2);
    let request = DeleteRecordsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            DeleteRecordsTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![
                    DeleteRecordsPartition::default()
                        .with_partition_index(partition)
                        .with_offset(before),
                ]),
        ]);
    let mut body = conn
        .request_with(
            ApiKey::DeleteRecords,
            version,
            DeleteRecordsRequest::header_version(version),
            DeleteRecordsResponse::header_version(version),
            |buf| request.encode(buf, version).map_err(|e| e.to_string()),
        )
        .await
        .unwrap();
    let response = DeleteRecordsResponse::decode(&mut body, version).unwrap();
    let p = &response.topics[0].partitions[0];
    assert_eq!(
        (p.error_code, p.low_watermark),
        (0, before),
        "DeleteRecords"
    );
}

/// OFFSET_OUT_OF_RANGE: below the log start (nisshi, after DeleteRecords) or past the
/// end (the mock cluster; nisshi answers a fetch past the end with no records and no
/// error, as if waiting for them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_resets_by_policy_or_names_the_partition() {
    for broker in brokers().await {
        let topic = unique_name("fetcher-range");
        tokio::task::block_in_place(|| broker.create_topic(&topic, PARTITIONS)).unwrap();
        let records: Vec<Record> = (0..10).map(|i| record(i, 3)).collect();
        let mut sent = produce(&*broker, &topic, &records, Compression::Gzip);
        let (bad, start) = if broker.kind() == "nisshi" {
            delete_records(&*broker, &topic, 3, 4).await;
            sent.retain(|(_, offset), _| *offset >= 4);
            (1, 4)
        } else {
            (1000, 0)
        };
        let reference =
            tokio::task::block_in_place(|| broker.refclient().list_offsets(&topic, None)).unwrap();
        assert_eq!(reference[&3].earliest, start);
        let cluster = cluster(&*broker, &topic).await;
        let what = broker.kind();
        let fetcher_with = |reset| {
            Fetcher::new(
                cluster.clone(),
                FetchConfig {
                    offset_reset: reset,
                    ..config()
                },
            )
        };

        // Earliest agrees with the reference client, deleted records or not.
        let mut fetcher = fetcher_with(OffsetReset::None);
        fetcher.assign(&topic, 3, FetchPosition::Earliest);
        let mut received = Received::default();
        fetch_until(&mut fetcher, &mut received, sent.len(), 20, what).await;
        received.assert_matches(what, &sent);

        let mut fetcher = fetcher_with(OffsetReset::Earliest);
        fetcher.assign(&topic, 3, FetchPosition::Offset(bad));
        let mut received = Received::default();
        fetch_until(&mut fetcher, &mut received, sent.len(), 20, what).await;
        received.assert_matches(what, &sent);
        // The reset is reported: forward past deleted records on nisshi, backward from
        // past the end of the log on the mock cluster.
        let resets: Vec<(i32, i64, i64)> = fetcher
            .take_resets()
            .into_iter()
            .map(|r| (r.partition, r.from, r.to))
            .collect();
        assert_eq!(resets, [(3, bad, start)], "{what}");

        let mut fetcher = fetcher_with(OffsetReset::Latest);
        fetcher.assign(&topic, 3, FetchPosition::Offset(bad));
        for _ in 0..3 {
            assert!(fetcher.fetch().await.unwrap().is_empty(), "{what}");
        }
        assert_eq!(
            fetcher.position(&topic, 3),
            Some(10),
            "{what}: reset to latest"
        );

        let mut fetcher = fetcher_with(OffsetReset::None);
        fetcher.assign(&topic, 3, FetchPosition::Offset(bad));
        fetcher.assign(&topic, 1, FetchPosition::Offset(0));
        for _ in 0..2 {
            let err = fetcher.fetch().await.unwrap_err();
            assert!(
                matches!(
                    &err,
                    FetchError::OffsetOutOfRange { topic: t, partition: 3, offset }
                        if *t == topic && *offset == bad
                ),
                "{what}: {err}"
            );
            assert_eq!(err.partition(), Some((topic.as_str(), 3)));
            assert!(err.to_string().contains(&topic), "{err}");
        }
        // The caller moves the partition; fetching goes on.
        fetcher.assign(&topic, 3, FetchPosition::Earliest);
        let mut received = Received::default();
        fetch_until(&mut fetcher, &mut received, sent.len(), 20, what).await;
        received.assert_matches(what, &sent);
    }
}

/// A sqlite-backed nisshi killed and restarted mid-consumption: calls made while it is
/// down return nothing (no error), and afterwards every record arrives exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_loses_and_duplicates_nothing() {
    trace();
    let mut broker = common::sqlite_nisshi().await;
    let topic = unique_name("fetcher-restart");
    tokio::task::block_in_place(|| broker.create_topic(&topic, 3)).unwrap();
    // The producer's clock: nisshi applies time retention when it starts, and records
    // stamped in 2023 would be gone after the restart.
    let now = |mut r: Record| {
        r.timestamp = None;
        r
    };
    let first: Vec<Record> = (0..60).map(|i| now(record(i, i as i32 % 3))).collect();
    let mut sent = produce(&broker, &topic, &first, Compression::None);
    let cluster = cluster(&broker, &topic).await;
    for prefetch in [false, true] {
        let what = format!("restart, prefetch {prefetch}");
        let mut fetcher = Fetcher::new(
            cluster.clone(),
            FetchConfig {
                prefetch,
                max_partition_bytes: 4096,
                ..config()
            },
        );
        for p in 0..3 {
            fetcher.assign(&topic, p, FetchPosition::Earliest);
        }
        let mut received = Received::default();
        // Part of the way through (at least one partition, likely not all).
        for _ in 0..2 {
            let batch = fetcher.fetch().await.unwrap();
            received.add(&what, batch);
        }
        assert!(received.count() > 0, "{what}: nothing before the restart");
        tokio::task::block_in_place(|| broker.kill());
        for _ in 0..4 {
            let batch = fetcher
                .fetch()
                .await
                .unwrap_or_else(|e| panic!("{what}: broker down: {e}"));
            received.add(&what, batch);
        }
        tokio::task::block_in_place(|| broker.restart()).unwrap();
        let more: Vec<Record> = (0..30)
            .map(|i| now(record(1000 + i, i as i32 % 3)))
            .collect();
        sent.extend(produce(&broker, &topic, &more, Compression::Snappy));
        fetch_until(&mut fetcher, &mut received, sent.len(), 100, &what).await;
        received.assert_matches(&what, &sent);
    }
}

/// A cluster talked to as if it were Kafka 0.10 (Fetch v1–v3, which we encode
/// ourselves): every codec still comes back byte-identical, in order, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_v1_to_v3_for_pre_0_11_brokers_reads_the_same_records() {
    use kafka_esm::kafka::client::cluster::{Cluster, ClusterConfig};
    use kafka_protocol::messages::ApiKey;
    for broker in brokers().await {
        let topic = unique_name("fetcher-legacy");
        tokio::task::block_in_place(|| broker.create_topic(&topic, PARTITIONS)).unwrap();
        let mut sent = Sent::new();
        for (c, codec) in Compression::ALL.into_iter().enumerate() {
            let records: Vec<Record> = (0..20)
                .map(|i| record(c * 20 + i, (i % PARTITIONS as usize) as i32))
                .collect();
            sent.extend(produce(&*broker, &topic, &records, codec));
        }
        for version in [3, 1] {
            let what = format!("{} Fetch v{version}", broker.kind());
            let cluster = Cluster::connect(
                ClusterConfig {
                    bootstrap: broker.bootstrap().split(',').map(str::to_string).collect(),
                    connection: ConnectionConfig {
                        version_caps: vec![(ApiKey::Fetch, version)],
                        ..ConnectionConfig::default()
                    },
                },
                std::slice::from_ref(&topic),
            )
            .await
            .unwrap();
            let conn = cluster.broker(cluster.brokers()[0]).await.unwrap();
            assert_eq!(
                conn.versions().range(ApiKey::Fetch as i16).map(|r| r.1),
                Some(version),
                "{what}: the cap holds"
            );
            let mut fetcher = Fetcher::new(std::sync::Arc::new(cluster), config());
            for p in 0..PARTITIONS {
                fetcher.assign(&topic, p, FetchPosition::Offset(0));
            }
            let mut received = Received::default();
            fetch_until(&mut fetcher, &mut received, sent.len(), 200, &what).await;
            received.assert_matches(&what, &sent);
        }
    }
}
