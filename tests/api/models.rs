//! GetModel and ListModels.

use leadscore::serve::proto::{FeatureKind, GetModelRequest, ListModelsRequest};

use crate::helpers::{spawn_app, MODEL};

#[tokio::test]
async fn get_model_describes_schema_provenance_and_metrics() {
    let app = spawn_app().await;
    let info = app
        .client()
        .get_model(GetModelRequest::default())
        .await
        .expect("GetModel")
        .into_inner();
    assert_eq!((info.name.as_str(), info.version.as_str()), (MODEL, "2"));
    assert_eq!(info.kind, "logistic");
    assert_eq!(
        info.format_version,
        leadscore::scoring::model::FORMAT_VERSION
    );
    let names: Vec<&str> = info.features.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "demo_actions",
            "visits_30d",
            "email_opens",
            "report_created",
            "company_size",
            "lead_source"
        ]
    );
    let size = &info.features[4];
    assert_eq!(size.kind(), FeatureKind::Categorical);
    assert_eq!(size.source_column, "company_size");
    assert!(size.categories.contains(&"201-1000".to_string()));
    assert_eq!(size.categories.last().map(String::as_str), Some("(other)"));
    assert_eq!(info.features[3].kind(), FeatureKind::Boolean);
    assert_eq!(info.features[0].kind(), FeatureKind::Numeric);
    assert!(!info.features[0].imputed_value.is_empty());

    let provenance = info.provenance.expect("provenance");
    assert_eq!(provenance.rows, 4000);
    assert_eq!(provenance.target_column, "converted");
    assert_eq!(provenance.excluded_columns, ["lead_id"]);
    assert_eq!(provenance.data_sha256.len(), 64);
    let metrics = info.metrics.expect("metrics");
    assert!(
        metrics.roc_auc > 0.7 && metrics.roc_auc <= 1.0,
        "{}",
        metrics.roc_auc
    );
    assert!(metrics.log_loss < metrics.base_rate_log_loss);
    assert_eq!(metrics.rows, 800);
    let bands: Vec<&str> = info.bands.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(bands, ["hot", "warm", "cold"]);
}

#[tokio::test]
async fn get_model_can_pin_a_version() {
    let app = spawn_app().await;
    let info = app
        .client()
        .get_model(GetModelRequest {
            model: MODEL.into(),
            version: "1".into(),
        })
        .await
        .expect("GetModel")
        .into_inner();
    assert_eq!(info.version, "1");
}

#[tokio::test]
async fn list_models_shows_every_loaded_version() {
    let app = spawn_app().await;
    let list = app
        .client()
        .list_models(ListModelsRequest {})
        .await
        .expect("ListModels")
        .into_inner();
    assert_eq!(list.default_model, MODEL);
    let versions: Vec<(&str, &str)> = list
        .models
        .iter()
        .map(|m| (m.name.as_str(), m.version.as_str()))
        .collect();
    assert_eq!(versions, [(MODEL, "1"), (MODEL, "2")]);
    assert!(list.models.iter().all(|m| m.loaded_at_unix > 1_600_000_000));
}
