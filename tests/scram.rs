//! Our SCRAM client against an independent server implementation: Python's `scramp`, in
//! the rig's venv, one exchange per process. SHA-256 and SHA-512, the right and a wrong
//! password, and a user name that needs escaping.

use kafka_esm::kafka::client::conn::sasl::SaslError;
use kafka_esm::kafka::client::conn::sasl::scram::{ScramClient, ScramHash};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/scram_server.py"
);

/// Runs one exchange: scramp stores `stored_password` for `user`; our client uses
/// `password`. Returns the client's verdict on the server-final message.
fn exchange(
    hash: ScramHash,
    user: &str,
    stored_password: &str,
    password: &str,
) -> Result<(), SaslError> {
    let python = kafka_esm_rig::rig_tool("venv/bin/python").unwrap();
    let mut child = Command::new(python)
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting scram_server.py");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut send = |value: serde_json::Value| {
        writeln!(stdin, "{value}").unwrap();
        stdin.flush().unwrap();
    };
    let mut receive = || {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let text: String = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("scram_server.py said {line:?}: {e}"));
        text.into_bytes()
    };
    let mechanism = match hash {
        ScramHash::Sha256 => "SCRAM-SHA-256",
        ScramHash::Sha512 => "SCRAM-SHA-512",
    };
    send(serde_json::json!({
        "mechanism": mechanism,
        "username": user,
        "password": stored_password,
        "iterations": 4096,
    }));
    let mut client = ScramClient::new(hash, user, password).unwrap();
    send(String::from_utf8(client.client_first()).unwrap().into());
    let client_final = client.handle_server_first(&receive()).unwrap();
    send(String::from_utf8(client_final).unwrap().into());
    let result = client.handle_server_final(&receive());
    assert!(child.wait().unwrap().success());
    result
}

#[test]
fn authenticates_against_scramp_with_both_hashes() {
    for hash in [ScramHash::Sha256, ScramHash::Sha512] {
        exchange(hash, "alice", "pencil", "pencil").unwrap_or_else(|e| panic!("{hash:?}: {e}"));
    }
}

#[test]
fn scramp_refuses_a_wrong_password() {
    for hash in [ScramHash::Sha256, ScramHash::Sha512] {
        let err = exchange(hash, "alice", "pencil", "crayon").unwrap_err();
        assert!(
            matches!(&err, SaslError::ServerError { error, .. } if error == "invalid-proof"),
            "{hash:?}: {err}"
        );
    }
}

#[test]
fn user_names_with_comma_and_equals_reach_scramp_intact() {
    // scramp's auth_fn refuses any other name, so success means it unescaped ours.
    for hash in [ScramHash::Sha256, ScramHash::Sha512] {
        exchange(hash, "ali,ce=admin,=", "p@ss,w=rd", "p@ss,w=rd")
            .unwrap_or_else(|e| panic!("{hash:?}: {e}"));
    }
}
