//! Training: a CRM export in, a validated [`ModelArtifact`] and a
//! [`TrainingReport`] out.
//!
//! Steps: read the table ([`crate::train::table`]: CSV with delimiter detection, or
//! Parquet), parse the binary target, infer each column's kind, drop
//! excluded / constant / identifier-like columns, run the leakage guard
//! ([`crate::train::leakage`]) and refuse flagged columns unless allowed, split off
//! the held-out test rows (stratified, out-of-time or grouped:
//! [`crate::train::splits`]), cross-validate each candidate family (logistic
//! regression, gradient-boosted trees) on the training rows, pick the family
//! by validation log loss when asked to, choose and fit the calibration on the
//! out-of-fold predictions, fit the final model on all training rows, and
//! evaluate it once on the test rows.
//!
//! With an account column (or an email column) the rows are also grouped
//! into accounts ([`crate::scoring::accounts`]): the split and the folds keep each
//! account on one side, and an account model is fitted on the training
//! accounts' rolled-up out-of-fold lead scores and compared on the test
//! accounts with the naive roll-ups (max lead score, noisy-OR). Lifecycle
//! stage rules (`[[stages]]`, else [`stages::default_for_features`]) are
//! checked against the feature names and stored in the artifact.
//!
//! Hyperparameters go through [`TrainParams::check`] once, up front (linfa
//! style): a [`ValidTrainParams`] can only hold usable values. They can come
//! from a `train.toml` file ([`TrainConfig`]) with flags overriding it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::scoring::accounts::{self, AccountModel, EngagementRule, LeadLens};
use crate::scoring::calibration::Calibration;
use crate::scoring::features::{
    apply_feature_texts, parse_bool, snake_case, FeatureEncoding, FeatureKind, FeaturePipeline,
    FeatureSpec, FeatureText, RawValue, MISSING, OTHER,
};
use crate::scoring::model::ARTIFACT_FILE;
use crate::scoring::model::{
    Estimator, ExplanationBaseline, HeldOutMetrics, ModelArtifact, Provenance, ScoreBand,
    ScoringModel, FORMAT_VERSION,
};
use crate::scoring::stages::{self, FeatureValueRef, StageRules};
use crate::train::evaluation;
use crate::train::grow::{self, GbdtParams};
use crate::train::leakage::{self, LeakFinding, LeakageThresholds};
use crate::train::linear;
use crate::train::report::{self, TrainingReport};
use crate::train::splits;
use crate::train::table::{self, Table};

pub use crate::train::splits::stratified_split;

/// Cells treated as missing besides the empty string (compared case-insensitively).
pub const DEFAULT_NA_VALUES: &[&str] = &["NA", "N/A", "NaN", "null", "None"];

/// Why training failed. Every variant says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The table is malformed (CSV or Parquet).
    #[error("{0}")]
    Table(#[from] table::TableError),
    /// The file has a header but no rows, or nothing at all.
    #[error("{path} has no data rows")]
    Empty {
        /// The file.
        path: String,
    },
    /// `--target` names no column.
    #[error("target column \"{target}\" not found; columns are: {available}")]
    NoTargetColumn {
        /// Requested target.
        target: String,
        /// Header, comma separated.
        available: String,
    },
    /// A column named in a flag does not exist.
    #[error("{flag} names column \"{column}\", which is not in the file")]
    UnknownColumn {
        /// The flag.
        flag: &'static str,
        /// The column.
        column: String,
    },
    /// A target cell is not 0/1, true/false or yes/no.
    #[error("line {line}: target \"{column}\" must be 0/1, true/false or yes/no, got \"{value}\"")]
    BadTarget {
        /// Line number (1 = header).
        line: u64,
        /// Target column.
        column: String,
        /// The cell.
        value: String,
    },
    /// Only one class in the target.
    #[error("target \"{column}\" is constant ({value}); a model needs both outcomes")]
    ConstantTarget {
        /// Target column.
        column: String,
        /// The one value present.
        value: bool,
    },
    /// Too few rows of a class to learn from.
    #[error("too few examples to learn from: {positives} positive and {negatives} negative rows (need at least {min} of each; see --min-positives)")]
    TooFewExamples {
        /// Positive rows.
        positives: usize,
        /// Negative rows.
        negatives: usize,
        /// Minimum per class.
        min: usize,
    },
    /// A column that is numeric almost everywhere holds a non-number.
    #[error("line {line}, column \"{column}\": \"{value}\" is not a number, but {numeric} of {present} values in this column are; fix the cell, add it to --na-values, or --exclude the column")]
    NotNumeric {
        /// Line number (1 = header).
        line: u64,
        /// The column.
        column: String,
        /// The cell.
        value: String,
        /// Numeric cells in the column.
        numeric: usize,
        /// Non-missing cells in the column.
        present: usize,
    },
    /// A time cell that is neither a number nor an ISO 8601 date.
    #[error("line {line}, column \"{column}\" (--time-column): \"{value}\" is not a number or an ISO 8601 date")]
    BadTime {
        /// Line number (1 = header).
        line: u64,
        /// The column.
        column: String,
        /// The cell.
        value: String,
    },
    /// Features that give the label away, not named in `--allow-leaky`.
    #[error("{}", leak_message(.0))]
    Leaky(Vec<LeakFinding>),
    /// No usable feature column is left.
    #[error("no usable feature columns are left after exclusions")]
    NoFeatures,
    /// A hyperparameter is out of range.
    #[error("invalid parameter {name}: {problem}")]
    InvalidParam {
        /// Parameter name.
        name: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// `train.toml` could not be read.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong, with line and column.
        message: String,
    },
    /// The solver failed or produced an unusable model.
    #[error("fitting failed: {0}")]
    Fit(String),
    /// A `[[stages]]` rule of `train.toml` does not fit the model's features.
    #[error("[[stages]] in train.toml: {0}")]
    Stages(String),
    /// The account settings do not fit the data.
    #[error("accounts: {0}")]
    Accounts(String),
}

fn leak_message(findings: &[LeakFinding]) -> String {
    let mut columns: Vec<&str> = findings.iter().map(|f| f.column.as_str()).collect();
    columns.dedup();
    let mut text = format!(
        "refusing to train: {} column(s) separate the label suspiciously well on their own and may leak it:",
        columns.len()
    );
    for f in findings {
        text.push_str(&format!("\n  - {}", f.evidence));
    }
    text.push_str(&format!(
        "\nexclude them (--exclude \"{}\") or, if they are known before the outcome, allow them with --allow-leaky \"{}\"",
        columns.join(","),
        columns.join(",")
    ));
    text
}

/// Which model family to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ModelFamily {
    /// L2-regularised logistic regression (the simple, explainable default).
    Logistic,
    /// Gradient-boosted decision trees.
    Gbdt,
    /// Cross-validate both and keep the one with the lower validation log loss.
    Auto,
}

/// How probabilities are calibrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CalibrationChoice {
    /// Choose none / Platt / isotonic by cross-validated log loss on the out-of-fold predictions.
    Auto,
    /// The model's own probabilities.
    None,
    /// Platt scaling (a logistic map of the log-odds).
    Platt,
    /// Isotonic regression on the log-odds.
    Isotonic,
}

/// Weights of the two classes in the fitting loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ClassWeight {
    /// Every row counts once.
    None,
    /// Each class weighs half of the total (scikit-learn's "balanced"); the
    /// calibration, fitted unweighted, maps scores back to true probabilities.
    Balanced,
}

/// Trainer hyperparameters, unchecked. Call [`TrainParams::check`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainParams {
    /// Model family.
    pub model: ModelFamily,
    /// L2 penalty `alpha` in `Σ logloss + alpha/2 · ‖w‖²` (scikit-learn's `1/C`).
    pub l2: f64,
    /// Solver iteration limit.
    pub max_iterations: u64,
    /// Share of rows held out for testing.
    pub test_fraction: f64,
    /// Seed of the splits and folds.
    pub seed: u64,
    /// Category levels with fewer training rows than this go to "(other)".
    pub min_category_count: usize,
    /// Quantile bins per numeric feature for the logistic model (one-hot,
    /// beside the linear term); 0 or 1 = none. Trees bin on their own.
    pub numeric_bins: usize,
    /// Share of training leads in the top ("hot") band.
    pub hot_share: f64,
    /// Share of training leads in the middle ("warm") band.
    pub warm_share: f64,
    /// Cross-validation folds on the training rows.
    pub folds: usize,
    /// Calibration method.
    pub calibration: CalibrationChoice,
    /// Class weights.
    pub class_weight: ClassWeight,
    /// Fewest rows of each class to train at all.
    pub min_positives: usize,
    /// Gradient-boosting hyperparameters.
    pub gbdt: GbdtParams,
}

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            model: ModelFamily::Logistic,
            l2: 1.0,
            max_iterations: 500,
            test_fraction: 0.2,
            seed: 42,
            min_category_count: 10,
            numeric_bins: 10,
            hot_share: 0.2,
            warm_share: 0.3,
            folds: 5,
            calibration: CalibrationChoice::Auto,
            class_weight: ClassWeight::None,
            min_positives: 30,
            gbdt: GbdtParams::default(),
        }
    }
}

/// Checked trainer hyperparameters (the default ones are valid).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValidTrainParams(TrainParams);

impl TrainParams {
    /// The gbdt of the Explain speed comparison against `shap`
    /// (docs/benchmarks.md): 300 trees of depth 6 with at most 64 leaves,
    /// 2 folds; `benches/scoring.rs` and `examples/shap_reference_data.rs`
    /// both train it.
    pub fn explain_benchmark() -> Self {
        let mut params = Self {
            model: ModelFamily::Gbdt,
            folds: 2,
            ..Self::default()
        };
        params.gbdt.n_trees = 300;
        params.gbdt.max_depth = 6;
        params.gbdt.num_leaves = 64;
        params
    }

    /// Validates every parameter once.
    ///
    /// # Errors
    /// [`TrainError::InvalidParam`] naming the first bad parameter.
    pub fn check(self) -> Result<ValidTrainParams, TrainError> {
        let bad = |name, problem: &str| TrainError::InvalidParam {
            name,
            problem: problem.to_string(),
        };
        if !(self.l2.is_finite() && self.l2 >= 0.0) {
            return Err(bad("l2", "must be a finite number >= 0"));
        }
        if self.max_iterations == 0 {
            return Err(bad("max_iterations", "must be > 0"));
        }
        if !(self.test_fraction > 0.0 && self.test_fraction < 0.9) {
            return Err(bad("test_fraction", "must be in (0, 0.9)"));
        }
        if self.numeric_bins > 100 {
            return Err(bad("numeric_bins", "must be <= 100"));
        }
        if self.min_category_count == 0 {
            return Err(bad("min_category_count", "must be >= 1"));
        }
        if !(self.hot_share > 0.0
            && self.warm_share > 0.0
            && self.hot_share + self.warm_share < 1.0)
        {
            return Err(bad(
                "hot_share/warm_share",
                "must be > 0 with hot_share + warm_share < 1",
            ));
        }
        if !(2..=20).contains(&self.folds) {
            return Err(bad("folds", "must be from 2 to 20"));
        }
        if self.min_positives < 2 {
            return Err(bad("min_positives", "must be >= 2"));
        }
        self.gbdt
            .check()
            .map_err(|problem| TrainError::InvalidParam {
                name: "gbdt",
                problem,
            })?;
        Ok(ValidTrainParams(self))
    }
}

impl ValidTrainParams {
    /// The checked values.
    pub fn get(&self) -> &TrainParams {
        &self.0
    }
}

/// What to train on.
#[derive(Debug, Clone, Default)]
pub struct TrainRequest {
    /// CSV or Parquet file with a header row.
    pub data: PathBuf,
    /// Binary target column.
    pub target: String,
    /// Identifier column, never a feature.
    pub id: Option<String>,
    /// Columns to leave out (leaky or irrelevant); a trailing `*` matches a prefix.
    pub exclude: Vec<String>,
    /// Extra cell values meaning "missing" (e.g. a "Select" placeholder).
    pub na_values: Vec<String>,
    /// Columns the leakage guard may flag without refusing (known before the outcome).
    pub allow_leaky: Vec<String>,
    /// Out-of-time evaluation: test on the most recent rows by this column.
    pub time_column: Option<String>,
    /// Grouped evaluation: no value of this column (e.g. account_id) in both train and test.
    pub group_column: Option<String>,
    /// Account id column: groups lead rows into accounts for the account
    /// model ([`accounts::account_key`]); never a lead feature.
    pub account_column: Option<String>,
    /// Email column: a lead without an account id joins the account of its
    /// email's company domain (free-mail never forms one); never a lead feature.
    pub email_column: Option<String>,
    /// The numeric lead features that count as behaviour for accounts
    /// (engaged contacts, the account model's sums and maxima); empty = every
    /// numeric feature. Each must be a numeric feature of the model.
    pub behavioural_features: Vec<String>,
    /// Lifecycle stage rules (`[[stages]]` in `train.toml`); `None` = the
    /// defaults for the model's features ([`stages::default_for_features`]).
    pub stages: Option<StageRules>,
    /// A separate held-out file (same columns): every row of `data` trains,
    /// every row of this file tests, so a comparison can use exactly the rows
    /// another tool used.
    pub test_data: Option<PathBuf>,
    /// Checked hyperparameters.
    pub params: ValidTrainParams,
    /// The command line, recorded in provenance.
    pub command: String,
    /// Labels, reason templates and `actionable` per feature name
    /// (`train.toml`'s `[features.<name>]`), applied after fitting.
    pub features: BTreeMap<String, FeatureText>,
}

/// A trained model with what the data scientist should know about it.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The validated artifact.
    pub artifact: ModelArtifact,
    /// Columns dropped automatically, allowed leaks and other notes.
    pub notices: Vec<String>,
    /// Rows used for fitting.
    pub train_rows: usize,
    /// Rows held out.
    pub test_rows: usize,
    /// Everything measured, for `report.json` / `report.html`.
    pub report: TrainingReport,
}

/// Where long-running work reports progress (a progress bar on a terminal,
/// plain lines otherwise; nothing in tests).
pub trait Progress: Sync {
    /// A stage of `total` steps begins.
    fn start(&self, stage: &str, total: u64);
    /// `n` steps of the current stage are done.
    fn advance(&self, n: u64);
    /// The current stage ended; `summary` says how it went.
    fn finish(&self, summary: &str);
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self, _: &str) {}
}

/// `train.toml`: the same settings as the trainer's flags (flags override
/// the file). Unknown keys are refused, so a typo cannot go unnoticed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Training file.
    pub data: Option<PathBuf>,
    /// Target column.
    pub target: Option<String>,
    /// Identifier column.
    pub id: Option<String>,
    /// Columns to leave out.
    pub exclude: Vec<String>,
    /// Extra missing-value tokens.
    pub na_values: Vec<String>,
    /// Columns allowed past the leakage guard.
    pub allow_leaky: Vec<String>,
    /// Out-of-time split column.
    pub time_column: Option<String>,
    /// Grouped split column.
    pub group_column: Option<String>,
    /// Account id column (account model; grouped split unless `group_column`).
    pub account_column: Option<String>,
    /// Email column (account by company domain when there is no account id).
    pub email_column: Option<String>,
    /// Numeric features that count as behaviour for accounts (empty = all).
    pub behavioural_features: Vec<String>,
    /// Lifecycle stage rules (`[[stages]]` with `stage` and `when`), checked
    /// against the model's feature names; absent = the defaults.
    pub stages: Option<StageRules>,
    /// Separate held-out file.
    pub test_data: Option<PathBuf>,
    /// Output directory.
    pub out: Option<PathBuf>,
    /// Hyperparameters (`[params]`, with `[params.gbdt]`).
    pub params: TrainParams,
    /// Per-feature display text and behaviour (`[features.<name>]`: label,
    /// reason, reason_when_false, actionable).
    pub features: BTreeMap<String, FeatureText>,
}

impl TrainConfig {
    /// Reads a `train.toml`.
    ///
    /// # Errors
    /// [`TrainError::Config`] with the TOML parser's line and column.
    pub fn read(path: &Path) -> Result<Self, TrainError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TrainError::Io {
            path: shown.clone(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| TrainError::Config {
            path: shown,
            message: e.to_string(),
        })
    }
}

fn parse_target(cell: &str) -> Option<bool> {
    let t = cell.trim();
    match t {
        "1" | "1.0" => Some(true),
        "0" | "0.0" => Some(false),
        _ => parse_bool(t),
    }
}

fn matches_pattern(column: &str, pattern: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => column.starts_with(prefix),
        None => column == pattern,
    }
}

/// Trains a model as the request says.
///
/// # Errors
/// [`TrainError`] for unusable input (no target, constant target, empty
/// file, too few examples, unknown columns, leaky columns) and solver failures.
pub fn train(request: &TrainRequest) -> Result<TrainOutcome, TrainError> {
    train_with_progress(request, &Quiet)
}

/// As [`train`], reporting progress.
///
/// # Errors
/// As [`train`].
pub fn train_with_progress(
    request: &TrainRequest,
    progress: &dyn Progress,
) -> Result<TrainOutcome, TrainError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TrainError::Io {
            path: path.display().to_string(),
            source,
        })
    };
    let bytes = read(&request.data)?;
    let test_bytes = match &request.test_data {
        Some(path) => Some(read(path)?),
        None => None,
    };
    train_bytes_with_progress(&bytes, test_bytes.as_deref(), request, progress)
}

/// Trains on file bytes as if they were the contents of `request.data`.
///
/// # Errors
/// As [`train`].
pub fn train_bytes(bytes: &[u8], request: &TrainRequest) -> Result<TrainOutcome, TrainError> {
    train_bytes_with_progress(bytes, None, request, &Quiet)
}

/// One feature column chosen for training.
struct Column {
    /// Position in the table.
    index: usize,
    kind: FeatureKind,
}

/// The rows and columns everything below works on.
struct Prepared<'a> {
    table: &'a Table,
    columns: Vec<Column>,
    /// Raw values, one row per lead, in feature order (`None` = missing).
    raw: Vec<Vec<Option<RawValue>>>,
    labels: Vec<bool>,
    weights: Option<Vec<f64>>,
    params: &'a TrainParams,
}

fn train_bytes_with_progress(
    bytes: &[u8],
    test_bytes: Option<&[u8]>,
    request: &TrainRequest,
    progress: &dyn Progress,
) -> Result<TrainOutcome, TrainError> {
    let params = request.params.get();
    let name = request.data.display().to_string();
    let mut table = table::read_table(bytes, &name)?;
    if table.rows.is_empty() {
        return Err(TrainError::Empty { path: name });
    }
    // With a separate test file, its rows are appended and held out as they are.
    let given_test = match (test_bytes, &request.test_data) {
        (Some(test_bytes), Some(test_path)) => {
            let test_name = test_path.display().to_string();
            let test = table::read_table(test_bytes, &test_name)?;
            if test.header != table.header {
                return Err(TrainError::Fit(format!(
                    "{test_name} must have the same columns as {name}, in the same order"
                )));
            }
            if test.rows.is_empty() {
                return Err(TrainError::Empty { path: test_name });
            }
            let first = table.rows.len();
            table.rows.extend(test.rows);
            table.lines.extend(test.lines);
            Some(first)
        }
        _ => None,
    };
    let mut notices = Vec::new();

    // Target.
    let target_idx = table
        .header
        .iter()
        .position(|h| h == &request.target)
        .ok_or_else(|| TrainError::NoTargetColumn {
            target: request.target.clone(),
            available: table.header.join(", "),
        })?;
    let labels: Vec<bool> = table
        .rows
        .iter()
        .zip(&table.lines)
        .map(|(row, &line)| {
            parse_target(&row[target_idx]).ok_or_else(|| TrainError::BadTarget {
                line,
                column: request.target.clone(),
                value: row[target_idx].clone(),
            })
        })
        .collect::<Result<_, _>>()?;
    let positives = labels.iter().filter(|&&y| y).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return Err(TrainError::ConstantTarget {
            column: request.target.clone(),
            value: positives > 0,
        });
    }
    if positives < params.min_positives || negatives < params.min_positives {
        return Err(TrainError::TooFewExamples {
            positives,
            negatives,
            min: params.min_positives,
        });
    }

    // Which columns become features.
    let find = |flag: &'static str, column: &String| -> Result<usize, TrainError> {
        table
            .header
            .iter()
            .position(|h| h == column)
            .ok_or_else(|| TrainError::UnknownColumn {
                flag,
                column: column.clone(),
            })
    };
    let mut excluded: Vec<String> = Vec::new();
    if let Some(id) = &request.id {
        find("--id", id)?;
        excluded.push(id.clone());
    }
    let time_idx = match &request.time_column {
        Some(c) => Some(find("--time-column", c)?),
        None => None,
    };
    let group_idx = match &request.group_column {
        Some(c) => Some(find("--group-column", c)?),
        None => None,
    };
    if time_idx.is_some() && group_idx.is_some() {
        return Err(TrainError::InvalidParam {
            name: "time_column/group_column",
            problem: "choose one: an out-of-time or a grouped split".into(),
        });
    }
    for c in time_idx.iter().chain(group_idx.iter()) {
        excluded.push(table.header[*c].clone());
    }
    let account_idx = match &request.account_column {
        Some(c) => Some(find("--account-column", c)?),
        None => None,
    };
    let email_idx = match &request.email_column {
        Some(c) => Some(find("--email-column", c)?),
        None => None,
    };
    for (c, flag) in [
        (account_idx, "--account-column"),
        (email_idx, "--email-column"),
    ] {
        if let Some(c) = c {
            let column = &table.header[c];
            if !excluded.contains(column) {
                notices.push(format!(
                    "column \"{column}\" excluded from the lead features: it keys accounts ({flag})"
                ));
                excluded.push(column.clone());
            }
        }
    }
    for pattern in &request.exclude {
        let hits: Vec<&String> = table
            .header
            .iter()
            .filter(|h| matches_pattern(h, pattern))
            .collect();
        if hits.is_empty() {
            return Err(TrainError::UnknownColumn {
                flag: "--exclude",
                column: pattern.clone(),
            });
        }
        excluded.extend(hits.into_iter().cloned());
    }
    for column in &request.allow_leaky {
        find("--allow-leaky", column)?;
    }
    let na: HashSet<String> = DEFAULT_NA_VALUES
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .chain(request.na_values.iter().map(|s| s.to_ascii_lowercase()))
        .collect();
    let is_missing = |cell: &str| {
        let t = cell.trim();
        t.is_empty() || na.contains(&t.to_ascii_lowercase())
    };

    let mut columns: Vec<Column> = Vec::new();
    for (c, column) in table.header.iter().enumerate() {
        if c == target_idx || excluded.contains(column) {
            continue;
        }
        let present: Vec<(usize, &str)> = table
            .rows
            .iter()
            .enumerate()
            .map(|(r, row)| (r, row[c].trim()))
            .filter(|(_, v)| !is_missing(v))
            .collect();
        let distinct: HashSet<&str> = present.iter().map(|(_, v)| *v).collect();
        if distinct.len() <= 1 {
            notices.push(format!(
                "column \"{column}\" excluded: constant ({} distinct value)",
                distinct.len()
            ));
            excluded.push(column.clone());
            continue;
        }
        let is_number = |v: &str| v.parse::<f64>().is_ok_and(f64::is_finite);
        let numeric = present.iter().filter(|(_, v)| is_number(v)).count();
        let kind = if numeric == present.len() {
            FeatureKind::Numeric
        } else if present.iter().all(|(_, v)| parse_bool(v).is_some()) {
            FeatureKind::Boolean
        } else {
            // A column of numbers with a stray word in it is a data error, not
            // a categorical feature with thousands of levels.
            if numeric >= 20 && numeric * 100 >= present.len() * 95 {
                if let Some(&(r, v)) = present.iter().find(|(_, v)| !is_number(v)) {
                    return Err(TrainError::NotNumeric {
                        line: table.lines[r],
                        column: column.clone(),
                        value: v.to_string(),
                        numeric,
                        present: present.len(),
                    });
                }
            }
            FeatureKind::Categorical
        };
        if kind == FeatureKind::Categorical
            && distinct.len() > 100
            && distinct.len() * 2 > present.len()
        {
            notices.push(format!(
                "column \"{column}\" excluded: looks like an identifier ({} distinct values in {} rows)",
                distinct.len(),
                present.len()
            ));
            excluded.push(column.clone());
            continue;
        }
        columns.push(Column { index: c, kind });
    }
    if columns.is_empty() {
        return Err(TrainError::NoFeatures);
    }

    // Raw values, one row per lead, in feature order.
    let raw: Vec<Vec<Option<RawValue>>> = table
        .rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|col| {
                    let cell = row[col.index].trim();
                    if is_missing(cell) {
                        return None;
                    }
                    Some(match col.kind {
                        // Kinds were inferred from these very cells, so the parses succeed.
                        FeatureKind::Numeric => RawValue::Number(cell.parse().unwrap_or(f64::NAN)),
                        FeatureKind::Boolean => RawValue::Flag(parse_bool(cell).unwrap_or(false)),
                        FeatureKind::Categorical => RawValue::Category(cell.to_string()),
                    })
                })
                .collect()
        })
        .collect();

    // Leakage guard, on every labelled row.
    progress.start("leakage guard", columns.len() as u64);
    let leak_columns: Vec<leakage::ColumnValues> = columns
        .iter()
        .enumerate()
        .map(|(f, col)| leakage::ColumnValues {
            name: &table.header[col.index],
            kind: col.kind,
            values: raw.iter().map(|r| r[f].as_ref()).collect(),
        })
        .collect();
    let findings = leakage::find_leaks(&leak_columns, &labels, &LeakageThresholds::default());
    drop(leak_columns);
    progress.finish(&format!("{} finding(s)", findings.len()));
    let refused: Vec<LeakFinding> = findings
        .iter()
        .filter(|f| !request.allow_leaky.contains(&f.column))
        .cloned()
        .collect();
    if !refused.is_empty() {
        return Err(TrainError::Leaky(refused));
    }
    for f in &findings {
        notices.push(format!("allowed by --allow-leaky: {}", f.evidence));
    }

    // Account keys, one per row (None: the lead has no account).
    let account_keys: Option<Vec<Option<String>>> = (account_idx.is_some() || email_idx.is_some())
        .then(|| {
            table
                .rows
                .iter()
                .map(|row| {
                    let cell =
                        |c: Option<usize>| c.map(|c| row[c].as_str()).filter(|v| !is_missing(v));
                    accounts::account_key(cell(account_idx), cell(email_idx)).map(|k| k.key)
                })
                .collect()
        });
    // Groups of the grouped split and folds: the group column, else the
    // account (a lead without one is a group of its own), so that no
    // account straddles training and test rows or two folds.
    let split_groups: Option<(Vec<String>, String)> = match (group_idx, &account_keys) {
        (Some(c), _) => Some((
            table.rows.iter().map(|r| r[c].trim().to_string()).collect(),
            format!("grouped by \"{}\"", table.header[c]),
        )),
        (None, Some(keys)) => Some((
            keys.iter()
                .enumerate()
                .map(|(i, k)| match k {
                    Some(k) => format!("account:{k}"),
                    None => format!("row:{i}"),
                })
                .collect(),
            format!("grouped by account ({})", account_key_description(request)),
        )),
        (None, None) => None,
    };

    // Held-out split.
    let (train_idx, test_idx, split_method) = if let Some(first) = given_test {
        (
            (0..first).collect(),
            (first..table.rows.len()).collect(),
            format!(
                "given test file {}",
                request
                    .test_data
                    .as_ref()
                    .and_then(|p| p.file_name())
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
        )
    } else if let Some(c) = time_idx {
        let times: Vec<splits::TimeKey> = table
            .rows
            .iter()
            .zip(&table.lines)
            .map(|(row, &line)| {
                splits::parse_time(&row[c]).ok_or_else(|| TrainError::BadTime {
                    line,
                    column: table.header[c].clone(),
                    value: row[c].clone(),
                })
            })
            .collect::<Result<_, _>>()?;
        let (a, b) = splits::time_split(&times, params.test_fraction);
        (a, b, format!("out-of-time on \"{}\"", table.header[c]))
    } else if let Some((groups, method)) = &split_groups {
        let (a, b) = splits::group_split(groups, params.test_fraction, params.seed);
        (a, b, method.clone())
    } else {
        let (a, b) = stratified_split(&labels, params.test_fraction, params.seed);
        (a, b, "stratified".to_string())
    };
    let y_train: Vec<bool> = train_idx.iter().map(|&i| labels[i]).collect();
    let y_test: Vec<bool> = test_idx.iter().map(|&i| labels[i]).collect();
    for (part, y) in [("training", &y_train), ("test", &y_test)] {
        if !y.contains(&true) || !y.contains(&false) {
            return Err(TrainError::Fit(format!(
                "the {split_method} split leaves the {part} rows with a single class; use more data or another split"
            )));
        }
    }

    let weights = match params.class_weight {
        ClassWeight::None => None,
        ClassWeight::Balanced => {
            let n = labels.len() as f64;
            let (wp, wn) = (n / (2.0 * positives as f64), n / (2.0 * negatives as f64));
            Some(labels.iter().map(|&y| if y { wp } else { wn }).collect())
        }
    };
    let prepared = Prepared {
        table: &table,
        columns,
        raw,
        labels: labels.clone(),
        weights,
        params,
    };

    // Stage rules and behavioural features name features, so check them
    // before any fitting.
    let names = feature_names(&prepared);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    for wanted in &request.behavioural_features {
        let kind = names
            .iter()
            .position(|n| n == wanted)
            .map(|i| prepared.columns[i].kind);
        if kind != Some(FeatureKind::Numeric) {
            return Err(TrainError::Accounts(format!(
                "behavioural feature {wanted:?} is not a numeric feature of this model \
                 (numeric features: {})",
                names
                    .iter()
                    .zip(&prepared.columns)
                    .filter(|(_, c)| c.kind == FeatureKind::Numeric)
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let stage_rules = match &request.stages {
        Some(rules) => {
            rules
                .validate(&names)
                .map_err(|e| TrainError::Stages(e.to_string()))?;
            rules.clone()
        }
        None => {
            let rules = stages::default_for_features(&names);
            notices.push(if rules.rules().is_empty() {
                "no stage rules: none of the default rules fits these features, so responses \
                 leave the stage blank; write [[stages]] in train.toml to place leads in stages"
                    .to_string()
            } else {
                format!(
                    "stage rules: {} default rule(s) for these features \
                     (stages::default_for_features); write [[stages]] in train.toml to change them",
                    rules.rules().len()
                )
            });
            rules
        }
    };

    // Cross-validation folds on the training rows (positions in train_idx).
    let folds: Vec<Vec<usize>> = match &split_groups {
        Some((groups, _)) => {
            let groups: Vec<String> = train_idx.iter().map(|&i| groups[i].clone()).collect();
            splits::group_folds(&groups, params.folds, params.seed)
        }
        None => splits::stratified_folds(&y_train, params.folds, params.seed),
    };
    let candidates: Vec<ModelFamily> = match params.model {
        ModelFamily::Auto => vec![ModelFamily::Logistic, ModelFamily::Gbdt],
        one => vec![one],
    };
    let mut cv_results = Vec::new();
    for &family in &candidates {
        cv_results.push(cross_validate(
            &prepared, family, &train_idx, &folds, progress,
        )?);
    }
    let best = cv_results
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.log_loss.0.total_cmp(&b.1.log_loss.0))
        .map_or(0, |(i, _)| i);
    let chosen = &cv_results[best];
    let choice_reason = if candidates.len() > 1 {
        let other = &cv_results[1 - best];
        format!(
            "auto: {} has the lower {}-fold validation log loss ({:.4} ± {:.4} vs {} {:.4} ± {:.4}; ROC AUC {:.4} vs {:.4})",
            family_name(chosen.family),
            folds.len(),
            chosen.log_loss.0,
            chosen.log_loss.1,
            family_name(other.family),
            other.log_loss.0,
            other.log_loss.1,
            chosen.roc_auc.0,
            other.roc_auc.0
        )
    } else {
        format!("{} as requested", family_name(chosen.family))
    };

    // Calibration, chosen and fitted on the out-of-fold predictions.
    let (calibration, calibration_summary) =
        choose_calibration(params.calibration, &chosen.oof, &y_train, &folds);

    // The final model, on all training rows.
    progress.start(
        &format!("final {} fit", family_name(chosen.family)),
        fit_steps(chosen.family, params),
    );
    let fit_started = Instant::now();
    let (mut specs, estimator, x_train) = fit_on(&prepared, chosen.family, &train_idx, progress)?;
    // Sales language: train.toml's [features.<name>] first, then the
    // defaults for what it leaves unset, and the deciles the suggestion
    // search tries (see features::FeatureSpec::fill_defaults).
    apply_feature_texts(&mut specs, &request.features).map_err(|problem| {
        TrainError::InvalidParam {
            name: "features",
            problem: problem.to_string(),
        }
    })?;
    for (f, spec) in specs.iter_mut().enumerate() {
        let values: Vec<f64> = train_idx
            .iter()
            .filter_map(|&i| match prepared.raw[i][f] {
                Some(RawValue::Number(x)) => Some(x),
                _ => None,
            })
            .collect();
        spec.fill_defaults(&values);
    }
    let final_fit_seconds = fit_started.elapsed().as_secs_f64();
    progress.finish(&format!("{final_fit_seconds:.1} s"));
    let pipeline =
        FeaturePipeline::new(specs.clone()).map_err(|e| TrainError::Fit(e.to_string()))?;
    let design_means: Vec<f64> = x_train
        .mean_axis(ndarray::Axis(0))
        .map(|m| m.to_vec())
        .unwrap_or_default();
    let x_test = encode_rows(&prepared, &pipeline, &test_idx)?;

    let positive_rate = positives as f64 / labels.len() as f64;
    let train_positive_rate = y_train.iter().filter(|&&y| y).count() as f64 / y_train.len() as f64;
    let mut artifact = ModelArtifact {
        format_version: FORMAT_VERSION,
        features: specs,
        estimator,
        calibration,
        explanation: ExplanationBaseline {
            design_means,
            mean_abs_contributions: Vec::new(),
        },
        bands: vec![ScoreBand {
            name: "cold".into(),
            min_probability: 0.0,
        }],
        provenance: Provenance {
            data_sha256: table.sha256.clone(),
            data_file: request
                .data
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            rows: labels.len() as u64,
            positive_rate,
            target_column: request.target.clone(),
            excluded_columns: excluded,
            trainer_version: env!("CARGO_PKG_VERSION").to_string(),
            trained_at: rfc3339_now(),
            seed: params.seed,
            test_fraction: params.test_fraction,
            command: request.command.clone(),
        },
        metrics: HeldOutMetrics::default(),
        stages: StageRules::default(),
        account_model: None,
        engagement: None,
    };
    let model = ScoringModel::from_artifact(artifact.clone())
        .map_err(|e| TrainError::Fit(e.to_string()))?;
    let log_odds = |x: &Array2<f64>| -> Vec<f64> {
        x.rows()
            .into_iter()
            .map(|row| model.log_odds(row.as_slice().unwrap_or(&[])))
            .collect()
    };
    let train_z = log_odds(&x_train);
    let test_z = log_odds(&x_test);
    let train_probs: Vec<f64> = train_z.iter().map(|&z| model.probability(z)).collect();
    let test_probs: Vec<f64> = test_z.iter().map(|&z| model.probability(z)).collect();
    if !test_probs.iter().all(|p| p.is_finite()) {
        return Err(TrainError::Fit(
            "the fitted model gives non-finite scores".into(),
        ));
    }

    artifact.bands = derive_bands(&train_probs, params.hot_share, params.warm_share);
    // Global explanation: mean |contribution| over (up to 5,000 evenly spaced) training rows.
    let stride = (x_train.nrows() / 5000).max(1);
    let mut sums = vec![0.0; artifact.features.len()];
    let mut counted = 0usize;
    for row in x_train.rows().into_iter().step_by(stride) {
        for (s, c) in sums
            .iter_mut()
            .zip(model.contributions(row.as_slice().unwrap_or(&[])))
        {
            *s += c.abs();
        }
        counted += 1;
    }
    artifact.explanation.mean_abs_contributions =
        sums.iter().map(|s| s / counted.max(1) as f64).collect();

    // Accounts: training rows scored out of fold (as the calibration saw
    // them), test rows by the final model; both calibrated.
    let account_summary = match &account_keys {
        Some(keys) => {
            let mut row_probs = vec![f64::NAN; labels.len()];
            for (&i, &z) in train_idx.iter().zip(&chosen.oof) {
                row_probs[i] = model.probability(z);
            }
            for (&i, &p) in test_idx.iter().zip(&test_probs) {
                row_probs[i] = p;
            }
            let warm = artifact
                .bands
                .iter()
                .find(|b| b.name == "warm")
                .map_or(0.5, |b| b.min_probability);
            fit_accounts(
                AccountInputs {
                    prepared: &prepared,
                    specs: &artifact.features,
                    keys,
                    train_idx: &train_idx,
                    test_idx: &test_idx,
                    probabilities: &row_probs,
                    engagement: EngagementRule::from_warm_band(warm),
                    behavioural: &request.behavioural_features,
                    key: account_key_description(request),
                },
                &mut notices,
            )
            .map(|fitted| {
                artifact.account_model = Some(fitted.model);
                artifact.engagement = Some(fitted.engagement);
                fitted.summary
            })
        }
        None => None,
    };
    artifact.stages = stage_rules;

    let metric_set = report::MetricSet::from_predictions(&y_test, &test_probs, train_positive_rate);
    artifact.metrics = HeldOutMetrics {
        roc_auc: metric_set.roc_auc,
        log_loss: metric_set.log_loss,
        brier: metric_set.brier,
        base_rate_log_loss: metric_set.base_rate_log_loss,
        rows: y_test.len() as u64,
        positives: y_test.iter().filter(|&&y| y).count() as u64,
        pr_auc: metric_set.pr_auc,
        ece: metric_set.ece,
        precision_top10: metric_set.precision_top10,
        lift_top10: metric_set.lift_top10,
    };
    // Re-validate what will be written.
    ScoringModel::from_artifact(artifact.clone()).map_err(|e| TrainError::Fit(e.to_string()))?;

    let report = build_report(ReportInputs {
        artifact: &artifact,
        request,
        table: &table,
        positives,
        negatives,
        split_method,
        train_rows: train_idx.len(),
        y_test: &y_test,
        test_probs: &test_probs,
        metric_set,
        cv_results: &cv_results,
        chosen: chosen.family,
        choice_reason,
        calibration: calibration_summary,
        findings: &findings,
        notices: &notices,
        accounts: account_summary,
    });

    Ok(TrainOutcome {
        artifact,
        notices,
        train_rows: train_idx.len(),
        test_rows: test_idx.len(),
        report,
    })
}

/// What the account step works on.
struct AccountInputs<'a> {
    prepared: &'a Prepared<'a>,
    /// The final model's features (names and kinds, schema order).
    specs: &'a [FeatureSpec],
    /// Account key per row (`None`: no account).
    keys: &'a [Option<String>],
    train_idx: &'a [usize],
    test_idx: &'a [usize],
    /// Calibrated lead probability per row: out-of-fold for training rows,
    /// the final model's for test rows.
    probabilities: &'a [f64],
    engagement: EngagementRule,
    /// Behavioural features chosen by the request (empty = every numeric).
    behavioural: &'a [String],
    /// How accounts were keyed, for the report.
    key: String,
}

/// A fitted account model with its engagement rule and evaluation.
struct FittedAccounts {
    model: AccountModel,
    engagement: EngagementRule,
    summary: report::AccountSummary,
}

/// Rolls the leads up into accounts, fits the account model on the training
/// accounts and compares it with the max and noisy-OR roll-ups on the test
/// accounts. An account's label: any of its leads converted. Accounts with
/// leads on both sides of the split (only possible with a group column, a
/// time column or a test file) are left out. Too few accounts of a class
/// (fewer than `min_positives` in training, none in test) or a failed fit
/// skip the account model with a notice: the lead model stands on its own.
fn fit_accounts(a: AccountInputs, notices: &mut Vec<String>) -> Option<FittedAccounts> {
    let p = a.prepared;
    let features: Vec<(&str, FeatureKind)> = a
        .specs
        .iter()
        .map(|s| (s.name.as_str(), s.kind()))
        .collect();
    let lens = LeadLens::new(
        &features,
        (!a.behavioural.is_empty()).then_some(a.behavioural),
        a.engagement,
    );
    let index: HashMap<&str, usize> = features
        .iter()
        .enumerate()
        .map(|(f, (name, _))| (*name, f))
        .collect();
    let view = |i: usize| {
        let row = &p.raw[i];
        lens.view(a.probabilities[i], &|name| {
            index
                .get(name)
                .and_then(|&f| row.get(f))
                .and_then(Option::as_ref)
                .map(|v| match v {
                    RawValue::Number(x) => FeatureValueRef::Number(*x),
                    RawValue::Category(c) => FeatureValueRef::Text(c),
                    RawValue::Flag(b) => FeatureValueRef::Bool(*b),
                })
        })
    };

    let mut side = vec![None; a.keys.len()];
    for &i in a.train_idx {
        side[i] = Some(true);
    }
    for &i in a.test_idx {
        side[i] = Some(false);
    }
    let mut members: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, key) in a.keys.iter().enumerate() {
        if let Some(key) = key {
            members.entry(key.as_str()).or_default().push(i);
        }
    }
    let leads_without_account = a.keys.iter().filter(|k| k.is_none()).count();
    let (mut train, mut test) = ((vec![], vec![]), (vec![], vec![]));
    let mut straddling = 0usize;
    for rows in members.values() {
        let first = side[rows[0]];
        if rows.iter().any(|&i| side[i] != first) {
            straddling += 1;
            continue;
        }
        let views: Vec<accounts::LeadView> = rows.iter().map(|&i| view(i)).collect();
        let bought = rows.iter().any(|&i| p.labels[i]);
        let (x, y) = if first == Some(true) {
            (&mut train.0, &mut train.1)
        } else {
            (&mut test.0, &mut test.1)
        };
        x.push(accounts::roll_up(&views));
        y.push(bought);
    }
    if straddling > 0 {
        notices.push(format!(
            "accounts: {straddling} account(s) have leads in both the training and the test rows \
             and are left out of the account model (use the account column as the split group)"
        ));
    }
    let (train_rows, train_labels): (Vec<accounts::AccountFeatures>, Vec<bool>) = train;
    let (test_rows, test_labels): (Vec<accounts::AccountFeatures>, Vec<bool>) = test;
    let count = |y: &[bool]| {
        let pos = y.iter().filter(|&&b| b).count();
        (pos, y.len() - pos)
    };
    let ((train_pos, train_neg), (test_pos, test_neg)) =
        (count(&train_labels), count(&test_labels));
    let min = p.params.min_positives;
    if train_pos < min || train_neg < min || test_pos == 0 || test_neg == 0 {
        notices.push(format!(
            "no account model: too few accounts of a class ({train_pos} bought / {train_neg} not \
             in training, need {min} of each (--min-positives); {test_pos} / {test_neg} in test, \
             need 1 of each); the server will use the max roll-up"
        ));
        return None;
    }
    let numeric: Vec<&str> = lens.numeric.iter().map(String::as_str).collect();
    let model = match crate::train::accounts::fit_account_model(
        &train_rows,
        &train_labels,
        &numeric,
        p.params.l2,
    ) {
        Ok(model) => model,
        Err(e) => {
            notices.push(format!(
                "no account model: {e}; the server will use the max roll-up"
            ));
            return None;
        }
    };
    let base_rate = train_pos as f64 / train_labels.len() as f64;
    let methods = [
        (
            "account model",
            test_rows.iter().map(|r| model.probability(r)).collect(),
        ),
        (
            "max lead score (fallback)",
            test_rows
                .iter()
                .map(accounts::fallback_probability)
                .collect(),
        ),
        ("noisy-OR", test_rows.iter().map(|r| r.noisy_or).collect()),
        ("base rate", vec![base_rate; test_rows.len()]),
    ]
    .into_iter()
    .map(|(method, probs): (&str, Vec<f64>)| report::AccountMetrics {
        method: method.to_string(),
        log_loss: evaluation::log_loss(&test_labels, &probs),
        roc_auc: evaluation::roc_auc(&test_labels, &probs).unwrap_or(0.5),
        brier: evaluation::brier(&test_labels, &probs),
    })
    .collect();
    let summary = report::AccountSummary {
        key: a.key,
        train_accounts: train_labels.len() as u64,
        train_positives: train_pos as u64,
        test_accounts: test_labels.len() as u64,
        test_positives: test_pos as u64,
        base_rate,
        leads_without_account: leads_without_account as u64,
        straddling_accounts: straddling as u64,
        engaged_min_probability: a.engagement.min_probability,
        behavioural_features: lens.numeric.clone(),
        methods,
    };
    Some(FittedAccounts {
        model,
        engagement: a.engagement,
        summary,
    })
}

fn family_name(family: ModelFamily) -> &'static str {
    match family {
        ModelFamily::Logistic => "logistic",
        ModelFamily::Gbdt => "gbdt",
        ModelFamily::Auto => "auto",
    }
}

fn fit_steps(family: ModelFamily, params: &TrainParams) -> u64 {
    match family {
        ModelFamily::Gbdt => params.gbdt.n_trees as u64,
        _ => 1,
    }
}

/// Cross-validation of one family on the training rows.
struct CvResult {
    family: ModelFamily,
    /// Out-of-fold log-odds, one per training row (position in train_idx).
    oof: Vec<f64>,
    /// (mean, sd) over folds.
    log_loss: (f64, f64),
    roc_auc: (f64, f64),
    pr_auc: (f64, f64),
    brier: (f64, f64),
    /// Mean fit time per fold.
    fit_seconds: f64,
}

fn cross_validate(
    prepared: &Prepared,
    family: ModelFamily,
    train_idx: &[usize],
    folds: &[Vec<usize>],
    progress: &dyn Progress,
) -> Result<CvResult, TrainError> {
    let mut oof = vec![0.0; train_idx.len()];
    let (mut ll, mut auc, mut ap, mut br) = (vec![], vec![], vec![], vec![]);
    let mut fit_seconds = 0.0;
    let steps = fit_steps(family, prepared.params);
    progress.start(
        &format!(
            "{}-fold cross-validation, {}",
            folds.len(),
            family_name(family)
        ),
        steps * folds.len() as u64,
    );
    for fold in folds {
        let held: HashSet<usize> = fold.iter().copied().collect();
        let fit_rows: Vec<usize> = (0..train_idx.len())
            .filter(|p| !held.contains(p))
            .map(|p| train_idx[p])
            .collect();
        let valid_rows: Vec<usize> = fold.iter().map(|&p| train_idx[p]).collect();
        let started = Instant::now();
        let (specs, estimator, _) = fit_on(prepared, family, &fit_rows, progress)?;
        fit_seconds += started.elapsed().as_secs_f64();
        let pipeline = FeaturePipeline::new(specs).map_err(|e| TrainError::Fit(e.to_string()))?;
        let x_valid = encode_rows(prepared, &pipeline, &valid_rows)?;
        let z: Vec<f64> = x_valid
            .rows()
            .into_iter()
            .map(|r| estimator_log_odds(&estimator, r.as_slice().unwrap_or(&[])))
            .collect();
        let y: Vec<bool> = valid_rows.iter().map(|&i| prepared.labels[i]).collect();
        let p: Vec<f64> = z
            .iter()
            .map(|&z| crate::scoring::math::sigmoid(z))
            .collect();
        for (&pos, &zi) in fold.iter().zip(&z) {
            oof[pos] = zi;
        }
        ll.push(evaluation::log_loss(&y, &p));
        br.push(evaluation::brier(&y, &p));
        if let Some(a) = evaluation::roc_auc(&y, &p) {
            auc.push(a);
        }
        if let Some(a) = evaluation::average_precision(&y, &p) {
            ap.push(a);
        }
    }
    let result = CvResult {
        family,
        oof,
        log_loss: mean_sd(&ll),
        roc_auc: mean_sd(&auc),
        pr_auc: mean_sd(&ap),
        brier: mean_sd(&br),
        fit_seconds: fit_seconds / folds.len().max(1) as f64,
    };
    progress.finish(&format!(
        "log loss {:.4} ± {:.4}, ROC AUC {:.4} ± {:.4}",
        result.log_loss.0, result.log_loss.1, result.roc_auc.0, result.roc_auc.1
    ));
    Ok(result)
}

/// Mean and sample standard deviation.
fn mean_sd(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// Feature names of the chosen columns: the header in snake case, made
/// unique with trailing underscores.
fn feature_names(prepared: &Prepared) -> Vec<String> {
    let mut used = HashSet::new();
    prepared
        .columns
        .iter()
        .map(|col| {
            let mut name = snake_case(&prepared.table.header[col.index]);
            while !used.insert(name.clone()) {
                name.push('_');
            }
            name
        })
        .collect()
}

/// How accounts were keyed, for the report.
fn account_key_description(request: &TrainRequest) -> String {
    match (&request.account_column, &request.email_column) {
        (Some(a), Some(e)) => format!("\"{a}\", else the email domain of \"{e}\""),
        (Some(a), None) => format!("\"{a}\""),
        (None, Some(e)) => format!("the email domain of \"{e}\""),
        (None, None) => String::new(),
    }
}

/// Fits the feature pipeline and the estimator of `family` on `rows`.
fn fit_on(
    prepared: &Prepared,
    family: ModelFamily,
    rows: &[usize],
    progress: &dyn Progress,
) -> Result<(Vec<FeatureSpec>, Estimator, Array2<f64>), TrainError> {
    let params = prepared.params;
    // Trees split on raw thresholds, so quantile-bin columns would only repeat them.
    let bins = match family {
        ModelFamily::Gbdt => 0,
        _ => params.numeric_bins,
    };
    let specs: Vec<FeatureSpec> = prepared
        .columns
        .iter()
        .zip(feature_names(prepared))
        .enumerate()
        .map(|(f, (col, name))| {
            let header = &prepared.table.header[col.index];
            FeatureSpec::new(
                name,
                header.clone(),
                header.clone(),
                fit_encoding(
                    col.kind,
                    rows.iter().map(|&i| prepared.raw[i][f].as_ref()),
                    params,
                    bins,
                ),
            )
        })
        .collect();
    let pipeline =
        FeaturePipeline::new(specs.clone()).map_err(|e| TrainError::Fit(e.to_string()))?;
    let x = encode_rows(prepared, &pipeline, rows)?;
    let y: Vec<bool> = rows.iter().map(|&i| prepared.labels[i]).collect();
    let w: Option<Vec<f64>> = prepared
        .weights
        .as_ref()
        .map(|w| rows.iter().map(|&i| w[i]).collect());
    let estimator = match family {
        ModelFamily::Gbdt => {
            let model = grow::fit(x.view(), &y, w.as_deref(), &params.gbdt, &mut |_| {
                progress.advance(1)
            })
            .map_err(|e| TrainError::Fit(e.to_string()))?;
            Estimator::Gbdt(model)
        }
        _ => {
            let fit = linear::fit_logistic(&x, &y, w.as_deref(), params.l2, params.max_iterations)
                .map_err(|e| TrainError::Fit(e.to_string()))?;
            progress.advance(1);
            Estimator::Logistic {
                intercept: fit.intercept,
                coefficients: fit.coefficients,
            }
        }
    };
    Ok((specs, estimator, x))
}

fn estimator_log_odds(estimator: &Estimator, row: &[f64]) -> f64 {
    match estimator {
        Estimator::Logistic {
            intercept,
            coefficients,
        } => {
            intercept
                + coefficients
                    .iter()
                    .zip(row)
                    .map(|(w, x)| w * x)
                    .sum::<f64>()
        }
        Estimator::Gbdt(model) => model.margin(row),
    }
}

fn encode_rows(
    prepared: &Prepared,
    pipeline: &FeaturePipeline,
    rows: &[usize],
) -> Result<Array2<f64>, TrainError> {
    let width = pipeline.design_width();
    let mut x = Array2::zeros((rows.len(), width));
    let mut refs: Vec<Option<&RawValue>> = Vec::with_capacity(prepared.columns.len());
    for (r, &i) in rows.iter().enumerate() {
        refs.clear();
        refs.extend(prepared.raw[i].iter().map(Option::as_ref));
        let encoded = pipeline
            .encode_design(&refs)
            .map_err(|e| TrainError::Fit(format!("line {}: {e}", prepared.table.lines[i])))?;
        for (dst, src) in x.row_mut(r).iter_mut().zip(&encoded.design) {
            *dst = *src;
        }
    }
    Ok(x)
}

/// Picks the calibration on out-of-fold log-odds: each method is fitted on
/// the other folds' predictions and scored on the fold's own, and the one
/// with the lowest log loss wins (a more flexible method must win by more
/// than 0.1%); the winner is then fitted on all out-of-fold predictions.
fn choose_calibration(
    choice: CalibrationChoice,
    oof: &[f64],
    labels: &[bool],
    folds: &[Vec<usize>],
) -> (Calibration, report::CalibrationSummary) {
    let fit = |method: CalibrationChoice, z: &[f64], y: &[bool]| -> Calibration {
        match method {
            CalibrationChoice::Platt => crate::train::calibrate::fit_platt(z, y, None),
            CalibrationChoice::Isotonic => crate::train::calibrate::fit_isotonic(z, y, None),
            _ => Calibration::None,
        }
    };
    let cross_fitted = |method: CalibrationChoice| -> Vec<f64> {
        let mut p = vec![0.0; oof.len()];
        for fold in folds {
            let held: HashSet<usize> = fold.iter().copied().collect();
            let (z, y): (Vec<f64>, Vec<bool>) = (0..oof.len())
                .filter(|i| !held.contains(i))
                .map(|i| (oof[i], labels[i]))
                .unzip();
            let c = fit(method, &z, &y);
            for &i in fold {
                p[i] = c.apply(oof[i]);
            }
        }
        p
    };
    // Cross-fit every method only when choosing; otherwise just the
    // uncalibrated baseline and the requested method (for the report's ECE).
    let methods: Vec<CalibrationChoice> = match choice {
        CalibrationChoice::Auto => vec![
            CalibrationChoice::None,
            CalibrationChoice::Platt,
            CalibrationChoice::Isotonic,
        ],
        CalibrationChoice::None => vec![CalibrationChoice::None],
        other => vec![CalibrationChoice::None, other],
    };
    let scored: Vec<(CalibrationChoice, f64, f64)> = methods
        .iter()
        .map(|&m| {
            let p = cross_fitted(m);
            (
                m,
                evaluation::log_loss(labels, &p),
                evaluation::expected_calibration_error(labels, &p, 10),
            )
        })
        .collect();
    let (picked, reason) = match choice {
        CalibrationChoice::Auto => {
            let mut best = scored[0];
            for s in &scored[1..] {
                if s.1 < best.1 * (1.0 - 1e-3) {
                    best = *s;
                }
            }
            (
                best.0,
                format!(
                    "auto: cross-validated log loss on out-of-fold predictions — none {:.4}, platt {:.4}, isotonic {:.4}",
                    scored[0].1, scored[1].1, scored[2].1
                ),
            )
        }
        other => (other, "as requested".to_string()),
    };
    let calibration = fit(picked, oof, labels);
    let after = scored
        .iter()
        .find(|s| s.0 == picked)
        .map_or(f64::NAN, |s| s.2);
    let name = match picked {
        CalibrationChoice::Platt => "platt",
        CalibrationChoice::Isotonic => "isotonic",
        _ => "none",
    };
    (
        calibration,
        report::CalibrationSummary {
            method: name.to_string(),
            reason,
            validation_ece_before: scored[0].2,
            validation_ece_after: after,
        },
    )
}

struct ReportInputs<'a> {
    artifact: &'a ModelArtifact,
    request: &'a TrainRequest,
    table: &'a Table,
    positives: usize,
    negatives: usize,
    split_method: String,
    train_rows: usize,
    y_test: &'a [bool],
    test_probs: &'a [f64],
    metric_set: report::MetricSet,
    cv_results: &'a [CvResult],
    chosen: ModelFamily,
    choice_reason: String,
    calibration: report::CalibrationSummary,
    findings: &'a [LeakFinding],
    notices: &'a [String],
    accounts: Option<report::AccountSummary>,
}

fn build_report(r: ReportInputs) -> TrainingReport {
    let a = r.artifact;
    let mut importance: Vec<report::FeatureImportance> = a
        .features
        .iter()
        .zip(&a.explanation.mean_abs_contributions)
        .map(|(f, &importance)| report::FeatureImportance {
            feature: f.name.clone(),
            label: f.label.clone(),
            importance,
        })
        .collect();
    importance.sort_by(|x, y| y.importance.total_cmp(&x.importance));
    let chosen_cv = r.cv_results.iter().find(|c| c.family == r.chosen);
    let cv_metrics = chosen_cv
        .map(|c| {
            [
                ("log_loss", c.log_loss),
                ("roc_auc", c.roc_auc),
                ("pr_auc", c.pr_auc),
                ("brier", c.brier),
            ]
            .into_iter()
            .map(|(name, (mean, sd))| report::MetricSummary {
                name: name.to_string(),
                mean,
                sd,
            })
            .collect()
        })
        .unwrap_or_default();
    TrainingReport {
        title: format!("{} ({})", a.provenance.data_file, a.estimator.kind()),
        generated_at: a.provenance.trained_at.clone(),
        command: r.request.command.clone(),
        data: report::DataSummary {
            file: a.provenance.data_file.clone(),
            rows: r.table.rows.len() as u64,
            columns: r.table.header.len() as u64,
            positives: r.positives as u64,
            negatives: r.negatives as u64,
            positive_rate: a.provenance.positive_rate,
            class_weight: format!("{:?}", r.request.params.get().class_weight).to_lowercase(),
        },
        split: report::SplitSummary {
            method: r.split_method,
            train_rows: r.train_rows as u64,
            test_rows: r.y_test.len() as u64,
            test_positives: r.y_test.iter().filter(|&&y| y).count() as u64,
        },
        model_family: a.estimator.kind().to_string(),
        model_choice_reason: r.choice_reason,
        candidates: r
            .cv_results
            .iter()
            .map(|c| report::CandidateSummary {
                family: family_name(c.family).to_string(),
                cv_log_loss_mean: c.log_loss.0,
                cv_log_loss_sd: c.log_loss.1,
                cv_roc_auc_mean: c.roc_auc.0,
                cv_roc_auc_sd: c.roc_auc.1,
                fit_seconds: c.fit_seconds,
            })
            .collect(),
        calibration: r.calibration,
        test_metrics: r.metric_set,
        cv_metrics,
        curves: report::Curves::from_predictions(r.y_test, r.test_probs),
        feature_importance: importance,
        leakage: r
            .findings
            .iter()
            .map(|f| report::LeakFinding {
                column: f.column.clone(),
                evidence: f.evidence.clone(),
                allowed: true,
            })
            .collect(),
        notices: r.notices.to_vec(),
        accounts: r.accounts,
    }
}

fn fit_encoding<'a>(
    kind: FeatureKind,
    values: impl Iterator<Item = Option<&'a RawValue>>,
    params: &TrainParams,
    numeric_bins: usize,
) -> FeatureEncoding {
    let values: Vec<Option<&RawValue>> = values.collect();
    match kind {
        FeatureKind::Numeric => {
            let present: Vec<f64> = values
                .iter()
                .filter_map(|v| match v {
                    Some(RawValue::Number(x)) => Some(*x),
                    _ => None,
                })
                .collect();
            let median = if present.is_empty() {
                0.0
            } else {
                evaluation::quantile(&present, 0.5)
            };
            let imputed: Vec<f64> = values
                .iter()
                .map(|v| match v {
                    Some(RawValue::Number(x)) => *x,
                    _ => median,
                })
                .collect();
            let n = imputed.len().max(1) as f64;
            let mean = imputed.iter().sum::<f64>() / n;
            let var = imputed.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
            let std = if var.sqrt() > 1e-12 { var.sqrt() } else { 1.0 };
            let min = present.iter().copied().fold(f64::INFINITY, f64::min);
            let max = present.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let (min, max) = if present.is_empty() {
                (median, median)
            } else {
                (min, max)
            };
            let bin_edges = if numeric_bins >= 2 {
                let mut edges: Vec<f64> = (1..numeric_bins)
                    .map(|k| evaluation::quantile(&imputed, k as f64 / numeric_bins as f64))
                    .filter(|e| *e > min && *e <= max)
                    .collect();
                edges.dedup();
                edges
            } else {
                Vec::new()
            };
            FeatureEncoding::Numeric {
                median,
                mean,
                std,
                min,
                max,
                bin_edges,
            }
        }
        FeatureKind::Categorical => {
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for v in values.iter().flatten() {
                if let RawValue::Category(c) = v {
                    *counts.entry(c.as_str()).or_default() += 1;
                }
            }
            let mut levels: Vec<(&str, usize)> = counts
                .into_iter()
                .filter(|&(c, n)| n >= params.min_category_count && c != MISSING && c != OTHER)
                .collect();
            levels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let mut categories: Vec<String> =
                levels.into_iter().map(|(c, _)| c.to_string()).collect();
            categories.push(MISSING.to_string());
            categories.push(OTHER.to_string());
            FeatureEncoding::Categorical { categories }
        }
        FeatureKind::Boolean => {
            let trues = values
                .iter()
                .filter(|v| matches!(v, Some(RawValue::Flag(true))))
                .count();
            let falses = values
                .iter()
                .filter(|v| matches!(v, Some(RawValue::Flag(false))))
                .count();
            FeatureEncoding::Boolean {
                imputed: trues > falses,
            }
        }
    }
}

/// Bands from training-score quantiles: the top `hot_share` of training leads
/// are "hot", the next `warm_share` "warm", the rest "cold".
pub fn derive_bands(train_probs: &[f64], hot_share: f64, warm_share: f64) -> Vec<ScoreBand> {
    let round4 = |p: f64| (p * 1e4).round() / 1e4;
    let hot = round4(evaluation::quantile(train_probs, 1.0 - hot_share)).clamp(0.0002, 0.9999);
    let warm = round4(evaluation::quantile(
        train_probs,
        1.0 - hot_share - warm_share,
    ))
    .clamp(0.0001, 0.9998)
    .min(hot - 0.0001);
    vec![
        ScoreBand {
            name: "hot".into(),
            min_probability: hot,
        },
        ScoreBand {
            name: "warm".into(),
            min_probability: warm,
        },
        ScoreBand {
            name: "cold".into(),
            min_probability: 0.0,
        },
    ]
}

/// Writes `model.json` into `out_dir` atomically: a temporary file in the same
/// directory, flushed, then renamed over the target, so a watcher never sees a
/// half-written artifact.
///
/// # Errors
/// [`TrainError::Io`] naming the path.
pub fn write_artifact(artifact: &ModelArtifact, out_dir: &Path) -> Result<PathBuf, TrainError> {
    let mut text = artifact.to_json();
    text.push('\n');
    write_atomically(out_dir, ARTIFACT_FILE, text.as_bytes())
}

/// Writes `report.json`, `report.html` and `report.md` into `out_dir`
/// (atomically, each). Call before [`write_artifact`] so that a watching
/// server never sees a model without its report.
///
/// # Errors
/// [`TrainError::Io`] naming the path.
pub fn write_report(report: &TrainingReport, out_dir: &Path) -> Result<Vec<PathBuf>, TrainError> {
    let json = serde_json::to_string_pretty(report).unwrap_or_default() + "\n";
    Ok(vec![
        write_atomically(out_dir, "report.json", json.as_bytes())?,
        write_atomically(
            out_dir,
            "report.html",
            report::render_html(report).as_bytes(),
        )?,
        write_atomically(
            out_dir,
            "report.md",
            report::render_markdown(report).as_bytes(),
        )?,
    ])
}

fn write_atomically(out_dir: &Path, file: &str, bytes: &[u8]) -> Result<PathBuf, TrainError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| TrainError::Io { path, source }
    };
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let target = out_dir.join(file);
    let tmp = out_dir.join(format!(".{file}.tmp-{}", std::process::id()));
    let written = (|| {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(source) = written {
        // A full disk must not leave a partial file behind.
        let _ = std::fs::remove_file(&tmp);
        return Err(io(&tmp)(source));
    }
    if let Err(source) = std::fs::rename(&tmp, &target) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(&target)(source));
    }
    Ok(target)
}

/// Current UTC time as RFC 3339 (seconds precision).
fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm, public domain).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_follow_training_quantiles() {
        let probs: Vec<f64> = (1..=100).map(|i| i as f64 / 101.0).collect();
        let bands = derive_bands(&probs, 0.2, 0.3);
        assert_eq!(bands.len(), 3);
        let hot_share = probs
            .iter()
            .filter(|&&p| p >= bands[0].min_probability)
            .count();
        assert!((19..=21).contains(&hot_share), "{hot_share}");
    }

    #[test]
    fn params_are_checked() {
        assert!(TrainParams::default().check().is_ok());
        let bad = TrainParams {
            test_fraction: 0.0,
            ..TrainParams::default()
        };
        assert!(matches!(
            bad.check(),
            Err(TrainError::InvalidParam {
                name: "test_fraction",
                ..
            })
        ));
    }

    #[test]
    fn train_toml_round_trips_and_refuses_typos() {
        let text = r#"
            target = "converted"
            exclude = ["Tags", "Lead Quality"]
            account_column = "account_id"
            email_column = "email"
            behavioural_features = ["sessions_30d", "demo_actions"]

            [[stages]]
            stage = "activation"
            when = ["report_created == true"]

            [params]
            model = "gbdt"
            calibration = "isotonic"
            class_weight = "balanced"
            [params.gbdt]
            n_trees = 300
            learning_rate = 0.05
        "#;
        let config: TrainConfig = toml::from_str(text).expect("parses");
        assert_eq!(config.params.model, ModelFamily::Gbdt);
        assert_eq!(config.params.gbdt.n_trees, 300);
        assert_eq!(
            config.params.gbdt.num_leaves,
            GbdtParams::default().num_leaves
        );
        assert_eq!(config.params.l2, TrainParams::default().l2);
        assert_eq!(config.account_column.as_deref(), Some("account_id"));
        assert_eq!(
            config.behavioural_features,
            ["sessions_30d", "demo_actions"]
        );
        assert_eq!(config.email_column.as_deref(), Some("email"));
        assert_eq!(
            config.stages,
            Some(StageRules(vec![stages::StageRule::parse(
                "activation",
                &["report_created == true"]
            )
            .expect("rule")]))
        );
        assert_eq!(
            toml::from_str::<TrainConfig>("").expect("empty").stages,
            None
        );
        let typo = "[params]\nl2_penalty = 3.0\n";
        let err = toml::from_str::<TrainConfig>(typo).expect_err("unknown key");
        assert!(err.to_string().contains("l2_penalty"), "{err}");
    }

    #[test]
    fn rfc3339_shape() {
        let t = rfc3339_now();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }

    #[test]
    fn exclude_patterns() {
        assert!(matches_pattern(
            "Asymmetrique Activity Index",
            "Asymmetrique*"
        ));
        assert!(!matches_pattern("Tags", "Tag"));
    }
}
