//! A TCP fault proxy: forwards real traffic between clients and a target (a broker) on
//! loopback, and injects network faults on command.
//!
//! Faults, each a method of [`FaultProxy`]:
//! - [`reset`](FaultProxy::reset): every open connection is closed with a TCP RST on both
//!   sides (`SO_LINGER` 0, then close), as a crashed middlebox or a dropped route would;
//! - [`stall`](FaultProxy::stall): nothing is forwarded for a while, connections stay
//!   open; bytes that arrive meanwhile are held and delivered when the stall ends;
//! - [`refuse`](FaultProxy::refuse): new connections are reset as soon as they are
//!   accepted, for a while (the listener stays bound, so the port is never lost);
//! - [`resume`](FaultProxy::resume): ends any stall and refusal at once.
//!
//! A connection made while the target is down is reset the same way, as a refused
//! connection would be. The proxy runs on its own thread and runtime, so it works the
//! same from async tests and blocking code, and it stops (closing every connection) when
//! dropped. Kafka clients learn broker addresses from Metadata, so a broker behind the
//! proxy must advertise the proxy's address: see [`crate::Nisshi::start_behind_proxy`].

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

/// The faults in force.
#[derive(Clone, Debug, Default)]
struct Faults {
    /// Bumped by each reset: connections accepted before it are reset.
    epoch: u64,
    stalled_until: Option<Instant>,
    refusing_until: Option<Instant>,
}

/// What the proxy did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections accepted and forwarded.
    pub forwarded: u64,
    /// Connections closed with a RST by [`FaultProxy::reset`].
    pub reset: u64,
    /// Connections reset on accept while refusing, or because the target was down.
    pub refused: u64,
    /// Calls of [`FaultProxy::reset`], [`FaultProxy::stall`], [`FaultProxy::refuse`].
    pub resets: u64,
    pub stalls: u64,
    pub refusals: u64,
}

struct Shared {
    target: Mutex<Option<SocketAddr>>,
    faults: watch::Sender<Faults>,
    /// Open connections: id -> the reset epoch they were accepted in.
    live: watch::Sender<BTreeMap<u64, u64>>,
    stats: Mutex<ProxyStats>,
}

impl Shared {
    fn count(&self, f: impl FnOnce(&mut ProxyStats)) {
        f(&mut self.stats.lock().expect("proxy stats lock"));
    }
}

/// The proxy; see the module documentation.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `target`.
    pub fn start(target: SocketAddr) -> io::Result<FaultProxy> {
        let proxy = FaultProxy::listen()?;
        proxy.set_target(target);
        Ok(proxy)
    }

    /// Listens on a free loopback port with no target yet: connections are reset until
    /// [`set_target`](Self::set_target). For a broker that must advertise the proxy's
    /// port before it starts.
    pub fn listen() -> io::Result<FaultProxy> {
        let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target: Mutex::new(None),
            faults: watch::Sender::new(Faults::default()),
            live: watch::Sender::new(BTreeMap::new()),
            stats: Mutex::new(ProxyStats::default()),
        });
        let (shutdown, stopped) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(listener) => {
                            tokio::select! {
                                _ = accept_loop(listener, sh) => {}
                                _ = stopped => {}
                            }
                        }
                        Err(e) => eprintln!("fault proxy: {e}"),
                    }
                });
                // Dropping the runtime drops every connection task and its sockets.
            })?;
        Ok(FaultProxy {
            addr,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Forwards new connections to `target` from now on.
    pub fn set_target(&self, target: SocketAddr) {
        *self.shared.target.lock().expect("proxy target lock") = Some(target);
    }

    /// Resets every open connection (RST to the client and to the target) and returns
    /// once they are all closed, with how many there were.
    pub async fn reset(&self) -> usize {
        let before = self.stats().reset;
        let mut epoch = 0;
        self.shared.faults.send_modify(|f| {
            f.epoch += 1;
            epoch = f.epoch;
        });
        self.shared.count(|s| s.resets += 1);
        let mut live = self.shared.live.subscribe();
        // The connection tasks count the reset, then remove themselves once their
        // sockets are closed.
        let _ = live.wait_for(|m| m.values().all(|e| *e >= epoch)).await;
        (self.stats().reset - before) as usize
    }

    /// Stops forwarding for `duration` (from now; a later call replaces it): bytes read
    /// meanwhile are held and delivered when it ends. Connections stay open and new ones
    /// are accepted (and stalled too).
    pub fn stall(&self, duration: Duration) {
        let until = Instant::now() + duration;
        self.shared
            .faults
            .send_modify(|f| f.stalled_until = Some(until));
        self.shared.count(|s| s.stalls += 1);
    }

    /// Resets new connections as soon as they are accepted, for `duration`.
    pub fn refuse(&self, duration: Duration) {
        let until = Instant::now() + duration;
        self.shared
            .faults
            .send_modify(|f| f.refusing_until = Some(until));
        self.shared.count(|s| s.refusals += 1);
    }

    /// Ends any stall or refusal now.
    pub fn resume(&self) {
        self.shared.faults.send_modify(|f| {
            f.stalled_until = None;
            f.refusing_until = None;
        });
    }

    /// Connections open now.
    pub fn connections(&self) -> usize {
        self.shared.live.borrow().len()
    }

    pub fn stats(&self) -> ProxyStats {
        *self.shared.stats.lock().expect("proxy stats lock")
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn active(until: Option<Instant>) -> Option<Instant> {
    until.filter(|t| *t > Instant::now())
}

/// Closes with a RST rather than a FIN.
fn rst(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut next_id = 0u64;
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(_) => {
                // Out of descriptors or a connection gone before accept: try again.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let faults = shared.faults.borrow().clone();
        if active(faults.refusing_until).is_some() {
            shared.count(|s| s.refused += 1);
            rst(client);
            continue;
        }
        next_id += 1;
        let id = next_id;
        shared.live.send_modify(|m| {
            m.insert(id, faults.epoch);
        });
        let sh = shared.clone();
        tokio::spawn(async move {
            connection(client, &sh, faults.epoch).await;
            sh.live.send_modify(|m| {
                m.remove(&id);
            });
        });
    }
}

async fn connection(client: TcpStream, shared: &Shared, epoch: u64) {
    let target = *shared.target.lock().expect("proxy target lock");
    let server = match target {
        Some(target) => {
            tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(target)).await
        }
        None => Ok(Err(io::ErrorKind::NotConnected.into())),
    };
    let Ok(Ok(mut server)) = server else {
        shared.count(|s| s.refused += 1);
        rst(client);
        return;
    };
    shared.count(|s| s.forwarded += 1);
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let mut client = client;
    let mut resets = shared.faults.subscribe();
    let outcome = {
        let (cr, cw) = client.split();
        let (sr, sw) = server.split();
        let up = pump(cr, sw, shared.faults.subscribe());
        let down = pump(sr, cw, shared.faults.subscribe());
        tokio::select! {
            r = async { tokio::try_join!(up, down) } => r.map(drop),
            _ = resets.wait_for(|f| f.epoch > epoch) => {
                shared.count(|s| s.reset += 1);
                Err(io::ErrorKind::ConnectionReset.into())
            }
        }
    };
    if outcome.is_err() {
        // A reset, or an error on one side: the other side sees a RST too.
        rst(client);
        rst(server);
    }
}

/// Copies `from` to `to` until EOF (then half-closes `to`), holding bytes while stalled.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mut faults: watch::Receiver<Faults>,
) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            to.shutdown().await?;
            return Ok(());
        }
        // Held until no stall is in force (a stall may be extended or resumed meanwhile).
        loop {
            let until = active(faults.borrow_and_update().stalled_until);
            let Some(until) = until else { break };
            tokio::select! {
                _ = tokio::time::sleep_until(until.into()) => {}
                _ = faults.changed() => {}
            }
        }
        to.write_all(&buf[..n]).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A target that echoes every byte back, and counts the connections it saw end in a
    /// reset.
    struct Echo {
        addr: SocketAddr,
        resets: watch::Receiver<usize>,
    }

    async fn echo() -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, resets) = watch::channel(0usize);
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    if let Err(e) = tokio::io::copy(&mut r, &mut w).await
                        && e.kind() == io::ErrorKind::ConnectionReset
                    {
                        tx.send_modify(|n| *n += 1);
                    }
                });
            }
        });
        Echo { addr, resets }
    }

    async fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut buf))
            .await
            .expect("bytes within 10 s")
            .unwrap();
        buf
    }

    /// A connection to `addr` is reset: the connect itself fails (the RST can arrive
    /// before the handshake is seen complete) or the first read does.
    async fn assert_reset(addr: SocketAddr) {
        let outcome = match TcpStream::connect(addr).await {
            Ok(mut c) => c.read(&mut [0; 1]).await.map(drop),
            Err(e) => Err(e),
        };
        assert!(
            matches!(&outcome, Err(e) if e.kind() == io::ErrorKind::ConnectionReset),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn forwards_bytes_both_ways() {
        let target = echo().await;
        let proxy = FaultProxy::start(target.addr).unwrap();
        let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
        // More than the proxy's buffer, in both directions at once.
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let (mut r, mut w) = c.split();
        let (_, back) = tokio::join!(async { w.write_all(&data).await.unwrap() }, async {
            let mut buf = vec![0; data.len()];
            r.read_exact(&mut buf).await.unwrap();
            buf
        });
        assert!(back == data, "echoed bytes differ");
        // EOF travels through: the echo closes its side, the client reads EOF.
        c.shutdown().await.unwrap();
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        assert_eq!(proxy.stats().forwarded, 1);
    }

    #[tokio::test]
    async fn a_reset_is_seen_by_the_client_and_the_target() {
        let target = echo().await;
        let proxy = FaultProxy::start(target.addr).unwrap();
        let mut a = TcpStream::connect(proxy.addr()).await.unwrap();
        let mut b = TcpStream::connect(proxy.addr()).await.unwrap();
        for s in [&mut a, &mut b] {
            s.write_all(b"hello").await.unwrap();
            assert_eq!(read_n(s, 5).await, b"hello");
        }
        assert_eq!(proxy.reset().await, 2);
        assert_eq!(proxy.connections(), 0);
        for s in [&mut a, &mut b] {
            let mut buf = [0; 1];
            let err = s.read(&mut buf).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        }
        let mut resets = target.resets.clone();
        tokio::time::timeout(Duration::from_secs(10), resets.wait_for(|n| *n == 2))
            .await
            .expect("the target sees both resets")
            .unwrap();
        // New connections work again.
        let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
        c.write_all(b"again").await.unwrap();
        assert_eq!(read_n(&mut c, 5).await, b"again");
        assert_eq!(proxy.stats().reset, 2);
    }

    #[tokio::test]
    async fn a_stall_holds_bytes_then_delivers_them() {
        let target = echo().await;
        let proxy = FaultProxy::start(target.addr).unwrap();
        let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
        c.write_all(b"warm").await.unwrap();
        assert_eq!(read_n(&mut c, 4).await, b"warm");
        // Held until resumed: nothing comes back meanwhile (an absence can only be
        // watched for a while), the connection stays open.
        proxy.stall(Duration::from_secs(600));
        c.write_all(b"held").await.unwrap();
        let mut buf = [0; 4];
        assert!(
            tokio::time::timeout(Duration::from_millis(300), c.read(&mut buf))
                .await
                .is_err(),
            "bytes went through a stall"
        );
        assert_eq!(proxy.connections(), 1);
        proxy.resume();
        assert_eq!(read_n(&mut c, 4).await, b"held");
        // A timed stall ends by itself.
        let started = Instant::now();
        proxy.stall(Duration::from_millis(400));
        c.write_all(b"late").await.unwrap();
        assert_eq!(read_n(&mut c, 4).await, b"late");
        assert!(started.elapsed() >= Duration::from_millis(400));
        assert_eq!(proxy.stats().stalls, 2);
    }

    #[tokio::test]
    async fn refused_connections_are_reset_until_resumed() {
        let target = echo().await;
        let proxy = FaultProxy::start(target.addr).unwrap();
        proxy.refuse(Duration::from_secs(600));
        assert_reset(proxy.addr()).await;
        proxy.resume();
        let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
        c.write_all(b"ok").await.unwrap();
        assert_eq!(read_n(&mut c, 2).await, b"ok");
        assert_eq!(proxy.stats().refused, 1);
    }

    #[tokio::test]
    async fn a_target_that_is_down_resets_the_client() {
        let port = crate::free_port().unwrap();
        let proxy = FaultProxy::start(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).unwrap();
        assert_reset(proxy.addr()).await;
        assert_eq!(proxy.stats().refused, 1);
    }
}
