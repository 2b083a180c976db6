//! The kafka-esm integration test rig.
//!
//! Integration tests start and stop every real component they need through this crate,
//! with no manual steps: a Kafka-protocol broker ([`Nisshi`]), a second, independent
//! broker ([`MockCluster`], librdkafka's mock cluster), TLS and mutual-TLS fronts
//! ([`Stunnel`]) with certificates made by the `openssl` CLI ([`Pki`]), the AWS
//! emulator ([`Moto`]), a scriptable Lambda Invoke endpoint ([`InvokeServer`]) and a TCP
//! proxy that injects network faults between clients and a broker ([`FaultProxy`]).
//! [`RefClient`] is someone else's Kafka client (librdkafka through `confluent_kafka`),
//! used to write test data and to cross-check ours.
//!
//! Every service listens on a loopback port picked free at start, so test binaries and
//! the tests inside them run in parallel without colliding. A service dies with the
//! handle that started it, and with the test process if that dies first (see
//! [`process`]). The tools come from `scripts/install-rig`, which caches them under
//! [`rig_home`]; a missing tool is an error that says to run it.
//!
//! This crate must not depend on kafka-esm: it is the ground the product is tested on.

pub mod certs;
pub mod invoke;
pub mod kafka;
pub mod moto;
pub mod process;
pub mod proxy;
pub mod refclient;
pub mod stunnel;

pub use certs::Pki;
pub use invoke::{FunctionErrorKind, InvokeRequest, InvokeServer, Reply};
pub use kafka::{Broker, MockCluster, Nisshi, NisshiOptions, Scram, Storage, StunnelFront};
pub use moto::Moto;
pub use proxy::{FaultProxy, ProxyStats};
pub use refclient::{Compression, Consumed, Delivered, Record, RefClient};
pub use stunnel::Stunnel;

use anyhow::{Context, Result, bail};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;

/// Where `scripts/install-rig` keeps the rig's tools: `$KAFKA_ESM_RIG`, else
/// `$HOME/.cache/kafka-esm`. Outside the clone, so that fresh clones reuse it.
pub fn rig_home() -> PathBuf {
    if let Some(dir) = std::env::var_os("KAFKA_ESM_RIG") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
    PathBuf::from(home).join(".cache").join("kafka-esm")
}

/// A tool installed by `scripts/install-rig`, by its path under [`rig_home`].
pub fn rig_tool(relative: &str) -> Result<PathBuf> {
    let path = rig_home().join(relative);
    if !path.is_file() {
        bail!(
            "{} is missing: run scripts/install-rig (or scripts/test) first",
            path.display()
        );
    }
    Ok(path)
}

/// A tool expected on PATH (installed from Debian by `scripts/install-rig`).
pub fn system_tool(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .with_context(|| format!("{name} is not on PATH: run scripts/install-rig first"))
}

/// A loopback port that was free a moment ago. Services started on it retry with a new
/// port if another process took it in between (see [`process::Service::start_on_free_port`]).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .context("binding a loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// A name no other test uses: for topics, groups, queues, secrets.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos:x}-{n}", std::process::id())
}
