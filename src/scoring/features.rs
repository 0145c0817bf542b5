//! The one feature pipeline, shared by the trainer and the server.
//!
//! A model sees a lead as a list of *source features* (one per CSV column it
//! was trained on), each numeric, categorical or boolean. The pipeline turns
//! those raw values into the *design row* the estimator works on:
//!
//! - numeric: missing → training median (with a warning), clipped to the
//!   training range (with a warning), then standardised `(x − mean) / std`;
//! - categorical: one-hot over the training categories; a value never seen in
//!   training goes to the [`OTHER`] bucket (with a warning), a missing value to
//!   the [`MISSING`] level (with a warning);
//! - boolean: 0 / 1; missing → the training majority (with a warning).
//!
//! The trainer fits a [`FeaturePipeline`] on training rows and stores its
//! [`FeatureSpec`]s in the artifact; the server rebuilds the same pipeline from
//! the artifact. Both encode through [`FeaturePipeline::encode`], so what a model
//! saw in training is exactly what it sees in serving.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

/// Category level that holds values not seen in training (and rare ones).
pub const OTHER: &str = "(other)";
/// Category level that holds missing values.
pub const MISSING: &str = "(missing)";

/// One raw value of a source feature, as a caller or a CSV cell gives it.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    /// A number (numeric features; 0 / 1 for boolean ones).
    Number(f64),
    /// A category label (categorical features; yes/no/true/false for boolean ones).
    Category(String),
    /// A flag (boolean features).
    Flag(bool),
}

/// How the caller gave a lead's features.
#[derive(Debug, Clone, PartialEq)]
pub enum LeadInput {
    /// By feature name; a feature left out is imputed.
    Named(HashMap<String, RawValue>),
    /// Dense, one value per source feature in schema order. Categorical
    /// features take the index of their category in the schema.
    Dense(Vec<f64>),
}

/// The kind of a source feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// A real number.
    Numeric,
    /// One of a fixed set of labels.
    Categorical,
    /// Yes / no.
    Boolean,
}

impl FeatureKind {
    /// Lower-case name, as used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            FeatureKind::Numeric => "numeric",
            FeatureKind::Categorical => "categorical",
            FeatureKind::Boolean => "boolean",
        }
    }
}

/// How one source feature is encoded, with the statistics learned in training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeatureEncoding {
    /// Standardised number.
    Numeric {
        /// Training median, used for missing values.
        median: f64,
        /// Training mean after imputation, subtracted before scaling.
        mean: f64,
        /// Training standard deviation after imputation (1 for a constant column).
        std: f64,
        /// Smallest training value; smaller inputs are clipped to it.
        min: f64,
        /// Largest training value; larger inputs are clipped to it.
        max: f64,
        /// Interior bin edges (training quantiles, strictly increasing). When
        /// present, the feature also gets one 0/1 column per bin, so the model
        /// can learn a non-linear effect on top of the linear one.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        bin_edges: Vec<f64>,
    },
    /// One-hot over `categories`, which always end with [`MISSING`] and [`OTHER`].
    Categorical {
        /// Levels in one-hot (and dense-index) order.
        categories: Vec<String>,
    },
    /// 0 / 1.
    Boolean {
        /// Value used when the feature is missing (the training majority).
        imputed: bool,
    },
    /// The number as given, NaN when missing: no imputation, clipping or
    /// scaling, for imported trees that route missing values themselves.
    Passthrough {},
    /// One column holding the level's integer code (its index in `levels`),
    /// NaN when missing or unseen: the category codes an imported LightGBM
    /// or XGBoost model was trained on.
    Codes {
        /// Levels in code order (code `k` is `levels[k]`).
        levels: Vec<String>,
    },
}

/// One source feature of a model: its name, origin, label and encoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// snake_case name, the key callers use in `Lead.features`.
    pub name: String,
    /// Column of the training CSV this feature came from.
    pub source_column: String,
    /// Human label shown next to explanations.
    pub label: String,
    /// Encoding and training statistics.
    pub encoding: FeatureEncoding,
    /// Reason template shown next to a contribution, e.g. "Viewed the pricing
    /// page {value} times"; `{value}` is the value used and `{label}` the
    /// label. For booleans it is the text when the value is true. Empty means
    /// the default for the kind ([`FeatureSpec::reason_template`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Booleans only: the reason template when the value is false. Empty
    /// means "Not {label}".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason_when_false: String,
    /// Whether a sales rep can change this feature, so that "what would raise
    /// this score most" may suggest it. Absent means the default rule
    /// ([`FeatureSpec::is_actionable`]: numeric and boolean yes, categorical no).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actionable: Option<bool>,
    /// Numeric only: training deciles (values seen in training), the values
    /// besides min, median, max and bin edges that the suggestion search tries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quantiles: Vec<f64>,
    /// Numeric only: how text sent for this feature is read, as the trainer
    /// read the column's cells. Absent: a number, also as text with currency
    /// signs and thousands separators ([`parse_number_text`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_as: Option<TextFormat>,
}

/// How the text of a numeric feature is read (a training cell, or text a
/// caller sends for the feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextFormat {
    /// A date or timestamp in any form [`crate::scoring::time::parse_timestamp`]
    /// reads (ISO 8601, US `m/d/yy`), as days since 1970-01-01 UTC.
    Date,
}

impl TextFormat {
    /// The number a text stands for in this format; `None` when it is not one.
    pub fn parse(self, text: &str) -> Option<f64> {
        match self {
            TextFormat::Date => parse_date_days(text),
        }
    }
}

/// A date or timestamp as days since 1970-01-01 UTC (fractional for times of
/// day); `None` when [`crate::scoring::time::parse_timestamp`] refuses it.
pub fn parse_date_days(text: &str) -> Option<f64> {
    let at = crate::scoring::time::parse_timestamp(text.trim()).ok()?;
    Some(at.days_since(crate::scoring::time::Timestamp::from_date(1970, 1, 1)))
}

/// A number written as people write them in exports: surrounding spaces, a
/// leading sign, a currency sign before or after (`$ € £ ¥`), and thousands
/// separators (`84,835.00`, only in groups of three). `None` for anything
/// else, and for non-finite numbers. Plain numbers parse as `str::parse`.
pub fn parse_number_text(text: &str) -> Option<f64> {
    let t = text.trim();
    if let Ok(x) = t.parse::<f64>() {
        return x.is_finite().then_some(x);
    }
    let (negative, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, t.strip_prefix('+').unwrap_or(t).trim_start()),
    };
    const CURRENCY: [char; 4] = ['$', '€', '£', '¥'];
    let t = t
        .strip_prefix(CURRENCY)
        .or_else(|| t.strip_suffix(CURRENCY))
        .unwrap_or(t)
        .trim();
    let (negative, t) = match t.strip_prefix('-') {
        Some(rest) if !negative => (true, rest),
        _ => (negative, t),
    };
    let (whole, fraction) = match t.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (t, None),
    };
    let groups: Vec<&str> = whole.split(',').collect();
    let grouped = groups.len() > 1
        && (1..=3).contains(&groups[0].len())
        && groups[1..].iter().all(|g| g.len() == 3);
    if !(grouped || groups.len() == 1)
        || !groups
            .iter()
            .all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()))
        || fraction.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut digits = groups.concat();
    if let Some(f) = fraction {
        digits.push('.');
        digits.push_str(f);
    }
    let x: f64 = digits.parse().ok()?;
    Some(if negative { -x } else { x }).filter(|x| x.is_finite())
}

/// Default reason template of numeric features.
pub const DEFAULT_NUMERIC_REASON: &str = "{label}: {value}";
/// Default reason template of categorical features.
pub const DEFAULT_CATEGORICAL_REASON: &str = "{label} is {value}";
/// Default reason template of boolean features when true.
pub const DEFAULT_TRUE_REASON: &str = "{label}";
/// Default reason template of boolean features when false.
pub const DEFAULT_FALSE_REASON: &str = "Not {label}";

/// A source feature's value as the pipeline used it: after imputation,
/// clipping to the training range and category matching.
#[derive(Debug, Clone, PartialEq)]
pub enum UsedValue {
    /// A numeric value inside the training range.
    Number(f64),
    /// Index of a category level in the feature's `categories`.
    Level(usize),
    /// A boolean value.
    Flag(bool),
}

/// Display text and behaviour of one feature, as `train.toml` sets them in a
/// `[features.<name>]` table; unset fields keep the trainer's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeatureText {
    /// Human label.
    pub label: Option<String>,
    /// Reason template (`{value}`, `{label}`); for booleans, the text when true.
    pub reason: Option<String>,
    /// Booleans only: reason template when false.
    pub reason_when_false: Option<String>,
    /// Whether the suggestion search may change the feature.
    pub actionable: Option<bool>,
}

impl FeatureSpec {
    /// The feature's kind.
    pub fn kind(&self) -> FeatureKind {
        match self.encoding {
            FeatureEncoding::Numeric { .. } => FeatureKind::Numeric,
            FeatureEncoding::Categorical { .. } => FeatureKind::Categorical,
            FeatureEncoding::Boolean { .. } => FeatureKind::Boolean,
            FeatureEncoding::Passthrough {} => FeatureKind::Numeric,
            FeatureEncoding::Codes { .. } => FeatureKind::Categorical,
        }
    }

    /// Number of design columns this feature occupies.
    pub fn width(&self) -> usize {
        match &self.encoding {
            FeatureEncoding::Categorical { categories } => categories.len(),
            FeatureEncoding::Numeric { bin_edges, .. } if !bin_edges.is_empty() => {
                2 + bin_edges.len()
            }
            _ => 1,
        }
    }

    /// The value used when the feature is missing, as text.
    pub fn imputed_value(&self) -> String {
        match &self.encoding {
            FeatureEncoding::Numeric { median, .. } => format_number(*median),
            FeatureEncoding::Categorical { .. } => MISSING.to_string(),
            FeatureEncoding::Boolean { imputed } => imputed.to_string(),
            FeatureEncoding::Passthrough {} | FeatureEncoding::Codes { .. } => MISSING.to_string(),
        }
    }

    /// Categories in dense-index order (empty for other kinds).
    pub fn categories(&self) -> &[String] {
        match &self.encoding {
            FeatureEncoding::Categorical { categories } => categories,
            FeatureEncoding::Codes { levels } => levels,
            _ => &[],
        }
    }

    /// A feature spec with the trainer's default text and no statistics
    /// beyond the encoding: reason template, `actionable` and quantiles unset.
    pub fn new(
        name: String,
        source_column: String,
        label: String,
        encoding: FeatureEncoding,
    ) -> Self {
        Self {
            name,
            source_column,
            label,
            encoding,
            reason: String::new(),
            reason_when_false: String::new(),
            actionable: None,
            quantiles: Vec::new(),
            read_as: None,
        }
    }

    /// The reason template for a value: the stored one, or the kind's default
    /// ([`DEFAULT_NUMERIC_REASON`], [`DEFAULT_CATEGORICAL_REASON`],
    /// [`DEFAULT_TRUE_REASON`] / [`DEFAULT_FALSE_REASON`]).
    pub fn reason_template(&self, value: &UsedValue) -> &str {
        let (stored, default) = match (&self.encoding, value) {
            (FeatureEncoding::Boolean { .. }, UsedValue::Flag(false)) => {
                (&self.reason_when_false, DEFAULT_FALSE_REASON)
            }
            (FeatureEncoding::Boolean { .. }, _) => (&self.reason, DEFAULT_TRUE_REASON),
            (FeatureEncoding::Categorical { .. } | FeatureEncoding::Codes { .. }, _) => {
                (&self.reason, DEFAULT_CATEGORICAL_REASON)
            }
            (FeatureEncoding::Numeric { .. } | FeatureEncoding::Passthrough {}, _) => {
                (&self.reason, DEFAULT_NUMERIC_REASON)
            }
        };
        if stored.is_empty() {
            default
        } else {
            stored
        }
    }

    /// Whether the suggestion search may change this feature: the stored
    /// flag, else numeric and boolean features yes (behaviour a rep can
    /// drive: visits, demo actions, a report created) and categorical ones no
    /// (firmographics such as industry or lead source).
    pub fn is_actionable(&self) -> bool {
        self.actionable
            .unwrap_or(self.kind() != FeatureKind::Categorical)
    }

    /// A used value as text: numbers without a trailing ".0", the category
    /// level, "true" / "false".
    pub fn value_text(&self, value: &UsedValue) -> String {
        match value {
            UsedValue::Number(x) if x.is_nan() => MISSING.to_string(),
            UsedValue::Number(x) => format_number(*x),
            UsedValue::Level(k) => self.categories().get(*k).cloned().unwrap_or_default(),
            UsedValue::Flag(b) => b.to_string(),
        }
    }

    /// The reason text for a value: the template with `{value}` and
    /// `{label}` filled in.
    pub fn render_reason(&self, value: &UsedValue) -> String {
        render_template(
            self.reason_template(value),
            &self.label,
            &self.value_text(value),
        )
    }

    /// Applies a `[features.<name>]` table of `train.toml`.
    ///
    /// # Errors
    /// A [`FeatureTextError`] naming the feature when a template has an
    /// unknown placeholder, or `reason_when_false` is set on a non-boolean
    /// feature.
    pub fn apply_text(&mut self, text: &FeatureText) -> Result<(), FeatureTextError> {
        if let Some(label) = &text.label {
            self.label = label.clone();
        }
        if let Some(reason) = &text.reason {
            check_template(reason).map_err(|source| FeatureTextError::Template {
                feature: self.name.clone(),
                field: "reason",
                source,
            })?;
            self.reason = reason.clone();
        }
        if let Some(reason) = &text.reason_when_false {
            if self.kind() != FeatureKind::Boolean {
                return Err(FeatureTextError::NotBoolean {
                    feature: self.name.clone(),
                    kind: self.kind().as_str(),
                });
            }
            check_template(reason).map_err(|source| FeatureTextError::Template {
                feature: self.name.clone(),
                field: "reason_when_false",
                source,
            })?;
            self.reason_when_false = reason.clone();
        }
        if let Some(actionable) = text.actionable {
            self.actionable = Some(actionable);
        }
        Ok(())
    }

    /// Stores the trainer's defaults explicitly (so the artifact says what it
    /// shows) and, for numeric features, the deciles of the training values.
    /// A label that is still the bare snake_case column name
    /// ("pricing_page_views") becomes words ("Pricing page views").
    pub fn fill_defaults(&mut self, training_values: &[f64]) {
        let kind = self.kind();
        if self.label == self.name && self.label.contains('_') {
            self.label = humanise(&self.name);
        }
        if self.reason.is_empty() {
            self.reason = match kind {
                FeatureKind::Numeric => DEFAULT_NUMERIC_REASON,
                FeatureKind::Categorical => DEFAULT_CATEGORICAL_REASON,
                FeatureKind::Boolean => DEFAULT_TRUE_REASON,
            }
            .to_string();
        }
        if kind == FeatureKind::Boolean && self.reason_when_false.is_empty() {
            self.reason_when_false = DEFAULT_FALSE_REASON.to_string();
        }
        if self.actionable.is_none() {
            self.actionable = Some(self.is_actionable());
        }
        if let FeatureEncoding::Numeric { min, max, .. } = self.encoding {
            self.quantiles = deciles(training_values, min, max);
        }
    }
}

/// "pricing_page_views" → "Pricing page views".
fn humanise(name: &str) -> String {
    let words = name.replace('_', " ");
    let mut chars = words.trim().chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Applies `train.toml`'s `[features.<name>]` tables to fitted specs.
///
/// # Errors
/// A [`FeatureTextError`] naming an unknown feature (with the known names)
/// or a bad template.
pub fn apply_feature_texts(
    specs: &mut [FeatureSpec],
    texts: &BTreeMap<String, FeatureText>,
) -> Result<(), FeatureTextError> {
    for (name, text) in texts {
        let Some(spec) = specs.iter_mut().find(|s| &s.name == name) else {
            let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            return Err(FeatureTextError::UnknownFeature {
                feature: name.clone(),
                known: known.join(", "),
            });
        };
        spec.apply_text(text)?;
    }
    Ok(())
}

/// Nearest-rank deciles (10%..90%) of `values`, deduplicated, inside
/// `[min, max]`: values actually seen, so a suggestion reads naturally
/// ("5 visits", not "4.8 visits").
fn deciles(values: &[f64], min: f64, max: f64) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if sorted.is_empty() {
        return Vec::new();
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let mut out: Vec<f64> = (1..10)
        .map(|k| sorted[((k * n).div_ceil(10)).clamp(1, n) - 1].clamp(min, max))
        .collect();
    out.dedup();
    out
}

/// Checks that a template's only placeholders are `{value}` and `{label}`.
///
/// # Errors
/// A [`TemplateError`] quoting the first unknown placeholder or unmatched
/// brace.
pub fn check_template(template: &str) -> Result<(), TemplateError> {
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        let tail = &rest[open..];
        if let Some(after) = tail
            .strip_prefix("{value}")
            .or_else(|| tail.strip_prefix("{label}"))
        {
            rest = after;
        } else {
            return Err(TemplateError {
                found: tail.chars().take(20).collect(),
            });
        }
    }
    Ok(())
}

/// Fills `{label}` and `{value}` in one pass (so a label that itself
/// contains "{value}" is shown as it is).
fn render_template(template: &str, label: &str, value: &str) -> String {
    let mut out = String::with_capacity(template.len() + label.len() + value.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        if let Some(after) = tail.strip_prefix("{value}") {
            out.push_str(value);
            rest = after;
        } else if let Some(after) = tail.strip_prefix("{label}") {
            out.push_str(label);
            rest = after;
        } else {
            out.push('{');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// A reason template with a placeholder other than `{value}` and `{label}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("only {{value}} and {{label}} may appear in braces, found \"{found}\"")]
pub struct TemplateError {
    /// The template from the offending brace on (at most 20 characters).
    pub found: String,
}

/// Why a `[features.<name>]` table of `train.toml` cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeatureTextError {
    /// The table names no feature of the model.
    #[error("[features.{feature}] names no feature of the model; features are: {known}")]
    UnknownFeature {
        /// The name in the table header.
        feature: String,
        /// The model's feature names, comma-separated.
        known: String,
    },
    /// `reason_when_false` on a feature that is not boolean.
    #[error("[features.{feature}] reason_when_false is for boolean features; this one is {kind}")]
    NotBoolean {
        /// The feature.
        feature: String,
        /// Its kind.
        kind: &'static str,
    },
    /// A template with an unknown placeholder.
    #[error("[features.{feature}] {field}: {source}")]
    Template {
        /// The feature.
        feature: String,
        /// `reason` or `reason_when_false`.
        field: &'static str,
        /// What is wrong with the template.
        source: TemplateError,
    },
}

/// Why stored feature specs cannot make a [`FeaturePipeline`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipelineError {
    /// A feature without a name.
    #[error("feature {index} has an empty name")]
    EmptyName {
        /// Its position in the schema.
        index: usize,
    },
    /// Two features with one name.
    #[error("feature name \"{name}\" appears twice")]
    Duplicate {
        /// The shared name.
        name: String,
    },
    /// A feature's stored statistics or categories are unusable.
    #[error("feature \"{feature}\" {problem}")]
    BadSpec {
        /// The feature.
        feature: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A stored template with an unknown placeholder.
    #[error("feature \"{feature}\" {field}: {source}")]
    Template {
        /// The feature.
        feature: String,
        /// `reason` or `reason_when_false`.
        field: &'static str,
        /// What is wrong with the template.
        source: TemplateError,
    },
}

/// A [`PipelineError::BadSpec`] for `spec`.
fn bad(spec: &FeatureSpec, problem: String) -> PipelineError {
    PipelineError::BadSpec {
        feature: spec.name.clone(),
        problem,
    }
}

/// Why a lead's features could not be encoded. Each variant names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FeatureError {
    /// A named feature the model does not have.
    #[error("unknown feature \"{name}\"")]
    UnknownFeature {
        /// The name the caller sent.
        name: String,
    },
    /// A value of the wrong kind, e.g. a category for a numeric feature.
    #[error("feature \"{feature}\" is {expected}, got {got}")]
    WrongKind {
        /// Feature name.
        feature: String,
        /// The feature's kind.
        expected: &'static str,
        /// What was sent.
        got: String,
    },
    /// NaN or an infinity.
    #[error("feature \"{feature}\" must be a finite number, got {value}")]
    NotFinite {
        /// Feature name.
        feature: String,
        /// The value sent, as text.
        value: String,
    },
    /// Dense values of the wrong length.
    #[error("values has {got} entries, the model has {expected} features")]
    DenseLength {
        /// Number of source features.
        expected: usize,
        /// Number of values sent.
        got: usize,
    },
    /// A dense value that does not fit its feature.
    #[error("values[{index}] (feature \"{feature}\", {kind}): {problem}")]
    BadDenseValue {
        /// Position in `values`.
        index: usize,
        /// Feature at that position.
        feature: String,
        /// The feature's kind.
        kind: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// A boolean given as something other than true/false, 0/1 or yes/no.
    #[error(
        "feature \"{feature}\" is boolean: expected a flag, 0/1 or yes/no/true/false, got {got}"
    )]
    BadBoolean {
        /// Feature name.
        feature: String,
        /// What was sent.
        got: String,
    },
}

impl FeatureError {
    /// The offending field relative to the lead, e.g. `features["visits"]` or `values`.
    pub fn field(&self) -> String {
        match self {
            FeatureError::UnknownFeature { name: feature }
            | FeatureError::WrongKind { feature, .. }
            | FeatureError::NotFinite { feature, .. }
            | FeatureError::BadBoolean { feature, .. } => format!("features[\"{feature}\"]"),
            FeatureError::DenseLength { .. } => "values".to_string(),
            FeatureError::BadDenseValue { index, .. } => format!("values[{index}]"),
        }
    }
}

/// A value the pipeline had to replace, per source feature (for metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Missing: the training median, majority or "(missing)" level was used.
    Imputed,
    /// A category never seen in training: "(other)" was used.
    UnseenCategory,
    /// A number outside the training range: clipped to it.
    Clipped,
}

impl Fallback {
    /// snake_case name, used as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Fallback::Imputed => "imputed",
            Fallback::UnseenCategory => "unseen_category",
            Fallback::Clipped => "clipped",
        }
    }
}

/// A lead after encoding: the design row plus what the caller should know.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedLead {
    /// Design row, `FeaturePipeline::design_width()` long.
    pub design: Vec<f64>,
    /// The value used for each source feature (after imputation), as text;
    /// empty from the scoring paths, which show no values.
    pub shown_values: Vec<String>,
    /// The value used for each source feature, as the pipeline used it;
    /// empty from the scoring paths, like `shown_values`.
    pub used_values: Vec<UsedValue>,
    /// Imputations, unseen categories and clipping, one line each.
    pub warnings: Vec<String>,
    /// The same events as `warnings`, as (source feature index, kind).
    pub fallbacks: Vec<(usize, Fallback)>,
}

/// The feature pipeline of one model.
#[derive(Debug, Clone)]
pub struct FeaturePipeline {
    specs: Vec<FeatureSpec>,
    by_name: HashMap<String, usize>,
    offsets: Vec<usize>,
    width: usize,
}

impl FeaturePipeline {
    /// Builds the pipeline from stored specs.
    ///
    /// # Errors
    /// A [`PipelineError`] naming the problem when two features share a name
    /// or a feature's statistics are unusable (non-finite, zero std, no
    /// categories).
    pub fn new(specs: Vec<FeatureSpec>) -> Result<Self, PipelineError> {
        let mut by_name = HashMap::with_capacity(specs.len());
        let mut offsets = Vec::with_capacity(specs.len());
        let mut width = 0;
        for (i, spec) in specs.iter().enumerate() {
            if spec.name.is_empty() {
                return Err(PipelineError::EmptyName { index: i });
            }
            if by_name.insert(spec.name.clone(), i).is_some() {
                return Err(PipelineError::Duplicate {
                    name: spec.name.clone(),
                });
            }
            match &spec.encoding {
                FeatureEncoding::Numeric {
                    median,
                    mean,
                    std,
                    min,
                    max,
                    bin_edges,
                } => {
                    if ![*median, *mean, *std, *min, *max]
                        .iter()
                        .all(|v| v.is_finite())
                    {
                        return Err(bad(spec, "has non-finite statistics".to_string()));
                    }
                    if *std <= 0.0 {
                        return Err(bad(spec, format!("has std {std} <= 0")));
                    }
                    if min > max {
                        return Err(bad(spec, "has min > max".to_string()));
                    }
                    if median < min || median > max {
                        return Err(bad(spec, "has its median outside [min, max]".to_string()));
                    }
                    if !bin_edges.iter().all(|e| e.is_finite())
                        || bin_edges.windows(2).any(|w| w[0] >= w[1])
                    {
                        return Err(bad(
                            spec,
                            "bin_edges must be finite and strictly increasing".to_string(),
                        ));
                    }
                }
                FeatureEncoding::Categorical { categories } => {
                    if categories.last().map(String::as_str) != Some(OTHER)
                        || !categories.iter().any(|c| c == MISSING)
                    {
                        return Err(bad(
                            spec,
                            format!(
                                "categories must contain \"{MISSING}\" and end with \"{OTHER}\""
                            ),
                        ));
                    }
                    let mut seen = std::collections::HashSet::new();
                    if let Some(dup) = categories.iter().find(|c| !seen.insert(c.as_str())) {
                        return Err(bad(spec, format!("lists category \"{dup}\" twice")));
                    }
                }
                FeatureEncoding::Boolean { .. } | FeatureEncoding::Passthrough {} => {}
                FeatureEncoding::Codes { levels } => {
                    let mut seen = std::collections::HashSet::new();
                    if let Some(dup) = levels.iter().find(|c| !seen.insert(c.as_str())) {
                        return Err(bad(spec, format!("lists level \"{dup}\" twice")));
                    }
                }
            }
            for (field, template) in [
                ("reason", &spec.reason),
                ("reason_when_false", &spec.reason_when_false),
            ] {
                check_template(template).map_err(|source| PipelineError::Template {
                    feature: spec.name.clone(),
                    field,
                    source,
                })?;
            }
            if !spec.quantiles.iter().all(|q| q.is_finite()) {
                return Err(bad(spec, "quantiles must be finite".to_string()));
            }
            offsets.push(width);
            width += spec.width();
        }
        Ok(Self {
            specs,
            by_name,
            offsets,
            width,
        })
    }

    /// Source features in schema order.
    pub fn specs(&self) -> &[FeatureSpec] {
        &self.specs
    }

    /// Number of design columns.
    pub fn design_width(&self) -> usize {
        self.width
    }

    /// Design columns of source feature `i`.
    pub fn columns_of(&self, i: usize) -> std::ops::Range<usize> {
        self.offsets[i]..self.offsets[i] + self.specs[i].width()
    }

    /// Encodes one lead as given by a caller.
    ///
    /// # Errors
    /// [`FeatureError`] naming the field for unknown features, wrong kinds,
    /// non-finite numbers and wrong dense lengths.
    pub fn encode(&self, input: &LeadInput) -> Result<EncodedLead, FeatureError> {
        self.encode_input(input, true)
    }

    /// As [`FeaturePipeline::encode`], without the display strings
    /// (`shown_values` stays empty): scoring does not show values, and
    /// formatting them is most of the per-lead cost.
    ///
    /// # Errors
    /// As [`FeaturePipeline::encode`].
    pub fn encode_for_scoring(&self, input: &LeadInput) -> Result<EncodedLead, FeatureError> {
        self.encode_input(input, false)
    }

    fn encode_input(&self, input: &LeadInput, shown: bool) -> Result<EncodedLead, FeatureError> {
        match input {
            LeadInput::Named(map) => {
                let mut values: Vec<Option<&RawValue>> = vec![None; self.specs.len()];
                for (name, value) in map {
                    let i = *self
                        .by_name
                        .get(name)
                        .ok_or_else(|| FeatureError::UnknownFeature { name: name.clone() })?;
                    values[i] = Some(value);
                }
                self.encode_row(&values, shown)
            }
            LeadInput::Dense(dense) => {
                if dense.len() != self.specs.len() {
                    return Err(FeatureError::DenseLength {
                        expected: self.specs.len(),
                        got: dense.len(),
                    });
                }
                let mut owned = Vec::with_capacity(dense.len());
                for (index, (spec, &v)) in self.specs.iter().zip(dense).enumerate() {
                    let bad = |problem: String| FeatureError::BadDenseValue {
                        index,
                        feature: spec.name.clone(),
                        kind: spec.kind().as_str(),
                        problem,
                    };
                    if !v.is_finite() {
                        return Err(bad(format!("must be a finite number, got {v}")));
                    }
                    owned.push(match &spec.encoding {
                        FeatureEncoding::Categorical { categories } => {
                            if v < 0.0 || v.fract() != 0.0 || v >= categories.len() as f64 {
                                return Err(bad(format!(
                                    "must be a category index from 0 to {} (see ModelInfo categories), got {v}",
                                    categories.len() - 1
                                )));
                            }
                            RawValue::Category(categories[v as usize].clone())
                        }
                        FeatureEncoding::Boolean { .. } => {
                            if v != 0.0 && v != 1.0 {
                                return Err(bad(format!("must be 0 or 1, got {v}")));
                            }
                            RawValue::Flag(v == 1.0)
                        }
                        FeatureEncoding::Codes { levels } => {
                            if v < 0.0 || v.fract() != 0.0 || v >= levels.len() as f64 {
                                return Err(bad(format!(
                                    "must be a level code from 0 to {} (see ModelInfo categories), got {v}",
                                    levels.len().saturating_sub(1)
                                )));
                            }
                            RawValue::Category(levels[v as usize].clone())
                        }
                        FeatureEncoding::Numeric { .. } | FeatureEncoding::Passthrough {} => {
                            RawValue::Number(v)
                        }
                    });
                }
                let refs: Vec<Option<&RawValue>> = owned.iter().map(Some).collect();
                self.encode_row(&refs, shown)
            }
        }
    }

    /// Encodes one row of raw values in schema order (`None` = missing).
    /// This is the single encoding path: the trainer calls it on CSV rows and
    /// [`FeaturePipeline::encode`] calls it on requests.
    ///
    /// # Errors
    /// [`FeatureError`] for wrong kinds and non-finite numbers.
    pub fn encode_values(&self, values: &[Option<&RawValue>]) -> Result<EncodedLead, FeatureError> {
        self.encode_row(values, true)
    }

    /// As [`FeaturePipeline::encode_values`], without the display strings
    /// (the trainer's bulk path).
    ///
    /// # Errors
    /// As [`FeaturePipeline::encode_values`].
    pub fn encode_design(&self, values: &[Option<&RawValue>]) -> Result<EncodedLead, FeatureError> {
        self.encode_row(values, false)
    }

    fn encode_row(
        &self,
        values: &[Option<&RawValue>],
        shown: bool,
    ) -> Result<EncodedLead, FeatureError> {
        let mut design = vec![0.0; self.width];
        let mut shown_values = Vec::with_capacity(if shown { self.specs.len() } else { 0 });
        let mut used_values = Vec::with_capacity(if shown { self.specs.len() } else { 0 });
        let mut warnings = Vec::new();
        let mut fallbacks = Vec::new();
        for (i, spec) in self.specs.iter().enumerate() {
            let value = values.get(i).copied().flatten();
            match &spec.encoding {
                FeatureEncoding::Numeric {
                    median, min, max, ..
                } => {
                    // Text for a number is read as the trainer read the
                    // column's cells, then used like a number.
                    let from_text;
                    let value = match value {
                        Some(RawValue::Category(text)) => {
                            let parsed = match spec.read_as {
                                Some(format) => format.parse(text),
                                None => parse_number_text(text),
                            };
                            let Some(x) = parsed else {
                                return Err(FeatureError::WrongKind {
                                    feature: spec.name.clone(),
                                    expected: match spec.read_as {
                                        Some(TextFormat::Date) => "numeric (a date)",
                                        None => "numeric",
                                    },
                                    got: describe(&RawValue::Category(text.clone())),
                                });
                            };
                            from_text = RawValue::Number(x);
                            Some(&from_text)
                        }
                        other => other,
                    };
                    let x = match value {
                        None => {
                            fallbacks.push((i, Fallback::Imputed));
                            warnings.push(format!(
                                "feature \"{}\" missing: imputed training median {}",
                                spec.name,
                                format_number(*median)
                            ));
                            *median
                        }
                        Some(RawValue::Number(x)) => {
                            if !x.is_finite() {
                                return Err(FeatureError::NotFinite {
                                    feature: spec.name.clone(),
                                    value: x.to_string(),
                                });
                            }
                            if *x < *min || *x > *max {
                                let clipped = x.clamp(*min, *max);
                                fallbacks.push((i, Fallback::Clipped));
                                warnings.push(format!(
                                    "feature \"{}\" value {} outside training range [{}, {}]: clipped to {}",
                                    spec.name,
                                    format_number(*x),
                                    format_number(*min),
                                    format_number(*max),
                                    format_number(clipped)
                                ));
                                clipped
                            } else {
                                *x
                            }
                        }
                        Some(other) => {
                            return Err(FeatureError::WrongKind {
                                feature: spec.name.clone(),
                                expected: "numeric",
                                got: describe(other),
                            })
                        }
                    };
                    let used = UsedValue::Number(x);
                    self.write_columns(i, &used, &mut design);
                    if shown {
                        shown_values.push(format_number(x));
                        used_values.push(used);
                    }
                }
                FeatureEncoding::Categorical { categories } => {
                    let level = match value {
                        None => {
                            fallbacks.push((i, Fallback::Imputed));
                            warnings.push(format!(
                                "feature \"{}\" missing: using category \"{MISSING}\"",
                                spec.name
                            ));
                            MISSING
                        }
                        Some(RawValue::Category(c)) => {
                            if let Some(k) = categories.iter().find(|k| *k == c) {
                                k.as_str()
                            } else if let Some(k) = match_ignoring_case(categories, c) {
                                k
                            } else {
                                fallbacks.push((i, Fallback::UnseenCategory));
                                warnings.push(format!(
                                    "feature \"{}\" category \"{}\" not seen in training: using \"{OTHER}\"",
                                    spec.name,
                                    truncate(c, 64)
                                ));
                                OTHER
                            }
                        }
                        Some(other) => {
                            return Err(FeatureError::WrongKind {
                                feature: spec.name.clone(),
                                expected: "categorical",
                                got: describe(other),
                            })
                        }
                    };
                    let k = categories.iter().position(|c| c == level).unwrap_or(
                        // The pipeline constructor guarantees OTHER is last.
                        categories.len() - 1,
                    );
                    let used = UsedValue::Level(k);
                    self.write_columns(i, &used, &mut design);
                    if shown {
                        shown_values.push(level.to_string());
                        used_values.push(used);
                    }
                }
                FeatureEncoding::Passthrough {} | FeatureEncoding::Codes { .. } => {
                    let used = passthrough_value(i, spec, value, &mut warnings, &mut fallbacks)?;
                    self.write_columns(i, &used, &mut design);
                    if shown {
                        shown_values.push(spec.value_text(&used));
                        used_values.push(used);
                    }
                }
                FeatureEncoding::Boolean { imputed } => {
                    let b = match value {
                        None => {
                            fallbacks.push((i, Fallback::Imputed));
                            warnings.push(format!(
                                "feature \"{}\" missing: imputed training majority {imputed}",
                                spec.name
                            ));
                            *imputed
                        }
                        Some(RawValue::Flag(b)) => *b,
                        Some(RawValue::Number(x)) if *x == 0.0 || *x == 1.0 => *x == 1.0,
                        Some(RawValue::Category(c)) => {
                            parse_bool(c).ok_or_else(|| FeatureError::BadBoolean {
                                feature: spec.name.clone(),
                                got: format!("category \"{}\"", truncate(c, 64)),
                            })?
                        }
                        Some(RawValue::Number(x)) => {
                            if !x.is_finite() {
                                return Err(FeatureError::NotFinite {
                                    feature: spec.name.clone(),
                                    value: x.to_string(),
                                });
                            }
                            return Err(FeatureError::BadBoolean {
                                feature: spec.name.clone(),
                                got: format!("number {x}"),
                            });
                        }
                    };
                    let used = UsedValue::Flag(b);
                    self.write_columns(i, &used, &mut design);
                    if shown {
                        shown_values.push(b.to_string());
                        used_values.push(used);
                    }
                }
            }
        }
        Ok(EncodedLead {
            design,
            shown_values,
            used_values,
            warnings,
            fallbacks,
        })
    }

    /// Writes source feature `i`'s design columns for a used value into a
    /// full design row (the columns are cleared first). This is the one place
    /// that turns a value into design columns: encoding a lead and changing
    /// one feature of an encoded lead (the suggestion search) both go
    /// through it, so a changed lead scores exactly as if it had been sent.
    /// A value of the wrong kind for the feature, or a row of the wrong
    /// width, leaves the row unchanged.
    pub fn write_columns(&self, i: usize, value: &UsedValue, design: &mut [f64]) {
        let (Some(spec), Some(&at)) = (self.specs.get(i), self.offsets.get(i)) else {
            return;
        };
        let Some(columns) = design.get_mut(at..at + spec.width()) else {
            return;
        };
        match (&spec.encoding, value) {
            (
                FeatureEncoding::Numeric {
                    mean,
                    std,
                    bin_edges,
                    ..
                },
                UsedValue::Number(x),
            ) => {
                columns.fill(0.0);
                columns[0] = (x - mean) / std;
                if !bin_edges.is_empty() {
                    let bin = bin_edges.partition_point(|e| e <= x);
                    columns[1 + bin] = 1.0;
                }
            }
            (FeatureEncoding::Categorical { .. }, UsedValue::Level(k)) if *k < columns.len() => {
                columns.fill(0.0);
                columns[*k] = 1.0;
            }
            (FeatureEncoding::Boolean { .. }, UsedValue::Flag(b)) => {
                columns[0] = if *b { 1.0 } else { 0.0 };
            }
            (
                FeatureEncoding::Passthrough {} | FeatureEncoding::Codes { .. },
                UsedValue::Number(x),
            ) => {
                columns[0] = *x;
            }
            (FeatureEncoding::Codes { .. }, UsedValue::Level(k)) => {
                columns[0] = *k as f64;
            }
            _ => {}
        }
    }
}

/// The used value of a [`FeatureEncoding::Passthrough`] or
/// [`FeatureEncoding::Codes`] feature: the number, the level's code, or NaN
/// (missing, or an unseen level) for the model's own missing-value rule.
fn passthrough_value(
    i: usize,
    spec: &FeatureSpec,
    value: Option<&RawValue>,
    warnings: &mut Vec<String>,
    fallbacks: &mut Vec<(usize, Fallback)>,
) -> Result<UsedValue, FeatureError> {
    let levels = spec.categories();
    match (value, &spec.encoding) {
        (None, _) => {
            fallbacks.push((i, Fallback::Imputed));
            warnings.push(format!(
                "feature \"{}\" missing: left to the model's missing-value rule",
                spec.name
            ));
            Ok(UsedValue::Number(f64::NAN))
        }
        (Some(RawValue::Number(x)), FeatureEncoding::Passthrough {}) => {
            if x.is_finite() {
                Ok(UsedValue::Number(*x))
            } else {
                Err(FeatureError::NotFinite {
                    feature: spec.name.clone(),
                    value: x.to_string(),
                })
            }
        }
        (Some(RawValue::Category(c)), FeatureEncoding::Codes { .. }) => {
            let found = levels.iter().position(|k| k == c).or_else(|| {
                match_ignoring_case(levels, c).and_then(|k| levels.iter().position(|l| l == k))
            });
            Ok(match found {
                Some(k) => UsedValue::Level(k),
                None => {
                    fallbacks.push((i, Fallback::UnseenCategory));
                    warnings.push(format!(
                        "feature \"{}\" category \"{}\" not seen in training: left to the model's missing-value rule",
                        spec.name,
                        truncate(c, 64)
                    ));
                    UsedValue::Number(f64::NAN)
                }
            })
        }
        (Some(other), _) => Err(FeatureError::WrongKind {
            feature: spec.name.clone(),
            expected: spec.kind().as_str(),
            got: describe(other),
        }),
    }
}

/// The one category equal to `c` ignoring ASCII case and surrounding spaces,
/// if exactly one is; training categories that differ only in case stay
/// distinct and an ambiguous match is treated as unseen.
fn match_ignoring_case<'a>(categories: &'a [String], c: &str) -> Option<&'a str> {
    let wanted = c.trim();
    let mut hits = categories
        .iter()
        .filter(|k| k.as_str() != MISSING && k.as_str() != OTHER)
        .filter(|k| k.eq_ignore_ascii_case(wanted));
    match (hits.next(), hits.next()) {
        (Some(k), None) => Some(k.as_str()),
        _ => None,
    }
}

/// Parses yes/no/true/false (any case) as a boolean.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "y" | "t" => Some(true),
        "no" | "false" | "n" | "f" => Some(false),
        _ => None,
    }
}

/// snake_case name for a CSV column: "Total Time Spent on Website" →
/// "total_time_spent_on_website". Non-alphanumerics become single underscores.
pub fn snake_case(column: &str) -> String {
    let mut out = String::with_capacity(column.len());
    let mut prev_lower = false;
    for ch in column.chars() {
        if ch.is_ascii_alphanumeric() {
            if ch.is_ascii_uppercase() && prev_lower && !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
            out.push(ch.to_ascii_lowercase());
        } else {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "f_");
    }
    out
}

/// Shortest text that round-trips an f64, without a trailing ".0" for integers.
pub fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn describe(v: &RawValue) -> String {
    match v {
        RawValue::Number(x) => format!("number {x}"),
        RawValue::Category(c) => format!("category \"{}\"", truncate(c, 64)),
        RawValue::Flag(b) => format!("flag {b}"),
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max_chars).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_written_as_text_parse_as_people_mean_them() {
        for (text, want) in [
            ("84835", Some(84_835.0)),
            (" 84835.5 ", Some(84_835.5)),
            ("$84,835.00 ", Some(84_835.0)),
            ("$1,234,567", Some(1_234_567.0)),
            ("-$12.50", Some(-12.5)),
            ("$-12.50", Some(-12.5)),
            ("12,50 €", None),
            ("1,2345", None),
            (",123", None),
            ("$", None),
            (" ", None),
            ("1.2.3", None),
            ("12 apples", None),
            ("inf", None),
            ("NaN", None),
        ] {
            assert_eq!(parse_number_text(text), want, "{text:?}");
        }
    }

    #[test]
    fn dates_are_days_since_1970() {
        assert_eq!(parse_date_days("1970-01-02"), Some(1.0));
        assert_eq!(parse_date_days("6/16/14"), parse_date_days("2014-06-16"));
        assert_eq!(parse_date_days("2014-06-16T12:00:00Z"), Some(16_237.5));
        assert_eq!(parse_date_days("16/16/14"), None);
        assert_eq!(TextFormat::Date.parse("yesterday"), None);
    }

    fn pipeline() -> FeaturePipeline {
        FeaturePipeline::new(vec![
            FeatureSpec {
                name: "visits".into(),
                source_column: "Visits".into(),
                label: "Visits".into(),
                reason: String::new(),
                reason_when_false: String::new(),
                actionable: None,
                quantiles: vec![],
                read_as: None,
                encoding: FeatureEncoding::Numeric {
                    median: 2.0,
                    mean: 3.0,
                    std: 2.0,
                    min: 0.0,
                    max: 10.0,
                    bin_edges: vec![],
                },
            },
            FeatureSpec {
                name: "source".into(),
                source_column: "Source".into(),
                label: "Source".into(),
                reason: String::new(),
                reason_when_false: String::new(),
                actionable: None,
                quantiles: vec![],
                read_as: None,
                encoding: FeatureEncoding::Categorical {
                    categories: vec!["ads".into(), "web".into(), MISSING.into(), OTHER.into()],
                },
            },
            FeatureSpec {
                name: "report_created".into(),
                source_column: "Report Created".into(),
                label: "Report created".into(),
                reason: String::new(),
                reason_when_false: String::new(),
                actionable: None,
                quantiles: vec![],
                read_as: None,
                encoding: FeatureEncoding::Boolean { imputed: false },
            },
        ])
        .expect("valid specs")
    }

    #[test]
    fn snake_case_names() {
        assert_eq!(
            snake_case("Total Time Spent on Website"),
            "total_time_spent_on_website"
        );
        assert_eq!(snake_case("TotalVisits"), "total_visits");
        assert_eq!(snake_case("Do Not Email"), "do_not_email");
        assert_eq!(snake_case("  A -- b  "), "a_b");
        assert_eq!(snake_case("30d visits"), "f_30d_visits");
        assert_eq!(snake_case("???"), "f_");
    }

    #[test]
    fn named_and_dense_encode_identically() {
        let p = pipeline();
        let named = LeadInput::Named(HashMap::from([
            ("visits".to_string(), RawValue::Number(5.0)),
            ("source".to_string(), RawValue::Category("web".into())),
            ("report_created".to_string(), RawValue::Flag(true)),
        ]));
        let dense = LeadInput::Dense(vec![5.0, 1.0, 1.0]);
        let a = p.encode(&named).unwrap();
        let b = p.encode(&dense).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.design, vec![1.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
        assert!(a.warnings.is_empty());
    }

    #[test]
    fn missing_unseen_and_clipped_values_warn() {
        let p = pipeline();
        let lead = LeadInput::Named(HashMap::from([
            ("visits".to_string(), RawValue::Number(50.0)),
            ("source".to_string(), RawValue::Category("tv".into())),
        ]));
        let e = p.encode(&lead).unwrap();
        assert_eq!(e.design, vec![3.5, 0.0, 0.0, 0.0, 1.0, 0.0]);
        assert_eq!(e.warnings.len(), 3, "{:?}", e.warnings);
        assert_eq!(
            e.fallbacks,
            vec![
                (0, Fallback::Clipped),
                (1, Fallback::UnseenCategory),
                (2, Fallback::Imputed)
            ]
        );
        assert_eq!(e.shown_values, vec!["10", OTHER, "false"]);
    }

    #[test]
    fn bad_values_name_the_field() {
        let p = pipeline();
        let cases: Vec<(LeadInput, &str)> = vec![
            (
                LeadInput::Named(HashMap::from([("nope".to_string(), RawValue::Number(1.0))])),
                "features[\"nope\"]",
            ),
            (
                LeadInput::Named(HashMap::from([(
                    "visits".to_string(),
                    RawValue::Category("x".into()),
                )])),
                "features[\"visits\"]",
            ),
            (
                LeadInput::Named(HashMap::from([(
                    "visits".to_string(),
                    RawValue::Number(f64::NAN),
                )])),
                "features[\"visits\"]",
            ),
            (
                LeadInput::Named(HashMap::from([(
                    "report_created".to_string(),
                    RawValue::Number(2.0),
                )])),
                "features[\"report_created\"]",
            ),
            (LeadInput::Dense(vec![1.0, 0.0]), "values"),
            (LeadInput::Dense(vec![1.0, 4.0, 0.0]), "values[1]"),
            (LeadInput::Dense(vec![1.0, 0.5, 0.0]), "values[1]"),
            (LeadInput::Dense(vec![1.0, 0.0, 0.5]), "values[2]"),
            (LeadInput::Dense(vec![f64::INFINITY, 0.0, 0.0]), "values[0]"),
        ];
        for (input, field) in cases {
            let err = p.encode(&input).unwrap_err();
            assert_eq!(err.field(), field, "{err}");
        }
    }

    #[test]
    fn categories_match_ignoring_case_when_unambiguous() {
        let p = pipeline();
        let lead = |c: &str| {
            LeadInput::Named(HashMap::from([(
                "source".to_string(),
                RawValue::Category(c.into()),
            )]))
        };
        let exact = p.encode(&lead("web")).unwrap();
        let loose = p.encode(&lead(" WEB ")).unwrap();
        assert_eq!(exact.design, loose.design);
        assert_eq!(loose.shown_values[1], "web");
        assert_eq!(p.encode(&lead("(OTHER)")).unwrap().shown_values[1], OTHER);
        let message = p
            .encode(&LeadInput::Dense(vec![1.0, 9.0, 0.0]))
            .unwrap_err()
            .to_string();
        assert!(message.contains("from 0 to 3"), "{message}");
    }

    #[test]
    fn numeric_bins_add_one_hot_columns() {
        let p = FeaturePipeline::new(vec![FeatureSpec {
            name: "t".into(),
            source_column: "T".into(),
            label: "T".into(),
            reason: String::new(),
            reason_when_false: String::new(),
            actionable: None,
            quantiles: vec![],
            read_as: None,
            encoding: FeatureEncoding::Numeric {
                median: 5.0,
                mean: 5.0,
                std: 1.0,
                min: 0.0,
                max: 10.0,
                bin_edges: vec![2.0, 6.0],
            },
        }])
        .unwrap();
        assert_eq!(p.design_width(), 4);
        let at = |x: f64| p.encode(&LeadInput::Dense(vec![x])).unwrap().design;
        assert_eq!(at(1.0), vec![-4.0, 1.0, 0.0, 0.0]);
        assert_eq!(at(2.0), vec![-3.0, 0.0, 1.0, 0.0]);
        assert_eq!(at(9.0), vec![4.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn inconsistent_specs_are_refused() {
        let mut specs = pipeline().specs().to_vec();
        specs[1].encoding = FeatureEncoding::Categorical {
            categories: vec!["a".into()],
        };
        assert!(FeaturePipeline::new(specs)
            .unwrap_err()
            .to_string()
            .contains("source"));
        let mut specs = pipeline().specs().to_vec();
        specs[0].encoding = FeatureEncoding::Numeric {
            median: 0.0,
            mean: 0.0,
            std: 0.0,
            min: 0.0,
            max: 1.0,
            bin_edges: vec![],
        };
        assert!(FeaturePipeline::new(specs)
            .unwrap_err()
            .to_string()
            .contains("std"));
    }
}
