//! The test rig itself: every component starts, serves real traffic, and stops.
//!
//! These tests are the ground later tests stand on: if a broker, moto or the Invoke
//! endpoint misbehaves, it shows here first, with the component named.

mod common;

use kafka_esm_rig::kafka::{Scram, StunnelFront};
use kafka_esm_rig::{
    Broker, Compression, InvokeServer, MockCluster, Moto, Nisshi, NisshiOptions, Pki, Record,
    Reply, Storage, unique_name,
};
use std::net::TcpStream;

/// Records that exercise what a consumer must get right: keys and values present and
/// absent, empty, binary, non-UTF-8 header values, repeated header keys.
fn sample_records(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let key = match i % 4 {
                0 => None,
                1 => Some(Vec::new()),
                _ => Some(format!("key-{i}").into_bytes()),
            };
            let value = match i % 5 {
                0 => None,
                1 => Some(vec![0u8, 255, 10, 13, 34, 92]),
                _ => Some(format!("value {i} ë \"quoted\"").into_bytes()),
            };
            let mut r = Record {
                key,
                value,
                ..Record::default()
            };
            if i % 3 == 0 {
                r = r
                    .header("trace", Some(format!("t{i}").as_bytes()))
                    .header("trace", Some(&[0xc3, 0xab, 0xff]))
                    .header("empty", None);
            }
            r
        })
        .collect()
}

/// Produces with every codec through the reference producer, reads everything back
/// through a reference group consumer, and checks each record arrived unchanged.
fn round_trip_every_codec(broker: &dyn Broker, partitions: i32) {
    let client = broker.refclient();
    for codec in Compression::ALL {
        let topic = unique_name(&format!("rig-{}-{}", broker.kind(), codec.name()));
        broker.create_topic(&topic, partitions).unwrap();
        let records = sample_records(40);
        let delivered = client.produce(&topic, &records, codec).unwrap();
        let consumed = client
            .consume(&topic, &unique_name("rig-group"), records.len(), true)
            .unwrap();
        assert_eq!(
            consumed.len(),
            records.len(),
            "{} {}",
            broker.kind(),
            codec.name()
        );
        for (sent, at) in records.iter().zip(&delivered) {
            let got = consumed
                .iter()
                .find(|c| c.partition == at.partition && c.offset == at.offset)
                .unwrap_or_else(|| {
                    panic!(
                        "{} {}: record at {at:?} not read back",
                        broker.kind(),
                        codec.name()
                    )
                });
            assert_eq!(got.key, sent.key, "{} {} key", broker.kind(), codec.name());
            assert_eq!(
                got.value,
                sent.value,
                "{} {} value",
                broker.kind(),
                codec.name()
            );
            assert_eq!(
                got.headers,
                sent.headers,
                "{} {} headers",
                broker.kind(),
                codec.name()
            );
            assert_eq!(got.timestamp_type.as_deref(), Some("CREATE_TIME"));
        }
    }
}

#[test]
fn reference_client_round_trips_every_codec_through_nisshi() {
    let broker = Nisshi::start().unwrap();
    round_trip_every_codec(&broker, 3);
}

#[test]
fn reference_client_round_trips_every_codec_through_mock_cluster() {
    let broker = MockCluster::start(3).unwrap();
    round_trip_every_codec(&broker, MockCluster::PARTITIONS);
}

/// A group's committed offsets are stored by the broker and read by another client.
fn commits_are_visible(broker: &dyn Broker, partitions: i32) {
    let client = broker.refclient();
    let topic = unique_name("rig-commit");
    broker.create_topic(&topic, partitions).unwrap();
    let records: Vec<Record> = (0..12)
        .map(|i| {
            let mut r = Record::new(None, Some(format!("v{i}").as_bytes()));
            r.partition = Some(i % partitions);
            r
        })
        .collect();
    client.produce(&topic, &records, Compression::None).unwrap();
    let group = unique_name("rig-group");
    let consumed = client.consume(&topic, &group, records.len(), true).unwrap();
    let committed = client.committed(&topic, &group).unwrap();
    for p in 0..partitions {
        let last = consumed
            .iter()
            .filter(|c| c.partition == p)
            .map(|c| c.offset)
            .max()
            .unwrap();
        assert_eq!(committed[&p], last + 1, "{} partition {p}", broker.kind());
    }
}

#[test]
fn committed_offsets_are_visible_on_nisshi() {
    commits_are_visible(&Nisshi::start().unwrap(), 3);
}

#[test]
fn committed_offsets_are_visible_on_mock_cluster() {
    commits_are_visible(&MockCluster::start(3).unwrap(), MockCluster::PARTITIONS);
}

#[test]
fn nisshi_lists_offsets_by_timestamp() {
    let broker = Nisshi::start().unwrap();
    assert!(broker.lists_offsets_by_timestamp());
    let client = broker.refclient();
    let topic = unique_name("rig-ts");
    broker.create_topic(&topic, 1).unwrap();
    let records: Vec<Record> = [1_000i64, 2_000, 3_000, 4_000]
        .iter()
        .map(|&ts| {
            let mut r = Record::new(None, Some(b"x"));
            r.timestamp = Some(1_700_000_000_000 + ts);
            r
        })
        .collect();
    client.produce(&topic, &records, Compression::None).unwrap();
    let offsets = client
        .list_offsets(&topic, Some(1_700_000_002_500))
        .unwrap();
    assert_eq!(offsets[&0].earliest, 0);
    assert_eq!(offsets[&0].latest, 4);
    assert_eq!(
        offsets[&0].by_timestamp,
        Some(2),
        "first offset with timestamp >= 2500"
    );
}

#[test]
fn nisshi_sqlite_storage_survives_kill_9() {
    let mut broker = Nisshi::start_with(NisshiOptions {
        storage: Storage::Sqlite,
        ..NisshiOptions::default()
    })
    .unwrap();
    let topic = unique_name("rig-durable");
    broker.create_topic(&topic, 1).unwrap();
    let records = sample_records(5);
    broker
        .refclient()
        .produce(&topic, &records, Compression::Zstd)
        .unwrap();
    broker.kill();
    assert!(
        TcpStream::connect(broker.addr()).is_err(),
        "a killed broker must not accept connections"
    );
    broker.restart().unwrap();
    let consumed = broker
        .refclient()
        .consume(&topic, &unique_name("rig-group"), records.len(), false)
        .unwrap();
    let values: Vec<_> = consumed.iter().map(|c| c.value.clone()).collect();
    let sent: Vec<_> = records.iter().map(|r| r.value.clone()).collect();
    assert_eq!(values, sent);
}

#[test]
fn a_dropped_broker_is_gone() {
    let broker = Nisshi::start().unwrap();
    let addr = broker.addr();
    assert!(TcpStream::connect(addr).is_ok());
    drop(broker);
    assert!(
        TcpStream::connect(addr).is_err(),
        "broker outlived its handle"
    );
}

#[test]
fn pki_has_every_key_encryption_scheme() {
    use kafka_esm_rig::certs::KeyFamily;
    let pki = Pki::shared().unwrap();
    let count = |f: KeyFamily| pki.encrypted_keys.iter().filter(|k| k.family == f).count();
    assert_eq!(count(KeyFamily::Pbes1), 4);
    assert_eq!(count(KeyFamily::Pkcs12), 6);
    assert_eq!(count(KeyFamily::Pbes2), 9);
    assert_eq!(count(KeyFamily::Traditional), 2);
    for key in &pki.encrypted_keys {
        let pem = std::fs::read_to_string(&key.path).unwrap();
        let want = match key.family {
            KeyFamily::Traditional => "Proc-Type: 4,ENCRYPTED",
            _ => "-----BEGIN ENCRYPTED PRIVATE KEY-----",
        };
        assert!(pem.contains(want), "{}: {pem}", key.scheme);
    }
    let chain = std::fs::read_to_string(&pki.client_chain).unwrap();
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 3);
}

#[test]
fn nisshi_native_tls_serves_a_client_that_trusts_the_rig_ca() {
    let pki = Pki::shared().unwrap();
    let broker = Nisshi::start_with(NisshiOptions {
        tls: Some((pki.server.cert.clone(), pki.server.key.clone())),
        ..NisshiOptions::default()
    })
    .unwrap();
    let tls = broker
        .refclient()
        .with("security.protocol", "SSL")
        .with("ssl.ca.location", pki.ca.cert.display().to_string());
    let topic = unique_name("rig-tls");
    tls.create_topic(&topic, 1).unwrap();
    let records = sample_records(3);
    tls.produce(&topic, &records, Compression::Lz4).unwrap();
    assert_eq!(
        tls.consume(&topic, &unique_name("g"), 3, false)
            .unwrap()
            .len(),
        3
    );

    // A client that trusts another CA is refused.
    let untrusting = broker
        .refclient()
        .with("security.protocol", "SSL")
        .with("ssl.ca.location", pki.rogue_ca.cert.display().to_string());
    let untrusting = untrusting.timeout(8.0);
    assert!(untrusting.create_topic(&unique_name("rig-tls"), 1).is_err());
}

#[test]
fn stunnel_front_requires_a_client_certificate_from_the_rig_ca() {
    let pki = Pki::shared().unwrap();
    let front = StunnelFront::start(pki, NisshiOptions::default()).unwrap();
    let good = front.refclient();
    let topic = unique_name("rig-mtls");
    front.create_topic(&topic, 2).unwrap();
    good.produce(&topic, &sample_records(4), Compression::Snappy)
        .unwrap();
    assert_eq!(
        good.consume(&topic, &unique_name("g"), 4, true)
            .unwrap()
            .len(),
        4
    );

    let rogue = front
        .anonymous_refclient()
        .with(
            "ssl.certificate.location",
            pki.rogue_client.cert.display().to_string(),
        )
        .with(
            "ssl.key.location",
            pki.rogue_client.key.display().to_string(),
        );
    let rogue = rogue.timeout(8.0);
    assert!(rogue.create_topic(&unique_name("rig-mtls"), 1).is_err());
    // OpenSSL clients may withhold a certificate the server's CA list doesn't name;
    // either way stunnel refuses the handshake and says why.
    let log = front.log();
    assert!(
        [
            "unknown ca",
            "certificate verify failed",
            "peer did not return a certificate"
        ]
        .iter()
        .any(|why| log.contains(why)),
        "stunnel should say why it refused the rogue client: {log}"
    );
    let anonymous = front.anonymous_refclient().timeout(8.0);
    assert!(anonymous.create_topic(&unique_name("rig-mtls"), 1).is_err());
}

#[test]
fn nisshi_scram_accepts_its_users_and_refuses_bad_passwords() {
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
    let login = |mech: Scram, user: &str, pw: &str| {
        broker
            .refclient()
            .with("security.protocol", "SASL_SSL")
            .with("ssl.ca.location", pki.ca.cert.display().to_string())
            .with("sasl.mechanism", mech.mechanism())
            .with("sasl.username", user)
            .with("sasl.password", pw)
    };
    let topic = unique_name("rig-scram");
    login(Scram::Sha256, "alice", "alice-secret")
        .create_topic(&topic, 1)
        .unwrap();
    let bob = login(Scram::Sha512, "bob", "bob-secret");
    bob.produce(&topic, &sample_records(2), Compression::Gzip)
        .unwrap();
    assert_eq!(
        bob.consume(&topic, &unique_name("g"), 2, false)
            .unwrap()
            .len(),
        2
    );
    let wrong = login(Scram::Sha256, "alice", "not-her-password").timeout(8.0);
    assert!(wrong.create_topic(&unique_name("rig-scram"), 1).is_err());
}

#[tokio::test]
async fn moto_serves_secrets_manager() {
    let moto = tokio::task::spawn_blocking(|| Moto::shared().map(|_| ()))
        .await
        .unwrap();
    moto.unwrap();
    let moto = Moto::shared().unwrap();
    let config = common::local_aws(moto.endpoint().into()).await;
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let name = unique_name("rig/kafka-credentials");
    let secret = r#"{"username":"alice","password":"alice-secret"}"#;
    let created = sm
        .create_secret()
        .name(&name)
        .secret_string(secret)
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap().to_string();
    assert!(
        arn.starts_with("arn:aws:secretsmanager:us-east-1:"),
        "{arn}"
    );
    let got = sm.get_secret_value().secret_id(&arn).send().await.unwrap();
    assert_eq!(got.secret_string(), Some(secret));
    let missing = sm
        .get_secret_value()
        .secret_id(unique_name("rig/absent"))
        .send()
        .await
        .unwrap_err();
    assert!(
        missing
            .into_service_error()
            .is_resource_not_found_exception(),
        "an absent secret is ResourceNotFoundException"
    );
}

#[tokio::test]
async fn invoke_endpoint_answers_aws_sdk_lambda_as_scripted() {
    let mut server = InvokeServer::start().await.unwrap();
    let config = common::local_aws(server.endpoint()).await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    server.script([
        Reply::json(serde_json::json!({"batchItemFailures": []})),
        Reply::unhandled("Error", "boom"),
        Reply::handled("ValidationError", "bad record"),
        Reply::Throttled,
        Reply::too_large(),
        Reply::not_found(),
    ]);
    let event = br#"{"eventSource":"SelfManagedKafka","records":{}}"#;
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:my-fn";
    let invoke = || {
        lambda
            .invoke()
            .function_name(arn)
            .payload(aws_sdk_lambda::primitives::Blob::new(&event[..]))
            .send()
    };

    let ok = invoke().await.unwrap();
    assert_eq!(ok.status_code(), 200);
    assert_eq!(ok.function_error(), None);
    assert_eq!(ok.executed_version(), Some("$LATEST"));
    assert_eq!(
        ok.payload().unwrap().as_ref(),
        br#"{"batchItemFailures":[]}"#
    );
    let req = server.next_request().await;
    assert_eq!(req.function, arn);
    assert_eq!(&req.body[..], &event[..]);

    let unhandled = invoke().await.unwrap();
    assert_eq!(unhandled.function_error(), Some("Unhandled"));
    let body: serde_json::Value =
        serde_json::from_slice(unhandled.payload().unwrap().as_ref()).unwrap();
    assert_eq!(body["errorMessage"], "boom");

    let handled = invoke().await.unwrap();
    assert_eq!(handled.function_error(), Some("Handled"));

    let throttled = invoke().await.unwrap_err().into_service_error();
    assert!(throttled.is_too_many_requests_exception(), "{throttled:?}");

    let too_large = invoke().await.unwrap_err().into_service_error();
    assert!(too_large.is_request_too_large_exception(), "{too_large:?}");

    let missing = invoke().await.unwrap_err().into_service_error();
    assert!(missing.is_resource_not_found_exception(), "{missing:?}");

    // With retries off, every call reached the endpoint exactly once.
    assert_eq!(server.requests().len(), 6);
}
