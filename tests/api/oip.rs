//! The Open Inference Protocol (`inference.GRPCInferenceService`) over the
//! network: readiness, metadata, Triton's ModelConfig / ModelStatistics, and
//! ModelInfer checked against LeadScoring Score / Explain on the same dense
//! leads, plus every malformed-tensor case.

use leadscore::serve::proto::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use leadscore::serve::proto::inference::model_infer_request::{
    InferInputTensor, InferRequestedOutputTensor,
};
use leadscore::serve::proto::inference::{
    self as pb, InferTensorContents, ModelConfigRequest, ModelInferRequest, ModelInferResponse,
    ModelMetadataRequest, ModelReadyRequest, ModelStatisticsRequest, ServerLiveRequest,
    ServerMetadataRequest, ServerReadyRequest,
};
use leadscore::serve::proto::{
    ExplainRequest, FeatureKind, FeatureSchema, GetModelRequest, Lead, ScoreRequest,
};
use tonic::transport::Channel;
use tonic::Code;

use crate::helpers::{scrape, spawn_app, TestApp, MODEL};

fn oip(app: &TestApp) -> GrpcInferenceServiceClient<Channel> {
    GrpcInferenceServiceClient::new(app.channel.clone())
}

/// The model's features, in dense (input column) order.
async fn schema(app: &TestApp) -> Vec<FeatureSchema> {
    app.client()
        .get_model(GetModelRequest::default())
        .await
        .expect("GetModel")
        .into_inner()
        .features
}

/// `rows` valid dense leads: numbers with fractions (so FP32 rounds them),
/// every category index and both booleans in turn.
fn dense_rows(features: &[FeatureSchema], rows: usize) -> Vec<Vec<f64>> {
    (0..rows)
        .map(|r| {
            features
                .iter()
                .enumerate()
                .map(|(i, f)| match f.kind() {
                    FeatureKind::Categorical => (r % f.categories.len()) as f64,
                    FeatureKind::Boolean => ((r + i) % 2) as f64,
                    _ => ((r * 7 + i * 3) % 13) as f64 + 0.37,
                })
                .collect()
        })
        .collect()
}

fn dense_leads(rows: &[Vec<f64>]) -> Vec<Lead> {
    rows.iter()
        .enumerate()
        .map(|(i, values)| Lead {
            lead_id: format!("row-{i}"),
            values: values.clone(),
            ..Default::default()
        })
        .collect()
}

/// LeadScoring's probabilities and scores for the same rows.
async fn score_via_leadscoring(
    app: &TestApp,
    rows: &[Vec<f64>],
    version: &str,
) -> (Vec<f64>, Vec<u32>) {
    let reply = app
        .client()
        .score(ScoreRequest {
            version: version.into(),
            leads: dense_leads(rows),
            ..Default::default()
        })
        .await
        .expect("Score")
        .into_inner();
    (
        reply.scores.iter().map(|s| s.probability).collect(),
        reply.scores.iter().map(|s| s.score).collect(),
    )
}

fn input(
    datatype: &str,
    shape: Vec<i64>,
    contents: Option<InferTensorContents>,
) -> InferInputTensor {
    InferInputTensor {
        name: "leads".into(),
        datatype: datatype.into(),
        shape,
        contents,
        ..Default::default()
    }
}

fn fp64_request(rows: &[Vec<f64>]) -> ModelInferRequest {
    let n = rows[0].len() as i64;
    ModelInferRequest {
        inputs: vec![input(
            "FP64",
            vec![rows.len() as i64, n],
            Some(InferTensorContents {
                fp64_contents: rows.concat(),
                ..Default::default()
            }),
        )],
        ..Default::default()
    }
}

fn raw_fp64_request(rows: &[Vec<f64>]) -> ModelInferRequest {
    let n = rows[0].len() as i64;
    ModelInferRequest {
        inputs: vec![input("FP64", vec![rows.len() as i64, n], None)],
        raw_input_contents: vec![rows.concat().iter().flat_map(|x| x.to_le_bytes()).collect()],
        ..Default::default()
    }
}

fn outputs(names: &[&str]) -> Vec<InferRequestedOutputTensor> {
    names
        .iter()
        .map(|n| InferRequestedOutputTensor {
            name: (*n).into(),
            ..Default::default()
        })
        .collect()
}

fn output<'a>(
    response: &'a ModelInferResponse,
    name: &str,
) -> (usize, &'a pb::model_infer_response::InferOutputTensor) {
    response
        .outputs
        .iter()
        .enumerate()
        .find(|(_, o)| o.name == name)
        .unwrap_or_else(|| panic!("no output {name} in {:?}", response.outputs))
}

fn raw_f64(bytes: &[u8]) -> Vec<f64> {
    bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect()
}

async fn infer(app: &TestApp, request: ModelInferRequest) -> ModelInferResponse {
    oip(app)
        .model_infer(request)
        .await
        .expect("ModelInfer")
        .into_inner()
}

#[tokio::test]
async fn server_live_ready_and_metadata() {
    let app = spawn_app().await;
    let mut client = oip(&app);

    let live = client
        .server_live(ServerLiveRequest {})
        .await
        .expect("ServerLive");
    let ready = client
        .server_ready(ServerReadyRequest {})
        .await
        .expect("ServerReady");
    let meta = client
        .server_metadata(ServerMetadataRequest {})
        .await
        .expect("ServerMetadata")
        .into_inner();

    assert!(live.into_inner().live);
    assert!(ready.into_inner().ready);
    assert_eq!(meta.name, "leadscore");
    assert_eq!(meta.version, env!("CARGO_PKG_VERSION"));
    for extension in ["model_configuration", "statistics"] {
        assert!(
            meta.extensions.iter().any(|e| e == extension),
            "{:?}",
            meta.extensions
        );
    }
}

#[tokio::test]
async fn model_ready_for_loaded_versions_only() {
    let app = spawn_app().await;
    let mut client = oip(&app);
    let ready = |name: &str, version: &str| ModelReadyRequest {
        name: name.into(),
        version: version.into(),
    };
    for (name, version, expected) in [
        ("", "", true),
        (MODEL, "", true),
        (MODEL, "1", true),
        (MODEL, "2", true),
        (MODEL, "3", false),
        (MODEL, "canary", false),
        ("no_such_model", "", false),
    ] {
        let answer = client
            .model_ready(ready(name, version))
            .await
            .expect("ModelReady")
            .into_inner();
        assert_eq!(answer.ready, expected, "{name:?} {version:?}");
    }
}

#[tokio::test]
async fn model_metadata_has_the_tensor_shapes() {
    let app = spawn_app().await;
    let n = schema(&app).await.len() as i64;

    let meta = oip(&app)
        .model_metadata(ModelMetadataRequest::default())
        .await
        .expect("ModelMetadata")
        .into_inner();

    assert_eq!(meta.name, MODEL);
    assert_eq!(meta.versions, vec!["1", "2"]);
    assert_eq!(meta.platform, "leadscore_logistic");
    let shapes: Vec<(&str, &str, &[i64])> = meta
        .inputs
        .iter()
        .chain(&meta.outputs)
        .map(|t| (t.name.as_str(), t.datatype.as_str(), t.shape.as_slice()))
        .collect();
    assert_eq!(
        shapes,
        vec![
            ("leads", "FP64", &[-1, n][..]),
            ("probability", "FP64", &[-1, 1][..]),
        ]
    );

    for (name, version) in [("no_such_model", ""), (MODEL, "7")] {
        let err = oip(&app)
            .model_metadata(ModelMetadataRequest {
                name: name.into(),
                version: version.into(),
            })
            .await
            .expect_err("unknown model or version");
        assert_eq!(err.code(), Code::NotFound, "{name} {version}: {err:?}");
    }
}

#[tokio::test]
async fn model_config_gives_batching_dims_and_feature_order() {
    let app = spawn_app().await;
    let features = schema(&app).await;
    let n = features.len() as i64;

    let config = oip(&app)
        .model_config(ModelConfigRequest {
            name: MODEL.into(),
            version: "1".into(),
        })
        .await
        .expect("ModelConfig")
        .into_inner()
        .config
        .expect("config");

    assert_eq!(config.name, MODEL);
    assert_eq!(config.platform, "leadscore_logistic");
    assert_eq!(config.max_batch_size, 10_000, "the leads-per-request limit");
    assert_eq!(config.input.len(), 1);
    assert_eq!(config.input[0].name, "leads");
    assert_eq!(config.input[0].data_type(), pb::DataType::TypeFp64);
    assert_eq!(config.input[0].dims, vec![n]);
    let outputs: Vec<(&str, pb::DataType, &[i64])> = config
        .output
        .iter()
        .map(|o| (o.name.as_str(), o.data_type(), o.dims.as_slice()))
        .collect();
    assert_eq!(
        outputs,
        vec![("probability", pb::DataType::TypeFp64, &[1][..]),]
    );
    assert_eq!(
        config.parameters["optional_outputs"].string_value,
        format!("score UINT32 [-1,1]; contributions FP64 [-1,{n}]")
    );
    let names: Vec<&str> = features.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        config.parameters["feature_names"].string_value,
        names.join(",")
    );
    assert_eq!(config.parameters["version"].string_value, "1");
    let schema: serde_json::Value =
        serde_json::from_str(&config.parameters["features"].string_value).expect("JSON");
    for (f, s) in features.iter().zip(schema.as_array().expect("array")) {
        assert_eq!(s["name"], f.name.as_str());
        assert_eq!(
            s["categories"].as_array().map_or(0, Vec::len),
            f.categories.len()
        );
    }

    let err = oip(&app)
        .model_config(ModelConfigRequest {
            name: MODEL.into(),
            version: "7".into(),
        })
        .await
        .expect_err("unknown version");
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn fp64_contents_score_exactly_like_leadscoring() {
    let app = spawn_app().await;
    let rows = dense_rows(&schema(&app).await, 25);
    let (expected, _) = score_via_leadscoring(&app, &rows, "").await;

    let mut request = fp64_request(&rows);
    request.id = "req-42".into();
    let response = infer(&app, request).await;

    assert_eq!(response.id, "req-42");
    assert_eq!(response.model_name, MODEL);
    assert_eq!(response.model_version, "2", "newest version by default");
    assert!(
        response.raw_output_contents.is_empty(),
        "contents in, contents out"
    );
    assert_eq!(response.outputs.len(), 1, "probability only by default");
    let (_, probability) = output(&response, "probability");
    assert_eq!(probability.datatype, "FP64");
    assert_eq!(probability.shape, vec![25, 1]);
    let got = &probability
        .contents
        .as_ref()
        .expect("contents")
        .fp64_contents;
    assert_eq!(got, &expected, "ModelInfer and Score differ");
}

#[tokio::test]
async fn fp32_contents_score_within_float_rounding() {
    let app = spawn_app().await;
    let rows = dense_rows(&schema(&app).await, 20);
    let (expected, _) = score_via_leadscoring(&app, &rows, "").await;
    let n = rows[0].len() as i64;

    let response = infer(
        &app,
        ModelInferRequest {
            inputs: vec![input(
                "FP32",
                vec![20, n],
                Some(InferTensorContents {
                    fp32_contents: rows.concat().iter().map(|x| *x as f32).collect(),
                    ..Default::default()
                }),
            )],
            ..Default::default()
        },
    )
    .await;

    let (_, probability) = output(&response, "probability");
    let got = &probability
        .contents
        .as_ref()
        .expect("contents")
        .fp64_contents;
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert!((g - e).abs() <= 1e-6, "FP32 {g} vs FP64 {e}");
    }
}

#[tokio::test]
async fn raw_bytes_in_raw_bytes_out() {
    let app = spawn_app().await;
    let rows = dense_rows(&schema(&app).await, 9);
    let (expected, expected_scores) = score_via_leadscoring(&app, &rows, "").await;

    let mut request = raw_fp64_request(&rows);
    request.outputs = outputs(&["probability", "score"]);
    let response = infer(&app, request).await;

    assert_eq!(response.raw_output_contents.len(), 2);
    assert!(response.outputs.iter().all(|o| o.contents.is_none()));
    let (i, probability) = output(&response, "probability");
    assert_eq!(probability.shape, vec![9, 1]);
    assert_eq!(raw_f64(&response.raw_output_contents[i]), expected);
    let (i, score) = output(&response, "score");
    assert_eq!(
        (score.datatype.as_str(), score.shape.as_slice()),
        ("UINT32", &[9, 1][..])
    );
    let scores: Vec<u32> = response.raw_output_contents[i]
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect();
    assert_eq!(scores, expected_scores);

    // FP32 raw too.
    let n = rows[0].len() as i64;
    let response = infer(
        &app,
        ModelInferRequest {
            inputs: vec![input("FP32", vec![9, n], None)],
            raw_input_contents: vec![rows
                .concat()
                .iter()
                .flat_map(|x| (*x as f32).to_le_bytes())
                .collect()],
            ..Default::default()
        },
    )
    .await;
    for (g, e) in raw_f64(&response.raw_output_contents[0])
        .iter()
        .zip(&expected)
    {
        assert!((g - e).abs() <= 1e-6, "FP32 {g} vs FP64 {e}");
    }
}

#[tokio::test]
async fn a_large_batch_matches_too() {
    // At least BLOCKING_BATCH rows: scored on the blocking pool.
    let app = spawn_app().await;
    let rows = dense_rows(&schema(&app).await, 700);
    let (expected, _) = score_via_leadscoring(&app, &rows, "").await;

    let response = infer(&app, raw_fp64_request(&rows)).await;

    assert_eq!(raw_f64(&response.raw_output_contents[0]), expected);
}

#[tokio::test]
async fn score_and_contributions_match_explain() {
    let app = spawn_app().await;
    let features = schema(&app).await;
    let n = features.len();
    let rows = dense_rows(&features, 6);
    let (_, expected_scores) = score_via_leadscoring(&app, &rows, "").await;
    let explained = app
        .client()
        .explain(ExplainRequest {
            leads: dense_leads(&rows),
            ..Default::default()
        })
        .await
        .expect("Explain")
        .into_inner();

    let mut request = fp64_request(&rows);
    request.outputs = outputs(&["score", "contributions", "probability"]);
    let response = infer(&app, request).await;

    let names: Vec<&str> = response.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["score", "contributions", "probability"],
        "in request order"
    );
    let (_, score) = output(&response, "score");
    assert_eq!(
        score.contents.as_ref().expect("contents").uint_contents,
        expected_scores
    );
    let (_, contributions) = output(&response, "contributions");
    assert_eq!(contributions.shape, vec![6, n as i64]);
    let values = &contributions
        .contents
        .as_ref()
        .expect("contents")
        .fp64_contents;
    assert_eq!(values.len(), 6 * n);
    for (row, explanation) in explained.explanations.iter().enumerate() {
        assert_eq!(explanation.contributions.len(), n);
        for c in &explanation.contributions {
            let col = features
                .iter()
                .position(|f| f.name == c.feature)
                .expect("feature");
            let got = values[row * n + col];
            assert!(
                (got - c.contribution).abs() <= 1e-12,
                "row {row} {}: {got} vs Explain {}",
                c.feature,
                c.contribution
            );
        }
    }
}

#[tokio::test]
async fn versions_and_labels_are_honoured() {
    let app = spawn_app().await;
    let rows = dense_rows(&schema(&app).await, 3);

    let mut request = fp64_request(&rows);
    request.model_name = MODEL.into();
    request.model_version = "1".into();
    let response = infer(&app, request).await;
    assert_eq!(
        (
            response.model_name.as_str(),
            response.model_version.as_str()
        ),
        (MODEL, "1")
    );
    let (expected, _) = score_via_leadscoring(&app, &rows, "1").await;
    let (_, probability) = output(&response, "probability");
    assert_eq!(
        probability
            .contents
            .as_ref()
            .expect("contents")
            .fp64_contents,
        expected
    );

    for (model, version) in [(MODEL, "9"), (MODEL, "stable"), ("no_such_model", "")] {
        let mut request = fp64_request(&rows);
        request.model_name = model.into();
        request.model_version = version.into();
        let err = oip(&app).model_infer(request).await.expect_err("unknown");
        assert_eq!(err.code(), Code::NotFound, "{model} {version}: {err:?}");
    }
}

#[tokio::test]
async fn malformed_tensors_are_invalid_argument() {
    let app = spawn_app().await;
    let features = schema(&app).await;
    let n = features.len();
    let rows = dense_rows(&features, 2);
    let flat = rows.concat();
    let ni = n as i64;
    let fp64 = |v: Vec<f64>| {
        Some(InferTensorContents {
            fp64_contents: v,
            ..Default::default()
        })
    };
    let with_input = |tensor: InferInputTensor| ModelInferRequest {
        inputs: vec![tensor],
        ..Default::default()
    };
    let categorical = features
        .iter()
        .position(|f| f.kind() == FeatureKind::Categorical)
        .expect("a categorical feature");
    let mut bad_category = flat.clone();
    bad_category[categorical] = 999.0;
    let mut nan = flat.clone();
    nan[n + 1] = f64::NAN;
    let mut inf_raw = raw_fp64_request(&rows);
    inf_raw.raw_input_contents[0][..8].copy_from_slice(&f64::INFINITY.to_le_bytes());
    let mut short_raw = raw_fp64_request(&rows);
    short_raw.raw_input_contents[0].pop();
    let mut both = fp64_request(&rows);
    both.raw_input_contents = raw_fp64_request(&rows).raw_input_contents;
    let mut two_inputs = fp64_request(&rows);
    two_inputs.inputs.push(two_inputs.inputs[0].clone());
    let mut unknown_output = fp64_request(&rows);
    unknown_output.outputs = outputs(&["probability", "log_odds"]);
    let mut renamed = fp64_request(&rows);
    renamed.inputs[0].name = "rows".into();

    let cases: Vec<(&str, ModelInferRequest, &[&str])> = vec![
        (
            "too few columns",
            with_input(input(
                "FP64",
                vec![2, ni - 1],
                fp64(flat[..2 * (n - 1)].to_vec()),
            )),
            &["\"leads\"", "shape"],
        ),
        (
            "one dimension",
            with_input(input("FP64", vec![2 * ni], fp64(flat.clone()))),
            &["\"leads\"", "shape"],
        ),
        (
            "three dimensions",
            with_input(input("FP64", vec![2, ni, 1], fp64(flat.clone()))),
            &["\"leads\"", "shape"],
        ),
        (
            "negative batch",
            with_input(input("FP64", vec![-1, ni], fp64(flat.clone()))),
            &["\"leads\"", "shape"],
        ),
        (
            "empty batch",
            with_input(input("FP64", vec![0, ni], fp64(vec![]))),
            &["\"leads\"", "empty"],
        ),
        (
            "too many leads",
            with_input(input("FP64", vec![10_001, ni], None)),
            &["\"leads\"", "10001", "limit of 10000"],
        ),
        (
            "integer datatype",
            with_input(input(
                "INT32",
                vec![2, ni],
                Some(InferTensorContents {
                    int_contents: vec![0; 2 * n],
                    ..Default::default()
                }),
            )),
            &["\"leads\"", "datatype", "INT32"],
        ),
        (
            "contents field of another type",
            with_input(input(
                "FP64",
                vec![2, ni],
                Some(InferTensorContents {
                    fp32_contents: vec![0.0; 2 * n],
                    ..Default::default()
                }),
            )),
            &["\"leads\"", "fp64_contents", "fp32_contents"],
        ),
        (
            "too few values",
            with_input(input("FP64", vec![2, ni], fp64(flat[1..].to_vec()))),
            &["\"leads\"", "fp64_contents", "values"],
        ),
        (
            "no data",
            with_input(input("FP64", vec![2, ni], None)),
            &["\"leads\"", "no data"],
        ),
        ("raw byte length", short_raw, &["\"leads\"", "bytes"]),
        ("contents and raw", both, &["\"leads\"", "both"]),
        (
            "NaN",
            with_input(input("FP64", vec![2, ni], fp64(nan))),
            &["\"leads\"", "row 1", "NaN"],
        ),
        ("infinity in raw", inf_raw, &["\"leads\"", "row 0", "inf"]),
        (
            "category index",
            with_input(input("FP64", vec![2, ni], fp64(bad_category))),
            &["\"leads\"", "row 0", "category index"],
        ),
        ("two inputs", two_inputs, &["exactly one input"]),
        (
            "no input",
            ModelInferRequest::default(),
            &["exactly one input"],
        ),
        ("input name", renamed, &["\"rows\"", "\"leads\""]),
        ("unknown output", unknown_output, &["\"log_odds\""]),
    ];
    for (what, request, needles) in cases {
        let err = oip(&app).model_infer(request).await.expect_err(what);
        assert_eq!(err.code(), Code::InvalidArgument, "{what}: {err:?}");
        for needle in needles {
            assert!(
                err.message().contains(needle),
                "{what}: {needle:?} not in {:?}",
                err.message()
            );
        }
    }

    // Still serving afterwards.
    infer(&app, fp64_request(&rows)).await;
}

#[tokio::test]
async fn statistics_count_inferences_and_metrics_record_them() {
    let app = spawn_app().await;
    let rows = dense_rows(&schema(&app).await, 4);
    let stats = |version: &str| ModelStatisticsRequest {
        name: MODEL.into(),
        version: version.into(),
    };

    infer(&app, fp64_request(&rows)).await;
    infer(&app, raw_fp64_request(&rows[..3])).await;
    let mut bad = fp64_request(&rows);
    bad.inputs[0].shape = vec![4, 1];
    oip(&app).model_infer(bad).await.expect_err("bad shape");

    let response = oip(&app)
        .model_statistics(stats("2"))
        .await
        .expect("ModelStatistics")
        .into_inner();
    assert_eq!(response.model_stats.len(), 1);
    let s = &response.model_stats[0];
    assert_eq!((s.name.as_str(), s.version.as_str()), (MODEL, "2"));
    assert_eq!(s.inference_count, 7, "every row counts");
    assert_eq!(s.execution_count, 2);
    assert!(s.last_inference > 0);
    let inference = s.inference_stats.as_ref().expect("inference stats");
    let success = inference.success.as_ref().expect("success");
    assert_eq!(success.count, 2);
    assert!(success.ns > 0);
    assert_eq!(inference.fail.as_ref().expect("fail").count, 1);
    assert_eq!(
        inference
            .compute_infer
            .as_ref()
            .expect("compute_infer")
            .count,
        2
    );

    let all = oip(&app)
        .model_statistics(ModelStatisticsRequest::default())
        .await
        .expect("all models")
        .into_inner();
    let versions: Vec<&str> = all.model_stats.iter().map(|s| s.version.as_str()).collect();
    assert_eq!(versions, vec!["1", "2"]);
    assert_eq!(
        all.model_stats[0].inference_count, 0,
        "version 1 was not used"
    );

    let err = oip(&app)
        .model_statistics(stats("5"))
        .await
        .expect_err("unknown version");
    assert_eq!(err.code(), Code::NotFound);

    let page = scrape(app.metrics_addr).await;
    assert!(
        page.lines()
            .any(|l| l.starts_with("leadscore_requests_total{")
                && l.contains("rpc=\"ModelInfer\"")
                && l.contains("code=\"OK\"")),
        "{page}"
    );
    assert!(
        page.lines()
            .any(|l| l.starts_with("leadscore_leads_scored_total{")
                && l.contains("rpc=\"ModelInfer\"")),
        "{page}"
    );
}
