//! [`CacheService`]: the request path's entry, which keys and classifies a request, answers a
//! fresh hit at once when the store can, and hands everything else to the miss stage.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Method, Request, Response, header};
use http_body::Body;
use tower_service::Service;

use crate::body::CacheBody;
use crate::config::{Bypass, Config};
use crate::future::ResponseFuture;
use crate::handle::{CacheHandle, Counters};
use crate::headers::BYPASS;
use crate::headers::Fwd;
use crate::key::{Scope, authority_of};
use crate::layer::CacheLayer;
use crate::lookup::{Found, evaluate};
use crate::miss::{self, Miss};
use crate::policy;
use crate::respond::{Label, RequestCtx, fresh_status, label, respond};
use crate::store::HitRequest;
use crate::store::now_ms;

/// A tower service that answers GET and HEAD requests from a cache, calling the inner service
/// on a miss. Built by [`CacheLayer`].
pub struct CacheService<S> {
    inner: S,
    config: Arc<Config>,
    handle: CacheHandle,
}

impl<S: Clone> Clone for CacheService<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
            handle: self.handle.clone(),
        }
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for CacheService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheService")
            .field("inner", &self.inner)
            .field("namespace", &self.config.namespaces.last())
            .finish_non_exhaustive()
    }
}

impl<S> CacheService<S> {
    /// Wraps `inner` with `layer`'s cache.
    pub fn new(inner: S, layer: &CacheLayer) -> Self {
        Self::from_parts(inner, Arc::clone(&layer.config), layer.handle.clone())
    }

    pub(crate) fn from_parts(inner: S, config: Arc<Config>, handle: CacheHandle) -> Self {
        Self {
            inner,
            config,
            handle,
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

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The cache's handle.
    pub fn handle(&self) -> &CacheHandle {
        &self.handle
    }
}

impl<S, B, ResBody> Service<Request<B>> for CacheService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Send,
    ResBody::Error: Send + 'static,
{
    type Response = Response<CacheBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if self.config.origin_driven {
            return self.origin_call(req);
        }
        let (key, derived) = match self.config.classify(&req) {
            Ok(classified) => (classified.key, classified.namespaces),
            Err(bypass) => {
                Counters::add(&self.handle.shared.counters.bypasses, 1);
                let status = match bypass {
                    Bypass::Method => self.config.method_bypass_status.clone(),
                    Bypass::Credentials | Bypass::NoPrincipal => {
                        self.config.request_bypass_status.clone()
                    }
                    Bypass::Namespace => self.config.namespace_bypass_status.clone(),
                };
                if bypass == Bypass::Method
                    && self.config.invalidate_unsafe
                    && is_unsafe(req.method())
                {
                    return self.unsafe_request(req, status);
                }
                return ResponseFuture::bypass(self.inner.call(req), BYPASS, status);
            }
        };
        let scope = self
            .config
            .invalidate_unsafe
            .then(|| self.config.keys.scope(&req));
        let shared = &self.handle.shared;
        let head_only = req.method() == http::Method::HEAD;
        let wants_fresh =
            self.config.honour_request_no_cache && policy::request_wants_fresh(req.headers());
        // A store's ready hits need the namespaces resolved once per layer
        // (`Store::resolve_namespaces`): not done per request for derived namespaces, which
        // would make every path value a client sends a resolved namespace in the store.
        if !wants_fresh && derived.is_none() {
            let now = now_ms();
            // A store that keeps entries ready (in process) answers a fresh hit itself.
            let config = &*self.config;
            let fresh_status = |ttl| fresh_status(config, ttl);
            let hit = HitRequest {
                key: key.as_bytes(),
                namespaces: &config.namespaces,
                token: config.namespace_token.as_ref(),
                scope: scope.as_ref().map(Scope::as_bytes),
                now_ms: now,
                headers: req.headers(),
                head_only,
                fresh_status: &fresh_status,
            };
            if let Some(response) = shared.store.ready_hit(&hit) {
                Counters::add(&shared.counters.hits, 1);
                return ResponseFuture::ready(response.map(CacheBody::full));
            }
        }
        let mut ctx = RequestCtx::new(req.method(), req.headers());
        ctx.wants_fresh = wants_fresh;
        let namespaces = miss::lookup_namespaces(&self.config, derived.as_ref(), scope.as_ref());
        if !wants_fresh {
            // Any other store that answers at once: serve a fresh hit without a future.
            // (Past these fast paths, the ordinary lookup decides what it is.)
            let (config, now) = (&*self.config, now_ms());
            if let Some(Ok(lookup)) = shared.store.try_get(key.as_str(), &namespaces) {
                let found = evaluate(lookup.value.as_ref(), lookup.generations.as_deref(), now);
                if let Found::Fresh(cached) = found {
                    Counters::add(&shared.counters.hits, 1);
                    let response = respond(config, cached, &ctx, Label::Hit, now);
                    return ResponseFuture::ready(response);
                }
            }
        }
        // The ready service goes into the future; a clone stays behind for the next
        // `poll_ready`.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::cached(Box::pin(miss::run(Miss {
            config: Arc::clone(&self.config),
            handle: self.handle.clone(),
            inner,
            req,
            key: key.into_string(),
            ctx,
            fallback: None,
            fwd: Fwd::UriMiss,
            seen: None,
            scope,
            namespaces,
            derived,
        })))
    }
}

/// POST, PUT, PATCH and DELETE: the methods whose success invalidates (RFC 9111 §4.4).
fn is_unsafe(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

impl<S> CacheService<S> {
    /// The origin-driven mode's request path: reads through `origin`, every other method
    /// forwarded (and, unless safe, invalidating).
    fn origin_call<B, ResBody>(
        &mut self,
        req: Request<B>,
    ) -> ResponseFuture<S::Future, ResBody, S::Error>
    where
        S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Send + 'static,
        B: Send + 'static,
        ResBody: Body + Send + 'static,
        ResBody::Data: Send,
        ResBody::Error: Send + 'static,
    {
        let method = req.method();
        if method == Method::GET || method == Method::HEAD {
            let clone = self.inner.clone();
            let inner = std::mem::replace(&mut self.inner, clone);
            let config = Arc::clone(&self.config);
            let handle = self.handle.clone();
            return ResponseFuture::cached(Box::pin(crate::origin::run(
                config, handle, inner, req,
            )));
        }
        Counters::add(&self.handle.shared.counters.bypasses, 1);
        let status = self.config.method_bypass_status.clone();
        if method == Method::OPTIONS || method == Method::TRACE {
            return ResponseFuture::bypass(self.inner.call(req), BYPASS, status);
        }
        // RFC 9111 §4.4: every method not known to be safe invalidates.
        self.unsafe_request(req, status)
    }

    /// Forwards an unsafe request and, once it succeeds, drops the path scopes of its target
    /// URI and of the same-host URIs its response's `Location` and `Content-Location` name,
    /// before handing the response back (so the client's next read sees its write).
    fn unsafe_request<B, ResBody>(
        &mut self,
        req: Request<B>,
        status: http::HeaderValue,
    ) -> ResponseFuture<S::Future, ResBody, S::Error>
    where
        S: Service<Request<B>, Response = Response<ResBody>>,
        S::Future: Send + 'static,
        S::Error: Send + 'static,
        ResBody: Body + Send + 'static,
    {
        let target = self.config.keys.scope(&req);
        let authority = authority_of(&req).to_vec();
        let config = Arc::clone(&self.config);
        let handle = self.handle.clone();
        let future = self.inner.call(req);
        ResponseFuture::cached(Box::pin(async move {
            let response = future.await?;
            let outcome = response.status();
            if outcome.is_success() || outcome.is_redirection() {
                let mut scopes = vec![target];
                for name in [header::LOCATION, header::CONTENT_LOCATION] {
                    let named = response.headers().get(name).and_then(|location| {
                        config
                            .keys
                            .scope_of_location(&authority, location.as_bytes())
                    });
                    scopes.extend(named);
                }
                let shared = &handle.shared;
                for scope in scopes {
                    let drop = shared.store.drop_scope(scope.as_str());
                    if let Err(error) = shared.counters.invalidate_latency.time(drop).await {
                        shared.counters.store_error(&error);
                    }
                }
            }
            Ok(label(response.map(CacheBody::inner), BYPASS, status))
        }))
    }
}
