//! AWS Lambda's Invoke API (aws-sdk-lambda), synchronous (`RequestResponse`), to any
//! region or a Lambda-compatible endpoint.
//!
//! The SDK client is built with no retries of its own ([`crate::aws::AwsOptions`]
//! `max_attempts: 1` is the caller's choice): a throttle or a service error goes back to
//! the engine, which retries with its own backoff and counts attempts as AWS does.
//!
//! Errors are sorted by what retrying can do ([`classify`]): a function that doesn't
//! exist, may not be invoked, or can't start as configured (KMS, VPC, runtime, package)
//! is [`InvokeError::Function`], which stops the mapping (`FUNCTION_CONFIG_NOT_VALID`)
//! instead of spending retries on it and dropping the batch; everything that may pass
//! (throttles, Lambda's 5xx, a function still initializing, the network) is retried.

use super::{Invocation, InvokeError, Invoker};
use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::invoke::InvokeError as SdkInvokeError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use bytes::Bytes;
use std::time::Duration;

/// Lambda's longest function timeout (15 minutes).
pub const MAX_FUNCTION_TIMEOUT: Duration = Duration::from_secs(900);

/// The longest function timeout a Kafka event source mapping takes (14 minutes): AWS
/// refuses a mapping whose function may run longer.
pub const MAX_KAFKA_FUNCTION_TIMEOUT: Duration = Duration::from_secs(840);

/// What an invocation may take beyond the function's timeout: Lambda's own work (a cold
/// start's init, a VPC attachment) and the network.
pub const TIMEOUT_MARGIN: Duration = Duration::from_secs(60);

/// The timeouts of the Lambda client for a function that runs at most
/// `function_timeout` (`KafkaEsm.FunctionTimeout`; Lambda's maximum when unknown). The
/// answer to a synchronous invocation comes when the function returns, so reading the
/// answer and the whole operation may take that long, plus [`TIMEOUT_MARGIN`]; a timed-out
/// invocation is retried like a service error.
pub fn timeouts(function_timeout: Option<Duration>) -> crate::aws::Timeouts {
    let whole = function_timeout.unwrap_or(MAX_FUNCTION_TIMEOUT) + TIMEOUT_MARGIN;
    crate::aws::Timeouts {
        connect: crate::aws::Timeouts::DEFAULT.connect,
        read: whole,
        attempt: whole,
        operation: whole,
    }
}

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

    /// GetFunctionConfiguration, as AWS checks a mapping's function: missing, not ours
    /// to read, or with a timeout over 14 minutes is `FUNCTION_CONFIG_NOT_VALID`.
    async fn check(&self) -> Result<(), InvokeError> {
        let answer = self
            .client
            .get_function_configuration()
            .function_name(&self.function)
            .set_qualifier(self.qualifier.clone())
            .send()
            .await;
        match answer {
            Ok(config) => match config.timeout() {
                Some(t) if Duration::from_secs(t.max(0) as u64) > MAX_KAFKA_FUNCTION_TIMEOUT => {
                    Err(InvokeError::Function {
                        message: format!(
                            "{}: its timeout is {t} s; a Kafka event source mapping's function \
                             may run at most {} s (14 minutes)",
                            self.function,
                            MAX_KAFKA_FUNCTION_TIMEOUT.as_secs()
                        ),
                    })
                }
                _ => Ok(()),
            },
            Err(e) => {
                let (code, status) = match &e {
                    SdkError::ServiceError(s) => (
                        s.err().meta().code().map(str::to_string),
                        s.raw().status().as_u16(),
                    ),
                    SdkError::ResponseError(r) => (None, r.raw().status().as_u16()),
                    _ => (None, 0),
                };
                match (code.as_deref(), status) {
                    (Some("ResourceNotFoundException"), _) | (None, 404) => {
                        Err(InvokeError::Function {
                            message: format!("{}: the function does not exist", self.function),
                        })
                    }
                    (Some("AccessDeniedException"), _) | (None, 403) => {
                        Err(InvokeError::Function {
                            message: format!(
                                "{}: GetFunctionConfiguration was refused ({})",
                                self.function,
                                code.as_deref().unwrap_or("403")
                            ),
                        })
                    }
                    _ => {
                        tracing::warn!(
                            function = %self.function,
                            "could not check the function's configuration; invocations will tell: {}",
                            aws_sdk_lambda::error::DisplayErrorContext(&e)
                        );
                        Ok(())
                    }
                }
            }
        }
    }
}

/// What retrying an invocation that Lambda refused can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// 429: wait and try again, without counting an attempt.
    Throttled,
    /// 413: the payload is over Lambda's limit.
    TooLarge,
    /// Nothing until the function's configuration (or our permission) changes.
    Function,
    /// May pass: Lambda's 5xx, a function still starting, a transient EC2 or EFS error.
    Retriable,
}

/// Sorts an error Lambda answered by its code (`x-amzn-ErrorType`, the modeled
/// exceptions' names as in the Invoke API reference) and HTTP status.
fn refusal(code: Option<&str>, status: u16) -> Refusal {
    match code.unwrap_or_default() {
        "TooManyRequestsException" => Refusal::Throttled,
        "RequestTooLargeException" | "SerializedRequestEntityTooLargeException" => {
            Refusal::TooLarge
        }
        // The function or its alias/version doesn't exist, or this call can never work.
        "ResourceNotFoundException"
        | "InvalidParameterValueException"
        | "InvalidRequestContentException"
        | "UnsupportedMediaTypeException"
        | "ModeNotSupportedException"
        | "NoPublishedVersionException"
        | "RecursiveInvocationException"
        // The function can't start as configured: runtime, package, code artifact.
        | "InvalidRuntimeException"
        | "InvalidZipFileException"
        | "CodeArtifactUserFailedException"
        // Its environment variables' KMS key.
        | "KMSAccessDeniedException"
        | "KMSDisabledException"
        | "KMSInvalidStateException"
        | "KMSNotFoundException"
        // Its VPC: the execution role's EC2 permissions, subnets, security groups, ENIs.
        | "EC2AccessDeniedException"
        | "InvalidSubnetIDException"
        | "InvalidSecurityGroupIDException"
        | "SubnetIPAddressLimitReachedException"
        | "ENILimitReachedException"
        // A file system it can't mount for permissions or configuration.
        | "EFSMountFailureException"
        | "S3FilesMountFailureException"
        // We may not invoke it, or our credentials are not valid.
        | "AccessDeniedException"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "MissingAuthenticationTokenException" => Refusal::Function,
        // Credentials the provider renews, and a clock off by minutes: the next try may pass.
        "ExpiredTokenException" | "ExpiredToken" | "RequestExpired" | "InvalidSignatureTimeException" => {
            Refusal::Retriable
        }
        _ if status == 429 => Refusal::Throttled,
        _ if status == 413 => Refusal::TooLarge,
        // Any other 403 or 404 (an unknown function URL path, an endpoint that is not
        // Lambda) is no better on the next try.
        _ if status == 403 || status == 404 => Refusal::Function,
        _ => Refusal::Retriable,
    }
}

fn classify(e: SdkError<SdkInvokeError, HttpResponse>) -> InvokeError {
    let message = aws_sdk_lambda::error::DisplayErrorContext(&e).to_string();
    let (code, status) = match &e {
        SdkError::ServiceError(s) => (s.err().meta().code(), s.raw().status().as_u16()),
        SdkError::ResponseError(r) => (None, r.raw().status().as_u16()),
        _ => return InvokeError::Service { message },
    };
    match refusal(code, status) {
        Refusal::Throttled => InvokeError::Throttled { message },
        Refusal::TooLarge => InvokeError::PayloadTooLarge { message },
        Refusal::Function => InvokeError::Function { message },
        Refusal::Retriable => InvokeError::Service { message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_forbidden_or_misconfigured_function_stops_the_mapping() {
        for code in [
            "ResourceNotFoundException",
            "AccessDeniedException",
            "InvalidParameterValueException",
            "KMSAccessDeniedException",
            "KMSNotFoundException",
            "EC2AccessDeniedException",
            "ENILimitReachedException",
            "SubnetIPAddressLimitReachedException",
            "InvalidSubnetIDException",
            "InvalidRuntimeException",
            "UnrecognizedClientException",
        ] {
            let status = if code == "AccessDeniedException" {
                403
            } else {
                400
            };
            assert_eq!(refusal(Some(code), status), Refusal::Function, "{code}");
        }
        assert_eq!(refusal(None, 404), Refusal::Function, "any 404");
        assert_eq!(refusal(Some("Whatever"), 403), Refusal::Function, "any 403");
    }

    #[test]
    fn what_may_pass_is_retried() {
        for (code, status) in [
            ("ServiceException", 500),
            ("ResourceNotReadyException", 502),
            ("ResourceConflictException", 409),
            ("EC2ThrottledException", 502),
            ("EC2UnexpectedException", 502),
            ("ENINotReadyException", 502),
            ("EFSMountTimeoutException", 408),
            ("SnapStartNotReadyException", 409),
            ("ExpiredTokenException", 403),
        ] {
            assert_eq!(refusal(Some(code), status), Refusal::Retriable, "{code}");
        }
        assert_eq!(refusal(None, 503), Refusal::Retriable);
        assert_eq!(
            refusal(Some("TooManyRequestsException"), 429),
            Refusal::Throttled
        );
        assert_eq!(refusal(None, 429), Refusal::Throttled);
        assert_eq!(
            refusal(Some("RequestTooLargeException"), 413),
            Refusal::TooLarge
        );
    }

    #[test]
    fn the_client_waits_out_the_functions_timeout_and_a_margin() {
        let t = timeouts(Some(Duration::from_secs(30)));
        assert_eq!(t.read, Duration::from_secs(90));
        assert_eq!(t.operation, Duration::from_secs(90));
        assert_eq!(t.attempt, Duration::from_secs(90));
        let longest = timeouts(None);
        assert_eq!(
            longest.operation,
            Duration::from_secs(960),
            "15 min + 1 min"
        );
        assert!(longest.read > MAX_FUNCTION_TIMEOUT);
    }
}
