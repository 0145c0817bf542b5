//! The HTTP/JSON API (`serve::http`) over the network with reqwest: the same
//! answers as gRPC, the error mapping, and bad input.

use leadscore::serve::proto::ScoreRequest;
use serde_json::{json, Value};

use crate::helpers::{lead, model_repo, settings, spawn_app, spawn_with, MODEL};

fn lead_json(id: &str) -> Value {
    json!({
        "leadId": id,
        "features": {
            "demo_actions": {"number": 6.0},
            "visits_30d": {"number": 12.0},
            "email_opens": {"number": 3.0},
            "report_created": {"flag": true},
            "company_size": {"category": "201-1000"},
            "lead_source": {"category": "referral"}
        }
    })
}

async fn post(app: &crate::helpers::TestApp, path: &str, body: String) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("http://{}{path}", app.http_addr))
        .header("content-type", "application/json")
        .header("x-request-id", "req-http-1")
        .body(body)
        .send()
        .await
        .expect("HTTP request")
}

#[tokio::test]
async fn json_score_matches_grpc_score() {
    // Arrange
    let app = spawn_app().await;
    let grpc = app
        .client()
        .score(ScoreRequest {
            leads: vec![lead("a", 6.0, true, "201-1000")],
            ..Default::default()
        })
        .await
        .expect("gRPC Score")
        .into_inner();

    // Act
    let response = post(
        &app,
        "/v1/score",
        json!({"leads": [lead_json("a")]}).to_string(),
    )
    .await;

    // Assert
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "req-http-1");
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["model"], MODEL);
    assert_eq!(body["version"], "2");
    let score = &body["scores"][0];
    assert_eq!(score["leadId"], "a");
    assert_eq!(
        score["probability"].as_f64(),
        Some(grpc.scores[0].probability)
    );
    assert_eq!(score["band"], grpc.scores[0].band.as_str());
}

#[tokio::test]
async fn explain_accounts_models_and_stream() {
    let app = spawn_app().await;

    let explain = post(
        &app,
        "/v1/explain",
        json!({"leads": [lead_json("e")], "topK": 3}).to_string(),
    )
    .await;
    assert_eq!(explain.status(), 200);
    let explain: Value = explain.json().await.expect("JSON");
    // top_k semantics are Explain's own (tests/api/explain.rs); here: it is applied.
    assert!(
        explain["explanations"][0]["contributions"]
            .as_array()
            .is_some_and(|c| !c.is_empty() && c.len() < 6),
        "{explain}"
    );

    let mut member = lead_json("m");
    member["accountId"] = json!("acme");
    let accounts = post(
        &app,
        "/v1/score-accounts",
        json!({"leads": [member]}).to_string(),
    )
    .await;
    assert_eq!(accounts.status(), 200, "{:?}", accounts.text().await);

    let client = reqwest::Client::new();
    let models: Value = client
        .get(format!("http://{}/v1/models", app.http_addr))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert!(
        models["models"].as_array().is_some_and(|m| m.len() >= 2),
        "{models}"
    );
    let one = client
        .get(format!(
            "http://{}/v1/models/{MODEL}?version=1",
            app.http_addr
        ))
        .send()
        .await
        .expect("GET");
    assert_eq!(one.status(), 200);
    let one: Value = one.json().await.expect("JSON");
    assert_eq!(one["version"], "1");

    let lines = format!(
        "{}\n{}\n{{not json\n",
        json!({"leads": [lead_json("s1")]}),
        json!({"leads": [lead_json("s2")], "version": "1"})
    );
    let stream = client
        .post(format!("http://{}/v1/score:stream", app.http_addr))
        .header("content-type", leadscore::serve::http::NDJSON)
        .body(lines)
        .send()
        .await
        .expect("POST");
    assert_eq!(stream.status(), 200);
    assert_eq!(
        stream.headers()["content-type"],
        leadscore::serve::http::NDJSON
    );
    let text = stream.text().await.expect("body");
    let answers: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(answers.len(), 3, "{text}");
    assert_eq!(answers[0]["scores"][0]["leadId"], "s1");
    assert_eq!(answers[1]["version"], "1");
    assert_eq!(answers[2]["error"]["code"], 3, "{text}");
}

#[tokio::test]
async fn errors_map_to_http_statuses_with_json_bodies() {
    let app = spawn_app().await;
    let cases = [
        (
            "/v1/score",
            json!({"leads": []}).to_string(),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            "/v1/score",
            json!({"leads": [lead_json("a")], "bogus": 1}).to_string(),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            "/v1/score",
            "{\"leads\": [".to_string(),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            "/v1/score",
            json!({"leads": "many"}).to_string(),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            "/v1/score",
            json!({"model": "nope", "leads": [lead_json("a")]}).to_string(),
            404,
            "NOT_FOUND",
        ),
        ("/v1/nothing", "{}".to_string(), 404, "INVALID_ARGUMENT"),
    ];
    for (path, body, status, code) in cases {
        let response = post(&app, path, body.clone()).await;
        assert_eq!(response.status(), status, "{path} {body}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let error: Value = response.json().await.expect("JSON error");
        assert_eq!(error["code"], code, "{body}: {error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    // Field violations name the request path, as gRPC's BadRequest does.
    let mut bad = lead_json("x");
    bad["features"]["visits_30d"] = json!({});
    let response = post(&app, "/v1/score", json!({"leads": [bad]}).to_string()).await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["x-request-id"], "req-http-1");
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(
        error["details"][0]["field"], "leads[0].features[\"visits_30d\"]",
        "{error}"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_and_deadlines() {
    let repo = model_repo(1);
    let mut s = settings(repo.path());
    s.max_message_bytes = 1024;
    let app = spawn_with(s, Some(repo)).await;
    let big = json!({"leads": (0..50).map(|i| lead_json(&i.to_string())).collect::<Vec<_>>()});
    let response = post(&app, "/v1/score", big.to_string()).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.expect("JSON");
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("1024"),
        "{error}"
    );

    // A deadline too short for any work: DEADLINE_EXCEEDED is 504.
    let response = reqwest::Client::new()
        .post(format!("http://{}/v1/score", app.http_addr))
        .header("grpc-timeout", "1n")
        .body(json!({"leads": [lead_json("a")]}).to_string())
        .send()
        .await
        .expect("POST");
    assert!(
        response.status() == 504 || response.status() == 200,
        "{}",
        response.status()
    );
}

#[tokio::test]
async fn shed_requests_are_429_with_retry_after() {
    let repo = model_repo(1);
    let mut s = settings(repo.path());
    s.max_concurrent_requests = 1;
    let app = spawn_with(s, Some(repo)).await;
    // Hold the only slot with a request whose body never finishes.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    tx.send(Ok(b"{\"leads\":".to_vec())).await.expect("send");
    let held = reqwest::Client::new()
        .post(format!("http://{}/v1/score", app.http_addr))
        .body(reqwest::Body::wrap_stream(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ));
    let held = tokio::spawn(held.send());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let response = post(
        &app,
        "/v1/score",
        json!({"leads": [lead_json("a")]}).to_string(),
    )
    .await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["code"], "RESOURCE_EXHAUSTED");
    drop(tx);
    let _ = held.await;
}

/// `docs/openapi.yaml` lists exactly the routes the server has, and each of
/// them is routed (not answered by the fallback).
#[tokio::test]
async fn openapi_lists_the_routes() {
    use yaml_rust2::YamlLoader;
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.yaml"))
        .expect("docs/openapi.yaml");
    let docs = YamlLoader::load_from_str(&text).expect("valid YAML");
    let paths = docs[0]["paths"].as_hash().expect("paths");
    let mut documented: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(path, methods)| {
            let path = path.as_str().expect("path").to_string();
            methods
                .as_hash()
                .expect("methods")
                .keys()
                .map(move |m| (m.as_str().expect("method").to_string(), path.clone()))
        })
        .collect();
    let all_routes = || {
        leadscore::serve::http::ROUTES
            .iter()
            .chain(leadscore::serve::oip_rest::ROUTES)
    };
    let mut routes: Vec<(String, String)> = all_routes()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    documented.sort();
    routes.sort();
    assert_eq!(documented, routes);

    let app = spawn_app().await;
    let client = reqwest::Client::new();
    for (method, path) in all_routes() {
        let path = path.replace("{name}", MODEL).replace("{version}", "2");
        let url = format!("http://{}{}", app.http_addr, path);
        let request = match *method {
            "get" => client.get(url),
            _ => client.post(url).body("{}"),
        };
        let response = request.send().await.expect("request");
        let body = response.text().await.expect("body");
        assert!(!body.contains("no route"), "{method} {path}: {body}");
    }
}

/// Slow clients: headers not sent within `--http-read-timeout` close the
/// connection; a body not sent within it gets 400 naming the flag.
#[tokio::test]
async fn slow_clients_are_cut_off_after_the_read_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let repo = model_repo(1);
    let mut s = settings(repo.path());
    s.http_read_timeout = std::time::Duration::from_millis(300);
    let app = spawn_with(s, Some(repo)).await;

    // Half a request line, then nothing.
    let mut stream = tokio::net::TcpStream::connect(app.http_addr)
        .await
        .expect("connect");
    stream
        .write_all(b"POST /v1/score HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut buf),
    )
    .await;
    assert!(
        read.is_ok(),
        "the server closes a connection whose headers never finish"
    );

    // Full headers, a tenth of the body.
    let mut stream = tokio::net::TcpStream::connect(app.http_addr)
        .await
        .expect("connect");
    stream
        .write_all(b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"leads\":")
        .await
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("an answer within 5 s")
        .expect("read");
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("--http-read-timeout"), "{answer}");

    // Others are unaffected.
    let ok = reqwest::get(format!("http://{}/v2/health/ready", app.http_addr))
        .await
        .expect("GET");
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_http_request_finish_and_refuses_new_ones() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Arrange: a request whose body is half sent when shutdown begins.
    let mut app = spawn_app().await;
    let body = json!({"leads": [lead_json("drain-1")]}).to_string();
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    let mut stream = tokio::net::TcpStream::connect(app.http_addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(first).await.expect("write half");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    // Act: shut down, then finish the body.
    app.trigger_shutdown();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stream.write_all(rest).await.expect("write the rest");
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("the server answers and closes within 10 s")
    .expect("read");

    // Assert: the in-flight request was scored; a new connection is refused
    // once the listener has stopped.
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("drain-1"), "{answer}");
    let refused = reqwest::Client::new()
        .get(format!("http://{}/v2/health/live", app.http_addr))
        .timeout(std::time::Duration::from_secs(2))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a new HTTP request after shutdown: {refused:?}"
    );
}
