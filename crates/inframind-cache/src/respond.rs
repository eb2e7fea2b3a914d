//! The respond stage: a client's response from an entry, answering its own conditionals.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use http_body::Body;

use crate::body::CacheBody;
use crate::config::Config;
use crate::entry::Cached;
use crate::headers::{
    ACCEPT_ENCODING, CACHE_STATUS, Fwd, HIT, MISS, STALE, Storing, X_CACHE, ZSTD, etag_header,
    forward_status, hit_status, http_date, parse_decimal, small_number,
};
use crate::policy;

/// What the response to one request depends on besides the entry: its own conditionals, its
/// method and its encodings. (A shared fill never forwards them; each request's are answered
/// here, from the whole response.)
#[derive(Clone)]
pub(crate) struct RequestCtx {
    pub(crate) accepts_zstd: bool,
    pub(crate) if_none_match: Option<HeaderValue>,
    /// `If-Modified-Since`, in seconds since the epoch (ignored when `If-None-Match` is sent,
    /// as RFC 9110 §13.1.3 says).
    pub(crate) if_modified_since: Option<u64>,
    /// A HEAD request: the stored GET response's head, without its body.
    pub(crate) head_only: bool,
    /// The request asked for a response from the origin, and the layer honours that.
    pub(crate) wants_fresh: bool,
}

impl RequestCtx {
    pub(crate) fn new(method: &Method, headers: &HeaderMap) -> Self {
        Self {
            accepts_zstd: policy::accepts_zstd(headers),
            if_none_match: headers.get(header::IF_NONE_MATCH).cloned(),
            if_modified_since: headers
                .get(header::IF_MODIFIED_SINCE)
                .and_then(|v| http_date(v.as_bytes())),
            head_only: method == Method::HEAD,
            wants_fresh: false,
        }
    }

    /// Whether `headers` (a `200` response's) satisfy the request's conditional, so it gets
    /// `304 Not Modified`.
    fn not_modified(&self, headers: &HeaderMap) -> bool {
        match &self.if_none_match {
            Some(inm) => headers
                .get(header::ETAG)
                .is_some_and(|tag| policy::none_match(inm, tag.as_bytes())),
            None => self.if_modified_since.is_some_and(|since| {
                headers
                    .get(header::LAST_MODIFIED)
                    .and_then(|v| http_date(v.as_bytes()))
                    .is_some_and(|modified| modified <= since)
            }),
        }
    }
}

/// How a response was produced, for `X-Cache` and `Cache-Status`.
#[derive(Clone, Copy)]
pub(crate) enum Label {
    Hit,
    Stale(&'static str),
    Miss { fwd: Fwd, storing: Storing },
    Collapsed { fwd: Fwd },
}

/// `{name}; hit; ttl={ttl}` for a fresh entry, from the layer's table when it fits.
pub(crate) fn fresh_status(config: &Config, ttl: u64) -> HeaderValue {
    match usize::try_from(ttl)
        .ok()
        .and_then(|i| config.hit_statuses.get(i))
    {
        Some(slot) => slot
            .get_or_init(|| hit_status(&config.status_name, ttl, None))
            .clone(),
        None => hit_status(&config.status_name, ttl, None),
    }
}

pub(crate) fn label<B>(
    mut response: Response<B>,
    x_cache: HeaderValue,
    cache_status: HeaderValue,
) -> Response<B> {
    let headers = response.headers_mut();
    headers.insert(X_CACHE, x_cache);
    headers.append(CACHE_STATUS, cache_status);
    response
}

/// A forwarded response the cache does not keep, labelled.
pub(crate) fn forwarded<B: Body>(
    config: &Config,
    response: Response<CacheBody<B>>,
    fwd: Fwd,
) -> Response<CacheBody<B>> {
    let status = forward_status(
        &config.status_name,
        fwd,
        response.status(),
        Storing::No,
        false,
    );
    label(response, MISS, status)
}

/// Builds the client's response from an entry.
pub(crate) fn respond<B: Body>(
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
    let not_modified = envelope.status == StatusCode::OK && ctx.not_modified(&headers);
    let age_ms = now.saturating_sub(envelope.stored_at_ms);
    let name = &config.status_name;
    let (x_cache, cache_status) = match label {
        Label::Hit => {
            headers.insert(header::AGE, small_number(age_ms / 1000));
            let ttl = envelope.ttl_ms.saturating_sub(age_ms) / 1000;
            (HIT, fresh_status(config, ttl))
        }
        Label::Stale(detail) => {
            headers.insert(header::AGE, small_number(age_ms / 1000));
            let over = age_ms.saturating_sub(envelope.ttl_ms) / 1000;
            (STALE, hit_status(name, over, Some(detail)))
        }
        Label::Miss { fwd, storing } => (
            MISS,
            forward_status(name, fwd, envelope.status, storing, false),
        ),
        Label::Collapsed { fwd } => (
            MISS,
            forward_status(name, fwd, envelope.status, Storing::No, true),
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
        if ctx.head_only {
            (envelope.status, CacheBody::empty())
        } else {
            (envelope.status, CacheBody::full(body))
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}
