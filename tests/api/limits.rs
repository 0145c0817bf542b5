//! Limits: load shedding beyond the concurrency limit, deadlines, batch size.

use std::time::Duration;

use leadscore::serve::proto::{ExplainRequest, Lead, ScoreRequest};
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
    let small = |i: usize| ScoreRequest {
        leads: vec![lead(&format!("s{i}"), 1.0, true, "1-10")],
        ..Default::default()
    };
    // Wait until the heavy request holds the only slot: the first refusal.
    let started = std::time::Instant::now();
    loop {
        match app.client().score(small(0)).await {
            Err(status) if status.code() == Code::ResourceExhausted => break,
            Err(status) => panic!("unexpected {status:?}"),
            Ok(_) => {
                assert!(
                    !in_flight.is_finished(),
                    "the heavy request finished before it was seen in flight"
                );
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "never saw the limit reached"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    let mut shed = 0;
    for i in 0..5 {
        if let Err(status) = app.client().score(small(i)).await {
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

/// Sends one unary call over raw HTTP/2 with a `grpc-timeout` header and
/// returns the `grpc-status` the server answered. (tonic's own client also
/// enforces the timeout locally, answering CANCELLED itself on a loaded
/// machine; a raw client sees exactly what the server says.)
async fn raw_call_status(
    addr: std::net::SocketAddr,
    path: &str,
    message: &[u8],
    timeout: &str,
) -> String {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (client, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut client = client.ready().await.expect("ready");
    let request = http::Request::post(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", timeout)
        .body(())
        .expect("request");
    let (response, mut stream) = client.send_request(request, false).expect("send");
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(message);
    stream
        .send_data(bytes::Bytes::from(framed), true)
        .expect("body");
    let response = response.await.expect("response");
    let (parts, mut body) = response.into_parts();
    if let Some(status) = parts.headers.get("grpc-status") {
        return status.to_str().expect("ascii").to_string();
    }
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("data");
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let trailers = body
        .trailers()
        .await
        .expect("trailers")
        .expect("grpc trailers");
    trailers["grpc-status"].to_str().expect("ascii").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_deadline_shorter_than_the_work_is_deadline_exceeded() {
    use prost::Message;
    let repo = model_repo(1);
    let mut s = settings(repo.path());
    s.max_leads_per_request = 100_000;
    s.max_message_bytes = 64 << 20;
    let app = spawn_with(s, Some(repo)).await;
    let heavy_request = heavy(60_000).encode_to_vec();
    let status = raw_call_status(
        app.addr,
        "/leadscore.v1.LeadScoring/Explain",
        &heavy_request,
        "20m",
    )
    .await;
    assert_eq!(
        status,
        (Code::DeadlineExceeded as i32).to_string(),
        "grpc-status"
    );

    // The server is fine afterwards, and a generous deadline succeeds.
    let small = ScoreRequest {
        leads: vec![lead("ok", 1.0, true, "1-10")],
        ..Default::default()
    }
    .encode_to_vec();
    let status = raw_call_status(app.addr, "/leadscore.v1.LeadScoring/Score", &small, "10S").await;
    assert_eq!(status, "0");
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
    s.request_timeout = Duration::from_millis(20);
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

#[tokio::test]
async fn an_explain_whose_answer_would_not_fit_is_refused_before_the_work() {
    // Arrange: a 32 KiB response limit.
    let repo = model_repo(1);
    let mut server = settings(repo.path());
    server.max_message_bytes = 32 << 10;
    let app = spawn_with(server, Some(repo)).await;
    let leads: Vec<Lead> = (0..100)
        .map(|i| lead(&format!("L-{i}"), f64::from(i % 7), i % 2 == 0, "11-50"))
        .collect();

    // Act
    let err = app
        .client()
        .explain(ExplainRequest {
            leads: leads.clone(),
            ..Default::default()
        })
        .await
        .expect_err("over the response limit");
    let fits = app
        .client()
        .explain(ExplainRequest {
            leads: leads[..20].to_vec(),
            top_k: 2,
            ..Default::default()
        })
        .await
        .expect("20 leads, top 2 reasons, fit");

    // Assert: INVALID_ARGUMENT naming the limit and how many leads fit, not
    // OUT_OF_RANGE after the work.
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    assert!(
        err.message().contains("32768-byte response limit"),
        "{}",
        err.message()
    );
    assert!(err.message().contains("send at most"), "{}", err.message());
    assert_eq!(fits.into_inner().explanations.len(), 20);
}
