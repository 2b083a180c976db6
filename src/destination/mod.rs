//! On-failure destinations (`DestinationConfig.OnFailure.Destination`, SPEC.md §7): where a
//! batch the mapping gave up on is written, so it is neither lost nor retried forever.
//!
//! The runtime hands a [`Failure`] (the batch's encoded event, its records' keys, why it
//! was given up and the last invocation's response) to a [`Destination`], which writes an
//! [`OnFailureRecord`] in AWS's format to SQS, SNS, S3 or a Kafka
//! topic on the source cluster, and answers only once the destination acknowledged it. The
//! engine commits the batch's offsets after that answer, never before. A failed write is
//! an error naming the destination and saying what retrying it can do
//! ([`DestinationError::is_permanent`], [`DestinationError::is_timeout`]): an outage,
//! throttling or a timeout may pass, and the engine retries the write with backoff while
//! the partition waits; a destination that doesn't exist, refuses our access, or refuses
//! the record (too large, invalid) will refuse it again, and the runtime stops the mapping
//! with `ESM_CONFIG_NOT_VALID` rather than retry forever or drop the batch. This layer
//! never commits and never logs a record's content.

pub mod record;

mod kafka;
mod s3;
mod sns;
mod sqs;

use crate::aws::AwsOptions;
use crate::config::{Mapping, OnFailureDestination};
use crate::engine::{Condition, Millis};
use crate::kafka::client::cluster::Cluster;
use crate::kafka::producer::ProduceError;
use crate::lambda::Event;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response as HttpResponse;
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

/// What retrying a failed write can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// No answer in time (connect, read or the whole request): the destination or the
    /// network is slow or gone. Retried.
    Timeout,
    /// May pass: the connection failed, the service is unavailable (5xx), we are
    /// throttled, credentials are being renewed. Retried.
    Transient,
    /// Will fail again until the configuration changes: the queue, topic or bucket doesn't
    /// exist, access is denied, the ARN or a parameter is invalid, the record is refused
    /// (too large, invalid), or the topic's ACLs refuse us.
    Permanent,
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
        retry: Retry,
    },
    #[error("on-failure destination {topic_arn}: SNS Publish failed: {message}")]
    Sns {
        topic_arn: String,
        message: String,
        retry: Retry,
    },
    #[error("on-failure destination {bucket_arn}: S3 PutObject of {key} failed: {message}")]
    S3 {
        bucket_arn: String,
        key: String,
        message: String,
        retry: Retry,
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

    /// What retrying the write can do.
    pub fn retry(&self) -> Retry {
        match self {
            DestinationError::Sqs { retry, .. }
            | DestinationError::Sns { retry, .. }
            | DestinationError::S3 { retry, .. } => *retry,
            DestinationError::Kafka { source, .. } => produce_retry(source),
            DestinationError::Record { .. } => Retry::Permanent,
        }
    }

    /// Whether writing again can't succeed until the configuration changes.
    pub fn is_permanent(&self) -> bool {
        self.retry() == Retry::Permanent
    }

    /// Whether the destination didn't answer in time (retried like any transient error).
    pub fn is_timeout(&self) -> bool {
        self.retry() == Retry::Timeout
    }

    /// The documented reason of a mapping stopped by this error: the mapping's
    /// `DestinationConfig` can't be used as it is.
    pub fn reason(&self) -> &'static str {
        "ESM_CONFIG_NOT_VALID"
    }
}

/// What retrying a request that an AWS SDK client returned `e` for can do.
fn aws_retry<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> Retry {
    match e {
        SdkError::TimeoutError(_) => Retry::Timeout,
        SdkError::DispatchFailure(d) if d.is_timeout() => Retry::Timeout,
        SdkError::ServiceError(s) => service_retry(s.err().code(), s.raw().status().as_u16()),
        // The request could not be built from what we gave it: it never will be.
        SdkError::ConstructionFailure(_) => Retry::Permanent,
        // Connection refused or reset, an unreadable answer, credentials not loaded yet.
        _ => Retry::Transient,
    }
}

/// What retrying can do about an error an AWS service answered, by its code and status.
/// Client errors (4xx) are the caller's fault and will come again, except the few that
/// say "later": throttling, expired credentials (their provider renews them), a skewed
/// clock, a conflicting operation in progress.
fn service_retry(code: Option<&str>, status: u16) -> Retry {
    match code.unwrap_or_default() {
        "Throttling"
        | "ThrottlingException"
        | "Throttled"
        | "ThrottledException"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "SlowDown"
        | "KmsThrottled"
        | "KMSThrottling"
        | "KMSThrottlingException"
        | "RequestTimeout"
        | "RequestTimeoutException"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "TokenRefreshRequired"
        | "RequestExpired"
        | "RequestTimeTooSkewed"
        | "OperationAborted" => Retry::Transient,
        // S3's answer for a bucket in another region than the client's: it stays there.
        "PermanentRedirect" => Retry::Permanent,
        _ if status == 301 => Retry::Permanent,
        _ if (400..500).contains(&status) && status != 408 && status != 429 => Retry::Permanent,
        _ => Retry::Transient,
    }
}

/// What retrying a Produce to the `kafka://` topic can do: the producer already retried
/// what Kafka calls retriable (leader moves, a broker restart); what is left is a broker
/// refusing the records (MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE, INVALID_RECORD), the
/// topic's ACLs (TOPIC_AUTHORIZATION_FAILED), or a transport failure.
fn produce_retry(e: &ProduceError) -> Retry {
    use crate::kafka::client::cluster::ClusterError;
    use crate::kafka::client::conn::ConnError;
    match e {
        ProduceError::Cluster(ClusterError::Conn(
            ConnError::Timeout { .. } | ConnError::ConnectTimeout { .. },
        )) => Retry::Timeout,
        e if e.is_retriable() => Retry::Transient,
        _ => Retry::Permanent,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::client::cluster::{ClusterError, KafkaCode};
    use crate::kafka::client::conn::ConnError;
    use crate::kafka::protocol::records::{Headers, Record, TimestampType};
    use crate::lambda::EventEncoder;
    use std::time::{Duration, Instant};

    #[test]
    fn a_missing_or_forbidden_destination_or_a_refused_record_is_permanent() {
        for (code, status) in [
            ("AWS.SimpleQueueService.NonExistentQueue", 400),
            ("QueueDoesNotExist", 400),
            ("AccessDenied", 403),
            ("AccessDeniedException", 400),
            ("AuthorizationError", 403),
            ("NotFound", 404),
            ("NoSuchBucket", 404),
            ("InvalidParameterValue", 400),
            ("InvalidParameter", 400),
            ("KMS.AccessDeniedException", 400),
            ("EntityTooLarge", 400),
            ("InvalidClientTokenId", 403),
            ("PermanentRedirect", 301),
        ] {
            assert_eq!(
                service_retry(Some(code), status),
                Retry::Permanent,
                "{code}"
            );
        }
        for code in [10, 18, 87, 29] {
            // MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE, INVALID_RECORD,
            // TOPIC_AUTHORIZATION_FAILED.
            let e = DestinationError::Kafka {
                topic: "dlq".into(),
                source: ProduceError::Kafka {
                    topic: "dlq".into(),
                    partition: 0,
                    code: KafkaCode(code),
                    message: None,
                },
            };
            assert!(e.is_permanent(), "{e}");
            assert_eq!(e.reason(), "ESM_CONFIG_NOT_VALID");
        }
    }

    #[test]
    fn an_outage_throttling_or_a_timeout_is_retried() {
        for (code, status) in [
            ("InternalError", 500),
            ("ServiceUnavailable", 503),
            ("SlowDown", 503),
            ("RequestThrottled", 400),
            ("Throttled", 400),
            ("KmsThrottled", 400),
            ("ExpiredToken", 400),
            ("RequestTimeTooSkewed", 403),
            ("RequestTimeout", 400),
        ] {
            assert_eq!(
                service_retry(Some(code), status),
                Retry::Transient,
                "{code}"
            );
        }
        assert_eq!(service_retry(None, 502), Retry::Transient);
        assert_eq!(service_retry(None, 429), Retry::Transient);
        let kafka = |source| DestinationError::Kafka {
            topic: "dlq".into(),
            source,
        };
        // NOT_LEADER_OR_FOLLOWER after the producer's own retries: still an outage.
        let moved = kafka(ProduceError::Kafka {
            topic: "dlq".into(),
            partition: 0,
            code: KafkaCode(6),
            message: None,
        });
        assert_eq!(moved.retry(), Retry::Transient);
        let slow = kafka(ProduceError::Cluster(ClusterError::Conn(
            ConnError::Timeout {
                broker: "b1:9092".into(),
                api: kafka_protocol::messages::ApiKey::Produce,
                version: 3,
                after: std::time::Duration::from_secs(30),
            },
        )));
        assert!(slow.is_timeout() && !slow.is_permanent(), "{slow}");
    }

    fn failure() -> Failure {
        let mut enc = EventEncoder::new("b1:9092");
        let record = Record {
            offset: 7,
            timestamp: 1_573_691_884_835,
            timestamp_type: TimestampType::CreateTime,
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(b"v")),
            headers: Headers::default(),
        };
        enc.push("orders", 0, record).unwrap();
        Failure {
            condition: Condition::RetryAttemptsExhausted,
            attempts: 1,
            response: None,
            event: enc.finish(),
            keys: vec![Some(Bytes::from_static(b"k"))],
            at: 1_573_691_886_021,
        }
    }

    /// A half-open destination: a loopback listener that accepts every connection, reads
    /// nothing and never answers.
    async fn silent_endpoint() -> (String, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        (endpoint, task)
    }

    #[tokio::test]
    async fn a_destination_that_never_answers_fails_with_a_timeout_within_the_bound() {
        let (endpoint, _listener) = silent_endpoint().await;
        let timeouts = crate::aws::Timeouts {
            connect: Duration::from_secs(1),
            read: Duration::from_secs(1),
            attempt: Duration::from_secs(2),
            operation: Duration::from_secs(3),
        };
        let sdk = crate::aws::sdk_config(&AwsOptions {
            region: Some("us-east-1".into()),
            endpoint_url: Some(endpoint),
            credentials: Some(crate::aws::StaticCredentials {
                access_key_id: "test".into(),
                secret_access_key: "test".into(),
                session_token: None,
            }),
            // The SDK's standard retries: the operation timeout bounds them all.
            max_attempts: None,
            timeouts,
        })
        .await;
        let origin = Origin {
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
            event_source_arn: "arn:aws:lambda:us-east-1:123456789012:event-source-mapping:u".into(),
            bootstrap_servers: "b1:9092".into(),
            mapping_uuid: "u".into(),
        };
        let targets = [
            Target::Sqs(sqs::SqsTarget::new(
                aws_sdk_sqs::Client::new(&sdk),
                "arn:aws:sqs:us-east-1:123456789012:dlq",
                "123456789012",
                "dlq",
            )),
            Target::Sns(sns::SnsTarget::new(
                aws_sdk_sns::Client::new(&sdk),
                "arn:aws:sns:us-east-1:123456789012:dlq",
            )),
            Target::S3(s3::S3Target::new(&sdk, true, "arn:aws:s3:::dlq", "dlq")),
        ];
        let failure = failure();
        let writes = targets.into_iter().map(|target| {
            let destination = Destination {
                origin: origin.clone(),
                target,
            };
            let failure = failure.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let bound = timeouts.operation + Duration::from_secs(2);
                let result = tokio::time::timeout(bound, destination.send(&failure))
                    .await
                    .unwrap_or_else(|_| {
                        panic!("{}: still waiting after {bound:?}", destination.uri())
                    });
                (destination.uri(), result, started.elapsed())
            })
        });
        for write in writes.collect::<Vec<_>>() {
            let (uri, result, took) = write.await.unwrap();
            let e = result.expect_err("nothing answered");
            assert!(e.is_timeout(), "{uri}: {e}");
            assert!(!e.is_permanent(), "{uri}: a timeout is retried");
            assert!(
                took < timeouts.operation + Duration::from_secs(2),
                "{uri}: gave up after {took:?}"
            );
        }
    }
}
