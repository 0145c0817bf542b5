//! `leadscore-server`: reads settings, starts logging, binds, and serves.

use clap::Parser;
use leadscore::serve::config::ServerConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ServerConfig::parse();
    // Kept to the end of main: dropping it flushes the last trace spans.
    let _otel = leadscore::serve::telemetry::init(
        config.log_format,
        &config.log_level,
        config.otlp_endpoint.as_deref(),
    )
    .map_err(|e| anyhow::anyhow!("logging setup: {e}"))?;
    let grpc = tokio::net::TcpListener::bind(config.grpc_addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot bind {}: {e}", config.grpc_addr))?;
    let metrics = match config.metrics_addr.0 {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot bind metrics address {addr}: {e}"))?,
        ),
        None => None,
    };
    let http = match config.http_addr.0 {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot bind HTTP address {addr}: {e}"))?,
        ),
        None => None,
    };
    leadscore::serve::server::serve(
        leadscore::serve::server::Listeners {
            grpc,
            metrics,
            http,
        },
        config.settings(),
        leadscore::serve::server::shutdown_signal(),
    )
    .await?;
    Ok(())
}
