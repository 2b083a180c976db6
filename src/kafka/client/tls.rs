//! TLS for broker connections, on rustls with the ring provider (the same stack as the
//! AWS SDK clients).
//!
//! This file owns the client side of the handshake: which roots verify the broker (the
//! system's store, or only the mapping's `SERVER_ROOT_CA_CERTIFICATE`), the broker's
//! host name as rustls checks it (DNS name or IP address SAN), the optional client
//! certificate for mutual TLS, and turning rustls's failures into causes a user can act
//! on. It takes certificates and keys already parsed: reading PEM and decrypting keys is
//! the `security` module's job, and fetching secrets the runtime's.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{AlertDescription, CertificateError, ClientConfig, RootCertStore};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// What the broker connections' TLS needs: built once per mapping, shared by every
/// connection.
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key material: only whether a client certificate is configured.
        f.debug_struct("TlsConfig")
            .field(
                "client_auth",
                &self.config.client_auth_cert_resolver.has_certs(),
            )
            .finish()
    }
}

/// Where the broker's certificate must chain to.
pub enum Roots {
    /// The host's certificate store (public CAs).
    System,
    /// Only these certificates (`SERVER_ROOT_CA_CERTIFICATE`: a private or self-signed
    /// root CA). The system store is not consulted.
    Only(Vec<CertificateDer<'static>>),
}

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    #[error(
        "no usable CA certificate in the host's certificate store ({detail}); install the \
         system's CA certificates (ca-certificates) or give the broker's root CA as \
         SERVER_ROOT_CA_CERTIFICATE"
    )]
    NoSystemRoots { detail: String },
    #[error("the root CA certificate (SERVER_ROOT_CA_CERTIFICATE) is not usable: {0}")]
    BadRootCa(String),
    #[error("the client certificate or its private key is not usable: {0}")]
    BadClientCertificate(String),
}

impl TlsConfig {
    /// A configuration verifying the broker against `roots`, presenting `client` (the
    /// certificate chain, client first, and its key) when the broker asks for one.
    pub fn new(
        roots: Roots,
        client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> Result<TlsConfig, TlsConfigError> {
        let mut store = RootCertStore::empty();
        match roots {
            Roots::System => {
                let found = rustls_native_certs::load_native_certs();
                let detail = match found.errors.first() {
                    Some(e) => e.to_string(),
                    None => "it is empty".to_string(),
                };
                let (added, _) = store.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(TlsConfigError::NoSystemRoots { detail });
                }
            }
            Roots::Only(certs) => {
                if certs.is_empty() {
                    return Err(TlsConfigError::BadRootCa("it holds no certificate".into()));
                }
                for cert in certs {
                    store
                        .add(cert)
                        .map_err(|e| TlsConfigError::BadRootCa(e.to_string()))?;
                }
            }
        }
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsConfigError::BadClientCertificate(e.to_string()))?
                .with_root_certificates(store);
        let config = match client {
            None => builder.with_no_client_auth(),
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsConfigError::BadClientCertificate(e.to_string()))?,
        };
        Ok(TlsConfig {
            config: Arc::new(config),
        })
    }

    /// Runs the TLS handshake over `tcp` to `broker` (`host:port` as given), verifying
    /// the certificate against the host part.
    pub async fn connect(
        &self,
        broker: &str,
        tcp: TcpStream,
    ) -> Result<TlsStream<TcpStream>, TlsFailure> {
        let host = host_of(broker);
        let name = ServerName::try_from(host.to_string()).map_err(|_| {
            TlsFailure::Handshake(format!(
                "\"{host}\" is neither a DNS name nor an IP address"
            ))
        })?;
        TlsConnector::from(self.config.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| {
                classify(&e, host).unwrap_or_else(|| match e.kind() {
                    // A plaintext Kafka listener reads our ClientHello as a huge request
                    // size and hangs up without a word of TLS.
                    std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::UnexpectedEof => TlsFailure::NotTls(format!(
                        "it closed the connection during the handshake: {e}"
                    )),
                    _ => TlsFailure::Handshake(e.to_string()),
                })
            })
    }
}

/// The host part of `host:port`, without IPv6 brackets.
pub(crate) fn host_of(broker: &str) -> &str {
    let host = broker.rsplit_once(':').map_or(broker, |(h, _)| h);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Why a TLS session with a broker failed, as a user reads it. Every cause is an
/// `EVENT_SOURCE_AUTHN_ERROR` in AWS's terms.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsFailure {
    #[error(
        "the broker's certificate is not trusted ({0}); if the broker uses a private CA, \
         give its root as SERVER_ROOT_CA_CERTIFICATE"
    )]
    ServerNotTrusted(String),
    #[error(
        "the broker's certificate is not valid for the host name \"{host}\" ({detail}); \
         use a bootstrap server name that the certificate lists"
    )]
    HostNameMismatch { host: String, detail: String },
    #[error(
        "the broker refused our client certificate ({0}); check that \
         CLIENT_CERTIFICATE_TLS_AUTH holds a certificate signed by a CA the broker trusts"
    )]
    ClientCertificateRefused(String),
    #[error(
        "the broker did not answer in TLS ({0}); is this a plaintext listener? SASL \
         (BASIC_AUTH, SASL_SCRAM_*) always uses TLS unless \
         KafkaEsm.AllowInsecureSaslOverPlaintext is set, for local development only"
    )]
    NotTls(String),
    #[error("TLS with the broker failed: {0}")]
    Handshake(String),
}

impl TlsFailure {
    /// The documented reason a mapping stopped by this failure reports.
    pub fn reason(&self) -> &'static str {
        "EVENT_SOURCE_AUTHN_ERROR"
    }
}

/// The TLS cause inside an I/O error from a TLS stream (handshake or a later read),
/// if there is one.
pub fn classify(e: &std::io::Error, host: &str) -> Option<TlsFailure> {
    let tls = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(match tls {
        rustls::Error::InvalidCertificate(CertificateError::NotValidForName)
        | rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => {
            TlsFailure::HostNameMismatch {
                host: host.to_string(),
                detail: tls.to_string(),
            }
        }
        rustls::Error::InvalidCertificate(_) => TlsFailure::ServerNotTrusted(tls.to_string()),
        rustls::Error::AlertReceived(
            AlertDescription::BadCertificate
            | AlertDescription::CertificateRequired
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::AccessDenied,
        ) => TlsFailure::ClientCertificateRefused(tls.to_string()),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            TlsFailure::NotTls(tls.to_string())
        }
        _ => TlsFailure::Handshake(tls.to_string()),
    })
}

#[cfg(test)]
mod tests;
