//! Reading an HTTP request body within the server's limits: at most
//! `--max-message-bytes`, received within `--http-read-timeout`. Shared by the
//! `/v1` JSON API ([`crate::serve::http`]) and the KServe V2 REST binding
//! ([`crate::serve::oip_rest`]); a body over either limit is a 400 naming
//! `body`. The HTTP router reads bodies this way *before* a request takes a
//! concurrency slot, so a slow client never holds one. [`refuse`] answers a
//! request whose body cannot be read or decoded, counted under its route's RPC.

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use tokio_stream::StreamExt;
use tonic::Status;

use crate::serve::grpc::Call;
use crate::serve::metrics::RpcName;
use crate::serve::status::{http_error, ServiceError};

/// How much of a request body the server reads, and how long it waits for it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Largest body, bytes (`--max-message-bytes`, as for gRPC).
    pub max_bytes: usize,
    /// Time allowed to receive it (`--http-read-timeout`).
    pub read_timeout: std::time::Duration,
}

/// Reads a request body within `limits`: at most `max_bytes`, received
/// within `read_timeout` (a slow client gets 400 naming `body`).
pub async fn read_limited(
    body: axum::body::Body,
    limits: BodyLimits,
) -> Result<Bytes, ServiceError> {
    let max = limits.max_bytes;
    match tokio::time::timeout(limits.read_timeout, axum::body::to_bytes(body, max)).await {
        Ok(read) => read.map_err(|e| {
            bad_body(format!(
                "body: cannot be read within the limit of {max} bytes: {e}"
            ))
        }),
        Err(_) => Err(too_slow(limits)),
    }
}

/// For a streamed (NDJSON) body: reads up to its first `\n` (or its end, or
/// `max_bytes` without one) within `read_timeout`, and gives back a body that
/// yields those bytes and then the rest as it arrives. The first unit of work
/// is thus in hand before the request takes a concurrency slot.
///
/// # Errors
/// [`ServiceError::InvalidField`] (field `body`) when the first line does not
/// arrive within `read_timeout` or the body cannot be read.
pub async fn read_first_line(body: Body, limits: BodyLimits) -> Result<Body, ServiceError> {
    let mut stream = body.into_data_stream();
    let mut head = BytesMut::new();
    let read = async {
        while head.len() <= limits.max_bytes {
            match stream.next().await {
                Some(Ok(chunk)) => {
                    head.extend_from_slice(&chunk);
                    if chunk.contains(&b'\n') {
                        break;
                    }
                }
                Some(Err(e)) => return Err(bad_body(format!("body: cannot be read: {e}"))),
                None => break,
            }
        }
        Ok(())
    };
    match tokio::time::timeout(limits.read_timeout, read).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => return Err(err),
        Err(_) => return Err(too_slow(limits)),
    }
    let head = tokio_stream::once(Ok::<_, axum::Error>(head.freeze()));
    Ok(Body::from_stream(head.chain(stream)))
}

/// The body (or the next part of it) did not arrive in time.
pub fn too_slow(limits: BodyLimits) -> ServiceError {
    bad_body(format!(
        "body: not received within {:?} (--http-read-timeout)",
        limits.read_timeout
    ))
}

/// An answer to a request refused before its handler worked on it (a body
/// that cannot be read or decoded), logged and counted as the handler's
/// answers are (under the route's [`RpcName`]); the HTTP router adds the
/// request id.
pub fn refuse(parts: http::request::Parts, err: ServiceError) -> Response {
    let rpc = parts.extensions.get::<RpcName>().map_or("unknown", |r| r.0);
    let request = tonic::Request::from_http(http::Request::from_parts(parts, ()));
    let status = match Call::start(rpc, &request).finish_status::<()>(0, Err(Status::from(err))) {
        Ok(_) => Status::from(ServiceError::Internal("a refusal was answered OK".into())),
        Err(status) => status,
    };
    http_error(&status).into_response()
}

/// A body that cannot be used, as a field error on `body`.
pub fn bad_body(message: String) -> ServiceError {
    ServiceError::InvalidField {
        field: "body".to_string(),
        message,
    }
}
