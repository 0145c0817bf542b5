//! The Open Inference Protocol's REST binding (KServe V2, `/v2`) over the
//! network with reqwest: health and readiness, metadata, Triton's config and
//! statistics, and infer (JSON tensors and the binary tensor extension)
//! checked against gRPC LeadScoring Score / Explain on the same dense leads,
//! plus malformed tensors and the `protocol` metric label.

use leadscore::serve::proto::{FeatureKind, FeatureSchema, GetModelRequest, Lead, ScoreRequest};
use serde_json::{json, Value};

use crate::helpers::{model_repo, scrape, settings, spawn_app, spawn_with, TestApp, MODEL};

async fn schema(app: &TestApp) -> Vec<FeatureSchema> {
    app.client()
        .get_model(GetModelRequest::default())
        .await
        .expect("GetModel")
        .into_inner()
        .features
}

fn rows(features: &[FeatureSchema], n: usize) -> Vec<Vec<f64>> {
    (0..n)
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

async fn grpc_probabilities(app: &TestApp, rows: &[Vec<f64>]) -> Vec<f64> {
    let leads = rows
        .iter()
        .enumerate()
        .map(|(i, values)| Lead {
            lead_id: format!("r{i}"),
            values: values.clone(),
            ..Default::default()
        })
        .collect();
    app.client()
        .score(ScoreRequest {
            leads,
            ..Default::default()
        })
        .await
        .expect("Score")
        .into_inner()
        .scores
        .iter()
        .map(|s| s.probability)
        .collect()
}

fn url(app: &TestApp, path: &str) -> String {
    format!("http://{}{path}", app.http_addr)
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    let response = reqwest::get(url(app, path)).await.expect("GET");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post_json(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url(app, path))
        .header("x-request-id", "v2-req")
        .json(body)
        .send()
        .await
        .expect("POST");
    let status = response.status().as_u16();
    assert_eq!(response.headers()["x-request-id"], "v2-req");
    (status, response.json().await.expect("JSON body"))
}

#[tokio::test]
async fn health_metadata_config_and_stats() {
    let app = spawn_app().await;

    let (status, body) = get(&app, "/v2").await;
    assert_eq!(status, 200);
    assert_eq!(body["name"], "leadscore");
    assert!(body["extensions"].as_array().is_some_and(|e| !e.is_empty()));
    assert_eq!(
        get(&app, "/v2/health/live").await,
        (200, json!({"live": true}))
    );
    assert_eq!(
        get(&app, "/v2/health/ready").await,
        (200, json!({"ready": true}))
    );

    let n = schema(&app).await.len() as i64;
    let (status, meta) = get(&app, &format!("/v2/models/{MODEL}")).await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["name"], MODEL);
    assert_eq!(
        meta["inputs"][0],
        json!({"name": "leads", "datatype": "FP64", "shape": [-1, n]})
    );
    assert_eq!(meta["outputs"][0]["name"], "probability");
    let (status, _) = get(&app, &format!("/v2/models/{MODEL}/versions/1")).await;
    assert_eq!(status, 200);

    assert_eq!(get(&app, &format!("/v2/models/{MODEL}/ready")).await.0, 200);
    assert_eq!(
        get(&app, &format!("/v2/models/{MODEL}/versions/2/ready"))
            .await
            .0,
        200
    );
    let (status, body) = get(&app, &format!("/v2/models/{MODEL}/versions/99/ready")).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "NOT_FOUND");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("99")),
        "{body}"
    );
    let (status, body) = get(&app, "/v2/models/nope").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("NOT_FOUND")));

    let (status, config) = get(&app, &format!("/v2/models/{MODEL}/config")).await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["name"], MODEL);
    assert_eq!(config["input"][0]["dims"], json!([n]));
    assert!(
        config["max_batch_size"].as_i64().is_some_and(|b| b > 0),
        "{config}"
    );

    let (status, stats) = get(&app, &format!("/v2/models/{MODEL}/stats")).await;
    assert_eq!(status, 200, "{stats}");
    assert!(
        stats["model_stats"]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "{stats}"
    );
    assert_eq!(get(&app, "/v2/models/stats").await.0, 200);
}

#[tokio::test]
async fn json_infer_matches_grpc_score_and_explain() {
    // Arrange
    let app = spawn_app().await;
    let features = schema(&app).await;
    let rows = rows(&features, 9);
    let expected = grpc_probabilities(&app, &rows).await;
    let n = features.len();

    // Act: nested rows, three outputs, JSON both ways.
    let request = json!({
        "id": "j1",
        "inputs": [{"name": "leads", "shape": [rows.len(), n], "datatype": "FP64", "data": rows}],
        "outputs": [{"name": "probability"}, {"name": "score"}, {"name": "contributions"}],
    });
    let (status, body) = post_json(&app, &format!("/v2/models/{MODEL}/infer"), &request).await;

    // Assert
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "j1");
    assert_eq!(body["model_name"], MODEL);
    assert_eq!(body["model_version"], "2");
    let outputs = body["outputs"].as_array().expect("outputs");
    assert_eq!(outputs[0]["shape"], json!([rows.len(), 1]));
    let got: Vec<f64> = outputs[0]["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|v| v.as_f64().expect("number"))
        .collect();
    assert_eq!(
        got, expected,
        "V2 REST and gRPC Score give the same probabilities"
    );
    assert_eq!(outputs[1]["datatype"], "UINT32");
    assert_eq!(outputs[2]["shape"], json!([rows.len(), n]));
    assert_eq!(
        outputs[2]["data"].as_array().map(Vec::len),
        Some(rows.len() * n)
    );

    // A version in the path, flat data.
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    let request = json!({"inputs": [{"name": "leads", "shape": [rows.len(), n], "datatype": "FP64", "data": flat}]});
    let (status, body) = post_json(
        &app,
        &format!("/v2/models/{MODEL}/versions/2/infer"),
        &request,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outputs"][0]["data"][0].as_f64(), Some(expected[0]));
}

#[tokio::test]
async fn binary_tensors_both_ways() {
    let app = spawn_app().await;
    let features = schema(&app).await;
    let rows = rows(&features, 5);
    let expected = grpc_probabilities(&app, &rows).await;
    let raw: Vec<u8> = rows
        .iter()
        .flatten()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let header = json!({
        "inputs": [{"name": "leads", "shape": [rows.len(), features.len()], "datatype": "FP64",
                    "parameters": {"binary_data_size": raw.len()}}],
        "outputs": [{"name": "probability", "parameters": {"binary_data": true}}, {"name": "score"}],
    })
    .to_string();
    let mut body = header.clone().into_bytes();
    body.extend_from_slice(&raw);

    let response = reqwest::Client::new()
        .post(url(&app, &format!("/v2/models/{MODEL}/infer")))
        .header("content-type", "application/octet-stream")
        .header("inference-header-content-length", header.len().to_string())
        .body(body)
        .send()
        .await
        .expect("POST");

    assert_eq!(response.status(), 200);
    let length: usize = response.headers()["inference-header-content-length"]
        .to_str()
        .expect("header")
        .parse()
        .expect("number");
    let bytes = response.bytes().await.expect("body");
    let json: Value = serde_json::from_slice(&bytes[..length]).expect("JSON part");
    assert_eq!(
        json["outputs"][0]["parameters"]["binary_data_size"],
        8 * rows.len()
    );
    let got: Vec<f64> = bytes[length..]
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(
        json["outputs"][1]["data"].as_array().map(Vec::len),
        Some(rows.len())
    );
}

#[tokio::test]
async fn malformed_tensors_get_400_naming_the_field_and_metrics_say_http() {
    let app = spawn_app().await;
    let n = schema(&app).await.len();
    let path = format!("/v2/models/{MODEL}/infer");
    let cases = [
        (
            json!({"inputs": [{"name": "leads", "shape": [1, n], "datatype": "FP64", "data": ["x"]}]}),
            "inputs[0].data",
        ),
        (
            json!({"inputs": [{"name": "leads", "shape": [1, n + 1], "datatype": "FP64", "data": vec![0.0; n + 1]}]}),
            "inputs[0].shape",
        ),
        (
            json!({"inputs": [{"name": "rows", "shape": [1, n], "datatype": "FP64", "data": vec![0.0; n]}]}),
            "inputs[0].name",
        ),
        (
            json!({"inputs": [{"name": "leads", "shape": [1, n], "datatype": "INT8", "data": vec![0.0; n]}]}),
            "inputs[0].datatype",
        ),
        (
            json!({"inputs": [{"name": "leads", "shape": [1, n], "datatype": "FP64", "data": vec![0.0; n]}], "outputs": [{"name": "nope"}]}),
            "outputs[0].name",
        ),
        (json!({"inputs": [], "extra": 1}), "body"),
    ];
    for (request, field) in cases {
        let (status, body) = post_json(&app, &path, &request).await;
        assert_eq!(status, 400, "{request}: {body}");
        assert_eq!(body["code"], "INVALID_ARGUMENT");
        assert_eq!(body["details"][0]["field"], field, "{request}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    // A model that does not exist.
    let request = json!({"inputs": [{"name": "leads", "shape": [1, n], "datatype": "FP64", "data": vec![0.0; n]}]});
    let (status, _) = post_json(&app, "/v2/models/nope/infer", &request).await;
    assert_eq!(status, 404);

    // The server still answers, and the requests were counted as HTTP.
    assert_eq!(get(&app, "/v2/health/ready").await.0, 200);
    let metrics = scrape(app.metrics_addr).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("leadscore_requests_total{")
                && l.contains("protocol=\"http\"")
                && l.contains("rpc=\"ModelInfer\"")
                && l.contains("code=\"InvalidArgument\"")),
        "{metrics}"
    );
}

#[tokio::test]
async fn readiness_is_503_without_a_model() {
    let repo = model_repo(0);
    let app = spawn_with(settings(repo.path()), Some(repo)).await;
    let (status, body) = get(&app, "/v2/health/ready").await;
    assert_eq!((status, body), (503, json!({"ready": false})));
    assert_eq!(get(&app, "/v2/health/live").await.0, 200);
    let (status, body) = get(&app, "/v2/models/any/ready").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("NOT_FOUND")));
}
