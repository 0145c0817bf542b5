//! Calibration fitters, calibration measures and curves against
//! scikit-learn (outside reference).
//!
//! `tests/data/calibration_reference.json` was written by
//! `scripts/calibration_reference.py`; it holds its own inputs (400 seeded
//! log-odds with ties, labels, weights, probabilities, a grid), so this test
//! needs no Python.

use std::path::{Path, PathBuf};

use leadscore::scoring::calibration::{Calibration, ISOTONIC_PROBABILITY_FLOOR};
use leadscore::train::calibrate::{fit_beta, fit_isotonic, fit_platt};
use leadscore::train::evaluation::{
    average_precision, expected_calibration_error, pr_curve, reliability, roc_curve,
};
use serde_json::Value;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn reference() -> Value {
    let text = std::fs::read_to_string(data("calibration_reference.json")).expect("reference file");
    serde_json::from_str(&text).expect("reference JSON")
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// The reference inputs.
struct Inputs {
    log_odds: Vec<f64>,
    labels: Vec<bool>,
    weights: Vec<f64>,
    probabilities: Vec<f64>,
    grid: Vec<f64>,
    bins: usize,
}

fn inputs(r: &Value) -> Inputs {
    let i = &r["inputs"];
    Inputs {
        log_odds: numbers(&i["log_odds"]),
        labels: i["labels"]
            .as_array()
            .expect("labels")
            .iter()
            .map(|v| v.as_i64() == Some(1))
            .collect(),
        weights: numbers(&i["weights"]),
        probabilities: numbers(&i["probabilities"]),
        grid: numbers(&i["grid"]),
        bins: i["bins"].as_u64().expect("bins") as usize,
    }
}

fn assert_close(ours: f64, theirs: f64, tolerance: f64, what: &str) {
    assert!(
        (ours - theirs).abs() <= tolerance,
        "{what}: ours {ours}, scikit-learn {theirs}"
    );
}

#[test]
fn average_precision_matches_scikit_learn() {
    let r = reference();
    let x = inputs(&r);
    let ours = average_precision(&x.labels, &x.log_odds).expect("positives present");
    // Same sum over the same thresholds; only summation order differs.
    assert_close(
        ours,
        r["average_precision"].as_f64().expect("ap"),
        1e-12,
        "AP",
    );
}

#[test]
fn reliability_and_ece_match_calibration_curve() {
    let r = reference();
    let x = inputs(&r);
    let c = &r["calibration_curve"];
    let bins = reliability(&x.labels, &x.probabilities, x.bins);
    let counts = numbers(&c["counts"]);
    let prob_true = numbers(&c["prob_true"]);
    let prob_pred = numbers(&c["prob_pred"]);
    // Same non-empty bins, so the edge rule (probabilities placed exactly
    // on 0.1, 0.2, 0.5, 0.9 by the script) agrees with numpy's searchsorted.
    assert_eq!(bins.len(), counts.len(), "non-empty bins");
    for (k, bin) in bins.iter().enumerate() {
        assert_eq!(bin.rows as f64, counts[k], "rows in bin {k}");
        assert_close(bin.mean_predicted, prob_pred[k], 1e-12, "mean predicted");
        assert_close(bin.observed_rate, prob_true[k], 1e-12, "observed rate");
    }
    let ece = expected_calibration_error(&x.labels, &x.probabilities, x.bins);
    assert_close(ece, c["ece"].as_f64().expect("ece"), 1e-12, "ECE");
}

#[test]
fn curves_are_made_of_scikit_learn_points() {
    let r = reference();
    let x = inputs(&r);
    // Ours drops collinear points and thins to 200; every point it keeps
    // must be one of scikit-learn's, and the ends must be (0,0) and (1,1).
    let theirs: Vec<(f64, f64)> = numbers(&r["roc_curve"]["fpr"])
        .into_iter()
        .zip(numbers(&r["roc_curve"]["tpr"]))
        .collect();
    let roc = roc_curve(&x.labels, &x.log_odds);
    assert_eq!(roc.first(), Some(&(0.0, 0.0)));
    assert_eq!(roc.last(), Some(&(1.0, 1.0)));
    for p in &roc {
        assert!(
            theirs
                .iter()
                .any(|q| (p.0 - q.0).abs() < 1e-12 && (p.1 - q.1).abs() < 1e-12),
            "ROC point {p:?} is not one of scikit-learn's"
        );
    }
    let theirs: Vec<(f64, f64)> = numbers(&r["pr_curve"]["recall"])
        .into_iter()
        .zip(numbers(&r["pr_curve"]["precision"]))
        .collect();
    let pr = pr_curve(&x.labels, &x.log_odds);
    assert_eq!(pr.first(), Some(&(0.0, 1.0)));
    for p in &pr {
        assert!(
            theirs
                .iter()
                .any(|q| (p.0 - q.0).abs() < 1e-12 && (p.1 - q.1).abs() < 1e-12),
            "PR point {p:?} is not one of scikit-learn's"
        );
    }
}

fn check_isotonic(fitted: &Calibration, expected: &Value, x: &Inputs, what: &str) {
    fitted.validate().expect("fitted isotonic validates");
    let Calibration::Isotonic {
        log_odds,
        probabilities,
    } = fitted
    else {
        panic!("{what}: expected an isotonic map, got {}", fitted.method());
    };
    // Same knots: tie pooling, PAV and the trimming of flat runs agree.
    let knots_z = numbers(&expected["knots_log_odds"]);
    let knots_p = numbers(&expected["knots_probabilities"]);
    assert_eq!(log_odds.len(), knots_z.len(), "{what}: knot count");
    for k in 0..knots_z.len() {
        assert_close(log_odds[k], knots_z[k], 1e-12, "knot log-odds");
        assert_close(probabilities[k], knots_p[k], 1e-9, "knot probability");
    }
    // Predictions: scikit-learn's, held to our documented floor.
    let floor = ISOTONIC_PROBABILITY_FLOOR;
    for (zs, key) in [
        (&x.grid, "grid_predictions"),
        (&x.log_odds, "data_predictions"),
    ] {
        for (z, p) in zs.iter().zip(numbers(&expected[key])) {
            let theirs = p.clamp(floor, 1.0 - floor);
            assert_close(fitted.apply(*z), theirs, 1e-9, what);
        }
    }
}

#[test]
fn isotonic_matches_scikit_learn() {
    let r = reference();
    let x = inputs(&r);
    check_isotonic(
        &fit_isotonic(&x.log_odds, &x.labels, None),
        &r["isotonic"],
        &x,
        "isotonic",
    );
    check_isotonic(
        &fit_isotonic(&x.log_odds, &x.labels, Some(&x.weights)),
        &r["isotonic_weighted"],
        &x,
        "isotonic weighted",
    );
}

/// Platt's objective (scikit-learn's, smoothed targets) at (a, b).
fn platt_loss(z: &[f64], y: &[bool], w: Option<&[f64]>, a: f64, b: f64) -> f64 {
    let weight = |i: usize| w.map_or(1.0, |w| w[i]);
    let n1: f64 = (0..y.len()).filter(|&i| y[i]).map(weight).sum();
    let n0: f64 = (0..y.len()).filter(|&i| !y[i]).map(weight).sum();
    (0..y.len())
        .map(|i| {
            let t = if y[i] {
                (n1 + 1.0) / (n1 + 2.0)
            } else {
                1.0 / (n0 + 2.0)
            };
            let p: f64 = 1.0 / (1.0 + (a * z[i] + b).exp());
            -weight(i) * (t * p.ln() + (1.0 - t) * (1.0 - p).ln())
        })
        .sum()
}

fn check_platt(weights: Option<&[f64]>, expected: &Value, x: &Inputs, what: &str) {
    let (a_ref, b_ref) = (
        expected["a"].as_f64().expect("a"),
        expected["b"].as_f64().expect("b"),
    );
    let theirs = numbers(&expected["grid_predictions"]);
    // Our `apply` with scikit-learn's (a, b) reproduces its predictions:
    // the sign convention p = 1 / (1 + exp(a·z + b)) is the same.
    let same = Calibration::Platt { a: a_ref, b: b_ref };
    for (z, p) in x.grid.iter().zip(&theirs) {
        assert_close(same.apply(*z), *p, 1e-12, "apply with scikit-learn's a, b");
    }

    let fitted = fit_platt(&x.log_odds, &x.labels, weights);
    fitted.validate().expect("fitted Platt validates");
    let Calibration::Platt { a, b } = fitted else {
        panic!("{what}: expected Platt, got {}", fitted.method());
    };
    // scikit-learn stops L-BFGS-B at gtol = 1e-6, we run Newton to ~1e-13:
    // the parameters agree to the looser optimiser's precision, not to the
    // last bit (seen: 1e-10 relative in a, 4e-10 in b; 1e-6 leaves room for
    // another scikit-learn / SciPy version taking a different path).
    assert!(
        (a - a_ref).abs() <= 1e-6 * a_ref.abs(),
        "{what} a: ours {a}, scikit-learn {a_ref}"
    );
    assert!(
        (b - b_ref).abs() <= 1e-6 * b_ref.abs().max(1.0),
        "{what} b: ours {b}, scikit-learn {b_ref}"
    );
    // ...and ours is at least as good a minimum of the same objective.
    let ours = platt_loss(&x.log_odds, &x.labels, weights, a, b);
    let sk = platt_loss(&x.log_odds, &x.labels, weights, a_ref, b_ref);
    assert!(
        ours <= sk + 1e-9 * sk,
        "{what} loss: ours {ours}, scikit-learn {sk}"
    );
    for (z, p) in x.grid.iter().zip(&theirs) {
        assert_close(fitted.apply(*z), *p, 1e-6, what);
    }
}

#[test]
fn platt_matches_scikit_learn() {
    let r = reference();
    let x = inputs(&r);
    check_platt(None, &r["platt"], &x, "platt");
    check_platt(Some(&x.weights), &r["platt_weighted"], &x, "platt weighted");
}

/// Checks our beta fit against scikit-learn's unpenalised logistic regression
/// of the smoothed targets on ln s and −ln(1 − s) (`expected`).
fn check_beta(labels: &[bool], weights: Option<&[f64]>, expected: &Value, x: &Inputs, what: &str) {
    let reference = |key: &str| expected[key].as_f64().expect(key);
    let (a_ref, b_ref, c_ref) = (reference("a"), reference("b"), reference("c"));
    let theirs = numbers(&expected["grid_predictions"]);
    // Our `apply` with scikit-learn's coefficients gives its predictions.
    let same = Calibration::Beta {
        a: a_ref,
        b: b_ref,
        c: c_ref,
    };
    for (z, p) in x.grid.iter().zip(&theirs) {
        assert_close(
            same.apply(*z),
            *p,
            1e-12,
            "apply with scikit-learn's a, b, c",
        );
    }
    let fitted = fit_beta(&x.log_odds, labels, weights);
    fitted.validate().expect("fitted beta validates");
    let Calibration::Beta { a, b, c } = fitted else {
        panic!("{what}: expected beta, got {}", fitted.method());
    };
    // Both are Newton to a tight tolerance on the same convex objective.
    for (ours, sk, name) in [(a, a_ref, "a"), (b, b_ref, "b"), (c, c_ref, "c")] {
        assert!(
            (ours - sk).abs() <= 1e-6 * sk.abs().max(1.0),
            "{what} {name}: ours {ours}, scikit-learn {sk}"
        );
    }
    for (z, p) in x.grid.iter().zip(&theirs) {
        assert_close(fitted.apply(*z), *p, 1e-6, what);
    }
}

#[test]
fn beta_matches_scikit_learn() {
    let r = reference();
    let x = inputs(&r);
    check_beta(&x.labels, None, &r["beta"], &x, "beta");
    check_beta(
        &x.labels,
        Some(&x.weights),
        &r["beta_weighted"],
        &x,
        "beta weighted",
    );
    // A truth flat above z = 0: unconstrained, the high-tail weight b would
    // be negative (a decreasing map); ours keeps b = 0 and matches the
    // reference refitted on the ln s column alone.
    let face = &r["beta_face"];
    assert!(face["unconstrained_b"].as_f64().expect("b") < 0.0);
    let labels: Vec<bool> = face["labels"]
        .as_array()
        .expect("labels")
        .iter()
        .map(|v| v.as_i64() == Some(1))
        .collect();
    check_beta(&labels, None, face, &x, "beta on the b = 0 face");
}
