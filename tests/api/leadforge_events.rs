//! Train from leadforge's raw tables (sessions, touches, sales activities),
//! serve, and score leads by sending their events: the served window
//! features equal the trainer's materialised table bit for bit, and the
//! scores equal scoring that table's rows.
//!
//! Needs `../shared/data/leadforge` and `python3` (for
//! `scripts/leadforge_events.py`); skips loudly without them.

use std::collections::HashMap;
use std::path::Path;

use leadscore::scoring::features::FeatureKind;
use leadscore::serve::proto::{Event, ExplainRequest, FeatureValue, Lead, ScoreRequest};
use leadscore::train::{self, ModelFamily, TrainParams, TrainSettings};
use tempfile::TempDir;

use crate::helpers::{cat, flag, num, settings, spawn_with};

#[tokio::test]
async fn leadforge_leads_scored_from_their_events_match_the_materialised_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = root.join("../shared/data/leadforge");
    if !data.join("tables").is_dir() {
        eprintln!(
            "\n!!! SKIPPED leadforge_leads_scored_from_their_events_match_the_materialised_table: \
             {} is absent !!!\n",
            data.display()
        );
        return;
    }
    // Arrange: the script's two tables for the first 3,000 leads.
    let work = TempDir::new().expect("tempdir");
    let status = std::process::Command::new("python3")
        .arg(root.join("scripts/leadforge_events.py"))
        .arg(&data)
        .arg(work.path())
        .args(["--limit", "3000"])
        .status();
    let Ok(status) = status else {
        eprintln!("\n!!! SKIPPED leadforge events test: python3 not found !!!\n");
        return;
    };
    assert!(status.success(), "leadforge_events.py: {status}");
    let training = TrainSettings {
        data: Some(work.path().join("leads.csv")),
        events: Some(work.path().join("events.csv")),
        event_value_column: Some("value".into()),
        target: Some("converted".into()),
        id: Some("lead_id".into()),
        exclude: vec!["account_id".into()],
        as_of_column: Some("lead_created_at".into()),
        as_of_offset_days: Some(14.0),
        params: TrainParams {
            model: ModelFamily::Logistic,
            ..TrainParams::default()
        },
        command: "test".into(),
        ..Default::default()
    };
    let outcome = train::train(&training).expect("trains from leadforge's events");
    let (table, materialised) = train::events::feature_table(&training).expect("feature table");
    assert!(materialised.events > 10_000, "{materialised:?}");
    let repo = TempDir::new().expect("tempdir");
    train::write_artifact(&outcome.artifact, &repo.path().join("leadforge").join("1"))
        .expect("write");
    let app = spawn_with(settings(repo.path()), Some(repo)).await;

    // The requests: 60 leads, each with its events and its static columns.
    let events_csv = std::fs::read_to_string(work.path().join("events.csv")).expect("events");
    let mut events: HashMap<String, Vec<Event>> = HashMap::new();
    for line in events_csv.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        events.entry(cells[0].to_string()).or_default().push(Event {
            r#type: cells[2].to_string(),
            time: cells[1].to_string(),
            value: cells[3].parse().ok(),
        });
    }
    let column = |name: &str| table.header.iter().position(|h| h == name).expect(name);
    let specs = &outcome.artifact.features;
    let definition = outcome.artifact.events.clone().expect("a definition");
    let window: Vec<&str> = definition.feature_names().collect();
    let value_of = |row: &[String], name: &str, kind: FeatureKind| -> Option<FeatureValue> {
        let cell = &row[column(name)];
        if cell.is_empty() {
            return None;
        }
        Some(match kind {
            FeatureKind::Numeric => num(cell.parse().expect("number")),
            FeatureKind::Boolean => flag(cell == "1" || cell.eq_ignore_ascii_case("true")),
            FeatureKind::Categorical => cat(cell),
        })
    };
    let rows: Vec<&Vec<String>> = table.rows.iter().step_by(50).take(60).collect();
    let (mut by_events, mut by_table) = (Vec::new(), Vec::new());
    for row in &rows {
        let id = row[column("lead_id")].clone();
        let created = &row[column("lead_created_at")];
        let day = leadscore::scoring::time::parse_timestamp(created).expect("date");
        let as_of =
            leadscore::scoring::time::Timestamp(day.0 + 14 * leadscore::scoring::time::MS_PER_DAY);
        let mut statics = HashMap::new();
        let mut all = HashMap::new();
        for spec in specs {
            if let Some(v) = value_of(row, &spec.name, spec.kind()) {
                if !window.contains(&spec.name.as_str()) {
                    statics.insert(spec.name.clone(), v.clone());
                }
                all.insert(spec.name.clone(), v);
            }
        }
        by_events.push(Lead {
            lead_id: id.clone(),
            features: statics,
            events: events.get(&id).cloned().unwrap_or_default(),
            as_of: as_of.to_string(),
            ..Default::default()
        });
        by_table.push(Lead {
            lead_id: id,
            features: all,
            ..Default::default()
        });
    }

    // Act
    let explained = app
        .client()
        .explain(ExplainRequest {
            model: "leadforge".into(),
            leads: by_events.clone(),
            ..Default::default()
        })
        .await
        .expect("Explain")
        .into_inner();
    let from_table = app
        .client()
        .score(ScoreRequest {
            model: "leadforge".into(),
            leads: by_table,
            ..Default::default()
        })
        .await
        .expect("Score")
        .into_inner();

    // Assert
    let mut used = 0;
    for ((e, s), row) in explained
        .explanations
        .iter()
        .zip(&from_table.scores)
        .zip(&rows)
    {
        for name in &window {
            let cell = &row[column(name)];
            match e.computed_features.get(*name) {
                Some(v) => assert_eq!(
                    cell.parse::<f64>().expect("number").to_bits(),
                    v.to_bits(),
                    "{name} of {}",
                    e.lead_id
                ),
                None => assert!(cell.is_empty(), "{name} of {}: {cell}", e.lead_id),
            }
        }
        assert_eq!(
            e.probability.to_bits(),
            s.probability.to_bits(),
            "{}",
            e.lead_id
        );
        used += e.events.as_ref().map_or(0, |s| s.used);
    }
    assert!(
        used > 0,
        "the sampled leads had events before their as-of time"
    );
    eprintln!(
        "leadforge events: {} window features, {} leads compared, held-out AUC {:.4}",
        window.len(),
        rows.len(),
        outcome.artifact.metrics.roc_auc
    );
}
