//! The HTTP/JSON API (`serve::http`) over the network with reqwest: the same
//! answers as gRPC, the error mapping, and bad input.

use std::time::Duration;

use leadscore::serve::proto::ScoreRequest;
use serde_json::{json, Value};

use crate::helpers::{lead, model_repo, scrape, settings, spawn_app, spawn_with, MODEL};

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
        ("/v1/nothing", "{}".to_string(), 404, "NOT_FOUND"),
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
async fn bodies_over_the_limit_are_400() {
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
}

/// A request body the test sends piece by piece (or never finishes).
fn piecewise_body() -> (
    tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
    reqwest::Body,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let body = reqwest::Body::wrap_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    (tx, body)
}

/// The next NDJSON line of a streamed answer, as it arrives (`None` at its end).
async fn next_line(response: &mut reqwest::Response, buffer: &mut Vec<u8>) -> Option<Value> {
    loop {
        if let Some(at) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=at).collect();
            return Some(serde_json::from_slice(&line).expect("an NDJSON line"));
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("the next answer line within 10 s")
            .expect("read the answer");
        match chunk {
            Some(chunk) => buffer.extend_from_slice(&chunk),
            None => {
                assert!(buffer.is_empty(), "a partial last line: {buffer:?}");
                return None;
            }
        }
    }
}

/// Holds a concurrency slot: an open `score:stream` whose first line has
/// been answered (the stream keeps its slot until its body ends). Dropping
/// the returned sender ends it.
async fn hold_a_slot(
    app: &crate::helpers::TestApp,
) -> (
    tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
    reqwest::Response,
) {
    let (tx, body) = piecewise_body();
    let first = format!("{}\n", json!({"leads": [lead_json("holder")]}));
    tx.send(Ok(first.into_bytes())).await.expect("send");
    let request = reqwest::Client::new()
        .post(format!("http://{}/v1/score:stream", app.http_addr))
        .header("content-type", leadscore::serve::http::NDJSON)
        .body(body)
        .send();
    let mut response = tokio::time::timeout(Duration::from_secs(10), request)
        .await
        .expect("the answer starts while the body is open")
        .expect("the stream starts");
    assert_eq!(response.status(), 200);
    let mut buffer = Vec::new();
    let answer = next_line(&mut response, &mut buffer).await.expect("a line");
    assert_eq!(answer["scores"][0]["leadId"], "holder", "{answer}");
    (tx, response)
}

#[tokio::test]
async fn shed_requests_are_429_with_retry_after() {
    // Arrange: the only slot is held by an open NDJSON stream.
    let repo = model_repo(1);
    let mut s = settings(repo.path());
    s.max_concurrent_requests = 1;
    let app = spawn_with(s, Some(repo)).await;
    let (tx, _held) = hold_a_slot(&app).await;

    // Act
    let response = post(
        &app,
        "/v1/score",
        json!({"leads": [lead_json("a")]}).to_string(),
    )
    .await;
    let by_model = reqwest::get(format!(
        "http://{}/v1/models/shed-model-name-xyz",
        app.http_addr
    ))
    .await
    .expect("GET");
    let grpc = app
        .client()
        .score(ScoreRequest {
            leads: vec![lead("g", 6.0, true, "201-1000")],
            ..Default::default()
        })
        .await;

    // Assert: shed with Retry-After and the request id; one pool with gRPC;
    // the shed counter names the route's RPC, never the model of the path.
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(response.headers()["x-request-id"], "req-http-1");
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["code"], "RESOURCE_EXHAUSTED");
    assert_eq!(by_model.status(), 429);
    assert_eq!(
        grpc.expect_err("gRPC shares the slots").code(),
        tonic::Code::ResourceExhausted
    );
    let metrics = scrape(app.metrics_addr).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("leadscore_requests_shed_total{")
                && l.contains("rpc=\"GetModel\"")),
        "{metrics}"
    );
    assert!(!metrics.contains("shed-model-name-xyz"), "{metrics}");
    drop(tx);
}

#[tokio::test]
async fn http_health_probes_are_never_shed() {
    // Arrange: the only slot is held.
    let repo = model_repo(1);
    let mut s = settings(repo.path());
    s.max_concurrent_requests = 1;
    let app = spawn_with(s, Some(repo)).await;
    let (tx, _held) = hold_a_slot(&app).await;

    // Act / Assert: the probes answer; an API request is shed.
    for path in ["/v2/health/live", "/v2/health/ready"] {
        let response = reqwest::get(format!("http://{}{path}", app.http_addr))
            .await
            .expect("GET");
        assert_eq!(response.status(), 200, "{path} under load");
    }
    let shed = reqwest::get(format!("http://{}/v2", app.http_addr))
        .await
        .expect("GET");
    assert_eq!(shed.status(), 429);
    drop(tx);
}

/// Clients that send their headers and then the body slowly (or never) hold
/// no concurrency slot: the body is read before a slot is taken, so gRPC and
/// HTTP requests are still served while more slow clients than slots wait.
#[tokio::test]
async fn slow_body_clients_do_not_take_slots_from_grpc() {
    // Arrange: 2 slots, 5 clients stalled mid-body.
    let repo = model_repo(1);
    let mut s = settings(repo.path());
    s.max_concurrent_requests = 2;
    let app = spawn_with(s, Some(repo)).await;
    let mut stalled = Vec::new();
    for path in [
        "/v1/score",
        "/v1/explain",
        "/v1/score",
        "/v1/score:stream",
        "/v2/models/leads/infer",
    ] {
        let (tx, body) = piecewise_body();
        tx.send(Ok(b"{\"leads\": [".to_vec())).await.expect("send");
        let request = reqwest::Client::new()
            .post(format!("http://{}{path}", app.http_addr))
            .body(body)
            .send();
        stalled.push((tx, tokio::spawn(request)));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Act
    let grpc = app
        .client()
        .score(ScoreRequest {
            leads: vec![lead("g", 6.0, true, "201-1000")],
            ..Default::default()
        })
        .await;
    let http = post(
        &app,
        "/v1/score",
        json!({"leads": [lead_json("h")]}).to_string(),
    )
    .await;

    // Assert
    let grpc = grpc.expect("gRPC Score is served beside slow HTTP clients");
    assert_eq!(grpc.into_inner().scores[0].lead_id, "g");
    assert_eq!(http.status(), 200);
    assert!(stalled.iter().all(|(_, request)| !request.is_finished()));
    drop(stalled);
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
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    documented.sort();
    routes.sort();
    assert_eq!(documented, routes);

    let app = spawn_app().await;
    let client = reqwest::Client::new();
    for (method, path, _) in all_routes() {
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

/// `score:stream` answers each line as soon as it is in, while the body is
/// still open: the answer to line 1 is read before line 2 is sent. A bad
/// line is an error in its own answer line and the stream goes on.
#[tokio::test]
async fn score_stream_answers_each_line_while_the_body_is_open() {
    // Arrange
    let app = spawn_app().await;
    let (tx, body) = piecewise_body();
    let line = |id: &str| format!("{}\n", json!({"leads": [lead_json(id)]}));
    tx.send(Ok(line("first").into_bytes())).await.expect("send");
    let request = reqwest::Client::new()
        .post(format!("http://{}/v1/score:stream", app.http_addr))
        .header("content-type", leadscore::serve::http::NDJSON)
        .header("x-request-id", "stream-1")
        .body(body)
        .send();
    let mut response = tokio::time::timeout(Duration::from_secs(10), request)
        .await
        .expect("the answer starts before the body ends")
        .expect("POST");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        leadscore::serve::http::NDJSON
    );
    assert_eq!(response.headers()["x-request-id"], "stream-1");
    let mut buffer = Vec::new();

    // Act / Assert: one answer per line, in turn.
    let first = next_line(&mut response, &mut buffer).await.expect("line 1");
    assert_eq!(first["scores"][0]["leadId"], "first", "{first}");
    tx.send(Ok(b"{\"leads\": [nope\n".to_vec()))
        .await
        .expect("send");
    let bad = next_line(&mut response, &mut buffer).await.expect("line 2");
    assert_eq!(bad["error"]["code"], 3, "{bad}");
    assert!(
        bad["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("line 2: ")),
        "{bad}"
    );
    // A line may arrive in pieces.
    let third = line("third");
    let (a, b) = third.as_bytes().split_at(10);
    tx.send(Ok(a.to_vec())).await.expect("send");
    tx.send(Ok(b.to_vec())).await.expect("send");
    let third = next_line(&mut response, &mut buffer).await.expect("line 3");
    assert_eq!(third["scores"][0]["leadId"], "third", "{third}");
    drop(tx);
    assert_eq!(next_line(&mut response, &mut buffer).await, None);
}

/// A nightly-job-sized body, far over `--max-message-bytes` as a whole (the
/// limit is per line): every line is answered in order, the bad and the
/// over-long lines with their own errors.
#[tokio::test]
async fn score_stream_of_a_large_body() {
    // Arrange
    let repo = model_repo(1);
    let mut s = settings(repo.path());
    s.max_message_bytes = 4096;
    let app = spawn_with(s, Some(repo)).await;
    let n = 3000;
    let mut body = String::new();
    for i in 0..n {
        match i {
            1000 => body.push_str("{\"leads\": 7}\n"),
            1500 => body.push('\n'),
            2000 => {
                let many: Vec<Value> = (0..40).map(|j| lead_json(&format!("big{j}"))).collect();
                body.push_str(&format!("{}\n", json!({ "leads": many })));
            }
            _ => body.push_str(&format!(
                "{}\n",
                json!({"leads": [lead_json(&format!("l{i}"))]})
            )),
        }
    }
    assert!(body.len() > 100 * 4096);

    // Act
    let response = reqwest::Client::new()
        .post(format!("http://{}/v1/score:stream", app.http_addr))
        .header("content-type", leadscore::serve::http::NDJSON)
        .body(body)
        .send()
        .await
        .expect("POST");

    // Assert
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        leadscore::serve::http::NDJSON
    );
    let text = response.text().await.expect("body");
    let answers: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(answers.len(), n - 1, "one answer per non-blank line");
    for (k, answer) in answers.iter().enumerate() {
        let line = if k < 1500 { k } else { k + 1 };
        match line {
            1000 => {
                assert_eq!(answer["error"]["code"], 3, "{answer}");
                assert!(
                    answer["error"]["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("line 1001: ")),
                    "{answer}"
                );
            }
            2000 => {
                let message = answer["error"]["message"].as_str().unwrap_or_default();
                assert!(
                    message.starts_with("line 2001: ") && message.contains("4096"),
                    "{answer}"
                );
            }
            _ => assert_eq!(
                answer["scores"][0]["leadId"],
                format!("l{line}"),
                "{answer}"
            ),
        }
    }
}

#[tokio::test]
async fn http2_with_prior_knowledge() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");

    let response = client
        .post(format!("http://{}/v1/score", app.http_addr))
        .header("content-type", "application/json")
        .body(json!({"leads": [lead_json("h2")]}).to_string())
        .send()
        .await
        .expect("POST over HTTP/2");

    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["scores"][0]["leadId"], "h2");
    let models = client
        .get(format!("http://{}/v1/models", app.http_addr))
        .send()
        .await
        .expect("GET over HTTP/2");
    assert_eq!(models.version(), reqwest::Version::HTTP_2);
    assert_eq!(models.status(), 200);
}

/// Every answer carries `x-request-id`, the caller's or a fresh one: the
/// handlers', the 404 of an unknown route, the 405 of a wrong method (with a
/// JSON body and `Allow`) and a body that does not decode.
#[tokio::test]
async fn every_answer_has_a_request_id_and_a_json_error() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://{}{path}", app.http_addr);

    let unknown = client
        .get(url("/v1/nothing"))
        .header("x-request-id", "r-404")
        .send()
        .await
        .expect("GET");
    assert_eq!(unknown.status(), 404);
    assert_eq!(unknown.headers()["x-request-id"], "r-404");
    let body: Value = unknown.json().await.expect("JSON");
    assert_eq!(body["code"], "NOT_FOUND", "{body}");

    let wrong_method = client
        .get(url("/v1/score"))
        .header("x-request-id", "r-405")
        .send()
        .await
        .expect("GET");
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(wrong_method.headers()["x-request-id"], "r-405");
    assert_eq!(wrong_method.headers()["allow"], "POST");
    assert_eq!(wrong_method.headers()["content-type"], "application/json");
    let body: Value = wrong_method.json().await.expect("JSON");
    assert_eq!(body["code"], "UNIMPLEMENTED", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("GET")));

    let wrong_method = client.post(url("/v1/models")).send().await.expect("POST");
    assert_eq!(wrong_method.status(), 405);
    assert!(wrong_method.headers().contains_key("x-request-id"));

    // No id sent: a fresh one, different each time.
    let mut fresh = Vec::new();
    for _ in 0..2 {
        let bad = client
            .post(url("/v1/score"))
            .body("{\"leads\": [")
            .send()
            .await
            .expect("POST");
        assert_eq!(bad.status(), 400);
        let id = bad.headers()["x-request-id"]
            .to_str()
            .expect("ASCII")
            .to_string();
        assert!(!id.is_empty());
        fresh.push(id);
    }
    assert_ne!(fresh[0], fresh[1]);

    for path in ["/v2/health/live", "/v1/models", "/v2/models/nope/ready"] {
        let response = client.get(url(path)).send().await.expect("GET");
        assert!(
            response.headers().contains_key("x-request-id"),
            "{path}: {:?}",
            response.headers()
        );
    }
}

/// DEADLINE_EXCEEDED over the wire is 504 with the request id: the deadline
/// counts from the request's arrival (a body still arriving when it passes)
/// and covers the work (a large Explain with a 1 ms budget).
#[tokio::test]
async fn deadlines_are_504_over_the_wire() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;

    // A body still arriving when its 200 ms are up.
    let body = json!({"leads": [lead_json("late")]}).to_string();
    let mut stream = tokio::net::TcpStream::connect(app.http_addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\ngrpc-timeout: 200m\r\nx-request-id: late-1\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream
        .write_all(&body.as_bytes()[..10])
        .await
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("an answer within 5 s")
        .expect("read");
    let answer = String::from_utf8_lossy(&buf[..n]).to_lowercase();
    assert!(answer.starts_with("http/1.1 504"), "{answer}");
    assert!(answer.contains("x-request-id: late-1"), "{answer}");
    assert!(answer.contains("deadline_exceeded"), "{answer}");

    // Work that cannot fit in 1 ms.
    let leads: Vec<Value> = (0..3000).map(|i| lead_json(&format!("e{i}"))).collect();
    let response = reqwest::Client::new()
        .post(format!("http://{}/v1/explain", app.http_addr))
        .header("grpc-timeout", "1m")
        .header("x-request-id", "late-2")
        .body(json!({ "leads": leads }).to_string())
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 504);
    assert_eq!(response.headers()["x-request-id"], "late-2");
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["code"], "DEADLINE_EXCEEDED", "{error}");
}

/// No model loaded: the API answers 503 UNAVAILABLE (retryable), and a
/// stream's lines say UNAVAILABLE (14) in their errors.
#[tokio::test]
async fn no_model_loaded_is_503_unavailable() {
    let repo = model_repo(0);
    let app = spawn_with(settings(repo.path()), Some(repo)).await;

    let response = post(
        &app,
        "/v1/score",
        json!({"leads": [lead_json("a")]}).to_string(),
    )
    .await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["x-request-id"], "req-http-1");
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["code"], "UNAVAILABLE", "{error}");

    let stream = post(
        &app,
        "/v1/score:stream",
        format!("{}\n", json!({"leads": [lead_json("a")]})),
    )
    .await;
    assert_eq!(stream.status(), 200);
    let line: Value =
        serde_json::from_str(stream.text().await.expect("body").trim()).expect("JSON");
    assert_eq!(line["error"]["code"], 14, "{line}");
}

/// The value of the first sample of `metric` whose labels include all of `labels`.
fn sample(metrics: &str, metric: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Bodies that do not decode are counted in `leadscore_requests_total`
/// under the route's RPC; paths never become label values.
#[tokio::test]
async fn decode_failures_are_counted_under_the_route_rpc() {
    let app = spawn_app().await;
    let labels = [
        "protocol=\"http\"",
        "rpc=\"ScoreAccounts\"",
        "code=\"InvalidArgument\"",
    ];
    let before = sample(
        &scrape(app.metrics_addr).await,
        "leadscore_requests_total",
        &labels,
    );

    for body in ["{\"leads\": [", "{\"bogus\": 1}", "[]"] {
        let response = post(&app, "/v1/score-accounts", body.to_string()).await;
        assert_eq!(response.status(), 400, "{body}");
    }
    let infer = post(&app, "/v2/models/decode-model-xyz/infer", "{".to_string()).await;
    assert_eq!(infer.status(), 400);
    let unknown = reqwest::get(format!(
        "http://{}/v1/models/lookup-model-xyz",
        app.http_addr
    ))
    .await
    .expect("GET");
    assert_eq!(unknown.status(), 404);

    let metrics = scrape(app.metrics_addr).await;
    let after = sample(&metrics, "leadscore_requests_total", &labels);
    assert!(after - before >= 3.0, "{before} -> {after}");
    assert!(
        sample(
            &metrics,
            "leadscore_requests_total",
            &["protocol=\"http\"", "rpc=\"GetModel\"", "code=\"NotFound\""]
        ) >= 1.0,
        "{metrics}"
    );
    assert!(!metrics.contains("model-xyz"), "{metrics}");
}

/// A stream whose deadline passes while it waits for the next line ends with
/// a last line saying DEADLINE_EXCEEDED (the status, 200, was already sent),
/// after the answers it had made.
#[tokio::test]
async fn score_stream_ends_with_a_deadline_line() {
    // Arrange: a 300 ms budget, one line sent, then silence.
    let app = spawn_app().await;
    let (tx, body) = piecewise_body();
    let first = format!("{}\n", json!({"leads": [lead_json("in-time")]}));
    tx.send(Ok(first.into_bytes())).await.expect("send");
    let request = reqwest::Client::new()
        .post(format!("http://{}/v1/score:stream", app.http_addr))
        .header("grpc-timeout", "300m")
        .body(body)
        .send();

    // Act
    let mut response = tokio::time::timeout(Duration::from_secs(10), request)
        .await
        .expect("the answer starts")
        .expect("POST");
    let mut buffer = Vec::new();
    let answered = next_line(&mut response, &mut buffer).await.expect("line 1");
    let last = next_line(&mut response, &mut buffer)
        .await
        .expect("last line");

    // Assert
    assert_eq!(response.status(), 200);
    assert_eq!(answered["scores"][0]["leadId"], "in-time", "{answered}");
    assert_eq!(last["error"]["code"], 4, "{last}");
    assert!(
        last["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("line 2: deadline exceeded after 1 lines")),
        "{last}"
    );
    assert_eq!(next_line(&mut response, &mut buffer).await, None);
    drop(tx);
}
