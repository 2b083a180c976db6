//! A scriptable Lambda Invoke endpoint on loopback.
//!
//! It speaks the Lambda Invoke REST API (`POST /2015-03-31/functions/{name}/invocations`)
//! as aws-sdk-lambda sees it: payload in the body, `X-Amz-Function-Error` on a 200 for
//! function errors, and service errors as a status code with `x-amzn-ErrorType` and a
//! JSON body. Each request is recorded and answered by the next [`Reply`] of the script
//! (or the default reply once the script is used up). Tests await requests with
//! [`InvokeServer::next_request`] rather than sleeping.
//!
//! This stands in for AWS Lambda only; it never replaces the broker or moto.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// `X-Amz-Function-Error`'s two values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunctionErrorKind {
    Handled,
    Unhandled,
}

/// How the endpoint answers one invocation.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with this payload.
    Success(Bytes),
    /// 200 with `X-Amz-Function-Error` and an error payload.
    FunctionError {
        kind: FunctionErrorKind,
        body: Bytes,
    },
    /// 429 `TooManyRequestsException` (reserved concurrency exhausted).
    Throttled,
    /// Any service error: status, `x-amzn-ErrorType`, message.
    Error {
        status: u16,
        error_type: String,
        message: String,
    },
    /// Waits, then answers (a slow function).
    Delayed(Duration, Box<Reply>),
}

impl Reply {
    /// 200 with a JSON payload.
    pub fn json(value: serde_json::Value) -> Reply {
        Reply::Success(Bytes::from(value.to_string()))
    }

    /// An unhandled function error as a Lambda runtime reports it.
    pub fn unhandled(error_type: &str, message: &str) -> Reply {
        Reply::FunctionError {
            kind: FunctionErrorKind::Unhandled,
            body: Bytes::from(
                serde_json::json!({"errorType": error_type, "errorMessage": message}).to_string(),
            ),
        }
    }

    /// A handled function error (the function returned an error object).
    pub fn handled(error_type: &str, message: &str) -> Reply {
        Reply::FunctionError {
            kind: FunctionErrorKind::Handled,
            body: Bytes::from(
                serde_json::json!({"errorType": error_type, "errorMessage": message}).to_string(),
            ),
        }
    }

    /// 413 `RequestTooLargeException`.
    pub fn too_large() -> Reply {
        Reply::error(
            413,
            "RequestTooLargeException",
            "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
        )
    }

    /// 404 `ResourceNotFoundException`.
    pub fn not_found() -> Reply {
        Reply::error(404, "ResourceNotFoundException", "Function not found")
    }

    /// 500 `ServiceException`.
    pub fn service_error() -> Reply {
        Reply::error(500, "ServiceException", "internal failure")
    }

    pub fn error(status: u16, error_type: &str, message: &str) -> Reply {
        Reply::Error {
            status,
            error_type: error_type.into(),
            message: message.into(),
        }
    }

    pub fn delayed(by: Duration, reply: Reply) -> Reply {
        Reply::Delayed(by, Box::new(reply))
    }
}

/// One recorded invocation.
#[derive(Clone, Debug)]
pub struct InvokeRequest {
    /// `{FunctionName}` from the path, percent-decoded.
    pub function: String,
    pub qualifier: Option<String>,
    /// `X-Amz-Invocation-Type` (absent means `RequestResponse`).
    pub invocation_type: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

struct State {
    script: VecDeque<Reply>,
    default: Reply,
    log: Vec<InvokeRequest>,
    tx: mpsc::UnboundedSender<InvokeRequest>,
    configuration: Option<Reply>,
}

/// The endpoint; stops when dropped.
pub struct InvokeServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    rx: mpsc::UnboundedReceiver<InvokeRequest>,
    task: JoinHandle<()>,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn respond(status: u16, headers: &[(&str, &str)], body: Bytes) -> Response<Full<Bytes>> {
    let mut b = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .header("x-amzn-requestid", crate::unique_name("req"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(body))
        .expect("static response parts are valid")
}

fn error_response(status: u16, error_type: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"Type": "User", "message": message}).to_string();
    respond(
        status,
        &[("x-amzn-errortype", error_type)],
        Bytes::from(body),
    )
}

async fn answer(reply: Reply) -> Response<Full<Bytes>> {
    let mut reply = reply;
    while let Reply::Delayed(by, inner) = reply {
        tokio::time::sleep(by).await;
        reply = *inner;
    }
    match reply {
        Reply::Success(body) => respond(200, &[("x-amz-executed-version", "$LATEST")], body),
        Reply::FunctionError { kind, body } => {
            let kind = match kind {
                FunctionErrorKind::Handled => "Handled",
                FunctionErrorKind::Unhandled => "Unhandled",
            };
            respond(
                200,
                &[
                    ("x-amz-executed-version", "$LATEST"),
                    ("x-amz-function-error", kind),
                ],
                body,
            )
        }
        Reply::Throttled => {
            let body = serde_json::json!({
                "Type": "User",
                "message": "Rate Exceeded.",
                "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"
            })
            .to_string();
            respond(
                429,
                &[
                    ("x-amzn-errortype", "TooManyRequestsException"),
                    ("retry-after", "1"),
                ],
                Bytes::from(body),
            )
        }
        Reply::Error {
            status,
            error_type,
            message,
        } => error_response(status, &error_type, &message),
        Reply::Delayed(..) => unreachable!("delays were unwrapped above"),
    }
}

async fn handle(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    // GetFunctionConfiguration, which a mapping asks once at start.
    if let Some(name) = path
        .strip_prefix("/2015-03-31/functions/")
        .and_then(|rest| rest.strip_suffix("/configuration"))
        .filter(|_| req.method() == hyper::Method::GET)
    {
        let name = percent_decode(name);
        let reply = {
            let st = state.lock().expect("invoke state lock");
            st.configuration.clone().unwrap_or_else(|| {
                Reply::json(serde_json::json!({
                    "FunctionName": name,
                    "FunctionArn": format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
                    "Timeout": 3,
                    "Runtime": "provided.al2023",
                    "State": "Active",
                }))
            })
        };
        return Ok(answer(reply).await);
    }
    let function = path
        .strip_prefix("/2015-03-31/functions/")
        .and_then(|rest| rest.strip_suffix("/invocations"))
        .map(percent_decode);
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let (Some(function), true) = (function, req.method() == hyper::Method::POST) else {
        return Ok(error_response(
            404,
            "UnknownOperationException",
            &format!("no route for {path}"),
        ));
    };
    let body = req.into_body().collect().await?.to_bytes();
    let qualifier = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("Qualifier="))
        .map(percent_decode);
    let invocation_type = headers
        .iter()
        .find(|(k, _)| k == "x-amz-invocation-type")
        .map(|(_, v)| v.clone());
    let request = InvokeRequest {
        function,
        qualifier,
        invocation_type,
        headers,
        body,
    };
    let reply = {
        let mut st = state.lock().expect("invoke state lock");
        st.log.push(request.clone());
        let _ = st.tx.send(request);
        st.script.pop_front().unwrap_or_else(|| st.default.clone())
    };
    Ok(answer(reply).await)
}

impl InvokeServer {
    /// Starts on a free loopback port; answers `{}` until scripted otherwise.
    pub async fn start() -> std::io::Result<InvokeServer> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let state = Arc::new(Mutex::new(State {
            script: VecDeque::new(),
            default: Reply::json(serde_json::json!({})),
            configuration: None,
            log: Vec::new(),
            tx,
        }));
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(st.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(InvokeServer {
            addr,
            state,
            rx,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`, for the SDK's endpoint override.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues replies, answered in order to the next invocations.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state
            .lock()
            .expect("invoke state lock")
            .script
            .extend(replies);
    }

    /// The reply once the script is used up.
    pub fn set_default(&self, reply: Reply) {
        self.state.lock().expect("invoke state lock").default = reply;
    }

    /// The answer to GetFunctionConfiguration (by default: the function, timeout 3 s).
    pub fn set_configuration(&self, reply: Reply) {
        self.state.lock().expect("invoke state lock").configuration = Some(reply);
    }

    /// Every invocation so far, in arrival order.
    pub fn requests(&self) -> Vec<InvokeRequest> {
        self.state.lock().expect("invoke state lock").log.clone()
    }

    /// The next invocation not yet taken by this method, waiting for it to arrive.
    pub async fn next_request(&mut self) -> InvokeRequest {
        self.rx
            .recv()
            .await
            .expect("the server holds the sender while it lives")
    }
}

impl Drop for InvokeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn percent_decoding_of_function_arns() {
        assert_eq!(
            percent_decode("arn%3Aaws%3Alambda%3Aus-east-1%3A123%3Afunction%3Af"),
            "arn:aws:lambda:us-east-1:123:function:f"
        );
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("bad%zz%4"), "bad%zz%4");
    }
}
