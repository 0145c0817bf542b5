//! Training: CSV in, validated [`ModelArtifact`] out.
//!
//! Steps: read the CSV (hashing it for provenance), parse the binary target,
//! infer each column's kind, drop excluded / constant / identifier-like
//! columns, split rows into a stratified train and test set with a fixed seed,
//! fit the [`FeaturePipeline`] on the training rows only, fit L2 logistic
//! regression with linfa-logistic, and evaluate on the held-out rows.
//!
//! Hyperparameters go through [`TrainParams::check`] once, up front (linfa
//! style): a [`ValidTrainParams`] can only hold usable values.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use sha2::{Digest, Sha256};

use crate::evaluation;
use crate::features::{
    parse_bool, snake_case, FeatureEncoding, FeatureKind, FeaturePipeline, FeatureSpec, RawValue,
    MISSING, OTHER,
};
use crate::model::{
    probability_from_log_odds, Estimator, ExplanationBaseline, HeldOutMetrics, ModelArtifact,
    Provenance, ScoreBand, ScoringModel, FORMAT_VERSION,
};
use crate::registry::ARTIFACT_FILE;

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
    /// The CSV is malformed.
    #[error("{path}: {message}")]
    Csv {
        /// The file.
        path: String,
        /// What the CSV reader said, with the line.
        message: String,
    },
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
    /// A column named in `--id` or `--exclude` does not exist.
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
        /// CSV line number (1 = header).
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
    /// Too few rows of a class to split and fit.
    #[error("too few examples: {positives} positive and {negatives} negative rows (need at least {min} of each)")]
    TooFewExamples {
        /// Positive rows.
        positives: usize,
        /// Negative rows.
        negatives: usize,
        /// Minimum per class.
        min: usize,
    },
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
    /// The solver failed or produced an unusable model.
    #[error("fitting failed: {0}")]
    Fit(String),
}

/// Trainer hyperparameters, unchecked. Call [`TrainParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrainParams {
    /// L2 penalty `alpha` in `Σ logloss + alpha/2 · ‖w‖²` (scikit-learn's `1/C`).
    pub l2: f64,
    /// Solver iteration limit.
    pub max_iterations: u64,
    /// Share of rows held out for testing, stratified by label.
    pub test_fraction: f64,
    /// Seed of the split.
    pub seed: u64,
    /// Category levels with fewer training rows than this go to "(other)".
    pub min_category_count: usize,
    /// Quantile bins per numeric feature (one-hot, beside the linear term); 0 or 1 = none.
    pub numeric_bins: usize,
    /// Share of training leads in the top ("hot") band.
    pub hot_share: f64,
    /// Share of training leads in the middle ("warm") band.
    pub warm_share: f64,
}

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            l2: 1.0,
            max_iterations: 500,
            test_fraction: 0.2,
            seed: 42,
            min_category_count: 10,
            numeric_bins: 10,
            hot_share: 0.2,
            warm_share: 0.3,
        }
    }
}

/// Checked trainer hyperparameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidTrainParams(TrainParams);

impl TrainParams {
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
#[derive(Debug, Clone)]
pub struct TrainRequest {
    /// CSV file with a header row.
    pub data: PathBuf,
    /// Binary target column.
    pub target: String,
    /// Identifier column, never a feature.
    pub id: Option<String>,
    /// Columns to leave out (leaky or irrelevant); a trailing `*` matches a prefix.
    pub exclude: Vec<String>,
    /// Extra cell values meaning "missing" (e.g. a "Select" placeholder).
    pub na_values: Vec<String>,
    /// Checked hyperparameters.
    pub params: ValidTrainParams,
    /// The command line, recorded in provenance.
    pub command: String,
}

/// A trained model with what the data scientist should know about it.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The validated artifact.
    pub artifact: ModelArtifact,
    /// Columns dropped automatically and other notes.
    pub notices: Vec<String>,
    /// Rows used for fitting.
    pub train_rows: usize,
    /// Rows held out.
    pub test_rows: usize,
}

/// A CSV file as read: header, rows of cells, and where each row started.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvTable {
    /// Column names, trimmed (a UTF-8 byte-order mark is dropped).
    pub header: Vec<String>,
    /// Cells, one `Vec` per data row, as long as the header.
    pub rows: Vec<Vec<String>>,
    /// CSV line of each row, for messages.
    pub lines: Vec<u64>,
    /// sha256 of the bytes, hex.
    pub sha256: String,
}

/// Parses CSV bytes (with a header row); `name` is used in messages.
///
/// # Errors
/// [`TrainError::Csv`] for malformed input (e.g. a row of the wrong length,
/// invalid UTF-8), [`TrainError::Empty`] without a header or data rows.
pub fn read_csv(bytes: &[u8], name: &str) -> Result<CsvTable, TrainError> {
    let sha256 = hex(&Sha256::digest(bytes));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes);
    let csv_err = |e: csv::Error| TrainError::Csv {
        path: name.to_string(),
        message: e.to_string(),
    };
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_err)?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    if header.is_empty() || header.iter().all(String::is_empty) {
        return Err(TrainError::Empty {
            path: name.to_string(),
        });
    }
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_err)?;
        lines.push(record.position().map_or(0, |p| p.line()));
        rows.push(record.iter().map(str::to_string).collect());
    }
    if rows.is_empty() {
        return Err(TrainError::Empty {
            path: name.to_string(),
        });
    }
    Ok(CsvTable {
        header,
        rows,
        lines,
        sha256,
    })
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
/// file, too few examples, unknown columns) and solver failures.
pub fn train(request: &TrainRequest) -> Result<TrainOutcome, TrainError> {
    let shown = request.data.display().to_string();
    let bytes = std::fs::read(&request.data).map_err(|source| TrainError::Io {
        path: shown.clone(),
        source,
    })?;
    train_bytes(&bytes, request)
}

/// Trains on CSV bytes as if they were the contents of `request.data`.
///
/// # Errors
/// As [`train`].
pub fn train_bytes(bytes: &[u8], request: &TrainRequest) -> Result<TrainOutcome, TrainError> {
    let params = request.params.get();
    let table = read_csv(bytes, &request.data.display().to_string())?;
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
    const MIN_PER_CLASS: usize = 10;
    if positives < MIN_PER_CLASS || negatives < MIN_PER_CLASS {
        return Err(TrainError::TooFewExamples {
            positives,
            negatives,
            min: MIN_PER_CLASS,
        });
    }

    // Which columns become features.
    let mut excluded: Vec<String> = Vec::new();
    if let Some(id) = &request.id {
        if !table.header.contains(id) {
            return Err(TrainError::UnknownColumn {
                flag: "--id",
                column: id.clone(),
            });
        }
        excluded.push(id.clone());
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
    let na: HashSet<String> = DEFAULT_NA_VALUES
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .chain(request.na_values.iter().map(|s| s.to_ascii_lowercase()))
        .collect();
    let is_missing = |cell: &str| {
        let t = cell.trim();
        t.is_empty() || na.contains(&t.to_ascii_lowercase())
    };

    let mut columns: Vec<(usize, FeatureKind)> = Vec::new();
    for (c, column) in table.header.iter().enumerate() {
        if c == target_idx || excluded.contains(column) {
            continue;
        }
        let present: Vec<&str> = table
            .rows
            .iter()
            .map(|r| r[c].trim())
            .filter(|v| !is_missing(v))
            .collect();
        let distinct: HashSet<&str> = present.iter().copied().collect();
        if distinct.len() <= 1 {
            notices.push(format!(
                "column \"{column}\" excluded: constant ({} distinct value)",
                distinct.len()
            ));
            excluded.push(column.clone());
            continue;
        }
        let kind = if present
            .iter()
            .all(|v| v.parse::<f64>().is_ok_and(f64::is_finite))
        {
            FeatureKind::Numeric
        } else if present.iter().all(|v| parse_bool(v).is_some()) {
            FeatureKind::Boolean
        } else {
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
        columns.push((c, kind));
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
                .map(|&(c, kind)| {
                    let cell = row[c].trim();
                    if is_missing(cell) {
                        return None;
                    }
                    Some(match kind {
                        // Kinds were inferred from these very cells, so the parses succeed.
                        FeatureKind::Numeric => RawValue::Number(cell.parse().unwrap_or(f64::NAN)),
                        FeatureKind::Boolean => RawValue::Flag(parse_bool(cell).unwrap_or(false)),
                        FeatureKind::Categorical => RawValue::Category(cell.to_string()),
                    })
                })
                .collect()
        })
        .collect();

    let (train_idx, test_idx) = stratified_split(&labels, params.test_fraction, params.seed);

    // Fit the pipeline on training rows only.
    let mut used_names = HashSet::new();
    let specs: Vec<FeatureSpec> = columns
        .iter()
        .enumerate()
        .map(|(f, &(c, kind))| {
            let mut name = snake_case(&table.header[c]);
            while !used_names.insert(name.clone()) {
                name.push('_');
            }
            FeatureSpec {
                name,
                source_column: table.header[c].clone(),
                label: table.header[c].clone(),
                encoding: fit_encoding(kind, train_idx.iter().map(|&i| raw[i][f].as_ref()), params),
            }
        })
        .collect();
    let pipeline = FeaturePipeline::new(specs.clone()).map_err(TrainError::Fit)?;

    let encode_rows = |idx: &[usize]| -> Result<Array2<f64>, TrainError> {
        let mut x = Array2::zeros((idx.len(), pipeline.design_width()));
        for (r, &i) in idx.iter().enumerate() {
            let refs: Vec<Option<&RawValue>> = raw[i].iter().map(Option::as_ref).collect();
            let encoded = pipeline
                .encode_values(&refs)
                .map_err(|e| TrainError::Fit(format!("line {}: {e}", table.lines[i])))?;
            x.row_mut(r).assign(&Array1::from(encoded.design));
        }
        Ok(x)
    };
    let x_train = encode_rows(&train_idx)?;
    let x_test = encode_rows(&test_idx)?;
    let y_train: Array1<bool> = train_idx.iter().map(|&i| labels[i]).collect();
    let y_test: Vec<bool> = test_idx.iter().map(|&i| labels[i]).collect();

    let dataset = Dataset::new(x_train.clone(), y_train.clone());
    let fitted = LogisticRegression::default()
        .alpha(params.l2)
        .max_iterations(params.max_iterations)
        .gradient_tolerance(1e-6)
        .fit(&dataset)
        .map_err(|e| TrainError::Fit(e.to_string()))?;
    // linfa-logistic models P(labels().pos.class), which is the more frequent
    // class and may be `false`; we always store log-odds of `true`.
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    let intercept = sign * fitted.intercept();
    let coefficients: Vec<f64> = fitted.params().iter().map(|w| sign * w).collect();

    let design_means: Vec<f64> = x_train
        .mean_axis(ndarray::Axis(0))
        .map(|m| m.to_vec())
        .unwrap_or_default();

    let positive_rate = positives as f64 / labels.len() as f64;
    let train_positive_rate = y_train.iter().filter(|&&y| y).count() as f64 / y_train.len() as f64;
    let mut artifact = ModelArtifact {
        format_version: FORMAT_VERSION,
        features: specs,
        estimator: Estimator::Logistic {
            intercept,
            coefficients,
        },
        explanation: ExplanationBaseline { design_means },
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
    };
    let model = ScoringModel::from_artifact(artifact.clone()).map_err(TrainError::Fit)?;
    let probs = |x: &Array2<f64>| -> Vec<f64> {
        x.rows()
            .into_iter()
            .map(|row| probability_from_log_odds(model.log_odds(row.as_slice().unwrap_or(&[]))))
            .collect()
    };
    let train_probs = probs(&x_train);
    let test_probs = probs(&x_test);
    if !test_probs.iter().all(|p| p.is_finite()) {
        return Err(TrainError::Fit(
            "the fitted model gives non-finite scores".into(),
        ));
    }

    artifact.bands = derive_bands(&train_probs, params.hot_share, params.warm_share);
    let base = vec![train_positive_rate; y_test.len()];
    artifact.metrics = HeldOutMetrics {
        roc_auc: evaluation::roc_auc(&y_test, &test_probs).unwrap_or(f64::NAN),
        log_loss: evaluation::log_loss(&y_test, &test_probs),
        brier: evaluation::brier(&y_test, &test_probs),
        base_rate_log_loss: evaluation::log_loss(&y_test, &base),
        rows: y_test.len() as u64,
        positives: y_test.iter().filter(|&&y| y).count() as u64,
    };
    // Re-validate what will be written.
    ScoringModel::from_artifact(artifact.clone()).map_err(TrainError::Fit)?;
    Ok(TrainOutcome {
        artifact,
        notices,
        train_rows: train_idx.len(),
        test_rows: test_idx.len(),
    })
}

fn fit_encoding<'a>(
    kind: FeatureKind,
    values: impl Iterator<Item = Option<&'a RawValue>>,
    params: &TrainParams,
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
            let bin_edges = if params.numeric_bins >= 2 {
                let mut edges: Vec<f64> = (1..params.numeric_bins)
                    .map(|k| evaluation::quantile(&imputed, k as f64 / params.numeric_bins as f64))
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

/// Stratified split: the same share of positives and of negatives goes to the
/// test set, chosen by a seeded ChaCha8 shuffle. Returns sorted (train, test) indices.
pub fn stratified_split(
    labels: &[bool],
    test_fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut train = Vec::new();
    let mut test = Vec::new();
    for class in [true, false] {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        idx.shuffle(&mut rng);
        let n_test = ((idx.len() as f64) * test_fraction).round() as usize;
        let n_test = n_test.clamp(1, idx.len().saturating_sub(1).max(1));
        test.extend_from_slice(&idx[..n_test]);
        train.extend_from_slice(&idx[n_test..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
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
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| TrainError::Io { path, source }
    };
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let target = out_dir.join(ARTIFACT_FILE);
    let tmp = out_dir.join(format!(".{ARTIFACT_FILE}.tmp-{}", std::process::id()));
    let written = (|| {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(artifact.to_json().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    fn split_is_stratified_and_reproducible() {
        let labels: Vec<bool> = (0..1000).map(|i| i % 4 == 0).collect();
        let (train, test) = stratified_split(&labels, 0.2, 7);
        assert_eq!(test.len(), 200);
        assert_eq!(test.iter().filter(|&&i| labels[i]).count(), 50);
        assert_eq!(train.len() + test.len(), 1000);
        assert_eq!(stratified_split(&labels, 0.2, 7), (train, test.clone()));
        assert_ne!(stratified_split(&labels, 0.2, 8).1, test);
    }

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
