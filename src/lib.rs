//! leadscore: a gRPC service that turns a B2B lead's behaviour into a
//! calibrated purchase-likelihood score, and explains each score.
//!
//! The crate is one house in three parts, whose boundaries the compiler
//! enforces through Cargo features (see `docs/architecture.md`):
//! - [`scoring`] (always built): the `model.json` artifact and its checks, the
//!   one feature pipeline, logistic and tree evaluation, TreeSHAP,
//!   calibration, bands, stages, accounts, reasons and suggestions. It knows
//!   nothing of transport or of fitting: std, serde and ndarray only.
//! - [`train`] (feature `train`): reading tables, the leakage guard, splits,
//!   fitting, evaluation and the report, for `leadscore-train`. It builds
//!   on `scoring` and never sees `serve`.
//! - [`serve`] (feature `serve`): gRPC (leadscore.v1 and the Open Inference
//!   Protocol), limits and deadlines, the model registry and hot reload,
//!   metrics, tracing and TLS, for `leadscore-server`. It builds on
//!   `scoring` and never sees `train`.
//!
//! Beside them, [`cli`] is how both binaries end: errors as plain lines,
//! never a stack backtrace.
#![forbid(unsafe_code)]

pub mod cli;
pub mod scoring;
#[cfg(feature = "serve")]
pub mod serve;
#[cfg(feature = "train")]
pub mod train;
