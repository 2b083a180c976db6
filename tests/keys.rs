//! mTLS keys written by the `openssl` CLI (the rig's [`Pki`]), read by
//! `kafka_esm::security`: the client key in all 21 encrypted forms openssl makes (4 PBES1,
//! 6 PKCS#12 PBE, 8 PBES2 + scrypt, 2 traditional) decrypts to the plain key, refuses a
//! wrong password, and loads into a rustls client config with the client's chain; plain
//! RSA (PKCS#8, PKCS#1) and EC P-256 / P-384 (PKCS#8, SEC1) keys load too.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use kafka_esm::security::{KeyError, certificates, private_key};
use kafka_esm_rig::Pki;
use kafka_esm_rig::certs::KeyFamily;
use pkcs8::der::Decode;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The chain and key as the mapping will use them: a rustls client config on ring.
fn client_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ClientConfig, rustls::Error> {
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(RootCertStore::empty())
        .with_client_auth_cert(chain, key)
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo`.
fn inner_key(pkcs8: &[u8]) -> Vec<u8> {
    pkcs8::PrivateKeyInfoRef::from_der(pkcs8)
        .unwrap()
        .private_key
        .as_bytes()
        .to_vec()
}

/// A chain for an EC client certificate: it, then the rig's intermediate and root.
fn chain_for(pki: &Pki, cert: &Path) -> Vec<CertificateDer<'static>> {
    let pem = read(cert) + &read(&pki.intermediate.cert) + &read(&pki.ca.cert);
    certificates(&pem).unwrap()
}

#[test]
fn all_21_encrypted_forms_decrypt_to_the_plain_key_and_load_into_rustls() {
    let pki = Pki::shared().unwrap();
    let plain = private_key(&read(&pki.client.key), None).unwrap();
    let PrivateKeyDer::Pkcs8(plain) = plain else {
        panic!("the rig's client.key is PKCS#8")
    };
    let plain = plain.secret_pkcs8_der().to_vec();
    let chain = certificates(&read(&pki.client_chain)).unwrap();

    let mut loaded = Vec::new();
    for form in &pki.encrypted_keys {
        let pem = read(&form.path);
        let key = private_key(&pem, Some(Pki::PASSWORD))
            .unwrap_or_else(|e| panic!("{}: {e}", form.scheme));
        match (&key, form.family) {
            (PrivateKeyDer::Pkcs8(k), KeyFamily::Pbes1 | KeyFamily::Pkcs12 | KeyFamily::Pbes2) => {
                assert_eq!(k.secret_pkcs8_der(), &plain[..], "{}", form.scheme)
            }
            (PrivateKeyDer::Pkcs1(k), KeyFamily::Traditional) => {
                assert_eq!(
                    k.secret_pkcs1_der(),
                    &inner_key(&plain)[..],
                    "{}",
                    form.scheme
                )
            }
            (other, family) => panic!("{}: {family:?} gave {other:?}", form.scheme),
        }
        client_config(chain.clone(), key)
            .unwrap_or_else(|e| panic!("{}: rustls refused the key: {e}", form.scheme));
        loaded.push((form.family, form.scheme.clone()));
    }
    let count = |f: KeyFamily| loaded.iter().filter(|(family, _)| *family == f).count();
    assert_eq!(
        (
            count(KeyFamily::Pbes1),
            count(KeyFamily::Pkcs12),
            count(KeyFamily::Pbes2),
            count(KeyFamily::Traditional)
        ),
        (4, 6, 9, 2),
        "{loaded:?}"
    );
    assert_eq!(loaded.len(), 21);
}

#[test]
fn every_encrypted_form_refuses_a_wrong_or_missing_password() {
    let pki = Pki::shared().unwrap();
    for form in &pki.encrypted_keys {
        let pem = read(&form.path);
        for wrong in ["rig-key-passwore", "", "RIG-KEY-PASSWORD"] {
            let err = private_key(&pem, Some(wrong)).unwrap_err();
            assert_eq!(
                err,
                KeyError::WrongPassword,
                "{} with {wrong:?}",
                form.scheme
            );
            assert_eq!(err.reason(), "EVENT_SOURCE_AUTHN_ERROR");
            assert!(!format!("{err} {err:?}").contains("rig-key"));
        }
        let err = private_key(&pem, None).unwrap_err();
        assert_eq!(err, KeyError::PasswordMissing, "{}", form.scheme);
        assert!(err.to_string().contains("privateKeyPassword"));
    }
}

#[test]
fn the_chain_keeps_its_order_client_first() {
    let pki = Pki::shared().unwrap();
    let chain = certificates(&read(&pki.client_chain)).unwrap();
    let one = |p: &Path| certificates(&read(p)).unwrap().remove(0);
    assert_eq!(
        chain,
        vec![
            one(&pki.client.cert),
            one(&pki.intermediate.cert),
            one(&pki.ca.cert)
        ]
    );
}

#[test]
fn plain_rsa_and_ec_keys_load_in_every_pem_form() {
    let pki = Pki::shared().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    let pkcs1 = dir.path().join("client.pkcs1.pem");
    let client_key = pki.client.key.to_str().unwrap();
    openssl(&[
        "rsa",
        "-in",
        client_key,
        "-traditional",
        "-out",
        pkcs1.to_str().unwrap(),
    ]);
    let rsa_chain = certificates(&read(&pki.client_chain)).unwrap();

    let mut cases = vec![
        (
            "RSA PKCS#8",
            read(&pki.client.key),
            rsa_chain.clone(),
            "BEGIN PRIVATE KEY",
        ),
        (
            "RSA PKCS#1",
            read(&pkcs1),
            rsa_chain,
            "BEGIN RSA PRIVATE KEY",
        ),
    ];
    for (name, id) in [("P-256", &pki.client_ec256), ("P-384", &pki.client_ec384)] {
        let sec1 = dir.path().join(format!("{name}.sec1.pem"));
        openssl(&[
            "ec",
            "-in",
            id.key.to_str().unwrap(),
            "-out",
            sec1.to_str().unwrap(),
        ]);
        let chain = chain_for(pki, &id.cert);
        cases.push((name, read(&id.key), chain.clone(), "BEGIN PRIVATE KEY"));
        cases.push((name, read(&sec1), chain, "BEGIN EC PRIVATE KEY"));
    }
    for (name, pem, chain, label) in cases {
        assert!(pem.contains(label), "{name}: {pem}");
        let key = private_key(&pem, None).unwrap_or_else(|e| panic!("{name} {label}: {e}"));
        client_config(chain, key).unwrap_or_else(|e| panic!("{name} {label}: {e}"));
    }
}

#[test]
fn rustls_refuses_a_key_that_is_not_the_certificates() {
    // Proves the config check above is real: the chain and key must match.
    let pki = Pki::shared().unwrap();
    let chain = certificates(&read(&pki.client_chain)).unwrap();
    let other = private_key(&read(&pki.client_ec256.key), None).unwrap();
    assert!(client_config(chain, other).is_err());
}
