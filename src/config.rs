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

    /// Most leads accepted in one Score or Explain request.
    #[arg(
        long,
        env = "LEADSCORE_MAX_LEADS_PER_REQUEST",
        default_value_t = 10_000
    )]
    pub max_leads_per_request: usize,

    /// Deadline for requests that set none (a shorter grpc-timeout from the client wins), e.g. "30s", "500ms".
    #[arg(long, env = "LEADSCORE_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// How long shutdown waits for in-flight requests before closing connections.
    #[arg(long, env = "LEADSCORE_SHUTDOWN_GRACE", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
}

impl ServerConfig {
    /// The settings `server::serve` needs.
    pub fn settings(&self) -> crate::server::ServerSettings {
        crate::server::ServerSettings {
            models_dir: self.models.clone(),
            default_model: self.default_model.clone(),
            max_leads_per_request: self.max_leads_per_request,
            request_timeout: self.request_timeout,
            shutdown_grace: self.shutdown_grace,
        }
    }
}

/// Parses "250ms", "30s", "2m" or a plain number of seconds.
///
/// # Errors
/// A message when the text is not a non-negative duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
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
        .map_err(|_| format!("\"{text}\" is not a duration like 500ms, 30s or 2m"))?;
    if !value.is_finite() || value < 0.0 || value * scale > 86_400.0 * 365.0 {
        return Err(format!("\"{text}\" is out of range"));
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
    }
}
