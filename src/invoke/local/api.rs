//! The Lambda Runtime API 2018-06-01, served on loopback to one handler process.
//!
//! A hyper 1 HTTP/1.1 server (hyper is already in the tree through the AWS SDK's HTTP
//! client; a hand-written parser would be more code to get right). One server lives as
//! long as one handler process: when the process is killed or exits, the server and every
//! connection it holds are aborted with it, so a long-poll left behind by a dead process
//! can never take the next process's event.
//!
//! Routes: `GET invocation/next` (long-poll), `POST invocation/{id}/response`,
//! `POST invocation/{id}/error`, `POST init/error`. Bodies are capped at
//! [`MAX_PAYLOAD`]; anything else gets a clear 4xx with Lambda's error object. Nothing
//! the process sends can panic the server.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;

/// Lambda's synchronous payload limit, for events, responses and error objects: 6 MB.
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

const PREFIX: &str = "/2018-06-01/runtime/";
const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";

/// One invocation handed to the process.
#[derive(Clone, Debug)]
pub(crate) struct Event {
    pub id: String,
    pub payload: Bytes,
    pub deadline_ms: u64,
    pub trace_id: String,
}

/// What the process said about the current invocation (or its initialization).
#[derive(Debug)]
pub(crate) enum Answer {
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
pub(crate) struct Shared {
    current: Mutex<Option<Current>>,
    ready: Notify,
    function_arn: String,
}

impl Shared {
    pub fn new(function_arn: String) -> Arc<Shared> {
        Arc::new(Shared {
            current: Mutex::new(None),
            ready: Notify::new(),
            function_arn,
        })
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
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let shared = shared.clone();
                    connections.spawn(async move {
                        let service = service_fn(move |req| handle(shared.clone(), req));
                        if let Err(e) = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                        {
                            tracing::debug!("runtime API connection ended: {e}");
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!("runtime API accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

type Reply = Response<Full<Bytes>>;

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Reply, Infallible> {
    let path = req.uri().path().to_owned();
    let Some(route) = path.strip_prefix(PREFIX) else {
        return Ok(error(StatusCode::NOT_FOUND, "NotFound", "no such route"));
    };
    let is_get = req.method() == Method::GET;
    let is_post = req.method() == Method::POST;
    if route == "invocation/next" {
        if !is_get {
            return Ok(not_allowed());
        }
        return Ok(next(&shared).await);
    }
    if route == "init/error" {
        if !is_post {
            return Ok(not_allowed());
        }
        let error_type = error_type(&req);
        let body = match read_body(req.into_body()).await {
            Ok(body) => body,
            Err(reply) => return Ok(reply),
        };
        shared.init_failed(Answer::InitError { body, error_type });
        return Ok(accepted());
    }
    let Some((id, action)) = route
        .strip_prefix("invocation/")
        .and_then(|r| r.split_once('/'))
    else {
        return Ok(error(StatusCode::NOT_FOUND, "NotFound", "no such route"));
    };
    if action != "response" && action != "error" {
        return Ok(error(StatusCode::NOT_FOUND, "NotFound", "no such route"));
    }
    if !is_post {
        return Ok(not_allowed());
    }
    let error_type = error_type(&req);
    let answer = match (read_body(req.into_body()).await, action) {
        (Ok(body), "response") => Answer::Response(body),
        (Ok(body), _) => Answer::Error { body, error_type },
        (Err(reply), "response") if reply.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            shared.complete(id, Answer::ResponseTooLarge);
            return Ok(reply);
        }
        (Err(reply), _) => return Ok(reply),
    };
    if shared.complete(id, answer) {
        Ok(accepted())
    } else {
        Ok(error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "no invocation in progress has this request id",
        ))
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
    let mut reply = Response::new(Full::new(event.payload));
    let headers = reply.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
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

fn json_reply(status: StatusCode, body: Bytes) -> Reply {
    let mut reply = Response::new(Full::new(body));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    reply
}
