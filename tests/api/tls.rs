//! TLS and mutual TLS: clients with the right certificates get through, a
//! client without one is refused.

use std::path::Path;

use leadscore::serve::proto::lead_scoring_client::LeadScoringClient;
use leadscore::serve::proto::ScoreRequest;
use leadscore::serve::server::TlsSettings;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::helpers::{lead, model_repo, settings, spawn_with};

struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
    stranger: (String, String),
}

fn pki() -> Pki {
    let ca_params = {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p
    };
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
    let leaf = |names: Vec<String>, issuer: &CertifiedIssuer<'_, KeyPair>| {
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::new(names)
            .expect("params")
            .signed_by(&key, issuer)
            .expect("sign");
        (cert.pem(), key.serialize_pem())
    };
    let server = leaf(vec!["localhost".into()], &ca);
    let client = leaf(vec!["crm-backend".into()], &ca);
    // Signed by another CA the server does not trust.
    let other_params = {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p
    };
    let other =
        CertifiedIssuer::self_signed(other_params, KeyPair::generate().expect("key")).expect("CA");
    let stranger = leaf(vec!["intruder".into()], &other);
    Pki {
        ca: ca.pem(),
        server,
        client,
        stranger,
    }
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write pem");
    path
}

async fn score_over_tls(
    addr: std::net::SocketAddr,
    ca: &str,
    identity: Option<&(String, String)>,
) -> Result<(), String> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let channel = Channel::from_shared(format!("https://{addr}"))
        .map_err(|e| e.to_string())?
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    LeadScoringClient::new(channel)
        .score(ScoreRequest {
            leads: vec![lead("tls", 1.0, true, "1-10")],
            ..Default::default()
        })
        .await
        .map(|_| ())
        .map_err(|s| format!("{s:?}"))
}

#[tokio::test]
async fn tls_serves_and_plaintext_is_refused() {
    let pki = pki();
    let certs = tempfile::TempDir::new().expect("tempdir");
    let repo = model_repo(1);
    let mut s = settings(repo.path());
    s.tls = Some(TlsSettings {
        cert: write(certs.path(), "server.pem", &pki.server.0),
        key: write(certs.path(), "server.key", &pki.server.1),
        client_ca: None,
    });
    let app = spawn_with(s, Some(repo)).await;
    score_over_tls(app.addr, &pki.ca, None)
        .await
        .expect("TLS client gets through");
    let plaintext = app
        .client()
        .score(ScoreRequest {
            leads: vec![lead("plain", 1.0, true, "1-10")],
            ..Default::default()
        })
        .await;
    assert!(
        plaintext.is_err(),
        "a plaintext client must not get an answer"
    );
}

#[tokio::test]
async fn mutual_tls_refuses_clients_without_the_right_certificate() {
    let pki = pki();
    let certs = tempfile::TempDir::new().expect("tempdir");
    let repo = model_repo(1);
    let mut s = settings(repo.path());
    s.tls = Some(TlsSettings {
        cert: write(certs.path(), "server.pem", &pki.server.0),
        key: write(certs.path(), "server.key", &pki.server.1),
        client_ca: Some(write(certs.path(), "ca.pem", &pki.ca)),
    });
    let app = spawn_with(s, Some(repo)).await;
    score_over_tls(app.addr, &pki.ca, Some(&pki.client))
        .await
        .expect("a client with a certificate from the trusted CA gets through");
    let anonymous = score_over_tls(app.addr, &pki.ca, None).await;
    assert!(
        anonymous.is_err(),
        "a client without a certificate is refused"
    );
    let stranger = score_over_tls(app.addr, &pki.ca, Some(&pki.stranger)).await;
    assert!(
        stranger.is_err(),
        "a client with a certificate from another CA is refused"
    );
}

#[tokio::test]
async fn a_missing_tls_file_is_a_clear_startup_error() {
    let repo = model_repo(1);
    let mut s = settings(repo.path());
    s.tls = Some(TlsSettings {
        cert: "/nonexistent/server.pem".into(),
        key: "/nonexistent/server.key".into(),
        client_ca: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let err = leadscore::serve::server::serve(listener.into(), s, std::future::pending())
        .await
        .expect_err("missing certificate");
    assert!(err.to_string().contains("/nonexistent/server.pem"), "{err}");
}

/// The HTTP listener over TLS with reqwest: `identity` is a client
/// certificate and key, for mTLS.
async fn http_score_over_tls(
    addr: std::net::SocketAddr,
    ca: &str,
    identity: Option<&(String, String)>,
) -> Result<u16, String> {
    let mut client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(ca.as_bytes()).map_err(|e| e.to_string())?,
        )
        .resolve("localhost", addr);
    if let Some((cert, key)) = identity {
        let pem = format!("{cert}\n{key}");
        client = client
            .identity(reqwest::Identity::from_pem(pem.as_bytes()).map_err(|e| e.to_string())?);
    }
    let client = client.build().map_err(|e| e.to_string())?;
    let response = client
        .get(format!("https://localhost:{}/v2/health/ready", addr.port()))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(response.status().as_u16())
}

#[tokio::test]
async fn the_http_listener_serves_the_same_tls_and_mtls() {
    let pki = pki();
    let certs = tempfile::TempDir::new().expect("tempdir");
    let repo = model_repo(1);
    let mut s = settings(repo.path());
    s.tls = Some(TlsSettings {
        cert: write(certs.path(), "server.pem", &pki.server.0),
        key: write(certs.path(), "server.key", &pki.server.1),
        client_ca: Some(write(certs.path(), "ca.pem", &pki.ca)),
    });
    let app = spawn_with(s, Some(repo)).await;

    assert_eq!(
        http_score_over_tls(app.http_addr, &pki.ca, Some(&pki.client)).await,
        Ok(200),
        "a client with a certificate from the trusted CA gets through over HTTPS"
    );
    let anonymous = http_score_over_tls(app.http_addr, &pki.ca, None).await;
    assert!(
        anonymous.is_err(),
        "no client certificate: refused ({anonymous:?})"
    );
    let stranger = http_score_over_tls(app.http_addr, &pki.ca, Some(&pki.stranger)).await;
    assert!(
        stranger.is_err(),
        "another CA's certificate: refused ({stranger:?})"
    );
    let plaintext = reqwest::get(format!("http://{}/v2/health/ready", app.http_addr)).await;
    assert!(
        plaintext.map(|r| r.status().as_u16()).ok() != Some(200),
        "plaintext HTTP gets no answer"
    );
}
