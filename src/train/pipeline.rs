//! Training: a CRM export in, a validated [`ModelArtifact`] and a
//! [`TrainingReport`] out, as a list of named steps
//! (`train_bytes_with_progress` reads as that list):
//!
//! | step | function | where |
//! |---|---|---|
//! | read | `read_table_step`, `prepare_rows`: the table (CSV with delimiter detection, or Parquet; [`crate::train::table`]), the target, the feature columns and their kinds, the raw values | `prepare.rs` |
//! | guard | `guard_leakage`: refuse columns that give the label away ([`crate::train::leakage`]) | `prepare.rs` |
//! | split | `split_rows`: account keys, the held-out rows (given test file, out-of-time, grouped or stratified; [`crate::train::splits`]) and the folds; `check_named_features`: behavioural features and stage rules, before any fitting | `prepare.rs` |
//! | fit | `fit_candidates`: cross-validate each family (logistic regression, gradient-boosted trees) and pick one | `fit.rs` |
//! | calibrate | `calibrate`: choose and fit the calibration on the out-of-fold predictions; then `fit_final` on all training rows | `fit.rs` |
//! | evaluate | `assemble_artifact`, `evaluate_held_out` (bands, explanations, held-out metrics, once), `roll_up_accounts` (the account model), `finish_artifact` (stage rules, validation) | `evaluate.rs` |
//! | report | `build_report` | here |
//! | write | [`write_outputs`] (the report files, then `model.json`, each atomically) | here |
//!
//! The steps run on [`ValidTrainSettings`]: [`TrainSettings`] (flags,
//! `train.toml` or code; [`crate::train::settings`]) checked once, up front,
//! hyperparameters included (linfa style). [`train`] and [`train_bytes`]
//! check the settings themselves; [`train_with_progress`] takes checked
//! ones. Writing is the caller's last step (`leadscore-train` calls
//! [`write_outputs`]), so tests can train without touching the disk.
//!
//! With an account column (or an email column) the rows are also grouped
//! into accounts ([`crate::scoring::accounts`]): the split and the folds keep
//! each account on one side, and an account model is fitted on the training
//! accounts' rolled-up out-of-fold lead scores and compared on the test
//! accounts with the naive roll-ups (max lead score, noisy-OR). Lifecycle
//! stage rules (`[[stages]]`, else
//! [`crate::train::default_stages::default_for_features`]) are checked
//! against the feature names and stored in the artifact.

use std::path::{Path, PathBuf};

use crate::scoring::model::{ModelArtifact, ARTIFACT_FILE};
use crate::train::error::TrainError;
use crate::train::evaluate::{
    assemble_artifact, evaluate_held_out, finish_artifact, roll_up_accounts, HeldOutScores,
};
use crate::train::fit::{calibrate, family_name, fit_candidates, fit_final, Candidates};
use crate::train::leakage::{LeakFinding, Tier};
use crate::train::prepare::{
    check_named_features, guard_leakage, leak_findings, prepare_rows, read_table_step, split_rows,
    HeldOutSplit, Prepared,
};
use crate::train::progress::{Progress, Quiet};
use crate::train::report::{self, TrainingReport};
use crate::train::settings::{TrainSettings, ValidTrainSettings};

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

impl TrainOutcome {
    /// What `leadscore-train` prints when it is done: the model, the
    /// choices and the held-out metrics, the bands, accounts and stages, and
    /// the files `written`.
    pub fn summary(&self, settings: &ValidTrainSettings, written: &[PathBuf]) -> String {
        let a = &self.artifact;
        let m = &a.metrics;
        let r = &self.report;
        let given = settings.settings();
        let mut lines = vec![
            format!(
                "trained {} on {} rows ({} train / {} test, {}), {} features, positive rate {:.3}",
                a.estimator.kind(),
                a.provenance.rows,
                self.train_rows,
                self.test_rows,
                r.split.method,
                a.features.len(),
                a.provenance.positive_rate
            ),
            format!("model: {}", r.model_choice_reason),
            format!(
                "calibration: {} ({})",
                r.calibration.method, r.calibration.reason
            ),
        ];
        for c in &r.cv_metrics {
            lines.push(format!("cv {:<9} {:.4} ± {:.4}", c.name, c.mean, c.sd));
        }
        lines.push(format!(
            "held-out: ROC AUC {:.4}  PR AUC {:.4}  log loss {:.4} (base rate {:.4})  Brier {:.4}  ECE {:.4}  lift@10% {:.2}  ({} rows, {} positive)",
            m.roc_auc, m.pr_auc, m.log_loss, m.base_rate_log_loss, m.brier, m.ece, m.lift_top10, m.rows, m.positives
        ));
        lines.push(format!(
            "bands: {}",
            a.bands
                .iter()
                .map(|b| format!("{} >= {}", b.name, b.min_probability))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        match &r.accounts {
            Some(acc) => lines.push(format!(
                "accounts: {} train / {} test; held-out {}",
                acc.train_accounts,
                acc.test_accounts,
                acc.methods
                    .iter()
                    .map(|m| format!(
                        "{} log loss {:.4} (ROC AUC {:.4})",
                        m.method, m.log_loss, m.roc_auc
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            None if given.account_column.is_some() || given.email_column.is_some() => {
                lines.push("accounts: no account model (see the notes above)".to_string())
            }
            None => {}
        }
        lines.push(format!(
            "stages: {} rule(s){}",
            a.stages.rules().len(),
            if given.stages.is_some() {
                " from the config"
            } else {
                " (defaults for these features)"
            }
        ));
        for path in written {
            lines.push(format!("wrote {}", path.display()));
        }
        lines.push(String::new());
        lines.join("\n")
    }
}

/// Checks the settings and trains a model as they say.
///
/// # Errors
/// [`TrainError`] for settings that do not check ([`TrainSettings::check`]),
/// unusable input (no target, constant target, empty file, too few
/// examples, unknown columns, leaky columns) and solver failures.
pub fn train(settings: &TrainSettings) -> Result<TrainOutcome, TrainError> {
    train_with_progress(&settings.check()?, &Quiet)
}

/// As [`train`], on checked settings, reporting progress.
///
/// # Errors
/// As [`train`].
pub fn train_with_progress(
    settings: &ValidTrainSettings,
    progress: &dyn Progress,
) -> Result<TrainOutcome, TrainError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TrainError::Io {
            path: path.display().to_string(),
            source,
        })
    };
    let bytes = read(settings.data())?;
    let test_bytes = match &settings.settings().test_data {
        Some(path) => Some(read(path)?),
        None => None,
    };
    train_bytes_with_progress(&bytes, test_bytes.as_deref(), settings, progress)
}

/// Reads the data as [`train`] does and runs only the leakage guard:
/// every finding, refusals and warnings, whatever `--allow-leaky` says.
/// For checking a new export before a long run, and for tests.
///
/// # Errors
/// As [`train`] for the settings and the file (not for leaks).
pub fn leakage_findings(settings: &TrainSettings) -> Result<Vec<LeakFinding>, TrainError> {
    let settings = settings.check()?;
    let path = settings.data();
    let bytes = std::fs::read(path).map_err(|source| TrainError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let read = read_table_step(&bytes, None, &settings)?;
    let mut notices = Vec::new();
    let prepared = prepare_rows(&read.table, &settings, &mut notices)?;
    Ok(leak_findings(&prepared))
}

/// Checks the settings and trains on file bytes as if they were the
/// contents of `settings.data` (a `test_data` file is not read).
///
/// # Errors
/// As [`train`].
pub fn train_bytes(bytes: &[u8], settings: &TrainSettings) -> Result<TrainOutcome, TrainError> {
    train_bytes_with_progress(bytes, None, &settings.check()?, &Quiet)
}

/// The steps of a training run, in order, on the bytes of the data file
/// (and of the `test_data` file).
fn train_bytes_with_progress(
    bytes: &[u8],
    test_bytes: Option<&[u8]>,
    settings: &ValidTrainSettings,
    progress: &dyn Progress,
) -> Result<TrainOutcome, TrainError> {
    let given = settings.settings();
    let mut notices = Vec::new();

    // read
    let read = read_table_step(bytes, test_bytes, settings)?;
    if let Some(events) = &read.events {
        notices.push(events.notice());
    }
    let prepared = prepare_rows(&read.table, settings, &mut notices)?;
    // guard
    let findings = guard_leakage(&prepared, given, progress, &mut notices)?;
    // split
    let split = split_rows(&prepared, read.given_test, given)?;
    let stage_rules = check_named_features(&prepared, given, &mut notices)?;
    // fit
    let candidates = fit_candidates(&prepared, &split, progress)?;
    // calibrate, then the final fit on all training rows
    let (calibration, calibration_summary) =
        calibrate(settings.params().calibration, candidates.chosen(), &split);
    let final_fit = fit_final(
        &prepared,
        &split,
        candidates.chosen().family,
        &given.features,
        progress,
    )?;
    // evaluate
    let mut artifact = assemble_artifact(&prepared, &final_fit, calibration, settings);
    if let Some(events) = &read.events {
        events
            .definition
            .apply_reason_templates(&mut artifact.features);
        artifact.events = Some(events.definition.clone());
    }
    let held_out = evaluate_held_out(&mut artifact, &prepared, &split, &final_fit)?;
    let accounts = roll_up_accounts(
        &mut artifact,
        &prepared,
        &split,
        &candidates,
        &held_out,
        given,
        &mut notices,
    );
    let artifact = finish_artifact(artifact, stage_rules)?;
    // report
    let report = build_report(ReportInputs {
        artifact: &artifact,
        settings,
        prepared: &prepared,
        split: &split,
        candidates: &candidates,
        calibration: calibration_summary,
        held_out,
        findings: &findings,
        notices: &notices,
        accounts,
    });
    // (write: the caller's, with write_outputs)
    Ok(TrainOutcome {
        artifact,
        notices,
        train_rows: split.train_idx.len(),
        test_rows: split.test_idx.len(),
        report,
    })
}

/// What the report step works on: the outputs of the steps before it.
struct ReportInputs<'a> {
    artifact: &'a ModelArtifact,
    settings: &'a ValidTrainSettings,
    prepared: &'a Prepared<'a>,
    split: &'a HeldOutSplit,
    candidates: &'a Candidates,
    calibration: report::CalibrationSummary,
    held_out: HeldOutScores,
    findings: &'a [LeakFinding],
    notices: &'a [String],
    accounts: Option<report::AccountSummary>,
}

/// Step "report": everything measured, for `report.json`, `report.html` and
/// `report.md`.
fn build_report(r: ReportInputs) -> TrainingReport {
    let a = r.artifact;
    let table = r.prepared.table;
    let y_test = &r.split.y_test;
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
    let chosen_cv = Some(r.candidates.chosen());
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
        command: r.settings.settings().command.clone(),
        data: report::DataSummary {
            file: a.provenance.data_file.clone(),
            rows: table.rows.len() as u64,
            columns: table.header.len() as u64,
            positives: r.prepared.positives as u64,
            negatives: r.prepared.negatives() as u64,
            positive_rate: a.provenance.positive_rate,
            class_weight: format!("{:?}", r.settings.params().class_weight).to_lowercase(),
            column_readings: r
                .prepared
                .columns
                .iter()
                .zip(r.prepared.feature_names())
                .enumerate()
                .map(|(f, (col, feature))| report::ColumnReading {
                    column: table.header[col.index].clone(),
                    feature,
                    kind: col.kind.as_str().to_string(),
                    read_as: col.reading.clone(),
                    missing: r.prepared.raw.iter().filter(|row| row[f].is_none()).count() as u64,
                })
                .collect(),
        },
        split: report::SplitSummary {
            method: r.split.method.clone(),
            train_rows: r.split.train_idx.len() as u64,
            test_rows: y_test.len() as u64,
            test_positives: y_test.iter().filter(|&&y| y).count() as u64,
        },
        model_family: a.estimator.kind().to_string(),
        model_choice_reason: r.candidates.reason.clone(),
        candidates: r
            .candidates
            .results
            .iter()
            .map(|c| report::CandidateSummary {
                family: family_name(c.family).to_string(),
                cv_log_loss_mean: c.log_loss.0,
                cv_log_loss_sd: c.log_loss.1,
                cv_roc_auc_mean: c.roc_auc.0,
                cv_roc_auc_sd: c.roc_auc.1,
                fit_seconds: c.fit_seconds,
                fold_seconds: c.fold_seconds.clone(),
            })
            .collect(),
        calibration: r.calibration,
        test_metrics: r.held_out.metric_set,
        cv_metrics,
        curves: report::Curves::from_predictions(y_test, &r.held_out.test_probs),
        feature_importance: importance,
        leakage: r
            .findings
            .iter()
            .map(|f| report::LeakFinding {
                column: f.column.clone(),
                evidence: f.evidence.clone(),
                allowed: f.tier == Tier::Refuse,
                rule: f.rule.clone(),
                tier: f.tier,
            })
            .collect(),
        notices: r.notices.to_vec(),
        accounts: r.accounts,
    }
}

/// The last step: writes the report (`report.json`, `report.html`,
/// `report.md`) and then `model.json` into `out_dir`, so that a watching
/// server never sees a model without its report. Returns the paths written,
/// `model.json` last.
///
/// # Errors
/// [`TrainError::Io`] naming the path.
pub fn write_outputs(outcome: &TrainOutcome, out_dir: &Path) -> Result<Vec<PathBuf>, TrainError> {
    let mut written = write_report(&outcome.report, out_dir)?;
    written.push(write_artifact(&outcome.artifact, out_dir)?);
    Ok(written)
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
