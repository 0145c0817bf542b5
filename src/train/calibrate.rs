//! Fitting the probability calibration that [`crate::scoring::calibration`]
//! stores and applies.
//!
//! Every fitter is checked against scikit-learn in
//! `tests/api/calibration_reference.rs` (values written by
//! `scripts/calibration_reference.py`):
//! - [`fit_platt`]: `sklearn.calibration._sigmoid_calibration` (Platt 1999,
//!   smoothed targets), fitted here by Newton's method instead of L-BFGS-B.
//! - [`fit_beta`]: beta calibration (Kull, Silva Filho and Flach 2017), the
//!   logistic regression of Platt's smoothed targets on `ln s` and
//!   `−ln(1 − s)` with both weights ≥ 0; checked against scikit-learn's
//!   unpenalised `LogisticRegression` on the same two columns.
//! - [`fit_isotonic`]: `IsotonicRegression(out_of_bounds="clip")` with
//!   `increasing=True`, pool-adjacent-violators, ties in the input pooled.

use crate::scoring::calibration::Calibration;
use crate::scoring::math::softplus;

/// One usable calibration row: finite log-odds, positive finite weight.
struct CalibrationRow {
    /// The estimator's log-odds.
    z: f64,
    /// 1 for a positive, 0 for a negative.
    y: f64,
    /// Sample weight (1 when unweighted).
    w: f64,
}

/// Pairs inputs up to the shortest slice (a weights slice of another length
/// is ignored) and drops rows with non-finite log-odds or a weight that is
/// not finite and positive (scikit-learn drops zero weights too).
fn usable_rows(log_odds: &[f64], labels: &[bool], weights: Option<&[f64]>) -> Vec<CalibrationRow> {
    let n = log_odds.len().min(labels.len());
    let weights = weights.filter(|w| w.len() == n);
    (0..n)
        .map(|i| CalibrationRow {
            z: log_odds[i],
            y: f64::from(u8::from(labels[i])),
            w: weights.map_or(1.0, |w| w[i]),
        })
        .filter(|r| r.z.is_finite() && r.w.is_finite() && r.w > 0.0)
        .collect()
}

/// Fits Platt scaling `p = 1 / (1 + exp(a·z + b))` as scikit-learn's
/// `_sigmoid_calibration`: minimises the (weighted) cross-entropy against
/// Platt's smoothed targets `(N₊ + 1)/(N₊ + 2)` for positives and
/// `1/(N₋ + 2)` for negatives, N counted in weight, from scikit-learn's
/// start `(0, ln((N₋ + 1)/(N₊ + 1)))`.
///
/// The objective is convex in (a, b); we use Newton's method with the exact
/// Hessian and a backtracking line search to a gradient of ~1e-12, where
/// scikit-learn stops L-BFGS-B at `gtol = 1e-6`: both reach the same
/// minimum, ours more tightly.
///
/// Rows with non-finite log-odds or non-positive weights are ignored;
/// `weights` of the wrong length are ignored. With no usable row the result
/// is [`Calibration::None`]. If the unconstrained optimum has `a > 0` (the
/// score ranks backwards on the calibration rows) the fit is constrained to
/// `a = 0`: the best non-decreasing Platt map is then the constant smoothed
/// base rate, and [`Calibration::validate`] accepts it.
pub fn fit_platt(log_odds: &[f64], labels: &[bool], weights: Option<&[f64]>) -> Calibration {
    let rows = usable_rows(log_odds, labels, weights);
    if rows.is_empty() {
        return Calibration::None;
    }
    let prior1: f64 = rows.iter().map(|r| r.w * r.y).sum();
    let prior0: f64 = rows.iter().map(|r| r.w * (1.0 - r.y)).sum();
    let targets = smoothed_targets(&rows);
    let scale = z_scale(&rows);
    let problem = PlattProblem {
        rows: &rows,
        targets: &targets,
        scale,
    };
    let start = [0.0, ((prior0 + 1.0) / (prior1 + 1.0)).ln()];
    let [a, b] = minimise(&problem, start, [true, true]);
    let [a, b] = if a > 0.0 {
        minimise(&problem, [0.0, start[1]], [false, true])
    } else {
        [a, b]
    };
    Calibration::Platt { a: a / scale, b }
}

/// Platt's objective on scaled log-odds.
struct PlattProblem<'a> {
    /// Usable calibration rows.
    rows: &'a [CalibrationRow],
    /// Platt's smoothed target per row.
    targets: &'a [f64],
    /// Divisor applied to every z.
    scale: f64,
}

impl ConvexLoss<2> for PlattProblem<'_> {
    /// Weighted cross-entropy Σ w·[−t·ln p − (1 − t)·ln(1 − p)] with
    /// p = σ(−(a·x + b)), written with softplus so it is exact in the tails.
    fn loss(&self, [a, b]: [f64; 2]) -> f64 {
        self.rows
            .iter()
            .zip(self.targets)
            .map(|(r, &t)| {
                let s = -(a * r.z / self.scale + b); // raw prediction (logit of p)
                r.w * (softplus(s) - t * s)
            })
            .sum()
    }

    /// Gradient and Hessian in (a, b).
    fn derivatives(&self, [a, b]: [f64; 2]) -> ([f64; 2], [[f64; 2]; 2]) {
        let mut g = [0.0; 2];
        let mut h = [[0.0; 2]; 2];
        for (r, &t) in self.rows.iter().zip(self.targets) {
            let x = r.z / self.scale;
            let p = 1.0 / (1.0 + (a * x + b).exp());
            // d loss / d u with u = a·x + b is t − p; d² is p(1 − p).
            let d1 = r.w * (t - p);
            let d2 = r.w * p * (1.0 - p);
            g[0] += d1 * x;
            g[1] += d1;
            h[0][0] += d2 * x * x;
            h[0][1] += d2 * x;
            h[1][1] += d2;
        }
        h[1][0] = h[0][1];
        (g, h)
    }

    fn total_weight(&self) -> f64 {
        self.rows.iter().map(|r| r.w).sum()
    }
}

/// A smooth convex objective in N parameters, for [`minimise`].
trait ConvexLoss<const N: usize> {
    /// The objective at `x`.
    fn loss(&self, x: [f64; N]) -> f64;
    /// Its gradient and Hessian at `x`.
    fn derivatives(&self, x: [f64; N]) -> ([f64; N], [[f64; N]; N]);
    /// Total row weight, the scale of the gradient's stopping rule.
    fn total_weight(&self) -> f64;
}

/// Damped Newton from `start`, moving only the coordinates `free` marks
/// (a fixed one gets no gradient and an identity row and column, so every
/// step leaves it where it is), to a gradient of ~1e-13 per unit of weight.
fn minimise<const N: usize>(
    problem: &impl ConvexLoss<N>,
    start: [f64; N],
    free: [bool; N],
) -> [f64; N] {
    let total_weight = problem.total_weight();
    let mut x = start;
    let mut fx = problem.loss(x);
    for _ in 0..200 {
        let (mut g, mut h) = problem.derivatives(x);
        for (i, _) in free.iter().enumerate().filter(|(_, &f)| !f) {
            g[i] = 0.0;
            h[i] = [0.0; N];
            for row in &mut h {
                row[i] = 0.0;
            }
            h[i][i] = 1.0;
        }
        if g.iter().fold(0.0f64, |m, v| m.max(v.abs())) <= 1e-13 * total_weight.max(1.0) {
            break;
        }
        let step = solve(h, g);
        // Newton decrement g·H⁻¹g / 2 is the loss still to gain: once it is
        // at rounding level, a line search can only burn passes over the
        // rows (a million of them, in the trainer's scaling runs).
        let decrement = 0.5 * g.iter().zip(&step).map(|(g, s)| g * s).sum::<f64>();
        if decrement.is_finite() && decrement <= 1e-13 * fx.abs().max(1.0) {
            break;
        }
        // Backtracking: Newton's full step is right near the optimum; far
        // from it (separable data) halve until the loss drops.
        let mut t = 1.0;
        let mut moved = false;
        for _ in 0..60 {
            let mut candidate = x;
            for (c, s) in candidate.iter_mut().zip(&step) {
                *c -= t * s;
            }
            let fc = problem.loss(candidate);
            if fc.is_finite() && fc <= fx {
                moved = candidate != x;
                x = candidate;
                fx = fc;
                break;
            }
            t *= 0.5;
        }
        // No step lowers the loss any more: converged to rounding.
        if !moved {
            break;
        }
    }
    x
}

/// Solves the symmetric positive semi-definite system H·s = g by Gaussian
/// elimination, adding a growing ridge while H is (nearly) singular (all z
/// equal, a class with no weight) so the step stays finite; a plain
/// gradient step of sensible length if even that fails.
fn solve<const N: usize>(h: [[f64; N]; N], g: [f64; N]) -> [f64; N] {
    let trace = (0..N).map(|i| h[i][i]).sum::<f64>().max(1e-300);
    let mut ridge = 0.0;
    for _ in 0..5 {
        let mut a = h;
        let mut b = g;
        for (i, row) in a.iter_mut().enumerate() {
            row[i] += ridge;
        }
        let mut ok = true;
        for k in 0..N {
            let pivot = a[k][k];
            // Also false for NaN.
            if pivot.partial_cmp(&(1e-12 * trace)) != Some(std::cmp::Ordering::Greater) {
                ok = false;
                break;
            }
            let (upper, lower) = a.split_at_mut(k + 1);
            let pivot_row = upper[k];
            for (offset, row) in lower.iter_mut().enumerate() {
                let f = row[k] / pivot;
                for (x, p) in row.iter_mut().zip(pivot_row).skip(k) {
                    *x -= f * p;
                }
                b[k + 1 + offset] -= f * b[k];
            }
        }
        if ok {
            let mut s = [0.0; N];
            for k in (0..N).rev() {
                let tail: f64 = (k + 1..N).map(|j| a[k][j] * s[j]).sum();
                s[k] = (b[k] - tail) / a[k][k];
            }
            if s.iter().all(|v| v.is_finite()) {
                return s;
            }
        }
        ridge = if ridge == 0.0 {
            1e-9 * trace
        } else {
            ridge * 1e3
        };
    }
    g.map(|v| v / trace)
}

/// The divisor of every z in the fits: its largest magnitude, at least 1.
/// Newton is scale-invariant in exact arithmetic; dividing z by its largest
/// magnitude (as scikit-learn does above 30) keeps the Hessian well
/// conditioned for wildly scaled scores.
fn z_scale(rows: &[CalibrationRow]) -> f64 {
    rows.iter()
        .map(|r| r.z.abs())
        .fold(0.0f64, f64::max)
        .max(1.0)
}

/// Platt's smoothed targets `(N₊ + 1)/(N₊ + 2)` for positives and
/// `1/(N₋ + 2)` for negatives (N counted in weight), one per row.
fn smoothed_targets(rows: &[CalibrationRow]) -> Vec<f64> {
    let prior1: f64 = rows.iter().map(|r| r.w * r.y).sum();
    let prior0: f64 = rows.iter().map(|r| r.w * (1.0 - r.y)).sum();
    let hi = (prior1 + 1.0) / (prior1 + 2.0);
    let lo = 1.0 / (prior0 + 2.0);
    rows.iter()
        .map(|r| if r.y > 0.5 { hi } else { lo })
        .collect()
}

/// Fits beta calibration `p = sigmoid(a·ln s − b·ln(1 − s) + c)`,
/// `s = sigmoid(z)` (see [`Calibration::Beta`]): the weighted cross-entropy
/// against Platt's smoothed targets (as [`fit_platt`]), minimised over
/// `a, b ≥ 0` and any `c`.
///
/// The objective is convex; Newton's method starts from the Platt fit
/// (`a = b`, a point of this family), so the result is never worse than
/// Platt on the calibration rows. The weights must not be negative: if the
/// unconstrained optimum has a negative one, each face of the constraint
/// (`a = 0`, `b = 0`, both) is minimised and the best feasible optimum kept.
///
/// Rows with non-finite log-odds or non-positive weights are ignored;
/// `weights` of the wrong length are ignored. With no usable row the result
/// is [`Calibration::None`].
pub fn fit_beta(log_odds: &[f64], labels: &[bool], weights: Option<&[f64]>) -> Calibration {
    let rows = usable_rows(log_odds, labels, weights);
    if rows.is_empty() {
        return Calibration::None;
    }
    let targets = smoothed_targets(&rows);
    // Columns ln s = −softplus(−z) and −ln(1 − s) = softplus(z), both
    // within |z| + ln 2, divided by the same scale as Platt's z.
    let scale = z_scale(&rows);
    let features: Vec<[f64; 3]> = rows
        .iter()
        .map(|r| [-softplus(-r.z) / scale, softplus(r.z) / scale, 1.0])
        .collect();
    let problem = LogisticProblem {
        features: &features,
        targets: &targets,
        weights: rows.iter().map(|r| r.w).collect(),
    };
    let start = match fit_platt(log_odds, labels, weights) {
        // u = −(a_p·z + b_p) = (−a_p)·(ln s − ln(1 − s)) − b_p.
        Calibration::Platt { a, b } => [-a * scale, -a * scale, -b],
        _ => [scale, scale, 0.0],
    };
    let free = minimise(&problem, start, [true, true, true]);
    let best = if free[0] >= 0.0 && free[1] >= 0.0 {
        free
    } else {
        let faces = [
            [false, true, true],
            [true, false, true],
            [false, false, true],
        ];
        faces
            .iter()
            .map(|&mask| {
                let from = [
                    if mask[0] { start[0].max(0.0) } else { 0.0 },
                    if mask[1] { start[1].max(0.0) } else { 0.0 },
                    start[2],
                ];
                minimise(&problem, from, mask)
            })
            .filter(|t| t[0] >= 0.0 && t[1] >= 0.0)
            .min_by(|p, q| problem.loss(*p).total_cmp(&problem.loss(*q)))
            .unwrap_or([0.0, 0.0, start[2]])
    };
    Calibration::Beta {
        a: best[0] / scale,
        b: best[1] / scale,
        c: best[2],
    }
}

/// Weighted cross-entropy of `sigmoid(θ·x)` against soft targets, over three
/// fixed columns per row.
struct LogisticProblem<'a> {
    /// Each row's columns.
    features: &'a [[f64; 3]],
    /// Soft target per row.
    targets: &'a [f64],
    /// Weight per row.
    weights: Vec<f64>,
}

impl ConvexLoss<3> for LogisticProblem<'_> {
    /// Σ w·[softplus(u) − t·u], u = θ·x.
    fn loss(&self, theta: [f64; 3]) -> f64 {
        self.features
            .iter()
            .zip(self.targets)
            .zip(&self.weights)
            .map(|((x, &t), &w)| {
                let u = theta[0] * x[0] + theta[1] * x[1] + theta[2] * x[2];
                w * (softplus(u) - t * u)
            })
            .sum()
    }

    /// Gradient and Hessian in θ.
    fn derivatives(&self, theta: [f64; 3]) -> ([f64; 3], [[f64; 3]; 3]) {
        let mut g = [0.0; 3];
        let mut h = [[0.0; 3]; 3];
        for ((x, &t), &w) in self.features.iter().zip(self.targets).zip(&self.weights) {
            let u = theta[0] * x[0] + theta[1] * x[1] + theta[2] * x[2];
            let p = crate::scoring::math::sigmoid(u);
            let (d1, d2) = (w * (p - t), w * p * (1.0 - p));
            for i in 0..3 {
                g[i] += d1 * x[i];
                for j in 0..3 {
                    h[i][j] += d2 * x[i] * x[j];
                }
            }
        }
        (g, h)
    }

    fn total_weight(&self) -> f64 {
        self.weights.iter().sum()
    }
}

/// Fits isotonic regression of the label on z, as scikit-learn's
/// `IsotonicRegression(out_of_bounds="clip", increasing=True)`:
/// rows sorted by z; z values closer than 1e-15 to the first of their run
/// pooled into one point at that first value with the weighted mean label
/// (scikit-learn's `_make_unique`, resolution of float64);
/// pool-adjacent-violators with weights (a block merges into its
/// predecessor while the predecessor's mean is ≥ its own, so block means
/// increase strictly); then, as scikit-learn's `trim_duplicates`, only the
/// first and last knot of each block are kept.
///
/// Rows with non-finite log-odds or non-positive weights are ignored;
/// `weights` of the wrong length are ignored. With no usable row the result
/// is [`Calibration::None`]; with a single distinct z it is the constant
/// weighted positive rate (two knots at −1 and 1 carrying the same value,
/// which clip to that constant everywhere).
pub fn fit_isotonic(log_odds: &[f64], labels: &[bool], weights: Option<&[f64]>) -> Calibration {
    let mut rows = usable_rows(log_odds, labels, weights);
    if rows.is_empty() {
        return Calibration::None;
    }
    rows.sort_by(|p, q| p.z.total_cmp(&q.z).then(p.y.total_cmp(&q.y)));

    /// A run of pooled points with one fitted value.
    struct Block {
        /// Σ w·y over the block.
        sum_wy: f64,
        /// Σ w over the block.
        sum_w: f64,
        /// First (lowest) z of the block.
        z_first: f64,
        /// Last (highest) z of the block.
        z_last: f64,
    }
    impl Block {
        fn mean(&self) -> f64 {
            self.sum_wy / self.sum_w
        }
    }

    // Unique z with pooled labels, in increasing z.
    // numpy's `finfo(float64).resolution`, the pooling distance of
    // scikit-learn's `_make_unique`.
    let eps = 1e-15;
    let mut unique: Vec<Block> = Vec::new();
    for r in &rows {
        match unique.last_mut() {
            Some(last) if r.z - last.z_first < eps => {
                last.sum_wy += r.w * r.y;
                last.sum_w += r.w;
            }
            _ => unique.push(Block {
                sum_wy: r.w * r.y,
                sum_w: r.w,
                z_first: r.z,
                z_last: r.z,
            }),
        }
    }

    // Pool adjacent violators, single pass with a stack.
    let mut blocks: Vec<Block> = Vec::with_capacity(unique.len());
    for point in unique {
        blocks.push(point);
        while blocks.len() >= 2 {
            let n = blocks.len();
            if blocks[n - 2].mean() >= blocks[n - 1].mean() {
                if let Some(top) = blocks.pop() {
                    if let Some(prev) = blocks.last_mut() {
                        prev.sum_wy += top.sum_wy;
                        prev.sum_w += top.sum_w;
                        prev.z_last = top.z_last;
                    }
                }
            } else {
                break;
            }
        }
    }

    let mut knots_z = Vec::with_capacity(2 * blocks.len());
    let mut knots_p = Vec::with_capacity(2 * blocks.len());
    for block in &blocks {
        let p = block.mean().clamp(0.0, 1.0);
        knots_z.push(block.z_first);
        knots_p.push(p);
        if block.z_last > block.z_first {
            knots_z.push(block.z_last);
            knots_p.push(p);
        }
    }
    if knots_z.len() < 2 {
        let p = knots_p.first().copied().unwrap_or(0.5);
        return Calibration::Isotonic {
            log_odds: vec![-1.0, 1.0],
            probabilities: vec![p, p],
        };
    }
    Calibration::Isotonic {
        log_odds: knots_z,
        probabilities: knots_p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::calibration::*;

    fn isotonic(z: &[f64], p: &[f64]) -> Calibration {
        Calibration::Isotonic {
            log_odds: z.to_vec(),
            probabilities: p.to_vec(),
        }
    }

    #[test]
    fn serde_uses_a_method_tag() {
        let json = serde_json::to_string(&Calibration::Platt { a: -1.5, b: 0.25 }).expect("json");
        assert_eq!(json, r#"{"method":"platt","a":-1.5,"b":0.25}"#);
        assert_eq!(
            serde_json::from_str::<Calibration>(r#"{"method":"none"}"#).expect("none"),
            Calibration::None
        );
        let iso = isotonic(&[-1.0, 2.0], &[0.1, 0.8]);
        let back: Calibration =
            serde_json::from_str(&serde_json::to_string(&iso).expect("json")).expect("back");
        assert_eq!(back, iso);
        assert_eq!(iso.method(), "isotonic");
        assert_eq!(Calibration::default().method(), "none");
    }

    #[test]
    fn validate_rejects_what_apply_cannot_serve() {
        let bad = [
            Calibration::Platt { a: 0.5, b: 0.0 },
            Calibration::Platt {
                a: f64::NAN,
                b: 0.0,
            },
            Calibration::Platt {
                a: -1.0,
                b: f64::INFINITY,
            },
            isotonic(&[0.0], &[0.5]),
            isotonic(&[], &[]),
            isotonic(&[0.0, 1.0], &[0.5]),
            isotonic(&[0.0, 0.0], &[0.1, 0.2]),
            isotonic(&[1.0, 0.0], &[0.1, 0.2]),
            isotonic(&[0.0, 1.0], &[0.3, 0.2]),
            isotonic(&[0.0, 1.0], &[-0.1, 0.2]),
            isotonic(&[0.0, 1.0], &[0.1, f64::NAN]),
            isotonic(&[0.0, f64::INFINITY], &[0.1, 0.2]),
            Calibration::Beta {
                a: -0.1,
                b: 1.0,
                c: 0.0,
            },
            Calibration::Beta {
                a: 1.0,
                b: -0.1,
                c: 0.0,
            },
            Calibration::Beta {
                a: 1.0,
                b: 1.0,
                c: f64::NAN,
            },
            Calibration::Beta {
                a: f64::INFINITY,
                b: 1.0,
                c: 0.0,
            },
        ];
        for c in &bad {
            assert!(c.validate().is_err(), "{c:?} accepted");
            // Even invalid maps must not panic when applied.
            let _ = c.apply(0.3);
        }
        for good in [
            Calibration::None,
            Calibration::Platt { a: -1.0, b: 0.3 },
            Calibration::Platt { a: 0.0, b: 0.3 },
            Calibration::Beta {
                a: 0.0,
                b: 0.0,
                c: 0.3,
            },
            isotonic(&[-2.0, 0.0, 3.0], &[0.0, 0.0, 1.0]),
        ] {
            good.validate().expect("valid");
        }
    }

    #[test]
    fn apply_is_monotone_and_strictly_inside_the_unit_interval() {
        let maps = [
            Calibration::None,
            Calibration::Platt { a: -2.0, b: 0.5 },
            Calibration::Platt { a: 0.0, b: -1.0 },
            Calibration::Beta {
                a: 0.4,
                b: 2.5,
                c: -0.3,
            },
            Calibration::Beta {
                a: 0.0,
                b: 1.5,
                c: 0.2,
            },
            Calibration::Beta {
                a: 3.0,
                b: 0.0,
                c: 0.2,
            },
            isotonic(&[-2.0, 0.0, 0.0000001, 3.0], &[0.0, 0.2, 0.7, 1.0]),
        ];
        let mut zs: Vec<f64> = (-4000..=4000).map(|i| i as f64 / 100.0).collect();
        zs.extend([
            f64::NEG_INFINITY,
            -1e308,
            -800.0,
            800.0,
            1e308,
            f64::INFINITY,
        ]);
        zs.sort_by(f64::total_cmp);
        for c in &maps {
            let ps: Vec<f64> = zs.iter().map(|&z| c.apply(z)).collect();
            assert!(ps.iter().all(|&p| p > 0.0 && p < 1.0), "{c:?}");
            assert!(ps.windows(2).all(|w| w[0] <= w[1]), "{c:?} not monotone");
            assert!(c.apply(f64::NAN).is_nan());
        }
        assert_eq!(Calibration::None.apply(0.0), 0.5);
        // Platt with a = −1, b = 0 is the plain sigmoid.
        let identity = Calibration::Platt { a: -1.0, b: 0.0 };
        assert_eq!(identity.apply(1.3), Calibration::None.apply(1.3));
        // Beta with a = b = 1, c = 0 is the identity; a = b is Platt.
        let beta = |a, b, c| Calibration::Beta { a, b, c };
        for z in [-30.0, -2.5, 0.0, 0.7, 12.0] {
            assert!((beta(1.0, 1.0, 0.0).apply(z) - Calibration::None.apply(z)).abs() < 1e-15);
            let platt = Calibration::Platt { a: -1.7, b: 0.4 };
            assert!((beta(1.7, 1.7, -0.4).apply(z) - platt.apply(z)).abs() < 1e-14);
        }
        // Isotonic interpolates and clips.
        let c = isotonic(&[0.0, 2.0], &[0.2, 0.6]);
        assert!((c.apply(1.0) - 0.4).abs() < 1e-15);
        assert_eq!(c.apply(-5.0), 0.2);
        assert_eq!(c.apply(5.0), 0.6);
        assert_eq!(
            isotonic(&[0.0, 1.0], &[0.0, 1.0]).apply(-1.0),
            ISOTONIC_PROBABILITY_FLOOR
        );
    }

    #[test]
    fn beta_is_never_worse_than_platt_and_finds_two_slopes() {
        // Truth with slope 2 below z = 0 and 0.5 above: Platt's single slope
        // cannot follow it, beta's two can.
        let z: Vec<f64> = (0..4000)
            .map(|i| -6.0 + 12.0 * f64::from(i) / 3999.0)
            .collect();
        let truth = |z: f64| crate::scoring::math::sigmoid(if z < 0.0 { 2.0 * z } else { 0.5 * z });
        // Deterministic labels: row i is positive when its quasi-random
        // draw (golden-ratio sequence) falls under the truth.
        let y: Vec<bool> = z
            .iter()
            .enumerate()
            .map(|(i, &z)| (i as f64 * 0.618_033_988_749_895).fract() < truth(z))
            .collect();
        let loss = |c: &Calibration| -> f64 {
            z.iter()
                .zip(&y)
                .map(|(&z, &y)| {
                    let p = c.apply(z);
                    -(if y { p.ln() } else { (1.0 - p).ln() })
                })
                .sum()
        };
        let platt = fit_platt(&z, &y, None);
        let beta = fit_beta(&z, &y, None);
        beta.validate().expect("valid");
        assert!(loss(&beta) < loss(&platt), "{beta:?} vs {platt:?}");
        let Calibration::Beta { a, b, .. } = beta else {
            panic!("beta expected");
        };
        assert!(a > 1.5 && a < 2.5 && b > 0.3 && b < 0.8, "a = {a}, b = {b}");
    }

    #[test]
    fn isotonic_pools_ties_and_violators() {
        // z: 0, 1, 1, 2, 3 with labels 1, 0, 1, 0, 1: the tie at 1 pools to
        // 0.5; PAV then pools {0, 1, 2} to mean 2/4 = 0.5; 3 stays at 1.
        let fitted = fit_isotonic(
            &[1.0, 0.0, 3.0, 1.0, 2.0],
            &[false, true, true, true, false],
            None,
        );
        assert_eq!(fitted, isotonic(&[0.0, 2.0, 3.0], &[0.5, 0.5, 1.0]));
        fitted.validate().expect("valid");
        // Weights: a zero weight drops the row.
        let w = fit_isotonic(
            &[0.0, 1.0, 2.0],
            &[true, false, true],
            Some(&[0.0, 1.0, 1.0]),
        );
        assert_eq!(w, isotonic(&[1.0, 2.0], &[0.0, 1.0]));
    }

    #[test]
    fn fitters_handle_degenerate_input() {
        assert_eq!(fit_platt(&[], &[], None), Calibration::None);
        assert_eq!(fit_isotonic(&[f64::NAN], &[true], None), Calibration::None);
        // One distinct z: a constant map at the positive rate.
        let c = fit_isotonic(&[0.3, 0.3, 0.3, 0.3], &[true, false, false, false], None);
        c.validate().expect("valid");
        assert_eq!(c.apply(-9.0), 0.25);
        assert_eq!(c.apply(9.0), 0.25);
        for (z, y) in [
            // One class only.
            (vec![0.1, 0.5, 0.9], vec![true, true, true]),
            // All z equal.
            (vec![0.2; 4], vec![true, false, true, false]),
            // Perfectly separable.
            (vec![-3.0, -1.0, 1.0, 3.0], vec![false, false, true, true]),
            // Backwards: higher score, fewer positives.
            (vec![-3.0, -1.0, 1.0, 3.0], vec![true, true, false, false]),
            // Huge scores (scikit-learn rescales above 30).
            (
                vec![-4e5, -1e5, 2e5, 9e5, 1e6],
                vec![false, true, false, true, true],
            ),
        ] {
            let c = fit_platt(&z, &y, None);
            c.validate().unwrap_or_else(|e| panic!("{z:?} {y:?}: {e}"));
            let p = c.apply(z[0]);
            assert!(p > 0.0 && p < 1.0);
            let c = fit_isotonic(&z, &y, None);
            c.validate().unwrap_or_else(|e| panic!("{z:?} {y:?}: {e}"));
            let c = fit_beta(&z, &y, None);
            c.validate()
                .unwrap_or_else(|e| panic!("beta {z:?} {y:?}: {e}"));
            let p = c.apply(z[0]);
            assert!(p > 0.0 && p < 1.0);
        }
        assert_eq!(fit_beta(&[], &[], None), Calibration::None);
        // Backwards scores give the constant smoothed base rate (a = 0).
        let Calibration::Platt { a, b } =
            fit_platt(&[-3.0, -1.0, 1.0, 3.0], &[true, true, false, false], None)
        else {
            panic!("platt expected");
        };
        assert_eq!(a, 0.0);
        // Targets (2+1)/(2+2) and 1/(2+2): their mean 0.5 ⇒ b = 0.
        assert!(b.abs() < 1e-9, "b = {b}");
    }
}
