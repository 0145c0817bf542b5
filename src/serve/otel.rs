//! Optional OpenTelemetry trace export (OTLP over gRPC) and W3C trace-context
//! propagation from incoming gRPC metadata.
//!
//! Off unless the server is given an OTLP endpoint. When on, [`layer`] returns
//! a `tracing_subscriber` layer that turns `tracing` spans into OpenTelemetry
//! spans and hands them to a batch exporter, plus an [`OtelGuard`] that
//! flushes and shuts the exporter down when dropped. Nothing global is set:
//! no global tracer provider, no global propagator.
//!
//! Propagation: [`set_parent_from_headers`] / [`set_parent_from_metadata`]
//! read `traceparent` / `tracestate` (W3C Trace Context) and make the
//! caller's span the parent of a server span, e.g. in tonic's
//! `Server::builder().trace_fn(..)`:
//!
//! ```ignore
//! Server::builder().trace_fn(|req| {
//!     let span = tracing::info_span!("grpc", rpc = %req.uri().path());
//!     leadscore::serve::otel::set_parent_from_headers(&span, req.headers());
//!     span
//! })
//! ```
//!
//! Runtime requirements:
//! - [`layer`] must be called inside a Tokio runtime: the gRPC channel of the
//!   exporter spawns its connection task there. Without one it returns
//!   [`OtelError::NoRuntime`] instead of panicking.
//! - Spans are exported from a dedicated OS thread (the SDK's batch span
//!   processor), every 5 s or every 512 spans (`OTEL_BSP_*` env vars tune
//!   this), while the network I/O runs on the Tokio runtime. That runtime must
//!   stay alive until [`OtelGuard`] is shut down.
//! - [`OtelGuard::force_flush`], [`OtelGuard::shutdown`] and dropping the
//!   guard block the calling thread until the export finishes or times out.
//!   On a multi-thread runtime this is fine; on a current-thread runtime,
//!   calling them from the runtime's own thread stalls the very I/O they wait
//!   for, so they time out (5 s) and the pending spans are lost.

use std::time::Duration;

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::registry::LookupSpan;

/// Instrumentation scope name given to the tracer.
const TRACER_NAME: &str = "leadscore";

/// How long [`OtelGuard`] waits for the final export on shutdown.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// What can go wrong setting up, flushing or shutting down trace export.
#[derive(Debug, thiserror::Error)]
pub enum OtelError {
    /// [`layer`] was called outside a Tokio runtime.
    #[error("OpenTelemetry export must be set up inside a Tokio runtime")]
    NoRuntime,
    /// The OTLP exporter could not be built (bad endpoint, bad env var, ...).
    #[error("building the OTLP span exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// A forced flush did not complete (exporter error or timeout).
    #[error("flushing spans: {0}")]
    Flush(#[source] OTelSdkError),
    /// Shutting the tracer provider down failed (exporter error or timeout).
    #[error("shutting down the tracer provider: {0}")]
    Shutdown(#[source] OTelSdkError),
}

/// Owns the tracer provider; flushes and shuts it down on drop.
///
/// Keep it alive for as long as spans should be exported (typically until
/// `main` returns), and drop it, or call [`OtelGuard::shutdown`], while the
/// Tokio runtime that [`layer`] was called in is still running.
#[derive(Debug)]
#[must_use = "dropping the guard shuts trace export down"]
pub struct OtelGuard {
    provider: Option<SdkTracerProvider>,
}

impl OtelGuard {
    /// Exports every span that has ended so far, blocking until the exporter
    /// has answered or the SDK's flush timeout passed.
    ///
    /// # Errors
    /// [`OtelError::Flush`] when the export failed or timed out.
    pub fn force_flush(&self) -> Result<(), OtelError> {
        match &self.provider {
            Some(provider) => blocking(|| provider.force_flush()).map_err(OtelError::Flush),
            None => Ok(()),
        }
    }

    /// Exports the remaining spans and stops the exporter; later spans are
    /// dropped. Blocks for at most about 5 seconds.
    ///
    /// # Errors
    /// [`OtelError::Shutdown`] when the final export failed or timed out.
    pub fn shutdown(mut self) -> Result<(), OtelError> {
        self.shutdown_inner()
    }

    fn shutdown_inner(&mut self) -> Result<(), OtelError> {
        match self.provider.take() {
            Some(provider) => blocking(|| provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT))
                .map_err(OtelError::Shutdown),
            None => Ok(()),
        }
    }
}

impl Drop for OtelGuard {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown_inner() {
            tracing::warn!(%error, "OpenTelemetry shutdown failed; some spans may be lost");
        }
    }
}

/// Runs a blocking SDK call; on a multi-thread Tokio worker, tells Tokio first
/// so that the worker's other tasks (among them the exporter's I/O) move on.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Builds a layer exporting `tracing` spans as OpenTelemetry spans over OTLP/gRPC.
///
/// `endpoint` is the collector's gRPC address, e.g. `http://127.0.0.1:4317`
/// (an empty string falls back to `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, then
/// `OTEL_EXPORTER_OTLP_ENDPOINT`, then `http://localhost:4317`). The resource
/// carries `service.name = service_name`. Spans go through a batch
/// processor; the connection is made lazily, so an unreachable collector is
/// not an error here (exports fail later and are reported by the SDK).
///
/// Add the layer to the subscriber and keep the returned [`OtelGuard`].
///
/// # Errors
/// [`OtelError::NoRuntime`] outside a Tokio runtime; [`OtelError::Exporter`]
/// when the endpoint (or an `OTEL_EXPORTER_OTLP_*` variable) is invalid.
pub fn layer<S>(
    endpoint: &str,
    service_name: &str,
) -> Result<(impl tracing_subscriber::Layer<S>, OtelGuard), OtelError>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(OtelError::NoRuntime);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()?;
    let resource = Resource::builder()
        .with_service_name(service_name.to_owned())
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer(TRACER_NAME);
    let layer = tracing_opentelemetry::layer().with_tracer(tracer);
    Ok((
        layer,
        OtelGuard {
            provider: Some(provider),
        },
    ))
}

/// Makes the remote caller's span, named by W3C `traceparent` /
/// `tracestate` headers, the parent of `span`.
///
/// Returns whether a parent was set. Nothing changes (and `false` comes back)
/// when the headers carry no valid `traceparent`, when `span` is disabled or
/// has no OpenTelemetry layer, or when `span` was already entered: call this
/// right after creating the span, before entering or instrumenting with it.
pub fn set_parent_from_headers(span: &tracing::Span, headers: &http::HeaderMap) -> bool {
    let cx = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    if !cx.span().span_context().is_valid() {
        // Keep the span's local `tracing` parent, if any, rather than making it a root.
        return false;
    }
    span.set_parent(cx).is_ok()
}

/// [`set_parent_from_headers`] for tonic's request metadata
/// (`request.metadata()` in a handler or interceptor).
pub fn set_parent_from_metadata(
    span: &tracing::Span,
    metadata: &tonic::metadata::MetadataMap,
) -> bool {
    set_parent_from_headers(span, metadata.as_ref())
}

/// Reads propagation fields from an HTTP/2 header map; non-ASCII values are skipped.
struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_outside_a_runtime_is_an_error_not_a_panic() {
        let result = layer::<tracing_subscriber::Registry>("http://127.0.0.1:4317", "t");
        assert!(matches!(result, Err(OtelError::NoRuntime)));
    }

    #[tokio::test]
    async fn invalid_endpoint_is_an_error() {
        let result = layer::<tracing_subscriber::Registry>("not a uri", "t");
        assert!(
            matches!(result, Err(OtelError::Exporter(_))),
            "{:?}",
            result.err()
        );
    }

    #[test]
    fn missing_or_malformed_traceparent_sets_no_parent() {
        let span = tracing::Span::none();
        let mut headers = http::HeaderMap::new();
        assert!(!set_parent_from_headers(&span, &headers));
        headers.insert("traceparent", http::HeaderValue::from_static("00-zz-yy-01"));
        assert!(!set_parent_from_headers(&span, &headers));
    }
}
