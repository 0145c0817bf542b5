//! Every Prometheus metric the server exports, its buckets, and the
//! `/metrics` HTTP endpoint. Metric names live here and nowhere else.
//!
//! The recorder is process-global (the `metrics` facade); [`install`] sets it
//! up once and returns the handle that renders the text exposition.

use std::future::Future;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

/// Requests, by `protocol`, `rpc`, `model`, `version` and gRPC `code` (e.g. `OK`, `InvalidArgument`).
pub const REQUESTS_TOTAL: &str = "leadscore_requests_total";
/// Handler latency in seconds, by `protocol`, `rpc`, `model`, `version`.
pub const REQUEST_DURATION_SECONDS: &str = "leadscore_request_duration_seconds";
/// Requests being handled now.
pub const REQUESTS_IN_FLIGHT: &str = "leadscore_requests_in_flight";
/// Requests refused by the global concurrency limit (RESOURCE_EXHAUSTED).
pub const REQUESTS_SHED_TOTAL: &str = "leadscore_requests_shed_total";
/// Requests that ran out of time (DEADLINE_EXCEEDED), by `rpc`.
pub const DEADLINE_EXCEEDED_TOTAL: &str = "leadscore_deadline_exceeded_total";
/// Leads scored, by `rpc`, `model`, `version`.
pub const LEADS_SCORED_TOTAL: &str = "leadscore_leads_scored_total";
/// Distribution of returned probabilities, by `model`, `version` (a drift signal).
pub const SCORE_PROBABILITY: &str = "leadscore_score_probability";
/// Feature values the pipeline replaced, by `model`, `feature`, `kind`
/// (`imputed`, `unseen_category`, `clipped`).
pub const FEATURE_FALLBACKS_TOTAL: &str = "leadscore_feature_fallbacks_total";
/// Model versions loaded, by `model`, `version`.
pub const MODEL_LOADS_TOTAL: &str = "leadscore_model_loads_total";
/// Artifacts refused on load or reload.
pub const MODEL_LOAD_FAILURES_TOTAL: &str = "leadscore_model_load_failures_total";
/// Repository scans, by `trigger` (`startup`, `watch`, `sighup`, `poll`).
pub const MODEL_RELOADS_TOTAL: &str = "leadscore_model_reloads_total";
/// Model versions currently loaded.
pub const MODELS_LOADED: &str = "leadscore_models_loaded";
/// Resident memory of the process, bytes (Linux).
pub const PROCESS_RESIDENT_MEMORY_BYTES: &str = "process_resident_memory_bytes";
/// CPU time used by the process, seconds (Linux).
pub const PROCESS_CPU_SECONDS_TOTAL: &str = "process_cpu_seconds_total";
/// Open file descriptors (Linux).
pub const PROCESS_OPEN_FDS: &str = "process_open_fds";
/// Threads of the process (Linux).
pub const PROCESS_THREADS: &str = "process_threads";

/// Which listener a request came in on: the `protocol` label of
/// [`REQUESTS_TOTAL`] and [`REQUEST_DURATION_SECONDS`]. The HTTP router puts
/// `Protocol::Http` into every request's extensions; no extension is gRPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The gRPC listener (leadscore.v1, OIP, health, reflection).
    Grpc,
    /// The HTTP/JSON listener (`/v1` and the V2 REST routes).
    Http,
}

impl Protocol {
    /// The protocol of a request, from its extensions.
    pub fn of(extensions: &http::Extensions) -> Self {
        extensions
            .get::<Protocol>()
            .copied()
            .unwrap_or(Protocol::Grpc)
    }

    /// The label value: `grpc` or `http`.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::Http => "http",
        }
    }
}

/// The `rpc` label of an HTTP request: the name of the gRPC method its route
/// calls (`Score`, `ModelInfer`, ...), put into the request's extensions by
/// the HTTP router from the matched route, so that no part of a path (a
/// model name, say) ever becomes a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpcName(pub &'static str);

/// Latency buckets, 25 µs to 5 s: scoring a lead takes microseconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Probability buckets, 0.05 wide.
const PROBABILITY_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85,
    0.9, 0.95, 1.0,
];

/// Installs the global recorder once and returns its handle; later calls
/// return the same handle. If another recorder was installed first, the
/// handle still renders (an empty page) rather than failing the server.
///
/// Series not updated for `idle_timeout` (e.g. those of an unloaded model
/// version) are dropped, so labels cannot pile up as versions roll.
pub fn install(idle_timeout: std::time::Duration) -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .idle_timeout(metrics_util::MetricKindMask::ALL, Some(idle_timeout))
                .set_buckets_for_metric(
                    Matcher::Full(REQUEST_DURATION_SECONDS.to_string()),
                    LATENCY_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(SCORE_PROBABILITY.to_string()),
                        PROBABILITY_BUCKETS,
                    )
                })
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        REQUESTS_TOTAL,
        "Requests by rpc, model, version and gRPC code."
    );
    describe_histogram!(
        REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Handler latency by rpc, model and version."
    );
    describe_gauge!(REQUESTS_IN_FLIGHT, "Requests being handled now.");
    describe_counter!(
        REQUESTS_SHED_TOTAL,
        "Requests refused with RESOURCE_EXHAUSTED by the concurrency limit."
    );
    describe_counter!(
        DEADLINE_EXCEEDED_TOTAL,
        "Requests answered DEADLINE_EXCEEDED."
    );
    describe_counter!(
        LEADS_SCORED_TOTAL,
        "Leads scored by rpc, model and version."
    );
    describe_histogram!(
        SCORE_PROBABILITY,
        "Returned probabilities by model and version."
    );
    describe_counter!(
        FEATURE_FALLBACKS_TOTAL,
        "Feature values imputed, mapped to (other) or clipped, by model, feature and kind."
    );
    describe_counter!(MODEL_LOADS_TOTAL, "Model versions loaded.");
    describe_counter!(
        MODEL_LOAD_FAILURES_TOTAL,
        "Artifacts refused on load or reload."
    );
    describe_counter!(MODEL_RELOADS_TOTAL, "Model repository scans by trigger.");
    describe_gauge!(MODELS_LOADED, "Model versions currently loaded.");
    describe_gauge!(
        PROCESS_RESIDENT_MEMORY_BYTES,
        Unit::Bytes,
        "Resident memory size."
    );
    describe_counter!(
        PROCESS_CPU_SECONDS_TOTAL,
        Unit::Seconds,
        "User and system CPU time."
    );
    describe_gauge!(PROCESS_OPEN_FDS, "Open file descriptors.");
    describe_gauge!(PROCESS_THREADS, "Threads.");
}

/// Folds recorded histogram samples into their buckets every `every`, until
/// `stop` completes. Without it the recorder keeps every sample until the
/// next scrape, and memory grows with traffic when nobody scrapes.
pub async fn run_upkeep(
    handle: PrometheusHandle,
    every: std::time::Duration,
    stop: impl Future<Output = ()>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = tick.tick() => handle.run_upkeep(),
        }
    }
}

/// Refreshes the process gauges from `/proc/self` (no-op elsewhere).
pub fn update_process_metrics() {
    #[cfg(target_os = "linux")]
    {
        let page = 4096.0;
        if let Ok(statm) = std::fs::read_to_string("/proc/self/statm") {
            if let Some(resident) = statm
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<f64>().ok())
            {
                metrics::gauge!(PROCESS_RESIDENT_MEMORY_BYTES).set(resident * page);
            }
        }
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // Fields after the parenthesised command name; utime and stime are
            // fields 14 and 15 (1-based), num_threads is 20, in clock ticks of 1/100 s.
            if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
                let fields: Vec<&str> = rest.split_whitespace().collect();
                let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
                if let (Some(utime), Some(stime)) = (ticks(11), ticks(12)) {
                    metrics::counter!(PROCESS_CPU_SECONDS_TOTAL)
                        .absolute(((utime + stime) / 100.0) as u64);
                }
                if let Some(threads) = ticks(17) {
                    metrics::gauge!(PROCESS_THREADS).set(threads);
                }
            }
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            metrics::gauge!(PROCESS_OPEN_FDS).set(fds.count() as f64);
        }
    }
}

/// Serves `GET /metrics` (Prometheus text format) on `listener` until `shutdown`.
///
/// # Errors
/// When the HTTP server fails.
pub async fn serve_metrics(
    listener: TcpListener,
    handle: PrometheusHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move {
                update_process_metrics();
                (
                    [(
                        http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    handle.render(),
                )
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
