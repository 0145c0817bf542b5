//! Probability calibration: the map from the estimator's raw log-odds to the
//! probability the service serves, stored in `model.json`. The trainer's
//! fitters (Platt, beta and isotonic) are in `train::calibrate`.
//!
//! Every [`Calibration`] that passes [`Calibration::validate`] maps finite
//! log-odds to a probability strictly inside (0, 1), non-decreasing in the
//! log-odds, so score bands, explanations and log loss keep working.

use serde::{Deserialize, Serialize};

use crate::scoring::math::{sigmoid, softplus};

/// Why a stored [`Calibration`] cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalibrationError {
    /// Platt `a` or `b` is NaN or infinite.
    #[error("platt a and b must be finite, got a={a}, b={b}")]
    PlattNotFinite {
        /// Slope.
        a: f64,
        /// Intercept.
        b: f64,
    },
    /// Platt `a > 0`: a higher score would mean a lower probability.
    #[error("platt a must be <= 0 (higher score, higher probability), got {a}")]
    PlattIncreasing {
        /// Slope.
        a: f64,
    },
    /// Beta `a`, `b` or `c` is NaN or infinite.
    #[error("beta a, b and c must be finite, got a={a}, b={b}, c={c}")]
    BetaNotFinite {
        /// Weight of `ln p`.
        a: f64,
        /// Weight of `−ln(1 − p)`.
        b: f64,
        /// Offset.
        c: f64,
    },
    /// Beta `a < 0` or `b < 0`: the map would decrease somewhere.
    #[error("beta a and b must be >= 0 (higher score, higher probability), got a={a}, b={b}")]
    BetaDecreasing {
        /// Weight of `ln p`.
        a: f64,
        /// Weight of `−ln(1 − p)`.
        b: f64,
    },
    /// Isotonic knots and probabilities differ in number.
    #[error("isotonic log_odds ({log_odds}) and probabilities ({probabilities}) differ in length")]
    LengthMismatch {
        /// Number of knots.
        log_odds: usize,
        /// Number of probabilities.
        probabilities: usize,
    },
    /// Fewer than 2 isotonic knots.
    #[error("isotonic needs at least 2 knots, has {knots}")]
    TooFewKnots {
        /// Number of knots.
        knots: usize,
    },
    /// A non-finite isotonic knot.
    #[error("isotonic log_odds[{index}] is not finite")]
    KnotNotFinite {
        /// Position of the knot.
        index: usize,
    },
    /// An isotonic probability outside [0, 1].
    #[error("isotonic probabilities[{index}] = {value} is outside [0, 1]")]
    ProbabilityOutOfRange {
        /// Position of the probability.
        index: usize,
        /// The probability.
        value: f64,
    },
    /// Isotonic knots that do not increase strictly.
    #[error(
        "isotonic log_odds must increase strictly; [{index}] = {value} >= [{next_index}] = {next}"
    )]
    KnotsNotIncreasing {
        /// Position of the first knot.
        index: usize,
        /// Its value.
        value: f64,
        /// Position of the next knot.
        next_index: usize,
        /// Its value.
        next: f64,
    },
    /// Isotonic probabilities that decrease.
    #[error(
        "isotonic probabilities must not decrease; [{index}] = {value} > [{next_index}] = {next}"
    )]
    ProbabilitiesDecreasing {
        /// Position of the first probability.
        index: usize,
        /// Its value.
        value: f64,
        /// Position of the next probability.
        next_index: usize,
        /// Its value.
        next: f64,
    },
}

/// Lowest (and one minus the highest) probability an isotonic map serves.
/// Its steps are sample means, and a block of calibration rows with no
/// positive gives exactly 0: that is an artefact of a finite sample, not an
/// impossible lead, and an exact 0 or 1 would make log loss infinite.
pub const ISOTONIC_PROBABILITY_FLOOR: f64 = 1e-6;

/// Maps the model's raw log-odds to a calibrated probability. Stored in
/// `model.json` as `{"method": "none" | "platt" | "beta" | "isotonic", ...}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Calibration {
    /// `p = sigmoid(z)`: the estimator's own probability (format 1
    /// artifacts, and models whose held-out calibration is already good).
    #[default]
    None,
    /// Platt scaling: `p = 1 / (1 + exp(a·z + b))`, scikit-learn's sign
    /// convention (`expit(-(a·z + b))`), so `a < 0` when a higher score means
    /// a higher probability; `a = −1, b = 0` is the identity on a
    /// well-calibrated logistic model.
    Platt {
        /// Slope on the log-odds (≤ 0; see [`Calibration::validate`]).
        a: f64,
        /// Offset.
        b: f64,
    },
    /// Beta calibration (Kull, Silva Filho and Flach, 2017) of the model's
    /// own probability `s = sigmoid(z)`:
    /// `p = sigmoid(a·ln s − b·ln(1 − s) + c)`. In log-odds terms it is a
    /// Platt map with its own slope in each tail: `≈ sigmoid(a·z + c)` for
    /// very negative z, `≈ sigmoid(b·z + c)` for very positive z, joined
    /// smoothly; `a = b` is Platt exactly and `a = b = 1, c = 0` the
    /// identity. Non-decreasing because `a, b ≥ 0`.
    Beta {
        /// Weight of `ln s` (≥ 0): the slope in the low tail.
        a: f64,
        /// Weight of `−ln(1 − s)` (≥ 0): the slope in the high tail.
        b: f64,
        /// Offset.
        c: f64,
    },
    /// Isotonic regression on z: piecewise-linear through
    /// `(log_odds[i], probabilities[i])`, constant (clipped) outside the
    /// range, as scikit-learn's `IsotonicRegression(out_of_bounds="clip")`.
    /// Served values are kept in
    /// [[`ISOTONIC_PROBABILITY_FLOOR`], 1 − [`ISOTONIC_PROBABILITY_FLOOR`]].
    Isotonic {
        /// Knot positions, strictly increasing.
        log_odds: Vec<f64>,
        /// Probability at each knot, non-decreasing, in [0, 1].
        probabilities: Vec<f64>,
    },
}

impl Calibration {
    /// The calibrated probability for the estimator's log-odds `z`.
    ///
    /// Non-decreasing in `z`, strictly inside (0, 1) for every non-NaN `z`
    /// (±∞ included), for any calibration that passes [`Self::validate`].
    /// NaN in gives NaN out: the scorer rejects non-finite log-odds before
    /// this point, and a NaN must not pass as a plausible probability.
    pub fn apply(&self, z: f64) -> f64 {
        if z.is_nan() {
            return f64::NAN;
        }
        match self {
            Self::None => sigmoid(z),
            Self::Platt { a, b } => {
                let u = a * z + b;
                // 0 · ±∞ is NaN; with a = 0 the map is the constant sigmoid(−b).
                let u = if u.is_nan() { *b } else { u };
                sigmoid(-u)
            }
            Self::Beta { a, b, c } => sigmoid(beta_log_odds(*a, *b, *c, z)),
            Self::Isotonic {
                log_odds,
                probabilities,
            } => interpolate_clipped(log_odds, probabilities, z)
                .clamp(ISOTONIC_PROBABILITY_FLOOR, 1.0 - ISOTONIC_PROBABILITY_FLOOR),
        }
    }

    /// Checks the invariants [`Self::apply`] relies on.
    ///
    /// Never panics, whatever was deserialized.
    ///
    /// # Errors
    /// A [`CalibrationError`] naming the first violation: a non-finite value; Platt
    /// `a > 0` (a higher score would mean a lower probability; `a = 0`, a
    /// constant probability, is allowed because it is what [`fit_platt`]
    /// returns for a score with no signal); isotonic lengths that differ or
    /// hold fewer than 2 knots, knots not strictly increasing, probabilities
    /// outside [0, 1] or decreasing.
    pub fn validate(&self) -> Result<(), CalibrationError> {
        match self {
            Self::None => Ok(()),
            Self::Platt { a, b } => {
                if !a.is_finite() || !b.is_finite() {
                    return Err(CalibrationError::PlattNotFinite { a: *a, b: *b });
                }
                if *a > 0.0 {
                    return Err(CalibrationError::PlattIncreasing { a: *a });
                }
                Ok(())
            }
            Self::Beta { a, b, c } => {
                if !a.is_finite() || !b.is_finite() || !c.is_finite() {
                    return Err(CalibrationError::BetaNotFinite {
                        a: *a,
                        b: *b,
                        c: *c,
                    });
                }
                if *a < 0.0 || *b < 0.0 {
                    return Err(CalibrationError::BetaDecreasing { a: *a, b: *b });
                }
                Ok(())
            }
            Self::Isotonic {
                log_odds,
                probabilities,
            } => {
                if log_odds.len() != probabilities.len() {
                    return Err(CalibrationError::LengthMismatch {
                        log_odds: log_odds.len(),
                        probabilities: probabilities.len(),
                    });
                }
                if log_odds.len() < 2 {
                    return Err(CalibrationError::TooFewKnots {
                        knots: log_odds.len(),
                    });
                }
                if let Some(i) = log_odds.iter().position(|z| !z.is_finite()) {
                    return Err(CalibrationError::KnotNotFinite { index: i });
                }
                if let Some(i) = probabilities.iter().position(|p| !(0.0..=1.0).contains(p)) {
                    return Err(CalibrationError::ProbabilityOutOfRange {
                        index: i,
                        value: probabilities[i],
                    });
                }
                if let Some(i) = log_odds.windows(2).position(|w| w[0] >= w[1]) {
                    return Err(CalibrationError::KnotsNotIncreasing {
                        index: i,
                        value: log_odds[i],
                        next_index: i + 1,
                        next: log_odds[i + 1],
                    });
                }
                if let Some(i) = probabilities.windows(2).position(|w| w[0] > w[1]) {
                    return Err(CalibrationError::ProbabilitiesDecreasing {
                        index: i,
                        value: probabilities[i],
                        next_index: i + 1,
                        next: probabilities[i + 1],
                    });
                }
                Ok(())
            }
        }
    }

    /// The `method` tag as written in `model.json`: `"none"`, `"platt"`,
    /// `"beta"` or `"isotonic"`.
    pub fn method(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Platt { .. } => "platt",
            Self::Beta { .. } => "beta",
            Self::Isotonic { .. } => "isotonic",
        }
    }
}

/// The calibrated log-odds of [`Calibration::Beta`]:
/// `a·ln s − b·ln(1 − s) + c` with `s = sigmoid(z)`, written as
/// `−a·softplus(−z) + b·softplus(z) + c` so it is exact in both tails. A zero
/// weight contributes nothing even where its term is infinite (z = ±∞), so
/// `a = 0` gives a constant low tail instead of NaN.
pub fn beta_log_odds(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let low = if a == 0.0 { 0.0 } else { -a * softplus(-z) };
    let high = if b == 0.0 { 0.0 } else { b * softplus(z) };
    low + high + c
}

/// Piecewise-linear interpolation through sorted knots, constant outside.
/// Degrades gracefully (no panic) on knots that would fail validation.
fn interpolate_clipped(xs: &[f64], ys: &[f64], z: f64) -> f64 {
    let n = xs.len().min(ys.len());
    let (xs, ys) = (&xs[..n], &ys[..n]);
    let (Some(&first), Some(&last)) = (ys.first(), ys.last()) else {
        return sigmoid(z);
    };
    // Index of the first knot strictly above z.
    let upper = xs.partition_point(|&x| x <= z);
    if upper == 0 {
        return first;
    }
    if upper == n {
        return last;
    }
    let (x0, x1, y0, y1) = (xs[upper - 1], xs[upper], ys[upper - 1], ys[upper]);
    let y = y0 + (y1 - y0) * ((z - x0) / (x1 - x0));
    // Rounding could step a last bit outside [y0, y1] and break
    // monotonicity across a knot; the clamp rules that out.
    y.clamp(y0.min(y1), y0.max(y1))
}
