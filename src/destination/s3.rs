//! S3: one object per failed batch, the metadata record plus `payload` (the whole event
//! as a JSON string), as AWS writes it.
//!
//! Object keys are unique and sort by time, after AWS's scheme for stream sources:
//! `aws/lambda/<mapping UUID>/<topic>-<partition>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS.mmm-<first offset>-<last offset>-<random UUID>`
//! (UTC, the time the batch was given up). Listing a partition's prefix gives its
//! failures in time order; the random part keeps two writes in the same millisecond
//! apart. With an endpoint override (moto, MinIO, ...) requests use path-style URLs.

use super::record::{OnFailureRecord, civil, request_id};
use super::{DestinationError, Failure, Origin, aws_retry, to_json};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;

pub(super) struct S3Target {
    client: aws_sdk_s3::Client,
    arn: String,
    bucket: String,
}

impl S3Target {
    pub(super) fn new(
        sdk: &aws_config::SdkConfig,
        path_style: bool,
        arn: &str,
        bucket: &str,
    ) -> S3Target {
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(path_style)
            .build();
        S3Target {
            client: aws_sdk_s3::Client::from_conf(config),
            arn: arn.to_string(),
            bucket: bucket.to_string(),
        }
    }

    pub(super) fn arn(&self) -> &str {
        &self.arn
    }

    pub(super) async fn send(
        &self,
        origin: &Origin,
        failure: &Failure,
    ) -> Result<(), DestinationError> {
        let id = request_id();
        let record =
            OnFailureRecord::for_batch(origin, failure, &id).with_event_text(&failure.event);
        let body = to_json(&record, &self.arn)?;
        let key = object_key(origin, failure);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(body.into_bytes()))
            .send()
            .await
            .map_err(|e| DestinationError::S3 {
                bucket_arn: self.arn.clone(),
                key: key.clone(),
                message: DisplayErrorContext(&e).to_string(),
                retry: aws_retry(&e),
            })?;
        Ok(())
    }
}

/// The object key of `failure` (see the module docs).
pub(super) fn object_key(origin: &Origin, failure: &Failure) -> String {
    let (y, mo, d, h, mi, s, ms) = civil(failure.at);
    let group = failure
        .event
        .groups()
        .next()
        .and_then(|g| serde_json::from_slice::<String>(g.key_json()).ok())
        .unwrap_or_default();
    let first = failure.event.record(0).map_or(-1, |r| r.offset);
    let last = failure
        .event
        .record(failure.event.record_count().saturating_sub(1))
        .map_or(-1, |r| r.offset);
    format!(
        "aws/lambda/{}/{group}/{y:04}/{mo:02}/{d:02}/{y:04}-{mo:02}-{d:02}T{h:02}.{mi:02}.{s:02}.{ms:03}-{first}-{last}-{}",
        origin.mapping_uuid,
        uuid::Uuid::new_v4()
    )
}
