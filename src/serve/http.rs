//! The leadscore API over HTTP/1.1 and HTTP/2 in proto3 JSON, for callers
//! that cannot speak gRPC (Salesforce Apex, HubSpot webhooks, ...).
//!
//! There is no second schema and no second service: a request body is read as
//! the canonical proto3 JSON of the *same* message (through the descriptor set
//! build.rs writes, with `prost-reflect`), turned into the prost type, and
//! handed to the gRPC handler ([`LeadScoringService`]) as a `tonic::Request`
//! carrying the HTTP headers and extensions. Request ids, metrics, log lines,
//! deadlines and errors are therefore the gRPC ones. The router is wrapped in
//! the same [`ConcurrencyLimitLayer`] (one semaphore shared with gRPC) and
//! [`DeadlineLayer`] (the `grpc-timeout` header, same format); their gRPC-style
//! refusals are turned into HTTP answers by [`grpc_status_to_http`]. Errors
//! become HTTP statuses only in [`crate::serve::status::http_error`].
//!
//! Unknown JSON fields are **rejected** (400 INVALID_ARGUMENT), like wrong
//! types and malformed JSON; a body over `--max-message-bytes` is 400 too.
//! Routes are listed in `docs/http.md` and `docs/openapi.yaml`.

use std::future::Future;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use prost::Message;
use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage, SerializeOptions};
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::Status;

use crate::serve::body::{bad_body, read_first_line, read_limited, refuse, too_slow, BodyLimits};
use crate::serve::grpc::{Call, LeadScoringService};
use crate::serve::limits::{ConcurrencyLimitLayer, Deadline, DeadlineLayer};
use crate::serve::metrics::{Protocol, RpcName};
use crate::serve::ndjson::{Line, LineSplitter};
use crate::serve::oip::InferenceService;
use crate::serve::proto;
use crate::serve::proto::lead_scoring_server::LeadScoring;
use crate::serve::status::{http_error, ServiceError};

/// Content type of bulk scoring: one JSON message per line.
pub const NDJSON: &str = "application/x-ndjson";

/// Every `/v1` route of [`router`] as (method, path, the gRPC method it
/// calls: its `rpc` metric label); with [`crate::serve::oip_rest::ROUTES`],
/// what `docs/openapi.yaml` must list.
pub const ROUTES: &[(&str, &str, &str)] = &[
    ("post", "/v1/score", "Score"),
    ("post", "/v1/explain", "Explain"),
    ("post", "/v1/score-accounts", "ScoreAccounts"),
    ("post", "/v1/score:stream", STREAM_RPC),
    ("get", "/v1/models", "ListModels"),
    ("get", "/v1/models/{name}", "GetModel"),
];

/// The RPC of the one streamed route, `POST /v1/score:stream`.
const STREAM_RPC: &str = "ScoreStream";

/// What every HTTP handler shares.
#[derive(Debug)]
struct HttpApi {
    /// The gRPC service whose handlers answer HTTP too.
    service: LeadScoringService,
    /// Descriptors of the leadscore.v1 messages, for their JSON mapping.
    pool: DescriptorPool,
    /// Body size and time limits.
    body: BodyLimits,
}

/// Why the JSON codec could not be set up (the built-in descriptor set is broken: a bug).
#[derive(Debug, thiserror::Error)]
#[error("descriptor set: {0}")]
pub struct CodecError(#[from] prost_reflect::DescriptorError);

/// The proto3 JSON codec for the messages of `proto/`.
#[derive(Debug, Clone)]
pub struct JsonCodec {
    pool: DescriptorPool,
}

impl JsonCodec {
    /// A codec over the descriptor set build.rs wrote.
    ///
    /// # Errors
    /// [`CodecError`] when the embedded descriptor set does not decode.
    pub fn new() -> Result<Self, CodecError> {
        Ok(Self {
            pool: DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET)?,
        })
    }

    /// Reads `body` as the proto3 JSON of message `full_name` into its prost type.
    ///
    /// # Errors
    /// [`ServiceError::InvalidField`] (field `body`) for malformed JSON, wrong
    /// types, unknown fields or trailing data.
    pub fn decode<M: Message + Default>(
        &self,
        full_name: &str,
        body: &[u8],
    ) -> Result<M, ServiceError> {
        decode_with(&self.pool, full_name, body)
    }

    /// Writes `message` (of type `full_name`) as canonical proto3 JSON.
    ///
    /// # Errors
    /// [`ServiceError::Internal`] when the type is not in the descriptor set.
    pub fn encode<M: Message>(
        &self,
        full_name: &str,
        message: &M,
    ) -> Result<Vec<u8>, ServiceError> {
        encode_with(&self.pool, full_name, message)
    }
}

fn decode_with<M: Message + Default>(
    pool: &DescriptorPool,
    full_name: &str,
    body: &[u8],
) -> Result<M, ServiceError> {
    let descriptor = pool
        .get_message_by_name(full_name)
        .ok_or_else(|| ServiceError::Internal(format!("no descriptor for {full_name}")))?;
    let mut json = serde_json::Deserializer::from_slice(body);
    let options = DeserializeOptions::new().deny_unknown_fields(true);
    let dynamic = DynamicMessage::deserialize_with_options(descriptor, &mut json, &options)
        .and_then(|m| json.end().map(|()| m))
        .map_err(|e| bad_body(format!("body: not a {full_name} in proto3 JSON: {e}")))?;
    M::decode(dynamic.encode_to_vec().as_slice())
        .map_err(|e| bad_body(format!("body: not a {full_name}: {e}")))
}

fn encode_with<M: Message>(
    pool: &DescriptorPool,
    full_name: &str,
    message: &M,
) -> Result<Vec<u8>, ServiceError> {
    let descriptor = pool
        .get_message_by_name(full_name)
        .ok_or_else(|| ServiceError::Internal(format!("no descriptor for {full_name}")))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let mut out = Vec::with_capacity(256);
    let mut json = serde_json::Serializer::new(&mut out);
    dynamic
        .serialize_with_options(&mut json, &SerializeOptions::new())
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok(out)
}

/// The `/v1` routes and the V2 REST routes, with the layers every request
/// meets, outermost first:
///
/// 1. `mark_http`: the `protocol` metric label;
/// 2. `request_id`: the caller's `x-request-id` (or a fresh one) on the
///    request and on *every* answer: the handlers', the layers' 429 and 504,
///    the 404 of an unknown route and the 405 of a wrong method;
/// 3. `grpc_status_to_http`: gRPC-style refusals of the layers as HTTP errors;
///
/// then, for a matched route and method only:
///
/// 4. `name_rpc`: the route's gRPC method as the `rpc` metric label
///    ([`RpcName`]), never a part of the path;
/// 5. [`DeadlineLayer`]: the request's deadline, counted from its arrival;
/// 6. `read_body`: the body, within `--max-message-bytes` and
///    `--http-read-timeout` (for `score:stream`, its first line), read
///    *before* the request takes a concurrency slot, so a slow client holds none;
/// 7. `admit`: a slot of the concurrency limit shared with gRPC (health
///    probes need none), held while the request is worked on: for
///    `score:stream`, until its last line is answered.
///
/// # Errors
/// [`CodecError`] when the embedded descriptor set does not decode (a bug).
pub fn router(
    service: LeadScoringService,
    inference: InferenceService,
    body: BodyLimits,
    concurrency: ConcurrencyLimitLayer,
    deadline: DeadlineLayer,
    draining: watch::Receiver<bool>,
) -> Result<Router, CodecError> {
    use axum::middleware::{from_fn, from_fn_with_state, map_request, map_response};

    let pool = JsonCodec::new()?.pool;
    let v2 = crate::serve::oip_rest::routes(inference, pool.clone(), body, draining);
    let api = Arc::new(HttpApi {
        service,
        pool,
        body,
    });
    Ok(Router::new()
        .route("/v1/score", post(score))
        .route("/v1/explain", post(explain))
        .route("/v1/score-accounts", post(score_accounts))
        .route("/v1/score:stream", post(score_stream))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{name}", get(get_model))
        .with_state(api)
        .merge(v2)
        .route_layer(from_fn_with_state(concurrency, admit))
        .route_layer(from_fn_with_state(body, read_body))
        .route_layer(deadline)
        .route_layer(from_fn(name_rpc))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(map_response(grpc_status_to_http))
        .layer(from_fn(request_id))
        .layer(map_request(mark_http)))
}

/// Marks a request as HTTP for the `protocol` metric label (outermost layer,
/// so the limit layers see it too).
async fn mark_http(mut request: Request) -> Request {
    request.extensions_mut().insert(Protocol::Http);
    request
}

/// The header carrying the request id, as in gRPC.
const REQUEST_ID: &str = "x-request-id";

/// Gives the request an id, the caller's when usable (1 to 128 visible
/// characters, as gRPC takes it) or a fresh one, which the handlers then see
/// and log; and puts it on the answer, whoever made the answer.
async fn request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .filter(|v| v.to_str().is_ok_and(|s| !s.is_empty() && s.len() <= 128))
        .cloned()
        .unwrap_or_else(|| {
            // 16 hex digits, as gRPC's fresh ids.
            http::HeaderValue::try_from(format!("{:016x}", rand::random::<u64>()))
                .unwrap_or(http::HeaderValue::from_static("-"))
        });
    request.headers_mut().insert(REQUEST_ID, id.clone());
    let mut response = next.run(request).await;
    response.headers_mut().entry(REQUEST_ID).or_insert(id);
    response
}

/// The gRPC method (the `rpc` label) of the route in [`ROUTES`] or
/// [`crate::serve::oip_rest::ROUTES`] that `method` and `path` match, a
/// `{...}` segment of the route matching any one segment; literal routes are
/// listed before the templates they overlap (`/v2/models/stats`).
pub fn rpc_of_route(method: &http::Method, path: &str) -> Option<&'static str> {
    let method = if method == http::Method::HEAD {
        "get"
    } else {
        method.as_str()
    };
    let matches = |template: &str| {
        let mut given = path.split('/');
        let mut wanted = template.split('/');
        loop {
            match (wanted.next(), given.next()) {
                (None, None) => return true,
                (Some(w), Some(g)) if w == g || (w.starts_with('{') && !g.is_empty()) => {}
                _ => return false,
            }
        }
    };
    ROUTES
        .iter()
        .chain(crate::serve::oip_rest::ROUTES)
        .find(|(m, template, _)| m.eq_ignore_ascii_case(method) && matches(template))
        .map(|(_, _, rpc)| *rpc)
}

/// Names the request's RPC from its route (a route layer: only requests
/// that matched a route and method get here).
async fn name_rpc(mut request: Request, next: Next) -> Response {
    let rpc = rpc_of_route(request.method(), request.uri().path()).unwrap_or("unknown");
    request.extensions_mut().insert(RpcName(rpc));
    next.run(request).await
}

/// Reads the body of a POST before the request takes a slot: whole for the
/// unary routes, up to its first line for `score:stream` (the rest streams).
async fn read_body(State(limits): State<BodyLimits>, request: Request, next: Next) -> Response {
    if request.method() != http::Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let streamed = parts.extensions.get::<RpcName>() == Some(&RpcName(STREAM_RPC));
    let read = if streamed {
        read_first_line(body, limits).await
    } else {
        read_limited(body, limits).await.map(Body::from)
    };
    match read {
        Ok(body) => next.run(Request::from_parts(parts, body)).await,
        Err(err) => refuse(parts, err),
    }
}

/// A concurrency slot held by an HTTP request, in its extensions, so that
/// work outliving the handler's future (the `score:stream` writer) keeps it.
#[derive(Debug, Clone)]
struct Admitted {
    _slot: Arc<OwnedSemaphorePermit>,
}

/// Takes a slot of the concurrency limit shared with gRPC (health probes
/// need none), or answers 429 with `Retry-After`.
async fn admit(
    State(limit): State<ConcurrencyLimitLayer>,
    mut request: Request,
    next: Next,
) -> Response {
    match limit.admit(request.uri().path(), request.extensions()) {
        Ok(None) => next.run(request).await,
        Ok(Some(permit)) => {
            let slot = Admitted {
                _slot: Arc::new(permit),
            };
            request.extensions_mut().insert(slot.clone());
            let response = next.run(request).await;
            drop(slot);
            response
        }
        Err(status) => http_error(&status).into_response(),
    }
}

/// How the HTTP listener treats connections.
#[derive(Clone)]
pub struct HttpListenerOptions {
    /// TLS (with mTLS when the config verifies clients), or plaintext.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// Time allowed for the TLS handshake and, on HTTP/1.1, the request headers.
    pub read_timeout: std::time::Duration,
}

impl std::fmt::Debug for HttpListenerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpListenerOptions")
            .field("tls", &self.tls.is_some())
            .field("read_timeout", &self.read_timeout)
            .finish()
    }
}

/// Serves `router` on `listener` (HTTP/1.1 and HTTP/2; over TLS when
/// `options.tls` is set, with ALPN choosing the version) until `shutdown`,
/// then stops accepting and lets open connections finish their requests.
///
/// A client that does not finish the TLS handshake or send its HTTP/1.1
/// headers within `options.read_timeout` is disconnected; the body has the
/// same time (see [`read_limited`]).
///
/// # Errors
/// None today: accept errors (e.g. out of file descriptors) are logged and
/// retried after a pause, as a server must not exit on them.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    router: Router,
    options: HttpListenerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;

    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.read_timeout);
    builder.http2().timer(TokioTimer::new());
    let acceptor = options.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(%err, "HTTP accept failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY");
        }
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let builder = builder.clone();
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        let read_timeout = options.read_timeout;
        tokio::spawn(async move {
            let served = match acceptor {
                None => {
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(connection).await
                }
                Some(acceptor) => {
                    let tls =
                        match tokio::time::timeout(read_timeout, acceptor.accept(stream)).await {
                            Ok(Ok(tls)) => tls,
                            Ok(Err(err)) => {
                                tracing::debug!(%peer, %err, "HTTP TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "HTTP TLS handshake timed out");
                                return;
                            }
                        };
                    let connection = builder.serve_connection(TokioIo::new(tls), service);
                    watcher.watch(connection).await
                }
            };
            if let Err(err) = served {
                tracing::debug!(%peer, %err, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The limit layers answer in gRPC style (HTTP 200 with `grpc-status`); turn
/// such answers into the HTTP mapping.
async fn grpc_status_to_http(response: Response) -> Response {
    if !response.headers().contains_key("grpc-status") {
        return response;
    }
    match Status::from_header_map(response.headers()) {
        Some(status) => http_error(&status).into_response(),
        None => response,
    }
}

/// 404 NOT_FOUND for a path no route has.
async fn not_found(request: Request) -> Response {
    let err = ServiceError::NoRoute {
        method: request.method().to_string(),
        path: request.uri().path().to_string(),
    };
    http_error(&Status::from(err)).into_response()
}

/// 405 (with axum's `Allow` header) for a route called with another method;
/// the body's code is UNIMPLEMENTED, as grpc-gateway answers it.
async fn method_not_allowed(request: Request) -> Response {
    let err = ServiceError::MethodNotAllowed {
        method: request.method().to_string(),
        path: request.uri().path().to_string(),
    };
    let mut response = http_error(&Status::from(err)).into_response();
    *response.status_mut() = http::StatusCode::METHOD_NOT_ALLOWED;
    response
}

/// Reads the body within the size limit (already read by the `read_body`
/// layer, so this only takes it).
async fn read_body_bytes(api: &HttpApi, body: Body) -> Result<Bytes, ServiceError> {
    read_limited(body, api.body).await
}

/// An error answer (the `request_id` layer adds the request id).
fn error_response(status: &Status) -> Response {
    http_error(status).into_response()
}

fn json_response(
    api: &HttpApi,
    full_name: &str,
    response: tonic::Response<impl Message>,
) -> Response {
    match encode_with(&api.pool, full_name, response.get_ref()) {
        Ok(body) => ([(http::header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(err) => error_response(&Status::from(err)),
    }
}

/// Body → prost request → the gRPC handler → JSON.
async fn unary<Req, Res, Fut>(
    api: Arc<HttpApi>,
    request: Request,
    names: (&str, &str),
    handler: impl FnOnce(LeadScoringService, tonic::Request<Req>) -> Fut,
) -> Response
where
    Req: Message + Default,
    Res: Message,
    Fut: Future<Output = Result<tonic::Response<Res>, Status>>,
{
    let (parts, body) = request.into_parts();
    let message = match read_body_bytes(&api, body)
        .await
        .and_then(|bytes| decode_with::<Req>(&api.pool, names.0, &bytes))
    {
        Ok(message) => message,
        Err(err) => return refuse(parts, err),
    };
    let request = tonic::Request::from_http(http::Request::from_parts(parts, message));
    match handler(api.service.clone(), request).await {
        Ok(response) => json_response(&api, names.1, response),
        Err(status) => error_response(&status),
    }
}

async fn score(State(api): State<Arc<HttpApi>>, request: Request) -> Response {
    let names = ("leadscore.v1.ScoreRequest", "leadscore.v1.ScoreResponse");
    unary(api, request, names, |s, r| async move { s.score(r).await }).await
}

async fn explain(State(api): State<Arc<HttpApi>>, request: Request) -> Response {
    let names = (
        "leadscore.v1.ExplainRequest",
        "leadscore.v1.ExplainResponse",
    );
    unary(
        api,
        request,
        names,
        |s, r| async move { s.explain(r).await },
    )
    .await
}

async fn score_accounts(State(api): State<Arc<HttpApi>>, request: Request) -> Response {
    let names = (
        "leadscore.v1.ScoreAccountsRequest",
        "leadscore.v1.ScoreAccountsResponse",
    );
    unary(api, request, names, |s, r| async move {
        s.score_accounts(r).await
    })
    .await
}

async fn list_models(State(api): State<Arc<HttpApi>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let request = tonic::Request::from_http(http::Request::from_parts(
        parts,
        proto::ListModelsRequest::default(),
    ));
    match api.service.list_models(request).await {
        Ok(response) => json_response(&api, "leadscore.v1.ListModelsResponse", response),
        Err(status) => error_response(&status),
    }
}

/// `?version=` of `GET /v1/models/{name}` (a number or label; none = newest).
fn version_param(query: Option<&str>) -> String {
    query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "version")
        .map(|(_, value)| value.to_string())
        .unwrap_or_default()
}

async fn get_model(
    State(api): State<Arc<HttpApi>>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    let version = version_param(request.uri().query());
    let (parts, _) = request.into_parts();
    let request = tonic::Request::from_http(http::Request::from_parts(
        parts,
        proto::GetModelRequest {
            model: name,
            version,
        },
    ));
    match api.service.get_model(request).await {
        Ok(response) => json_response(&api, "leadscore.v1.ModelInfo", response),
        Err(status) => error_response(&status),
    }
}

/// Answer lines written ahead of a client that reads slowly.
const STREAM_BUFFER_LINES: usize = 64;

/// Lines longer than this are decoded and scored on the blocking pool (as
/// gRPC batches of [`crate::serve::grpc::BLOCKING_BATCH`] leads are).
const INLINE_LINE_BYTES: usize = 64 * 1024;

/// `POST /v1/score:stream`: NDJSON in, NDJSON out, one `ScoreResponse` per
/// non-blank `ScoreRequest` line, with ScoreStream's semantics (per-lead and
/// per-line errors inside the answers). The answer streams: each line is
/// written as soon as it is scored, while later lines are still arriving.
/// The status is 200 once the first line is in; whatever ends the stream
/// early (the deadline, a stalled or broken body) is its last line's `error`.
async fn score_stream(State(api): State<Arc<HttpApi>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // The `admit` layer's slot, kept until the last line is answered.
    let slot = parts.extensions.get::<Admitted>().cloned();
    let call = Call::start(
        STREAM_RPC,
        &tonic::Request::from_http(http::Request::from_parts(parts, ())),
    );
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(STREAM_BUFFER_LINES);
    tokio::spawn(async move {
        let deadline = call.deadline;
        let (leads, ended) = answer_lines(&api, body, deadline, &tx).await;
        drop(tx);
        let _ = call.finish_status(leads, ended.map(|()| ((), String::new(), String::new())));
        drop(slot);
    });
    let answers = ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>);
    (
        [(http::header::CONTENT_TYPE, NDJSON)],
        Body::from_stream(answers),
    )
        .into_response()
}

/// Reads `body` line by line and sends each line's answer as soon as it is
/// made, until the body ends or the stream stops early: the deadline passes,
/// the body stalls beyond `--http-read-timeout` or breaks (each reported in
/// a last answer line), or the client stops reading. Returns the leads
/// received and how the stream ended.
async fn answer_lines(
    api: &Arc<HttpApi>,
    body: Body,
    deadline: Option<Deadline>,
    tx: &tokio::sync::mpsc::Sender<Bytes>,
) -> (usize, Result<(), Status>) {
    let mut chunks = body.into_data_stream();
    let mut lines = LineSplitter::new(api.body.max_bytes);
    let (mut number, mut leads, mut ended) = (0, 0, false);
    loop {
        let line = match lines.next_line() {
            Some(line) => line,
            None if ended => match lines.finish() {
                Some(line) => line,
                None => return (leads, Ok(())),
            },
            None => {
                match next_chunk(&mut chunks, api.body, deadline, number).await {
                    Ok(Some(chunk)) => lines.push(&chunk),
                    Ok(None) => ended = true,
                    Err(err) => {
                        let status = Status::from(err);
                        let last = encode_line(api, &line_error(number + 1, &status));
                        let _ = send(tx, last, deadline, number).await;
                        return (leads, Err(status));
                    }
                }
                continue;
            }
        };
        number += 1;
        if matches!(&line, Line::Text(text) if text.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        if deadline.is_some_and(|d| d.expired()) {
            let status = Status::from(ServiceError::StreamDeadline { lines: number - 1 });
            let _ = tx.try_send(encode_line(api, &line_error(number, &status)));
            return (leads, Err(status));
        }
        let (answer, n) = if matches!(&line, Line::Text(text) if text.len() > INLINE_LINE_BYTES) {
            let worker = api.clone();
            match tokio::task::spawn_blocking(move || answer_line(&worker, number, &line)).await {
                Ok(answered) => answered,
                Err(err) => {
                    let status = Status::from(ServiceError::Internal(err.to_string()));
                    (line_error(number, &status), 0)
                }
            }
        } else {
            answer_line(api, number, &line)
        };
        leads += n;
        if let Err(err) = send(tx, encode_line(api, &answer), deadline, number).await {
            return (leads, Err(Status::from(err)));
        }
    }
}

/// The next chunk of the body (`None` at its end), waiting at most
/// `--http-read-timeout` and never past the deadline.
async fn next_chunk(
    chunks: &mut axum::body::BodyDataStream,
    limits: BodyLimits,
    deadline: Option<Deadline>,
    answered: usize,
) -> Result<Option<Bytes>, ServiceError> {
    let read_until = tokio::time::Instant::now() + limits.read_timeout;
    let until = match deadline {
        Some(d) => read_until.min(d.0.into()),
        None => read_until,
    };
    match tokio::time::timeout_at(until, chunks.next()).await {
        Ok(None) => Ok(None),
        Ok(Some(Ok(chunk))) => Ok(Some(chunk)),
        Ok(Some(Err(e))) => Err(bad_body(format!("body: cannot be read: {e}"))),
        Err(_) if deadline.is_some_and(|d| d.expired()) => {
            Err(ServiceError::StreamDeadline { lines: answered })
        }
        Err(_) => Err(too_slow(limits)),
    }
}

/// Sends one answer line, waiting for a slow reader at most until the deadline.
async fn send(
    tx: &tokio::sync::mpsc::Sender<Bytes>,
    line: Bytes,
    deadline: Option<Deadline>,
    answered: usize,
) -> Result<(), ServiceError> {
    let sent = match deadline {
        Some(d) => tokio::time::timeout_at(d.0.into(), tx.send(line))
            .await
            .map_err(|_| ServiceError::StreamDeadline { lines: answered })?,
        None => tx.send(line).await,
    };
    sent.map_err(|_| ServiceError::ClientGone)
}

/// The answer to line `number` and its lead count: its `ScoreResponse`, or
/// the line's error in one.
fn answer_line(api: &HttpApi, number: usize, line: &Line) -> (proto::ScoreResponse, usize) {
    let request = match line {
        Line::Text(text) => {
            decode_with::<proto::ScoreRequest>(&api.pool, "leadscore.v1.ScoreRequest", text)
        }
        Line::TooLong { bytes } => Err(bad_body(format!(
            "body: the line's {bytes} bytes exceed the limit of {} bytes per line (--max-message-bytes)",
            api.body.max_bytes
        ))),
    };
    match request {
        Ok(request) => {
            let leads = request.leads.len();
            (api.service.score_stream_message(request), leads)
        }
        Err(err) => (line_error(number, &Status::from(err)), 0),
    }
}

/// A line's error as its answer, `message` starting `line <number>: `.
fn line_error(number: usize, status: &Status) -> proto::ScoreResponse {
    proto::ScoreResponse {
        error: Some(proto::StreamError {
            code: status.code() as i32,
            message: format!("line {number}: {}", status.message()),
        }),
        ..Default::default()
    }
}

/// One answer as a line of NDJSON.
fn encode_line(api: &HttpApi, answer: &proto::ScoreResponse) -> Bytes {
    let mut out = match encode_with(&api.pool, "leadscore.v1.ScoreResponse", answer) {
        Ok(json) => json,
        Err(err) => serde_json::json!({"error": {"code": 13, "message": err.to_string()}})
            .to_string()
            .into_bytes(),
    };
    out.push(b'\n');
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_name_their_rpc_and_never_a_path_segment() {
        use http::Method;
        for (method, path, rpc) in [
            (Method::POST, "/v1/score", Some("Score")),
            (Method::POST, "/v1/score:stream", Some("ScoreStream")),
            (Method::GET, "/v1/models/my-secret-model", Some("GetModel")),
            (Method::HEAD, "/v1/models", Some("ListModels")),
            (Method::GET, "/v2/models/stats", Some("ModelStatistics")),
            (
                Method::GET,
                "/v2/models/m/versions/3/ready",
                Some("ModelReady"),
            ),
            (Method::POST, "/v2/models/m/infer", Some("ModelInfer")),
            (Method::GET, "/v2/health/ready", Some("ServerReady")),
            (Method::GET, "/v1/score", None),
            (Method::POST, "/v1/models/x/y", None),
            (Method::GET, "/v2/models//ready", None),
        ] {
            assert_eq!(rpc_of_route(&method, path), rpc, "{method} {path}");
        }
    }

    #[test]
    fn json_round_trips_and_rejects_unknown_fields() {
        let codec = JsonCodec::new().expect("descriptor set");
        let request: proto::ScoreRequest = codec
            .decode(
                "leadscore.v1.ScoreRequest",
                br#"{"model":"leads","leads":[{"leadId":"a","features":{"visits":{"number":3}}}]}"#,
            )
            .expect("valid JSON");
        assert_eq!(request.leads[0].lead_id, "a");
        let json = codec
            .encode("leadscore.v1.ScoreRequest", &request)
            .expect("encode");
        assert!(String::from_utf8_lossy(&json).contains(r#""leadId":"a""#));
        for bad in [
            &br#"{"leads":[], "bogus":1}"#[..],
            br#"{"leads":"#,
            br#"{"leads":7}"#,
            br#"{} {}"#,
        ] {
            let err = codec
                .decode::<proto::ScoreRequest>("leadscore.v1.ScoreRequest", bad)
                .expect_err("rejected");
            assert!(matches!(err, ServiceError::InvalidField { .. }), "{err:?}");
        }
    }
}
