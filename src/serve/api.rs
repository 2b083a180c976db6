//! The HTTP API: Lambda's event source mapping operations (REST, version `2015-03-31`),
//! `ListFunctions`, `GetFunction` and `Invoke` for the local functions, and the
//! operational endpoints (`/healthz`, `/readyz`, `/metrics`), routed with axum.
//!
//! Every change is checked against the local view first (unknown UUID, a mapping in use,
//! a conflict), then written to the state store, which applies it to the registry once
//! it is durable: a change is answered only after it is stored. Changes are made one at
//! a time (`write`), so two concurrent requests can't both start from the same version.

use super::document::{Defaults, DocumentError, Identity, StoredMapping};
use super::error::ApiError;
use super::functions;
use super::registry::{Registry, View};
use super::sigv4::Verifier;
use super::state::StateStore;
use crate::invoke::local::InvokeHandler;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// Largest request body an event source mapping operation takes (filters and all).
const MAX_BODY: usize = 256 * 1024;

/// What the handlers share.
pub struct Api {
    pub registry: Arc<Registry>,
    pub store: StateStore,
    pub invoke: InvokeHandler,
    /// `None`: requests need no signature (the API binds loopback only), but must not
    /// come from a web page (see [`guard`]).
    pub verifier: Option<Verifier>,
    /// One change at a time.
    pub write: tokio::sync::Mutex<()>,
}

impl Api {
    fn identity(&self) -> &Identity {
        &self.registry.context().identity
    }

    fn defaults(&self) -> &Defaults {
        &self.registry.context().defaults
    }
}

type Shared = Arc<Api>;

/// The whole API.
pub fn router(api: Shared) -> Router {
    const ESM: &str = "/2015-03-31/event-source-mappings";
    const FUNCTIONS: &str = "/2015-03-31/functions";
    let esm_root = || {
        post(create).get(list).fallback(|| async {
            not_allowed("CreateEventSourceMapping takes POST, ListEventSourceMappings GET")
        })
    };
    let esm_one = || {
        get(get_mapping)
            .put(update)
            .delete(delete)
            .fallback(|| async { not_allowed("an event source mapping takes GET, PUT or DELETE") })
    };
    let functions_root =
        || get(list_functions).fallback(|| async { not_allowed("ListFunctions takes GET") });
    let signed = Router::new()
        .route(ESM, esm_root())
        .route(&format!("{ESM}/"), esm_root())
        .route(&format!("{ESM}/{{uuid}}"), esm_one())
        .route(FUNCTIONS, functions_root())
        .route(&format!("{FUNCTIONS}/"), functions_root())
        .route(
            &format!("{FUNCTIONS}/{{name}}"),
            get(get_function).fallback(|| async { not_allowed("GetFunction takes GET") }),
        )
        .route(&format!("{FUNCTIONS}/{{name}}/invocations"), invocations())
        .route(
            &format!("{FUNCTIONS}/{{name}}/configuration"),
            get(get_function_configuration)
                .fallback(|| async { not_allowed("GetFunctionConfiguration takes GET") }),
        )
        .fallback(|| async {
            ApiError::unknown_operation("no such operation on this endpoint (kafka-esm serve)")
        })
        .layer(middleware::from_fn_with_state(api.clone(), guard));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(signed)
        .with_state(api)
}

fn invocations() -> MethodRouter<Shared> {
    post(|State(api): State<Shared>, req: Request| async move {
        api.invoke.handle(req).await.map(Body::new)
    })
    .fallback(|| async { not_allowed("Invoke takes POST") })
}

fn not_allowed(message: &str) -> ApiError {
    ApiError::method_not_allowed(message)
}

/// Lets a request through only if it is signed by a known key (with API credentials), or
/// (without) if it can't come from a web page: no `Origin`, a loopback `Host`. A request
/// body is read here only to verify its signature; nothing is acted on before.
async fn guard(State(api): State<Shared>, req: Request, next: Next) -> Response {
    let Some(verifier) = &api.verifier else {
        if let Some(why) = web_page(req.headers()) {
            return ApiError::access_denied(why).into_response();
        }
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    // The largest body any operation takes: an Invoke payload.
    let limit = crate::invoke::local::MAX_PAYLOAD + 1024;
    let Ok(body) = axum::body::to_bytes(body, limit).await else {
        return ApiError {
            kind: "RequestTooLargeException",
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("the request body is larger than {limit} bytes"),
        }
        .into_response();
    };
    if let Err(e) = verifier.verify(&parts, &body, std::time::SystemTime::now()) {
        tracing::info!(method = %parts.method, path = %parts.uri.path(), "refused: {e}");
        return e.into_response();
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

/// Why a request may come from a web page (a DNS-rebinding attack, a cross-origin
/// `fetch`), which must not reach an unauthenticated loopback API.
fn web_page(headers: &HeaderMap) -> Option<&'static str> {
    if headers.contains_key(header::ORIGIN) {
        return Some("requests from web pages (with an Origin header) are not served");
    }
    let loopback = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(crate::invoke::local::invoke_api::loopback_host);
    (!loopback).then_some(
        "the Host header must name a loopback address: 127.0.0.1, [::1] or localhost, with any port",
    )
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| (d.as_millis() as f64) / 1000.0)
}

fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.len() > MAX_BODY {
        return Err(ApiError::invalid(format!(
            "the request body is {} bytes; at most {MAX_BODY} are taken",
            body.len()
        )));
    }
    serde_json::from_slice(body).map_err(|e| ApiError {
        kind: "InvalidRequestContentException",
        status: StatusCode::BAD_REQUEST,
        message: format!("Could not parse request body into json: {e}"),
    })
}

fn document_error(e: DocumentError) -> ApiError {
    ApiError::invalid(e.to_string())
}

fn parse_uuid(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::invalid(format!(
            "UUID: must be an event source mapping's UUID (such as \
             f89f8514-cdd9-4602-9e1f-01a5b77d449b), got {raw:?}"
        ))
    })
}

fn find(api: &Api, uuid: Uuid) -> Result<View, ApiError> {
    api.registry
        .view(uuid)
        .ok_or_else(|| ApiError::not_found("The resource you requested does not exist."))
}

fn accepted(api: &Api, uuid: Uuid) -> Result<Response, ApiError> {
    let view = find(api, uuid)?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(view.configuration(api.identity())),
    )
        .into_response())
}

async fn create(State(api): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let _write = api.write.lock().await;
    let (stored, mapping) = StoredMapping::create(body, Uuid::new_v4(), now(), api.defaults())
        .map_err(document_error)?;
    if let Some(other) = api.registry.conflicting(&mapping, None) {
        return Err(ApiError::conflict(format!(
            "An event source mapping with topic {} on these bootstrap servers and function {} \
             already exists. Please update or delete the existing mapping with UUID {other}",
            mapping.topic, mapping.function.raw
        )));
    }
    let uuid = stored.uuid;
    api.store
        .put(&api.registry, stored, mapping)
        .await
        .map_err(|e| ApiError::service(e.to_string()))?;
    accepted(&api, uuid)
}

async fn get_mapping(
    State(api): State<Shared>,
    Path(uuid): Path<String>,
) -> Result<Response, ApiError> {
    let view = find(&api, parse_uuid(&uuid)?)?;
    Ok(axum::Json(view.configuration(api.identity())).into_response())
}

async fn update(
    State(api): State<Shared>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let uuid = parse_uuid(&uuid)?;
    let body = parse_body(&body)?;
    let _write = api.write.lock().await;
    let view = find(&api, uuid)?;
    if view.in_use() {
        return Err(ApiError::in_use(format!(
            "The operation cannot be performed at this time. The event source mapping is {}.",
            view.state
        )));
    }
    let (stored, mapping) = view
        .stored
        .update(body, now(), api.defaults(), &view.mapping)
        .map_err(document_error)?;
    if let Some(other) = api.registry.conflicting(&mapping, Some(uuid)) {
        return Err(ApiError::conflict(format!(
            "The event source mapping {other} already maps topic {} to function {}",
            mapping.topic, mapping.function.raw
        )));
    }
    api.store
        .put(&api.registry, stored, mapping)
        .await
        .map_err(|e| ApiError::service(e.to_string()))?;
    accepted(&api, uuid)
}

async fn delete(State(api): State<Shared>, Path(uuid): Path<String>) -> Result<Response, ApiError> {
    let uuid = parse_uuid(&uuid)?;
    let _write = api.write.lock().await;
    let view = find(&api, uuid)?;
    if view.in_use() {
        return Err(ApiError::in_use(format!(
            "The operation cannot be performed at this time. The event source mapping is {}.",
            view.state
        )));
    }
    api.store
        .delete(&api.registry, uuid)
        .await
        .map_err(|e| ApiError::service(e.to_string()))?;
    accepted(&api, uuid)
}

/// `ListEventSourceMappings`: by UUID order, filtered by function, paged by `Marker`
/// (the last UUID of the previous page) and `MaxItems` (1..=10000, default 100).
async fn list(
    State(api): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let max_items = match query.get("MaxItems") {
        None => 100,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n @ 1..=10_000) => n,
            _ => {
                return Err(ApiError::invalid(format!(
                    "MaxItems: must be an integer from 1 to 10000, got {raw:?}"
                )));
            }
        },
    };
    let marker = match query.get("Marker") {
        None => None,
        Some(raw) => Some(Uuid::parse_str(raw).map_err(|_| {
            ApiError::invalid(format!("Marker: not a marker this API returned: {raw:?}"))
        })?),
    };
    let identity = api.identity();
    let function = query.get("FunctionName").map(|f| function_arn(identity, f));
    let event_source = query.get("EventSourceArn");
    let mut matching = api.registry.list().into_iter().filter(|v| {
        Some(v.stored.uuid) > marker
            && function
                .as_ref()
                .is_none_or(|arn| *arn == identity.function_arn(&v.mapping.function))
            // Self-managed Kafka mappings have no event source ARN.
            && event_source.is_none()
    });
    let page: Vec<View> = matching.by_ref().take(max_items).collect();
    let mut body = json!({
        "EventSourceMappings": page.iter().map(|v| v.configuration(identity)).collect::<Vec<_>>(),
    });
    if matching.next().is_some()
        && let Some(last) = page.last()
    {
        body["NextMarker"] = json!(last.stored.uuid.to_string());
    }
    Ok(axum::Json(body).into_response())
}

/// The ARN a `FunctionName` filter means, as mappings' functions are compared.
fn function_arn(identity: &Identity, raw: &str) -> String {
    match crate::config::from_document(&json!({
        "FunctionName": raw,
        "Topics": ["t"],
        "StartingPosition": "LATEST",
        "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["h:9092"]}},
    })) {
        Ok(m) => identity.function_arn(&m.function),
        Err(_) => raw.to_string(),
    }
}

async fn list_functions(State(api): State<Shared>) -> Response {
    let account = &api.identity().account;
    let mut functions: Vec<Value> = api
        .registry
        .context()
        .functions
        .local()
        .map(|f| functions::configuration(f.function(), account))
        .collect();
    functions.sort_by(|a, b| a["FunctionName"].as_str().cmp(&b["FunctionName"].as_str()));
    axum::Json(json!({ "Functions": functions })).into_response()
}

/// `GetFunctionConfiguration` of a local function (what a mapping checks at start).
async fn get_function_configuration(
    State(api): State<Shared>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let function = local_function(&api, &name)?;
    let account = &api.identity().account;
    Ok(axum::Json(functions::configuration(function.function(), account)).into_response())
}

/// The local function `name` (a name or an ARN, maybe qualified) names.
fn local_function<'a>(
    api: &'a Api,
    name: &str,
) -> Result<&'a std::sync::Arc<crate::invoke::local::LocalInvoker>, ApiError> {
    let short = match name.find(":function:") {
        Some(i) => &name[i + ":function:".len()..],
        None => name,
    };
    let short = short.split(':').next().unwrap_or("");
    api.registry
        .context()
        .functions
        .local()
        .find(|f| f.function().name == short)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Function not found: arn:aws:lambda:{}:{}:function:{short}",
                api.identity().region,
                api.identity().account
            ))
        })
}

async fn get_function(
    State(api): State<Shared>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let function = local_function(&api, &name)?;
    let account = &api.identity().account;
    Ok(axum::Json(json!({
        "Configuration": functions::configuration(function.function(), account),
        "Code": {"RepositoryType": "Local"},
    }))
    .into_response())
}

async fn readyz(State(api): State<Shared>) -> Response {
    match api.registry.ready() {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response(),
    }
}

async fn metrics(State(api): State<Shared>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        api.registry.render_metrics(),
    )
        .into_response()
}
