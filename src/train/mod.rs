//! The trainer's part: from a CRM export to a `model.json` and its report.
//!
//! Map of the part, in the order a training run uses it:
//! - [`settings`]: the one settings type, from flags, `train.toml` or code;
//!   [`error`]: [`TrainError`].
//! - [`pipeline`]: a training run as a list of named steps, read → guard →
//!   split → fit → calibrate → evaluate → report → write; the steps live in
//!   `prepare.rs` (read, guard, split), `fit.rs` (fit, calibrate, the final
//!   fit) and `evaluate.rs` (the artifact, held-out evaluation, accounts);
//!   [`progress`]: how a run reports progress.
//! - [`table`]: CSV (delimiter detection) or Parquet into a table of cells;
//!   [`events`]: an events table joined to the leads as point-in-time window
//!   features (the function the server uses on a request's events).
//! - [`leakage`]: the leakage guard.
//! - [`splits`]: stratified, out-of-time and grouped splits and folds.
//! - [`linear`]: logistic regression; [`grow`]: gradient-boosted tree
//!   growth (histograms, best-first leaves).
//! - [`calibrate`]: Platt and isotonic fitting.
//! - [`accounts`]: the account model's fitter; [`default_stages`]: the
//!   lifecycle stage rules a model gets without `[[stages]]` (data in
//!   `default_stages.toml`).
//! - [`import`]: LightGBM and XGBoost models into our artifact (`leadscore-train import`).
//! - [`evaluation`]: ROC AUC, PR AUC, log loss, Brier, calibration error,
//!   lift, and the curves behind the report's plots; [`report`]: the report.
//! - [`synthetic`]: lead data from a known model, for tests, demos and
//!   benchmarks.
//!
//! It builds on [`crate::scoring`] and never imports `serve`.

pub mod accounts;
pub mod calibrate;
pub mod default_stages;
pub mod error;
mod evaluate;
pub mod evaluation;
pub mod events;
mod fit;
pub mod grow;
pub mod import;
pub mod leakage;
pub mod linear;
pub mod pipeline;
mod prepare;
pub mod progress;
pub mod report;
pub mod settings;
pub mod splits;
pub mod synthetic;
pub mod table;

pub use error::TrainError;
pub use evaluate::derive_bands;
pub use pipeline::*;
pub use prepare::DEFAULT_NA_VALUES;
pub use progress::{Progress, Quiet};
pub use settings::{
    command_line, CalibrationChoice, ClassWeight, ModelFamily, TrainParams, TrainSettings,
    ValidTrainParams, ValidTrainSettings,
};
pub use splits::stratified_split;
