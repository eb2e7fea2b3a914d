//! The origin-driven mode ([`CacheLayerBuilder::origin_driven`](crate::CacheLayerBuilder::origin_driven)):
//! the layer acts as an RFC 9111 shared cache in front of a service it does not own. The
//! response decides what is stored and for how long; stale entries are validated with a
//! conditional request and updated from a `304`; `Vary` selects among stored variants;
//! unsafe methods invalidate.
//!
//! Single flight and the store's in-process hit fast path are not used in this mode: each
//! request reads the store and judges the entry against its own directives.

mod rules;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use tower_service::Service;

use crate::body::CacheBody;
use crate::config::Config;
use crate::envelope::{Envelope, etag_of};
use crate::handle::{CacheHandle, Counters, Shared};
use crate::headers::{CACHE_STATUS, HIT, MISS, STALE, X_CACHE, small_number};
use crate::key::Scope;
use crate::miss::{current_generations, lookup_namespaces, scope_unchanged};
use crate::policy;
use crate::store::{PutOutcome, now_ms};

use rules::{RequestDirectives, ResponseDirectives};

/// How long the store keeps an entry past its freshness (and stale windows): to validate it
/// with a conditional request, for `max-stale`, and to answer when the origin cannot be
/// reached.
pub(crate) const STALE_RETENTION: Duration = Duration::from_secs(60 * 60);

/// The stored header that records which variant (the request header values its `Vary`
/// names) an entry answers; never sent to clients.
const VARIANT: HeaderName = HeaderName::from_static("x-inframind-variant");

/// An entry read from the store, with the key it lives under.
struct Stored {
    key: String,
    envelope: Envelope,
}

/// A GET or HEAD request in the origin-driven mode.
pub(crate) async fn run<S, B, ResBody>(
    config: Arc<Config>,
    handle: CacheHandle,
    inner: S,
    req: Request<B>,
) -> Result<Response<CacheBody<ResBody>>, S::Error>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Send,
    ResBody::Error: Send + 'static,
{
    let shared = &*handle.shared;
    let counters = &shared.counters;
    let directives = RequestDirectives::parse(req.headers());
    let key = config.keys.key_inline(&req, None).into_string();
    let scope = config.keys.scope(&req);
    let namespaces = lookup_namespaces(&config, None, Some(&scope));
    let found = lookup(shared, &key, &namespaces, req.headers()).await;
    let authorized = req.headers().contains_key(header::AUTHORIZATION);
    let conditional = Conditional::of(req.headers());
    let head = req.method() == Method::HEAD;

    let mut stale = None;
    if let Some(stored) = found {
        let now = now_ms();
        let cc = ResponseDirectives::parse(&stored.envelope.headers, &config.targets);
        let age_ms = now.saturating_sub(stored.envelope.stored_at_ms);
        let lifetime_ms = stored.envelope.ttl_ms;
        let fresh = age_ms < lifetime_ms;
        // RFC 9111 §3.5: a response to an authenticated request is shared only when it says so.
        let may_share = !authorized || cc.public || cc.must_revalidate || cc.s_maxage.is_some();
        let validate = cc.no_cache || directives.no_cache || !may_share;
        let acceptable_age = directives
            .max_age
            .is_none_or(|max| age_ms < max.saturating_add(1).saturating_mul(1000));
        let fresh_enough = directives
            .min_fresh
            .is_none_or(|min| lifetime_ms.saturating_sub(age_ms) >= min.saturating_mul(1000));
        if !validate && fresh && acceptable_age && fresh_enough {
            Counters::add(&counters.hits, 1);
            return Ok(serve(
                &config,
                stored.envelope,
                age_ms,
                &conditional,
                head,
                HIT,
                "hit",
            ));
        }
        let over_ms = age_ms.saturating_sub(lifetime_ms);
        // `s-maxage` carries `proxy-revalidate` for a shared cache (RFC 9111 §5.2.2.10).
        let may_go_stale = !validate && !cc.must_revalidate && cc.s_maxage.is_none();
        let stale_allowed = !fresh
            && may_go_stale
            && acceptable_age
            && directives
                .max_stale
                .is_some_and(|max| max.is_none_or(|m| over_ms <= m.saturating_mul(1000)));
        if stale_allowed {
            Counters::add(&counters.stale_hits, 1);
            let status = "hit; detail=max-stale";
            return Ok(serve(
                &config,
                stored.envelope,
                age_ms,
                &conditional,
                head,
                STALE,
                status,
            ));
        }
        // RFC 5861: within its stale-while-revalidate window, the entry answers while one
        // background request validates it.
        let revalidate_in_background = !fresh
            && may_go_stale
            && acceptable_age
            && over_ms < stored.envelope.stale_while_revalidate_ms;
        if revalidate_in_background {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                Counters::add(&counters.stale_hits, 1);
                let response = serve(
                    &config,
                    stored.envelope.clone(),
                    age_ms,
                    &conditional,
                    head,
                    STALE,
                    "hit; detail=stale-while-revalidate",
                );
                // One validation at a time per key; requests meanwhile get the stale entry.
                if let Some(leader) = shared.flights.try_lead(&key) {
                    Counters::add(&counters.misses, 1);
                    // The background validation is a plain GET, whatever this request was.
                    let mut background = req;
                    *background.method_mut() = Method::GET;
                    let task = forward(Forward {
                        config: Arc::clone(&config),
                        handle: handle.clone(),
                        inner,
                        req: background,
                        stale: Some(stored),
                        may_go_stale: false,
                        directives: RequestDirectives::default(),
                        conditional: Conditional::none(),
                        head: false,
                        key,
                        scope,
                    });
                    runtime.spawn(async move {
                        let _ = task.await;
                        drop(leader);
                    });
                }
                return Ok(response);
            }
        }
        stale = Some((stored, may_go_stale));
    }
    let stale_permitted = stale.as_ref().is_some_and(|(_, permitted)| *permitted);
    if directives.only_if_cached {
        // RFC 9111 §5.2.1.7: nothing stored that may answer.
        let mut response = Response::new(CacheBody::empty());
        *response.status_mut() = StatusCode::GATEWAY_TIMEOUT;
        return Ok(label(
            response,
            MISS,
            status_value(&config, "fwd=miss; detail=only-if-cached"),
        ));
    }

    Counters::add(&counters.misses, 1);
    forward(Forward {
        config,
        handle: handle.clone(),
        inner,
        req,
        stale: stale.map(|(stored, _)| stored),
        may_go_stale: stale_permitted,
        directives,
        conditional,
        head,
        key,
        scope,
    })
    .await
}

/// A request the stored entries could not answer, on its way to the origin.
struct Forward<S, B> {
    config: Arc<Config>,
    handle: CacheHandle,
    inner: S,
    req: Request<B>,
    /// The stale entry, validated with this request when it has a validator.
    stale: Option<Stored>,
    /// Whether the stale entry may answer if the origin cannot be reached.
    may_go_stale: bool,
    directives: RequestDirectives,
    conditional: Conditional,
    head: bool,
    key: String,
    scope: Scope,
}

/// Sends the request (conditional when a stale entry has validators), updates the entry from
/// a `304`, stores a storable response, or serves the stale entry when the origin fails and
/// that is allowed.
async fn forward<S, B, ResBody>(
    forward: Forward<S, B>,
) -> Result<Response<CacheBody<ResBody>>, S::Error>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Send,
    ResBody::Error: Send + 'static,
{
    let Forward {
        config,
        handle,
        mut inner,
        mut req,
        mut stale,
        may_go_stale,
        directives,
        conditional,
        head,
        key,
        scope,
    } = forward;
    let shared = &*handle.shared;
    let counters = &shared.counters;
    let validating = match &stale {
        Some(stored) => add_validators(&mut req, &stored.envelope.headers),
        None => false,
    };
    let method = req.method().clone();
    let request_headers = req.headers().clone();
    let request_ms = now_ms();
    let response = match inner.call(req).await {
        Ok(response) => response,
        Err(error) => {
            // RFC 9111 §4.2.4: a cache that cannot reach the origin may serve stale, unless
            // the response or the request forbade it.
            return match stale.filter(|_| may_go_stale) {
                Some(stored) => Ok(serve_stale_as(
                    &config,
                    stored,
                    &conditional,
                    head,
                    "stale-if-disconnected",
                )),
                None => Err(error),
            };
        }
    };
    let response_ms = now_ms();
    if response.status().is_server_error() {
        if let Some(stored) =
            stale.take_if(|s| may_go_stale && stale_if_error(&s.envelope, response_ms))
        {
            return Ok(serve_stale_as(
                &config,
                stored,
                &conditional,
                head,
                "stale-if-error",
            ));
        }
    }
    if validating && response.status() == StatusCode::NOT_MODIFIED {
        if let Some(stored) = stale {
            let (parts, _) = response.into_parts();
            let updated = refreshed(&config, stored, &parts.headers, request_ms, response_ms);
            let envelope = updated.envelope.clone();
            store(&config, shared, &updated, &scope).await;
            let age_ms = now_ms().saturating_sub(envelope.stored_at_ms);
            return Ok(serve(
                &config,
                envelope,
                age_ms,
                &conditional,
                head,
                HIT,
                "fwd=stale; fwd-status=304",
            ));
        }
    }
    let fwd = if stale.is_some() {
        "fwd=stale"
    } else {
        "fwd=uri-miss"
    };
    let response_directives = ResponseDirectives::parse(response.headers(), &config.targets);
    let keep = !head
        && rules::storable(
            &method,
            &directives,
            &request_headers,
            response.status(),
            response.headers(),
            &response_directives,
        );
    if !keep {
        if response.status().is_success() && !head && method == Method::GET {
            // A response that may not be kept replaces nothing: drop what it supersedes.
            if let Some(stored) = &stale {
                if let Err(error) = shared.store.delete(&stored.key).await {
                    counters.store_error(&error);
                }
            }
        }
        return Ok(label(
            response.map(CacheBody::inner),
            MISS,
            status_value(&config, fwd),
        ));
    }
    let (parts, body) = response.into_parts();
    let plain = match buffer(&config, &parts.headers, body).await {
        Ok(plain) => plain,
        Err(body) => {
            let response = Response::from_parts(parts, body);
            return Ok(label(response, MISS, status_value(&config, fwd)));
        }
    };
    let timing = rules::timing(
        parts.status,
        &parts.headers,
        &response_directives,
        request_ms,
        response_ms,
    );
    let mut headers = rules::stored_headers(&parts.headers);
    let variant_key = match rules::vary_names(&headers) {
        Some(names) if !names.is_empty() => {
            let digest = rules::variant_digest(&names, &request_headers);
            headers.insert(VARIANT, hex_value(&digest));
            Some(variant_key(&key, &digest))
        }
        _ => None,
    };
    let (swr, sie) = windows(&response_directives);
    let envelope = Envelope {
        status: parts.status,
        headers,
        etag: etag_of(&plain),
        plain_len: plain.len() as u64,
        body: plain.clone(),
        compressed: false,
        stored_at_ms: timing.born_ms,
        ttl_ms: timing.lifetime_ms,
        stale_while_revalidate_ms: swr,
        stale_if_error_ms: sie,
        generations: Vec::new(),
    };
    let mut entry = Stored {
        key: key.clone(),
        envelope,
    };
    let stored = store(&config, shared, &entry, &scope).await;
    if let Some(variant_key) = variant_key {
        entry.key = variant_key;
        store(&config, shared, &entry, &scope).await;
    }
    let status = if stored {
        format!("{fwd}; stored")
    } else {
        fwd.to_owned()
    };
    let response = Response::from_parts(parts, CacheBody::full(plain));
    Ok(label(response, MISS, status_value(&config, &status)))
}

/// The entry for this request, if any: the one under its key when that variant matches the
/// request's headers, else the variant its `Vary` selects.
async fn lookup(
    shared: &Shared,
    key: &str,
    namespaces: &[Arc<str>],
    request: &HeaderMap,
) -> Option<Stored> {
    let primary = read(shared, key, namespaces).await?;
    let names = rules::vary_names(&primary.headers)?;
    if names.is_empty() {
        return Some(Stored {
            key: key.to_owned(),
            envelope: primary,
        });
    }
    let digest = rules::variant_digest(&names, request);
    if primary.headers.get(VARIANT) == Some(&hex_value(&digest)) {
        return Some(Stored {
            key: key.to_owned(),
            envelope: primary,
        });
    }
    let key = variant_key(key, &digest);
    let envelope = read(shared, &key, namespaces).await?;
    let names = rules::vary_names(&envelope.headers)?;
    let digest = rules::variant_digest(&names, request);
    (envelope.headers.get(VARIANT) == Some(&hex_value(&digest))).then_some(Stored { key, envelope })
}

/// The valid entry under `key`; a corrupt one is deleted.
async fn read(shared: &Shared, key: &str, namespaces: &[Arc<str>]) -> Option<Envelope> {
    let counters = &shared.counters;
    let lookup = match counters
        .get_latency
        .time(shared.store.get(key, namespaces))
        .await
    {
        Ok(lookup) => lookup,
        Err(error) => {
            counters.store_error(&error);
            return None;
        }
    };
    let value = lookup.value?;
    let generations = lookup.generations?;
    match Envelope::decode_expecting(&value, &generations) {
        Ok(Some(envelope)) => {
            let plain = envelope.plain_body().ok()?;
            if etag_of(&plain) != envelope.etag {
                Counters::add(&counters.corrupt_entries, 1);
                return None;
            }
            Some(Envelope {
                body: plain,
                compressed: false,
                ..envelope
            })
        }
        Ok(None) => None,
        Err(_) => {
            Counters::add(&counters.corrupt_entries, 1);
            if let Err(error) = shared.store.delete(key).await {
                counters.store_error(&error);
            }
            None
        }
    }
}

/// The key of the variant `digest` names, beside the primary key (same namespace).
fn variant_key(key: &str, digest: &[u8; 32]) -> String {
    let namespace = key.rsplit_once(':').map_or(key, |(namespace, _)| namespace);
    let mut hasher = blake3::Hasher::new();
    hasher.update(key.as_bytes());
    hasher.update(digest);
    format!("{namespace}:{}", hasher.finalize().to_hex())
}

fn hex_value(digest: &[u8; 32]) -> HeaderValue {
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::try_from(hex).unwrap_or(HeaderValue::from_static("0"))
}

/// RFC 5861's windows from the response's own directives (closed by `must-revalidate`).
fn windows(directives: &ResponseDirectives) -> (u64, u64) {
    if directives.must_revalidate || directives.no_cache {
        return (0, 0);
    }
    let ms = |s: Option<u64>| s.unwrap_or(0).saturating_mul(1000);
    (
        ms(directives.stale_while_revalidate),
        ms(directives.stale_if_error),
    )
}

/// Whether a stale entry may answer in place of an origin that failed.
/// Whether a stale entry is within its `stale-if-error` window.
fn stale_if_error(envelope: &Envelope, now: u64) -> bool {
    let age = now.saturating_sub(envelope.stored_at_ms);
    age < envelope.ttl_ms.saturating_add(envelope.stale_if_error_ms)
}

fn serve_stale_as<B: Body>(
    config: &Config,
    stored: Stored,
    conditional: &Conditional,
    head: bool,
    why: &str,
) -> Response<CacheBody<B>> {
    let age = now_ms().saturating_sub(stored.envelope.stored_at_ms);
    serve(
        config,
        stored.envelope,
        age,
        conditional,
        head,
        STALE,
        &format!("hit; detail={why}"),
    )
}

/// Puts the stored entry's validators on the request (replacing the client's own, which the
/// cache answers itself); `false` when the entry has none.
fn add_validators<B>(req: &mut Request<B>, stored: &HeaderMap) -> bool {
    let etag = stored.get(header::ETAG).cloned();
    let modified = stored.get(header::LAST_MODIFIED).cloned();
    if etag.is_none() && modified.is_none() {
        return false;
    }
    let headers = req.headers_mut();
    for name in [
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        header::IF_MATCH,
        header::IF_UNMODIFIED_SINCE,
        header::IF_RANGE,
        header::RANGE,
    ] {
        headers.remove(name);
    }
    if let Some(etag) = etag {
        headers.insert(header::IF_NONE_MATCH, etag);
    }
    if let Some(modified) = modified {
        headers.insert(header::IF_MODIFIED_SINCE, modified);
    }
    true
}

/// The stored entry, its headers updated from a `304` and its age and freshness recomputed
/// from the validation's timing.
fn refreshed(
    config: &Config,
    stored: Stored,
    not_modified: &HeaderMap,
    request_ms: u64,
    response_ms: u64,
) -> Stored {
    let Stored { key, mut envelope } = stored;
    rules::update_from_304(&mut envelope.headers, not_modified);
    let mut timed = envelope.headers.clone();
    timed.remove(header::AGE);
    if let Some(age) = not_modified.get(header::AGE) {
        timed.insert(header::AGE, age.clone());
    }
    let directives = ResponseDirectives::parse(&envelope.headers, &config.targets);
    let timing = rules::timing(
        envelope.status,
        &timed,
        &directives,
        request_ms,
        response_ms,
    );
    let (swr, sie) = windows(&directives);
    envelope.stored_at_ms = timing.born_ms;
    envelope.ttl_ms = timing.lifetime_ms;
    envelope.stale_while_revalidate_ms = swr;
    envelope.stale_if_error_ms = sie;
    Stored { key, envelope }
}

/// Writes an entry under the current generations of its namespaces and path scope; whether
/// it was stored. Failures are counted, never surfaced.
async fn store(config: &Config, shared: &Shared, entry: &Stored, scope: &Scope) -> bool {
    let Some(generations) = current_generations(config, shared, None, Some(scope)).await else {
        return false;
    };
    let mut envelope = entry.envelope.clone();
    envelope.generations = generations;
    let directives = ResponseDirectives::parse(&envelope.headers, &config.targets);
    if (directives.no_store && !directives.must_understand) || directives.private {
        // A 304 may turn an entry unstorable.
        if let Err(error) = shared.store.delete(&entry.key).await {
            shared.counters.store_error(&error);
        }
        return false;
    }
    let now = now_ms();
    let left = envelope
        .stored_at_ms
        .saturating_add(envelope.ttl_ms)
        .saturating_add(
            envelope
                .stale_while_revalidate_ms
                .max(envelope.stale_if_error_ms),
        )
        .saturating_sub(now);
    let keep_ms = left.saturating_add(STALE_RETENTION.as_millis() as u64);
    if keep_ms == 0 {
        return false;
    }
    if !scope_unchanged(shared, Some(scope), &envelope.generations, &envelope).await {
        return false;
    }
    if let Some(threshold) = config.compress_above {
        let already_encoded = envelope.headers.contains_key(header::CONTENT_ENCODING);
        if envelope.body.len() >= threshold && !already_encoded {
            if let Ok(packed) = crate::envelope::compress(&envelope.body, config.compression_level)
            {
                if packed.len() < envelope.body.len() {
                    envelope.body = Bytes::from(packed);
                    envelope.compressed = true;
                }
            }
        }
    }
    let bytes = envelope.encode();
    let len = bytes.len() as u64;
    let put = shared
        .store
        .put_entry(&entry.key, bytes, &envelope, Duration::from_millis(keep_ms));
    match shared.counters.put_latency.time(put).await {
        Ok(PutOutcome::Stored) => {
            Counters::add(&shared.counters.bytes_stored, len);
            true
        }
        Ok(_) => false,
        Err(error) => {
            shared.counters.store_error(&error);
            false
        }
    }
}

/// Buffers a body the cache may keep, up to the layer's largest; a larger (or failing) one
/// comes back to be passed through, with what was read so far replayed first.
async fn buffer<B: Body>(
    config: &Config,
    headers: &HeaderMap,
    body: B,
) -> Result<Bytes, CacheBody<B>> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let max = config.max_body as u64;
    if declared.is_some_and(|len| len > max) || body.size_hint().lower() > max {
        return Err(CacheBody::inner(body));
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
                    None => false,
                };
                frames.push_back(frame);
                if !keep {
                    return Err(CacheBody::replay(frames, None, Some(body)));
                }
            }
            Some(Err(error)) => return Err(CacheBody::replay(frames, Some(error), None)),
        }
    }
    let mut all = BytesMut::with_capacity(size);
    for frame in frames {
        if let Some(data) = frame.data_ref() {
            all.extend_from_slice(data);
        }
    }
    Ok(all.freeze())
}

/// A request's own conditional, answered from a stored `200`.
struct Conditional {
    if_none_match: Option<HeaderValue>,
    if_modified_since: Option<u64>,
    /// A single `bytes` range the stored response can answer (without `If-Range`).
    range: Option<ByteRange>,
}

/// `bytes=first-last`, `bytes=first-` or `bytes=-suffix` (RFC 9110 §14.1.2).
#[derive(Clone, Copy)]
enum ByteRange {
    From(u64, Option<u64>),
    Suffix(u64),
}

impl ByteRange {
    fn parse(headers: &HeaderMap) -> Option<Self> {
        if headers.contains_key(header::IF_RANGE) {
            return None;
        }
        let mut values = headers.get_all(header::RANGE).iter();
        let value = values.next()?.to_str().ok()?;
        if values.next().is_some() {
            return None;
        }
        let spec = value.trim().strip_prefix("bytes=")?.trim();
        if spec.contains(',') {
            // Several ranges: the whole representation answers them (RFC 9110 §14.2).
            return None;
        }
        let (first, last) = spec.split_once('-')?;
        let number = |s: &str| -> Option<u64> {
            let s = s.trim();
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        if first.trim().is_empty() {
            return number(last).map(Self::Suffix);
        }
        let first = number(first)?;
        let last = if last.trim().is_empty() {
            None
        } else {
            Some(number(last)?)
        };
        if last.is_some_and(|l| l < first) {
            return None;
        }
        Some(Self::From(first, last))
    }

    /// The inclusive byte offsets this range selects from `len` bytes, if satisfiable.
    fn within(self, len: u64) -> Option<(u64, u64)> {
        match self {
            Self::From(first, _) if first >= len => None,
            Self::From(first, last) => Some((first, last.map_or(len - 1, |l| l.min(len - 1)))),
            Self::Suffix(0) => None,
            Self::Suffix(_) if len == 0 => None,
            Self::Suffix(n) => Some((len.saturating_sub(n), len - 1)),
        }
    }
}

impl Conditional {
    fn none() -> Self {
        Self {
            if_none_match: None,
            if_modified_since: None,
            range: None,
        }
    }

    fn of(headers: &HeaderMap) -> Self {
        Self {
            if_none_match: headers.get(header::IF_NONE_MATCH).cloned(),
            if_modified_since: headers.get(header::IF_MODIFIED_SINCE).and_then(rules::date),
            range: ByteRange::parse(headers),
        }
    }

    fn not_modified(&self, stored: &HeaderMap) -> bool {
        match &self.if_none_match {
            Some(inm) => stored
                .get(header::ETAG)
                .is_some_and(|tag| policy::none_match(inm, tag.as_bytes())),
            // Without `Last-Modified`, the stored `Date` is the latest the response can have
            // changed (RFC 9110 §13.1.3).
            None => self.if_modified_since.is_some_and(|since| {
                stored
                    .get(header::LAST_MODIFIED)
                    .or_else(|| stored.get(header::DATE))
                    .and_then(rules::date)
                    .is_some_and(|modified| modified <= since)
            }),
        }
    }
}

/// The client's response from a stored entry `age_ms` old.
fn serve<B: Body>(
    config: &Config,
    envelope: Envelope,
    age_ms: u64,
    conditional: &Conditional,
    head: bool,
    x_cache: HeaderValue,
    status: &str,
) -> Response<CacheBody<B>> {
    let mut headers = envelope.headers;
    headers.remove(VARIANT);
    headers.insert(header::AGE, small_number(age_ms / 1000));
    let (code, body) = if envelope.status == StatusCode::OK && conditional.not_modified(&headers) {
        headers.remove(header::CONTENT_LENGTH);
        (StatusCode::NOT_MODIFIED, CacheBody::empty())
    } else if let Some((first, last)) = conditional
        .range
        .filter(|_| envelope.status == StatusCode::OK)
        .and_then(|range| range.within(envelope.body.len() as u64))
    {
        let len = envelope.body.len();
        let part = envelope.body.slice(first as usize..=last as usize);
        if let Ok(value) = HeaderValue::try_from(format!("bytes {first}-{last}/{len}")) {
            headers.insert(header::CONTENT_RANGE, value);
        }
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(part.len()));
        let body = if head {
            CacheBody::empty()
        } else {
            CacheBody::full(part)
        };
        (StatusCode::PARTIAL_CONTENT, body)
    } else {
        headers.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(envelope.body.len()),
        );
        if head {
            (envelope.status, CacheBody::empty())
        } else {
            (envelope.status, CacheBody::full(envelope.body))
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = code;
    *response.headers_mut() = headers;
    label(response, x_cache, status_value(config, status))
}

fn status_value(config: &Config, detail: &str) -> HeaderValue {
    HeaderValue::try_from(format!("{}; {detail}", config.status_name))
        .unwrap_or(HeaderValue::from_static("inframind"))
}

fn label<B>(mut response: Response<B>, x_cache: HeaderValue, status: HeaderValue) -> Response<B> {
    let headers = response.headers_mut();
    headers.insert(X_CACHE, x_cache);
    headers.append(CACHE_STATUS, status);
    response
}
