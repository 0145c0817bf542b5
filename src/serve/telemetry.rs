//! Logging setup: `tracing` with an env-filter, as JSON lines or text, plus
//! optional OpenTelemetry trace export (see [`crate::serve::otel`]).

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::serve::config::LogFormat;
use crate::serve::otel::OtelGuard;

/// Installs the global subscriber writing to stderr, and an OTLP exporter
/// when `otlp_endpoint` is given. Keep the returned guard alive until exit:
/// dropping it flushes the last spans.
///
/// `filter` is a level ("info") or a directive list ("leadscore=debug,tower=warn");
/// `RUST_LOG`, when set, wins.
///
/// # Errors
/// When the filter does not parse, the exporter cannot be built, or a
/// subscriber is already installed.
pub fn init(
    format: LogFormat,
    filter: &str,
    otlp_endpoint: Option<&str>,
) -> Result<Option<OtelGuard>, Box<dyn std::error::Error + Send + Sync>> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => EnvFilter::try_new(env)?,
        _ => EnvFilter::try_new(filter)?,
    };
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let json_layer = json.then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(std::io::stderr)
    });
    let text_layer = (!json).then(|| {
        tracing_subscriber::fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
    });
    let (otel_layer, guard) = match otlp_endpoint {
        Some(endpoint) => {
            let (layer, guard) = crate::serve::otel::layer(endpoint, "leadscore-server")?;
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(json_layer)
        .with(text_layer)
        .with(otel_layer)
        .try_init()?;
    Ok(guard)
}
