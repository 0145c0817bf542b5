//! The trainer beyond logistic regression: gradient-boosted trees on data
//! with known non-linear effects, `auto` model choice, calibration that the
//! server applies, class weights, the leakage guard, out-of-time and grouped
//! splits, refusals of unusable input, the written report, `train.toml`, and
//! Parquet input. All on generated data (no `../shared`).

use leadscore::scoring::calibration::Calibration;
use leadscore::scoring::model::{Estimator, ModelArtifact, ScoringModel};
use leadscore::train::evaluation::roc_auc;
use leadscore::train::synthetic;
use leadscore::train::{
    self, CalibrationChoice, ClassWeight, ModelFamily, TrainError, TrainParams, TrainSettings,
};
use tempfile::TempDir;

fn write(dir: &TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write csv");
    path
}

fn behavioural_request(csv: &std::path::Path, params: TrainParams) -> TrainSettings {
    TrainSettings {
        data: Some(csv.to_path_buf()),
        target: Some("converted".into()),
        id: Some("lead_id".into()),
        exclude: vec!["account_id".into(), "signup_date".into()],
        params,
        command: "test".into(),
        ..Default::default()
    }
}

/// AUC of the generating model on the trainer's own test rows.
fn oracle_auc(csv: &str, truth: &[f64], params: &TrainParams) -> f64 {
    let labels: Vec<bool> = csv.lines().skip(1).map(|l| l.ends_with(",1")).collect();
    let (_, test) = train::stratified_split(&labels, params.test_fraction, params.seed);
    let y: Vec<bool> = test.iter().map(|&i| labels[i]).collect();
    let p: Vec<f64> = test.iter().map(|&i| truth[i]).collect();
    roc_auc(&y, &p).expect("both classes")
}

#[test]
fn gbdt_learns_thresholds_and_interactions_and_auto_picks_it() {
    // Arrange: an interaction (pricing views AND demo actions) no linear model can express.
    let dir = TempDir::new().expect("tempdir");
    let (csv, truth) = synthetic::behavioural(20_000, 11);
    let path = write(&dir, "behaviour.csv", &csv);
    let params = TrainParams {
        model: ModelFamily::Auto,
        ..TrainParams::default()
    };

    // Act
    let outcome = train::train(&behavioural_request(&path, params.clone())).expect("train");

    // Assert: auto chose trees, said why, and they reach the generating model's AUC.
    let a = &outcome.artifact;
    assert!(
        matches!(a.estimator, Estimator::Gbdt(_)),
        "{}",
        outcome.report.model_choice_reason
    );
    assert!(
        outcome
            .report
            .model_choice_reason
            .contains("gbdt has the lower"),
        "{}",
        outcome.report.model_choice_reason
    );
    assert_eq!(outcome.report.candidates.len(), 2);
    let oracle = oracle_auc(&csv, &truth, &params);
    assert!(
        a.metrics.roc_auc > oracle - 0.02,
        "gbdt AUC {} vs generating model {oracle}",
        a.metrics.roc_auc
    );
    let logistic = outcome
        .report
        .candidates
        .iter()
        .find(|c| c.family == "logistic")
        .expect("logistic candidate");
    let gbdt = outcome
        .report
        .candidates
        .iter()
        .find(|c| c.family == "gbdt")
        .expect("gbdt candidate");
    assert!(gbdt.cv_log_loss_mean < logistic.cv_log_loss_mean);

    // The artifact round-trips and explanations add up for trees too.
    let loaded = ModelArtifact::from_json(a.to_json().as_bytes(), "mem").expect("valid");
    assert_eq!(loaded.artifact(), a);
    let model = ScoringModel::from_artifact(a.clone()).expect("valid");
    let lead = leadscore::scoring::features::LeadInput::Named(
        [
            (
                "sessions_30d",
                leadscore::scoring::features::RawValue::Number(20.0),
            ),
            (
                "pricing_page_views",
                leadscore::scoring::features::RawValue::Number(4.0),
            ),
            (
                "demo_actions",
                leadscore::scoring::features::RawValue::Number(3.0),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    );
    let e = model.explain(&lead).expect("explain");
    let sum: f64 = e.contributions.iter().map(|c| c.contribution).sum();
    assert!((e.base_log_odds + sum - e.score.log_odds).abs() < 1e-9);
}

#[test]
fn gbdt_on_linear_data_reaches_the_generating_auc() {
    let dir = TempDir::new().expect("tempdir");
    let data = synthetic::generate(20_000, 5);
    let path = write(&dir, "leads.csv", &data.to_csv());
    let params = TrainParams {
        model: ModelFamily::Gbdt,
        ..TrainParams::default()
    };
    let outcome = train::train(&TrainSettings {
        data: Some(path),
        target: Some("converted".into()),
        id: Some("lead_id".into()),
        params: params.clone(),
        ..Default::default()
    })
    .expect("train");
    let labels: Vec<bool> = data.leads.iter().map(|l| l.converted).collect();
    let (_, test) = train::stratified_split(&labels, params.test_fraction, params.seed);
    let y: Vec<bool> = test.iter().map(|&i| labels[i]).collect();
    let p: Vec<f64> = test
        .iter()
        .map(|&i| data.leads[i].true_probability)
        .collect();
    let oracle = roc_auc(&y, &p).expect("auc");
    let got = outcome.artifact.metrics.roc_auc;
    assert!((got - oracle).abs() < 0.02, "gbdt {got} vs oracle {oracle}");
}

#[tokio::test]
async fn balanced_class_weights_are_calibrated_back_and_the_server_applies_it() {
    // Arrange: a rare outcome (about 8%) and balanced class weights, which
    // inflate raw probabilities; calibration must bring them back.
    let dir = TempDir::new().expect("tempdir");
    let (csv, _) = synthetic::behavioural(30_000, 3);
    // Thin out positives: keep one in three.
    let mut kept = 0usize;
    let thinned: String = csv
        .lines()
        .enumerate()
        .filter(|(i, l)| {
            *i == 0 || !l.ends_with(",1") || {
                kept += 1;
                kept.is_multiple_of(3)
            }
        })
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let path = write(&dir, "rare.csv", &thinned);
    let params = TrainParams {
        model: ModelFamily::Logistic,
        class_weight: ClassWeight::Balanced,
        calibration: CalibrationChoice::Auto,
        ..TrainParams::default()
    };

    // Act
    let outcome = train::train(&behavioural_request(&path, params)).expect("train");

    // Assert: a calibration was chosen and the held-out probabilities are honest.
    let a = &outcome.artifact;
    assert_ne!(
        a.calibration,
        Calibration::None,
        "{}",
        outcome.report.calibration.reason
    );
    assert!(a.metrics.ece <= 0.03, "ECE {}", a.metrics.ece);
    assert!(
        outcome.report.calibration.validation_ece_before > 0.1,
        "balanced weights inflate raw scores: ECE before {}",
        outcome.report.calibration.validation_ece_before
    );
    assert!(a.metrics.log_loss < a.metrics.base_rate_log_loss);
    let rate = a.provenance.positive_rate;
    assert!(rate < 0.12, "positive rate {rate}");

    // The real server serves the calibrated probability.
    let served = serve_and_score(&dir, a, "rare").await;
    assert!((served - leadscore::scoring::math::sigmoid(served_log_odds(a))).abs() > 1e-3);
}

#[tokio::test]
async fn beta_calibration_is_fitted_stored_and_served() {
    // Arrange: gradient-boosted trees, whose raw probabilities are off in
    // the tails, with beta calibration asked for.
    let dir = TempDir::new().expect("tempdir");
    let (csv, _) = synthetic::behavioural(6_000, 5);
    let path = write(&dir, "leads.csv", &csv);
    let params = TrainParams {
        model: ModelFamily::Gbdt,
        calibration: CalibrationChoice::Beta,
        ..TrainParams::default()
    };

    // Act
    let outcome = train::train(&behavioural_request(&path, params)).expect("train");

    // Assert: a valid beta map is in the artifact, the report names it,
    // and the real server applies it to the model's log-odds.
    let a = &outcome.artifact;
    let Calibration::Beta {
        a: low, b: high, ..
    } = a.calibration
    else {
        panic!("expected beta, got {:?}", a.calibration);
    };
    assert!(low >= 0.0 && high >= 0.0, "a = {low}, b = {high}");
    assert_eq!(outcome.report.calibration.method, "beta");
    assert!(a.metrics.ece <= 0.05, "ECE {}", a.metrics.ece);
    serve_and_score(&dir, a, "beta").await;
}

/// The model's log-odds for the lead [`serve_and_score`] sends.
fn served_log_odds(a: &ModelArtifact) -> f64 {
    let model = ScoringModel::from_artifact(a.clone()).expect("valid");
    model.score(&served_lead()).expect("score").log_odds
}

/// The lead [`serve_and_score`] sends, as the scoring core takes it.
fn served_lead() -> leadscore::scoring::features::LeadInput {
    leadscore::scoring::features::LeadInput::Named(
        [
            ("sessions_30d", 18.0),
            ("pricing_page_views", 4.0),
            ("demo_actions", 2.0),
        ]
        .into_iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                leadscore::scoring::features::RawValue::Number(v),
            )
        })
        .collect(),
    )
}

/// Writes `a` as `models/<name>/1`, starts the real server on it, scores one
/// lead over gRPC and checks the served probability is the local score with
/// the artifact's calibration applied, bit for bit, and that GetModel names
/// the calibration. Returns the served probability.
async fn serve_and_score(dir: &TempDir, a: &ModelArtifact, name: &str) -> f64 {
    let repo = dir.path().join("models");
    train::write_artifact(a, &repo.join(name).join("1")).expect("write");
    let app = crate::helpers::spawn_with(crate::helpers::settings(&repo), None).await;
    let mut features = std::collections::HashMap::new();
    features.insert("sessions_30d".to_string(), crate::helpers::num(18.0));
    features.insert("pricing_page_views".to_string(), crate::helpers::num(4.0));
    features.insert("demo_actions".to_string(), crate::helpers::num(2.0));
    let response = app
        .client()
        .score(leadscore::serve::proto::ScoreRequest {
            model: name.into(),
            leads: vec![leadscore::serve::proto::Lead {
                lead_id: "x".into(),
                features,
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .expect("Score")
        .into_inner();
    let model = ScoringModel::from_artifact(a.clone()).expect("valid");
    let local = model.score(&served_lead()).expect("score");
    let served = response.scores[0].probability;
    assert_eq!(served.to_bits(), local.probability.to_bits());
    assert_eq!(
        served.to_bits(),
        a.calibration.apply(local.log_odds).to_bits()
    );
    let info = app
        .client()
        .get_model(leadscore::serve::proto::GetModelRequest {
            model: name.into(),
            ..Default::default()
        })
        .await
        .expect("GetModel")
        .into_inner();
    assert_eq!(info.calibration, a.calibration.method());
    served
}

/// The behavioural data plus a column that gives the label away.
fn with_leak(csv: &str) -> String {
    csv.lines()
        .enumerate()
        .map(|(i, l)| {
            let leak = if i == 0 {
                "stage_at_export"
            } else if l.ends_with(",1") {
                "Closed Won"
            } else if i % 2 == 0 {
                "Nurture"
            } else {
                "Closed Lost"
            };
            let (rest, label) = l.rsplit_once(',').expect("comma");
            format!("{rest},{leak},{label}\n")
        })
        .collect()
}

#[test]
fn the_leakage_guard_refuses_a_leaky_column_unless_allowed() {
    let dir = TempDir::new().expect("tempdir");
    let (csv, _) = synthetic::behavioural(3000, 8);
    let path = write(&dir, "leaky.csv", &with_leak(&csv));

    let err =
        train::train(&behavioural_request(&path, TrainParams::default())).expect_err("refused");
    let text = err.to_string();
    assert!(matches!(err, TrainError::Leaky(_)), "{text}");
    assert!(text.contains("stage_at_export"), "{text}");
    assert!(
        text.contains("Closed Won"),
        "evidence names the level: {text}"
    );
    assert!(text.contains("--allow-leaky"), "{text}");

    let mut request = behavioural_request(&path, TrainParams::default());
    request.allow_leaky = vec!["stage_at_export".into()];
    let outcome = train::train(&request).expect("allowed");
    assert!(outcome
        .notices
        .iter()
        .any(|n| n.contains("stage_at_export")));
    assert!(!outcome.report.leakage.is_empty());
}

#[test]
fn unusable_input_gets_a_clear_refusal() {
    let dir = TempDir::new().expect("tempdir");
    let (csv, _) = synthetic::behavioural(2000, 4);

    // Too few positives: keep 12.
    let mut positives = 0;
    let few: String = csv
        .lines()
        .filter(|l| {
            !l.ends_with(",1") || {
                positives += 1;
                positives <= 12
            }
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let path = write(&dir, "few.csv", &few);
    let err = train::train(&behavioural_request(&path, TrainParams::default())).expect_err("few");
    assert!(
        err.to_string().contains("12 positive") && err.to_string().contains("at least 30"),
        "{err}"
    );

    // A word in a numeric column, named by line and column.
    let bad: String = csv
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 57 {
                let mut cells: Vec<&str> = l.split(',').collect();
                cells[3] = "lots";
                format!("{}\n", cells.join(","))
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let path = write(&dir, "word.csv", &bad);
    let err = train::train(&behavioural_request(&path, TrainParams::default())).expect_err("word");
    let text = err.to_string();
    assert!(
        text.contains("line 58") && text.contains("sessions_30d") && text.contains("\"lots\""),
        "{text}"
    );
}

#[test]
fn out_of_time_and_grouped_splits_hold_out_what_they_say() {
    let dir = TempDir::new().expect("tempdir");
    let (csv, _) = synthetic::behavioural(4000, 6);
    let path = write(&dir, "behaviour.csv", &csv);
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();

    let mut request = behavioural_request(&path, TrainParams::default());
    request.exclude = vec!["account_id".into()];
    request.time_column = Some("signup_date".into());
    let outcome = train::train(&request).expect("out of time");
    assert!(
        outcome.report.split.method.contains("out-of-time"),
        "{}",
        outcome.report.split.method
    );
    assert_eq!(outcome.test_rows, 800);
    assert!(!outcome
        .artifact
        .features
        .iter()
        .any(|f| f.name == "signup_date"));
    // The test rows are the last 800 by date: every training date is at or before every test date.
    let mut dates: Vec<&str> = rows.iter().map(|r| r[2]).collect();
    dates.sort_unstable();
    assert!(dates[3199] <= dates[3200]);

    let mut request = behavioural_request(&path, TrainParams::default());
    request.exclude = vec!["signup_date".into()];
    request.group_column = Some("account_id".into());
    let outcome = train::train(&request).expect("grouped");
    assert!(outcome
        .report
        .split
        .method
        .contains("grouped by \"account_id\""));
    assert!(!outcome
        .artifact
        .features
        .iter()
        .any(|f| f.name == "account_id"));
    let n = outcome.train_rows + outcome.test_rows;
    assert_eq!(n, 4000);
    assert!(
        (700..1000).contains(&outcome.test_rows),
        "{}",
        outcome.test_rows
    );
}

#[test]
fn the_binary_reads_train_toml_flags_override_it_and_reports_are_written() {
    // Arrange: a ';'-separated export and a train.toml asking for gbdt with 40 trees.
    let dir = TempDir::new().expect("tempdir");
    let (csv, _) = synthetic::behavioural(3000, 9);
    let semicolons = csv.replace(',', ";");
    let data = write(&dir, "export.csv", &semicolons);
    let out = dir.path().join("models/behaviour/1");
    let config = format!(
        "data = {data:?}\ntarget = \"converted\"\nid = \"lead_id\"\nexclude = [\"account_id\", \"signup_date\"]\nout = {out:?}\n\n[params]\nmodel = \"gbdt\"\nfolds = 3\n\n[params.gbdt]\nn_trees = 40\n"
    );
    let config_path = write(&dir, "train.toml", &config);

    // Act: the flag --trees overrides the file's n_trees.
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_leadscore-train"))
        .arg("--config")
        .arg(&config_path)
        .args(["--trees", "25"])
        .output()
        .expect("run leadscore-train");

    // Assert
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("3-fold cross-validation, gbdt"),
        "plain progress lines: {stderr}"
    );
    let model = ModelArtifact::read(&out.join("model.json")).expect("valid artifact");
    let Estimator::Gbdt(trees) = &model.artifact().estimator else {
        panic!("gbdt expected")
    };
    assert_eq!(trees.trees.len(), 25);
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("report.json")).expect("report.json"),
    )
    .expect("json");
    assert_eq!(report["split"]["method"], "stratified");
    assert!(report["test_metrics"]["roc_auc"].as_f64().expect("auc") > 0.7);
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(html.matches("<svg").count() >= 5, "plots in the report");
    assert!(std::fs::read_to_string(out.join("report.md")).is_ok());

    // A typo in train.toml is refused, naming the key.
    let typo = write(&dir, "typo.toml", "[params]\nl2_penalty = 2.0\n");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_leadscore-train"))
        .arg("--config")
        .arg(&typo)
        .output()
        .expect("run");
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("l2_penalty"));
}

/// The behavioural CSV written as Parquet: numbers as DOUBLE, text as UTF8,
/// the target as INT32.
fn behavioural_parquet(csv: &str) -> Vec<u8> {
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int32Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    use std::sync::Arc;

    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let schema = Arc::new(
        parse_message_type(
            "message leads {
                required binary lead_id (UTF8);
                required binary account_id (UTF8);
                required binary signup_date (UTF8);
                required double sessions_30d;
                required double pricing_page_views;
                required double demo_actions;
                required binary report_created (UTF8);
                required binary industry (UTF8);
                required int32 converted;
            }",
        )
        .expect("schema"),
    );
    let props = Arc::new(WriterProperties::builder().build());
    let mut buf = Vec::new();
    let mut writer = SerializedFileWriter::new(&mut buf, schema, props).expect("writer");
    let mut group = writer.next_row_group().expect("row group");
    let mut index = 0;
    while let Some(mut column) = group.next_column().expect("column") {
        let cells = rows.iter().map(|r| r[index]);
        match index {
            3..=5 => {
                let values: Vec<f64> = cells.map(|c| c.parse().expect("number")).collect();
                column
                    .typed::<DoubleType>()
                    .write_batch(&values, None, None)
            }
            8 => {
                let values: Vec<i32> = cells.map(|c| c.parse().expect("0/1")).collect();
                column.typed::<Int32Type>().write_batch(&values, None, None)
            }
            _ => {
                let values: Vec<ByteArray> = cells.map(ByteArray::from).collect();
                column
                    .typed::<ByteArrayType>()
                    .write_batch(&values, None, None)
            }
        }
        .expect("write column");
        column.close().expect("close column");
        index += 1;
    }
    group.close().expect("close group");
    writer.close().expect("close file");
    buf
}

#[test]
fn parquet_and_csv_exports_train_the_same_model() {
    let dir = TempDir::new().expect("tempdir");
    let (csv, _) = synthetic::behavioural(3000, 12);
    let csv_path = write(&dir, "export.csv", &csv);
    let parquet_path = dir.path().join("export.parquet");
    std::fs::write(&parquet_path, behavioural_parquet(&csv)).expect("write parquet");

    let from_csv =
        train::train(&behavioural_request(&csv_path, TrainParams::default())).expect("csv trains");
    let from_parquet = train::train(&behavioural_request(&parquet_path, TrainParams::default()))
        .expect("parquet trains");

    assert_eq!(from_parquet.report.data.rows, 3000);
    assert_eq!(from_parquet.artifact.features, from_csv.artifact.features);
    assert_eq!(from_parquet.artifact.estimator, from_csv.artifact.estimator);
    assert_eq!(from_parquet.artifact.metrics, from_csv.artifact.metrics);
}
