//! `kafka://topic`: a topic on the source cluster. Each failed record becomes one message:
//! the value is its [`OnFailureRecord`] (AWS's Kafka-destination shape, `payload` the
//! event holding that record), the key is the original record's key, so the default
//! partitioner places it as the source's producer would; records without a key go round
//! robin (the producer's partitioner does that for a null key). All messages of a batch
//! are written in one call, acknowledged by every in-sync replica.

use super::record::{OnFailureRecord, request_id};
use super::{DestinationError, Failure, Origin, to_json};
use crate::kafka::cluster::Cluster;
use crate::kafka::produce::batch::ProduceRecord;
use crate::kafka::producer::{Producer, ProducerConfig};
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::Mutex;

pub(super) struct KafkaTarget {
    topic: String,
    /// One send at a time keeps the order of a partition's failures.
    producer: Mutex<Producer>,
}

impl KafkaTarget {
    pub(super) fn new(cluster: Arc<Cluster>, topic: &str) -> KafkaTarget {
        KafkaTarget {
            topic: topic.to_string(),
            producer: Mutex::new(Producer::new(cluster, ProducerConfig::default())),
        }
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
        self.producer
            .lock()
            .await
            .send(&self.topic, &messages)
            .await
            .map_err(|source| DestinationError::Kafka {
                topic: self.topic.clone(),
                source,
            })?;
        Ok(())
    }
}
