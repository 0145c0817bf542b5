//! The leakage guard: columns that give the label away, found on evidence.
//!
//! A column that almost decides the outcome is usually recorded *after* the
//! outcome (a sales note such as "Closed by Horizzon", a lead-quality grade
//! given by the sales rep, an opportunity opened on conversion, a count taken
//! over a window that runs past the snapshot). A model trained on it looks
//! excellent offline and is useless on new leads. Strong predictors are not
//! leaks, though: a guard that refuses ordinary signal (a churn file's
//! two-year contracts, a month of few sales) teaches users to silence it.
//!
//! So the guard works in two tiers. Every column gets the same cheap checks;
//! a check that fires makes the column a **candidate** with a
//! [`Tier::Warn`] finding, listed in the report while training goes on.
//! A column is **refused** ([`Tier::Refuse`], training stops unless the user
//! names it with `--allow-leaky`) only on strong evidence:
//!
//! | rule | warns when | refuses when |
//! |---|---|---|
//! | `single_feature_auc` | the column alone has ROC AUC ≥ 0.85 | ≥ 0.98 |
//! | `missingness` | whether it is missing alone has ROC AUC ≥ 0.85 | ≥ 0.98 |
//! | `pure_level` | a level with ≥ 1% of rows (≥ 20) is ≥ 97% one class, that class ≤ 85% of rows | never alone |
//! | `outcome_name` | the name says status, stage, owner, won, lost, closed, converted, opportunity… | never alone |
//! | `longer_window` | never alone | a count named total/all/lifetime is ≥ a count of the same thing on every row and greater on ≥ 5%: it counts over a longer window than the snapshot's |
//! | `multivariate_lift` | an *eligible* candidate adds less | beyond every ordinary column it adds ≥ 0.01 ROC AUC **and** a share of the model's gain over the base rate of ≥ 5% (a pure level), ≥ 10% (AUC or missingness AUC ≥ 0.90) or ≥ 25% (an outcome name alone) |
//!
//! The AUC of a numeric column is that of its value (missing at the median,
//! as the feature pipeline imputes it). A categorical or boolean column is
//! scored by the positive rate of its level computed *out of fold* (5
//! deterministic folds, smoothed towards the base rate), so an identifier,
//! where every level is unique, gets AUC 0.5 instead of a perfect in-sample
//! fit. AUCs are reported as max(AUC, 1 − AUC).
//!
//! The lift is measured with an L2 logistic model (`linear::fit_logistic`)
//! on a compact design (numbers standardised with a missing indicator, the
//! 30 largest levels of a category one-hot) on at most 20,000 rows: the
//! model of every non-candidate column, against the same model plus one
//! candidate. "Out of all proportion" is relative to what the other columns
//! explain, so a strong but ordinary column (a contract type, a tenure)
//! stays a warning, and a copy of the label is refused even when noisy.
//!
//! Every finding says why in numbers: the column's own AUC, a level's rate
//! against the base rate, the lift. Cost: one sort per column, plus one
//! logistic fit per eligible candidate.

use std::borrow::Cow;
use std::collections::HashMap;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::scoring::features::{
    format_number, parse_number_text, snake_case, FeatureKind, RawValue,
};
use crate::scoring::math::sigmoid;
use crate::train::evaluation::{log_loss, roc_auc};
use crate::train::linear::fit_logistic;

/// Fewest rows a level needs before [`pure_level`](LeakageThresholds::max_level_purity)
/// judges it: at 1% of a 300-row file a level of three rows is 100% pure by
/// chance.
pub const MIN_LEVEL_ROWS: usize = 20;
/// Folds for the out-of-fold target encoding of categorical levels.
const FOLDS: u64 = 5;
/// Weight of the base rate in the smoothed level rate, in rows: levels with
/// few rows in the other folds are pulled towards the base rate rather than
/// scored by a noisy handful of labels.
const SMOOTHING_ROWS: f64 = 5.0;
/// Levels of one categorical column one-hot encoded for the lift model.
const LIFT_LEVELS: usize = 30;
/// Fewest rows of a level one-hot encoded for the lift model.
const LIFT_LEVEL_ROWS: usize = 10;

/// Name tokens of fields that a CRM fills in at or after the outcome.
const OUTCOME_WORDS: &[&str] = &[
    "status",
    "stage",
    "owner",
    "outcome",
    "won",
    "lost",
    "closed",
    "converted",
    "conversion",
    "churned",
    "disqualified",
    "opportunity",
    "deal",
    "signed",
];
/// Name tokens of a count over the whole history rather than a window.
const TOTAL_WORDS: &[&str] = &["total", "all", "lifetime", "cumulative", "overall"];
/// Name tokens that say nothing about *what* a column counts.
const FILLER_WORDS: &[&str] = &[
    "count", "counts", "num", "number", "n", "of", "the", "in", "per", "days", "day", "last",
    "first", "since", "to", "date",
];

/// One feature column as the trainer holds it.
#[derive(Debug, Clone)]
pub struct ColumnValues<'a> {
    /// Column name, as in the header (used in evidence).
    pub name: &'a str,
    /// Kind inferred by the trainer.
    pub kind: FeatureKind,
    /// One value per row, `None` when missing; as long as the labels.
    pub values: Vec<Option<&'a RawValue>>,
}

/// How strong a finding is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Weak evidence: listed in the report, training goes on.
    #[default]
    Warn,
    /// Strong evidence: training stops unless the column is allowed.
    Refuse,
}

/// A column that looks leaky, with the numbers that say so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeakFinding {
    /// Column name.
    pub column: String,
    /// Which rule fired: `single_feature_auc`, `missingness`, `pure_level`,
    /// `outcome_name`, `longer_window` or `multivariate_lift`.
    pub rule: String,
    /// One sentence with the numbers, starting with the column name.
    pub evidence: String,
    /// How strong the evidence is, in [0, 1]: the AUC for the AUC rules, the
    /// purity for `pure_level`, the share of the gain for the lift. Findings
    /// are sorted by tier, then by it, strongest first.
    pub strength: f64,
    /// Refuse or warn.
    #[serde(default)]
    pub tier: Tier,
}

/// When a column counts as leaky. See the module docs for each rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeakageThresholds {
    /// Single-feature ROC AUC (max(AUC, 1 − AUC)) at or above which a column is a candidate.
    pub warn_auc: f64,
    /// Single-feature ROC AUC at or above which a column is refused on its own.
    pub refuse_auc: f64,
    /// Single-feature ROC AUC at or above which a candidate's lift can refuse it.
    pub eligible_auc: f64,
    /// Share of rows a level must hold to be judged by `pure_level`.
    pub min_level_share: f64,
    /// Share of one class within a level at or above which the level is "pure".
    pub max_level_purity: f64,
    /// A level counts as pure only in a class whose overall share is at most
    /// this, so that ordinary levels of imbalanced data are not flagged.
    pub max_pure_class_share: f64,
    /// ROC AUC of the is-missing indicator at or above which a column is a candidate.
    pub warn_missing_auc: f64,
    /// ROC AUC of the is-missing indicator at or above which a column is refused.
    pub refuse_missing_auc: f64,
    /// Share of the multivariate model's gain over the base rate (in log
    /// loss) a candidate with a pure level must add to be refused...
    pub lift_share_pure: f64,
    /// ...a candidate of AUC (or missingness AUC) ≥ `eligible_auc`...
    pub lift_share_auc: f64,
    /// ...a candidate by its name alone (names mislead: "Marital_Status")...
    pub lift_share_name: f64,
    /// ...always together with at least this much ROC AUC.
    pub lift_auc: f64,
    /// Rows the lift model is fitted on (an evenly spaced sample beyond).
    pub lift_rows: usize,
}

impl Default for LeakageThresholds {
    /// The thresholds in the module docs.
    fn default() -> Self {
        LeakageThresholds {
            warn_auc: 0.85,
            refuse_auc: 0.98,
            eligible_auc: 0.90,
            min_level_share: 0.01,
            max_level_purity: 0.97,
            max_pure_class_share: 0.85,
            warn_missing_auc: 0.85,
            refuse_missing_auc: 0.98,
            lift_share_pure: 0.05,
            lift_share_auc: 0.10,
            lift_share_name: 0.25,
            lift_auc: 0.01,
            lift_rows: 20_000,
        }
    }
}

/// What the per-column checks found about one column.
struct ColumnEvidence {
    /// Single-feature AUC, max(AUC, 1 − AUC); `None` when undefined.
    auc: Option<f64>,
    /// Whether higher values go with positives (numeric columns).
    higher_is_positive: bool,
    /// AUC of the is-missing indicator with the missing shares of positive
    /// and negative rows; `None` when nothing is missing.
    missing_auc: Option<(f64, f64, f64)>,
    /// Levels of a categorical or boolean column.
    levels: Option<usize>,
    /// Median of a numeric column (where missing values are scored).
    median: Option<f64>,
}

/// Finds columns that separate `labels` suspiciously well, refusals first,
/// strongest first within a tier. Returns nothing when `labels` hold one
/// class only.
///
/// # Panics
/// When a column's `values` and `labels` differ in length (a caller bug, not
/// a data problem).
pub fn find_leaks(
    columns: &[ColumnValues<'_>],
    labels: &[bool],
    t: &LeakageThresholds,
) -> Vec<LeakFinding> {
    let n = labels.len();
    let positives = labels.iter().filter(|&&y| y).count();
    if positives == 0 || positives == n {
        return Vec::new();
    }
    let base_rate = positives as f64 / n as f64;
    let folds: Vec<u8> = (0..n as u64)
        .map(|i| (splitmix64(i) % FOLDS) as u8)
        .collect();
    let mut findings = Vec::new();
    // Per column: the share of the gain its lift must reach to be refused
    // (`None`: its evidence does not make it eligible), the lowest of its
    // reasons' thresholds.
    let mut eligible: Vec<Option<f64>> = vec![None; columns.len()];
    let require = |eligible: &mut Vec<Option<f64>>, c: usize, share: f64| {
        eligible[c] = Some(eligible[c].map_or(share, |s: f64| s.min(share)));
    };
    let mut candidate = vec![false; columns.len()];
    let mut evidence_of = Vec::with_capacity(columns.len());
    for (c, column) in columns.iter().enumerate() {
        assert_eq!(
            column.values.len(),
            n,
            "column \"{}\" has {} values for {} labels",
            column.name,
            column.values.len(),
            n
        );
        let name = column.name;
        let mut ev = ColumnEvidence {
            auc: None,
            higher_is_positive: true,
            missing_auc: missing_auc(column, labels),
            levels: None,
            median: None,
        };
        let mut pure = None;
        match column.kind {
            FeatureKind::Numeric => {
                if let Some((auc, higher, median)) = numeric_auc(column, labels) {
                    ev.auc = Some(auc);
                    ev.higher_is_positive = higher;
                    ev.median = Some(median);
                }
            }
            FeatureKind::Categorical | FeatureKind::Boolean => {
                let levels = Levels::new(&column.values, labels, &folds);
                let scores = levels.out_of_fold_rates(labels, &folds, base_rate);
                ev.auc = roc_auc(labels, &scores).map(|a| a.max(1.0 - a));
                ev.levels = Some(levels.names.len());
                pure = levels.pure_level(n, base_rate, t);
            }
        }
        let own = own_auc_text(&ev);
        if let Some(auc) = ev.auc.filter(|&a| a >= t.warn_auc) {
            let why = match (ev.levels, ev.median) {
                (Some(k), _) => format!("out-of-fold positive rate of its {k} levels"),
                (None, Some(m)) => format!(
                    "{} values go with positive; missing scored at the median {}",
                    if ev.higher_is_positive {
                        "higher"
                    } else {
                        "lower"
                    },
                    short_number(m)
                ),
                (None, None) => String::new(),
            };
            findings.push(auc_finding(
                name,
                "single_feature_auc",
                format!("{name}: on its own separates the label with ROC AUC {auc:.3} ({why})"),
                auc,
                t.refuse_auc,
            ));
            candidate[c] = true;
            if auc >= t.eligible_auc {
                require(&mut eligible, c, t.lift_share_auc);
            }
        }
        if let Some((auc, a, b)) = ev.missing_auc.filter(|m| m.0 >= t.warn_missing_auc) {
            findings.push(auc_finding(
                name,
                "missingness",
                format!(
                    "{name}: whether it is missing alone separates the label with ROC AUC {auc:.3} \
                     (missing in {} of positive and {} of negative rows)",
                    percent(a),
                    percent(b)
                ),
                auc,
                t.refuse_missing_auc,
            ));
            candidate[c] = true;
            if auc >= t.eligible_auc {
                require(&mut eligible, c, t.lift_share_auc);
            }
        }
        if let Some(p) = pure {
            findings.push(LeakFinding {
                column: name.to_string(),
                rule: "pure_level".to_string(),
                evidence: format!("{name}: {}; {own}", p.describe(base_rate)),
                strength: p.purity,
                tier: Tier::Warn,
            });
            candidate[c] = true;
            require(&mut eligible, c, t.lift_share_pure);
        }
        if let Some(word) = outcome_word(name) {
            findings.push(LeakFinding {
                column: name.to_string(),
                rule: "outcome_name".to_string(),
                evidence: format!(
                    "{name}: its name (\"{word}\") suggests a field filled in at or after the outcome; {own}"
                ),
                strength: ev.auc.unwrap_or(0.5),
                tier: Tier::Warn,
            });
            candidate[c] = true;
            require(&mut eligible, c, t.lift_share_name);
        }
        evidence_of.push(ev);
    }
    for f in longer_windows(columns) {
        if let Some(c) = columns.iter().position(|col| col.name == f.column) {
            candidate[c] = true;
        }
        findings.push(f);
    }
    findings.extend(multivariate_lifts(
        columns, labels, &candidate, &eligible, &findings, t,
    ));
    findings.sort_by(|a, b| {
        (b.tier == Tier::Refuse)
            .cmp(&(a.tier == Tier::Refuse))
            .then_with(|| b.strength.total_cmp(&a.strength))
            .then_with(|| a.column.cmp(&b.column))
            .then_with(|| a.rule.cmp(&b.rule))
    });
    findings
}

/// A finding of an AUC rule: refused from `refuse_at`, else a warning.
fn auc_finding(
    column: &str,
    rule: &str,
    evidence: String,
    auc: f64,
    refuse_at: f64,
) -> LeakFinding {
    LeakFinding {
        column: column.to_string(),
        rule: rule.to_string(),
        evidence,
        strength: auc,
        tier: if auc >= refuse_at {
            Tier::Refuse
        } else {
            Tier::Warn
        },
    }
}

/// "its own ROC AUC is 0.73" for evidence sentences.
fn own_auc_text(ev: &ColumnEvidence) -> String {
    match ev.auc {
        Some(a) => format!("its own ROC AUC is {a:.3}"),
        None => "its own ROC AUC is undefined".to_string(),
    }
}

/// The outcome word in a column's name, if any.
fn outcome_word(name: &str) -> Option<&'static str> {
    let snake = snake_case(name);
    snake
        .split('_')
        .find_map(|token| OUTCOME_WORDS.iter().find(|w| **w == token).copied())
}

/// The is-missing indicator's AUC with the missing shares of positives and
/// negatives; `None` when nothing is missing.
fn missing_auc(column: &ColumnValues<'_>, labels: &[bool]) -> Option<(f64, f64, f64)> {
    let (mut missing_pos, mut missing_neg, mut pos, mut neg) = (0usize, 0usize, 0usize, 0usize);
    for (v, &y) in column.values.iter().zip(labels) {
        let missing = numeric_missing(v);
        if y {
            pos += 1;
            missing_pos += usize::from(missing);
        } else {
            neg += 1;
            missing_neg += usize::from(missing);
        }
    }
    if missing_pos + missing_neg == 0 || pos == 0 || neg == 0 {
        return None;
    }
    // For a 0/1 score the AUC is 0.5 + (share of positives scored 1 −
    // share of negatives scored 1) / 2; no sort needed.
    let a = missing_pos as f64 / pos as f64;
    let b = missing_neg as f64 / neg as f64;
    Some((0.5 + (a - b).abs() / 2.0, a, b))
}

/// Missing for the guard: absent, or a number that is not finite.
fn numeric_missing(v: &Option<&RawValue>) -> bool {
    match v {
        None => true,
        Some(RawValue::Number(x)) => !x.is_finite(),
        Some(_) => false,
    }
}

/// A value as a number (numbers, flags as 0/1, numeric text), if it is one.
fn as_number(v: &Option<&RawValue>) -> Option<f64> {
    match v {
        Some(RawValue::Number(x)) if x.is_finite() => Some(*x),
        Some(RawValue::Flag(b)) => Some(f64::from(u8::from(*b))),
        Some(RawValue::Category(s)) => parse_number_text(s),
        _ => None,
    }
}

/// The value itself as the score, missing at the median: (max(AUC, 1 −
/// AUC), whether higher values go with positives, the median).
fn numeric_auc(column: &ColumnValues<'_>, labels: &[bool]) -> Option<(f64, bool, f64)> {
    let values: Vec<Option<f64>> = column.values.iter().map(as_number).collect();
    let median = median_of(&values)?;
    let scores: Vec<f64> = values.iter().map(|v| v.unwrap_or(median)).collect();
    let raw_auc = roc_auc(labels, &scores)?;
    Some((raw_auc.max(1.0 - raw_auc), raw_auc >= 0.5, median))
}

/// Median of the present values; `None` when none is.
fn median_of(values: &[Option<f64>]) -> Option<f64> {
    let mut present: Vec<f64> = values.iter().flatten().copied().collect();
    if present.is_empty() {
        return None;
    }
    let mid = present.len() / 2;
    let (_, median, _) = present.select_nth_unstable_by(mid, f64::total_cmp);
    Some(*median)
}

/// A whole-number column, as `longer_windows` compares them.
struct CountColumn {
    /// Position among the columns.
    index: usize,
    /// Values, `None` when missing.
    values: Vec<Option<f64>>,
    /// Words of the name that say what is counted.
    stems: Vec<String>,
    /// Whether the name says it is a total.
    total: bool,
}

/// Rule `longer_window`: a count named as a total that is at least a count
/// of the same thing on every row, and larger on at least 5% of them.
fn longer_windows(columns: &[ColumnValues<'_>]) -> Vec<LeakFinding> {
    // Non-negative whole-number columns only: counts, not amounts (a total
    // charge is rightly ≥ a monthly one).
    let counts: Vec<CountColumn> = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.kind == FeatureKind::Numeric)
        .filter_map(|(i, c)| {
            let values: Vec<Option<f64>> = c.values.iter().map(as_number).collect();
            let whole = values
                .iter()
                .flatten()
                .all(|x| *x >= 0.0 && x.fract() == 0.0);
            let any = values.iter().any(Option::is_some);
            (whole && any).then(|| {
                let tokens: Vec<String> = snake_case(c.name)
                    .split('_')
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect();
                let total = tokens.iter().any(|t| TOTAL_WORDS.contains(&t.as_str()));
                let stems: Vec<String> = tokens
                    .into_iter()
                    .filter(|t| {
                        !TOTAL_WORDS.contains(&t.as_str())
                            && !FILLER_WORDS.contains(&t.as_str())
                            && t.len() >= 4
                    })
                    .collect();
                CountColumn {
                    index: i,
                    values,
                    stems,
                    total,
                }
            })
        })
        .collect();
    // The same thing: every word of one name matches a word of the other
    // (as a prefix: "touches" and "touch"), so a duration in seconds is not
    // a count of sessions.
    let covers = |a: &[String], b: &[String]| {
        a.iter().all(|x| {
            b.iter()
                .any(|y| x.starts_with(y.as_str()) || y.starts_with(x.as_str()))
        })
    };
    let same_thing = |a: &[String], b: &[String]| covers(a, b) && covers(b, a);
    let mut findings = Vec::new();
    for t in &counts {
        if !t.total || t.stems.is_empty() {
            continue;
        }
        for o in &counts {
            if t.index == o.index || o.total || !same_thing(&t.stems, &o.stems) {
                continue;
            }
            let (mut both, mut greater, mut below) = (0usize, 0usize, 0usize);
            for (a, b) in t.values.iter().zip(&o.values) {
                if let (Some(a), Some(b)) = (a, b) {
                    both += 1;
                    greater += usize::from(a > b);
                    below += usize::from(a < b);
                }
            }
            if both >= MIN_LEVEL_ROWS && below == 0 && greater * 20 >= both {
                let (total_name, name) = (columns[t.index].name, columns[o.index].name);
                findings.push(LeakFinding {
                    column: total_name.to_string(),
                    rule: "longer_window".to_string(),
                    evidence: format!(
                        "{total_name}: at least {name} on all {both} rows where both are present and \
                         larger on {}: it counts the same thing over a longer window than the other \
                         features, which leaks the outcome period when that window runs past the snapshot",
                        percent(greater as f64 / both as f64)
                    ),
                    strength: greater as f64 / both as f64,
                    tier: Tier::Refuse,
                });
                break;
            }
        }
    }
    findings
}

/// One column's block of the lift model's design, on the sampled rows.
struct DesignBlock {
    /// Columns of the block, each one value per sampled row.
    columns: Vec<Vec<f64>>,
}

impl DesignBlock {
    /// Numbers standardised, missing at the median with an indicator;
    /// categories one-hot over their largest levels.
    fn new(column: &ColumnValues<'_>, rows: &[usize]) -> DesignBlock {
        let mut columns = Vec::new();
        match column.kind {
            FeatureKind::Numeric => {
                let values: Vec<Option<f64>> =
                    rows.iter().map(|&r| as_number(&column.values[r])).collect();
                if let Some(median) = median_of(&values) {
                    let filled: Vec<f64> = values.iter().map(|v| v.unwrap_or(median)).collect();
                    let m = filled.len() as f64;
                    let mean = filled.iter().sum::<f64>() / m;
                    let sd = (filled.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / m).sqrt();
                    let sd = if sd > 0.0 { sd } else { 1.0 };
                    columns.push(filled.iter().map(|x| (x - mean) / sd).collect());
                    if values.iter().any(Option::is_none) {
                        columns.push(
                            values
                                .iter()
                                .map(|v| if v.is_none() { 1.0 } else { 0.0 })
                                .collect(),
                        );
                    }
                }
            }
            FeatureKind::Categorical | FeatureKind::Boolean => {
                let names: Vec<Option<Cow<'_, str>>> = rows
                    .iter()
                    .map(|&r| level_name(&column.values[r]))
                    .collect();
                let mut counts: HashMap<Option<&str>, usize> = HashMap::new();
                for name in &names {
                    *counts.entry(name.as_deref()).or_default() += 1;
                }
                let mut levels: Vec<(Option<&str>, usize)> = counts
                    .into_iter()
                    .filter(|&(_, k)| k >= LIFT_LEVEL_ROWS)
                    .collect();
                levels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                levels.truncate(LIFT_LEVELS);
                for (level, _) in levels {
                    columns.push(
                        names
                            .iter()
                            .map(|name| f64::from(u8::from(name.as_deref() == level)))
                            .collect(),
                    );
                }
            }
        }
        DesignBlock { columns }
    }
}

/// In-sample log loss and ROC AUC of an L2 logistic fit on the blocks;
/// `None` when the fit fails.
fn lift_fit(blocks: &[&DesignBlock], y: &[bool]) -> Option<(f64, f64)> {
    let width: usize = blocks.iter().map(|b| b.columns.len()).sum();
    let m = y.len();
    if width == 0 {
        let rate = y.iter().filter(|&&v| v).count() as f64 / m as f64;
        return Some((log_loss(y, &vec![rate; m]), 0.5));
    }
    let mut x = Array2::<f64>::zeros((m, width));
    let mut k = 0;
    for block in blocks {
        for column in &block.columns {
            for (r, v) in column.iter().enumerate() {
                x[[r, k]] = *v;
            }
            k += 1;
        }
    }
    let fit = fit_logistic(&x, y, None, 1.0, 100).ok()?;
    let p: Vec<f64> = x
        .rows()
        .into_iter()
        .map(|row| {
            let z = fit.intercept
                + row
                    .iter()
                    .zip(&fit.coefficients)
                    .map(|(a, b)| a * b)
                    .sum::<f64>();
            sigmoid(z)
        })
        .collect();
    Some((log_loss(y, &p), roc_auc(y, &p)?))
}

/// Rule `multivariate_lift`: what each eligible candidate adds to a model of
/// every non-candidate column.
fn multivariate_lifts(
    columns: &[ColumnValues<'_>],
    labels: &[bool],
    candidate: &[bool],
    eligible: &[Option<f64>],
    found: &[LeakFinding],
    t: &LeakageThresholds,
) -> Vec<LeakFinding> {
    let refused = |name: &str| {
        found
            .iter()
            .any(|f| f.column == name && f.tier == Tier::Refuse)
    };
    let judged: Vec<usize> = (0..columns.len())
        .filter(|&c| eligible[c].is_some() && !refused(columns[c].name))
        .collect();
    // The ordinary columns: all but the eligible candidates and the refused
    // ones (a strong numeric feature that only warns is ordinary signal).
    let ordinary: Vec<bool> = (0..columns.len())
        .map(|c| eligible[c].is_none() && !(candidate[c] && refused(columns[c].name)))
        .collect();
    if judged.is_empty() {
        return Vec::new();
    }
    let n = labels.len();
    let m = n.min(t.lift_rows.max(1));
    let rows: Vec<usize> = (0..m).map(|i| i * n / m).collect();
    let y: Vec<bool> = rows.iter().map(|&r| labels[r]).collect();
    let positives = y.iter().filter(|&&v| v).count();
    if positives == 0 || positives == m {
        return Vec::new();
    }
    let rate = positives as f64 / m as f64;
    let null_loss = log_loss(&y, &vec![rate; m]);
    let blocks: Vec<Option<DesignBlock>> = columns
        .iter()
        .enumerate()
        .map(|(c, col)| (ordinary[c] || judged.contains(&c)).then(|| DesignBlock::new(col, &rows)))
        .collect();
    let base: Vec<&DesignBlock> = (0..columns.len())
        .filter(|&c| ordinary[c])
        .filter_map(|c| blocks[c].as_ref())
        .collect();
    let Some((base_loss, base_auc)) = lift_fit(&base, &y) else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    for c in judged {
        let Some(block) = blocks[c].as_ref() else {
            continue;
        };
        let mut with: Vec<&DesignBlock> = base.clone();
        with.push(block);
        let Some((loss, auc)) = lift_fit(&with, &y) else {
            continue;
        };
        let gain = null_loss - loss;
        let share = if gain > 1e-12 {
            ((base_loss - loss) / gain).max(0.0)
        } else {
            0.0
        };
        let added_auc = auc - base_auc;
        let needed = eligible[c].unwrap_or(1.0);
        let refuse = share >= needed && added_auc >= t.lift_auc;
        let name = columns[c].name;
        findings.push(LeakFinding {
            column: name.to_string(),
            rule: "multivariate_lift".to_string(),
            evidence: format!(
                "{name}: added to a model of the {} other ordinary columns it takes ROC AUC from \
                 {base_auc:.3} to {auc:.3} (+{added_auc:.3}) and brings {} of the model's gain over \
                 the base rate (refused from {} with +{:.3} AUC){}",
                base.len(),
                percent(share),
                percent(needed),
                t.lift_auc,
                if refuse {
                    ": out of all proportion to ordinary signal"
                } else {
                    ": within ordinary signal, so it is kept"
                }
            ),
            strength: share.min(1.0),
            tier: if refuse { Tier::Refuse } else { Tier::Warn },
        });
    }
    findings
}

/// Level of a categorical or boolean value; missing is its own level.
fn level_name<'a>(v: &Option<&'a RawValue>) -> Option<Cow<'a, str>> {
    match v {
        None => None,
        Some(RawValue::Category(s)) => Some(Cow::Borrowed(s.as_str())),
        Some(RawValue::Flag(b)) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Some(RawValue::Number(x)) if x.is_finite() => Some(Cow::Owned(format_number(*x))),
        Some(RawValue::Number(_)) => None,
    }
}

/// The largest level that is pure beyond the base rate, with the others.
struct PureLevel {
    /// Level name.
    name: String,
    /// Share of rows in the level.
    share: f64,
    /// Share of the level's rows in its majority class.
    purity: f64,
    /// Whether that class is the positive one.
    positive: bool,
    /// Other pure levels, largest first (at most three named).
    others: Vec<String>,
    /// How many other pure levels there are.
    other_count: usize,
}

impl PureLevel {
    /// The evidence sentence, with the level's positive rate against the
    /// base rate.
    fn describe(&self, base_rate: f64) -> String {
        let rate = if self.positive {
            self.purity
        } else {
            1.0 - self.purity
        };
        let against = if rate >= base_rate {
            format!("{:.1}× the base rate", rate / base_rate)
        } else if rate > 0.0 {
            format!("1/{:.1} of the base rate", base_rate / rate)
        } else {
            "none of the base rate".to_string()
        };
        let others = match self.other_count {
            0 => String::new(),
            k if k <= self.others.len() => format!("; also pure: {}", self.others.join(", ")),
            k => format!(
                "; also pure: {} and {} more",
                self.others.join(", "),
                k - self.others.len()
            ),
        };
        format!(
            "level \"{}\" holds {} of rows and {} of them are {} (positive rate {}, {against}; base rate {}){others}",
            self.name,
            percent(self.share),
            percent(self.purity),
            if self.positive { "positive" } else { "negative" },
            percent(rate),
            percent(base_rate)
        )
    }
}

/// Per-level counts of a categorical column, overall and per fold.
struct Levels<'a> {
    /// Level names; index `names.len()` stands for missing.
    names: Vec<Cow<'a, str>>,
    /// Level index of each row.
    of_row: Vec<u32>,
    /// Rows per level (last entry: missing).
    rows: Vec<usize>,
    /// Positive rows per level.
    positives: Vec<usize>,
    /// Rows and positive rows per level and fold, `level * FOLDS + fold`.
    fold_rows: Vec<usize>,
    fold_positives: Vec<usize>,
}

impl<'a> Levels<'a> {
    fn new(values: &'a [Option<&'a RawValue>], labels: &[bool], folds: &[u8]) -> Self {
        let mut index: HashMap<Cow<'a, str>, u32> = HashMap::new();
        let mut names: Vec<Cow<'a, str>> = Vec::new();
        let mut of_row: Vec<Option<u32>> = Vec::with_capacity(values.len());
        for v in values {
            of_row.push(level_name(v).map(|name| {
                *index.entry(name.clone()).or_insert_with(|| {
                    names.push(name);
                    (names.len() - 1) as u32
                })
            }));
        }
        let missing = names.len() as u32;
        let of_row: Vec<u32> = of_row.into_iter().map(|l| l.unwrap_or(missing)).collect();
        let k = names.len() + 1;
        let folds_n = FOLDS as usize;
        let mut rows = vec![0; k];
        let mut positives = vec![0; k];
        let mut fold_rows = vec![0; k * folds_n];
        let mut fold_positives = vec![0; k * folds_n];
        for ((&l, &y), &f) in of_row.iter().zip(labels).zip(folds) {
            let l = l as usize;
            rows[l] += 1;
            positives[l] += usize::from(y);
            fold_rows[l * folds_n + f as usize] += 1;
            fold_positives[l * folds_n + f as usize] += usize::from(y);
        }
        Levels {
            names,
            of_row,
            rows,
            positives,
            fold_rows,
            fold_positives,
        }
    }

    /// Each row's level positive rate from the *other* folds, smoothed
    /// towards the base rate.
    fn out_of_fold_rates(&self, labels: &[bool], folds: &[u8], base_rate: f64) -> Vec<f64> {
        let folds_n = FOLDS as usize;
        self.of_row
            .iter()
            .zip(folds)
            .take(labels.len())
            .map(|(&l, &f)| {
                let l = l as usize;
                let at = l * folds_n + f as usize;
                let rows = (self.rows[l] - self.fold_rows[at]) as f64;
                let pos = (self.positives[l] - self.fold_positives[at]) as f64;
                (pos + SMOOTHING_ROWS * base_rate) / (rows + SMOOTHING_ROWS)
            })
            .collect()
    }

    /// Rule `pure_level`: the largest level that is pure beyond the base rate.
    fn pure_level(&self, n: usize, base_rate: f64, t: &LeakageThresholds) -> Option<PureLevel> {
        // (level, purity, positive?) for each pure level (missing excluded:
        // the missingness rule covers it).
        let mut pure: Vec<(usize, f64, bool)> = (0..self.names.len())
            .filter(|&l| {
                self.rows[l] >= MIN_LEVEL_ROWS
                    && self.rows[l] as f64 >= t.min_level_share * n as f64
            })
            .filter_map(|l| {
                let rate = self.positives[l] as f64 / self.rows[l] as f64;
                let (purity, positive, class_share) = if rate >= 0.5 {
                    (rate, true, base_rate)
                } else {
                    (1.0 - rate, false, 1.0 - base_rate)
                };
                (purity >= t.max_level_purity && class_share <= t.max_pure_class_share)
                    .then_some((l, purity, positive))
            })
            .collect();
        // Largest first: the level that matters most leads the evidence.
        pure.sort_by(|a, b| self.rows[b.0].cmp(&self.rows[a.0]).then(a.0.cmp(&b.0)));
        let &(l, purity, positive) = pure.first()?;
        const NAMED: usize = 3;
        Some(PureLevel {
            name: self.names[l].to_string(),
            share: self.rows[l] as f64 / n as f64,
            purity,
            positive,
            others: pure[1..]
                .iter()
                .take(NAMED)
                .map(|&(o, _, _)| format!("\"{}\"", self.names[o]))
                .collect(),
            other_count: pure.len() - 1,
        })
    }
}

/// A number for a sentence: whole above 100, else four significant digits.
fn short_number(x: f64) -> String {
    if x.abs() >= 100.0 {
        format_number(x.round())
    } else {
        format_number(format!("{x:.4e}").parse().unwrap_or(x))
    }
}

/// `38.5%`.
fn percent(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// A well-mixed hash of the row index, so folds do not follow the file's
/// row order (files are often sorted by date or outcome).
fn splitmix64(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic uniform numbers in [0, 1).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(1);
            (splitmix64(self.0) >> 11) as f64 / (1u64 << 53) as f64
        }
        /// Standard normal (Box–Muller).
        fn normal(&mut self) -> f64 {
            let u = self.next().max(1e-12);
            let v = self.next();
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
    }

    fn labels(n: usize, base_rate: f64, rng: &mut Rng) -> Vec<bool> {
        (0..n).map(|_| rng.next() < base_rate).collect()
    }

    fn numbers(xs: &[Option<f64>]) -> Vec<RawValue> {
        xs.iter()
            .map(|x| RawValue::Number(x.unwrap_or(0.0)))
            .collect()
    }

    fn numeric<'a>(name: &'a str, xs: &[Option<f64>], store: &'a [RawValue]) -> ColumnValues<'a> {
        ColumnValues {
            name,
            kind: FeatureKind::Numeric,
            values: xs.iter().zip(store).map(|(x, v)| x.map(|_| v)).collect(),
        }
    }

    fn categorical<'a>(name: &'a str, store: &'a [Option<RawValue>]) -> ColumnValues<'a> {
        ColumnValues {
            name,
            kind: FeatureKind::Categorical,
            values: store.iter().map(Option::as_ref).collect(),
        }
    }

    /// A numeric feature with the given single-feature AUC: normal with
    /// shift d = √2·Φ⁻¹(auc) between the classes.
    fn shifted(y: &[bool], shift: f64, rng: &mut Rng) -> Vec<Option<f64>> {
        y.iter()
            .map(|&p| Some(rng.normal() + if p { shift } else { 0.0 }))
            .collect()
    }

    /// √2·Φ⁻¹(0.75) ≈ 0.954: AUC 0.75.
    const SHIFT_AUC_075: f64 = 0.954;
    /// √2·Φ⁻¹(0.88) ≈ 1.66: AUC 0.88, a strong but ordinary feature.
    const SHIFT_AUC_088: f64 = 1.66;
    /// √2·Φ⁻¹(0.995) ≈ 3.64: AUC 0.995.
    const SHIFT_AUC_0995: f64 = 3.64;

    /// The findings of `column` in `tier`.
    fn tier_of(findings: &[LeakFinding], column: &str) -> Option<Tier> {
        let of: Vec<Tier> = findings
            .iter()
            .filter(|f| f.column == column)
            .map(|f| f.tier)
            .collect();
        if of.is_empty() {
            None
        } else if of.contains(&Tier::Refuse) {
            Some(Tier::Refuse)
        } else {
            Some(Tier::Warn)
        }
    }

    /// A categorical column from level names.
    fn levels(names: Vec<&str>) -> Vec<Option<RawValue>> {
        names
            .into_iter()
            .map(|l| Some(RawValue::Category(l.to_string())))
            .collect()
    }

    fn rules_of<'a>(findings: &'a [LeakFinding], column: &str) -> Vec<&'a str> {
        findings
            .iter()
            .filter(|f| f.column == column)
            .map(|f| f.rule.as_str())
            .collect()
    }

    #[test]
    fn planted_leaks_are_refused_naming_the_column() {
        for (case, base_rate) in [("balanced", 0.385), ("imbalanced", 0.08)] {
            let mut rng = Rng(7);
            let n = 20_000;
            let y = labels(n, base_rate, &mut rng);
            // Ordinary columns: AUC ≈ 0.75 numeric, a categorical with mild signal.
            let visits = shifted(&y, SHIFT_AUC_075, &mut rng);
            let source = levels(
                y.iter()
                    .map(|&p| {
                        let r = rng.next();
                        if (p && r < 0.6) || (!p && r < 0.3) {
                            "web"
                        } else {
                            "email"
                        }
                    })
                    .collect(),
            );
            // A copy of the label with 5% of it flipped.
            let copy = levels(
                y.iter()
                    .map(|&p| {
                        if (rng.next() < 0.05) != p {
                            "yes"
                        } else {
                            "no"
                        }
                    })
                    .collect(),
            );
            // A score that nearly is the label.
            let score = shifted(&y, SHIFT_AUC_0995, &mut rng);
            // A post-outcome timestamp: the closing date (days since 1970),
            // there for converted leads only (and 1% of the others, reopened).
            let closed_at: Vec<Option<f64>> = y
                .iter()
                .map(|&p| {
                    (p && rng.next() < 0.99 || !p && rng.next() < 0.01)
                        .then(|| 19_700.0 + (rng.next() * 300.0).floor())
                })
                .collect();
            // A count over the whole history beside the snapshot's count.
            let touch_count: Vec<Option<f64>> =
                (0..n).map(|_| Some((rng.next() * 10.0).floor())).collect();
            let total_touches_all: Vec<Option<f64>> = touch_count
                .iter()
                .zip(&y)
                .map(|(c, &p)| {
                    let later = (rng.next() * if p { 6.0 } else { 3.0 }).floor();
                    c.map(|c| c + later)
                })
                .collect();
            let stores: Vec<Vec<RawValue>> = [
                &visits,
                &score,
                &closed_at,
                &touch_count,
                &total_touches_all,
            ]
            .iter()
            .map(|x| numbers(x))
            .collect();
            let columns = vec![
                numeric("visits", &visits, &stores[0]),
                categorical("source", &source),
                categorical("label_copy", &copy),
                numeric("quality_score", &score, &stores[1]),
                numeric("closed_at", &closed_at, &stores[2]),
                numeric("touch_count", &touch_count, &stores[3]),
                numeric("total_touches_all", &total_touches_all, &stores[4]),
            ];
            let found = find_leaks(&columns, &y, &LeakageThresholds::default());
            let show = format!("{case}: {found:#?}");
            assert_eq!(tier_of(&found, "visits"), None, "{show}");
            assert_eq!(tier_of(&found, "source"), None, "{show}");
            assert_eq!(tier_of(&found, "touch_count"), None, "{show}");
            for leak in [
                "label_copy",
                "quality_score",
                "closed_at",
                "total_touches_all",
            ] {
                assert_eq!(tier_of(&found, leak), Some(Tier::Refuse), "{leak} {show}");
            }
            assert!(
                rules_of(&found, "label_copy").contains(&"multivariate_lift"),
                "{show}"
            );
            assert!(
                rules_of(&found, "quality_score").contains(&"single_feature_auc"),
                "{show}"
            );
            assert!(
                rules_of(&found, "closed_at").contains(&"missingness"),
                "{show}"
            );
            assert_eq!(
                rules_of(&found, "total_touches_all"),
                ["longer_window"],
                "{show}"
            );
            // Every finding names its column first and gives numbers.
            for f in &found {
                assert!(f.evidence.starts_with(&format!("{}: ", f.column)), "{f:?}");
                assert!(f.evidence.chars().any(|c| c.is_ascii_digit()), "{f:?}");
            }
            let lift = found
                .iter()
                .find(|f| f.column == "label_copy" && f.rule == "multivariate_lift")
                .expect("lift finding");
            assert!(
                lift.evidence.contains("out of all proportion"),
                "{}",
                lift.evidence
            );
            // Refusals first.
            let first_warn = found
                .iter()
                .position(|f| f.tier == Tier::Warn)
                .unwrap_or(found.len());
            assert!(
                found[first_warn..].iter().all(|f| f.tier == Tier::Warn),
                "{show}"
            );
        }
    }

    #[test]
    fn strong_ordinary_signal_is_a_warning_at_most() {
        // Shapes of real files that a purity-only guard refused: a churn
        // file's "Two year" contracts (24% of rows, 97% negative at a 26.5%
        // base rate) beside the tenure it goes with, a month of few sales
        // (1.4% of rows, 98.5% negative at 15.5%), and a strong monotone
        // feature (AUC 0.88).
        for (case, base_rate, level_share, level_negative) in [
            ("two-year contracts", 0.265, 0.24, 0.972),
            ("a quiet month", 0.155, 0.014, 0.985),
        ] {
            let mut rng = Rng(17);
            let n = 20_000;
            let y = labels(n, base_rate, &mut rng);
            // Negatives are drawn into the pure level so that it holds
            // `level_share` of the rows at `level_negative` purity.
            let level_rows = level_share * n as f64;
            let p_neg = level_rows * level_negative / ((1.0 - base_rate) * n as f64);
            let p_pos = level_rows * (1.0 - level_negative) / (base_rate * n as f64);
            let in_level: Vec<bool> = y
                .iter()
                .map(|&p| rng.next() < if p { p_pos } else { p_neg })
                .collect();
            let contract = levels(
                in_level
                    .iter()
                    .zip(&y)
                    .map(|(&l, &p)| {
                        if l {
                            "Two year"
                        } else if rng.next() < if p { 0.7 } else { 0.6 } {
                            "Month-to-month"
                        } else {
                            "One year"
                        }
                    })
                    .collect(),
            );
            // Tenure carries most of what the contract says.
            let tenure: Vec<Option<f64>> = in_level
                .iter()
                .zip(&y)
                .map(|(&l, &p)| {
                    Some(rng.normal() + if l { 1.5 } else { 0.0 } - if p { 0.8 } else { 0.0 })
                })
                .collect();
            let strong = shifted(&y, SHIFT_AUC_088, &mut rng);
            let stores = [numbers(&tenure), numbers(&strong)];
            let columns = vec![
                categorical("Contract", &contract),
                numeric("tenure", &tenure, &stores[0]),
                numeric("satisfaction_level", &strong, &stores[1]),
            ];
            let found = find_leaks(&columns, &y, &LeakageThresholds::default());
            assert!(
                found.iter().all(|f| f.tier == Tier::Warn),
                "{case}: {found:#?}"
            );
            let pure = found
                .iter()
                .find(|f| f.column == "Contract" && f.rule == "pure_level")
                .expect("the pure level is still listed as a warning");
            assert!(
                pure.evidence.contains("of the base rate")
                    && pure.evidence.contains("its own ROC AUC is 0."),
                "{}",
                pure.evidence
            );
            assert!(
                found
                    .iter()
                    .any(|f| f.column == "Contract" && f.rule == "multivariate_lift"),
                "{case}: {found:#?}"
            );
        }
    }

    #[test]
    fn categorical_auc_uses_out_of_fold_rates() {
        let mut rng = Rng(11);
        let n = 5_000;
        let y = labels(n, 0.4, &mut rng);
        // Unique per row: in-sample target encoding would give AUC 1.
        let ids: Vec<Option<RawValue>> = (0..n)
            .map(|i| Some(RawValue::Category(format!("lead-{i}"))))
            .collect();
        // A lead-quality grade given after the fact: AUC ≈ 0.93, no level ≥ 97% pure.
        let grade: Vec<Option<RawValue>> = y
            .iter()
            .map(|&p| {
                let r = rng.next();
                let g = match (p, r) {
                    (true, r) if r < 0.93 => "High in Relevance",
                    (true, _) => "Low in Relevance",
                    (false, r) if r < 0.93 => "Low in Relevance",
                    (false, _) => "High in Relevance",
                };
                Some(RawValue::Category(g.into()))
            })
            .collect();
        let columns = vec![categorical("id", &ids), categorical("Lead Quality", &grade)];
        let found = find_leaks(&columns, &y, &LeakageThresholds::default());
        assert!(rules_of(&found, "id").is_empty(), "{found:#?}");
        assert_eq!(
            rules_of(&found, "Lead Quality"),
            ["multivariate_lift", "single_feature_auc"],
            "{found:#?}"
        );
        assert_eq!(tier_of(&found, "Lead Quality"), Some(Tier::Refuse));
        let auc = found
            .iter()
            .find(|f| f.rule == "single_feature_auc")
            .expect("auc finding");
        assert!(
            auc.evidence
                .starts_with("Lead Quality: on its own separates the label with ROC AUC 0.92"),
            "{}",
            auc.evidence
        );
    }

    #[test]
    fn outcome_names_are_found_by_token() {
        assert_eq!(outcome_word("Lead Status"), Some("status"));
        assert_eq!(outcome_word("has_open_opportunity"), Some("opportunity"));
        assert_eq!(outcome_word("DealStage"), Some("deal"));
        assert_eq!(outcome_word("statuses_seen"), None);
        assert_eq!(outcome_word("Total Visits"), None);
    }

    #[test]
    fn a_total_is_not_a_longer_window_unless_it_counts_the_same_thing() {
        let n = 200;
        let a: Vec<Option<f64>> = (0..n).map(|i| Some((i % 7) as f64)).collect();
        let b: Vec<Option<f64>> = a.iter().map(|x| x.map(|x| x + 1.0)).collect();
        let money: Vec<Option<f64>> = a.iter().map(|x| x.map(|x| x + 0.5)).collect();
        let stores = [numbers(&a), numbers(&b), numbers(&money)];
        let cols = |total: &'static str, other: &'static str, t: usize| {
            vec![
                numeric(other, &a, &stores[0]),
                numeric(total, &[b.clone(), money.clone()][t], &stores[t + 1]),
            ]
        };
        // Same thing, whole numbers: found.
        assert_eq!(
            longer_windows(&cols("TotalVisits", "visit_count", 0)).len(),
            1
        );
        // No total word, another thing, or an amount: not found.
        assert!(longer_windows(&cols("visits_30d", "visit_count", 0)).is_empty());
        assert!(longer_windows(&cols("total_emails", "visit_count", 0)).is_empty());
        assert!(longer_windows(&cols("TotalCharges", "MonthlyCharges", 1)).is_empty());
        assert!(
            longer_windows(&cols("total_session_duration_seconds", "session_count", 0)).is_empty()
        );
    }

    #[test]
    fn pure_level_rule_respects_the_base_rate() {
        // (case, base rate, level share, level's positive rate, flagged?)
        let cases = [
            (
                "imbalanced: ordinary level 98% negative",
                0.03,
                0.30,
                0.02,
                false,
            ),
            ("imbalanced: level 99% positive", 0.03, 0.02, 0.99, true),
            ("10% base rate: level 99% negative", 0.10, 0.20, 0.01, false),
            ("balanced: level 99% negative", 0.40, 0.10, 0.01, true),
            (
                "balanced: level 95% positive (below purity)",
                0.40,
                0.10,
                0.95,
                false,
            ),
            (
                "balanced: pure level under 1% of rows",
                0.40,
                0.005,
                1.0,
                false,
            ),
            (
                "mostly positive: level 99% positive",
                0.90,
                0.20,
                0.99,
                false,
            ),
            (
                "mostly positive: level 99% negative",
                0.90,
                0.05,
                0.01,
                true,
            ),
        ];
        for (case, base_rate, share, level_rate, flagged) in cases {
            let n = 40_000;
            let level_rows = (share * n as f64) as usize;
            let level_pos = (level_rate * level_rows as f64).round() as usize;
            let total_pos = (base_rate * n as f64) as usize;
            // Rows 0..level_rows are the level; the other rows fill the rest
            // of the positives, spread over two ordinary levels.
            let mut y = vec![false; n];
            y[..level_pos].fill(true);
            let rest_pos = total_pos.saturating_sub(level_pos);
            for (k, slot) in y[level_rows..].iter_mut().enumerate() {
                *slot = k < rest_pos;
            }
            let values: Vec<Option<RawValue>> = (0..n)
                .map(|i| {
                    let level = if i < level_rows {
                        "target level"
                    } else if i % 2 == 0 {
                        "a"
                    } else {
                        "b"
                    };
                    Some(RawValue::Category(level.into()))
                })
                .collect();
            let found = find_leaks(
                &[categorical("c", &values)],
                &y,
                &LeakageThresholds::default(),
            );
            let pure: Vec<&LeakFinding> = found.iter().filter(|f| f.rule == "pure_level").collect();
            assert_eq!(!pure.is_empty(), flagged, "{case}: {found:#?}");
            if flagged {
                assert!(
                    pure[0].evidence.contains("level \"target level\""),
                    "{case}: {found:#?}"
                );
            }
        }
    }

    #[test]
    fn imbalanced_data_without_leaks_has_no_findings() {
        let mut rng = Rng(3);
        let n = 50_000;
        let y = labels(n, 0.03, &mut rng);
        let visits = shifted(&y, SHIFT_AUC_075, &mut rng);
        let visits_store = numbers(&visits);
        // A sparse column, missing at random.
        let sparse: Vec<Option<f64>> = (0..n)
            .map(|_| (rng.next() < 0.3).then(|| rng.normal()))
            .collect();
        let sparse_store = numbers(&sparse);
        // Categorical with many levels, all ≥ 97% negative like the data.
        let country: Vec<Option<RawValue>> = y
            .iter()
            .map(|&p| {
                let level = (rng.next() * 12.0) as usize + usize::from(p && rng.next() < 0.3);
                (rng.next() > 0.1).then(|| RawValue::Category(format!("country-{level}")))
            })
            .collect();
        let flag: Vec<Option<RawValue>> = y
            .iter()
            .map(|&p| Some(RawValue::Flag(rng.next() < if p { 0.5 } else { 0.2 })))
            .collect();
        let columns = vec![
            numeric("visits", &visits, &visits_store),
            numeric("sparse", &sparse, &sparse_store),
            categorical("country", &country),
            ColumnValues {
                name: "do_not_email",
                kind: FeatureKind::Boolean,
                values: flag.iter().map(Option::as_ref).collect(),
            },
        ];
        let found = find_leaks(&columns, &y, &LeakageThresholds::default());
        assert!(found.is_empty(), "{found:#?}");
    }

    #[test]
    fn degenerate_inputs_give_no_findings() {
        let store = [RawValue::Number(1.0), RawValue::Number(2.0)];
        let all_missing = ColumnValues {
            name: "empty",
            kind: FeatureKind::Numeric,
            values: vec![None, None],
        };
        let one_class = ColumnValues {
            name: "x",
            kind: FeatureKind::Numeric,
            values: store.iter().map(Some).collect(),
        };
        let t = LeakageThresholds::default();
        assert!(find_leaks(std::slice::from_ref(&one_class), &[true, true], &t).is_empty());
        assert!(find_leaks(&[all_missing], &[true, false], &t).is_empty());
        assert!(find_leaks(&[], &[true, false], &t).is_empty());
        assert!(find_leaks(&[one_class], &[], &t).is_empty());
    }

    #[test]
    fn many_rows_and_columns_stay_fast() {
        // 200k rows × 10 columns here; the cost is one sort per column.
        let mut rng = Rng(5);
        let n = 200_000;
        let y = labels(n, 0.2, &mut rng);
        let xs: Vec<Vec<Option<f64>>> = (0..5).map(|_| shifted(&y, 0.5, &mut rng)).collect();
        let stores: Vec<Vec<RawValue>> = xs.iter().map(|x| numbers(x)).collect();
        let cats: Vec<Vec<Option<RawValue>>> = (0..5)
            .map(|_| {
                (0..n)
                    .map(|_| {
                        Some(RawValue::Category(format!(
                            "l{}",
                            (rng.next() * 1000.0) as u32
                        )))
                    })
                    .collect()
            })
            .collect();
        let mut columns: Vec<ColumnValues> = xs
            .iter()
            .zip(&stores)
            .map(|(x, s)| numeric("x", x, s))
            .collect();
        columns.extend(cats.iter().map(|c| categorical("c", c)));
        let start = std::time::Instant::now();
        let found = find_leaks(&columns, &y, &LeakageThresholds::default());
        let took = start.elapsed();
        assert!(found.is_empty(), "{found:#?}");
        assert!(took.as_secs_f64() < 20.0, "took {took:?}");
    }
}
