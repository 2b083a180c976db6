//! AWS Lambda's Invoke API (aws-sdk-lambda), synchronous (`RequestResponse`), to any
//! region or a Lambda-compatible endpoint.
//!
//! The SDK client is built with no retries of its own ([`crate::aws::AwsOptions`]
//! `max_attempts: 1` is the caller's choice): a throttle or a service error goes back to
//! the engine, which retries with its own backoff and counts attempts as AWS does.

use super::{Invocation, InvokeError, Invoker};
use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::invoke::InvokeError as SdkInvokeError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use bytes::Bytes;

/// Invokes one Lambda function (a name or ARN, with an optional qualifier).
#[derive(Clone, Debug)]
pub struct LambdaInvoker {
    client: aws_sdk_lambda::Client,
    function: String,
    qualifier: Option<String>,
}

impl LambdaInvoker {
    pub fn new(
        client: aws_sdk_lambda::Client,
        function: impl Into<String>,
        qualifier: Option<String>,
    ) -> LambdaInvoker {
        LambdaInvoker {
            client,
            function: function.into(),
            qualifier,
        }
    }
}

impl Invoker for LambdaInvoker {
    async fn invoke(&self, payload: Bytes) -> Result<Invocation, InvokeError> {
        let answer = self
            .client
            .invoke()
            .function_name(&self.function)
            .set_qualifier(self.qualifier.clone())
            .invocation_type(InvocationType::RequestResponse)
            // The event's buffer as is: no copy (Blob::new would copy a shared buffer).
            .payload(Blob::from_maybe_shared(payload))
            .send()
            .await;
        match answer {
            Ok(out) => Ok(Invocation {
                status_code: out.status_code(),
                function_error: out.function_error().map(str::to_string),
                executed_version: out.executed_version().map(str::to_string),
                payload: out
                    .payload()
                    .map(|p| Bytes::copy_from_slice(p.as_ref()))
                    .unwrap_or_default(),
            }),
            Err(e) => Err(classify(e)),
        }
    }
}

fn classify<R: std::fmt::Debug>(e: SdkError<SdkInvokeError, R>) -> InvokeError {
    let message = aws_sdk_lambda::error::DisplayErrorContext(&e).to_string();
    let Some(service) = e.as_service_error() else {
        return InvokeError::Service { message };
    };
    match service {
        SdkInvokeError::TooManyRequestsException(_) => InvokeError::Throttled { message },
        SdkInvokeError::RequestTooLargeException(_) => InvokeError::PayloadTooLarge { message },
        SdkInvokeError::ResourceNotFoundException(_)
        | SdkInvokeError::InvalidParameterValueException(_)
        | SdkInvokeError::InvalidRuntimeException(_)
        | SdkInvokeError::UnsupportedMediaTypeException(_) => InvokeError::Function { message },
        _ if service.meta().code() == Some("AccessDeniedException") => {
            InvokeError::Function { message }
        }
        _ => InvokeError::Service { message },
    }
}
