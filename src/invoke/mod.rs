//! Invoking the function: the [`Invoker`] the runtime calls with an encoded event, and
//! the translation of what came back into the engine's [`InvokeOutcome`].
//!
//! An invoker only delivers a payload and returns what the function (or Lambda) said;
//! whether that is a success, a partial batch failure or an error to retry is decided
//! here, by the rules AWS documents, and acted on by the engine. Invokers never retry
//! on their own: retries belong to the engine.
//!
//! Two invokers: AWS Lambda's Invoke API ([`lambda`]), and a handler process on this host
//! served the Lambda Runtime API ([`local`]).

pub mod lambda;
pub mod local;
pub mod partial;

use crate::engine::{Failure, InvokeOutcome};
use bytes::Bytes;
use std::future::Future;

/// What a synchronous invocation returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    pub status_code: i32,
    /// `Handled` or `Unhandled` when the function failed (`X-Amz-Function-Error`).
    pub function_error: Option<String>,
    pub executed_version: Option<String>,
    /// The function's response, or its error object.
    pub payload: Bytes,
}

/// Why an invocation did not reach the function, or Lambda refused it.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvokeError {
    /// 429: the function's concurrency or the account's is exhausted.
    #[error("the function was throttled: {message}")]
    Throttled { message: String },
    /// 413: the payload is over Lambda's limit (the engine's cap should prevent it).
    #[error("the payload is too large for Lambda: {message}")]
    PayloadTooLarge { message: String },
    /// The function, alias or version doesn't exist, or we may not invoke it: the
    /// mapping can't work until the configuration changes (`FUNCTION_CONFIG_NOT_VALID`).
    #[error("the function can't be invoked: {message}")]
    Function { message: String },
    /// The function ran longer than its timeout (local functions).
    #[error("the function timed out after {seconds} s")]
    Timeout { seconds: u64 },
    /// Any other failure: Lambda service errors, network, credentials.
    #[error("invoking the function failed: {message}")]
    Service { message: String },
}

impl InvokeError {
    /// The documented reason a mapping reports for this error, if it stops the mapping.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            InvokeError::Function { .. } => Some("FUNCTION_CONFIG_NOT_VALID"),
            _ => None,
        }
    }
}

/// Something that can run the function with an event: AWS Lambda, or a local handler.
pub trait Invoker: Send + Sync + 'static {
    fn invoke(
        &self,
        payload: Bytes,
    ) -> impl Future<Output = Result<Invocation, InvokeError>> + Send;

    /// Checks, before the mapping starts, that the function can be a Kafka mapping's
    /// target (AWS Lambda: it exists and its timeout is at most 14 minutes). An error
    /// with a [`InvokeError::reason`] stops the mapping; anything that may pass (the
    /// network, a throttle) is not an error here: invocations will retry it.
    fn check(&self) -> impl Future<Output = Result<(), InvokeError>> + Send {
        std::future::ready(Ok(()))
    }
}

/// A shared invoker: the mapping and the local Invoke API use one local function's pool.
impl<I: Invoker> Invoker for std::sync::Arc<I> {
    fn invoke(
        &self,
        payload: Bytes,
    ) -> impl Future<Output = Result<Invocation, InvokeError>> + Send {
        I::invoke(self, payload)
    }

    fn check(&self) -> impl Future<Output = Result<(), InvokeError>> + Send {
        I::check(self)
    }
}

/// The engine's view of an invocation of a batch of `partition_key` (`"topic-0"`),
/// under the mapping's `ReportBatchItemFailures` setting.
///
/// An error with a [`InvokeError::reason`] (the function can't be invoked as configured)
/// is never the engine's to retry or drop: the runtime stops the mapping on it, with the
/// batch uncommitted, before it asks here (where it reads as a service failure).
pub fn outcome(
    result: &Result<Invocation, InvokeError>,
    report_batch_item_failures: bool,
    partition_key: &str,
) -> InvokeOutcome {
    match result {
        Err(InvokeError::Throttled { .. }) => InvokeOutcome::Failed(Failure::Throttled),
        Err(InvokeError::Timeout { .. }) => InvokeOutcome::Failed(Failure::Function),
        Err(_) => InvokeOutcome::Failed(Failure::Service),
        Ok(inv) if inv.function_error.is_some() => InvokeOutcome::Failed(Failure::Function),
        Ok(_) if !report_batch_item_failures => InvokeOutcome::Success,
        Ok(inv) => match partial::parse(&inv.payload, partition_key) {
            Ok(failed_offsets) => InvokeOutcome::PartialFailure { failed_offsets },
            Err(e) => {
                tracing::warn!("partial batch response refused, the batch failed: {e}");
                InvokeOutcome::Failed(Failure::Function)
            }
        },
    }
}
