//! Limits: load shedding beyond the concurrency limit, deadlines, batch size.

use std::time::Duration;

use leadscore::proto::{ExplainRequest, Lead, ScoreRequest};
use tonic::{Code, Request};
use tonic_health::pb::HealthCheckRequest;

use crate::helpers::{lead, model_repo, settings, spawn_with};

fn heavy(n: usize) -> ExplainRequest {
    ExplainRequest {
        leads: (0..n)
            .map(|i| Lead {
                lead_id: format!("h{i}"),
                values: vec![(i % 12) as f64, 10.0, 3.0, (i % 2) as f64, 1.0, 2.0],
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn beyond_the_concurrency_limit_requests_are_shed_and_it_recovers() {
    let repo = model_repo(1);
    let mut s = settings(repo.path());
    s.max_concurrent_requests = 1;
    s.max_leads_per_request = 100_000;
    s.max_message_bytes = 64 << 20;
    let app = spawn_with(s, Some(repo)).await;

    let mut busy = app.client().max_decoding_message_size(64 << 20);
    let in_flight = tokio::spawn(async move { busy.explain(heavy(60_000)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut shed = 0;
    for i in 0..5 {
        let result = app
            .client()
            .score(ScoreRequest {
                leads: vec![lead(&format!("s{i}"), 1.0, true, "1-10")],
                ..Default::default()
            })
            .await;
        if let Err(status) = result {
            assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
            assert!(status.message().contains("limit"), "{}", status.message());
            shed += 1;
        }
    }
    assert_eq!(shed, 5, "every request beyond the limit is shed at once");
    // Probes are never shed.
    let health = app
        .health()
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health is exempt from shedding");
    assert_eq!(health.into_inner().status, 1);

    in_flight
        .await
        .expect("task")
        .expect("the admitted request completes");
    app.client()
        .score(ScoreRequest {
            leads: vec![lead("after", 1.0, true, "1-10")],
            ..Default::default()
        })
        .await
        .expect("recovered after the load");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_deadline_shorter_than_the_work_is_deadline_exceeded() {
    let repo = model_repo(1);
    let mut s = settings(repo.path());
    s.max_leads_per_request = 100_000;
    s.max_message_bytes = 64 << 20;
    let app = spawn_with(s, Some(repo)).await;
    // The header as any gRPC client sends it. (tonic's own `set_timeout`
    // also times out client-side, answering CANCELLED locally, which would
    // hide what the server does.)
    let mut request = Request::new(heavy(60_000));
    request
        .metadata_mut()
        .insert("grpc-timeout", "400m".parse().expect("ascii"));
    let status = app
        .client()
        .explain(request)
        .await
        .expect_err("too slow for its deadline");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");

    // The server is fine afterwards, and a generous deadline succeeds.
    let mut request = Request::new(ScoreRequest {
        leads: vec![lead("ok", 1.0, true, "1-10")],
        ..Default::default()
    });
    request.set_timeout(Duration::from_secs(10));
    app.client()
        .score(request)
        .await
        .expect("within its deadline");
}

#[tokio::test]
async fn the_server_default_deadline_applies_without_a_client_deadline() {
    let repo = model_repo(1);
    let mut s = settings(repo.path());
    s.max_leads_per_request = 100_000;
    s.max_message_bytes = 64 << 20;
    s.request_timeout = Duration::from_millis(150);
    let app = spawn_with(s, Some(repo)).await;
    let status = app
        .client()
        .explain(heavy(60_000))
        .await
        .expect_err("over the default deadline");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
}

#[tokio::test]
async fn an_oversized_message_is_refused() {
    let repo = model_repo(1);
    let mut s = settings(repo.path());
    s.max_leads_per_request = 1_000_000;
    s.max_message_bytes = 1 << 20;
    let app = spawn_with(s, Some(repo)).await;
    let status = app
        .client()
        .explain(heavy(30_000))
        .await
        .expect_err("over 1 MiB");
    assert!(
        matches!(
            status.code(),
            Code::OutOfRange | Code::ResourceExhausted | Code::InvalidArgument
        ),
        "{status:?}"
    );
}
