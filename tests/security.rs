//! Authentication and encryption end to end, against the rig's brokers: nisshi's native
//! TLS listener (with and without SCRAM users) and nisshi behind stunnel demanding a
//! client certificate. Mappings take their credentials from `file://` secrets in AWS's
//! JSON formats, or from moto's Secrets Manager; each failure stops the mapping with
//! `EVENT_SOURCE_AUTHN_ERROR` and a message that names what to fix.
//!
//! No broker the rig can run checks SASL/PLAIN passwords (nisshi enables SCRAM only), so
//! PLAIN is covered by its RFC 4616 bytes (unit tests) and by the broker's refusal here.

mod common;

use kafka_esm::access;
use kafka_esm::aws::{AwsOptions, StaticCredentials};
use kafka_esm::config::{Mapping, from_cli_input_json};
use kafka_esm::kafka::client::cluster::{Cluster, ClusterConfig};
use kafka_esm::kafka::client::conn::ConnectionConfig;
use kafka_esm::runtime::{self, RuntimeError};
use kafka_esm_rig::{
    Broker, Compression, InvokeServer, Moto, Nisshi, NisshiOptions, Pki, Record, RefClient, Reply,
    Scram, StunnelFront, unique_name,
};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use tempfile::TempDir;

const RECORDS: usize = 3;

/// Secrets as files in AWS's JSON formats.
struct Secrets(TempDir);

impl Secrets {
    fn new() -> Secrets {
        Secrets(tempfile::tempdir().unwrap())
    }

    /// Writes `value` and returns its `file://` URI.
    fn put(&self, name: &str, value: Value) -> String {
        let path = self.0.path().join(format!("{name}.json"));
        std::fs::write(&path, value.to_string()).unwrap();
        format!("file://{}", path.display())
    }

    fn root_ca(&self, pki: &Pki) -> Value {
        let uri = self.put("root-ca", json!({"certificate": read(&pki.ca.cert)}));
        json!({"Type": "SERVER_ROOT_CA_CERTIFICATE", "URI": uri})
    }

    fn sasl(&self, kind: &str, user: &str, password: &str) -> Value {
        let uri = self.put(
            &unique_name("sasl"),
            json!({"username": user, "password": password}),
        );
        json!({"Type": kind, "URI": uri})
    }

    fn mtls(&self, chain: &Path, key: &Path, password: Option<&str>) -> Value {
        let mut secret = json!({"certificate": read(chain), "privateKey": read(key)});
        if let Some(p) = password {
            secret["privateKeyPassword"] = json!(p);
        }
        let uri = self.put(&unique_name("mtls"), secret);
        json!({"Type": "CLIENT_CERTIFICATE_TLS_AUTH", "URI": uri})
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn mapping(bootstrap: &str, topic: &str, access: Vec<Value>, esm: Value) -> Mapping {
    let m = json!({
        "FunctionName": "my-fn",
        "Topics": [topic],
        "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": [bootstrap]}},
        "StartingPosition": "TRIM_HORIZON",
        "MaximumBatchingWindowInSeconds": 0,
        "SourceAccessConfigurations": access,
        "KafkaEsm": esm,
    });
    from_cli_input_json(&m.to_string()).unwrap_or_else(|e| panic!("{e}"))
}

/// A topic holding [`RECORDS`] records, written by `refclient`.
fn topic_with_records(refclient: &RefClient) -> String {
    let topic = unique_name("security");
    let records: Vec<Record> = (0..RECORDS)
        .map(|i| Record::new(None, Some(format!("v{i}").as_bytes())))
        .collect();
    tokio::task::block_in_place(|| {
        refclient.create_topic(&topic, 1)?;
        refclient.produce(&topic, &records, Compression::None)
    })
    .unwrap();
    topic
}

/// Runs `mapping` until the function has received all [`RECORDS`] records (then stops
/// it), or until the mapping stops on its own with an error.
async fn run(mapping: Mapping) -> Result<(), RuntimeError> {
    let mut server = InvokeServer::start().await.unwrap();
    server.set_default(Reply::json(json!(null)));
    let invoker = common::lambda_invoker(&server, "my-fn").await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut task = tokio::spawn(async move {
        runtime::run(
            &mapping,
            invoker,
            async {
                let _ = stopped.await;
            },
            runtime::RunOptions::default(),
        )
        .await
    });
    let mut invoked = 0;
    while invoked < RECORDS {
        tokio::select! {
            req = server.next_request() => {
                let event: Value = serde_json::from_slice(&req.body).unwrap();
                invoked += event["records"]
                    .as_object()
                    .unwrap()
                    .values()
                    .map(|rs| rs.as_array().unwrap().len())
                    .sum::<usize>();
            }
            ended = &mut task => {
                return ended.unwrap().map(|stats| panic!("stopped by itself: {stats:?}"));
            }
            _ = tokio::time::sleep(Duration::from_secs(60)) => {
                panic!("{invoked} of {RECORDS} records invoked after 60 s")
            }
        }
    }
    stop.send(()).unwrap();
    task.await.unwrap().map(|stats| {
        assert_eq!(stats.records_invoked, RECORDS as u64);
    })
}

/// The error a mapping stopped with, checked to be an authentication error whose
/// message contains `hint`.
fn assert_authn(result: Result<(), RuntimeError>, hint: &str) {
    let e = result.expect_err("the mapping must stop on an authentication error");
    assert_eq!(e.reason(), "EVENT_SOURCE_AUTHN_ERROR", "{e}");
    assert!(e.to_string().contains(hint), "{hint:?} not in: {e}");
}

fn tls_refclient(broker: &dyn Broker, pki: &Pki) -> RefClient {
    broker
        .refclient()
        .with("security.protocol", "SSL")
        .with("ssl.ca.location", pki.ca.cert.display().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_private_root_ca_consumes_and_a_rogue_ca_is_refused() {
    let pki = Pki::shared().unwrap();
    let broker = Nisshi::start_with(NisshiOptions {
        tls: Some((pki.server.cert.clone(), pki.server.key.clone())),
        ..NisshiOptions::default()
    })
    .unwrap();
    let topic = topic_with_records(&tls_refclient(&broker, pki));
    let secrets = Secrets::new();
    run(mapping(
        &broker.bootstrap(),
        &topic,
        vec![secrets.root_ca(pki)],
        json!({}),
    ))
    .await
    .unwrap();

    let rogue = secrets.put("rogue", json!({"certificate": read(&pki.rogue_ca.cert)}));
    let result = run(mapping(
        &broker.bootstrap(),
        &topic,
        vec![json!({"Type": "SERVER_ROOT_CA_CERTIFICATE", "URI": rogue})],
        json!({}),
    ))
    .await;
    assert_authn(result, "not trusted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_over_tls_logs_in_and_a_wrong_password_is_named() {
    let pki = Pki::shared().unwrap();
    let broker = Nisshi::start_with(NisshiOptions {
        tls: Some((pki.server.cert.clone(), pki.server.key.clone())),
        scram_users: vec![
            (Scram::Sha256, "alice".into(), "alice-secret".into()),
            (Scram::Sha512, "bob".into(), "bob-secret".into()),
        ],
        ..NisshiOptions::default()
    })
    .unwrap();
    let refclient = tls_refclient(&broker, pki)
        .with("security.protocol", "SASL_SSL")
        .with("sasl.mechanism", "SCRAM-SHA-256")
        .with("sasl.username", "alice")
        .with("sasl.password", "alice-secret");
    let topic = topic_with_records(&refclient);
    let secrets = Secrets::new();
    for (kind, user, password) in [
        ("SASL_SCRAM_256_AUTH", "alice", "alice-secret"),
        ("SASL_SCRAM_512_AUTH", "bob", "bob-secret"),
    ] {
        let group = unique_name("scram-group");
        let mut m = mapping(
            &broker.bootstrap(),
            &topic,
            vec![secrets.root_ca(pki), secrets.sasl(kind, user, password)],
            json!({}),
        );
        m.consumer_group_id = group;
        run(m)
            .await
            .unwrap_or_else(|e| panic!("{kind} as {user}: {e}"));
    }

    let result = run(mapping(
        &broker.bootstrap(),
        &topic,
        vec![
            secrets.root_ca(pki),
            secrets.sasl("SASL_SCRAM_256_AUTH", "alice", "not-her-password"),
        ],
        json!({}),
    ))
    .await;
    assert_authn(result, "alice");
    // The password never appears in what the user sees.
    let e = run(mapping(
        &broker.bootstrap(),
        &topic,
        vec![
            secrets.root_ca(pki),
            secrets.sasl("SASL_SCRAM_512_AUTH", "alice", "not-her-password"),
        ],
        json!({}),
    ))
    .await
    .unwrap_err();
    assert!(
        !e.to_string().contains("not-her-password")
            && !format!("{e:?}").contains("not-her-password"),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_over_plaintext_needs_the_opt_in() {
    let broker = Nisshi::start_with(NisshiOptions {
        scram_users: vec![(Scram::Sha256, "alice".into(), "alice-secret".into())],
        ..NisshiOptions::default()
    })
    .unwrap();
    let refclient = broker
        .refclient()
        .with("security.protocol", "SASL_PLAINTEXT")
        .with("sasl.mechanism", "SCRAM-SHA-256")
        .with("sasl.username", "alice")
        .with("sasl.password", "alice-secret");
    let topic = topic_with_records(&refclient);
    let secrets = Secrets::new();
    let access = || vec![secrets.sasl("SASL_SCRAM_256_AUTH", "alice", "alice-secret")];
    // Without the opt-in, SASL goes over TLS, which this listener doesn't speak.
    let result = run(mapping(&broker.bootstrap(), &topic, access(), json!({}))).await;
    assert_authn(result, "AllowInsecureSaslOverPlaintext");
    run(mapping(
        &broker.bootstrap(),
        &topic,
        access(),
        json!({"AllowInsecureSaslOverPlaintext": true}),
    ))
    .await
    .unwrap();

    // SASL/PLAIN (BASIC_AUTH) against a broker that only enables SCRAM: the error says
    // which mechanisms it does enable.
    let result = run(mapping(
        &broker.bootstrap(),
        &topic,
        vec![secrets.sasl("BASIC_AUTH", "alice", "alice-secret")],
        json!({"AllowInsecureSaslOverPlaintext": true}),
    ))
    .await;
    assert_authn(result, "does not enable SASL mechanism PLAIN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_with_every_key_encryption_openssl_makes() {
    let pki = Pki::shared().unwrap();
    let front = StunnelFront::start(pki, NisshiOptions::default()).unwrap();
    let topic = topic_with_records(&front.refclient());
    let secrets = Secrets::new();

    // Every encrypted form of the client key connects; a wrong password is named.
    for key in &pki.encrypted_keys {
        for (password, ok) in [(Pki::PASSWORD, true), ("wrong-password", false)] {
            let m = mapping(
                &front.bootstrap(),
                &topic,
                vec![
                    secrets.root_ca(pki),
                    secrets.mtls(&pki.client_chain, &key.path, Some(password)),
                ],
                json!({}),
            );
            let config =
                access::connection_config(&m, &AwsOptions::default(), ConnectionConfig::default())
                    .await;
            match (ok, config) {
                (true, Ok(config)) => {
                    let cluster = Cluster::connect(
                        ClusterConfig {
                            bootstrap: vec![front.bootstrap()],
                            connection: config,
                        },
                        std::slice::from_ref(&topic),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("{}: {e}", key.scheme));
                    assert_eq!(cluster.partition_count(&topic), Some(1));
                }
                (false, Err(e)) => {
                    assert_eq!(e.reason(), "EVENT_SOURCE_AUTHN_ERROR");
                    assert!(
                        e.to_string().contains("privateKeyPassword"),
                        "{}: {e}",
                        key.scheme
                    );
                }
                (ok, result) => panic!("{}: ok={ok}, got {result:?}", key.scheme),
            }
        }
    }

    // The whole mapping, with an encrypted key.
    let key = pki
        .encrypted_keys
        .iter()
        .find(|k| k.scheme.contains("aes-256"))
        .unwrap();
    run(mapping(
        &front.bootstrap(),
        &topic,
        vec![
            secrets.root_ca(pki),
            secrets.mtls(&pki.client_chain, &key.path, Some(Pki::PASSWORD)),
        ],
        json!({}),
    ))
    .await
    .unwrap();

    // A client certificate from a CA the broker doesn't trust.
    let result = run(mapping(
        &front.bootstrap(),
        &topic,
        vec![
            secrets.root_ca(pki),
            secrets.mtls(&pki.rogue_client.cert, &pki.rogue_client.key, None),
        ],
        json!({}),
    ))
    .await;
    assert_authn(result, "client certificate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_secrets_manager_drive_a_connection() {
    let pki = Pki::shared().unwrap();
    let broker = Nisshi::start_with(NisshiOptions {
        tls: Some((pki.server.cert.clone(), pki.server.key.clone())),
        scram_users: vec![(Scram::Sha512, "carol".into(), "carol-secret".into())],
        ..NisshiOptions::default()
    })
    .unwrap();
    let moto = tokio::task::spawn_blocking(|| Moto::shared().map(|m| m.endpoint().to_string()))
        .await
        .unwrap()
        .unwrap();
    let sm = aws_sdk_secretsmanager::Client::new(&common::local_aws(moto.clone()).await);
    let create = |name: String, value: Value| {
        let sm = sm.clone();
        async move {
            sm.create_secret()
                .name(name)
                .secret_string(value.to_string())
                .send()
                .await
                .unwrap()
                .arn()
                .unwrap()
                .to_string()
        }
    };
    let login = create(
        unique_name("AmazonMSK_carol"),
        json!({"username": "carol", "password": "carol-secret"}),
    )
    .await;
    let root = create(
        unique_name("root-ca"),
        json!({"certificate": read(&pki.ca.cert)}),
    )
    .await;
    let refclient = tls_refclient(&broker, pki)
        .with("security.protocol", "SASL_SSL")
        .with("sasl.mechanism", "SCRAM-SHA-512")
        .with("sasl.username", "carol")
        .with("sasl.password", "carol-secret");
    let topic = topic_with_records(&refclient);
    let m = mapping(
        &broker.bootstrap(),
        &topic,
        vec![
            json!({"Type": "SASL_SCRAM_512_AUTH", "URI": login}),
            json!({"Type": "SERVER_ROOT_CA_CERTIFICATE", "URI": root}),
        ],
        json!({}),
    );
    let aws = AwsOptions {
        region: Some(Moto::REGION.into()),
        endpoint_url: Some(moto),
        credentials: Some(StaticCredentials {
            access_key_id: Moto::ACCESS_KEY_ID.into(),
            secret_access_key: Moto::SECRET_ACCESS_KEY.into(),
            session_token: None,
        }),
        max_attempts: Some(1),
        ..AwsOptions::default()
    };
    let config = access::connection_config(&m, &aws, ConnectionConfig::default())
        .await
        .unwrap();
    let cluster = Cluster::connect(
        ClusterConfig {
            bootstrap: vec![broker.bootstrap()],
            connection: config,
        },
        std::slice::from_ref(&topic),
    )
    .await
    .unwrap();
    assert_eq!(cluster.partition_count(&topic), Some(1));

    // A secret that doesn't exist is named, with Secrets Manager's answer.
    let mut absent = m;
    absent.authentication = Some(kafka_esm::config::Authentication::SaslScram512(
        kafka_esm::config::SecretSource::SecretsManager {
            arn: format!(
                "arn:aws:secretsmanager:us-east-1:{}:secret:{}",
                Moto::ACCOUNT_ID,
                unique_name("absent")
            ),
            region: "us-east-1".into(),
        },
    ));
    let e = access::connection_config(&absent, &aws, ConnectionConfig::default())
        .await
        .unwrap_err();
    assert_eq!(e.reason(), "EVENT_SOURCE_AUTHN_ERROR");
    assert!(e.to_string().contains("absent"), "{e}");
}

/// A rotated Secrets Manager secret reaches new connections without a restart: once the
/// broker refuses the old password, the secret is read again and the connection retried
/// with the new one. When the secret still holds a refused password, the error is
/// EVENT_SOURCE_AUTHN_ERROR as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_is_read_again_when_the_broker_refuses_the_old_password() {
    let pki = Pki::shared().unwrap();
    let mut broker = Nisshi::start_with(NisshiOptions {
        tls: Some((pki.server.cert.clone(), pki.server.key.clone())),
        scram_users: vec![(Scram::Sha512, "erin".into(), "erin-before".into())],
        ..NisshiOptions::default()
    })
    .unwrap();
    let moto = tokio::task::spawn_blocking(|| Moto::shared().map(|m| m.endpoint().to_string()))
        .await
        .unwrap()
        .unwrap();
    let sm = aws_sdk_secretsmanager::Client::new(&common::local_aws(moto.clone()).await);
    let login = sm
        .create_secret()
        .name(unique_name("AmazonMSK_erin"))
        .secret_string(json!({"username": "erin", "password": "erin-before"}).to_string())
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let secrets = Secrets::new();
    let m = mapping(
        &broker.bootstrap(),
        "unused",
        vec![
            json!({"Type": "SASL_SCRAM_512_AUTH", "URI": login}),
            secrets.root_ca(pki),
        ],
        json!({}),
    );
    let aws = AwsOptions {
        region: Some(Moto::REGION.into()),
        endpoint_url: Some(moto),
        credentials: Some(StaticCredentials {
            access_key_id: Moto::ACCESS_KEY_ID.into(),
            secret_access_key: Moto::SECRET_ACCESS_KEY.into(),
            session_token: None,
        }),
        max_attempts: Some(1),
        ..AwsOptions::default()
    };
    let config = access::connection_config(&m, &aws, ConnectionConfig::default())
        .await
        .unwrap();
    let bootstrap = broker.bootstrap();
    let connect = |config: ConnectionConfig| {
        let bootstrap = vec![bootstrap.clone()];
        async move {
            Cluster::connect(
                ClusterConfig {
                    bootstrap,
                    connection: config,
                },
                &[],
            )
            .await
        }
    };
    connect(config.clone()).await.unwrap();

    // Rotation: the secret first (as Secrets Manager's rotation does), then the broker.
    sm.put_secret_value()
        .secret_id(&login)
        .secret_string(json!({"username": "erin", "password": "erin-after"}).to_string())
        .send()
        .await
        .unwrap();
    let mut rotate = |password: &'static str| {
        tokio::task::block_in_place(|| broker.change_password(Scram::Sha512, "erin", password))
    };
    rotate("erin-after").unwrap();
    let cluster = connect(config.clone())
        .await
        .expect("the new password is read and used");
    assert!(!cluster.brokers().is_empty());
    assert_eq!(
        &*config.sasl.as_ref().unwrap().current().password,
        "erin-after"
    );

    // The broker moves on but the secret doesn't: refused, and said so.
    rotate("erin-third").unwrap();
    let Err(e) = connect(config.clone()).await else {
        panic!("a password the broker no longer takes must be refused");
    };
    assert_eq!(e.reason(), Some("EVENT_SOURCE_AUTHN_ERROR"), "{e}");
}

/// Everything logged by this test binary, at every level, from the first call on.
fn captured_logs() -> &'static std::sync::Mutex<Vec<u8>> {
    static LOGS: std::sync::OnceLock<&'static std::sync::Mutex<Vec<u8>>> =
        std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs: &'static std::sync::Mutex<Vec<u8>> =
            Box::leak(Box::new(std::sync::Mutex::new(Vec::new())));
        struct Writer(&'static std::sync::Mutex<Vec<u8>>);
        impl std::io::Write for Writer {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || Writer(logs))
            .try_init()
            .expect("the only subscriber of this test binary");
        logs
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_logs_errors_or_debug_output() {
    let logs = captured_logs();
    let pki = Pki::shared().unwrap();
    let broker = Nisshi::start_with(NisshiOptions {
        tls: Some((pki.server.cert.clone(), pki.server.key.clone())),
        scram_users: vec![(Scram::Sha256, "dave".into(), "canary-right-PW".into())],
        ..NisshiOptions::default()
    })
    .unwrap();
    let refclient = tls_refclient(&broker, pki)
        .with("security.protocol", "SASL_SSL")
        .with("sasl.mechanism", "SCRAM-SHA-256")
        .with("sasl.username", "dave")
        .with("sasl.password", "canary-right-PW");
    let topic = topic_with_records(&refclient);
    let secrets = Secrets::new();
    let m = |password: &str| {
        mapping(
            &broker.bootstrap(),
            &topic,
            vec![
                secrets.root_ca(pki),
                secrets.sasl("SASL_SCRAM_256_AUTH", "dave", password),
            ],
            json!({}),
        )
    };
    let right = m("canary-right-PW");
    let debug = format!("{right:?}");
    run(right).await.unwrap();
    let wrong = run(m("canary-wrong-PW")).await.unwrap_err();

    // An encrypted mTLS key with a wrong password: the error, not the password.
    let key = &pki.encrypted_keys[0];
    let mtls = mapping(
        &broker.bootstrap(),
        &topic,
        vec![
            secrets.root_ca(pki),
            secrets.mtls(&pki.client_chain, &key.path, Some("canary-key-PW")),
        ],
        json!({}),
    );
    let key_error =
        access::connection_config(&mtls, &AwsOptions::default(), ConnectionConfig::default())
            .await
            .unwrap_err();
    let key_pem = read(&key.path);
    let key_body = key_pem.lines().nth(1).unwrap().to_string();

    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        logged.contains(&topic),
        "the capture works: the mapping's start was logged"
    );
    for (what, text) in [
        ("logs", logged),
        ("mapping Debug", debug),
        ("error", wrong.to_string()),
        ("error Debug", format!("{wrong:?}")),
        ("key error", key_error.to_string()),
        ("key error Debug", format!("{key_error:?}")),
    ] {
        for secret in [
            "canary-right-PW",
            "canary-wrong-PW",
            "canary-key-PW",
            &key_body,
        ] {
            assert!(!text.contains(secret), "{what} shows a secret: {text}");
        }
    }
}
