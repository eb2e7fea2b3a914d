//! [`CacheLayer`] and its builder.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Request, StatusCode};
use tower_layer::Layer;

use crate::config::{Config, Principal, StatusSet};
use crate::error::CacheError;
use crate::handle::CacheHandle;
use crate::key::{Key, KeyBuilder, namespace_chain, validate_namespace};
use crate::namespace::PathNamespace;
use crate::service::CacheService;
use crate::store::Store;

/// The longest TTL a layer accepts.
const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// A tower layer that caches GET and HEAD responses of the service it wraps.
///
/// Build one with [`CacheLayer::builder`] (a new cache over a store) or
/// [`CacheHandle::layer`] (another layer on an existing cache, for example one per route with
/// its own TTL and namespace). See the [crate docs](crate) for behaviour and an example.
#[derive(Clone)]
pub struct CacheLayer {
    pub(crate) config: Arc<Config>,
    pub(crate) handle: CacheHandle,
}

impl std::fmt::Debug for CacheLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheLayer")
            .field("namespace", &self.config.namespaces.last())
            .field("ttl", &self.config.ttl)
            .field("per_user", &self.config.principal.is_some())
            .field("store", self.handle.store())
            .finish_non_exhaustive()
    }
}

impl CacheLayer {
    /// A builder for a layer on a new cache over `store`.
    pub fn builder(store: impl Store) -> CacheLayerBuilder {
        CacheHandle::new(store).layer()
    }

    /// The handle for invalidation and statistics, shared with every layer built from it.
    pub fn handle(&self) -> CacheHandle {
        self.handle.clone()
    }

    /// The key this layer stores `req`'s response under, or `None` when the layer would not
    /// cache it (not GET or HEAD, credentials without per-user keying, no principal).
    pub fn key_for<B>(&self, req: &Request<B>) -> Option<String> {
        self.config
            .classify(req)
            .ok()
            .map(|classified| Key::into_string(classified.key))
    }
}

impl<S> Layer<S> for CacheLayer {
    type Service = CacheService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CacheService::from_parts(inner, Arc::clone(&self.config), self.handle.clone())
    }
}

/// Settings for a [`CacheLayer`]; every one has a safe default.
#[derive(Clone)]
pub struct CacheLayerBuilder {
    handle: CacheHandle,
    ttl: Duration,
    namespace: String,
    path_namespaces: Vec<(String, String)>,
    principal: Option<Principal>,
    vary: Vec<HeaderName>,
    compress_above: Option<Option<usize>>,
    compression_level: i32,
    max_body: usize,
    statuses: Vec<StatusCode>,
    stale_while_revalidate: Duration,
    stale_if_error: Duration,
    status_name: String,
    max_body_set: bool,
    key_host: bool,
    honour_request_no_cache: bool,
    share_authenticated: bool,
    invalidate_unsafe: bool,
    origin_driven: bool,
    targets: Vec<HeaderName>,
}

impl std::fmt::Debug for CacheLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheLayerBuilder")
            .field("ttl", &self.ttl)
            .field("namespace", &self.namespace)
            .field("per_user", &self.principal.is_some())
            .field("vary", &self.vary)
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

impl CacheLayerBuilder {
    pub(crate) fn new(handle: CacheHandle) -> Self {
        Self {
            handle,
            ttl: Duration::from_secs(60),
            namespace: "cache".to_owned(),
            path_namespaces: Vec::new(),
            principal: None,
            vary: Vec::new(),
            compress_above: None,
            compression_level: 3,
            max_body: 1024 * 1024,
            statuses: [200, 203, 204, 300, 301, 308]
                .into_iter()
                .filter_map(|c| StatusCode::from_u16(c).ok())
                .collect(),
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            status_name: "inframind".to_owned(),
            max_body_set: false,
            key_host: true,
            honour_request_no_cache: false,
            share_authenticated: false,
            invalidate_unsafe: true,
            origin_driven: false,
            targets: vec![HeaderName::from_static("cdn-cache-control")],
        }
    }

    /// How long an entry is fresh. Default 60 s.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The namespace keys live under, `:`-separated (for example `assessments:list`); the unit
    /// of O(1) invalidation with [`CacheHandle::invalidate`]. Default `cache`.
    ///
    /// Replaces a [`prefix_from_path`](Self::prefix_from_path) set before.
    pub fn prefix(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self.path_namespaces.clear();
        self
    }

    /// Derives each request's namespace from its path: `route` is a pattern whose `{name}`
    /// segments capture path values (`/api/assessments/{id}`), and `template` a namespace
    /// whose `{name}` segments they fill (`assessments:{id}`). Each entry of
    /// `/api/assessments/42` then lives under `assessments:42`, so
    /// [`CacheHandle::invalidate_namespace("assessments:42")`](CacheHandle::invalidate_namespace)
    /// invalidates that one assessment's entries (and those below it) while
    /// `invalidate_namespace("assessments")` still covers them all.
    ///
    /// ```
    /// # use inframind_cache::{CacheLayer, MemoryStore};
    /// let item = CacheLayer::builder(MemoryStore::new())
    ///     .prefix_from_path("/api/assessments/{id}", "assessments:{id}")
    ///     .build()?;
    /// let req = http::Request::get("/api/assessments/42").body(())?;
    /// assert!(item.key_for(&req).unwrap().starts_with("assessments:42:"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// - The route is matched against the request URI's path, segment by segment (literal
    ///   segments exactly, no trailing `/`), so it works for any tower service. In axum, give
    ///   the same pattern as the route (not needing `MatchedPath`); inside a
    ///   `Router::nest`, the path the layer sees has the nest's prefix stripped, so give the
    ///   pattern relative to the nested router.
    /// - Each value is percent-decoded, then escaped with [`namespace_segment`](crate::namespace_segment)
    ///   (every byte but ASCII letters, digits, `-`, `_` and `.` as `%XX`): a value can never
    ///   add a `:` level, a glob character or a reserved `@`, and two different values never
    ///   share a namespace (`*` and `%2A` are the same value). Invalidate with the same
    ///   escaping: `format!("assessments:{}", namespace_segment(id)?)`.
    /// - A request whose path does not match, or whose value is empty, malformed (`%zz`) or
    ///   longer than [`MAX_SEGMENT_BYTES`](crate::MAX_SEGMENT_BYTES), passes through
    ///   uncached (`X-Cache: BYPASS`, `Cache-Status: ...; fwd=bypass; detail=namespace`).
    /// - Choose templates whose namespaces cannot coincide with a fixed one: a value `list`
    ///   gives `assessments:list` for the template `assessments:{id}`. (Restrict the values
    ///   the route accepts, or put the values one level down, as in `assessments:id:{id}`.)
    ///
    /// Call it again to add routes, for a layer on several (`/api/assessments/{id}` and
    /// `/api/assessments/{id}/full`, both under `assessments:{id}`): the first route that
    /// matches gives the namespace. Replaces a [`prefix`](Self::prefix) set before. Routes
    /// and templates are checked by [`build`](Self::build).
    pub fn prefix_from_path(
        mut self,
        route: impl Into<String>,
        template: impl Into<String>,
    ) -> Self {
        self.path_namespaces.push((route.into(), template.into()));
        self
    }

    /// Keys entries per user, by the [`CachePrincipal`](crate::CachePrincipal) in the request's extensions.
    ///
    /// Requests without a principal then bypass the cache. Credentials (`Authorization`,
    /// `Cookie`) no longer cause a bypass, and responses with `Set-Cookie` or `private` are
    /// stored, since only their own user can ever get them back. `no-store` is never stored.
    pub fn per_user(mut self) -> Self {
        self.principal = Some(Principal::Extension);
        self
    }

    /// Keys entries per user, by what `extract` finds in the request's extensions (for example
    /// your own claims type). As [`per_user`](Self::per_user) otherwise.
    pub fn per_user_with<F>(mut self, extract: F) -> Self
    where
        F: Fn(&http::Extensions) -> Option<String> + Send + Sync + 'static,
    {
        self.principal = Some(Principal::Custom(Arc::new(extract)));
        self
    }

    /// Adds a request header whose value is part of the key (as `Vary` does).
    pub fn vary(mut self, header: HeaderName) -> Self {
        if !self.vary.contains(&header) {
            self.vary.push(header);
        }
        self
    }

    /// Compresses bodies of at least `bytes` with zstd before storing them. Default: the
    /// store's choice, 1 KiB for Redis and off for the in-process store (where decompressing
    /// on every hit would cost more than the memory it saves).
    pub fn compress_above(mut self, bytes: usize) -> Self {
        self.compress_above = Some(Some(bytes));
        self
    }

    /// Stores bodies uncompressed.
    pub fn no_compression(mut self) -> Self {
        self.compress_above = Some(None);
        self
    }

    /// The zstd level (1..=22). Default 3.
    pub fn compression_level(mut self, level: i32) -> Self {
        self.compression_level = level;
        self
    }

    /// The largest body the cache buffers and stores. A larger response is passed through:
    /// the bytes buffered so far, then the rest of the body unbuffered, and nothing is stored.
    /// Default 1 MiB, or the store's largest entry ([`Store::max_entry_body`]) when that is
    /// smaller, so every body the layer buffers can be stored.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self.max_body_set = true;
        self
    }

    /// Whether the request's authority (the URI's, else the `Host` header) is part of the key.
    /// Default `true`: one origin serving several hosts (tenants, languages) never answers one
    /// host with another's response. Turn it off only for a service that answers a single
    /// host whatever `Host` says, to share entries across the names it is reached by.
    pub fn key_host(mut self, include: bool) -> Self {
        self.key_host = include;
        self
    }

    /// Whether a request's `Cache-Control: no-cache` or `max-age=0` (or `Pragma: no-cache`)
    /// makes it skip stored entries and go to the inner service, whose response is then
    /// stored (`Cache-Status: ...; fwd=request`). Default `false`, as in Varnish: any client
    /// could otherwise empty the cache's benefit by sending the header (a browser's reload
    /// does). Turn it on for clients you trust.
    pub fn honour_request_no_cache(mut self, honour: bool) -> Self {
        self.honour_request_no_cache = honour;
        self
    }

    /// Lets requests with credentials (`Authorization`, `Cookie`) share this route's entries
    /// with anonymous ones, for content that is the same whoever asks: logged-in users reading
    /// a public catalogue then hit the entries anonymous reads filled, and fill them in turn.
    ///
    /// RFC 9111 §3.5 lets a shared cache reuse a response to an authenticated request only
    /// when the response says so (`public`, `s-maxage`); this opt-in is that statement, made
    /// once for the route rather than on each response. Responses with `Set-Cookie` or
    /// `Cache-Control: private` are still never stored. Without it (the default), such
    /// requests bypass the cache (`fwd=request`). Do not use it on a route whose response
    /// depends on the caller; key that one [`per_user`](Self::per_user).
    pub fn share_authenticated(mut self) -> Self {
        self.share_authenticated = true;
        self
    }

    /// Whether an unsafe request (POST, PUT, PATCH, DELETE) that succeeds (2xx or 3xx)
    /// through this layer invalidates the entries of its target URI, every query variant
    /// included, and of the URIs its response's `Location` and `Content-Location` name on the
    /// same host (RFC 9111 §4.4), in every layer on the store that has this on. Default
    /// `true`.
    ///
    /// It works by path scope: each entry records the generation of its path (one more key in
    /// the lookup's single `MGET` on Redis), and a successful unsafe request drops it (one
    /// `UNLINK`, awaited before its response is returned, so the client's next read sees its
    /// write). Wrap the unsafe routes with the layer too (in axum,
    /// `get(list).post(create).layer(cache)`), or they never pass through it.
    pub fn invalidate_on_unsafe(mut self, invalidate: bool) -> Self {
        self.invalidate_unsafe = invalidate;
        self
    }

    /// Makes the layer an HTTP cache in which the origin decides (RFC 9111, for a shared
    /// cache), for a service you do not own, such as a caching reverse proxy. The default
    /// mode, where the application sets a TTL per route, suits services that do not send
    /// caching headers of their own.
    ///
    /// In this mode:
    /// - There is no default TTL ([`ttl`](Self::ttl), [`stale_while_revalidate`](Self::stale_while_revalidate),
    ///   [`stale_if_error`](Self::stale_if_error) and [`cacheable_statuses`](Self::cacheable_statuses)
    ///   are not used). Freshness comes from the response: a targeted field
    ///   ([`targeted_cache_control`](Self::targeted_cache_control), RFC 9213) when it has a
    ///   valid one, else `s-maxage`, `max-age`, then `Expires` against `Date`; otherwise a
    ///   tenth of the time since `Last-Modified` (at most a day) for the statuses RFC 9110
    ///   calls heuristically cacheable. `stale-while-revalidate` on the response serves the
    ///   stale entry while one background request validates it; `stale-if-error` serves it
    ///   in place of a `5xx`; and an origin that cannot be reached is answered from a stale
    ///   entry unless `must-revalidate`, `proxy-revalidate`, `s-maxage` or `no-cache` (or the
    ///   request's `no-cache`) forbid it (RFC 9111 §4.2.4). Entries stay in the store an hour
    ///   past their freshness for validation and for these.
    /// - `Age` is computed as RFC 9111 §4.2.3 says (the corrected initial age from `Date`,
    ///   `Age` and the time the request took, plus the time in the cache) and sent on every
    ///   stored response.
    /// - A stale entry (or one stored with `no-cache`) is validated with a conditional
    ///   request (`If-None-Match`, `If-Modified-Since`); a `304` updates the stored headers
    ///   (all but the body's `Content-*` and `ETag`) and its freshness.
    /// - Any method but GET, HEAD, OPTIONS and TRACE is forwarded and, when it succeeds,
    ///   invalidates its target and its response's `Location` and `Content-Location`
    ///   (as [`invalidate_on_unsafe`](Self::invalidate_on_unsafe), which this turns on).
    /// - `Vary` selects among stored variants (`Vary: *` is never stored); the `Accept-*`
    ///   preference lists are compared by meaning (member order, case and q-values), other
    ///   fields as sent.
    /// - Requests: `no-store`, `no-cache` (and `Pragma: no-cache`), `max-age`, `min-fresh`,
    ///   `max-stale` and `only-if-cached` are obeyed. Responses: `no-store`, `private`,
    ///   `no-cache`, `must-revalidate`, `proxy-revalidate`, `public` and `s-maxage`; a
    ///   request with `Authorization` shares an entry only when the response allows it
    ///   (`public`, `s-maxage`, `must-revalidate`).
    /// - A stored `200` answers a single byte range (`206`).
    /// - Single flight is not used (but one background validation at a time per key), and
    ///   every request reads the store.
    ///
    /// ```
    /// # use inframind_cache::{CacheLayer, MemoryStore};
    /// let layer = CacheLayer::builder(MemoryStore::new())
    ///     .origin_driven()
    ///     .build()?;
    /// # Ok::<(), inframind_cache::CacheError>(())
    /// ```
    pub fn origin_driven(mut self) -> Self {
        self.origin_driven = true;
        self
    }

    /// The targeted cache-control fields (RFC 9213) the [origin-driven](Self::origin_driven)
    /// mode obeys, most specific first: the first the response carries validly replaces its
    /// `Cache-Control` (and `Expires`) for this cache. Default `CDN-Cache-Control`; give
    /// your own first (`Inframind-CDN-Cache-Control`, say) to let an origin target this
    /// cache alone, or none to obey `Cache-Control` only.
    pub fn targeted_cache_control(mut self, fields: impl IntoIterator<Item = HeaderName>) -> Self {
        self.targets = fields.into_iter().collect();
        self
    }

    /// The statuses whose responses are stored. Default 200, 203, 204, 300, 301 and 308.
    pub fn cacheable_statuses(mut self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        self.statuses = statuses.into_iter().collect();
        self
    }

    /// For how long after expiry an entry is still served (`X-Cache: STALE`) while one
    /// background request refreshes it. Default 0 (off).
    pub fn stale_while_revalidate(mut self, window: Duration) -> Self {
        self.stale_while_revalidate = window;
        self
    }

    /// For how long after expiry an entry is served when the inner service fails (an error or
    /// a 5xx status). Default 0 (off).
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.stale_if_error = window;
        self
    }

    /// The cache's name in `Cache-Status` headers. Default `inframind`.
    pub fn cache_status_name(mut self, name: impl Into<String>) -> Self {
        self.status_name = name.into();
        self
    }

    /// The layer.
    ///
    /// # Errors
    ///
    /// [`CacheError::InvalidNamespace`] for a prefix (or a
    /// [`prefix_from_path`](Self::prefix_from_path) template) that is empty, has empty
    /// segments, glob characters, whitespace or a leading `@`;
    /// [`CacheError::InvalidSetting`] for a `prefix_from_path` route that does not start with
    /// `/` or whose parameters are not whole `{name}` segments, and for a TTL under one
    /// millisecond or over a year, a `max_body` of 0 or larger than the store's largest
    /// entry, an empty set of cacheable statuses, a zstd level outside 1..=22, or a
    /// `Cache-Status` name that is not a token.
    pub fn build(mut self) -> Result<CacheLayer, CacheError> {
        let path_namespaces = self
            .path_namespaces
            .iter()
            .map(|(route, template)| PathNamespace::new(route, template))
            .collect::<Result<Box<[_]>, _>>()?;
        match path_namespaces.first() {
            // The fixed part of the first template (`assessments`), for `Debug`.
            Some(first) => self.namespace = first.fixed_prefix().to_owned(),
            None => validate_namespace(&self.namespace)?,
        }
        let invalid = |setting, reason| Err(CacheError::InvalidSetting { setting, reason });
        if self.ttl < Duration::from_millis(1) {
            return invalid("ttl", "must be at least 1 ms");
        }
        if self.ttl > MAX_TTL {
            return invalid("ttl", "must be at most a year");
        }
        if self.max_body == 0 {
            return invalid("max_body", "must be at least 1 byte");
        }
        if self.statuses.is_empty() {
            return invalid("cacheable_statuses", "must name at least one status");
        }
        if let Some(largest) = self.handle.store().max_entry_body() {
            let largest = usize::try_from(largest).unwrap_or(usize::MAX);
            if !self.max_body_set {
                self.max_body = self.max_body.min(largest).max(1);
            } else if self.max_body > largest {
                return invalid(
                    "max_body",
                    "larger than the store's largest entry (`Store::max_entry_body`; a \
                     MemoryStore keeps at most 97% of max_bytes / shards per entry)",
                );
            }
        }
        if !(1..=22).contains(&self.compression_level) {
            return Err(CacheError::InvalidSetting {
                setting: "compression_level",
                reason: "zstd levels are 1..=22",
            });
        }
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        };
        if !token(&self.status_name) {
            return Err(CacheError::InvalidSetting {
                setting: "cache_status_name",
                reason: "must be an HTTP token",
            });
        }
        let value = |s: String| {
            HeaderValue::try_from(s).map_err(|_| CacheError::InvalidSetting {
                setting: "cache_status_name",
                reason: "must be an HTTP token",
            })
        };
        let namespace: Arc<str> = Arc::from(self.namespace.as_str());
        let compress_above = self
            .compress_above
            .unwrap_or_else(|| self.handle.store().default_compression_threshold());
        let namespaces = namespace_chain(&namespace);
        let namespace_token = self.handle.store().resolve_namespaces(&namespaces);
        let config = Config {
            keys: KeyBuilder::new(Arc::clone(&namespace), Arc::from(self.vary), self.key_host),
            namespaces,
            path_namespaces,
            namespace_token,
            ttl: self.ttl,
            stale_while_revalidate: self.stale_while_revalidate,
            stale_if_error: self.stale_if_error,
            compress_above,
            compression_level: self.compression_level,
            max_body: self.max_body,
            statuses: StatusSet::new(self.statuses),
            principal: self.principal,
            method_bypass_status: value(format!("{}; fwd=method", self.status_name))?,
            request_bypass_status: value(format!("{}; fwd=request", self.status_name))?,
            namespace_bypass_status: value(format!(
                "{}; fwd=bypass; detail=namespace",
                self.status_name
            ))?,
            honour_request_no_cache: self.honour_request_no_cache,
            share_authenticated: self.share_authenticated,
            invalidate_unsafe: self.invalidate_unsafe || self.origin_driven,
            origin_driven: self.origin_driven,
            targets: self.targets.into_boxed_slice(),
            status_name: Arc::from(self.status_name),
            hit_statuses: (0..=self.ttl.as_secs().min(4095))
                .map(|_| std::sync::OnceLock::new())
                .collect(),
        };
        Ok(CacheLayer {
            config: Arc::new(config),
            handle: self.handle,
        })
    }
}
