//! The trainer on data drawn from a known logistic model: it recovers the
//! weights, reaches the generating model's held-out AUC, refuses unusable
//! input, and its artifact round-trips exactly; the binary trains a model the
//! server then serves.

use leadscore::scoring::features::{FeatureEncoding, LeadInput, RawValue};
use leadscore::scoring::model::{Estimator, ModelArtifact};
use leadscore::train::evaluation::roc_auc;
use leadscore::train::synthetic;
use leadscore::train::{self, stratified_split, TrainError, TrainParams, TrainSettings};
use tempfile::TempDir;

fn request(csv: &std::path::Path, params: TrainParams) -> TrainSettings {
    TrainSettings {
        data: Some(csv.to_path_buf()),
        target: Some("converted".into()),
        id: Some("lead_id".into()),
        exclude: vec![],
        na_values: vec![],
        params,
        command: "test".into(),
        ..Default::default()
    }
}

fn write_csv(dir: &TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write csv");
    path
}

#[test]
fn recovers_the_generating_weights_and_auc() {
    // Arrange: 60,000 leads from the known model; a purely linear fit (no bins)
    // so coefficients map one to one onto the generating weights.
    let dir = TempDir::new().expect("tempdir");
    let data = synthetic::generate(60_000, 5);
    let csv = write_csv(&dir, "leads.csv", &data.to_csv());
    let params = TrainParams {
        numeric_bins: 0,
        ..TrainParams::default()
    };

    // Act
    let outcome = train::train(&request(&csv, params.clone())).expect("train");

    // Assert: weights. Numeric coefficients are per standard deviation.
    let a = &outcome.artifact;
    let Estimator::Logistic { coefficients, .. } = &a.estimator else {
        panic!("logistic model expected")
    };
    let mut col = 0;
    let truth = &data.truth;
    for spec in &a.features {
        match &spec.encoding {
            FeatureEncoding::Numeric { std, .. } => {
                let w = truth
                    .numeric
                    .iter()
                    .find(|(n, _)| *n == spec.name)
                    .expect("numeric")
                    .1;
                let got = coefficients[col] / std;
                assert!(
                    (got - w).abs() < 0.03 + 0.1 * w.abs(),
                    "{}: {got} vs {w}",
                    spec.name
                );
                col += 1;
            }
            FeatureEncoding::Boolean { .. } => {
                let w = truth.boolean[0].1;
                assert!(
                    (coefficients[col] - w).abs() < 0.15,
                    "{}: {} vs {w}",
                    spec.name,
                    coefficients[col]
                );
                col += 1;
            }
            FeatureEncoding::Categorical { categories } => {
                let levels = &truth
                    .categorical
                    .iter()
                    .find(|(n, _)| *n == spec.name)
                    .expect("cat")
                    .1;
                let coef = |level: &str| {
                    let k = categories
                        .iter()
                        .position(|c| c == level)
                        .expect("level kept");
                    coefficients[col + k]
                };
                let (ref_level, ref_w) = levels[0];
                for (level, w) in levels.iter().skip(1) {
                    let got = coef(level) - coef(ref_level);
                    // Standard error of a level difference is about 0.05 here.
                    assert!(
                        (got - (w - ref_w)).abs() < 0.2,
                        "{}[{level}] - [{ref_level}]: {got} vs {}",
                        spec.name,
                        w - ref_w
                    );
                }
                col += categories.len();
            }
            other => panic!("the trainer writes no {other:?} features"),
        }
    }
    assert_eq!(col, coefficients.len());

    // Assert: held-out AUC close to the generating model's on the same split.
    let labels: Vec<bool> = data.leads.iter().map(|l| l.converted).collect();
    let (_, test) = stratified_split(&labels, params.test_fraction, params.seed);
    let y: Vec<bool> = test.iter().map(|&i| labels[i]).collect();
    let p: Vec<f64> = test
        .iter()
        .map(|&i| data.leads[i].true_probability)
        .collect();
    let oracle = roc_auc(&y, &p).expect("both classes");
    let got = a.metrics.roc_auc;
    assert!(
        (got - oracle).abs() < 0.01,
        "model AUC {got} vs generating model {oracle}"
    );
    assert!(a.metrics.log_loss < a.metrics.base_rate_log_loss);
}

#[test]
fn save_load_round_trip_gives_identical_scores() {
    let dir = TempDir::new().expect("tempdir");
    let data = synthetic::generate(3000, 9);
    let csv = write_csv(&dir, "leads.csv", &data.to_csv());
    let outcome = train::train(&request(&csv, TrainParams::default())).expect("train");
    let in_memory =
        leadscore::scoring::model::ScoringModel::from_artifact(outcome.artifact.clone())
            .expect("valid");

    let path = train::write_artifact(&outcome.artifact, &dir.path().join("m/1")).expect("write");
    let loaded = ModelArtifact::read(&path).expect("read back");
    assert_eq!(
        loaded.artifact(),
        &outcome.artifact,
        "artifact round-trips exactly"
    );

    for l in data.leads.iter().take(500) {
        let input = LeadInput::Named(
            [
                ("demo_actions", RawValue::Number(l.demo_actions)),
                ("visits_30d", RawValue::Number(l.visits_30d)),
                ("email_opens", RawValue::Number(l.email_opens)),
                ("report_created", RawValue::Flag(l.report_created)),
                ("company_size", RawValue::Category(l.company_size.into())),
                ("lead_source", RawValue::Category(l.lead_source.into())),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        );
        let a = in_memory.score(&input).expect("score");
        let b = loaded.score(&input).expect("score");
        assert_eq!(a.probability.to_bits(), b.probability.to_bits());
    }
    // Same data, same seed: the same model.
    let again = train::train(&request(&csv, TrainParams::default())).expect("train");
    assert_eq!(again.artifact.estimator, outcome.artifact.estimator);
}

#[test]
fn unusable_input_is_refused_with_a_clear_message() {
    let dir = TempDir::new().expect("tempdir");
    let good = synthetic::generate(400, 1).to_csv();

    let empty = write_csv(&dir, "empty.csv", "");
    let err = train::train(&request(&empty, TrainParams::default())).expect_err("empty");
    assert!(err.to_string().contains("no data rows"), "{err}");
    let header_only = write_csv(&dir, "header.csv", synthetic::CSV_HEADER);
    let err = train::train(&request(&header_only, TrainParams::default())).expect_err("header");
    assert!(err.to_string().contains("no data rows"), "{err}");

    let csv = write_csv(&dir, "good.csv", &good);
    let mut r = request(&csv, TrainParams::default());
    r.target = Some("purchased".into());
    let err = train::train(&r).expect_err("no such target");
    assert!(
        err.to_string()
            .contains("target column \"purchased\" not found"),
        "{err}"
    );

    let mut r = request(&csv, TrainParams::default());
    r.exclude = vec!["Tags".into()];
    let err = train::train(&r).expect_err("unknown exclude");
    assert!(
        err.to_string().contains("--exclude names column \"Tags\""),
        "{err}"
    );

    let constant: String = good
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("{l}\n")
            } else {
                format!("{}0\n", &l[..l.len() - 1])
            }
        })
        .collect();
    let csv = write_csv(&dir, "constant.csv", &constant);
    let err = train::train(&request(&csv, TrainParams::default())).expect_err("constant");
    assert!(matches!(err, TrainError::ConstantTarget { .. }), "{err}");

    let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
    let last = lines[4].rfind(',').expect("comma");
    lines[4] = format!("{},maybe", &lines[4][..last]);
    let csv = write_csv(&dir, "bad_target.csv", &(lines.join("\n") + "\n"));
    let err = train::train(&request(&csv, TrainParams::default())).expect_err("bad target");
    assert!(
        err.to_string().contains("line 5") && err.to_string().contains("\"maybe\""),
        "{err}"
    );

    let ragged = format!("{good}L999999,1,2\n");
    let csv = write_csv(&dir, "ragged.csv", &ragged);
    let err = train::train(&request(&csv, TrainParams::default())).expect_err("ragged row");
    assert!(matches!(err, TrainError::Table(_)), "{err}");
}

#[tokio::test]
async fn the_train_binary_writes_a_model_the_server_serves() {
    // Arrange: a CSV with an id column, a leaky column and a "Select" placeholder.
    let dir = TempDir::new().expect("tempdir");
    let mut csv = String::new();
    for (i, line) in synthetic::generate(3000, 21).to_csv().lines().enumerate() {
        let (rest, label) = line.rsplit_once(',').expect("comma");
        let leak = if i == 0 {
            "Sales Verdict".to_string()
        } else if label == "1" {
            "Won".into()
        } else {
            "Lost".into()
        };
        let rest = if i % 50 == 7 {
            rest.replace(",organic", ",Select")
        } else {
            rest.to_string()
        };
        csv.push_str(&format!("{rest},{leak},{label}\n"));
    }
    let data = write_csv(&dir, "crm_export.csv", &csv);
    let out = dir.path().join("models/crm/1");

    // Act
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_leadscore-train"))
        .arg("--data")
        .arg(&data)
        .args([
            "--target",
            "converted",
            "--id",
            "lead_id",
            "--exclude",
            "Sales*",
            "--na-values",
            "Select",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run leadscore-train");

    // Assert
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("held-out: ROC AUC"), "{stdout}");
    let artifact = ModelArtifact::read(&out.join("model.json")).expect("valid artifact");
    let a = artifact.artifact();
    assert!(a
        .provenance
        .excluded_columns
        .contains(&"Sales Verdict".to_string()));
    assert!(a.features.iter().all(|f| f.name != "sales_verdict"));
    assert!(
        a.metrics.roc_auc > 0.7 && a.metrics.roc_auc < 0.95,
        "no leak: {}",
        a.metrics.roc_auc
    );

    let repo = dir.path().join("models");
    let app = crate::helpers::spawn_with(crate::helpers::settings(&repo), None).await;
    let response = app
        .client()
        .score(leadscore::serve::proto::ScoreRequest {
            model: "crm".into(),
            leads: vec![crate::helpers::lead("served", 4.0, true, "51-200")],
            ..Default::default()
        })
        .await
        .expect("Score")
        .into_inner();
    assert_eq!(
        (response.model.as_str(), response.version.as_str()),
        ("crm", "1")
    );
    drop(dir);
}
