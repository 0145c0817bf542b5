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

/// A CRM export as people have them: a UTF-8 BOM, a header with spaces,
/// money as text ("$84,835.00 ", some blank " "), US m/d/yy dates and a
/// numeric id column.
fn messy_export(rows: usize) -> String {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut csv = String::from("\u{feff}ID, Income ,Dt_Customer,Country,Response\n");
    for i in 0..rows {
        let income = 20_000.0 + (next() * 80_000.0).round();
        let days = (next() * 700.0).floor() as i64;
        // 2012-07-30 + days, written m/d/yy.
        let (y, m, d) = leadscore::scoring::time::civil_from_days(15_551 + days);
        let z = (income - 60_000.0) / 20_000.0 - (days as f64 - 350.0) / 250.0;
        let responded = next() < 1.0 / (1.0 + (-z).exp());
        let income_text = if i % 40 == 7 {
            " ".to_string()
        } else {
            let whole = income as u64;
            format!("\"${},{:03}.00 \"", whole / 1000, whole % 1000)
        };
        let country = ["SP", "CA", "US"][i % 3];
        csv.push_str(&format!(
            "{},{income_text},{m}/{d}/{:02},{country},{}\n",
            1000 + i * 7,
            y % 100,
            u8::from(responded)
        ));
    }
    csv
}

#[test]
fn messy_export_columns_are_read_as_a_data_scientist_expects() {
    // Arrange
    let dir = TempDir::new().expect("tempdir");
    let csv = write_csv(&dir, "marketing.csv", &messy_export(1_200));
    let settings = TrainSettings {
        data: Some(csv),
        target: Some("Response".into()),
        params: TrainParams {
            model: leadscore::train::ModelFamily::Logistic,
            ..TrainParams::default()
        },
        command: "test".into(),
        ..Default::default()
    };

    // Act
    let outcome = train::train(&settings).expect("a messy export trains with defaults");

    // Assert: what the model saw.
    let a = &outcome.artifact;
    let names: Vec<&str> = a.features.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["income", "dt_customer", "country"],
        "{:?}",
        outcome.notices
    );
    assert!(
        outcome
            .notices
            .iter()
            .any(|n| n.contains("\"ID\" excluded") && n.contains("identifier")),
        "{:?}",
        outcome.notices
    );
    let income = &a.features[0];
    assert_eq!(income.source_column, "Income", "header trimmed");
    let FeatureEncoding::Numeric { min, max, .. } = income.encoding else {
        panic!("income is numeric: {:?}", income.encoding)
    };
    assert!(
        (20_000.0..=100_000.0).contains(&min) && max <= 100_000.0,
        "{min} {max}"
    );
    let date = &a.features[1];
    assert_eq!(
        date.read_as,
        Some(leadscore::scoring::features::TextFormat::Date)
    );
    let FeatureEncoding::Numeric { min, .. } = date.encoding else {
        panic!("the date is numeric days: {:?}", date.encoding)
    };
    assert!(
        (15_551.0..15_551.0 + 700.0).contains(&min),
        "days since 1970: {min}"
    );
    // The report says how each column was read, blanks counted as missing.
    let readings = &outcome.report.data.column_readings;
    let read_as = |c: &str| {
        readings
            .iter()
            .find(|r| r.column == c)
            .map(|r| (r.read_as.clone(), r.missing))
            .unwrap_or_else(|| panic!("{c} in {readings:?}"))
    };
    let (income_read, income_missing) = read_as("Income");
    assert!(
        income_read.starts_with("number written as text"),
        "{income_read}"
    );
    assert_eq!(income_missing, 30, "one blank \" \" in 40 rows");
    assert!(
        read_as("Dt_Customer").0.starts_with("date (e.g. \""),
        "{readings:?}"
    );
    let html = leadscore::train::report::render_html(&outcome.report);
    assert!(html.contains("How each column was read"));

    // The server reads a date or money sent as text exactly as the trainer did.
    let model = leadscore::scoring::model::ScoringModel::from_artifact(a.clone()).expect("valid");
    let lead = |income: RawValue, date: RawValue| {
        LeadInput::Named(
            [
                ("income".to_string(), income),
                ("dt_customer".to_string(), date),
                ("country".to_string(), RawValue::Category("CA".into())),
            ]
            .into_iter()
            .collect(),
        )
    };
    let days = leadscore::scoring::time::days_from_civil(2014, 6, 16) as f64;
    let as_numbers = model
        .score(&lead(RawValue::Number(84_835.0), RawValue::Number(days)))
        .expect("numbers");
    let as_text = model
        .score(&lead(
            RawValue::Category("$84,835.00 ".into()),
            RawValue::Category("6/16/14".into()),
        ))
        .expect("text as the export writes it");
    assert_eq!(
        as_numbers.probability.to_bits(),
        as_text.probability.to_bits()
    );
    let err = model
        .score(&lead(
            RawValue::Number(84_835.0),
            RawValue::Category("next Tuesday".into()),
        ))
        .expect_err("not a date");
    assert!(err.to_string().contains("dt_customer"), "{err}");
}
