//! [`MetricsLayer`]: the configuration, and the [`Layer`] impl building [`MetricsService`]s.

use super::config::{CACHE_SLOTS, DurationUntil, Shared};
#[cfg(feature = "axum")]
use super::endpoint::AxumEndpoint;
use super::endpoint::{DefaultEndpoint, EndpointFn, EndpointLabel};
use super::service::{CountRequestBodies, KnownLength, MetricsService};
use crate::Metrics;
use http::{Extensions, Uri};
use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use tower_layer::Layer;

/// A tower layer recording the HTTP families of a [`Metrics`] registry.
///
/// See the [module docs](crate::http) for the labels and the guarantees.
#[derive(Debug)]
pub struct MetricsLayer<E = DefaultEndpoint, R = KnownLength> {
    pub(crate) shared: Arc<Shared<E>>,
    request_bodies: PhantomData<fn() -> R>,
}

impl<E, R> Clone for MetricsLayer<E, R> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            request_bodies: PhantomData,
        }
    }
}

impl MetricsLayer {
    /// A layer recording into `metrics`, labelling requests by their
    /// [`RouteTemplate`](crate::http::RouteTemplate) extension ([`DefaultEndpoint`]); use
    /// [`MetricsLayer::axum`] in an axum application, or
    /// [`endpoint_fn`](MetricsLayer::endpoint_fn).
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            shared: Arc::new(Shared {
                table: Arc::clone(metrics.http_table()),
                cache: Arc::new(std::array::from_fn(|_| OnceLock::new())),
                next_slot: Arc::new(AtomicUsize::new(0)),
                endpoint: DefaultEndpoint,
                excluded: Vec::new(),
                exemplars: true,
                until: DurationUntil::default(),
            }),
            request_bodies: PhantomData,
        }
    }
}

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl MetricsLayer<AxumEndpoint> {
    /// A layer recording into `metrics`, labelling requests by axum's `MatchedPath`
    /// ([`AxumEndpoint`]).
    pub fn axum(metrics: &Metrics) -> Self {
        MetricsLayer::new(metrics).endpoint_label(AxumEndpoint::default())
    }
}

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl<R> MetricsLayer<AxumEndpoint, R> {
    /// Labels requests under a `Router::nest_service(prefix, ...)` mount as
    /// `{prefix}/{*rest}`: axum gives them no `MatchedPath`, so they would otherwise be
    /// unmatched.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use inframind_metrics::{Metrics, MetricsLayer};
    ///
    /// let metrics = Metrics::new();
    /// let app: Router = Router::new()
    ///     .route("/health", get(|| async { "ok" }))
    ///     .nest_service("/static", tower::service_fn(|_req| async {
    ///         Ok::<_, std::convert::Infallible>(axum::response::Response::new(axum::body::Body::empty()))
    ///     }))
    ///     .layer(MetricsLayer::axum(&metrics).nested_service("/static"));
    /// # let _ = app;
    /// ```
    #[must_use]
    pub fn nested_service(mut self, prefix: &str) -> Self {
        let shared = Arc::make_mut(&mut self.shared);
        shared.endpoint = std::mem::take(&mut shared.endpoint).nested_service(prefix);
        self
    }
}

impl<E: Clone, R> MetricsLayer<E, R> {
    fn shared_mut(&mut self) -> &mut Shared<E> {
        Arc::make_mut(&mut self.shared)
    }

    /// Does not record requests whose path or route template equals `path` (for example
    /// `/metrics` or `/health`).
    #[must_use]
    pub fn exclude_path(mut self, path: impl Into<String>) -> Self {
        self.shared_mut()
            .excluded
            .push(path.into().into_boxed_str());
        self
    }

    /// Whether exemplars carry trace ids ([`TraceId`](crate::TraceId) extension or W3C
    /// `traceparent` header). On by default.
    #[must_use]
    pub fn exemplars(mut self, enabled: bool) -> Self {
        self.shared_mut().exemplars = enabled;
        self
    }

    /// Where `http_request_duration_seconds` stops the clock: at the response head (the
    /// default) or once the response body is sent ([`DurationUntil::ResponseEnd`], for
    /// streamed responses).
    #[must_use]
    pub fn duration_until(mut self, until: DurationUntil) -> Self {
        self.shared_mut().until = until;
        self
    }

    /// Labels requests with `f(uri, extensions)`: it must return a route template, or `None`
    /// for an unmatched request.
    ///
    /// ```
    /// use inframind_metrics::{Metrics, MetricsLayer};
    /// use std::borrow::Cow;
    ///
    /// let metrics = Metrics::new();
    /// let layer = MetricsLayer::new(&metrics).endpoint_fn(|uri, _ext| {
    ///     let path = uri.path();
    ///     if path == "/health" {
    ///         Some(Cow::Borrowed("/health"))
    ///     } else if path.starts_with("/users/") {
    ///         Some(Cow::Borrowed("/users/{id}"))
    ///     } else {
    ///         None
    ///     }
    /// });
    /// # let _ = layer;
    /// ```
    pub fn endpoint_fn<F>(self, f: F) -> MetricsLayer<EndpointFn<F>, R>
    where
        F: for<'a> Fn(&'a Uri, &'a Extensions) -> Option<Cow<'a, str>>
            + Clone
            + Send
            + Sync
            + 'static,
    {
        self.endpoint_label(EndpointFn(f))
    }

    /// Labels requests with any [`EndpointLabel`].
    pub fn endpoint_label<E2: EndpointLabel>(self, endpoint: E2) -> MetricsLayer<E2, R> {
        MetricsLayer {
            shared: Arc::new(Arc::unwrap_or_clone(self.shared).with_endpoint(endpoint)),
            request_bodies: PhantomData,
        }
    }

    /// Also measures request bodies of unknown length (chunked uploads) by counting them as the
    /// inner service reads them. The inner service then receives
    /// `Request<`[`RequestBody<B>`](crate::http::RequestBody)`>`; axum routes accept it.
    pub fn count_request_bodies(self) -> MetricsLayer<E, CountRequestBodies> {
        MetricsLayer {
            shared: self.shared,
            request_bodies: PhantomData,
        }
    }
}

impl<S, E, R> Layer<S> for MetricsLayer<E, R> {
    type Service = MetricsService<S, E, R>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            shared: Arc::clone(&self.shared),
            cache_slot: self.shared.next_slot.fetch_add(1, Ordering::Relaxed) % CACHE_SLOTS,
            request_bodies: PhantomData,
        }
    }
}
