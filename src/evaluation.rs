//! Held-out metrics: ROC AUC, log loss, Brier score.
//!
//! Definitions follow scikit-learn (`roc_auc_score` with tied scores counted
//! half, `log_loss` with natural logs, `brier_score_loss`); the reference test
//! in `tests/api/reference.rs` compares against values scikit-learn computed.

/// Area under the ROC curve: the probability that a random positive outranks
/// a random negative, ties counting one half. `None` when a class is absent.
pub fn roc_auc(labels: &[bool], scores: &[f64]) -> Option<f64> {
    assert_eq!(
        labels.len(),
        scores.len(),
        "labels and scores differ in length"
    );
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Mann–Whitney U with average ranks for ties.
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            if labels[k] {
                rank_sum_pos += avg_rank;
            }
        }
        i = j + 1;
    }
    let n_pos = labels.iter().filter(|&&l| l).count() as f64;
    let n_neg = labels.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return None;
    }
    Some((rank_sum_pos - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg))
}

/// Mean log loss, probabilities clipped to [1e-15, 1 − 1e-15].
pub fn log_loss(labels: &[bool], probabilities: &[f64]) -> f64 {
    assert_eq!(labels.len(), probabilities.len());
    let eps = 1e-15;
    let total: f64 = labels
        .iter()
        .zip(probabilities)
        .map(|(&y, &p)| {
            let p = p.clamp(eps, 1.0 - eps);
            if y {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum();
    total / labels.len().max(1) as f64
}

/// Mean squared difference between probability and outcome.
pub fn brier(labels: &[bool], probabilities: &[f64]) -> f64 {
    assert_eq!(labels.len(), probabilities.len());
    let total: f64 = labels
        .iter()
        .zip(probabilities)
        .map(|(&y, &p)| {
            let d = p - if y { 1.0 } else { 0.0 };
            d * d
        })
        .sum();
    total / labels.len().max(1) as f64
}

/// The `q`-quantile (0..=1) of `values` by linear interpolation (numpy's default).
pub fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_known_answers() {
        assert_eq!(roc_auc(&[false, true], &[0.1, 0.9]), Some(1.0));
        assert_eq!(roc_auc(&[true, false], &[0.1, 0.9]), Some(0.0));
        assert_eq!(roc_auc(&[true, false], &[0.5, 0.5]), Some(0.5));
        // sklearn.metrics.roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
        assert_eq!(
            roc_auc(&[false, false, true, true], &[0.1, 0.4, 0.35, 0.8]),
            Some(0.75)
        );
        assert_eq!(roc_auc(&[true, true], &[0.1, 0.2]), None);
    }

    #[test]
    fn log_loss_and_brier_known_answers() {
        let y = [true, false];
        let p = [0.8, 0.3];
        let expected = -(0.8f64.ln() + 0.7f64.ln()) / 2.0;
        assert!((log_loss(&y, &p) - expected).abs() < 1e-15);
        assert!((brier(&y, &p) - (0.04 + 0.09) / 2.0).abs() < 1e-15);
    }

    #[test]
    fn quantile_interpolates() {
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        assert_eq!(quantile(&[5.0], 0.9), 5.0);
    }
}
