//! The evaluation steps of a training run (see the step list in
//! `crate::train::pipeline`):
//!
//! 1. [`assemble_artifact`]: the artifact of the final fit and calibration,
//!    with its provenance.
//! 2. **evaluate** — [`evaluate_held_out`] scores the training and the test
//!    rows, derives the bands from the training scores, measures the mean
//!    |contribution| of each feature, and computes the held-out metrics, once.
//! 3. [`roll_up_accounts`]: with an account or email column, the account
//!    model, fitted on the training accounts and compared with the roll-ups
//!    on the test accounts.
//! 4. [`finish_artifact`]: the stage rules go in, and the artifact is
//!    validated as the server will load it.

use std::collections::{BTreeMap, HashMap};

use ndarray::Array2;

use crate::scoring::accounts::{self, AccountModel, EngagementRule, LeadLens};
use crate::scoring::calibration::Calibration;
use crate::scoring::features::{FeatureKind, FeatureSpec, RawValue};
use crate::scoring::model::{
    ExplanationBaseline, HeldOutMetrics, ModelArtifact, Provenance, ScoreBand, ScoringModel,
    FORMAT_VERSION,
};
use crate::scoring::stages::{FeatureValueRef, StageRules};
use crate::train::accounts::{choose_account_l2, fit_account_model};
use crate::train::error::TrainError;
use crate::train::evaluation;
use crate::train::fit::{encode_rows, Candidates, FinalFit};
use crate::train::prepare::{account_key_description, HeldOutSplit, Prepared};
use crate::train::report;
use crate::train::settings::{TrainSettings, ValidTrainSettings};

/// Training rows the global mean |contribution| is averaged over.
const IMPORTANCE_ROWS: usize = 1000;

/// The artifact of the final fit and the calibration, not yet scored: one
/// "cold" band, no explanation means, no metrics, stage rules or account
/// model yet.
pub(crate) fn assemble_artifact(
    prepared: &Prepared,
    final_fit: &FinalFit,
    calibration: Calibration,
    settings: &ValidTrainSettings,
) -> ModelArtifact {
    let params = settings.params();
    let design_means: Vec<f64> = final_fit
        .x_train
        .mean_axis(ndarray::Axis(0))
        .map(|m| m.to_vec())
        .unwrap_or_default();
    ModelArtifact {
        format_version: FORMAT_VERSION,
        features: final_fit.specs.clone(),
        estimator: final_fit.estimator.clone(),
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
            data_sha256: prepared.table.sha256.clone(),
            data_file: settings
                .data()
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            rows: prepared.labels.len() as u64,
            positive_rate: prepared.positives as f64 / prepared.labels.len() as f64,
            target_column: settings.target().to_string(),
            excluded_columns: prepared.excluded.clone(),
            trainer_version: env!("CARGO_PKG_VERSION").to_string(),
            trained_at: rfc3339_now(),
            seed: params.seed,
            test_fraction: params.test_fraction,
            command: settings.settings().command.clone(),
        },
        metrics: HeldOutMetrics::default(),
        stages: StageRules::default(),
        account_model: None,
        engagement: None,
        events: None,
    }
}

/// What the held-out evaluation measured.
pub(crate) struct HeldOutScores {
    /// The scoring model of the artifact (calibration included).
    pub(crate) model: ScoringModel,
    /// Calibrated probability per test row (order of `test_idx`).
    pub(crate) test_probs: Vec<f64>,
    /// The held-out metrics, for the report.
    pub(crate) metric_set: report::MetricSet,
}

/// Step "evaluate": scores the training and test rows with the artifact's
/// model, sets the bands from training-score quantiles, the global
/// explanation (mean |contribution| over up to 5,000 evenly spaced training
/// rows) and the held-out metrics.
///
/// # Errors
/// [`TrainError::Fit`] when the artifact does not load or scores are not
/// finite.
pub(crate) fn evaluate_held_out(
    artifact: &mut ModelArtifact,
    prepared: &Prepared,
    split: &HeldOutSplit,
    final_fit: &FinalFit,
) -> Result<HeldOutScores, TrainError> {
    let params = prepared.params;
    let x_train = &final_fit.x_train;
    let x_test = encode_rows(prepared, &final_fit.pipeline, &split.test_idx)?;
    let model = ScoringModel::from_artifact(artifact.clone())
        .map_err(|e| TrainError::Fit(e.to_string()))?;
    let log_odds = |x: &Array2<f64>| -> Vec<f64> {
        x.rows()
            .into_iter()
            .map(|row| model.log_odds(row.as_slice().unwrap_or(&[])))
            .collect()
    };
    let train_z = log_odds(x_train);
    let test_z = log_odds(&x_test);
    let train_probs: Vec<f64> = train_z.iter().map(|&z| model.probability(z)).collect();
    let test_probs: Vec<f64> = test_z.iter().map(|&z| model.probability(z)).collect();
    if !test_probs.iter().all(|p| p.is_finite()) {
        return Err(TrainError::Fit(
            "the fitted model gives non-finite scores".into(),
        ));
    }

    artifact.bands = derive_bands(&train_probs, params.hot_share, params.warm_share);
    // Global importance: mean |contribution| over at most
    // IMPORTANCE_ROWS evenly spaced training rows (exact TreeSHAP costs
    // ~0.2 ms a row; the mean of 1,000 rows is as stable as the ranking
    // needs), in chunks on all cores.
    let stride = x_train.nrows().div_ceil(IMPORTANCE_ROWS).max(1);
    let rows: Vec<usize> = (0..x_train.nrows()).step_by(stride).collect();
    let chunks: Vec<&[usize]> = rows.chunks(rows.len().div_ceil(4).max(1)).collect();
    let partial = crate::train::fit::run_parallel(chunks.len(), |k| {
        let mut sums = vec![0.0; artifact.features.len()];
        for &r in chunks[k] {
            let row = x_train.row(r);
            for (s, c) in sums
                .iter_mut()
                .zip(model.contributions(row.as_slice().unwrap_or(&[])))
            {
                *s += c.abs();
            }
        }
        sums
    });
    let mut sums = vec![0.0; artifact.features.len()];
    for part in partial {
        for (s, p) in sums.iter_mut().zip(part) {
            *s += p;
        }
    }
    let counted = rows.len();
    artifact.explanation.mean_abs_contributions =
        sums.iter().map(|s| s / counted.max(1) as f64).collect();

    let y_train = &split.y_train;
    let y_test = &split.y_test;
    let train_positive_rate = y_train.iter().filter(|&&y| y).count() as f64 / y_train.len() as f64;
    let metric_set = report::MetricSet::from_predictions(y_test, &test_probs, train_positive_rate);
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
    Ok(HeldOutScores {
        model,
        test_probs,
        metric_set,
    })
}

/// Step "evaluate", accounts: with account keys, the account model (see
/// [`fit_accounts`]) goes into the artifact with its engagement rule, and
/// its evaluation into the report. Training rows are scored out of fold (as
/// the calibration saw them), test rows by the final model; both calibrated.
pub(crate) fn roll_up_accounts(
    artifact: &mut ModelArtifact,
    prepared: &Prepared,
    split: &HeldOutSplit,
    candidates: &Candidates,
    held_out: &HeldOutScores,
    given: &TrainSettings,
    notices: &mut Vec<String>,
) -> Option<report::AccountSummary> {
    let keys = split.account_keys.as_ref()?;
    let mut row_probs = vec![f64::NAN; prepared.labels.len()];
    for (&i, &z) in split.train_idx.iter().zip(&candidates.chosen().oof) {
        row_probs[i] = held_out.model.probability(z);
    }
    for (&i, &p) in split.test_idx.iter().zip(&held_out.test_probs) {
        row_probs[i] = p;
    }
    let warm = artifact
        .bands
        .iter()
        .find(|b| b.name == "warm")
        .map_or(0.5, |b| b.min_probability);
    let (behavioural, engagement) = account_behaviour(artifact, given, warm, notices);
    let fitted = fit_accounts(
        AccountInputs {
            prepared,
            specs: &artifact.features,
            keys,
            train_idx: &split.train_idx,
            test_idx: &split.test_idx,
            probabilities: &row_probs,
            engagement,
            behavioural: &behavioural,
            key: account_key_description(given),
        },
        notices,
    )?;
    artifact.account_model = Some(fitted.model);
    artifact.engagement = Some(fitted.engagement);
    Some(fitted.summary)
}

/// What the account model counts as behaviour, and who is engaged.
///
/// Named `behavioural_features` win, with the warm-band rule
/// ([`EngagementRule::from_warm_band`]). Else, for a model trained from
/// events, the **account-level windows**
/// ([`crate::scoring::events::EventDefinition::account_windows`]: each event
/// type's count in the last 30 days, which summed over the contacts are the
/// account's 30-day counts) with [`EngagementRule::activity_only`], so
/// `engaged_contacts` is the contacts with an event in the last 30 days.
/// Else every numeric feature (empty list) with the warm-band rule.
fn account_behaviour(
    artifact: &ModelArtifact,
    given: &TrainSettings,
    warm: f64,
    notices: &mut Vec<String>,
) -> (Vec<String>, EngagementRule) {
    if !given.behavioural_features.is_empty() {
        return (
            given.behavioural_features.clone(),
            EngagementRule::from_warm_band(warm),
        );
    }
    let windows: Vec<String> = artifact
        .events
        .as_ref()
        .map(|events| {
            events
                .account_windows()
                .into_iter()
                .filter(|name| artifact.features.iter().any(|f| f.name == *name))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if windows.is_empty() {
        return (Vec::new(), EngagementRule::from_warm_band(warm));
    }
    notices.push(format!(
        "account model: account-level windows from events ({} event types' counts in the \
         last {} days, summed and maximised over each account's contacts); an engaged \
         contact is one with an event in those {} days",
        windows.len(),
        crate::scoring::events::ACCOUNT_WINDOW_DAYS,
        crate::scoring::events::ACCOUNT_WINDOW_DAYS,
    ));
    (windows, EngagementRule::activity_only())
}

/// The last touch: the stage rules go in, and the artifact is validated as
/// the server will load it.
///
/// # Errors
/// [`TrainError::Fit`] when the artifact does not validate.
pub(crate) fn finish_artifact(
    mut artifact: ModelArtifact,
    stage_rules: StageRules,
) -> Result<ModelArtifact, TrainError> {
    artifact.stages = stage_rules;
    ScoringModel::from_artifact(artifact.clone()).map_err(|e| TrainError::Fit(e.to_string()))?;
    Ok(artifact)
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
    /// Behavioural features chosen by the settings (empty = every numeric).
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
    let (l2, _) = choose_account_l2(&train_rows, &train_labels, &numeric, p.params.l2);
    let model = match fit_account_model(&train_rows, &train_labels, &numeric, l2) {
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
    fn rfc3339_shape() {
        let t = rfc3339_now();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
