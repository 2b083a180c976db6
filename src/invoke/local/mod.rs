//! Local functions: a handler process on this host, invoked exactly like Lambda would,
//! through the Lambda Runtime API (SPEC section 6).
//!
//! [`LocalInvoker`] starts the function's command (any Lambda runtime client: a
//! `bootstrap` built with `lambda_runtime`, `python -m awslambdaric handler.fn`, ...) with
//! `AWS_LAMBDA_RUNTIME_API` pointing at a Runtime API served on loopback ([`api`]), and
//! hands each invocation to the process's `next` long-poll. [`invoke_api`] serves the
//! Lambda Invoke API on loopback for these functions, so the aws CLI and SDKs can call
//! them too. What comes back:
//!
//! - `/response`: success, the body is the payload;
//! - `/error` or `/init/error`: a function error (`Unhandled`), the error object as the
//!   payload, as Lambda returns it; after an init error the process is replaced (an init
//!   error is only reported to an invocation: the process is started by one, and given
//!   it at once);
//! - a response over 6 MB: a function error, `Function.ResponseSizeTooLarge`;
//! - no answer within the configured timeout: [`InvokeError::Timeout`](crate::invoke::InvokeError::Timeout), and the process
//!   is killed;
//! - the process exits mid-invocation: a function error, `Runtime.ExitError`.
//!
//! The invoker is a pool, like Lambda's execution environments: each process serves one
//! invocation at a time, and concurrent `invoke` calls (the runtime makes one per
//! partition in flight) run on distinct processes, up to [`LocalFunction::concurrency`].
//! Processes start on demand and stay warm between invocations (the most recently used
//! is reused first); past the limit, an invocation waits for a free process rather than
//! being throttled, so waiting never counts as a failed attempt. Each process has its own
//! Runtime API server on its own port: a long-poll left behind by a dead process can
//! never take another process's event. A process that was killed or exited is dropped
//! from the pool, alone (the others keep working), and the next invocation that needs it
//! starts a fresh one (a cold start). The timeout covers the whole invocation, including a
//! cold start's initialization (Lambda times the init phase separately), but not the wait
//! for a free process. A process is killed with its process group: whatever it started
//! (a wrapper's child, a worker pool) goes with it.
//!
//! Each process starts from a clean environment: Lambda's variables, `PATH` and the
//! function's own ([`LocalFunction::env`]), nothing else of kafka-esm's (its Kafka
//! secrets, its AWS credentials). It leads its own process group, and only that group
//! may call its Runtime API ([`peer`]). It dies with kafka-esm, even one killed with
//! `kill -9` ([`spawn`], Linux).

pub mod api;
pub mod invoke_api;
mod peer;
mod process;
mod spawn;

pub use api::MAX_PAYLOAD;
pub use invoke_api::{InvokeApi, InvokeApiError, InvokeHandler};
pub use process::LocalInvoker;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// The longest function timeout a mapping accepts (an event source mapping's limit).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(14 * 60);

/// The default [`LocalFunction::concurrency`]: 10 processes. Processes start only for
/// invocations in flight (one per partition at most), so a small topic never starts more
/// than it has partitions; 10 covers the topics a developer runs locally while keeping a
/// many-partition topic from starting dozens of runtimes (a Python one is ~50 MB) at once.
pub const DEFAULT_CONCURRENCY: u32 = 10;

/// The most processes a local function may run at once: Lambda's default account
/// concurrency.
pub const MAX_CONCURRENCY: u32 = 1000;

/// A function that runs on this host: its command line, environment and settings.
#[derive(Clone, Debug)]
pub struct LocalFunction {
    /// `AWS_LAMBDA_FUNCTION_NAME`, and the name in the invoked function ARN.
    pub name: String,
    pub program: OsString,
    pub args: Vec<OsString>,
    /// The function's own variables (Lambda's `Environment.Variables`), on top of what
    /// Lambda sets; no variable Lambda reserves ([`RESERVED_VARIABLES`]). The handler
    /// sees these, Lambda's and `PATH`, nothing else of kafka-esm's environment.
    pub env: Vec<(OsString, OsString)>,
    /// The working directory, and `LAMBDA_TASK_ROOT`; the current directory if `None`.
    pub working_dir: Option<PathBuf>,
    /// `_HANDLER`, when the runtime client reads it.
    pub handler: Option<String>,
    /// 1 s to [`MAX_TIMEOUT`], whole seconds.
    pub timeout: Duration,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, informational.
    pub memory_mb: u32,
    /// `AWS_REGION`, and the region in the invoked function ARN.
    pub region: String,
    /// How many processes may run invocations at once, 1 to [`MAX_CONCURRENCY`].
    pub concurrency: u32,
}

impl LocalFunction {
    /// `name` run as `program` with no arguments, 3 s timeout (Lambda's default), 128 MB,
    /// region `us-east-1`, [`DEFAULT_CONCURRENCY`] processes.
    pub fn new(name: impl Into<String>, program: impl Into<OsString>) -> LocalFunction {
        LocalFunction {
            name: name.into(),
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            working_dir: None,
            handler: None,
            timeout: Duration::from_secs(3),
            memory_mb: 128,
            region: "us-east-1".into(),
            concurrency: DEFAULT_CONCURRENCY,
        }
    }

    /// `name` run as the shell command line `command` (`sh -c`, with `exec`, so a
    /// timeout's kill reaches the handler itself), with [`LocalFunction::new`]'s settings.
    pub fn shell(name: impl Into<String>, command: &str) -> LocalFunction {
        let mut function = LocalFunction::new(name, "sh");
        function.args = vec!["-c".into(), format!("exec {command}").into()];
        function
    }

    /// The ARN the process sees in `Lambda-Runtime-Invoked-Function-Arn`.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:000000000000:function:{}",
            self.region, self.name
        )
    }

    fn validate(&self) -> Result<(), LocalError> {
        if self.timeout < Duration::from_secs(1)
            || self.timeout > MAX_TIMEOUT
            || self.timeout.subsec_nanos() != 0
        {
            return Err(LocalError::Timeout(self.timeout));
        }
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            return Err(LocalError::Concurrency(self.concurrency));
        }
        if self.program.is_empty() {
            return Err(LocalError::NoCommand);
        }
        if self.name.is_empty() || !self.name.is_ascii() || !self.region.is_ascii() {
            return Err(LocalError::Name(self.name.clone()));
        }
        for (name, value) in &self.env {
            let name = name.to_string_lossy();
            if let Err(why) = check_variable(&name, &value.to_string_lossy()) {
                return Err(LocalError::Environment(format!("{name}: {why}")));
            }
        }
        Ok(())
    }
}

/// The variables Lambda sets and refuses in a function's `Environment.Variables`.
pub const RESERVED_VARIABLES: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_REGION",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "LAMBDA_RUNTIME_DIR",
    "LAMBDA_TASK_ROOT",
];

/// Lambda's limit on a function's variables: 4 KB, names and values together.
pub const MAX_ENVIRONMENT_BYTES: usize = 4 * 1024;

/// Why a function variable is refused, as Lambda refuses it: a name of a letter then
/// letters, digits and `_` (two characters at least), not reserved; no NUL in the value
/// (no process could be given it).
pub fn check_variable(name: &str, value: &str) -> Result<(), String> {
    if RESERVED_VARIABLES.contains(&name) {
        return Err("reserved: Lambda sets it".into());
    }
    let mut chars = name.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !well_formed {
        return Err(
            "not a variable name Lambda accepts (a letter, then letters, digits and _)".into(),
        );
    }
    if value.contains('\0') {
        return Err("the value holds a NUL character".into());
    }
    Ok(())
}

/// Why a local function's configuration was refused (`FUNCTION_CONFIG_NOT_VALID`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    #[error("the function timeout {0:?} is not whole seconds from 1 s to 14 minutes")]
    Timeout(Duration),
    #[error("the function concurrency {0} is not from 1 to {MAX_CONCURRENCY} processes")]
    Concurrency(u32),
    #[error("the local function has no command to run")]
    NoCommand,
    #[error("the function name {0:?} is empty or not ASCII (or the region isn't)")]
    Name(String),
    #[error("the function variable {0}")]
    Environment(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_is_checked() {
        let ok = LocalFunction::new("f", "bootstrap");
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.arn(), "arn:aws:lambda:us-east-1:000000000000:function:f");
        for timeout in [
            Duration::ZERO,
            Duration::from_millis(1500),
            MAX_TIMEOUT + Duration::from_secs(1),
        ] {
            let f = LocalFunction {
                timeout,
                ..ok.clone()
            };
            assert_eq!(f.validate(), Err(LocalError::Timeout(timeout)));
        }
        let f = LocalFunction {
            timeout: MAX_TIMEOUT,
            ..ok.clone()
        };
        assert_eq!(f.validate(), Ok(()));
        assert_eq!(
            LocalFunction::new("f", "").validate(),
            Err(LocalError::NoCommand)
        );
        assert!(LocalFunction::new("fé", "x").validate().is_err());
        for (name, value) in [("AWS_REGION", "x"), ("1X", "x"), ("X", "x"), ("OK", "a\0b")] {
            let f = LocalFunction {
                env: vec![(name.into(), value.into())],
                ..ok.clone()
            };
            assert!(
                matches!(f.validate(), Err(LocalError::Environment(_))),
                "{name}"
            );
        }
        let f = LocalFunction {
            env: vec![("PATH".into(), "/bin".into()), ("Db_1".into(), "".into())],
            ..ok.clone()
        };
        assert_eq!(f.validate(), Ok(()));
        for concurrency in [0, MAX_CONCURRENCY + 1] {
            let f = LocalFunction {
                concurrency,
                ..ok.clone()
            };
            assert_eq!(f.validate(), Err(LocalError::Concurrency(concurrency)));
        }
    }
}
