//! SQS: one message per failed batch, its body the metadata record (no payload, as AWS
//! sends: SQS messages are capped at 256 KB). The queue URL is looked up from the ARN's
//! name and account on first use and kept; a failed lookup (the queue doesn't exist yet)
//! is retried with the next send.

use super::record::{OnFailureRecord, request_id};
use super::{DestinationError, Failure, Origin, to_json};
use aws_sdk_sqs::error::DisplayErrorContext;
use tokio::sync::Mutex;

pub(super) struct SqsTarget {
    client: aws_sdk_sqs::Client,
    arn: String,
    account: String,
    queue_name: String,
    url: Mutex<Option<String>>,
}

impl SqsTarget {
    pub(super) fn new(
        client: aws_sdk_sqs::Client,
        arn: &str,
        account: &str,
        queue_name: &str,
    ) -> SqsTarget {
        SqsTarget {
            client,
            arn: arn.to_string(),
            account: account.to_string(),
            queue_name: queue_name.to_string(),
            url: Mutex::new(None),
        }
    }

    pub(super) fn arn(&self) -> &str {
        &self.arn
    }

    fn error(&self, operation: &'static str, message: String) -> DestinationError {
        DestinationError::Sqs {
            queue_arn: self.arn.clone(),
            operation,
            message,
        }
    }

    async fn queue_url(&self) -> Result<String, DestinationError> {
        let mut url = self.url.lock().await;
        if let Some(u) = url.as_ref() {
            return Ok(u.clone());
        }
        let out = self
            .client
            .get_queue_url()
            .queue_name(&self.queue_name)
            .queue_owner_aws_account_id(&self.account)
            .send()
            .await
            .map_err(|e| self.error("GetQueueUrl", DisplayErrorContext(&e).to_string()))?;
        let found = out
            .queue_url()
            .ok_or_else(|| self.error("GetQueueUrl", "the answer has no QueueUrl".into()))?
            .to_string();
        *url = Some(found.clone());
        Ok(found)
    }

    pub(super) async fn send(
        &self,
        origin: &Origin,
        failure: &Failure,
    ) -> Result<(), DestinationError> {
        let record = OnFailureRecord::for_batch(origin, failure, &request_id());
        let body = to_json(&record, &self.arn)?;
        let url = self.queue_url().await?;
        let sent = self
            .client
            .send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await;
        if let Err(e) = sent {
            // The queue may have been deleted and created again under a new URL.
            *self.url.lock().await = None;
            return Err(self.error("SendMessage", DisplayErrorContext(&e).to_string()));
        }
        Ok(())
    }
}
