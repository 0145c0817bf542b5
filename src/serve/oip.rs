//! The Open Inference Protocol (KServe V2, `inference.GRPCInferenceService`)
//! over the same model registry as `leadscore.v1.LeadScoring`, with Triton's
//! `ModelConfig` and `ModelStatistics` extensions, so KServe clients, Triton's
//! `tritonclient` and `perf_analyzer` can score leads unchanged.
//!
//! The mapping (also in `proto/inference/grpc_service.proto`):
//!
//! - **Input** `"leads"`: one tensor of shape `[batch, n_features]`, FP64 (FP32
//!   is accepted too), from `contents` (`fp64_contents` / `fp32_contents`) or
//!   `raw_input_contents` (little-endian, row-major). Each row is a dense lead
//!   exactly like `leadscore.v1.Lead.values`: one number per feature in
//!   `GetModel`'s feature order, categorical features as the index of their
//!   category, booleans 0 or 1. It is scored a block of rows at a time by
//!   [`crate::scoring::dense`], which gives bit for bit what LeadScoring's
//!   dense-lead path gives, so FP64 rows score identically.
//! - **Outputs**: `"probability"` FP64 `[batch, 1]` (the default when no output
//!   is requested), `"score"` UINT32 `[batch, 1]` and `"contributions"` FP64
//!   `[batch, n_features]` (each feature's log-odds contribution in feature
//!   order, as Explain computes them) when requested by name. A request sent
//!   with `raw_input_contents` is answered with `raw_output_contents`, one sent
//!   with `contents` with `contents`. ModelMetadata and ModelConfig list only
//!   `probability` (clients such as perf_analyzer request every listed output,
//!   and contributions cost an explanation per row); ModelConfig's
//!   `optional_outputs` parameter names the other two.
//! - **Models**: an empty model name is the default model, an empty version the
//!   newest loaded one; a version may be a number or a label, as in
//!   LeadScoring. `ModelConfig` gives `max_batch_size` = the leads-per-request
//!   limit, `dims` without the batch dimension, and the feature names in input
//!   column order as the `feature_names` parameter (and the full schema, with
//!   categories, as the `features` JSON parameter).
//! - **Errors**: unknown model or version NOT_FOUND (UNAVAILABLE when nothing is
//!   loaded); a malformed tensor INVALID_ARGUMENT naming the input and the
//!   problem, with a `google.rpc.BadRequest` field violation.
//!
//! Every RPC records `leadscore_requests_total` and
//! `leadscore_request_duration_seconds` (rpc = the OIP method name);
//! ModelInfer also records leads scored, the probability histogram and feature
//! fallbacks like Score does, and per-version counters for `ModelStatistics`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tonic::{Request, Response, Status};

use crate::scoring::batch::{BatchError, Deadline};
use crate::scoring::dense::{contributions_dense_rows, score_dense_rows, DenseScores};
use crate::scoring::features::{FeatureError, FeatureSpec};
use crate::scoring::model::display_score;
use crate::serve::grpc::{record_probabilities, Call, SharedRegistry, BLOCKING_BATCH};
use crate::serve::proto::inference as pb;
use crate::serve::proto::inference::grpc_inference_service_server::{
    GrpcInferenceService, GrpcInferenceServiceServer,
};
use crate::serve::registry::{LoadedModel, ModelRegistry};
use crate::serve::status::ServiceError;

/// Name of the one input tensor.
pub const INPUT: &str = "leads";
/// Output: probability of conversion, FP64 `[batch, 1]`.
pub const OUTPUT_PROBABILITY: &str = "probability";
/// Output: display score 1..=99, UINT32 `[batch, 1]`.
pub const OUTPUT_SCORE: &str = "score";
/// Output: per-feature log-odds contributions, FP64 `[batch, n_features]`.
pub const OUTPUT_CONTRIBUTIONS: &str = "contributions";
/// `ServerMetadata.name`.
pub const SERVER_NAME: &str = "leadscore";
/// Protocol extensions served besides the core protocol.
pub const EXTENSIONS: &[&str] = &["model_configuration", "statistics"];
/// Backend name in `ModelConfig`.
pub const BACKEND: &str = "leadscore";

/// Platform of a model: `leadscore_<estimator kind>`, e.g. `leadscore_logistic`.
pub fn platform(loaded: &LoadedModel) -> String {
    format!("leadscore_{}", loaded.model.artifact().estimator.kind())
}

/// Implementation of `inference.GRPCInferenceService`.
#[derive(Debug, Clone)]
pub struct InferenceService {
    registry: SharedRegistry,
    max_leads_per_request: usize,
    stats: Arc<Statistics>,
}

impl InferenceService {
    /// A service over `registry`, refusing batches of more than
    /// `max_leads_per_request` rows (the LeadScoring limit).
    pub fn new(registry: SharedRegistry, max_leads_per_request: usize) -> Self {
        Self {
            registry,
            max_leads_per_request,
            stats: Arc::default(),
        }
    }

    /// The tonic service, with the server's message size limit both ways.
    pub fn into_server(self, max_message_bytes: usize) -> GrpcInferenceServiceServer<Self> {
        GrpcInferenceServiceServer::new(self)
            .max_decoding_message_size(max_message_bytes)
            .max_encoding_message_size(max_message_bytes)
    }

    fn resolve(&self, model: &str, version: &str) -> Result<Arc<LoadedModel>, ServiceError> {
        self.registry
            .load()
            .get(model, version)
            .map_err(ServiceError::from)
    }

    /// Why `model` / `version` does not resolve (for HTTP readiness
    /// answers); `None` when it does.
    pub(crate) fn lookup_error(&self, model: &str, version: &str) -> Option<ServiceError> {
        self.resolve(model, version).err()
    }

    fn max_batch_size(&self) -> i32 {
        i32::try_from(self.max_leads_per_request).unwrap_or(i32::MAX)
    }
}

// ---------------------------------------------------------------------------
// Statistics (Triton's ModelStatistics extension)

/// Cumulative counters of one model version.
#[derive(Debug, Default)]
struct Counters {
    last_inference_ms: AtomicU64,
    inference_count: AtomicU64,
    execution_count: AtomicU64,
    success: StatDuration,
    fail: StatDuration,
    queue: StatDuration,
    compute_input: StatDuration,
    compute_infer: StatDuration,
    compute_output: StatDuration,
}

/// A count and a total duration in nanoseconds.
#[derive(Debug, Default)]
struct StatDuration {
    count: AtomicU64,
    ns: AtomicU64,
}

impl StatDuration {
    fn add(&self, d: Duration) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.ns.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn get(&self) -> pb::StatisticDuration {
        pb::StatisticDuration {
            count: self.count.load(Ordering::Relaxed),
            ns: self.ns.load(Ordering::Relaxed),
        }
    }
}

/// Counters per (model, version), created on first use.
#[derive(Debug, Default)]
struct Statistics {
    by_model: Mutex<BTreeMap<(String, u64), Arc<Counters>>>,
}

impl Statistics {
    fn of(&self, model: &str, version: u64) -> Arc<Counters> {
        let mut map = self
            .by_model
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry((model.to_string(), version)).or_default().clone()
    }

    fn snapshot(&self, loaded: &LoadedModel) -> pb::ModelStatistics {
        let c = self.of(&loaded.name, loaded.version);
        pb::ModelStatistics {
            name: loaded.name.clone(),
            version: loaded.version.to_string(),
            last_inference: c.last_inference_ms.load(Ordering::Relaxed),
            inference_count: c.inference_count.load(Ordering::Relaxed),
            execution_count: c.execution_count.load(Ordering::Relaxed),
            inference_stats: Some(pb::InferStatistics {
                success: Some(c.success.get()),
                fail: Some(c.fail.get()),
                queue: Some(c.queue.get()),
                compute_input: Some(c.compute_input.get()),
                compute_infer: Some(c.compute_infer.get()),
                compute_output: Some(c.compute_output.get()),
            }),
        }
    }
}

/// Where the time of one successful ModelInfer went.
#[derive(Debug, Clone, Copy, Default)]
struct Timings {
    queue: Duration,
    input: Duration,
    infer: Duration,
    output: Duration,
}

// ---------------------------------------------------------------------------
// Request bookkeeping: request id, in-flight gauge, log line, metrics.

/// Ends a call through the shared bookkeeping of [`crate::serve::grpc`] (log line,
/// metrics, request id), labelled with `model` when the call succeeded.
fn finish<T>(
    call: Call,
    leads: usize,
    model: Option<&LoadedModel>,
    result: Result<T, ServiceError>,
) -> Result<Response<T>, Status> {
    let (name, version) = model
        .map(|l| (l.name.clone(), l.version.to_string()))
        .unwrap_or_default();
    call.finish_status(
        leads,
        result
            .map(|body| (body, name, version))
            .map_err(Status::from),
    )
}

/// INVALID_ARGUMENT naming the field (see [`ServiceError::InvalidField`]).
fn invalid(field: impl Into<String>, message: impl Into<String>) -> ServiceError {
    ServiceError::InvalidField {
        field: field.into(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------
// Tensors

/// Element type of the input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Float {
    Fp64,
    Fp32,
}

impl Float {
    fn name(self) -> &'static str {
        match self {
            Float::Fp64 => "FP64",
            Float::Fp32 => "FP32",
        }
    }

    fn size(self) -> usize {
        match self {
            Float::Fp64 => 8,
            Float::Fp32 => 4,
        }
    }
}

/// The input tensor, decoded: `rows` leads of `cols` values, row-major.
#[derive(Debug)]
struct Batch {
    rows: usize,
    cols: usize,
    values: Vec<f64>,
    raw: bool,
}

/// Which typed-contents fields hold data, by name.
fn filled_fields(c: &pb::InferTensorContents) -> Vec<&'static str> {
    let mut out = Vec::new();
    let fields: [(&'static str, bool); 8] = [
        ("bool_contents", c.bool_contents.is_empty()),
        ("int_contents", c.int_contents.is_empty()),
        ("int64_contents", c.int64_contents.is_empty()),
        ("uint_contents", c.uint_contents.is_empty()),
        ("uint64_contents", c.uint64_contents.is_empty()),
        ("fp32_contents", c.fp32_contents.is_empty()),
        ("fp64_contents", c.fp64_contents.is_empty()),
        ("bytes_contents", c.bytes_contents.is_empty()),
    ];
    for (name, empty) in fields {
        if !empty {
            out.push(name);
        }
    }
    out
}

/// Checks and decodes the request's one input tensor (taking its data out of
/// the request).
fn decode_input(
    req: &mut pb::ModelInferRequest,
    specs: &[FeatureSpec],
    max_rows: usize,
) -> Result<Batch, ServiceError> {
    let n = specs.len();
    if req.inputs.len() != 1 {
        let names: Vec<String> = req
            .inputs
            .iter()
            .map(|i| format!("\"{}\"", i.name))
            .collect();
        return Err(invalid(
            "inputs",
            format!(
                "expected exactly one input tensor \"{INPUT}\", got {} ({})",
                req.inputs.len(),
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ),
        ));
    }
    let input = &mut req.inputs[0];
    if input.name != INPUT {
        return Err(invalid(
            "inputs[0].name",
            format!(
                "unknown input \"{}\": this model has one input, \"{INPUT}\"",
                input.name
            ),
        ));
    }
    if input.parameters.contains_key("shared_memory_region") {
        return Err(invalid(
            "inputs[0].parameters",
            format!("input \"{INPUT}\": shared memory is not supported; send contents or raw_input_contents"),
        ));
    }
    let float = match input.datatype.as_str() {
        "FP64" => Float::Fp64,
        "FP32" => Float::Fp32,
        other => {
            return Err(invalid(
                "inputs[0].datatype",
                format!("input \"{INPUT}\": datatype must be FP64 or FP32, got \"{other}\""),
            ))
        }
    };
    let shape = &input.shape;
    let bad_shape = || {
        invalid(
            "inputs[0].shape",
            format!(
                "input \"{INPUT}\": shape must be [batch, {n}] (one row of {n} feature values per lead), got {shape:?}"
            ),
        )
    };
    if shape.len() != 2 || shape.iter().any(|d| *d < 0) || shape[1] as u64 != n as u64 {
        return Err(bad_shape());
    }
    let rows = usize::try_from(shape[0]).map_err(|_| bad_shape())?;
    if rows == 0 {
        return Err(invalid(
            "inputs[0].shape",
            format!(
                "input \"{INPUT}\": the batch is empty (shape {shape:?}); send at least one lead"
            ),
        ));
    }
    if rows > max_rows {
        return Err(invalid(
            "inputs[0].shape",
            format!("input \"{INPUT}\": {rows} leads exceed the limit of {max_rows} per request"),
        ));
    }
    let count = rows.checked_mul(n).ok_or_else(bad_shape)?;
    let shape_text = format!("{shape:?}");

    let filled = input
        .contents
        .as_ref()
        .map(filled_fields)
        .unwrap_or_default();
    let raw = !req.raw_input_contents.is_empty();
    let values: Vec<f64> = if raw {
        if req.raw_input_contents.len() != 1 {
            return Err(invalid(
                "raw_input_contents",
                format!(
                    "raw_input_contents has {} entries for 1 input (\"{INPUT}\")",
                    req.raw_input_contents.len()
                ),
            ));
        }
        if !filled.is_empty() {
            return Err(invalid(
                "inputs[0].contents",
                format!(
                    "input \"{INPUT}\": both contents ({}) and raw_input_contents are given; send one",
                    filled.join(", ")
                ),
            ));
        }
        let bytes = std::mem::take(&mut req.raw_input_contents[0]);
        let expected = count.checked_mul(float.size()).ok_or_else(bad_shape)?;
        if bytes.len() != expected {
            return Err(invalid(
                "raw_input_contents[0]",
                format!(
                    "input \"{INPUT}\": raw_input_contents[0] has {} bytes, but shape {shape_text} of {} needs {expected} ({count} values of {} bytes, little-endian)",
                    bytes.len(),
                    float.name(),
                    float.size()
                ),
            ));
        }
        match float {
            Float::Fp64 => bytes
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                .collect(),
            Float::Fp32 => bytes
                .chunks_exact(4)
                .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .collect(),
        }
    } else {
        let wanted = match float {
            Float::Fp64 => "fp64_contents",
            Float::Fp32 => "fp32_contents",
        };
        if filled.is_empty() {
            return Err(invalid(
                "inputs[0].contents",
                format!("input \"{INPUT}\": no data; send contents.{wanted} or raw_input_contents"),
            ));
        }
        if let Some(other) = filled.iter().find(|f| **f != wanted) {
            return Err(invalid(
                format!("inputs[0].contents.{other}"),
                format!(
                    "input \"{INPUT}\": datatype {} takes contents.{wanted}, got contents.{}",
                    float.name(),
                    filled.join(", contents.")
                ),
            ));
        }
        let contents = input.contents.take().unwrap_or_default();
        let got = match float {
            Float::Fp64 => contents.fp64_contents.len(),
            Float::Fp32 => contents.fp32_contents.len(),
        };
        if got != count {
            return Err(invalid(
                format!("inputs[0].contents.{wanted}"),
                format!(
                    "input \"{INPUT}\": contents.{wanted} has {got} values, but shape {shape_text} needs {count}"
                ),
            ));
        }
        match float {
            Float::Fp64 => contents.fp64_contents,
            Float::Fp32 => contents.fp32_contents.into_iter().map(f64::from).collect(),
        }
    };
    if let Some(at) = values.iter().position(|v| !v.is_finite()) {
        let (row, col) = (at / n, at % n);
        return Err(invalid(
            format!("inputs[0][{row}][{col}]"),
            format!(
                "input \"{INPUT}\": row {row}, column {col} (feature \"{}\") is {}; values must be finite",
                specs[col].name, values[at]
            ),
        ));
    }
    Ok(Batch {
        rows,
        cols: n,
        values,
        raw,
    })
}

/// An output the model can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Probability,
    Score,
    Contributions,
}

impl Output {
    fn name(self) -> &'static str {
        match self {
            Output::Probability => OUTPUT_PROBABILITY,
            Output::Score => OUTPUT_SCORE,
            Output::Contributions => OUTPUT_CONTRIBUTIONS,
        }
    }
}

/// The outputs a request asks for, in its order; none = probability only.
fn requested_outputs(req: &pb::ModelInferRequest) -> Result<Vec<Output>, ServiceError> {
    if req.outputs.is_empty() {
        return Ok(vec![Output::Probability]);
    }
    let mut out = Vec::with_capacity(req.outputs.len());
    for (i, o) in req.outputs.iter().enumerate() {
        let output = match o.name.as_str() {
            OUTPUT_PROBABILITY => Output::Probability,
            OUTPUT_SCORE => Output::Score,
            OUTPUT_CONTRIBUTIONS => Output::Contributions,
            other => {
                return Err(invalid(
                    format!("outputs[{i}].name"),
                    format!(
                        "unknown output \"{other}\"; this model has \"{OUTPUT_PROBABILITY}\", \"{OUTPUT_SCORE}\" and \"{OUTPUT_CONTRIBUTIONS}\""
                    ),
                ))
            }
        };
        if o.parameters.contains_key("shared_memory_region") {
            return Err(invalid(
                format!("outputs[{i}].parameters"),
                format!(
                    "output \"{}\": shared memory is not supported",
                    output.name()
                ),
            ));
        }
        if o.parameters.get("classification").is_some_and(|p| {
            !matches!(
                p.parameter_choice,
                Some(pb::infer_parameter::ParameterChoice::Int64Param(0))
            )
        }) {
            return Err(invalid(
                format!("outputs[{i}].parameters"),
                format!(
                    "output \"{}\": classification is not supported",
                    output.name()
                ),
            ));
        }
        if out.contains(&output) {
            return Err(invalid(
                format!("outputs[{i}].name"),
                format!("output \"{}\" is requested twice", output.name()),
            ));
        }
        out.push(output);
    }
    Ok(out)
}

/// Probabilities and fallbacks of a batch, and contributions (row-major,
/// feature order) when asked.
struct Scored {
    scores: DenseScores,
    contributions: Option<Vec<f64>>,
}

/// Scores every row as a dense lead, a block at a time
/// ([`score_dense_rows`]), and computes the rows' contributions when asked
/// ([`contributions_dense_rows`]).
fn score_rows(
    loaded: &LoadedModel,
    batch: &Batch,
    explain: bool,
    deadline: Option<Deadline>,
) -> Result<Scored, ServiceError> {
    let n = batch.cols;
    // A bad row names its tensor row; the deadline maps as on every path
    // (`From<BatchError<ServiceError>> for ServiceError`).
    let failed = |e: BatchError<FeatureError>| {
        ServiceError::from(e.map_row(|index, error| {
            invalid(
                format!("inputs[0][{index}]"),
                format!("input \"{INPUT}\" row {index}: {error}"),
            )
        }))
    };
    let scores = score_dense_rows(&loaded.model, &batch.values, n, deadline).map_err(failed)?;
    let contributions = if explain {
        Some(contributions_dense_rows(&loaded.model, &batch.values, n, deadline).map_err(failed)?)
    } else {
        None
    };
    Ok(Scored {
        scores,
        contributions,
    })
}

/// One output tensor: its typed contents and its raw little-endian bytes.
fn output_tensor(
    output: Output,
    rows: usize,
    n: usize,
    scored: &Scored,
    raw: bool,
) -> (pb::model_infer_response::InferOutputTensor, Option<Vec<u8>>) {
    let rows_i = rows as i64;
    let (datatype, shape, contents, bytes) = match output {
        Output::Probability => {
            let v: Vec<f64> = scored.scores.probabilities.clone();
            let bytes = raw.then(|| v.iter().flat_map(|x| x.to_le_bytes()).collect());
            let contents = pb::InferTensorContents {
                fp64_contents: if raw { Vec::new() } else { v },
                ..Default::default()
            };
            ("FP64", vec![rows_i, 1], contents, bytes)
        }
        Output::Score => {
            let v: Vec<u32> = scored
                .scores
                .probabilities
                .iter()
                .map(|p| display_score(*p))
                .collect();
            let bytes = raw.then(|| v.iter().flat_map(|x| x.to_le_bytes()).collect());
            let contents = pb::InferTensorContents {
                uint_contents: if raw { Vec::new() } else { v },
                ..Default::default()
            };
            ("UINT32", vec![rows_i, 1], contents, bytes)
        }
        Output::Contributions => {
            let v = scored.contributions.clone().unwrap_or_default();
            let bytes = raw.then(|| v.iter().flat_map(|x| x.to_le_bytes()).collect());
            let contents = pb::InferTensorContents {
                fp64_contents: if raw { Vec::new() } else { v },
                ..Default::default()
            };
            ("FP64", vec![rows_i, n as i64], contents, bytes)
        }
    };
    (
        pb::model_infer_response::InferOutputTensor {
            name: output.name().to_string(),
            datatype: datatype.to_string(),
            shape,
            parameters: HashMap::new(),
            contents: (!raw).then_some(contents),
        },
        bytes,
    )
}

/// What ModelInfer produced, for the response, metrics and statistics.
struct Inferred {
    response: pb::ModelInferResponse,
    rows: usize,
    timings: Timings,
}

impl InferenceService {
    /// ModelInfer without the bookkeeping. The loaded model is returned with
    /// the error too, when one was resolved, so failures count against it.
    async fn infer(
        &self,
        mut req: pb::ModelInferRequest,
        deadline: Option<Deadline>,
        started: Instant,
    ) -> (Option<Arc<LoadedModel>>, Result<Inferred, ServiceError>) {
        let loaded = match self.resolve(&req.model_name, &req.model_version) {
            Ok(loaded) => loaded,
            Err(status) => return (None, Err(status)),
        };
        let result = self.infer_with(&loaded, &mut req, deadline, started).await;
        (Some(loaded), result)
    }

    async fn infer_with(
        &self,
        loaded: &Arc<LoadedModel>,
        req: &mut pb::ModelInferRequest,
        deadline: Option<Deadline>,
        started: Instant,
    ) -> Result<Inferred, ServiceError> {
        let queue = started.elapsed();
        let t = Instant::now();
        let outputs = requested_outputs(req)?;
        let batch = decode_input(
            req,
            loaded.model.pipeline().specs(),
            self.max_leads_per_request,
        )?;
        let input = t.elapsed();

        let t = Instant::now();
        let explain = outputs.contains(&Output::Contributions);
        let (batch, scored) = if batch.rows < BLOCKING_BATCH {
            let scored = score_rows(loaded, &batch, explain, deadline)?;
            (batch, scored)
        } else {
            let loaded = loaded.clone();
            tokio::task::spawn_blocking(move || {
                let scored = score_rows(&loaded, &batch, explain, deadline)?;
                Ok::<_, ServiceError>((batch, scored))
            })
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))??
        };
        let infer = t.elapsed();

        let t = Instant::now();
        record_probabilities(
            loaded,
            "ModelInfer",
            &scored.scores.probabilities,
            &scored.scores.fallbacks,
        );
        let mut response = pb::ModelInferResponse {
            model_name: loaded.name.clone(),
            model_version: loaded.version.to_string(),
            id: std::mem::take(&mut req.id),
            ..Default::default()
        };
        for output in outputs {
            let (tensor, bytes) = output_tensor(output, batch.rows, batch.cols, &scored, batch.raw);
            response.outputs.push(tensor);
            if let Some(bytes) = bytes {
                response.raw_output_contents.push(bytes);
            }
        }
        let output = t.elapsed();
        Ok(Inferred {
            response,
            rows: batch.rows,
            timings: Timings {
                queue,
                input,
                infer,
                output,
            },
        })
    }
}

// ---------------------------------------------------------------------------
// Metadata

fn tensor_meta(
    name: &str,
    datatype: &str,
    shape: Vec<i64>,
) -> pb::model_metadata_response::TensorMetadata {
    pb::model_metadata_response::TensorMetadata {
        name: name.to_string(),
        datatype: datatype.to_string(),
        shape,
    }
}

fn model_metadata(registry: &ModelRegistry, loaded: &LoadedModel) -> pb::ModelMetadataResponse {
    let n = loaded.model.pipeline().specs().len() as i64;
    pb::ModelMetadataResponse {
        name: loaded.name.clone(),
        versions: registry
            .all()
            .filter(|m| m.name == loaded.name)
            .map(|m| m.version.to_string())
            .collect(),
        platform: platform(loaded),
        inputs: vec![tensor_meta(INPUT, "FP64", vec![-1, n])],
        // Only the default output: clients such as perf_analyzer request every
        // listed output, and contributions cost an explanation per row. The
        // optional outputs are named in ModelConfig's `optional_outputs`.
        outputs: vec![tensor_meta(OUTPUT_PROBABILITY, "FP64", vec![-1, 1])],
    }
}

fn model_config(loaded: &LoadedModel, max_batch_size: i32) -> pb::ModelConfig {
    let specs = loaded.model.pipeline().specs();
    let n = specs.len() as i64;
    let schema: Vec<serde_json::Value> = specs
        .iter()
        .map(|f| {
            serde_json::json!({
                "name": f.name,
                "kind": f.kind().as_str(),
                "categories": f.categories(),
            })
        })
        .collect();
    let parameter = |s: String| pb::ModelParameter { string_value: s };
    let parameters: HashMap<String, pb::ModelParameter> = [
        ("version", loaded.version.to_string()),
        (
            "feature_names",
            specs
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("features", serde_json::Value::Array(schema).to_string()),
        ("input_datatypes", "FP64,FP32".to_string()),
        (
            "optional_outputs",
            format!("{OUTPUT_SCORE} UINT32 [-1,1]; {OUTPUT_CONTRIBUTIONS} FP64 [-1,{n}]"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), parameter(v)))
    .collect();
    let fp64 = pb::DataType::TypeFp64 as i32;
    pb::ModelConfig {
        name: loaded.name.clone(),
        platform: platform(loaded),
        max_batch_size,
        input: vec![pb::ModelInput {
            name: INPUT.to_string(),
            data_type: fp64,
            dims: vec![n],
        }],
        output: vec![pb::ModelOutput {
            name: OUTPUT_PROBABILITY.to_string(),
            data_type: fp64,
            dims: vec![1],
        }],
        parameters,
        backend: BACKEND.to_string(),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[tonic::async_trait]
impl GrpcInferenceService for InferenceService {
    async fn server_live(
        &self,
        request: Request<pb::ServerLiveRequest>,
    ) -> Result<Response<pb::ServerLiveResponse>, Status> {
        let call = Call::start("ServerLive", &request);
        finish(call, 0, None, Ok(pb::ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        request: Request<pb::ServerReadyRequest>,
    ) -> Result<Response<pb::ServerReadyResponse>, Status> {
        let call = Call::start("ServerReady", &request);
        let ready = !self.registry.load().is_empty();
        finish(call, 0, None, Ok(pb::ServerReadyResponse { ready }))
    }

    async fn model_ready(
        &self,
        request: Request<pb::ModelReadyRequest>,
    ) -> Result<Response<pb::ModelReadyResponse>, Status> {
        let call = Call::start("ModelReady", &request);
        let req = request.into_inner();
        let loaded = self.registry.load().get(&req.name, &req.version).ok();
        let ready = loaded.is_some();
        finish(
            call,
            0,
            loaded.as_deref(),
            Ok(pb::ModelReadyResponse { ready }),
        )
    }

    async fn server_metadata(
        &self,
        request: Request<pb::ServerMetadataRequest>,
    ) -> Result<Response<pb::ServerMetadataResponse>, Status> {
        let call = Call::start("ServerMetadata", &request);
        let body = pb::ServerMetadataResponse {
            name: SERVER_NAME.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            extensions: EXTENSIONS.iter().map(|e| (*e).to_string()).collect(),
        };
        finish(call, 0, None, Ok(body))
    }

    async fn model_metadata(
        &self,
        request: Request<pb::ModelMetadataRequest>,
    ) -> Result<Response<pb::ModelMetadataResponse>, Status> {
        let call = Call::start("ModelMetadata", &request);
        let req = request.into_inner();
        let registry = self.registry.load();
        let loaded = registry
            .get(&req.name, &req.version)
            .map_err(ServiceError::from);
        let result = loaded
            .as_ref()
            .map(|l| model_metadata(&registry, l))
            .map_err(Clone::clone);
        finish(call, 0, loaded.ok().as_deref(), result)
    }

    async fn model_infer(
        &self,
        request: Request<pb::ModelInferRequest>,
    ) -> Result<Response<pb::ModelInferResponse>, Status> {
        let call = Call::start("ModelInfer", &request);
        let started = call.started;
        let deadline = call.deadline;
        let (loaded, result) = self.infer(request.into_inner(), deadline, started).await;
        let elapsed = started.elapsed();
        if let Some(l) = &loaded {
            let c = self.stats.of(&l.name, l.version);
            match &result {
                Ok(done) => {
                    c.last_inference_ms.store(now_ms(), Ordering::Relaxed);
                    c.inference_count
                        .fetch_add(done.rows as u64, Ordering::Relaxed);
                    c.execution_count.fetch_add(1, Ordering::Relaxed);
                    c.success.add(elapsed);
                    c.queue.add(done.timings.queue);
                    c.compute_input.add(done.timings.input);
                    c.compute_infer.add(done.timings.infer);
                    c.compute_output.add(done.timings.output);
                }
                Err(_) => c.fail.add(elapsed),
            }
        }
        let rows = result.as_ref().map_or(0, |d| d.rows);
        finish(call, rows, loaded.as_deref(), result.map(|d| d.response))
    }

    async fn model_config(
        &self,
        request: Request<pb::ModelConfigRequest>,
    ) -> Result<Response<pb::ModelConfigResponse>, Status> {
        let call = Call::start("ModelConfig", &request);
        let req = request.into_inner();
        let loaded = self.resolve(&req.name, &req.version);
        let result = loaded
            .as_ref()
            .map_err(Clone::clone)
            .map(|l| pb::ModelConfigResponse {
                config: Some(model_config(l, self.max_batch_size())),
            });
        finish(call, 0, loaded.ok().as_deref(), result)
    }

    async fn model_statistics(
        &self,
        request: Request<pb::ModelStatisticsRequest>,
    ) -> Result<Response<pb::ModelStatisticsResponse>, Status> {
        let call = Call::start("ModelStatistics", &request);
        let req = request.into_inner();
        let registry = self.registry.load();
        let result = if req.name.is_empty() {
            // Every loaded model; a version (or label) narrows each model to it.
            let mut names: Vec<&str> = registry.all().map(|m| m.name.as_str()).collect();
            names.dedup();
            let model_stats = names
                .into_iter()
                .flat_map(|name| versions_of(&registry, name, &req.version).unwrap_or_default())
                .map(|l| self.stats.snapshot(&l))
                .collect();
            Ok(pb::ModelStatisticsResponse { model_stats })
        } else {
            versions_of(&registry, &req.name, &req.version).map(|loaded| {
                pb::ModelStatisticsResponse {
                    model_stats: loaded.iter().map(|l| self.stats.snapshot(l)).collect(),
                }
            })
        };
        finish(call, 0, None, result)
    }
}

/// The loaded versions of `name`: all of them for an empty version, else the
/// one the version or label names.
fn versions_of(
    registry: &ModelRegistry,
    name: &str,
    version: &str,
) -> Result<Vec<Arc<LoadedModel>>, ServiceError> {
    if version.is_empty() {
        let all: Vec<Arc<LoadedModel>> =
            registry.all().filter(|m| m.name == name).cloned().collect();
        if all.is_empty() {
            // Let the registry say why (not loaded, or nothing loaded at all).
            registry.get(name, "").map_err(ServiceError::from)?;
        }
        Ok(all)
    } else {
        registry
            .get(name, version)
            .map(|l| vec![l])
            .map_err(ServiceError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn request(datatype: &str, shape: Vec<i64>) -> pb::ModelInferRequest {
        pb::ModelInferRequest {
            inputs: vec![pb::model_infer_request::InferInputTensor {
                name: INPUT.into(),
                datatype: datatype.into(),
                shape,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn specs(n: usize) -> Vec<FeatureSpec> {
        (0..n)
            .map(|i| {
                FeatureSpec::new(
                    format!("f{i}"),
                    format!("F{i}"),
                    format!("F{i}"),
                    crate::scoring::features::FeatureEncoding::Numeric {
                        median: 0.0,
                        mean: 0.0,
                        std: 1.0,
                        min: -10.0,
                        max: 10.0,
                        bin_edges: vec![],
                    },
                )
            })
            .collect()
    }

    #[test]
    fn raw_fp32_and_fp64_decode_little_endian() {
        let mut req = request("FP32", vec![1, 2]);
        req.raw_input_contents = vec![[1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat()];
        let batch = decode_input(&mut req, &specs(2), 10).expect("decodes");
        assert_eq!(batch.values, vec![1.5, -2.0]);
        assert!(batch.raw);

        let mut req = request("FP64", vec![2, 1]);
        req.raw_input_contents = vec![[0.25f64.to_le_bytes(), 3.0f64.to_le_bytes()].concat()];
        let batch = decode_input(&mut req, &specs(1), 10).expect("decodes");
        assert_eq!((batch.rows, batch.cols), (2, 1));
        assert_eq!(batch.values, vec![0.25, 3.0]);
    }

    #[test]
    fn hostile_shapes_are_refused_without_panicking() {
        for shape in [
            vec![],
            vec![1],
            vec![1, 2, 3],
            vec![-1, 2],
            vec![i64::MAX, 2],
            vec![1, i64::MAX],
            vec![1, -2],
            vec![0, 2],
            vec![11, 2],
        ] {
            let mut req = request("FP64", shape.clone());
            req.raw_input_contents = vec![vec![0; 16]];
            let err = Status::from(decode_input(&mut req, &specs(2), 10).expect_err("refused"));
            assert_eq!(err.code(), Code::InvalidArgument, "{shape:?}");
            assert!(err.message().contains("\"leads\""), "{}", err.message());
        }
    }

    #[test]
    fn requested_outputs_default_and_errors() {
        let mut req = request("FP64", vec![1, 1]);
        assert_eq!(
            requested_outputs(&req).expect("ok"),
            vec![Output::Probability]
        );
        let out = |name: &str| pb::model_infer_request::InferRequestedOutputTensor {
            name: name.into(),
            ..Default::default()
        };
        req.outputs = vec![out("score"), out("contributions")];
        assert_eq!(
            requested_outputs(&req).expect("ok"),
            vec![Output::Score, Output::Contributions]
        );
        req.outputs = vec![out("score"), out("score")];
        assert_eq!(
            Status::from(requested_outputs(&req).unwrap_err()).code(),
            Code::InvalidArgument
        );
        req.outputs = vec![out("nope")];
        assert!(requested_outputs(&req)
            .unwrap_err()
            .to_string()
            .contains("nope"));
    }
}
