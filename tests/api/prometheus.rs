//! `/metrics` after traffic shows the counters and histograms with their labels.

use leadscore::serve::proto::{ExplainRequest, ScoreRequest};

use crate::helpers::{lead, scrape, spawn_app};

#[tokio::test]
async fn metrics_show_requests_latency_scores_and_fallbacks() {
    let app = spawn_app().await;
    let mut partial = lead("p", 2.0, true, "a size never seen");
    partial.features.remove("visits_30d");
    app.client()
        .score(ScoreRequest {
            leads: vec![lead("a", 1.0, true, "1-10"), partial],
            ..Default::default()
        })
        .await
        .expect("Score");
    app.client()
        .explain(ExplainRequest {
            leads: vec![lead("b", 5.0, false, "11-50")],
            ..Default::default()
        })
        .await
        .expect("Explain");
    let _ = app
        .client()
        .score(ScoreRequest::default())
        .await
        .expect_err("no leads");

    let text = scrape(app.metrics_addr).await;
    let has = |needle: &str| {
        assert!(
            text.lines().any(|l| l.contains(needle)),
            "/metrics lacks {needle:?}:\n{text}"
        )
    };
    has(
        r#"leadscore_requests_total{protocol="grpc",rpc="Score",model="leads",version="2",code="OK"}"#,
    );
    has(
        r#"leadscore_requests_total{protocol="grpc",rpc="Explain",model="leads",version="2",code="OK"}"#,
    );
    has(r#"code="InvalidArgument""#);
    has(
        r#"leadscore_request_duration_seconds_bucket{protocol="grpc",rpc="Score",model="leads",version="2",le="0.00025"}"#,
    );
    has(r#"leadscore_leads_scored_total{rpc="Score",model="leads",version="2"}"#);
    has(r#"leadscore_score_probability_bucket{model="leads",version="2",le="0.5"}"#);
    has(r#"leadscore_feature_fallbacks_total{model="leads",feature="visits_30d",kind="imputed"}"#);
    has(
        r#"leadscore_feature_fallbacks_total{model="leads",feature="company_size",kind="unseen_category"}"#,
    );
    has(r#"leadscore_model_loads_total{model="leads",version="2"}"#);
    has("leadscore_models_loaded");
    has("leadscore_requests_in_flight");
    has("process_resident_memory_bytes");
    has("# TYPE leadscore_request_duration_seconds histogram");
}
