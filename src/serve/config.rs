//! Server settings: every flag has an environment-variable twin
//! (`--grpc-addr` / `LEADSCORE_GRPC_ADDR`, ...). Doc comments become `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable text on a terminal, JSON otherwise (e.g. in a container).
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// leadscore-server: gRPC lead scoring with explanations.
#[derive(Debug, Clone, Parser)]
#[command(name = "leadscore-server", version, about)]
pub struct ServerConfig {
    /// Address to serve gRPC on.
    #[arg(long, env = "LEADSCORE_GRPC_ADDR", default_value = "0.0.0.0:50051")]
    pub grpc_addr: SocketAddr,

    /// Model repository: <dir>/<name>/<version>/model.json.
    #[arg(long, env = "LEADSCORE_MODELS", default_value = "models")]
    pub models: PathBuf,

    /// Model used when a request leaves `model` empty (default: first name alphabetically).
    #[arg(long, env = "LEADSCORE_DEFAULT_MODEL")]
    pub default_model: Option<String>,

    /// Log format.
    #[arg(long, env = "LEADSCORE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,

    /// Log level or tracing filter directive (e.g. "info", "leadscore=debug").
    #[arg(long, env = "LEADSCORE_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Address of the Prometheus /metrics endpoint ("off" disables it).
    #[arg(long, env = "LEADSCORE_METRICS_ADDR", default_value = "0.0.0.0:9090", value_parser = parse_optional_addr)]
    pub metrics_addr: OptionalAddr,

    /// Address of the HTTP/JSON API, HTTP/1.1 and HTTP/2 ("off" disables it; docs/http.md).
    #[arg(long, env = "LEADSCORE_HTTP_ADDR", default_value = "0.0.0.0:8080", value_parser = parse_optional_addr)]
    pub http_addr: OptionalAddr,

    /// Drop metric series not updated for this long (e.g. those of unloaded model versions).
    #[arg(long, env = "LEADSCORE_METRICS_IDLE_TIMEOUT", default_value = "10m", value_parser = parse_duration)]
    pub metrics_idle_timeout: Duration,

    /// Newest versions kept loaded per model (labelled versions are kept too).
    #[arg(long, env = "LEADSCORE_KEEP_VERSIONS", default_value_t = 3)]
    pub keep_versions: usize,

    /// Watch the model repository for changes and reload (SIGHUP and polling work either way).
    #[arg(long, env = "LEADSCORE_WATCH_MODELS", default_value_t = true, action = clap::ArgAction::Set)]
    pub watch_models: bool,

    /// Rescan the model repository this often, besides watching it and SIGHUP ("0s" = never).
    #[arg(long, env = "LEADSCORE_RELOAD_POLL_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub reload_poll_interval: Duration,

    /// Most leads accepted in one Score or Explain request.
    #[arg(
        long,
        env = "LEADSCORE_MAX_LEADS_PER_REQUEST",
        default_value_t = 10_000
    )]
    pub max_leads_per_request: usize,

    /// Most raw events per lead (Lead.events); a lead with more gets
    /// INVALID_ARGUMENT naming it.
    #[arg(
        long,
        env = "LEADSCORE_MAX_EVENTS_PER_LEAD",
        default_value_t = crate::serve::grpc::DEFAULT_MAX_EVENTS_PER_LEAD
    )]
    pub max_events_per_lead: usize,

    /// Largest request or response message in bytes.
    #[arg(long, env = "LEADSCORE_MAX_MESSAGE_BYTES", default_value_t = 16 << 20)]
    pub max_message_bytes: usize,

    /// Requests handled at once; beyond it requests are shed with RESOURCE_EXHAUSTED.
    #[arg(long, env = "LEADSCORE_MAX_CONCURRENT_REQUESTS", default_value_t = 256)]
    pub max_concurrent_requests: usize,

    /// HTTP/2 streams one connection may have open at once (keeps one client from taking every slot).
    #[arg(
        long,
        env = "LEADSCORE_MAX_STREAMS_PER_CONNECTION",
        default_value_t = 100
    )]
    pub max_streams_per_connection: u32,

    /// Deadline for requests that send no grpc-timeout, e.g. "30s", "500ms".
    #[arg(long, env = "LEADSCORE_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Longest deadline granted, whatever grpc-timeout the client sends.
    #[arg(long, env = "LEADSCORE_MAX_REQUEST_TIMEOUT", default_value = "5m", value_parser = parse_duration)]
    pub max_request_timeout: Duration,

    /// HTTP listener: how long a client may take to send a request's headers
    /// (HTTP/1.1), to finish the TLS handshake, and to send its body.
    #[arg(long, env = "LEADSCORE_HTTP_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub http_read_timeout: Duration,

    /// TLS certificate chain (PEM); with --tls-key, serves TLS instead of
    /// plaintext on the gRPC and the HTTP listener.
    #[arg(long, env = "LEADSCORE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM).
    #[arg(long, env = "LEADSCORE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// CA certificate (PEM) that client certificates must chain to: mutual TLS.
    #[arg(long, env = "LEADSCORE_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// Export traces over OTLP/gRPC to this collector, e.g. http://otel-collector:4317.
    #[arg(long, env = "LEADSCORE_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// How long shutdown waits for in-flight requests before closing connections.
    #[arg(long, env = "LEADSCORE_SHUTDOWN_GRACE", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// On a panic (a bug), print Rust's own message with its backtrace
    /// instead of one line. Errors are always plain lines.
    #[arg(long, env = "LEADSCORE_DEBUG")]
    pub debug: bool,
}

impl ServerConfig {
    /// The settings `server::serve` needs.
    pub fn settings(&self) -> ServerSettings {
        ServerSettings {
            models_dir: self.models.clone(),
            default_model: self.default_model.clone(),
            keep_versions: self.keep_versions,
            metrics_idle_timeout: self.metrics_idle_timeout,
            watch_models: self.watch_models,
            reload_poll_interval: Some(self.reload_poll_interval).filter(|d| !d.is_zero()),
            max_leads_per_request: self.max_leads_per_request,
            max_events_per_lead: self.max_events_per_lead,
            max_message_bytes: self.max_message_bytes,
            max_concurrent_requests: self.max_concurrent_requests,
            max_streams_per_connection: self.max_streams_per_connection,
            request_timeout: self.request_timeout,
            max_request_timeout: self.max_request_timeout,
            http_read_timeout: self.http_read_timeout,
            shutdown_grace: self.shutdown_grace,
            tls: match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => Some(TlsSettings {
                    cert: cert.clone(),
                    key: key.clone(),
                    client_ca: self.tls_client_ca.clone(),
                }),
                _ => None,
            },
        }
    }
}

/// A socket address that can be switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalAddr(pub Option<SocketAddr>);

/// A socket address that is neither an address nor "off".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{text}\" is not an address like 0.0.0.0:9090 or \"off\": {source}")]
pub struct AddrError {
    /// The text as given.
    pub text: String,
    /// Why it does not parse as an address.
    pub source: std::net::AddrParseError,
}

/// Parses a socket address, or "off" / "" for none.
///
/// # Errors
/// An [`AddrError`] when the text is neither.
pub fn parse_optional_addr(text: &str) -> Result<OptionalAddr, AddrError> {
    match text.trim() {
        "" | "off" | "none" => Ok(OptionalAddr(None)),
        t => t
            .parse()
            .map(|a| OptionalAddr(Some(a)))
            .map_err(|source| AddrError {
                text: text.to_string(),
                source,
            }),
    }
}

/// A duration setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not a number with an optional `ms`, `s` or `m` suffix.
    #[error("\"{text}\" is not a duration like 500ms, 30s or 2m")]
    Malformed {
        /// The text as given.
        text: String,
    },
    /// Negative, non-finite or longer than a year.
    #[error("\"{text}\" is out of range")]
    OutOfRange {
        /// The text as given.
        text: String,
    },
}

/// Parses "250ms", "30s", "2m" or a plain number of seconds.
///
/// # Errors
/// A [`DurationError`] when the text is not a non-negative duration.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| DurationError::Malformed {
            text: text.to_string(),
        })?;
    if !value.is_finite() || value < 0.0 || value * scale > 86_400.0 * 365.0 {
        return Err(DurationError::OutOfRange {
            text: text.to_string(),
        });
    }
    Ok(Duration::from_secs_f64(value * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn defaults_match_the_readme() {
        let c = ServerConfig::try_parse_from(["leadscore-server"]).unwrap();
        assert_eq!(c.grpc_addr.to_string(), "0.0.0.0:50051");
        assert_eq!(c.models, PathBuf::from("models"));
        assert_eq!(
            c.metrics_addr.0.map(|a| a.to_string()).as_deref(),
            Some("0.0.0.0:9090")
        );
        let off =
            ServerConfig::try_parse_from(["leadscore-server", "--metrics-addr", "off"]).unwrap();
        assert_eq!(off.metrics_addr, OptionalAddr(None));
        assert_eq!(
            c.http_addr.0.map(|a| a.to_string()).as_deref(),
            Some("0.0.0.0:8080")
        );
        let off = ServerConfig::try_parse_from(["leadscore-server", "--http-addr", "off"]).unwrap();
        assert_eq!(off.http_addr, OptionalAddr(None));
        assert!(ServerConfig::try_parse_from(["leadscore-server", "--tls-cert", "c.pem"]).is_err());
    }
}

/// TLS files (PEM). With `client_ca`, clients must present a certificate it signed (mTLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Server certificate chain.
    pub cert: PathBuf,
    /// Server private key.
    pub key: PathBuf,
    /// CA that client certificates must chain to; `None` = no client auth.
    pub client_ca: Option<PathBuf>,
}

/// What `serve` needs to know.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Model repository root.
    pub models_dir: PathBuf,
    /// Model for requests that name none.
    pub default_model: Option<String>,
    /// Newest versions kept loaded per model.
    pub keep_versions: usize,
    /// Watch the repository for changes (inotify and friends).
    pub watch_models: bool,
    /// Rescan the repository this often besides watching it (`None` = never).
    pub reload_poll_interval: Option<Duration>,
    /// Metric series idle this long (e.g. of unloaded versions) are dropped.
    pub metrics_idle_timeout: Duration,
    /// Most leads per Score / Explain request.
    pub max_leads_per_request: usize,
    /// Most raw events per lead.
    pub max_events_per_lead: usize,
    /// Largest request or response message, bytes.
    pub max_message_bytes: usize,
    /// Requests handled at once; beyond it, RESOURCE_EXHAUSTED.
    pub max_concurrent_requests: usize,
    /// HTTP/2 streams one connection may have open at once, so that a single
    /// greedy client cannot take every concurrency slot.
    pub max_streams_per_connection: u32,
    /// Deadline for requests that send no `grpc-timeout`.
    pub request_timeout: Duration,
    /// Longest deadline granted, whatever the client asks.
    pub max_request_timeout: Duration,
    /// HTTP listener: time allowed for request headers, the TLS handshake and the body.
    pub http_read_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// TLS, or plaintext when `None` (e.g. inside a mesh that does mTLS).
    pub tls: Option<TlsSettings>,
}

impl ServerSettings {
    /// Defaults for a given model directory (as the binary's defaults).
    pub fn for_models(models_dir: impl Into<PathBuf>) -> Self {
        Self {
            models_dir: models_dir.into(),
            default_model: None,
            keep_versions: 3,
            watch_models: true,
            reload_poll_interval: Some(Duration::from_secs(30)),
            metrics_idle_timeout: Duration::from_secs(600),
            max_leads_per_request: 10_000,
            max_events_per_lead: crate::serve::grpc::DEFAULT_MAX_EVENTS_PER_LEAD,
            max_message_bytes: 16 << 20,
            max_concurrent_requests: 256,
            max_streams_per_connection: 100,
            request_timeout: Duration::from_secs(30),
            max_request_timeout: Duration::from_secs(300),
            http_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
            tls: None,
        }
    }
}
