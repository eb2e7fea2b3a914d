//! [`HttpCircuitBreakerLayer`] and the [`HttpCircuitBreakerService`] it makes.

use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::classify::HttpClassifier;
use super::future::HttpResponseFuture;
use crate::CircuitBreaker;
use crate::classify::Classify;
use crate::layer::service::guard;

/// The HTTP variant of [`CircuitBreakerLayer`](crate::CircuitBreakerLayer): a rejected
/// request is answered `503 Service Unavailable` with `Retry-After`, so the error type stays
/// the inner service's. The default classifier is [`HttpClassifier::new`] (transport errors,
/// 5xx, 429 and 408 are failures; other 4xx are ignored).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use http::{Request, Response, StatusCode};
/// use tower::{ServiceExt, service_fn};
/// use inframind_breaker::{BreakerConfig, CircuitBreaker, HttpCircuitBreakerLayer};
///
/// let breaker = CircuitBreaker::new("upstream", BreakerConfig::default());
/// let layer = HttpCircuitBreakerLayer::new(breaker.clone());
/// let svc = layer.layer_service(service_fn(|_: Request<()>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(String::from("hi")))
/// }));
/// breaker.force_open();
/// let res = svc.oneshot(Request::new(())).await.unwrap();
/// assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct HttpCircuitBreakerLayer<C = HttpClassifier> {
    breaker: CircuitBreaker,
    classifier: C,
}

impl HttpCircuitBreakerLayer {
    /// A layer guarding its services with `breaker`.
    #[must_use]
    pub fn new(breaker: CircuitBreaker) -> Self {
        Self {
            breaker,
            classifier: HttpClassifier::new(),
        }
    }
}

impl<C> HttpCircuitBreakerLayer<C> {
    /// Use `classifier` to decide which results are failures.
    #[must_use]
    pub fn classifier<C2>(self, classifier: C2) -> HttpCircuitBreakerLayer<C2> {
        HttpCircuitBreakerLayer {
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
    pub fn layer_service<S>(&self, service: S) -> HttpCircuitBreakerService<S, C>
    where
        C: Clone,
    {
        HttpCircuitBreakerService::new(service, self.breaker.clone(), self.classifier.clone())
    }
}

impl<S, C: Clone> Layer<S> for HttpCircuitBreakerLayer<C> {
    type Service = HttpCircuitBreakerService<S, C>;

    fn layer(&self, service: S) -> Self::Service {
        self.layer_service(service)
    }
}

/// The HTTP variant of [`CircuitBreakerService`](crate::layer::CircuitBreakerService):
/// rejected requests are answered 503 with `Retry-After`. Made by [`HttpCircuitBreakerLayer`].
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

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    /// Calls the inner service unless the circuit rejects the request now; the permit is
    /// taken when the returned future is first polled.
    #[inline]
    fn call(&mut self, req: http::Request<ReqB>) -> Self::Future {
        HttpResponseFuture::new(guard(&mut self.inner, req, &self.breaker, &self.classifier))
    }
}
