//! grpc.health.v1 follows the model registry and shutdown.

use std::time::Duration;

use leadscore::serve::proto::ScoreRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::HealthCheckRequest;

use crate::helpers::{lead, settings, spawn_app, spawn_with};

const SERVICE: &str = "leadscore.v1.LeadScoring";

async fn status_of(app: &crate::helpers::TestApp, service: &str) -> ServingStatus {
    let response = app
        .health()
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("Health/Check")
        .into_inner();
    response.status()
}

#[tokio::test]
async fn serving_when_a_model_is_loaded() {
    let app = spawn_app().await;
    assert_eq!(status_of(&app, SERVICE).await, ServingStatus::Serving);
    assert_eq!(status_of(&app, "").await, ServingStatus::Serving);
}

#[tokio::test]
async fn not_serving_without_a_model_and_score_is_unavailable() {
    let repo = tempfile::TempDir::new().expect("tempdir");
    let app = spawn_with(settings(repo.path()), Some(repo)).await;
    assert_eq!(status_of(&app, SERVICE).await, ServingStatus::NotServing);
    assert_eq!(status_of(&app, "").await, ServingStatus::NotServing);
    let err = app
        .client()
        .score(ScoreRequest {
            leads: vec![lead("x", 1.0, true, "1-10")],
            ..Default::default()
        })
        .await
        .expect_err("no model loaded");
    assert_eq!(err.code(), tonic::Code::Unavailable);
}

#[tokio::test]
async fn broken_artifacts_are_refused_and_valid_ones_serve() {
    // Version 3 is garbage and version 4 has a coefficient count that does not
    // match its features; version 2 (the newest valid one) must serve.
    let repo = crate::helpers::model_repo(2);
    let broken = repo.path().join("leads/3");
    std::fs::create_dir_all(&broken).expect("mkdir");
    std::fs::write(
        broken.join("model.json"),
        b"{\"format_version\": 1, \"features\": [",
    )
    .expect("write");
    let mut artifact = crate::helpers::synthetic_artifact().clone();
    let leadscore::scoring::model::Estimator::Logistic { coefficients, .. } =
        &mut artifact.estimator
    else {
        panic!("logistic model expected")
    };
    coefficients.pop();
    leadscore::train::write_artifact(&artifact, &repo.path().join("leads/4")).expect("write");

    let scan =
        leadscore::serve::registry::ModelRegistry::load_dir(repo.path(), None).expect("scan");
    assert_eq!(scan.refused.len(), 2, "{:?}", scan.refused);
    assert!(scan
        .refused
        .iter()
        .any(|r| r.contains("leads/3/model.json") && r.contains("not a valid model artifact")));
    assert!(scan
        .refused
        .iter()
        .any(|r| r.contains("leads/4/model.json") && r.contains("coefficients")));

    let app = spawn_with(settings(repo.path()), Some(repo)).await;
    assert_eq!(status_of(&app, SERVICE).await, ServingStatus::Serving);
    let response = app
        .client()
        .score(ScoreRequest {
            leads: vec![lead("x", 1.0, true, "1-10")],
            ..Default::default()
        })
        .await
        .expect("Score")
        .into_inner();
    assert_eq!(response.version, "2");
}

#[tokio::test]
async fn watch_reports_not_serving_when_shutdown_starts() {
    let mut app = spawn_app().await;
    let mut stream = app
        .health()
        .watch(HealthCheckRequest {
            service: SERVICE.into(),
        })
        .await
        .expect("Health/Watch")
        .into_inner();
    let first = stream
        .message()
        .await
        .expect("watch")
        .expect("first status");
    assert_eq!(first.status(), ServingStatus::Serving);

    app.trigger_shutdown();
    let next = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("a status change within 5 s");
    // Either the NOT_SERVING update arrives, or the stream is closed by the drain.
    if let Ok(Some(update)) = next {
        assert_eq!(update.status(), ServingStatus::NotServing);
    }
}

#[tokio::test]
async fn health_turns_serving_when_a_first_model_is_published() {
    let repo = tempfile::TempDir::new().expect("tempdir");
    let root = repo.path().to_path_buf();
    let mut s = settings(&root);
    s.reload_poll_interval = Some(Duration::from_millis(300));
    let app = spawn_with(s, Some(repo)).await;
    assert_eq!(status_of(&app, SERVICE).await, ServingStatus::NotServing);

    leadscore::train::write_artifact(
        crate::helpers::synthetic_artifact(),
        &root.join("leads").join("1"),
    )
    .expect("publish");
    let app = &app;
    crate::helpers::eventually(10, "SERVING after the first model appears", || async move {
        status_of(app, SERVICE).await == ServingStatus::Serving
            && status_of(app, "").await == ServingStatus::Serving
    })
    .await;
}
