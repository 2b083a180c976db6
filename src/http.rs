//! The one HTTP/1.1 server loop behind kafka-esm's three loopback endpoints: the Lambda
//! Runtime API a local handler polls, the Lambda Invoke API, and the Prometheus metrics
//! endpoint. Each brings only its request handler; accepting, spawning one task per
//! connection, and dropping every connection when the server is dropped live here, with
//! the reply builders they share ([`reply`], [`json_reply`]).

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::Instrument;

/// A complete reply: every endpoint builds its body in memory.
pub(crate) type Reply = Response<Full<Bytes>>;

/// A reply of `status` whose body is `body`, of type `content_type`.
pub(crate) fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Reply {
    let mut reply = Response::new(Full::new(body));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    reply
}

/// A reply of `status` whose body is the JSON `body`.
pub(crate) fn json_reply(status: StatusCode, body: Bytes) -> Reply {
    reply(status, "application/json", body)
}

/// Accepts connections until the future is dropped (or its task aborted), serving each on
/// its own task with a clone of `handler`. Dropping the future drops the connections too,
/// and so any request they were waiting on. `endpoint` names the server in log lines.
pub(crate) async fn serve<H, F>(listener: TcpListener, endpoint: &'static str, handler: H)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let admit_all = |_| std::future::ready(true);
    serve_admitting(listener, endpoint, admit_all, unreachable_reply, handler).await
}

/// Never called: [`serve`] admits every connection.
fn unreachable_reply() -> Reply {
    Response::new(Full::new(Bytes::new()))
}

/// [`serve`], where each connection is first shown to `admit` with its peer's address: a
/// connection it refuses never reaches `handler`, and gets `refused()` to every request.
pub(crate) async fn serve_admitting<A, AF, H, F>(
    listener: TcpListener,
    endpoint: &'static str,
    admit: A,
    refused: fn() -> Reply,
    handler: H,
) where
    A: Fn(SocketAddr) -> AF + Clone + Send + Sync + 'static,
    AF: Future<Output = bool> + Send + 'static,
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let (admit, handler) = (admit.clone(), handler.clone());
                    let connection = async move {
                        if admit(peer).await {
                            serve_connection(stream, endpoint, handler).await;
                        } else {
                            tracing::warn!("{endpoint}: refused a connection from {peer}");
                            let refuse = move |_| std::future::ready(refused());
                            serve_connection(stream, endpoint, refuse).await;
                        }
                    };
                    connections.spawn(connection.in_current_span());
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!("{endpoint}: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Serves one connection (a socket, or any byte stream: the fuzz targets use an in-memory
/// pipe) until the client closes it or it fails.
pub(crate) async fn serve_connection<I, H, F>(io: I, endpoint: &'static str, handler: H)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let service = service_fn(move |req| {
        let reply = handler(req);
        async move { Ok::<_, Infallible>(reply.await) }
    });
    if let Err(e) = http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await
    {
        tracing::debug!("{endpoint}: connection ended: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo_path(req: Request<Incoming>) -> Reply {
        let path = req.uri().path().to_owned();
        let body = req.into_body().collect().await.unwrap().to_bytes();
        Response::new(Full::new(Bytes::from(format!("{path} {}", body.len()))))
    }

    #[tokio::test]
    async fn serves_requests_on_each_connection_until_dropped() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, "test", echo_path));
        for path in ["/a", "/b/c"] {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(
                    format!("POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc")
                        .as_bytes(),
                )
                .await
                .unwrap();
            let mut reply = String::new();
            stream.read_to_string(&mut reply).await.unwrap();
            assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
            assert!(reply.ends_with(&format!("\r\n\r\n{path} 3")), "{reply}");
        }
        // An open connection is closed when the server goes away.
        let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET /x HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        idle.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        server.abort();
        let _ = server.await;
        let mut rest = Vec::new();
        // Reads the rest of the first reply, then end of stream: the connection was dropped.
        idle.read_to_end(&mut rest).await.unwrap();
        assert!(String::from_utf8_lossy(&rest).ends_with("/x 0"));
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}
