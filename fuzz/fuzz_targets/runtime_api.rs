//! Fuzz the Lambda Runtime API server with whatever a local handler process could send
//! on its connection: the bytes are written, as they are, into an in-memory pipe served by
//! the real server (hyper's HTTP/1.1 parser, our routing, body limits and the
//! invocation state), with one invocation in progress. Whatever the bytes, the server
//! answers with HTTP responses or closes the connection, the invocation gets at most one
//! answer, and nothing panics or hangs: the runtime's clock is paused, so a request that
//! waits (a second `next` long-poll) ends at a virtual timeout at once. The routing
//! function is also called directly on the first line's method and path.
//!
//! Byte 0: bit 0 says whether an invocation is in progress; the rest is the stream.
//! Memory: at most 8 × input + 512 KiB at peak (the input, hyper's read buffer and the
//! collected bodies, and the runtime), and nothing leaked.

#![no_main]

use std::sync::Once;
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use kafka_esm::invoke::local::api::{
    Answer, Event, MAX_PAYLOAD, Route, Shared, route, serve_connection,
};
use kafka_esm_fuzz::{KIB, check};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

fuzz_target!(|data: &[u8]| {
    // The first run initializes tokio's thread-local context, which lives on.
    static WARM: Once = Once::new();
    WARM.call_once(|| run(b"\x01GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n\r\n"));
    let bound = 8 * data.len() + 512 * KIB;
    check(data.len(), bound, "8 × input + 512 KiB", || run(data));
});

fn run(data: &[u8]) {
    let Some((&flags, stream)) = data.split_first() else {
        return;
    };
    route_first_line(stream);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    rt.block_on(async {
        let shared = Shared::new("arn:aws:lambda:us-east-1:123456789012:function:f".into());
        let mut answer = (flags & 1 != 0).then(|| {
            shared.submit(Event {
                id: ID.into(),
                payload: Bytes::from_static(br#"{"eventSource":"SelfManagedKafka"}"#),
                deadline_ms: 1_700_000_000_000,
                trace_id: "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700".into(),
            })
        });
        let (client, server) = tokio::io::duplex(16 * KIB);
        // The handler's side: write everything while reading replies until the server
        // has been idle for a (virtual) second, then hang up. (hyper stops serving at the
        // end of the stream, so the stream is not shut down first.)
        let handler = async move {
            let (mut from_server, mut to_server) = tokio::io::split(client);
            let write = async {
                let _ = to_server.write_all(stream).await;
            };
            let read = async {
                let mut replies = Vec::new();
                let mut buf = [0; 4096];
                while let Ok(Ok(n @ 1..)) =
                    tokio::time::timeout(Duration::from_secs(1), from_server.read(&mut buf)).await
                {
                    replies.extend_from_slice(&buf[..n]);
                }
                replies
            };
            tokio::join!(write, read).1
        };
        let exchange = async { tokio::join!(serve_connection(server, shared), handler).1 };
        if let Ok(replies) = tokio::time::timeout(Duration::from_secs(60), exchange).await {
            assert!(
                replies.is_empty()
                    || replies.starts_with(b"HTTP/1.1 ")
                    || replies.starts_with(b"HTTP/1.0 "),
                "not an HTTP response: {:?}",
                String::from_utf8_lossy(&replies[..replies.len().min(64)])
            );
        }
        if let Some(rx) = answer.as_mut()
            && let Ok(a) = rx.try_recv()
        {
            match a {
                Answer::Response(body) => assert!(body.len() <= MAX_PAYLOAD),
                Answer::Error { body, .. } | Answer::InitError { body, .. } => {
                    assert!(body.len() <= MAX_PAYLOAD)
                }
                Answer::ResponseTooLarge => {}
            }
        }
    });
}

/// The request line's method and target, through the pure router.
fn route_first_line(stream: &[u8]) {
    let line = stream.split(|b| *b == b'\n').next().unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return;
    };
    let Ok(method) = Method::from_bytes(method) else {
        return;
    };
    let path = String::from_utf8_lossy(target);
    let path = path.split('?').next().unwrap_or_default();
    match route(&method, path) {
        Ok(Route::Response { id } | Route::Error { id }) => {
            // An id is one path segment.
            assert!(path.starts_with("/2018-06-01/runtime/invocation/"));
            assert!(!id.contains('/'));
        }
        Ok(_) => assert!(path.starts_with("/2018-06-01/runtime/")),
        Err(_) => {}
    }
}
