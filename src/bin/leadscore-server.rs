//! `leadscore-server`: reads settings, starts logging, binds, and serves.
//! Errors end it with plain lines, never a backtrace ([`leadscore::cli`]).

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use leadscore::serve::config::ServerConfig;

fn main() -> ExitCode {
    let config = ServerConfig::parse();
    leadscore::cli::run_main("leadscore-server", || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?
            .block_on(run(config))
    })
}

async fn run(config: ServerConfig) -> anyhow::Result<()> {
    // Kept to the end of run: dropping it flushes the last trace spans.
    let _otel = leadscore::serve::telemetry::init(
        config.log_format,
        &config.log_level,
        config.otlp_endpoint.as_deref(),
    )
    .map_err(|e| anyhow::anyhow!("logging setup: {e}"))?;
    let grpc = tokio::net::TcpListener::bind(config.grpc_addr)
        .await
        .with_context(|| format!("cannot bind {}", config.grpc_addr))?;
    let metrics = match config.metrics_addr.0 {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot bind metrics address {addr}"))?,
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
