//! The AWS SDK configuration every AWS client of kafka-esm is built from.
//!
//! One HTTP stack for all of them: hyper with rustls on the `ring` provider (the same
//! TLS stack as our Kafka connections; no aws-lc, so static musl builds stay small and
//! fast to compile). Region, an endpoint override (for Lambda-compatible services and
//! for moto in tests) and static credentials are optional; without them the SDK's default
//! chain applies (environment, profile, web identity, ECS, IMDS).
//!
//! Retries are explicit: callers say how many attempts a client may make, because the
//! mapping engine owns retry policy for invocations and must not be second-guessed by
//! hidden SDK retries.
//!
//! Every client has connect, read, attempt and operation timeouts ([`Timeouts`]): without
//! them a half-open connection (a peer that accepted and never answers) would hang the
//! request, and the partition waiting on it, forever. A timed-out request is an error
//! like any other transport failure, which callers retry.

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls;
use std::fmt;
use std::time::Duration;

/// Where and as whom to reach AWS.
#[derive(Clone, Default)]
pub struct AwsOptions {
    /// `us-east-1`, ...; the default chain's region when `None`.
    pub region: Option<String>,
    /// Replaces the service endpoint (`http://127.0.0.1:5000` for moto, a
    /// Lambda-compatible service, ...).
    pub endpoint_url: Option<String>,
    /// Static credentials; the default chain when `None`.
    pub credentials: Option<StaticCredentials>,
    /// Attempts per request including the first (1 = no SDK retries). The SDK's
    /// standard policy (3) when `None`.
    pub max_attempts: Option<u32>,
    /// How long a request may take; [`Timeouts::DEFAULT`] unless set.
    pub timeouts: Timeouts,
}

/// How long an AWS request may take, at each stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the TCP (and TLS) connection.
    pub connect: Duration,
    /// From sending the request to the first byte of the answer.
    pub read: Duration,
    /// One attempt, start to end.
    pub attempt: Duration,
    /// The whole operation, every attempt and the waits between them included.
    pub operation: Duration,
}

impl Timeouts {
    /// For requests that answer at once (SQS, SNS, S3, Secrets Manager): generous for a
    /// slow link (an S3 object holds up to a 6 MB event), short enough that a dead peer
    /// is noticed within a couple of minutes.
    pub const DEFAULT: Timeouts = Timeouts {
        connect: Duration::from_secs(10),
        read: Duration::from_secs(60),
        attempt: Duration::from_secs(90),
        operation: Duration::from_secs(180),
    };

    /// The SDK's form.
    pub fn config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .read_timeout(self.read)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts::DEFAULT
    }
}

/// An access key pair. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .finish()
    }
}

impl fmt::Debug for AwsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsOptions")
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .field("credentials", &self.credentials)
            .field("max_attempts", &self.max_attempts)
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

/// The shared HTTP client: hyper + rustls on ring, with the platform's root certificates.
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// Loads an [`SdkConfig`] for `opts`.
pub async fn sdk_config(opts: &AwsOptions) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .timeout_config(opts.timeouts.config());
    if let Some(region) = &opts.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &opts.endpoint_url {
        loader = loader.endpoint_url(url.clone());
    }
    if let Some(c) = &opts.credentials {
        loader = loader.credentials_provider(Credentials::new(
            c.access_key_id.clone(),
            c.secret_access_key.clone(),
            c.session_token.clone(),
            None,
            "kafka-esm-static",
        ));
    }
    if let Some(n) = opts.max_attempts {
        loader = loader
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(n.max(1)));
    }
    loader.load().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_secrets() {
        let opts = AwsOptions {
            credentials: Some(StaticCredentials {
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: "wJalrXUtnFEMI/K7MDENG".into(),
                session_token: Some("FwoGZXIvYXdzEBYaD".into()),
            }),
            ..AwsOptions::default()
        };
        let shown = format!("{opts:?}");
        assert!(shown.contains("AKIDEXAMPLE"), "{shown}");
        assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
        assert!(!shown.contains("FwoGZXIvYXdzEBYaD"), "{shown}");
    }

    #[tokio::test]
    async fn every_client_gets_connect_read_and_operation_timeouts() {
        let sdk = sdk_config(&AwsOptions {
            region: Some("us-east-1".into()),
            ..AwsOptions::default()
        })
        .await;
        let t = sdk.timeout_config().expect("a timeout config");
        assert_eq!(t.connect_timeout(), Some(Duration::from_secs(10)));
        assert_eq!(t.read_timeout(), Some(Duration::from_secs(60)));
        assert_eq!(t.operation_attempt_timeout(), Some(Duration::from_secs(90)));
        assert_eq!(t.operation_timeout(), Some(Duration::from_secs(180)));
    }
}
