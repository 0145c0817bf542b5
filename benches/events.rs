//! Events → features: the cost of computing the default window features
//! from 200 events per lead, and what sending events instead of features
//! adds to scoring one lead (issue target: ≤ 5 µs per lead added to Score).
//!
//! `cargo bench --bench events`

use std::collections::BTreeSet;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use leadscore::scoring::events::{Aggregate, EventDefinition, RawEvent, WindowFeature};
use leadscore::scoring::features::{LeadInput, RawValue};
use leadscore::scoring::model::{LeadFeatures, ModelArtifact, ScoringModel};
use leadscore::scoring::time::{Timestamp, MS_PER_DAY};

const TYPES: [&str; 5] = [
    "page_view",
    "demo_action",
    "report_created",
    "email_open",
    "meeting",
];

fn history(n: usize, seed: u64) -> Vec<RawEvent<'static>> {
    // A small LCG: deterministic, no dependency.
    let mut state = seed;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let as_of = 20_000 * MS_PER_DAY;
    (0..n)
        .map(|_| RawEvent {
            event_type: TYPES[(next() % 5) as usize],
            at: Timestamp(as_of - (next() as i64 % (120 * MS_PER_DAY))),
            value: Some((next() % 600) as f64),
        })
        .collect()
}

fn events(c: &mut Criterion) {
    let types: BTreeSet<String> = TYPES.iter().map(|t| t.to_string()).collect();
    let definition = EventDefinition::defaults(&types, &types);
    let compiled = definition.compile();
    let leads: Vec<Vec<RawEvent<'static>>> = (0..64).map(|s| history(200, s)).collect();
    let as_of = Timestamp(20_000 * MS_PER_DAY);
    let mut out = vec![0.0; compiled.width()];
    let mut group = c.benchmark_group("events");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("defaults_5_types_200_events_per_lead", |b| {
        b.iter(|| {
            i = (i + 1) % leads.len();
            black_box(compiled.compute(black_box(&leads[i]), as_of, &mut out))
        })
    });
    group.finish();
}

/// The bundled x_education model with three of its numeric features
/// computed from page_view events instead (count, value sum, ratio), scored
/// from 200 events of 5 types per lead, against the same lead with the
/// three values sent precomputed.
fn score_with_events(c: &mut Criterion) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/x_education/3/model.json"
    );
    let bytes = std::fs::read(path).expect("bundled model");
    let mut artifact: ModelArtifact = serde_json::from_slice(&bytes).expect("artifact");
    let feature = |name: &str, aggregate: Aggregate| WindowFeature {
        name: name.into(),
        aggregate,
    };
    artifact.events = Some(EventDefinition {
        event_types: TYPES.iter().map(|t| t.to_string()).collect(),
        features: vec![
            feature(
                "total_visits",
                Aggregate::Count {
                    event: "page_view".into(),
                    days: 30,
                },
            ),
            feature(
                "total_time_spent_on_website",
                Aggregate::ValueSum {
                    event: "page_view".into(),
                    days: 30,
                },
            ),
            feature(
                "page_views_per_visit",
                Aggregate::Ratio {
                    numerator: "total_time_spent_on_website".into(),
                    denominator: "total_visits".into(),
                },
            ),
        ],
    });
    let model = ScoringModel::from_artifact(artifact).expect("loads");
    let leads: Vec<Vec<RawEvent<'static>>> = (0..64).map(|s| history(200, s)).collect();
    let as_of = Timestamp(20_000 * MS_PER_DAY);
    let statics: LeadInput = LeadInput::Named(
        [
            (
                "lead_origin".to_string(),
                RawValue::Category("Landing Page Submission".into()),
            ),
            ("do_not_email".to_string(), RawValue::Flag(false)),
        ]
        .into(),
    );
    let precomputed: Vec<LeadInput> = leads
        .iter()
        .map(|events| {
            let mut input = statics.clone();
            let window = model
                .event_features(&input, events, as_of)
                .expect("computes");
            model.insert_event_features(&mut input, &window);
            input
        })
        .collect();
    let mut group = c.benchmark_group("score_one_lead");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("features_sent", |b| {
        b.iter(|| {
            i = (i + 1) % leads.len();
            let input = precomputed[i].clone();
            black_box(model.score(black_box(&input)).expect("scores"))
        })
    });
    // What the server does: the window values go straight into their
    // features' slots.
    group.bench_function("200_events_sent", |b| {
        b.iter(|| {
            i = (i + 1) % leads.len();
            let input = statics.clone();
            let window = model
                .event_features(&input, black_box(&leads[i]), as_of)
                .expect("computes");
            let lead = LeadFeatures {
                input: &input,
                window: Some(&window),
            };
            black_box(model.score_lead(black_box(lead)).expect("scores"))
        })
    });
    // The server before: every window feature's name copied into the
    // lead's input map (one allocation per window), then scored by name.
    group.bench_function("200_events_sent_by_name", |b| {
        b.iter(|| {
            i = (i + 1) % leads.len();
            let mut input = statics.clone();
            let window = model
                .event_features(&input, black_box(&leads[i]), as_of)
                .expect("computes");
            model.insert_event_features(&mut input, &window);
            black_box(model.score(black_box(&input)).expect("scores"))
        })
    });
    group.finish();
}

/// The bundled leadforge_events model (117 window features of 14 types,
/// gradient-boosted trees), one lead of 200 events of its types: the window
/// values straight into their features' slots (the server) against each
/// feature's name copied into the lead's input map first (the server
/// before: one allocation per window).
fn score_leadforge_events(c: &mut Criterion) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/leadforge_events/2/model.json"
    );
    let bytes = std::fs::read(path).expect("bundled model");
    let artifact: ModelArtifact = serde_json::from_slice(&bytes).expect("artifact");
    let model = ScoringModel::from_artifact(artifact).expect("loads");
    let types: Vec<String> = model.events().expect("events").event_types().to_vec();
    let as_of = Timestamp(20_000 * MS_PER_DAY);
    let leads: Vec<Vec<RawEvent<'_>>> = (0..64)
        .map(|seed| {
            history(200, seed)
                .into_iter()
                .enumerate()
                .map(|(k, e)| RawEvent {
                    event_type: &types[(k * 7 + seed as usize) % types.len()],
                    ..e
                })
                .collect()
        })
        .collect();
    let statics = LeadInput::Named(Default::default());
    let mut group = c.benchmark_group("leadforge_117_windows");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("200_events_sent", |b| {
        b.iter(|| {
            i = (i + 1) % leads.len();
            let input = statics.clone();
            let window = model
                .event_features(&input, black_box(&leads[i]), as_of)
                .expect("computes");
            let lead = LeadFeatures {
                input: &input,
                window: Some(&window),
            };
            black_box(model.score_lead(black_box(lead)).expect("scores"))
        })
    });
    group.bench_function("200_events_sent_by_name", |b| {
        b.iter(|| {
            i = (i + 1) % leads.len();
            let mut input = statics.clone();
            let window = model
                .event_features(&input, black_box(&leads[i]), as_of)
                .expect("computes");
            model.insert_event_features(&mut input, &window);
            black_box(model.score(black_box(&input)).expect("scores"))
        })
    });
    group.finish();
}

criterion_group!(benches, events, score_with_events, score_leadforge_events);
criterion_main!(benches);
