//! Writes the inputs of the `shap` reference check (see
//! `scripts/shap_reference.py` and `tests/api/shap_reference.rs`):
//!
//! - `tests/data/shap/logistic.json` and `tests/data/shap/gbdt.json`: a
//!   logistic model and a 30-tree gbdt trained by our trainer on
//!   `synthetic::behavioural(3000, 7)`;
//! - `tests/data/shap/rows.csv`: 200 raw leads (`behavioural(200, 99)`);
//! - `tests/data/shap/design.json`: those leads encoded by each model's
//!   pipeline (the design rows shap sees).
//!
//! With `--big DIR` it instead writes the speed-comparison model (300 trees,
//! depth 6, 64 leaves; the model `benches/scoring.rs` trains) to
//! `DIR/model.json` and 1,000 encoded leads to `DIR/design.json`.
//!
//! usage: cargo run --release --example shap_reference_data [-- --big DIR]

use std::path::{Path, PathBuf};

use leadscore::scoring::features::{parse_bool, FeatureKind, LeadInput, RawValue};
use leadscore::scoring::model::{ModelArtifact, ScoringModel};
use leadscore::train::{self, ModelFamily, TrainParams, TrainSettings};

fn train_on(csv: &str, params: TrainParams) -> ModelArtifact {
    let dir = std::env::temp_dir().join(format!("shap_reference_{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("behavioural.csv");
    std::fs::write(&path, csv).expect("write csv");
    let outcome = train::train(&TrainSettings {
        data: Some(path),
        target: Some("converted".into()),
        id: Some("lead_id".into()),
        exclude: vec!["account_id".into(), "signup_date".into()],
        params,
        command: "cargo run --example shap_reference_data".into(),
        ..Default::default()
    })
    .expect("training");
    let _ = std::fs::remove_dir_all(&dir);
    let mut artifact = outcome.artifact;
    // Fixed, so that regenerating gives the same files.
    artifact.provenance.trained_at = "2026-01-01T00:00:00Z".into();
    artifact
}

/// Encodes raw CSV rows (header first) with a model's pipeline.
fn design_rows(model: &ScoringModel, csv: &str) -> Vec<Vec<f64>> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            let mut map = std::collections::HashMap::new();
            for spec in model.pipeline().specs() {
                let Some(k) = header.iter().position(|h| *h == spec.name) else {
                    continue;
                };
                let cell = cells[k];
                let value = match spec.kind() {
                    FeatureKind::Numeric => RawValue::Number(cell.parse().expect("number")),
                    FeatureKind::Boolean => RawValue::Flag(parse_bool(cell).expect("boolean")),
                    FeatureKind::Categorical => RawValue::Category(cell.to_string()),
                };
                map.insert(spec.name.clone(), value);
            }
            model
                .pipeline()
                .encode(&LeadInput::Named(map))
                .expect("encodes")
                .design
        })
        .collect()
}

fn write(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create dir");
    }
    std::fs::write(path, text).expect("write");
    println!("wrote {}", path.display());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--big") {
        let dir = PathBuf::from(args.get(at + 1).expect("--big DIR"));
        let (csv, _) = leadscore::train::synthetic::behavioural(20_000, 5);
        let artifact = train_on(&csv, TrainParams::explain_benchmark());
        let model = ScoringModel::from_artifact(artifact.clone()).expect("valid");
        let (rows, _) = leadscore::train::synthetic::behavioural(1000, 6);
        write(&dir.join("model.json"), &artifact.to_json());
        let design = serde_json::json!({ "gbdt": design_rows(&model, &rows) });
        write(&dir.join("design.json"), &design.to_string());
        return;
    }
    let (csv, _) = leadscore::train::synthetic::behavioural(3000, 7);
    let logistic = train_on(&csv, TrainParams::default());
    let mut gbdt_params = TrainParams {
        model: ModelFamily::Gbdt,
        ..TrainParams::default()
    };
    gbdt_params.gbdt.n_trees = 30;
    let gbdt = train_on(&csv, gbdt_params);
    let (rows, _) = leadscore::train::synthetic::behavioural(200, 99);
    let out = Path::new("tests/data/shap");
    let mut design = serde_json::Map::new();
    for (name, artifact) in [("logistic", &logistic), ("gbdt", &gbdt)] {
        write(
            &out.join(format!("{name}.json")),
            &serde_json::to_string(artifact).expect("serialises"),
        );
        let model = ScoringModel::from_artifact(artifact.clone()).expect("valid");
        design.insert(name.into(), serde_json::json!(design_rows(&model, &rows)));
    }
    write(&out.join("rows.csv"), &rows);
    write(
        &out.join("design.json"),
        &serde_json::Value::Object(design).to_string(),
    );
}
