//! Graceful shutdown, on the real binary: SIGHUP reloads; on SIGTERM
//! health turns NOT_SERVING, in-flight requests finish, the process exits 0;
//! after shutdown the listener is closed.

use std::time::{Duration, Instant};

use leadscore::serve::proto::lead_scoring_client::LeadScoringClient;
use leadscore::serve::proto::{ExplainRequest, Lead, ScoreRequest};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::helpers::{
    lead, model_repo, scrape, settings, spawn_with, synthetic_artifact, ServerProcess, MODEL,
};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reloads_on_sighup_and_drains_in_flight_requests_on_sigterm() {
    // Arrange: the real binary, with filesystem watching and polling off so
    // that SIGHUP is the only way it can learn of a new version.
    let repo = model_repo(1);
    let mut server = ServerProcess::start(
        repo.path(),
        &[
            "--watch-models=false",
            "--reload-poll-interval",
            "0s",
            "--max-leads-per-request",
            "100000",
            "--max-message-bytes",
            "67108864",
            "--shutdown-grace",
            "20s",
        ],
    );
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut client = LeadScoringClient::new(channel.clone()).max_decoding_message_size(64 << 20);
    let version =
        |r: tonic::Response<leadscore::serve::proto::ScoreResponse>| r.into_inner().version;
    let one = || ScoreRequest {
        leads: vec![lead("sig", 2.0, true, "1-10")],
        ..Default::default()
    };
    assert_eq!(version(client.score(one()).await.expect("Score")), "1");

    // SIGHUP picks up a newly published version.
    leadscore::train::write_artifact(synthetic_artifact(), &repo.path().join(MODEL).join("2"))
        .expect("publish");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        version(client.score(one()).await.expect("Score")),
        "1",
        "nothing reloads without a trigger"
    );
    server.signal("HUP");
    let mut reloaded = false;
    for _ in 0..400 {
        if version(client.score(one()).await.expect("Score")) == "2" {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reloaded, "SIGHUP reloads the repository");

    // Health watch, then three heavy requests in flight.
    let mut watch = HealthClient::new(channel.clone())
        .watch(HealthCheckRequest {
            service: "leadscore.v1.LeadScoring".into(),
        })
        .await
        .expect("Watch")
        .into_inner();
    let first = watch.message().await.expect("watch").expect("status");
    assert_eq!(first.status(), ServingStatus::Serving);
    let mut in_flight = Vec::new();
    for _ in 0..3 {
        let mut c = client.clone();
        in_flight.push(tokio::spawn(async move {
            c.explain(ExplainRequest {
                leads: heavy_leads(80_000),
                ..Default::default()
            })
            .await
        }));
    }
    // In flight means decoded and in the handler: the process's own gauge says so.
    let metrics_addr = server.metrics_addr;
    crate::helpers::eventually(30, "3 requests in flight", || async move {
        scrape(metrics_addr)
            .await
            .lines()
            .any(|l| l == "leadscore_requests_in_flight 3")
    })
    .await;

    // Act
    let signalled = Instant::now();
    server.signal("TERM");

    // Assert: NOT_SERVING is announced, every in-flight request completes,
    // and the process exits 0 within the grace period.
    let update = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .expect("a health update within 5 s");
    if let Ok(Some(update)) = update {
        assert_eq!(update.status(), ServingStatus::NotServing);
    }
    for handle in in_flight {
        let response = handle
            .await
            .expect("task")
            .expect("in-flight request completes after SIGTERM");
        assert_eq!(response.into_inner().explanations.len(), 80_000);
    }
    drop(watch);
    drop(client);
    drop(channel);
    let status = server.wait_exit(20).await;
    assert!(status.success(), "exit status {status:?}");
    assert!(
        signalled.elapsed() < Duration::from_secs(20),
        "exited within the grace period"
    );
    let logs = server.drain_logs();
    assert!(
        logs.iter()
            .any(|l| l.contains("sighup") && l.contains("model version loaded")),
        "{logs:?}"
    );
}

fn heavy_leads(n: usize) -> Vec<Lead> {
    (0..n)
        .map(|i| Lead {
            lead_id: format!("b{i}"),
            values: vec![(i % 12) as f64, 10.0, 3.0, (i % 2) as f64, 1.0, 2.0],
            ..Default::default()
        })
        .collect()
}
