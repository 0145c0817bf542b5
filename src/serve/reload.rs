//! Hot reload: rescan the model repository when it changes, on SIGHUP, and
//! on a slow poll; swap the registry atomically.
//!
//! A scan builds a complete new [`ModelRegistry`] (every new artifact parsed
//! and validated first) and only then swaps it in with one atomic store, so a
//! request sees either the old or the new set, never a mix; a request that
//! already holds a model (an `Arc<LoadedModel>`) finishes on it. Readiness
//! (`ready`) follows the registry: true while at least one model is loaded.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::serve::grpc::SharedRegistry;
use crate::serve::metrics as m;
use crate::serve::registry::{ModelRepository, RepositoryError};

/// What one reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Versions newly loaded.
    pub loaded: Vec<(String, u64)>,
    /// Versions no longer served.
    pub unloaded: Vec<(String, u64)>,
    /// Problems (refused artifacts, config issues), including repeats.
    pub refused: Vec<String>,
    /// Versions served after the reload.
    pub serving: usize,
}

/// Rescans a repository into a shared registry.
#[derive(Debug)]
pub struct ModelReloader {
    repository: ModelRepository,
    registry: SharedRegistry,
    ready: watch::Sender<bool>,
    /// Serialises scans, and remembers problems already logged so a broken
    /// file is reported once, not on every poll.
    reported: Mutex<BTreeSet<String>>,
}

impl ModelReloader {
    /// A reloader for `repository` publishing into `registry`.
    pub fn new(repository: ModelRepository, registry: SharedRegistry) -> Self {
        let ready = !registry.load().is_empty();
        let (tx, _) = watch::channel(ready);
        Self {
            repository,
            registry,
            ready: tx,
            reported: Mutex::new(BTreeSet::new()),
        }
    }

    /// The registry this reloader publishes into.
    pub fn registry(&self) -> &SharedRegistry {
        &self.registry
    }

    /// True while at least one model is loaded; changes are broadcast.
    pub fn ready(&self) -> watch::Receiver<bool> {
        self.ready.subscribe()
    }

    /// Scans the repository now and swaps in the result.
    ///
    /// # Errors
    /// [`RepositoryError`] when the root cannot be read; the current registry
    /// then keeps serving unchanged.
    pub fn reload(&self, trigger: &'static str) -> Result<ReloadReport, RepositoryError> {
        let mut reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        metrics::counter!(m::MODEL_RELOADS_TOTAL, "trigger" => trigger).increment(1);
        let current = self.registry.load_full();
        let scan = match self.repository.scan(&current) {
            Ok(scan) => scan,
            Err(err) => {
                metrics::counter!(m::MODEL_LOAD_FAILURES_TOTAL).increment(1);
                tracing::error!(%err, trigger, "model repository unreadable: keeping the loaded models");
                return Err(err);
            }
        };
        let changed = !scan.loaded.is_empty()
            || !scan.unloaded.is_empty()
            || current.len() != scan.registry.len();
        let serving = scan.registry.len();
        let report = ReloadReport {
            loaded: scan.loaded,
            unloaded: scan.unloaded,
            refused: scan.refused,
            serving,
        };
        let fresh: BTreeSet<String> = report.refused.iter().cloned().collect();
        for problem in fresh.difference(&reported) {
            metrics::counter!(m::MODEL_LOAD_FAILURES_TOTAL).increment(1);
            tracing::error!(problem = problem.as_str(), trigger, "model refused");
        }
        *reported = fresh;

        if changed {
            tracing::debug!(trigger, serving, "model registry changed");
        }
        // Store even when no version changed: labels or the default model may have.
        self.registry.store(Arc::new(scan.registry));
        for (model, version) in &report.loaded {
            metrics::counter!(m::MODEL_LOADS_TOTAL, "model" => model.clone(), "version" => version.to_string()).increment(1);
            tracing::info!(model, version, trigger, "model version loaded");
        }
        for (model, version) in &report.unloaded {
            tracing::info!(model, version, trigger, "model version unloaded");
        }
        metrics::gauge!(m::MODELS_LOADED).set(serving as f64);
        // Only a change is news: a health Watch must not see SERVING twice.
        let ready = serving > 0;
        self.ready
            .send_if_modified(|r| std::mem::replace(r, ready) != ready);
        Ok(report)
    }

    /// Sets up the triggers now — filesystem events when `watch` is true,
    /// SIGHUP, and a poll every `poll_interval` when given — and returns the
    /// future that reloads on them until `shutdown` completes. Events within
    /// `debounce` of each other cause one reload. Setting up before the
    /// future runs means a SIGHUP sent right after startup is not lost.
    pub fn run(
        self: Arc<Self>,
        watch: bool,
        poll_interval: Option<Duration>,
        debounce: Duration,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let (tx, mut events) = mpsc::channel::<&'static str>(16);
        let watcher = if watch { self.watch_files(tx) } else { None };
        #[cfg(unix)]
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .map_err(|err| tracing::warn!(%err, "cannot listen for SIGHUP"))
            .ok();
        async move {
            let _watcher = watcher;
            let mut poll = poll_interval
                .filter(|p| !p.is_zero())
                .map(|p| tokio::time::interval_at(tokio::time::Instant::now() + p, p));
            if let Some(p) = poll.as_mut() {
                p.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            }
            tokio::pin!(shutdown);
            loop {
                let trigger = tokio::select! {
                    () = &mut shutdown => break,
                    Some(trigger) = events.recv() => trigger,
                    Some(()) = async {
                        #[cfg(unix)]
                        if let Some(h) = hangup.as_mut() {
                            return h.recv().await;
                        }
                        std::future::pending::<Option<()>>().await
                    } => "sighup",
                    _ = async {
                        match poll.as_mut() {
                            Some(p) => p.tick().await,
                            None => std::future::pending().await,
                        }
                    } => "poll",
                };
                // Let a burst of events (a directory and a file being written) settle.
                if trigger == "watch" {
                    tokio::time::sleep(debounce).await;
                    while events.try_recv().is_ok() {}
                }
                let this = self.clone();
                let result = tokio::task::spawn_blocking(move || this.reload(trigger)).await;
                if let Err(err) = result {
                    tracing::error!(%err, "model reload task failed");
                }
            }
        }
    }

    fn watch_files(&self, tx: mpsc::Sender<&'static str>) -> Option<notify::RecommendedWatcher> {
        use notify::{RecursiveMode, Watcher};
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok_and(|e| !e.kind.is_access()) {
                let _ = tx.try_send("watch");
            }
        })
        .map_err(|err| tracing::warn!(%err, "cannot watch the model repository; relying on SIGHUP and polling"))
        .ok()?;
        match watcher.watch(&self.repository.root, RecursiveMode::Recursive) {
            Ok(()) => Some(watcher),
            Err(err) => {
                tracing::warn!(%err, root = %self.repository.root.display(), "cannot watch the model repository; relying on SIGHUP and polling");
                None
            }
        }
    }
}
