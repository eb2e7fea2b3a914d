//! A lock-free circuit breaker: a call wrapper, a tower layer, and a registry of named breakers.
//!
//! A [`CircuitBreaker`] stops calling a dependency that keeps failing, fails fast with a typed
//! [`Rejected`] error while it is open, and tests recovery with a limited number of probes.
//! Here are the Infra Mind API's two LLM providers, `openai` (opens after 5 consecutive
//! failures for 60 s) and `anthropic` (3 failures, 30 s), wrapping an HTTP call. A tower
//! `service_fn` stands in for the HTTP client, with OpenAI answering 500:
//!
//! ```
//! use std::time::Duration;
//! use http::{Request, Response};
//! use tower::{ServiceExt, service_fn};
//! use inframind_breaker::{BreakerConfig, BreakerRegistry, CircuitState, Outcome};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = BreakerRegistry::new();
//! let openai = registry.create_breaker(
//!     "openai",
//!     BreakerConfig::builder()
//!         .failure_threshold(5)
//!         .recovery_timeout(Duration::from_secs(60))
//!         .build()?,
//! );
//! let anthropic = registry.create_breaker(
//!     "anthropic",
//!     BreakerConfig::builder()
//!         .failure_threshold(3)
//!         .recovery_timeout(Duration::from_secs(30))
//!         .build()?,
//! );
//!
//! // The "HTTP client": api.openai.com is down, everything else answers 200.
//! let client = service_fn(|req: Request<String>| async move {
//!     let status = if req.uri().host() == Some("api.openai.com") { 500 } else { 200 };
//!     Ok::<_, http::Error>(Response::builder().status(status).body(String::from("{}"))?)
//! });
//! // Transport errors (timeouts included) and 5xx are failures; 4xx say nothing about the
//! // provider and are ignored. (With the `http` feature, `inframind_breaker::HttpClassifier`
//! // does this and more.)
//! let classify = |r: &Result<Response<String>, http::Error>| match r {
//!     Ok(res) if res.status().is_client_error() => Outcome::Ignore,
//!     Ok(res) => Outcome::failure_if(res.status().is_server_error()),
//!     Err(_) => Outcome::Failure,
//! };
//! let post = |url: &str| Request::post(url).body(String::from(r#"{"model":"..."}"#));
//!
//! // Five 500s in a row open the OpenAI breaker.
//! for _ in 0..5 {
//!     let req = post("https://api.openai.com/v1/chat/completions")?;
//!     let res = openai.call_with(classify, client.clone().oneshot(req)).await?;
//!     assert_eq!(res?.status(), 500);
//! }
//! assert_eq!(openai.state(), CircuitState::Open);
//!
//! // Now OpenAI calls fail fast, without a request, telling how long the circuit stays
//! // open; the caller falls back to Anthropic.
//! let req = post("https://api.openai.com/v1/chat/completions")?;
//! let rejected = openai
//!     .call_with(classify, client.clone().oneshot(req))
//!     .await
//!     .unwrap_err();
//! assert!(rejected.remaining_open().unwrap() <= Duration::from_secs(60));
//! let req = post("https://api.anthropic.com/v1/messages")?;
//! let res = anthropic.call_with(classify, client.clone().oneshot(req)).await?;
//! assert_eq!(res?.status(), 200);
//!
//! // The registry's snapshot feeds admin endpoints and metrics.
//! for s in registry.snapshot() {
//!     println!("{}: {} ({} failed, {} rejected)", s.name, s.state, s.failed_calls, s.rejected_calls);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # What it does
//!
//! - **States**: [`CircuitState::Closed`], `Open`, `HalfOpen`, plus the operator overrides
//!   `ForcedOpen`, `ForcedClosed` and `Disabled` (metrics only).
//! - **Trip conditions**, combinable ([`BreakerConfig::builder`]): consecutive failures
//!   (`failure_threshold`), failure rate and slow-call rate over a [`SlidingWindow`]: exactly
//!   the last `n` calls, or the last 16 slices of a duration. Rates are evaluated on every
//!   recorded call once the window holds the minimum number of calls, which applies before
//!   the window is full. [`Outcome::Ignore`] counts nowhere: it neither ends a run of
//!   failures nor dilutes a rate.
//! - **Open duration** (`recovery_timeout`), optionally growing over consecutive trips
//!   ([`Backoff`]) and jittered. **Half-open** admits a limited number of probes and closes on
//!   their success rate; it reopens as soon as that rate cannot be reached.
//! - **Admission** happens when a call's future is first polled, not when it is made, so a
//!   future built while closed does not run if the circuit opened meanwhile.
//! - **Generations**: every transition bumps a generation in the state word; outcomes of calls
//!   admitted under an earlier state are ignored. A dropped or cancelled call gives its probe
//!   permit back ([`Permit`] is an RAII guard), and probes that never finish are written off
//!   after the probe timeout.
//! - **Classifiers** ([`Classify`]): closures, [`DefaultClassifier`] for `Result`, and
//!   `HttpClassifier` for HTTP responses (feature `http`).
//! - **APIs**: [`CircuitBreaker::call`] / [`call_with`](CircuitBreaker::call_with),
//!   [`try_acquire`](CircuitBreaker::try_acquire) permits, `CircuitBreakerLayer` for tower
//!   (feature `tower`) and `HttpCircuitBreakerLayer` answering 503 with `Retry-After` (feature
//!   `http`), the [`BreakerRegistry`], and state-transition callbacks
//!   ([`BreakerConfigBuilder::on_transition`], [`BreakerRegistry::subscribe`]).
//!
//! # Cost
//!
//! While closed, a call reads the state word and adds to a per-thread, cache-padded counter
//! stripe: no lock, no allocation, no boxed future. Two threads sharing one breaker write to a
//! common cache line only on failures (or, with a count window, for the shared call counter;
//! its ring and tally are written only when an outcome differs from the one it replaces).
//! Time-window buckets are claimed by compare-and-swap. The clock is read only for time
//! windows, slow-call detection, and calls that meet an open circuit. Figures against `failsafe`, `recloser` and tower-resilience are
//! in the workspace's `docs/benchmarks.md`.
//!
//! # Features
//!
//! - `tower`: `CircuitBreakerLayer` with its service and named response future.
//! - `http` (implies `tower`): `HttpClassifier`, `rejected_response`, `HttpCircuitBreakerLayer`.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod breaker;
mod call;
mod classify;
mod clock;
mod config;
mod core;
mod error;
mod events;
mod permit;
mod registry;
mod snapshot;
mod state;
mod stripes;
mod sync;
mod window;

#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod layer;

pub use crate::breaker::CircuitBreaker;
pub use crate::call::{Call, CallWith};
pub use crate::classify::{Classify, DefaultClassifier, Outcome};
pub use crate::clock::{Clock, ManualClock};
pub use crate::config::{Backoff, BreakerConfig, BreakerConfigBuilder, ConfigError, SlidingWindow};
pub use crate::error::{BreakerError, Rejected};
pub use crate::events::{StateTransition, TransitionReason};
pub use crate::permit::{OwnedPermit, Permit};
pub use crate::registry::BreakerRegistry;
pub use crate::snapshot::BreakerSnapshot;
pub use crate::state::CircuitState;

#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub use crate::layer::CircuitBreakerLayer;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use crate::layer::HttpCircuitBreakerLayer;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use crate::layer::http::{HttpClassifier, rejected_response};

#[cfg(feature = "tower")]
impl CircuitBreaker {
    /// A [`CircuitBreakerLayer`] guarding services with this breaker.
    #[must_use]
    pub fn layer(&self) -> CircuitBreakerLayer {
        CircuitBreakerLayer::new(self.clone())
    }
}
