//! A sans-I/O SCRAM client (RFC 5802, RFC 7677) for SCRAM-SHA-256 and SCRAM-SHA-512, as
//! Kafka brokers speak it.
//!
//! [`ScramClient`] makes the client-first message, answers the broker's server-first with
//! the client-final (proof of the password) and checks the broker's server-final
//! signature, which proves the broker knows the password too. Like Kafka's Java client:
//! no channel binding (`c=biws`), and names and passwords are used as UTF-8 without
//! SASLprep. The broker's nonce must extend ours, and its iteration count must be within
//! 1..=[`MAX_ITERATIONS`] so a hostile broker cannot make us hash for minutes. The
//! password and every derived key are wiped from memory when dropped.

mod keys;
mod parse;

use super::{Mechanism, SaslError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use parse::ServerFinal;
use std::fmt;
use zeroize::Zeroizing;

/// The highest iteration count accepted by default. Kafka brokers create credentials
/// with 4096 and allow at most 16384; the margin is for other SCRAM servers, the cap is
/// against a broker that asks for billions.
pub const MAX_ITERATIONS: u32 = 100_000;

/// Random bytes in the client nonce (sent base64-encoded: 32 printable characters).
const NONCE_BYTES: usize = 24;

/// The hash a SCRAM mechanism is built on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScramHash {
    Sha256,
    Sha512,
}

impl ScramHash {
    /// The hash of a SCRAM mechanism; `None` for PLAIN.
    pub fn of(mechanism: Mechanism) -> Option<ScramHash> {
        match mechanism {
            Mechanism::Plain => None,
            Mechanism::ScramSha256 => Some(ScramHash::Sha256),
            Mechanism::ScramSha512 => Some(ScramHash::Sha512),
        }
    }

    pub fn mechanism(self) -> Mechanism {
        match self {
            ScramHash::Sha256 => Mechanism::ScramSha256,
            ScramHash::Sha512 => Mechanism::ScramSha512,
        }
    }

    fn output_len(self) -> usize {
        match self {
            ScramHash::Sha256 => 32,
            ScramHash::Sha512 => 64,
        }
    }
}

/// Where the exchange stands.
enum State {
    /// client-first made; waiting for server-first.
    First,
    /// client-final sent; server-final must carry `HMAC(server_key, auth_message)`.
    Final {
        server_key: Zeroizing<Vec<u8>>,
        auth_message: Vec<u8>,
    },
    /// Authenticated both ways.
    Done,
    /// A step failed; the exchange is over.
    Failed,
}

/// One SCRAM exchange, from the client's side. Feed it the broker's messages in order;
/// any error ends the exchange.
pub struct ScramClient {
    hash: ScramHash,
    username: String,
    password: Zeroizing<String>,
    nonce: String,
    /// `n=saslname,r=nonce`, part of the signed auth message.
    client_first_bare: String,
    max_iterations: u32,
    state: State,
}

impl fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramClient")
            .field("mechanism", &self.hash.mechanism())
            .field("client_first_bare", &self.client_first_bare)
            .finish_non_exhaustive()
    }
}

impl ScramClient {
    /// A client for `username` with a fresh random nonce.
    pub fn new(hash: ScramHash, username: &str, password: &str) -> Result<ScramClient, SaslError> {
        let mut random = Zeroizing::new([0u8; NONCE_BYTES]);
        getrandom::fill(&mut random[..]).map_err(|e| SaslError::NoRandomness(e.to_string()))?;
        Self::build(hash, username, password, B64.encode(&random[..]))
    }

    /// A client with a fixed nonce, which makes the exchange replayable: for test vectors
    /// and fuzzing only, never to authenticate. The nonce must be printable ASCII without
    /// `,`.
    #[doc(hidden)]
    pub fn with_nonce(
        hash: ScramHash,
        username: &str,
        password: &str,
        nonce: &str,
    ) -> Result<ScramClient, SaslError> {
        let printable = nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',');
        if nonce.is_empty() || !printable {
            return Err(SaslError::Misuse(
                "a fixed SCRAM nonce must be printable ASCII without ','",
            ));
        }
        Self::build(hash, username, password, nonce.to_string())
    }

    fn build(
        hash: ScramHash,
        username: &str,
        password: &str,
        nonce: String,
    ) -> Result<ScramClient, SaslError> {
        if username.contains('\0') {
            return Err(SaslError::NulInCredentials { what: "user name" });
        }
        let client_first_bare = format!("n={},r={nonce}", sasl_name(username));
        Ok(ScramClient {
            hash,
            username: username.to_string(),
            password: Zeroizing::new(password.to_string()),
            nonce,
            client_first_bare,
            max_iterations: MAX_ITERATIONS,
            state: State::First,
        })
    }

    /// Accepts iteration counts up to `max` instead of [`MAX_ITERATIONS`].
    pub fn max_iterations(mut self, max: u32) -> ScramClient {
        self.max_iterations = max;
        self
    }

    /// The client-first message: `n,,n=<name>,r=<nonce>` (no channel binding, no
    /// authorization id).
    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// Reads the broker's server-first message and returns the client-final message,
    /// which proves we know the password.
    pub fn handle_server_first(&mut self, msg: &[u8]) -> Result<Vec<u8>, SaslError> {
        if !matches!(self.state, State::First) {
            return Err(SaslError::Misuse("server-first after the first step"));
        }
        self.state = State::Failed;
        let first = parse::server_first(msg, self.max_iterations)?;
        if !first.nonce.starts_with(&self.nonce) {
            return Err(SaslError::NonceMismatch {
                problem: "does not start with the nonce kafka-esm sent",
            });
        }
        if first.nonce.len() == self.nonce.len() {
            return Err(SaslError::NonceMismatch {
                problem: "adds no server part to the nonce kafka-esm sent",
            });
        }
        let h = self.hash;
        let salted =
            keys::salted_password(h, self.password.as_bytes(), &first.salt, first.iterations);
        let client_key = keys::hmac(h, &salted, b"Client Key");
        let stored_key = keys::digest(h, &client_key);
        let without_proof = format!("c=biws,r={}", first.nonce);
        let mut auth_message =
            Vec::with_capacity(self.client_first_bare.len() + msg.len() + without_proof.len() + 2);
        auth_message.extend_from_slice(self.client_first_bare.as_bytes());
        auth_message.push(b',');
        auth_message.extend_from_slice(msg);
        auth_message.push(b',');
        auth_message.extend_from_slice(without_proof.as_bytes());
        let client_signature = keys::hmac(h, &stored_key, &auth_message);
        let proof: Zeroizing<Vec<u8>> = Zeroizing::new(
            client_key
                .iter()
                .zip(client_signature.iter())
                .map(|(k, s)| k ^ s)
                .collect(),
        );
        let server_key = keys::hmac(h, &salted, b"Server Key");
        let client_final = format!("{without_proof},p={}", B64.encode(&proof[..]));
        self.state = State::Final {
            server_key,
            auth_message,
        };
        Ok(client_final.into_bytes())
    }

    /// Checks the broker's server-final message: its signature proves it knows the
    /// password. `Ok` means both sides are authenticated.
    pub fn handle_server_final(&mut self, msg: &[u8]) -> Result<(), SaslError> {
        let State::Final {
            server_key,
            auth_message,
        } = std::mem::replace(&mut self.state, State::Failed)
        else {
            return Err(SaslError::Misuse("server-final before server-first"));
        };
        match parse::server_final(msg)? {
            ServerFinal::Error(error) => Err(SaslError::ServerError {
                mechanism: self.hash.mechanism(),
                username: self.username.clone(),
                error,
            }),
            ServerFinal::Verifier(v) => {
                if keys::verify(self.hash, &server_key, &auth_message, &v) {
                    self.state = State::Done;
                    Ok(())
                } else {
                    Err(SaslError::ServerSignatureMismatch {
                        mechanism: self.hash.mechanism(),
                    })
                }
            }
        }
    }

    /// Whether the server-final signature has been verified.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }
}

/// A user name as a SCRAM `saslname`: `,` and `=` escaped as `=2C` and `=3D`.
fn sasl_name(username: &str) -> String {
    let mut out = String::with_capacity(username.len());
    for c in username.chars() {
        match c {
            ',' => out.push_str("=2C"),
            '=' => out.push_str("=3D"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
