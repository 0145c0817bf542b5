//! `leadscore-server`: reads settings, starts logging, binds, and serves.

use clap::Parser;
use leadscore::config::ServerConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ServerConfig::parse();
    leadscore::telemetry::init(config.log_format, &config.log_level)
        .map_err(|e| anyhow::anyhow!("logging setup: {e}"))?;
    let listener = tokio::net::TcpListener::bind(config.grpc_addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot bind {}: {e}", config.grpc_addr))?;
    leadscore::server::serve(
        listener,
        config.settings(),
        leadscore::server::shutdown_signal(),
    )
    .await?;
    Ok(())
}
