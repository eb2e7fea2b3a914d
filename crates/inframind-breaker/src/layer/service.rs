use std::task::{Context, Poll};

use tower_service::Service;

use super::future::ResponseFuture;
use crate::CircuitBreaker;
use crate::classify::Classify;
use crate::error::BreakerError;

/// A service guarded by a circuit breaker; made by [`CircuitBreakerLayer`](super::CircuitBreakerLayer).
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

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(BreakerError::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.breaker.try_acquire_owned() {
            Ok(permit) => {
                ResponseFuture::admitted(self.inner.call(req), permit, self.classifier.clone())
            }
            Err(rejected) => ResponseFuture::rejected(rejected, self.classifier.clone()),
        }
    }
}

#[cfg(feature = "http")]
pub use self::http_service::HttpCircuitBreakerService;

#[cfg(feature = "http")]
mod http_service {
    use std::task::{Context, Poll};

    use tower_service::Service;

    use crate::CircuitBreaker;
    use crate::classify::Classify;
    use crate::layer::future::HttpResponseFuture;

    /// The HTTP variant of [`CircuitBreakerService`](super::CircuitBreakerService): rejected
    /// requests are answered 503 with `Retry-After`. Made by
    /// [`HttpCircuitBreakerLayer`](crate::HttpCircuitBreakerLayer).
    #[derive(Debug, Clone)]
    pub struct HttpCircuitBreakerService<S, C> {
        inner: S,
        breaker: CircuitBreaker,
        classifier: C,
    }

    impl<S, C> HttpCircuitBreakerService<S, C> {
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

    impl<S, C, ReqB, ResB> Service<http::Request<ReqB>> for HttpCircuitBreakerService<S, C>
    where
        S: Service<http::Request<ReqB>, Response = http::Response<ResB>>,
        C: Classify<Result<S::Response, S::Error>> + Clone,
        ResB: Default,
    {
        type Response = http::Response<ResB>;
        type Error = S::Error;
        type Future = HttpResponseFuture<S::Future, C>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.inner.poll_ready(cx)
        }

        fn call(&mut self, req: http::Request<ReqB>) -> Self::Future {
            match self.breaker.try_acquire_owned() {
                Ok(permit) => HttpResponseFuture::admitted(
                    self.inner.call(req),
                    permit,
                    self.classifier.clone(),
                ),
                Err(rejected) => HttpResponseFuture::rejected(rejected, self.classifier.clone()),
            }
        }
    }
}
