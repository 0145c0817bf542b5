//! Server reflection (v1 and v1alpha) lists and describes the service.

use tokio_stream::StreamExt;
use tonic_reflection::pb::v1;
use tonic_reflection::pb::v1alpha;

use crate::helpers::spawn_app;

#[tokio::test]
async fn v1_lists_and_describes_the_services() {
    let app = spawn_app().await;
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let requests = vec![
        v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            )),
        },
        v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                v1::server_reflection_request::MessageRequest::FileContainingSymbol(
                    "leadscore.v1.LeadScoring".into(),
                ),
            ),
        },
    ];
    let mut responses = client
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .expect("reflection")
        .into_inner();

    let first = responses.next().await.expect("a response").expect("ok");
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        first.message_response
    else {
        panic!("expected a service list, got {first:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in ["leadscore.v1.LeadScoring", "grpc.health.v1.Health"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }

    let second = responses.next().await.expect("a response").expect("ok");
    let Some(v1::server_reflection_response::MessageResponse::FileDescriptorResponse(files)) =
        second.message_response
    else {
        panic!("expected a file descriptor, got {second:?}");
    };
    assert!(!files.file_descriptor_proto.is_empty());
}

#[tokio::test]
async fn v1alpha_lists_the_service() {
    let app = spawn_app().await;
    let mut client =
        v1alpha::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection")
        .into_inner();
    let first = responses.next().await.expect("a response").expect("ok");
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        first.message_response
    else {
        panic!("expected a service list, got {first:?}");
    };
    assert!(list
        .service
        .iter()
        .any(|s| s.name == "leadscore.v1.LeadScoring"));
}
