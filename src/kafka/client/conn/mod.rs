//! One connection to one broker: length-prefixed framing, correlation ids, and many
//! requests in flight at once.
//!
//! Requests are encoded with `kafka-protocol`'s types (or by a caller-supplied encoder for
//! versions that crate dropped); responses come back as the undecoded body after the
//! response header, for the decoders in [`crate::kafka::protocol::messages`]. A reader task and a writer
//! task own the two halves of the stream; a response is matched to its request by
//! correlation id. Frames larger than the configured maximum, unknown correlation ids and
//! I/O errors close the connection and fail every pending request with the cause.
//! This layer never retries or reconnects: the cluster layer above decides that.

use crate::kafka::protocol::messages::ClientRequest;
use crate::kafka::protocol::messages::api_versions::{self, ApiVersions};
mod config;
mod error;
pub mod sasl;

use crate::kafka::client::tls::{self, TlsFailure};
use crate::kafka::protocol::Reader;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestHeader};
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::Instrument;

pub use config::ConnectionConfig;
pub use error::ConnError;

type Reply = oneshot::Sender<Result<Bytes, ConnError>>;

/// State the reader and writer tasks share with request senders.
struct Shared {
    pending: HashMap<i32, Reply>,
    /// Set once, when the connection dies; later requests fail with it at once.
    closed: Option<Arc<str>>,
    /// The TLS cause of the death, when there was one (a TLS 1.3 broker refuses our
    /// client certificate only after the handshake, with an alert on the first read).
    tls_failure: Option<TlsFailure>,
}

impl Shared {
    /// Keeps the TLS cause of an I/O error, if it has one and none was kept before.
    fn note_tls_failure(&mut self, e: &std::io::Error, broker: &str) {
        if self.tls_failure.is_none() {
            self.tls_failure = tls::classify(e, tls::host_of(broker));
        }
    }

    /// Closes the connection: every pending request fails with `reason`.
    fn close(&mut self, broker: &Arc<str>, reason: &str) {
        let reason: Arc<str> = self.closed.get_or_insert_with(|| reason.into()).clone();
        for (_, reply) in self.pending.drain() {
            let _ = reply.send(Err(ConnError::Closed {
                broker: broker.clone(),
                reason: reason.clone(),
            }));
        }
    }
}

/// A connection to one broker. Cheap to share by reference; requests may be sent
/// concurrently from many tasks. Dropping it closes the socket.
pub struct Connection {
    broker: Arc<str>,
    config: ConnectionConfig,
    next_correlation: AtomicI32,
    shared: Arc<Mutex<Shared>>,
    frames: mpsc::Sender<Bytes>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
    versions: ApiVersions,
}

impl Connection {
    /// Opens a TCP connection to `broker` (`host:port`), runs the TLS handshake when the
    /// config asks for TLS, negotiates API versions, and authenticates with SASL when the
    /// config has credentials.
    ///
    /// A broker refusing the credentials gets one more connection with newer ones when
    /// the config's [`sasl::SaslSource`] has them (a rotated secret).
    pub async fn connect(broker: &str, config: ConnectionConfig) -> Result<Connection, ConnError> {
        let Some(source) = config.sasl.clone() else {
            return Connection::connect_with(broker, config, None).await;
        };
        let tried = source.current();
        match Connection::connect_with(broker, config.clone(), Some(tried.clone())).await {
            Err(e) if e.reason() == Some(sasl::EVENT_SOURCE_AUTHN_ERROR) => {
                match source.renewed(&tried).await {
                    Some(newer) => Connection::connect_with(broker, config, Some(newer)).await,
                    None => Err(e),
                }
            }
            answer => answer,
        }
    }

    async fn connect_with(
        broker: &str,
        config: ConnectionConfig,
        credentials: Option<Arc<sasl::SaslCredentials>>,
    ) -> Result<Connection, ConnError> {
        let name: Arc<str> = broker.into();
        let stream = tokio::time::timeout(
            config.connect_timeout,
            tokio::net::TcpStream::connect(broker),
        )
        .await
        .map_err(|_| ConnError::ConnectTimeout {
            broker: name.clone(),
            after: config.connect_timeout,
        })?
        .map_err(|e| ConnError::Connect {
            broker: name.clone(),
            source: Arc::new(e),
        })?;
        let _ = stream.set_nodelay(true);
        let mut conn = match config.tls.clone() {
            None => Connection::over(stream, name, config),
            Some(tls) => {
                let stream =
                    tokio::time::timeout(config.connect_timeout, tls.connect(broker, stream))
                        .await
                        .map_err(|_| ConnError::ConnectTimeout {
                            broker: name.clone(),
                            after: config.connect_timeout,
                        })?
                        .map_err(|failure| ConnError::Tls {
                            broker: name.clone(),
                            failure,
                        })?;
                Connection::over(stream, name, config)
            }
        };
        if let Err(e) = conn.negotiate().await {
            return Err(conn.tls_cause().unwrap_or(e));
        }
        if let Some(credentials) = &credentials
            && let Err(e) = sasl::authenticate(&conn, credentials).await
        {
            return Err(conn.tls_cause().unwrap_or_else(|| ConnError::Sasl {
                broker: conn.broker.clone(),
                source: Arc::new(e),
            }));
        }
        Ok(conn)
    }

    /// The TLS failure that closed this connection, as an error, if that is what did.
    fn tls_cause(&self) -> Option<ConnError> {
        let failure = self
            .shared
            .lock()
            .expect("connection state lock")
            .tls_failure
            .clone()?;
        Some(ConnError::Tls {
            broker: self.broker.clone(),
            failure,
        })
    }

    /// Runs the protocol over an established byte stream (TCP, TLS, a test pipe), without
    /// negotiating versions: [`Connection::negotiate`] does that.
    pub fn over<S>(stream: S, broker: Arc<str>, config: ConnectionConfig) -> Connection
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read_half, write_half) = tokio::io::split(stream);
        let shared = Arc::new(Mutex::new(Shared {
            pending: HashMap::new(),
            closed: None,
            tls_failure: None,
        }));
        let (frames, rx) = mpsc::channel(64);
        // In the caller's span: the connection's log lines name the mapping and consumer.
        let reader = tokio::spawn(
            read_loop(
                read_half,
                broker.clone(),
                shared.clone(),
                config.max_response_size,
            )
            .in_current_span(),
        );
        let writer = tokio::spawn(
            write_loop(write_half, rx, broker.clone(), shared.clone()).in_current_span(),
        );
        Connection {
            broker,
            config,
            next_correlation: AtomicI32::new(0),
            shared,
            frames,
            reader,
            writer,
            versions: ApiVersions::default(),
        }
    }

    /// The broker's address as it was given.
    pub fn broker(&self) -> &str {
        &self.broker
    }

    /// The API versions the broker announced (empty before [`Connection::negotiate`]).
    pub fn versions(&self) -> &ApiVersions {
        &self.versions
    }

    /// The highest version of request `R` both sides support, as limited by what our
    /// decoder for its response handles (`ours`).
    pub fn pick_version<R: ClientRequest>(
        &self,
        ours: std::ops::RangeInclusive<i16>,
    ) -> Result<i16, ConnError> {
        let api = R::KEY;
        let lo = (*ours.start()).max(R::VERSIONS.min);
        let hi = (*ours.end()).min(R::VERSIONS.max);
        self.versions
            .pick(R::KEY as i16, lo, hi)
            .ok_or_else(|| ConnError::UnsupportedApi {
                broker: self.broker.clone(),
                api,
            })
    }

    /// ApiVersions: asks the broker which versions it supports, starting at the newest we
    /// speak and falling back to the version the broker says it has (brokers answer an
    /// unsupported ApiVersions request with their list in the v0 format).
    pub async fn negotiate(&mut self) -> Result<(), ConnError> {
        let mut version = api_versions::MAX_VERSION;
        for _ in 0..3 {
            let request = ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("kafka-esm"))
                .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
            let body = self.request(&request, version).await?;
            let decoded =
                api_versions::decode(body, version).map_err(|source| ConnError::Decode {
                    broker: self.broker.clone(),
                    api: ApiKey::ApiVersions,
                    version,
                    source,
                })?;
            match decoded {
                api_versions::Outcome::Supported(mut versions) => {
                    for (api, max) in &self.config.version_caps {
                        versions.cap(*api as i16, *max);
                    }
                    self.versions = versions;
                    return Ok(());
                }
                api_versions::Outcome::Retry { version: v } if v < version => version = v,
                api_versions::Outcome::Retry { .. } => break,
                api_versions::Outcome::Refused { error_code } => {
                    return Err(ConnError::ErrorCode {
                        broker: self.broker.clone(),
                        api: ApiKey::ApiVersions,
                        error_code,
                    });
                }
            }
        }
        Err(ConnError::UnsupportedApi {
            broker: self.broker.clone(),
            api: ApiKey::ApiVersions,
        })
    }

    /// Sends `request` at `version` and returns the response body after the response
    /// header.
    pub async fn request<R: ClientRequest>(
        &self,
        request: &R,
        version: i16,
    ) -> Result<Bytes, ConnError> {
        self.request_within(request, version, self.config.request_timeout)
            .await
    }

    /// [`Connection::request`] with its own timeout (JoinGroup waits for a whole
    /// rebalance, longer than any ordinary request).
    pub async fn request_within<R: ClientRequest>(
        &self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<Bytes, ConnError> {
        self.send(
            R::KEY,
            version,
            (
                R::header_version(version),
                R::Response::header_version(version),
            ),
            timeout,
            |buf| request.encode(buf, version).map_err(|e| e.to_string()),
        )
        .await
    }

    /// Sends a request whose body `encode` writes (for versions `kafka-protocol` doesn't
    /// encode), with the given request and response header versions.
    pub async fn request_with(
        &self,
        api: ApiKey,
        version: i16,
        request_header_version: i16,
        response_header_version: i16,
        encode: impl FnOnce(&mut BytesMut) -> Result<(), String>,
    ) -> Result<Bytes, ConnError> {
        let headers = (request_header_version, response_header_version);
        self.send(api, version, headers, self.config.request_timeout, encode)
            .await
    }

    async fn send(
        &self,
        api: ApiKey,
        version: i16,
        (request_header_version, response_header_version): (i16, i16),
        timeout: Duration,
        encode: impl FnOnce(&mut BytesMut) -> Result<(), String>,
    ) -> Result<Bytes, ConnError> {
        let correlation = self.next_correlation.fetch_add(1, Ordering::Relaxed) & i32::MAX;
        let encode_err = |reason: String| ConnError::Encode {
            api,
            version,
            reason,
        };
        let mut buf = BytesMut::with_capacity(64);
        buf.put_i32(0);
        RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some(StrBytes::from_string(self.config.client_id.clone())))
            .encode(&mut buf, request_header_version)
            .map_err(|e| encode_err(e.to_string()))?;
        encode(&mut buf).map_err(encode_err)?;
        let size =
            i32::try_from(buf.len() - 4).map_err(|_| encode_err("request over 2 GiB".into()))?;
        buf[..4].copy_from_slice(&size.to_be_bytes());

        let (tx, rx) = oneshot::channel();
        {
            let mut shared = self.shared.lock().expect("connection state lock");
            if let Some(reason) = &shared.closed {
                return Err(ConnError::Closed {
                    broker: self.broker.clone(),
                    reason: reason.clone(),
                });
            }
            shared.pending.insert(correlation, tx);
        }
        if self.frames.send(buf.freeze()).await.is_err() {
            return Err(self.closed_error());
        }
        let frame = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result?,
            Ok(Err(_)) => return Err(self.closed_error()),
            Err(_) => {
                // The response may still come; the connection's order is now unknown to
                // the caller, so it is closed, as the Java client does.
                let after = timeout;
                self.shared.lock().expect("connection state lock").close(
                    &self.broker,
                    &format!("{api:?} v{version} timed out after {after:?}"),
                );
                return Err(ConnError::Timeout {
                    broker: self.broker.clone(),
                    api,
                    version,
                    after,
                });
            }
        };
        let mut reader = Reader::new(frame);
        if response_header_version >= 1 {
            reader
                .skip_tagged_fields("response header tagged fields")
                .map_err(|source| ConnError::Decode {
                    broker: self.broker.clone(),
                    api,
                    version,
                    source,
                })?;
        }
        Ok(reader.read_rest())
    }

    fn closed_error(&self) -> ConnError {
        let reason = self
            .shared
            .lock()
            .expect("connection state lock")
            .closed
            .clone()
            .unwrap_or_else(|| "closed".into());
        ConnError::Closed {
            broker: self.broker.clone(),
            reason,
        }
    }

    /// Whether the connection has died (a new one is needed).
    pub fn is_closed(&self) -> bool {
        self.shared
            .lock()
            .expect("connection state lock")
            .closed
            .is_some()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
        self.shared
            .lock()
            .expect("connection state lock")
            .close(&self.broker, "connection dropped");
    }
}

async fn write_loop<W: AsyncWrite>(
    write_half: W,
    mut frames: mpsc::Receiver<Bytes>,
    broker: Arc<str>,
    shared: Arc<Mutex<Shared>>,
) {
    tokio::pin!(write_half);
    while let Some(frame) = frames.recv().await {
        if let Err(e) = write_half.write_all(&frame).await {
            let mut shared = shared.lock().expect("connection state lock");
            shared.note_tls_failure(&e, &broker);
            shared.close(&broker, &format!("write failed: {e}"));
            return;
        }
    }
    let _ = write_half.shutdown().await;
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut read_half: R,
    broker: Arc<str>,
    shared: Arc<Mutex<Shared>>,
    max_frame: usize,
) {
    let reason = loop {
        let size = match read_half.read_i32().await {
            Ok(size) => size,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break "the broker closed it".to_string();
            }
            Err(e) => {
                shared
                    .lock()
                    .expect("connection state lock")
                    .note_tls_failure(&e, &broker);
                break format!("read failed: {e}");
            }
        };
        let size = match usize::try_from(size) {
            Ok(s) if (4..=max_frame).contains(&s) => s,
            _ => break format!("response frame of {size} bytes (must be 4..={max_frame})"),
        };
        // Grow with the bytes that actually arrive, not with the size the peer claims.
        let mut frame = BytesMut::with_capacity(size.min(64 * 1024));
        let mut failed = None;
        while frame.len() < size {
            let want = (size - frame.len()).min(1024 * 1024);
            frame.reserve(want);
            let mut limited = (&mut read_half).take(want as u64);
            match limited.read_buf(&mut frame).await {
                Ok(0) => {
                    failed = Some("the broker closed it mid-response".to_string());
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    shared
                        .lock()
                        .expect("connection state lock")
                        .note_tls_failure(&e, &broker);
                    failed = Some(format!("read failed: {e}"));
                    break;
                }
            }
        }
        if let Some(reason) = failed {
            break reason;
        }
        let mut frame = frame.freeze();
        let correlation = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let body = frame.split_off(4);
        let reply = shared
            .lock()
            .expect("connection state lock")
            .pending
            .remove(&correlation);
        match reply {
            Some(reply) => {
                let _ = reply.send(Ok(body));
            }
            None => {
                break format!("response with correlation id {correlation}, which no request has");
            }
        }
    };
    shared
        .lock()
        .expect("connection state lock")
        .close(&broker, &reason);
}

#[cfg(test)]
mod tests;
