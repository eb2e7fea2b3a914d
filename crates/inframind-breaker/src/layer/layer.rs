use tower_layer::Layer;

use super::service::CircuitBreakerService;
use crate::CircuitBreaker;
use crate::classify::DefaultClassifier;

/// Wraps a service in a circuit breaker. See the [module docs](crate::layer).
///
/// The classifier `C` sees each `Result<Response, Error>` of the inner service; the default
/// counts `Err` as a failure.
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer<C = DefaultClassifier> {
    pub(super) breaker: CircuitBreaker,
    pub(super) classifier: C,
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

#[cfg(feature = "http")]
pub use self::http_layer::HttpCircuitBreakerLayer;

#[cfg(feature = "http")]
mod http_layer {
    use tower_layer::Layer;

    use crate::CircuitBreaker;
    use crate::http::HttpClassifier;
    use crate::layer::service::HttpCircuitBreakerService;

    /// The HTTP variant of [`CircuitBreakerLayer`](super::CircuitBreakerLayer): a rejected
    /// request is answered `503 Service Unavailable` with `Retry-After`, so the error type
    /// stays the inner service's. The default classifier is
    /// [`HttpClassifier`] (errors and 5xx are failures, 4xx are not).
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
                classifier: HttpClassifier,
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
}
