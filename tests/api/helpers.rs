//! `spawn_app()`: the real server on 127.0.0.1:0 over a temporary model
//! repository, with tonic clients connected over the network.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use leadscore::scoring::model::ModelArtifact;
use leadscore::serve::proto::lead_scoring_client::LeadScoringClient;
use leadscore::serve::proto::{feature_value, FeatureValue, Lead};
use leadscore::serve::server::{ServerError, ServerSettings};
use leadscore::train::{self, TrainParams, TrainSettings};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;

/// Model name used by the test repositories.
pub const MODEL: &str = "leads";

/// Logs to stderr when TEST_LOG is set (e.g. `TEST_LOG=debug cargo test`).
fn init_test_log() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if let Ok(level) = std::env::var("TEST_LOG") {
            let _ = leadscore::serve::telemetry::init(
                leadscore::serve::config::LogFormat::Text,
                &level,
                None,
            );
        }
    });
}

/// A model trained once per test run on synthetic leads (see `leadscore::train::synthetic`).
pub fn synthetic_artifact() -> &'static ModelArtifact {
    static ARTIFACT: OnceLock<ModelArtifact> = OnceLock::new();
    ARTIFACT.get_or_init(|| {
        let dir = TempDir::new().expect("tempdir");
        let csv = dir.path().join("leads.csv");
        std::fs::write(
            &csv,
            leadscore::train::synthetic::generate(4000, 11).to_csv(),
        )
        .expect("write csv");
        let outcome = train::train(&TrainSettings {
            data: Some(csv),
            target: Some("converted".into()),
            id: Some("lead_id".into()),
            exclude: vec![],
            na_values: vec![],
            params: TrainParams::default(),
            command: "test".into(),
            ..Default::default()
        })
        .expect("training on synthetic data");
        outcome.artifact
    })
}

/// A temporary model repository holding `versions` copies of the synthetic model
/// as `leads/1`, `leads/2`, ...
pub fn model_repo(versions: u64) -> TempDir {
    let dir = TempDir::new().expect("tempdir");
    for v in 1..=versions {
        train::write_artifact(
            synthetic_artifact(),
            &dir.path().join(MODEL).join(v.to_string()),
        )
        .expect("write artifact");
    }
    dir
}

/// A running server.
pub struct TestApp {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    /// Where `/metrics` is served.
    pub metrics_addr: std::net::SocketAddr,
    /// Where the HTTP/JSON API is served.
    pub http_addr: std::net::SocketAddr,
    /// A connected channel.
    pub channel: Channel,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), ServerError>>>,
    _repo: Option<TempDir>,
}

impl TestApp {
    /// LeadScoring client.
    pub fn client(&self) -> LeadScoringClient<Channel> {
        LeadScoringClient::new(self.channel.clone())
    }

    /// grpc.health.v1 client.
    pub fn health(&self) -> HealthClient<Channel> {
        HealthClient::new(self.channel.clone())
    }

    /// Triggers shutdown without waiting.
    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Triggers shutdown and waits for `serve` to return.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        self.trigger_shutdown();
        let handle = self.handle.take().expect("running");
        tokio::time::timeout(Duration::from_secs(20), handle)
            .await
            .expect("server stops within 20 s")
            .expect("server task did not panic")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.trigger_shutdown();
    }
}

/// Starts the server on 127.0.0.1:0 over a repository with two synthetic versions.
pub async fn spawn_app() -> TestApp {
    let repo = model_repo(2);
    let settings = ServerSettings::for_models(repo.path());
    spawn_with(settings, Some(repo)).await
}

/// Starts the server with explicit settings; `repo` is kept alive with the app.
pub async fn spawn_with(settings: ServerSettings, repo: Option<TempDir>) -> TestApp {
    init_test_log();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let metrics_addr = metrics.local_addr().expect("local addr");
    let http = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let http_addr = http.local_addr().expect("local addr");
    let (tx, rx) = oneshot::channel::<()>();
    let listeners = leadscore::serve::server::Listeners {
        grpc: listener,
        metrics: Some(metrics),
        http: Some(http),
    };
    let handle = tokio::spawn(leadscore::serve::server::serve(
        listeners,
        settings,
        async move {
            let _ = rx.await;
        },
    ));
    // Lazy: a TLS test server is reached with its own TLS channel instead.
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect_lazy();
    TestApp {
        addr,
        metrics_addr,
        http_addr,
        channel,
        shutdown: Some(tx),
        handle: Some(handle),
        _repo: repo,
    }
}

/// Settings for a repository path with test-friendly defaults.
pub fn settings(path: &Path) -> ServerSettings {
    ServerSettings::for_models(PathBuf::from(path))
}

/// A named-feature lead for the synthetic model.
pub fn lead(id: &str, demo_actions: f64, report_created: bool, size: &str) -> Lead {
    Lead {
        lead_id: id.into(),
        account_id: String::new(),
        email: String::new(),
        features: [
            ("demo_actions", num(demo_actions)),
            ("visits_30d", num(12.0)),
            ("email_opens", num(3.0)),
            ("report_created", flag(report_created)),
            ("company_size", cat(size)),
            ("lead_source", cat("referral")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
        values: vec![],
        ..Default::default()
    }
}

/// A number feature value.
pub fn num(x: f64) -> FeatureValue {
    FeatureValue {
        kind: Some(feature_value::Kind::Number(x)),
    }
}

/// A category feature value.
pub fn cat(c: &str) -> FeatureValue {
    FeatureValue {
        kind: Some(feature_value::Kind::Category(c.into())),
    }
}

/// A flag feature value.
pub fn flag(b: bool) -> FeatureValue {
    FeatureValue {
        kind: Some(feature_value::Kind::Flag(b)),
    }
}

/// Fetches `/metrics` with a plain HTTP/1.0 GET.
pub async fn scrape(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect /metrics");
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .expect("send");
    let mut body = String::new();
    stream.read_to_string(&mut body).await.expect("read");
    assert!(
        body.starts_with("HTTP/1.0 200") || body.starts_with("HTTP/1.1 200"),
        "{body}"
    );
    body
}

/// Waits until `check` holds, polling every 50 ms, for at most `secs` seconds.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {secs} s waiting for: {what}");
}

/// The real `leadscore-server` binary, started as a process on 127.0.0.1:0.
pub struct ServerProcess {
    /// The child process.
    pub child: std::process::Child,
    /// Its gRPC address, read from its startup log line.
    pub addr: std::net::SocketAddr,
    /// Its `/metrics` address, read from its startup log.
    pub metrics_addr: std::net::SocketAddr,
    /// Its log lines (JSON), as they come.
    pub logs: std::sync::mpsc::Receiver<String>,
}

impl ServerProcess {
    /// Starts the binary over `models` with extra `args`; waits for the
    /// "listening" line (30 s at most).
    pub fn start(models: &Path, args: &[&str]) -> Self {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let mut child = Command::new(env!("CARGO_BIN_EXE_leadscore-server"))
            .args([
                "--grpc-addr",
                "127.0.0.1:0",
                "--metrics-addr",
                "127.0.0.1:0",
            ])
            .args(["--log-format", "json", "--log-level", "info"])
            .arg("--models")
            .arg(models)
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start leadscore-server");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        let mut metrics_addr = None;
        while std::time::Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                let json: serde_json::Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
                let addr_field = || -> std::net::SocketAddr {
                    json["addr"]
                        .as_str()
                        .expect("addr")
                        .parse()
                        .expect("socket address")
                };
                if json["message"] == "metrics listening on /metrics" {
                    metrics_addr = Some(addr_field());
                }
                if json["message"] == "leadscore-server listening" {
                    let addr = addr_field();
                    let metrics_addr =
                        metrics_addr.expect("the metrics address is logged before listening");
                    return Self {
                        child,
                        addr,
                        metrics_addr,
                        logs: rx,
                    };
                }
                seen.push(line);
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("no startup line; saw {seen:?}");
    }

    /// Sends a signal ("TERM", "HUP", ...) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits (asynchronously, so client connections on this runtime can
    /// close) for the process to exit, at most `secs` seconds.
    pub async fn wait_exit(&mut self, secs: u64) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "server did not exit within {secs} s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Log lines received so far.
    pub fn drain_logs(&self) -> Vec<String> {
        self.logs.try_iter().collect()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
