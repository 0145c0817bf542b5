//! Running the gRPC server: `serve(listener, settings, shutdown)`.
//!
//! The listener is bound by the caller (the binary, or a test on
//! `127.0.0.1:0`), and shutdown is a future passed in. On shutdown the server
//! marks itself NOT_SERVING in `grpc.health.v1`, stops accepting connections,
//! lets in-flight requests finish, and returns; connections still open after
//! `shutdown_grace` (e.g. a health `Watch` stream) are closed.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use tonic_health::ServingStatus;

use crate::grpc::{LeadScoringService, SharedRegistry};
use crate::proto::lead_scoring_server::LeadScoringServer;
use crate::registry::{ModelRegistry, RepositoryError};

/// Fully qualified gRPC service name, as health checks use it.
pub const SERVICE_NAME: &str = "leadscore.v1.LeadScoring";

/// What `serve` needs to know.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Model repository root.
    pub models_dir: PathBuf,
    /// Model for requests that name none.
    pub default_model: Option<String>,
    /// Most leads per Score / Explain request.
    pub max_leads_per_request: usize,
    /// Deadline for requests without a shorter `grpc-timeout`.
    pub request_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
}

impl ServerSettings {
    /// Defaults for a given model directory (as the binary's defaults).
    pub fn for_models(models_dir: impl Into<PathBuf>) -> Self {
        Self {
            models_dir: models_dir.into(),
            default_model: None,
            max_leads_per_request: 10_000,
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The model repository could not be read.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    /// Reflection could not be built from the descriptor set.
    #[error("server reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Loads the model repository and serves until `shutdown` completes.
///
/// # Errors
/// [`ServerError`] when the repository root is unreadable or the transport fails.
/// Broken artifacts are logged and skipped; with no valid model the server
/// still runs, reporting NOT_SERVING.
pub async fn serve(
    listener: TcpListener,
    settings: ServerSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let scan = ModelRegistry::load_dir(&settings.models_dir, settings.default_model.as_deref())?;
    for problem in &scan.refused {
        tracing::error!(problem, "model refused");
    }
    for loaded in scan.registry.all() {
        tracing::info!(
            model = loaded.name,
            version = loaded.version,
            path = %loaded.path.display(),
            features = loaded.model.pipeline().specs().len(),
            roc_auc = loaded.model.artifact().metrics.roc_auc,
            "model loaded"
        );
    }
    let ready = !scan.registry.is_empty();
    if !ready {
        tracing::error!(
            models_dir = %settings.models_dir.display(),
            "no valid model loaded: reporting NOT_SERVING"
        );
    }
    let registry: SharedRegistry = Arc::new(ArcSwap::from_pointee(scan.registry));

    let (health, health_service) = tonic_health::server::health_reporter();
    let status = if ready {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    health.set_service_status(SERVICE_NAME, status).await;
    health.set_service_status("", status).await;

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let service = LeadScoringService::new(registry, settings.max_leads_per_request);

    let local_addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(
        addr = %local_addr,
        models_dir = %settings.models_dir.display(),
        "leadscore-server listening"
    );

    let drain_started = Arc::new(tokio::sync::Notify::new());
    let drain_signal = drain_started.clone();
    let health_on_shutdown = health.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutdown requested: NOT_SERVING, draining in-flight requests");
        health_on_shutdown
            .set_service_status(SERVICE_NAME, ServingStatus::NotServing)
            .await;
        health_on_shutdown
            .set_service_status("", ServingStatus::NotServing)
            .await;
        drain_signal.notify_one();
    };

    let server = Server::builder()
        .timeout(settings.request_timeout)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(LeadScoringServer::new(service))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), signal);
    tokio::pin!(server);

    let grace = settings.shutdown_grace;
    tokio::select! {
        result = &mut server => result?,
        () = async {
            drain_started.notified().await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_secs = grace.as_secs_f64(), "drain grace elapsed: closing remaining connections");
        }
    }
    tracing::info!("leadscore-server stopped");
    Ok(())
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM.
///
/// The handlers are installed when this function is called, not when the
/// future is first polled, so a signal that arrives while models are still
/// loading is not lost. Must be called inside a tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => tracing::info!("SIGINT received"),
                        _ = terminate.recv() => tracing::info!("SIGTERM received"),
                    }
                }
                (Err(err), _) | (_, Err(err)) => {
                    tracing::error!(%err, "cannot install signal handlers; stopping only on exit");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}
