//! Local functions against AWS's own runtime client: `awslambdaric` (PyPI, in the rig's
//! venv) runs the handlers in `tests/fixtures/handler.py` through kafka-esm's
//! Lambda Runtime API. Success, a raised exception, a timeout and a crash, each followed
//! by an invocation that works (after a cold start where the process was replaced); the
//! pool (concurrent invocations on distinct processes, the concurrency limit, a crash
//! that replaces one process while another works); and a raw client that sends the API
//! what a runtime client never would.

use bytes::Bytes;
use kafka_esm::invoke::local::{LocalFunction, LocalInvoker};
use kafka_esm::invoke::{InvokeError, Invoker};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

fn handlers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `python -m awslambdaric handler.<name>`, from the handlers' directory.
fn function(name: &str, timeout_s: u64) -> LocalInvoker {
    LocalInvoker::new(local_function(name, timeout_s)).unwrap()
}

fn local_function(name: &str, timeout_s: u64) -> LocalFunction {
    let python = kafka_esm_rig::rig_tool("venv/bin/python").unwrap();
    let mut f = LocalFunction::new(format!("local-{name}"), python);
    f.args = vec![
        "-m".into(),
        "awslambdaric".into(),
        format!("handler.{name}").into(),
    ];
    f.handler = Some(format!("handler.{name}"));
    f.working_dir = Some(handlers_dir());
    f.timeout = Duration::from_secs(timeout_s);
    f
}

fn event(value: Value) -> Bytes {
    Bytes::from(value.to_string())
}

fn json_of(payload: &Bytes) -> Value {
    serde_json::from_slice(payload).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}", String::from_utf8_lossy(payload));
    })
}

fn record(offset: i64) -> Value {
    json!({"topic": "orders", "partition": 0, "offset": offset, "timestamp": 0,
           "timestampType": "CREATE_TIME", "value": "aGk=", "headers": []})
}

#[tokio::test]
async fn success_returns_the_handlers_json() {
    let invoker = function("count", 10);
    let kafka_event = json!({
        "eventSource": "SelfManagedKafka",
        "bootstrapServers": "localhost:9092",
        "records": {"orders-0": [record(1), record(2)], "orders-1": [record(7)]},
    });
    let first = invoker.invoke(event(kafka_event.clone())).await.unwrap();
    assert_eq!(first.status_code, 200);
    assert_eq!(first.function_error, None);
    let answer = json_of(&first.payload);
    assert_eq!(answer["records"], 3);
    assert_eq!(answer["function_name"], "local-count");
    assert_eq!(
        answer["arn"],
        "arn:aws:lambda:us-east-1:000000000000:function:local-count"
    );
    let remaining = answer["remaining_ms"].as_i64().unwrap();
    assert!(remaining > 0 && remaining <= 10_000, "{remaining}");
    // The same process serves the next invocation (warm), with a new request id.
    let second = json_of(&invoker.invoke(event(kafka_event)).await.unwrap().payload);
    assert_eq!(second["pid"], answer["pid"]);
    assert_ne!(second["request_id"], answer["request_id"]);
}

#[tokio::test]
async fn a_raised_exception_is_an_unhandled_function_error() {
    let invoker = function("fail", 10);
    for _ in 0..2 {
        let inv = invoker.invoke(event(json!({}))).await.unwrap();
        assert_eq!(inv.function_error.as_deref(), Some("Unhandled"));
        let error = json_of(&inv.payload);
        assert_eq!(error["errorType"], "OrderRejected", "{error}");
        assert_eq!(error["errorMessage"], "order 42 is not valid", "{error}");
    }
}

#[tokio::test]
async fn a_timeout_kills_the_process_and_the_next_invocation_cold_starts() {
    let invoker = function("slow", 4);
    let warm = json_of(&invoker.invoke(event(json!({}))).await.unwrap().payload);
    let started = std::time::Instant::now();
    match invoker.invoke(event(json!({"sleep": 60}))).await {
        Err(InvokeError::Timeout { seconds: 4 }) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    let cold = invoker.invoke(event(json!({}))).await.unwrap();
    assert_eq!(cold.function_error, None);
    assert_ne!(json_of(&cold.payload)["pid"], warm["pid"], "not restarted");
}

#[tokio::test]
async fn a_crash_is_a_function_error_and_the_next_invocation_cold_starts() {
    let invoker = function("crash", 10);
    let warm = json_of(&invoker.invoke(event(json!({}))).await.unwrap().payload);
    let inv = invoker.invoke(event(json!({"crash": true}))).await.unwrap();
    assert_eq!(inv.function_error.as_deref(), Some("Unhandled"));
    let error = json_of(&inv.payload);
    assert_eq!(error["errorType"], "Runtime.ExitError", "{error}");
    let cold = invoker.invoke(event(json!({}))).await.unwrap();
    assert_eq!(cold.function_error, None);
    assert_ne!(json_of(&cold.payload)["pid"], warm["pid"], "not restarted");
}

#[tokio::test]
async fn a_command_that_cannot_start_is_a_configuration_error() {
    let invoker =
        LocalInvoker::new(LocalFunction::new("missing", "/nonexistent/bootstrap")).unwrap();
    let error = invoker.invoke(event(json!({}))).await.unwrap_err();
    assert_eq!(error.reason(), Some("FUNCTION_CONFIG_NOT_VALID"), "{error}");
}

#[tokio::test]
async fn bad_requests_get_clear_4xx_answers() {
    // probe.py speaks raw HTTP to the API, checks each answer, then answers the
    // invocation with what it saw (or posts an error naming what went wrong).
    let python = kafka_esm_rig::rig_tool("venv/bin/python").unwrap();
    let mut f = LocalFunction::new("probe", python);
    f.args = vec![handlers_dir().join("probe.py").into()];
    f.timeout = Duration::from_secs(20);
    let invoker = LocalInvoker::new(f).unwrap();
    let inv = invoker
        .invoke(event(json!({"hello": "world"})))
        .await
        .unwrap();
    assert_eq!(
        inv.function_error,
        None,
        "{}",
        String::from_utf8_lossy(&inv.payload)
    );
    let seen = json_of(&inv.payload);
    assert_eq!(seen["event"], json!({"hello": "world"}));
    assert_eq!(seen["statuses"], json!([404, 405, 405, 400, 413, 404]));
}

#[tokio::test]
async fn an_init_error_is_a_function_error_and_the_process_is_replaced() {
    // awslambdaric reports a handler it can't import through /init/error.
    let invoker = function("no_such_function", 10);
    for _ in 0..2 {
        let inv = invoker.invoke(event(json!({}))).await.unwrap();
        assert_eq!(inv.function_error.as_deref(), Some("Unhandled"));
        let error = json_of(&inv.payload);
        assert_eq!(error["errorType"], "Runtime.HandlerNotFound", "{error}");
    }
}

/// Where `handler.gate` invocations check in: each connects, sends its pid, and waits
/// until the test lets it go.
struct Gate {
    listener: TcpListener,
}

/// An invocation held at the gate.
struct Held {
    pid: i64,
    stream: BufReader<TcpStream>,
}

impl Gate {
    async fn new() -> Gate {
        Gate {
            listener: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        }
    }

    fn event(&self) -> Bytes {
        event(json!({"gate": self.listener.local_addr().unwrap().port()}))
    }

    /// The next invocation to arrive (an event, not a timing: it blocks until one does).
    async fn arrival(&self) -> Held {
        let (stream, _) = tokio::time::timeout(Duration::from_secs(60), self.listener.accept())
            .await
            .expect("an invocation arrives at the gate within 60 s")
            .unwrap();
        let mut stream = BufReader::new(stream);
        let mut line = String::new();
        stream.read_line(&mut line).await.unwrap();
        Held {
            pid: line.trim().parse().unwrap(),
            stream,
        }
    }
}

impl Held {
    async fn release(mut self) {
        self.stream.get_mut().write_all(b"go\n").await.unwrap();
    }
}

fn pid_of(result: Result<kafka_esm::invoke::Invocation, InvokeError>) -> i64 {
    let inv = result.unwrap();
    assert_eq!(
        inv.function_error,
        None,
        "{}",
        String::from_utf8_lossy(&inv.payload)
    );
    json_of(&inv.payload)["pid"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_invocations_run_on_distinct_processes_up_to_the_limit() {
    let mut f = local_function("gate", 60);
    f.concurrency = 2;
    let invoker = Arc::new(LocalInvoker::new(f).unwrap());
    let gate = Gate::new().await;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let (invoker, event) = (invoker.clone(), gate.event());
        calls.spawn(async move { invoker.invoke(event).await });
    }
    // Two invocations are held at the gate at once: they run in parallel, on two
    // processes.
    let a = gate.arrival().await;
    let b = gate.arrival().await;
    assert_ne!(a.pid, b.pid, "two invocations at once share a process");
    let first_two = [a.pid, b.pid];
    a.release().await;
    // The third ran only once a process was free (a third process would have a new pid,
    // whichever order the three arrived in).
    let c = gate.arrival().await;
    assert!(
        first_two.contains(&c.pid),
        "a third process started past the limit of 2: {} not in {first_two:?}",
        c.pid
    );
    b.release().await;
    c.release().await;
    let mut pids = Vec::new();
    while let Some(result) = calls.join_next().await {
        pids.push(pid_of(result.unwrap()));
    }
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert_eq!(invoker.idle_processes(), 2, "both processes kept warm");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_process_is_replaced_while_another_keeps_working() {
    let mut f = local_function("gate", 60);
    f.concurrency = 2;
    let invoker = Arc::new(LocalInvoker::new(f).unwrap());
    let gate = Gate::new().await;
    let held = {
        let (invoker, event) = (invoker.clone(), gate.event());
        tokio::spawn(async move { invoker.invoke(event).await })
    };
    let working = gate.arrival().await;
    // The second process crashes mid-invocation while the first is busy.
    let crashed = invoker.invoke(event(json!({"crash": true}))).await.unwrap();
    assert_eq!(crashed.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(json_of(&crashed.payload)["errorType"], "Runtime.ExitError");
    // Its replacement cold-starts and works, the first still held.
    let replacement = pid_of(invoker.invoke(event(json!({}))).await);
    assert_ne!(replacement, working.pid);
    let working_pid = working.pid;
    working.release().await;
    assert_eq!(pid_of(held.await.unwrap()), working_pid);
    assert_eq!(invoker.idle_processes(), 2);
}

/// The handler starts from a clean environment: Lambda's variables, `PATH` (passed
/// through) and the function's own, none of the test's (which stands for kafka-esm's:
/// Kafka secrets given as `env://`, AWS credentials).
#[tokio::test]
async fn the_handler_gets_lambdas_environment_and_nothing_else() {
    let mut f = local_function("environment", 10);
    f.env = vec![
        ("DB_URL".into(), "postgres://db".into()),
        ("TZ".into(), "Europe/Paris".into()),
    ];
    let invoker = LocalInvoker::new(f).unwrap();
    let answer = json_of(&invoker.invoke(event(json!({}))).await.unwrap().payload);
    let env = answer["env"].as_object().unwrap();
    assert_eq!(env["DB_URL"], "postgres://db");
    assert_eq!(
        env["TZ"], "Europe/Paris",
        "the function's own variables win"
    );
    assert_eq!(env["PATH"], std::env::var("PATH").unwrap());
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "local-environment");
    assert_eq!(env["_HANDLER"], "handler.environment");
    assert_eq!(env["LAMBDA_TASK_ROOT"], handlers_dir().to_str().unwrap());
    assert_eq!(env["AWS_REGION"], "us-east-1");
    // What the runtime client itself sets while it runs an invocation.
    let set_by_the_runtime = ["_X_AMZN_TRACE_ID", "LC_CTYPE"];
    let mut names: Vec<&str> = env
        .keys()
        .map(String::as_str)
        .filter(|name| !set_by_the_runtime.contains(name))
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "AWS_DEFAULT_REGION",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_LAMBDA_INITIALIZATION_TYPE",
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "AWS_LAMBDA_RUNTIME_API",
            "AWS_REGION",
            "DB_URL",
            "LAMBDA_TASK_ROOT",
            "LANG",
            "PATH",
            "TZ",
            "_HANDLER",
        ]
    );
}

/// The status code of `method path` sent to the server at `address` (host:port).
async fn status_of(address: &str, method: &str, path: &str) -> u16 {
    use tokio::io::AsyncReadExt;
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {address}\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    let status = reply.split_whitespace().nth(1).unwrap_or_default();
    status
        .parse()
        .unwrap_or_else(|_| panic!("no status: {reply}"))
}

/// Any other local process (this test stands for one: it is not in the handler's
/// process group) is refused by the Runtime API before it can take an invocation with
/// `next` (which would otherwise wait for the next event, then steal it) or answer one;
/// the handler goes on unaffected.
#[tokio::test]
async fn only_the_handler_may_call_its_runtime_api() {
    let invoker = function("environment", 10);
    let first = json_of(&invoker.invoke(event(json!({}))).await.unwrap().payload);
    let api = first["env"]["AWS_LAMBDA_RUNTIME_API"]
        .as_str()
        .unwrap()
        .to_string();
    for (method, path) in [
        ("GET", "/2018-06-01/runtime/invocation/next"),
        ("POST", "/2018-06-01/runtime/invocation/some-id/response"),
        ("POST", "/2018-06-01/runtime/init/error"),
    ] {
        let status = tokio::time::timeout(Duration::from_secs(10), status_of(&api, method, path))
            .await
            .unwrap_or_else(|_| panic!("{method} {path} was served (a next long-polls)"));
        assert_eq!(status, 403, "{method} {path}");
    }
    let second = json_of(&invoker.invoke(event(json!({}))).await.unwrap().payload);
    assert_eq!(second["pid"], first["pid"], "the handler was disturbed");
}

/// Whether process `pid` still runs: an entry in /proc that is not a zombie (an orphan
/// is reaped by whatever init the machine has, perhaps never in a container).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
        !matches!(state.and_then(|s| s.chars().next()), Some('Z' | 'X'))
    })
}

/// A handler that started processes of its own (a wrapper script, a worker pool) leaves
/// none behind when it is killed: its whole process group goes.
#[tokio::test]
async fn a_timeout_kills_what_the_handler_started_too() {
    let invoker = function("forks", 3);
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let error = invoker
        .invoke(event(json!({"pid_file": pid_file})))
        .await
        .unwrap_err();
    assert!(
        matches!(error, InvokeError::Timeout { seconds: 3 }),
        "{error}"
    );
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The kill is sent before the timeout is reported; the process ends just after
    // (there is no event for that in /proc: polled, bounded).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while running(pid) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let alive = running(pid);
    if alive {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    assert!(!alive, "the handler's child {pid} outlived it");
}
