//! Limits as small tower layers around the gRPC routes (linkerd style):
//!
//! - [`ConcurrencyLimitLayer`]: a global cap on requests being handled;
//!   beyond it a request is answered RESOURCE_EXHAUSTED at once (load
//!   shedding) instead of queueing without bound. Health checks (gRPC and
//!   the HTTP `/v2/health/*` probes) and reflection are never shed, so
//!   probes keep working under load. The HTTP listener takes its slots
//!   through [`ConcurrencyLimitLayer::admit`] (after reading the body).
//! - [`DeadlineLayer`]: every request gets a deadline — the client's
//!   `grpc-timeout` capped at a maximum, or a default when it sends none —
//!   put in the request extensions as [`Deadline`] for handlers to check
//!   during long batches, and enforced with DEADLINE_EXCEEDED.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;
use tower::{Layer, Service};

pub use crate::scoring::batch::Deadline;
use crate::serve::metrics as m;
use crate::serve::status::ServiceError;

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// Paths never shed: health probes (gRPC and HTTP) and reflection.
fn is_exempt(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
        || path.starts_with("/grpc.reflection.v1.ServerReflection/")
        || path.starts_with("/grpc.reflection.v1alpha.ServerReflection/")
        || path == "/inference.GRPCInferenceService/ServerLive"
        || path == "/inference.GRPCInferenceService/ServerReady"
        || path == "/v2/health/live"
        || path == "/v2/health/ready"
}

/// The `rpc` label of a request: the [`m::RpcName`] the HTTP router gives
/// each route, else the method of a gRPC path (`/pkg.Service/Method`).
fn rpc_of(path: &str, extensions: &http::Extensions) -> String {
    match extensions.get::<m::RpcName>() {
        Some(name) => name.0.to_string(),
        None => path.rsplit('/').next().unwrap_or_default().to_string(),
    }
}

/// Global concurrency limit with load shedding.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimitLayer {
    semaphore: Arc<Semaphore>,
    limit: usize,
}

impl ConcurrencyLimitLayer {
    /// At most `limit` requests handled at once across all connections.
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Self {
            semaphore: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    /// A slot for a request to `path`: `Ok(None)` when the path is exempt
    /// (health, reflection), `Ok(Some(permit))` holding a slot until the
    /// permit is dropped, or RESOURCE_EXHAUSTED when every slot is taken
    /// (counted in the shed and request metrics under `rpc` and `protocol`).
    ///
    /// # Errors
    /// The RESOURCE_EXHAUSTED status to answer with, when the request is shed.
    pub fn admit(
        &self,
        path: &str,
        extensions: &http::Extensions,
    ) -> Result<Option<OwnedSemaphorePermit>, Status> {
        if is_exempt(path) {
            return Ok(None);
        }
        match self.semaphore.clone().try_acquire_owned() {
            Ok(permit) => Ok(Some(permit)),
            Err(_) => {
                let rpc = rpc_of(path, extensions);
                let protocol = m::Protocol::of(extensions).label();
                metrics::counter!(m::REQUESTS_SHED_TOTAL, "rpc" => rpc.clone()).increment(1);
                metrics::counter!(m::REQUESTS_TOTAL, "protocol" => protocol, "rpc" => rpc, "model" => "", "version" => "", "code" => crate::serve::status::code_label(tonic::Code::ResourceExhausted)).increment(1);
                Err(Status::from(ServiceError::Overloaded { limit: self.limit }))
            }
        }
    }
}

impl<S> Layer<S> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConcurrencyLimit {
            inner,
            limit: self.clone(),
        }
    }
}

/// Service made by [`ConcurrencyLimitLayer`].
#[derive(Debug, Clone)]
pub struct ConcurrencyLimit<S> {
    inner: S,
    limit: ConcurrencyLimitLayer,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for ConcurrencyLimit<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        // The clone is not ready; swap so the ready instance handles this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        match self.limit.admit(request.uri().path(), request.extensions()) {
            Ok(permit) => {
                let future = inner.call(request);
                Box::pin(async move {
                    let response = future.await;
                    drop(permit);
                    response
                })
            }
            Err(status) => Box::pin(std::future::ready(Ok(status.into_http()))),
        }
    }
}

/// Default and maximum deadlines.
#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    default: Duration,
    max: Duration,
}

impl DeadlineLayer {
    /// Requests without `grpc-timeout` get `default`; none gets more than `max`.
    pub fn new(default: Duration, max: Duration) -> Self {
        Self {
            default: default.min(max),
            max,
        }
    }

    /// The time a request gets, given its `grpc-timeout` header.
    ///
    /// tonic's transport also times a request out at the client's
    /// `grpc-timeout`, answering CANCELLED; finishing a little earlier (5% of
    /// the budget, 1 to 20 ms) lets the answer be DEADLINE_EXCEEDED, which is
    /// what gRPC clients expect, and leaves it time to reach the client.
    pub fn budget(&self, header: Option<&http::HeaderValue>) -> Duration {
        match header
            .and_then(|h| h.to_str().ok())
            .and_then(parse_grpc_timeout)
        {
            Some(client) => {
                let margin =
                    (client / 20).clamp(Duration::from_millis(1), Duration::from_millis(20));
                let client = if client > margin * 2 {
                    client - margin
                } else {
                    client
                };
                client.min(self.max)
            }
            None => self.default,
        }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService {
            inner,
            config: *self,
        }
    }
}

/// Service made by [`DeadlineLayer`].
#[derive(Debug, Clone)]
pub struct DeadlineService<S> {
    inner: S,
    config: DeadlineLayer,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for DeadlineService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let budget = self.config.budget(request.headers().get("grpc-timeout"));
        request
            .extensions_mut()
            .insert(Deadline(Instant::now() + budget));
        let rpc = rpc_of(request.uri().path(), request.extensions());
        let protocol = m::Protocol::of(request.extensions()).label();
        let future = inner.call(request);
        Box::pin(async move {
            match tokio::time::timeout(budget, future).await {
                Ok(response) => response,
                Err(_) => {
                    metrics::counter!(m::DEADLINE_EXCEEDED_TOTAL, "rpc" => rpc.clone())
                        .increment(1);
                    metrics::counter!(m::REQUESTS_TOTAL, "protocol" => protocol, "rpc" => rpc, "model" => "", "version" => "", "code" => crate::serve::status::code_label(tonic::Code::DeadlineExceeded)).increment(1);
                    Ok(Status::from(ServiceError::BudgetExhausted {
                        budget_ms: budget.as_millis(),
                    })
                    .into_http())
                }
            }
        })
    }
}

/// Parses a `grpc-timeout` value: up to 8 digits and a unit (H, M, S, m, u, n).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_values() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("5u"), Some(Duration::from_micros(5)));
        assert_eq!(parse_grpc_timeout("123456789S"), None);
        assert_eq!(parse_grpc_timeout("10x"), None);
        assert_eq!(parse_grpc_timeout("S"), None);
    }

    #[test]
    fn budgets_are_capped_and_defaulted() {
        let layer = DeadlineLayer::new(Duration::from_secs(30), Duration::from_secs(60));
        assert_eq!(layer.budget(None), Duration::from_secs(30));
        let h = |s: &'static str| http::HeaderValue::from_static(s);
        assert_eq!(layer.budget(Some(&h("5M"))), Duration::from_secs(60));
        assert_eq!(layer.budget(Some(&h("100m"))), Duration::from_millis(95));
        assert_eq!(layer.budget(Some(&h("10S"))), Duration::from_millis(9980));
        assert_eq!(layer.budget(Some(&h("bogus"))), Duration::from_secs(30));
    }
}
