//! Graceful shutdown: in-flight requests finish, the binary exits 0 on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use leadscore::proto::{ExplainRequest, Lead, ScoreRequest};

use crate::helpers::{lead, model_repo, settings, spawn_with};

#[tokio::test]
async fn shutdown_completes_an_in_flight_request() {
    // Arrange: a request big enough to take a while (dense leads keep it under
    // the 4 MiB message limit).
    let repo = model_repo(1);
    let mut s = settings(repo.path());
    s.max_leads_per_request = 100_000;
    s.max_message_bytes = 64 << 20;
    let mut app = spawn_with(s, Some(repo)).await;
    let leads: Vec<Lead> = (0..60_000)
        .map(|i| Lead {
            lead_id: format!("b{i}"),
            values: vec![(i % 12) as f64, 10.0, 3.0, (i % 2) as f64, 1.0, 2.0],
            ..Default::default()
        })
        .collect();
    let mut client = app.client().max_decoding_message_size(64 << 20);
    let sent_at = Instant::now();
    let in_flight = tokio::spawn(async move {
        let result = client
            .explain(ExplainRequest {
                leads,
                ..Default::default()
            })
            .await;
        (result, Instant::now())
    });

    // Act: shut down while the request is being served.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    app.trigger_shutdown();
    let (response, finished_at) = in_flight.await.expect("task");
    let response = response.expect("in-flight request completes");

    // Assert
    assert_eq!(response.into_inner().explanations.len(), 60_000);
    assert!(
        finished_at > started,
        "the request finished {:?} after sending, before shutdown began: make it heavier",
        finished_at - sent_at
    );
    app.shutdown().await.expect("clean shutdown");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn new_connections_are_refused_after_shutdown() {
    let repo = model_repo(1);
    let app = spawn_with(settings(repo.path()), Some(repo)).await;
    let addr = app.addr;
    app.shutdown().await.expect("clean shutdown");
    let connect = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await;
    assert!(connect.is_err(), "the listener is closed after shutdown");
}

#[tokio::test]
async fn the_binary_drains_and_exits_zero_on_sigterm() {
    let repo = model_repo(1);
    let mut child = Command::new(env!("CARGO_BIN_EXE_leadscore-server"))
        .args([
            "--grpc-addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--log-level",
            "info",
        ])
        .arg("--models")
        .arg(repo.path())
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
    // The startup line carries the bound address (the port was 0).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut addr = None;
    let mut seen = Vec::new();
    while addr.is_none() && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let json: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
            if json["message"] == "leadscore-server listening" {
                addr = json["addr"].as_str().map(str::to_string);
            }
            seen.push(line);
        }
    }
    let addr = addr.unwrap_or_else(|| panic!("no startup line; saw {seen:?}"));
    assert!(seen.iter().any(|l| l.contains("model loaded")), "{seen:?}");

    let mut client =
        leadscore::proto::lead_scoring_client::LeadScoringClient::connect(format!("http://{addr}"))
            .await
            .expect("connect");
    let response = client
        .score(ScoreRequest {
            leads: vec![lead("sig", 2.0, true, "1-10")],
            ..Default::default()
        })
        .await
        .expect("Score");
    assert_eq!(response.into_inner().scores.len(), 1);
    drop(client);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "server did not exit after SIGTERM"
        );
        // An async sleep, so the client's connection task can answer the
        // server's GOAWAY and close.
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status:?}");
}
