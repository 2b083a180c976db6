//! moto in server mode: AWS Secrets Manager, SQS, SNS and S3 on one loopback endpoint.
//!
//! One server per test run: `scripts/test` starts one and exports its endpoint as
//! `KAFKA_ESM_MOTO_ENDPOINT`; a test binary run on its own (plain `cargo test`) starts one
//! for its process on first use. Tests never reset it: they keep apart by using
//! [`crate::unique_name`] for every queue, topic, bucket and secret.

use crate::process::{Service, Spec};
use anyhow::{Result, anyhow};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;
use tempfile::TempDir;

/// A moto server: its endpoint and, when this process started it, its handle.
pub struct Moto {
    endpoint: String,
    _service: Option<(Service, TempDir)>,
}

impl Moto {
    /// moto accepts any credentials; these are the ones its docs use.
    pub const ACCESS_KEY_ID: &'static str = "test";
    pub const SECRET_ACCESS_KEY: &'static str = "test";
    pub const REGION: &'static str = "us-east-1";
    /// moto's default account id (it appears in every ARN it makes).
    pub const ACCOUNT_ID: &'static str = "123456789012";

    /// The run's shared server (see the module docs).
    pub fn shared() -> Result<&'static Moto> {
        static SHARED: OnceLock<std::result::Result<Moto, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| match std::env::var("KAFKA_ESM_MOTO_ENDPOINT") {
                Ok(endpoint) if !endpoint.is_empty() => Ok(Moto {
                    endpoint,
                    _service: None,
                }),
                _ => Moto::start().map_err(|e| format!("{e:#}")),
            })
            .as_ref()
            .map_err(|e| anyhow!("starting moto: {e}"))
    }

    /// A server of this process's own.
    pub fn start() -> Result<Moto> {
        let moto_server = crate::rig_tool("venv/bin/moto_server")?;
        Service::start_on_free_port(5, |port| {
            let dir = tempfile::Builder::new()
                .prefix("kafka-esm-moto-")
                .tempdir()?;
            let mut service = Service::spawn(Spec {
                name: "moto",
                program: &moto_server,
                args: vec![
                    "-H".into(),
                    "127.0.0.1".into(),
                    "-p".into(),
                    port.to_string(),
                ],
                cwd: dir.path(),
                env: vec![],
                stdin_aware: false,
            })?;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            service.wait_for_port(addr, Duration::from_secs(60))?;
            Ok(Moto {
                endpoint: format!("http://{addr}"),
                _service: Some((service, dir)),
            })
        })
    }

    /// `http://127.0.0.1:PORT`, for an SDK endpoint override.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}
