//! The fitting steps of a training run (see the step list in
//! `crate::train::pipeline`):
//!
//! 1. **fit** — [`fit_candidates`] cross-validates each candidate family
//!    (logistic regression, gradient-boosted trees) on the training rows and
//!    picks one (by validation log loss when `model = auto`).
//! 2. **calibrate** — [`calibrate`] chooses and fits the calibration on the
//!    chosen family's out-of-fold predictions.
//! 3. **final fit** — [`fit_final`] fits the feature pipeline and the
//!    chosen estimator on all training rows, with the feature texts of
//!    `train.toml`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use ndarray::Array2;

use crate::scoring::calibration::Calibration;
use crate::scoring::features::{
    apply_feature_texts, FeatureEncoding, FeatureKind, FeaturePipeline, FeatureSpec, FeatureText,
    RawValue, MISSING, OTHER,
};
use crate::scoring::model::Estimator;
use crate::train::error::TrainError;
use crate::train::evaluation;
use crate::train::grow;
use crate::train::linear;
use crate::train::prepare::{HeldOutSplit, Prepared};
use crate::train::progress::Progress;
use crate::train::report;
use crate::train::settings::{CalibrationChoice, ModelFamily, TrainParams};

/// The cross-validated candidates and the one chosen.
pub(crate) struct Candidates {
    /// One result per candidate family, in the order tried.
    pub(crate) results: Vec<CvResult>,
    /// Position of the chosen family in `results`.
    pub(crate) best: usize,
    /// Why it was chosen, for the report.
    pub(crate) reason: String,
}

impl Candidates {
    /// The chosen family's cross-validation.
    pub(crate) fn chosen(&self) -> &CvResult {
        &self.results[self.best]
    }
}

/// Step "fit": cross-validates each candidate family on the training rows'
/// folds and picks the one with the lower validation log loss (a single
/// family when one is asked for).
///
/// # Errors
/// A fit that fails (see [`grow::fit`], [`linear::fit_logistic`]).
pub(crate) fn fit_candidates(
    prepared: &Prepared,
    split: &HeldOutSplit,
    progress: &dyn Progress,
) -> Result<Candidates, TrainError> {
    let families: Vec<ModelFamily> = match prepared.params.model {
        ModelFamily::Auto => vec![ModelFamily::Logistic, ModelFamily::Gbdt],
        one => vec![one],
    };
    let mut results = Vec::new();
    for &family in &families {
        results.push(cross_validate(
            prepared,
            family,
            &split.train_idx,
            &split.folds,
            progress,
        )?);
    }
    let best = results
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.log_loss.0.total_cmp(&b.1.log_loss.0))
        .map_or(0, |(i, _)| i);
    let chosen = &results[best];
    let reason = if families.len() > 1 {
        let other = &results[1 - best];
        format!(
            "auto: {} has the lower {}-fold validation log loss ({:.4} ± {:.4} vs {} {:.4} ± {:.4}; ROC AUC {:.4} vs {:.4})",
            family_name(chosen.family),
            split.folds.len(),
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
    Ok(Candidates {
        results,
        best,
        reason,
    })
}

/// Step "calibrate": the calibration, chosen and fitted on the chosen
/// family's out-of-fold predictions (see [`choose_calibration`]).
pub(crate) fn calibrate(
    choice: CalibrationChoice,
    chosen: &CvResult,
    split: &HeldOutSplit,
) -> (Calibration, report::CalibrationSummary) {
    let (calibration, summary, _) =
        choose_calibration(choice, &chosen.oof, &split.y_train, &split.folds);
    (calibration, summary)
}

/// The final model before scoring: its features and estimator, fitted on
/// all training rows.
pub(crate) struct FinalFit {
    /// The features, with `train.toml`'s texts and the defaults filled in.
    pub(crate) specs: Vec<FeatureSpec>,
    pub(crate) estimator: Estimator,
    /// The encoded training rows.
    pub(crate) x_train: Array2<f64>,
    /// The feature pipeline of `specs`.
    pub(crate) pipeline: FeaturePipeline,
}

/// Step "final fit": the feature pipeline and the estimator of `family` on
/// all training rows; then the sales language of `train.toml`'s
/// `[features.<name>]` first, the defaults for what it leaves unset, and the
/// deciles the suggestion search tries (see
/// [`FeatureSpec::fill_defaults`]).
///
/// # Errors
/// A failed fit; [`TrainError::InvalidParam`] for a `[features.<name>]`
/// that names no feature or has a bad template.
pub(crate) fn fit_final(
    prepared: &Prepared,
    split: &HeldOutSplit,
    family: ModelFamily,
    features: &BTreeMap<String, FeatureText>,
    progress: &dyn Progress,
) -> Result<FinalFit, TrainError> {
    progress.start(
        &format!("final {} fit", family_name(family)),
        fit_steps(family, prepared.params),
    );
    let fit_started = Instant::now();
    let (mut specs, estimator, x_train) = fit_on(prepared, family, &split.train_idx, progress)?;
    apply_feature_texts(&mut specs, features).map_err(|e| TrainError::InvalidParam {
        name: "features",
        problem: e.to_string(),
    })?;
    for (f, spec) in specs.iter_mut().enumerate() {
        let values: Vec<f64> = split
            .train_idx
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
    Ok(FinalFit {
        specs,
        estimator,
        x_train,
        pipeline,
    })
}

pub(crate) fn family_name(family: ModelFamily) -> &'static str {
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
pub(crate) struct CvResult {
    pub(crate) family: ModelFamily,
    /// Out-of-fold log-odds, one per training row (position in train_idx).
    pub(crate) oof: Vec<f64>,
    /// (mean, sd) over folds.
    pub(crate) log_loss: (f64, f64),
    pub(crate) roc_auc: (f64, f64),
    pub(crate) pr_auc: (f64, f64),
    pub(crate) brier: (f64, f64),
    /// Mean fit time per fold.
    pub(crate) fit_seconds: f64,
    /// Fit time of each fold, in fold order.
    pub(crate) fold_seconds: Vec<f64>,
}

/// One fold's out-of-fold log-odds and fit time.
struct FoldResult {
    z: Vec<f64>,
    seconds: f64,
}

/// Runs `job(0..count)` on up to as many threads as the machine has cores
/// and returns the results in index order.
pub(crate) fn run_parallel<T: Send>(count: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(count)
        .max(1);
    if threads == 1 {
        return (0..count).map(job).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<T>>> =
        (0..count).map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if k >= count {
                    break;
                }
                let result = job(k);
                if let Ok(mut slot) = slots[k].lock() {
                    *slot = Some(result);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .ok()
                .flatten()
                .expect("every index ran (a worker panicked otherwise)")
        })
        .collect()
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
    let steps = fit_steps(family, prepared.params);
    progress.start(
        &format!(
            "{}-fold cross-validation, {}",
            folds.len(),
            family_name(family)
        ),
        steps * folds.len() as u64,
    );
    // Folds are independent: fit them on all cores (each fit is
    // single-threaded), then gather the results in fold order.
    let fold_results = run_parallel(folds.len(), |k| -> Result<FoldResult, TrainError> {
        let fold = &folds[k];
        let held: HashSet<usize> = fold.iter().copied().collect();
        let fit_rows: Vec<usize> = (0..train_idx.len())
            .filter(|p| !held.contains(p))
            .map(|p| train_idx[p])
            .collect();
        let valid_rows: Vec<usize> = fold.iter().map(|&p| train_idx[p]).collect();
        let started = Instant::now();
        let (specs, estimator, _) = fit_on(prepared, family, &fit_rows, progress)?;
        let seconds = started.elapsed().as_secs_f64();
        let pipeline = FeaturePipeline::new(specs).map_err(|e| TrainError::Fit(e.to_string()))?;
        let x_valid = encode_rows(prepared, &pipeline, &valid_rows)?;
        let z: Vec<f64> = x_valid
            .rows()
            .into_iter()
            .map(|r| estimator.log_odds(r.as_slice().unwrap_or(&[])))
            .collect();
        Ok(FoldResult { z, seconds })
    });
    let mut fold_seconds = Vec::with_capacity(folds.len());
    for (fold, result) in folds.iter().zip(fold_results) {
        let FoldResult { z, seconds } = result?;
        fold_seconds.push(seconds);
        let y: Vec<bool> = fold
            .iter()
            .map(|&p| prepared.labels[train_idx[p]])
            .collect();
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
    let fit_seconds: f64 = fold_seconds.iter().sum();
    let result = CvResult {
        family,
        oof,
        log_loss: mean_sd(&ll),
        roc_auc: mean_sd(&auc),
        pr_auc: mean_sd(&ap),
        brier: mean_sd(&br),
        fit_seconds: fit_seconds / folds.len().max(1) as f64,
        fold_seconds,
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
        .zip(prepared.feature_names())
        .enumerate()
        .map(|(f, (col, name))| {
            let header = &prepared.table.header[col.index];
            let mut spec = FeatureSpec::new(
                name,
                header.clone(),
                header.clone(),
                fit_encoding(
                    col.kind,
                    rows.iter().map(|&i| prepared.raw[i][f].as_ref()),
                    params,
                    bins,
                ),
            );
            spec.read_as = col.read_as;
            spec
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
            })?;
            Estimator::Gbdt(model)
        }
        _ => {
            let fit = linear::fit_logistic(&x, &y, w.as_deref(), params.l2, params.max_iterations)?;
            progress.advance(1);
            Estimator::Logistic {
                intercept: fit.intercept,
                coefficients: fit.coefficients,
            }
        }
    };
    Ok((specs, estimator, x))
}

pub(crate) fn encode_rows(
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
/// Chooses and fits a calibration of `oof` log-odds (`Auto`: the lowest
/// cross-fitted log loss), and returns with it the chosen method's
/// cross-fitted probabilities (each row calibrated by a map fitted without
/// its fold): honest figures for rows the calibration was fitted on.
pub(crate) fn choose_calibration(
    choice: CalibrationChoice,
    oof: &[f64],
    labels: &[bool],
    folds: &[Vec<usize>],
) -> (Calibration, report::CalibrationSummary, Vec<f64>) {
    let fit = |method: CalibrationChoice, z: &[f64], y: &[bool]| -> Calibration {
        match method {
            CalibrationChoice::Platt => crate::train::calibrate::fit_platt(z, y, None),
            CalibrationChoice::Beta => crate::train::calibrate::fit_beta(z, y, None),
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
            CalibrationChoice::Beta,
            CalibrationChoice::Isotonic,
        ],
        CalibrationChoice::None => vec![CalibrationChoice::None],
        other => vec![CalibrationChoice::None, other],
    };
    let mut probabilities: Vec<Vec<f64>> = Vec::with_capacity(methods.len());
    let scored: Vec<(CalibrationChoice, f64, f64)> = methods
        .iter()
        .map(|&m| {
            let p = cross_fitted(m);
            let figures = (
                m,
                evaluation::log_loss(labels, &p),
                evaluation::expected_calibration_error(labels, &p, 10),
            );
            probabilities.push(p);
            figures
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
                    "auto: cross-validated log loss on out-of-fold predictions — none {:.4}, platt {:.4}, beta {:.4}, isotonic {:.4}",
                    scored[0].1, scored[1].1, scored[2].1, scored[3].1
                ),
            )
        }
        other => (other, "as requested".to_string()),
    };
    let calibration = fit(picked, oof, labels);
    let picked_at = scored.iter().position(|s| s.0 == picked).unwrap_or(0);
    let after = scored[picked_at].2;
    let cross_fitted_probabilities = probabilities.swap_remove(picked_at);
    let name = match picked {
        CalibrationChoice::Platt => "platt",
        CalibrationChoice::Beta => "beta",
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
        cross_fitted_probabilities,
    )
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
