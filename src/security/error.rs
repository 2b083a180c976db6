//! [`KeyError`]: why a certificate or private key could not be read, said for the user who
//! pasted it into a secret. No variant carries the password or any key byte.

/// The state reason of a mapping whose certificate or private key is unreadable: AWS
/// classifies it as an authentication error.
pub const EVENT_SOURCE_AUTHN_ERROR: &str = "EVENT_SOURCE_AUTHN_ERROR";

/// What is wrong with a certificate chain or private key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The PEM holds no `BEGIN CERTIFICATE` section.
    #[error("the certificate chain (certificate) holds no PEM `BEGIN CERTIFICATE` section")]
    NoCertificate,
    /// The PEM holds no private-key section kafka-esm knows.
    #[error(
        "the private key (privateKey) holds no PEM private key (`BEGIN PRIVATE KEY`, \
         `BEGIN ENCRYPTED PRIVATE KEY`, `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY`)"
    )]
    NoPrivateKey,
    /// The PEM text itself is broken (bad base64, a section without its end line, ...).
    #[error("the {what} is not valid PEM: {detail}")]
    Pem { what: &'static str, detail: String },
    /// The key is encrypted with a scheme kafka-esm does not implement.
    #[error("the private key is encrypted with a scheme kafka-esm does not support: {scheme}")]
    UnsupportedScheme { scheme: String },
    /// The password is wrong, or the encrypted key was damaged.
    #[error("the private key's password (privateKeyPassword) is wrong, or the key is corrupt")]
    WrongPassword,
    /// The key is encrypted and no password was given.
    #[error("the private key is encrypted but no password (privateKeyPassword) was given")]
    PasswordMissing,
    /// A hostile or absurd key-derivation cost, refused before any work.
    #[error("the private key's {kdf} {parameter} is {value}, more than the {max} kafka-esm allows")]
    CostTooLarge {
        kdf: &'static str,
        parameter: &'static str,
        value: u64,
        max: u64,
    },
    /// The DER inside the PEM does not parse; `at` says which structure.
    #[error("the private key is malformed: {at} does not parse ({detail})")]
    MalformedDer { at: &'static str, detail: String },
    /// A well-formed key of a type rustls cannot sign with.
    #[error(
        "unsupported private key type: {0} (kafka-esm supports RSA, ECDSA P-256/P-384 and Ed25519 keys)"
    )]
    UnsupportedKeyType(String),
}

impl KeyError {
    /// The documented state reason: an unreadable key or certificate is an authentication
    /// error.
    pub fn reason(&self) -> &'static str {
        EVENT_SOURCE_AUTHN_ERROR
    }

    /// Retrying reads the same secret again: never helps.
    pub fn is_retryable(&self) -> bool {
        false
    }

    pub(crate) fn malformed(at: &'static str, err: impl std::fmt::Display) -> Self {
        KeyError::MalformedDer {
            at,
            detail: err.to_string(),
        }
    }
}
