//! Explain over the network: exact, additive, signed like the model.

use leadscore::proto::{ExplainRequest, ScoreRequest};

use crate::helpers::{lead, spawn_app, synthetic_artifact};

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
            .all(|c| !c.label.is_empty() && !c.value.is_empty()));
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
async fn top_k_keeps_the_strongest_contributions() {
    let app = spawn_app().await;
    let request = |top_k| ExplainRequest {
        leads: vec![lead("k", 9.0, true, "1-10")],
        top_k,
        ..Default::default()
    };
    let all = app
        .client()
        .explain(request(0))
        .await
        .expect("Explain")
        .into_inner();
    let top = app
        .client()
        .explain(request(2))
        .await
        .expect("Explain")
        .into_inner();
    let all = &all.explanations[0].contributions;
    let top = &top.explanations[0].contributions;
    assert_eq!(top.len(), 2);
    assert_eq!(top[..], all[..2]);
}
