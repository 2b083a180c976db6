//! On-failure destinations (`DestinationConfig.OnFailure.Destination`, SPEC.md §7): where a
//! batch the mapping gave up on is written, so it is neither lost nor retried forever.
//!
//! The runtime hands a [`Failure`] (the batch's encoded event, its records' keys, why it
//! was given up and the last invocation's response) to a [`Destination`], which writes an
//! [`OnFailureRecord`] in AWS's format to SQS, SNS, S3 or a Kafka
//! topic on the source cluster, and answers only once the destination acknowledged it. The
//! engine commits the batch's offsets after that answer, never before. A failed write is
//! an error naming the destination; retrying it (with backoff) is the engine's job, not
//! this layer's. This layer never decides what fails, never commits and never logs a
//! record's content.

pub mod record;

mod kafka;
mod s3;
mod sns;
mod sqs;

use crate::aws::AwsOptions;
use crate::config::{Mapping, OnFailureDestination};
use crate::engine::{Condition, Millis};
use crate::kafka::cluster::Cluster;
use crate::kafka::producer::ProduceError;
use crate::lambda::Event;
use bytes::Bytes;
use std::sync::Arc;

pub use record::{OnFailureRecord, ResponseContext};

/// A batch the mapping gave up on, as the runtime hands it to a destination.
#[derive(Clone, Debug)]
pub struct Failure {
    /// Why it was given up.
    pub condition: Condition,
    /// How many times it was invoked (`approximateInvokeCount`).
    pub attempts: u32,
    /// What the last invocation returned; `None` when it was never invoked
    /// (`MaximumPayloadSizeExceeded`).
    pub response: Option<ResponseContext>,
    /// The batch's event, exactly as the function received (or would have received) it.
    pub event: Event,
    /// The records' keys, in event order: the `kafka://` destination keeps them.
    pub keys: Vec<Option<Bytes>>,
    /// When the batch was given up (ms since the epoch): the record's `timestamp`.
    pub at: Millis,
}

/// What every record of a mapping says about where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// `requestContext.functionArn`: the configured ARN, or one built from the function's
    /// name with the region and account when they are known, else the name as given.
    pub function_arn: String,
    /// `KafkaBatchInfo.eventSourceArn`. Self-managed Kafka has no cluster ARN, so this
    /// is the mapping's own ARN in AWS's form for event source mappings:
    /// `arn:aws:lambda:REGION:ACCOUNT:event-source-mapping:UUID`, with the function's
    /// region and account (empty when the function is named without them).
    pub event_source_arn: String,
    /// `KafkaBatchInfo.bootstrapServers`: as in the event, comma-separated.
    pub bootstrap_servers: String,
    /// The mapping's UUID, the first part of S3 object keys.
    pub mapping_uuid: String,
}

impl Origin {
    pub fn new(mapping: &Mapping, bootstrap_servers: &str) -> Origin {
        let f = &mapping.function;
        let region = f.region.clone().or_else(|| mapping.esm.region.clone());
        let function_arn = if f.raw.starts_with("arn:") {
            f.raw.clone()
        } else {
            match (&region, &f.account) {
                (Some(r), Some(a)) => {
                    let q = f.qualifier.as_deref().map(|q| format!(":{q}"));
                    format!(
                        "arn:aws:lambda:{r}:{a}:function:{}{}",
                        f.name,
                        q.unwrap_or_default()
                    )
                }
                _ => f.raw.clone(),
            }
        };
        Origin {
            function_arn,
            event_source_arn: format!(
                "arn:aws:lambda:{}:{}:event-source-mapping:{}",
                region.unwrap_or_default(),
                f.account.clone().unwrap_or_default(),
                mapping.uuid
            ),
            bootstrap_servers: bootstrap_servers.to_string(),
            mapping_uuid: mapping.uuid.to_string(),
        }
    }
}

/// Why a failure record was not written. Every case names the destination.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DestinationError {
    #[error("on-failure destination {queue_arn}: SQS {operation} failed: {message}")]
    Sqs {
        queue_arn: String,
        operation: &'static str,
        message: String,
    },
    #[error("on-failure destination {topic_arn}: SNS Publish failed: {message}")]
    Sns { topic_arn: String, message: String },
    #[error("on-failure destination {bucket_arn}: S3 PutObject of {key} failed: {message}")]
    S3 {
        bucket_arn: String,
        key: String,
        message: String,
    },
    #[error("on-failure destination kafka://{topic}: {source}")]
    Kafka { topic: String, source: ProduceError },
    /// The failure record could not be built (a bug, not input: the event is ours).
    #[error("on-failure destination {destination}: building the record: {message}")]
    Record {
        destination: String,
        message: String,
    },
}

impl DestinationError {
    /// The destination as configured (`arn:...` or `kafka://topic`).
    pub fn destination(&self) -> String {
        match self {
            DestinationError::Sqs { queue_arn: d, .. }
            | DestinationError::Sns { topic_arn: d, .. }
            | DestinationError::S3 { bucket_arn: d, .. }
            | DestinationError::Record { destination: d, .. } => d.clone(),
            DestinationError::Kafka { topic, .. } => format!("kafka://{topic}"),
        }
    }
}

/// One mapping's on-failure destination, ready to write.
pub struct Destination {
    origin: Origin,
    target: Target,
}

enum Target {
    Sqs(sqs::SqsTarget),
    Sns(sns::SnsTarget),
    S3(s3::S3Target),
    Kafka(kafka::KafkaTarget),
}

impl Destination {
    /// The destination `config` of `mapping`. AWS clients are built from `aws` with the
    /// region of the destination's ARN (S3 bucket ARNs have none: `aws`'s region, then the
    /// mapping's `KafkaEsm.Region`, then the SDK's default chain); the SDK's standard
    /// retries apply. `kafka://` produces through `cluster`, the source cluster.
    pub async fn new(
        config: &OnFailureDestination,
        origin: Origin,
        aws: &AwsOptions,
        default_region: Option<&str>,
        cluster: Arc<Cluster>,
    ) -> Destination {
        let in_region = |region: Option<&str>| AwsOptions {
            region: region
                .map(str::to_string)
                .or_else(|| aws.region.clone())
                .or_else(|| default_region.map(str::to_string)),
            ..aws.clone()
        };
        let target = match config {
            OnFailureDestination::Sqs {
                arn,
                region,
                account,
                queue_name,
            } => {
                let sdk = crate::aws::sdk_config(&in_region(Some(region))).await;
                Target::Sqs(sqs::SqsTarget::new(
                    aws_sdk_sqs::Client::new(&sdk),
                    arn,
                    account,
                    queue_name,
                ))
            }
            OnFailureDestination::Sns { arn, region, .. } => {
                let sdk = crate::aws::sdk_config(&in_region(Some(region))).await;
                Target::Sns(sns::SnsTarget::new(aws_sdk_sns::Client::new(&sdk), arn))
            }
            OnFailureDestination::S3 { arn, bucket } => {
                let opts = in_region(None);
                let sdk = crate::aws::sdk_config(&opts).await;
                Target::S3(s3::S3Target::new(
                    &sdk,
                    opts.endpoint_url.is_some(),
                    arn,
                    bucket,
                ))
            }
            OnFailureDestination::Kafka { topic } => {
                Target::Kafka(kafka::KafkaTarget::new(cluster, topic))
            }
        };
        Destination { origin, target }
    }

    /// The destination as configured (`arn:...` or `kafka://topic`).
    pub fn uri(&self) -> String {
        match &self.target {
            Target::Sqs(t) => t.arn().to_string(),
            Target::Sns(t) => t.arn().to_string(),
            Target::S3(t) => t.arn().to_string(),
            Target::Kafka(t) => format!("kafka://{}", t.topic()),
        }
    }

    /// Writes `failure`; returns once the destination acknowledged it.
    pub async fn send(&self, failure: &Failure) -> Result<(), DestinationError> {
        match &self.target {
            Target::Sqs(t) => t.send(&self.origin, failure).await,
            Target::Sns(t) => t.send(&self.origin, failure).await,
            Target::S3(t) => t.send(&self.origin, failure).await,
            Target::Kafka(t) => t.send(&self.origin, failure).await,
        }
    }
}

/// A record as JSON text, or [`DestinationError::Record`] naming `destination`.
fn to_json(record: &OnFailureRecord, destination: &str) -> Result<String, DestinationError> {
    serde_json::to_string(record).map_err(|e| DestinationError::Record {
        destination: destination.to_string(),
        message: e.to_string(),
    })
}
