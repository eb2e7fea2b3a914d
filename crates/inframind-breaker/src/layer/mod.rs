//! The tower middleware: [`CircuitBreakerLayer`] and, with the `http` feature,
//! `HttpCircuitBreakerLayer`.
//!
//! The breaker is asked twice per request. When the service is called, a request the circuit
//! rejects never reaches the inner service: its named future resolves with
//! [`BreakerError::Rejected`] (or, for the HTTP variant, with a `503 Service Unavailable`
//! carrying `Retry-After`). A request it lets through takes its permit at the future's first
//! poll, so a future made before the circuit opened is rejected then, its inner future
//! dropped unpolled. An admitted request's outcome is classified when its future completes;
//! a dropped future gives a half-open probe permit back.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//! use inframind_breaker::{BreakerConfig, BreakerError, CircuitBreaker, CircuitBreakerLayer};
//!
//! let breaker = CircuitBreaker::new("search", BreakerConfig::default());
//! let mut svc = ServiceBuilder::new()
//!     .layer(CircuitBreakerLayer::new(breaker.clone()))
//!     .service(service_fn(|q: &'static str| async move {
//!         Ok::<_, std::io::Error>(q.len())
//!     }));
//! assert_eq!(svc.ready().await.unwrap().call("rust").await.unwrap(), 4);
//!
//! // A future made while closed, polled after the circuit opened, is rejected.
//! let early = svc.ready().await.unwrap().call("tower");
//! breaker.force_open();
//! assert!(matches!(early.await, Err(BreakerError::Rejected(_))));
//! assert!(matches!(svc.oneshot("axum").await, Err(BreakerError::Rejected(_))));
//! # }
//! ```
//!
//! [`BreakerError::Rejected`]: crate::BreakerError::Rejected

mod future;
#[cfg(feature = "http")]
pub(crate) mod http;
mod service;

pub use self::future::ResponseFuture;
pub use self::service::{CircuitBreakerLayer, CircuitBreakerService};

#[cfg(feature = "http")]
pub use self::http::{HttpCircuitBreakerLayer, HttpCircuitBreakerService, HttpResponseFuture};
