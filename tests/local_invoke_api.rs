//! The Lambda Invoke API that kafka-esm serves on loopback for local functions, called
//! with aws-sdk-lambda (an endpoint override), as any tool that calls Lambda would: the
//! handlers are AWS's Python runtime client (awslambdaric) running
//! `tests/fixtures/handler.py`. Success, a function error, a timeout, the other
//! invocation types, and an unknown function (404 ResourceNotFoundException); our own
//! Lambda invoker (the production path) pointed at it; and `kafka-esm run
//! --invoke-address` serving it next to a mapping.

mod common;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use bytes::Bytes;
use kafka_esm::invoke::Invoker;
use kafka_esm::invoke::lambda::LambdaInvoker;
use kafka_esm::invoke::local::{InvokeApi, InvokeApiError, LocalFunction, LocalInvoker};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// `python -m awslambdaric handler.<handler>`, served as `name`.
fn function(name: &str, handler: &str, timeout_s: u64) -> Arc<LocalInvoker> {
    let python = kafka_esm_rig::rig_tool("venv/bin/python").unwrap();
    let mut f = LocalFunction::new(name, python);
    f.args = vec![
        "-m".into(),
        "awslambdaric".into(),
        format!("handler.{handler}").into(),
    ];
    f.working_dir = Some(common::fixtures());
    f.timeout = Duration::from_secs(timeout_s);
    Arc::new(LocalInvoker::new(f).unwrap())
}

/// The API serving `count` (success), `fail` (raises) and `slow` (sleeps when asked) on
/// a free loopback port, and an SDK client for it.
async fn served() -> (aws_sdk_lambda::Client, tokio::task::JoinHandle<()>) {
    let api = InvokeApi::bind(
        "127.0.0.1:0".parse().unwrap(),
        [
            function("count", "count", 10),
            function("fail", "fail", 10),
            function("slow", "slow", 2),
        ],
    )
    .await
    .unwrap();
    let config = common::local_aws(api.endpoint_url()).await;
    let server = tokio::spawn(api.serve());
    (aws_sdk_lambda::Client::new(&config), server)
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

#[tokio::test]
async fn the_sdk_invokes_a_local_function() {
    let (client, server) = served().await;
    let event = json!({"records": {"orders-0": [{"offset": 1}, {"offset": 2}]}});
    let out = client
        .invoke()
        .function_name("count")
        .payload(Blob::new(event.to_string()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.function_error(), None);
    assert_eq!(out.executed_version(), Some("$LATEST"));
    let answer = json_of(out.payload().unwrap().as_ref());
    assert_eq!(answer["records"], 2);
    assert_eq!(answer["function_name"], "count");
    // By ARN with the $LATEST qualifier too, and with no payload at all (Lambda: `{}`).
    let out = client
        .invoke()
        .function_name("arn:aws:lambda:us-east-1:000000000000:function:count")
        .qualifier("$LATEST")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(out.payload().unwrap().as_ref())["records"], 0);
    server.abort();
}

#[tokio::test]
async fn a_function_error_is_200_with_x_amz_function_error() {
    let (client, server) = served().await;
    let out = client
        .invoke()
        .function_name("fail")
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.function_error(), Some("Unhandled"));
    let error = json_of(out.payload().unwrap().as_ref());
    assert_eq!(error["errorType"], "OrderRejected", "{error}");
    assert_eq!(error["errorMessage"], "order 42 is not valid", "{error}");
    // A timeout is a function error too, as on Lambda.
    let out = client
        .invoke()
        .function_name("slow")
        .payload(Blob::new(r#"{"sleep": 60}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(out.function_error(), Some("Unhandled"));
    let error = json_of(out.payload().unwrap().as_ref());
    assert_eq!(error["errorType"], "Sandbox.Timedout", "{error}");
    assert_eq!(
        error["errorMessage"], "Task timed out after 2.00 seconds",
        "{error}"
    );
    server.abort();
}

#[tokio::test]
async fn an_unknown_function_is_resource_not_found() {
    let (client, server) = served().await;
    for (name, qualifier) in [("nope", None), ("count", Some("prod"))] {
        let err = client
            .invoke()
            .function_name(name)
            .set_qualifier(qualifier.map(str::to_string))
            .payload(Blob::new("{}"))
            .send()
            .await
            .unwrap_err();
        let service = err.as_service_error().unwrap_or_else(|| panic!("{err:?}"));
        assert!(
            service.is_resource_not_found_exception(),
            "{name}: {service:?}"
        );
        assert_eq!(err.raw_response().unwrap().status().as_u16(), 404);
        assert!(
            service
                .to_string()
                .contains("Function not found: arn:aws:lambda:us-east-1:000000000000:function:"),
            "{service}"
        );
    }
    server.abort();
}

#[tokio::test]
async fn event_dry_run_and_bad_payloads() {
    let (client, server) = served().await;
    let out = client
        .invoke()
        .function_name("count")
        .invocation_type(InvocationType::DryRun)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 204);
    let out = client
        .invoke()
        .function_name("count")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 202);
    let err = client
        .invoke()
        .function_name("count")
        .payload(Blob::new("not json"))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_invalid_request_content_exception()),
        "{err:?}"
    );
    let err = client
        .invoke()
        .function_name("count")
        .payload(Blob::new(vec![b' '; 7 * 1024 * 1024]))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_request_too_large_exception()),
        "{err:?}"
    );
    server.abort();
}

/// The status line and `x-amzn-ErrorType` of a raw request to the Invoke API at `addr`,
/// with these extra header lines: what a browser sends, which the SDK never would.
async fn raw_invoke(addr: std::net::SocketAddr, headers: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /2015-03-31/functions/count/invocations HTTP/1.1\r\n{headers}\
         content-length: 2\r\nconnection: close\r\n\r\n{{}}"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    let status = reply.split_whitespace().nth(1).unwrap().parse().unwrap();
    let error_type = reply
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("x-amzn-errortype: ")
                .map(str::to_string)
        })
        .unwrap_or_default();
    (status, error_type)
}

/// A web page can reach a loopback server: by DNS rebinding (its own name resolving to
/// 127.0.0.1, so its requests carry that name as `Host`) or by a cross-origin request
/// (which carries `Origin`). Neither may invoke; a loopback `Host` with no `Origin` may.
#[tokio::test]
async fn requests_from_web_pages_are_refused() {
    let api = InvokeApi::bind(
        "127.0.0.1:0".parse().unwrap(),
        [function("count", "count", 10)],
    )
    .await
    .unwrap();
    let addr = api.local_addr();
    let server = tokio::spawn(api.serve());
    let port = addr.port();
    for headers in [
        format!("host: rebound.example:{port}\r\n"),
        format!("host: localhost.example:{port}\r\n"),
        format!("host: 127.0.0.1:{port}\r\norigin: https://evil.example\r\n"),
        format!("host: localhost:{port}\r\norigin: null\r\n"),
    ] {
        assert_eq!(
            raw_invoke(addr, &headers).await,
            (403, "accessdeniedexception".to_string()),
            "{headers}"
        );
    }
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "localhost".to_string(),
    ] {
        let (status, _) = raw_invoke(addr, &format!("host: {host}\r\n")).await;
        assert_eq!(status, 200, "{host}");
    }
    server.abort();
}

/// `Event` invocations hold their payload until a process is free: at most 100 (the
/// documented bound) are accepted and not yet ended; the next is throttled as Lambda
/// throttles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_invocations_are_bounded() {
    let mut f = LocalFunction::new("held", kafka_esm_rig::rig_tool("venv/bin/python").unwrap());
    f.args = vec!["-m".into(), "awslambdaric".into(), "handler.gate".into()];
    f.working_dir = Some(common::fixtures());
    f.timeout = Duration::from_secs(60);
    f.concurrency = 1;
    let api = InvokeApi::bind(
        "127.0.0.1:0".parse().unwrap(),
        [Arc::new(LocalInvoker::new(f).unwrap())],
    )
    .await
    .unwrap();
    let config = common::local_aws(api.endpoint_url()).await;
    let client = aws_sdk_lambda::Client::new(&config);
    let server = tokio::spawn(api.serve());
    // The first invocation is held at the gate (the one process is busy); the others
    // wait for it, each holding its place.
    let gate = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let held = Blob::new(json!({"gate": gate.local_addr().unwrap().port()}).to_string());
    let event = || {
        client
            .invoke()
            .function_name("held")
            .invocation_type(InvocationType::Event)
            .payload(held.clone())
            .send()
    };
    for i in 0..100 {
        assert_eq!(event().await.unwrap().status_code(), 202, "event {i}");
    }
    let err = event().await.unwrap_err();
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_too_many_requests_exception()),
        "{err:?}"
    );
    let (first, _) = tokio::time::timeout(Duration::from_secs(60), gate.accept())
        .await
        .expect("the first invocation reaches the gate")
        .unwrap();
    drop(first);
    server.abort();
}

#[tokio::test]
async fn kafka_esm_s_own_lambda_invoker_reaches_a_local_function() {
    let (client, server) = served().await;
    let invoker = LambdaInvoker::new(client.clone(), "count", None);
    let inv = invoker
        .invoke(Bytes::from_static(br#"{"records": {"t-0": [{}]}}"#))
        .await
        .unwrap();
    assert_eq!(inv.function_error, None);
    assert_eq!(json_of(&inv.payload)["records"], 1);
    let missing = LambdaInvoker::new(client, "missing", None);
    let err = missing.invoke(Bytes::from_static(b"{}")).await.unwrap_err();
    assert_eq!(err.reason(), Some("FUNCTION_CONFIG_NOT_VALID"), "{err}");
    server.abort();
}

#[tokio::test]
async fn only_loopback_addresses_are_served() {
    let err = InvokeApi::bind("0.0.0.0:0".parse().unwrap(), [function("f", "count", 3)])
        .await
        .unwrap_err();
    assert!(matches!(err, InvokeApiError::NotLoopback(_)), "{err}");
}

/// `kafka-esm run` serving local function `name` (`handler.<handler>`) and its Invoke
/// API on a free loopback port, for a mapping on `topic` at `bootstrap`; the process,
/// the endpoint URL it announced, and the rest of its stderr.
async fn kafka_esm_run(
    name: &str,
    handler: &str,
    topic: &str,
    bootstrap: &str,
) -> (
    tokio::process::Child,
    String,
    tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
) {
    use tokio::io::AsyncBufReadExt;
    let python = kafka_esm_rig::rig_tool("venv/bin/python").unwrap();
    let port = kafka_esm_rig::free_port().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kafka-esm"))
        .args(["run", "--function-name", name, "--topics", topic])
        .args(["--starting-position", "LATEST"])
        .args(["--bootstrap-servers", bootstrap])
        .arg("--function-command")
        .arg(format!(
            "{} -m awslambdaric handler.{handler}",
            python.display()
        ))
        .args(["--function-timeout", "60"])
        .args(["--invoke-address", &format!("127.0.0.1:{port}")])
        .current_dir(common::fixtures())
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // kafka-esm says where the API is once it is bound.
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let announced = format!("kafka-esm: Lambda Invoke API for local function {name} at ");
    let endpoint = tokio::time::timeout(Duration::from_secs(60), async {
        let mut seen = Vec::new();
        while let Some(line) = stderr.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix(&announced) {
                return url.to_string();
            }
            seen.push(line);
        }
        panic!(
            "kafka-esm exited without serving the Invoke API:\n{}",
            seen.join("\n")
        );
    })
    .await
    .expect("the Invoke API is announced within 60 s");
    assert_eq!(endpoint, format!("http://127.0.0.1:{port}"));
    (child, endpoint, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_esm_run_serves_the_invoke_api_next_to_the_mapping() {
    use kafka_esm_rig::Broker;
    let broker = common::nisshi().await;
    let topic = kafka_esm_rig::unique_name("invoke-api");
    tokio::task::block_in_place(|| broker.create_topic(&topic, 1)).unwrap();
    let (mut child, endpoint, mut stderr) =
        kafka_esm_run("cli-count", "count", &topic, &broker.bootstrap()).await;
    let client = aws_sdk_lambda::Client::new(&common::local_aws(endpoint).await);
    let out = client
        .invoke()
        .function_name("cli-count")
        .payload(Blob::new(r#"{"records": {"t-0": [{}, {}, {}]}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(out.function_error(), None);
    assert_eq!(json_of(out.payload().unwrap().as_ref())["records"], 3);
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let rest = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Ok(Some(line)) = stderr.next_line().await {
            lines.push(line);
        }
        lines.join("\n")
    });
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), Some(0), "{}", rest.await.unwrap());
}

/// Whether process `pid` still runs: it has an entry in /proc that is not a zombie (an
/// orphan is reaped by whatever init the machine has, perhaps never in a container).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
            !matches!(state.and_then(|s| s.chars().next()), Some('Z' | 'X'))
        }
    }
}

/// A `kill -9` of kafka-esm leaves it no chance to stop its handlers: they must die with
/// it anyway (the kernel's parent-death signal), or a restarted instance would race its
/// predecessor's handlers. The handler is held mid-invocation at a gate (a socket to the
/// test, which it closes only by dying), so its death is an event the test awaits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_die_with_a_killed_kafka_esm() {
    use kafka_esm_rig::Broker;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let broker = common::nisshi().await;
    let topic = kafka_esm_rig::unique_name("held");
    tokio::task::block_in_place(|| broker.create_topic(&topic, 1)).unwrap();
    let (mut child, endpoint, _stderr) =
        kafka_esm_run("held", "gate", &topic, &broker.bootstrap()).await;
    let gate = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = aws_sdk_lambda::Client::new(&common::local_aws(endpoint).await);
    let gate_port = gate.local_addr().unwrap().port();
    client
        .invoke()
        .function_name("held")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(json!({"gate": gate_port}).to_string()))
        .send()
        .await
        .unwrap();
    let (stream, _) = tokio::time::timeout(Duration::from_secs(60), gate.accept())
        .await
        .expect("the handler reaches the gate within 60 s")
        .unwrap();
    let mut stream = tokio::io::BufReader::new(stream);
    let mut line = String::new();
    stream.read_line(&mut line).await.unwrap();
    let handler: u32 = line.trim().parse().unwrap();
    assert!(running(handler));
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    // The handler's socket closes as it dies (it never answers: it waits for "go"), then
    // the process ends (it closes its files before it becomes a zombie: /proc has no
    // event for the last step, so it is polled, bounded).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut rest = Vec::new();
    let closed = tokio::time::timeout_at(deadline, stream.read_to_end(&mut rest)).await;
    while closed.is_ok() && running(handler) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let alive = running(handler);
    if alive {
        // Don't leave it behind for the next test run.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &handler.to_string()])
            .status();
    }
    assert!(
        closed.is_ok() && !alive,
        "handler {handler} still runs 10 s after kafka-esm was killed"
    );
}
