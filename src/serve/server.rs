//! Running the server: `serve(listeners, settings, shutdown)`.
//!
//! The listeners are bound by the caller (the binary, or a test on
//! `127.0.0.1:0`), and shutdown is a future passed in. The gRPC routes are
//! wrapped in the limit layers of [`crate::serve::limits`]; the model registry is
//! kept current by [`crate::serve::reload`]; `grpc.health.v1` follows it. On
//! shutdown the server marks itself NOT_SERVING, stops accepting
//! connections, lets in-flight requests finish, and returns; connections still
//! open after `shutdown_grace` (e.g. a health `Watch` stream) are closed.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;

use crate::serve::grpc::{LeadScoringService, SharedRegistry};
use crate::serve::limits::{ConcurrencyLimitLayer, DeadlineLayer};
use crate::serve::proto::lead_scoring_server::LeadScoringServer;
use crate::serve::registry::{ModelRegistry, ModelRepository, RepositoryError};
use crate::serve::reload::ModelReloader;

pub use crate::serve::config::{ServerSettings, TlsSettings};

/// Fully qualified gRPC service name, as health checks use it.
pub const SERVICE_NAME: &str = "leadscore.v1.LeadScoring";

/// The sockets the server answers on.
#[derive(Debug)]
pub struct Listeners {
    /// gRPC.
    pub grpc: TcpListener,
    /// Prometheus `/metrics` (HTTP/1.1), or none.
    pub metrics: Option<TcpListener>,
    /// The HTTP/JSON API ([`crate::serve::http`]), or none.
    pub http: Option<TcpListener>,
}

impl From<TcpListener> for Listeners {
    fn from(grpc: TcpListener) -> Self {
        Self {
            grpc,
            metrics: None,
            http: None,
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
    /// A TLS file could not be read.
    #[error("TLS: cannot read {path}: {source}")]
    TlsFile {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TLS certificate, key or client CA is not usable.
    #[error("TLS: {0}")]
    Tls(String),
    /// The HTTP/JSON codec could not be built.
    #[error(transparent)]
    HttpCodec(#[from] crate::serve::http::CodecError),
    /// The transport failed (or refused the TLS configuration).
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

fn tls_config(tls: &TlsSettings) -> Result<ServerTlsConfig, ServerError> {
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|source| ServerError::TlsFile {
            path: path.display().to_string(),
            source,
        })
    };
    let mut config =
        ServerTlsConfig::new().identity(Identity::from_pem(read(&tls.cert)?, read(&tls.key)?));
    if let Some(ca) = &tls.client_ca {
        config = config.client_ca_root(Certificate::from_pem(read(ca)?));
    }
    Ok(config)
}

/// The rustls configuration of the HTTP listener from the gRPC TLS flags:
/// the same certificate chain and key, the same client CA (mTLS) when given,
/// ALPN `h2` and `http/1.1`.
fn http_tls_config(
    tls: &TlsSettings,
) -> Result<Arc<tokio_rustls::rustls::ServerConfig>, ServerError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;

    let pem_error = |path: &PathBuf, what: &str, err: rustls_pki_types::pem::Error| {
        ServerError::Tls(format!("{}: no valid {what}: {err}", path.display()))
    };
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|source| ServerError::TlsFile {
            path: path.display().to_string(),
            source,
        })
    };
    let certs = |path: &PathBuf| -> Result<Vec<CertificateDer<'static>>, ServerError> {
        let pem = read(path)?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_error(path, "PEM certificate", e))?;
        if certs.is_empty() {
            return Err(ServerError::Tls(format!(
                "{}: no PEM certificate found",
                path.display()
            )));
        }
        Ok(certs)
    };
    let chain = certs(&tls.cert)?;
    let key = PrivateKeyDer::from_pem_slice(&read(&tls.key)?)
        .map_err(|e| pem_error(&tls.key, "PEM private key", e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    let builder = match &tls.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certs(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| ServerError::Tls(format!("{}: {e}", ca.display())))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| ServerError::Tls(format!("{}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        ServerError::Tls(format!(
            "{} / {}: {e}",
            tls.cert.display(),
            tls.key.display()
        ))
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepted connections with Nagle's algorithm off: responses and multi-segment
/// requests are small and latency-bound, and Nagle plus delayed ACKs would add
/// ~40 ms to every request larger than one segment.
fn incoming(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt;
    TcpListenerStream::new(listener).map(|accepted| {
        let stream = accepted?;
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY");
        }
        Ok(stream)
    })
}

/// Loads the model repository and serves until `shutdown` completes.
///
/// # Errors
/// [`ServerError`] when the repository root is unreadable at startup, a TLS
/// file is missing, or the transport fails. Broken artifacts are logged and
/// skipped; with no valid model the server still runs, reporting NOT_SERVING,
/// and picks models up as they are published.
pub async fn serve(
    listeners: Listeners,
    settings: ServerSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    // Metrics are recorded only when they are exported: with the recorder
    // not installed the `metrics` macros do nothing.
    let metrics_handle = listeners
        .metrics
        .as_ref()
        .map(|_| crate::serve::metrics::install(settings.metrics_idle_timeout));
    let repository = ModelRepository {
        root: settings.models_dir.clone(),
        default_model: settings.default_model.clone(),
        keep_versions: settings.keep_versions,
    };
    let registry: SharedRegistry = Arc::new(ArcSwap::from_pointee(ModelRegistry::default()));
    let reloader = Arc::new(ModelReloader::new(repository, registry.clone()));
    let report = reloader.reload("startup")?;
    for loaded in registry.load().all() {
        tracing::info!(
            model = loaded.name,
            version = loaded.version,
            path = %loaded.path.display(),
            features = loaded.model.pipeline().specs().len(),
            roc_auc = loaded.model.artifact().metrics.roc_auc,
            "model loaded"
        );
    }
    if report.serving == 0 {
        tracing::error!(
            models_dir = %settings.models_dir.display(),
            "no valid model loaded: reporting NOT_SERVING until one is published"
        );
    }

    // One shutdown broadcast for every part of the server.
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    // Health follows the registry until shutdown starts.
    let (health, health_service) = tonic_health::server::health_reporter();
    let set_health = |health: tonic_health::server::HealthReporter, serving: bool| async move {
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        health.set_service_status(SERVICE_NAME, status).await;
        health.set_service_status("", status).await;
    };
    set_health(health.clone(), report.serving > 0).await;
    // Held while health is updated; true once shutdown has begun, so the
    // follower can never turn SERVING back on after the drain has started.
    let health_lock = Arc::new(tokio::sync::Mutex::new(false));
    {
        let health = health.clone();
        let health_lock = health_lock.clone();
        let mut ready = reloader.ready();
        let mut stop = stop_rx.clone();
        let mut last = report.serving > 0;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    changed = ready.changed() => if changed.is_err() { break },
                    _ = stop.changed() => {}
                }
                let serving = *ready.borrow_and_update();
                let stopping = health_lock.lock().await;
                if *stopping {
                    break;
                }
                // Health Watch streams every set: announce changes only.
                if serving != last {
                    set_health(health.clone(), serving).await;
                    last = serving;
                }
            }
        });
    }

    // Hot reload.
    let reload_task = tokio::spawn(reloader.clone().run(
        settings.watch_models,
        settings.reload_poll_interval,
        Duration::from_millis(200),
        stopped(stop_rx.clone()),
    ));

    // Prometheus /metrics.
    let metrics_task = listeners
        .metrics
        .zip(metrics_handle)
        .map(|(listener, handle)| {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(addr = %addr, "metrics listening on /metrics");
            }
            tokio::spawn(crate::serve::metrics::run_upkeep(
                handle.clone(),
                Duration::from_secs(5),
                stopped(stop_rx.clone()),
            ));
            let done = stopped(stop_rx.clone());
            tokio::spawn(crate::serve::metrics::serve_metrics(listener, handle, done))
        });

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::serve::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::serve::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let leadscore = LeadScoringService::new(registry.clone(), settings.max_leads_per_request)
        .with_max_events_per_lead(settings.max_events_per_lead)
        .with_max_message_bytes(settings.max_message_bytes);
    // One concurrency limit for gRPC and HTTP together.
    let concurrency = ConcurrencyLimitLayer::new(settings.max_concurrent_requests);
    let deadline = DeadlineLayer::new(settings.request_timeout, settings.max_request_timeout);
    // One OIP service (and its statistics) for gRPC and V2 REST.
    let inference =
        crate::serve::oip::InferenceService::new(registry.clone(), settings.max_leads_per_request);
    // Set when the drain starts: the HTTP listener stops accepting then too.
    let (drain_tx, drain_rx) = watch::channel(false);
    let http_task = match listeners.http {
        Some(listener) => {
            // The same certificate, key and client CA as gRPC: TLS and mTLS
            // cannot be bypassed through the HTTP listener.
            let tls = settings.tls.as_ref().map(http_tls_config).transpose()?;
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(addr = %addr, tls = tls.is_some(), "HTTP/JSON API listening");
            }
            let body = crate::serve::body::BodyLimits {
                max_bytes: settings.max_message_bytes,
                read_timeout: settings.http_read_timeout,
            };
            let router = crate::serve::http::router(
                leadscore.clone(),
                inference.clone(),
                body,
                concurrency.clone(),
                deadline,
                drain_rx.clone(),
            )?;
            let options = crate::serve::http::HttpListenerOptions {
                tls,
                read_timeout: settings.http_read_timeout,
            };
            Some(tokio::spawn(crate::serve::http::serve_http(
                listener,
                router,
                options,
                stopped(drain_rx),
            )))
        }
        None => None,
    };
    let service = LeadScoringServer::new(leadscore)
        .max_decoding_message_size(settings.max_message_bytes)
        .max_encoding_message_size(settings.max_message_bytes);

    let local_addr = listeners
        .grpc
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(
        addr = %local_addr,
        models_dir = %settings.models_dir.display(),
        tls = settings.tls.is_some(),
        mtls = settings.tls.as_ref().is_some_and(|t| t.client_ca.is_some()),
        "leadscore-server listening"
    );

    let drain_started = Arc::new(tokio::sync::Notify::new());
    let drain_signal = drain_started.clone();
    let health_on_shutdown = health.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutdown requested: NOT_SERVING, draining in-flight requests");
        let mut stopping = health_lock.lock().await;
        *stopping = true;
        set_health(health_on_shutdown, false).await;
        drop(stopping);
        drain_tx.send_replace(true);
        drain_signal.notify_one();
    };

    let mut builder =
        Server::builder().max_concurrent_streams(Some(settings.max_streams_per_connection.max(1)));
    if let Some(tls) = &settings.tls {
        builder = builder.tls_config(tls_config(tls)?)?;
    }
    let server = builder
        // One span per request, continuing the caller's W3C trace when it
        // sends `traceparent` (exported when OTLP is configured).
        .trace_fn(|request| {
            let span = tracing::info_span!(
                "grpc.request",
                otel.name = %request.uri().path(),
                otel.kind = "server",
                rpc.system = "grpc",
            );
            crate::serve::otel::set_parent_from_headers(&span, request.headers());
            span
        })
        .layer(concurrency)
        .layer(deadline)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(service)
        .add_service(inference.into_server(settings.max_message_bytes))
        .serve_with_incoming_shutdown(incoming(listeners.grpc), signal);
    tokio::pin!(server);

    let grace = settings.shutdown_grace;
    let result = tokio::select! {
        result = &mut server => result.map_err(ServerError::from),
        () = async {
            drain_started.notified().await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_secs = grace.as_secs_f64(), "drain grace elapsed: closing remaining connections");
            Ok(())
        }
    };
    stop_tx.send_replace(true);
    if let Some(task) = http_task {
        // In-flight HTTP requests finish within the same grace.
        if tokio::time::timeout(grace, task).await.is_err() {
            tracing::warn!("HTTP drain grace elapsed: closing remaining connections");
        }
    }
    let _ = reload_task.await;
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
    tracing::info!("leadscore-server stopped");
    result
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
