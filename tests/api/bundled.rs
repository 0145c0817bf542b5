//! The models bundled in `models/` load, meet their quality bar, and score:
//! the default is the newest version of `x_education` (gbdt, calibrated).

use leadscore::serve::proto::{
    ExplainRequest, GetModelRequest, Lead, ScoreAccountsRequest, ScoreRequest,
};

use crate::helpers::{cat, num, settings, spawn_with};

#[tokio::test]
async fn bundled_model_loads_and_scores() {
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let scan = leadscore::serve::registry::ModelRegistry::load_dir(&models, None)
        .expect("models/ readable");
    assert!(scan.refused.is_empty(), "{:?}", scan.refused);

    let app = spawn_with(settings(&models), None).await;
    let info = app
        .client()
        .get_model(GetModelRequest::default())
        .await
        .expect("GetModel")
        .into_inner();
    assert_eq!(info.name, "x_education");
    assert_eq!(info.version, "3");
    assert_eq!(info.kind, "gbdt");
    assert_eq!(info.calibration, "platt");
    let metrics = info.metrics.expect("metrics");
    assert!(
        metrics.roc_auc >= 0.89,
        "held-out ROC AUC {}",
        metrics.roc_auc
    );
    let excluded = info.provenance.expect("provenance").excluded_columns;
    for leaky in [
        "Tags",
        "Lead Quality",
        "Lead Profile",
        "Asymmetrique Activity Score",
    ] {
        assert!(
            excluded.iter().any(|c| c == leaky),
            "{leaky} must be excluded"
        );
        assert!(info.features.iter().all(|f| f.source_column != leaky));
    }

    let engaged = Lead {
        lead_id: "engaged".into(),
        features: [
            ("lead_origin".to_string(), cat("Lead Add Form")),
            ("total_time_spent_on_website".to_string(), num(1500.0)),
            ("total_visits".to_string(), num(5.0)),
            (
                "what_is_your_current_occupation".to_string(),
                cat("Working Professional"),
            ),
        ]
        .into(),
        ..Default::default()
    };
    let browsing = Lead {
        lead_id: "browsing".into(),
        features: [
            ("lead_origin".to_string(), cat("API")),
            ("total_time_spent_on_website".to_string(), num(20.0)),
            ("total_visits".to_string(), num(1.0)),
            (
                "what_is_your_current_occupation".to_string(),
                cat("Unemployed"),
            ),
        ]
        .into(),
        ..Default::default()
    };
    let scores = app
        .client()
        .score(ScoreRequest {
            leads: vec![engaged.clone(), browsing],
            ..Default::default()
        })
        .await
        .expect("Score")
        .into_inner()
        .scores;
    // Most features are unsent (imputed), so the trees see an unusual lead;
    // still, engagement must put it far above the browsing one.
    assert!(scores[0].probability > 0.5, "{:?}", scores[0]);
    assert!(scores[1].probability < 0.3, "{:?}", scores[1]);
    assert!(scores[0].probability > scores[1].probability + 0.3);
    assert_ne!(scores[0].band, "cold");
    // Stage rules ship with the model: 5 visits and 1,500 s on the site
    // make a high-value user; one visit and 20 s is not even activation.
    assert!(
        !info.stage_rules.is_empty(),
        "the default model has stage rules"
    );
    assert_eq!(scores[0].stage, "high_value", "{:?}", scores[0]);
    assert!(
        !["high_value", "signing", "activation"].contains(&scores[1].stage.as_str()),
        "{:?}",
        scores[1]
    );
    assert!(
        !scores[0].warnings.is_empty(),
        "unsent features are imputed with warnings"
    );

    let explanation = app
        .client()
        .explain(ExplainRequest {
            leads: vec![engaged],
            top_k: 3,
            ..Default::default()
        })
        .await
        .expect("Explain")
        .into_inner();
    let top: Vec<&str> = explanation.explanations[0]
        .contributions
        .iter()
        .map(|c| c.feature.as_str())
        .collect();
    // top_k = 3: up to three reasons raising the score and three lowering it.
    assert!(!top.is_empty() && top.len() <= 6, "{top:?}");
    assert!(
        top.contains(&"total_time_spent_on_website") || top.contains(&"lead_origin"),
        "{top:?}"
    );
}

#[tokio::test]
async fn the_bundled_events_model_scores_a_lead_from_its_raw_events() {
    // Arrange: the default repository, with leadforge_events beside x_education.
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let app = spawn_with(settings(&models), None).await;
    let info = app
        .client()
        .get_model(GetModelRequest {
            model: "leadforge_events".into(),
            ..Default::default()
        })
        .await
        .expect("GetModel")
        .into_inner();
    let events = info.events.expect("an event definition");
    assert!(events.event_types.iter().any(|t| t == "sales_demo"));
    let event = |t: &str, time: &str| leadscore::serve::proto::Event {
        r#type: t.into(),
        time: time.into(),
        value: None,
    };
    let lead = |id: &str, evs: Vec<leadscore::serve::proto::Event>| Lead {
        lead_id: id.into(),
        features: [("industry".to_string(), cat("logistics"))].into(),
        events: evs,
        as_of: "2024-03-01".into(),
        ..Default::default()
    };

    // Act: a lead with demos and pricing-page visits, and one with nothing.
    let scores = app
        .client()
        .score(ScoreRequest {
            model: "leadforge_events".into(),
            leads: vec![
                lead(
                    "busy",
                    vec![
                        event("sales_demo", "2024-02-20"),
                        event("sales_meeting", "2024-02-25"),
                        event("session_pricing_page", "2024-02-26"),
                        event("pricing_page_view", "2024-02-26"),
                        event("touch_webinar", "2024-02-10"),
                        event("sales_demo", "2024-03-05"), // after as_of
                    ],
                ),
                lead("quiet", vec![]),
            ],
            ..Default::default()
        })
        .await
        .expect("Score")
        .into_inner();

    // Assert
    let busy = scores.scores[0].events.as_ref().expect("summary");
    assert_eq!((busy.used, busy.after_as_of), (5, 1));
    assert!(scores
        .scores
        .iter()
        .all(|s| s.probability > 0.0 && s.probability < 1.0));
    // Requests naming no model still get x_education (models/repository.toml).
    let default = app
        .client()
        .get_model(GetModelRequest::default())
        .await
        .expect("GetModel")
        .into_inner();
    assert_eq!(default.name, "x_education");
}

#[tokio::test]
async fn the_bundled_events_model_rolls_accounts_up_from_30_day_windows() {
    // Arrange: two contacts of one company, one active in the 30 days before
    // as_of, one whose only events are older; and the artifact's account model.
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let artifact: serde_json::Value = serde_json::from_slice(
        &std::fs::read(models.join("leadforge_events/2/model.json")).expect("read model"),
    )
    .expect("model.json");
    let numeric = artifact["account_model"]["numeric_features"]
        .as_array()
        .expect("account-level windows");
    assert!(!numeric.is_empty());
    assert!(numeric
        .iter()
        .all(|n| n.as_str().is_some_and(|n| n.ends_with("_count_30d"))));
    assert_eq!(artifact["engagement"]["min_probability"], 1.0);
    let app = spawn_with(settings(&models), None).await;
    let event = |t: &str, time: &str| leadscore::serve::proto::Event {
        r#type: t.into(),
        time: time.into(),
        value: None,
    };
    let lead = |id: &str, evs: Vec<leadscore::serve::proto::Event>| Lead {
        lead_id: id.into(),
        account_id: "acme".into(),
        features: [("industry".to_string(), cat("logistics"))].into(),
        events: evs,
        as_of: "2024-03-01".into(),
        ..Default::default()
    };
    let active = vec![
        event("sales_demo", "2024-02-20"),
        event("sales_demo", "2024-02-27"),
        event("session_pricing_page", "2024-02-26"),
    ];
    let stale = vec![event("sales_demo", "2024-01-10")];

    // Act
    let response = app
        .client()
        .score_accounts(ScoreAccountsRequest {
            model: "leadforge_events".into(),
            leads: vec![lead("a", active), lead("b", stale)],
            ..Default::default()
        })
        .await
        .expect("ScoreAccounts")
        .into_inner();

    // Assert: one engaged contact of two; the account's 30-day demo count
    // (2, the stale one outside the window) is one of its reasons.
    assert_eq!(response.version, "2");
    let account = &response.accounts[0];
    assert_eq!((account.contacts, account.engaged_contacts), (2, 1));
    assert!(!account.fallback);
    let demos = account
        .reasons
        .iter()
        .find(|r| r.feature == "sum_sales_demo_count_30d")
        .unwrap_or_else(|| panic!("no 30-day demo window in {:?}", account.reasons));
    assert_eq!(demos.value, "2", "{demos:?}");
}
