//! The Lambda Invoke API (2015-03-31) on loopback, for local functions: the aws CLI
//! (`aws lambda invoke --endpoint-url`) and the AWS SDKs (an endpoint override) invoke a
//! [`LocalInvoker`] exactly as they would invoke Lambda.
//!
//! One route, `POST /2015-03-31/functions/{FunctionName}/invocations`. The function is
//! found by name, by full or partial ARN, with or without a `:$LATEST` qualifier (also
//! `?Qualifier=`); the account and region in an ARN are not checked. `X-Amz-Invocation-Type`
//! `RequestResponse` (the default) answers 200 with the function's payload,
//! `X-Amz-Executed-Version` and, for a function error, `X-Amz-Function-Error: Unhandled`
//! (a timeout is such an error, `Sandbox.Timedout`, as on Lambda); `Event` answers 202 and
//! runs the invocation in the background; `DryRun` answers 204. Errors are Lambda's, with
//! their status and `x-amzn-ErrorType`: `ResourceNotFoundException` (404),
//! `RequestTooLargeException` (413), `InvalidRequestContentException` (400, a payload
//! that isn't JSON), `InvalidRuntimeException` (502, the command can't start).
//!
//! Invocations share the function's process pool with the mapping that runs it. Requests
//! are not authenticated (signatures are ignored): the API binds loopback addresses only,
//! and refuses (403 `AccessDeniedException`) a request whose `Host` is not a loopback
//! literal (`127.0.0.1`, `[::1]`, `localhost`, any port) or that carries an `Origin`:
//! a web page (a DNS-rebinding attack, a cross-origin `fetch`) cannot invoke. At most
//! [`MAX_EVENT_INVOCATIONS`] `Event` invocations are accepted and not yet ended
//! at once; past that, 429 `TooManyRequestsException`, as Lambda throttles.

use super::process::LocalInvoker;
use crate::http::{Reply, json_reply};
use crate::invoke::{Invocation, InvokeError, Invoker};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::header::{HOST, HeaderName, HeaderValue, ORIGIN};
use hyper::{Method, Request, Response, StatusCode};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

const PREFIX: &str = "/2015-03-31/functions/";
const SUFFIX: &str = "/invocations";
/// Lambda's limit on a synchronous request's payload.
const MAX_REQUEST: usize = 6 * 1024 * 1024;

/// How many `Event` invocations may be accepted and not yet ended at once:
/// each holds its payload (up to 6 MB) while it waits for a process.
pub const MAX_EVENT_INVOCATIONS: usize = 100;

/// Why the Invoke API could not be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvokeApiError {
    /// Requests are not authenticated: only a loopback address is allowed.
    #[error(
        "the Lambda Invoke API serves loopback addresses only (127.0.0.0/8, ::1), not {0}: requests are not authenticated"
    )]
    NotLoopback(SocketAddr),
    #[error("binding the Lambda Invoke API to {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// The Invoke API bound to its address, serving some local functions by name.
#[derive(Debug)]
pub struct InvokeApi {
    listener: TcpListener,
    handler: InvokeHandler,
}

impl InvokeApi {
    /// Binds `address` (loopback only; port 0 picks one) for `functions`, each under its
    /// [`LocalFunction::name`](super::LocalFunction::name) (a later one of the same name wins).
    pub async fn bind(
        address: SocketAddr,
        functions: impl IntoIterator<Item = Arc<LocalInvoker>>,
    ) -> Result<InvokeApi, InvokeApiError> {
        if !address.ip().is_loopback() {
            return Err(InvokeApiError::NotLoopback(address));
        }
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| InvokeApiError::Bind { address, source })?;
        Ok(InvokeApi {
            listener,
            handler: InvokeHandler::new(functions),
        })
    }

    /// The bound address (the port chosen when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        // A bound listener always has one; the fallback is never used.
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The endpoint URL to give an SDK or `aws --endpoint-url`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.local_addr())
    }

    /// Serves until the future is dropped; dropping it drops every connection, and any
    /// invocation they were waiting for (`Event` invocations run on, detached).
    pub async fn serve(self) {
        let handler = self.handler;
        crate::http::serve(self.listener, "Invoke API", move |req| {
            let handler = handler.clone();
            async move { handler.handle(req).await }
        })
        .await
    }
}

/// The Invoke API's request handler, for a server of its own ([`InvokeApi`]) or a route
/// of a larger one (`kafka-esm serve`'s endpoint).
#[derive(Clone, Debug)]
pub struct InvokeHandler {
    functions: Arc<HashMap<String, Arc<LocalInvoker>>>,
    events: Arc<Semaphore>,
    /// Refuse requests from web pages and non-loopback `Host`s (see the module's doc);
    /// off when the server in front authenticates every request itself.
    check_origin: bool,
}

impl InvokeHandler {
    /// Serves `functions`, each under its [`LocalFunction::name`](super::LocalFunction::name).
    pub fn new(functions: impl IntoIterator<Item = Arc<LocalInvoker>>) -> InvokeHandler {
        InvokeHandler {
            functions: Arc::new(
                functions
                    .into_iter()
                    .map(|f| (f.function().name.clone(), f))
                    .collect(),
            ),
            events: Arc::new(Semaphore::new(MAX_EVENT_INVOCATIONS)),
            check_origin: true,
        }
    }

    /// This handler without its own origin checks: for a server that authenticates every
    /// request before it reaches here (`kafka-esm serve` with SigV4, or its own checks).
    pub fn without_origin_checks(mut self) -> InvokeHandler {
        self.check_origin = false;
        self
    }

    /// Answers one request, whatever its body type.
    pub async fn handle<B>(&self, req: Request<B>) -> Reply
    where
        B: hyper::body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        handle(
            self.functions.clone(),
            self.events.clone(),
            self.check_origin,
            req,
        )
        .await
    }
}

async fn handle<B>(
    functions: Arc<HashMap<String, Arc<LocalInvoker>>>,
    events: Arc<Semaphore>,
    check_origin: bool,
    req: Request<B>,
) -> Reply
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut reply = match refused(&req).filter(|_| check_origin) {
        Some(why) => error(StatusCode::FORBIDDEN, "AccessDeniedException", why),
        None => route(&functions, &events, req).await,
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        reply.headers_mut().insert("x-amzn-requestid", value);
    }
    reply
}

/// Why a request must not be served, whatever it asks: it comes from a web page.
fn refused<B>(req: &Request<B>) -> Option<&'static str> {
    if req.headers().contains_key(ORIGIN) {
        return Some("requests from web pages (with an Origin header) are not served");
    }
    // HTTP/1.1 puts the host in the Host header (an absolute URI is refused by hyper).
    let loopback = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(loopback_host);
    (!loopback).then_some(
        "the Host header must name a loopback address: 127.0.0.1, [::1] or localhost, with any port",
    )
}

/// Whether a `Host` header names this host by a loopback literal (127.0.0.0/8, `[::1]`,
/// `localhost`), with or without a port. A DNS name that resolves to loopback is not
/// one: that is how DNS rebinding reaches loopback servers.
pub(crate) fn loopback_host(host: &str) -> bool {
    let port_ok = |port: &str| port.is_empty() || port.parse::<u16>().is_ok();
    if let Some(rest) = host.strip_prefix('[') {
        let Some((ip, tail)) = rest.split_once(']') else {
            return false;
        };
        let port = match tail {
            "" => "",
            _ => match tail.strip_prefix(':') {
                Some(port) if !port.is_empty() => port,
                _ => return false,
            },
        };
        return port_ok(port)
            && ip
                .parse::<std::net::Ipv6Addr>()
                .is_ok_and(|ip| ip.is_loopback());
    }
    let (name, port) = match host.split_once(':') {
        Some((_, "")) => return false,
        Some((name, port)) => (name, port),
        None => (host, ""),
    };
    port_ok(port)
        && (name.eq_ignore_ascii_case("localhost")
            || name
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback()))
}

async fn route<B>(
    functions: &HashMap<String, Arc<LocalInvoker>>,
    events: &Arc<Semaphore>,
    req: Request<B>,
) -> Reply
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let Some(raw_name) = req
        .uri()
        .path()
        .strip_prefix(PREFIX)
        .and_then(|p| p.strip_suffix(SUFFIX))
        .filter(|p| !p.is_empty() && !p.contains('/'))
    else {
        return error(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            "only Invoke (POST /2015-03-31/functions/{FunctionName}/invocations) is served here",
        );
    };
    if req.method() != Method::POST {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UnknownOperationException",
            "Invoke takes POST",
        );
    }
    let Some(name) = percent_decode(raw_name) else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            "the function name is not valid percent-encoded UTF-8",
        );
    };
    let qualifier = req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("Qualifier="))
            .map(|v| percent_decode(v).unwrap_or_else(|| v.to_string()))
    });
    let Some(invoker) = find(functions, &name, qualifier.as_deref()) else {
        let message = format!("Function not found: {}", not_found_arn(&name, qualifier));
        return error(StatusCode::NOT_FOUND, "ResourceNotFoundException", &message);
    };
    let invocation_type = req
        .headers()
        .get("x-amz-invocation-type")
        .map(|v| v.to_str().unwrap_or("").to_string())
        .unwrap_or_else(|| "RequestResponse".into());
    if !matches!(
        invocation_type.as_str(),
        "RequestResponse" | "Event" | "DryRun"
    ) {
        let message = format!(
            "1 validation error detected: Value '{invocation_type}' at 'invocationType' failed to \
             satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
        );
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            &message,
        );
    }
    let payload = match Limited::new(req.into_body(), MAX_REQUEST).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLargeException",
                "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
            );
        }
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                &format!("could not read the request body: {e}"),
            );
        }
    };
    // Lambda passes an empty payload as `{}`, and refuses one that isn't JSON.
    let payload = if payload.iter().all(u8::is_ascii_whitespace) {
        Bytes::from_static(b"{}")
    } else if serde_json::from_slice::<serde::de::IgnoredAny>(&payload).is_err() {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            "Could not parse request body into json",
        );
    } else {
        payload
    };
    match invocation_type.as_str() {
        "DryRun" => empty(StatusCode::NO_CONTENT),
        "Event" => {
            let Ok(permit) = events.clone().try_acquire_owned() else {
                return error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequestsException",
                    "Rate Exceeded.",
                );
            };
            let invoker = invoker.clone();
            tokio::spawn(async move {
                let _permit = permit;
                if let Err(e) = invoker.invoke(payload).await {
                    tracing::warn!(function = %invoker.function().name, "Event invocation failed: {e}");
                }
            });
            empty(StatusCode::ACCEPTED)
        }
        _ => {
            let timeout = invoker.function().timeout;
            answer(invoker.invoke(payload).await, timeout)
        }
    }
}

/// The function `name` (a name, a full or partial ARN, with an optional `:qualifier`)
/// names, if it is served and the qualifier (if any) is `$LATEST`.
fn find<'a>(
    functions: &'a HashMap<String, Arc<LocalInvoker>>,
    name: &str,
    qualifier: Option<&str>,
) -> Option<&'a Arc<LocalInvoker>> {
    // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER], ACCOUNT:function:NAME[:Q]
    // or NAME[:QUALIFIER].
    let rest = match name.find(":function:") {
        Some(i) => &name[i + ":function:".len()..],
        None => name,
    };
    let (short, suffix) = match rest.split_once(':') {
        Some((short, q)) => (short, Some(q)),
        None => (rest, None),
    };
    if suffix.is_some() && qualifier.is_some() && suffix != qualifier {
        return None;
    }
    match suffix.or(qualifier) {
        None | Some("$LATEST") => functions.get(short),
        Some(_) => None,
    }
}

fn not_found_arn(name: &str, qualifier: Option<String>) -> String {
    let arn = if name.starts_with("arn:") {
        name.to_string()
    } else {
        format!("arn:aws:lambda:us-east-1:000000000000:function:{name}")
    };
    match qualifier {
        Some(q) => format!("{arn}:{q}"),
        None => arn,
    }
}

/// What Lambda answers for a synchronous invocation that ended with `result`.
fn answer(result: Result<Invocation, InvokeError>, timeout: std::time::Duration) -> Reply {
    let invocation = match result {
        Ok(invocation) => invocation,
        Err(InvokeError::Timeout { .. }) => Invocation {
            status_code: 200,
            function_error: Some("Unhandled".into()),
            executed_version: Some("$LATEST".into()),
            payload: Bytes::from(
                serde_json::json!({
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": format!(
                        "Task timed out after {}.00 seconds",
                        timeout.as_secs()
                    ),
                })
                .to_string(),
            ),
        },
        Err(InvokeError::Throttled { message }) => {
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequestsException",
                &message,
            );
        }
        Err(InvokeError::PayloadTooLarge { message }) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLargeException",
                &message,
            );
        }
        Err(InvokeError::Function { message }) => {
            return error(StatusCode::BAD_GATEWAY, "InvalidRuntimeException", &message);
        }
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                &e.to_string(),
            );
        }
    };
    let mut reply = json_reply(
        StatusCode::from_u16(invocation.status_code as u16).unwrap_or(StatusCode::OK),
        invocation.payload,
    );
    let headers = reply.headers_mut();
    for (name, value) in [
        ("x-amz-executed-version", invocation.executed_version),
        ("x-amz-function-error", invocation.function_error),
    ] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    reply
}

/// `%XX` sequences decoded; `None` when one is malformed or the result isn't UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn empty(status: StatusCode) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::new()));
    *reply.status_mut() = status;
    reply
}

/// Lambda's error shape: the type in `x-amzn-ErrorType`, the message in the body.
fn error(status: StatusCode, error_type: &'static str, message: &str) -> Reply {
    let body = serde_json::json!({"Type": "User", "message": message});
    let mut reply = json_reply(status, Bytes::from(body.to_string()));
    reply.headers_mut().insert(
        HeaderName::from_static("x-amzn-errortype"),
        HeaderValue::from_static(error_type),
    );
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoke::local::LocalFunction;

    #[test]
    fn names_arns_and_qualifiers_find_the_function() {
        let invoker = Arc::new(LocalInvoker::new(LocalFunction::new("orders", "true")).unwrap());
        let functions = HashMap::from([("orders".to_string(), invoker)]);
        for (name, qualifier) in [
            ("orders", None),
            ("orders:$LATEST", None),
            ("orders", Some("$LATEST")),
            (
                "arn:aws:lambda:eu-west-1:123456789012:function:orders",
                None,
            ),
            (
                "arn:aws:lambda:eu-west-1:123456789012:function:orders:$LATEST",
                Some("$LATEST"),
            ),
            ("123456789012:function:orders", None),
        ] {
            assert!(
                find(&functions, name, qualifier).is_some(),
                "{name} {qualifier:?}"
            );
        }
        for (name, qualifier) in [
            ("order", None),
            ("orders:prod", None),
            ("orders", Some("1")),
            ("orders:$LATEST", Some("2")),
            ("myfunction:orders", None),
            ("arn:aws:lambda:eu-west-1:123456789012:function:other", None),
        ] {
            assert!(
                find(&functions, name, qualifier).is_none(),
                "{name} {qualifier:?}"
            );
        }
    }

    #[test]
    fn only_loopback_literals_are_hosts() {
        for host in [
            "127.0.0.1",
            "127.0.0.1:9001",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:9001",
            "localhost",
            "LocalHost:9001",
        ] {
            assert!(loopback_host(host), "{host}");
        }
        for host in [
            "",
            "evil.example",
            "evil.example:9001",
            "localhost.evil.example",
            "127.0.0.1.nip.io:9001",
            "10.0.0.1:9001",
            "0.0.0.0:9001",
            "::1",
            "[::1",
            "[::2]:80",
            "[::1]9001",
            "[::1]:",
            "localhost:",
            "localhost:x",
            "localhost:99999",
            "127.0.0.1:80:80",
        ] {
            assert!(!loopback_host(host), "{host}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("arn%3Aaws%3Alambda%3Ax%3A1%3Afunction%3Af%3A%24LATEST").as_deref(),
            Some("arn:aws:lambda:x:1:function:f:$LATEST")
        );
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
