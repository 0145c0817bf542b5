//! Score over the network: named and dense input, versions, warnings.

use leadscore::serve::proto::{FeatureKind, GetModelRequest, Lead, ScoreRequest};

use crate::helpers::{lead, spawn_app, MODEL};

/// Dense values for the same lead as `lead(id, demo, report, size)`, built from the schema.
async fn dense_twin(
    client: &mut leadscore::serve::proto::lead_scoring_client::LeadScoringClient<
        tonic::transport::Channel,
    >,
    named: &Lead,
) -> Lead {
    let info = client
        .get_model(GetModelRequest::default())
        .await
        .expect("GetModel")
        .into_inner();
    let values = info
        .features
        .iter()
        .map(|f| {
            let v = named.features[&f.name].kind.clone().expect("kind set");
            use leadscore::serve::proto::feature_value::Kind;
            match (f.kind(), v) {
                (FeatureKind::Numeric, Kind::Number(x)) => x,
                (FeatureKind::Boolean, Kind::Flag(b)) => f64::from(u8::from(b)),
                (FeatureKind::Categorical, Kind::Category(c)) => {
                    f.categories
                        .iter()
                        .position(|k| *k == c)
                        .expect("category in schema") as f64
                }
                (kind, v) => panic!("unexpected {kind:?} {v:?}"),
            }
        })
        .collect();
    Lead {
        lead_id: named.lead_id.clone(),
        account_id: String::new(),
        email: String::new(),
        features: Default::default(),
        values,
        ..Default::default()
    }
}

#[tokio::test]
async fn named_and_dense_give_the_same_result() {
    // Arrange
    let app = spawn_app().await;
    let mut client = app.client();
    let named = lead("n1", 6.0, true, "201-1000");
    let dense = dense_twin(&mut client, &named).await;

    // Act
    let response = client
        .score(ScoreRequest {
            leads: vec![named, dense],
            ..Default::default()
        })
        .await
        .expect("Score")
        .into_inner();

    // Assert
    assert_eq!(response.scores.len(), 2);
    let (a, b) = (&response.scores[0], &response.scores[1]);
    assert_eq!(a.probability, b.probability, "named and dense differ");
    assert_eq!((a.score, &a.band), (b.score, &b.band));
    assert!(
        a.warnings.is_empty() && b.warnings.is_empty(),
        "{:?}",
        a.warnings
    );
}

#[tokio::test]
async fn score_fields_are_well_formed_and_ordered() {
    let app = spawn_app().await;
    let leads = vec![
        lead("cold", 0.0, false, "1-10"),
        lead("hot", 11.0, true, "201-1000"),
    ];
    let response = app
        .client()
        .score(ScoreRequest {
            leads,
            ..Default::default()
        })
        .await
        .expect("Score")
        .into_inner();
    assert_eq!(response.model, MODEL);
    assert_eq!(response.version, "2", "empty version means the newest");
    let ids: Vec<&str> = response.scores.iter().map(|s| s.lead_id.as_str()).collect();
    assert_eq!(ids, ["cold", "hot"]);
    for s in &response.scores {
        assert!(s.probability > 0.0 && s.probability < 1.0);
        assert!((1..=99).contains(&s.score));
        assert!(
            ["hot", "warm", "cold"].contains(&s.band.as_str()),
            "{}",
            s.band
        );
    }
    let (cold, hot) = (&response.scores[0], &response.scores[1]);
    assert!(
        hot.probability > cold.probability + 0.2,
        "{hot:?} vs {cold:?}"
    );
    assert_eq!(hot.band, "hot");
    assert_eq!(cold.band, "cold");
}

#[tokio::test]
async fn missing_and_unseen_values_are_imputed_with_warnings() {
    let app = spawn_app().await;
    let mut l = lead("w", 3.0, false, "a size never seen");
    l.features.remove("visits_30d");
    let response = app
        .client()
        .score(ScoreRequest {
            leads: vec![l],
            ..Default::default()
        })
        .await
        .expect("Score")
        .into_inner();
    let warnings = &response.scores[0].warnings;
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings
        .iter()
        .any(|w| w.contains("visits_30d") && w.contains("median")));
    assert!(warnings
        .iter()
        .any(|w| w.contains("company_size") && w.contains("(other)")));
}

#[tokio::test]
async fn a_request_can_pin_a_model_and_version() {
    let app = spawn_app().await;
    let response = app
        .client()
        .score(ScoreRequest {
            model: MODEL.into(),
            version: "1".into(),
            leads: vec![lead("p", 1.0, false, "11-50")],
        })
        .await
        .expect("Score")
        .into_inner();
    assert_eq!(
        (response.model.as_str(), response.version.as_str()),
        (MODEL, "1")
    );
}

/// Every answer carries `x-request-id`: the caller's when sent, otherwise a
/// fresh 16-hex-digit id, on errors too. Many answers on one connection
/// (the ids are sent as never-indexed HPACK literals) all decode.
#[tokio::test]
async fn request_ids_are_echoed_or_fresh_on_every_answer() {
    let app = spawn_app().await;
    let mut client = app.client();
    let id_of = |md: &tonic::metadata::MetadataMap| {
        md.get("x-request-id")
            .expect("x-request-id in the response metadata")
            .to_str()
            .expect("ASCII id")
            .to_string()
    };
    let mut seen = std::collections::HashSet::new();
    for k in 0..40 {
        let mut request = tonic::Request::new(ScoreRequest {
            leads: vec![lead("a", 1.0, true, "1-10")],
            ..Default::default()
        });
        if k % 4 == 0 {
            let mine = format!("crm-{k}");
            request
                .metadata_mut()
                .insert("x-request-id", mine.parse().expect("ascii"));
            let response = client.score(request).await.expect("Score");
            assert_eq!(id_of(response.metadata()), mine);
        } else {
            let response = client.score(request).await.expect("Score");
            let id = id_of(response.metadata());
            assert!(
                id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
                "fresh id {id:?}"
            );
            assert!(seen.insert(id.clone()), "id {id} given twice");
        }
    }
    let status = client
        .score(ScoreRequest::default())
        .await
        .expect_err("no leads");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let id = id_of(status.metadata());
    assert_eq!(id.len(), 16, "fresh id on an error: {id:?}");
}
