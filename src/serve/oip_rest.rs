//! The Open Inference Protocol over HTTP (KServe V2 REST), so Triton's
//! `tritonclient.http`, KServe tooling and plain `curl` reach the same models
//! as `inference.GRPCInferenceService`.
//!
//! There is no second implementation: every route turns its JSON into the
//! OIP protobuf request, calls the gRPC handler of [`InferenceService`]
//! (`crate::serve::oip`) with the HTTP headers and extensions (request id,
//! deadline, protocol), and writes the protobuf answer back as the V2 JSON.
//! Scoring, limits, statistics, metrics and errors are therefore the gRPC ones.
//!
//! Routes (`{name}` a model, `{version}` a number or label, as in gRPC):
//!
//! - `GET /v2`: server metadata; `GET /v2/health/live`; `GET /v2/health/ready`
//!   (200 while a model is loaded and the server is not draining, else 503,
//!   the state `grpc.health.v1` reports);
//! - `GET /v2/models/{name}[/versions/{version}]`: model metadata;
//!   `.../ready`: 200 when that model (version) is loaded, else 404;
//! - `POST /v2/models/{name}[/versions/{version}]/infer`: inference;
//! - Triton's extensions `GET .../config` (the `ModelConfig` message in
//!   protobuf JSON with proto field names) and `GET /v2/models[/{name}]/stats`.
//!
//! **Infer bodies.** JSON tensors: `{"id", "parameters", "inputs": [{"name",
//! "shape", "datatype", "parameters", "data"}], "outputs": [{"name",
//! "parameters"}]}`; `data` is the row-major values, flat or nested. The
//! binary tensor extension is supported both ways: a request whose
//! `Inference-Header-Content-Length` header gives the JSON length carries an
//! input's bytes after the JSON (`"parameters": {"binary_data_size": n}`,
//! little-endian, row-major); outputs asked for with `"binary_data": true`
//! (or the request parameter `binary_data_output`) come back the same way.
//! Unknown JSON fields are rejected (400), as on `/v1`; `parameters` are free
//! maps by the protocol. Errors carry the V2 `"error"` message besides the
//! gRPC code name and field violations ([`crate::serve::status::http_error`]).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::sync::watch;
use tonic::Status;

use crate::serve::body::BodyLimits;
use crate::serve::oip::InferenceService;
use crate::serve::proto::inference as pb;
use crate::serve::proto::inference::grpc_inference_service_server::GrpcInferenceService;
use crate::serve::status::ServiceError;

/// Header giving the length of the JSON part of a binary-extension body.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// Every route of [`routes`] as (method, path, the OIP method it calls: its
/// `rpc` metric label).
pub const ROUTES: &[(&str, &str, &str)] = &[
    ("get", "/v2", "ServerMetadata"),
    ("get", "/v2/health/live", "ServerLive"),
    ("get", "/v2/health/ready", "ServerReady"),
    ("get", "/v2/models/stats", "ModelStatistics"),
    ("get", "/v2/models/{name}", "ModelMetadata"),
    ("get", "/v2/models/{name}/ready", "ModelReady"),
    ("get", "/v2/models/{name}/config", "ModelConfig"),
    ("get", "/v2/models/{name}/stats", "ModelStatistics"),
    ("post", "/v2/models/{name}/infer", "ModelInfer"),
    (
        "get",
        "/v2/models/{name}/versions/{version}",
        "ModelMetadata",
    ),
    (
        "get",
        "/v2/models/{name}/versions/{version}/ready",
        "ModelReady",
    ),
    (
        "get",
        "/v2/models/{name}/versions/{version}/config",
        "ModelConfig",
    ),
    (
        "get",
        "/v2/models/{name}/versions/{version}/stats",
        "ModelStatistics",
    ),
    (
        "post",
        "/v2/models/{name}/versions/{version}/infer",
        "ModelInfer",
    ),
];

/// What the V2 handlers share.
#[derive(Debug)]
struct RestApi {
    service: InferenceService,
    pool: DescriptorPool,
    body: BodyLimits,
    /// True once the drain has started: readiness turns false.
    draining: watch::Receiver<bool>,
}

/// The V2 routes over `service` (without the limit layers, which
/// `crate::serve::http::router` puts around every HTTP route).
pub(crate) fn routes(
    service: InferenceService,
    pool: DescriptorPool,
    body: BodyLimits,
    draining: watch::Receiver<bool>,
) -> Router {
    let api = Arc::new(RestApi {
        service,
        pool,
        body,
        draining,
    });
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
        .route("/v2/models/stats", get(all_stats))
        .route("/v2/models/{name}", get(metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/config", get(config))
        .route("/v2/models/{name}/stats", get(stats))
        .route("/v2/models/{name}/infer", post(infer))
        .route("/v2/models/{name}/versions/{version}", get(metadata))
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(model_ready),
        )
        .route("/v2/models/{name}/versions/{version}/config", get(config))
        .route("/v2/models/{name}/versions/{version}/stats", get(stats))
        .route("/v2/models/{name}/versions/{version}/infer", post(infer))
        .with_state(api)
}

/// Model name and optional version from the path.
#[derive(Debug, Deserialize)]
struct ModelPath {
    name: String,
    #[serde(default)]
    version: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ServiceError {
    ServiceError::InvalidField {
        field: field.into(),
        message: message.into(),
    }
}

/// A request for the gRPC handler, carrying the HTTP headers and extensions.
fn grpc_request<T>(parts: http::request::Parts, message: T) -> tonic::Request<T> {
    tonic::Request::from_http(http::Request::from_parts(parts, message))
}

/// `body` as JSON, with the answer's `x-request-id`.
fn json_answer(
    status: http::StatusCode,
    body: &Value,
    metadata: &tonic::metadata::MetadataMap,
) -> Response {
    let mut response = (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    copy_request_id(metadata, &mut response);
    response
}

fn copy_request_id(metadata: &tonic::metadata::MetadataMap, response: &mut Response) {
    if let Some(id) = metadata
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| http::HeaderValue::from_str(v).ok())
    {
        response.headers_mut().insert("x-request-id", id);
    }
}

fn error_answer(status: &Status) -> Response {
    let mut response = crate::serve::status::http_error(status).into_response();
    copy_request_id(status.metadata(), &mut response);
    response
}

/// Protobuf JSON of an OIP message, proto field names (as Triton writes them).
fn proto_json<M: prost::Message>(
    pool: &DescriptorPool,
    full_name: &str,
    message: &M,
) -> Result<Value, ServiceError> {
    let descriptor = pool
        .get_message_by_name(full_name)
        .ok_or_else(|| ServiceError::Internal(format!("no descriptor for {full_name}")))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .stringify_64_bit_integers(false);
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| ServiceError::Internal(e.to_string()))
}

// ---------------------------------------------------------------------------
// Server and health

async fn server_metadata(State(api): State<Arc<RestApi>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    match api
        .service
        .server_metadata(grpc_request(parts, pb::ServerMetadataRequest {}))
        .await
    {
        Ok(response) => {
            let (metadata, m, _) = response.into_parts();
            let body = json!({"name": m.name, "version": m.version, "extensions": m.extensions});
            json_answer(http::StatusCode::OK, &body, &metadata)
        }
        Err(status) => error_answer(&status),
    }
}

async fn live(State(api): State<Arc<RestApi>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    match api
        .service
        .server_live(grpc_request(parts, pb::ServerLiveRequest {}))
        .await
    {
        Ok(response) => {
            let (metadata, m, _) = response.into_parts();
            json_answer(http::StatusCode::OK, &json!({"live": m.live}), &metadata)
        }
        Err(status) => error_answer(&status),
    }
}

async fn ready(State(api): State<Arc<RestApi>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    match api
        .service
        .server_ready(grpc_request(parts, pb::ServerReadyRequest {}))
        .await
    {
        Ok(response) => {
            let (metadata, m, _) = response.into_parts();
            let ready = m.ready && !*api.draining.borrow();
            let code = if ready {
                http::StatusCode::OK
            } else {
                http::StatusCode::SERVICE_UNAVAILABLE
            };
            json_answer(code, &json!({"ready": ready}), &metadata)
        }
        Err(status) => error_answer(&status),
    }
}

// ---------------------------------------------------------------------------
// Models

async fn metadata(
    State(api): State<Arc<RestApi>>,
    Path(path): Path<ModelPath>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let message = pb::ModelMetadataRequest {
        name: path.name,
        version: path.version,
    };
    match api
        .service
        .model_metadata(grpc_request(parts, message))
        .await
    {
        Ok(response) => {
            let (metadata, m, _) = response.into_parts();
            let tensors = |t: &[pb::model_metadata_response::TensorMetadata]| {
                t.iter()
                    .map(|t| json!({"name": t.name, "datatype": t.datatype, "shape": t.shape}))
                    .collect::<Vec<_>>()
            };
            let body = json!({
                "name": m.name,
                "versions": m.versions,
                "platform": m.platform,
                "inputs": tensors(&m.inputs),
                "outputs": tensors(&m.outputs),
            });
            json_answer(http::StatusCode::OK, &body, &metadata)
        }
        Err(status) => error_answer(&status),
    }
}

async fn model_ready(
    State(api): State<Arc<RestApi>>,
    Path(path): Path<ModelPath>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    // ModelReady says yes or no; a no is answered with the error Infer would
    // give (NOT_FOUND, or UNAVAILABLE when nothing is loaded).
    let message = pb::ModelReadyRequest {
        name: path.name.clone(),
        version: path.version.clone(),
    };
    match api.service.model_ready(grpc_request(parts, message)).await {
        Ok(response) => {
            let (metadata, m, _) = response.into_parts();
            if m.ready {
                let body = json!({"name": path.name, "ready": true});
                return json_answer(http::StatusCode::OK, &body, &metadata);
            }
            let Some(err) = api.service.lookup_error(&path.name, &path.version) else {
                // Loaded since.
                let body = json!({"name": path.name, "ready": true});
                return json_answer(http::StatusCode::OK, &body, &metadata);
            };
            let mut status = Status::from(err);
            if let Some(id) = metadata.get("x-request-id") {
                status.metadata_mut().insert("x-request-id", id.clone());
            }
            error_answer(&status)
        }
        Err(status) => error_answer(&status),
    }
}

async fn config(
    State(api): State<Arc<RestApi>>,
    Path(path): Path<ModelPath>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let message = pb::ModelConfigRequest {
        name: path.name,
        version: path.version,
    };
    match api.service.model_config(grpc_request(parts, message)).await {
        Ok(response) => {
            let (metadata, m, _) = response.into_parts();
            let config = m.config.unwrap_or_default();
            match proto_json(&api.pool, "inference.ModelConfig", &config) {
                Ok(body) => json_answer(http::StatusCode::OK, &body, &metadata),
                Err(err) => error_answer(&Status::from(err)),
            }
        }
        Err(status) => error_answer(&status),
    }
}

async fn stats_of(
    api: &RestApi,
    parts: http::request::Parts,
    name: String,
    version: String,
) -> Response {
    let message = pb::ModelStatisticsRequest { name, version };
    match api
        .service
        .model_statistics(grpc_request(parts, message))
        .await
    {
        Ok(response) => {
            let (metadata, m, _) = response.into_parts();
            match proto_json(&api.pool, "inference.ModelStatisticsResponse", &m) {
                Ok(body) => json_answer(http::StatusCode::OK, &body, &metadata),
                Err(err) => error_answer(&Status::from(err)),
            }
        }
        Err(status) => error_answer(&status),
    }
}

async fn stats(
    State(api): State<Arc<RestApi>>,
    Path(path): Path<ModelPath>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    stats_of(&api, parts, path.name, path.version).await
}

async fn all_stats(State(api): State<Arc<RestApi>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    stats_of(&api, parts, String::new(), String::new()).await
}

// ---------------------------------------------------------------------------
// Infer

/// The JSON part of an infer request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InferBody {
    #[serde(default)]
    id: String,
    #[serde(default)]
    parameters: Map<String, Value>,
    inputs: Vec<InputBody>,
    #[serde(default)]
    outputs: Vec<OutputBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputBody {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Map<String, Value>,
    #[serde(default)]
    data: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputBody {
    name: String,
    #[serde(default)]
    parameters: Map<String, Value>,
}

/// Splits a body into its JSON and, with the binary extension, its tensor bytes.
fn split_body(headers: &http::HeaderMap, body: &Bytes) -> Result<(Bytes, Bytes), ServiceError> {
    let Some(value) = headers.get(HEADER_LENGTH) else {
        return Ok((body.clone(), Bytes::new()));
    };
    let length = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n <= body.len())
        .ok_or_else(|| {
            invalid(
                "Inference-Header-Content-Length",
                format!(
                    "header Inference-Header-Content-Length must be the JSON length, at most the body's {} bytes, got {value:?}",
                    body.len()
                ),
            )
        })?;
    Ok((body.slice(..length), body.slice(length..)))
}

/// JSON parameters as OIP parameters (booleans, integers, strings).
fn parameters(
    map: &Map<String, Value>,
    field: &str,
) -> Result<HashMap<String, pb::InferParameter>, ServiceError> {
    use pb::infer_parameter::ParameterChoice;
    map.iter()
        .map(|(key, value)| {
            let choice = match value {
                Value::Bool(b) => ParameterChoice::BoolParam(*b),
                Value::String(s) => ParameterChoice::StringParam(s.clone()),
                Value::Number(n) if n.as_i64().is_some() => {
                    ParameterChoice::Int64Param(n.as_i64().unwrap_or_default())
                }
                other => {
                    return Err(invalid(
                        format!("{field}.{key}"),
                        format!("parameter \"{key}\" must be a boolean, an integer or a string, got {other}"),
                    ))
                }
            };
            Ok((
                key.clone(),
                pb::InferParameter {
                    parameter_choice: Some(choice),
                },
            ))
        })
        .collect()
}

/// The numbers of `data`, flat or nested, in row-major order.
fn flatten(data: &Value, field: &str, out: &mut Vec<f64>) -> Result<(), ServiceError> {
    match data {
        Value::Array(items) => {
            for item in items {
                flatten(item, field, out)?;
            }
            Ok(())
        }
        Value::Number(n) => {
            out.push(n.as_f64().unwrap_or(f64::NAN));
            Ok(())
        }
        other => Err(invalid(
            field,
            format!(
                "element {} of the tensor data is {other}, not a number",
                out.len()
            ),
        )),
    }
}

fn binary_size(parameters: &Map<String, Value>) -> Option<&Value> {
    parameters.get("binary_data_size")
}

/// The JSON infer request as the OIP protobuf request.
fn to_grpc_request(
    path: ModelPath,
    body: InferBody,
    mut binary: Bytes,
) -> Result<(pb::ModelInferRequest, Vec<bool>), ServiceError> {
    let mut request = pb::ModelInferRequest {
        model_name: path.name,
        model_version: path.version,
        id: body.id,
        ..Default::default()
    };
    let mut request_parameters = body.parameters;
    let binary_output = match request_parameters.remove("binary_data_output") {
        None => false,
        Some(Value::Bool(b)) => b,
        Some(other) => {
            return Err(invalid(
                "parameters.binary_data_output",
                format!("binary_data_output must be true or false, got {other}"),
            ))
        }
    };
    request.parameters = parameters(&request_parameters, "parameters")?;
    for (i, input) in body.inputs.into_iter().enumerate() {
        let mut input_parameters = input.parameters;
        let size = binary_size(&input_parameters).cloned();
        input_parameters.remove("binary_data_size");
        let mut tensor = pb::model_infer_request::InferInputTensor {
            name: input.name,
            datatype: input.datatype,
            shape: input.shape,
            parameters: parameters(&input_parameters, &format!("inputs[{i}].parameters"))?,
            contents: None,
        };
        match (size, input.data) {
            (Some(size), None) => {
                let n = size
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| *n <= binary.len())
                    .ok_or_else(|| {
                        invalid(
                            format!("inputs[{i}].parameters.binary_data_size"),
                            format!(
                                "binary_data_size must be a byte count within the {} bytes after the JSON, got {size}",
                                binary.len()
                            ),
                        )
                    })?;
                request.raw_input_contents.push(binary.split_to(n).to_vec());
            }
            (None, Some(data)) => {
                let field = format!("inputs[{i}].data");
                let mut values = Vec::new();
                flatten(&data, &field, &mut values)?;
                let contents = if tensor.datatype == "FP32" {
                    pb::InferTensorContents {
                        fp32_contents: values.iter().map(|v| *v as f32).collect(),
                        ..Default::default()
                    }
                } else {
                    pb::InferTensorContents {
                        fp64_contents: values,
                        ..Default::default()
                    }
                };
                tensor.contents = Some(contents);
            }
            (Some(_), Some(_)) => {
                return Err(invalid(
                    format!("inputs[{i}]"),
                    "an input has either \"data\" or the binary_data_size parameter, not both",
                ))
            }
            (None, None) => {
                return Err(invalid(
                    format!("inputs[{i}].data"),
                    "an input needs \"data\" (JSON values) or the binary_data_size parameter (bytes after the JSON)",
                ))
            }
        }
        request.inputs.push(tensor);
    }
    if !binary.is_empty() {
        return Err(invalid(
            "body",
            format!(
                "{} bytes after the JSON belong to no input's binary_data_size",
                binary.len()
            ),
        ));
    }
    let mut binary_outputs = Vec::with_capacity(body.outputs.len());
    for (i, output) in body.outputs.into_iter().enumerate() {
        let mut output_parameters = output.parameters;
        let binary = match output_parameters.remove("binary_data") {
            None => binary_output,
            Some(Value::Bool(b)) => b,
            Some(other) => {
                return Err(invalid(
                    format!("outputs[{i}].parameters.binary_data"),
                    format!("binary_data must be true or false, got {other}"),
                ))
            }
        };
        binary_outputs.push(binary);
        request
            .outputs
            .push(pb::model_infer_request::InferRequestedOutputTensor {
                name: output.name,
                parameters: parameters(&output_parameters, &format!("outputs[{i}].parameters"))?,
            });
    }
    if binary_outputs.is_empty() {
        // The default output, in the requested form.
        binary_outputs.push(binary_output);
    }
    Ok((request, binary_outputs))
}

/// One output's values, from typed contents or raw little-endian bytes.
enum Values {
    F64(Vec<f64>),
    U32(Vec<u32>),
}

impl Values {
    fn of(tensor: &pb::model_infer_response::InferOutputTensor, raw: Option<&Vec<u8>>) -> Self {
        let uint = tensor.datatype == "UINT32";
        match (raw, &tensor.contents) {
            (Some(bytes), _) if uint => Values::U32(
                bytes
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            (Some(bytes), _) => Values::F64(
                bytes
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            ),
            (None, Some(c)) if uint => Values::U32(c.uint_contents.clone()),
            (None, Some(c)) => Values::F64(c.fp64_contents.clone()),
            (None, None) => Values::F64(Vec::new()),
        }
    }

    fn json(&self) -> Value {
        match self {
            Values::F64(v) => json!(v),
            Values::U32(v) => json!(v),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            Values::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Values::U32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
}

/// The OIP answer as V2 JSON, with the binary outputs after it.
fn from_grpc_response(
    response: &pb::ModelInferResponse,
    binary_outputs: &[bool],
) -> (Value, Vec<u8>) {
    let mut tail = Vec::new();
    let outputs: Vec<Value> = response
        .outputs
        .iter()
        .enumerate()
        .map(|(i, tensor)| {
            let values = Values::of(tensor, response.raw_output_contents.get(i));
            let mut out = json!({
                "name": tensor.name,
                "datatype": tensor.datatype,
                "shape": tensor.shape,
            });
            if binary_outputs.get(i).copied().unwrap_or(false) {
                let bytes = values.bytes();
                out["parameters"] = json!({"binary_data_size": bytes.len()});
                tail.extend_from_slice(&bytes);
            } else {
                out["data"] = values.json();
            }
            out
        })
        .collect();
    let mut body = json!({
        "model_name": response.model_name,
        "model_version": response.model_version,
        "outputs": outputs,
    });
    if !response.id.is_empty() {
        body["id"] = json!(response.id);
    }
    (body, tail)
}

/// A V2 REST infer body (JSON, or JSON plus binary tensors when the
/// `Inference-Header-Content-Length` header is set) as the OIP protobuf request
/// for `model`/`version`, with which outputs the caller wants as binary.
/// Every malformed body is a [`ServiceError::InvalidField`] naming the field;
/// fuzzed by `fuzz/fuzz_targets/v2_rest_infer.rs`.
pub fn decode_infer(
    model: String,
    version: String,
    headers: &http::HeaderMap,
    bytes: &Bytes,
) -> Result<(pb::ModelInferRequest, Vec<bool>), ServiceError> {
    let (json_part, binary) = split_body(headers, bytes)?;
    let body: InferBody = serde_json::from_slice(&json_part)
        .map_err(|e| invalid("body", format!("body: not a V2 inference request: {e}")))?;
    let path = ModelPath {
        name: model,
        version,
    };
    to_grpc_request(path, body, binary)
}

async fn infer(
    State(api): State<Arc<RestApi>>,
    Path(path): Path<ModelPath>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let read = crate::serve::body::read_limited(body, api.body).await;
    let prepared =
        read.and_then(|bytes| decode_infer(path.name, path.version, &parts.headers, &bytes));
    let (message, binary_outputs) = match prepared {
        Ok(prepared) => prepared,
        // Logged and counted as the OIP handler's answers are.
        Err(err) => return crate::serve::body::refuse(parts, err),
    };
    match api.service.model_infer(grpc_request(parts, message)).await {
        Ok(response) => {
            let (metadata, m, _) = response.into_parts();
            let (body, tail) = from_grpc_response(&m, &binary_outputs);
            if tail.is_empty() {
                return json_answer(http::StatusCode::OK, &body, &metadata);
            }
            let mut bytes = body.to_string().into_bytes();
            let length = bytes.len();
            bytes.extend_from_slice(&tail);
            let mut response = (
                [
                    (
                        http::header::CONTENT_TYPE,
                        "application/octet-stream".to_string(),
                    ),
                    (
                        http::HeaderName::from_static(HEADER_LENGTH),
                        length.to_string(),
                    ),
                ],
                bytes,
            )
                .into_response();
            copy_request_id(&metadata, &mut response);
            response
        }
        Err(status) => error_answer(&status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> ModelPath {
        ModelPath {
            name: "m".into(),
            version: String::new(),
        }
    }

    #[test]
    fn json_and_binary_inputs_become_oip_requests() {
        let body: InferBody = serde_json::from_str(
            r#"{"id":"x","inputs":[{"name":"leads","shape":[2,2],"datatype":"FP64","data":[[1,2],[3,4.5]]}],
                "outputs":[{"name":"probability","parameters":{"binary_data":true}},{"name":"score"}]}"#,
        )
        .expect("body");
        let (request, binary) = to_grpc_request(path(), body, Bytes::new()).expect("request");
        assert_eq!(
            request.inputs[0]
                .contents
                .as_ref()
                .expect("contents")
                .fp64_contents,
            vec![1.0, 2.0, 3.0, 4.5]
        );
        assert_eq!(binary, vec![true, false]);

        let bytes: Vec<u8> = [1.0f64, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let body: InferBody = serde_json::from_str(
            r#"{"inputs":[{"name":"leads","shape":[1,2],"datatype":"FP64","parameters":{"binary_data_size":16}}]}"#,
        )
        .expect("body");
        let (request, binary) =
            to_grpc_request(path(), body, Bytes::from(bytes.clone())).expect("request");
        assert_eq!(request.raw_input_contents, vec![bytes]);
        assert_eq!(binary, vec![false]);
    }

    #[test]
    fn malformed_tensors_name_their_field() {
        for (json, field) in [
            (
                r#"{"inputs":[{"name":"leads","shape":[1,1],"datatype":"FP64","data":["a"]}]}"#,
                "inputs[0].data",
            ),
            (
                r#"{"inputs":[{"name":"leads","shape":[1,1],"datatype":"FP64"}]}"#,
                "inputs[0].data",
            ),
            (
                r#"{"inputs":[{"name":"leads","shape":[1,1],"datatype":"FP64","parameters":{"binary_data_size":8}}]}"#,
                "inputs[0].parameters.binary_data_size",
            ),
            (
                r#"{"inputs":[],"parameters":{"binary_data_output":3}}"#,
                "parameters.binary_data_output",
            ),
        ] {
            let body: InferBody = serde_json::from_str(json).expect("body");
            let err = to_grpc_request(path(), body, Bytes::new()).expect_err(json);
            assert!(
                matches!(&err, ServiceError::InvalidField { field: f, .. } if f == field),
                "{json}: {err:?}"
            );
        }
        assert!(serde_json::from_str::<InferBody>(r#"{"inputs":[],"bogus":1}"#).is_err());
    }
}
