//! The trainer's part: from a CRM export to a `model.json` and its report.
//!
//! Map of the part, in the order a training run uses it
//! ([`pipeline`] holds the steps by name: read → guard → split → fit →
//! calibrate → evaluate → report → write):
//! - [`settings`]: the one settings type, from flags, `train.toml` or code.
//! - [`table`]: CSV (delimiter detection) or Parquet into a table of cells.
//! - [`leakage`]: the leakage guard.
//! - [`splits`]: stratified, out-of-time and grouped splits and folds.
//! - [`linear`]: logistic regression; [`grow`]: gradient-boosted tree
//!   growth (histograms, best-first leaves).
//! - [`calibrate`]: Platt and isotonic fitting.
//! - [`accounts`]: the account model's fitter.
//! - [`import`]: LightGBM and XGBoost models into our artifact (`leadscore-train import`).
//! - [`evaluation`]: ROC AUC, PR AUC, log loss, Brier, calibration error,
//!   lift, and the curves behind the report's plots; [`report`]: the report.
//! - [`synthetic`]: lead data from a known model, for tests, demos and
//!   benchmarks.
//!
//! It builds on [`crate::scoring`] and never imports `serve`.

pub mod accounts;
pub mod calibrate;
pub mod evaluation;
pub mod grow;
pub mod import;
pub mod leakage;
pub mod linear;
pub mod pipeline;
pub mod report;
pub mod settings;
pub mod splits;
pub mod synthetic;
pub mod table;

pub use pipeline::*;
