//! The SCRAM client against RFC 7677's test vector, against a server computed here from
//! the RFC's formulas, and against broken and hostile server messages.

use super::*;
use hmac::{Hmac, KeyInit, Mac};
use proptest::prelude::*;
use sha2::{Digest, Sha512};

/// RFC 7677 section 3.
#[test]
fn rfc_7677_sha256_test_vector() {
    let mut c =
        ScramClient::with_nonce(ScramHash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO")
            .unwrap();
    assert_eq!(c.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                         s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    let client_final = c.handle_server_first(server_first).unwrap();
    assert_eq!(
        String::from_utf8(client_final).unwrap(),
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
         p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    );
    assert!(!c.is_done());
    c.handle_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        .unwrap();
    assert!(c.is_done());
}

fn rfc_7677_after_first() -> ScramClient {
    let mut c =
        ScramClient::with_nonce(ScramHash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO")
            .unwrap();
    c.handle_server_first(
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    )
    .unwrap();
    c
}

#[test]
fn a_wrong_server_signature_is_refused() {
    let mut c = rfc_7677_after_first();
    // The RFC's signature with its first character changed.
    let err = c
        .handle_server_final(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        .unwrap_err();
    assert!(
        matches!(
            err,
            SaslError::ServerSignatureMismatch {
                mechanism: Mechanism::ScramSha256
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("does not know this user's password"),
        "{err}"
    );
    assert!(!c.is_done());
    // A truncated signature is a mismatch, not a panic.
    let mut c = rfc_7677_after_first();
    let err = c.handle_server_final(b"v=6rri").unwrap_err();
    assert!(
        matches!(err, SaslError::ServerSignatureMismatch { .. }),
        "{err}"
    );
}

#[test]
fn a_server_error_is_reported() {
    let mut c = rfc_7677_after_first();
    let err = c.handle_server_final(b"e=invalid-proof").unwrap_err();
    assert!(
        matches!(&err, SaslError::ServerError { error, .. } if error == "invalid-proof"),
        "{err}"
    );
    assert_eq!(err.reason(), "EVENT_SOURCE_AUTHN_ERROR");
}

#[test]
fn the_server_nonce_must_extend_ours() {
    for (server_nonce, what) in [
        ("XOprNGfwEbeRWgbNEkqO%hvYD", "does not start"),
        ("rOprNGfwEbeRWgbNEkq", "does not start"),
        ("rOprNGfwEbeRWgbNEkqO", "adds no server part"),
    ] {
        let mut c =
            ScramClient::with_nonce(ScramHash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO")
                .unwrap();
        let msg = format!("r={server_nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
        let err = c.handle_server_first(msg.as_bytes()).unwrap_err();
        assert!(
            matches!(err, SaslError::NonceMismatch { problem } if problem.contains(what)),
            "{server_nonce}: {err}"
        );
    }
}

#[test]
fn a_huge_iteration_count_is_refused_before_hashing() {
    let mut c = ScramClient::with_nonce(ScramHash::Sha512, "u", "p", "abc").unwrap();
    let started = std::time::Instant::now();
    let err = c
        .handle_server_first(b"r=abcdef,s=QSXCR+Q6sek8bf92,i=4000000000")
        .unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_millis(100));
    assert!(
        matches!(
            err,
            SaslError::IterationCount {
                count: 4_000_000_000,
                max: MAX_ITERATIONS
            }
        ),
        "{err}"
    );
    // A lower cap is honoured too.
    let mut c = ScramClient::with_nonce(ScramHash::Sha256, "u", "p", "abc")
        .unwrap()
        .max_iterations(16384);
    let err = c
        .handle_server_first(b"r=abcdef,s=QSXCR+Q6sek8bf92,i=16385")
        .unwrap_err();
    assert!(
        matches!(err, SaslError::IterationCount { max: 16384, .. }),
        "{err}"
    );
}

#[test]
fn steps_out_of_order_are_errors() {
    let mut c = ScramClient::with_nonce(ScramHash::Sha256, "u", "p", "abc").unwrap();
    assert!(matches!(
        c.handle_server_final(b"v=AAAA"),
        Err(SaslError::Misuse(_))
    ));
    let mut c = rfc_7677_after_first();
    assert!(matches!(
        c.handle_server_first(b"r=rOprNGfwEbeRWgbNEkqOx,s=QQ==,i=1"),
        Err(SaslError::Misuse(_))
    ));
    // A failed step ends the exchange.
    let mut c = ScramClient::with_nonce(ScramHash::Sha256, "u", "p", "abc").unwrap();
    assert!(c.handle_server_first(b"garbage").is_err());
    assert!(c.handle_server_first(b"r=abcd,s=QQ==,i=1").is_err());
}

#[test]
fn bad_fixed_nonces_and_nul_in_names_are_refused() {
    for nonce in ["", "a,b", "a b", "é"] {
        assert!(
            ScramClient::with_nonce(ScramHash::Sha256, "u", "p", nonce).is_err(),
            "{nonce:?}"
        );
    }
    let err = ScramClient::new(ScramHash::Sha256, "a\0b", "p").unwrap_err();
    assert!(
        matches!(err, SaslError::NulInCredentials { what: "user name" }),
        "{err}"
    );
}

#[test]
fn user_names_escape_comma_and_equals() {
    let c = ScramClient::with_nonce(ScramHash::Sha256, "a,b=c,=", "p", "xyz").unwrap();
    assert_eq!(c.client_first(), b"n,,n=a=2Cb=3Dc=2C=3D,r=xyz");
    assert_eq!(
        sasl_name("plain-user_1@example.com"),
        "plain-user_1@example.com"
    );
    assert_eq!(sasl_name("jörg"), "jörg");
}

#[test]
fn random_nonces_are_long_printable_and_fresh() {
    let a = ScramClient::new(ScramHash::Sha512, "u", "p").unwrap();
    let b = ScramClient::new(ScramHash::Sha512, "u", "p").unwrap();
    assert_eq!(a.nonce.len(), 32);
    assert!(
        a.nonce
            .bytes()
            .all(|c| (0x21..=0x7e).contains(&c) && c != b',')
    );
    assert_ne!(a.nonce, b.nonce);
    let debug = format!("{a:?}");
    assert!(!debug.contains("password"), "{debug}");
}

/// The server's side of SCRAM-SHA-512, from RFC 5802's formulas, computed with the
/// primitives directly (not through the client's helpers): it verifies the client's
/// proof the way a server does and returns its own signature.
struct TestServer {
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

type HmacSha512 = Hmac<Sha512>;

fn hmac512(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <HmacSha512 as KeyInit>::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

impl TestServer {
    fn new(password: &str, salt: &[u8], iterations: u32) -> TestServer {
        let mut salted = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), salt, iterations, &mut salted);
        let client_key = hmac512(&salted, b"Client Key");
        TestServer {
            stored_key: Sha512::digest(&client_key).to_vec(),
            server_key: hmac512(&salted, b"Server Key"),
        }
    }

    /// Checks client-final's proof; returns server-final.
    fn finish(
        &self,
        client_first: &[u8],
        server_first: &str,
        client_final: &[u8],
    ) -> Result<String, String> {
        let client_final = std::str::from_utf8(client_final).unwrap();
        let (without_proof, proof) = client_final.rsplit_once(",p=").unwrap();
        let bare = std::str::from_utf8(&client_first[3..]).unwrap();
        let auth = format!("{bare},{server_first},{without_proof}");
        let signature = hmac512(&self.stored_key, auth.as_bytes());
        let proof = B64.decode(proof).unwrap();
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        if Sha512::digest(&client_key).as_slice() != self.stored_key.as_slice() {
            return Err("e=invalid-proof".into());
        }
        Ok(format!(
            "v={}",
            B64.encode(hmac512(&self.server_key, auth.as_bytes()))
        ))
    }
}

fn sha512_exchange(server_password: &str, client_password: &str) -> Result<(), String> {
    let salt = b"some salt bytes!";
    let server = TestServer::new(server_password, salt, 4096);
    let mut c = ScramClient::new(ScramHash::Sha512, "alice", client_password).unwrap();
    let client_first = c.client_first();
    let nonce = std::str::from_utf8(&client_first)
        .unwrap()
        .rsplit_once("r=")
        .unwrap()
        .1
        .to_string();
    let server_first = format!("r={nonce}srv-NONCE,s={},i=4096", B64.encode(salt));
    let client_final = c.handle_server_first(server_first.as_bytes()).unwrap();
    assert!(client_final.starts_with(format!("c=biws,r={nonce}srv-NONCE,p=").as_bytes()));
    let server_final = server.finish(&client_first, &server_first, &client_final)?;
    c.handle_server_final(server_final.as_bytes())
        .map_err(|e| e.to_string())?;
    assert!(c.is_done());
    Ok(())
}

#[test]
fn sha512_round_trip_with_a_server_from_the_rfc() {
    sha512_exchange("correct horse", "correct horse").unwrap();
    assert_eq!(
        sha512_exchange("correct horse", "wrong horse").unwrap_err(),
        "e=invalid-proof"
    );
}

#[test]
fn a_server_that_does_not_know_the_password_is_caught() {
    // The server answers as if the password were another one: its signature can't match.
    let salt = b"salt";
    let impostor = TestServer::new("guess", salt, 4096);
    let mut c = ScramClient::with_nonce(ScramHash::Sha512, "alice", "secret", "cnonce").unwrap();
    let server_first = format!("r=cnonceSRV,s={},i=4096", B64.encode(salt));
    let client_final = c.handle_server_first(server_first.as_bytes()).unwrap();
    let bare = std::str::from_utf8(&c.client_first()[3..])
        .unwrap()
        .to_string();
    let without_proof = std::str::from_utf8(&client_final)
        .unwrap()
        .rsplit_once(",p=")
        .unwrap()
        .0
        .to_string();
    let auth = format!("{bare},{server_first},{without_proof}");
    let forged = format!(
        "v={}",
        B64.encode(hmac512(&impostor.server_key, auth.as_bytes()))
    );
    let err = c.handle_server_final(forged.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            SaslError::ServerSignatureMismatch {
                mechanism: Mechanism::ScramSha512
            }
        ),
        "{err}"
    );
}

proptest! {
    #[test]
    fn arbitrary_server_messages_never_panic(
        first in proptest::collection::vec(any::<u8>(), 0..200),
        last in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut c = ScramClient::with_nonce(ScramHash::Sha256, "u", "p", "n").unwrap();
        let _ = c.handle_server_first(&first);
        let _ = c.handle_server_final(&last);
        // And with a well-formed first step, so that server-final is really parsed.
        let mut c = ScramClient::with_nonce(ScramHash::Sha256, "u", "p", "n").unwrap()
            .max_iterations(8);
        c.handle_server_first(b"r=nX,s=QQ==,i=2").unwrap();
        let _ = c.handle_server_final(&last);
    }

    #[test]
    fn near_valid_server_first_never_panics(
        nonce in "[ -~]{0,12}",
        salt in "[A-Za-z0-9+/=]{0,12}",
        count in "[0-9a-z-]{0,12}",
        extra in "(,[ -~]{0,8})?",
    ) {
        let mut c = ScramClient::with_nonce(ScramHash::Sha256, "u", "p", "n").unwrap()
            .max_iterations(8);
        let msg = format!("r={nonce},s={salt},i={count}{extra}");
        let _ = c.handle_server_first(msg.as_bytes());
    }

    #[test]
    fn escaped_names_unescape_to_the_original(name in "[a-z,=é ]{0,16}") {
        let escaped = sasl_name(&name);
        prop_assert!(!escaped.contains(','));
        prop_assert_eq!(escaped.replace("=2C", ",").replace("=3D", "="), name);
    }
}
