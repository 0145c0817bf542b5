//! Faults: the model directory vanishing at runtime, a full disk while the
//! trainer writes, a client that opens many streams and never reads, and
//! slowloris connections. The server keeps serving everyone else.

use std::time::Duration;

use leadscore::serve::proto::{ExplainRequest, GetModelRequest, Lead, ScoreRequest};
use tokio::io::AsyncWriteExt;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::HealthCheckRequest;

use crate::helpers::{lead, model_repo, scrape, settings, spawn_with};

async fn score_ok(app: &crate::helpers::TestApp) {
    let response = tokio::time::timeout(
        Duration::from_secs(5),
        app.client().score(ScoreRequest {
            leads: vec![lead("probe", 2.0, true, "1-10")],
            ..Default::default()
        }),
    )
    .await
    .expect("answered within 5 s")
    .expect("Score succeeds");
    assert_eq!(response.into_inner().scores.len(), 1);
}

#[tokio::test]
async fn the_model_directory_vanishing_keeps_the_loaded_models_serving() {
    let repo = model_repo(2);
    let root = repo.path().to_path_buf();
    let mut s = settings(&root);
    s.reload_poll_interval = Some(Duration::from_millis(200));
    let app = spawn_with(s, Some(repo)).await;
    score_ok(&app).await;

    // The whole repository disappears, then its path becomes a plain file.
    std::fs::remove_dir_all(&root).expect("remove repository");
    tokio::time::sleep(Duration::from_millis(800)).await;
    score_ok(&app).await;
    std::fs::write(&root, b"not a directory").expect("file in its place");
    tokio::time::sleep(Duration::from_millis(800)).await;
    score_ok(&app).await;
    let health = app
        .health()
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(health.status(), ServingStatus::Serving);
    let info = app
        .client()
        .get_model(GetModelRequest::default())
        .await
        .expect("GetModel");
    assert_eq!(info.into_inner().version, "2");
    let metrics = scrape(app.metrics_addr).await;
    assert!(
        metrics.contains("leadscore_model_load_failures_total"),
        "{metrics}"
    );
    let _ = std::fs::remove_file(&root);
}

#[test]
fn a_full_disk_leaves_no_partial_artifact() {
    // RLIMIT_FSIZE makes every write past 1 KiB fail with EFBIG, as a full
    // disk fails with ENOSPC; SIGXFSZ is ignored so the write returns an error.
    let dir = tempfile::TempDir::new().expect("tempdir");
    let csv = dir.path().join("leads.csv");
    std::fs::write(&csv, leadscore::train::synthetic::generate(500, 4).to_csv()).expect("csv");
    let out = dir.path().join("models/m/1");
    let script = format!(
        "trap '' XFSZ; ulimit -f 1; exec '{}' --data '{}' --target converted --id lead_id --out '{}'",
        env!("CARGO_BIN_EXE_leadscore-train"),
        csv.display(),
        out.display()
    );
    let run = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .expect("run the trainer under a file-size limit");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "the write must fail: {stderr}");
    // The reports are written first, then model.json; either may hit the limit.
    assert!(
        stderr.contains(".report.json.tmp") || stderr.contains(".model.json.tmp"),
        "the error names the file: {stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(&out)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "nothing half-written is left behind: {left:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_does_not_block_others() {
    let repo = model_repo(1);
    let app = spawn_with(settings(repo.path()), Some(repo)).await;

    // A raw HTTP/2 client opens 2,000 Explain streams (each answer larger
    // than the initial flow-control window) and never reads a byte of them.
    let tcp = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let (client, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let body = {
        use prost::Message;
        let request = ExplainRequest {
            leads: (0..300)
                .map(|i| Lead {
                    lead_id: format!("greedy-{i}"),
                    values: vec![1.0, 2.0, 3.0, 1.0, 0.0, 0.0],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let encoded = request.encode_to_vec();
        let mut framed = vec![0u8];
        framed.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
        framed.extend_from_slice(&encoded);
        bytes::Bytes::from(framed)
    };
    let mut pending = Vec::new();
    let opener = async {
        let mut client = client.ready().await.expect("ready");
        for _ in 0..2000 {
            let request = http::Request::post(format!(
                "http://{}/leadscore.v1.LeadScoring/Explain",
                app.addr
            ))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .expect("request");
            let Ok((response, mut stream)) = client.send_request(request, false) else {
                break;
            };
            let _ = stream.send_data(body.clone(), true);
            pending.push(response);
            client = match client.ready().await {
                Ok(c) => c,
                Err(_) => break,
            };
        }
    };
    // The server caps concurrent streams per connection, so opening may stall:
    // that is the point. Give it a few seconds, then check everyone else.
    let _ = tokio::time::timeout(Duration::from_secs(3), opener).await;

    for _ in 0..5 {
        score_ok(&app).await;
    }
    drop(pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_do_not_block_others() {
    let repo = model_repo(1);
    let app = spawn_with(settings(repo.path()), Some(repo)).await;
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut tcp = tokio::net::TcpStream::connect(app.addr)
            .await
            .expect("connect");
        tcp.write_all(&preface[..3]).await.expect("a few bytes");
        slow.push(tcp);
    }
    // Trickle one more byte on each, then ask as a normal client.
    for (i, tcp) in slow.iter_mut().enumerate() {
        let _ = tcp.write_all(&preface[3 + (i % 5)..4 + (i % 5)]).await;
    }
    for _ in 0..5 {
        score_ok(&app).await;
    }
    drop(slow);
}
