//! Certificates and private keys for mutual TLS (`CLIENT_CERTIFICATE_TLS_AUTH`), read from
//! the PEM of AWS's secret format into the DER types rustls takes.
//!
//! This layer owns PEM parsing and the decryption of every private-key form `openssl`
//! writes: PKCS#8 plain or encrypted (PBES1, the PKCS#12 PBE schemes, PBES2 with PBKDF2 or
//! scrypt), PKCS#1 / SEC1, and OpenSSL's traditional `Proc-Type: 4,ENCRYPTED` PEM. It does
//! no I/O, knows nothing of Kafka or of where the secret came from, and never lets the
//! password or key bytes reach an error, `Debug` output or a log: decrypted buffers and
//! derived keys are zeroized. Every failure is a [`KeyError`], reason
//! `EVENT_SOURCE_AUTHN_ERROR`; no input panics.

mod armor;
mod ciphers;
mod encrypted;
mod error;
mod pbes1;
mod pbes2;
mod pem;
mod pkcs12;
mod traditional;
mod validate;

pub use error::{EVENT_SOURCE_AUTHN_ERROR, KeyError};
pub use pem::{certificates, private_key};

/// The largest iteration count we run (PBKDF2, PBKDF1, PKCS#12 KDF): a hostile key with
/// 2^32 iterations must not hang the mapping. OpenSSL writes 2048 by default. Shared by
/// the schemes (`pbes2.rs`) and the scheme picker (`encrypted.rs`).
const ITERATIONS_MAX: u64 = 10_000_000;

#[cfg(test)]
mod tests;
