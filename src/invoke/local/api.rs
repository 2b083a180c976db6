//! The Lambda Runtime API 2018-06-01, served on loopback to one handler process.
//!
//! A hyper 1 HTTP/1.1 server (hyper is already in the tree through the AWS SDK's HTTP
//! client; a hand-written parser would be more code to get right). One server lives as
//! long as one handler process: when the process is killed or exits, the server and every
//! connection it holds are aborted with it, so a long-poll left behind by a dead process
//! can never take the next process's event.
//!
//! Only the handler may call it: a connection is served when the socket at its other end
//! belongs to the handler's process group, and gets 403 `AccessDeniedException` to
//! every request otherwise, never touching an invocation ([`super::peer`]).
//!
//! Routes: `GET invocation/next` (long-poll), `POST invocation/{id}/response`,
//! `POST invocation/{id}/error`, `POST init/error`. Bodies are capped at
//! [`MAX_PAYLOAD`]; anything else gets a clear 4xx with Lambda's error object. Nothing
//! the process sends can panic the server.
//!
//! Routing is a pure function ([`route`]) and a connection can be any byte stream
//! ([`serve_connection`]), so the fuzz target drives the whole server over an in-memory
//! pipe, with no sockets.

use crate::http::{Reply, json_reply};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, StatusCode};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot, watch};

/// Lambda's synchronous payload limit, for events, responses and error objects: 6 MB.
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

const PREFIX: &str = "/2018-06-01/runtime/";
const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";

/// One invocation handed to the process.
#[derive(Clone, Debug)]
pub struct Event {
    pub id: String,
    pub payload: Bytes,
    pub deadline_ms: u64,
    pub trace_id: String,
}

/// What the process said about the current invocation (or its initialization).
#[derive(Debug)]
pub enum Answer {
    Response(Bytes),
    Error {
        body: Bytes,
        error_type: Option<String>,
    },
    InitError {
        body: Bytes,
        error_type: Option<String>,
    },
    /// The response was over [`MAX_PAYLOAD`].
    ResponseTooLarge,
}

struct Current {
    event: Event,
    taken: bool,
    reply: Option<oneshot::Sender<Answer>>,
}

/// The state the invoker and the server share: at most one invocation at a time.
pub struct Shared {
    current: Mutex<Option<Current>>,
    ready: Notify,
    function_arn: String,
    /// The handler's pid, which leads its process group, once it is started.
    handler: watch::Sender<Option<u32>>,
}

impl Shared {
    pub fn new(function_arn: String) -> Arc<Shared> {
        Arc::new(Shared {
            current: Mutex::new(None),
            ready: Notify::new(),
            function_arn,
            handler: watch::Sender::new(None),
        })
    }

    /// Serves the process `pid` (a process group's leader) and its group, and no other.
    pub fn serve_handler(&self, pid: u32) {
        self.handler.send_replace(Some(pid));
    }

    /// Whether the connection from `peer` to `server` comes from the handler's process
    /// group; waits for the handler to be started.
    async fn admits(&self, peer: SocketAddr, server: SocketAddr) -> bool {
        let mut handler = self.handler.subscribe();
        let Ok(group) = handler.wait_for(Option::is_some).await.map(|pid| *pid) else {
            return false;
        };
        let Some(group) = group else { return false };
        tokio::task::spawn_blocking(move || super::peer::held_by_group(peer, server, group))
            .await
            .unwrap_or(false)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Current>> {
        // No code path panics while holding it; a poisoned lock still holds valid state.
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Offers `event` to the process's next long-poll; the receiver gets its answer.
    pub fn submit(&self, event: Event) -> oneshot::Receiver<Answer> {
        let (tx, rx) = oneshot::channel();
        *self.lock() = Some(Current {
            event,
            taken: false,
            reply: Some(tx),
        });
        self.ready.notify_one();
        rx
    }

    fn take_next(&self) -> Option<Event> {
        let mut current = self.lock();
        match current.as_mut() {
            Some(c) if !c.taken => {
                c.taken = true;
                Some(c.event.clone())
            }
            _ => None,
        }
    }

    /// Answers invocation `id`, if it is the one the process holds.
    fn complete(&self, id: &str, answer: Answer) -> bool {
        let mut current = self.lock();
        match current.as_mut() {
            Some(c) if c.taken && c.event.id == id => {
                if let Some(reply) = c.reply.take() {
                    let _ = reply.send(answer);
                }
                *current = None;
                true
            }
            _ => false,
        }
    }

    /// An initialization error fails whatever invocation is waiting.
    fn init_failed(&self, answer: Answer) {
        let mut current = self.lock();
        if let Some(reply) = current.as_mut().and_then(|c| c.reply.take()) {
            let _ = reply.send(answer);
        }
        *current = None;
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("function_arn", &self.function_arn)
            .finish_non_exhaustive()
    }
}

/// Accepts connections until aborted; aborting drops (and so aborts) every connection.
/// Only the handler's are served (see [`Shared::serve_handler`]).
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let Ok(server) = listener.local_addr() else {
        return;
    };
    let admitting = shared.clone();
    let admit = move |peer| {
        let shared = admitting.clone();
        async move { shared.admits(peer, server).await }
    };
    crate::http::serve_admitting(listener, "runtime API", admit, forbidden, move |req| {
        handle(shared.clone(), req)
    })
    .await
}

fn forbidden() -> Reply {
    error(
        StatusCode::FORBIDDEN,
        "AccessDeniedException",
        "only the function's own processes may call its Runtime API",
    )
}

/// Serves one connection (a socket, or any byte stream: the fuzz target uses an in-memory
/// pipe) until the handler closes it or it fails.
pub async fn serve_connection<I>(io: I, shared: Arc<Shared>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    crate::http::serve_connection(io, "runtime API", move |req| handle(shared.clone(), req)).await
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Reply {
    let path = req.uri().path().to_owned();
    let route = match route(req.method(), &path) {
        Ok(route) => route,
        Err(refused) => return refused.reply(),
    };
    let error_type = error_type(&req);
    match route {
        Route::Next => next(&shared).await,
        Route::InitError => {
            let body = match read_body(req.into_body()).await {
                Ok(body) => body,
                Err(reply) => return reply,
            };
            shared.init_failed(Answer::InitError { body, error_type });
            accepted()
        }
        Route::Response { id } | Route::Error { id } => {
            let is_response = matches!(route, Route::Response { .. });
            let answer = match read_body(req.into_body()).await {
                Ok(body) if is_response => Answer::Response(body),
                Ok(body) => Answer::Error { body, error_type },
                Err(reply) if is_response && reply.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    shared.complete(id, Answer::ResponseTooLarge);
                    return reply;
                }
                Err(reply) => return reply,
            };
            if shared.complete(id, answer) {
                accepted()
            } else {
                error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestID",
                    "no invocation in progress has this request id",
                )
            }
        }
    }
}

/// What a request from the handler asks for, by its method and path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET invocation/next`.
    Next,
    /// `POST init/error`.
    InitError,
    /// `POST invocation/{id}/response`.
    Response { id: &'a str },
    /// `POST invocation/{id}/error`.
    Error { id: &'a str },
}

/// Why a request has no route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// 404: not a Runtime API path.
    NotFound,
    /// 405: a Runtime API path, with the wrong method.
    MethodNotAllowed,
}

impl Refused {
    /// The status code the handler gets.
    pub fn status(self) -> StatusCode {
        match self {
            Refused::NotFound => StatusCode::NOT_FOUND,
            Refused::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    fn reply(self) -> Reply {
        match self {
            Refused::NotFound => error(self.status(), "NotFound", "no such route"),
            Refused::MethodNotAllowed => not_allowed(),
        }
    }
}

/// Routes a request by its method and path (the path alone: the query is not part of
/// it). Pure, so the routing can be tested and fuzzed without a connection. The request
/// id is whatever the path holds between `invocation/` and the last segment, checked
/// later against the invocation in progress.
pub fn route<'a>(method: &Method, path: &'a str) -> Result<Route<'a>, Refused> {
    let route = path.strip_prefix(PREFIX).ok_or(Refused::NotFound)?;
    let want = |m: Method, r: Route<'a>| {
        if *method == m {
            Ok(r)
        } else {
            Err(Refused::MethodNotAllowed)
        }
    };
    match route {
        "invocation/next" => want(Method::GET, Route::Next),
        "init/error" => want(Method::POST, Route::InitError),
        _ => match route
            .strip_prefix("invocation/")
            .and_then(|r| r.split_once('/'))
        {
            Some((id, "response")) => want(Method::POST, Route::Response { id }),
            Some((id, "error")) => want(Method::POST, Route::Error { id }),
            _ => Err(Refused::NotFound),
        },
    }
}

async fn next(shared: &Shared) -> Reply {
    loop {
        if let Some(event) = shared.take_next() {
            return event_reply(event, &shared.function_arn);
        }
        // notify_one keeps a permit when nobody waits: a submit between the check and
        // this await is not lost.
        shared.ready.notified().await;
    }
}

fn event_reply(event: Event, function_arn: &str) -> Reply {
    let mut reply = json_reply(StatusCode::OK, event.payload);
    let headers = reply.headers_mut();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", event.id.as_str()),
        ("lambda-runtime-deadline-ms", &event.deadline_ms.to_string()),
        ("lambda-runtime-invoked-function-arn", function_arn),
        ("lambda-runtime-trace-id", &event.trace_id),
    ] {
        // Our own values, all ASCII; one that isn't is left out rather than panicking.
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    reply
}

fn error_type(req: &Request<Incoming>) -> Option<String> {
    req.headers()
        .get(ERROR_TYPE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn read_body(body: Incoming) -> Result<Bytes, Reply> {
    match Limited::new(body, MAX_PAYLOAD).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            "the body is over the 6 MB limit",
        )),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            &format!("could not read the body: {e}"),
        )),
    }
}

fn accepted() -> Reply {
    json_reply(
        StatusCode::ACCEPTED,
        Bytes::from_static(br#"{"status":"OK"}"#),
    )
}

fn not_allowed() -> Reply {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "wrong method for this route",
    )
}

fn error(status: StatusCode, error_type: &str, message: &str) -> Reply {
    let body = serde_json::json!({"errorMessage": message, "errorType": error_type});
    json_reply(status, Bytes::from(body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "/2018-06-01/runtime/invocation/8476a536/";

    #[test]
    fn routes_every_runtime_api_call() {
        let path = |tail: &str| format!("{PREFIX}{tail}");
        assert_eq!(
            route(&Method::GET, &path("invocation/next")),
            Ok(Route::Next)
        );
        assert_eq!(
            route(&Method::POST, &path("init/error")),
            Ok(Route::InitError)
        );
        assert_eq!(
            route(&Method::POST, &format!("{ID}response")),
            Ok(Route::Response { id: "8476a536" })
        );
        assert_eq!(
            route(&Method::POST, &format!("{ID}error")),
            Ok(Route::Error { id: "8476a536" })
        );
    }

    #[test]
    fn refuses_wrong_methods_and_unknown_paths() {
        let next = format!("{PREFIX}invocation/next");
        assert_eq!(route(&Method::POST, &next), Err(Refused::MethodNotAllowed));
        assert_eq!(
            route(&Method::GET, &format!("{ID}response")),
            Err(Refused::MethodNotAllowed)
        );
        for path in [
            "/",
            "/2018-06-01/runtime",
            "/2018-06-01/runtime/invocation/",
            "/2018-06-01/runtime/invocation/8476a536",
            "/2018-06-01/runtime/invocation/8476a536/respond",
            "/2018-06-01/runtime/init/errors",
            "/2018-06-02/runtime/invocation/next",
        ] {
            assert_eq!(route(&Method::POST, path), Err(Refused::NotFound), "{path}");
        }
        assert_eq!(Refused::NotFound.status(), StatusCode::NOT_FOUND);
    }

    /// A whole exchange over an in-memory pipe: the event goes out on `next`, the
    /// response comes back to the submitter, and a second response for the same id is
    /// refused.
    #[tokio::test]
    async fn serves_a_connection_over_any_stream() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let shared = Shared::new("arn:aws:lambda:us-east-1:123456789012:function:f".into());
        let answer = shared.submit(Event {
            id: "8476a536".into(),
            payload: Bytes::from_static(b"{}"),
            deadline_ms: 1,
            trace_id: "t".into(),
        });
        let (mut client, server) = tokio::io::duplex(64 << 10);
        let served = tokio::spawn(serve_connection(server, shared));
        let post = |tail: &str| {
            format!("POST {ID}{tail} HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nok")
        };
        let requests = format!(
            "GET {PREFIX}invocation/next HTTP/1.1\r\nhost: x\r\n\r\n{}{}",
            post("response"),
            post("response")
        );
        client.write_all(requests.as_bytes()).await.unwrap();
        // hyper stops at the end of the stream: keep it open until every reply is in.
        let mut replies = String::new();
        while replies.matches("HTTP/1.1 ").count() < 3 || !replies.ends_with('}') {
            let mut buf = [0; 4096];
            let n = client.read(&mut buf).await.unwrap();
            assert_ne!(n, 0, "the server closed early: {replies}");
            replies.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        }
        drop(client);
        served.await.unwrap();
        // Bodies don't end in a newline: a status line may follow one on the same line.
        let statuses: Vec<&str> = replies
            .match_indices("HTTP/1.1 ")
            .filter_map(|(at, _)| replies[at..].lines().next())
            .collect();
        assert_eq!(
            statuses,
            [
                "HTTP/1.1 200 OK",
                "HTTP/1.1 202 Accepted",
                "HTTP/1.1 400 Bad Request"
            ]
        );
        assert!(replies.contains("lambda-runtime-aws-request-id: 8476a536"));
        assert!(replies.contains("InvalidRequestID"));
        match answer.await.unwrap() {
            Answer::Response(body) => assert_eq!(&body[..], b"ok"),
            other => panic!("{other:?}"),
        }
    }
}
