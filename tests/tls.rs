//! TLS to real brokers at the connection level: nisshi's native TLS listener and nisshi
//! behind stunnel demanding a client certificate (`verify = 2`). Our client connects,
//! reads metadata and records when the broker is trusted, and otherwise fails with the
//! cause a user can act on: an untrusted broker, a host name the certificate doesn't
//! list, a client certificate the broker refuses (missing or from a rogue CA).

mod common;

use kafka_esm::kafka::client::cluster::{Cluster, ClusterConfig, ClusterError};
use kafka_esm::kafka::client::conn::{ConnError, ConnectionConfig};
use kafka_esm::kafka::client::tls::{Roots, TlsConfig, TlsFailure};
use kafka_esm_rig::{Broker, Nisshi, NisshiOptions, Pki, StunnelFront, unique_name};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;

fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn key(path: &Path) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_file(path).unwrap()
}

async fn connect(bootstrap: &str, topic: &str, tls: TlsConfig) -> Result<Cluster, ClusterError> {
    let config = ClusterConfig {
        bootstrap: vec![bootstrap.to_string()],
        connection: ConnectionConfig {
            tls: Some(tls),
            ..ConnectionConfig::default()
        },
    };
    Cluster::connect(config, &[topic.to_string()]).await
}

/// The TLS cause of a failed bootstrap, or a panic naming what happened instead.
fn tls_failure(result: Result<Cluster, ClusterError>) -> TlsFailure {
    match result {
        Err(ClusterError::BootstrapFailed(errors)) => match errors.as_slice() {
            [ConnError::Tls { failure, .. }] => {
                assert_eq!(failure.reason(), "EVENT_SOURCE_AUTHN_ERROR");
                failure.clone()
            }
            other => panic!("expected one TLS failure, got {other:?}"),
        },
        Err(other) => panic!("expected a TLS failure, got {other}"),
        Ok(_) => panic!("expected a TLS failure, the connection succeeded"),
    }
}

fn tls_broker(pki: &Pki, server: &kafka_esm_rig::certs::Identity) -> Nisshi {
    Nisshi::start_with(NisshiOptions {
        tls: Some((server.cert.clone(), server.key.clone())),
        ..NisshiOptions::default()
    })
    .unwrap_or_else(|e| panic!("starting nisshi with TLS ({:?}): {e:#}", pki.dir))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_tls_is_verified_against_the_given_root_ca() {
    common::trace();
    let pki = Pki::shared().unwrap();
    let broker = tls_broker(pki, &pki.server);
    let topic = unique_name("tls");
    let refclient = broker
        .refclient()
        .with("security.protocol", "SSL")
        .with("ssl.ca.location", pki.ca.cert.display().to_string());
    tokio::task::block_in_place(|| refclient.create_topic(&topic, 2)).unwrap();

    let trusted = TlsConfig::new(Roots::Only(certs(&pki.ca.cert)), None).unwrap();
    let cluster = connect(&broker.bootstrap(), &topic, trusted.clone())
        .await
        .unwrap_or_else(|e| panic!("over TLS with the rig's CA: {e}"));
    assert_eq!(cluster.partition_count(&topic), Some(2));
    // The host name as a DNS name (`localhost`) verifies as well as the IP SAN.
    let by_name = format!("localhost:{}", broker.port());
    connect(&by_name, &topic, trusted.clone())
        .await
        .unwrap_or_else(|e| panic!("over TLS to {by_name}: {e}"));

    let rogue = TlsConfig::new(Roots::Only(certs(&pki.rogue_ca.cert)), None).unwrap();
    let failure = tls_failure(connect(&broker.bootstrap(), &topic, rogue).await);
    assert!(
        matches!(failure, TlsFailure::ServerNotTrusted(_)),
        "{failure}"
    );
    assert!(
        failure.to_string().contains("SERVER_ROOT_CA_CERTIFICATE"),
        "{failure}"
    );

    // The system store doesn't know the rig's private CA either.
    if let Ok(system) = TlsConfig::new(Roots::System, None) {
        let failure = tls_failure(connect(&broker.bootstrap(), &topic, system).await);
        assert!(
            matches!(failure, TlsFailure::ServerNotTrusted(_)),
            "{failure}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_host_name_is_refused() {
    let pki = Pki::shared().unwrap();
    let broker = tls_broker(pki, &pki.server_elsewhere);
    let trusted = TlsConfig::new(Roots::Only(certs(&pki.ca.cert)), None).unwrap();
    let failure = tls_failure(connect(&broker.bootstrap(), "any", trusted).await);
    match &failure {
        TlsFailure::HostNameMismatch { host, .. } => assert_eq!(host, "127.0.0.1"),
        other => panic!("expected a host name mismatch, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_presents_the_client_chain_and_refusals_are_named() {
    let pki = Pki::shared().unwrap();
    let front = StunnelFront::start(pki, NisshiOptions::default()).unwrap();
    let topic = unique_name("mtls");
    tokio::task::block_in_place(|| front.create_topic(&topic, 1)).unwrap();
    let roots = || Roots::Only(certs(&pki.ca.cert));

    for (what, chain, key_path) in [
        ("RSA", &pki.client_chain, &pki.client.key),
        ("EC P-256", &pki.client_ec256.cert, &pki.client_ec256.key),
        ("EC P-384", &pki.client_ec384.cert, &pki.client_ec384.key),
    ] {
        let mut chain = certs(chain);
        if what != "RSA" {
            // Signed by the intermediate: send it along, as AWS's chain format does.
            chain.extend(certs(&pki.intermediate.cert));
        }
        let tls = TlsConfig::new(roots(), Some((chain, key(key_path)))).unwrap();
        let cluster = connect(&front.bootstrap(), &topic, tls)
            .await
            .unwrap_or_else(|e| panic!("mTLS with the {what} client key: {e}"));
        assert_eq!(cluster.partition_count(&topic), Some(1), "{what}");
    }

    let anonymous = TlsConfig::new(roots(), None).unwrap();
    let failure = tls_failure(connect(&front.bootstrap(), &topic, anonymous).await);
    assert!(
        matches!(failure, TlsFailure::ClientCertificateRefused(_)),
        "no client certificate: {failure}\nstunnel: {}",
        front.log()
    );

    let rogue = TlsConfig::new(
        roots(),
        Some((certs(&pki.rogue_client.cert), key(&pki.rogue_client.key))),
    )
    .unwrap();
    let failure = tls_failure(connect(&front.bootstrap(), &topic, rogue).await);
    assert!(
        matches!(failure, TlsFailure::ClientCertificateRefused(_)),
        "rogue client certificate: {failure}\nstunnel: {}",
        front.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_a_plaintext_listener_says_the_broker_does_not_speak_tls() {
    let pki = Pki::shared().unwrap();
    let broker = common::nisshi().await;
    let tls = TlsConfig::new(Roots::Only(certs(&pki.ca.cert)), None).unwrap();
    let failure = tls_failure(connect(&broker.bootstrap(), "any", tls).await);
    assert!(matches!(failure, TlsFailure::NotTls(_)), "{failure}");
    assert!(
        failure
            .to_string()
            .contains("AllowInsecureSaslOverPlaintext"),
        "{failure}"
    );
}
