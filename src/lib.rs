//! leadscore: a gRPC service that turns a B2B lead's behaviour into a
//! calibrated purchase-likelihood score, and explains each score.
//!
//! Map of the crate:
//! - [`features`]: the one feature pipeline (imputation, one-hot, scaling),
//!   shared by trainer and server.
//! - [`model`]: the `model.json` artifact, its validation, scoring and exact
//!   explanations.
//! - [`registry`]: the model repository on disk (`<name>/<version>/model.json`)
//!   and lookups by name and version.
//! - [`train`]: the trainer (used by `leadscore-train`): reading the table
//!   ([`table`]: CSV or Parquet), the leakage guard ([`leakage`]), splits and
//!   cross-validation folds ([`splits`]), logistic regression ([`linear`]) and
//!   gradient-boosted trees ([`gbdt`]: training, our own tree format, the
//!   evaluator and TreeSHAP; [`shap_tables`]: the same TreeSHAP values from
//!   per-leaf tables, as served), calibration ([`calibration`]), and the
//!   training report with its plots ([`report`]).
//! - [`accounts`]: the buying company behind leads: account keys (account id
//!   or email domain, free-mail excluded), the lead lens and roll-up shared
//!   by trainer and server, fallback and the account model (fitted by the
//!   trainer with `--account-column`); [`stages`]: lifecycle stage rules (`public_traffic` … `signing`).
//! - [`evaluation`]: ROC AUC, PR AUC, log loss, Brier, calibration error,
//!   lift, and the curves behind the report's plots.
//! - [`grpc`]: the `leadscore.v1.LeadScoring` service; [`error`] is the one
//!   place where gRPC status codes are chosen.
//! - [`server`]: `serve(listeners, settings, shutdown)` with health,
//!   reflection, TLS and graceful drain; [`limits`]: concurrency limit and
//!   deadlines as tower layers; [`reload`]: hot reload of the repository.
//! - [`metrics`]: every Prometheus metric and the `/metrics` endpoint.
//! - [`oip`]: the Open Inference Protocol (KServe V2) `inference.GRPCInferenceService`
//!   with Triton's ModelConfig / ModelStatistics, over the same registry.
//! - [`config`], [`telemetry`], [`otel`]: settings from flags / env vars,
//!   logging, and optional OpenTelemetry trace export.
//! - [`proto`]: generated wire types and the reflection descriptor set.
//! - [`synthetic`]: lead data generated from a known model (and companies
//!   whose purchase depends on several engaged contacts), for tests, demos
//!   and benchmarks.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod calibration;
pub mod config;
pub mod error;
pub mod evaluation;
pub mod features;
pub mod gbdt;
pub mod grpc;
pub mod leakage;
pub mod limits;
pub mod linear;
pub mod metrics;
pub mod model;
pub mod oip;
pub mod otel;
pub mod proto;
pub mod registry;
pub mod reload;
pub mod report;
pub mod server;
pub mod shap_tables;
pub mod splits;
pub mod stages;
pub mod synthetic;
pub mod table;
pub mod telemetry;
pub mod train;
