//! L2-regularised logistic regression fitting.
//!
//! Unweighted fits use linfa-logistic (checked against scikit-learn in
//! `tests/api/reference.rs`). linfa-logistic ignores sample weights, so
//! class-weighted fits use our own Newton solver for the same objective,
//! `Σ wᵢ · logloss(yᵢ, β₀ + xᵢ·β) + α/2 · ‖β‖²` (intercept not penalised),
//! which also agrees with linfa to 1e-6 when all weights are 1 (unit test).
//! The same Newton solver, working on the design's non-zeros, also fits
//! unweighted designs that are mostly zero (one-hot levels, quantile bins).

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};

use crate::scoring::math::softplus;

/// Designs with fewer non-zeros than this share go to the sparse Newton
/// solver; denser ones to linfa's L-BFGS.
const SPARSE_DESIGN_DENSITY: f64 = 0.5;
/// Widest design for Newton: its `d × d` Cholesky costs `d³/3` per
/// iteration, so wider designs go to L-BFGS.
const NEWTON_MAX_COLUMNS: usize = 1500;
/// Newton needs far fewer iterations than L-BFGS; at least this many are allowed.
const NEWTON_ITERATIONS: u64 = 50;

/// A fitted logistic model: log-odds of `true` = `intercept + coefficients · x`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticFit {
    /// Intercept, in log-odds.
    pub intercept: f64,
    /// One coefficient per design column.
    pub coefficients: Vec<f64>,
}

/// Why [`fit_logistic`] failed.
#[derive(Debug, thiserror::Error)]
pub enum LogisticError {
    /// linfa-logistic refused or failed (a single class, bad values, the solver).
    #[error("{source}")]
    Linfa {
        /// linfa-logistic's error.
        #[from]
        source: linfa_logistic::error::Error,
    },
    /// The weights, the labels and the rows of `x` differ in length.
    #[error("weights, labels and rows differ in length")]
    LengthMismatch {
        /// Rows of `x`.
        rows: usize,
        /// Labels given.
        labels: usize,
        /// Weights given.
        weights: usize,
    },
    /// The weighted solver met a Hessian it cannot factor.
    #[error("the Hessian is not positive definite")]
    NotPositiveDefinite,
    /// The weighted solver ended with non-finite coefficients.
    #[error("the weighted solver diverged")]
    Diverged,
}

/// Fits the model; `weights` (one per row) switch to the weighted solver.
///
/// # Errors
/// [`LogisticError`] when the solver fails or the data has a single class.
pub fn fit_logistic(
    x: &Array2<f64>,
    y: &[bool],
    weights: Option<&[f64]>,
    l2: f64,
    max_iterations: u64,
) -> Result<LogisticFit, LogisticError> {
    if let Some(w) = weights {
        return fit_weighted(x, y, w, l2, max_iterations);
    }
    // One-hot and bin columns make most designs mostly zero: Newton over the
    // non-zeros converges in a few cheap iterations where L-BFGS over the
    // dense matrix takes many (33k rows x 200 columns: seconds instead of a
    // minute). Dense numeric designs keep linfa's L-BFGS.
    let nonzero = x.iter().filter(|v| **v != 0.0).count();
    if x.ncols() > 0
        && x.ncols() <= NEWTON_MAX_COLUMNS
        && (nonzero as f64) < SPARSE_DESIGN_DENSITY * x.len() as f64
    {
        return fit_weighted(
            x,
            y,
            &vec![1.0; y.len()],
            l2,
            max_iterations.max(NEWTON_ITERATIONS),
        );
    }
    fit_linfa(x, y, l2, max_iterations)
}

/// linfa-logistic's L-BFGS fit (unweighted).
fn fit_linfa(
    x: &Array2<f64>,
    y: &[bool],
    l2: f64,
    max_iterations: u64,
) -> Result<LogisticFit, LogisticError> {
    let targets: Array1<bool> = y.iter().copied().collect();
    // linfa's objective is a sum over rows, so its gradient grows with n; a
    // fixed tolerance asks for ever more precision per row on big data
    // (1M rows: minutes of extra iterations for digits nobody uses).
    let tolerance = 1e-6 * (y.len() as f64 / 1000.0).max(1.0);
    let dataset = Dataset::new(x.clone(), targets);
    let fitted = LogisticRegression::default()
        .alpha(l2)
        .max_iterations(max_iterations)
        .gradient_tolerance(tolerance)
        .fit(&dataset)?;
    // linfa-logistic models P(labels().pos.class), which is the more frequent
    // class and may be `false`; we always store log-odds of `true`.
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    Ok(LogisticFit {
        intercept: sign * fitted.intercept(),
        coefficients: fitted.params().iter().map(|w| sign * w).collect(),
    })
}

/// The design's non-zeros row by row (one-hot and bin columns are mostly
/// zero, so Newton's Hessian costs `nnz²` per row instead of `width²`).
struct SparseRows {
    /// Row `i` holds `columns[starts[i]..starts[i + 1]]`.
    starts: Vec<usize>,
    columns: Vec<usize>,
    values: Vec<f64>,
}

impl SparseRows {
    fn new(x: &Array2<f64>) -> Self {
        let mut starts = Vec::with_capacity(x.nrows() + 1);
        let (mut columns, mut values) = (Vec::new(), Vec::new());
        starts.push(0);
        for row in x.rows() {
            for (k, &v) in row.iter().enumerate() {
                if v != 0.0 {
                    columns.push(k);
                    values.push(v);
                }
            }
            starts.push(columns.len());
        }
        SparseRows {
            starts,
            columns,
            values,
        }
    }

    /// Row `i` as (columns, values).
    fn row(&self, i: usize) -> (&[usize], &[f64]) {
        let (a, b) = (self.starts[i], self.starts[i + 1]);
        (&self.columns[a..b], &self.values[a..b])
    }

    /// `β₀ + xᵢ·β` with the intercept stored last in `beta`.
    fn log_odds(&self, i: usize, beta: &[f64]) -> f64 {
        let (cols, vals) = self.row(i);
        let p = beta.len() - 1;
        beta[p]
            + cols
                .iter()
                .zip(vals)
                .map(|(&c, &v)| beta[c] * v)
                .sum::<f64>()
    }
}

/// Newton's method with step halving on the weighted, penalised log loss,
/// over the design's non-zeros. Stops when the Newton decrement (the
/// objective's predicted fall) is below 1e-10 per row, or when a step no
/// longer lowers the objective.
fn fit_weighted(
    x: &Array2<f64>,
    y: &[bool],
    w: &[f64],
    l2: f64,
    max_iterations: u64,
) -> Result<LogisticFit, LogisticError> {
    let (n, p) = x.dim();
    if w.len() != n || y.len() != n {
        return Err(LogisticError::LengthMismatch {
            rows: n,
            labels: y.len(),
            weights: w.len(),
        });
    }
    let rows = SparseRows::new(x);
    let d = p + 1; // coefficients, then the intercept
    let mut beta = vec![0.0; d];
    let objective = |beta: &[f64]| -> f64 {
        let mut total = 0.0;
        for i in 0..n {
            let z = rows.log_odds(i, beta);
            // log(1 + e^z) − y z, computed stably.
            total += w[i] * (softplus(z) - if y[i] { z } else { 0.0 });
        }
        total + 0.5 * l2 * beta[..p].iter().map(|b| b * b).sum::<f64>()
    };
    let mut current = objective(&beta);
    let tolerance = 1e-10 * n.max(1) as f64;
    let mut grad = vec![0.0; d];
    let mut hess = vec![0.0; d * d];
    for _ in 0..max_iterations.max(1) {
        grad.fill(0.0);
        hess.fill(0.0);
        for i in 0..n {
            let prob = crate::scoring::math::sigmoid(rows.log_odds(i, &beta));
            let r = w[i] * (prob - if y[i] { 1.0 } else { 0.0 });
            let h = w[i] * prob * (1.0 - prob);
            let (cols, vals) = rows.row(i);
            for (a, (&ca, &va)) in cols.iter().zip(vals).enumerate() {
                grad[ca] += r * va;
                let hx = h * va;
                // Upper triangle: columns are increasing within a row.
                let line = &mut hess[ca * d..ca * d + d];
                for (&cb, &vb) in cols[a..].iter().zip(&vals[a..]) {
                    line[cb] += hx * vb;
                }
                line[p] += hx;
            }
            grad[p] += r;
            hess[p * d + p] += h;
        }
        for a in 0..p {
            grad[a] += l2 * beta[a];
            hess[a * d + a] += l2;
        }
        for a in 0..d {
            for b in 0..a {
                hess[a * d + b] = hess[b * d + a];
            }
            // A tiny ridge keeps the system solvable for separable or
            // collinear columns (one-hot levels sum to one).
            hess[a * d + a] += 1e-10;
        }
        let step = cholesky_solve(&mut hess, &grad, d).ok_or(LogisticError::NotPositiveDefinite)?;
        let decrement: f64 = grad.iter().zip(&step).map(|(g, s)| g * s).sum::<f64>() / 2.0;
        let mut scale = 1.0;
        let mut improved = false;
        for _ in 0..30 {
            let trial: Vec<f64> = beta.iter().zip(&step).map(|(b, s)| b - scale * s).collect();
            let value = objective(&trial);
            if value.is_finite() && value <= current {
                let gain = current - value;
                beta = trial;
                current = value;
                improved = gain > 1e-12 * current.abs().max(1.0);
                break;
            }
            scale *= 0.5;
        }
        if !improved || decrement < tolerance {
            break;
        }
    }
    if !beta.iter().all(|b| b.is_finite()) {
        return Err(LogisticError::Diverged);
    }
    Ok(LogisticFit {
        intercept: beta[p],
        coefficients: beta[..p].to_vec(),
    })
}

/// Solves `A x = b` for a symmetric positive definite `A` (row-major, `d × d`,
/// overwritten by its Cholesky factor). `None` if `A` is not positive definite.
fn cholesky_solve(a: &mut [f64], b: &[f64], d: usize) -> Option<Vec<f64>> {
    for j in 0..d {
        let mut s = a[j * d + j];
        for k in 0..j {
            s -= a[j * d + k] * a[j * d + k];
        }
        if s.is_nan() || s <= 0.0 {
            return None;
        }
        let l = s.sqrt();
        a[j * d + j] = l;
        for i in j + 1..d {
            let mut t = a[i * d + j];
            for k in 0..j {
                t -= a[i * d + k] * a[j * d + k];
            }
            a[i * d + j] = t / l;
        }
    }
    let mut z = b.to_vec();
    for i in 0..d {
        for k in 0..i {
            z[i] -= a[i * d + k] * z[k];
        }
        z[i] /= a[i * d + i];
    }
    for i in (0..d).rev() {
        for k in i + 1..d {
            z[i] -= a[k * d + i] * z[k];
        }
        z[i] /= a[i * d + i];
    }
    Some(z)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn data(n: usize) -> (Array2<f64>, Vec<bool>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let mut x = Array2::zeros((n, 3));
        let mut y = Vec::with_capacity(n);
        for i in 0..n {
            let a: f64 = rng.gen_range(-2.0..2.0);
            let b: f64 = rng.gen_range(-2.0..2.0);
            let c = if rng.gen_bool(0.3) { 1.0 } else { 0.0 };
            x[[i, 0]] = a;
            x[[i, 1]] = b;
            x[[i, 2]] = c;
            let z = -1.0 + 1.5 * a - 0.5 * b + 0.8 * c;
            y.push(rng.gen_bool(crate::scoring::math::sigmoid(z)));
        }
        (x, y)
    }

    #[test]
    fn unit_weights_agree_with_linfa() {
        let (x, y) = data(3000);
        let ours = fit_logistic(&x, &y, Some(&vec![1.0; y.len()]), 1.0, 100).expect("newton");
        let linfa = fit_logistic(&x, &y, None, 1.0, 500).expect("linfa");
        assert!(
            (ours.intercept - linfa.intercept).abs() < 1e-4,
            "{ours:?} {linfa:?}"
        );
        for (a, b) in ours.coefficients.iter().zip(&linfa.coefficients) {
            assert!((a - b).abs() < 1e-4, "{ours:?} {linfa:?}");
        }
    }

    #[test]
    fn sparse_designs_fit_by_newton_agree_with_linfa() {
        // A one-hot design (20 levels, one per row) with a numeric column:
        // under half non-zero, so fit_logistic takes the sparse Newton path.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let (n, levels) = (4000, 20);
        let mut x = Array2::zeros((n, levels + 1));
        let mut y = Vec::with_capacity(n);
        for i in 0..n {
            let level = rng.gen_range(0..levels);
            let a: f64 = rng.gen_range(-2.0..2.0);
            x[[i, level]] = 1.0;
            x[[i, levels]] = a;
            let z = -0.5 + 0.1 * level as f64 - 0.8 * a;
            y.push(rng.gen_bool(crate::scoring::math::sigmoid(z)));
        }
        assert!(x.iter().filter(|v| **v != 0.0).count() * 2 < x.len());
        let newton = fit_logistic(&x, &y, None, 1.0, 100).expect("newton");
        let linfa = fit_linfa(&x, &y, 1.0, 5000).expect("linfa");
        assert!(
            (newton.intercept - linfa.intercept).abs() < 1e-4,
            "{newton:?} {linfa:?}"
        );
        for (a, b) in newton.coefficients.iter().zip(&linfa.coefficients) {
            assert!((a - b).abs() < 1e-4, "{newton:?} {linfa:?}");
        }
    }

    #[test]
    fn class_weights_move_the_intercept_not_the_slopes_much() {
        let (x, y) = data(5000);
        let pos = y.iter().filter(|&&v| v).count() as f64;
        let n = y.len() as f64;
        let w: Vec<f64> = y
            .iter()
            .map(|&v| {
                if v {
                    n / (2.0 * pos)
                } else {
                    n / (2.0 * (n - pos))
                }
            })
            .collect();
        let plain = fit_logistic(&x, &y, Some(&vec![1.0; y.len()]), 1.0, 100).expect("fit");
        let balanced = fit_logistic(&x, &y, Some(&w), 1.0, 100).expect("fit");
        // Balancing a minority class raises every lead's log-odds.
        assert!(balanced.intercept > plain.intercept + 0.3);
        assert!((balanced.coefficients[0] - plain.coefficients[0]).abs() < 0.25);
    }
}
