//! The model artifact (`model.json`) and the scoring model built from it.
//!
//! [`ModelArtifact`] is the self-describing, versioned JSON the trainer writes:
//! feature specs, estimator, explanation baseline, score bands, provenance and
//! held-out metrics, and (format 2) the calibration map from the estimator's
//! log-odds to a probability. [`ScoringModel::from_artifact`] validates every invariant
//! the scoring path relies on, so a loaded model can never panic or produce a
//! non-finite score; a broken artifact is refused with an [`ArtifactError`].

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::scoring::accounts::{AccountFeatures, AccountModel, AccountModelError, EngagementRule};
use crate::scoring::calibration::{Calibration, CalibrationError};
use crate::scoring::events::{
    Aggregate, CompiledEvents, EventDefinition, EventDefinitionError, LeadEventsError, RawEvent,
    WindowValues,
};
use crate::scoring::features::{
    EncodedLead, FeatureEncoding, FeatureError, FeaturePipeline, FeatureSpec, LeadInput,
    PipelineError, RawValue, UsedValue, MISSING, OTHER,
};
use crate::scoring::shap_tables::Reaches;
use crate::scoring::stages::{
    FeatureValueRef, Stage, StageError, StageRules, ACCOUNT_CONTACTS, ACCOUNT_ENGAGED_CONTACTS,
};
use crate::scoring::time::Timestamp;
use crate::scoring::trees::{GbdtModel, TreeError};

/// The artifact format this build writes.
pub const FORMAT_VERSION: u32 = 2;

/// File name of an artifact inside a model repository's version directory
/// (`<name>/<version>/model.json`).
pub const ARTIFACT_FILE: &str = "model.json";

/// The oldest artifact format this build still reads. Format 1 artifacts
/// (logistic, uncalibrated) load unchanged: their scores keep their meaning.
pub const OLDEST_FORMAT_VERSION: u32 = 1;

/// The trained estimator, in our own format (no training library at serving time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Estimator {
    /// L2-regularised logistic regression over the design columns:
    /// `log_odds = intercept + coefficients · design`.
    Logistic {
        /// Intercept, in log-odds.
        intercept: f64,
        /// One coefficient per design column.
        coefficients: Vec<f64>,
    },
    /// Gradient-boosted decision trees over the design columns, in our own
    /// tree format (see [`crate::scoring::trees`]): `log_odds = base_score + Σ leaves`.
    Gbdt(GbdtModel),
}

impl Estimator {
    /// Log-odds of an encoded design row: the logistic dot product, or the
    /// trees' margin by the plain evaluator.
    pub fn log_odds(&self, design: &[f64]) -> f64 {
        match self {
            Estimator::Logistic {
                intercept,
                coefficients,
            } => {
                intercept
                    + coefficients
                        .iter()
                        .zip(design)
                        .map(|(w, x)| w * x)
                        .sum::<f64>()
            }
            Estimator::Gbdt(model) => model.margin(design),
        }
    }

    /// Short family name, e.g. "logistic".
    pub fn kind(&self) -> &'static str {
        match self {
            Estimator::Logistic { .. } => "logistic",
            Estimator::Gbdt(_) => "gbdt",
        }
    }
}

/// What explanations are measured against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplanationBaseline {
    /// Mean of each design column over the training rows (E[x]).
    pub design_means: Vec<f64>,
    /// Mean |contribution| of each source feature over the training rows, in
    /// log-odds (the global explanation). Empty in format 1 artifacts.
    #[serde(default)]
    pub mean_abs_contributions: Vec<f64>,
}

/// A named score band: a lead is in the first band whose `min_probability` it reaches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreBand {
    /// e.g. "hot".
    pub name: String,
    /// Lowest probability in the band.
    pub min_probability: f64,
}

/// Where a model came from.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Provenance {
    /// sha256 of the training CSV.
    pub data_sha256: String,
    /// File name of the training CSV (no directories).
    pub data_file: String,
    /// Data rows read.
    pub rows: u64,
    /// Share of positive labels in all rows.
    pub positive_rate: f64,
    /// Target column.
    pub target_column: String,
    /// Columns left out on request (id, `--exclude`) or automatically (constant, identifier-like).
    pub excluded_columns: Vec<String>,
    /// `leadscore-train` version.
    pub trainer_version: String,
    /// RFC 3339 time of training (UTC).
    pub trained_at: String,
    /// Seed of the train/test split.
    pub seed: u64,
    /// Share of rows held out for testing.
    pub test_fraction: f64,
    /// The trainer command line.
    pub command: String,
}

/// Metrics on the held-out test split.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HeldOutMetrics {
    /// Area under the ROC curve.
    pub roc_auc: f64,
    /// Mean log loss (natural log).
    pub log_loss: f64,
    /// Mean squared error of the probability.
    pub brier: f64,
    /// Log loss of predicting the training positive rate for everyone.
    pub base_rate_log_loss: f64,
    /// Test rows.
    pub rows: u64,
    /// Positive test rows.
    pub positives: u64,
    /// Area under the precision–recall curve (average precision).
    #[serde(default)]
    pub pr_auc: f64,
    /// Expected calibration error (10 equal-width bins).
    #[serde(default)]
    pub ece: f64,
    /// Share of positives among the top 10% of test leads by score.
    #[serde(default)]
    pub precision_top10: f64,
    /// `precision_top10` divided by the test positive rate.
    #[serde(default)]
    pub lift_top10: f64,
}

/// The `model.json` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelArtifact {
    /// Must equal [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Source features in schema (and dense) order.
    pub features: Vec<FeatureSpec>,
    /// The estimator.
    pub estimator: Estimator,
    /// Map from the estimator's log-odds to the probability served
    /// (`none` = the logistic function; format 1 artifacts have none).
    #[serde(default)]
    pub calibration: Calibration,
    /// Explanation baseline.
    pub explanation: ExplanationBaseline,
    /// Bands, highest first; the last has `min_probability` 0.
    pub bands: Vec<ScoreBand>,
    /// Training provenance.
    pub provenance: Provenance,
    /// Held-out metrics.
    pub metrics: HeldOutMetrics,
    /// Lifecycle stage rules (see [`crate::scoring::stages`]); empty = the model has no
    /// stages and responses leave the stage blank.
    #[serde(default)]
    pub stages: StageRules,
    /// The account model (see [`crate::scoring::accounts`]), when the trainer was given
    /// accounts; without one the server uses the documented fallback.
    #[serde(default)]
    pub account_model: Option<AccountModel>,
    /// Which leads count as engaged contacts of an account; absent = engaged
    /// from the model's warm band ([`EngagementRule::from_warm_band`]).
    #[serde(default)]
    pub engagement: Option<EngagementRule>,
    /// The window features over raw events ([`crate::scoring::events`]) when
    /// the model was trained from an events table; absent = callers send
    /// precomputed features only. Each event feature the model reads is one
    /// of [`Self::features`], numeric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<EventDefinition>,
}

/// Why an artifact was refused.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// File path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid artifact document.
    #[error("{path} is not a valid model artifact: {source}")]
    Parse {
        /// File path.
        path: String,
        /// The JSON error (with line and column).
        source: serde_json::Error,
    },
    /// The document parsed but breaks an invariant.
    #[error("{path} is inconsistent: {problem}")]
    Invalid {
        /// File path.
        path: String,
        /// What is wrong.
        problem: String,
    },
}

impl ModelArtifact {
    /// Reads and validates an artifact file.
    ///
    /// # Errors
    /// [`ArtifactError`] naming the file and the problem.
    pub fn read(path: &Path) -> Result<ScoringModel, ArtifactError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| ArtifactError::Io {
            path: shown.clone(),
            source,
        })?;
        Self::from_json(&bytes, &shown)
    }

    /// Parses and validates artifact bytes; `path` is used in messages.
    ///
    /// # Errors
    /// [`ArtifactError::Parse`] or [`ArtifactError::Invalid`].
    pub fn from_json(bytes: &[u8], path: &str) -> Result<ScoringModel, ArtifactError> {
        // Check the format version first so a future artifact gets a clear message
        // instead of a field-level parse error.
        #[derive(Deserialize)]
        struct VersionOnly {
            format_version: Option<u32>,
        }
        let invalid = |problem: String| ArtifactError::Invalid {
            path: path.to_string(),
            problem,
        };
        match serde_json::from_slice::<VersionOnly>(bytes) {
            Ok(VersionOnly {
                format_version: Some(v),
            }) if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&v) => {
                return Err(invalid(format!(
                    "format_version {v} is not supported (this build reads {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION})"
                )))
            }
            Ok(VersionOnly {
                format_version: None,
            }) => return Err(invalid("missing format_version".to_string())),
            _ => {}
        }
        let artifact: ModelArtifact =
            serde_json::from_slice(bytes).map_err(|source| ArtifactError::Parse {
                path: path.to_string(),
                source,
            })?;
        ScoringModel::from_artifact(artifact).map_err(|e| invalid(e.to_string()))
    }

    /// Serialises to pretty JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain data with finite floats cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Score of one lead.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadScore {
    /// Calibrated probability in (0, 1).
    pub probability: f64,
    /// Display score 1..=99.
    pub score: u32,
    /// Band name.
    pub band: String,
    /// The estimator's log-odds for the lead, before calibration.
    pub log_odds: f64,
    /// Imputation and clipping notes.
    pub warnings: Vec<String>,
    /// The same notes as (source feature index, kind), for metrics.
    pub fallbacks: Vec<(usize, crate::scoring::features::Fallback)>,
}

/// Contribution of one source feature to a lead's log-odds.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    /// Index of the source feature in the schema.
    pub feature_index: usize,
    /// Contribution in log-odds.
    pub contribution: f64,
    /// Value used (after imputation), as text.
    pub value: String,
    /// The feature's reason template rendered with the value, e.g.
    /// "Viewed the pricing page 6 times".
    pub reason: String,
}

/// Which way a contribution moves the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Positive contribution.
    Raises,
    /// Negative contribution.
    Lowers,
    /// Exactly zero (the feature is at its average effect, or unused).
    Neutral,
}

impl Contribution {
    /// The sign of the contribution, as a direction.
    pub fn direction(&self) -> Direction {
        if self.contribution > 0.0 {
            Direction::Raises
        } else if self.contribution < 0.0 {
            Direction::Lowers
        } else {
            Direction::Neutral
        }
    }
}

/// The single feature change that raises a lead's probability most.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    /// Index of the source feature in the schema.
    pub feature_index: usize,
    /// The value used now, as text.
    pub from_value: String,
    /// The value to change it to, as text.
    pub to_value: String,
    /// The reason template rendered with the new value.
    pub reason: String,
    /// The estimator's log-odds of the changed lead.
    pub new_log_odds: f64,
    /// The calibrated probability of the changed lead (> the current one).
    pub new_probability: f64,
}

/// Explanation of one lead's score.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadExplanation {
    /// The score, as `ScoringModel::score` gives it.
    pub score: LeadScore,
    /// Log-odds of the average training lead.
    pub base_log_odds: f64,
    /// Every source feature's contribution, sorted by |contribution| descending.
    /// They add up with `base_log_odds` to `score.log_odds`.
    pub contributions: Vec<Contribution>,
    /// What would raise this score most, if any actionable change does.
    pub suggestion: Option<Suggestion>,
}

impl LeadExplanation {
    /// The `k` strongest positive contributions (largest first) followed by
    /// the `k` strongest negative ones (most negative first); zero
    /// contributions are left out. `k` larger than the number of features
    /// simply keeps them all.
    pub fn top_k(&self, k: usize) -> Vec<&Contribution> {
        let mut raising: Vec<&Contribution> = self
            .contributions
            .iter()
            .filter(|c| c.contribution > 0.0)
            .collect();
        let mut lowering: Vec<&Contribution> = self
            .contributions
            .iter()
            .filter(|c| c.contribution < 0.0)
            .collect();
        raising.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
        lowering.sort_by(|a, b| a.contribution.total_cmp(&b.contribution));
        raising.truncate(k);
        lowering.truncate(k);
        raising.extend(lowering);
        raising
    }
}

/// A validated model, ready to score.
#[derive(Debug, Clone)]
pub struct ScoringModel {
    artifact: ModelArtifact,
    pipeline: FeaturePipeline,
    base_log_odds: f64,
    /// Per-leaf TreeSHAP tables of a gbdt estimator (built once at load).
    shap_tables: Option<crate::scoring::shap_tables::ShapTables>,
    /// Per source feature, the trees of a gbdt estimator that split on one
    /// of its design columns (built once at load, for [`Self::suggest`]).
    trees_by_feature: Vec<Vec<u32>>,
    /// A gbdt estimator laid out as complete trees for scoring (built once
    /// at load; `None` for trees deeper than
    /// [`crate::scoring::tree_blocks::MAX_COMPLETE_DEPTH`] or with
    /// zero-as-missing or categorical splits).
    complete: Option<crate::scoring::tree_blocks::CompleteForest>,
    /// The same in lanes of any depth, for gbdt estimators with deeper
    /// trees than `complete` holds.
    lanes: Option<crate::scoring::tree_blocks::LaneForest>,
    /// The flat layout, for gbdt estimators that neither can hold.
    flat: Option<crate::scoring::trees::FlatForest>,
    /// The artifact's event definition, compiled once at load.
    events: Option<CompiledEvents>,
    /// Per event feature (definition order): whether the model reads it as
    /// a boolean (an `ever` feature), found once at load.
    event_flags: Vec<bool>,
    /// Per event feature (definition order): the source feature it fills,
    /// `None` when the model does not read it. Window values go straight
    /// into these slots, so no feature name is copied per lead.
    event_slots: Vec<Option<usize>>,
    /// Per source feature: the event feature (definition order) that
    /// computes it, for its behaviour reason.
    window_of_spec: Vec<Option<usize>>,
    /// Source feature name → position, for the features a lead sends
    /// beside its events (empty for a model without events).
    spec_index: HashMap<String, usize>,
}

/// A lead as the model reads it: the features it sent and, when it sent
/// events, the window features they gave ([`ScoringModel::event_features`]),
/// by position: nothing is copied into the input per window.
#[derive(Debug, Clone, Copy)]
pub struct LeadFeatures<'a> {
    /// The features sent (named or dense).
    pub input: &'a LeadInput,
    /// The window features computed from the lead's events, if any.
    pub window: Option<&'a WindowValues>,
}

impl<'a> LeadFeatures<'a> {
    /// A lead that sent features only.
    pub fn sent(input: &'a LeadInput) -> Self {
        Self {
            input,
            window: None,
        }
    }
}

/// Why a [`ModelArtifact`] cannot be served: the first broken invariant.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// A `format_version` this build cannot read.
    #[error(
        "format_version {version} is not supported (this build reads {} to {})",
        OLDEST_FORMAT_VERSION,
        FORMAT_VERSION
    )]
    UnsupportedFormat {
        /// The artifact's version.
        version: u32,
    },
    /// An artifact without features.
    #[error("the model has no features")]
    NoFeatures,
    /// The stored event definition does not validate.
    #[error(transparent)]
    Events(#[from] EventDefinitionError),
    /// An event feature that is a model feature but not a number (or, for
    /// an `ever` feature, a boolean).
    #[error("events: feature '{feature}' is computed from events, so the model must read it as a number")]
    EventFeatureNotNumeric {
        /// The feature.
        feature: String,
    },
    /// A passthrough or codes feature under a logistic estimator.
    #[error("feature \"{feature}\": passthrough and code encodings need a gbdt estimator")]
    EncodingNeedsTrees {
        /// The feature.
        feature: String,
    },
    /// Unusable feature specs.
    #[error(transparent)]
    Features(#[from] PipelineError),
    /// The explanation baseline does not match the design width.
    #[error("explanation baseline must hold {width} finite design means, has {len}")]
    DesignMeans {
        /// Design width.
        width: usize,
        /// Number of stored means.
        len: usize,
    },
    /// Global importances that do not match the features.
    #[error("mean_abs_contributions must hold {expected} finite values >= 0, has {len}")]
    MeanAbsContributions {
        /// Number of features.
        expected: usize,
        /// Number of stored values.
        len: usize,
    },
    /// No score bands.
    #[error("no score bands")]
    NoBands,
    /// Bands out of order.
    #[error("bands must be ordered by decreasing min_probability (\"{first}\" then \"{second}\")")]
    BandOrder {
        /// The earlier band.
        first: String,
        /// The band after it.
        second: String,
    },
    /// A band without a name or with a threshold outside [0, 1).
    #[error("band \"{name}\" needs a name and min_probability in [0, 1)")]
    BadBand {
        /// The band's name.
        name: String,
    },
    /// The last band does not start at 0.
    #[error("the last band must have min_probability 0")]
    LastBandNotZero,
    /// Stage rules that do not fit the model.
    #[error(transparent)]
    Stages(#[from] StageError),
    /// A malformed account model.
    #[error("account_model: {0}")]
    AccountModel(#[source] AccountModelError),
    /// An account model using a feature the model does not have.
    #[error("account_model: unknown numeric feature {feature:?}")]
    UnknownAccountFeature {
        /// The unknown feature.
        feature: String,
    },
    /// An engagement threshold outside [0, 1].
    #[error("engagement: min_probability {min_probability} is not in [0, 1]")]
    Engagement {
        /// The stored threshold.
        min_probability: f64,
    },
    /// A malformed calibration.
    #[error("calibration: {0}")]
    Calibration(#[source] CalibrationError),
    /// A calibration in a version-1 artifact.
    #[error("format_version 1 artifacts cannot carry a calibration")]
    CalibrationNeedsVersion2,
    /// Logistic coefficients that do not match the design width.
    #[error("estimator has {len} coefficients but the features encode to {width} columns")]
    CoefficientCount {
        /// Number of coefficients.
        len: usize,
        /// Design width.
        width: usize,
    },
    /// A non-finite intercept or coefficient.
    #[error("estimator has a non-finite coefficient")]
    CoefficientNotFinite,
    /// Coefficients that could overflow the log-odds.
    #[error("coefficients and feature ranges allow non-finite log-odds (is a std near zero?)")]
    LogOddsUnbounded,
    /// A gbdt estimator in a version-1 artifact.
    #[error("gbdt estimators need format_version 2")]
    GbdtNeedsVersion2,
    /// A malformed gbdt estimator.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// The baseline log-odds overflow.
    #[error("the baseline log-odds are not finite")]
    BaselineNotFinite,
}

impl ScoringModel {
    /// Validates an artifact and builds the scoring model.
    ///
    /// # Errors
    /// A [`ModelError`] naming the broken invariant.
    pub fn from_artifact(mut artifact: ModelArtifact) -> Result<Self, ModelError> {
        // Window features whose reason is still their kind's default get
        // their behaviour reason, so artifacts written before the trainer
        // set them (and `ever` features read as numbers) explain in
        // behaviour too; a reason of the features' own is kept.
        if let Some(definition) = &artifact.events {
            definition.apply_reason_templates(&mut artifact.features);
        }
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&artifact.format_version) {
            return Err(ModelError::UnsupportedFormat {
                version: artifact.format_version,
            });
        }
        if artifact.features.is_empty() {
            return Err(ModelError::NoFeatures);
        }
        let pipeline = FeaturePipeline::new(artifact.features.clone())?;
        let width = pipeline.design_width();
        let means = &artifact.explanation.design_means;
        if means.len() != width || !means.iter().all(|m| m.is_finite()) {
            return Err(ModelError::DesignMeans {
                width,
                len: means.len(),
            });
        }
        let global = &artifact.explanation.mean_abs_contributions;
        if !global.is_empty()
            && (global.len() != pipeline.specs().len()
                || !global.iter().all(|m| m.is_finite() && *m >= 0.0))
        {
            return Err(ModelError::MeanAbsContributions {
                expected: pipeline.specs().len(),
                len: global.len(),
            });
        }
        validate_bands(&artifact.bands)?;
        validate_accounts_and_stages(&artifact)?;
        let events = match &artifact.events {
            Some(definition) => Some(compile_events(definition, &pipeline)?),
            None => None,
        };
        let event_flags = events.as_ref().map_or_else(Vec::new, |compiled| {
            compiled
                .feature_names()
                .iter()
                .map(|name| {
                    pipeline.specs().iter().any(|s| {
                        s.name == *name
                            && s.kind() == crate::scoring::features::FeatureKind::Boolean
                    })
                })
                .collect()
        });
        let event_slots: Vec<Option<usize>> = events.as_ref().map_or_else(Vec::new, |compiled| {
            compiled
                .feature_names()
                .iter()
                .map(|name| pipeline.specs().iter().position(|s| s.name == *name))
                .collect()
        });
        let mut window_of_spec = vec![None; pipeline.specs().len()];
        for (k, slot) in event_slots.iter().enumerate() {
            if let Some(w) = slot.and_then(|i| window_of_spec.get_mut(i)) {
                *w = Some(k);
            }
        }
        let spec_index = if events.is_some() {
            pipeline
                .specs()
                .iter()
                .enumerate()
                .map(|(i, s)| (s.name.clone(), i))
                .collect()
        } else {
            HashMap::new()
        };
        artifact
            .calibration
            .validate()
            .map_err(ModelError::Calibration)?;
        if artifact.format_version < 2 && artifact.calibration != Calibration::None {
            return Err(ModelError::CalibrationNeedsVersion2);
        }
        let base_log_odds = match &artifact.estimator {
            Estimator::Logistic {
                intercept,
                coefficients,
            } => {
                validate_logistic(&pipeline, *intercept, coefficients, means)?;
                intercept
                    + coefficients
                        .iter()
                        .zip(means)
                        .map(|(w, m)| w * m)
                        .sum::<f64>()
            }
            Estimator::Gbdt(model) => {
                if artifact.format_version < 2 {
                    return Err(ModelError::GbdtNeedsVersion2);
                }
                model.validate(width)?;
                model.expected_value()
            }
        };
        if !base_log_odds.is_finite() {
            return Err(ModelError::BaselineNotFinite);
        }
        let shap_tables = match &artifact.estimator {
            Estimator::Gbdt(model) => {
                let mut tables = crate::scoring::shap_tables::ShapTables::new(model);
                // The suggestion search reads reaches of the actionable
                // one-column features only.
                let mut wanted = vec![false; width];
                for (i, spec) in pipeline.specs().iter().enumerate() {
                    let columns = pipeline.columns_of(i);
                    if spec.is_actionable() && columns.len() == 1 {
                        if let Some(w) = wanted.get_mut(columns.start) {
                            *w = true;
                        }
                    }
                }
                tables.restrict_reaches(&wanted);
                Some(tables)
            }
            Estimator::Logistic { .. } => None,
        };
        let trees_by_feature = match &artifact.estimator {
            Estimator::Gbdt(model) => (0..pipeline.specs().len())
                .map(|i| model.trees_splitting_on(pipeline.columns_of(i)))
                .collect(),
            Estimator::Logistic { .. } => Vec::new(),
        };
        let complete = match &artifact.estimator {
            Estimator::Gbdt(model) => crate::scoring::tree_blocks::CompleteForest::new(model),
            Estimator::Logistic { .. } => None,
        };
        let lanes = match &artifact.estimator {
            Estimator::Gbdt(model) if complete.is_none() => {
                crate::scoring::tree_blocks::LaneForest::new(model)
            }
            _ => None,
        };
        let flat = match &artifact.estimator {
            Estimator::Gbdt(model) if complete.is_none() && lanes.is_none() => {
                crate::scoring::trees::FlatForest::new(model)
            }
            _ => None,
        };
        Ok(Self {
            artifact,
            pipeline,
            base_log_odds,
            shap_tables,
            trees_by_feature,
            complete,
            lanes,
            flat,
            events,
            event_flags,
            event_slots,
            window_of_spec,
            spec_index,
        })
    }

    /// The artifact this model was built from.
    pub fn artifact(&self) -> &ModelArtifact {
        &self.artifact
    }

    /// The model's event definition, compiled: the one path from a lead's
    /// raw events to its window features ([`CompiledEvents::compute`]);
    /// `None` when the model was not trained from events.
    pub fn events(&self) -> Option<&CompiledEvents> {
        self.events.as_ref()
    }

    /// Computes a lead's window features from its raw events as of `as_of`
    /// with [`CompiledEvents::compute`], the trainer's own function. The
    /// input is left as sent: score the lead with both through
    /// [`LeadFeatures`], which puts each value straight into its feature's
    /// slot (no name is copied per window).
    ///
    /// # Errors
    /// [`LeadEventsError::NoDefinition`] for a model not trained from
    /// events, [`LeadEventsError::DenseInput`] for dense input, and
    /// [`LeadEventsError::GivenTwice`] when a computed feature was also sent.
    pub fn event_features(
        &self,
        input: &LeadInput,
        events: &[RawEvent<'_>],
        as_of: Timestamp,
    ) -> Result<WindowValues, LeadEventsError> {
        let compiled = self.events.as_ref().ok_or(LeadEventsError::NoDefinition)?;
        let LeadInput::Named(map) = input else {
            return Err(LeadEventsError::DenseInput);
        };
        // Few features are sent beside events: look each up among the
        // computed ones, not every computed one among them.
        if let Some(name) = map.keys().find(|n| compiled.feature_index(n).is_some()) {
            return Err(LeadEventsError::GivenTwice(name.clone()));
        }
        let mut values = vec![0.0; compiled.width()];
        let summary = compiled.compute(events, as_of, &mut values);
        Ok(WindowValues { values, summary })
    }

    /// Adds a lead's window features to its named input by name (as
    /// numbers, or as flags for an `ever` feature the model reads as a
    /// boolean), for readers that look features up by name in the input
    /// alone, such as the account roll-up. This copies each feature's name;
    /// scoring itself does not need it ([`LeadFeatures`]).
    pub fn insert_event_features(&self, input: &mut LeadInput, window: &WindowValues) {
        let (Some(compiled), LeadInput::Named(map)) = (self.events.as_ref(), input) else {
            return;
        };
        map.reserve(window.values.len());
        for ((name, &value), &is_flag) in compiled
            .feature_names()
            .iter()
            .zip(&window.values)
            .zip(&self.event_flags)
        {
            // No value (days since the last visit of a lead that never
            // visited): absent, so the pipeline imputes it as the trainer did.
            if !value.is_finite() {
                continue;
            }
            map.insert(name.clone(), window_raw_value(value, is_flag));
        }
    }

    /// Encodes a lead: its input alone through the pipeline, or, with
    /// window values, the input's named features and each window value in
    /// its feature's slot through the pipeline's one row encoder (what
    /// encoding the input with the values added by name gives, bit for bit).
    fn encode_lead(
        &self,
        lead: LeadFeatures<'_>,
        shown: bool,
    ) -> Result<EncodedLead, FeatureError> {
        let (Some(window), LeadInput::Named(map)) = (lead.window, lead.input) else {
            return if shown {
                self.pipeline.encode(lead.input)
            } else {
                self.pipeline.encode_for_scoring(lead.input)
            };
        };
        let computed: Vec<RawValue> = window
            .values
            .iter()
            .zip(&self.event_flags)
            .map(|(&v, &is_flag)| window_raw_value(v, is_flag))
            .collect();
        let mut row: Vec<Option<&RawValue>> = vec![None; self.pipeline.specs().len()];
        for (name, value) in map {
            let i = *self
                .spec_index
                .get(name)
                .ok_or_else(|| FeatureError::UnknownFeature { name: name.clone() })?;
            row[i] = Some(value);
        }
        for ((value, raw), slot) in window.values.iter().zip(&computed).zip(&self.event_slots) {
            // No value: left out, so the pipeline imputes it as the trainer did.
            if let (true, Some(i)) = (value.is_finite(), *slot) {
                row[i] = Some(raw);
            }
        }
        if shown {
            self.pipeline.encode_values(&row)
        } else {
            self.pipeline.encode_design(&row)
        }
    }

    /// A behaviour reason of source feature `i` for its used value: a
    /// window feature's value rounded as [`Aggregate::reason_value`] says
    /// ("no page view for 45 days", not 44.62349537037037), and an `ever`
    /// feature read as a number with its own template says "has done …" or
    /// "never did …"; any other feature's reason as its spec renders it.
    fn reason_text(&self, i: usize, used: &UsedValue) -> String {
        let spec = &self.pipeline.specs()[i];
        let aggregate = self
            .window_of_spec
            .get(i)
            .copied()
            .flatten()
            .and_then(|k| self.artifact.events.as_ref()?.features.get(k))
            .map(|f| &f.aggregate);
        match (aggregate, used) {
            (Some(aggregate), UsedValue::Number(x)) if x.is_finite() => {
                if *x == 0.0 && spec.reason == aggregate.reason_template() {
                    if let Some(never) = aggregate.reason_when_false() {
                        return never;
                    }
                }
                spec.render_reason(&UsedValue::Number(aggregate.reason_value(*x)))
            }
            _ => spec.render_reason(used),
        }
    }

    /// The model's feature pipeline.
    pub fn pipeline(&self) -> &FeaturePipeline {
        &self.pipeline
    }

    /// Log-odds of the average training lead: `E[x]`'s log-odds for a
    /// logistic model, the cover-weighted expected margin for trees.
    pub fn base_log_odds(&self) -> f64 {
        self.base_log_odds
    }

    /// The estimator's log-odds (before calibration) of an encoded design row.
    pub fn log_odds(&self, design: &[f64]) -> f64 {
        if let Some(margin) = self.complete.as_ref().and_then(|c| c.margin(design)) {
            return margin;
        }
        if let Some(margin) = self.lanes.as_ref().and_then(|l| l.margin(design)) {
            return margin;
        }
        match (&self.artifact.estimator, &self.flat) {
            (Estimator::Gbdt(_), Some(flat)) => flat.margin(design),
            (estimator, _) => estimator.log_odds(design),
        }
    }

    /// The estimator's log-odds of design rows (`width` columns each,
    /// row-major) into `out`, one per row: [`Self::log_odds`] of each row,
    /// bit for bit, trees walked a block of rows at a time.
    pub fn log_odds_rows(&self, design: &[f64], width: usize, out: &mut [f64]) {
        if let Some(complete) = &self.complete {
            if complete.margins(design, width, out) {
                return;
            }
        }
        if let Some(lanes) = &self.lanes {
            if lanes.margins(design, width, out) {
                return;
            }
        }
        if width == 0 {
            out.fill(self.log_odds(&[]));
            return;
        }
        for (row, slot) in design.chunks_exact(width).zip(out.iter_mut()) {
            *slot = self.log_odds(row);
        }
    }

    /// The served (calibrated) probability for the estimator's log-odds.
    pub fn probability(&self, log_odds: f64) -> f64 {
        self.artifact.calibration.apply(log_odds)
    }

    /// Scores one lead.
    ///
    /// # Errors
    /// [`FeatureError`] when the input does not fit the schema.
    pub fn score(&self, input: &LeadInput) -> Result<LeadScore, FeatureError> {
        self.score_lead(LeadFeatures::sent(input))
    }

    /// Scores one lead with the window features of its events.
    ///
    /// # Errors
    /// [`FeatureError`] when the input does not fit the schema.
    pub fn score_lead(&self, lead: LeadFeatures<'_>) -> Result<LeadScore, FeatureError> {
        // Scoring needs no display strings; only explanations show values.
        let encoded = self.encode_lead(lead, false)?;
        Ok(self.score_encoded(encoded))
    }

    fn score_encoded(&self, encoded: EncodedLead) -> LeadScore {
        let log_odds = self.log_odds(&encoded.design);
        self.score_encoded_with(encoded, log_odds)
    }

    fn score_encoded_with(&self, encoded: EncodedLead, log_odds: f64) -> LeadScore {
        let probability = self.probability(log_odds);
        LeadScore {
            probability,
            score: display_score(probability),
            band: self.band_of(probability).to_string(),
            log_odds,
            warnings: encoded.warnings,
            fallbacks: encoded.fallbacks,
        }
    }

    /// Each source feature's exact contribution to an encoded row's log-odds,
    /// in schema order: `w · (x − E[x])` summed over the feature's design
    /// columns for a logistic model, path-dependent TreeSHAP values summed the
    /// same way for trees. They add up with [`Self::base_log_odds`] to
    /// [`Self::log_odds`].
    pub fn contributions(&self, design: &[f64]) -> Vec<f64> {
        self.contributions_with(design, None, None)
    }

    fn contributions_with(
        &self,
        design: &[f64],
        followed: Option<&[u16]>,
        reaches: Option<&mut Reaches>,
    ) -> Vec<f64> {
        let per_column = self.design_contributions_with(design, followed, reaches);
        (0..self.pipeline.specs().len())
            .map(|i| self.pipeline.columns_of(i).map(|c| per_column[c]).sum())
            .collect()
    }

    /// Each design column's exact contribution to an encoded row's log-odds
    /// (what SHAP's linear explainer with an interventional background, or
    /// its tree explainer with `tree_path_dependent` perturbation, computes
    /// per input column): `w · (x − E[x])` for a logistic model, TreeSHAP
    /// values for trees. [`Self::contributions`] sums them per source feature.
    pub fn design_contributions(&self, design: &[f64]) -> Vec<f64> {
        self.design_contributions_with(design, None, None)
    }

    /// [`Self::design_contributions`] of design rows (`width` columns each,
    /// row-major) into `out` (the same shape, overwritten): bit for bit the
    /// per-row values, a gbdt's TreeSHAP tables read for several rows at a
    /// time ([`crate::scoring::shap_tables::ShapTables::tree_shap_rows`]).
    pub fn design_contributions_rows(&self, design: &[f64], width: usize, out: &mut [f64]) {
        out.fill(0.0);
        if let (Estimator::Gbdt(model), Some(tables)) =
            (&self.artifact.estimator, &self.shap_tables)
        {
            if width > 0 && design.len() == out.len() && design.len().is_multiple_of(width) {
                tables.tree_shap_rows(model, design, width, out);
                return;
            }
        }
        if width == 0 {
            return;
        }
        for (row, slot) in design.chunks_exact(width).zip(out.chunks_exact_mut(width)) {
            slot.copy_from_slice(&self.design_contributions(row));
        }
    }

    /// [`Self::design_contributions`], reusing the split pass when given
    /// and collecting the suggestion's reaches in the same pass.
    fn design_contributions_with(
        &self,
        design: &[f64],
        followed: Option<&[u16]>,
        reaches: Option<&mut Reaches>,
    ) -> Vec<f64> {
        match &self.artifact.estimator {
            Estimator::Logistic { coefficients, .. } => coefficients
                .iter()
                .zip(design)
                .zip(&self.artifact.explanation.design_means)
                .map(|((w, x), m)| w * (x - m))
                .collect(),
            Estimator::Gbdt(model) => {
                let mut phi = vec![0.0; design.len()];
                match (&self.shap_tables, followed) {
                    (Some(tables), Some(followed)) => {
                        tables.tree_shap_followed(model, design, followed, &mut phi, reaches)
                    }
                    (Some(tables), None) => tables.tree_shap(model, design, &mut phi),
                    (None, _) => model.tree_shap(design, &mut phi),
                }
                phi
            }
        }
    }

    /// The per-row split pass of the TreeSHAP tables of a gbdt estimator
    /// (see [`crate::scoring::shap_tables::ShapTables::followed`]), shared by the
    /// contributions and the suggestion of one explanation.
    fn followed(&self, design: &[f64]) -> Option<Vec<u16>> {
        let tables = self.shap_tables.as_ref()?;
        let mut followed = Vec::new();
        tables.followed(design, &mut followed);
        Some(followed)
    }

    /// Scores and explains one lead: exact contributions (see
    /// [`Self::contributions`]), sorted by |contribution|, largest first.
    ///
    /// # Errors
    /// [`FeatureError`] when the input does not fit the schema.
    pub fn explain(&self, input: &LeadInput) -> Result<LeadExplanation, FeatureError> {
        self.explain_lead(LeadFeatures::sent(input))
    }

    /// Scores and explains one lead with the window features of its events.
    ///
    /// # Errors
    /// [`FeatureError`] when the input does not fit the schema.
    pub fn explain_lead(&self, lead: LeadFeatures<'_>) -> Result<LeadExplanation, FeatureError> {
        thread_local! {
            static SCRATCH: std::cell::RefCell<ExplainScratch> =
                std::cell::RefCell::new(ExplainScratch::default());
        }
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.explain_with(lead, &mut scratch),
            Err(_) => self.explain_with(lead, &mut ExplainScratch::default()),
        })
    }

    /// [`Self::explain`] with per-thread buffers that keep their capacity
    /// from one lead to the next.
    fn explain_with(
        &self,
        lead: LeadFeatures<'_>,
        scratch: &mut ExplainScratch,
    ) -> Result<LeadExplanation, FeatureError> {
        let mut encoded = self.encode_lead(lead, true)?;
        let shown = std::mem::take(&mut encoded.shown_values);
        let used = std::mem::take(&mut encoded.used_values);
        let ExplainScratch { followed, reaches } = scratch;
        let tables = self.shap_tables.as_ref();
        if let Some(tables) = tables {
            tables.followed(&encoded.design, followed);
        }
        let (followed, mut reaches) = match tables {
            Some(_) => (Some(followed.as_slice()), Some(reaches)),
            None => (None, None),
        };
        let mut contributions: Vec<Contribution> = self
            .contributions_with(&encoded.design, followed, reaches.as_deref_mut())
            .into_iter()
            .zip(shown)
            .zip(&used)
            .enumerate()
            .map(
                |(feature_index, ((contribution, value), used))| Contribution {
                    feature_index,
                    contribution,
                    value,
                    reason: self.reason_text(feature_index, used),
                },
            )
            .collect();
        contributions.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
        let log_odds = self.log_odds(&encoded.design);
        let suggestion = self.suggest_with(&encoded.design, &used, log_odds, reaches.as_deref());
        let score = self.score_encoded_with(encoded, log_odds);
        Ok(LeadExplanation {
            score,
            base_log_odds: self.base_log_odds,
            contributions,
            suggestion,
        })
    }

    /// "What would raise this score most": over the actionable features, the
    /// single change of one feature's value that gives the highest calibrated
    /// probability above the current one, or `None` when no change raises it.
    ///
    /// Candidates stay within what training saw: for a number its training
    /// min, median, max, deciles and bin edges; for a boolean the other
    /// value; for an actionable categorical every training level (not
    /// `(missing)` or `(other)`). The changed feature's design columns are
    /// rewritten by the pipeline's own [`FeaturePipeline::write_columns`];
    /// candidates are ranked by the change of the log-odds over only what
    /// the feature touches (its coefficients, or the trees that split on its
    /// columns, each walked once for all candidates), and the winner is
    /// re-scored exactly: the whole row through the estimator and the
    /// calibration, as a lead sent with that value would be.
    pub fn suggest(&self, design: &[f64], used: &[UsedValue]) -> Option<Suggestion> {
        let reaches = self.followed(design).and_then(|followed| {
            let tables = self.shap_tables.as_ref()?;
            let mut reaches = Reaches::default();
            tables.reached_leaves(&followed, &mut reaches);
            Some(reaches)
        });
        self.suggest_with(design, used, self.log_odds(design), reaches.as_ref())
    }

    /// [`Self::suggest`], reusing the split pass when given.
    fn suggest_with(
        &self,
        design: &[f64],
        used: &[UsedValue],
        now_log_odds: f64,
        reaches: Option<&Reaches>,
    ) -> Option<Suggestion> {
        // The leaves each tabulated tree sends the row to when one column
        // changes (a few thousand; each feature filters its column's).
        let current = self.probability(now_log_odds);
        let mut row = design.to_vec();
        let mut best: Option<(usize, UsedValue, f64)> = None;
        let mut candidates = Vec::new();
        let mut values = Vec::new();
        let mut deltas = Vec::new();
        for (i, spec) in self.pipeline.specs().iter().enumerate() {
            let Some(now) = used.get(i) else { break };
            if !spec.is_actionable() {
                continue;
            }
            candidates.clear();
            candidate_values(spec, now, &mut candidates);
            // The candidates' values of the feature's design columns, as the
            // pipeline writes them for a lead sent with that value.
            let columns = self.pipeline.columns_of(i);
            values.clear();
            for candidate in &candidates {
                self.pipeline.write_columns(i, candidate, &mut row);
                values.extend_from_slice(&row[columns.clone()]);
            }
            self.pipeline.write_columns(i, now, &mut row);
            deltas.clear();
            deltas.resize(candidates.len(), 0.0);
            self.log_odds_deltas(i, design, &values, reaches, &mut deltas);
            for (candidate, delta) in candidates.iter().zip(&deltas) {
                let p = self.probability(now_log_odds + delta);
                if p > current && best.as_ref().is_none_or(|b| p > b.2) {
                    best = Some((i, candidate.clone(), p));
                }
            }
        }
        let (feature_index, to, _) = best?;
        // Re-score the winner exactly as a lead sent with that value.
        self.pipeline.write_columns(feature_index, &to, &mut row);
        let new_log_odds = self.log_odds(&row);
        let new_probability = self.probability(new_log_odds);
        if new_probability <= current {
            return None;
        }
        let spec = &self.pipeline.specs()[feature_index];
        Some(Suggestion {
            feature_index,
            from_value: used
                .get(feature_index)
                .map(|v| spec.value_text(v))
                .unwrap_or_default(),
            to_value: spec.value_text(&to),
            reason: self.reason_text(feature_index, &to),
            new_log_odds,
            new_probability,
        })
    }

    /// How the log-odds of `design` change when feature `i`'s design columns
    /// take each candidate's values (`values`: one run of the feature's
    /// width per candidate): `deltas[k]` gains candidate `k`'s change. Only
    /// what the feature touches is recomputed: its coefficients for a
    /// logistic model, the trees that split on its columns for a gbdt.
    fn log_odds_deltas(
        &self,
        i: usize,
        design: &[f64],
        values: &[f64],
        reaches: Option<&Reaches>,
        deltas: &mut [f64],
    ) {
        let columns = self.pipeline.columns_of(i);
        let width = columns.len();
        if width == 0 {
            return;
        }
        match &self.artifact.estimator {
            Estimator::Logistic { coefficients, .. } => {
                let (Some(w), Some(x)) = (
                    coefficients.get(columns.clone()),
                    design.get(columns.clone()),
                ) else {
                    return;
                };
                for (delta, candidate) in deltas.iter_mut().zip(values.chunks_exact(width)) {
                    *delta += w
                        .iter()
                        .zip(candidate.iter().zip(x))
                        .map(|(w, (new, old))| w * (new - old))
                        .sum::<f64>();
                }
            }
            Estimator::Gbdt(model) => {
                let trees = self.trees_by_feature.get(i).map_or(&[][..], Vec::as_slice);
                let (Some(tables), Some(reaches), 1) = (self.shap_tables.as_ref(), reaches, width)
                else {
                    model.candidate_margin_deltas(trees, design, columns, values, deltas);
                    return;
                };
                // One column, tabulated trees: from the leaves the row
                // reaches when only this column changes.
                let column = columns.start as u32;
                let count = deltas.len().min(values.len());
                let (deltas, values) = (&mut deltas[..count], &values[..count]);
                let reaches = reaches.of(column);
                let now: f64 = reaches.iter().filter(|r| r.current).map(|r| r.value).sum();
                // Reach by reach, every candidate at once: independent sums
                // and no branch (a 0/1 factor; leaf values are finite).
                let mut reached = vec![0.0; count];
                for r in reaches {
                    for (sum, &v) in reached.iter_mut().zip(values) {
                        *sum += r.value * f64::from(u8::from((r.lo < v) & (v <= r.hi)));
                    }
                }
                for (delta, sum) in deltas.iter_mut().zip(reached) {
                    *delta += sum - now;
                }
                // The trees left out of the tables, walked.
                if !tables.fallback().is_empty() {
                    let untabulated: Vec<u32> = trees
                        .iter()
                        .copied()
                        .filter(|t| tables.fallback().contains(&(*t as usize)))
                        .collect();
                    model.candidate_margin_deltas(&untabulated, design, columns, values, deltas);
                }
            }
        }
    }

    /// Band of a probability.
    pub fn band_of(&self, probability: f64) -> &str {
        self.artifact
            .bands
            .iter()
            .find(|b| probability >= b.min_probability)
            .or(self.artifact.bands.last())
            .map(|b| b.name.as_str())
            .unwrap_or("")
    }

    /// The lowest probability of the warm band (the second band, highest
    /// first), or of the only band: where an engaged contact starts when the
    /// artifact has no [`EngagementRule`].
    pub fn warm_min_probability(&self) -> f64 {
        let bands = &self.artifact.bands;
        bands
            .iter()
            .find(|b| b.name == "warm")
            .or_else(|| bands.get(bands.len().saturating_sub(2)))
            .map_or(0.5, |b| b.min_probability)
    }

    /// The engagement rule of this model: the artifact's, else engaged from
    /// the warm band.
    pub fn engagement_rule(&self) -> EngagementRule {
        self.artifact
            .engagement
            .unwrap_or_else(|| EngagementRule::from_warm_band(self.warm_min_probability()))
    }

    /// A lead's value of a source feature as sent (not imputed): `None` when
    /// missing. Named: the map's value; Dense: value `i` of feature `i`,
    /// categorical indices as their labels (the missing level as missing),
    /// booleans as flags.
    pub fn value_as_sent<'a>(
        &'a self,
        input: &'a LeadInput,
        name: &str,
    ) -> Option<FeatureValueRef<'a>> {
        match input {
            LeadInput::Named(map) => map.get(name).map(|v| match v {
                crate::scoring::features::RawValue::Number(x) => FeatureValueRef::Number(*x),
                crate::scoring::features::RawValue::Category(text) => FeatureValueRef::Text(text),
                crate::scoring::features::RawValue::Flag(b) => FeatureValueRef::Bool(*b),
            }),
            LeadInput::Dense(values) => {
                let index = self.pipeline.specs().iter().position(|s| s.name == name)?;
                let x = *values.get(index)?;
                if x.is_nan() {
                    return None;
                }
                match &self.pipeline.specs()[index].encoding {
                    FeatureEncoding::Numeric { .. } | FeatureEncoding::Passthrough {} => {
                        Some(FeatureValueRef::Number(x))
                    }
                    FeatureEncoding::Boolean { .. } => Some(FeatureValueRef::Bool(x != 0.0)),
                    FeatureEncoding::Categorical { categories }
                    | FeatureEncoding::Codes { levels: categories } => {
                        if x < 0.0 || x.fract() != 0.0 {
                            return None;
                        }
                        let label = categories.get(x as usize)?;
                        (label != MISSING).then_some(FeatureValueRef::Text(label.as_str()))
                    }
                }
            }
        }
    }

    /// The lead's lifecycle stage under the model's rules, or `None` when the
    /// model has no stage rules. Values are taken as sent (see
    /// [`Self::value_as_sent`]); `account.*` features come from `account`
    /// and are missing without it.
    pub fn stage_of(&self, input: &LeadInput, account: Option<&AccountFeatures>) -> Option<Stage> {
        self.stage_of_lead(LeadFeatures::sent(input), account)
    }

    /// [`Self::stage_of`] for a lead with the window features of its
    /// events (a window feature without a value is missing).
    pub fn stage_of_lead(
        &self,
        lead: LeadFeatures<'_>,
        account: Option<&AccountFeatures>,
    ) -> Option<Stage> {
        let rules = &self.artifact.stages;
        if rules.rules().is_empty() {
            return None;
        }
        let lookup = |name: &str| -> Option<FeatureValueRef<'_>> {
            match name {
                ACCOUNT_ENGAGED_CONTACTS => {
                    account.map(|a| FeatureValueRef::Number(a.engaged_contacts as f64))
                }
                ACCOUNT_CONTACTS => account.map(|a| FeatureValueRef::Number(a.contacts as f64)),
                _ => self.lead_value(lead, name),
            }
        };
        Some(rules.stage_of(&lookup))
    }

    /// A lead's value of the feature `name` as the caller gave it: a window
    /// feature from the lead's events (read in its slot, no name copied),
    /// else [`ScoringModel::value_as_sent`]. `None` when absent or missing.
    pub fn lead_value<'a>(
        &'a self,
        lead: LeadFeatures<'a>,
        name: &str,
    ) -> Option<FeatureValueRef<'a>> {
        match (lead.window, self.events.as_ref()) {
            (Some(window), Some(compiled)) if compiled.feature_index(name).is_some() => {
                let k = compiled.feature_index(name)?;
                let value = *window.values.get(k)?;
                if !value.is_finite() {
                    None
                } else if self.event_flags.get(k).copied().unwrap_or(false) {
                    Some(FeatureValueRef::Bool(value != 0.0))
                } else {
                    Some(FeatureValueRef::Number(value))
                }
            }
            _ => self.value_as_sent(lead.input, name),
        }
    }
}

/// A window value as the pipeline reads it: a flag for an `ever` feature
/// the model reads as a boolean, else the number.
fn window_raw_value(value: f64, is_flag: bool) -> RawValue {
    if is_flag {
        RawValue::Flag(value != 0.0)
    } else {
        RawValue::Number(value)
    }
}

/// Stage rules must name model features (or `account.*`); an account model
/// must be well-formed and use numeric model features; an engagement rule
/// must have a probability in [0, 1].
/// Validates a stored event definition against the model's features and
/// compiles it: every event feature the model reads must be a number.
fn compile_events(
    definition: &EventDefinition,
    pipeline: &FeaturePipeline,
) -> Result<CompiledEvents, ModelError> {
    definition.validate()?;
    for feature in &definition.features {
        if let Some(spec) = pipeline.specs().iter().find(|s| s.name == feature.name) {
            let number = matches!(
                spec.encoding,
                crate::scoring::features::FeatureEncoding::Numeric { .. }
                    | crate::scoring::features::FeatureEncoding::Passthrough {}
            );
            let flag = matches!(
                spec.encoding,
                crate::scoring::features::FeatureEncoding::Boolean { .. }
            ) && matches!(feature.aggregate, Aggregate::Ever { .. });
            if !number && !flag {
                return Err(ModelError::EventFeatureNotNumeric {
                    feature: feature.name.clone(),
                });
            }
        }
    }
    Ok(definition.compile())
}

fn validate_accounts_and_stages(artifact: &ModelArtifact) -> Result<(), ModelError> {
    let names: Vec<&str> = artifact.features.iter().map(|f| f.name.as_str()).collect();
    artifact.stages.validate(&names)?;
    if let Some(model) = &artifact.account_model {
        model.validate().map_err(ModelError::AccountModel)?;
        if let Some(unknown) = model
            .numeric_features
            .iter()
            .find(|f| !names.contains(&f.as_str()))
        {
            return Err(ModelError::UnknownAccountFeature {
                feature: unknown.clone(),
            });
        }
    }
    if let Some(rule) = &artifact.engagement {
        if !(0.0..=1.0).contains(&rule.min_probability) {
            return Err(ModelError::Engagement {
                min_probability: rule.min_probability,
            });
        }
    }
    Ok(())
}

/// Buffers of one explanation, kept per thread (see
/// [`ScoringModel::explain`]).
#[derive(Default)]
struct ExplainScratch {
    /// The split pass of the TreeSHAP tables.
    followed: Vec<u16>,
    reaches: Reaches,
}

/// The values the suggestion search tries for one feature, other than `now`.
fn candidate_values(spec: &FeatureSpec, now: &UsedValue, out: &mut Vec<UsedValue>) {
    match (&spec.encoding, now) {
        (
            FeatureEncoding::Numeric {
                median,
                min,
                max,
                bin_edges,
                ..
            },
            UsedValue::Number(x),
        ) => {
            let mut values: Vec<f64> = [*min, *median, *max]
                .into_iter()
                .chain(spec.quantiles.iter().copied())
                .chain(bin_edges.iter().copied())
                .filter(|v| v.is_finite())
                .map(|v| v.clamp(*min, *max))
                .collect();
            values.sort_by(f64::total_cmp);
            values.dedup();
            out.extend(values.into_iter().filter(|v| v != x).map(UsedValue::Number));
        }
        (FeatureEncoding::Boolean { .. }, UsedValue::Flag(b)) => out.push(UsedValue::Flag(!b)),
        (FeatureEncoding::Categorical { categories }, UsedValue::Level(k)) => out.extend(
            categories
                .iter()
                .enumerate()
                .filter(|(j, c)| j != k && c.as_str() != MISSING && c.as_str() != OTHER)
                .map(|(j, _)| UsedValue::Level(j)),
        ),
        _ => {}
    }
}

/// Checks a logistic estimator against the pipeline: one finite coefficient
/// per design column, and no input able to push the log-odds (or a
/// contribution) past f64's range. Inputs are clipped to the training range,
/// so every design value is bounded; a tiny `std` could still blow it up.
fn validate_logistic(
    pipeline: &FeaturePipeline,
    intercept: f64,
    coefficients: &[f64],
    means: &[f64],
) -> Result<(), ModelError> {
    let width = pipeline.design_width();
    if coefficients.len() != width {
        return Err(ModelError::CoefficientCount {
            len: coefficients.len(),
            width,
        });
    }
    if !intercept.is_finite() || !coefficients.iter().all(|c| c.is_finite()) {
        return Err(ModelError::CoefficientNotFinite);
    }
    let mut bound = intercept.abs();
    for (i, spec) in pipeline.specs().iter().enumerate() {
        let linear_max = match &spec.encoding {
            crate::scoring::features::FeatureEncoding::Numeric {
                mean,
                std,
                min,
                max,
                ..
            } => (min - mean).abs().max((max - mean).abs()) / std,
            crate::scoring::features::FeatureEncoding::Passthrough {}
            | crate::scoring::features::FeatureEncoding::Codes { .. } => {
                return Err(ModelError::EncodingNeedsTrees {
                    feature: spec.name.clone(),
                })
            }
            _ => 1.0,
        };
        for (k, c) in pipeline.columns_of(i).enumerate() {
            let x_max = if k == 0 { linear_max } else { 1.0 };
            bound += coefficients[c].abs() * (x_max + means[c].abs());
        }
    }
    if !bound.is_finite() || bound > 1e300 {
        return Err(ModelError::LogOddsUnbounded);
    }
    Ok(())
}

fn validate_bands(bands: &[ScoreBand]) -> Result<(), ModelError> {
    if bands.is_empty() {
        return Err(ModelError::NoBands);
    }
    for pair in bands.windows(2) {
        if pair[0].min_probability <= pair[1].min_probability {
            return Err(ModelError::BandOrder {
                first: pair[0].name.clone(),
                second: pair[1].name.clone(),
            });
        }
    }
    for band in bands {
        if band.name.is_empty() || !(0.0..1.0).contains(&band.min_probability) {
            return Err(ModelError::BadBand {
                name: band.name.clone(),
            });
        }
    }
    if bands.last().map(|b| b.min_probability) != Some(0.0) {
        return Err(ModelError::LastBandNotZero);
    }
    Ok(())
}

/// Display score 1..=99: `round(100 · p)`, clamped.
pub fn display_score(p: f64) -> u32 {
    ((p * 100.0).round() as i64).clamp(1, 99) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_score_is_clamped() {
        assert_eq!(display_score(0.0001), 1);
        assert_eq!(display_score(0.424), 42);
        assert_eq!(display_score(0.999), 99);
    }

    #[test]
    fn probability_stays_open() {
        for z in [-1e6, -800.0, -40.0, 0.0, 40.0, 800.0, 1e6] {
            let p = crate::scoring::math::sigmoid(z);
            assert!(p > 0.0 && p < 1.0, "z={z} p={p}");
        }
        assert!((crate::scoring::math::sigmoid(0.0) - 0.5).abs() < 1e-15);
    }

    /// The suggestion by brute force: every candidate's whole row re-scored.
    fn brute_force_suggestion(model: &ScoringModel, input: &LeadInput) -> Option<(usize, f64)> {
        let encoded = model.pipeline().encode(input).expect("encodes");
        let current = model.probability(model.log_odds(&encoded.design));
        let mut best: Option<(usize, f64)> = None;
        let mut row = encoded.design.clone();
        for (i, spec) in model.pipeline().specs().iter().enumerate() {
            if !spec.is_actionable() {
                continue;
            }
            let mut candidates = Vec::new();
            candidate_values(spec, &encoded.used_values[i], &mut candidates);
            for c in &candidates {
                model.pipeline().write_columns(i, c, &mut row);
                let p = model.probability(model.log_odds(&row));
                if p > current && best.is_none_or(|b| p > b.1) {
                    best = Some((i, p));
                }
            }
            model
                .pipeline()
                .write_columns(i, &encoded.used_values[i], &mut row);
        }
        best
    }

    #[test]
    fn event_definitions_are_checked_against_the_features_at_load() {
        use crate::scoring::events::{Aggregate, EventDefinition, WindowFeature};
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(root.join("models/x_education/3/model.json")).expect("read");
        let artifact: ModelArtifact = serde_json::from_slice(&bytes).expect("artifact");
        let with = |name: &str, event: &str| {
            let mut a = artifact.clone();
            a.events = Some(EventDefinition {
                event_types: vec!["page_view".into()],
                features: vec![WindowFeature {
                    name: name.into(),
                    aggregate: Aggregate::Count {
                        event: event.into(),
                        days: 30,
                    },
                }],
            });
            ScoringModel::from_artifact(a)
        };
        // A categorical model feature cannot be computed from events.
        assert!(matches!(
            with("lead_origin", "page_view"),
            Err(ModelError::EventFeatureNotNumeric { .. })
        ));
        // An unknown event type in the definition.
        assert!(matches!(
            with("total_visits", "visit"),
            Err(ModelError::Events(_))
        ));
        // A numeric one loads, and then computes from events.
        let model = with("total_visits", "page_view").expect("loads");
        let day = |d: u32| crate::scoring::time::Timestamp::from_date(2026, 5, d);
        let events = [day(10), day(20), day(28)].map(|at| RawEvent {
            event_type: "page_view",
            at,
            value: None,
        });
        let mut input = LeadInput::Named(Default::default());
        let computed = model
            .event_features(&input, &events, day(21))
            .expect("computes");
        assert_eq!(computed.values, vec![2.0]);
        assert_eq!(
            computed.named(model.events().expect("events")),
            vec![("total_visits".to_string(), 2.0)]
        );
        assert_eq!(computed.summary.after_as_of, 1);
        // Scoring with the window values in their slots is scoring the
        // input with them added by name, bit for bit.
        let lead = LeadFeatures {
            input: &input,
            window: Some(&computed),
        };
        let by_slot = model.explain_lead(lead).expect("explains");
        assert!(model.score_lead(lead).is_ok());
        model.insert_event_features(&mut input, &computed);
        let by_name = model.explain(&input).expect("explains");
        assert_eq!(
            by_slot.score.log_odds.to_bits(),
            by_name.score.log_odds.to_bits()
        );
        assert_eq!(by_slot.contributions, by_name.contributions);
        assert_eq!(
            model.event_features(&input, &events, day(21)),
            Err(LeadEventsError::GivenTwice("total_visits".into()))
        );
        assert_eq!(
            model.event_features(&LeadInput::Dense(vec![]), &events, day(21)),
            Err(LeadEventsError::DenseInput)
        );
        let plain = ScoringModel::from_artifact(artifact.clone()).expect("loads");
        assert_eq!(
            plain.event_features(&LeadInput::Named(Default::default()), &events, day(21)),
            Err(LeadEventsError::NoDefinition)
        );
    }

    #[test]
    fn suggestion_equals_brute_force_search_on_trees_and_logistic() {
        use rand::{Rng, SeedableRng};
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut checked = 0;
        for path in [
            "models/x_education/2/model.json",
            "models/x_education/1/model.json",
            "tests/data/shap/gbdt.json",
            "tests/data/shap/logistic.json",
        ] {
            let bytes = std::fs::read(root.join(path)).expect("read model");
            let artifact: ModelArtifact = serde_json::from_slice(&bytes).expect("artifact");
            let model = ScoringModel::from_artifact(artifact).expect("valid");
            for _ in 0..40 {
                let values = model
                    .pipeline()
                    .specs()
                    .iter()
                    .map(|spec| match &spec.encoding {
                        FeatureEncoding::Numeric { min, max, .. } => {
                            min + (max - min) * rng.gen::<f64>()
                        }
                        FeatureEncoding::Boolean { .. } => f64::from(rng.gen_range(0..2u8)),
                        FeatureEncoding::Categorical { categories }
                        | FeatureEncoding::Codes { levels: categories } => {
                            rng.gen_range(0..categories.len()) as f64
                        }
                        FeatureEncoding::Passthrough {} => rng.gen::<f64>(),
                    })
                    .collect();
                let input = LeadInput::Dense(values);
                let encoded = model.pipeline().encode(&input).expect("encodes");
                let got = model.suggest(&encoded.design, &encoded.used_values);
                let expected = brute_force_suggestion(&model, &input);
                // Explain's suggestion (reaches collected in the TreeSHAP
                // pass) is the standalone one.
                let explained = model.explain(&input).expect("explains").suggestion;
                assert_eq!(
                    explained
                        .as_ref()
                        .map(|s| (s.feature_index, s.new_probability)),
                    got.as_ref().map(|s| (s.feature_index, s.new_probability)),
                    "{path}"
                );
                match (got, expected) {
                    (None, None) => {}
                    (Some(g), Some((i, p))) => {
                        assert_eq!(g.feature_index, i, "{path}");
                        assert!((g.new_probability - p).abs() < 1e-12, "{path}");
                        checked += 1;
                    }
                    (g, e) => panic!("{path}: fast {g:?}, brute force {e:?}"),
                }
            }
        }
        assert!(checked > 40, "only {checked} leads had a suggestion");
    }

    #[test]
    fn dense_values_as_sent_and_stages() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(root.join("models/x_education/3/model.json")).expect("read");
        let artifact: ModelArtifact = serde_json::from_slice(&bytes).expect("artifact");
        let model = ScoringModel::from_artifact(artifact).expect("valid");
        let specs = model.pipeline().specs();
        let index = |name: &str| specs.iter().position(|s| s.name == name).expect(name);
        let (visits, time, origin) = (
            index("total_visits"),
            index("total_time_spent_on_website"),
            index("lead_origin"),
        );
        let FeatureEncoding::Categorical { categories } = &specs[origin].encoding else {
            panic!("lead_origin is categorical");
        };
        let level = |label: &str| categories.iter().position(|c| c == label).expect(label) as f64;
        let mut values = vec![0.0; specs.len()];
        for (i, spec) in specs.iter().enumerate() {
            if let FeatureEncoding::Categorical { categories } = &spec.encoding {
                values[i] = categories.iter().position(|c| c == MISSING).unwrap_or(0) as f64;
            }
        }
        values[visits] = 6.0;
        values[time] = 1200.0;
        values[origin] = level("Lead Add Form");
        let input = LeadInput::Dense(values.clone());
        assert_eq!(
            model.value_as_sent(&input, "total_visits"),
            Some(FeatureValueRef::Number(6.0))
        );
        assert_eq!(
            model.value_as_sent(&input, "lead_origin"),
            Some(FeatureValueRef::Text("Lead Add Form"))
        );
        assert_eq!(model.value_as_sent(&input, "no_such_feature"), None);
        assert_eq!(model.stage_of(&input, None), Some(Stage::HighValue));
        // The missing level is missing, not the text "(missing)".
        if let Some(missing) = categories.iter().position(|c| c == MISSING) {
            values[origin] = missing as f64;
            let input = LeadInput::Dense(values.clone());
            assert_eq!(model.value_as_sent(&input, "lead_origin"), None);
        }
        // Fewer visits and time: only the form submission (conversion).
        values[visits] = 0.0;
        values[time] = 0.0;
        values[origin] = level("Lead Add Form");
        let input = LeadInput::Dense(values);
        assert_eq!(model.stage_of(&input, None), Some(Stage::Conversion));
    }

    #[test]
    fn bands_are_validated() {
        let band = |n: &str, p: f64| ScoreBand {
            name: n.into(),
            min_probability: p,
        };
        assert!(validate_bands(&[band("hot", 0.6), band("cold", 0.0)]).is_ok());
        assert!(validate_bands(&[band("cold", 0.0), band("hot", 0.6)]).is_err());
        assert!(validate_bands(&[band("hot", 0.6)]).is_err());
        assert!(validate_bands(&[]).is_err());
    }
}
