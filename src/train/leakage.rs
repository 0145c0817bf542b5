//! The leakage guard: features that separate the label suspiciously well on
//! their own.
//!
//! A column that alone almost decides the outcome is usually recorded *after*
//! the outcome (a sales note such as "Closed by Horizzon", a lead-quality
//! grade given by the sales rep, an opportunity created on conversion). A
//! model trained on it looks excellent offline and is useless on new leads,
//! where the column is not yet filled in. The trainer refuses such columns
//! unless the user names them with `--allow-leaky COL`.
//!
//! Three rules, each evaluated per column on the rows passed in:
//!
//! 1. `single_feature_auc`: the column on its own has ROC AUC ≥
//!    [`LeakageThresholds::max_auc`] (as max(AUC, 1 − AUC), so a feature that
//!    predicts the negative class counts too). Numeric columns are scored by
//!    their value with missing values at the median of the present ones,
//!    which is what the feature pipeline feeds the model. Categorical and
//!    boolean columns are scored by the positive rate of their level,
//!    computed *out of fold* (5 deterministic folds, the row's own fold left
//!    out, smoothed towards the base rate): an identifier-like column, where
//!    every level is unique, gets the base rate everywhere and AUC 0.5
//!    instead of a perfect in-sample fit. Missing is a level of its own.
//! 2. `pure_level`: a category level (not missing) holding ≥
//!    [`LeakageThresholds::min_level_share`] of the rows and at least
//!    [`MIN_LEVEL_ROWS`] rows, of which ≥ [`LeakageThresholds::max_level_purity`]
//!    are one class, **and** that class is at most
//!    [`LeakageThresholds::max_pure_class_share`] of all rows. The last
//!    condition keeps ordinary levels of imbalanced data quiet: with a 3%
//!    base rate, most levels are ≥ 97% negative. Together the two mean the
//!    other class is at least 5× rarer in the level than overall
//!    (≤ 3% against ≥ 15%).
//! 3. `missingness`: whether the value is missing, on its own, has ROC AUC ≥
//!    [`LeakageThresholds::max_missing_auc`] (e.g. an opportunity amount that
//!    exists only for leads that converted).
//!
//! Each rule yields at most one [`LeakFinding`] per column (for `pure_level`,
//! the largest pure level, with a count of the others). Cost is one sort per
//! column (O(n log n)); hashing levels is O(n).

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::scoring::features::{format_number, FeatureKind, RawValue};
use crate::train::evaluation::roc_auc;

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

/// A column that looks leaky, with the numbers that say so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeakFinding {
    /// Column name.
    pub column: String,
    /// Which rule fired: `single_feature_auc`, `pure_level` or `missingness`.
    pub rule: String,
    /// One sentence with the numbers, starting with the column name.
    pub evidence: String,
    /// How strong the evidence is, in [0.5, 1]: the AUC for the AUC rules,
    /// the purity for `pure_level`. Findings are sorted by it, strongest first.
    pub strength: f64,
}

/// When a column counts as leaky. See the module docs for each rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeakageThresholds {
    /// Single-feature ROC AUC (max(AUC, 1 − AUC)) at or above which a column is flagged.
    pub max_auc: f64,
    /// Share of rows a level must hold to be judged by `pure_level`.
    pub min_level_share: f64,
    /// Share of one class within a level at or above which the level is "pure".
    pub max_level_purity: f64,
    /// A level counts as pure only in a class whose overall share is at most
    /// this, so that ordinary levels of imbalanced data are not flagged.
    pub max_pure_class_share: f64,
    /// ROC AUC of the is-missing indicator at or above which a column is flagged.
    pub max_missing_auc: f64,
}

impl Default for LeakageThresholds {
    /// The thresholds of the leakage issue: AUC 0.9, levels of ≥ 1% of rows
    /// that are ≥ 97% one class (a class of ≤ 85% of rows), missingness AUC 0.9.
    fn default() -> Self {
        LeakageThresholds {
            max_auc: 0.9,
            min_level_share: 0.01,
            max_level_purity: 0.97,
            max_pure_class_share: 0.85,
            max_missing_auc: 0.9,
        }
    }
}

/// Finds columns that separate `labels` suspiciously well on their own,
/// strongest first. Returns nothing when `labels` hold one class only.
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
    for column in columns {
        assert_eq!(
            column.values.len(),
            n,
            "column \"{}\" has {} values for {} labels",
            column.name,
            column.values.len(),
            n
        );
        let name = column.name;
        if let Some(f) = missingness(column, labels, t) {
            findings.push(f);
        }
        match column.kind {
            FeatureKind::Numeric => {
                if let Some(f) = numeric_auc(column, labels, t) {
                    findings.push(f);
                }
            }
            FeatureKind::Categorical | FeatureKind::Boolean => {
                let levels = Levels::new(&column.values, labels, &folds);
                let scores = levels.out_of_fold_rates(labels, &folds, base_rate);
                if let Some(auc) = roc_auc(labels, &scores).map(|a| a.max(1.0 - a)) {
                    if auc >= t.max_auc {
                        findings.push(LeakFinding {
                            column: name.to_string(),
                            rule: "single_feature_auc".to_string(),
                            evidence: format!(
                                "{name}: on its own separates the label with ROC AUC {auc:.2} \
                                 (out-of-fold positive rate of its {} levels)",
                                levels.names.len()
                            ),
                            strength: auc,
                        });
                    }
                }
                if let Some(f) = levels.pure_level(name, n, base_rate, t) {
                    findings.push(f);
                }
            }
        }
    }
    findings.sort_by(|a, b| {
        b.strength
            .total_cmp(&a.strength)
            .then_with(|| a.column.cmp(&b.column))
            .then_with(|| a.rule.cmp(&b.rule))
    });
    findings
}

/// Rule 3: the is-missing indicator alone.
fn missingness(
    column: &ColumnValues<'_>,
    labels: &[bool],
    t: &LeakageThresholds,
) -> Option<LeakFinding> {
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
    if missing_pos + missing_neg == 0 {
        return None;
    }
    // For a 0/1 score the AUC is 0.5 + (share of positives scored 1 −
    // share of negatives scored 1) / 2; no sort needed.
    let a = missing_pos as f64 / pos as f64;
    let b = missing_neg as f64 / neg as f64;
    let auc = 0.5 + (a - b).abs() / 2.0;
    (auc >= t.max_missing_auc).then(|| LeakFinding {
        column: column.name.to_string(),
        rule: "missingness".to_string(),
        evidence: format!(
            "{}: whether it is missing alone separates the label with ROC AUC {auc:.2} \
             (missing in {} of positive and {} of negative rows)",
            column.name,
            percent(a),
            percent(b)
        ),
        strength: auc,
    })
}

/// Missing for the guard: absent, or a number that is not finite.
fn numeric_missing(v: &Option<&RawValue>) -> bool {
    match v {
        None => true,
        Some(RawValue::Number(x)) => !x.is_finite(),
        Some(_) => false,
    }
}

/// Rule 1 for numbers: the value itself as the score, missing at the median.
fn numeric_auc(
    column: &ColumnValues<'_>,
    labels: &[bool],
    t: &LeakageThresholds,
) -> Option<LeakFinding> {
    let values: Vec<Option<f64>> = column
        .values
        .iter()
        .map(|v| match v {
            Some(RawValue::Number(x)) if x.is_finite() => Some(*x),
            Some(RawValue::Flag(b)) => Some(f64::from(u8::from(*b))),
            Some(RawValue::Category(s)) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
            _ => None,
        })
        .collect();
    let mut present: Vec<f64> = values.iter().flatten().copied().collect();
    if present.is_empty() {
        return None;
    }
    let mid = present.len() / 2;
    let (_, median, _) = present.select_nth_unstable_by(mid, f64::total_cmp);
    let median = *median;
    let scores: Vec<f64> = values.iter().map(|v| v.unwrap_or(median)).collect();
    let raw_auc = roc_auc(labels, &scores)?;
    let auc = raw_auc.max(1.0 - raw_auc);
    (auc >= t.max_auc).then(|| LeakFinding {
        column: column.name.to_string(),
        rule: "single_feature_auc".to_string(),
        evidence: format!(
            "{}: on its own separates the label with ROC AUC {auc:.2} ({} values go with \
             positive; missing scored at the median {})",
            column.name,
            if raw_auc >= 0.5 { "higher" } else { "lower" },
            format_number(median)
        ),
        strength: auc,
    })
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

    /// Rule 2: the largest level that is pure beyond the base rate.
    fn pure_level(
        &self,
        column: &str,
        n: usize,
        base_rate: f64,
        t: &LeakageThresholds,
    ) -> Option<LeakFinding> {
        // (level, purity, positive?) for each pure level (missing excluded:
        // rule 3 covers it).
        let pure: Vec<(usize, f64, bool)> = (0..self.names.len())
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
        let mut pure = pure;
        pure.sort_by(|a, b| self.rows[b.0].cmp(&self.rows[a.0]).then(a.0.cmp(&b.0)));
        let &(l, purity, positive) = pure.first()?;
        const NAMED: usize = 3;
        let named: Vec<String> = pure[1..]
            .iter()
            .take(NAMED)
            .map(|&(o, _, _)| format!("\"{}\"", self.names[o]))
            .collect();
        let others = match pure.len() - 1 {
            0 => String::new(),
            k if k <= NAMED => format!("; also pure: {}", named.join(", ")),
            k => format!("; also pure: {} and {} more", named.join(", "), k - NAMED),
        };
        Some(LeakFinding {
            column: column.to_string(),
            rule: "pure_level".to_string(),
            evidence: format!(
                "{column}: level \"{}\" holds {} of rows and {} of them are {} (base rate {}){others}",
                self.names[l],
                percent(self.rows[l] as f64 / n as f64),
                percent(purity),
                if positive { "positive" } else { "negative" },
                percent(base_rate)
            ),
            strength: purity,
        })
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
    /// √2·Φ⁻¹(0.97) ≈ 2.66: AUC 0.97.
    const SHIFT_AUC_097: f64 = 2.66;

    fn rules_of<'a>(findings: &'a [LeakFinding], column: &str) -> Vec<&'a str> {
        findings
            .iter()
            .filter(|f| f.column == column)
            .map(|f| f.rule.as_str())
            .collect()
    }

    #[test]
    fn planted_leaks_are_found_and_clean_features_are_not() {
        for (case, base_rate) in [("balanced", 0.385), ("imbalanced", 0.05)] {
            let mut rng = Rng(7);
            let n = 20_000;
            let y = labels(n, base_rate, &mut rng);
            // Clean: AUC ≈ 0.75 numeric, a categorical with mild signal.
            let clean_num = shifted(&y, SHIFT_AUC_075, &mut rng);
            let clean_cat: Vec<Option<RawValue>> = y
                .iter()
                .map(|&p| {
                    let r = rng.next();
                    let level = if (p && r < 0.6) || (!p && r < 0.3) {
                        "web"
                    } else {
                        "email"
                    };
                    Some(RawValue::Category(level.into()))
                })
                .collect();
            // Leak by value.
            let leak_num = shifted(&y, SHIFT_AUC_097, &mut rng);
            // Leak by level: 4% of rows, 99.5% positive, rest noise.
            let leak_cat: Vec<Option<RawValue>> = y
                .iter()
                .map(|&p| {
                    let closed = if p {
                        rng.next() < 0.04 / base_rate
                    } else {
                        rng.next() < 0.0002
                    };
                    let other = if rng.next() < 0.5 {
                        "Ringing"
                    } else {
                        "Will revert"
                    };
                    Some(RawValue::Category(
                        if closed { "Closed by Horizzon" } else { other }.into(),
                    ))
                })
                .collect();
            // Leak by missingness: present almost only for positives.
            let leak_missing: Vec<Option<f64>> = y
                .iter()
                .map(|&p| ((p && rng.next() < 0.97) || (!p && rng.next() < 0.02)).then_some(1000.0))
                .collect();
            let (s1, s2, s3) = (
                numbers(&clean_num),
                numbers(&leak_num),
                numbers(&leak_missing),
            );
            let columns = vec![
                numeric("visits", &clean_num, &s1),
                categorical("source", &clean_cat),
                numeric("quality_score", &leak_num, &s2),
                categorical("Tags", &leak_cat),
                numeric("opportunity_acv", &leak_missing, &s3),
            ];
            let found = find_leaks(&columns, &y, &LeakageThresholds::default());
            let show = format!("{case}: {found:#?}");
            assert!(rules_of(&found, "visits").is_empty(), "{show}");
            assert!(rules_of(&found, "source").is_empty(), "{show}");
            assert_eq!(
                rules_of(&found, "quality_score"),
                ["single_feature_auc"],
                "{show}"
            );
            assert!(rules_of(&found, "Tags").contains(&"pure_level"), "{show}");
            assert!(
                rules_of(&found, "opportunity_acv").contains(&"missingness"),
                "{show}"
            );
            let tags = found
                .iter()
                .find(|f| f.column == "Tags" && f.rule == "pure_level")
                .expect("Tags pure level");
            assert!(
                tags.evidence
                    .starts_with("Tags: level \"Closed by Horizzon\" holds ")
                    && tags.evidence.contains("% of rows and 99.")
                    && tags.evidence.contains("% of them are positive (base rate "),
                "{}",
                tags.evidence
            );
            let missing = found
                .iter()
                .find(|f| f.rule == "missingness")
                .expect("missingness");
            assert!(
                missing.evidence.starts_with(
                    "opportunity_acv: whether it is missing alone separates the label with ROC AUC 0.9"
                ),
                "{}",
                missing.evidence
            );
            let auc = found
                .iter()
                .find(|f| f.column == "quality_score")
                .expect("auc finding");
            assert!((auc.strength - 0.97).abs() < 0.01, "{show}");
            assert!(
                auc.evidence
                    .starts_with("quality_score: on its own separates the label with ROC AUC 0.97"),
                "{}",
                auc.evidence
            );
            // Strongest first.
            assert!(found.windows(2).all(|w| w[0].strength >= w[1].strength));
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
            ["single_feature_auc"],
            "{found:#?}"
        );
        assert!(found[0]
            .evidence
            .starts_with("Lead Quality: on its own separates the label with ROC AUC 0.93"));
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
