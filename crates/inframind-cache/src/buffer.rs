//! Buffering a response the cache may keep, and building its entry.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};
use http::Response;
use http::header::{self, HeaderMap, HeaderValue};
use http_body::{Body, Frame};

use crate::body::CacheBody;
use crate::config::Config;
use crate::entry::Cached;
use crate::envelope::{Envelope, etag_of};
use crate::headers::{etag_header, http_date};
use crate::policy;
use crate::store::now_ms;

pub(crate) enum Fetched<B: Body> {
    /// The whole body, buffered; `storable` when its status and directives allow storing.
    /// `extensions` are the inner response's, for the response the leader itself returns
    /// (never stored).
    Complete {
        cached: Cached,
        storable: bool,
        extensions: http::Extensions,
    },
    /// A response the cache does not keep, passed through.
    PassThrough(Response<CacheBody<B>>),
}

/// Buffers a body the cache may keep, up to `max_body` bytes (trailers are not kept). A larger
/// (declared or actual) or failing one comes back to be passed through, with what was read so
/// far replayed first.
pub(crate) async fn buffer_body<B: Body>(
    max_body: usize,
    headers: &HeaderMap,
    body: B,
) -> Result<Bytes, CacheBody<B>> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let max = max_body as u64;
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
                        size <= max_body
                    }
                    // Trailers are not cached.
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
    Ok(match frames.len() {
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
    })
}

/// Buffers a response the cache may keep (up to the maximum body) and builds its entry.
pub(crate) async fn fetch<B>(
    config: &Config,
    response: Response<B>,
    generations_known: bool,
) -> Fetched<B>
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
    let plain = match buffer_body(config.max_body, &parts.headers, body).await {
        Ok(plain) => plain,
        Err(body) => return Fetched::PassThrough(Response::from_parts(parts, body)),
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
    let now = now_ms();
    let freshness = freshness(config, &parts.headers, now);
    let storable = generations_known
        && config.statuses.contains(parts.status)
        && !freshness.no_cache
        // Already stale when it arrives: worth storing only for a stale window.
        && (freshness.ttl_ms > 0
            || freshness.stale_while_revalidate_ms > 0
            || freshness.stale_if_error_ms > 0);
    let envelope = Envelope {
        status: parts.status,
        headers,
        etag,
        plain_len: plain.len() as u64,
        body: stored_body,
        compressed,
        stored_at_ms: now,
        ttl_ms: freshness.ttl_ms,
        stale_while_revalidate_ms: freshness.stale_while_revalidate_ms,
        stale_if_error_ms: freshness.stale_if_error_ms,
        generations: Vec::new(),
    };
    Fetched::Complete {
        cached: Cached {
            envelope,
            plain: Some(plain),
        },
        extensions: parts.extensions,
        storable,
    }
}

/// How long a response stays fresh and may be served stale, from its own directives and the
/// layer's settings.
struct Freshness {
    ttl_ms: u64,
    stale_while_revalidate_ms: u64,
    stale_if_error_ms: u64,
    no_cache: bool,
}

/// RFC 9111 §4.2.1 for a shared cache: `s-maxage`, else `max-age`, else `Expires` (against
/// `Date`, else now) bound the freshness lifetime, less the response's `Age`; the layer's TTL
/// is the default and the ceiling. RFC 5861's `stale-while-revalidate=N` and
/// `stale-if-error=N` on the response replace the layer's windows, and `must-revalidate` or
/// `proxy-revalidate` closes them.
fn freshness(config: &Config, headers: &HeaderMap, now_ms: u64) -> Freshness {
    let millis = |d: std::time::Duration| d.as_millis().min(u128::from(u64::MAX)) as u64;
    let cc = policy::cache_control(headers);
    let layer_ttl = millis(config.ttl);
    let origin_ttl = cc
        .s_maxage
        .or(cc.max_age)
        .map(|s| s.saturating_mul(1000))
        .or_else(|| {
            let expires = headers.get(header::EXPIRES)?;
            // An Expires that does not parse (such as `0`) means already expired.
            let Some(expires) = http_date(expires.as_bytes()) else {
                return Some(0);
            };
            let date = headers
                .get(header::DATE)
                .and_then(|d| http_date(d.as_bytes()))
                .unwrap_or(now_ms / 1000);
            Some(expires.saturating_sub(date).saturating_mul(1000))
        });
    // Time the response already spent in caches upstream (RFC 9111 §4.2.3) comes off what
    // the origin allowed.
    let upstream_age = headers
        .get(header::AGE)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        .unwrap_or(0)
        .saturating_mul(1000);
    let origin_ttl = origin_ttl.map(|ttl| ttl.saturating_sub(upstream_age));
    // `must-revalidate` / `proxy-revalidate`: never served stale (RFC 9111 §5.2.2.2).
    let window = |directive: Option<u64>, layer: std::time::Duration| match cc.must_revalidate {
        true => 0,
        false => directive.map_or(millis(layer), |s| s.saturating_mul(1000)),
    };
    Freshness {
        ttl_ms: origin_ttl.map_or(layer_ttl, |ttl| ttl.min(layer_ttl)),
        stale_while_revalidate_ms: window(cc.stale_while_revalidate, config.stale_while_revalidate),
        stale_if_error_ms: window(cc.stale_if_error, config.stale_if_error),
        no_cache: cc.no_cache,
    }
}
