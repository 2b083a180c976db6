//! Whole-module tests on fixtures made by openssl (see `testdata/README.md`): every form
//! decrypts to the same key, every wrong password is caught, hostile parameters are refused
//! fast, and no input panics.

use std::time::{Duration, Instant};

use base64::Engine as _;
use der::asn1::ObjectIdentifier;
use proptest::prelude::*;
use rustls_pki_types::PrivateKeyDer;

use super::*;

const PASSWORD: &str = "unit-pw";
const PLAIN_PKCS8: &str = include_str!("testdata/ec.key");
const PLAIN_SEC1: &str = include_str!("testdata/sec1.pem");
const CERT: &str = include_str!("testdata/ec.crt");

const PKCS8_FORMS: &[(&str, &str)] = &[
    ("PBE-MD5-DES", include_str!("testdata/md5des.p8")),
    ("PBE-SHA1-RC4-128", include_str!("testdata/rc4.p8")),
    ("PBE-SHA1-RC2-40", include_str!("testdata/rc240.p8")),
    (
        "aes-256-cbc/hmacWithSHA512",
        include_str!("testdata/sha512.p8"),
    ),
    (
        "aes-128-cbc/hmacWithSHA384",
        include_str!("testdata/sha384.p8"),
    ),
    (
        "aes-192-cbc/hmacWithSHA224",
        include_str!("testdata/sha224.p8"),
    ),
    ("des-cbc/hmacWithSHA256", include_str!("testdata/descbc.p8")),
    ("scrypt", include_str!("testdata/scrypt.p8")),
];
const TRADITIONAL_FORMS: &[(&str, &str)] = &[
    ("AES-128-CBC", include_str!("testdata/trad-aes128.pem")),
    ("AES-192-CBC", include_str!("testdata/trad-aes192.pem")),
    ("DES-CBC", include_str!("testdata/trad-des.pem")),
];

fn secret(key: &PrivateKeyDer<'_>) -> Vec<u8> {
    key.secret_der().to_vec()
}

#[test]
fn every_form_decrypts_to_the_plain_key() {
    let pkcs8 = secret(&private_key(PLAIN_PKCS8, None).unwrap());
    let sec1 = secret(&private_key(PLAIN_SEC1, None).unwrap());
    for (name, pem) in PKCS8_FORMS {
        let key = private_key(pem, Some(PASSWORD)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(matches!(key, PrivateKeyDer::Pkcs8(_)), "{name}");
        assert_eq!(secret(&key), pkcs8, "{name}");
    }
    for (name, pem) in TRADITIONAL_FORMS {
        let key = private_key(pem, Some(PASSWORD)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(matches!(key, PrivateKeyDer::Sec1(_)), "{name}");
        assert_eq!(secret(&key), sec1, "{name}");
    }
}

#[test]
fn every_wrong_password_is_caught_and_never_echoed() {
    let forms = PKCS8_FORMS.iter().chain(TRADITIONAL_FORMS);
    for (name, pem) in forms {
        for wrong in ["unit-pX", "", "unit-pw ", "ünit-pw"] {
            let err = private_key(pem, Some(wrong)).unwrap_err();
            assert_eq!(err, KeyError::WrongPassword, "{name} with {wrong:?}");
            assert_eq!(err.reason(), "EVENT_SOURCE_AUTHN_ERROR");
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("unit-p"), "{shown}");
            assert!(
                shown.contains("privateKeyPassword") || shown == "WrongPassword",
                "{shown}"
            );
        }
        assert_eq!(
            private_key(pem, None).unwrap_err(),
            KeyError::PasswordMissing,
            "{name}"
        );
    }
    assert!(
        KeyError::PasswordMissing
            .to_string()
            .contains("privateKeyPassword")
    );
    assert_eq!(
        KeyError::WrongPassword.to_string(),
        "the private key's password (privateKeyPassword) is wrong, or the key is corrupt"
    );
}

#[test]
fn plain_keys_ignore_a_password_and_certificates_keep_their_order() {
    assert!(private_key(PLAIN_PKCS8, Some("whatever")).is_ok());
    assert!(private_key(PLAIN_SEC1, Some("whatever")).is_ok());
    // Key and chain in one text: each function takes its own sections.
    let both = format!("{CERT}{PLAIN_PKCS8}{CERT}");
    assert_eq!(certificates(&both).unwrap().len(), 2);
    assert!(private_key(&both, None).is_ok());
    let encrypted_and_chain = format!("{}{CERT}", TRADITIONAL_FORMS[0].1);
    assert_eq!(certificates(&encrypted_and_chain).unwrap().len(), 1);
    assert_eq!(
        certificates(PLAIN_PKCS8).unwrap_err(),
        KeyError::NoCertificate
    );
    assert_eq!(certificates("").unwrap_err(), KeyError::NoCertificate);
    assert_eq!(private_key(CERT, None).unwrap_err(), KeyError::NoPrivateKey);
    assert_eq!(
        certificates("-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n")
            .unwrap_err()
            .reason(),
        EVENT_SOURCE_AUTHN_ERROR
    );
}

// --- hand-built DER for hostile inputs ---

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}
fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}
fn oid(s: &str) -> Vec<u8> {
    tlv(0x06, ObjectIdentifier::new_unwrap(s).as_bytes())
}
fn int(v: u64) -> Vec<u8> {
    let mut bytes: Vec<u8> = v
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    if bytes.is_empty() || bytes[0] & 0x80 != 0 {
        bytes.insert(0, 0);
    }
    tlv(0x02, &bytes)
}
fn octets(b: &[u8]) -> Vec<u8> {
    tlv(0x04, b)
}
fn armored(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN ENCRYPTED PRIVATE KEY-----\n{b64}\n-----END ENCRYPTED PRIVATE KEY-----\n")
}
fn epki(alg: Vec<u8>) -> String {
    armored(&seq(&[alg, octets(&[0x11; 32])]))
}
fn pbe(alg_oid: &str, iterations: u64) -> String {
    epki(seq(&[
        oid(alg_oid),
        seq(&[octets(&[1; 8]), int(iterations)]),
    ]))
}
fn pbkdf2(iterations: u64) -> String {
    epki(seq(&[
        oid("1.2.840.113549.1.5.13"),
        seq(&[
            seq(&[
                oid("1.2.840.113549.1.5.12"),
                seq(&[octets(&[1; 8]), int(iterations)]),
            ]),
            seq(&[oid("2.16.840.1.101.3.4.1.42"), octets(&[2; 16])]),
        ]),
    ]))
}
fn scrypt(n: u64, r: u64, p: u64) -> String {
    epki(seq(&[
        oid("1.2.840.113549.1.5.13"),
        seq(&[
            seq(&[
                oid("1.3.6.1.4.1.11591.4.11"),
                seq(&[octets(&[1; 8]), int(n), int(r), int(p)]),
            ]),
            seq(&[oid("2.16.840.1.101.3.4.1.42"), octets(&[2; 16])]),
        ]),
    ]))
}

fn quickly(pem: &str) -> KeyError {
    let start = Instant::now();
    let err = private_key(pem, Some(PASSWORD)).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{err} took {:?}",
        start.elapsed()
    );
    err
}

#[test]
fn hostile_costs_are_refused_quickly_naming_the_count() {
    for alg in [
        "1.2.840.113549.1.5.3",
        "1.2.840.113549.1.12.1.1",
        "1.2.840.113549.1.12.1.3",
    ] {
        let err = quickly(&pbe(alg, u64::from(u32::MAX)));
        assert!(
            matches!(
                err,
                KeyError::CostTooLarge {
                    value: 4_294_967_295,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("4294967295"), "{err}");
        assert!(matches!(
            quickly(&pbe(alg, u64::MAX >> 1)),
            KeyError::CostTooLarge { .. }
        ));
        assert!(matches!(
            quickly(&pbe(alg, 0)),
            KeyError::MalformedDer { .. }
        ));
        // A sane count with a garbage ciphertext: a wrong password, found fast.
        assert_eq!(quickly(&pbe(alg, 1)), KeyError::WrongPassword);
    }
    let err = quickly(&pbkdf2(u64::from(u32::MAX)));
    assert!(
        matches!(err, KeyError::CostTooLarge { kdf: "PBKDF2", .. }),
        "{err:?}"
    );
    assert!(matches!(quickly(&pbkdf2(0)), KeyError::MalformedDer { .. }));
    assert_eq!(quickly(&pbkdf2(1)), KeyError::WrongPassword);

    assert!(matches!(
        quickly(&scrypt(1 << 30, 8, 1)),
        KeyError::CostTooLarge { kdf: "scrypt", .. }
    ));
    assert!(matches!(
        quickly(&scrypt(1 << 14, 8, 1000)),
        KeyError::CostTooLarge { .. }
    ));
    assert!(matches!(
        quickly(&scrypt(1 << 14, 60000, 1)),
        KeyError::CostTooLarge { .. }
    ));
    // 0 and non-powers of two would panic inside pkcs5: refused before.
    for n in [0, 1, 3, 1000] {
        assert!(
            matches!(quickly(&scrypt(n, 8, 1)), KeyError::MalformedDer { .. }),
            "N = {n}"
        );
    }
    assert!(matches!(
        quickly(&scrypt(1 << 10, 0, 1)),
        KeyError::MalformedDer { .. }
    ));
    assert_eq!(quickly(&scrypt(1 << 10, 1, 1)), KeyError::WrongPassword);
}

#[test]
fn unsupported_schemes_name_their_oid() {
    let err = quickly(&pbe("1.2.840.113549.1.5.1", 1));
    assert!(err.to_string().contains("1.2.840.113549.1.5.1"), "{err}");
    assert!(err.to_string().contains("MD2"), "{err}");
    let err = quickly(&pbe("1.2.3.4", 1));
    assert!(matches!(&err, KeyError::UnsupportedScheme { scheme } if scheme.contains("1.2.3.4")));
    let camellia = epki(seq(&[
        oid("1.2.840.113549.1.5.13"),
        seq(&[
            seq(&[
                oid("1.2.840.113549.1.5.12"),
                seq(&[octets(&[1; 8]), int(1)]),
            ]),
            seq(&[oid("1.2.392.200011.61.1.1.1.4"), octets(&[2; 16])]),
        ]),
    ]));
    let err = quickly(&camellia);
    assert!(
        err.to_string().contains("1.2.392.200011.61.1.1.1.4"),
        "{err}"
    );
    let trad = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
                DEK-Info: BF-CBC,0011223344556677\n\nAAAAAAAAAAA=\n-----END RSA PRIVATE KEY-----\n";
    let err = quickly(trad);
    assert!(matches!(&err, KeyError::UnsupportedScheme { scheme } if scheme.contains("BF-CBC")));
}

#[test]
fn malformed_keys_are_errors() {
    let cases = [
        "-----BEGIN PRIVATE KEY-----\nAAEC\n-----END PRIVATE KEY-----\n",
        "-----BEGIN RSA PRIVATE KEY-----\nMAA=\n-----END RSA PRIVATE KEY-----\n",
        "-----BEGIN EC PRIVATE KEY-----\nMAA=\n-----END EC PRIVATE KEY-----\n",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\n!!!!\n-----END ENCRYPTED PRIVATE KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\nMAA=\n",
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nMAA=\n-----END RSA PRIVATE KEY-----\n",
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,MIC-ONLY\nDEK-Info: DES-CBC,0011223344556677\n\nMAA=\n-----END RSA PRIVATE KEY-----\n",
    ];
    for pem in cases {
        let err = private_key(pem, Some(PASSWORD)).unwrap_err();
        assert_eq!(err.reason(), EVENT_SOURCE_AUTHN_ERROR);
        assert!(!err.is_retryable());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}", pw in proptest::option::of(".{0,8}")) {
        let _ = private_key(&text, pw.as_deref());
        let _ = certificates(&text);
    }

    #[test]
    fn arbitrary_der_in_armor_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        label in prop_oneof![
            Just("ENCRYPTED PRIVATE KEY"), Just("PRIVATE KEY"), Just("RSA PRIVATE KEY"),
            Just("EC PRIVATE KEY"), Just("CERTIFICATE"),
        ],
    ) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let pem = format!("-----BEGIN {label}-----\n{b64}\n-----END {label}-----\n");
        let _ = private_key(&pem, Some(PASSWORD));
        let _ = certificates(&pem);
    }

    /// Damaged encrypted keys: one byte changed anywhere is an error or (when it lands in
    /// ignored bytes) the right key, never a panic.
    #[test]
    fn damaged_encrypted_keys_never_panic(form in 0..PKCS8_FORMS.len() - 1, at in any::<usize>(), xor in 1u8..) {
        // Not the scrypt form (the last): 16 MiB per try makes the test slow, not better.
        let (_, pem) = PKCS8_FORMS[form];
        let section = &armor::sections(pem, "t").unwrap()[0];
        let mut der = section.der("t").unwrap().to_vec();
        let i = at % der.len();
        der[i] ^= xor;
        let _ = private_key(&armored(&der), Some(PASSWORD));
    }
}
