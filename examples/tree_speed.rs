//! Per-row cost of our tree evaluators and TreeSHAP on one imported model,
//! for `scripts/tree_speed.py`, which runs it between timings of LightGBM on
//! the same model (see docs/benchmarks.md, "Trees against LightGBM").
//!
//! Reads the model, the rows (`rows.f64`: little-endian f64, row-major, one
//! column per feature) and LightGBM's values for them (`reference.json`:
//! `raw` margins, `contrib` for the first rows with the bias last), checks
//! exactness, and prints one JSON object: seconds per row of each evaluator
//! (the median of 5 passes of about 0.1 s each) and the largest differences.
//!
//! usage: cargo run --release --example tree_speed -- MODEL.json ROWS.f64 REFERENCE.json

use std::hint::black_box;
use std::time::Instant;

use leadscore::scoring::features::LeadInput;
use leadscore::scoring::model::{Estimator, ModelArtifact};
use leadscore::scoring::tree_blocks::{CompleteForest, LaneForest};
use leadscore::scoring::trees::FlatForest;

/// Seconds per row of `f`, which handles `rows_per_call` rows: the median of
/// 5 passes of about 0.1 s.
fn seconds_per_row(rows_per_call: usize, mut f: impl FnMut(usize)) -> f64 {
    let mut calls = 1;
    loop {
        let start = Instant::now();
        for i in 0..calls {
            f(i);
        }
        if start.elapsed().as_secs_f64() > 0.02 {
            break;
        }
        calls *= 2;
    }
    calls *= 5;
    let mut passes: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            for i in 0..calls {
                f(i);
            }
            start.elapsed().as_secs_f64() / (calls * rows_per_call) as f64
        })
        .collect();
    passes.sort_by(f64::total_cmp);
    passes[2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model_path, rows_path, reference_path] = args.as_slice() else {
        return Err("usage: tree_speed MODEL.json ROWS.f64 REFERENCE.json".into());
    };
    let model = ModelArtifact::read(model_path.as_ref())?;
    let Estimator::Gbdt(gbdt) = &model.artifact().estimator else {
        return Err("not a gbdt model".into());
    };
    let width = model.pipeline().design_width();
    let columns = model.pipeline().specs().len();
    let bytes = std::fs::read(rows_path)?;
    let values: Vec<f64> = bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect();
    // The design rows, as the server encodes them.
    let mut design = Vec::with_capacity(values.len() / columns * width);
    for row in values.chunks_exact(columns) {
        let encoded = model
            .pipeline()
            .encode_for_scoring(&LeadInput::Dense(row.to_vec()))?;
        design.extend_from_slice(&encoded.design);
    }
    let n = design.len() / width;
    let reference: serde_json::Value = serde_json::from_slice(&std::fs::read(reference_path)?)?;
    let raw: Vec<f64> = serde_json::from_value(reference["raw"].clone())?;
    let contrib: Vec<Vec<f64>> = serde_json::from_value(reference["contrib"].clone())?;

    // The evaluator the server used before the complete layout: the flat
    // layout when the model fits it, else the plain walk (LightGBM's
    // default-left splits do not fit the flat layout).
    let flat = FlatForest::new(gbdt);
    let walk = |row: &[f64]| match &flat {
        Some(flat) => flat.margin(row),
        None => gbdt.margin(row),
    };
    let complete = CompleteForest::new(gbdt).ok_or("no complete layout")?;
    let lanes = LaneForest::new(gbdt).ok_or("no lane layout")?;
    let row = |i: usize| &design[(i % n) * width..(i % n + 1) * width];

    // Exactness against LightGBM.
    let mut margins = vec![0.0; n];
    assert!(complete.margins(&design, width, &mut margins));
    let mut margin_diff = 0.0f64;
    for (i, (ours, theirs)) in margins.iter().zip(&raw).enumerate() {
        margin_diff = margin_diff.max((ours - theirs).abs());
        assert_eq!(ours.to_bits(), walk(row(i)).to_bits());
        assert_eq!(
            Some(ours.to_bits()),
            complete.margin(row(i)).map(f64::to_bits)
        );
    }
    let mut contrib_diff = 0.0f64;
    // The batched TreeSHAP equals the per-row one bit for bit.
    let mut phi_rows = vec![0.0; 200 * width];
    model.design_contributions_rows(&design[..200 * width], width, &mut phi_rows);
    for (i, batched) in phi_rows.chunks_exact(width).enumerate() {
        let one = model.design_contributions(row(i));
        assert!(
            one.iter()
                .zip(batched)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "row {i}"
        );
    }
    for (i, theirs) in contrib.iter().enumerate() {
        let ours = model.design_contributions(row(i));
        for (a, b) in ours.iter().zip(theirs) {
            contrib_diff = contrib_diff.max((a - b).abs());
        }
    }

    let mut out = vec![0.0; 100];
    let mut phi32 = vec![0.0; 32 * width];
    let blocks = n / 100;
    let figures = [
        (
            "walk_batch_1",
            seconds_per_row(1, |i| {
                black_box(walk(row(i)));
            }),
        ),
        (
            "complete_batch_1",
            seconds_per_row(1, |i| {
                black_box(complete.margin(row(i)));
            }),
        ),
        (
            "walk_batch_100",
            seconds_per_row(100, |i| {
                let b = i % blocks;
                for (k, slot) in out.iter_mut().enumerate() {
                    *slot = walk(row(b * 100 + k));
                }
                black_box(&out);
            }),
        ),
        (
            "complete_batch_100",
            seconds_per_row(100, |i| {
                let b = i % blocks;
                complete.margins(
                    &design[b * 100 * width..(b + 1) * 100 * width],
                    width,
                    &mut out,
                );
                black_box(&out);
            }),
        ),
        (
            "lanes_batch_1",
            seconds_per_row(1, |i| {
                black_box(lanes.margin(row(i)));
            }),
        ),
        (
            "lanes_batch_100",
            seconds_per_row(100, |i| {
                let b = i % blocks;
                lanes.margins(
                    &design[b * 100 * width..(b + 1) * 100 * width],
                    width,
                    &mut out,
                );
                black_box(&out);
            }),
        ),
        (
            "treeshap_batch_1",
            seconds_per_row(1, |i| {
                black_box(model.design_contributions(row(i % 200)));
            }),
        ),
        (
            "treeshap_batch_32",
            seconds_per_row(32, |i| {
                let b = i % 20;
                model.design_contributions_rows(
                    &design[b * 32 * width..(b + 1) * 32 * width],
                    width,
                    &mut phi32,
                );
                black_box(&phi32);
            }),
        ),
    ];
    let seconds: serde_json::Map<String, serde_json::Value> = figures
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "seconds_per_row": seconds,
            "exactness": {"margin": margin_diff, "contrib": contrib_diff},
            "walk": if flat.is_some() { "flat" } else { "plain" },
            "depth": complete.depth(),
            "trees": gbdt.trees.len(),
        })
    );
    Ok(())
}
