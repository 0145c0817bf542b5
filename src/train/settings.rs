//! The trainer's settings: one type, [`TrainSettings`], built from flags,
//! from a `train.toml`, or in code, and checked once into
//! [`ValidTrainSettings`], which is what the pipeline runs on.
//!
//! - **Flags.** [`TrainSettings`] is the `leadscore-train` command line
//!   (clap derive; each field's doc comment is its `--help` line). Read a
//!   command line with [`TrainSettings::from_flags`]: the `--config` file
//!   first, then every flag given over it ([`TrainSettings::override_with`]).
//!   The hyperparameter flags have no clap defaults, so that a flag left out
//!   keeps the file's value; `TrainSettings::parse()` therefore fails and is
//!   not the way in.
//! - **`train.toml`.** The same struct through serde
//!   ([`TrainSettings::read`]): the same names, `[params]` and
//!   `[params.gbdt]` for the hyperparameters, plus `[[stages]]` and
//!   `[features.<name>]`, which have no flags. Unknown keys are refused, so
//!   a typo cannot go unnoticed.
//! - **Code.** A struct literal with `..Default::default()`.
//!
//! [`TrainSettings::check`] requires `data` and `target`, refuses an
//! out-of-time split together with a grouped one, and checks the
//! hyperparameters linfa style ([`TrainParams::check`] →
//! [`ValidTrainParams`]: only usable values).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{ArgMatches, FromArgMatches};
use serde::{Deserialize, Serialize};

use crate::scoring::features::FeatureText;
use crate::scoring::stages::StageRules;
use crate::train::error::TrainError;
use crate::train::grow::GbdtParams;

/// Which model family to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ModelFamily {
    /// L2-regularised logistic regression.
    Logistic,
    /// Gradient-boosted decision trees.
    Gbdt,
    /// Cross-validate both and keep the one with the lower validation log
    /// loss (the default).
    Auto,
}

/// How probabilities are calibrated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CalibrationChoice {
    /// Choose none / Platt / beta / isotonic by cross-validated log loss on the out-of-fold predictions.
    #[default]
    Auto,
    /// The model's own probabilities.
    None,
    /// Platt scaling (a logistic map of the log-odds).
    Platt,
    /// Beta calibration (a logistic map with its own slope in each tail).
    Beta,
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

/// Everything a training run needs, unchecked: the `leadscore-train` flags,
/// the keys of `train.toml`, and the fields a caller sets in code. Call
/// [`TrainSettings::check`] (the `train*` functions do) to get
/// [`ValidTrainSettings`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Parser)]
#[command(
    name = "leadscore-train",
    version,
    about = "Train a lead-scoring model from a CSV or Parquet CRM export (or import one: leadscore-train import)",
    long_about = None
)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSettings {
    /// A train.toml with any of the settings below (flags override it).
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// CSV (`,` `;` tab or `|` separated, detected) or Parquet file with a header.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Binary target column (0/1, true/false or yes/no).
    #[arg(long)]
    pub target: Option<String>,
    /// Identifier column (never used as a feature).
    #[arg(long)]
    pub id: Option<String>,
    /// Columns to leave out, comma separated; a trailing '*' matches a prefix
    /// (e.g. "Tags,Lead Quality,Asymmetrique*").
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Extra cell values that mean "missing", comma separated (e.g. "Select").
    #[arg(long, value_delimiter = ',')]
    pub na_values: Vec<String>,
    /// Columns the leakage guard flagged that are known before the outcome
    /// and may be used anyway, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub allow_leaky: Vec<String>,
    /// Out-of-time evaluation: test on the most recent rows by this column
    /// (numbers or ISO 8601 dates).
    #[arg(long, conflicts_with = "group_column")]
    pub time_column: Option<String>,
    /// Grouped evaluation: no value of this column (e.g. account_id) in both
    /// train and test, and grouped cross-validation folds.
    #[arg(long)]
    pub group_column: Option<String>,
    /// Account id column: groups leads into accounts and fits an account
    /// model (also the split group unless --group-column is given).
    #[arg(long)]
    pub account_column: Option<String>,
    /// Email column: a lead without an account id joins the account of its
    /// email's company domain (free-mail never forms an account).
    #[arg(long)]
    pub email_column: Option<String>,
    /// Numeric features that count as behaviour for accounts (engaged
    /// contacts, sums and maxima), comma separated; default: every numeric
    /// feature.
    #[arg(long, value_delimiter = ',')]
    pub behavioural_features: Vec<String>,
    /// A separate held-out file with the same columns: all of --data trains,
    /// all of this file tests (instead of splitting --data).
    #[arg(long, conflicts_with_all = ["time_column", "group_column"])]
    pub test_data: Option<PathBuf>,
    /// Events table (CSV or Parquet; one row per event: lead id, time, type,
    /// optional value): its window features are computed point in time for
    /// each lead of --data and added as columns (needs --id and
    /// --as-of-column).
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// Column of --data with each lead's as-of time (RFC 3339 or a date):
    /// only events strictly before it (plus --as-of-offset-days) count.
    #[arg(long)]
    pub as_of_column: Option<String>,
    /// Days added to --as-of-column, e.g. 30 for "created_at + 30 days".
    #[arg(long)]
    pub as_of_offset_days: Option<f64>,
    /// Lead id column of --events (matched against --id).
    #[arg(long)]
    pub event_lead_column: Option<String>,
    /// Time column of --events (default "timestamp").
    #[arg(long)]
    pub event_time_column: Option<String>,
    /// Type column of --events (default "event_type").
    #[arg(long)]
    pub event_type_column: Option<String>,
    /// Optional numeric value column of --events (read by value_sum features).
    #[arg(long)]
    pub event_value_column: Option<String>,
    /// The window features (`[event_features]` with `event_types` and
    /// `[[event_features.features]]`); `None` = the defaults for the event
    /// types present ([`crate::scoring::events::EventDefinition::defaults`]).
    #[arg(skip)]
    pub event_features: Option<crate::scoring::events::EventDefinition>,
    /// Output directory, normally models/<name>/<version>.
    // The doc comment is the `--help` line, so it stays plain text.
    #[allow(rustdoc::invalid_html_tags)]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Hyperparameters (`[params]`, with `[params.gbdt]`).
    #[command(flatten)]
    pub params: TrainParams,
    /// Lifecycle stage rules (`[[stages]]` with `stage` and `when`), checked
    /// against the model's feature names; `None` = the defaults for the
    /// model's features ([`crate::train::default_stages::default_for_features`]).
    #[arg(skip)]
    pub stages: Option<StageRules>,
    /// Labels, reason templates and `actionable` per feature name
    /// (`[features.<name>]`: label, reason, reason_when_false, actionable),
    /// applied after fitting.
    #[arg(skip)]
    pub features: BTreeMap<String, FeatureText>,
    /// The command line, recorded in provenance (see [`command_line`]).
    #[arg(skip)]
    #[serde(skip)]
    pub command: String,
}

impl TrainSettings {
    /// Reads a `train.toml`.
    ///
    /// # Errors
    /// [`TrainError::Io`] when the file cannot be read, [`TrainError::Config`]
    /// with the TOML parser's line and column (an unknown key included).
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

    /// The settings of a parsed command line (from
    /// `TrainSettings::command().get_matches()`): the `--config` file if
    /// one is given, with every flag given over it.
    ///
    /// # Errors
    /// As [`TrainSettings::read`] and [`TrainSettings::override_with`].
    pub fn from_flags(flags: &ArgMatches) -> Result<Self, TrainError> {
        let mut settings = match flags.get_one::<PathBuf>("config") {
            Some(path) => Self::read(path)?,
            None => Self::default(),
        };
        settings.override_with(flags)?;
        Ok(settings)
    }

    /// Flags override these settings (normally a file's): each flag given
    /// replaces its value, a list flag the whole list; flags not given leave
    /// values alone. `--time-column` or `--group-column` replaces both split
    /// columns, so a flag can switch the file's split to the other kind.
    ///
    /// # Errors
    /// [`TrainError::CommandLine`] when `flags` come from another command.
    pub fn override_with(&mut self, flags: &ArgMatches) -> Result<(), TrainError> {
        if flags.contains_id("time_column") || flags.contains_id("group_column") {
            self.time_column = None;
            self.group_column = None;
        }
        self.update_from_arg_matches(flags)?;
        Ok(())
    }

    /// Checks the settings once, up front.
    ///
    /// # Errors
    /// [`TrainError::MissingSetting`] without `data` or `target`;
    /// [`TrainError::InvalidParam`] for both a time and a group column, or
    /// for the first bad hyperparameter ([`TrainParams::check`]).
    pub fn check(&self) -> Result<ValidTrainSettings, TrainError> {
        let data = self.data.clone().ok_or(TrainError::MissingSetting {
            flag: "--data",
            key: "data",
        })?;
        let target = self.target.clone().ok_or(TrainError::MissingSetting {
            flag: "--target",
            key: "target",
        })?;
        if self.time_column.is_some() && self.group_column.is_some() {
            return Err(TrainError::InvalidParam {
                name: "time_column/group_column",
                problem: "choose one: an out-of-time or a grouped split".into(),
            });
        }
        let params = self.params.clone().check()?;
        Ok(ValidTrainSettings {
            data,
            target,
            params,
            settings: self.clone(),
        })
    }
}

/// The command line as one string, for provenance: an argument with a space
/// or a `*` in it is put in single quotes, so the line can be pasted back.
pub fn command_line(args: impl IntoIterator<Item = String>) -> String {
    args.into_iter()
        .map(|a| {
            if a.contains(' ') || a.contains('*') {
                format!("'{a}'")
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checked [`TrainSettings`]: a data file and a target are given, and the
/// hyperparameters are valid.
#[derive(Debug, Clone)]
pub struct ValidTrainSettings {
    data: PathBuf,
    target: String,
    params: ValidTrainParams,
    settings: TrainSettings,
}

impl ValidTrainSettings {
    /// The training file.
    pub fn data(&self) -> &Path {
        &self.data
    }

    /// The binary target column.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The checked hyperparameters.
    pub fn params(&self) -> &TrainParams {
        self.params.get()
    }

    /// Every setting as given (the checked values included).
    pub fn settings(&self) -> &TrainSettings {
        &self.settings
    }

    /// The output directory.
    ///
    /// # Errors
    /// [`TrainError::MissingSetting`] when neither `--out` nor `out` is given.
    pub fn out_dir(&self) -> Result<&Path, TrainError> {
        self.settings
            .out
            .as_deref()
            .ok_or(TrainError::MissingSetting {
                flag: "--out",
                key: "out",
            })
    }
}

/// Trainer hyperparameters, unchecked (`[params]` in `train.toml`, and their
/// flags). Call [`TrainParams::check`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct TrainParams {
    /// Model family; `auto` cross-validates both and keeps the lower log loss.
    #[arg(long, value_enum, required = false)]
    pub model: ModelFamily,
    /// Probability calibration; `auto` picks by cross-validated log loss.
    #[arg(long, value_enum, required = false)]
    pub calibration: CalibrationChoice,
    /// Class weights in the fitting loss.
    #[arg(long, value_enum, required = false)]
    pub class_weight: ClassWeight,
    /// Cross-validation folds on the training rows.
    #[arg(long, required = false)]
    pub folds: usize,
    /// Fewest rows of each class to train at all.
    #[arg(long, required = false)]
    pub min_positives: usize,
    /// L2 penalty alpha of the logistic model (scikit-learn's 1/C).
    ///
    /// The objective is `Σ logloss + alpha/2 · ‖w‖²` (intercept not penalised).
    #[arg(long, required = false, long_help = None)]
    pub l2: f64,
    /// Share of rows held out for the test metrics.
    #[arg(long, required = false)]
    pub test_fraction: f64,
    /// Seed of the split and folds.
    #[arg(long, required = false)]
    pub seed: u64,
    /// Logistic solver iteration limit.
    #[arg(long, required = false)]
    pub max_iterations: u64,
    /// Category levels seen on fewer training rows go to "(other)".
    #[arg(long, required = false)]
    pub min_category_count: usize,
    /// Quantile bins per numeric feature for the logistic model (0 = linear only).
    ///
    /// The bins are one-hot columns beside the linear term; 0 or 1 = none.
    /// Trees bin on their own.
    #[arg(long, required = false, long_help = None)]
    pub numeric_bins: usize,
    /// Share of training leads in the "hot" band.
    #[arg(long, required = false)]
    pub hot_share: f64,
    /// Share of training leads in the "warm" band.
    #[arg(long, required = false)]
    pub warm_share: f64,
    /// Gradient-boosting hyperparameters (`[params.gbdt]`).
    #[command(flatten)]
    pub gbdt: GbdtParams,
}

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            model: ModelFamily::Auto,
            calibration: CalibrationChoice::Auto,
            class_weight: ClassWeight::None,
            folds: 5,
            min_positives: 30,
            l2: 1.0,
            test_fraction: 0.2,
            seed: 42,
            max_iterations: 500,
            min_category_count: 10,
            numeric_bins: 10,
            hot_share: 0.2,
            warm_share: 0.3,
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
        self.gbdt.check().map_err(|e| TrainError::InvalidParam {
            name: "gbdt",
            problem: e.to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::stages::StageRule;
    use clap::CommandFactory;

    fn flags(args: &[&str]) -> ArgMatches {
        TrainSettings::command()
            .try_get_matches_from(std::iter::once("leadscore-train").chain(args.iter().copied()))
            .expect("flags parse")
    }

    #[test]
    fn the_command_line_is_well_formed() {
        TrainSettings::command().debug_assert();
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
        let mut bad = TrainParams::default();
        bad.gbdt.n_trees = 0;
        let err = bad.check().expect_err("no trees");
        assert!(
            err.to_string()
                .starts_with("invalid parameter gbdt: n_trees must be at least 1"),
            "{err}"
        );
    }

    #[test]
    fn settings_need_data_and_target_and_one_split() {
        let err = TrainSettings::default().check().expect_err("no data");
        assert_eq!(
            err.to_string(),
            "--data (or `data` in the config file) is required"
        );
        let settings = TrainSettings {
            data: Some("leads.csv".into()),
            ..TrainSettings::default()
        };
        assert!(matches!(
            settings.check(),
            Err(TrainError::MissingSetting { key: "target", .. })
        ));
        let settings = TrainSettings {
            target: Some("converted".into()),
            ..settings
        };
        let valid = settings.check().expect("valid");
        assert_eq!(valid.data(), Path::new("leads.csv"));
        assert_eq!(valid.target(), "converted");
        assert!(matches!(
            valid.out_dir(),
            Err(TrainError::MissingSetting { key: "out", .. })
        ));
        let both = TrainSettings {
            time_column: Some("signup_date".into()),
            group_column: Some("account_id".into()),
            ..settings
        };
        assert!(matches!(
            both.check(),
            Err(TrainError::InvalidParam {
                name: "time_column/group_column",
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
        let config: TrainSettings = toml::from_str(text).expect("parses");
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
            Some(StageRules(vec![StageRule::parse(
                "activation",
                &["report_created == true"]
            )
            .expect("rule")]))
        );
        assert_eq!(
            toml::from_str::<TrainSettings>("").expect("empty"),
            TrainSettings::default()
        );
        let typo = "[params]\nl2_penalty = 3.0\n";
        let err = toml::from_str::<TrainSettings>(typo).expect_err("unknown key");
        assert!(err.to_string().contains("l2_penalty"), "{err}");
        // Flag-only and code-only fields are not keys of the file.
        for key in ["config = \"x.toml\"\n", "command = \"x\"\n"] {
            assert!(toml::from_str::<TrainSettings>(key).is_err(), "{key}");
        }
    }

    #[test]
    fn flags_override_the_file_one_by_one() {
        let mut settings: TrainSettings = toml::from_str(
            r#"
            data = "file.csv"
            target = "converted"
            exclude = ["Tags"]
            time_column = "created"
            [params]
            folds = 3
            seed = 7
            [params.gbdt]
            n_trees = 300
            learning_rate = 0.05
        "#,
        )
        .expect("parses");
        settings
            .override_with(&flags(&[
                "--data",
                "flag.csv",
                "--exclude",
                "Tags,Lead Quality",
                "--group-column",
                "account_id",
                "--seed",
                "9",
                "--trees",
                "50",
                "--model",
                "gbdt",
            ]))
            .expect("override");
        assert_eq!(settings.data.as_deref(), Some(Path::new("flag.csv")));
        assert_eq!(settings.target.as_deref(), Some("converted"));
        assert_eq!(settings.exclude, ["Tags", "Lead Quality"]);
        // A split flag replaces the file's split of the other kind.
        assert_eq!(settings.time_column, None);
        assert_eq!(settings.group_column.as_deref(), Some("account_id"));
        assert_eq!(settings.params.model, ModelFamily::Gbdt);
        assert_eq!((settings.params.folds, settings.params.seed), (3, 9));
        assert_eq!(settings.params.gbdt.n_trees, 50);
        assert_eq!(settings.params.gbdt.learning_rate, 0.05);
        assert_eq!(
            settings.params.gbdt.min_sum_hessian_in_leaf,
            GbdtParams::default().min_sum_hessian_in_leaf
        );

        // No flags: the file as it was; no file: the defaults.
        let before = settings.clone();
        settings.override_with(&flags(&[])).expect("override");
        assert_eq!(settings, before);
        let from_flags = TrainSettings::from_flags(&flags(&["--target", "won"])).expect("flags");
        assert_eq!(
            from_flags,
            TrainSettings {
                target: Some("won".into()),
                ..TrainSettings::default()
            }
        );
    }

    #[test]
    fn help_lists_every_flag() {
        let help = TrainSettings::command().render_long_help().to_string();
        for flag in [
            "--config",
            "--data",
            "--target",
            "--id",
            "--exclude",
            "--na-values",
            "--allow-leaky",
            "--time-column",
            "--group-column",
            "--account-column",
            "--email-column",
            "--behavioural-features",
            "--test-data",
            "--out",
            "--model",
            "--calibration",
            "--class-weight",
            "--folds",
            "--min-positives",
            "--l2",
            "--test-fraction",
            "--seed",
            "--max-iterations",
            "--min-category-count",
            "--numeric-bins",
            "--hot-share",
            "--warm-share",
            "--trees <TREES>",
            "--learning-rate",
            "--num-leaves",
            "--max-depth",
            "--min-data-in-leaf",
        ] {
            assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
        }
        assert!(help.contains("L2 penalty alpha of the logistic model (scikit-learn's 1/C)\n"));
        assert!(!help.contains("min-sum-hessian"), "{help}");
    }

    #[test]
    fn the_command_line_is_recorded_pasteable() {
        let line = command_line(
            [
                "leadscore-train",
                "--exclude",
                "Asymmetrique*",
                "--id",
                "Prospect ID",
            ]
            .map(String::from),
        );
        assert_eq!(
            line,
            "leadscore-train --exclude 'Asymmetrique*' --id 'Prospect ID'"
        );
    }
}
