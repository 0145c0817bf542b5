//! Reading an HTTP request body within the server's limits: at most
//! `--max-message-bytes`, received within `--http-read-timeout`. Shared by the
//! `/v1` JSON API ([`crate::serve::http`]) and the KServe V2 REST binding
//! ([`crate::serve::oip_rest`]); a body over either limit is a 400 naming
//! `body`.

use axum::body::Bytes;

use crate::serve::status::ServiceError;

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
        Err(_) => Err(bad_body(format!(
            "body: not received within {:?} (--http-read-timeout)",
            limits.read_timeout
        ))),
    }
}

/// A body that cannot be used, as a field error on `body`.
pub fn bad_body(message: String) -> ServiceError {
    ServiceError::InvalidField {
        field: "body".to_string(),
        message,
    }
}
