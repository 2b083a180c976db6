//! The mappings kept in a compacted Kafka topic (`--state kafka://HOST:PORT/TOPIC`),
//! shared by every `serve` instance pointed at it, as Kafka Connect keeps its
//! configuration: Kafka is the only coordination service.
//!
//! The topic has one partition (one total order of changes) and is compacted (the latest
//! record of each mapping is kept); it is created when absent. A record's key is the
//! mapping's UUID, its value the stored mapping as JSON, or null for a deletion. Every
//! instance reads the topic from the start and applies each record in log order, its own
//! writes included: a write is answered once this instance has read it back, so a Get
//! after a Create finds the mapping here, and every instance reaches the same state.
//! Concurrent updates through two instances are both written; the one later in the log
//! wins on every instance (whole documents, not fields). Each instance runs every
//! enabled mapping; the mapping's consumer group spreads its partitions across them.

use super::document::StoredMapping;
use super::registry::Registry;
use crate::kafka::client::admin::create_topic;
use crate::kafka::consumer::fetcher::{FetchConfig, FetchError, FetchPosition, Fetcher};
use crate::kafka::protocol::records::encode::ProduceRecord;
use crate::kafka::{Cluster, ClusterConfig, ClusterError, ConnectionConfig, ProduceError};
use crate::kafka::{Producer, ProducerConfig, Record};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, watch};
use uuid::Uuid;

/// How long a write may wait to be read back before it is reported as failed.
const READ_BACK: Duration = Duration::from_secs(30);

/// Why the state topic could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaStoreError {
    #[error("--state {0}: expected kafka://HOST:PORT[,HOST:PORT...]/TOPIC")]
    Uri(String),
    #[error("the state topic {topic}: {source}")]
    Cluster { topic: String, source: ClusterError },
    #[error("--state-access-configurations: {0}")]
    Access(String),
    #[error("the state topic's credentials: {0}")]
    Credentials(#[from] crate::access::AccessError),
    #[error("reading the state topic {topic}: {source}")]
    Fetch { topic: String, source: FetchError },
    #[error("writing to the state topic {topic}: {source}")]
    Produce { topic: String, source: ProduceError },
    #[error("the state topic {topic} was written but not read back within {READ_BACK:?}")]
    NotReadBack { topic: String },
}

/// The state topic: a producer for changes and a reader task applying them.
pub struct KafkaStore {
    topic: String,
    producer: Mutex<Producer>,
    /// Every offset below this one has been applied.
    applied: watch::Receiver<i64>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for KafkaStore {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// `kafka://b1:9092,b2:9092/topic` → bootstrap servers and topic.
pub fn parse_uri(uri: &str) -> Result<(Vec<String>, String), KafkaStoreError> {
    let bad = || KafkaStoreError::Uri(uri.to_string());
    let rest = uri.strip_prefix("kafka://").ok_or_else(bad)?;
    let (servers, topic) = rest.split_once('/').ok_or_else(bad)?;
    let servers: Vec<String> = servers.split(',').map(str::to_string).collect();
    if topic.is_empty()
        || servers.iter().any(|s| {
            s.rsplit_once(':')
                .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
        })
        || crate::config::check_topic(topic).is_err()
    {
        return Err(bad());
    }
    Ok((servers, topic.to_string()))
}

impl KafkaStore {
    /// Connects (with `access`: `SourceAccessConfigurations` as a mapping gives them, for
    /// TLS, SASL or mTLS to the state topic's brokers), creates the topic if absent, reads
    /// it to its end (applying every mapping to `registry`), and goes on following it.
    pub async fn open(
        uri: &str,
        access: Option<&serde_json::Value>,
        registry: Arc<Registry>,
    ) -> Result<KafkaStore, KafkaStoreError> {
        let (bootstrap, topic) = parse_uri(uri)?;
        let connection = connection(&bootstrap, &topic, access).await?;
        let cluster_err = |source| KafkaStoreError::Cluster {
            topic: topic.clone(),
            source,
        };
        let config = ClusterConfig {
            bootstrap,
            connection,
        };
        let cluster = Arc::new(Cluster::connect(config, &[]).await.map_err(cluster_err)?);
        let replication = cluster.brokers().len().min(3) as i16;
        if create_topic(
            &cluster,
            &topic,
            1,
            replication.max(1),
            &[("cleanup.policy", "compact")],
        )
        .await
        .map_err(cluster_err)?
        {
            tracing::info!(%topic, "created the state topic");
        }
        cluster
            .refresh(std::slice::from_ref(&topic))
            .await
            .map_err(cluster_err)?;
        let mut fetcher = Fetcher::new(cluster.clone(), FetchConfig::default());
        fetcher.assign(&topic, 0, FetchPosition::Earliest);
        // Read to the end before serving: every mapping stored is known (and started once,
        // with its latest version).
        let mut latest: BTreeMap<Uuid, Option<StoredMapping>> = BTreeMap::new();
        let mut position;
        loop {
            let deliveries = fetcher
                .fetch()
                .await
                .map_err(|source| KafkaStoreError::Fetch {
                    topic: topic.clone(),
                    source,
                })?;
            let done = deliveries.iter().all(|d| d.next_offset >= d.high_watermark);
            for d in deliveries {
                for r in &d.records {
                    if let Some((uuid, change)) = decode(r) {
                        latest.insert(uuid, change);
                    }
                }
            }
            position = fetcher.position(&topic, 0).unwrap_or(0);
            if done {
                break;
            }
        }
        for (uuid, change) in latest {
            apply(&registry, uuid, change, false);
        }
        let (applied_tx, applied) = watch::channel(position);
        let reader_topic = topic.clone();
        let reader = tokio::spawn(async move {
            loop {
                match fetcher.fetch().await {
                    Ok(deliveries) => {
                        for d in deliveries {
                            for r in &d.records {
                                if let Some((uuid, change)) = decode(r) {
                                    apply(&registry, uuid, change, true);
                                }
                            }
                            applied_tx.send_replace(d.next_offset);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(topic = %reader_topic, "reading the state topic: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        let producer = Producer::new(cluster, ProducerConfig::default());
        Ok(KafkaStore {
            topic,
            producer: Mutex::new(producer),
            applied,
            reader,
        })
    }

    /// Writes `stored` and waits until it is read back (and applied).
    pub async fn put(&self, stored: &StoredMapping) -> Result<(), KafkaStoreError> {
        let value = serde_json::to_vec(stored).expect("a stored mapping serializes");
        self.write(stored.uuid, Some(Bytes::from(value))).await
    }

    /// Writes the deletion of `uuid` (a tombstone) and waits until it is read back.
    pub async fn delete(&self, uuid: Uuid) -> Result<(), KafkaStoreError> {
        self.write(uuid, None).await
    }

    async fn write(&self, uuid: Uuid, value: Option<Bytes>) -> Result<(), KafkaStoreError> {
        let record = ProduceRecord {
            key: Some(Bytes::from(uuid.to_string())),
            value,
            headers: Vec::new(),
            timestamp: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        };
        let delivered = self
            .producer
            .lock()
            .await
            .send_to(&self.topic, 0, &[record])
            .await
            .map_err(|source| KafkaStoreError::Produce {
                topic: self.topic.clone(),
                source,
            })?;
        let offset = delivered.first().map_or(0, |d| d.offset);
        let mut applied = self.applied.clone();
        tokio::time::timeout(READ_BACK, applied.wait_for(|a| *a > offset))
            .await
            .ok()
            .and_then(Result::ok)
            .map(|_| ())
            .ok_or_else(|| KafkaStoreError::NotReadBack {
                topic: self.topic.clone(),
            })
    }
}

/// The connection settings for the state topic's brokers: `access` read exactly as a
/// mapping's `SourceAccessConfigurations` (the same validation, the same secrets).
async fn connection(
    bootstrap: &[String],
    topic: &str,
    access: Option<&serde_json::Value>,
) -> Result<ConnectionConfig, KafkaStoreError> {
    let base = ConnectionConfig {
        client_id: "kafka-esm-serve-state".into(),
        ..ConnectionConfig::default()
    };
    let Some(access) = access else {
        return Ok(base);
    };
    let doc = serde_json::json!({
        "FunctionName": "kafka-esm-serve-state",
        "Topics": [topic],
        "StartingPosition": "TRIM_HORIZON",
        "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": bootstrap}},
        "SourceAccessConfigurations": access,
    });
    let mapping =
        crate::config::from_document(&doc).map_err(|e| KafkaStoreError::Access(e.to_string()))?;
    Ok(
        crate::access::connection_config(&mapping, &crate::aws::AwsOptions::default(), base)
            .await?,
    )
}

/// A state record: the mapping's UUID and its new version, or `None` when deleted.
/// Records that are not ours (a bad key or value) are logged and skipped.
fn decode(record: &Record) -> Option<(Uuid, Option<StoredMapping>)> {
    let key = record.key.as_ref()?;
    let Some(uuid) = std::str::from_utf8(key)
        .ok()
        .and_then(|k| Uuid::parse_str(k).ok())
    else {
        tracing::warn!(
            offset = record.offset,
            "state topic: a record whose key is not a UUID, skipped"
        );
        return None;
    };
    match &record.value {
        None => Some((uuid, None)),
        Some(value) => match serde_json::from_slice::<StoredMapping>(value) {
            Ok(stored) if stored.uuid == uuid => Some((uuid, Some(stored))),
            Ok(_) => {
                tracing::warn!(offset = record.offset, %uuid, "state topic: key and value name different mappings, skipped");
                None
            }
            Err(e) => {
                tracing::warn!(offset = record.offset, %uuid, "state topic: not a stored mapping, skipped: {e}");
                None
            }
        },
    }
}

/// Applies one change to the registry (a mapping that no longer resolves is logged).
fn apply(registry: &Arc<Registry>, uuid: Uuid, change: Option<StoredMapping>, live: bool) {
    match change {
        None => registry.remove(uuid),
        Some(stored) => match stored.resolve(&registry.context().defaults) {
            Ok(mapping) => registry.put(stored, mapping),
            Err(e) => {
                tracing::error!(%uuid, live, "a stored mapping does not resolve, not run: {e}")
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::parse_uri;

    #[test]
    fn state_uris_name_servers_and_a_topic() {
        assert_eq!(
            parse_uri("kafka://b1:9092,b2:9093/esm-state").unwrap(),
            (
                vec!["b1:9092".to_string(), "b2:9093".to_string()],
                "esm-state".to_string()
            )
        );
        for bad in [
            "kafka://b1:9092",
            "kafka://b1/t",
            "http://b1:9092/t",
            "kafka://b1:9092/",
            "kafka://:1/t",
            "kafka://b:1/bad topic",
        ] {
            assert!(parse_uri(bad).is_err(), "{bad}");
        }
    }
}
