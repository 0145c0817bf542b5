//! The trainer and the metrics against scikit-learn (outside reference).
//!
//! `tests/data/sklearn_reference.json` was written by
//! `scripts/sklearn_reference.py` (scikit-learn's LogisticRegression on the
//! same design, rows and penalty); its inputs by `cargo run --example
//! reference_data`. The committed inputs are checked here too, so a change to
//! the generator or the split shows up as a failure, not a silent mismatch.

use std::path::{Path, PathBuf};

use leadscore::scoring::features::FeatureEncoding;
use leadscore::scoring::model::Estimator;
use leadscore::train::evaluation::{brier, log_loss, roc_auc};
use leadscore::train::{self, stratified_split, TrainParams, TrainSettings};
use serde_json::Value;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn reference() -> Value {
    let text = std::fs::read_to_string(data("sklearn_reference.json")).expect("reference file");
    serde_json::from_str(&text).expect("reference JSON")
}

#[test]
fn committed_inputs_match_the_generator_and_the_split() {
    let generated = leadscore::train::synthetic::generate(2000, 77);
    let committed = std::fs::read_to_string(data("reference_leads.csv")).expect("csv");
    assert_eq!(
        committed,
        generated.to_csv(),
        "rerun `cargo run --example reference_data`"
    );

    let split: Value = serde_json::from_str(
        &std::fs::read_to_string(data("reference_split.json")).expect("split"),
    )
    .expect("split JSON");
    let labels: Vec<bool> = generated.leads.iter().map(|l| l.converted).collect();
    let params = TrainParams::default();
    let (_, test) = stratified_split(&labels, params.test_fraction, params.seed);
    let committed: Vec<usize> = split["test_rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|v| v.as_u64().expect("index") as usize)
        .collect();
    assert_eq!(test, committed);
}

#[test]
fn logistic_fit_matches_scikit_learn() {
    let reference = reference();
    let alpha = reference["alpha"].as_f64().expect("alpha");
    let outcome = train::train(&TrainSettings {
        data: Some(data("reference_leads.csv")),
        target: Some("converted".into()),
        id: Some("lead_id".into()),
        exclude: vec![],
        na_values: vec![],
        params: TrainParams {
            l2: alpha,
            numeric_bins: 0,
            calibration: leadscore::train::CalibrationChoice::None,
            ..TrainParams::default()
        },
        command: "reference test".into(),
        ..Default::default()
    })
    .expect("train");
    let a = &outcome.artifact;
    let Estimator::Logistic {
        intercept,
        coefficients,
    } = &a.estimator
    else {
        panic!("logistic model expected")
    };

    // Design column names as the script writes them.
    let mut names = Vec::new();
    for spec in &a.features {
        match &spec.encoding {
            FeatureEncoding::Categorical { categories } => {
                names.extend(categories.iter().map(|c| format!("{}={c}", spec.name)))
            }
            _ => names.push(spec.name.clone()),
        }
    }
    let expected = reference["coefficients"].as_object().expect("coefficients");
    let mut compared = 0;
    for (name, w) in names.iter().zip(coefficients) {
        match expected.get(name) {
            Some(v) => {
                let v = v.as_f64().expect("number");
                assert!((w - v).abs() < 1e-5, "{name}: ours {w}, scikit-learn {v}");
                compared += 1;
            }
            // "(missing)" / "(other)" never occur in training: zero under L2.
            None => assert!(w.abs() < 1e-6, "{name}: {w}"),
        }
    }
    assert_eq!(
        compared,
        expected.len(),
        "every scikit-learn column compared"
    );
    let v = reference["intercept"].as_f64().expect("intercept");
    assert!(
        (intercept - v).abs() < 1e-5,
        "intercept: ours {intercept}, scikit-learn {v}"
    );

    // Held-out metrics of the two fits agree.
    let m = &a.metrics;
    for (ours, key) in [
        (m.roc_auc, "roc_auc"),
        (m.log_loss, "log_loss"),
        (m.brier, "brier"),
    ] {
        let v = reference[key].as_f64().expect(key);
        assert!(
            (ours - v).abs() < 1e-4,
            "{key}: ours {ours}, scikit-learn {v}"
        );
    }
}

#[test]
fn metric_functions_match_scikit_learn() {
    let reference = reference();
    let labels: Vec<bool> = reference["test_labels"]
        .as_array()
        .expect("labels")
        .iter()
        .map(|v| v.as_i64() == Some(1))
        .collect();
    let probabilities: Vec<f64> = reference["test_probabilities"]
        .as_array()
        .expect("probabilities")
        .iter()
        .map(|v| v.as_f64().expect("number"))
        .collect();
    let close = |ours: f64, key: &str| {
        let v = reference[key].as_f64().expect(key);
        assert!(
            (ours - v).abs() < 1e-12,
            "{key}: ours {ours}, scikit-learn {v}"
        );
    };
    close(
        roc_auc(&labels, &probabilities).expect("both classes"),
        "roc_auc",
    );
    close(log_loss(&labels, &probabilities), "log_loss");
    close(brier(&labels, &probabilities), "brier");
}
