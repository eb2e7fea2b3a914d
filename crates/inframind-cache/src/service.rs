//! [`CacheService`]: the request path.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame};
use tower_service::Service;

use crate::body::CacheBody;
use crate::envelope::{Envelope, etag_of};
use crate::flight::{self, Join, Outcome};
use crate::future::ResponseFuture;
use crate::handle::{CacheHandle, Counters, Shared};
use crate::layer::{CacheLayer, Config};
use crate::policy;
use crate::prepared::Prepared;
use crate::store::now_ms;

/// `X-Cache: HIT | MISS | STALE | BYPASS`.
pub(crate) const X_CACHE: HeaderName = HeaderName::from_static("x-cache");
/// RFC 9211 `Cache-Status`.
pub(crate) const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");
const HIT: HeaderValue = HeaderValue::from_static("HIT");
const MISS: HeaderValue = HeaderValue::from_static("MISS");
const STALE: HeaderValue = HeaderValue::from_static("STALE");
const BYPASS: HeaderValue = HeaderValue::from_static("BYPASS");
const ZSTD: HeaderValue = HeaderValue::from_static("zstd");
const ACCEPT_ENCODING: HeaderValue = HeaderValue::from_static("accept-encoding");

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
        match self.config.classify(&req) {
            Err(_) => {
                Counters::add(&self.handle.shared.counters.bypasses, 1);
                ResponseFuture::bypass(
                    self.inner.call(req),
                    BYPASS,
                    self.config.bypass_status.clone(),
                )
            }
            Ok(key) => {
                let shared = &self.handle.shared;
                if let (Some(memory), Some(cells)) =
                    (&shared.memory, &self.config.memory_generations)
                {
                    // The in-process store keeps entries decoded: a fresh hit is a clone.
                    let now = now_ms();
                    let response = match memory.with_prepared(key.as_bytes(), now, |entry| {
                        prepared_hit(&self.config, cells, entry, req.headers(), now)
                    }) {
                        Some(PreparedHit::Served(response)) => Some(response),
                        Some(PreparedHit::Envelope(envelope)) => {
                            envelope_hit(&self.config, *envelope, req.headers(), now)
                        }
                        None => None,
                    };
                    if let Some(response) = response {
                        Counters::add(&shared.counters.hits, 1);
                        return ResponseFuture::ready(response);
                    }
                }
                let ctx = RequestCtx {
                    accepts_zstd: policy::accepts_zstd(req.headers()),
                    if_none_match: req.headers().get(header::IF_NONE_MATCH).cloned(),
                };
                // Any other store that answers at once: serve a fresh hit without a future.
                // (Past the in-process fast path, the ordinary lookup decides what it is.)
                if shared.memory.is_none() {
                    if let Some(Ok(lookup)) =
                        shared.store.try_get(key.as_str(), &self.config.namespaces)
                    {
                        let now = now_ms();
                        if let Found::Fresh(cached) = evaluate(
                            lookup.value.as_ref(),
                            lookup.generations.as_deref(),
                            now,
                            !ctx.accepts_zstd,
                        ) {
                            Counters::add(&shared.counters.hits, 1);
                            return ResponseFuture::ready(respond(
                                &self.config,
                                cached,
                                &ctx,
                                Label::Hit,
                                now,
                            ));
                        }
                    }
                }
                // The ready service goes into the future; a clone stays behind for the next
                // `poll_ready`.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::cached(Box::pin(run(
                    Arc::clone(&self.config),
                    self.handle.clone(),
                    inner,
                    req,
                    key.into_string(),
                    ctx,
                )))
            }
        }
    }
}

/// A fresh hit found in the in-process store's decoded entries.
enum PreparedHit<B: Body> {
    /// Answered by cloning the prepared head.
    Served(Response<CacheBody<B>>),
    /// A compressed entry (or one written by someone else): its envelope, to be served by
    /// [`respond`] once the store's lock is released (it may need decompressing).
    Envelope(Box<Envelope>),
}

/// A fresh hit from an entry the in-process store keeps decoded, or `None` when it is not
/// fresh under the current generations (the ordinary lookup then decides what it is). Runs
/// under the store's shard lock: it clones, never decompresses.
fn prepared_hit<B: Body>(
    config: &Config,
    cells: &[Arc<AtomicU64>],
    entry: &Prepared,
    request: &HeaderMap,
    now: u64,
) -> Option<PreparedHit<B>> {
    let envelope = &entry.envelope;
    if envelope.generations.len() != cells.len()
        || envelope
            .generations
            .iter()
            .zip(cells)
            .any(|(generation, cell)| *generation != cell.load(Ordering::Acquire))
    {
        return None;
    }
    let age_ms = now.saturating_sub(envelope.stored_at_ms);
    if age_ms >= envelope.ttl_ms {
        return None;
    }
    let Some(head) = &entry.hit else {
        return Some(PreparedHit::Envelope(Box::new(envelope.clone())));
    };
    let if_none_match = request.get(header::IF_NONE_MATCH);
    let mut headers = head.headers.clone();
    let age = small_number(age_ms / 1000);
    let status = fresh_status(config, (envelope.ttl_ms - age_ms) / 1000);
    // The head ends with its Age, X-Cache and Cache-Status slots: overwritten in place,
    // without hashing their names again.
    let mut slots = headers.iter_mut().skip(head.len - 3);
    match (slots.next(), slots.next(), slots.next()) {
        (Some((a, age_slot)), Some(_), Some((c, status_slot)))
            if *a == header::AGE && *c == CACHE_STATUS =>
        {
            *age_slot = age;
            *status_slot = status;
        }
        _ => {
            headers.insert(header::AGE, age);
            headers.insert(CACHE_STATUS, status);
        }
    }
    let not_modified = envelope.status == StatusCode::OK
        && if_none_match.is_some_and(|inm| policy::none_match(inm, head.etag.as_bytes()));
    let (status, body) = if not_modified {
        headers.remove(header::CONTENT_LENGTH);
        (StatusCode::NOT_MODIFIED, CacheBody::empty())
    } else {
        (envelope.status, CacheBody::full(envelope.body.clone()))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Some(PreparedHit::Served(response))
}

/// Serves a fresh entry that needs more than a clone (see [`PreparedHit::Envelope`]); `None`
/// when its body does not decompress (the ordinary lookup then finds it corrupt).
fn envelope_hit<B: Body>(
    config: &Config,
    envelope: Envelope,
    request: &HeaderMap,
    now: u64,
) -> Option<Response<CacheBody<B>>> {
    let ctx = RequestCtx {
        accepts_zstd: policy::accepts_zstd(request),
        if_none_match: request.get(header::IF_NONE_MATCH).cloned(),
    };
    let plain = if envelope.compressed && ctx.accepts_zstd {
        None
    } else {
        Some(envelope.plain_body().ok()?)
    };
    let cached = Cached { envelope, plain };
    Some(respond(config, cached, &ctx, Label::Hit, now))
}

/// What the response to one request depends on besides the entry.
struct RequestCtx {
    accepts_zstd: bool,
    if_none_match: Option<HeaderValue>,
}

/// A decoded entry, with its uncompressed body when the client needs it.
#[derive(Clone)]
pub(crate) struct Cached {
    envelope: Envelope,
    /// Always present unless the body is compressed and the client takes zstd.
    plain: Option<Bytes>,
}

/// How a response was produced, for `X-Cache` and `Cache-Status`.
#[derive(Clone, Copy)]
enum Label {
    Hit,
    Stale(&'static str),
    Miss { fwd: &'static str, stored: bool },
    Collapsed,
}

enum Found {
    Absent,
    Corrupt,
    Invalidated,
    Expired,
    Fresh(Cached),
    Revalidate(Cached),
    IfError(Cached),
}

fn evaluate(
    value: Option<&Bytes>,
    generations: Option<&[u64]>,
    now: u64,
    need_plain: bool,
) -> Found {
    let Some(value) = value else {
        return Found::Absent;
    };
    let Some(generations) = generations else {
        // The store lost a generation: nothing computed under it may be served.
        return Found::Invalidated;
    };
    let envelope = match Envelope::decode_expecting(value, generations) {
        Ok(Some(envelope)) => envelope,
        Ok(None) => return Found::Invalidated,
        Err(_) => return Found::Corrupt,
    };
    let age = now.saturating_sub(envelope.stored_at_ms);
    let ttl = envelope.ttl_ms;
    let state = if age < ttl {
        0
    } else if age < ttl.saturating_add(envelope.stale_while_revalidate_ms) {
        1
    } else if age < ttl.saturating_add(envelope.stale_if_error_ms) {
        2
    } else {
        return Found::Expired;
    };
    let plain = if envelope.compressed && !need_plain {
        None
    } else {
        match envelope.plain_body() {
            Ok(plain) => Some(plain),
            Err(_) => return Found::Corrupt,
        }
    };
    let cached = Cached { envelope, plain };
    match state {
        0 => Found::Fresh(cached),
        1 => Found::Revalidate(cached),
        _ => Found::IfError(cached),
    }
}

async fn run<S, B, ResBody>(
    config: Arc<Config>,
    handle: CacheHandle,
    mut inner: S,
    req: Request<B>,
    key: String,
    ctx: RequestCtx,
) -> Result<Response<CacheBody<ResBody>>, S::Error>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Send,
    ResBody::Error: Send + 'static,
{
    let shared = &*handle.shared;
    let counters = &shared.counters;
    let lookup = match shared.store.get(&key, &config.namespaces).await {
        Ok(lookup) => lookup,
        Err(error) => {
            // Fail open: serve from the inner service, store nothing.
            counters.store_error(&error);
            Counters::add(&counters.misses, 1);
            let response = inner.call(req).await?;
            return Ok(pass_through(
                response,
                MISS,
                config.store_error_status.clone(),
            ));
        }
    };
    let now = now_ms();
    let mut fallback = None;
    let fwd = match evaluate(
        lookup.value.as_ref(),
        lookup.generations.as_deref(),
        now,
        !ctx.accepts_zstd,
    ) {
        Found::Fresh(cached) => {
            Counters::add(&counters.hits, 1);
            return Ok(respond(&config, cached, &ctx, Label::Hit, now));
        }
        Found::Revalidate(cached) => {
            Counters::add(&counters.stale_hits, 1);
            spawn_revalidation(Arc::clone(&config), handle.clone(), inner, req, key);
            return Ok(respond(
                &config,
                cached,
                &ctx,
                Label::Stale("stale-while-revalidate"),
                now,
            ));
        }
        Found::IfError(cached) => {
            fallback = Some(cached);
            "stale"
        }
        Found::Expired => "stale",
        Found::Invalidated => "miss",
        Found::Corrupt => "corrupt",
        Found::Absent => "uri-miss",
    };

    // The miss path holds the inner service's future and the body being buffered: boxed
    // separately, so the hit path's future stays small.
    Box::pin(miss(config, handle, inner, req, key, ctx, fallback, fwd)).await
}

#[allow(clippy::too_many_arguments)]
async fn miss<S, B, ResBody>(
    config: Arc<Config>,
    handle: CacheHandle,
    inner: S,
    req: Request<B>,
    key: String,
    ctx: RequestCtx,
    fallback: Option<Cached>,
    fwd: &'static str,
) -> Result<Response<CacheBody<ResBody>>, S::Error>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Send,
    ResBody::Error: Send + 'static,
{
    let mut inner = inner;
    let shared = &*handle.shared;
    let counters = &shared.counters;
    let fwd = if fwd == "corrupt" {
        tracing::debug!(key, "undecodable cache entry; deleting it");
        if let Err(error) = shared.store.delete(&key).await {
            counters.store_error(&error);
        }
        "miss"
    } else {
        fwd
    };
    let leader = match shared.flights.join(&key) {
        Join::Leader(leader) => leader,
        Join::Waiter(rx) => {
            if let Outcome::Shared(cached) = flight::wait(rx).await {
                Counters::add(&counters.coalesced_waits, 1);
                return Ok(respond(
                    &config,
                    (*cached).clone(),
                    &ctx,
                    Label::Collapsed,
                    now_ms(),
                ));
            }
            // The leader's response was private to it, or it failed: go to the service.
            Counters::add(&counters.misses, 1);
            return forward(&config, counters, inner, req, fallback, fwd, &ctx).await;
        }
    };

    // Look again now that this request leads: a flight that finished between the first lookup
    // and joining has stored its entry by now.
    let generations = match shared.store.get(&key, &config.namespaces).await {
        Ok(lookup) => {
            if let Found::Fresh(cached) = evaluate(
                lookup.value.as_ref(),
                lookup.generations.as_deref(),
                now_ms(),
                true,
            ) {
                Counters::add(&counters.hits, 1);
                let cached = Arc::new(cached);
                leader.publish(Outcome::Shared(Arc::clone(&cached)));
                return Ok(respond(
                    &config,
                    (*cached).clone(),
                    &ctx,
                    Label::Hit,
                    now_ms(),
                ));
            }
            match lookup.generations {
                Some(generations) => Some(generations.to_vec()),
                None => match shared.store.generations(&config.namespaces).await {
                    Ok(generations) => Some(generations),
                    Err(error) => {
                        counters.store_error(&error);
                        None
                    }
                },
            }
        }
        Err(error) => {
            counters.store_error(&error);
            None
        }
    };

    Counters::add(&counters.misses, 1);
    let response = match inner.call(req).await {
        Ok(response) => response,
        Err(error) => {
            drop(leader);
            return match fallback {
                Some(stale) => Ok(serve_stale(&config, counters, stale, &ctx)),
                None => Err(error),
            };
        }
    };
    if response.status().is_server_error() {
        if let Some(stale) = fallback {
            drop(leader);
            return Ok(serve_stale(&config, counters, stale, &ctx));
        }
    }
    match fetch(&config, response, generations.is_some()).await {
        Fetched::Complete { cached, storable } => {
            let mut cached = cached;
            if let Some(generations) = generations {
                cached.envelope.generations = generations;
            }
            let cached = Arc::new(cached);
            leader.publish(Outcome::Shared(Arc::clone(&cached)));
            let stored = storable && store_entry(&config, shared, &key, &cached.envelope).await;
            // Dropping the leader after the write: a request that finds no flight finds the
            // entry.
            drop(leader);
            Ok(respond(
                &config,
                Arc::unwrap_or_clone(cached),
                &ctx,
                Label::Miss { fwd, stored },
                now_ms(),
            ))
        }
        Fetched::PassThrough(response) => {
            leader.publish(Outcome::NotShared);
            drop(leader);
            let status = miss_status(&config, fwd, response.status(), false);
            Ok(label(response, MISS, status))
        }
    }
}

/// A waiter whose leader could not share: call the service, keep nothing.
async fn forward<S, B, ResBody>(
    config: &Config,
    counters: &Counters,
    mut inner: S,
    req: Request<B>,
    fallback: Option<Cached>,
    fwd: &'static str,
    ctx: &RequestCtx,
) -> Result<Response<CacheBody<ResBody>>, S::Error>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: Body,
{
    match inner.call(req).await {
        Ok(response) => {
            if response.status().is_server_error() {
                if let Some(stale) = fallback {
                    return Ok(serve_stale(config, counters, stale, ctx));
                }
            }
            let status = miss_status(config, fwd, response.status(), false);
            Ok(pass_through(response, MISS, status))
        }
        Err(error) => match fallback {
            Some(stale) => Ok(serve_stale(config, counters, stale, ctx)),
            None => Err(error),
        },
    }
}

fn serve_stale<B: Body>(
    config: &Config,
    counters: &Counters,
    stale: Cached,
    ctx: &RequestCtx,
) -> Response<CacheBody<B>> {
    Counters::add(&counters.stale_hits, 1);
    respond(config, stale, ctx, Label::Stale("stale-if-error"), now_ms())
}

/// Refreshes an entry in the background while the stale one is served, unless a refresh (or a
/// miss) for the key is already running.
fn spawn_revalidation<S, B, ResBody>(
    config: Arc<Config>,
    handle: CacheHandle,
    mut inner: S,
    req: Request<B>,
    key: String,
) where
    S: Service<Request<B>, Response = Response<ResBody>> + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Send,
    ResBody::Error: Send + 'static,
{
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let Some(leader) = handle.shared.flights.try_lead(&key) else {
        return;
    };
    runtime.spawn(async move {
        let shared = &*handle.shared;
        let generations = match shared.store.generations(&config.namespaces).await {
            Ok(generations) => generations,
            Err(error) => {
                shared.counters.store_error(&error);
                return;
            }
        };
        Counters::add(&shared.counters.misses, 1);
        let Ok(response) = inner.call(req).await else {
            return;
        };
        if let Fetched::Complete {
            mut cached,
            storable: true,
        } = fetch(&config, response, true).await
        {
            cached.envelope.generations = generations;
            let cached = Arc::new(cached);
            leader.publish(Outcome::Shared(Arc::clone(&cached)));
            store_entry(&config, shared, &key, &cached.envelope).await;
        }
        drop(leader);
    });
}

enum Fetched<B: Body> {
    /// The whole body, buffered; `storable` when its status and directives allow storing.
    Complete { cached: Cached, storable: bool },
    /// A response the cache does not keep, passed through.
    PassThrough(Response<CacheBody<B>>),
}

/// Buffers a response the cache may keep (up to the maximum body) and builds its entry.
async fn fetch<B>(config: &Config, response: Response<B>, generations_known: bool) -> Fetched<B>
where
    B: Body,
{
    let (parts, body) = response.into_parts();
    if !policy::shareable(
        &parts.headers,
        config.principal.is_some(),
        config.keys.vary(),
    ) {
        return Fetched::PassThrough(Response::from_parts(parts, CacheBody::inner(body)));
    }
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let max = config.max_body as u64;
    if declared.is_some_and(|len| len > max) || body.size_hint().lower() > max {
        return Fetched::PassThrough(Response::from_parts(parts, CacheBody::inner(body)));
    }

    let mut body = Box::pin(body);
    let mut frames: VecDeque<Frame<Bytes>> = VecDeque::new();
    let mut size = 0usize;
    loop {
        match std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            None => break,
            Some(Ok(frame)) => {
                let frame = frame.map_data(|mut d| d.copy_to_bytes(d.remaining()));
                let keep = match frame.data_ref() {
                    Some(data) => {
                        size += data.len();
                        size <= config.max_body
                    }
                    // Trailers are not cached.
                    None => false,
                };
                frames.push_back(frame);
                if !keep {
                    return Fetched::PassThrough(Response::from_parts(
                        parts,
                        CacheBody::replay(frames, None, Some(body)),
                    ));
                }
            }
            Some(Err(error)) => {
                return Fetched::PassThrough(Response::from_parts(
                    parts,
                    CacheBody::replay(frames, Some(error), None),
                ));
            }
        }
    }

    let plain = match frames.len() {
        0 => Bytes::new(),
        1 => frames
            .pop_front()
            .and_then(|f| f.into_data().ok())
            .unwrap_or_default(),
        _ => {
            let mut all = BytesMut::with_capacity(size);
            for frame in frames {
                if let Some(data) = frame.data_ref() {
                    all.extend_from_slice(data);
                }
            }
            all.freeze()
        }
    };

    let mut headers = HeaderMap::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        if policy::stored_header(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    // The plain representation's length, stored so a hit does not render it.
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(plain.len()));
    let etag = etag_of(&plain);
    if !headers.contains_key(header::ETAG) {
        // Rendered once here rather than on every hit.
        headers.insert(header::ETAG, etag_header(&etag, false));
    }
    let already_encoded = parts.headers.contains_key(header::CONTENT_ENCODING);
    let (stored_body, compressed) = match config.compress_above {
        Some(threshold) if plain.len() >= threshold && !already_encoded => {
            match crate::envelope::compress(&plain, config.compression_level) {
                Ok(packed) if packed.len() < plain.len() => (Bytes::from(packed), true),
                _ => (plain.clone(), false),
            }
        }
        _ => (plain.clone(), false),
    };
    let storable = generations_known
        && config.statuses.contains(parts.status)
        && !policy::cache_control(&parts.headers).no_cache;
    let millis = |d: std::time::Duration| d.as_millis().min(u128::from(u64::MAX)) as u64;
    let envelope = Envelope {
        status: parts.status,
        headers,
        etag,
        plain_len: plain.len() as u64,
        body: stored_body,
        compressed,
        stored_at_ms: now_ms(),
        ttl_ms: millis(config.ttl),
        stale_while_revalidate_ms: millis(config.stale_while_revalidate),
        stale_if_error_ms: millis(config.stale_if_error),
        generations: Vec::new(),
    };
    Fetched::Complete {
        cached: Cached {
            envelope,
            plain: Some(plain),
        },
        storable,
    }
}

/// Writes an entry; whether it was stored. A failure is counted, never surfaced.
async fn store_entry(config: &Config, shared: &Shared, key: &str, envelope: &Envelope) -> bool {
    let bytes = envelope.encode();
    let len = bytes.len() as u64;
    let stored = match &shared.memory {
        // The in-process store keeps entries decoded: hand it this one rather than have it
        // decode the bytes again.
        Some(memory) => {
            let prepared = Prepared::from_encoded(envelope, &bytes);
            memory.insert_prepared(key, bytes, Some(prepared), config.store_ttl());
            Ok(())
        }
        None => shared.store.put(key, bytes, config.store_ttl()).await,
    };
    match stored {
        Ok(()) => {
            let counters = &shared.counters;
            Counters::add(&counters.bytes_stored, len);
            if envelope.compressed {
                let saved = envelope
                    .plain_len
                    .saturating_sub(envelope.body.len() as u64);
                Counters::add(&counters.bytes_saved_by_compression, saved);
            }
            true
        }
        Err(error) => {
            shared.counters.store_error(&error);
            false
        }
    }
}

fn header_value(s: String) -> HeaderValue {
    HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static("inframind"))
}

/// A small header value assembled on the stack: one allocation, for the value itself.
struct ValueBuf {
    buf: [u8; 128],
    len: usize,
}

impl ValueBuf {
    fn new() -> Self {
        Self {
            buf: [0; 128],
            len: 0,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let end = (self.len + bytes.len()).min(self.buf.len());
        self.buf[self.len..end].copy_from_slice(&bytes[..end - self.len]);
        self.len = end;
    }

    fn push_decimal(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    fn value(&self) -> HeaderValue {
        HeaderValue::from_bytes(&self.buf[..self.len])
            .unwrap_or(HeaderValue::from_static("inframind"))
    }
}

fn parse_decimal(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 19 {
        return None;
    }
    bytes.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

/// How many numbers [`DECIMALS`] spells out.
const DECIMAL_COUNT: usize = 4096;

/// The decimal text of 0..[`DECIMAL_COUNT`], back to back, and where each one ends.
struct Decimals {
    text: [u8; decimal_text_len(DECIMAL_COUNT)],
    ends: [u16; DECIMAL_COUNT],
}

const fn decimal_text_len(count: usize) -> usize {
    let (mut len, mut n) = (0, 0);
    while n < count {
        len += if n < 10 {
            1
        } else if n < 100 {
            2
        } else if n < 1000 {
            3
        } else {
            4
        };
        n += 1;
    }
    len
}

/// Built at compile time: a header value for a small number borrows it, with no allocation
/// and no reference count to touch.
static DECIMALS: Decimals = {
    let mut table = Decimals {
        text: [0; decimal_text_len(DECIMAL_COUNT)],
        ends: [0; DECIMAL_COUNT],
    };
    let (mut n, mut end) = (0, 0);
    while n < DECIMAL_COUNT {
        let mut digits = [0u8; 4];
        let (mut len, mut rest) = (0, n);
        loop {
            digits[len] = b'0' + (rest % 10) as u8;
            len += 1;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        while len > 0 {
            len -= 1;
            table.text[end] = digits[len];
            end += 1;
        }
        table.ends[n] = end as u16;
        n += 1;
    }
    table
};

/// A header value for a number: borrowed from [`DECIMALS`] when small, so serving it allocates
/// nothing and shares nothing.
fn small_number(n: u64) -> HeaderValue {
    let Some(i) = usize::try_from(n).ok().filter(|&i| i < DECIMAL_COUNT) else {
        return HeaderValue::from(n);
    };
    let start = match i {
        0 => 0,
        _ => usize::from(DECIMALS.ends[i - 1]),
    };
    let text: &'static [u8] = &DECIMALS.text[start..usize::from(DECIMALS.ends[i])];
    match std::str::from_utf8(text) {
        Ok(text) => HeaderValue::from_static(text),
        Err(_) => HeaderValue::from(n),
    }
}

/// `{name}; hit; ttl={ttl}` for a fresh entry, from the layer's table when it fits.
fn fresh_status(config: &Config, ttl: u64) -> HeaderValue {
    match usize::try_from(ttl)
        .ok()
        .and_then(|i| config.hit_statuses.get(i))
    {
        Some(slot) => slot.get_or_init(|| hit_status(config, ttl, None)).clone(),
        None => hit_status(config, ttl, None),
    }
}

/// `{name}; hit; ttl={ttl}` (negative for a stale entry), without the formatting machinery.
fn hit_status(config: &Config, ttl: u64, stale: Option<&str>) -> HeaderValue {
    let mut out = ValueBuf::new();
    out.push(config.status_name.as_bytes());
    out.push(b"; hit; ttl=");
    if stale.is_some() {
        out.push(b"-");
    }
    out.push_decimal(ttl);
    if let Some(detail) = stale {
        out.push(b"; detail=");
        out.push(detail.as_bytes());
    }
    out.value()
}

fn miss_status(config: &Config, fwd: &str, status: StatusCode, stored: bool) -> HeaderValue {
    let stored = if stored { "; stored" } else { "" };
    header_value(format!(
        "{}; fwd={fwd}; fwd-status={}{stored}",
        config.status_name,
        status.as_u16()
    ))
}

fn label<B>(
    mut response: Response<B>,
    x_cache: HeaderValue,
    cache_status: HeaderValue,
) -> Response<B> {
    let headers = response.headers_mut();
    headers.insert(X_CACHE, x_cache);
    headers.append(CACHE_STATUS, cache_status);
    response
}

fn pass_through<B: Body>(
    response: Response<B>,
    x_cache: HeaderValue,
    cache_status: HeaderValue,
) -> Response<CacheBody<B>> {
    label(response.map(CacheBody::inner), x_cache, cache_status)
}

pub(crate) fn etag_header(etag: &[u8; 16], zstd: bool) -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = ValueBuf::new();
    out.push(b"\"");
    for byte in etag {
        out.push(&[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 15)]]);
    }
    if zstd {
        out.push(b"-zstd");
    }
    out.push(b"\"");
    out.value()
}

/// Builds the client's response from an entry.
fn respond<B: Body>(
    config: &Config,
    cached: Cached,
    ctx: &RequestCtx,
    label: Label,
    now: u64,
) -> Response<CacheBody<B>> {
    let Cached { envelope, plain } = cached;
    let mut headers = envelope.headers;
    let raw_zstd = envelope.compressed && (ctx.accepts_zstd || plain.is_none());
    let body = if raw_zstd {
        headers.insert(header::CONTENT_ENCODING, ZSTD);
        envelope.body
    } else {
        plain.unwrap_or_default()
    };
    if envelope.compressed {
        headers.append(header::VARY, ACCEPT_ENCODING);
    }
    match headers.get(header::ETAG) {
        None => {
            headers.insert(header::ETAG, etag_header(&envelope.etag, raw_zstd));
        }
        // The zstd representation gets its own strong validator, when the tag is ours.
        Some(tag) if raw_zstd && tag == etag_header(&envelope.etag, false) => {
            headers.insert(header::ETAG, etag_header(&envelope.etag, true));
        }
        Some(_) => {}
    }
    let not_modified = envelope.status == StatusCode::OK
        && ctx.if_none_match.as_ref().is_some_and(|inm| {
            headers
                .get(header::ETAG)
                .is_some_and(|tag| policy::none_match(inm, tag.as_bytes()))
        });
    let age_ms = now.saturating_sub(envelope.stored_at_ms);
    let (x_cache, cache_status) = match label {
        Label::Hit => {
            headers.insert(header::AGE, small_number(age_ms / 1000));
            let ttl = envelope.ttl_ms.saturating_sub(age_ms) / 1000;
            (HIT, fresh_status(config, ttl))
        }
        Label::Stale(detail) => {
            headers.insert(header::AGE, small_number(age_ms / 1000));
            let over = age_ms.saturating_sub(envelope.ttl_ms) / 1000;
            (STALE, hit_status(config, over, Some(detail)))
        }
        Label::Miss { fwd, stored } => (MISS, miss_status(config, fwd, envelope.status, stored)),
        Label::Collapsed => (
            MISS,
            header_value(format!(
                "{}; fwd=uri-miss; fwd-status={}; collapsed",
                config.status_name,
                envelope.status.as_u16()
            )),
        ),
    };
    headers.insert(X_CACHE, x_cache);
    headers.append(CACHE_STATUS, cache_status);
    let (status, body) = if not_modified {
        headers.remove(header::CONTENT_LENGTH);
        (StatusCode::NOT_MODIFIED, CacheBody::empty())
    } else {
        let stored = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| parse_decimal(v.as_bytes()))
            == Some(body.len() as u64);
        if !stored {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        (envelope.status, CacheBody::full(body))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_numbers_spell_themselves() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            999,
            1000,
            4095,
            4096,
            123_456,
            u64::MAX,
        ] {
            assert_eq!(small_number(n), HeaderValue::from(n), "{n}");
        }
    }
}
