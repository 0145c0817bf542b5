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

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use prost::Message;
use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage, SerializeOptions};
use tokio::sync::watch;
use tonic::Status;

use crate::serve::body::{bad_body, read_limited, BodyLimits};
use crate::serve::grpc::{Call, LeadScoringService};
use crate::serve::limits::{ConcurrencyLimitLayer, DeadlineLayer};
use crate::serve::metrics::Protocol;
use crate::serve::oip::InferenceService;
use crate::serve::proto;
use crate::serve::proto::lead_scoring_server::LeadScoring;
use crate::serve::status::{http_error, ServiceError};

/// Content type of bulk scoring: one JSON message per line.
pub const NDJSON: &str = "application/x-ndjson";

/// Every `/v1` route of [`router`] as (method, path); with
/// [`crate::serve::oip_rest::ROUTES`], what `docs/openapi.yaml` must list.
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/score"),
    ("post", "/v1/explain"),
    ("post", "/v1/score-accounts"),
    ("post", "/v1/score:stream"),
    ("get", "/v1/models"),
    ("get", "/v1/models/{name}"),
];

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

/// The HTTP/JSON routes, wrapped in the shared limit and deadline layers.
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
        .fallback(not_found)
        .layer(deadline)
        .layer(concurrency)
        .layer(axum::middleware::map_response(grpc_status_to_http))
        .layer(axum::middleware::map_request(mark_http)))
}

/// Marks a request as HTTP for the `protocol` metric label (outermost layer,
/// so the limit layers see it too).
async fn mark_http(mut request: Request) -> Request {
    request.extensions_mut().insert(Protocol::Http);
    request
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

async fn not_found(request: Request) -> Response {
    let err = ServiceError::InvalidField {
        field: "path".to_string(),
        message: format!(
            "no route {} {}; see docs/http.md",
            request.method(),
            request.uri().path()
        ),
    };
    let mut response = http_error(&Status::from(err)).into_response();
    *response.status_mut() = http::StatusCode::NOT_FOUND;
    response
}

/// Reads the body within the size limit.
async fn read_body(api: &HttpApi, body: axum::body::Body) -> Result<Bytes, ServiceError> {
    read_limited(body, api.body).await
}

/// An error answer, with the caller's `x-request-id` echoed when it sent one.
fn error_response(status: &Status, parts: Option<&http::request::Parts>) -> Response {
    let mut response = http_error(status).into_response();
    let id = status
        .metadata()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            parts
                .and_then(|p| p.headers.get("x-request-id"))
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        });
    if let Some(value) = id.and_then(|id| http::HeaderValue::from_str(&id).ok()) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

fn json_response(
    api: &HttpApi,
    full_name: &str,
    response: tonic::Response<impl Message>,
) -> Response {
    let (metadata, message, _) = response.into_parts();
    let request_id = metadata
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| http::HeaderValue::from_str(v).ok());
    match encode_with(&api.pool, full_name, &message) {
        Ok(body) => {
            let mut response =
                ([(http::header::CONTENT_TYPE, "application/json")], body).into_response();
            if let Some(id) = request_id {
                response.headers_mut().insert("x-request-id", id);
            }
            response
        }
        Err(err) => error_response(&Status::from(err), None),
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
    let message = match read_body(&api, body)
        .await
        .and_then(|bytes| decode_with::<Req>(&api.pool, names.0, &bytes))
    {
        Ok(message) => message,
        Err(err) => return error_response(&Status::from(err), Some(&parts)),
    };
    let request = tonic::Request::from_http(http::Request::from_parts(parts, message));
    match handler(api.service.clone(), request).await {
        Ok(response) => json_response(&api, names.1, response),
        Err(status) => error_response(&status, None),
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
        Err(status) => error_response(&status, None),
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
        Err(status) => error_response(&status, None),
    }
}

/// `POST /v1/score:stream`: NDJSON in, NDJSON out, one `ScoreResponse` per
/// `ScoreRequest` line, with ScoreStream's semantics (per-lead and per-line
/// errors inside the answers; the HTTP status is 200 once the body is read).
async fn score_stream(State(api): State<Arc<HttpApi>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match read_body(&api, body).await {
        Ok(bytes) => bytes,
        Err(err) => return error_response(&Status::from(err), Some(&parts)),
    };
    let call = Call::start(
        "ScoreStream",
        &tonic::Request::from_http(http::Request::from_parts(parts, ())),
    );
    let worker = api.clone();
    let answered = tokio::task::spawn_blocking(move || stream_lines(&worker, &bytes)).await;
    let result = answered
        .map_err(|e| Status::from(ServiceError::Internal(e.to_string())))
        .map(|(body, leads)| ((body, leads), String::new(), String::new()));
    let leads = result.as_ref().map_or(0, |((_, leads), _, _)| *leads);
    match call.finish_status(leads, result) {
        Ok(response) => {
            let (metadata, (body, _), _) = response.into_parts();
            let mut response = ([(http::header::CONTENT_TYPE, NDJSON)], body).into_response();
            if let Some(id) = metadata
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| http::HeaderValue::from_str(v).ok())
            {
                response.headers_mut().insert("x-request-id", id);
            }
            response
        }
        Err(status) => error_response(&status, None),
    }
}

/// Answers every non-blank line; returns the NDJSON body and the lead count.
fn stream_lines(api: &HttpApi, body: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(body.len());
    let mut leads = 0;
    for (number, line) in body.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let answer = match decode_with::<proto::ScoreRequest>(
            &api.pool,
            "leadscore.v1.ScoreRequest",
            line,
        ) {
            Ok(request) => {
                leads += request.leads.len();
                api.service.score_stream_message(request)
            }
            Err(err) => {
                let status = Status::from(err);
                proto::ScoreResponse {
                    error: Some(proto::StreamError {
                        code: status.code() as i32,
                        message: format!("line {}: {}", number + 1, status.message()),
                    }),
                    ..Default::default()
                }
            }
        };
        match encode_with(&api.pool, "leadscore.v1.ScoreResponse", &answer) {
            Ok(json) => out.extend_from_slice(&json),
            Err(err) => out.extend_from_slice(
                serde_json::json!({"error": {"code": 13, "message": err.to_string()}})
                    .to_string()
                    .as_bytes(),
            ),
        }
        out.push(b'\n');
    }
    (out, leads)
}

#[cfg(test)]
mod tests {
    use super::*;

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
