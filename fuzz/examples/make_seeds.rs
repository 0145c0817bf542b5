//! Writes the seed corpora under `fuzz/corpus/<target>/`, all generated:
//!
//! - `artifact_loader/`: a model trained on `leadscore::train::synthetic::generate(300, 1)`
//!   (pretty and compact) and a minimal hand-built model with one feature of
//!   each kind;
//! - `artifact_mutated/`: no edits, and one short edit script per edit kind;
//! - `lead_parsing/`: encoded `ScoreRequest`s (named, dense, and malformed leads);
//! - `csv_reader/`: small CSVs made from `leadscore::train::synthetic`.
//!
//! Run from the repository root with
//! `cargo run --manifest-path fuzz/Cargo.toml --example make_seeds`.
//! The fuzz library embeds `corpus/artifact_loader/synthetic_300.json`, so that
//! file must exist (an empty one will do) before this builds from scratch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use leadscore::scoring::features::{FeatureEncoding, FeatureSpec, MISSING, OTHER};
use leadscore::scoring::model::{
    Estimator, ExplanationBaseline, HeldOutMetrics, ModelArtifact, Provenance, ScoreBand,
    ScoringModel, FORMAT_VERSION,
};
use leadscore::serve::proto::{feature_value::Kind, FeatureValue, Lead, ScoreRequest};
use leadscore::train::synthetic::{generate, SyntheticLead};
use leadscore::train::{train_bytes, TrainParams, TrainSettings};
use prost::Message;

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("create corpus dir");
    std::fs::write(dir.join(name), bytes).expect("write seed");
    println!("{} ({} bytes)", dir.join(name).display(), bytes.len());
}

fn trained_model() -> ModelArtifact {
    let csv = generate(300, 1).to_csv();
    let outcome = train_bytes(
        csv.as_bytes(),
        &TrainSettings {
            data: Some(PathBuf::from("synthetic_300.csv")),
            target: Some("converted".into()),
            id: Some("lead_id".into()),
            exclude: vec![],
            na_values: vec![],
            params: TrainParams::default(),
            command: "make_seeds".into(),
            ..Default::default()
        },
    )
    .expect("training on synthetic data");
    let mut artifact = outcome.artifact;
    // Fixed, so that regenerating gives the same file.
    artifact.provenance.trained_at = "2026-01-01T00:00:00Z".into();
    artifact
}

fn minimal_model() -> ModelArtifact {
    let spec =
        |name: &str, encoding| FeatureSpec::new(name.into(), name.into(), name.into(), encoding);
    ModelArtifact {
        format_version: FORMAT_VERSION,
        features: vec![
            spec(
                "visits",
                FeatureEncoding::Numeric {
                    median: 2.0,
                    mean: 3.0,
                    std: 2.0,
                    min: 0.0,
                    max: 10.0,
                    bin_edges: vec![1.0, 4.0],
                },
            ),
            spec(
                "source",
                FeatureEncoding::Categorical {
                    categories: vec!["ads".into(), "web".into(), MISSING.into(), OTHER.into()],
                },
            ),
            spec("report", FeatureEncoding::Boolean { imputed: false }),
        ],
        estimator: Estimator::Logistic {
            intercept: -1.0,
            coefficients: vec![0.5, -0.1, 0.0, 0.2, 0.3, -0.3, 0.1, -0.2, 1.0],
        },
        explanation: ExplanationBaseline {
            design_means: vec![0.0, 0.2, 0.5, 0.3, 0.4, 0.4, 0.1, 0.1, 0.3],
        },
        bands: vec![
            ScoreBand {
                name: "hot".into(),
                min_probability: 0.5,
            },
            ScoreBand {
                name: "cold".into(),
                min_probability: 0.0,
            },
        ],
        provenance: Provenance::default(),
        metrics: HeldOutMetrics::default(),
        stages: Default::default(),
        account_model: None,
        engagement: None,
    }
}

fn named(lead: &SyntheticLead) -> Lead {
    let number = |x: f64| FeatureValue {
        kind: Some(Kind::Number(x)),
    };
    let category = |c: &str| FeatureValue {
        kind: Some(Kind::Category(c.into())),
    };
    Lead {
        lead_id: lead.lead_id.clone(),
        account_id: "A-1".into(),
        email: String::new(),
        features: HashMap::from([
            ("demo_actions".to_string(), number(lead.demo_actions)),
            ("visits_30d".to_string(), number(lead.visits_30d)),
            ("email_opens".to_string(), number(lead.email_opens)),
            (
                "report_created".to_string(),
                FeatureValue {
                    kind: Some(Kind::Flag(lead.report_created)),
                },
            ),
            ("company_size".to_string(), category(lead.company_size)),
            ("lead_source".to_string(), category(lead.lead_source)),
        ]),
        values: vec![],
    }
}

fn dense(model: &ScoringModel, lead: &SyntheticLead) -> Lead {
    let values = model
        .pipeline()
        .specs()
        .iter()
        .map(|s| {
            let index_of = |c: &str| {
                s.categories()
                    .iter()
                    .position(|k| k == c)
                    .unwrap_or(s.categories().len() - 1) as f64
            };
            match s.name.as_str() {
                "demo_actions" => lead.demo_actions,
                "visits_30d" => lead.visits_30d,
                "email_opens" => lead.email_opens,
                "report_created" => f64::from(u8::from(lead.report_created)),
                "company_size" => index_of(lead.company_size),
                "lead_source" => index_of(lead.lead_source),
                _ => 0.0,
            }
        })
        .collect();
    Lead {
        lead_id: format!("{}-dense", lead.lead_id),
        account_id: String::new(),
        email: String::new(),
        features: HashMap::new(),
        values,
    }
}

fn request(leads: Vec<Lead>) -> Vec<u8> {
    ScoreRequest {
        model: "leads".into(),
        version: String::new(),
        leads,
    }
    .encode_to_vec()
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");

    // artifact_loader
    let dir = root.join("artifact_loader");
    let artifact = trained_model();
    let model = ScoringModel::from_artifact(artifact.clone()).expect("trained model loads");
    write(
        &dir,
        "synthetic_300.json",
        format!("{}\n", artifact.to_json()).as_bytes(),
    );
    write(
        &dir,
        "synthetic_300_compact.json",
        serde_json::to_string(&artifact).expect("json").as_bytes(),
    );
    let minimal = minimal_model();
    ScoringModel::from_artifact(minimal.clone()).expect("minimal model loads");
    write(&dir, "minimal.json", minimal.to_json().as_bytes());

    // artifact_mutated: edit scripts (first byte of each edit picks its kind).
    let dir = root.join("artifact_mutated");
    write(&dir, "no_edits", b"");
    for op in 0u8..16 {
        let mut script = vec![op];
        script.extend((1u8..12).map(|b| b.wrapping_mul(37).wrapping_add(op)));
        write(&dir, &format!("edit_{op:02}"), &script);
    }

    // lead_parsing
    let dir = root.join("lead_parsing");
    let leads = generate(6, 7).leads;
    write(
        &dir,
        "named.pb",
        &request(leads[..3].iter().map(named).collect()),
    );
    write(
        &dir,
        "dense.pb",
        &request(leads[3..].iter().map(|l| dense(&model, l)).collect()),
    );
    let mut odd = named(&leads[0]);
    odd.features.insert(
        "lead_source".into(),
        FeatureValue {
            kind: Some(Kind::Category("  REFERRAL ".into())),
        },
    );
    odd.features.insert(
        "visits_30d".into(),
        FeatureValue {
            kind: Some(Kind::Number(1e12)),
        },
    );
    odd.features.remove("company_size");
    let mut unknown = named(&leads[1]);
    unknown.features.insert(
        "no_such_feature".into(),
        FeatureValue {
            kind: Some(Kind::Number(1.0)),
        },
    );
    let mut nan = dense(&model, &leads[2]);
    nan.values[0] = f64::NAN;
    let mut both = named(&leads[3]);
    both.values = vec![1.0];
    write(&dir, "imputed_clipped_loose.pb", &request(vec![odd]));
    write(&dir, "unknown_feature.pb", &request(vec![unknown]));
    write(&dir, "nan_dense.pb", &request(vec![nan]));
    write(&dir, "features_and_values.pb", &request(vec![both]));
    write(&dir, "empty.pb", &request(vec![]));

    // csv_reader
    let dir = root.join("csv_reader");
    write(
        &dir,
        "synthetic_60.csv",
        generate(60, 2).to_csv().as_bytes(),
    );
    write(
        &dir,
        "synthetic_150.csv",
        generate(150, 3).to_csv().as_bytes(),
    );
    // Missing cells, quoting, yes/no target, spaces, a constant column.
    let mut text = String::from("Lead ID,Demo Actions,\"Visits, 30d\",Source,Constant,Converted\n");
    for (i, l) in generate(80, 4).leads.iter().enumerate() {
        let visits = if i % 7 == 0 {
            "NA".to_string()
        } else {
            l.visits_30d.to_string()
        };
        let source = if i % 5 == 0 { "" } else { l.lead_source };
        text.push_str(&format!(
            "{},{}, {} ,\"{}\",x,{}\n",
            l.lead_id,
            l.demo_actions,
            visits,
            source,
            if l.converted { "yes" } else { "No" }
        ));
    }
    write(&dir, "messy_80.csv", text.as_bytes());
}
