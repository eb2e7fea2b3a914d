use super::body::ResponseBody;
use super::endpoint::{DefaultEndpoint, EndpointLabel};
use super::future::{ResponseFuture, Tracking};
use super::layer::Shared;
use super::table::{EndpointEntry, UNMATCHED_ENDPOINT, method_index};
use super::trace;
use http::{Request, Response};
use http_body::Body;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;
use tower_service::Service;

/// The service built by [`MetricsLayer`](crate::MetricsLayer).
#[derive(Debug)]
pub struct MetricsService<S, E = DefaultEndpoint> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared<E>>,
    /// The endpoint this service saw first: with axum's `Router::layer`, each route gets its
    /// own service, so this skips the endpoint map on almost every request.
    pub(crate) last: Arc<OnceLock<Arc<EndpointEntry>>>,
}

impl<S: Clone, E> Clone for MetricsService<S, E> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
            last: Arc::clone(&self.last),
        }
    }
}

impl<S, E> MetricsService<S, E> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes the middleware, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl<S, E, ReqBody, ResBody> Service<Request<ReqBody>> for MetricsService<S, E>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    E: EndpointLabel,
    ReqBody: Body,
    ResBody: Body,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let shared = &*self.shared;
        let endpoint = shared.endpoint.endpoint(req.uri(), req.extensions());
        let name = endpoint.as_deref().unwrap_or(UNMATCHED_ENDPOINT);
        if !shared.excluded.is_empty() {
            let path = req.uri().path();
            if shared.excluded.iter().any(|p| **p == *path || **p == *name) {
                return ResponseFuture::untracked(self.inner.call(req));
            }
        }
        let entry = match self.last.get() {
            Some(e) if e.name() == name => Arc::clone(e),
            _ => {
                let e = shared.table.endpoint(name);
                let _ = self.last.set(Arc::clone(&e));
                e
            }
        };
        drop(endpoint);
        let slot = shared.table.start(entry, method_index(req.method()));
        if let Some(entry) = slot.entry() {
            if let Some(len) = req
                .body()
                .size_hint()
                .exact()
                .or_else(|| content_length(req.headers()))
            {
                entry.observe_request_size(len);
            }
        }
        let trace = if shared.exemplars {
            trace::extract(req.headers(), req.extensions())
        } else {
            None
        };
        let tracking = Tracking {
            table: Arc::clone(&shared.table),
            slot,
            start: Instant::now(),
            trace,
        };
        ResponseFuture::tracked(self.inner.call(req), tracking)
    }
}

pub(crate) fn response_length<B: Body>(res: &Response<B>) -> Option<u64> {
    res.body()
        .size_hint()
        .exact()
        .or_else(|| content_length(res.headers()))
}
