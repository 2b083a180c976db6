//! `kafka://topic`: a topic on the source cluster. Each failed record becomes one message:
//! the value is its [`OnFailureRecord`] (AWS's Kafka-destination shape, `payload` the
//! event holding that record), the key is the original record's key, so the default
//! partitioner places it as the source's producer would; records without a key go round
//! robin (the producer's partitioner does that for a null key). All messages of a batch
//! are written in one call, acknowledged by every in-sync replica.
//!
//! Writes of different partitions' batches run at once: each takes a producer of its own
//! from a small pool (a [`Producer`] numbers its batches per partition for idempotence,
//! so one producer serves one call at a time), made on demand and kept for the next
//! write. A source partition has one batch at the destination at a time (the engine's
//! rule), so its failures still arrive in order. The producers share the cluster's
//! connections, which carry many requests at once.

use super::record::{OnFailureRecord, request_id};
use super::{DestinationError, Failure, Origin, to_json};
use crate::kafka::client::cluster::Cluster;
use crate::kafka::producer::{Producer, ProducerConfig};
use crate::kafka::protocol::records::encode::ProduceRecord;
use bytes::Bytes;
use std::sync::{Arc, Mutex};

pub(super) struct KafkaTarget {
    topic: String,
    cluster: Arc<Cluster>,
    /// Producers not sending right now.
    idle: Mutex<Vec<Producer>>,
}

impl KafkaTarget {
    pub(super) fn new(cluster: Arc<Cluster>, topic: &str) -> KafkaTarget {
        KafkaTarget {
            topic: topic.to_string(),
            cluster,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle producer, or a new one.
    fn take(&self) -> Producer {
        self.idle
            .lock()
            .expect("producer pool lock")
            .pop()
            .unwrap_or_else(|| Producer::new(self.cluster.clone(), ProducerConfig::default()))
    }

    /// A producer back in the pool after its call (a failed call left it ready for
    /// the next: it asks for a new producer id itself).
    fn give_back(&self, producer: Producer) {
        self.idle.lock().expect("producer pool lock").push(producer);
    }

    pub(super) fn topic(&self) -> &str {
        &self.topic
    }

    pub(super) async fn send(
        &self,
        origin: &Origin,
        failure: &Failure,
    ) -> Result<(), DestinationError> {
        let uri = format!("kafka://{}", self.topic);
        let id = request_id();
        let mut messages = Vec::with_capacity(failure.event.record_count());
        for index in 0..failure.event.record_count() {
            let record =
                OnFailureRecord::for_record(origin, failure, &id, index).ok_or_else(|| {
                    DestinationError::Record {
                        destination: uri.clone(),
                        message: format!("the event has no record {index}"),
                    }
                })?;
            messages.push(ProduceRecord {
                key: failure.keys.get(index).cloned().flatten(),
                value: Some(Bytes::from(to_json(&record, &uri)?)),
                headers: Vec::new(),
                timestamp: failure.at,
            });
        }
        // Not returned to the pool if this future is dropped mid-send (its sequence
        // numbers would be in doubt): a new one is made instead.
        let mut producer = self.take();
        let sent = producer.send(&self.topic, &messages).await;
        self.give_back(producer);
        sent.map_err(|source| DestinationError::Kafka {
            topic: self.topic.clone(),
            source,
        })?;
        Ok(())
    }
}
