//! stunnel (OpenSSL) as a TLS front for a plaintext broker.
//!
//! A second TLS implementation next to nisshi's own (rustls), and the rig's only way to
//! require client certificates: with a client CA, stunnel runs with `verify = 2` and
//! refuses any client whose certificate that CA didn't sign. The broker behind it must
//! advertise the stunnel port so that clients come back through it (see
//! [`crate::NisshiOptions::advertised_port`]).

use crate::process::{Service, Spec};
use anyhow::{Context, Result};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use tempfile::TempDir;

/// How to start stunnel.
#[derive(Clone, Debug)]
pub struct StunnelOptions {
    /// The loopback port to accept TLS on.
    pub accept_port: u16,
    /// The plaintext service behind it.
    pub connect: SocketAddr,
    /// Server certificate chain and key (PEM).
    pub cert: PathBuf,
    pub key: PathBuf,
    /// With a CA, client certificates are required and checked against it.
    pub client_ca: Option<PathBuf>,
}

/// A running stunnel.
pub struct Stunnel {
    port: u16,
    service: Service,
    _dir: TempDir,
}

impl Stunnel {
    pub fn start(opts: StunnelOptions) -> Result<Stunnel> {
        let binary = crate::system_tool("stunnel4").or_else(|_| crate::system_tool("stunnel"))?;
        let dir = tempfile::Builder::new()
            .prefix("kafka-esm-stunnel-")
            .tempdir()?;
        let mut conf = format!(
            "foreground = yes\npid =\ndebug = 5\n\n[kafka]\naccept = 127.0.0.1:{}\nconnect = {}\ncert = {}\nkey = {}\n",
            opts.accept_port,
            opts.connect,
            opts.cert.display(),
            opts.key.display()
        );
        if let Some(ca) = &opts.client_ca {
            conf.push_str(&format!("CAfile = {}\nverify = 2\n", ca.display()));
        }
        let conf_path = dir.path().join("stunnel.conf");
        std::fs::write(&conf_path, conf).context("writing stunnel.conf")?;
        let mut service = Service::spawn(Spec {
            name: "stunnel",
            program: &binary,
            args: vec![conf_path.display().to_string()],
            cwd: dir.path(),
            env: vec![],
            stdin_aware: false,
        })?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, opts.accept_port));
        service.wait_for_port(addr, Duration::from_secs(10))?;
        Ok(Stunnel {
            port: opts.accept_port,
            service,
            _dir: dir,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// stunnel's log: it names refused clients and their certificate errors.
    pub fn log(&self) -> String {
        self.service.log()
    }
}
