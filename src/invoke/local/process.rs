//! [`LocalInvoker`]: a pool of handler processes, and each invocation's outcome.

use super::api::{self, Answer, Event, MAX_PAYLOAD, Shared};
use super::{LocalError, LocalFunction};
use crate::invoke::{Invocation, InvokeError, Invoker};
use bytes::Bytes;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Invokes a [`LocalFunction`] on a pool of processes, each running one invocation at a
/// time, at most [`LocalFunction::concurrency`] at once (see the module docs). Processes
/// start on demand, and again after a timeout, an init error or an exit.
#[derive(Debug)]
pub struct LocalInvoker {
    function: LocalFunction,
    arn: String,
    /// One permit per process that may run: an invocation holds one while it runs.
    permits: Semaphore,
    /// Processes between invocations, the most recently used last (reused first: it is
    /// the warmest).
    idle: std::sync::Mutex<Vec<Instance>>,
}

/// A running process and the Runtime API server that serves it.
#[derive(Debug)]
struct Instance {
    child: Child,
    /// The process group the child leads (its pid): it and whatever it started.
    group: Option<u32>,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Instance {
    /// Kills the process and everything it started (its process group).
    fn kill(&mut self) {
        if let Some(group) = self.group {
            super::spawn::kill_group(group);
        }
        let _ = self.child.start_kill();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // Also what it started, even after it exited: the group lives on while any member
        // does, and the kernel reuses no pid that still names a group. (An emptied group's
        // id could name another only after the pids wrapped around since the exit.)
        self.kill();
        self.server.abort();
    }
}

impl LocalInvoker {
    /// Checks the configuration; no process starts until the first invocation.
    pub fn new(function: LocalFunction) -> Result<LocalInvoker, LocalError> {
        function.validate()?;
        Ok(LocalInvoker {
            arn: function.arn(),
            permits: Semaphore::new(function.concurrency as usize),
            idle: std::sync::Mutex::new(Vec::new()),
            function,
        })
    }

    pub fn function(&self) -> &LocalFunction {
        &self.function
    }

    /// How many processes are running between invocations (for tests and status).
    pub fn idle_processes(&self) -> usize {
        self.lock_idle().len()
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Instance>> {
        // Nothing panics while holding it; a poisoned pool still holds valid processes.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The warmest idle process still running, or a new one (a cold start).
    async fn checkout(&self) -> Result<Instance, InvokeError> {
        loop {
            let Some(mut instance) = self.lock_idle().pop() else {
                break;
            };
            // A process that exited while idle is dropped, and the next one tried.
            if matches!(instance.child.try_wait(), Ok(None)) {
                return Ok(instance);
            }
        }
        self.start().await
    }

    async fn start(&self) -> Result<Instance, InvokeError> {
        let service = |e: std::io::Error| InvokeError::Service {
            message: format!("serving the Lambda Runtime API on loopback: {e}"),
        };
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(service)?;
        let address = listener.local_addr().map_err(service)?;
        let shared = Shared::new(self.arn.clone());
        let server = tokio::spawn(tracing::Instrument::in_current_span(api::serve(
            listener,
            shared.clone(),
        )));
        let f = &self.function;
        let mut command = Command::new(&f.program);
        command
            .args(&f.args)
            .env_clear()
            .envs(lambda_environment(f, &address.to_string()))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Some(dir) = &f.working_dir {
            command.current_dir(dir);
        }
        let child = match super::spawn::spawn(command).await {
            Ok(child) => child,
            Err(e) => {
                server.abort();
                return Err(InvokeError::Function {
                    message: format!(
                        "starting local function {} ({}): {e}",
                        f.name,
                        f.program.to_string_lossy()
                    ),
                });
            }
        };
        let group = child.id();
        if let Some(pid) = group {
            shared.serve_handler(pid);
        }
        tracing::info!(function = %f.name, %address, "local function started (cold start)");
        Ok(Instance {
            child,
            group,
            shared,
            server,
        })
    }
}

/// The handler's whole environment: what Lambda sets, `PATH` passed through from
/// kafka-esm's (a command run by `sh -c` needs it; Lambda's own default when unset), and
/// the function's own variables (which may replace `PATH`, `LANG` and `TZ`, as on Lambda,
/// but no variable Lambda reserves: [`LocalFunction::validate`] refuses those). Nothing
/// else of kafka-esm's environment (Kafka secrets given as `env://`, AWS credentials)
/// reaches the handler.
fn lambda_environment(f: &LocalFunction, runtime_api: &str) -> Vec<(OsString, OsString)> {
    let task_root = f
        .working_dir
        .clone()
        .or_else(|| std::env::current_dir().ok())
        .map(PathBuf::into_os_string);
    let path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
    let mut env: Vec<(OsString, OsString)> = [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", f.name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", f.memory_mb.to_string()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", f.name),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "local".into()),
        ("AWS_REGION", f.region.clone()),
        ("AWS_DEFAULT_REGION", f.region.clone()),
        ("LANG", "en_US.UTF-8".into()),
        ("TZ", ":UTC".into()),
    ]
    .into_iter()
    .map(|(k, v)| (OsString::from(k), OsString::from(v)))
    .collect();
    env.push(("PATH".into(), path));
    if let Some(handler) = &f.handler {
        env.push(("_HANDLER".into(), handler.into()));
    }
    if let Some(root) = task_root {
        env.push(("LAMBDA_TASK_ROOT".into(), root));
    }
    env.extend(f.env.iter().cloned());
    env
}

/// `PATH` when kafka-esm has none: Lambda's, less its runtime directories.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// How one invocation ended, before it becomes an [`Invocation`].
enum Ended {
    Answered(Answer),
    Exited(String),
    TimedOut,
}

impl Invoker for LocalInvoker {
    async fn invoke(&self, payload: Bytes) -> Result<Invocation, InvokeError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(InvokeError::PayloadTooLarge {
                message: format!("{} bytes, over the 6 MB limit", payload.len()),
            });
        }
        // Never closed: acquiring only waits for a process to be free.
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| InvokeError::Service {
                message: "the local function's pool is closed".into(),
            })?;
        let mut instance = self.checkout().await?;
        let (result, healthy) = self.run(&mut instance, payload).await;
        if healthy {
            self.lock_idle().push(instance);
        }
        // else: dropping the instance kills the process and its Runtime API server.
        result
    }
}

impl LocalInvoker {
    /// Runs one invocation on `instance`; false when the process must not be reused.
    async fn run(
        &self,
        instance: &mut Instance,
        payload: Bytes,
    ) -> (Result<Invocation, InvokeError>, bool) {
        let id = uuid::Uuid::new_v4().to_string();
        let timeout = self.function.timeout;
        let answer = instance.shared.submit(Event {
            id: id.clone(),
            payload,
            deadline_ms: deadline_ms(timeout),
            trace_id: trace_id(),
        });
        let ended = tokio::select! {
            biased;
            answer = answer => match answer {
                Ok(answer) => Ended::Answered(answer),
                // The server never drops a waiting reply while the instance lives.
                Err(_) => Ended::Exited("the runtime API stopped".into()),
            },
            status = instance.child.wait() => Ended::Exited(match status {
                Ok(status) => status.to_string(),
                Err(e) => e.to_string(),
            }),
            _ = tokio::time::sleep(timeout) => Ended::TimedOut,
        };
        let name = &self.function.name;
        let (function_error, payload, healthy) = match ended {
            Ended::Answered(Answer::Response(body)) => (None, body, true),
            Ended::Answered(Answer::Error { body, error_type }) => {
                (Some("Unhandled"), error_object(body, error_type), true)
            }
            Ended::Answered(Answer::InitError { body, error_type }) => {
                tracing::warn!(function = %name, "local function failed to initialize");
                (Some("Unhandled"), error_object(body, error_type), false)
            }
            Ended::Answered(Answer::ResponseTooLarge) => (
                Some("Unhandled"),
                error_json(
                    "Function.ResponseSizeTooLarge",
                    "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
                ),
                true,
            ),
            Ended::Exited(status) => {
                tracing::warn!(function = %name, %status, "local function exited mid-invocation");
                (
                    Some("Unhandled"),
                    error_json(
                        "Runtime.ExitError",
                        &format!("RequestId: {id} Error: Runtime exited with error: {status}"),
                    ),
                    false,
                )
            }
            Ended::TimedOut => {
                tracing::warn!(function = %name, "local function timed out; killed");
                instance.kill();
                let _ = tokio::time::timeout(Duration::from_secs(5), instance.child.wait()).await;
                let error = InvokeError::Timeout {
                    seconds: timeout.as_secs(),
                };
                return (Err(error), false);
            }
        };
        let invocation = Invocation {
            status_code: 200,
            function_error: function_error.map(str::to_string),
            executed_version: Some("$LATEST".into()),
            payload,
        };
        (Ok(invocation), healthy)
    }
}

/// The error object as the runtime sent it; an empty one is built from the error type.
fn error_object(body: Bytes, error_type: Option<String>) -> Bytes {
    if body.iter().all(u8::is_ascii_whitespace) {
        let error_type = error_type.unwrap_or_else(|| "Runtime.Unknown".into());
        error_json(&error_type, "the runtime reported an error with no details")
    } else {
        body
    }
}

fn error_json(error_type: &str, message: &str) -> Bytes {
    Bytes::from(serde_json::json!({"errorMessage": message, "errorType": error_type}).to_string())
}

fn deadline_ms(timeout: Duration) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from((now + timeout).as_millis()).unwrap_or(u64::MAX)
}

/// An X-Ray trace header of the form Lambda sends (not sampled: nothing records it).
fn trace_id() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        seconds as u32,
        &random[..24],
        &random[16..32]
    )
}
