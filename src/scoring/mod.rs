//! The scoring core: everything the trainer and the server must agree on,
//! and nothing about how a request arrives or how a model was fitted.
//!
//! Map of the part:
//! - [`model`]: the `model.json` artifact ([`model::ModelArtifact`]), its
//!   validation into a [`model::ScoringModel`], scoring, exact explanations
//!   and suggestions.
//! - [`features`]: the one feature pipeline (imputation, one-hot, scaling,
//!   shown values), shared by trainer and server.
//! - [`trees`]: our gradient-boosted tree format, its evaluator
//!   ([`trees::FlatForest`]) and path-dependent TreeSHAP;
//!   [`shap_tables`]: the same TreeSHAP values from per-leaf tables, as served.
//! - [`calibration`]: the stored map from raw log-odds to probability.
//! - [`stages`]: lifecycle stage rules (`public_traffic` … `signing`).
//! - [`accounts`]: account keys (account id or company email domain), the
//!   lead lens and roll-up, and the account model;
//!   [`account_scoring`]: [`account_scoring::score_accounts`], the accounts
//!   of a batch of scored leads (grouping, roll-up, account model or
//!   fallback, top leads).
//! - [`events`]: point-in-time window features over raw events (counts,
//!   active days, recency, decayed counts, "ever did X", ratios), the one
//!   definition trainer and server share.
//! - [`math`]: the one sigmoid / log-odds pair.
//! - [`time`]: the one date and timestamp parser.
//! - [`batch`]: the one deadline-bounded loop over a batch of rows;
//!   [`dense`]: the Score path of dense rows (tensors), a block at a time.
//! - [`tree_blocks`]: trees as complete binary trees, walked several rows
//!   (or trees) at a time: the Score path's tree evaluator.
//!
//! Allowed imports: std, serde, serde_json, ndarray, thiserror. Never tonic,
//! prost, tokio, hyper, axum, linfa, csv, parquet or indicatif (CI checks
//! this with `cargo tree`).

pub mod account_scoring;
pub mod accounts;
pub mod batch;
pub mod calibration;
pub mod dense;
pub mod events;
pub mod features;
pub mod math;
pub mod model;
pub mod shap_tables;
pub mod stages;
pub mod time;
pub mod tree_blocks;
pub mod trees;
