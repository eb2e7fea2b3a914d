//! [`MetricsService`]: resolves a request's series, starts its timing, and wraps the inner
//! service's future.

use super::body::{RequestBody, ResponseBody, Tracking, content_length};
use super::config::{DurationUntil, Shared};
use super::endpoint::{DefaultEndpoint, EndpointLabel};
use super::future::ResponseFuture;
use super::table::{UNMATCHED_ENDPOINT, method_index};
use super::trace;
use http::{Request, Response};
use http_body::Body;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tower_service::Service;

/// The service built by [`MetricsLayer`](crate::MetricsLayer).
#[derive(Debug)]
pub struct MetricsService<S, E = DefaultEndpoint, R = KnownLength> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared<E>>,
    /// This service's slot in the layer's endpoint cache: with axum's `Router::layer`, each
    /// route gets its own service, so the slot skips the endpoint map on almost every request.
    pub(crate) cache_slot: usize,
    pub(crate) request_bodies: std::marker::PhantomData<fn() -> R>,
}

impl<S: Clone, E, R> Clone for MetricsService<S, E, R> {
    fn clone(&self) -> Self {
        Self {
            request_bodies: std::marker::PhantomData,
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
            cache_slot: self.cache_slot,
        }
    }
}

impl<S, E, R> MetricsService<S, E, R> {
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

/// Request bodies are measured only when their length is known up front (`Content-Length` or
/// an exact size hint); the inner service sees the request body unchanged. The default.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct KnownLength;

/// Request bodies of unknown length are wrapped in a [`RequestBody`] that counts them as the
/// inner service reads them. The inner service must accept `Request<RequestBody<B>>` (axum's
/// routes accept any body).
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct CountRequestBodies;

/// What `call` does before the inner service runs.
enum Begin {
    Excluded,
    Tracked {
        tracking: Tracking,
        request_size_known: bool,
    },
}

impl<S, E: EndpointLabel, R> MetricsService<S, E, R> {
    fn until_end(&self) -> bool {
        self.shared.until == DurationUntil::ResponseEnd
    }

    fn begin<B: Body>(&self, req: &Request<B>) -> Begin {
        let shared = &*self.shared;
        let endpoint = shared.endpoint.endpoint(req.uri(), req.extensions());
        let name = endpoint.as_deref().unwrap_or(UNMATCHED_ENDPOINT);
        if !shared.excluded.is_empty() {
            let path = req.uri().path();
            if shared.excluded.iter().any(|p| **p == *path || **p == *name) {
                return Begin::Excluded;
            }
        }
        let cached = &shared.cache[self.cache_slot];
        let entry = match cached.get() {
            Some(e) if e.name() == name => Arc::clone(e),
            _ => {
                let e = shared.table.endpoint(name);
                let _ = cached.set(Arc::clone(&e));
                e
            }
        };
        drop(endpoint);
        let slot = shared.table.start(entry, method_index(req.method()));
        let len = req
            .body()
            .size_hint()
            .exact()
            .or_else(|| content_length(req.headers()));
        if let (Some(entry), Some(len)) = (slot.entry(), len) {
            entry.observe_request_size(len);
        }
        let trace = if shared.exemplars {
            trace::extract(req.headers(), req.extensions())
        } else {
            None
        };
        let tracking = Tracking {
            slot,
            start: Instant::now(),
            trace,
            finished: false,
        };
        Begin::Tracked {
            tracking,
            request_size_known: len.is_some(),
        }
    }
}

impl<S, E, ReqBody, ResBody> Service<Request<ReqBody>> for MetricsService<S, E, KnownLength>
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
        match self.begin(&req) {
            Begin::Excluded => ResponseFuture::untracked(self.inner.call(req)),
            Begin::Tracked { tracking, .. } => {
                let until_end = self.until_end();
                ResponseFuture::tracked(self.inner.call(req), tracking, until_end)
            }
        }
    }
}

impl<S, E, ReqBody, ResBody> Service<Request<ReqBody>> for MetricsService<S, E, CountRequestBodies>
where
    S: Service<Request<RequestBody<ReqBody>>, Response = Response<ResBody>>,
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
        match self.begin(&req) {
            Begin::Excluded => {
                ResponseFuture::untracked(self.inner.call(req.map(RequestBody::untracked)))
            }
            Begin::Tracked {
                tracking,
                request_size_known: true,
            } => {
                let until_end = self.until_end();
                ResponseFuture::tracked(
                    self.inner.call(req.map(RequestBody::untracked)),
                    tracking,
                    until_end,
                )
            }
            Begin::Tracked {
                tracking,
                request_size_known: false,
            } => {
                let slot = tracking.slot.clone();
                let until_end = self.until_end();
                let req = req.map(|b| RequestBody::counting(b, slot, true));
                ResponseFuture::tracked(self.inner.call(req), tracking, until_end)
            }
        }
    }
}
