//! Every malformed request gets INVALID_ARGUMENT (or NOT_FOUND) naming the
//! lead and the field, with a BadRequest field violation; nothing panics and
//! the server keeps serving.

use leadscore::serve::proto::{ExplainRequest, FeatureValue, GetModelRequest, Lead, ScoreRequest};
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{cat, lead, model_repo, num, settings, spawn_app, spawn_with, MODEL};

fn with_feature(name: &str, value: FeatureValue) -> Lead {
    let mut l = lead("bad-1", 2.0, true, "11-50");
    l.features.insert(name.to_string(), value);
    l
}

struct Case {
    what: &'static str,
    leads: Vec<Lead>,
    /// Field path expected in the BadRequest detail.
    field: &'static str,
    /// Words the message must contain.
    message: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    let good = lead("ok-0", 1.0, false, "1-10");
    vec![
        Case {
            what: "unknown feature name",
            leads: vec![good.clone(), with_feature("pricing_views", num(3.0))],
            field: "leads[1].features[\"pricing_views\"]",
            message: &["leads[1]", "bad-1", "unknown feature", "pricing_views"],
        },
        Case {
            what: "category for a numeric feature",
            leads: vec![with_feature("demo_actions", cat("many"))],
            field: "leads[0].features[\"demo_actions\"]",
            message: &["demo_actions", "numeric", "category"],
        },
        Case {
            what: "NaN",
            leads: vec![with_feature("visits_30d", num(f64::NAN))],
            field: "leads[0].features[\"visits_30d\"]",
            message: &["visits_30d", "finite", "NaN"],
        },
        Case {
            what: "infinity",
            leads: vec![with_feature("visits_30d", num(f64::INFINITY))],
            field: "leads[0].features[\"visits_30d\"]",
            message: &["visits_30d", "finite", "inf"],
        },
        Case {
            what: "flag for a categorical feature",
            leads: vec![with_feature("company_size", crate::helpers::flag(true))],
            field: "leads[0].features[\"company_size\"]",
            message: &["company_size", "categorical"],
        },
        Case {
            what: "feature value with no kind",
            leads: vec![with_feature("email_opens", FeatureValue { kind: None })],
            field: "leads[0].features[\"email_opens\"]",
            message: &["email_opens", "no value"],
        },
        Case {
            what: "both features and values",
            leads: vec![Lead {
                values: vec![1.0; 6],
                ..lead("both", 1.0, true, "1-10")
            }],
            field: "leads[0].features",
            message: &["exactly one of features or values", "both"],
        },
        Case {
            what: "neither features nor values",
            leads: vec![Lead {
                lead_id: "empty".into(),
                ..Default::default()
            }],
            field: "leads[0].features",
            message: &["exactly one of features or values", "empty"],
        },
        Case {
            what: "wrong dense length",
            leads: vec![Lead {
                lead_id: "short".into(),
                values: vec![1.0, 2.0, 3.0],
                ..Default::default()
            }],
            field: "leads[0].values",
            message: &["values has 3 entries", "6 features"],
        },
        Case {
            what: "NaN in dense values",
            leads: vec![Lead {
                lead_id: "dense-nan".into(),
                values: vec![1.0, f64::NAN, 3.0, 1.0, 0.0, 0.0],
                ..Default::default()
            }],
            field: "leads[0].values[1]",
            message: &["values[1]", "visits_30d", "finite"],
        },
        Case {
            what: "dense category index out of range",
            leads: vec![Lead {
                lead_id: "dense-cat".into(),
                values: vec![1.0, 2.0, 3.0, 1.0, 99.0, 0.0],
                ..Default::default()
            }],
            field: "leads[0].values[4]",
            message: &["values[4]", "company_size", "category index from 0 to"],
        },
        Case {
            what: "dense boolean other than 0 or 1",
            leads: vec![Lead {
                lead_id: "dense-bool".into(),
                values: vec![1.0, 2.0, 3.0, 0.5, 0.0, 0.0],
                ..Default::default()
            }],
            field: "leads[0].values[3]",
            message: &["values[3]", "report_created", "0 or 1"],
        },
        Case {
            what: "empty lead list",
            leads: vec![],
            field: "leads",
            message: &["at least one lead"],
        },
    ]
}

#[tokio::test]
async fn malformed_leads_are_invalid_argument_naming_the_field() {
    let app = spawn_app().await;
    for case in cases() {
        for rpc in ["Score", "Explain"] {
            let result = if rpc == "Score" {
                app.client()
                    .score(ScoreRequest {
                        leads: case.leads.clone(),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ())
            } else {
                app.client()
                    .explain(ExplainRequest {
                        leads: case.leads.clone(),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ())
            };
            let status = result.expect_err(case.what);
            assert_eq!(
                status.code(),
                Code::InvalidArgument,
                "{rpc} {}: {status:?}",
                case.what
            );
            for word in case.message {
                assert!(
                    status.message().contains(word),
                    "{rpc} {}: message {:?} lacks {word:?}",
                    case.what,
                    status.message()
                );
            }
            let details = status.get_error_details();
            let violations = &details
                .bad_request()
                .expect("BadRequest detail")
                .field_violations;
            assert_eq!(violations[0].field, case.field, "{rpc} {}", case.what);
        }
    }
    // The server is still serving after all of that.
    let ok = app
        .client()
        .score(ScoreRequest {
            leads: vec![lead("after", 1.0, true, "1-10")],
            ..Default::default()
        })
        .await;
    assert!(ok.is_ok());
}

#[tokio::test]
async fn unknown_models_and_versions_are_not_found() {
    let app = spawn_app().await;
    for (model, version) in [
        ("nope", ""),
        (MODEL, "3"),
        (MODEL, "latest"),
        (MODEL, "-1"),
        ("../../etc/passwd", ""),
        ("leads/1", ""),
    ] {
        let status = app
            .client()
            .score(ScoreRequest {
                model: model.into(),
                version: version.into(),
                leads: vec![lead("x", 1.0, true, "1-10")],
            })
            .await
            .expect_err("unknown model or version");
        assert_eq!(
            status.code(),
            Code::NotFound,
            "{model:?} {version:?}: {status:?}"
        );
        assert!(
            status.message().contains(model.trim_start_matches("../"))
                || status.message().contains(version)
        );

        let status = app
            .client()
            .get_model(GetModelRequest {
                model: model.into(),
                version: version.into(),
            })
            .await
            .expect_err("unknown model or version");
        assert_eq!(status.code(), Code::NotFound);
    }
}

#[tokio::test]
async fn too_many_leads_are_refused() {
    let repo = model_repo(1);
    let mut s = settings(repo.path());
    s.max_leads_per_request = 3;
    let app = spawn_with(s, Some(repo)).await;
    let status = app
        .client()
        .score(ScoreRequest {
            leads: vec![lead("x", 1.0, true, "1-10"); 4],
            ..Default::default()
        })
        .await
        .expect_err("over the limit");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("limit of 3"),
        "{}",
        status.message()
    );
}
