//! The one sigmoid / log-odds pair (and the softplus that log loss needs),
//! used by scoring, calibration, accounts and every fitter.
//!
//! Keeping one definition matters: a probability the trainer computed and
//! one the server computed for the same log-odds must be the same number.

/// `1 / (1 + e^(−z))`, clamped to the open interval (0, 1): an exact 0 or 1
/// would make log loss infinite and a score band meaningless.
pub fn sigmoid(z: f64) -> f64 {
    (1.0 / (1.0 + (-z).exp())).clamp(f64::MIN_POSITIVE, 1.0 - f64::EPSILON)
}

/// `ln(p / (1 − p))`, the inverse of [`sigmoid`] on (0, 1); ±∞ at 0 and 1.
pub fn log_odds(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// `ln(1 + e^s)` without overflow for large `s`: the per-row log loss of a
/// negative at log-odds `s` (and of a positive at `−s`).
pub fn softplus(s: f64) -> f64 {
    if s > 0.0 {
        s + (-s).exp().ln_1p()
    } else {
        s.exp().ln_1p()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_and_log_odds_invert_each_other() {
        for z in [-30.0, -2.5, 0.0, 0.7, 12.0] {
            assert!((log_odds(sigmoid(z)) - z).abs() < 1e-9, "z = {z}");
        }
        assert_eq!(sigmoid(0.0), 0.5);
        assert!(sigmoid(1e6) < 1.0 && sigmoid(-1e6) > 0.0);
    }

    #[test]
    fn softplus_is_stable_at_both_ends() {
        assert!((softplus(0.0) - 2f64.ln()).abs() < 1e-15);
        assert_eq!(softplus(1000.0), 1000.0);
        assert!(softplus(-1000.0) >= 0.0 && softplus(-1000.0) < 1e-300);
    }
}
