//! Request-path errors, and the one place where gRPC status codes are chosen.
//!
//! Invalid input is `INVALID_ARGUMENT` with a message naming the lead and the
//! field, plus a `google.rpc.BadRequest` detail whose field violation uses the
//! request path (e.g. `leads[2].features["total_visits"]`). Unknown models or
//! versions are `NOT_FOUND`; no model loaded at all is `UNAVAILABLE`, which
//! clients and meshes treat as retryable.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::scoring::batch::BatchError;
use crate::serve::registry::LookupError;

/// gRPC code as a metric label: "OK", "InvalidArgument", ... (as grpc-go names them).
pub fn code_label(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Cancelled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// Why a request could not be served.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ServiceError {
    /// Model or version lookup failed.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// The request holds no leads.
    #[error("leads: at least one lead is required")]
    EmptyLeads,
    /// The request holds more leads than allowed.
    #[error("leads: {got} leads exceed the limit of {max} per request")]
    TooManyLeads {
        /// Leads sent.
        got: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The request's deadline passed while it was being handled.
    #[error("deadline exceeded after {scored} of {total} leads")]
    DeadlineExceeded {
        /// Leads done when time ran out.
        scored: usize,
        /// Leads in the request.
        total: usize,
    },
    /// A field of a request is malformed (outside the leads list, e.g. an
    /// Open Inference Protocol tensor); `field` is its request path.
    #[error("{message}")]
    InvalidField {
        /// Request path of the field, e.g. `inputs[0].shape`.
        field: String,
        /// What is wrong, naming the field.
        message: String,
    },
    /// The server is at its concurrency limit and sheds the request.
    #[error("server busy: {limit} requests in flight (the limit); retry with backoff")]
    Overloaded {
        /// The configured limit of requests in flight.
        limit: usize,
    },
    /// The request's whole time budget ran out before it was answered.
    #[error("deadline of {budget_ms} ms exceeded")]
    BudgetExhausted {
        /// The budget the request had, in milliseconds.
        budget_ms: u128,
    },
    /// An NDJSON stream ran out of time after answering `lines` lines.
    #[error("deadline exceeded after {lines} lines; send a longer grpc-timeout (at most --max-request-timeout) or split the body")]
    StreamDeadline {
        /// Lines answered before the deadline.
        lines: usize,
    },
    /// The client stopped reading the answers of a stream.
    #[error("the client stopped reading the answers")]
    ClientGone,
    /// No HTTP route has this path.
    #[error("no route {method} {path}; see docs/http.md")]
    NoRoute {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
    },
    /// The HTTP route exists, but not for this method (answered 405).
    #[error("method {method} is not allowed on {path}; the Allow header lists those that are (docs/http.md)")]
    MethodNotAllowed {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
    },
    /// The handler's worker failed (a bug; never caused by input).
    #[error("internal error: {0}")]
    Internal(String),
    /// One lead is malformed.
    #[error("leads[{index}] (lead_id \"{lead_id}\"): {field}: {message}")]
    InvalidLead {
        /// Position of the lead in the request.
        index: usize,
        /// The lead's id as sent.
        lead_id: String,
        /// Field inside the lead, e.g. `features["visits"]`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl ServiceError {
    /// Request path of the offending field, for `BadRequest.FieldViolation`.
    fn field_path(&self) -> Option<String> {
        match self {
            ServiceError::EmptyLeads | ServiceError::TooManyLeads { .. } => {
                Some("leads".to_string())
            }
            ServiceError::InvalidLead { index, field, .. } => {
                Some(format!("leads[{index}].{field}"))
            }
            ServiceError::InvalidField { field, .. } => Some(field.clone()),
            ServiceError::Lookup(_)
            | ServiceError::DeadlineExceeded { .. }
            | ServiceError::BudgetExhausted { .. }
            | ServiceError::StreamDeadline { .. }
            | ServiceError::ClientGone
            | ServiceError::NoRoute { .. }
            | ServiceError::MethodNotAllowed { .. }
            | ServiceError::Overloaded { .. }
            | ServiceError::Internal(_) => None,
        }
    }
}

impl From<BatchError<ServiceError>> for ServiceError {
    fn from(err: BatchError<ServiceError>) -> Self {
        match err {
            BatchError::DeadlineExceeded { done, total } => ServiceError::DeadlineExceeded {
                scored: done,
                total,
            },
            BatchError::Row { error, .. } => error,
        }
    }
}

impl From<ServiceError> for Status {
    fn from(err: ServiceError) -> Self {
        let message = err.to_string();
        match &err {
            ServiceError::Lookup(LookupError::NoModelLoaded) => Status::unavailable(message),
            ServiceError::Lookup(_) | ServiceError::NoRoute { .. } => Status::not_found(message),
            ServiceError::DeadlineExceeded { .. }
            | ServiceError::BudgetExhausted { .. }
            | ServiceError::StreamDeadline { .. } => Status::deadline_exceeded(message),
            ServiceError::ClientGone => Status::cancelled(message),
            ServiceError::MethodNotAllowed { .. } => Status::unimplemented(message),
            ServiceError::Overloaded { .. } => Status::resource_exhausted(message),
            ServiceError::Internal(_) => Status::internal(message),
            ServiceError::EmptyLeads
            | ServiceError::TooManyLeads { .. }
            | ServiceError::InvalidLead { .. }
            | ServiceError::InvalidField { .. } => {
                let field = err.field_path().unwrap_or_default();
                Status::with_error_details(
                    Code::InvalidArgument,
                    message.clone(),
                    ErrorDetails::with_bad_request_violation(field, message),
                )
            }
        }
    }
}

/// HTTP status for a gRPC code, as the HTTP/JSON API answers it (the one
/// mapping; docs/http.md has the table).
pub fn http_status(code: Code) -> http::StatusCode {
    use http::StatusCode as H;
    match code {
        Code::Ok => H::OK,
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => H::BAD_REQUEST,
        Code::NotFound => H::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => H::CONFLICT,
        Code::PermissionDenied => H::FORBIDDEN,
        Code::Unauthenticated => H::UNAUTHORIZED,
        Code::ResourceExhausted => H::TOO_MANY_REQUESTS,
        Code::DeadlineExceeded => H::GATEWAY_TIMEOUT,
        Code::Unavailable => H::SERVICE_UNAVAILABLE,
        Code::Unimplemented => H::NOT_IMPLEMENTED,
        Code::Cancelled => H::from_u16(499).unwrap_or(H::BAD_REQUEST),
        Code::Unknown | Code::Internal | Code::DataLoss => H::INTERNAL_SERVER_ERROR,
    }
}

/// gRPC code as the HTTP/JSON error body names it: "INVALID_ARGUMENT", ...
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// An HTTP error answer for a `Status`: the mapped HTTP status and the JSON
/// body `{"code", "message", "details": [{"field", "description"}], "error"}`
/// with the `google.rpc.BadRequest` field violations (`error` repeats the
/// message, as the KServe V2 REST protocol names it); `Retry-After: 1` when shed.
pub fn http_error(status: &Status) -> http::Response<String> {
    let details: Vec<serde_json::Value> = status
        .get_error_details()
        .bad_request()
        .map(|b| {
            b.field_violations
                .iter()
                .map(|v| serde_json::json!({"field": v.field, "description": v.description}))
                .collect()
        })
        .unwrap_or_default();
    let body = serde_json::json!({
        "code": code_name(status.code()),
        "message": status.message(),
        "details": details,
        "error": status.message(),
    });
    let mut response = http::Response::new(body.to_string());
    *response.status_mut() = http_status(status.code());
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    if status.code() == Code::ResourceExhausted {
        headers.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("1"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_field_details() {
        let status = Status::from(ServiceError::InvalidLead {
            index: 2,
            lead_id: "L-9".into(),
            field: "features[\"visits\"]".into(),
            message: "must be a finite number, got NaN".into(),
        });
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("leads[2]"));
        let details = status.get_error_details();
        let violation = &details
            .bad_request()
            .expect("bad request detail")
            .field_violations[0];
        assert_eq!(violation.field, "leads[2].features[\"visits\"]");

        let status = Status::from(ServiceError::Lookup(LookupError::ModelNotFound {
            model: "x".into(),
        }));
        assert_eq!(status.code(), Code::NotFound);
        let status = Status::from(ServiceError::Lookup(LookupError::NoModelLoaded));
        assert_eq!(status.code(), Code::Unavailable);
    }

    #[test]
    fn http_mapping_follows_the_issue_table() {
        use http::StatusCode as H;
        for (code, http) in [
            (Code::InvalidArgument, H::BAD_REQUEST),
            (Code::NotFound, H::NOT_FOUND),
            (Code::ResourceExhausted, H::TOO_MANY_REQUESTS),
            (Code::DeadlineExceeded, H::GATEWAY_TIMEOUT),
            (Code::Unavailable, H::SERVICE_UNAVAILABLE),
            (Code::Internal, H::INTERNAL_SERVER_ERROR),
        ] {
            assert_eq!(http_status(code), http, "{code:?}");
        }
        let response = http_error(&Status::from(ServiceError::EmptyLeads));
        assert_eq!(response.status(), H::BAD_REQUEST);
        let body: serde_json::Value = serde_json::from_str(response.body()).unwrap();
        assert_eq!(body["code"], "INVALID_ARGUMENT");
        assert_eq!(body["details"][0]["field"], "leads");
        let shed = http_error(&Status::from(ServiceError::Overloaded { limit: 1 }));
        assert_eq!(shed.headers()[http::header::RETRY_AFTER], "1");
    }

    /// The labels are the codes' names as grpc-go writes them, `OK` for 0.
    #[test]
    fn code_labels_name_every_code() {
        assert_eq!(code_label(tonic::Code::Ok), "OK");
        for number in 1..=16 {
            let code = tonic::Code::from_i32(number);
            assert_eq!(code_label(code), format!("{code:?}"), "code {number}");
        }
    }
}
