//! Times Explain and its parts on one model file, for before/after
//! comparisons on a noisy machine (see docs/benchmarks.md, "This machine's
//! noise"): build this example at two commits, copy the two binaries aside
//! and run them alternately; each line is the median and the minimum of 7
//! repetitions of `n` calls over 16 leads (the leads `benches/scoring.rs`
//! builds).
//!
//! With a mode (`explain`, `contributions`, `suggest`) it instead runs that
//! call `LEADSCORE_TIMING_N` times (default 20,000) and prints nothing, for
//! `perf record` or `valgrind --tool=cachegrind`.
//!
//! usage: cargo run --release --example explain_timing -- MODEL.json [MODE]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use leadscore::scoring::features::{FeatureKind, LeadInput, RawValue};
use leadscore::scoring::model::{ModelArtifact, ScoringModel};

/// Every feature given, numbers near the median (as in `benches/scoring.rs`).
fn leads(model: &ScoringModel, n: usize) -> Vec<LeadInput> {
    let specs = model.pipeline().specs();
    (0..n)
        .map(|k| {
            let mut map = HashMap::new();
            for spec in specs {
                let value = match spec.kind() {
                    FeatureKind::Numeric => RawValue::Number(
                        spec.imputed_value().parse::<f64>().unwrap_or(0.0)
                            * (0.5 + (k % 7) as f64 / 5.0),
                    ),
                    FeatureKind::Boolean => RawValue::Flag(k % 2 == 0),
                    FeatureKind::Categorical => {
                        let cats = spec.categories();
                        RawValue::Category(cats[k % cats.len()].clone())
                    }
                };
                map.insert(spec.name.clone(), value);
            }
            LeadInput::Named(map)
        })
        .collect()
}

fn time(name: &str, n: usize, mut f: impl FnMut()) {
    let mut runs: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                f();
            }
            start.elapsed().as_secs_f64() * 1e6 / n as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    println!(
        "{name:14} median {:9.2} µs   min {:9.2} µs",
        runs[3], runs[0]
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: explain_timing MODEL.json [explain|contributions|suggest]");
        std::process::exit(2);
    };
    let model = ModelArtifact::read(std::path::Path::new(&path)).expect("a valid model file");
    let leads = leads(&model, 16);
    let encoded: Vec<_> = leads
        .iter()
        .map(|l| model.pipeline().encode(l).expect("encodes"))
        .collect();
    let count = leads.len();
    let mut k = 0;
    let mut next = move || {
        k = (k + 1) % count;
        k
    };
    if let Some(mode) = args.next() {
        let n = std::env::var("LEADSCORE_TIMING_N")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20_000);
        for _ in 0..n {
            let k = next();
            match mode.as_str() {
                "contributions" => {
                    black_box(model.design_contributions(black_box(&encoded[k].design)));
                }
                "suggest" => {
                    black_box(
                        model.suggest(black_box(&encoded[k].design), &encoded[k].used_values),
                    );
                }
                _ => {
                    black_box(model.explain(black_box(&leads[k])).expect("explains"));
                }
            }
        }
        return;
    }
    time("explain", 300, || {
        let k = next();
        black_box(model.explain(black_box(&leads[k])).expect("explains"));
    });
    time("contributions", 300, || {
        let k = next();
        black_box(model.design_contributions(black_box(&encoded[k].design)));
    });
    time("suggest", 300, || {
        let k = next();
        black_box(model.suggest(black_box(&encoded[k].design), &encoded[k].used_values));
    });
    time("score", 3000, || {
        let k = next();
        black_box(model.score(black_box(&leads[k])).expect("scores"));
    });
}
