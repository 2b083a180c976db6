//! A small producer: records to a topic's partitions, acknowledged by all in-sync
//! replicas (or the leader alone), idempotent where the cluster allows it.
//!
//! Records are placed by the Java producer's partitioner (murmur2 of the key, round
//! robin without one), batched one batch per partition per call, and sent in one Produce
//! request per leader, concurrently. A leader move, a dead connection or another
//! retriable error refreshes metadata and sends the *same* batch again: with
//! idempotence (InitProducerId, then a sequence number per partition) the broker drops
//! a batch it already appended, so a retry never writes twice. A call returns only when
//! every record was acknowledged, or with an error naming the partition; records of
//! other partitions may have been written then (at least once, never lost silently).
//!
//! One call at a time (`&mut self`) keeps per-partition order. It is what the
//! `kafka://` destination and the tests need, not a high-throughput pipeline.

use crate::kafka::TopicPartition;
use crate::kafka::client::cluster::{Cluster, ClusterError, KafkaCode};
use crate::kafka::client::conn::{ConnError, Connection};
use crate::kafka::producer::partitioner::DefaultPartitioner;
use crate::kafka::protocol::DecodeError;
use crate::kafka::protocol::messages::{init_producer_id, produce};
use crate::kafka::protocol::records::Compression;
use crate::kafka::protocol::records::encode::{
    BatchHeader, EncodeError, ProduceRecord, encode_batch,
};
use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// Who must have the records before the broker answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acks {
    /// Every in-sync replica (`acks=all`, -1).
    All,
    /// The leader only (`acks=1`).
    Leader,
}

/// How a [`Producer`] produces.
#[derive(Clone, Debug)]
pub struct ProducerConfig {
    pub acks: Acks,
    /// Ask for a producer id and number batches, so retries can't duplicate records.
    /// Falls back to plain producing (with a warning) when the cluster refuses.
    pub idempotent: bool,
    pub compression: Compression,
    /// How long the broker may wait for replication before answering.
    pub timeout: Duration,
    /// Attempts per batch before its error is returned.
    pub attempts: u32,
    pub retry_backoff: Duration,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            acks: Acks::All,
            idempotent: true,
            compression: Compression::None,
            timeout: Duration::from_secs(30),
            attempts: 10,
            retry_backoff: Duration::from_millis(100),
        }
    }
}

/// Where a record was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub partition: i32,
    pub offset: i64,
}

/// Why records were not (all) written.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("topic {topic} has no partitions in the cluster's metadata")]
    NoPartitions { topic: String },
    #[error("topic {topic} partition {partition}: Produce answered {code}{}", .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kafka {
        topic: String,
        partition: i32,
        code: KafkaCode,
        message: Option<String>,
    },
    #[error("topic {topic} partition {partition}: the Produce answer has no result for it")]
    Missing { topic: String, partition: i32 },
    #[error("{api:?} answer from {broker}: {source}")]
    Decode {
        broker: String,
        api: ApiKey,
        source: DecodeError,
    },
    #[error("InitProducerId answered {code}")]
    InitProducerId { code: KafkaCode },
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

impl From<ConnError> for ProduceError {
    fn from(e: ConnError) -> Self {
        ProduceError::Cluster(ClusterError::Conn(e))
    }
}

impl ProduceError {
    /// Whether sending again later may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            ProduceError::Cluster(e) => e.is_retriable(),
            ProduceError::Kafka { code, .. } => code.is_retriable(),
            ProduceError::InitProducerId { code } => code.is_retriable(),
            ProduceError::Missing { .. } | ProduceError::NoPartitions { .. } => true,
            ProduceError::Decode { .. } | ProduceError::Encode(_) => false,
        }
    }
}

/// Kafka error codes the producer reacts to.
mod code {
    /// The broker already has this batch (an idempotent retry): it was written.
    pub const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;
}

/// The producer id and epoch batches are numbered under.
#[derive(Clone, Copy, Debug)]
struct Identity {
    id: i64,
    epoch: i16,
}

/// A producer over a shared [`Cluster`]. See the module docs.
pub struct Producer {
    cluster: Arc<Cluster>,
    config: ProducerConfig,
    partitioner: DefaultPartitioner,
    /// None: not idempotent (not asked for, refused, or to be asked again).
    identity: Option<Identity>,
    /// Ask for a producer id before the next send.
    needs_identity: bool,
    /// The next sequence number per partition, under `identity`.
    sequences: HashMap<TopicPartition, i32>,
}

/// One partition's batch, kept as encoded so a retry sends the same bytes.
struct Pending {
    partition: i32,
    batch: Bytes,
    /// Indexes of its records in the caller's list, in batch order.
    records: Vec<usize>,
    failure: Option<ProduceError>,
}

impl Producer {
    pub fn new(cluster: Arc<Cluster>, config: ProducerConfig) -> Producer {
        let needs_identity = config.idempotent;
        Producer {
            cluster,
            config,
            partitioner: DefaultPartitioner::new(),
            identity: None,
            needs_identity,
            sequences: HashMap::new(),
        }
    }

    /// Whether batches are numbered (idempotent producing), as of the last send.
    pub fn is_idempotent(&self) -> bool {
        self.identity.is_some()
    }

    /// Writes `records` to `topic`, each to the partition the default partitioner picks;
    /// returns where each landed, in the order given.
    pub async fn send(
        &mut self,
        topic: &str,
        records: &[ProduceRecord],
    ) -> Result<Vec<Delivery>, ProduceError> {
        let count = self.partition_count(topic).await?;
        let mut placed = Vec::with_capacity(records.len());
        for r in records {
            let p = self
                .partitioner
                .partition(topic, r.key.as_deref(), count)
                .ok_or_else(|| ProduceError::NoPartitions {
                    topic: topic.to_string(),
                })?;
            placed.push(p);
        }
        self.send_placed(topic, records, &placed).await
    }

    /// Writes `records` to `topic`/`partition`.
    pub async fn send_to(
        &mut self,
        topic: &str,
        partition: i32,
        records: &[ProduceRecord],
    ) -> Result<Vec<Delivery>, ProduceError> {
        self.partition_count(topic).await?;
        self.send_placed(topic, records, &vec![partition; records.len()])
            .await
    }

    async fn partition_count(&self, topic: &str) -> Result<i32, ProduceError> {
        if let Some(n) = self.cluster.partition_count(topic) {
            return Ok(n);
        }
        self.cluster.refresh(&[topic.to_string()]).await?;
        self.cluster
            .partition_count(topic)
            .filter(|n| *n > 0)
            .ok_or_else(|| ProduceError::NoPartitions {
                topic: topic.to_string(),
            })
    }

    async fn send_placed(
        &mut self,
        topic: &str,
        records: &[ProduceRecord],
        placed: &[i32],
    ) -> Result<Vec<Delivery>, ProduceError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        if self.needs_identity {
            self.init_identity().await?;
        }
        let mut by_partition: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
        for (i, p) in placed.iter().enumerate() {
            by_partition.entry(*p).or_default().push(i);
        }
        let mut pending = Vec::with_capacity(by_partition.len());
        for (partition, indexes) in by_partition {
            let batch: Vec<ProduceRecord> = indexes.iter().map(|i| records[*i].clone()).collect();
            let header = self.header(topic, partition, batch.len());
            pending.push(Pending {
                partition,
                batch: encode_batch(&batch, &header)?,
                records: indexes,
                failure: None,
            });
        }

        let mut deliveries = vec![
            Delivery {
                partition: -1,
                offset: -1
            };
            records.len()
        ];
        for attempt in 0..self.config.attempts.max(1) {
            if attempt > 0 {
                let shift = attempt.min(4);
                tokio::time::sleep(
                    (self.config.retry_backoff * (1 << shift)).min(Duration::from_secs(2)),
                )
                .await;
                if let Err(e) = self.cluster.refresh(&[topic.to_string()]).await {
                    tracing::debug!(topic, "metadata refresh before a Produce retry: {e}");
                }
            }
            pending = self.round(topic, pending, &mut deliveries).await?;
            if pending.is_empty() {
                return Ok(deliveries);
            }
            if let Some(fatal) = pending
                .iter_mut()
                .find(|p| p.failure.as_ref().is_some_and(|e| !e.is_retriable()))
            {
                return Err(self.give_up(fatal.failure.take().expect("found")));
            }
        }
        let last = pending
            .into_iter()
            .find_map(|p| p.failure)
            .unwrap_or(ProduceError::Missing {
                topic: topic.to_string(),
                partition: -1,
            });
        Err(self.give_up(last))
    }

    /// The batch header for `n` records to `partition`, taking their sequence numbers.
    fn header(&mut self, topic: &str, partition: i32, n: usize) -> BatchHeader {
        let compression = self.config.compression;
        match self.identity {
            None => BatchHeader::plain(compression),
            Some(Identity { id, epoch }) => {
                let seq = self
                    .sequences
                    .entry((topic.to_string(), partition))
                    .or_insert(0);
                let base = *seq;
                // Sequence numbers wrap to 0 after i32::MAX, as Java's do.
                *seq = seq.wrapping_add(n as i32) & i32::MAX;
                BatchHeader {
                    producer_id: id,
                    producer_epoch: epoch,
                    base_sequence: base,
                    compression,
                }
            }
        }
    }

    /// After a batch failed for good, its sequence numbers are burnt: later batches of
    /// that partition would be out of order. Start over with a new producer id.
    fn give_up(&mut self, e: ProduceError) -> ProduceError {
        if self.identity.is_some() {
            self.identity = None;
            self.sequences.clear();
            self.needs_identity = true;
        }
        e
    }

    /// Sends every pending batch once, one request per leader, concurrently. Returns
    /// the batches still to send, each with why it failed.
    async fn round(
        &self,
        topic: &str,
        pending: Vec<Pending>,
        deliveries: &mut [Delivery],
    ) -> Result<Vec<Pending>, ProduceError> {
        let mut by_leader: BTreeMap<i32, Vec<Pending>> = BTreeMap::new();
        let mut left = Vec::new();
        for mut p in pending {
            match self.cluster.leader(topic, p.partition) {
                Ok(leader) => by_leader.entry(leader.node_id).or_default().push(p),
                Err(e) => {
                    p.failure = Some(e.into());
                    left.push(p);
                }
            }
        }
        let acks = match self.config.acks {
            Acks::All => -1,
            Acks::Leader => 1,
        };
        let timeout_ms = i32::try_from(self.config.timeout.as_millis()).unwrap_or(i32::MAX);
        let mut set = JoinSet::new();
        for (node, batches) in by_leader {
            let conn = match self.cluster.broker(node).await {
                Ok(conn) => conn,
                Err(e) => {
                    left.extend(batches.into_iter().map(|mut p| {
                        p.failure = Some(ProduceError::Cluster(e.clone()));
                        p
                    }));
                    continue;
                }
            };
            let request = ProduceRequest::default()
                .with_acks(acks)
                .with_timeout_ms(timeout_ms)
                .with_topic_data(vec![
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                        .with_partition_data(
                            batches
                                .iter()
                                .map(|p| {
                                    PartitionProduceData::default()
                                        .with_index(p.partition)
                                        .with_records(Some(p.batch.clone()))
                                })
                                .collect(),
                        ),
                ]);
            let wait = self.config.timeout + self.cluster.connection_config().request_timeout;
            set.spawn(async move {
                let answer = send(&conn, &request, wait).await;
                (batches, answer)
            });
        }
        while let Some(done) = set.join_next().await {
            let Ok((batches, answer)) = done else {
                // A send task doesn't panic; if one did, the batches are lost to this
                // round, and the error surfaces as missing answers below.
                continue;
            };
            match answer {
                Err(e) => left.extend(batches.into_iter().map(|mut p| {
                    p.failure = Some(e.clone());
                    p
                })),
                Ok(resp) => {
                    for mut p in batches {
                        let result = resp
                            .topics
                            .iter()
                            .filter(|t| t.name == topic)
                            .flat_map(|t| t.partitions.iter())
                            .find(|r| r.partition == p.partition);
                        match result {
                            None => {
                                p.failure = Some(ProduceError::Missing {
                                    topic: topic.to_string(),
                                    partition: p.partition,
                                });
                                left.push(p);
                            }
                            Some(r)
                                if r.error_code == 0
                                    || r.error_code == code::DUPLICATE_SEQUENCE_NUMBER =>
                            {
                                for (n, i) in p.records.iter().enumerate() {
                                    deliveries[*i] = Delivery {
                                        partition: p.partition,
                                        offset: if r.base_offset >= 0 {
                                            r.base_offset + n as i64
                                        } else {
                                            -1
                                        },
                                    };
                                }
                            }
                            Some(r) => {
                                let message = r.error_message.clone().or_else(|| {
                                    r.record_errors.first().and_then(|e| {
                                        e.message
                                            .as_ref()
                                            .map(|m| format!("record {}: {m}", e.batch_index))
                                    })
                                });
                                p.failure = Some(ProduceError::Kafka {
                                    topic: topic.to_string(),
                                    partition: p.partition,
                                    code: KafkaCode(r.error_code),
                                    message,
                                });
                                left.push(p);
                            }
                        }
                    }
                }
            }
        }
        Ok(left)
    }

    /// Asks for a producer id; without one (refused, or the broker too old), produces
    /// without idempotence and says so.
    async fn init_identity(&mut self) -> Result<(), ProduceError> {
        self.needs_identity = false;
        self.sequences.clear();
        let mut last = None;
        for attempt in 0..self.config.attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(self.config.retry_backoff * (attempt.min(5) + 1)).await;
            }
            match self.try_init_identity().await {
                Ok(identity) => {
                    tracing::debug!(id = identity.id, epoch = identity.epoch, "producer id");
                    self.identity = Some(identity);
                    return Ok(());
                }
                Err(e) if e.is_retriable() => last = Some(e),
                Err(e) => {
                    tracing::warn!("producing without idempotence (retries may duplicate): {e}");
                    self.identity = None;
                    return Ok(());
                }
            }
        }
        Err(last.expect("at least one attempt"))
    }

    async fn try_init_identity(&self) -> Result<Identity, ProduceError> {
        let node = *self
            .cluster
            .brokers()
            .first()
            .ok_or(ClusterError::UnknownBroker { node_id: -1 })?;
        let conn = self.cluster.broker(node).await?;
        let version = conn.pick_version::<InitProducerIdRequest>(init_producer_id::VERSIONS)?;
        let request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(i32::MAX)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let body = conn.request(&request, version).await?;
        let resp =
            init_producer_id::decode(body, version).map_err(|source| ProduceError::Decode {
                broker: conn.broker().to_string(),
                api: ApiKey::InitProducerId,
                source,
            })?;
        if resp.error_code != 0 {
            return Err(ProduceError::InitProducerId {
                code: KafkaCode(resp.error_code),
            });
        }
        Ok(Identity {
            id: resp.producer_id,
            epoch: resp.producer_epoch,
        })
    }
}

/// Sends one Produce request and decodes the answer.
async fn send(
    conn: &Connection,
    request: &ProduceRequest,
    wait: Duration,
) -> Result<produce::Produce, ProduceError> {
    let version = conn.pick_version::<ProduceRequest>(produce::VERSIONS)?;
    let body = conn.request_within(request, version, wait).await?;
    produce::decode(body, version).map_err(|source| ProduceError::Decode {
        broker: conn.broker().to_string(),
        api: ApiKey::Produce,
        source,
    })
}
