//! The `kafka-esm kafka` connectivity commands, run as a user runs them, against nisshi:
//! lines produced come back from `consume`, and `--commit` leaves the group's offsets
//! where the reference client sees them.

use kafka_esm_rig::{Broker, Nisshi, unique_name};
use std::io::Write;
use std::process::{Command, Stdio};

fn kafka_esm(args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-esm"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn produce_then_consume_with_commit() {
    let broker = Nisshi::start().unwrap();
    let topic = unique_name("cli");
    broker.create_topic(&topic, 3).unwrap();
    let bootstrap = broker.bootstrap();
    let lines: Vec<String> = (0..9).map(|i| format!("k{i}:value {i} ë")).collect();
    let out = kafka_esm(
        &[
            "kafka",
            "produce",
            "--bootstrap-servers",
            &bootstrap,
            "--topic",
            &topic,
            "--key-separator",
            ":",
        ],
        &(lines.join("\n") + "\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deliveries: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(deliveries.len(), 9);

    let group = unique_name("cli-group");
    let out = kafka_esm(
        &[
            "kafka",
            "consume",
            "--bootstrap-servers",
            &bootstrap,
            "--topic",
            &topic,
            "--group",
            &group,
            "--count",
            "9",
            "--commit",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got: Vec<(String, String)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["topic"], topic.as_str());
            assert_eq!(v["timestampType"], "CREATE_TIME");
            (
                v["key"].as_str().unwrap().to_string(),
                v["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    want.sort();
    assert_eq!(got, want);

    // Each partition's committed offset is its record count.
    let committed = broker.refclient().committed(&topic, &group).unwrap();
    let mut per_partition = std::collections::BTreeMap::new();
    for d in &deliveries {
        *per_partition
            .entry(d["partition"].as_i64().unwrap() as i32)
            .or_insert(0i64) += 1;
    }
    assert_eq!(committed, per_partition);
}

#[test]
fn an_unreachable_cluster_is_a_clear_error() {
    let port = kafka_esm_rig::free_port().unwrap();
    let out = kafka_esm(
        &[
            "kafka",
            "consume",
            "--bootstrap-servers",
            &format!("127.0.0.1:{port}"),
            "--topic",
            "t",
            "--count",
            "1",
        ],
        "",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("connecting to 127.0.0.1:{port}")),
        "{err}"
    );
}

/// `kafka-esm run` stopped while it is still enabling (its broker accepts connections and
/// never answers): SIGTERM ends it cleanly, exit 0, instead of killing it.
#[test]
fn kafka_esm_run_stops_cleanly_on_sigterm_while_enabling() {
    use std::io::{BufRead, BufReader};
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bootstrap = silent.local_addr().unwrap().to_string();
    // Accepts and holds every connection, answering nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming() {
            held.push(conn);
        }
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-esm"))
        .args([
            "run",
            "--function-name",
            "my-fn",
            "--topics",
            "t",
            "--starting-position",
            "LATEST",
            "--bootstrap-servers",
            &bootstrap,
        ])
        .env("AWS_REGION", "us-east-1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert_ne!(stderr.read_line(&mut line).unwrap(), 0, "{seen}");
        seen.push_str(&line);
        if line.contains("State: Enabling") {
            break;
        }
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let rest = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
        rest
    });
    let status = child.wait().unwrap();
    let rest = rest.join().unwrap();
    assert_eq!(status.code(), Some(0), "{seen}{rest}");
    assert!(rest.contains("State: Disabled"), "{seen}{rest}");
}
