//! Our producer against both rig brokers, checked by the reference client: what we write
//! (every codec, headers with repeated keys, null keys and values) is what it reads;
//! keyed records land on the partitions its murmur2 producer picks; null keys go round
//! robin; a broker restart in the middle loses nothing and writes nothing twice.

use bytes::Bytes;
mod common;

use common::{both_brokers as brokers, trace};
use kafka_esm::kafka::client::cluster::Cluster;
use kafka_esm::kafka::producer::{Producer, ProducerConfig};
use kafka_esm::kafka::protocol::records::Compression as Codec;
use kafka_esm::kafka::protocol::records::encode::ProduceRecord;
use kafka_esm_rig::{Broker, Compression, MockCluster, Record, unique_name};
use std::collections::BTreeMap;
use std::sync::Arc;

const PARTITIONS: i32 = MockCluster::PARTITIONS;

/// Creates `topic` and connects our cluster client to it.
async fn cluster(broker: &dyn Broker, topic: &str) -> Arc<Cluster> {
    tokio::task::block_in_place(|| broker.create_topic(topic, PARTITIONS)).unwrap();
    common::cluster(broker, topic).await
}

/// Record `i`: null keys and values now and then, repeated header keys, binary bytes.
fn record(i: usize) -> ProduceRecord {
    let b = |s: String| Some(Bytes::from(s));
    ProduceRecord {
        key: if i.is_multiple_of(4) {
            None
        } else {
            b(format!("key-{i}"))
        },
        value: if i.is_multiple_of(7) {
            None
        } else {
            Some(Bytes::from(vec![(i % 251) as u8; i * 13 % 700]))
        },
        headers: if i.is_multiple_of(3) {
            vec![
                (
                    Bytes::from_static(b"h"),
                    Some(Bytes::from_static(&[0xc3, 0xab])),
                ),
                (Bytes::from_static(b"h"), None),
                (Bytes::from_static(b"trace"), b(format!("t{i}"))),
            ]
        } else {
            Vec::new()
        },
        timestamp: 1_700_000_000_000 + i as i64,
    }
}

fn codec(c: Compression) -> Codec {
    match c {
        Compression::None => Codec::None,
        Compression::Gzip => Codec::Gzip,
        Compression::Snappy => Codec::Snappy,
        Compression::Lz4 => Codec::Lz4,
        Compression::Zstd => Codec::Zstd,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_we_produce_the_reference_consumer_reads_byte_identical() {
    for broker in brokers().await {
        for compression in Compression::ALL {
            let what = format!("{} {}", broker.kind(), compression.name());
            let topic = unique_name("produce");
            let c = cluster(&*broker, &topic).await;
            let mut producer = Producer::new(
                c,
                ProducerConfig {
                    compression: codec(compression),
                    ..ProducerConfig::default()
                },
            );
            let records: Vec<ProduceRecord> = (0..40).map(record).collect();
            let deliveries = producer
                .send(&topic, &records)
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let sent: BTreeMap<(i32, i64), &ProduceRecord> = deliveries
                .iter()
                .zip(&records)
                .map(|(d, r)| ((d.partition, d.offset), r))
                .collect();
            assert_eq!(sent.len(), records.len(), "{what}: distinct offsets");

            let group = unique_name("check");
            let consumed = tokio::task::block_in_place(|| {
                broker
                    .refclient()
                    .consume(&topic, &group, records.len(), false)
            })
            .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(consumed.len(), records.len(), "{what}");
            for c in consumed {
                let at = format!("{what}: partition {} offset {}", c.partition, c.offset);
                let r = sent
                    .get(&(c.partition, c.offset))
                    .unwrap_or_else(|| panic!("{at}: not one of ours"));
                assert_eq!(c.key.as_deref(), r.key.as_deref(), "{at} key");
                assert_eq!(c.value.as_deref(), r.value.as_deref(), "{at} value");
                assert_eq!(c.timestamp, r.timestamp, "{at} timestamp");
                let headers: Vec<(String, Option<Vec<u8>>)> = r
                    .headers
                    .iter()
                    .map(|(k, v)| {
                        (
                            String::from_utf8(k.to_vec()).unwrap(),
                            v.as_ref().map(|v| v.to_vec()),
                        )
                    })
                    .collect();
                assert_eq!(c.headers, headers, "{at} headers");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_land_where_the_reference_producer_puts_them() {
    for broker in brokers().await {
        let what = broker.kind();
        let topic = unique_name("produce-keys");
        let c = cluster(&*broker, &topic).await;
        let keys: Vec<String> = (0..200).map(|i| format!("customer-{i}")).collect();
        let theirs: Vec<Record> = keys
            .iter()
            .map(|k| Record::new(Some(k.as_bytes()), Some(b"ref")))
            .collect();
        let reference = tokio::task::block_in_place(|| {
            broker
                .refclient()
                .with("partitioner", "murmur2_random")
                .produce(&topic, &theirs, Compression::None)
        })
        .unwrap();

        let mut producer = Producer::new(c, ProducerConfig::default());
        let ours: Vec<ProduceRecord> = keys
            .iter()
            .map(|k| ProduceRecord {
                key: Some(Bytes::from(k.clone())),
                value: Some(Bytes::from_static(b"ours")),
                ..ProduceRecord::default()
            })
            .collect();
        let deliveries = producer.send(&topic, &ours).await.unwrap();
        let ours: Vec<i32> = deliveries.iter().map(|d| d.partition).collect();
        let theirs: Vec<i32> = reference.iter().map(|d| d.partition).collect();
        assert_eq!(ours, theirs, "{what}");
        let used: std::collections::BTreeSet<i32> = ours.iter().copied().collect();
        assert_eq!(
            used.len(),
            PARTITIONS as usize,
            "{what}: keys spread over all"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_keys_go_round_robin_and_idempotence_is_on_where_allowed() {
    for broker in brokers().await {
        let what = broker.kind();
        let topic = unique_name("produce-rr");
        let c = cluster(&*broker, &topic).await;
        let mut producer = Producer::new(c, ProducerConfig::default());
        let records = vec![
            ProduceRecord {
                value: Some(Bytes::from_static(b"v")),
                ..ProduceRecord::default()
            };
            10
        ];
        let first = producer.send(&topic, &records).await.unwrap();
        let partitions: Vec<i32> = first.iter().map(|d| d.partition).collect();
        assert_eq!(partitions, [0, 1, 2, 3, 0, 1, 2, 3, 0, 1], "{what}");
        // The counter carries on across calls; offsets follow on within a partition.
        let second = producer.send(&topic, &records[..2]).await.unwrap();
        assert_eq!(
            second.iter().map(|d| d.partition).collect::<Vec<_>>(),
            [2, 3],
            "{what}"
        );
        assert_eq!(second[0].offset, 2, "{what}: partition 2 had 2 records");
        assert!(producer.is_idempotent(), "{what}: InitProducerId worked");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_between_sends_loses_and_duplicates_nothing() {
    trace();
    let mut broker = common::sqlite_nisshi().await;
    let topic = unique_name("produce-restart");
    let c = cluster(&broker, &topic).await;
    let mut producer = Producer::new(c, ProducerConfig::default());
    // The current time: nisshi applies time retention on restart.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let batch = |round: usize| -> Vec<ProduceRecord> {
        (0..20)
            .map(|i| ProduceRecord {
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(format!("round {round} record {i}"))),
                timestamp: now,
                ..ProduceRecord::default()
            })
            .collect()
    };
    producer.send(&topic, &batch(0)).await.unwrap();
    tokio::task::block_in_place(|| {
        broker.kill();
        broker.restart()
    })
    .unwrap();
    producer.send(&topic, &batch(1)).await.unwrap();

    let consumed = tokio::task::block_in_place(|| {
        broker
            .refclient()
            .consume(&topic, &unique_name("check"), 40, false)
    })
    .unwrap();
    let mut values: Vec<String> = consumed
        .iter()
        .map(|c| String::from_utf8(c.value.clone().unwrap()).unwrap())
        .collect();
    values.sort();
    let mut want: Vec<String> = (0..2)
        .flat_map(|round| (0..20).map(move |i| format!("round {round} record {i}")))
        .collect();
    want.sort();
    assert_eq!(values, want);
}
