//! `kafka-esm serve` driven as users drive AWS's event source mappings: the real AWS CLI
//! (awscli from PyPI, in the rig) against the binary, records from the rig broker
//! delivered to a local function run by AWS's Python runtime client. Bad requests go
//! over raw HTTP (the CLI validates some parameters itself and would never send them).

mod common;

use kafka_esm_rig::{Broker, Compression, Nisshi, Record, free_port, rig_tool, unique_name};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `kafka-esm serve` process with one local function, `reporter`, which appends the
/// offsets of each event it gets as a JSON line to `report`.
struct Serve {
    child: Child,
    port: u16,
    /// `https` with --api-tls-cert.
    scheme: &'static str,
    /// The CA bundle the AWS CLI trusts (for https).
    ca_bundle: Option<PathBuf>,
    state: PathBuf,
    report: PathBuf,
    functions: PathBuf,
    log: PathBuf,
}

impl Serve {
    fn start(dir: &Path) -> Serve {
        Serve::start_args(dir, &[])
    }

    fn start_args(dir: &Path, args: &[&str]) -> Serve {
        let report = dir.join("report.jsonl");
        let functions = dir.join("functions.json");
        let python = rig_tool("venv/bin/python").unwrap();
        let handlers = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        std::fs::write(
            &functions,
            json!({"Functions": [{
                "FunctionName": "reporter",
                "Command": format!("{} -m awslambdaric handler.report", python.display()),
                "Timeout": 30,
                "WorkingDirectory": handlers,
                "Environment": {"Variables": {"KAFKA_ESM_TEST_REPORT": report}},
            }]})
            .to_string(),
        )
        .unwrap();
        Serve::start_with(
            dir.join("state"),
            report,
            functions,
            dir.join("serve.log"),
            args,
        )
    }

    fn start_with(
        state: PathBuf,
        report: PathBuf,
        functions: PathBuf,
        log: PathBuf,
        args: &[&str],
    ) -> Serve {
        let port = free_port().unwrap();
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_kafka-esm"));
        command.args(["serve", "--listen", &format!("127.0.0.1:{port}")]);
        if !args.contains(&"--state") {
            command.arg("--state-dir").arg(&state);
        }
        let child = command
            .arg("--functions-file")
            .arg(&functions)
            .args(args)
            .env("RUST_LOG", "warn,kafka_esm::serve=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .unwrap();
        let serve = Serve {
            child,
            port,
            scheme: if args.contains(&"--api-tls-cert") {
                "https"
            } else {
                "http"
            },
            ca_bundle: None,
            state,
            report,
            functions,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "serve did not listen: {}",
                serve.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        serve
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn endpoint(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    /// `aws lambda ARGS --endpoint-url ...`: the parsed JSON output, or the error text.
    fn aws(&self, args: &[&str]) -> Result<Value, String> {
        self.aws_as(args, ("AKIDEXAMPLE", "secret"))
    }

    /// [`Serve::aws`] signing with `(key id, secret)`.
    fn aws_as(&self, args: &[&str], key: (&str, &str)) -> Result<Value, String> {
        let mut command = Command::new(rig_tool("awscli-venv/bin/aws").unwrap());
        if let Some(bundle) = &self.ca_bundle {
            command.env("AWS_CA_BUNDLE", bundle);
        }
        let out = command
            .arg("lambda")
            .args(args)
            .args(["--endpoint-url", &self.endpoint(), "--output", "json"])
            .env("AWS_ACCESS_KEY_ID", key.0)
            .env("AWS_SECRET_ACCESS_KEY", key.1)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .unwrap();
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let text = String::from_utf8(out.stdout).unwrap();
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_str(&text).unwrap())
    }

    fn aws_ok(&self, args: &[&str]) -> Value {
        self.aws(args)
            .unwrap_or_else(|e| panic!("aws lambda {args:?}: {e}\n{}", self.log()))
    }

    /// Polls `GetEventSourceMapping` until `ok` holds (within `within`).
    fn wait_for(&self, uuid: &str, within: Duration, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let m = self.aws_ok(&["get-event-source-mapping", "--uuid", uuid]);
            if ok(&m) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "mapping never got there: {m:#}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The batches the function received so far, each its offsets.
    fn batches(&self) -> Vec<Vec<i64>> {
        let text = std::fs::read_to_string(&self.report).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                v["offsets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o.as_i64().unwrap())
                    .collect()
            })
            .collect()
    }

    /// Every `partition:offset` the function received.
    fn records(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.report).unwrap_or_default();
        text.lines()
            .flat_map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                v["records"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Waits until the function has received `offset`, and returns the batches.
    fn wait_for_offset(&self, offset: i64, within: Duration) -> Vec<Vec<i64>> {
        let deadline = Instant::now() + within;
        loop {
            let batches = self.batches();
            if batches.iter().flatten().any(|o| *o == offset) {
                return batches;
            }
            assert!(
                Instant::now() < deadline,
                "offset {offset} never delivered; got {batches:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, and waits for a clean exit.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = self.child.wait().unwrap();
        assert!(status.success(), "serve exited {status}: {}", self.log());
    }

    fn kill9(mut self) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        (
            self.state.clone(),
            self.report.clone(),
            self.functions.clone(),
            self.log.clone(),
        )
    }

    /// One raw HTTP/1.1 request: status, the `x-amzn-ErrorType` header, the body.
    fn http(&self, method: &str, path: &str, body: &str) -> (u16, String, Value) {
        http(self.port, method, path, body, &[])
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
    extra: &[(&str, &str)],
) -> (u16, String, Value) {
    try_http(port, method, path, body, extra).unwrap()
}

/// [`http`], failing when the connection does (the server was killed).
fn try_http(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
    extra: &[(&str, &str)],
) -> std::io::Result<(u16, String, Value)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    s.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let Some(status) = head.split(' ').nth(1).and_then(|s| s.parse::<u16>().ok()) else {
        return Err(std::io::Error::other(format!(
            "not an HTTP response: {head:?}"
        )));
    };
    let error_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("x-amzn-errortype")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    Ok((status, error_type, value))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

fn produce(broker: &Nisshi, topic: &str, values: &[&str]) {
    let records: Vec<Record> = values
        .iter()
        .map(|v| Record::new(None, Some(v.as_bytes())))
        .collect();
    broker
        .refclient()
        .produce(topic, &records, Compression::None)
        .unwrap();
}

fn create_args<'a>(topic: &'a str, servers: &'a str, batch: &'a str) -> Vec<&'a str> {
    vec![
        "create-event-source-mapping",
        "--function-name",
        "reporter",
        "--topics",
        topic,
        "--starting-position",
        "TRIM_HORIZON",
        "--self-managed-event-source",
        servers,
        "--batch-size",
        batch,
        "--maximum-batching-window-in-seconds",
        "1",
    ]
}

fn servers(broker: &Nisshi) -> String {
    json!({"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": [broker.bootstrap()]}}).to_string()
}

/// Create, Get, List, Update (BatchSize, FilterCriteria, Enabled) and Delete through the
/// AWS CLI, with records flowing to the local function; each update shows in the next
/// invocations, and offsets are kept across Disable/Enable and Delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_creates_updates_and_deletes_a_mapping_that_delivers_records() {
    let broker = common::nisshi().await;
    tokio::task::spawn_blocking(move || cli_lifecycle(&broker))
        .await
        .unwrap();
}

fn cli_lifecycle(broker: &Nisshi) {
    let topic = unique_name("serve");
    broker.create_topic(&topic, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let servers = servers(broker);
    produce(broker, &topic, &["a", "b", "c", "d", "e"]);

    let created = serve.aws_ok(&create_args(&topic, &servers, "2"));
    let uuid = created["UUID"].as_str().unwrap().to_string();
    assert_eq!(created["State"], "Creating");
    assert_eq!(created["BatchSize"], 2);
    assert_eq!(created["Topics"], json!([topic]));
    assert_eq!(created["StartingPosition"], "TRIM_HORIZON");
    assert_eq!(
        created["FunctionArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:reporter"
    );
    assert_eq!(
        created["SelfManagedKafkaEventSourceConfig"]["ConsumerGroupId"], uuid,
        "the default consumer group is the mapping's UUID, as AWS's"
    );
    assert!(
        created["EventSourceMappingArn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":event-source-mapping:{uuid}"))
    );

    let batches = serve.wait_for_offset(4, Duration::from_secs(60));
    assert!(
        batches.iter().all(|b| b.len() <= 2),
        "BatchSize 2: {batches:?}"
    );
    let enabled = serve.wait_for(&uuid, Duration::from_secs(30), |m| {
        m["State"] == "Enabled" && m["LastProcessingResult"] == "OK"
    });
    assert_eq!(enabled["StateTransitionReason"], "USER_INITIATED");
    let (status, _, _) = serve.http("GET", "/healthz", "");
    assert_eq!(status, 200);
    let (status, _, ready) = serve.http("GET", "/readyz", "");
    assert_eq!(status, 200, "every enabled mapping runs consumers: {ready}");
    let (status, _, metrics) = serve.http("GET", "/metrics", "");
    assert_eq!(status, 200);
    let metrics = metrics.as_str().unwrap().to_string();
    assert!(
        metrics.contains(&format!("kafka_esm_consumers{{mapping=\"{uuid}\"")),
        "metrics are labelled by mapping: {metrics}"
    );
    let listed = serve.aws_ok(&["list-event-source-mappings", "--function-name", "reporter"]);
    assert_eq!(listed["EventSourceMappings"][0]["UUID"], uuid);
    let none = serve.aws_ok(&["list-event-source-mappings", "--function-name", "other"]);
    assert_eq!(none["EventSourceMappings"], json!([]));

    // BatchSize 2 → 10: the next records come in batches of more than 2.
    let updated_at = Instant::now();
    let updated = serve.aws_ok(&[
        "update-event-source-mapping",
        "--uuid",
        &uuid,
        "--batch-size",
        "10",
    ]);
    assert_eq!(updated["State"], "Updating");
    assert_eq!(updated["BatchSize"], 10);
    serve.wait_for(&uuid, Duration::from_secs(30), |m| m["State"] == "Enabled");
    let seen = serve.batches().len();
    produce(broker, &topic, &["f", "g", "h", "i", "j", "k"]);
    let batches = serve.wait_for_offset(10, Duration::from_secs(30));
    let applied = updated_at.elapsed();
    eprintln!(
        "serve: an update of BatchSize showed in the invocations {applied:?} after it was made"
    );
    let after: Vec<i64> = batches[seen..].iter().flatten().copied().collect();
    assert_eq!(
        after,
        (5..=10).collect::<Vec<_>>(),
        "nothing lost or repeated: {batches:?}"
    );
    assert!(
        batches[seen..].iter().any(|b| b.len() > 2),
        "BatchSize 10 applies: {batches:?}"
    );

    // FilterCriteria: only values {"keep": true} are delivered, the rest are committed.
    let filter = json!({"Filters": [{"Pattern": json!({"value": {"keep": [true]}}).to_string()}]});
    let updated_at = Instant::now();
    serve.aws_ok(&[
        "update-event-source-mapping",
        "--uuid",
        &uuid,
        "--filter-criteria",
        &filter.to_string(),
    ]);
    serve.wait_for(&uuid, Duration::from_secs(30), |m| {
        m["State"] == "Enabled" && m["FilterCriteria"] == filter
    });
    let seen = serve.batches().len();
    produce(
        broker,
        &topic,
        &[
            r#"{"keep": false}"#,
            r#"{"keep": true}"#,
            r#"{"keep": false}"#,
            r#"{"keep": true}"#,
        ],
    );
    let batches = serve.wait_for_offset(14, Duration::from_secs(30));
    eprintln!(
        "serve: an update of FilterCriteria showed in the invocations {:?} after it was made",
        updated_at.elapsed()
    );
    let after: Vec<i64> = batches[seen..].iter().flatten().copied().collect();
    assert_eq!(after, [12, 14], "only the matching records: {batches:?}");

    // Disabled keeps the committed offsets: enabling again resumes after them.
    let disabled = serve.aws_ok(&[
        "update-event-source-mapping",
        "--uuid",
        &uuid,
        "--no-enabled",
    ]);
    assert_eq!(disabled["State"], "Disabling");
    serve.wait_for(&uuid, Duration::from_secs(30), |m| m["State"] == "Disabled");
    let committed = broker.refclient().committed(&topic, &uuid).unwrap();
    assert_eq!(
        committed.get(&0),
        Some(&15),
        "every record handled is committed"
    );
    produce(broker, &topic, &[r#"{"keep": true}"#]);
    let seen = serve.batches().len();
    serve.aws_ok(&["update-event-source-mapping", "--uuid", &uuid, "--enabled"]);
    let batches = serve.wait_for_offset(15, Duration::from_secs(60));
    let after: Vec<i64> = batches[seen..].iter().flatten().copied().collect();
    assert_eq!(
        after,
        [15],
        "resumes from the committed offset: {batches:?}"
    );

    // Delete: Deleting, then gone; the group's offsets stay.
    serve.wait_for(&uuid, Duration::from_secs(30), |m| m["State"] == "Enabled");
    let deleted = serve.aws_ok(&["delete-event-source-mapping", "--uuid", &uuid]);
    assert_eq!(deleted["State"], "Deleting");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match serve.aws(&["get-event-source-mapping", "--uuid", &uuid]) {
            Err(e) if e.contains("ResourceNotFoundException") => break,
            other => assert!(Instant::now() < deadline, "still there: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let committed = broker.refclient().committed(&topic, &uuid).unwrap();
    assert_eq!(committed.get(&0), Some(&16));
    assert_eq!(
        std::fs::read_dir(serve.state.join("mappings"))
            .unwrap()
            .count(),
        0,
        "the deleted mapping's file is gone"
    );
    serve.stop();
}

/// Bad requests get Lambda's error types, with a message naming the field or the cause,
/// and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_lambdas_errors_and_store_nothing() {
    let broker = common::nisshi().await;
    tokio::task::spawn_blocking(move || bad_requests(&broker))
        .await
        .unwrap();
}

fn bad_requests(broker: &Nisshi) {
    let topic = unique_name("serve-bad");
    broker.create_topic(&topic, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let good = json!({
        "FunctionName": "reporter",
        "Topics": [topic],
        "StartingPosition": "LATEST",
        "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": [broker.bootstrap()]}},
        "Enabled": false,
    });
    let with = |key: &str, value: Value| {
        let mut b = good.clone();
        b[key] = value;
        b.to_string()
    };
    let without = |key: &str| {
        let mut b = good.clone();
        b.as_object_mut().unwrap().remove(key);
        b.to_string()
    };
    const ESM: &str = "/2015-03-31/event-source-mappings/";
    const INVALID: &str = "InvalidParameterValueException";
    let unknown = "/2015-03-31/event-source-mappings/f89f8514-cdd9-4602-9e1f-01a5b77d449b";
    let cases: Vec<(&str, String, String, u16, &str, &str)> = vec![
        (
            "POST",
            ESM.into(),
            "{not json".into(),
            400,
            "InvalidRequestContentException",
            "json",
        ),
        ("POST", ESM.into(), "[1, 2]".into(), 400, INVALID, "object"),
        (
            "POST",
            ESM.into(),
            without("FunctionName"),
            400,
            INVALID,
            "FunctionName",
        ),
        (
            "POST",
            ESM.into(),
            without("Topics"),
            400,
            INVALID,
            "Topics",
        ),
        (
            "POST",
            ESM.into(),
            without("StartingPosition"),
            400,
            INVALID,
            "StartingPosition",
        ),
        (
            "POST",
            ESM.into(),
            without("SelfManagedEventSource"),
            400,
            INVALID,
            "SelfManagedEventSource",
        ),
        (
            "POST",
            ESM.into(),
            with("BatchSize", json!(0)),
            400,
            INVALID,
            "BatchSize",
        ),
        (
            "POST",
            ESM.into(),
            with("BatchSize", json!(10001)),
            400,
            INVALID,
            "BatchSize",
        ),
        (
            "POST",
            ESM.into(),
            with("BatchSize", json!("ten")),
            400,
            INVALID,
            "BatchSize",
        ),
        (
            "POST",
            ESM.into(),
            with("MaximumBatchingWindowInSeconds", json!(301)),
            400,
            INVALID,
            "MaximumBatchingWindowInSeconds",
        ),
        (
            "POST",
            ESM.into(),
            with("StartingPosition", json!("EARLIEST")),
            400,
            INVALID,
            "StartingPosition",
        ),
        (
            "POST",
            ESM.into(),
            with("Topics", json!(["a", "b"])),
            400,
            INVALID,
            "Topics",
        ),
        (
            "POST",
            ESM.into(),
            with("Topics", json!(["bad topic!"])),
            400,
            INVALID,
            "Topics",
        ),
        (
            "POST",
            ESM.into(),
            with("FunctionName", json!("")),
            400,
            INVALID,
            "FunctionName",
        ),
        (
            "POST",
            ESM.into(),
            with(
                "FilterCriteria",
                json!({"Filters": [{"Pattern": "{not json"}]}),
            ),
            400,
            INVALID,
            "FilterCriteria",
        ),
        (
            "POST",
            ESM.into(),
            with(
                "DestinationConfig",
                json!({"OnFailure": {"Destination": "arn:aws:nope"}}),
            ),
            400,
            INVALID,
            "DestinationConfig",
        ),
        (
            "POST",
            ESM.into(),
            with(
                "EventSourceArn",
                json!("arn:aws:kafka:us-east-1:1:cluster/c/1"),
            ),
            400,
            INVALID,
            "EventSourceArn",
        ),
        (
            "POST",
            ESM.into(),
            with("NoSuchField", json!(1)),
            400,
            INVALID,
            "NoSuchField",
        ),
        (
            "POST",
            ESM.into(),
            with("UUID", json!("f89f8514-cdd9-4602-9e1f-01a5b77d449b")),
            400,
            INVALID,
            "UUID",
        ),
        (
            "POST",
            ESM.into(),
            with("KafkaEsm", json!({"FunctionCommand": "sh"})),
            400,
            INVALID,
            "KafkaEsm.FunctionCommand",
        ),
        (
            "POST",
            ESM.into(),
            with(
                "SourceAccessConfigurations",
                json!([{"Type": "NOPE", "URI": "x"}]),
            ),
            400,
            INVALID,
            "SourceAccessConfigurations",
        ),
        (
            "GET",
            unknown.into(),
            String::new(),
            404,
            "ResourceNotFoundException",
            "does not exist",
        ),
        (
            "PUT",
            unknown.into(),
            "{}".into(),
            404,
            "ResourceNotFoundException",
            "does not exist",
        ),
        (
            "DELETE",
            unknown.into(),
            String::new(),
            404,
            "ResourceNotFoundException",
            "does not exist",
        ),
        (
            "GET",
            format!("{ESM}not-a-uuid"),
            String::new(),
            400,
            INVALID,
            "UUID",
        ),
        (
            "GET",
            format!("{ESM}?MaxItems=0"),
            String::new(),
            400,
            INVALID,
            "MaxItems",
        ),
        (
            "GET",
            format!("{ESM}?MaxItems=abc"),
            String::new(),
            400,
            INVALID,
            "MaxItems",
        ),
        (
            "GET",
            format!("{ESM}?Marker=zzz"),
            String::new(),
            400,
            INVALID,
            "Marker",
        ),
        (
            "PATCH",
            ESM.into(),
            "{}".into(),
            405,
            "UnknownOperationException",
            "POST",
        ),
        (
            "POST",
            unknown.into(),
            "{}".into(),
            405,
            "UnknownOperationException",
            "GET",
        ),
        (
            "GET",
            "/2015-03-31/nothing-here".into(),
            String::new(),
            404,
            "UnknownOperationException",
            "operation",
        ),
        (
            "GET",
            "/2015-03-31/functions/nobody".into(),
            String::new(),
            404,
            "ResourceNotFoundException",
            "nobody",
        ),
    ];
    assert!(cases.len() >= 25);
    for (method, path, body, status, kind, names) in &cases {
        let (got, error_type, answer) = serve.http(method, path, body);
        let message = answer["message"].as_str().unwrap_or_default();
        assert_eq!(
            (got, error_type.as_str()),
            (*status, *kind),
            "{method} {path} {body}: {answer}"
        );
        assert!(
            message.contains(names),
            "{method} {path} {body}: the message names {names:?}: {message}"
        );
        assert_eq!(answer["Type"], "User");
    }
    // A web page can't reach the API: no Origin, a loopback Host.
    let (status, kind, _) = http(
        serve.port,
        "GET",
        ESM,
        "",
        &[("Origin", "http://evil.example")],
    );
    assert_eq!((status, kind.as_str()), (403, "AccessDeniedException"));
    let listed = serve.aws_ok(&["list-event-source-mappings"]);
    assert_eq!(
        listed["EventSourceMappings"],
        json!([]),
        "nothing was stored"
    );
    assert_eq!(
        std::fs::read_dir(serve.state.join("mappings"))
            .unwrap()
            .count(),
        0
    );

    // Conflicts and updates that may not be made.
    let (status, _, created) = serve.http("POST", ESM, &good.to_string());
    assert_eq!(status, 202, "{created}");
    let uuid = created["UUID"].as_str().unwrap().to_string();
    let (status, kind, answer) = serve.http("POST", ESM, &good.to_string());
    assert_eq!(
        (status, kind.as_str()),
        (409, "ResourceConflictException"),
        "{answer}"
    );
    assert!(answer["message"].as_str().unwrap().contains(&uuid));
    serve.wait_for(&uuid, Duration::from_secs(30), |m| m["State"] == "Disabled");
    for (body, names) in [
        (json!({"Topics": ["x"]}), "Topics"),
        (
            json!({"StartingPosition": "TRIM_HORIZON"}),
            "StartingPosition",
        ),
        (
            json!({"SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["h:1"]}}}),
            "SelfManagedEventSource",
        ),
        (
            json!({"SelfManagedKafkaEventSourceConfig": {"ConsumerGroupId": "other"}}),
            "ConsumerGroupId",
        ),
        (json!({"BatchSize": -1}), "BatchSize"),
    ] {
        let (status, kind, answer) = serve.http("PUT", &format!("{ESM}{uuid}"), &body.to_string());
        assert_eq!((status, kind.as_str()), (400, INVALID), "{body}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(names),
            "{answer}"
        );
    }
    let m = serve.aws_ok(&["get-event-source-mapping", "--uuid", &uuid]);
    assert_eq!(m["BatchSize"], 100, "no refused update was applied");
    assert_eq!(m["StartingPosition"], "LATEST");
    // Updating: a second update is refused until the first is applied.
    let (status, _, _) = serve.http("PUT", &format!("{ESM}{uuid}"), r#"{"BatchSize": 7}"#);
    assert_eq!(status, 202);
    let (status, kind, _) = serve.http("PUT", &format!("{ESM}{uuid}"), r#"{"BatchSize": 8}"#);
    if status != 202 {
        assert_eq!((status, kind.as_str()), (400, "ResourceInUseException"));
    }
    serve.stop();
}

/// The state survives `kill -9`: every mapping whose Create was answered is back after a
/// restart, even when the kill lands in the middle of writes, and a running mapping
/// resumes from its committed offsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mappings_survive_kill_9_and_resume_from_their_committed_offsets() {
    let broker = common::nisshi().await;
    tokio::task::spawn_blocking(move || persistence(&broker))
        .await
        .unwrap();
}

fn persistence(broker: &Nisshi) {
    let topic = unique_name("serve-kill");
    broker.create_topic(&topic, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let servers = servers(broker);
    produce(broker, &topic, &["a", "b", "c"]);
    let created = serve.aws_ok(&create_args(&topic, &servers, "100"));
    let uuid = created["UUID"].as_str().unwrap().to_string();
    serve.wait_for_offset(2, Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(30);
    while broker.refclient().committed(&topic, &uuid).unwrap().get(&0) != Some(&3) {
        assert!(Instant::now() < deadline, "offsets never committed");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Creates (disabled, so they start nothing) while the process is killed mid-way.
    let port = serve.port;
    let writer = std::thread::spawn(move || {
        let mut acknowledged = Vec::new();
        for i in 0.. {
            let body = json!({
                "FunctionName": "reporter",
                "Topics": [format!("t{i}")],
                "StartingPosition": "LATEST",
                "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["127.0.0.1:1"]}},
                "Enabled": false,
            });
            let Ok(answer) = try_http(
                port,
                "POST",
                "/2015-03-31/event-source-mappings/",
                &body.to_string(),
                &[],
            ) else {
                break;
            };
            if answer.0 != 202 {
                break;
            }
            acknowledged.push(answer.2["UUID"].as_str().unwrap().to_string());
        }
        acknowledged
    });
    // Let some creates through, then kill: the last one is likely mid-write.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_dir(serve.state.join("mappings"))
        .unwrap()
        .count()
        < 20
    {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    let (state, report, functions, log) = serve.kill9();
    let acknowledged = writer.join().unwrap();
    // 20 files: the running mapping's, and at most one written but not yet answered.
    assert!(acknowledged.len() >= 18, "{}", acknowledged.len());

    let serve = Serve::start_with(state, report, functions, log, &[]);
    let listed = serve.aws_ok(&["list-event-source-mappings", "--max-items", "1000"]);
    let back: Vec<&str> = listed["EventSourceMappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["UUID"].as_str().unwrap())
        .collect();
    for uuid in &acknowledged {
        assert!(back.contains(&uuid.as_str()), "acknowledged {uuid} lost");
    }
    assert!(back.contains(&uuid.as_str()));
    eprintln!(
        "serve: killed with -9 after {} acknowledged creates; {} mappings back",
        acknowledged.len(),
        back.len()
    );
    // ListEventSourceMappings pages: MaxItems per page, NextMarker until the last.
    let mut paged = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let path = match &marker {
            None => "/2015-03-31/event-source-mappings/?MaxItems=5".to_string(),
            Some(m) => format!("/2015-03-31/event-source-mappings/?MaxItems=5&Marker={m}"),
        };
        let (status, _, page) = serve.http("GET", &path, "");
        assert_eq!(status, 200, "{page}");
        let items = page["EventSourceMappings"].as_array().unwrap();
        assert!(items.len() <= 5);
        paged.extend(
            items
                .iter()
                .map(|m| m["UUID"].as_str().unwrap().to_string()),
        );
        match page.get("NextMarker").and_then(Value::as_str) {
            Some(next) => marker = Some(next.to_string()),
            None => break,
        }
    }
    let mut all: Vec<String> = back.iter().map(|u| u.to_string()).collect();
    all.sort();
    assert_eq!(paged, all, "every mapping once, in order, across the pages");
    let by_cli = serve.aws_ok(&["list-event-source-mappings", "--page-size", "4"]);
    assert_eq!(
        by_cli["EventSourceMappings"].as_array().unwrap().len(),
        all.len()
    );

    // The running mapping resumes after its committed offsets.
    let seen = serve.batches().len();
    produce(broker, &topic, &["d"]);
    let batches = serve.wait_for_offset(3, Duration::from_secs(60));
    let after: Vec<i64> = batches[seen..].iter().flatten().copied().collect();
    assert_eq!(after, [3], "resumed from the committed offset: {batches:?}");
    serve.stop();
}

/// With API credentials every request must carry a valid SigV4 signature: the AWS CLI
/// with a known key succeeds; a wrong secret, an unknown key, an unsigned or a stale
/// request get 403 with AWS's error types, and nothing they ask is done.
#[test]
fn with_api_credentials_only_correctly_signed_requests_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    std::fs::write(
        &keys,
        json!({"Credentials": [{"AccessKeyId": "AKIDSERVE", "SecretAccessKey": "s3cr3t/key"}]})
            .to_string(),
    )
    .unwrap();
    let credentials = format!("file://{}", keys.display());
    let serve = Serve::start_args(dir.path(), &["--api-credentials", &credentials]);
    let good = ("AKIDSERVE", "s3cr3t/key");
    let create = [
        "create-event-source-mapping",
        "--function-name",
        "reporter",
        "--topics",
        "t",
        "--starting-position",
        "LATEST",
        "--no-enabled",
        "--self-managed-event-source",
        r#"{"Endpoints":{"KAFKA_BOOTSTRAP_SERVERS":["127.0.0.1:1"]}}"#,
    ];
    for (key, expected) in [
        (("AKIDSERVE", "wrong"), "InvalidSignatureException"),
        (("AKIDOTHER", "s3cr3t/key"), "UnrecognizedClientException"),
    ] {
        let e = serve.aws_as(&create, key).unwrap_err();
        assert!(e.contains(expected), "{key:?}: {e}");
    }
    let mut unsigned = create.to_vec();
    unsigned.push("--no-sign-request");
    let e = serve.aws_as(&unsigned, good).unwrap_err();
    assert!(e.contains("MissingAuthenticationTokenException"), "{e}");
    // Signed correctly, but 20 minutes ago.
    let body = r#"{"FunctionName": "reporter", "Topics": ["t"], "StartingPosition": "LATEST",
        "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["127.0.0.1:1"]}}}"#;
    let then = std::time::SystemTime::now() - Duration::from_secs(20 * 60);
    let headers = sign_headers(serve.port, body, good, then);
    let extra: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, kind, answer) = http(
        serve.port,
        "POST",
        "/2015-03-31/event-source-mappings/",
        body,
        &extra,
    );
    assert_eq!(
        (status, kind.as_str()),
        (403, "InvalidSignatureException"),
        "{answer}"
    );
    assert!(
        answer["message"].as_str().unwrap().contains("expired"),
        "{answer}"
    );
    assert_eq!(
        std::fs::read_dir(serve.state.join("mappings"))
            .unwrap()
            .count(),
        0,
        "no refused request was acted on"
    );
    // The same request signed now is served.
    let headers = sign_headers(serve.port, body, good, std::time::SystemTime::now());
    let extra: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, _, answer) = http(
        serve.port,
        "POST",
        "/2015-03-31/event-source-mappings/",
        body,
        &extra,
    );
    assert_eq!(status, 202, "{answer}");
    let created = serve.aws_as(&["list-event-source-mappings"], good).unwrap();
    assert_eq!(created["EventSourceMappings"].as_array().unwrap().len(), 1);
    assert!(
        !serve.log().contains("s3cr3t"),
        "the secret is never logged"
    );
    serve.stop();
}

/// The headers an SDK adds to sign a Create with `key` at `time`.
fn sign_headers(
    port: u16,
    body: &str,
    key: (&str, &str),
    time: std::time::SystemTime,
) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let identity = aws_credential_types::Credentials::new(key.0, key.1, None, None, "t").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("lambda")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap();
    let host = format!("127.0.0.1:{port}");
    let request = SignableRequest::new(
        "POST",
        "/2015-03-31/event-source-mappings/",
        [("host", host.as_str())].into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(request, &params.into()).unwrap().into_parts();
    instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// On a non-loopback address without API credentials, serve refuses to start.
#[test]
fn serve_refuses_a_non_loopback_address_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kafka-esm"))
        .args(["serve", "--listen", "0.0.0.0:0", "--state-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--api-credentials"), "{err}");
}

/// Three instances on one `kafka://` state topic: a mapping created through one runs on
/// all three, which split its partitions; an update through one reaches all three;
/// concurrent updates through two end the same everywhere; killing one moves its
/// partitions to the others with nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_mappings_through_a_state_topic() {
    let broker = common::nisshi().await;
    tokio::task::spawn_blocking(move || cluster(&broker))
        .await
        .unwrap();
}

fn delivered_everywhere(instances: &[&Serve], expected: &[String], within: Duration) -> Vec<usize> {
    let deadline = Instant::now() + within;
    loop {
        let per: Vec<Vec<String>> = instances.iter().map(|s| s.records()).collect();
        let all: std::collections::BTreeSet<&String> = per.iter().flatten().collect();
        if expected.iter().all(|r| all.contains(r)) {
            return per.iter().map(Vec::len).collect();
        }
        assert!(
            Instant::now() < deadline,
            "not everything delivered: {} of {}\n{}",
            expected.iter().filter(|r| all.contains(r)).count(),
            expected.len(),
            instances
                .iter()
                .map(|s| s.log())
                .collect::<Vec<_>>()
                .join("\n---\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn cluster(broker: &Nisshi) {
    let topic = unique_name("serve-cluster");
    broker.create_topic(&topic, 6).unwrap();
    let state = format!(
        "kafka://{}/{}",
        broker.bootstrap(),
        unique_name("esm-state")
    );
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut instances: Vec<Serve> = dirs
        .iter()
        .map(|d| Serve::start_args(d.path(), &["--state", &state]))
        .collect();
    let body = json!({
        "FunctionName": "reporter",
        "Topics": [topic],
        "StartingPosition": "TRIM_HORIZON",
        "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": [broker.bootstrap()]}},
        "BatchSize": 10,
        "MaximumBatchingWindowInSeconds": 0,
        "KafkaEsm": {"SessionTimeout": 6},
    });
    let created_at = Instant::now();
    let (status, _, created) = instances[0].http(
        "POST",
        "/2015-03-31/event-source-mappings/",
        &body.to_string(),
    );
    assert_eq!(status, 202, "{created}");
    let uuid = created["UUID"].as_str().unwrap().to_string();
    for s in &instances {
        s.wait_for(&uuid, Duration::from_secs(30), |m| m["State"] == "Enabled");
    }
    eprintln!(
        "serve cluster: a Create reached three instances, Enabled, in {:?}",
        created_at.elapsed()
    );

    let values: Vec<String> = (0..60).map(|i| format!("r{i}")).collect();
    let records: Vec<Record> = values
        .iter()
        .map(|v| Record::new(Some(v.as_bytes()), Some(v.as_bytes())))
        .collect();
    let delivered: Vec<String> = broker
        .refclient()
        .produce(&topic, &records, Compression::None)
        .unwrap()
        .iter()
        .map(|d| format!("{}:{}", d.partition, d.offset))
        .collect();
    let all: Vec<&Serve> = instances.iter().collect();
    let per = delivered_everywhere(&all, &delivered, Duration::from_secs(90));
    eprintln!("serve cluster: records delivered per instance: {per:?}");
    assert!(
        per.iter().filter(|n| **n > 0).count() >= 2,
        "the partitions are shared: {per:?}"
    );

    // An update through one instance reaches all three.
    let updated_at = Instant::now();
    instances[1].aws_ok(&[
        "update-event-source-mapping",
        "--uuid",
        &uuid,
        "--batch-size",
        "7",
    ]);
    for s in &instances {
        s.wait_for(&uuid, Duration::from_secs(30), |m| m["BatchSize"] == 7);
    }
    eprintln!(
        "serve cluster: an update reached all three instances in {:?}",
        updated_at.elapsed()
    );
    for s in &instances {
        s.wait_for(&uuid, Duration::from_secs(30), |m| m["State"] == "Enabled");
    }

    // Concurrent updates through two instances: both written, the later one in the log
    // wins on every instance.
    let (a, c) = (instances[0].port, instances[2].port);
    let path = format!("/2015-03-31/event-source-mappings/{uuid}");
    let (pa, pc) = (path.clone(), path.clone());
    let ta = std::thread::spawn(move || http(a, "PUT", &pa, r#"{"BatchSize": 11}"#, &[]).0);
    let tc = std::thread::spawn(move || http(c, "PUT", &pc, r#"{"BatchSize": 13}"#, &[]).0);
    let (sa, sc) = (ta.join().unwrap(), tc.join().unwrap());
    assert!(sa == 202 || sc == 202, "{sa} {sc}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let settled = loop {
        let sizes: Vec<Value> = instances
            .iter()
            .map(|s| s.aws_ok(&["get-event-source-mapping", "--uuid", &uuid])["BatchSize"].clone())
            .collect();
        if sizes.iter().all(|b| *b == sizes[0]) && sizes[0] != 7 {
            break sizes[0].clone();
        }
        assert!(Instant::now() < deadline, "instances disagree: {sizes:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!(
        "serve cluster: concurrent updates 11 ({sa}) and 13 ({sc}) settled on {settled} everywhere"
    );
    for s in &instances {
        s.wait_for(&uuid, Duration::from_secs(30), |m| m["State"] == "Enabled");
    }

    // Kill one: its partitions move to the others after the session, nothing lost.
    let killed = instances.pop().unwrap();
    killed.kill9();
    let values: Vec<String> = (60..120).map(|i| format!("r{i}")).collect();
    let records: Vec<Record> = values
        .iter()
        .map(|v| Record::new(Some(v.as_bytes()), Some(v.as_bytes())))
        .collect();
    let delivered: Vec<String> = broker
        .refclient()
        .produce(&topic, &records, Compression::None)
        .unwrap()
        .iter()
        .map(|d| format!("{}:{}", d.partition, d.offset))
        .collect();
    let killed_at = Instant::now();
    let all: Vec<&Serve> = instances.iter().collect();
    delivered_everywhere(&all, &delivered, Duration::from_secs(120));
    eprintln!(
        "serve cluster: after kill -9 of one instance, the other two delivered every new record within {:?}",
        killed_at.elapsed()
    );
    for s in instances {
        s.stop();
    }
}

/// boto3, the Python SDK, drives the API as it drives AWS: its models parse every answer
/// (a shape it can't read would raise), and errors come back as its ClientError codes.
#[test]
fn boto3_creates_lists_updates_and_deletes_mappings() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let script = r#"
import sys, boto3, botocore
c = boto3.client("lambda", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="k", aws_secret_access_key="s")
m = c.create_event_source_mapping(FunctionName="reporter", Topics=["t"], StartingPosition="LATEST",
    Enabled=False, SelfManagedEventSource={"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["127.0.0.1:1"]}})
assert m["ResponseMetadata"]["HTTPStatusCode"] == 202, m
u = m["UUID"]
assert c.get_event_source_mapping(UUID=u)["Topics"] == ["t"]
assert [x["UUID"] for x in c.list_event_source_mappings(FunctionName="reporter")["EventSourceMappings"]] == [u]
import time
for _ in range(100):
    if c.get_event_source_mapping(UUID=u)["State"] == "Disabled":
        break
    time.sleep(0.1)
assert c.update_event_source_mapping(UUID=u, BatchSize=42)["BatchSize"] == 42
try:
    c.get_event_source_mapping(UUID="f89f8514-cdd9-4602-9e1f-01a5b77d449b")
    raise SystemExit("no error")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "ResourceNotFoundException", e.response
try:
    c.create_event_source_mapping(FunctionName="reporter", Topics=["t2"], StartingPosition="LATEST",
        BatchSize=20000, SelfManagedEventSource={"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["h:1"]}})
    raise SystemExit("no error")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidParameterValueException", e.response
    assert "BatchSize" in e.response["Error"]["Message"], e.response
fs = c.list_functions()["Functions"]
assert [f["FunctionName"] for f in fs] == ["reporter"], fs
assert c.get_function(FunctionName="reporter")["Configuration"]["Timeout"] == 30
assert c.get_function_configuration(FunctionName="reporter")["Timeout"] == 30
for _ in range(100):
    if c.get_event_source_mapping(UUID=u)["State"] != "Updating":
        break
    time.sleep(0.1)
assert c.delete_event_source_mapping(UUID=u)["State"] == "Deleting"
print("boto3 ok")
"#;
    let out = Command::new(rig_tool("awscli-venv/bin/python").unwrap())
        .args(["-c", script, &serve.endpoint()])
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("boto3 ok"),
        "{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        serve.log()
    );
    serve.stop();
}

/// With --api-tls-cert/--api-tls-key the API is HTTPS: the AWS CLI trusting the
/// certificate's CA is served, one that doesn't refuses the connection.
#[test]
fn the_api_over_tls_serves_clients_that_trust_its_certificate() {
    let pki = kafka_esm_rig::Pki::shared().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (
        pki.server.cert.display().to_string(),
        pki.server.key.display().to_string(),
    );
    let mut serve = Serve::start_args(
        dir.path(),
        &["--api-tls-cert", &cert, "--api-tls-key", &key],
    );
    serve.ca_bundle = Some(pki.ca.cert.clone());
    let listed = serve.aws_ok(&["list-event-source-mappings"]);
    assert_eq!(listed["EventSourceMappings"], json!([]));
    let created = serve.aws_ok(&[
        "create-event-source-mapping",
        "--function-name",
        "reporter",
        "--topics",
        "t",
        "--starting-position",
        "LATEST",
        "--no-enabled",
        "--self-managed-event-source",
        r#"{"Endpoints":{"KAFKA_BOOTSTRAP_SERVERS":["127.0.0.1:1"]}}"#,
    ]);
    assert_eq!(created["State"], "Creating");
    serve.ca_bundle = Some(PathBuf::from("/etc/ssl/certs/ca-certificates.crt"));
    let e = serve.aws(&["list-event-source-mappings"]).unwrap_err();
    assert!(e.contains("SSL") || e.contains("certificate"), "{e}");
    serve.ca_bundle = Some(pki.ca.cert.clone());
    serve.stop();
}

/// The state topic's brokers are reached as a mapping's are: here over TLS with a
/// private root CA given as a SERVER_ROOT_CA_CERTIFICATE secret. The mapping written
/// through one instance is read back by the next one from the TLS-only broker; without
/// the access configuration, serve refuses to start and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_topic_is_reached_over_tls_with_the_mappings_access_configurations() {
    let pki = kafka_esm_rig::Pki::shared().unwrap();
    let broker = tokio::task::spawn_blocking(|| {
        Nisshi::start_with(kafka_esm_rig::NisshiOptions {
            tls: Some((pki.server.cert.clone(), pki.server.key.clone())),
            ..kafka_esm_rig::NisshiOptions::default()
        })
        .unwrap()
    })
    .await
    .unwrap();
    tokio::task::spawn_blocking(move || state_over_tls(&broker, pki))
        .await
        .unwrap();
}

fn state_over_tls(broker: &Nisshi, pki: &kafka_esm_rig::Pki) {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("root-ca.json");
    let ca = std::fs::read_to_string(&pki.ca.cert).unwrap();
    std::fs::write(&secret, json!({ "certificate": ca }).to_string()).unwrap();
    let access = json!([{"Type": "SERVER_ROOT_CA_CERTIFICATE", "URI": format!("file://{}", secret.display())}])
        .to_string();
    let state = format!(
        "kafka://{}/{}",
        broker.bootstrap(),
        unique_name("esm-state-tls")
    );

    let out = Command::new(env!("CARGO_BIN_EXE_kafka-esm"))
        .args(["serve", "--listen", "127.0.0.1:0", "--state", &state])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("state topic"), "{err}");

    let first = tempfile::tempdir().unwrap();
    let args = [
        "--state",
        state.as_str(),
        "--state-access-configurations",
        access.as_str(),
    ];
    let serve = Serve::start_args(first.path(), &args);
    let created = serve.aws_ok(&[
        "create-event-source-mapping",
        "--function-name",
        "reporter",
        "--topics",
        "t",
        "--starting-position",
        "LATEST",
        "--no-enabled",
        "--self-managed-event-source",
        r#"{"Endpoints":{"KAFKA_BOOTSTRAP_SERVERS":["127.0.0.1:1"]}}"#,
    ]);
    let uuid = created["UUID"].as_str().unwrap().to_string();
    serve.stop();
    let second = tempfile::tempdir().unwrap();
    let serve = Serve::start_args(second.path(), &args);
    let back = serve.aws_ok(&["get-event-source-mapping", "--uuid", &uuid]);
    assert_eq!(back["Topics"], json!(["t"]));
    serve.stop();
}
