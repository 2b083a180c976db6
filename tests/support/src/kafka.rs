//! Real Kafka-protocol brokers on loopback: nisshi, and librdkafka's mock cluster.
//!
//! [`Nisshi`] is the integration broker (a real broker with storage, groups, TLS and
//! SCRAM). [`MockCluster`] is a second, independent implementation (three brokers in
//! one process, written by librdkafka's authors) so that client tests don't pass merely
//! because they agree with one broker's quirks. Both implement [`Broker`], and tests that
//! both can serve are written once over `&dyn Broker`.

use crate::process::{Service, Spec};
use crate::proxy::FaultProxy;
use crate::refclient::RefClient;
use anyhow::{Context, Result, bail};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use tempfile::TempDir;

/// What a test needs from any broker of the rig.
pub trait Broker: Send + Sync {
    /// A short name for messages: `nisshi` or `mock`.
    fn kind(&self) -> &'static str;
    /// `host:port[,host:port...]` as clients take it.
    fn bootstrap(&self) -> String;
    /// The reference client, configured for this broker's security settings.
    fn refclient(&self) -> RefClient;
    /// Creates `topic` with `partitions` partitions and waits until metadata shows it.
    fn create_topic(&self, topic: &str, partitions: i32) -> Result<()>;
    /// Whether ListOffsets by timestamp works (the mock cluster answers -1).
    fn lists_offsets_by_timestamp(&self) -> bool {
        true
    }
}

/// Where nisshi keeps its data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Storage {
    /// Gone when the process ends; fastest.
    #[default]
    Memory,
    /// `nisshi.db` in the broker's directory: survives kill -9 and restart.
    Sqlite,
}

/// A SCRAM mechanism, by nisshi's name for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scram {
    Sha256,
    Sha512,
}

impl Scram {
    fn nisshi_name(self) -> &'static str {
        match self {
            Scram::Sha256 => "scram256",
            Scram::Sha512 => "scram512",
        }
    }

    /// The SASL mechanism name clients send.
    pub fn mechanism(self) -> &'static str {
        match self {
            Scram::Sha256 => "SCRAM-SHA-256",
            Scram::Sha512 => "SCRAM-SHA-512",
        }
    }
}

/// How to start nisshi.
#[derive(Clone, Debug, Default)]
pub struct NisshiOptions {
    pub storage: Storage,
    /// Native TLS: (certificate chain PEM, private key PEM). The listener then accepts
    /// TLS only.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// SCRAM users to create; when non-empty, the broker requires authentication (and
    /// storage is forced to sqlite, which nisshi needs for credentials).
    pub scram_users: Vec<(Scram, String, String)>,
    /// Advertise this port instead of the listener's own (for a TLS front such as
    /// stunnel that clients must come back through).
    pub advertised_port: Option<u16>,
    /// `--group-initial-rebalance-delay` (nisshi's and Kafka's default is 3 s; the rig
    /// uses 100 ms unless told).
    pub initial_rebalance_delay: Option<Duration>,
}

/// A nisshi broker on a loopback port, in its own temporary directory.
pub struct Nisshi {
    dir: TempDir,
    port: u16,
    opts: NisshiOptions,
    service: Option<Service>,
}

impl Nisshi {
    /// A plaintext broker with in-memory storage.
    pub fn start() -> Result<Nisshi> {
        Nisshi::start_with(NisshiOptions::default())
    }

    pub fn start_with(mut opts: NisshiOptions) -> Result<Nisshi> {
        let binary = crate::rig_tool("nisshi-0.8.1/bin/nisshi")?;
        if !opts.scram_users.is_empty() {
            opts.storage = Storage::Sqlite;
        }
        Service::start_on_free_port(5, |port| {
            let dir = tempfile::Builder::new()
                .prefix("kafka-esm-nisshi-")
                .tempdir()?;
            let mut broker = Nisshi {
                dir,
                port,
                opts: opts.clone(),
                service: None,
            };
            if !opts.scram_users.is_empty() {
                // Users are created through a running broker with authentication off,
                // then the broker restarts on the same database requiring it.
                broker.launch(&binary, false, false)?;
                for (mech, user, password) in &opts.scram_users {
                    broker.create_user(&binary, *mech, user, password)?;
                }
                broker.kill();
            }
            broker.launch(&binary, opts.tls.is_some(), !opts.scram_users.is_empty())?;
            Ok(broker)
        })
    }

    fn launch(&mut self, binary: &std::path::Path, tls: bool, auth: bool) -> Result<()> {
        let listen = format!("tcp://127.0.0.1:{}", self.port);
        let advertised = format!(
            "tcp://127.0.0.1:{}",
            self.opts.advertised_port.unwrap_or(self.port)
        );
        let storage = match self.opts.storage {
            Storage::Memory => "memory://nisshi/".to_string(),
            Storage::Sqlite => "sqlite://nisshi.db".to_string(),
        };
        let delay = self
            .opts
            .initial_rebalance_delay
            .unwrap_or(Duration::from_millis(100));
        let mut args = vec![
            "broker".to_string(),
            "--listener-url".into(),
            listen,
            "--advertised-listener-url".into(),
            advertised,
            "--storage-engine".into(),
            storage,
            "--group-initial-rebalance-delay".into(),
            format!("{}ms", delay.as_millis()),
            "--silent".into(),
        ];
        if tls {
            let (cert, key) = self
                .opts
                .tls
                .as_ref()
                .context("tls without a certificate")?;
            args.extend([
                "--cert".into(),
                cert.display().to_string(),
                "--key".into(),
                key.display().to_string(),
            ]);
        }
        if auth {
            args.push("--authentication".into());
        }
        let mut service = Service::spawn(Spec {
            name: "nisshi",
            program: binary,
            args,
            cwd: self.dir.path(),
            env: vec![],
            stdin_aware: false,
        })?;
        service.wait_for_port(self.addr(), Duration::from_secs(20))?;
        self.service = Some(service);
        Ok(())
    }

    fn create_user(
        &self,
        binary: &std::path::Path,
        mech: Scram,
        user: &str,
        password: &str,
    ) -> Result<()> {
        let out = std::process::Command::new(binary)
            .args(["user", "create", "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .args(["--mechanism", mech.nisshi_name(), user, password])
            .current_dir(self.dir.path())
            .output()
            .context("running nisshi user create")?;
        if !out.status.success() {
            bail!(
                "nisshi user create {user} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// A broker behind a [`FaultProxy`]: it advertises the proxy's address, so every
    /// client (bootstrap and the connections Metadata leads to) goes through the proxy,
    /// which can then reset, stall or refuse them. [`Nisshi::restart`] keeps the port, so
    /// the proxy keeps forwarding to the restarted broker.
    pub fn start_behind_proxy(mut opts: NisshiOptions) -> Result<(Nisshi, FaultProxy)> {
        let proxy = FaultProxy::listen().context("starting the fault proxy")?;
        opts.advertised_port = Some(proxy.port());
        let broker = Nisshi::start_with(opts)?;
        proxy.set_target(broker.addr());
        Ok((broker, proxy))
    }

    /// The port the broker listens on (not the advertised one, if they differ).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Kills the broker with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut s) = self.service.take() {
            s.kill();
        }
    }

    /// Starts the broker again on the same port and storage (data survives with
    /// [`Storage::Sqlite`]).
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        let binary = crate::rig_tool("nisshi-0.8.1/bin/nisshi")?;
        let tls = self.opts.tls.is_some();
        let auth = !self.opts.scram_users.is_empty();
        self.launch(&binary, tls, auth)
    }

    /// Sets `user`'s SCRAM password (`mech`) to `password`, as an operator rotating it
    /// does: restarts the broker without authentication, replaces the user, and restarts
    /// it requiring authentication. Every connection is dropped on the way.
    pub fn change_password(&mut self, mech: Scram, user: &str, password: &str) -> Result<()> {
        let binary = crate::rig_tool("nisshi-0.8.1/bin/nisshi")?;
        let tls = self.opts.tls.is_some();
        self.kill();
        // The user commands speak plaintext, unauthenticated.
        self.launch(&binary, false, false)?;
        let out = std::process::Command::new(&binary)
            .args(["user", "delete", "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .args(["--mechanism", mech.nisshi_name(), user])
            .current_dir(self.dir.path())
            .output()
            .context("running nisshi user delete")?;
        if !out.status.success() {
            bail!(
                "nisshi user delete {user} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        self.create_user(&binary, mech, user, password)?;
        self.kill();
        self.launch(&binary, tls, true)
    }

    /// The broker's output so far (empty with `--silent` unless it failed).
    pub fn log(&self) -> String {
        self.service.as_ref().map(Service::log).unwrap_or_default()
    }
}

impl Broker for Nisshi {
    fn kind(&self) -> &'static str {
        "nisshi"
    }

    fn bootstrap(&self) -> String {
        format!(
            "127.0.0.1:{}",
            self.opts.advertised_port.unwrap_or(self.port)
        )
    }

    fn refclient(&self) -> RefClient {
        RefClient::new(self.bootstrap())
    }

    fn create_topic(&self, topic: &str, partitions: i32) -> Result<()> {
        self.refclient().create_topic(topic, partitions)
    }
}

/// librdkafka's mock cluster: `brokers` brokers with real TCP listeners, served by a
/// Python process of the rig. It has no CreateTopics: topics are auto-created with
/// [`MockCluster::PARTITIONS`] partitions. No ListOffsets by timestamp,
/// SASL or TLS.
pub struct MockCluster {
    bootstrap: String,
    _service: Service,
    _dir: TempDir,
}

impl MockCluster {
    /// The partition count of every topic the mock cluster creates.
    pub const PARTITIONS: i32 = 4;

    /// The mock cluster's output (librdkafka's mock debug log), for diagnosing a test.
    pub fn log(&self) -> String {
        self._service.log()
    }

    pub fn start(brokers: usize) -> Result<MockCluster> {
        let python = crate::rig_tool("venv/bin/python")?;
        let script = crate::refclient::RefClient::script()?;
        let dir = tempfile::Builder::new()
            .prefix("kafka-esm-mock-")
            .tempdir()?;
        let mut service = Service::spawn(Spec {
            name: "mock-cluster",
            program: &python,
            args: vec![
                script.display().to_string(),
                "mock-cluster".into(),
                "--brokers".into(),
                brokers.to_string(),
            ],
            cwd: dir.path(),
            env: vec![],
            stdin_aware: true,
        })?;
        let bootstrap = service.wait_for_line(Duration::from_secs(20), |line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            v.get("bootstrap")?.as_str().map(str::to_string)
        })?;
        for addr in bootstrap.split(',') {
            let addr: SocketAddr = addr.parse().context("mock cluster address")?;
            service.wait_for_port(addr, Duration::from_secs(10))?;
        }
        Ok(MockCluster {
            bootstrap,
            _service: service,
            _dir: dir,
        })
    }
}

impl Broker for MockCluster {
    fn kind(&self) -> &'static str {
        "mock"
    }

    fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    fn refclient(&self) -> RefClient {
        RefClient::new(self.bootstrap())
    }

    fn create_topic(&self, topic: &str, partitions: i32) -> Result<()> {
        if partitions != Self::PARTITIONS {
            bail!(
                "the mock cluster only makes {}-partition topics (asked for {partitions})",
                Self::PARTITIONS
            );
        }
        self.refclient().auto_create_topic(topic, partitions)
    }

    fn lists_offsets_by_timestamp(&self) -> bool {
        false
    }
}

/// nisshi behind stunnel with `verify = 2`: the rig's mutual-TLS broker. Clients must
/// present a certificate chaining to the rig's root CA (the client chain goes through
/// the intermediate); nisshi advertises stunnel's port so clients stay on TLS.
pub struct StunnelFront {
    broker: Nisshi,
    stunnel: crate::Stunnel,
    ca: PathBuf,
    chain: PathBuf,
    key: PathBuf,
}

impl StunnelFront {
    pub fn start(pki: &crate::Pki, mut opts: NisshiOptions) -> Result<StunnelFront> {
        Service::start_on_free_port(5, |front_port| {
            opts.advertised_port = Some(front_port);
            let broker = Nisshi::start_with(opts.clone())?;
            let stunnel = crate::Stunnel::start(crate::stunnel::StunnelOptions {
                accept_port: front_port,
                connect: broker.addr(),
                cert: pki.server.cert.clone(),
                key: pki.server.key.clone(),
                client_ca: Some(pki.ca.cert.clone()),
            })?;
            Ok(StunnelFront {
                broker,
                stunnel,
                ca: pki.ca.cert.clone(),
                chain: pki.client_chain.clone(),
                key: pki.client.key.clone(),
            })
        })
    }

    /// The plaintext broker behind the front (for its port, kill and restart).
    pub fn broker(&mut self) -> &mut Nisshi {
        &mut self.broker
    }

    /// stunnel's log (names refused clients and why).
    pub fn log(&self) -> String {
        self.stunnel.log()
    }

    /// A reference client that trusts the rig's CA but shows no certificate of its own.
    pub fn anonymous_refclient(&self) -> RefClient {
        RefClient::new(self.bootstrap())
            .with("security.protocol", "SSL")
            .with("ssl.ca.location", self.ca.display().to_string())
    }
}

impl Broker for StunnelFront {
    fn kind(&self) -> &'static str {
        "nisshi+stunnel"
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.stunnel.port())
    }

    /// Trusts the rig's CA and presents the rig's client chain and key.
    fn refclient(&self) -> RefClient {
        self.anonymous_refclient()
            .with("ssl.certificate.location", self.chain.display().to_string())
            .with("ssl.key.location", self.key.display().to_string())
    }

    fn create_topic(&self, topic: &str, partitions: i32) -> Result<()> {
        self.refclient().create_topic(topic, partitions)
    }
}
