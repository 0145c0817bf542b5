//! OpenTelemetry: the real binary, given `--otlp-endpoint`, exports a span
//! per request to an OTLP/gRPC collector, continuing the caller's W3C trace
//! (`traceparent` metadata).

use std::time::Duration;

use leadscore::serve::proto::lead_scoring_client::LeadScoringClient;
use leadscore::serve::proto::ScoreRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::TcpListenerStream;

use crate::helpers::{lead, model_repo, ServerProcess};

/// (trace id, parent span id, span name), hex-encoded.
type ReceivedSpan = (String, String, String);

/// An in-process OTLP trace collector that forwards what it receives.
struct Collector(mpsc::UnboundedSender<ReceivedSpan>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                for span in scope.spans {
                    let _ =
                        self.0
                            .send((hex(&span.trace_id), hex(&span.parent_span_id), span.name));
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_spans_reach_the_collector_with_the_callers_trace() {
    // Arrange: a collector on 127.0.0.1:0 and the binary pointed at it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let collector_addr = listener.local_addr().expect("addr");
    let (tx, mut spans) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(tx)))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let repo = model_repo(1);
    let endpoint = format!("http://{collector_addr}");
    let mut server = ServerProcess::start(repo.path(), &["--otlp-endpoint", &endpoint]);

    // Act: a Score call carrying a W3C traceparent, then a clean shutdown
    // (which flushes the exporter).
    let mut client = LeadScoringClient::connect(format!("http://{}", server.addr))
        .await
        .expect("connect");
    let mut request = tonic::Request::new(ScoreRequest {
        leads: vec![lead("traced", 2.0, true, "1-10")],
        ..Default::default()
    });
    request.metadata_mut().insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .expect("ascii"),
    );
    client.score(request).await.expect("Score");
    drop(client);
    server.signal("TERM");
    assert!(server.wait_exit(20).await.success());

    // Assert
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some((trace, parent, name)) = spans.recv().await {
            if trace == "4bf92f3577b34da6a3ce929d0e0e4736" {
                return Some((parent, name));
            }
        }
        None
    })
    .await
    .expect("a span of the caller's trace within 10 s")
    .expect("collector open");
    assert_eq!(found.0, "00f067aa0ba902b7", "parent is the caller's span");
    assert_eq!(found.1, "/leadscore.v1.LeadScoring/Score");
}
