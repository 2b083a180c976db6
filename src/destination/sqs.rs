//! SQS: one message per failed batch, its body the metadata record (no payload, as AWS
//! sends: SQS messages are capped at 256 KB). The queue URL is looked up from the ARN's
//! name and account on first use and kept (no lock is held while asking: concurrent
//! first sends may each ask, and agree); a queue that doesn't exist is a permanent error.

use super::record::{OnFailureRecord, request_id};
use super::{DestinationError, Failure, Origin, Retry, aws_retry, to_json};
use aws_sdk_sqs::error::DisplayErrorContext;
use std::sync::Mutex;

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

    fn error(&self, operation: &'static str, message: String, retry: Retry) -> DestinationError {
        DestinationError::Sqs {
            queue_arn: self.arn.clone(),
            operation,
            message,
            retry,
        }
    }

    fn cached_url(&self) -> Option<String> {
        self.url.lock().expect("queue url lock").clone()
    }

    fn set_url(&self, url: Option<String>) {
        *self.url.lock().expect("queue url lock") = url;
    }

    async fn queue_url(&self) -> Result<String, DestinationError> {
        if let Some(u) = self.cached_url() {
            return Ok(u);
        }
        let out = self
            .client
            .get_queue_url()
            .queue_name(&self.queue_name)
            .queue_owner_aws_account_id(&self.account)
            .send()
            .await
            .map_err(|e| {
                self.error(
                    "GetQueueUrl",
                    DisplayErrorContext(&e).to_string(),
                    aws_retry(&e),
                )
            })?;
        let found = out
            .queue_url()
            .ok_or_else(|| {
                self.error(
                    "GetQueueUrl",
                    "the answer has no QueueUrl".into(),
                    Retry::Transient,
                )
            })?
            .to_string();
        self.set_url(Some(found.clone()));
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
            self.set_url(None);
            return Err(self.error(
                "SendMessage",
                DisplayErrorContext(&e).to_string(),
                aws_retry(&e),
            ));
        }
        Ok(())
    }
}
