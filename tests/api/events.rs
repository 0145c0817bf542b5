//! Leads scored from their raw events: the server computes the model's
//! window features with the same function that made the training table
//! (`CompiledEvents::lead_values`), so sending a lead's events scores exactly
//! like sending the features they give. Point in time (events at or after
//! `as_of` are ignored and counted), unknown event types reported, and every
//! bad event input refused naming its field — through the real server.

use std::collections::{BTreeSet, HashMap};

use leadscore::scoring::events::{
    Aggregate, CompiledEvents, EventDefinition, RawEvent, WindowFeature,
};
use leadscore::scoring::model::ModelArtifact;
use leadscore::scoring::time::{parse_timestamp, Timestamp, MS_PER_DAY};
use leadscore::serve::proto::{
    Event, ExplainRequest, FeatureValue, GetModelRequest, Lead, ScoreRequest,
};
use leadscore::train::{self, ModelFamily, TrainParams, TrainSettings};
use rand::{Rng, SeedableRng};
use tempfile::TempDir;

use crate::helpers::{num, settings, spawn_with, TestApp};

const MODEL: &str = "behaviour";
const AS_OF: &str = "2026-06-01T00:00:00Z";

/// Page views, demo actions and the "magic behaviour", report_created.
fn definition() -> EventDefinition {
    let f = |name: &str, aggregate: Aggregate| WindowFeature {
        name: name.into(),
        aggregate,
    };
    EventDefinition {
        event_types: vec![
            "page_view".into(),
            "demo_action".into(),
            "report_created".into(),
        ],
        features: vec![
            f(
                "page_view_count_30d",
                Aggregate::Count {
                    event: "page_view".into(),
                    days: 30,
                },
            ),
            f(
                "page_view_days_since_last",
                Aggregate::DaysSinceLast {
                    event: "page_view".into(),
                },
            ),
            f(
                "demo_action_decayed",
                Aggregate::DecayedCount {
                    event: "demo_action".into(),
                    half_life_days: 14.0,
                },
            ),
            f(
                "report_created_count_90d",
                Aggregate::Count {
                    event: "report_created".into(),
                    days: 90,
                },
            ),
            f(
                "report_created_ever",
                Aggregate::Ever {
                    event: "report_created".into(),
                },
            ),
        ],
    }
}

/// One generated lead: its events (some after `as_of`) and a static size.
struct GeneratedLead {
    id: String,
    employees: f64,
    events: Vec<(String, Timestamp, Option<f64>)>,
}

fn generate(n: usize, seed: u64) -> Vec<GeneratedLead> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let as_of = parse_timestamp(AS_OF).expect("as_of");
    (0..n)
        .map(|i| {
            let engaged = rng.gen_bool(0.4);
            let mut events = Vec::new();
            let add =
                |events: &mut Vec<_>, ty: &str, count: usize, rng: &mut rand_chacha::ChaCha8Rng| {
                    for _ in 0..count {
                        // Up to 120 days before as_of, to the millisecond.
                        let age = rng.gen_range(1..120 * MS_PER_DAY);
                        events.push((ty.to_string(), Timestamp(as_of.0 - age), None));
                    }
                };
            let views = if engaged {
                rng.gen_range(3..25)
            } else {
                rng.gen_range(0..5)
            };
            add(&mut events, "page_view", views, &mut rng);
            add(
                &mut events,
                "demo_action",
                rng.gen_range(0..if engaged { 8 } else { 2 }),
                &mut rng,
            );
            if engaged && rng.gen_bool(0.6) {
                add(&mut events, "report_created", rng.gen_range(1..4), &mut rng);
            }
            // Noise the features must never see: after as_of.
            for _ in 0..rng.gen_range(0..3) {
                let later = rng.gen_range(0..30 * MS_PER_DAY);
                events.push(("report_created".into(), Timestamp(as_of.0 + later), None));
            }
            GeneratedLead {
                id: format!("L-{i}"),
                employees: f64::from(rng.gen_range(5u32..500)),
                events,
            }
        })
        .collect()
}

fn raw(events: &[(String, Timestamp, Option<f64>)]) -> Vec<RawEvent<'_>> {
    events
        .iter()
        .map(|(t, at, value)| RawEvent {
            event_type: t,
            at: *at,
            value: *value,
        })
        .collect()
}

/// Trains on the leads' materialised features (the trainer's table), stores
/// the definition in the artifact and serves it.
async fn serve_trained(leads: &[GeneratedLead]) -> TestApp {
    let def = definition();
    let compiled: CompiledEvents = def.compile();
    let as_of = parse_timestamp(AS_OF).expect("as_of");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut csv = String::from("lead_id,employees");
    for name in compiled.feature_names() {
        csv.push(',');
        csv.push_str(name);
    }
    csv.push_str(",converted\n");
    for lead in leads {
        let window = compiled.lead_values(&raw(&lead.events), as_of);
        let values: HashMap<&str, f64> = window
            .values
            .iter()
            .map(|(n, v)| (n.as_str(), *v))
            .collect();
        let z = -2.0
            + 0.12 * values.get("page_view_count_30d").copied().unwrap_or(0.0)
            + 0.6 * values.get("demo_action_decayed").copied().unwrap_or(0.0)
            + 0.9
                * values
                    .get("report_created_count_90d")
                    .copied()
                    .unwrap_or(0.0)
            - 0.01
                * values
                    .get("page_view_days_since_last")
                    .copied()
                    .unwrap_or(60.0);
        let converted = rng.gen_bool(1.0 / (1.0 + (-z).exp()));
        csv.push_str(&format!("{},{}", lead.id, lead.employees));
        for name in compiled.feature_names() {
            csv.push(',');
            if let Some(v) = values.get(name.as_str()) {
                // Display of f64 is the shortest text that parses back exactly.
                csv.push_str(&v.to_string());
            }
        }
        csv.push_str(&format!(",{}\n", u8::from(converted)));
    }
    let work = TempDir::new().expect("tempdir");
    let data = work.path().join("leads.csv");
    std::fs::write(&data, csv).expect("write csv");
    let outcome = train::train(&TrainSettings {
        data: Some(data),
        target: Some("converted".into()),
        id: Some("lead_id".into()),
        params: TrainParams {
            model: ModelFamily::Logistic,
            ..TrainParams::default()
        },
        command: "test".into(),
        ..Default::default()
    })
    .expect("trains");
    let mut artifact: ModelArtifact = outcome.artifact;
    def.apply_reason_templates(&mut artifact.features);
    artifact.events = Some(def);
    let repo = TempDir::new().expect("tempdir");
    train::write_artifact(&artifact, &repo.path().join(MODEL).join("1")).expect("write");
    let mut server = settings(repo.path());
    server.max_events_per_lead = 200;
    spawn_with(server, Some(repo)).await
}

fn wire_events(events: &[(String, Timestamp, Option<f64>)]) -> Vec<Event> {
    events
        .iter()
        .map(|(t, at, value)| Event {
            r#type: t.clone(),
            time: at.to_string(),
            value: *value,
        })
        .collect()
}

fn by_events(lead: &GeneratedLead) -> Lead {
    Lead {
        lead_id: lead.id.clone(),
        features: [("employees".to_string(), num(lead.employees))].into(),
        events: wire_events(&lead.events),
        as_of: AS_OF.into(),
        ..Default::default()
    }
}

fn by_features(lead: &GeneratedLead) -> Lead {
    let compiled = definition().compile();
    let window = compiled.lead_values(&raw(&lead.events), parse_timestamp(AS_OF).expect("t"));
    let mut features: HashMap<String, FeatureValue> =
        [("employees".to_string(), num(lead.employees))].into();
    for (name, value) in window.values {
        features.insert(name, num(value));
    }
    Lead {
        lead_id: lead.id.clone(),
        features,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_lead_sent_as_events_scores_as_its_computed_features_do() {
    // Arrange
    let leads = generate(1200, 1);
    let app = serve_trained(&leads).await;
    let sample: Vec<&GeneratedLead> = leads.iter().step_by(40).collect();

    // Act
    let from_events = app
        .client()
        .score(ScoreRequest {
            model: MODEL.into(),
            leads: sample.iter().map(|l| by_events(l)).collect(),
            ..Default::default()
        })
        .await
        .expect("Score with events")
        .into_inner();
    let from_features = app
        .client()
        .score(ScoreRequest {
            model: MODEL.into(),
            leads: sample.iter().map(|l| by_features(l)).collect(),
            ..Default::default()
        })
        .await
        .expect("Score with features")
        .into_inner();

    // Assert: bit-identical probabilities, and the events were accounted for.
    let as_of = parse_timestamp(AS_OF).expect("as_of");
    for ((a, b), lead) in from_events
        .scores
        .iter()
        .zip(&from_features.scores)
        .zip(&sample)
    {
        assert_eq!(
            a.probability.to_bits(),
            b.probability.to_bits(),
            "{}",
            a.lead_id
        );
        let summary = a.events.as_ref().expect("an event summary");
        let after = lead.events.iter().filter(|(_, at, _)| *at >= as_of).count();
        assert_eq!(summary.after_as_of as usize, after, "{}", a.lead_id);
        assert_eq!(summary.used as usize, lead.events.len() - after);
        assert_eq!(summary.unknown_type_events, 0);
        assert_eq!(summary.as_of, "2026-06-01T00:00:00.000Z");
    }
    assert!(
        sample
            .iter()
            .any(|l| l.events.iter().any(|(_, at, _)| *at >= as_of)),
        "the sample holds events after as_of"
    );
}

#[tokio::test]
async fn events_after_as_of_change_nothing_and_unknown_types_are_reported() {
    // Arrange
    let leads = generate(600, 2);
    let app = serve_trained(&leads).await;
    let lead = &leads[3];
    let mut noisy = by_events(lead);
    noisy.events.extend([
        Event {
            r#type: "report_created".into(),
            time: AS_OF.into(), // at as_of: not strictly before, ignored
            value: None,
        },
        Event {
            r#type: "report_created".into(),
            time: "2026-07-15".into(),
            value: None,
        },
        Event {
            r#type: "webinar_signup".into(),
            time: "2026-05-20T10:00:00Z".into(),
            value: Some(1.0),
        },
        Event {
            r#type: "webinar_signup".into(),
            time: "2026-05-21".into(),
            value: None,
        },
    ]);

    // Act
    let plain = app
        .client()
        .explain(ExplainRequest {
            model: MODEL.into(),
            leads: vec![by_events(lead)],
            ..Default::default()
        })
        .await
        .expect("Explain")
        .into_inner();
    let with_noise = app
        .client()
        .explain(ExplainRequest {
            model: MODEL.into(),
            leads: vec![noisy],
            ..Default::default()
        })
        .await
        .expect("Explain")
        .into_inner();

    // Assert
    let (a, b) = (&plain.explanations[0], &with_noise.explanations[0]);
    assert_eq!(a.log_odds.to_bits(), b.log_odds.to_bits());
    assert_eq!(a.computed_features, b.computed_features);
    let summary = b.events.as_ref().expect("summary");
    let before = a.events.as_ref().expect("summary");
    assert_eq!(summary.after_as_of, before.after_as_of + 2);
    assert_eq!(summary.unknown_type_events, 2);
    assert_eq!(summary.unknown_types, vec!["webinar_signup".to_string()]);
    // Explain shows what was derived, and reasons speak in behaviour.
    let compiled = definition().compile();
    let expected = compiled.lead_values(&raw(&lead.events), parse_timestamp(AS_OF).expect("as_of"));
    for (name, value) in &expected.values {
        assert_eq!(a.computed_features.get(name), Some(value), "{name}");
    }
    let reasons: Vec<&str> = a.contributions.iter().map(|c| c.reason.as_str()).collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("page view events in the last 30 days")
                || r.starts_with("no page view for")),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn bad_event_input_is_refused_naming_the_field() {
    // Arrange
    let leads = generate(400, 3);
    let app = serve_trained(&leads).await;
    let base = by_events(&leads[0]);
    let with = |f: &dyn Fn(&mut Lead)| {
        let mut lead = base.clone();
        f(&mut lead);
        lead
    };
    let cases: Vec<(Lead, &str, &str)> = vec![
        (
            with(&|l| {
                l.events.push(Event {
                    r#type: "page_view".into(),
                    time: "yesterday".into(),
                    value: None,
                })
            }),
            "events[",
            "not a date or timestamp",
        ),
        (with(&|l| l.as_of = "2026-13-40".into()), "as_of", "valid"),
        (
            with(&|l| {
                l.events = (0..201)
                    .map(|i| Event {
                        r#type: "page_view".into(),
                        time: format!("2026-05-{:02}", 1 + i % 28),
                        value: None,
                    })
                    .collect()
            }),
            "events",
            "at most 200 per lead",
        ),
        (
            with(&|l| {
                l.features.insert("page_view_count_30d".into(), num(3.0));
            }),
            "features[\"page_view_count_30d\"]",
            "computed from the events",
        ),
        (
            with(&|l| {
                l.features.clear();
                l.values = vec![1.0; 5];
            }),
            "values",
            "named features",
        ),
    ];
    for (lead, field, words) in cases {
        // Act
        let err = app
            .client()
            .score(ScoreRequest {
                model: MODEL.into(),
                leads: vec![lead],
                ..Default::default()
            })
            .await
            .expect_err("refused");
        // Assert
        assert_eq!(
            err.code(),
            tonic::Code::InvalidArgument,
            "{}",
            err.message()
        );
        assert!(err.message().contains(field), "{field}: {}", err.message());
        assert!(err.message().contains(words), "{words}: {}", err.message());
        assert!(
            err.message().contains("L-0"),
            "names the lead: {}",
            err.message()
        );
    }
}

#[tokio::test]
async fn get_model_shows_the_event_definition_and_event_less_models_refuse_events() {
    // Arrange
    let leads = generate(400, 4);
    let app = serve_trained(&leads).await;

    // Act
    let info = app
        .client()
        .get_model(GetModelRequest {
            model: MODEL.into(),
            ..Default::default()
        })
        .await
        .expect("GetModel")
        .into_inner();

    // Assert
    let events = info.events.expect("an event definition");
    let types: BTreeSet<&str> = events.event_types.iter().map(String::as_str).collect();
    assert_eq!(
        types,
        BTreeSet::from(["demo_action", "page_view", "report_created"])
    );
    let count = events
        .features
        .iter()
        .find(|f| f.name == "page_view_count_30d")
        .expect("listed");
    assert_eq!(
        (count.kind.as_str(), count.event.as_str(), count.days),
        ("count", "page_view", 30)
    );
    assert_eq!(count.description, "page view events in the last 30 days");
    let decayed = events
        .features
        .iter()
        .find(|f| f.name == "demo_action_decayed")
        .expect("listed");
    assert_eq!(decayed.half_life_days, 14.0);

    // A model trained without events says so.
    let plain = crate::helpers::spawn_app().await;
    let err = plain
        .client()
        .score(ScoreRequest {
            leads: vec![Lead {
                lead_id: "x".into(),
                events: wire_events(
                    &leads
                        .iter()
                        .find(|l| !l.events.is_empty())
                        .expect("a lead with events")
                        .events,
                ),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("takes no events"),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn events_over_http_json_score_like_grpc() {
    // Arrange
    let leads = generate(400, 5);
    let app = serve_trained(&leads).await;
    let grpc = app
        .client()
        .score(ScoreRequest {
            model: MODEL.into(),
            leads: vec![by_events(&leads[1])],
            ..Default::default()
        })
        .await
        .expect("Score")
        .into_inner();
    let body = serde_json::json!({
        "model": MODEL,
        "leads": [{
            "leadId": leads[1].id,
            "features": {"employees": {"number": leads[1].employees}},
            "asOf": AS_OF,
            "events": leads[1].events.iter().map(|(t, at, _)| serde_json::json!({
                "type": t, "time": at.to_string()
            })).collect::<Vec<_>>(),
        }]
    });

    // Act
    let response = reqwest::Client::new()
        .post(format!("http://{}/v1/score", app.http_addr))
        .json(&body)
        .send()
        .await
        .expect("POST /v1/score");

    // Assert
    assert_eq!(response.status(), 200);
    let json: serde_json::Value = response.json().await.expect("json");
    let p = json["scores"][0]["probability"]
        .as_f64()
        .expect("probability");
    assert_eq!(p.to_bits(), grpc.scores[0].probability.to_bits());
    assert!(json["scores"][0]["events"]["used"].as_u64().expect("used") > 0);
}

/// Writes a leads table (lead_id, signed_up_at, employees, converted) and an
/// events table (lead_id, timestamp, event_type) for `leads`; `extra` adds
/// events at or after each lead's as-of time, which nothing may see.
fn write_tables(
    dir: &std::path::Path,
    leads: &[GeneratedLead],
    extra: bool,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let compiled = definition().compile();
    let as_of = parse_timestamp(AS_OF).expect("as_of");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut leads_csv = String::from("lead_id,signed_up_at,employees,converted\n");
    let mut events_csv = String::from("lead_id,timestamp,event_type\n");
    for lead in leads {
        let window = compiled.lead_values(&raw(&lead.events), as_of);
        let values: HashMap<&str, f64> = window
            .values
            .iter()
            .map(|(n, v)| (n.as_str(), *v))
            .collect();
        let z = -2.0
            + 0.12 * values.get("page_view_count_30d").copied().unwrap_or(0.0)
            + 0.9
                * values
                    .get("report_created_count_90d")
                    .copied()
                    .unwrap_or(0.0);
        let converted = rng.gen_bool(1.0 / (1.0 + (-z).exp()));
        // The as-of time is signed_up_at + 30 days (--as-of-offset-days 30).
        let signed_up = Timestamp(as_of.0 - 30 * MS_PER_DAY);
        leads_csv.push_str(&format!(
            "{},{},{},{}\n",
            lead.id,
            signed_up,
            lead.employees,
            u8::from(converted)
        ));
        for (t, at, _) in &lead.events {
            events_csv.push_str(&format!("{},{at},{t}\n", lead.id));
        }
        if extra {
            events_csv.push_str(&format!("{},{AS_OF},report_created\n", lead.id));
            events_csv.push_str(&format!("{},2026-08-01,page_view\n", lead.id));
        }
    }
    let (l, e) = (
        dir.join("leads.csv"),
        dir.join(if extra {
            "events_extra.csv"
        } else {
            "events.csv"
        }),
    );
    std::fs::write(&l, leads_csv).expect("write leads");
    std::fs::write(&e, events_csv).expect("write events");
    (l, e)
}

fn two_table_settings(leads: std::path::PathBuf, events: std::path::PathBuf) -> TrainSettings {
    TrainSettings {
        data: Some(leads),
        events: Some(events),
        target: Some("converted".into()),
        id: Some("lead_id".into()),
        as_of_column: Some("signed_up_at".into()),
        as_of_offset_days: Some(30.0),
        event_features: Some(definition()),
        params: TrainParams {
            model: ModelFamily::Logistic,
            ..TrainParams::default()
        },
        command: "test".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn training_from_two_tables_is_point_in_time_and_serves_the_features_it_saw() {
    // Arrange
    let leads = generate(900, 6);
    let work = TempDir::new().expect("tempdir");
    let (leads_csv, events_csv) = write_tables(work.path(), &leads, false);
    let (_, events_extra) = write_tables(work.path(), &leads, true);

    // Act: train twice, the second time with events after every as-of time.
    let outcome = train::train(&two_table_settings(leads_csv.clone(), events_csv.clone()))
        .expect("trains from two tables");
    let noisy = train::train(&two_table_settings(leads_csv.clone(), events_extra)).expect("trains");
    let (table, materialised) =
        train::events::feature_table(&two_table_settings(leads_csv, events_csv)).expect("table");

    // Assert: what happens at or after as-of is never seen.
    assert_eq!(outcome.artifact.estimator, noisy.artifact.estimator);
    assert_eq!(
        materialised.after_as_of,
        leads
            .iter()
            .map(|l| l
                .events
                .iter()
                .filter(|(_, at, _)| *at >= parse_timestamp(AS_OF).expect("t"))
                .count())
            .sum::<usize>()
    );
    assert_eq!(outcome.artifact.events, Some(definition()));
    assert!(
        outcome.notices.iter().any(|n| n.starts_with("events: ")),
        "{:?}",
        outcome.notices
    );

    // The written feature table reads back bit for bit as what the server
    // computes from the same events (parity through the real server).
    let csv = train::events::to_csv(&table);
    let back = leadscore::train::table::read_table(csv.as_bytes(), "features.csv").expect("reads");
    let repo = TempDir::new().expect("tempdir");
    train::write_artifact(&outcome.artifact, &repo.path().join(MODEL).join("1")).expect("write");
    let app = spawn_with(settings(repo.path()), Some(repo)).await;
    let sample: Vec<usize> = (0..leads.len()).step_by(30).collect();
    let explained = app
        .client()
        .explain(ExplainRequest {
            model: MODEL.into(),
            leads: sample.iter().map(|&i| by_events(&leads[i])).collect(),
            ..Default::default()
        })
        .await
        .expect("Explain")
        .into_inner();
    let column = |name: &str| back.header.iter().position(|h| h == name).expect("column");
    let mut compared = 0;
    for (e, &i) in explained.explanations.iter().zip(&sample) {
        for name in definition().feature_names() {
            let cell = &back.rows[i][column(name)];
            let served = e.computed_features.get(name);
            match served {
                Some(v) => assert_eq!(
                    cell.parse::<f64>().expect("number").to_bits(),
                    v.to_bits(),
                    "{name} of {}",
                    e.lead_id
                ),
                None => assert!(cell.is_empty(), "{name} of {}: {cell}", e.lead_id),
            }
            compared += 1;
        }
    }
    assert!(compared >= 100, "{compared} values compared");
}

/// The numbers in a reason, as written (e.g. `["3", "44.6"]`).
fn numbers_in(reason: &str) -> Vec<&str> {
    reason
        .split_whitespace()
        .filter(|w| w.parse::<f64>().is_ok())
        .collect()
}

fn decimals(number: &str) -> usize {
    number.split_once('.').map_or(0, |(_, d)| d.len())
}

#[tokio::test]
async fn explain_reasons_speak_in_behaviour_with_rounded_values() {
    // Arrange: one lead that created a report before as_of, one that never did.
    let leads = generate(600, 3);
    let app = serve_trained(&leads).await;
    let as_of = parse_timestamp(AS_OF).expect("as_of");
    let did = |l: &GeneratedLead| {
        l.events
            .iter()
            .any(|(t, at, _)| t == "report_created" && *at < as_of)
    };
    let has_days = |l: &GeneratedLead| {
        l.events
            .iter()
            .any(|(t, at, _)| t == "page_view" && *at < as_of)
    };
    let doer = leads
        .iter()
        .find(|l| did(l) && has_days(l))
        .expect("a lead who created a report");
    let never = leads
        .iter()
        .find(|l| !did(l) && has_days(l))
        .expect("a lead who never did");

    // Act
    let explained = app
        .client()
        .explain(ExplainRequest {
            model: MODEL.into(),
            leads: vec![by_events(doer), by_events(never)],
            top_k: 0,
            ..Default::default()
        })
        .await
        .expect("Explain")
        .into_inner();
    let info = app
        .client()
        .get_model(GetModelRequest {
            model: MODEL.into(),
            ..Default::default()
        })
        .await
        .expect("GetModel")
        .into_inner();

    // Assert: "ever" reads as a behaviour, both ways.
    let reason = |e: &leadscore::serve::proto::Explanation, feature: &str| {
        e.contributions
            .iter()
            .find(|c| c.feature == feature)
            .unwrap_or_else(|| panic!("no {feature} in {:?}", e.contributions))
            .reason
            .clone()
    };
    let (a, b) = (&explained.explanations[0], &explained.explanations[1]);
    assert_eq!(reason(a, "report_created_ever"), "has done report created");
    assert_eq!(reason(b, "report_created_ever"), "never did report created");
    let schema = info
        .features
        .iter()
        .find(|f| f.name == "report_created_ever")
        .expect("in the schema");
    assert_eq!(schema.reason, "has done report created");

    // Window values in reasons are rounded: days to whole days (one
    // decimal under 10), decayed counts to one decimal, counts whole; the
    // computed features keep the exact values.
    let compiled = definition().compile();
    for (e, lead) in [(a, doer), (b, never)] {
        let days = reason(e, "page_view_days_since_last");
        assert!(days.starts_with("no page view for "), "{days}");
        let shown = numbers_in(&days);
        assert_eq!(shown.len(), 1, "{days}");
        let shown_days: f64 = shown[0].parse().expect("a number");
        assert!(
            decimals(shown[0]) <= usize::from(shown_days < 10.0),
            "{days}"
        );
        let exact = e.computed_features["page_view_days_since_last"];
        let expected = compiled.lead_values(&raw(&lead.events), as_of);
        let (_, computed) = expected
            .values
            .iter()
            .find(|(n, _)| n == "page_view_days_since_last")
            .expect("computed");
        assert_eq!(
            exact.to_bits(),
            computed.to_bits(),
            "exact in computed_features"
        );
        assert!(exact.fract() != 0.0, "events at ms resolution: {exact}");
        assert!((shown_days - exact).abs() <= 0.5, "{days} for {exact}");

        let decayed = reason(e, "demo_action_decayed");
        assert!(
            decayed.starts_with("recent demo action activity "),
            "{decayed}"
        );
        assert!(
            numbers_in(&decayed).iter().all(|n| decimals(n) <= 1),
            "{decayed}"
        );
        let count = reason(e, "page_view_count_30d");
        assert!(
            count.ends_with("page view events in the last 30 days"),
            "{count}"
        );
        assert!(
            numbers_in(&count).iter().all(|n| decimals(n) == 0),
            "{count}"
        );
    }
}

#[tokio::test]
async fn score_stream_accepts_events_and_scores_them_as_score_does() {
    // Arrange
    let leads = generate(600, 4);
    let app = serve_trained(&leads).await;
    let request = ScoreRequest {
        model: MODEL.into(),
        leads: leads.iter().step_by(50).map(by_events).collect(),
        ..Default::default()
    };

    // Act
    let unary = app
        .client()
        .score(request.clone())
        .await
        .expect("Score")
        .into_inner();
    let mut stream = app
        .client()
        .score_stream(tokio_stream::iter(vec![request]))
        .await
        .expect("ScoreStream")
        .into_inner();
    let streamed = stream
        .message()
        .await
        .expect("an answer")
        .expect("a message");

    // Assert
    assert_eq!(streamed.error, None);
    assert_eq!(streamed.scores.len(), unary.scores.len());
    for (s, u) in streamed.scores.iter().zip(&unary.scores) {
        assert_eq!(s.error, None, "{}", s.lead_id);
        assert_eq!(s.probability.to_bits(), u.probability.to_bits());
        let summary = s.events.as_ref().expect("an event summary");
        assert_eq!(Some(summary), u.events.as_ref());
    }
    let used: u32 = streamed
        .scores
        .iter()
        .filter_map(|s| s.events.as_ref())
        .map(|e| e.used)
        .sum();
    assert!(used > 0, "the streamed events were read");
    assert!(stream.message().await.expect("ends cleanly").is_none());
}

#[tokio::test]
async fn events_without_as_of_are_windowed_as_of_now() {
    // Arrange: one page view two days ago and one in ten days; no as_of.
    let leads = generate(300, 5);
    let app = serve_trained(&leads).await;
    let before = Timestamp::now();
    let lead = Lead {
        lead_id: "now".into(),
        features: [("employees".to_string(), num(40.0))].into(),
        events: vec![
            Event {
                r#type: "page_view".into(),
                time: Timestamp(before.0 - 2 * MS_PER_DAY).to_string(),
                value: None,
            },
            Event {
                r#type: "page_view".into(),
                time: Timestamp(before.0 + 10 * MS_PER_DAY).to_string(),
                value: None,
            },
        ],
        ..Default::default()
    };

    // Act
    let explained = app
        .client()
        .explain(ExplainRequest {
            model: MODEL.into(),
            leads: vec![lead.clone()],
            ..Default::default()
        })
        .await
        .expect("Explain")
        .into_inner();
    let scored = app
        .client()
        .score(ScoreRequest {
            model: MODEL.into(),
            leads: vec![lead],
            ..Default::default()
        })
        .await
        .expect("Score")
        .into_inner();
    let after = Timestamp::now();

    // Assert: as_of is the time of the request.
    for summary in [
        explained.explanations[0].events.as_ref(),
        scored.scores[0].events.as_ref(),
    ] {
        let summary = summary.expect("an event summary");
        let as_of = parse_timestamp(&summary.as_of).expect("as_of");
        assert!(before <= as_of && as_of <= after, "{}", summary.as_of);
        assert_eq!((summary.used, summary.after_as_of), (1, 1));
    }
    let days = explained.explanations[0].computed_features["page_view_days_since_last"];
    assert!((2.0..2.01).contains(&days), "{days}");
}

/// The bundled leadforge_events model's definition (14 event types, every
/// default window) plus a ratio, on both sides of the parity property.
fn parity_model() -> &'static leadscore::scoring::model::ScoringModel {
    static MODEL: std::sync::OnceLock<leadscore::scoring::model::ScoringModel> =
        std::sync::OnceLock::new();
    MODEL.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/models/leadforge_events/2/model.json"
        );
        let mut artifact: ModelArtifact =
            serde_json::from_slice(&std::fs::read(path).expect("bundled model")).expect("json");
        let events = artifact.events.as_mut().expect("an event definition");
        events.features.push(WindowFeature {
            name: "demo_views_7_over_90".into(),
            aggregate: Aggregate::Ratio {
                numerator: "demo_page_view_count_7d".into(),
                denominator: "demo_page_view_count_90d".into(),
            },
        });
        leadscore::scoring::model::ScoringModel::from_artifact(artifact).expect("loads")
    })
}

/// Event types of the property: known ones, known ones with surrounding
/// whitespace, a different case, and unknown ones.
const PARITY_TYPES: [&str; 10] = [
    "demo_page_view",
    "pricing_page_view",
    "sales_demo",
    "touch_email",
    " sales_demo",
    "touch_email  ",
    "\tpricing_page_view ",
    "Sales_Demo",
    "webinar",
    "page view",
];

/// One random event: type (index, or `None` for a blank one), offset from
/// the lead's as-of time in ms, optional value.
type ParityEvent = (Option<usize>, i64, Option<f64>);

fn parity_event() -> impl proptest::strategy::Strategy<Value = ParityEvent> {
    use proptest::prelude::*;
    (
        prop_oneof![30 => (0..PARITY_TYPES.len()).prop_map(Some), 1 => Just(None)],
        prop_oneof![
            -400 * MS_PER_DAY..3 * MS_PER_DAY,
            (-400i64..3).prop_map(|d| d * MS_PER_DAY),
            (-400i64..3).prop_map(|d| d * MS_PER_DAY - 1),
            Just(0i64),
        ],
        prop_oneof![
            Just(None),
            (-1e6f64..1e6).prop_map(Some),
            (0u32..1000).prop_map(|v| Some(f64::from(v) / 8.0)),
            Just(Some(-0.0)),
            Just(Some(1e300)),
        ],
    )
}

/// The trainer's feature table (`leadscore-train features`) for `leads`
/// (as-of time, events), or its error.
fn trainer_features(
    leads: &[(i64, Vec<ParityEvent>)],
) -> Result<leadscore::train::table::Table, String> {
    let work = TempDir::new().expect("tempdir");
    let mut leads_csv = String::from("lead_id,signed_up_at\n");
    let mut events_csv = String::from("lead_id,timestamp,event_type,value\n");
    for (i, (as_of, events)) in leads.iter().enumerate() {
        // as-of = signed_up_at + 14 days (--as-of-offset-days 14).
        leads_csv.push_str(&format!("L{i},{}\n", Timestamp(as_of - 14 * MS_PER_DAY)));
        for &(ty, offset, value) in events {
            let ty = ty.map_or("  ", |t| PARITY_TYPES[t]);
            let value = value.map(|v| v.to_string()).unwrap_or_default();
            events_csv.push_str(&format!(
                "L{i},{},\"{ty}\",{value}\n",
                Timestamp(as_of + offset)
            ));
        }
    }
    let (l, e) = (
        work.path().join("leads.csv"),
        work.path().join("events.csv"),
    );
    std::fs::write(&l, leads_csv).expect("write leads");
    std::fs::write(&e, events_csv).expect("write events");
    let settings = TrainSettings {
        data: Some(l),
        events: Some(e),
        event_value_column: Some("value".into()),
        id: Some("lead_id".into()),
        as_of_column: Some("signed_up_at".into()),
        as_of_offset_days: Some(14.0),
        event_features: parity_model().artifact().events.clone(),
        ..Default::default()
    };
    train::events::feature_table(&settings)
        .map(|(table, _)| table)
        .map_err(|e| e.to_string())
}

/// What the gRPC handlers compute for the same lead: `parse_lead` then
/// `apply_events`, as Score, Explain, ScoreStream and ScoreAccounts call them.
fn server_features(as_of: i64, events: &[ParityEvent]) -> Result<Vec<f64>, String> {
    let lead = Lead {
        lead_id: "L".into(),
        events: events
            .iter()
            .map(|&(ty, offset, value)| Event {
                r#type: ty.map_or("  ", |t| PARITY_TYPES[t]).to_string(),
                time: Timestamp(as_of + offset).to_string(),
                value,
            })
            .collect(),
        as_of: Timestamp(as_of).to_string(),
        ..Default::default()
    };
    let mut parsed =
        leadscore::serve::grpc::parse_lead(0, lead, usize::MAX).map_err(|e| e.to_string())?;
    leadscore::serve::grpc::apply_events(parity_model(), 0, &mut parsed)
        .map_err(|e| e.to_string())?;
    Ok(parsed.computed.expect("computed").window.values)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 96, ..Default::default() })]

    /// Issue 18's parity property: for random event histories (known and
    /// unknown types, types with surrounding whitespace, blank types,
    /// values or none, times around and at the as-of time), the trainer's
    /// materialised features and the server's computed features are
    /// bit-identical, and both refuse what either refuses.
    #[test]
    fn trainer_and_server_compute_bit_identical_features(
        leads in proptest::collection::vec(
            (
                -5_000 * MS_PER_DAY..25_000 * MS_PER_DAY,
                proptest::collection::vec(parity_event(), 0..60),
            ),
            1..4,
        ),
    ) {
        // An events file needs one event at least (the trainer refuses a
        // header-only file, as it should).
        proptest::prop_assume!(leads.iter().any(|(_, events)| !events.is_empty()));
        let trainer = trainer_features(&leads);
        let server: Vec<Result<Vec<f64>, String>> = leads
            .iter()
            .map(|(as_of, events)| server_features(*as_of, events))
            .collect();
        let blank = leads.iter().any(|(_, e)| e.iter().any(|(t, _, _)| t.is_none()));
        if blank {
            // A blank event type is refused on both sides, naming it.
            let refused = trainer.expect_err("the trainer refuses a blank type");
            proptest::prop_assert!(refused.contains("empty event type"), "{}", refused);
            proptest::prop_assert!(
                server
                    .iter()
                    .zip(&leads)
                    .filter(|(_, (_, e))| e.iter().any(|(t, _, _)| t.is_none()))
                    .all(|(s, _)| s.as_ref().is_err_and(|m| m.contains("empty event type"))),
                "{:?}",
                server
            );
            return Ok(());
        }
        let table = trainer.expect("the trainer materialises");
        let compiled = parity_model().events().expect("events");
        for (row, served) in table.rows.iter().zip(&server) {
            let served = served.as_ref().expect("the server computes");
            for (name, value) in compiled.feature_names().iter().zip(served) {
                let column = table.header.iter().position(|h| h == name).expect("column");
                let cell = &row[column];
                if value.is_finite() {
                    let trained: f64 = cell.parse().expect("a number");
                    proptest::prop_assert_eq!(
                        trained.to_bits(),
                        value.to_bits(),
                        "{} of {}: trainer {} server {}",
                        name,
                        row[0],
                        cell,
                        value
                    );
                } else {
                    proptest::prop_assert!(cell.is_empty(), "{} of {}: {}", name, row[0], cell);
                }
            }
        }
    }
}
