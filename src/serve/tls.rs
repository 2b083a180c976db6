//! TLS for `serve`'s API (`--api-tls-cert`, `--api-tls-key`): rustls on ring, the
//! certificate chain and key read from PEM files (every key form `src/security` reads).
//!
//! [`TlsListener`] is an axum listener: it accepts TCP connections and completes their
//! handshakes concurrently (at most [`MAX_HANDSHAKES`] at once, each within
//! [`HANDSHAKE_TIMEOUT`]), handing axum only connections whose handshake succeeded, so a
//! slow or broken client never holds up the others.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Handshakes in progress at most; past this, accepting waits for one to end.
pub const MAX_HANDSHAKES: usize = 64;
/// How long a client has to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the API's TLS settings can't be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("{flag} {path}: {message}")]
    File {
        flag: &'static str,
        path: String,
        message: String,
    },
    #[error("--api-tls-cert/--api-tls-key: {0}")]
    Config(String),
}

/// The server configuration for a certificate chain and its key, from PEM files.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let read = |flag: &'static str, path: &Path| {
        std::fs::read_to_string(path).map_err(|e| TlsError::File {
            flag,
            path: path.display().to_string(),
            message: e.to_string(),
        })
    };
    let bad = |flag: &'static str, path: &Path, message: String| TlsError::File {
        flag,
        path: path.display().to_string(),
        message,
    };
    let chain = crate::security::certificates(&read("--api-tls-cert", cert)?)
        .map_err(|e| bad("--api-tls-cert", cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(bad(
            "--api-tls-cert",
            cert,
            "no certificate in the file".into(),
        ));
    }
    let pem = zeroize::Zeroizing::new(read("--api-tls-key", key)?);
    let key_der = crate::security::private_key(&pem, None)
        .map_err(|e| bad("--api-tls-key", key, e.to_string()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| TlsError::Config(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(chain, key_der)
    .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(Arc::new(config))
}

type Handshake = io::Result<(TlsStream<TcpStream>, SocketAddr)>;

/// A TCP listener whose connections are TLS.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Handshake>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> TlsListener {
        TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(config),
            handshakes: JoinSet::new(),
        }
    }

    fn start_handshake(&mut self, stream: TcpStream, peer: SocketAddr) {
        let acceptor = self.acceptor.clone();
        self.handshakes.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => Ok((tls, peer)),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "TLS handshake timed out",
                )),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let room = self.handshakes.len() < MAX_HANDSHAKES;
            tokio::select! {
                accepted = self.tcp.accept(), if room => match accepted {
                    Ok((stream, peer)) => self.start_handshake(stream, peer),
                    Err(e) => {
                        // Out of descriptors and the like: don't spin.
                        tracing::warn!("accepting an API connection: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(done) = self.handshakes.join_next() => match done {
                    Ok(Ok(connection)) => return connection,
                    Ok(Err(e)) => tracing::debug!("an API connection's TLS handshake failed: {e}"),
                    Err(e) => tracing::warn!("an API TLS handshake task failed: {e}"),
                },
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
