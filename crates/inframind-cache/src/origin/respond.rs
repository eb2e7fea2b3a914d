//! The origin-driven mode's responses from stored entries: the request's own conditionals and
//! byte range, `Age`, and the layer's labels.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use http_body::Body;

use crate::body::CacheBody;
use crate::config::Config;
use crate::envelope::Envelope;
use crate::headers::{CACHE_STATUS, STALE, X_CACHE, small_number};
use crate::policy;
use crate::store::now_ms;

use super::entries::{Stored, VARIANT};
use super::rules;

pub(super) fn serve_stale_as<B: Body>(
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

/// A request's own conditional, answered from a stored `200`.
pub(super) struct Conditional {
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
    pub(super) fn none() -> Self {
        Self {
            if_none_match: None,
            if_modified_since: None,
            range: None,
        }
    }

    pub(super) fn of(headers: &HeaderMap) -> Self {
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
pub(super) fn serve<B: Body>(
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

pub(super) fn status_value(config: &Config, detail: &str) -> HeaderValue {
    HeaderValue::try_from(format!("{}; {detail}", config.status_name))
        .unwrap_or(HeaderValue::from_static("inframind"))
}

pub(super) fn label<B>(
    mut response: Response<B>,
    x_cache: HeaderValue,
    status: HeaderValue,
) -> Response<B> {
    let headers = response.headers_mut();
    headers.insert(X_CACHE, x_cache);
    headers.append(CACHE_STATUS, status);
    response
}
