//! Our explanations against the `shap` package (the reference
//! implementation of SHAP): `tests/data/shap/shap_reference.json` holds
//! `shap.TreeExplainer` (path-dependent) and `shap.LinearExplainer`
//! (interventional) values for 200 leads on two models our trainer wrote,
//! produced by `scripts/shap_reference.py` from the inputs written by
//! `cargo run --example shap_reference_data`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use leadscore::scoring::features::{parse_bool, FeatureKind, LeadInput, RawValue};
use leadscore::scoring::model::{ModelArtifact, ScoringModel};
use serde_json::Value;

const TOLERANCE: f64 = 1e-6;

fn data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/shap")
        .join(file)
}

fn json(file: &str) -> Value {
    let text = std::fs::read_to_string(data(file)).expect("read reference data");
    serde_json::from_str(&text).expect("valid JSON")
}

fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            row.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_f64().expect("number"))
                .collect()
        })
        .collect()
}

/// The raw leads of rows.csv, as named inputs for `model`.
fn leads(model: &ScoringModel) -> Vec<LeadInput> {
    let text = std::fs::read_to_string(data("rows.csv")).expect("rows.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            let mut map = HashMap::new();
            for spec in model.pipeline().specs() {
                let k = header.iter().position(|h| *h == spec.name).expect("column");
                let value = match spec.kind() {
                    FeatureKind::Numeric => RawValue::Number(cells[k].parse().expect("number")),
                    FeatureKind::Boolean => RawValue::Flag(parse_bool(cells[k]).expect("bool")),
                    FeatureKind::Categorical => RawValue::Category(cells[k].to_string()),
                };
                map.insert(spec.name.clone(), value);
            }
            LeadInput::Named(map)
        })
        .collect()
}

/// Compares one model with shap; returns the largest absolute difference.
fn compare(name: &str) -> f64 {
    let model = ModelArtifact::read(&data(&format!("{name}.json"))).expect("artifact loads");
    let reference = &json("shap_reference.json")[name];
    let shap = matrix(&reference["shap_values"]);
    let design = matrix(&json("design.json")[name]);
    assert_eq!(shap.len(), 200, "{name}: 200 reference rows");
    assert_eq!(design.len(), shap.len());

    // The inputs shap saw are what our pipeline makes of the raw leads.
    for (lead, row) in leads(&model).iter().zip(&design) {
        let encoded = model.pipeline().encode(lead).expect("encodes");
        assert_eq!(&encoded.design, row, "{name}: design rows are ours");
    }

    let expected = reference["expected_value"]
        .as_f64()
        .expect("expected_value");
    let mut worst = (expected - model.base_log_odds()).abs();
    assert!(
        worst < TOLERANCE,
        "{name}: expected value {expected} vs base_log_odds {}",
        model.base_log_odds()
    );
    for (r, (row, theirs)) in design.iter().zip(&shap).enumerate() {
        let ours = model.design_contributions(row);
        assert_eq!(
            ours.len(),
            theirs.len(),
            "{name}: one value per design column"
        );
        for (c, (a, b)) in ours.iter().zip(theirs).enumerate() {
            let diff = (a - b).abs();
            assert!(
                diff < TOLERANCE,
                "{name} row {r} column {c}: ours {a}, shap {b}"
            );
            worst = worst.max(diff);
        }
        // Per source feature: one-hot and bin columns add up into their feature.
        let per_feature = model.contributions(row);
        for (i, ours) in per_feature.iter().enumerate() {
            let theirs: f64 = model.pipeline().columns_of(i).map(|c| theirs[c]).sum();
            let diff = (ours - theirs).abs();
            assert!(
                diff < TOLERANCE,
                "{name} row {r} feature {i}: ours {ours}, shap {theirs}"
            );
            worst = worst.max(diff);
        }
        // And everything adds up to the model's raw margin.
        let total = model.base_log_odds() + per_feature.iter().sum::<f64>();
        assert!(
            (total - model.log_odds(row)).abs() < 1e-9,
            "{name} row {r}: additivity"
        );
    }
    eprintln!(
        "{name}: max |ours - shap| = {worst:.3e} over {} rows",
        design.len()
    );
    worst
}

#[test]
fn explain_tree_shap_matches_shap_tree_explainer() {
    assert!(compare("gbdt") < TOLERANCE);
}

#[test]
fn explain_logistic_matches_shap_linear_explainer() {
    assert!(compare("logistic") < TOLERANCE);
}
