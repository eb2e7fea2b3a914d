//! The tower middleware: [`CircuitBreakerLayer`] and, with the `http` feature,
//! `HttpCircuitBreakerLayer`.
//!
//! The service asks the breaker for a permit in `call`. A rejected request never reaches the
//! inner service: its named future resolves at once with [`BreakerError::Rejected`] (or, for
//! the HTTP variant, with a `503 Service Unavailable` carrying `Retry-After`). An admitted
//! request's outcome is classified when its future completes; a dropped future gives a
//! half-open probe permit back.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use inframind_breaker::{BreakerConfig, BreakerError, CircuitBreaker, CircuitBreakerLayer};
//!
//! let breaker = CircuitBreaker::new("search", BreakerConfig::default());
//! let svc = ServiceBuilder::new()
//!     .layer(CircuitBreakerLayer::new(breaker.clone()))
//!     .service(service_fn(|q: &'static str| async move {
//!         Ok::<_, std::io::Error>(q.len())
//!     }));
//! assert_eq!(svc.oneshot("rust").await.unwrap(), 4);
//!
//! breaker.force_open();
//! let svc = CircuitBreakerLayer::new(breaker).layer_service(service_fn(|_: ()| async {
//!     Ok::<_, std::io::Error>(())
//! }));
//! assert!(matches!(svc.oneshot(()).await, Err(BreakerError::Rejected(_))));
//! # }
//! ```
//!
//! [`BreakerError::Rejected`]: crate::BreakerError::Rejected

mod future;
#[allow(clippy::module_inception)]
mod layer;
mod service;

pub use self::future::ResponseFuture;
pub use self::layer::CircuitBreakerLayer;
pub use self::service::CircuitBreakerService;

#[cfg(feature = "http")]
pub use self::future::HttpResponseFuture;
#[cfg(feature = "http")]
pub use self::layer::HttpCircuitBreakerLayer;
#[cfg(feature = "http")]
pub use self::service::HttpCircuitBreakerService;
