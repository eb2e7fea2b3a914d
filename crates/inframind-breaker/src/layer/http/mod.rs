//! The HTTP adapter (feature `http`): [`HttpClassifier`], [`rejected_response`] and
//! [`HttpCircuitBreakerLayer`], which answers `503 Service Unavailable` with `Retry-After`
//! while the circuit rejects, so the inner service's error type is kept.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceExt, service_fn};
//! use inframind_breaker::{BreakerConfig, CircuitBreaker, HttpCircuitBreakerLayer};
//!
//! let breaker = CircuitBreaker::new(
//!     "provider",
//!     BreakerConfig::builder().failure_threshold(2).build().unwrap(),
//! );
//! let provider = HttpCircuitBreakerLayer::new(breaker.clone()).layer_service(service_fn(
//!     |req: Request<()>| async move {
//!         let status = if req.uri().path() == "/missing" { 404 } else { 500 };
//!         Ok::<_, std::convert::Infallible>(
//!             Response::builder().status(status).body(String::new()).unwrap(),
//!         )
//!     },
//! ));
//! let get = |path: &str| Request::get(path).body(()).unwrap();
//!
//! // A 500, then the client's own 404 (ignored: it does not end the run), then a 500.
//! for path in ["/chat", "/missing", "/chat"] {
//!     provider.clone().oneshot(get(path)).await.unwrap();
//! }
//! // Two failures in a row: the circuit is open and the next request is answered 503.
//! let res = provider.clone().oneshot(get("/chat")).await.unwrap();
//! assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
//! assert_eq!(res.headers()["retry-after"], "60");
//! assert_eq!(breaker.snapshot().ignored_calls, 1);
//! # }
//! ```

mod classify;
mod future;
mod service;

pub use self::classify::{HttpClassifier, rejected_response};
pub use self::future::HttpResponseFuture;
pub use self::service::{HttpCircuitBreakerLayer, HttpCircuitBreakerService};
