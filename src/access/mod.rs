//! Access to the Kafka cluster: turns the mapping's `SourceAccessConfigurations` into
//! what every broker connection uses (TLS roots, the client certificate, SASL
//! credentials), reading the secrets they name.
//!
//! Built once before anything connects, so a bad secret, key or certificate stops the
//! mapping at start with `EVENT_SOURCE_AUTHN_ERROR` and a message naming what to fix.
//! It never logs a secret's value and never opens a connection itself.

pub mod secrets;

use crate::aws::AwsOptions;
use crate::config::{Authentication, Mapping, SecurityProtocol};
use crate::kafka::client::conn::ConnectionConfig;
use crate::kafka::client::conn::sasl::{Mechanism, SaslCredentials, SaslSource};
use crate::kafka::client::tls::{Roots, TlsConfig, TlsConfigError};
use crate::security::KeyError;
use secrets::{Secret, SecretError};

/// Why the mapping's credentials can't be used. Every case is an
/// `EVENT_SOURCE_AUTHN_ERROR`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("{field} of the secret {secret}: {source}")]
    Key {
        secret: String,
        field: &'static str,
        source: KeyError,
    },
    #[error(transparent)]
    Tls(#[from] TlsConfigError),
}

impl AccessError {
    /// The documented reason a mapping stopped by this error reports.
    pub fn reason(&self) -> &'static str {
        "EVENT_SOURCE_AUTHN_ERROR"
    }
}

/// The connection settings for `mapping`'s security protocol, with its secrets read
/// (Secrets Manager through `aws`, whose region defaults to each secret ARN's).
pub async fn connection_config(
    mapping: &Mapping,
    aws: &AwsOptions,
    base: ConnectionConfig,
) -> Result<ConnectionConfig, AccessError> {
    let mut config = base;
    let tls = matches!(
        mapping.security_protocol,
        SecurityProtocol::Ssl | SecurityProtocol::SaslSsl
    );
    let auth = match &mapping.authentication {
        Some(auth) => Some((auth, secrets::read(auth.secret(), aws).await?)),
        None => None,
    };
    if let Some((auth, secret)) = &auth
        && let Some(mechanism) = sasl_mechanism(auth)
    {
        let credentials = sasl_credentials(mechanism, secret)?;
        // Read again after a broker refuses them and periodically: a rotated secret
        // reaches new connections without a restart.
        let (source, aws) = (auth.secret().clone(), aws.clone());
        config.sasl = Some(SaslSource::refreshable(credentials, move || {
            let (source, aws) = (source.clone(), aws.clone());
            async move {
                match secrets::read(&source, &aws).await {
                    Ok(secret) => sasl_credentials(mechanism, &secret)
                        .inspect_err(|e| tracing::warn!("re-reading the SASL secret: {e}"))
                        .ok(),
                    Err(e) => {
                        tracing::warn!("re-reading the SASL secret: {e}");
                        None
                    }
                }
            }
        }));
    }
    if tls {
        let roots = match &mapping.server_root_ca {
            Some(source) => {
                let secret = secrets::read(source, aws).await?;
                Roots::Only(certificates(&secret, "certificate")?)
            }
            None => Roots::System,
        };
        let client = match &auth {
            Some((Authentication::ClientCertificateTls(_), secret)) => {
                Some(client_identity(secret)?)
            }
            _ => None,
        };
        config.tls = Some(TlsConfig::new(roots, client)?);
    }
    Ok(config)
}

fn sasl_credentials(mechanism: Mechanism, secret: &Secret) -> Result<SaslCredentials, AccessError> {
    Ok(SaslCredentials::new(
        mechanism,
        secret.require("username")?,
        secret.require("password")?.to_string(),
    ))
}

fn sasl_mechanism(auth: &Authentication) -> Option<Mechanism> {
    match auth {
        Authentication::SaslPlain(_) => Some(Mechanism::Plain),
        Authentication::SaslScram256(_) => Some(Mechanism::ScramSha256),
        Authentication::SaslScram512(_) => Some(Mechanism::ScramSha512),
        Authentication::ClientCertificateTls(_) => None,
    }
}

fn certificates(
    secret: &Secret,
    field: &'static str,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, AccessError> {
    crate::security::certificates(secret.require(field)?).map_err(|source| AccessError::Key {
        secret: secret.source().to_string(),
        field,
        source,
    })
}

/// The mTLS secret's chain and key (decrypted with `privateKeyPassword` when encrypted).
fn client_identity(
    secret: &Secret,
) -> Result<
    (
        Vec<rustls::pki_types::CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    ),
    AccessError,
> {
    let chain = certificates(secret, "certificate")?;
    let key = crate::security::private_key(
        secret.require("privateKey")?,
        secret.get("privateKeyPassword"),
    )
    .map_err(|source| AccessError::Key {
        secret: secret.source().to_string(),
        field: "privateKey",
        source,
    })?;
    Ok((chain, key))
}
