//! The server's part: protocols, limits, the model registry and operations.
//!
//! Map of the part, in the order a request meets it:
//! - [`config`]: flags and `LEADSCORE_*` environment variables into
//!   [`server::ServerSettings`].
//! - [`server`]: `serve(listeners, settings, shutdown)` with health,
//!   reflection, TLS and graceful drain.
//! - [`limits`]: concurrency limit and deadlines as tower layers.
//! - [`grpc`]: the `leadscore.v1.LeadScoring` service (thin handlers over
//!   [`crate::scoring`]); [`oip`]: the Open Inference Protocol (KServe V2)
//!   `inference.GRPCInferenceService` over the same registry.
//! - [`http`]: the same leadscore API in proto3 JSON over HTTP/1.1 and
//!   HTTP/2, calling the gRPC service's handlers; [`oip_rest`]: the Open
//!   Inference Protocol's REST binding (KServe V2 `/v2`), calling [`oip`]'s;
//!   [`body`]: reading a request body within the size and time limits;
//!   [`ndjson`]: cutting a streamed NDJSON body into lines as it arrives.
//! - [`status`]: the **one** place where errors become `tonic::Status` and
//!   where gRPC codes get their metric labels.
//! - [`registry`]: the model repository on disk (`<name>/<version>/model.json`)
//!   and lookups by name and version; [`reload`]: hot reload.
//! - [`metrics`]: every Prometheus metric and the `/metrics` endpoint.
//! - [`telemetry`], [`otel`]: logging and optional OpenTelemetry export.
//! - [`proto`]: generated wire types and the reflection descriptor set.
//!
//! It builds on [`crate::scoring`] and never imports `train` or linfa.

pub mod body;
pub mod config;
pub mod grpc;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod ndjson;
pub mod oip;
pub mod oip_rest;
pub mod otel;
pub mod proto;
pub mod registry;
pub mod reload;
pub mod server;
pub mod status;
pub mod telemetry;
