//! From an imported model to a standard `model.json` under
//! `models/<name>/<version>` ([`run`], `leadscore-train import`).
//!
//! Features come from the model file (names; category levels when the file
//! carries them: LightGBM's `pandas_categorical`, XGBoost 3's `cats`), and a
//! schema file (`--schema`) can give or override the kinds and levels:
//!
//! ```json
//! { "features": [ { "name": "visits", "kind": "numeric" },
//!                 { "name": "plan", "kind": "categorical",
//!                   "levels": ["free", "starter", "team"] } ] }
//! ```
//!
//! `levels[k]` is the category the library saw as code `k` (for pandas
//! categoricals: `series.cat.categories`). Numeric features become
//! `passthrough` features, categorical ones `codes` features.
//!
//! Probabilities are the library's own sigmoid of the margin (no
//! calibration). With `--sample data.csv` (rows with the model's feature
//! columns), bands are the trainer's quantile bands of the sample's scores
//! and the global explanation its mean |contribution|s; without data the
//! model has a single band `unbanded` (min probability 0), and its
//! provenance says so.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ImportError, ImportedModel};
use crate::scoring::calibration::Calibration;
use crate::scoring::features::{FeatureEncoding, FeatureSpec, RawValue};
use crate::scoring::model::{
    Estimator, ExplanationBaseline, HeldOutMetrics, ModelArtifact, Provenance, ScoreBand,
    ScoringModel, FORMAT_VERSION,
};
use crate::train::fit::choose_calibration;
use crate::train::report::{CalibrationSummary, MetricSet};
use crate::train::settings::CalibrationChoice;

/// The one band of a model imported without data.
pub const UNBANDED: &str = "unbanded";

/// What `leadscore-train import` needs.
#[derive(Debug, Clone, Default)]
pub struct ImportSettings {
    /// A LightGBM text model (`booster.save_model`).
    pub lightgbm: Option<PathBuf>,
    /// An XGBoost JSON model (`booster.save_model("….json")`).
    pub xgboost: Option<PathBuf>,
    /// Feature kinds and category levels (see the module docs).
    pub schema: Option<PathBuf>,
    /// Rows with the model's feature columns, for bands and the global
    /// explanation.
    pub sample: Option<PathBuf>,
    /// Labelled held-out rows (the feature columns and `target`): fits
    /// calibration on them, and bands from their calibrated scores.
    pub calibrate: Option<PathBuf>,
    /// How `calibrate` rows calibrate: `auto` (the lowest 5-fold
    /// cross-fitted log loss of none / Platt / beta / isotonic), `platt`,
    /// `beta`, `isotonic` or `none`.
    pub calibration: CalibrationChoice,
    /// The 0/1 (true/false, yes/no) target column of `calibrate`.
    pub target: String,
    /// The version directory, `models/<name>/<version>`.
    pub out: PathBuf,
    /// The command line, for the provenance.
    pub command: String,
}

/// `leadscore-train import`'s flags.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "import",
    about = "Import a LightGBM or XGBoost binary model as models/<name>/<version>/model.json"
)]
pub struct ImportArgs {
    /// LightGBM text model (booster.save_model("model.txt")).
    #[arg(long, required_unless_present = "xgboost", conflicts_with = "xgboost")]
    pub lightgbm: Option<PathBuf>,
    /// XGBoost JSON model (booster.save_model("model.json")).
    #[arg(long)]
    pub xgboost: Option<PathBuf>,
    /// Feature kinds and category levels (JSON; see docs/trainer.md).
    #[arg(long)]
    pub schema: Option<PathBuf>,
    /// CSV or Parquet rows with the model's feature columns: bands from the
    /// quantiles of their scores (without it the model is unbanded).
    #[arg(long, conflicts_with = "calibrate")]
    pub sample: Option<PathBuf>,
    /// Labelled held-out CSV or Parquet rows: fits calibration on the
    /// model's log-odds, bands from the calibrated scores, and writes
    /// report.json / report.md / report.html with 5-fold cross-fitted metrics.
    #[arg(long)]
    pub calibrate: Option<PathBuf>,
    /// Calibration of --calibrate: auto picks none, platt, beta or isotonic
    /// by 5-fold cross-fitted log loss.
    #[arg(long, value_enum, default_value_t = CalibrationChoice::Auto, requires = "calibrate")]
    pub calibration: CalibrationChoice,
    /// Target column of --calibrate (0/1, true/false or yes/no).
    #[arg(long, default_value = "converted")]
    pub target: String,
    /// Output directory, normally models/<name>/<version>.
    #[arg(long)]
    pub out: PathBuf,
}

impl ImportArgs {
    /// The settings these flags give; `command` is the command line.
    pub fn into_settings(self, command: String) -> ImportSettings {
        ImportSettings {
            lightgbm: self.lightgbm,
            xgboost: self.xgboost,
            schema: self.schema,
            sample: self.sample,
            calibrate: self.calibrate,
            calibration: self.calibration,
            target: self.target,
            out: self.out,
            command,
        }
    }
}

/// What an import wrote.
#[derive(Debug, Clone)]
pub struct ImportSummary {
    /// The `model.json` written.
    pub path: PathBuf,
    /// "LightGBM" or "XGBoost".
    pub library: &'static str,
    /// Trees imported.
    pub trees: usize,
    /// Features, in order.
    pub features: Vec<String>,
    /// Sample rows the bands come from; `None`: the model is unbanded.
    pub sample_rows: Option<usize>,
    /// With `--calibrate`: the calibration chosen and the cross-fitted
    /// metrics on the labelled rows (written beside `model.json`).
    pub report: Option<ImportReport>,
}

/// What `--calibrate` found, written as `report.json`, `report.md` and
/// `report.html` beside the imported `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportReport {
    /// "LightGBM" or "XGBoost".
    pub library: String,
    /// The labelled file.
    pub data_file: String,
    /// Labelled rows, and positives among them.
    pub rows: u64,
    /// Positives among `rows`.
    pub positives: u64,
    /// The calibration chosen, why, and ECE before and after.
    pub calibration: CalibrationSummary,
    /// The model's metrics on the labelled rows with the chosen calibration,
    /// each row calibrated by a map fitted on the other four folds.
    pub metrics: MetricSet,
    /// The same rows with the library's own probabilities (its sigmoid).
    pub uncalibrated: MetricSet,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Schema {
    features: Vec<SchemaFeature>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaFeature {
    name: String,
    kind: SchemaKind,
    #[serde(default)]
    levels: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, PartialEq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum SchemaKind {
    Numeric,
    Categorical,
}

fn read(path: &Path) -> Result<String, ImportError> {
    std::fs::read_to_string(path).map_err(|source| ImportError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Parses the model named in `settings` (exactly one of `lightgbm` /
/// `xgboost`) and builds the artifact, validated as the server will.
/// Writes nothing.
///
/// # Errors
/// Any [`ImportError`]: the model, the schema or the sample.
pub fn build(settings: &ImportSettings) -> Result<(ModelArtifact, ImportSummary), ImportError> {
    let (imported, source) = match (&settings.lightgbm, &settings.xgboost) {
        (Some(path), None) => (super::lightgbm::parse(&read(path)?)?, path),
        (None, Some(path)) => (super::xgboost::parse(&read(path)?)?, path),
        _ => {
            return Err(ImportError::Input {
                what: "import".to_string(),
                problem: "give exactly one of --lightgbm and --xgboost".to_string(),
            })
        }
    };
    let schema = match &settings.schema {
        Some(path) => {
            let schema: Schema =
                serde_json::from_str(&read(path)?).map_err(|e| ImportError::Input {
                    what: path.display().to_string(),
                    problem: e.to_string(),
                })?;
            Some((path.display().to_string(), schema))
        }
        None => None,
    };
    let features = feature_specs(&imported, schema.as_ref())?;
    let width = features.len();
    let mut artifact = ModelArtifact {
        format_version: FORMAT_VERSION,
        features,
        estimator: Estimator::Gbdt(imported.model.clone()),
        calibration: Calibration::None,
        explanation: ExplanationBaseline {
            design_means: vec![0.0; width],
            mean_abs_contributions: Vec::new(),
        },
        bands: vec![ScoreBand {
            name: UNBANDED.to_string(),
            min_probability: 0.0,
        }],
        provenance: Provenance {
            data_file: file_name(source),
            trainer_version: env!("CARGO_PKG_VERSION").to_string(),
            trained_at: crate::scoring::time::Timestamp::now().to_string(),
            target_column: format!("(imported {} model; no data: unbanded)", imported.library),
            command: settings.command.clone(),
            ..Provenance::default()
        },
        metrics: HeldOutMetrics::default(),
        stages: Default::default(),
        account_model: None,
        engagement: None,
        events: None,
    };
    let invalid = |e: crate::scoring::model::ModelError| ImportError::Invalid(e.to_string());
    let mut sample_rows = None;
    let mut report = None;
    let data = match (&settings.calibrate, &settings.sample) {
        (Some(path), _) => Some((path, Some(settings.target.as_str()))),
        (None, Some(path)) => Some((path, None)),
        (None, None) => None,
    };
    if let Some((path, target)) = data {
        let scoring = ScoringModel::from_artifact(artifact.clone()).map_err(invalid)?;
        let scored = score_sample(&scoring, path, target)?;
        let (mean_abs, rows, sha) = (scored.mean_abs, scored.log_odds.len(), scored.sha256);
        let mut probabilities: Vec<f64> = scored
            .log_odds
            .iter()
            .map(|z| scoring.probability(*z))
            .collect();
        if target.is_some() {
            let labels = &scored.labels;
            let positives = labels.iter().filter(|&&y| y).count();
            if positives < 5 || labels.len() - positives < 5 {
                return Err(ImportError::Input {
                    what: path.display().to_string(),
                    problem: format!(
                        "calibration needs at least 5 rows of each class; column \"{}\" has {positives} positive and {} negative",
                        settings.target,
                        labels.len() - positives
                    ),
                });
            }
            let folds = crate::train::splits::stratified_folds(labels, 5, 0);
            let (calibration, summary, cross_fitted) =
                choose_calibration(settings.calibration, &scored.log_odds, labels, &folds);
            artifact.calibration = calibration;
            let base_rate = positives as f64 / labels.len() as f64;
            let metrics = MetricSet::from_predictions(labels, &cross_fitted, base_rate);
            let uncalibrated = MetricSet::from_predictions(labels, &probabilities, base_rate);
            artifact.metrics = HeldOutMetrics {
                roc_auc: metrics.roc_auc,
                log_loss: metrics.log_loss,
                brier: metrics.brier,
                base_rate_log_loss: metrics.base_rate_log_loss,
                rows: labels.len() as u64,
                positives: positives as u64,
                pr_auc: metrics.pr_auc,
                ece: metrics.ece,
                precision_top10: metrics.precision_top10,
                lift_top10: metrics.lift_top10,
            };
            report = Some(ImportReport {
                library: imported.library.to_string(),
                data_file: file_name(path),
                rows: labels.len() as u64,
                positives: positives as u64,
                calibration: summary,
                metrics,
                uncalibrated,
            });
            let calibrated = ScoringModel::from_artifact(artifact.clone()).map_err(invalid)?;
            probabilities = scored
                .log_odds
                .iter()
                .map(|z| calibrated.probability(*z))
                .collect();
        }
        artifact.bands = crate::train::derive_bands(&probabilities, 0.2, 0.3);
        artifact.explanation.mean_abs_contributions = mean_abs;
        artifact.provenance.data_file = file_name(path);
        artifact.provenance.data_sha256 = sha;
        artifact.provenance.rows = rows as u64;
        artifact.provenance.target_column = match target {
            Some(name) => name.to_string(),
            None => format!(
                "(imported {} model; bands from {rows} sample rows)",
                imported.library
            ),
        };
        sample_rows = Some(rows);
    }
    ScoringModel::from_artifact(artifact.clone()).map_err(invalid)?;
    let summary = ImportSummary {
        path: settings.out.join("model.json"),
        library: imported.library,
        trees: imported.model.trees.len(),
        features: artifact.features.iter().map(|f| f.name.clone()).collect(),
        sample_rows,
        report,
    };
    Ok((artifact, summary))
}

/// [`build`], then writes `model.json` into `settings.out` (atomically, as
/// the trainer does). Nothing is written when anything is refused.
///
/// # Errors
/// As [`build`], and [`ImportError::Io`] for the write.
pub fn run(settings: &ImportSettings) -> Result<ImportSummary, ImportError> {
    let (artifact, summary) = build(settings)?;
    std::fs::create_dir_all(&settings.out).map_err(|source| ImportError::Io {
        path: settings.out.display().to_string(),
        source,
    })?;
    crate::train::pipeline::write_artifact(&artifact, &settings.out).map_err(|e| {
        ImportError::Input {
            what: settings.out.display().to_string(),
            problem: e.to_string(),
        }
    })?;
    if let Some(report) = &summary.report {
        write_import_report(report, &settings.out)?;
    }
    Ok(summary)
}

/// Writes `report.json`, `report.md` and `report.html` of an import with
/// `--calibrate`.
fn write_import_report(report: &ImportReport, out: &Path) -> Result<(), ImportError> {
    let io = |file: &str, source: std::io::Error| ImportError::Io {
        path: out.join(file).display().to_string(),
        source,
    };
    let json = serde_json::to_string_pretty(report).unwrap_or_default();
    std::fs::write(out.join("report.json"), json + "\n").map_err(|e| io("report.json", e))?;
    let rows = [
        (
            "ROC AUC",
            report.metrics.roc_auc,
            report.uncalibrated.roc_auc,
        ),
        ("PR AUC", report.metrics.pr_auc, report.uncalibrated.pr_auc),
        (
            "log loss",
            report.metrics.log_loss,
            report.uncalibrated.log_loss,
        ),
        ("Brier", report.metrics.brier, report.uncalibrated.brier),
        ("ECE (10 bins)", report.metrics.ece, report.uncalibrated.ece),
        (
            "lift in the top 10%",
            report.metrics.lift_top10,
            report.uncalibrated.lift_top10,
        ),
    ];
    let title = format!(
        "Imported {} model: calibration on {} ({} rows, {} positive)",
        report.library, report.data_file, report.rows, report.positives
    );
    let how = format!(
        "Calibration: {} ({}). Metrics with calibration are 5-fold cross-fitted: each row is calibrated by a map fitted on the other folds.",
        report.calibration.method, report.calibration.reason
    );
    let mut md =
        format!("# {title}\n\n{how}\n\n| metric | calibrated | library's own |\n|---|---|---|\n");
    let mut html_rows = String::new();
    for (name, calibrated, own) in rows {
        md.push_str(&format!("| {name} | {calibrated:.4} | {own:.4} |\n"));
        html_rows.push_str(&format!(
            "<tr><td>{name}</td><td>{calibrated:.4}</td><td>{own:.4}</td></tr>\n"
        ));
    }
    std::fs::write(out.join("report.md"), md).map_err(|e| io("report.md", e))?;
    let esc = crate::train::report::escape_html;
    let html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title></head><body>\n<h1>{t}</h1>\n<p>{h}</p>\n<table>\n<tr><th>metric</th><th>calibrated</th><th>library's own</th></tr>\n{html_rows}</table>\n</body></html>\n",
        t = esc(&title),
        h = esc(&how)
    );
    std::fs::write(out.join("report.html"), html).map_err(|e| io("report.html", e))?;
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The artifact's features: names and levels from the model, kinds and
/// levels from the schema when given.
fn feature_specs(
    imported: &ImportedModel,
    schema: Option<&(String, Schema)>,
) -> Result<Vec<FeatureSpec>, ImportError> {
    if let Some((what, schema)) = schema {
        if schema.features.len() != imported.features.len() {
            return Err(ImportError::Input {
                what: what.clone(),
                problem: format!(
                    "lists {} features; the model has {}",
                    schema.features.len(),
                    imported.features.len()
                ),
            });
        }
    }
    let mut specs = Vec::with_capacity(imported.features.len());
    for (j, feature) in imported.features.iter().enumerate() {
        let given = schema.map(|(what, s)| (what, &s.features[j]));
        let mut name = feature.name.clone();
        let mut categorical = feature.categorical;
        let mut levels = feature.levels.clone();
        if let Some((what, given)) = given {
            if given.name != feature.name && !feature.name.starts_with('f') {
                return Err(ImportError::Input {
                    what: what.clone(),
                    problem: format!(
                        "feature {j} is \"{}\" in the schema but \"{}\" in the model",
                        given.name, feature.name
                    ),
                });
            }
            name = given.name.clone();
            if feature.categorical && given.kind == SchemaKind::Numeric {
                return Err(ImportError::Input {
                    what: what.clone(),
                    problem: format!("\"{name}\" has categorical splits; it cannot be numeric"),
                });
            }
            categorical = given.kind == SchemaKind::Categorical;
            if given.levels.is_some() {
                levels = given.levels.clone();
            }
        }
        let encoding = if categorical {
            let levels = levels.ok_or_else(|| ImportError::Input {
                what: "schema".to_string(),
                problem: format!(
                    "\"{name}\" is categorical and the model file does not carry its levels: give them in --schema"
                ),
            })?;
            FeatureEncoding::Codes { levels }
        } else {
            FeatureEncoding::Passthrough {}
        };
        let mut spec = FeatureSpec::new(name.clone(), name.clone(), name, encoding);
        // Imported models carry no value statistics to suggest changes from.
        spec.actionable = Some(false);
        spec.fill_defaults(&[]);
        specs.push(spec);
    }
    Ok(specs)
}

/// A sample's rows as scored by the imported model.
struct ScoredSample {
    /// The model's log-odds per row.
    log_odds: Vec<f64>,
    /// The target per row (empty without a target column).
    labels: Vec<bool>,
    /// Mean |contribution| per feature over the first 5,000 rows.
    mean_abs: Vec<f64>,
    /// sha256 of the file.
    sha256: String,
}

/// Scores a sample's rows (and reads its `target`, when given).
fn score_sample(
    model: &ScoringModel,
    path: &Path,
    target: Option<&str>,
) -> Result<ScoredSample, ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let what = path.display().to_string();
    let table = crate::train::table::read_table(&bytes, &what).map_err(|e| ImportError::Input {
        what: what.clone(),
        problem: e.to_string(),
    })?;
    let specs = model.pipeline().specs();
    let mut columns = Vec::with_capacity(specs.len());
    for spec in specs {
        let c = table
            .header
            .iter()
            .position(|h| *h == spec.name)
            .ok_or_else(|| ImportError::Input {
                what: what.clone(),
                problem: format!("has no column \"{}\"", spec.name),
            })?;
        columns.push(c);
    }
    let target = target
        .map(|name| {
            table
                .header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| ImportError::Input {
                    what: what.clone(),
                    problem: format!("has no target column \"{name}\""),
                })
        })
        .transpose()?;
    let Estimator::Gbdt(trees) = &model.artifact().estimator else {
        return Err(ImportError::Invalid("not a tree model".to_string()));
    };
    let mut log_odds = Vec::with_capacity(table.rows.len());
    let mut labels = Vec::new();
    let mut mean_abs = vec![0.0; specs.len()];
    let mut phi = vec![0.0; specs.len()];
    for (r, row) in table.rows.iter().enumerate() {
        let mut values = Vec::with_capacity(specs.len());
        for (spec, &c) in specs.iter().zip(&columns) {
            let cell = row[c].trim();
            values.push(if cell.is_empty() || cell.eq_ignore_ascii_case("nan") {
                None
            } else if matches!(spec.encoding, FeatureEncoding::Codes { .. }) {
                Some(RawValue::Category(cell.to_string()))
            } else {
                Some(RawValue::Number(cell.parse().map_err(|_| {
                    ImportError::Input {
                        what: what.clone(),
                        problem: format!(
                            "line {}: \"{}\" is not a number ({cell:?})",
                            table.lines[r], spec.name
                        ),
                    }
                })?))
            });
        }
        let refs: Vec<Option<&RawValue>> = values.iter().map(Option::as_ref).collect();
        let encoded = model
            .pipeline()
            .encode_design(&refs)
            .map_err(|e| ImportError::Input {
                what: what.clone(),
                problem: format!("line {}: {e}", table.lines[r]),
            })?;
        log_odds.push(model.log_odds(&encoded.design));
        if let Some(t) = target {
            let cell = row[t].trim();
            let label = match cell {
                "1" | "1.0" => Some(true),
                "0" | "0.0" => Some(false),
                other => crate::scoring::features::parse_bool(other),
            };
            labels.push(label.ok_or_else(|| ImportError::Input {
                what: what.clone(),
                problem: format!(
                    "line {}: target {cell:?} is not 0/1, true/false or yes/no",
                    table.lines[r]
                ),
            })?);
        }
        if r < 5000 {
            phi.fill(0.0);
            trees.tree_shap(&encoded.design, &mut phi);
            for (m, p) in mean_abs.iter_mut().zip(&phi) {
                *m += p.abs();
            }
        }
    }
    let n = table.rows.len();
    let counted = n.clamp(1, 5000) as f64;
    for m in &mut mean_abs {
        *m /= counted;
    }
    Ok(ScoredSample {
        log_odds,
        labels,
        mean_abs,
        sha256: table.sha256,
    })
}
