//! The training report: `report.json` (every number the trainer computed to
//! judge the model) and `report.html` (the same, for people), written next
//! to `model.json`.
//!
//! The HTML is one self-contained file: no JavaScript, no external assets;
//! the plots are inline SVG drawn here (ROC, precision–recall, reliability,
//! cumulative gains, lift, feature importance). Every string that comes from
//! data (file and column names, reasons, notices) is HTML-escaped, because
//! column names are whatever the CSV header says.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::train::evaluation::{
    average_precision, brier, cumulative_gains, expected_calibration_error, log_loss, pr_curve,
    reliability, roc_auc, roc_curve, top_share, ReliabilityBin,
};

/// Everything the trainer learned about one model, as written to
/// `report.json`. Unknown or missing fields default, so older reports stay
/// readable. Non-finite numbers are written as `null` by serde_json and do
/// not read back: fill undefined values with 0 and say why in `notices`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainingReport {
    /// Heading, e.g. `"x_education / 2"` (model name / version).
    pub title: String,
    /// When the trainer finished (RFC 3339).
    pub generated_at: String,
    /// The trainer command line, to reproduce the run.
    pub command: String,
    /// What was trained on.
    pub data: DataSummary,
    /// How rows were split into training and test.
    pub split: SplitSummary,
    /// The family of the chosen estimator (`"logistic"`, `"gbdt"`).
    pub model_family: String,
    /// Why that family was chosen over the other candidates.
    pub model_choice_reason: String,
    /// Every candidate family tried, with its cross-validated scores.
    pub candidates: Vec<CandidateSummary>,
    /// The calibration chosen and its effect.
    pub calibration: CalibrationSummary,
    /// Metrics of the served probabilities on the held-out test rows.
    pub test_metrics: MetricSet,
    /// Cross-validated metrics of the chosen configuration (mean ± sd over folds).
    pub cv_metrics: Vec<MetricSummary>,
    /// Curves on the test rows, for the plots.
    pub curves: Curves,
    /// Features by importance, highest first.
    pub feature_importance: Vec<FeatureImportance>,
    /// Columns that looked like they leak the outcome.
    pub leakage: Vec<LeakFinding>,
    /// Anything else a reader should know (warnings, dropped columns…).
    pub notices: Vec<String>,
    /// The account model against the naive roll-ups, when the trainer was
    /// given accounts and fitted one.
    pub accounts: Option<AccountSummary>,
}

/// The account model's evaluation: accounts on each side of the grouped
/// split and held-out metrics of the account model and the roll-ups.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountSummary {
    /// How leads were grouped (the account column, else the email domain).
    pub key: String,
    /// Accounts the account model was fitted on.
    pub train_accounts: u64,
    /// Training accounts that bought (any lead converted).
    pub train_positives: u64,
    /// Held-out accounts the metrics are computed on.
    pub test_accounts: u64,
    /// Held-out accounts that bought.
    pub test_positives: u64,
    /// Share of training accounts that bought (the base-rate prior).
    pub base_rate: f64,
    /// Leads with no account (no id, no or a free-mail email), scored alone.
    pub leads_without_account: u64,
    /// Accounts left out because their leads were on both sides of the split.
    pub straddling_accounts: u64,
    /// Lead probability from which a contact counts as engaged (the warm band).
    pub engaged_min_probability: f64,
    /// Numeric features summed and maximised per account.
    pub behavioural_features: Vec<String>,
    /// Held-out metrics: account model, max lead score, noisy-OR, base rate.
    pub methods: Vec<AccountMetrics>,
}

/// Held-out metrics of one way to score accounts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountMetrics {
    /// `"account model"`, `"max lead score (fallback)"`, `"noisy-OR"` or `"base rate"`.
    pub method: String,
    /// Mean log loss (natural log).
    pub log_loss: f64,
    /// Area under the ROC curve.
    pub roc_auc: f64,
    /// Brier score.
    pub brier: f64,
}

/// The training data file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataSummary {
    /// Path or name of the CSV.
    pub file: String,
    /// Data rows read.
    pub rows: u64,
    /// Columns read (target and id included).
    pub columns: u64,
    /// Rows with a positive outcome.
    pub positives: u64,
    /// Rows with a negative outcome.
    pub negatives: u64,
    /// `positives / rows`.
    pub positive_rate: f64,
    /// Class weighting used in fitting (e.g. `"none"`, `"balanced"`).
    pub class_weight: String,
    /// How each feature column was read, in feature order.
    pub column_readings: Vec<ColumnReading>,
}

/// How one column of the data file became a feature.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ColumnReading {
    /// The column's name in the file (header trimmed).
    pub column: String,
    /// The feature's name in the model.
    pub feature: String,
    /// `numeric`, `categorical` or `boolean`.
    pub kind: String,
    /// How its text was read ("number", "date (e.g. \"6/16/14\") as days since 1970-01-01", ...).
    pub read_as: String,
    /// Cells that were empty or a missing-value token.
    pub missing: u64,
}

/// The train/test split.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SplitSummary {
    /// `"stratified"`, `"out-of-time on COL"` or `"grouped by COL"`.
    pub method: String,
    /// Rows used for fitting (and cross-validation).
    pub train_rows: u64,
    /// Held-out rows the test metrics are computed on.
    pub test_rows: u64,
    /// Positive rows among the test rows.
    pub test_positives: u64,
}

/// One candidate estimator family and its cross-validated scores.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CandidateSummary {
    /// Estimator family.
    pub family: String,
    /// Mean log loss over the CV folds (lower is better).
    pub cv_log_loss_mean: f64,
    /// Standard deviation of the fold log losses.
    pub cv_log_loss_sd: f64,
    /// Mean ROC AUC over the CV folds.
    pub cv_roc_auc_mean: f64,
    /// Standard deviation of the fold ROC AUCs.
    pub cv_roc_auc_sd: f64,
    /// Wall-clock seconds to cross-validate the candidate.
    pub fit_seconds: f64,
    /// Fit time of each cross-validation fold, seconds.
    pub fold_seconds: Vec<f64>,
}

/// The calibration step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CalibrationSummary {
    /// `"none"`, `"platt"` or `"isotonic"` (as `Calibration::method`).
    pub method: String,
    /// Why this method was chosen.
    pub reason: String,
    /// Expected calibration error on the calibration rows before calibrating.
    pub validation_ece_before: f64,
    /// The same after calibrating.
    pub validation_ece_after: f64,
}

/// Metrics of one set of predictions, with the base-rate prior
/// (everyone gets the training positive rate) for comparison.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricSet {
    /// Area under the ROC curve (0.5 for the prior).
    pub roc_auc: f64,
    /// Average precision (area under the precision–recall curve).
    pub pr_auc: f64,
    /// Mean log loss (natural log).
    pub log_loss: f64,
    /// Brier score.
    pub brier: f64,
    /// Expected calibration error, 10 equal-width bins.
    pub ece: f64,
    /// Share of positives among the top 10% of rows by score.
    pub precision_top10: f64,
    /// `precision_top10` over the positive rate of these rows.
    pub lift_top10: f64,
    /// Log loss of the base-rate prior.
    pub base_rate_log_loss: f64,
    /// Brier score of the base-rate prior.
    pub base_rate_brier: f64,
    /// Average precision of the prior: the positive rate of these rows.
    pub base_rate_pr_auc: f64,
    /// Rows evaluated.
    pub rows: u64,
    /// Positive rows evaluated.
    pub positives: u64,
}

impl MetricSet {
    /// Computes every metric for `probabilities` against `labels`, with the
    /// prior predicting `base_rate` (the training positive rate) for all.
    /// Undefined values (a class absent) are 0.
    pub fn from_predictions(labels: &[bool], probabilities: &[f64], base_rate: f64) -> Self {
        let n = labels.len().min(probabilities.len());
        let (labels, probabilities) = (&labels[..n], &probabilities[..n]);
        let positives = labels.iter().filter(|&&y| y).count() as u64;
        let prior = vec![base_rate; n];
        let top = top_share(labels, probabilities, 0.1);
        let has_both = positives > 0 && positives < n as u64;
        Self {
            roc_auc: if has_both {
                roc_auc(labels, probabilities).unwrap_or(0.0)
            } else {
                0.0
            },
            pr_auc: average_precision(labels, probabilities).unwrap_or(0.0),
            log_loss: log_loss(labels, probabilities),
            brier: brier(labels, probabilities),
            ece: expected_calibration_error(labels, probabilities, 10),
            precision_top10: top.precision,
            lift_top10: top.lift,
            base_rate_log_loss: log_loss(labels, &prior),
            base_rate_brier: brier(labels, &prior),
            base_rate_pr_auc: if n == 0 {
                0.0
            } else {
                positives as f64 / n as f64
            },
            rows: n as u64,
            positives,
        }
    }
}

/// Mean and standard deviation of one metric over cross-validation folds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricSummary {
    /// Metric name (`"roc_auc"`, `"log_loss"`…).
    pub name: String,
    /// Mean over folds.
    pub mean: f64,
    /// Standard deviation over folds.
    pub sd: f64,
}

/// The curves behind the plots, each at most ~200 points.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Curves {
    /// (false positive rate, true positive rate).
    pub roc: Vec<(f64, f64)>,
    /// (recall, precision).
    pub pr: Vec<(f64, f64)>,
    /// Reliability bins (non-empty ones).
    pub reliability: Vec<ReliabilityBin>,
    /// (share of rows contacted, share of positives found).
    pub gains: Vec<(f64, f64)>,
}

impl Curves {
    /// All four curves for `probabilities` against `labels` (10 reliability
    /// bins, 100 gains steps).
    pub fn from_predictions(labels: &[bool], probabilities: &[f64]) -> Self {
        Self {
            roc: roc_curve(labels, probabilities),
            pr: pr_curve(labels, probabilities),
            reliability: reliability(labels, probabilities, 10),
            gains: cumulative_gains(labels, probabilities, 100),
        }
    }
}

/// How much one source feature matters to the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeatureImportance {
    /// Column name in the data.
    pub feature: String,
    /// Human label (may be empty: the column name is shown).
    pub label: String,
    /// Importance (e.g. mean |contribution| in log-odds); ≥ 0.
    pub importance: f64,
}

/// A column that predicts the outcome suspiciously well.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LeakFinding {
    /// Column name in the data.
    pub column: String,
    /// What gave it away (e.g. "alone reaches ROC AUC 0.99").
    pub evidence: String,
    /// Whether the column was kept although the guard would refuse it
    /// (explicitly allowed by the user with `--allow-leaky`).
    pub allowed: bool,
    /// Which rule fired (see `train::leakage`).
    pub rule: String,
    /// `refuse` (strong evidence) or `warn` (weak evidence; kept).
    pub tier: crate::train::leakage::Tier,
}

impl LeakFinding {
    /// What the trainer did with the column, for the report's tables.
    pub fn action(&self) -> &'static str {
        match (self.tier, self.allowed) {
            (crate::train::leakage::Tier::Warn, _) => "kept (warning only)",
            (_, true) => "kept (allowed with --allow-leaky)",
            (_, false) => "refused",
        }
    }
}

impl TrainingReport {
    /// Writes `report.json` and `report.html` into `dir` and returns their paths.
    ///
    /// # Errors
    /// Any I/O error writing either file, or a serialisation error (as
    /// `io::ErrorKind::Other`).
    pub fn write_to(&self, dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
        let json_path = dir.join("report.json");
        let html_path = dir.join("report.html");
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&json_path, json + "\n")?;
        std::fs::write(&html_path, render_html(self))?;
        Ok((json_path, html_path))
    }
}

// ---------------------------------------------------------------------------
// Text helpers

/// Escapes the five HTML-significant characters; safe in text and in
/// quoted attribute values, in HTML and in inline SVG.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number with `digits` decimals, or an en dash when it is not finite.
fn num(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        "–".to_string()
    }
}

/// Percentage with one decimal.
fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}%", 100.0 * x)
    } else {
        "–".to_string()
    }
}

/// Shortens to at most `max` characters (on a char boundary), marking the cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// The display name of a feature: its label, else its column name.
fn feature_name(f: &FeatureImportance) -> &str {
    if f.label.trim().is_empty() {
        &f.feature
    } else {
        &f.label
    }
}

/// Features sorted by importance, highest first (NaN last), whatever order
/// the report holds them in.
fn sorted_importance(report: &TrainingReport) -> Vec<&FeatureImportance> {
    let mut v: Vec<&FeatureImportance> = report.feature_importance.iter().collect();
    let key = |f: &FeatureImportance| {
        if f.importance.is_nan() {
            f64::NEG_INFINITY
        } else {
            f.importance
        }
    };
    v.sort_by(|a, b| key(b).total_cmp(&key(a)));
    v
}

// ---------------------------------------------------------------------------
// SVG plots

/// Plot width in SVG user units (and CSS pixels at scale 1).
const PLOT_W: f64 = 400.0;
/// Plot height.
const PLOT_H: f64 = 300.0;
/// Margins: left (y tick labels and axis title), right, top (title and
/// legend strip), bottom. The legend sits above the plot area so it can
/// never hide a curve.
const MARGIN: (f64, f64, f64, f64) = (56.0, 16.0, 44.0, 46.0);

/// Evenly spaced "nice" tick values (steps of 1, 2 or 5 × 10ᵏ) covering
/// [lo, hi] with about `target` intervals.
fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// Decimals that show a tick step exactly (0.2 → 1, 0.05 → 2, 5 → 0).
fn tick_decimals(ticks: &[f64]) -> usize {
    let step = match ticks {
        [a, b, ..] => (b - a).abs(),
        _ => 1.0,
    };
    if step >= 1.0 || step <= 0.0 {
        0
    } else {
        (-step.log10()).ceil().clamp(0.0, 6.0) as usize
    }
}

/// One 400×300 plot with linear axes being drawn into an SVG string.
struct Plot {
    /// Data range on x.
    x: (f64, f64),
    /// Data range on y.
    y: (f64, f64),
    /// The SVG markup so far.
    svg: String,
    /// Where the next legend entry starts (x).
    legend_x: f64,
}

impl Plot {
    /// Starts a plot: frame, grid, ticks, axis titles and title.
    fn new(
        id: &str,
        title: &str,
        x: (f64, f64),
        y: (f64, f64),
        x_label: &str,
        y_label: &str,
    ) -> Self {
        let mut plot = Self {
            x,
            y,
            svg: String::new(),
            legend_x: MARGIN.0,
        };
        let (l, r, t, b) = MARGIN;
        let _ = write!(
            plot.svg,
            r#"<svg id="{id}" class="plot" xmlns="http://www.w3.org/2000/svg" width="{PLOT_W}" height="{PLOT_H}" viewBox="0 0 {PLOT_W} {PLOT_H}" role="img" aria-label="{title}">"#,
            id = escape_html(id),
            title = escape_html(title),
        );
        let _ = write!(
            plot.svg,
            r#"<text class="title" x="{cx}" y="18" text-anchor="middle">{title}</text>"#,
            cx = (l + PLOT_W - r) / 2.0,
            title = escape_html(title),
        );
        let x_ticks = nice_ticks(x.0, x.1, 5);
        let y_ticks = nice_ticks(y.0, y.1, 5);
        let (xd, yd) = (tick_decimals(&x_ticks), tick_decimals(&y_ticks));
        for &v in &x_ticks {
            let px = plot.px(v);
            let _ = write!(
                plot.svg,
                r#"<line class="grid" x1="{px:.1}" y1="{t}" x2="{px:.1}" y2="{y2}"/><line class="axis" x1="{px:.1}" y1="{y2}" x2="{px:.1}" y2="{y3}"/><text class="tick" x="{px:.1}" y="{y4}" text-anchor="middle">{label}</text>"#,
                y2 = PLOT_H - b,
                y3 = PLOT_H - b + 4.0,
                y4 = PLOT_H - b + 16.0,
                label = num(v, xd),
            );
        }
        for &v in &y_ticks {
            let py = plot.py(v);
            let _ = write!(
                plot.svg,
                r#"<line class="grid" x1="{l}" y1="{py:.1}" x2="{x2}" y2="{py:.1}"/><line class="axis" x1="{x0}" y1="{py:.1}" x2="{l}" y2="{py:.1}"/><text class="tick" x="{x1}" y="{ty:.1}" text-anchor="end">{label}</text>"#,
                x2 = PLOT_W - r,
                x0 = l - 4.0,
                x1 = l - 6.0,
                ty = py + 4.0,
                label = num(v, yd),
            );
        }
        let _ = write!(
            plot.svg,
            r#"<rect class="frame" x="{l}" y="{t}" width="{w}" height="{h}"/><text class="label" x="{cx}" y="{ly}" text-anchor="middle">{x_label}</text><text class="label" transform="translate(14 {cy}) rotate(-90)" text-anchor="middle">{y_label}</text>"#,
            w = PLOT_W - l - r,
            h = PLOT_H - t - b,
            cx = (l + PLOT_W - r) / 2.0,
            ly = PLOT_H - 10.0,
            cy = (t + PLOT_H - b) / 2.0,
            x_label = escape_html(x_label),
            y_label = escape_html(y_label),
        );
        plot
    }

    /// Data x to SVG x (clamped to the plot area so stray values stay inside).
    fn px(&self, v: f64) -> f64 {
        let (l, r, _, _) = MARGIN;
        let span = self.x.1 - self.x.0;
        let f = if span > 0.0 {
            (v - self.x.0) / span
        } else {
            0.0
        };
        l + f.clamp(0.0, 1.0) * (PLOT_W - l - r)
    }

    /// Data y to SVG y (clamped).
    fn py(&self, v: f64) -> f64 {
        let (_, _, t, b) = MARGIN;
        let span = self.y.1 - self.y.0;
        let f = if span > 0.0 {
            (v - self.y.0) / span
        } else {
            0.0
        };
        PLOT_H - b - f.clamp(0.0, 1.0) * (PLOT_H - t - b)
    }

    /// A polyline through the finite points.
    fn line(&mut self, points: &[(f64, f64)], class: &str) {
        let coords: Vec<String> = points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", self.px(x), self.py(y)))
            .collect();
        if coords.len() >= 2 {
            let _ = write!(
                self.svg,
                r#"<polyline class="{class}" points="{}"/>"#,
                coords.join(" ")
            );
        }
    }

    /// Appends a legend entry to the strip between title and plot area.
    fn legend(&mut self, class: &str, text: &str) {
        let (x, y) = (self.legend_x, 34.0);
        let _ = write!(
            self.svg,
            r#"<line class="{class}" x1="{x}" y1="{y1}" x2="{x2}" y2="{y1}"/><text class="legend" x="{tx}" y="{y}">{text}</text>"#,
            y1 = y - 3.5,
            x2 = x + 18.0,
            tx = x + 22.0,
            text = escape_html(text),
        );
        // ~5.5 units per character at 10px plus the swatch and a gap.
        self.legend_x += 22.0 + 5.5 * text.chars().count() as f64 + 14.0;
    }

    /// Centered grey note, for plots without data.
    fn note(&mut self, text: &str) {
        let (l, r, t, b) = MARGIN;
        let _ = write!(
            self.svg,
            r#"<text class="note" x="{x}" y="{y}" text-anchor="middle">{text}</text>"#,
            x = (l + PLOT_W - r) / 2.0,
            y = (t + PLOT_H - b) / 2.0,
            text = escape_html(text),
        );
    }

    /// Closes the SVG element.
    fn finish(mut self) -> String {
        self.svg.push_str("</svg>");
        self.svg
    }
}

/// ROC curve with the chance diagonal.
fn roc_svg(report: &TrainingReport) -> String {
    let title = format!("ROC curve (AUC {})", num(report.test_metrics.roc_auc, 3));
    let mut p = Plot::new(
        "plot-roc",
        &title,
        (0.0, 1.0),
        (0.0, 1.0),
        "False positive rate",
        "True positive rate",
    );
    p.line(&[(0.0, 0.0), (1.0, 1.0)], "ref");
    if report.curves.roc.is_empty() {
        p.note("no ROC curve (one class only)");
    } else {
        p.line(&report.curves.roc, "curve");
        p.legend("curve", "model");
        p.legend("ref", "chance");
    }
    p.finish()
}

/// Precision–recall curve with the base-rate line.
fn pr_svg(report: &TrainingReport) -> String {
    let title = format!(
        "Precision–recall (AP {})",
        num(report.test_metrics.pr_auc, 3)
    );
    let mut p = Plot::new(
        "plot-pr",
        &title,
        (0.0, 1.0),
        (0.0, 1.0),
        "Recall",
        "Precision",
    );
    let base = report.test_metrics.base_rate_pr_auc;
    p.line(&[(0.0, base), (1.0, base)], "ref");
    if report.curves.pr.is_empty() {
        p.note("no precision–recall curve (no positives)");
    } else {
        p.line(&report.curves.pr, "curve");
        // Legend at the top right: the curve usually sits high on the left.
        p.legend("curve", "model");
        p.legend("ref", &format!("base rate {}", pct(base)));
    }
    p.finish()
}

/// Reliability diagram: observed rate against mean predicted probability per
/// bin, the ideal diagonal, and a histogram of bin counts along the bottom.
fn reliability_svg(report: &TrainingReport) -> String {
    let title = format!("Calibration (ECE {})", num(report.test_metrics.ece, 3));
    let mut p = Plot::new(
        "plot-reliability",
        &title,
        (0.0, 1.0),
        (0.0, 1.0),
        "Mean predicted probability",
        "Observed positive rate",
    );
    let bins = &report.curves.reliability;
    let max_rows = bins.iter().map(|b| b.rows).max().unwrap_or(0);
    // Count histogram in the bottom quarter, drawn first so it sits behind.
    if max_rows > 0 {
        for bin in bins {
            let x0 = p.px(bin.lower) + 1.0;
            let x1 = p.px(bin.upper) - 1.0;
            let y_base = p.py(0.0);
            let h = 0.25 * (p.py(0.0) - p.py(1.0)) * bin.rows as f64 / max_rows as f64;
            let _ = write!(
                p.svg,
                r#"<rect class="hist" x="{x0:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}"/><text class="count" x="{cx:.1}" y="{ty:.1}" text-anchor="middle">{rows}</text>"#,
                y = y_base - h,
                w = (x1 - x0).max(0.5),
                cx = (x0 + x1) / 2.0,
                ty = y_base - h - 2.0,
                rows = bin.rows,
            );
        }
    }
    p.line(&[(0.0, 0.0), (1.0, 1.0)], "ref");
    if bins.is_empty() {
        p.note("no probabilities");
    } else {
        let points: Vec<(f64, f64)> = bins
            .iter()
            .map(|b| (b.mean_predicted, b.observed_rate))
            .collect();
        p.line(&points, "curve");
        for &(x, y) in &points {
            let _ = write!(
                p.svg,
                r#"<circle class="dot" cx="{:.1}" cy="{:.1}" r="3"/>"#,
                p.px(x),
                p.py(y)
            );
        }
        p.legend("curve", "model");
        p.legend("ref", "perfectly calibrated");
        p.legend("hist", "rows per bin");
    }
    p.finish()
}

/// Cumulative gains with the random-order diagonal and the perfect model.
fn gains_svg(report: &TrainingReport) -> String {
    let mut p = Plot::new(
        "plot-gains",
        "Cumulative gains",
        (0.0, 1.0),
        (0.0, 1.0),
        "Share of leads contacted (highest score first)",
        "Share of conversions found",
    );
    let base = report.test_metrics.base_rate_pr_auc;
    p.line(&[(0.0, 0.0), (1.0, 1.0)], "ref");
    if base > 0.0 && base <= 1.0 {
        p.line(&[(0.0, 0.0), (base, 1.0), (1.0, 1.0)], "ideal");
    }
    if report.curves.gains.is_empty() {
        p.note("no gains curve (no positives)");
    } else {
        p.line(&report.curves.gains, "curve");
        p.legend("curve", "model");
        p.legend("ref", "random order");
        p.legend("ideal", "perfect ranking");
    }
    p.finish()
}

/// Lift (share found / share contacted) along the gains curve, with 1.
fn lift_svg(report: &TrainingReport) -> String {
    // Skip the first few percent: lift over a handful of rows is noise.
    let lift: Vec<(f64, f64)> = report
        .curves
        .gains
        .iter()
        .filter(|(x, _)| *x >= 0.02)
        .map(|&(x, y)| (x, y / x))
        .collect();
    let top = lift
        .iter()
        .map(|p| p.1)
        .filter(|v| v.is_finite())
        .fold(1.0f64, f64::max);
    let y_max = nice_ticks(0.0, top * 1.05, 5)
        .last()
        .copied()
        .filter(|v| *v >= top)
        .unwrap_or(top * 1.2)
        .max(1.5);
    let mut p = Plot::new(
        "plot-lift",
        &format!(
            "Lift (top 10%: {}×)",
            num(report.test_metrics.lift_top10, 2)
        ),
        (0.0, 1.0),
        (0.0, y_max),
        "Share of leads contacted (highest score first)",
        "Lift over random",
    );
    p.line(&[(0.0, 1.0), (1.0, 1.0)], "ref");
    if lift.is_empty() {
        p.note("no lift curve (no positives)");
    } else {
        p.line(&lift, "curve");
        p.legend("curve", "model");
        p.legend("ref", "random order (1×)");
    }
    p.finish()
}

/// Horizontal bars of the top 20 features by importance.
fn importance_svg(report: &TrainingReport) -> String {
    const TOP: usize = 20;
    const WIDTH: f64 = 820.0;
    const NAME_W: f64 = 280.0;
    const ROW_H: f64 = 20.0;
    const TOP_PAD: f64 = 30.0;
    let features = sorted_importance(report);
    let shown = &features[..features.len().min(TOP)];
    let height = TOP_PAD + ROW_H * shown.len().max(1) as f64 + 30.0;
    let max = shown
        .iter()
        .map(|f| f.importance.abs())
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let bar_area = WIDTH - NAME_W - 80.0;
    let mut svg = String::new();
    let title = if features.len() > TOP {
        format!("Feature importance (top {TOP} of {})", features.len())
    } else {
        "Feature importance".to_string()
    };
    let _ = write!(
        svg,
        r#"<svg id="plot-importance" class="plot wide" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{t}"><text class="title" x="{cx}" y="18" text-anchor="middle">{t}</text>"#,
        t = escape_html(&title),
        cx = WIDTH / 2.0,
    );
    if shown.is_empty() {
        let _ = write!(
            svg,
            r#"<text class="note" x="{}" y="{}" text-anchor="middle">no feature importance recorded</text>"#,
            WIDTH / 2.0,
            TOP_PAD + 14.0
        );
    }
    for (i, f) in shown.iter().enumerate() {
        let y = TOP_PAD + ROW_H * i as f64;
        let value = if f.importance.is_finite() {
            f.importance.abs()
        } else {
            0.0
        };
        let w = if max > 0.0 {
            bar_area * value / max
        } else {
            0.0
        };
        let name = feature_name(f);
        let _ = write!(
            svg,
            r#"<text class="tick" x="{nx}" y="{ty:.1}" text-anchor="end"><title>{full}</title>{short}</text><rect class="bar" x="{bx}" y="{by:.1}" width="{w:.1}" height="{bh:.1}"/><text class="tick" x="{vx:.1}" y="{ty:.1}">{val}</text>"#,
            nx = NAME_W - 8.0,
            ty = y + ROW_H * 0.5 + 4.0,
            full = escape_html(name),
            short = escape_html(&shorten(name, 40)),
            bx = NAME_W,
            by = y + 3.0,
            bh = ROW_H - 6.0,
            vx = NAME_W + w + 5.0,
            val = num(f.importance, 3),
        );
    }
    let axis_y = TOP_PAD + ROW_H * shown.len().max(1) as f64;
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{NAME_W}" y1="{t}" x2="{NAME_W}" y2="{axis_y}"/><text class="label" x="{cx}" y="{ly}" text-anchor="middle">importance (mean |contribution| to log-odds)</text></svg>"#,
        t = TOP_PAD,
        cx = NAME_W + bar_area / 2.0,
        ly = axis_y + 20.0,
    );
    svg
}

// ---------------------------------------------------------------------------
// HTML

/// Inline stylesheet: plain, printable, readable at 400×300 per plot.
const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1000px;padding:0 16px;color:#1f2328;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}
.meta{color:#57606a;font-size:.9em}code{background:#f6f8fa;padding:1px 4px;border-radius:4px;font-size:.88em;overflow-wrap:break-word}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}th,td{border:1px solid #d0d7de;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}tr.chosen td{font-weight:600;background:#f0f7ff}
.summary{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:12px}.card{border:1px solid #d0d7de;border-radius:6px;padding:8px 14px}
.card h3{margin:.2em 0 .4em;font-size:1em}.card table{margin:0;width:100%}.card td,.card th{border:none;padding:2px 4px}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(410px,1fr));gap:14px}
svg.plot{background:#fff;border:1px solid #d0d7de;border-radius:6px;max-width:100%;height:auto}
svg text{font-family:system-ui,sans-serif}svg .title{font-size:13px;font-weight:600;fill:#1f2328}
svg .tick{font-size:10px;fill:#57606a}svg .label{font-size:11px;fill:#1f2328}svg .legend{font-size:10px;fill:#1f2328}
svg .count{font-size:9px;fill:#57606a}svg .note{font-size:12px;fill:#8c959f}
svg .grid{stroke:#eaeef2;stroke-width:1}svg .axis{stroke:#57606a;stroke-width:1}svg .frame{fill:none;stroke:#8c959f;stroke-width:1}
svg .curve{fill:none;stroke:#0969da;stroke-width:2}svg .ref{fill:none;stroke:#8c959f;stroke-width:1.2;stroke-dasharray:5 4}
svg .ideal{fill:none;stroke:#1a7f37;stroke-width:1.2;stroke-dasharray:2 3}svg .dot{fill:#0969da;stroke:#fff;stroke-width:1}
svg .hist{fill:#d8e3ef;stroke:#d8e3ef;stroke-width:6}svg .bar{fill:#0969da}
.good{color:#1a7f37}.bad{color:#cf222e}.warn{background:#fff8c5}ul.notices li{margin:.3em 0}
"#;

/// A `<tr>` of a two-column key/value table; `value` is already HTML.
fn kv(key: &str, value_html: &str) -> String {
    format!(
        "<tr><th>{}</th><td>{value_html}</td></tr>",
        escape_html(key)
    )
}

/// One row of the metrics table: model vs prior, and which is better.
fn metric_row(name: &str, model: f64, prior: f64, higher_is_better: bool, digits: usize) -> String {
    let verdict = if !(model.is_finite() && prior.is_finite()) {
        String::new()
    } else if (model - prior).abs() < 1e-12 {
        "same".to_string()
    } else if (model > prior) == higher_is_better {
        r#"<span class="good">model better</span>"#.to_string()
    } else {
        r#"<span class="bad">prior better</span>"#.to_string()
    };
    format!(
        r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td>{verdict}</td></tr>"#,
        escape_html(name),
        num(model, digits),
        num(prior, digits),
    )
}

/// Renders the report as one self-contained HTML page (no JavaScript, no
/// external assets; plots are inline SVG).
pub fn render_html(report: &TrainingReport) -> String {
    let r = report;
    let e = escape_html;
    let mut h = String::with_capacity(64 * 1024);
    let title = if r.title.is_empty() {
        "Training report"
    } else {
        &r.title
    };
    let _ = write!(
        h,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{t} — leadscore training report</title><style>{STYLE}</style></head><body>"#,
        t = e(title),
    );
    let _ = write!(
        h,
        r#"<header><h1>{t}</h1><p class="meta">leadscore training report · generated {g}</p><p class="meta">command: <code>{c}</code></p></header>"#,
        t = e(title),
        g = e(&r.generated_at),
        c = e(&r.command),
    );

    // Summary cards.
    h.push_str(r#"<section id="summary"><h2>Summary</h2><div class="summary">"#);
    let d = &r.data;
    let _ = write!(
        h,
        r#"<div class="card"><h3>Data</h3><table>{}{}{}{}</table></div>"#,
        kv("file", &format!("<code>{}</code>", e(&d.file))),
        kv("rows × columns", &format!("{} × {}", d.rows, d.columns)),
        kv(
            "positives / negatives",
            &format!(
                "{} / {} ({})",
                d.positives,
                d.negatives,
                pct(d.positive_rate)
            )
        ),
        kv("class weight", &e(&d.class_weight)),
    );
    let s = &r.split;
    let _ = write!(
        h,
        r#"<div class="card"><h3>Split</h3><table>{}{}{}</table></div>"#,
        kv("method", &e(&s.method)),
        kv("train rows", &s.train_rows.to_string()),
        kv(
            "test rows (positives)",
            &format!("{} ({})", s.test_rows, s.test_positives)
        ),
    );
    let c = &r.calibration;
    let _ = write!(
        h,
        r#"<div class="card"><h3>Model</h3><table>{}{}{}{}{}</table></div>"#,
        kv(
            "family",
            &format!("<strong>{}</strong>", e(&r.model_family))
        ),
        kv("why", &e(&r.model_choice_reason)),
        kv("calibration", &format!("<strong>{}</strong>", e(&c.method))),
        kv("why", &e(&c.reason)),
        kv(
            "validation ECE",
            &format!(
                "{} → {}",
                num(c.validation_ece_before, 4),
                num(c.validation_ece_after, 4)
            )
        ),
    );
    h.push_str("</div></section>");

    // Test metrics, model vs prior.
    let m = &r.test_metrics;
    let _ = write!(
        h,
        r#"<section id="metrics"><h2>Held-out test metrics</h2><p class="meta">{} rows, {} positives. The prior predicts the training positive rate for every lead.</p><table><thead><tr><th>metric</th><th>model</th><th>base-rate prior</th><th></th></tr></thead><tbody>"#,
        m.rows, m.positives
    );
    h.push_str(&metric_row("ROC AUC", m.roc_auc, 0.5, true, 4));
    h.push_str(&metric_row(
        "PR AUC (average precision)",
        m.pr_auc,
        m.base_rate_pr_auc,
        true,
        4,
    ));
    h.push_str(&metric_row(
        "log loss",
        m.log_loss,
        m.base_rate_log_loss,
        false,
        4,
    ));
    h.push_str(&metric_row(
        "Brier score",
        m.brier,
        m.base_rate_brier,
        false,
        4,
    ));
    let _ = write!(
        h,
        r#"<tr><td>ECE (10 bins)</td><td class="n">{}</td><td class="n">–</td><td></td></tr>"#,
        num(m.ece, 4)
    );
    h.push_str(&metric_row(
        "precision in top 10%",
        m.precision_top10,
        m.base_rate_pr_auc,
        true,
        4,
    ));
    h.push_str(&metric_row("lift in top 10%", m.lift_top10, 1.0, true, 4));
    h.push_str("</tbody></table></section>");

    // Cross-validation.
    h.push_str(r#"<section id="cv"><h2>Cross-validation</h2>"#);
    if !r.candidates.is_empty() {
        h.push_str(r#"<table><thead><tr><th>candidate</th><th>log loss (mean ± sd)</th><th>ROC AUC (mean ± sd)</th><th>fit seconds per fold (mean)</th><th>each fold</th></tr></thead><tbody>"#);
        for cand in &r.candidates {
            let folds: Vec<String> = cand.fold_seconds.iter().map(|s| num(*s, 2)).collect();
            let chosen = cand.family == r.model_family;
            let _ = write!(
                h,
                r#"<tr{cls}><td>{f}{mark}</td><td class="n">{} ± {}</td><td class="n">{} ± {}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
                num(cand.cv_log_loss_mean, 4),
                num(cand.cv_log_loss_sd, 4),
                num(cand.cv_roc_auc_mean, 4),
                num(cand.cv_roc_auc_sd, 4),
                num(cand.fit_seconds, 2),
                folds.join(", "),
                cls = if chosen { r#" class="chosen""# } else { "" },
                f = e(&cand.family),
                mark = if chosen { " (chosen)" } else { "" },
            );
        }
        h.push_str("</tbody></table>");
    }
    if !r.cv_metrics.is_empty() {
        h.push_str(r#"<table><thead><tr><th>metric (chosen model)</th><th>mean</th><th>sd</th></tr></thead><tbody>"#);
        for cv in &r.cv_metrics {
            let _ = write!(
                h,
                r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
                e(&cv.name),
                num(cv.mean, 4),
                num(cv.sd, 4)
            );
        }
        h.push_str("</tbody></table>");
    }
    if r.candidates.is_empty() && r.cv_metrics.is_empty() {
        h.push_str(r#"<p class="meta">No cross-validation was run.</p>"#);
    }
    h.push_str("</section>");

    // Plots.
    h.push_str(r#"<section id="plots"><h2>Test-set plots</h2><div class="plots">"#);
    for svg in [
        roc_svg(r),
        pr_svg(r),
        reliability_svg(r),
        gains_svg(r),
        lift_svg(r),
    ] {
        h.push_str(&svg);
    }
    h.push_str("</div></section>");
    h.push_str(r#"<section id="importance"><h2>Feature importance</h2>"#);
    h.push_str(&importance_svg(r));
    h.push_str("</section>");

    // Leakage.
    // How the columns were read.
    if !r.data.column_readings.is_empty() {
        h.push_str(r#"<section id="columns"><h2>How each column was read</h2><table><thead><tr><th>column</th><th>feature</th><th>kind</th><th>read as</th><th>missing cells</th></tr></thead><tbody>"#);
        for c in &r.data.column_readings {
            let _ = write!(
                h,
                r#"<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                e(&c.column),
                e(&c.feature),
                e(&c.kind),
                e(&c.read_as),
                c.missing
            );
        }
        h.push_str("</tbody></table></section>");
    }

    h.push_str(r#"<section id="leakage"><h2>Leakage checks</h2>"#);
    if r.leakage.is_empty() {
        h.push_str("<p>No column looked like it leaks the outcome.</p>");
    } else {
        h.push_str(r#"<table><thead><tr><th>column</th><th>evidence</th><th>action</th></tr></thead><tbody>"#);
        for f in &r.leakage {
            let _ = write!(
                h,
                r#"<tr{cls}><td><code>{}</code></td><td>{}</td><td>{}</td></tr>"#,
                e(&f.column),
                e(&f.evidence),
                f.action(),
                cls = if f.allowed || f.tier == crate::train::leakage::Tier::Warn {
                    r#" class="warn""#
                } else {
                    ""
                },
            );
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</section>");

    // Accounts.
    if let Some(a) = &r.accounts {
        let _ = write!(
            h,
            r#"<section id="accounts"><h2>Accounts</h2><p class="meta">Accounts keyed by {}; {} training accounts ({} bought), {} held-out accounts ({} bought); base rate {}. {} leads without an account. An engaged contact has a lead probability of at least {} or any behaviour above 0.</p><table><thead><tr><th>held-out accounts</th><th>log loss</th><th>ROC AUC</th><th>Brier</th></tr></thead><tbody>"#,
            e(&a.key),
            a.train_accounts,
            a.train_positives,
            a.test_accounts,
            a.test_positives,
            pct(a.base_rate),
            a.leads_without_account,
            num(a.engaged_min_probability, 4),
        );
        for m in &a.methods {
            let _ = write!(
                h,
                r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
                e(&m.method),
                num(m.log_loss, 4),
                num(m.roc_auc, 4),
                num(m.brier, 4)
            );
        }
        h.push_str("</tbody></table></section>");
    }

    // Notices.
    h.push_str(r#"<section id="notices"><h2>Notices</h2>"#);
    if r.notices.is_empty() {
        h.push_str("<p>None.</p>");
    } else {
        h.push_str(r#"<ul class="notices">"#);
        for n in &r.notices {
            let _ = write!(h, "<li>{}</li>", e(n));
        }
        h.push_str("</ul>");
    }
    h.push_str("</section></body></html>\n");
    h
}

/// Escapes text for a Markdown table cell (pipes, newlines, and HTML, since
/// most renderers pass inline HTML through).
fn md_cell(text: &str) -> String {
    escape_html(text)
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// Renders the summary tables (no plots) as Markdown, e.g. for a pull
/// request or a CI log.
pub fn render_markdown(report: &TrainingReport) -> String {
    let r = report;
    let mut md = String::new();
    let title = if r.title.is_empty() {
        "Training report"
    } else {
        &r.title
    };
    let _ = writeln!(md, "# {}\n", md_cell(title));
    let _ = writeln!(
        md,
        "Generated {} by `{}`\n",
        md_cell(&r.generated_at),
        r.command.replace('`', "'")
    );
    let d = &r.data;
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(md, "| data | {} |", md_cell(&d.file));
    let _ = writeln!(md, "| rows × columns | {} × {} |", d.rows, d.columns);
    let _ = writeln!(
        md,
        "| positives | {} ({}) |",
        d.positives,
        pct(d.positive_rate)
    );
    let _ = writeln!(
        md,
        "| split | {} (train {}, test {}) |",
        md_cell(&r.split.method),
        r.split.train_rows,
        r.split.test_rows
    );
    let _ = writeln!(
        md,
        "| model | {} — {} |",
        md_cell(&r.model_family),
        md_cell(&r.model_choice_reason)
    );
    let _ = writeln!(
        md,
        "| calibration | {} — {} |\n",
        md_cell(&r.calibration.method),
        md_cell(&r.calibration.reason)
    );

    let m = &r.test_metrics;
    let _ = writeln!(
        md,
        "| test metric | model | base-rate prior |\n|---|---:|---:|"
    );
    for (name, model, prior) in [
        ("ROC AUC", m.roc_auc, 0.5),
        ("PR AUC", m.pr_auc, m.base_rate_pr_auc),
        ("log loss", m.log_loss, m.base_rate_log_loss),
        ("Brier", m.brier, m.base_rate_brier),
        ("ECE", m.ece, f64::NAN),
        ("precision top 10%", m.precision_top10, m.base_rate_pr_auc),
        ("lift top 10%", m.lift_top10, 1.0),
    ] {
        let _ = writeln!(md, "| {name} | {} | {} |", num(model, 4), num(prior, 4));
    }
    if !r.candidates.is_empty() {
        let _ = writeln!(
            md,
            "\n| candidate | CV log loss | CV ROC AUC | fit s |\n|---|---:|---:|---:|"
        );
        for c in &r.candidates {
            let _ = writeln!(
                md,
                "| {} | {} ± {} | {} ± {} | {} |",
                md_cell(&c.family),
                num(c.cv_log_loss_mean, 4),
                num(c.cv_log_loss_sd, 4),
                num(c.cv_roc_auc_mean, 4),
                num(c.cv_roc_auc_sd, 4),
                num(c.fit_seconds, 1)
            );
        }
    }
    if !r.data.column_readings.is_empty() {
        let _ = writeln!(
            md,
            "\n| column | feature | kind | read as | missing cells |\n|---|---|---|---|---|"
        );
        for c in &r.data.column_readings {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                md_cell(&c.column),
                md_cell(&c.feature),
                md_cell(&c.kind),
                md_cell(&c.read_as),
                c.missing
            );
        }
    }
    if !r.leakage.is_empty() {
        let _ = writeln!(md, "\n| leakage | evidence | action |\n|---|---|---|");
        for f in &r.leakage {
            let action = f.action();
            let _ = writeln!(
                md,
                "| {} | {} | {action} |",
                md_cell(&f.column),
                md_cell(&f.evidence)
            );
        }
    }
    if let Some(a) = &r.accounts {
        let _ = writeln!(
            md,
            "\nAccounts keyed by {}: {} training ({} bought), {} held out ({} bought), \
             base rate {}; {} leads without an account.\n\n\
             | held-out accounts | log loss | ROC AUC | Brier |\n|---|---:|---:|---:|",
            md_cell(&a.key),
            a.train_accounts,
            a.train_positives,
            a.test_accounts,
            a.test_positives,
            pct(a.base_rate),
            a.leads_without_account
        );
        for m in &a.methods {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                md_cell(&m.method),
                num(m.log_loss, 4),
                num(m.roc_auc, 4),
                num(m.brier, 4)
            );
        }
    }
    if !r.notices.is_empty() {
        md.push('\n');
        for n in &r.notices {
            let _ = writeln!(md, "- {}", md_cell(n));
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report filled from a small deterministic data set, with hostile
    /// names to prove escaping.
    fn sample() -> TrainingReport {
        // Scores rise with i; labels positive more often for higher scores.
        let n = 500;
        let probabilities: Vec<f64> = (0..n).map(|i| (i as f64 + 0.5) / n as f64).collect();
        let labels: Vec<bool> = (0..n).map(|i| (i * 7919) % n < i).collect();
        let base_rate = labels.iter().filter(|&&y| y).count() as f64 / n as f64;
        TrainingReport {
            title: "x_education / 2".into(),
            command: "leadscore-train --data \"a&b.csv\"".into(),
            test_metrics: MetricSet::from_predictions(&labels, &probabilities, base_rate),
            curves: Curves::from_predictions(&labels, &probabilities),
            feature_importance: (0..25)
                .map(|k| FeatureImportance {
                    feature: format!("col_{k}"),
                    label: if k == 0 {
                        "<b>Tags & \"quotes\"</b>".into()
                    } else {
                        String::new()
                    },
                    importance: 1.0 / (k as f64 + 1.0),
                })
                .collect(),
            leakage: vec![LeakFinding {
                column: "<script>alert(1)</script>".into(),
                evidence: "alone reaches ROC AUC 0.99".into(),
                allowed: false,
                ..LeakFinding::default()
            }],
            notices: vec!["ECE 'before' > 'after'".into()],
            accounts: Some(AccountSummary {
                key: "\"<acct|id>\"".into(),
                train_accounts: 800,
                test_accounts: 200,
                base_rate: 0.3,
                methods: ["account model", "max lead score (fallback)"]
                    .into_iter()
                    .map(|m| AccountMetrics {
                        method: m.into(),
                        log_loss: 0.5,
                        roc_auc: 0.7,
                        brier: 0.2,
                    })
                    .collect(),
                ..AccountSummary::default()
            }),
            ..TrainingReport::default()
        }
    }

    #[test]
    fn html_has_every_plot_balanced_and_escaped() {
        let html = render_html(&sample());
        assert_eq!(html.matches("<svg").count(), 6);
        assert_eq!(html.matches("</svg>").count(), 6);
        for id in [
            "plot-roc",
            "plot-pr",
            "plot-reliability",
            "plot-gains",
            "plot-lift",
            "plot-importance",
        ] {
            assert!(html.contains(&format!(r#"id="{id}""#)), "{id} missing");
        }
        assert!(!html.contains("<script"), "raw data string in the HTML");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;b&gt;Tags &amp; &quot;quotes&quot;&lt;/b&gt;"));
        assert!(html.contains("a&amp;b.csv"));
        assert!(html.contains("ECE &#39;before&#39; &gt; &#39;after&#39;"));
        assert!(html.contains("top 20 of 25"));
        assert!(html.contains(r#"<section id="accounts">"#));
        assert!(html.contains("&quot;&lt;acct|id&gt;&quot;"));
        assert!(html.contains("<td>max lead score (fallback)</td>"));
        // Every opened element of the kinds we emit is closed.
        for tag in ["table", "section", "tr", "text", "ul"] {
            let opened = html.matches(&format!("<{tag}>")).count()
                + html.matches(&format!("<{tag} ")).count();
            assert_eq!(
                opened,
                html.matches(&format!("</{tag}>")).count(),
                "<{tag}>"
            );
        }
    }

    #[test]
    fn empty_report_renders_with_notes() {
        let mut report = TrainingReport::default();
        report.test_metrics.roc_auc = f64::NAN;
        let html = render_html(&report);
        assert_eq!(html.matches("<svg").count(), 6);
        assert!(html.contains("no ROC curve"));
        assert!(html.contains("no feature importance recorded"));
        assert!(html.contains("AUC –"));
        assert!(!render_markdown(&report).is_empty());
    }

    #[test]
    fn json_round_trips_and_tolerates_missing_fields() {
        let report = sample();
        let json = serde_json::to_string(&report).expect("serialise");
        let back: TrainingReport = serde_json::from_str(&json).expect("read back");
        assert_eq!(back, report);
        let partial: TrainingReport =
            serde_json::from_str(r#"{"title":"t","data":{"rows":3}}"#).expect("partial");
        assert_eq!(partial.data.rows, 3);
    }

    #[test]
    fn markdown_escapes_cells() {
        let md = render_markdown(&sample());
        assert!(md.contains("&lt;script&gt;"));
        assert!(!md.contains("<script"));
        assert!(md.contains("| ROC AUC |"));
        assert!(md.contains("| account model | 0.5000 | 0.7000 | 0.2000 |"));
        assert!(md.contains("&quot;&lt;acct\\|id&gt;&quot;"), "{md}");
    }

    #[test]
    fn ticks_are_nice() {
        assert_eq!(
            nice_ticks(0.0, 1.0, 5),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        assert_eq!(tick_decimals(&nice_ticks(0.0, 1.0, 5)), 1);
        assert_eq!(nice_ticks(0.0, 3.7, 5), vec![0.0, 1.0, 2.0, 3.0]);
        assert_eq!(nice_ticks(1.0, 1.0, 5), vec![1.0]);
    }
}
