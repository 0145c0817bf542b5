//! Held-out metrics and the curves the training report plots.
//!
//! Definitions follow scikit-learn (`roc_auc_score` with tied scores counted
//! half, `log_loss` with natural logs, `brier_score_loss`,
//! `average_precision_score`, `roc_curve`, `precision_recall_curve`,
//! `calibration_curve(strategy="uniform")`); the reference tests in
//! `tests/api/reference.rs` and `tests/api/calibration_reference.rs` compare
//! against values scikit-learn computed.
//!
//! Conventions shared by everything added for the report (average precision,
//! calibration error, top share, curves):
//! - **Never panics.** Slices of different lengths are paired up to the
//!   shorter one; empty input gives `None`, `0.0` or an empty curve as each
//!   function documents.
//! - **NaN scores rank lowest**, as if they were `-inf` (tied with any real
//!   `-inf`): a lead the model could not score is contacted last.
//!   scikit-learn rejects NaN instead. NaN *probabilities* are skipped by the
//!   calibration measures (they belong to no bin).
//! - **Ties** in score form one threshold (scikit-learn's
//!   `_binary_clf_curve`): a curve never splits rows that share a score.
//! - Everything sorts once: O(n log n).
//! - Curves meant for plotting hold at most [`MAX_CURVE_POINTS`] points, first
//!   and last always kept.
//!
//! The older functions ([`roc_auc`], [`log_loss`], [`brier`]) keep their
//! original contract, including the length assertion.

use serde::{Deserialize, Serialize};

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

/// Most points a plotting curve ([`roc_curve`], [`pr_curve`],
/// [`cumulative_gains`]) holds; longer curves are thinned evenly, keeping
/// both ends, so `report.json` stays small whatever the test-set size.
pub const MAX_CURVE_POINTS: usize = 200;

/// Most bins [`reliability`] and [`expected_calibration_error`] use; larger
/// requests are clamped so a bad argument cannot allocate without bound.
pub const MAX_BINS: usize = 1000;

/// The sort key of a score: NaN ranks lowest (see the module docs).
fn score_key(score: f64) -> f64 {
    if score.is_nan() {
        f64::NEG_INFINITY
    } else {
        score
    }
}

/// Rows that share one score: a single threshold of every curve.
#[derive(Debug, Clone, Copy)]
struct Threshold {
    /// Rows scored at or above this threshold.
    rows_above: u64,
    /// Positive rows scored at or above this threshold.
    positives_above: u64,
}

/// The distinct scores, highest first, with cumulative row and positive
/// counts (scikit-learn's `_binary_clf_curve`: `fps`, `tps`).
fn thresholds(labels: &[bool], scores: &[f64]) -> Vec<Threshold> {
    let n = labels.len().min(scores.len());
    let mut rows: Vec<(f64, bool)> = (0..n).map(|i| (score_key(scores[i]), labels[i])).collect();
    // Highest first. `total_cmp` orders -0.0 just below 0.0, so the two sit
    // next to each other and the `==` below puts them in one group.
    rows.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    let mut out: Vec<Threshold> = Vec::new();
    let mut positives = 0u64;
    for (i, &(score, label)) in rows.iter().enumerate() {
        positives += u64::from(label);
        let last_of_group = rows.get(i + 1).is_none_or(|next| next.0 != score);
        if last_of_group {
            out.push(Threshold {
                rows_above: i as u64 + 1,
                positives_above: positives,
            });
        }
    }
    out
}

/// Expected positives among the `rows` highest-scored rows, when rows that
/// share a score are in random order: the tie group cut by the boundary
/// contributes its positive rate times the rows taken from it.
fn positives_in_top(thresholds: &[Threshold], rows: u64) -> f64 {
    if rows == 0 {
        return 0.0;
    }
    // First group whose cumulative row count reaches `rows`.
    let k = thresholds.partition_point(|t| t.rows_above < rows);
    let Some(group) = thresholds.get(k) else {
        return thresholds.last().map_or(0.0, |t| t.positives_above as f64);
    };
    let (rows_before, positives_before) = match k.checked_sub(1).and_then(|j| thresholds.get(j)) {
        Some(t) => (t.rows_above, t.positives_above),
        None => (0, 0),
    };
    let group_rows = (group.rows_above - rows_before) as f64;
    let group_positives = (group.positives_above - positives_before) as f64;
    positives_before as f64 + group_positives * (rows - rows_before) as f64 / group_rows
}

/// Thins `points` to at most `max` evenly spaced ones, keeping the first and
/// the last.
fn downsample(points: Vec<(f64, f64)>, max: usize) -> Vec<(f64, f64)> {
    let n = points.len();
    if n <= max || max < 2 {
        return points;
    }
    // Index i·(n−1)/(max−1), rounded, for i in 0..max: endpoints exact.
    let (last, steps) = ((n - 1) as u128, (max - 1) as u128);
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(max);
    let mut previous = usize::MAX;
    for i in 0..max as u128 {
        let index = ((i * last + steps / 2) / steps) as usize;
        if index != previous {
            if let Some(&p) = points.get(index) {
                out.push(p);
            }
            previous = index;
        }
    }
    out
}

/// Drops points of an integer-count path that lie on the straight segment
/// between their neighbours (a generalisation of scikit-learn's
/// `drop_intermediate`); the plot is unchanged, the list much shorter.
fn drop_collinear(points: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(points.len());
    for &p in points {
        while out.len() >= 2 {
            let a = out[out.len() - 2];
            let b = out[out.len() - 1];
            // Cross product of (b − a) and (p − b), exact in i128.
            let (ux, uy) = (b.0 as i128 - a.0 as i128, b.1 as i128 - a.1 as i128);
            let (vx, vy) = (p.0 as i128 - b.0 as i128, p.1 as i128 - b.1 as i128);
            if ux * vy - uy * vx == 0 && ux * vx + uy * vy >= 0 {
                out.pop();
            } else {
                break;
            }
        }
        out.push(p);
    }
    out
}

/// Average precision, the area under the precision–recall curve as
/// scikit-learn's `average_precision_score`: Σₙ (Rₙ − Rₙ₋₁)·Pₙ over the
/// distinct scores from highest to lowest (rows sharing a score enter
/// together; no interpolation).
///
/// `None` when there are no rows or no positives (recall is undefined;
/// scikit-learn warns and returns 0 or nan depending on version). With no
/// negatives it is 1.
pub fn average_precision(labels: &[bool], scores: &[f64]) -> Option<f64> {
    let thresholds = thresholds(labels, scores);
    let total_positives = thresholds.last()?.positives_above;
    if total_positives == 0 {
        return None;
    }
    let mut previous_positives = 0u64;
    let mut sum = 0.0;
    for t in &thresholds {
        if t.positives_above > previous_positives {
            let recall_step = (t.positives_above - previous_positives) as f64;
            let precision = t.positives_above as f64 / t.rows_above as f64;
            sum += recall_step * precision;
            previous_positives = t.positives_above;
        }
    }
    Some(sum / total_positives as f64)
}

/// One bin of a reliability (calibration) diagram.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Lower edge of the bin (exclusive, except 0 for the first bin).
    pub lower: f64,
    /// Upper edge of the bin (inclusive).
    pub upper: f64,
    /// Rows whose probability fell in the bin.
    pub rows: u64,
    /// Mean predicted probability of those rows (x of the diagram).
    pub mean_predicted: f64,
    /// Share of those rows that were positive (y of the diagram).
    pub observed_rate: f64,
}

/// Reliability diagram on `bins` equal-width bins over [0, 1], as
/// scikit-learn's `calibration_curve(strategy="uniform")`: bin edges are
/// `k · (1/bins)` and a probability exactly on an inner edge belongs to the
/// bin *below* it (numpy `searchsorted(..., side="left")`), so bins are
/// (lower, upper] except the first, which also holds 0.
///
/// Only non-empty bins are returned (as scikit-learn does). Probabilities
/// outside [0, 1] are clamped into it; NaN probabilities are skipped.
/// `bins` is clamped to `1..=MAX_BINS`.
pub fn reliability(labels: &[bool], probabilities: &[f64], bins: usize) -> Vec<ReliabilityBin> {
    let bins = bins.clamp(1, MAX_BINS);
    let width = 1.0 / bins as f64;
    // Inner edges exactly as `np.linspace(0, 1, bins + 1)[1:-1]` computes them.
    let inner: Vec<f64> = (1..bins).map(|k| k as f64 * width).collect();
    let mut rows = vec![0u64; bins];
    let mut sum_p = vec![0.0f64; bins];
    let mut sum_y = vec![0.0f64; bins];
    for (&y, &p) in labels.iter().zip(probabilities) {
        if p.is_nan() {
            continue;
        }
        let p = p.clamp(0.0, 1.0);
        let b = inner.partition_point(|&edge| edge < p);
        rows[b] += 1;
        sum_p[b] += p;
        sum_y[b] += f64::from(u8::from(y));
    }
    (0..bins)
        .filter(|&b| rows[b] > 0)
        .map(|b| ReliabilityBin {
            lower: if b == 0 { 0.0 } else { inner[b - 1] },
            upper: if b + 1 == bins { 1.0 } else { inner[b] },
            rows: rows[b],
            mean_predicted: sum_p[b] / rows[b] as f64,
            observed_rate: sum_y[b] / rows[b] as f64,
        })
        .collect()
}

/// Expected calibration error: Σ_b (n_b / N)·|mean(p)_b − mean(y)_b| over
/// the equal-width bins of [`reliability`] (same edge rule: (lower, upper],
/// first bin closed). `0.0` when no row has a probability.
pub fn expected_calibration_error(labels: &[bool], probabilities: &[f64], bins: usize) -> f64 {
    let bins = reliability(labels, probabilities, bins);
    let total: u64 = bins.iter().map(|b| b.rows).sum();
    if total == 0 {
        return 0.0;
    }
    bins.iter()
        .map(|b| b.rows as f64 * (b.mean_predicted - b.observed_rate).abs())
        .sum::<f64>()
        / total as f64
}

/// The best-scored slice of the rows: what a sales team calling the top
/// `share` of leads would see.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct TopShare {
    /// Rows in the slice: `ceil(share · N)`.
    pub rows: u64,
    /// Positives in the slice. Fractional when the cut falls inside a group
    /// of tied scores: that group counts at its own positive rate (the
    /// expectation over orderings of the ties), so the result does not
    /// depend on row order.
    pub positives: f64,
    /// `positives / rows`; 0 for an empty slice.
    pub precision: f64,
    /// `precision` / positive rate of all rows; 0 when there are no positives.
    pub lift: f64,
}

/// The top `share` (clamped to [0, 1]) of rows by score: `ceil(share · N)`
/// rows (a relative 1e-9 slack keeps `0.07 · 100` at 7 rather than 8),
/// the positives among them, precision and lift over the base rate.
pub fn top_share(labels: &[bool], scores: &[f64], share: f64) -> TopShare {
    let thresholds = thresholds(labels, scores);
    let Some(all) = thresholds.last().copied() else {
        return TopShare::default();
    };
    let share = if share.is_nan() {
        0.0
    } else {
        share.clamp(0.0, 1.0)
    };
    let n = all.rows_above as f64;
    let rows = ((share * n) * (1.0 - 1e-9)).ceil().clamp(0.0, n) as u64;
    let positives = positives_in_top(&thresholds, rows);
    let precision = if rows == 0 {
        0.0
    } else {
        positives / rows as f64
    };
    let base_rate = all.positives_above as f64 / n;
    let lift = if base_rate > 0.0 {
        precision / base_rate
    } else {
        0.0
    };
    TopShare {
        rows,
        positives,
        precision,
        lift,
    }
}

/// ROC curve as (false positive rate, true positive rate), from (0, 0) to
/// (1, 1), one point per distinct score (scikit-learn's `roc_curve`), with
/// points on straight stretches dropped and thinned to
/// [`MAX_CURVE_POINTS`]. Empty when either class is absent (a rate would
/// divide by zero).
pub fn roc_curve(labels: &[bool], scores: &[f64]) -> Vec<(f64, f64)> {
    let thresholds = thresholds(labels, scores);
    let Some(all) = thresholds.last().copied() else {
        return Vec::new();
    };
    let (positives, negatives) = (all.positives_above, all.rows_above - all.positives_above);
    if positives == 0 || negatives == 0 {
        return Vec::new();
    }
    let counts: Vec<(u64, u64)> = std::iter::once((0, 0))
        .chain(
            thresholds
                .iter()
                .map(|t| (t.rows_above - t.positives_above, t.positives_above)),
        )
        .collect();
    let points = drop_collinear(&counts)
        .into_iter()
        .map(|(fp, tp)| (fp as f64 / negatives as f64, tp as f64 / positives as f64))
        .collect();
    downsample(points, MAX_CURVE_POINTS)
}

/// Precision–recall curve as (recall, precision) with recall rising: first
/// (0, 1) (scikit-learn's convention for the empty selection), then one
/// point per distinct score from highest to lowest, thinned to
/// [`MAX_CURVE_POINTS`]. Empty when there are no positives.
pub fn pr_curve(labels: &[bool], scores: &[f64]) -> Vec<(f64, f64)> {
    let thresholds = thresholds(labels, scores);
    let Some(all) = thresholds.last().copied() else {
        return Vec::new();
    };
    if all.positives_above == 0 {
        return Vec::new();
    }
    let positives = all.positives_above as f64;
    let points = std::iter::once((0.0, 1.0))
        .chain(thresholds.iter().map(|t| {
            (
                t.positives_above as f64 / positives,
                t.positives_above as f64 / t.rows_above as f64,
            )
        }))
        .collect();
    downsample(points, MAX_CURVE_POINTS)
}

/// Cumulative gains as (share of rows contacted, share of positives found),
/// contacting rows from the highest score down: `points + 1` evenly spaced
/// shares k/points (each rounded up to whole rows, reported as the exact
/// share of rows), from (0, 0) to (1, 1). Tied scores count at their group's
/// positive rate (see [`TopShare::positives`]). `points` is clamped to
/// `1..=MAX_CURVE_POINTS − 1`. Empty when there are no positives.
///
/// Lift at a point is `y / x`.
pub fn cumulative_gains(labels: &[bool], scores: &[f64], points: usize) -> Vec<(f64, f64)> {
    let thresholds = thresholds(labels, scores);
    let Some(all) = thresholds.last().copied() else {
        return Vec::new();
    };
    if all.positives_above == 0 {
        return Vec::new();
    }
    let points = points.clamp(1, MAX_CURVE_POINTS - 1);
    let n = all.rows_above;
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(points + 1);
    let mut previous_rows = u64::MAX;
    for k in 0..=points {
        // Whole rows, rounded up: k·n/points in integers, no float slack needed.
        let rows = (k as u128 * n as u128).div_ceil(points as u128) as u64;
        if rows == previous_rows {
            continue;
        }
        previous_rows = rows;
        let found = positives_in_top(&thresholds, rows) / all.positives_above as f64;
        out.push((rows as f64 / n as f64, found));
    }
    out
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

    #[test]
    fn average_precision_known_answers() {
        // sklearn.metrics.average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        // == 0.8333333333333333
        let ap = average_precision(&[false, false, true, true], &[0.1, 0.4, 0.35, 0.8]);
        assert!((ap.expect("positives") - 5.0 / 6.0).abs() < 1e-15);
        // All tied: one threshold, precision = base rate.
        assert_eq!(
            average_precision(&[true, false, false, false], &[0.5; 4]),
            Some(0.25)
        );
        assert_eq!(average_precision(&[false, false], &[0.1, 0.2]), None);
        assert_eq!(average_precision(&[], &[]), None);
    }

    #[test]
    fn nan_scores_rank_lowest_and_nothing_panics() {
        let labels = [true, false, true];
        let scores = [f64::NAN, 0.2, 0.9];
        // NaN acts as -inf: ranking is 0.9 (pos), 0.2 (neg), NaN (pos).
        let ap = average_precision(&labels, &scores).expect("positives");
        assert!((ap - (0.5 * 1.0 + 0.5 * 2.0 / 3.0)).abs() < 1e-15);
        assert_eq!(
            average_precision(&labels, &scores),
            average_precision(&labels, &[f64::NEG_INFINITY, 0.2, 0.9])
        );
        for s in [&[][..], &[f64::NAN; 3][..]] {
            let _ = roc_curve(&labels, s);
            let _ = pr_curve(&labels, s);
            let _ = cumulative_gains(&labels, s, 10);
            let _ = top_share(&labels, s, 0.5);
            let _ = reliability(&labels, s, 10);
            let _ = expected_calibration_error(&labels, s, 0);
        }
        assert_eq!(expected_calibration_error(&[], &[], 10), 0.0);
        assert!(roc_curve(&[true, true], &[0.1, 0.2]).is_empty());
        assert_eq!(top_share(&[], &[], 0.1), TopShare::default());
    }

    #[test]
    fn reliability_bins_follow_the_sklearn_edge_rule() {
        // 0.1 sits on an inner edge: it belongs to the first bin, (0, 0.1].
        let bins = reliability(&[true, false, true, false], &[0.0, 0.1, 0.15, 1.0], 10);
        assert_eq!(bins.len(), 3);
        assert_eq!((bins[0].rows, bins[0].lower, bins[0].upper), (2, 0.0, 0.1));
        assert_eq!(bins[0].mean_predicted, 0.05);
        assert_eq!(bins[0].observed_rate, 0.5);
        assert_eq!((bins[1].rows, bins[1].upper), (1, 0.2));
        assert_eq!((bins[2].rows, bins[2].upper), (1, 1.0));
        // ECE = (2·|0.05 − 0.5| + 1·|0.15 − 1| + 1·|1 − 0|) / 4
        let ece =
            expected_calibration_error(&[true, false, true, false], &[0.0, 0.1, 0.15, 1.0], 10);
        assert!((ece - (0.9 + 0.85 + 1.0) / 4.0).abs() < 1e-15);
    }

    #[test]
    fn top_share_counts_ties_at_their_rate() {
        let labels = [
            true, false, true, false, false, false, false, false, false, false,
        ];
        let scores = [0.9, 0.8, 0.5, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, -1.0];
        let top = top_share(&labels, &scores, 0.2);
        assert_eq!(top.rows, 2);
        assert_eq!(top.positives, 1.0);
        assert!((top.lift - 0.5 / 0.2).abs() < 1e-12);
        // The cut at 3 rows splits the tie at 0.5 (one positive of two).
        let top = top_share(&labels, &scores, 0.3);
        assert_eq!((top.rows, top.positives), (3, 1.5));
        // ceil with slack: 0.07 · 100 is 7 rows, not 8.
        let many = vec![false; 100];
        assert_eq!(top_share(&many, &vec![0.0; 100], 0.07).rows, 7);
        assert_eq!(top_share(&many, &vec![0.0; 100], 0.071).rows, 8);
        assert_eq!(top_share(&many, &vec![0.0; 100], 0.071).lift, 0.0);
    }

    #[test]
    fn curves_have_their_endpoints_and_stay_small() {
        let n = 5000;
        let labels: Vec<bool> = (0..n).map(|i| (i * 37) % 100 < i * 100 / n).collect();
        let scores: Vec<f64> = (0..n).map(|i| i as f64 / n as f64).collect();
        let roc = roc_curve(&labels, &scores);
        assert!(roc.len() <= MAX_CURVE_POINTS);
        assert_eq!((roc[0], roc[roc.len() - 1]), ((0.0, 0.0), (1.0, 1.0)));
        assert!(roc.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
        let pr = pr_curve(&labels, &scores);
        assert!(pr.len() <= MAX_CURVE_POINTS);
        assert_eq!(pr[0], (0.0, 1.0));
        assert_eq!(pr[pr.len() - 1].0, 1.0);
        let gains = cumulative_gains(&labels, &scores, 50);
        assert_eq!(gains.len(), 51);
        assert_eq!((gains[0], gains[50]), ((0.0, 0.0), (1.0, 1.0)));
        assert!(gains.windows(2).all(|w| w[0].1 <= w[1].1));
        // Perfectly separated: the ROC curve is three points.
        assert_eq!(
            roc_curve(&[false, false, true, true], &[0.1, 0.2, 0.3, 0.4]),
            vec![(0.0, 0.0), (0.0, 1.0), (1.0, 1.0)]
        );
    }
}
