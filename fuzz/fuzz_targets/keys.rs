//! Fuzz mTLS key and certificate loading: any text, read as a PEM private key with and
//! without a password and as a certificate chain, is a key or a `KeyError`, never a panic.
//! The first byte picks the password; a seed of openssl-written keys (the rig's, or
//! `src/security/testdata`) reaches the decryption paths.
//!
//! Memory: at most 64 × input + 129 MiB at peak: the decoded DER and its copies, plus
//! scrypt's working memory, which the key chooses and we cap at 128 MiB; nothing leaked.

#![no_main]

use kafka_esm_fuzz::{KIB, check};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bound = 64 * data.len() + 129 * 1024 * KIB;
    check(data.len(), bound, "64 × input + 129 MiB", || run(data));
});

fn run(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let password = match pick % 3 {
        0 => None,
        1 => Some("unit-pw"),
        _ => Some("rig-key-password"),
    };
    if let Err(e) = kafka_esm::security::private_key(&text, password) {
        assert_eq!(e.reason(), "EVENT_SOURCE_AUTHN_ERROR");
        let _ = e.to_string();
    }
    let _ = kafka_esm::security::private_key(&text, None);
    let _ = kafka_esm::security::certificates(&text);
}
