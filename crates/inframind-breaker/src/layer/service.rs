//! [`CircuitBreakerLayer`] and the [`CircuitBreakerService`] it makes.

use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::future::{Guarded, ResponseFuture};
use crate::CircuitBreaker;
use crate::classify::{Classify, DefaultClassifier};
use crate::error::BreakerError;
use crate::permit::Holder;

/// Wraps a service in a circuit breaker. See the [module docs](crate::layer).
///
/// The classifier `C` sees each `Result<Response, Error>` of the inner service; the default
/// counts `Err` as a failure.
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer<C = DefaultClassifier> {
    breaker: CircuitBreaker,
    classifier: C,
}

impl CircuitBreakerLayer {
    /// A layer guarding its services with `breaker` (shared by every service it makes).
    #[must_use]
    pub fn new(breaker: CircuitBreaker) -> Self {
        Self {
            breaker,
            classifier: DefaultClassifier,
        }
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// Use `classifier` to decide which results are failures.
    #[must_use]
    pub fn classifier<C2>(self, classifier: C2) -> CircuitBreakerLayer<C2> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classifier,
        }
    }

    /// The breaker.
    #[must_use]
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// Wraps `service` (the same as [`Layer::layer`], without importing the trait).
    pub fn layer_service<S>(&self, service: S) -> CircuitBreakerService<S, C>
    where
        C: Clone,
    {
        CircuitBreakerService::new(service, self.breaker.clone(), self.classifier.clone())
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreakerService<S, C>;

    fn layer(&self, service: S) -> Self::Service {
        self.layer_service(service)
    }
}

/// A service guarded by a circuit breaker; made by [`CircuitBreakerLayer`].
#[derive(Debug, Clone)]
pub struct CircuitBreakerService<S, C> {
    inner: S,
    breaker: CircuitBreaker,
    classifier: C,
}

impl<S, C> CircuitBreakerService<S, C> {
    /// Wraps `inner` with `breaker`, classifying outcomes with `classifier`.
    pub fn new(inner: S, breaker: CircuitBreaker, classifier: C) -> Self {
        Self {
            inner,
            breaker,
            classifier,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }
}

impl<S, C, Req> Service<Req> for CircuitBreakerService<S, C>
where
    S: Service<Req>,
    C: Classify<Result<S::Response, S::Error>> + Clone,
{
    type Response = S::Response;
    type Error = BreakerError<S::Error>;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(BreakerError::Inner)
    }

    /// Calls the inner service unless the circuit rejects the request now; the permit is
    /// taken when the returned future is first polled.
    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        ResponseFuture::new(guard(&mut self.inner, req, &self.breaker, &self.classifier))
    }
}

/// Calls `inner` with `req` unless the circuit rejects it now.
#[inline]
pub(crate) fn guard<S, Req, C: Clone>(
    inner: &mut S,
    req: Req,
    breaker: &CircuitBreaker,
    classifier: &C,
) -> Guarded<S::Future, C>
where
    S: Service<Req>,
{
    match breaker.inner().peek() {
        Ok(()) => Guarded::called(inner.call(req), breaker.clone(), classifier.clone()),
        Err(rejected) => Guarded::rejected(rejected),
    }
}
