//! Explain over the network: exact, additive, signed like the model.

use std::sync::OnceLock;

use leadscore::scoring::features::FeatureText;
use leadscore::scoring::model::ModelArtifact;
use leadscore::serve::proto::{
    Contribution, Direction, ExplainRequest, FeatureKind, GetModelRequest, Lead, ModelInfo,
    ScoreRequest, Suggestion,
};
use leadscore::train::{self, TrainParams, TrainSettings};
use tempfile::TempDir;

use crate::helpers::{
    cat, flag, lead, num, settings, spawn_app, spawn_with, synthetic_artifact, TestApp, MODEL,
};

#[tokio::test]
async fn contributions_add_up_to_the_log_odds() {
    let app = spawn_app().await;
    let leads = vec![
        lead("a", 0.0, false, "1-10"),
        lead("b", 11.0, true, "201-1000"),
        lead("c", 4.0, true, "unseen size"),
    ];
    let response = app
        .client()
        .explain(ExplainRequest {
            leads: leads.clone(),
            ..Default::default()
        })
        .await
        .expect("Explain")
        .into_inner();
    let scores = app
        .client()
        .score(ScoreRequest {
            leads,
            ..Default::default()
        })
        .await
        .expect("Score")
        .into_inner();

    let n_features = synthetic_artifact().features.len();
    for (e, s) in response.explanations.iter().zip(&scores.scores) {
        assert_eq!(e.contributions.len(), n_features, "one per source feature");
        let sum: f64 = e.contributions.iter().map(|c| c.contribution).sum();
        assert!(
            (e.base_log_odds + sum - e.log_odds).abs() < 1e-9,
            "base {} + sum {} != log_odds {}",
            e.base_log_odds,
            sum,
            e.log_odds
        );
        let p = 1.0 / (1.0 + (-e.log_odds).exp());
        assert!((p - e.probability).abs() < 1e-12);
        assert_eq!(e.probability, s.probability, "Explain and Score agree");
        assert_eq!((e.score, &e.band), (s.score, &s.band));
        let magnitudes: Vec<f64> = e
            .contributions
            .iter()
            .map(|c| c.contribution.abs())
            .collect();
        assert!(
            magnitudes.windows(2).all(|w| w[0] >= w[1]),
            "sorted by |contribution|"
        );
        assert!(e
            .contributions
            .iter()
            .all(|c| !c.label.is_empty() && !c.value.is_empty() && !c.reason.is_empty()));
        for c in &e.contributions {
            let direction = if c.contribution > 0.0 {
                Direction::Raises
            } else if c.contribution < 0.0 {
                Direction::Lowers
            } else {
                Direction::Neutral
            };
            assert_eq!(c.direction(), direction, "{c:?}");
        }
    }
}

#[tokio::test]
async fn contribution_direction_follows_the_coefficient_sign() {
    // report_created is boolean with one coefficient w (the generating weight is
    // +1.2): its contribution is w * (x - E[x]), positive for x = 1, negative for x = 0.
    let app = spawn_app().await;
    let response = app
        .client()
        .explain(ExplainRequest {
            leads: vec![
                lead("yes", 3.0, true, "11-50"),
                lead("no", 3.0, false, "11-50"),
            ],
            ..Default::default()
        })
        .await
        .expect("Explain")
        .into_inner();
    let of = |i: usize| {
        response.explanations[i]
            .contributions
            .iter()
            .find(|c| c.feature == "report_created")
            .expect("report_created explained")
            .contribution
    };
    assert!(of(0) > 0.1, "created a report: {}", of(0));
    assert!(of(1) < -0.1, "no report: {}", of(1));
    // The strongest driver of the "yes" lead against the "no" lead is the report.
    let diff = of(0) - of(1);
    assert!(
        (diff - 1.2).abs() < 0.4,
        "coefficient {diff} vs generating weight 1.2"
    );
}

#[tokio::test]
async fn top_k_gives_the_strongest_positive_then_the_strongest_negative() {
    let app = spawn_app().await;
    let request = |top_k| ExplainRequest {
        leads: vec![
            lead("k", 9.0, true, "1-10"),
            lead("l", 0.0, false, "201-1000"),
        ],
        top_k,
        ..Default::default()
    };
    let all = app
        .client()
        .explain(request(0))
        .await
        .expect("Explain")
        .into_inner();
    for k in [1u32, 2, 100] {
        let top = app
            .client()
            .explain(request(k))
            .await
            .expect("Explain")
            .into_inner();
        for (all, top) in all.explanations.iter().zip(&top.explanations) {
            let mut positive: Vec<&Contribution> = all
                .contributions
                .iter()
                .filter(|c| c.contribution > 0.0)
                .collect();
            positive.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
            positive.truncate(k as usize);
            let mut negative: Vec<&Contribution> = all
                .contributions
                .iter()
                .filter(|c| c.contribution < 0.0)
                .collect();
            negative.sort_by(|a, b| a.contribution.total_cmp(&b.contribution));
            negative.truncate(k as usize);
            let expected: Vec<&Contribution> = positive.into_iter().chain(negative).collect();
            let got: Vec<&Contribution> = top.contributions.iter().collect();
            assert_eq!(got, expected, "top_k = {k}");
            assert!(
                got.iter()
                    .filter(|c| c.direction() == Direction::Raises)
                    .count()
                    <= k as usize
            );
        }
    }
    // The test leads have contributions of both signs, so k = 1 gives two.
    let one = app
        .client()
        .explain(request(1))
        .await
        .expect("Explain")
        .into_inner();
    assert!(one.explanations.iter().all(|e| e.contributions.len() == 2));
}

/// train.toml with sales text for the synthetic model's features.
const FEATURE_TEXT: &str = r#"
[features.report_created]
label = "Report created"
reason = "Created a report in the demo"
reason_when_false = "Has not created a report in the demo"

[features.demo_actions]
reason = "Took {value} actions in the demo ({label})"

[features.company_size]
actionable = true
"#;

/// The synthetic model trained with FEATURE_TEXT's [features.*] tables.
fn model_with_feature_text() -> &'static ModelArtifact {
    static ARTIFACT: OnceLock<ModelArtifact> = OnceLock::new();
    ARTIFACT.get_or_init(|| {
        let dir = TempDir::new().expect("tempdir");
        let toml = dir.path().join("train.toml");
        std::fs::write(&toml, FEATURE_TEXT).expect("write train.toml");
        let config = TrainSettings::read(&toml).expect("train.toml parses");
        let csv = dir.path().join("leads.csv");
        std::fs::write(
            &csv,
            leadscore::train::synthetic::generate(3000, 12).to_csv(),
        )
        .expect("csv");
        train::train(&TrainSettings {
            data: Some(csv),
            target: Some("converted".into()),
            id: Some("lead_id".into()),
            params: TrainParams::default(),
            features: config.features,
            ..Default::default()
        })
        .expect("training")
        .artifact
    })
}

async fn serve(artifact: &ModelArtifact) -> TestApp {
    let repo = TempDir::new().expect("tempdir");
    train::write_artifact(artifact, &repo.path().join(MODEL).join("1")).expect("write");
    spawn_with(settings(repo.path()), Some(repo)).await
}

#[tokio::test]
async fn explain_reasons_render_the_templates_and_train_toml_overrides() {
    let app = serve(model_with_feature_text()).await;
    let response = app
        .client()
        .explain(ExplainRequest {
            leads: vec![
                lead("yes", 4.0, true, "11-50"),
                lead("no", 4.0, false, "11-50"),
            ],
            ..Default::default()
        })
        .await
        .expect("Explain")
        .into_inner();
    let reason = |i: usize, feature: &str| {
        response.explanations[i]
            .contributions
            .iter()
            .find(|c| c.feature == feature)
            .map(|c| c.reason.clone())
            .expect("explained")
    };
    assert_eq!(reason(0, "report_created"), "Created a report in the demo");
    assert_eq!(
        reason(1, "report_created"),
        "Has not created a report in the demo"
    );
    assert_eq!(
        reason(0, "demo_actions"),
        "Took 4 actions in the demo (Demo actions)"
    );
    // Defaults the trainer derived: humanised label, "{label}: {value}" and
    // "{label} is {value}".
    assert_eq!(reason(0, "email_opens"), "Email opens: 3");
    assert_eq!(reason(0, "company_size"), "Company size is 11-50");

    let info = app
        .client()
        .get_model(GetModelRequest::default())
        .await
        .expect("GetModel")
        .into_inner();
    let schema = |name: &str| {
        info.features
            .iter()
            .find(|f| f.name == name)
            .expect("feature")
            .clone()
    };
    assert_eq!(schema("report_created").label, "Report created");
    assert_eq!(
        schema("report_created").reason,
        "Created a report in the demo"
    );
    assert_eq!(
        schema("report_created").reason_when_false,
        "Has not created a report in the demo"
    );
    assert_eq!(schema("email_opens").reason, "{label}: {value}");
    assert!(schema("company_size").actionable, "set in train.toml");
    assert!(
        !schema("lead_source").actionable,
        "categoricals default to no"
    );
    assert!(schema("demo_actions").actionable && schema("report_created").actionable);
}

#[test]
fn explain_text_for_an_unknown_feature_is_refused() {
    let dir = TempDir::new().expect("tempdir");
    let csv = dir.path().join("leads.csv");
    std::fs::write(
        &csv,
        leadscore::train::synthetic::generate(1500, 13).to_csv(),
    )
    .expect("csv");
    let features = [(
        "pricing_views".to_string(),
        FeatureText {
            reason: Some("Viewed pricing {value} times".into()),
            ..Default::default()
        },
    )]
    .into_iter()
    .collect();
    let err = train::train(&TrainSettings {
        data: Some(csv),
        target: Some("converted".into()),
        id: Some("lead_id".into()),
        params: TrainParams::default(),
        features,
        ..Default::default()
    })
    .expect_err("unknown feature");
    let message = err.to_string();
    assert!(
        message.contains("[features.pricing_views] names no feature")
            && message.contains("demo_actions"),
        "{message}"
    );
    // A template with an unknown placeholder is refused when the file is read.
    let toml = dir.path().join("train.toml");
    std::fs::write(
        &toml,
        "[features.demo_actions]\nreason = \"{count} actions\"\n",
    )
    .expect("write");
    let config = TrainSettings::read(&toml).expect("parses");
    let err = leadscore::scoring::features::check_template(
        config.features["demo_actions"]
            .reason
            .as_deref()
            .unwrap_or_default(),
    )
    .expect_err("bad placeholder");
    assert!(err.to_string().contains("{count}"), "{err}");
}

/// The lead with one feature changed as a suggestion says.
fn changed(lead: &Lead, s: &Suggestion, info: &ModelInfo) -> Lead {
    let kind = info
        .features
        .iter()
        .find(|f| f.name == s.feature)
        .map(|f| f.kind())
        .expect("suggested feature is in the schema");
    let value = match kind {
        FeatureKind::Numeric => num(s.to_value.parse().expect("number")),
        FeatureKind::Boolean => flag(s.to_value == "true"),
        _ => cat(&s.to_value),
    };
    let mut lead = lead.clone();
    lead.features.insert(s.feature.clone(), value);
    lead
}

async fn check_suggestions(app: &TestApp, leads: Vec<Lead>) -> usize {
    let info = app
        .client()
        .get_model(GetModelRequest::default())
        .await
        .expect("GetModel")
        .into_inner();
    let explained = app
        .client()
        .explain(ExplainRequest {
            leads: leads.clone(),
            ..Default::default()
        })
        .await
        .expect("Explain")
        .into_inner();
    let mut suggested = 0;
    for (lead, e) in leads.iter().zip(&explained.explanations) {
        let Some(s) = &e.suggestion else { continue };
        suggested += 1;
        let schema = info
            .features
            .iter()
            .find(|f| f.name == s.feature)
            .expect("feature");
        assert!(schema.actionable, "only actionable features: {s:?}");
        assert_eq!(s.label, schema.label);
        assert_ne!(s.from_value, s.to_value);
        assert!(
            s.new_probability > e.probability,
            "{s:?} vs {}",
            e.probability
        );
        assert!(!s.reason.is_empty());
        // Exact: the changed lead scores to exactly the suggested probability.
        let rescored = app
            .client()
            .score(ScoreRequest {
                leads: vec![changed(lead, s, &info)],
                ..Default::default()
            })
            .await
            .expect("Score")
            .into_inner();
        assert_eq!(rescored.scores[0].probability, s.new_probability, "{s:?}");
        assert_eq!(rescored.scores[0].score, s.new_score);
    }
    suggested
}

#[tokio::test]
async fn explain_suggestion_raises_the_probability_exactly_as_rescoring_does() {
    let app = spawn_app().await;
    let leads = vec![
        lead("a", 0.0, false, "1-10"),
        lead("b", 3.0, false, "201-1000"),
        lead("c", 1.0, true, "11-50"),
        lead("d", 6.0, true, "unseen size"),
    ];
    let n = check_suggestions(&app, leads.clone()).await;
    assert_eq!(n, leads.len(), "every test lead can be raised");

    // A lead already at the best value of every actionable feature gets none.
    let info = app
        .client()
        .get_model(GetModelRequest::default())
        .await
        .expect("GetModel")
        .into_inner();
    let mut best = lead("best", 0.0, true, "11-50");
    for _ in 0..10 {
        let e = app
            .client()
            .explain(ExplainRequest {
                leads: vec![best.clone()],
                ..Default::default()
            })
            .await
            .expect("Explain")
            .into_inner();
        match &e.explanations[0].suggestion {
            Some(s) => best = changed(&best, s, &info),
            None => return,
        }
    }
    panic!("hill climbing on suggestions did not stop within 10 steps");
}

#[tokio::test]
async fn explain_suggestion_on_trees_matches_rescoring() {
    // The gbdt model of the shap reference check, over the real server.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/shap/gbdt.json");
    let artifact: ModelArtifact =
        serde_json::from_slice(&std::fs::read(path).expect("read")).expect("artifact");
    let app = serve(&artifact).await;
    let behavioural = |id: &str, sessions: f64, pricing: f64, demo: f64, report: bool| Lead {
        lead_id: id.into(),
        features: [
            ("sessions_30d", num(sessions)),
            ("pricing_page_views", num(pricing)),
            ("demo_actions", num(demo)),
            ("report_created", flag(report)),
            ("industry", cat("retail")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
        ..Default::default()
    };
    let leads = vec![
        behavioural("a", 1.0, 0.0, 0.0, false),
        behavioural("b", 10.0, 2.0, 1.0, false),
        behavioural("c", 20.0, 4.0, 3.0, true),
    ];
    assert!(check_suggestions(&app, leads).await >= 2);
}

#[tokio::test]
async fn explain_global_mean_abs_contribution_is_in_get_model() {
    let app = spawn_app().await;
    let info = app
        .client()
        .get_model(GetModelRequest::default())
        .await
        .expect("GetModel")
        .into_inner();
    let artifact = synthetic_artifact();
    assert_eq!(info.features.len(), artifact.features.len());
    for (f, stored) in info
        .features
        .iter()
        .zip(&artifact.explanation.mean_abs_contributions)
    {
        assert!(f.mean_abs_contribution > 0.0, "{}", f.name);
        assert_eq!(f.mean_abs_contribution, *stored);
    }
    // report_created (generating weight 1.2 on a 0/1 column) drives the model
    // more than email_opens (0.15 per open).
    let of = |name: &str| {
        info.features
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.mean_abs_contribution)
            .expect("feature")
    };
    assert!(of("report_created") > of("email_opens"));
}
