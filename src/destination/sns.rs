//! SNS: one `Publish` per failed batch, the metadata record as the message (no payload,
//! as AWS sends).

use super::record::{OnFailureRecord, request_id};
use super::{DestinationError, Failure, Origin, aws_retry, to_json};
use aws_sdk_sns::error::DisplayErrorContext;

pub(super) struct SnsTarget {
    client: aws_sdk_sns::Client,
    arn: String,
}

impl SnsTarget {
    pub(super) fn new(client: aws_sdk_sns::Client, arn: &str) -> SnsTarget {
        SnsTarget {
            client,
            arn: arn.to_string(),
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
        let record = OnFailureRecord::for_batch(origin, failure, &request_id());
        let message = to_json(&record, &self.arn)?;
        self.client
            .publish()
            .topic_arn(&self.arn)
            .message(message)
            .send()
            .await
            .map_err(|e| DestinationError::Sns {
                topic_arn: self.arn.clone(),
                message: DisplayErrorContext(&e).to_string(),
                retry: aws_retry(&e),
            })?;
        Ok(())
    }
}
