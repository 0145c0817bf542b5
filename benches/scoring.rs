//! Criterion benchmarks for the scoring hot paths, on the bundled
//! `x_education` model (22 features) and on the synthetic model:
//! feature encoding (named and dense), scoring and explaining per lead and
//! per 10,000-lead batch, and wire parsing of a Score request; and Explain
//! per lead (contributions, reasons, suggestion) for the logistic model and
//! for a gbdt of 300 trees of depth 6 trained here on behavioural leads,
//! with its parts (TreeSHAP alone, the suggestion search alone).
//!
//! `cargo bench --bench scoring`; numbers are recorded in docs/benchmarks.md.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use leadscore::scoring::features::{FeatureKind, LeadInput, RawValue};
use leadscore::scoring::model::{Estimator, ModelArtifact, ScoringModel};
use leadscore::train::{self, TrainParams, TrainSettings};
use prost::Message;

fn bundled() -> ScoringModel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/x_education/1/model.json");
    ModelArtifact::read(&path).expect("bundled model")
}

/// A realistic lead: every feature given, numbers near the median.
fn leads(model: &ScoringModel, n: usize) -> (Vec<LeadInput>, Vec<LeadInput>) {
    let specs = model.pipeline().specs();
    let mut named = Vec::with_capacity(n);
    let mut dense = Vec::with_capacity(n);
    for k in 0..n {
        let mut map = HashMap::new();
        let mut values = Vec::new();
        for spec in specs {
            match spec.kind() {
                FeatureKind::Numeric => {
                    let x = spec.imputed_value().parse::<f64>().unwrap_or(0.0)
                        * (0.5 + (k % 7) as f64 / 5.0);
                    map.insert(spec.name.clone(), RawValue::Number(x));
                    values.push(x);
                }
                FeatureKind::Boolean => {
                    map.insert(spec.name.clone(), RawValue::Flag(k % 2 == 0));
                    values.push((k % 2) as f64);
                }
                FeatureKind::Categorical => {
                    let cats = spec.categories();
                    let i = k % cats.len();
                    map.insert(spec.name.clone(), RawValue::Category(cats[i].clone()));
                    values.push(i as f64);
                }
            }
        }
        named.push(LeadInput::Named(map));
        dense.push(LeadInput::Dense(values));
    }
    (named, dense)
}

fn encoding(c: &mut Criterion) {
    let model = bundled();
    let (named, dense) = leads(&model, 1);
    let mut group = c.benchmark_group("encode_per_lead");
    group.throughput(Throughput::Elements(1));
    group.bench_function("named", |b| {
        b.iter(|| model.pipeline().encode(black_box(&named[0])))
    });
    group.bench_function("dense", |b| {
        b.iter(|| model.pipeline().encode(black_box(&dense[0])))
    });
    group.finish();
}

fn scoring(c: &mut Criterion) {
    let model = bundled();
    let (named, dense) = leads(&model, 10_000);
    let mut group = c.benchmark_group("score_per_lead");
    group.throughput(Throughput::Elements(1));
    group.bench_function("named", |b| b.iter(|| model.score(black_box(&named[0]))));
    group.bench_function("dense", |b| b.iter(|| model.score(black_box(&dense[0]))));
    group.bench_function("explain_dense", |b| {
        b.iter(|| model.explain(black_box(&dense[0])))
    });
    group.finish();

    let mut group = c.benchmark_group("score_batch_10000");
    group.throughput(Throughput::Elements(10_000));
    group.sample_size(20);
    group.bench_function("named", |b| {
        b.iter(|| {
            named
                .iter()
                .map(|l| model.score(l).map(|s| s.probability).unwrap_or(0.0))
                .sum::<f64>()
        })
    });
    group.bench_function("dense", |b| {
        b.iter(|| {
            dense
                .iter()
                .map(|l| model.score(l).map(|s| s.probability).unwrap_or(0.0))
                .sum::<f64>()
        })
    });
    group.bench_function("explain_dense", |b| {
        b.iter(|| {
            dense
                .iter()
                .map(|l| model.explain(l).map(|e| e.base_log_odds).unwrap_or(0.0))
                .sum::<f64>()
        })
    });
    group.finish();
}

/// The tensor path ([`leadscore::scoring::dense::score_dense_rows`]): the
/// bundled logistic and gbdt models, 10,000 and 100 rows per call.
fn dense_blocks(c: &mut Criterion) {
    let mut group = c.benchmark_group("score_dense_rows");
    for (name, path) in [
        ("logistic", "models/x_education/1/model.json"),
        ("gbdt", "models/x_education/2/model.json"),
    ] {
        let model = ModelArtifact::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
            .expect("bundled model");
        let width = model.pipeline().specs().len();
        let (_, dense) = leads(&model, 10_000);
        let values: Vec<f64> = dense
            .iter()
            .flat_map(|l| match l {
                LeadInput::Dense(v) => v.clone(),
                LeadInput::Named(_) => unreachable!("dense leads"),
            })
            .collect();
        for rows in [10_000usize, 100] {
            group.throughput(Throughput::Elements(rows as u64));
            group.bench_function(format!("{name}/{rows}"), |b| {
                b.iter(|| {
                    leadscore::scoring::dense::score_dense_rows(
                        &model,
                        black_box(&values[..rows * width]),
                        width,
                        None,
                    )
                    .map(|s| s.probabilities.len())
                })
            });
        }
    }
    group.finish();
}

fn wire(c: &mut Criterion) {
    // Decoding a Score request of 100 dense leads and parsing it into domain leads.
    let request = leadscore::serve::proto::ScoreRequest {
        leads: (0..100)
            .map(|i| leadscore::serve::proto::Lead {
                lead_id: format!("L{i}"),
                values: (0..22).map(|j| ((i * j) % 7) as f64).collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let bytes = request.encode_to_vec();
    let mut group = c.benchmark_group("wire_100_dense_leads");
    group.throughput(Throughput::Elements(100));
    group.bench_function("decode_and_parse", |b| {
        b.iter_batched(
            || bytes.clone(),
            |bytes| {
                let req = leadscore::serve::proto::ScoreRequest::decode(bytes.as_slice())
                    .expect("decode");
                leadscore::serve::grpc::parse_leads(
                    req.leads,
                    leadscore::serve::grpc::DEFAULT_MAX_EVENTS_PER_LEAD,
                )
                .expect("parse")
                .len()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// The speed-comparison gbdt: 300 trees of depth 6 (at most 64 leaves) on
/// 20,000 behavioural leads, as `cargo run --release --example
/// shap_reference_data -- --big DIR` writes it for the shap timing.
fn gbdt_300x6() -> ScoringModel {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let csv = dir.path().join("behavioural.csv");
    std::fs::write(&csv, leadscore::train::synthetic::behavioural(20_000, 5).0).expect("write csv");
    let outcome = train::train(&TrainSettings {
        data: Some(csv),
        target: Some("converted".into()),
        id: Some("lead_id".into()),
        exclude: vec!["account_id".into(), "signup_date".into()],
        params: TrainParams::explain_benchmark(),
        ..Default::default()
    })
    .expect("training the 300-tree model");
    ScoringModel::from_artifact(outcome.artifact).expect("valid model")
}

fn explaining(c: &mut Criterion) {
    let logistic = bundled();
    let (_, logistic_leads) = leads(&logistic, 16);
    let gbdt = gbdt_300x6();
    let (_, gbdt_leads) = leads(&gbdt, 16);
    let mut group = c.benchmark_group("explain_per_lead");
    group.throughput(Throughput::Elements(1));
    for (name, model, leads) in [
        ("logistic_x_education", &logistic, &logistic_leads),
        ("gbdt_300_trees_depth_6", &gbdt, &gbdt_leads),
    ] {
        let encoded: Vec<_> = leads
            .iter()
            .map(|l| model.pipeline().encode(l).expect("encodes"))
            .collect();
        let mut k = 0;
        group.bench_function(format!("{name}/explain"), |b| {
            b.iter(|| {
                k = (k + 1) % leads.len();
                model.explain(black_box(&leads[k]))
            })
        });
        group.bench_function(format!("{name}/contributions_only"), |b| {
            b.iter(|| {
                k = (k + 1) % leads.len();
                model.design_contributions(black_box(&encoded[k].design))
            })
        });
        if let Estimator::Gbdt(trees) = &model.artifact().estimator {
            // The same values by Algorithm 2 alone, for comparison.
            group.bench_function(format!("{name}/algorithm_2_only"), |b| {
                b.iter(|| {
                    k = (k + 1) % leads.len();
                    let mut phi = vec![0.0; encoded[k].design.len()];
                    trees.tree_shap(black_box(&encoded[k].design), &mut phi);
                    phi
                })
            });
        }
        group.bench_function(format!("{name}/suggestion_only"), |b| {
            b.iter(|| {
                k = (k + 1) % leads.len();
                model.suggest(black_box(&encoded[k].design), &encoded[k].used_values)
            })
        });
        group.bench_function(format!("{name}/score"), |b| {
            b.iter(|| {
                k = (k + 1) % leads.len();
                model.score(black_box(&leads[k]))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, encoding, scoring, dense_blocks, wire, explaining);
criterion_main!(benches);
