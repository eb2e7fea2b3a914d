//! HTTP decisions: what may be stored, shared, compressed, and which validators match.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Directives of a `Cache-Control` header that the cache acts on.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Directives {
    pub(crate) no_store: bool,
    pub(crate) private: bool,
    pub(crate) no_cache: bool,
    /// `must-revalidate` or `proxy-revalidate`: never served stale.
    pub(crate) must_revalidate: bool,
    /// `max-age=N`, seconds.
    pub(crate) max_age: Option<u64>,
    /// `s-maxage=N`, seconds (a shared cache prefers it to `max-age`).
    pub(crate) s_maxage: Option<u64>,
    /// `stale-while-revalidate=N` (RFC 5861), seconds.
    pub(crate) stale_while_revalidate: Option<u64>,
    /// `stale-if-error=N` (RFC 5861), seconds.
    pub(crate) stale_if_error: Option<u64>,
}

pub(crate) fn cache_control(headers: &HeaderMap) -> Directives {
    let mut out = Directives::default();
    for value in headers.get_all(header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else {
            // Unreadable directives: assume the strictest.
            out.no_store = true;
            continue;
        };
        for directive in value.split(',') {
            let (name, argument) = match directive.split_once('=') {
                Some((name, argument)) => (name.trim(), Some(argument.trim().trim_matches('"'))),
                None => (directive.trim(), None),
            };
            // A malformed number: RFC 9111 §4.2.1 says to treat the response as stale.
            let seconds = || argument.map(|a| a.parse::<u64>().unwrap_or(0));
            if name.eq_ignore_ascii_case("max-age") {
                out.max_age = seconds();
            } else if name.eq_ignore_ascii_case("s-maxage") {
                out.s_maxage = seconds();
            } else if name.eq_ignore_ascii_case("stale-while-revalidate") {
                out.stale_while_revalidate = seconds();
            } else if name.eq_ignore_ascii_case("stale-if-error") {
                out.stale_if_error = seconds();
            } else if name.eq_ignore_ascii_case("no-store") {
                out.no_store = true;
            } else if name.eq_ignore_ascii_case("private") {
                out.private = true;
            } else if name.eq_ignore_ascii_case("no-cache") {
                out.no_cache = true;
            } else if name.eq_ignore_ascii_case("must-revalidate")
                || name.eq_ignore_ascii_case("proxy-revalidate")
            {
                out.must_revalidate = true;
            }
        }
    }
    out
}

/// Whether a response may be handed to other requests for the same key (coalesced waiters and,
/// if its status allows, later requests through the store).
///
/// `Cache-Control: no-store` is never shared, since it forbids every cache from keeping it.
/// Outside per-user keying, a response with `Set-Cookie` or `private` is never shared either;
/// keyed per user, only its own user can get it back. A `Vary` naming a header the key does
/// not cover (or `*`) means the response depends on something the key cannot tell apart, so
/// it is never shared.
pub(crate) fn shareable(headers: &HeaderMap, per_user: bool, key_vary: &[HeaderName]) -> bool {
    let cc = cache_control(headers);
    if cc.no_store {
        return false;
    }
    if !per_user && (cc.private || headers.contains_key(header::SET_COOKIE)) {
        return false;
    }
    for value in headers.get_all(header::VARY) {
        let Ok(value) = value.to_str() else {
            return false;
        };
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "*"
                || !key_vary
                    .iter()
                    .any(|v| v.as_str().eq_ignore_ascii_case(name))
            {
                return false;
            }
        }
    }
    true
}

/// Whether a request's own directives ask for a response validated at the origin:
/// `Cache-Control: no-cache` or `max-age=0`, or `Pragma: no-cache` without `Cache-Control`.
pub(crate) fn request_wants_fresh(headers: &HeaderMap) -> bool {
    if !headers.contains_key(header::CACHE_CONTROL) {
        return headers
            .get(header::PRAGMA)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|d| d.trim().eq_ignore_ascii_case("no-cache"))
            });
    }
    let cc = cache_control(headers);
    cc.no_cache || cc.max_age == Some(0)
}

/// Whether the client accepts zstd (`Accept-Encoding: zstd`, with a non-zero q-value).
pub(crate) fn accepts_zstd(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .any(|value| {
            value.to_str().is_ok_and(|value| {
                value.split(',').any(|item| {
                    let mut parts = item.split(';');
                    let coding = parts.next().unwrap_or("").trim();
                    coding.eq_ignore_ascii_case("zstd")
                        && parts.all(|param| {
                            let param = param.trim();
                            match param
                                .strip_prefix("q=")
                                .or_else(|| param.strip_prefix("Q="))
                            {
                                Some(q) => q.trim().parse::<f32>().is_ok_and(|q| q > 0.0),
                                None => true,
                            }
                        })
                })
            })
        })
}

/// `If-None-Match` against an entity tag, with the weak comparison RFC 9110 prescribes.
pub(crate) fn none_match(if_none_match: &HeaderValue, etag: &[u8]) -> bool {
    let Ok(list) = if_none_match.to_str() else {
        return false;
    };
    let strip = |tag: &[u8]| -> Vec<u8> { tag.strip_prefix(b"W/").unwrap_or(tag).to_vec() };
    let ours = strip(etag);
    list.split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || strip(candidate.as_bytes()) == ours)
}

/// Response headers the cache does not store: hop-by-hop headers, framing, and headers it
/// computes for each response it serves.
pub(crate) fn stored_header(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "content-length"
            | "age"
            | "date"
            | "x-cache"
            | "cache-status"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn zstd_acceptance() {
        assert!(accepts_zstd(&headers(&[("accept-encoding", "gzip, zstd")])));
        assert!(accepts_zstd(&headers(&[("accept-encoding", "ZSTD;q=0.5")])));
        assert!(!accepts_zstd(&headers(&[("accept-encoding", "zstd;q=0")])));
        assert!(!accepts_zstd(&headers(&[("accept-encoding", "gzip, br")])));
        assert!(!accepts_zstd(&HeaderMap::new()));
    }

    #[test]
    fn sharing_rules() {
        let vary = [HeaderName::from_static("accept-language")];
        assert!(shareable(
            &headers(&[("content-type", "application/json")]),
            false,
            &vary
        ));
        assert!(!shareable(&headers(&[("set-cookie", "a=b")]), false, &vary));
        assert!(shareable(&headers(&[("set-cookie", "a=b")]), true, &vary));
        assert!(!shareable(
            &headers(&[("cache-control", "max-age=5, no-store")]),
            false,
            &vary
        ));
        assert!(!shareable(
            &headers(&[("cache-control", "private=\"x\"")]),
            false,
            &vary
        ));
        assert!(shareable(
            &headers(&[("cache-control", "private")]),
            true,
            &vary
        ));
        assert!(!shareable(
            &headers(&[("cache-control", "private, no-store")]),
            true,
            &vary
        ));
        assert!(shareable(
            &headers(&[("vary", "Accept-Language")]),
            false,
            &vary
        ));
        assert!(!shareable(
            &headers(&[("vary", "accept-encoding")]),
            false,
            &vary
        ));
        assert!(!shareable(&headers(&[("vary", "*")]), true, &vary));
    }

    #[test]
    fn freshness_directives_parse() {
        let cc = cache_control(&headers(&[(
            "cache-control",
            "public, max-age=60, s-maxage=\"30\", stale-while-revalidate=5, stale-if-error=x",
        )]));
        assert_eq!(cc.max_age, Some(60));
        assert_eq!(cc.s_maxage, Some(30));
        assert_eq!(cc.stale_while_revalidate, Some(5));
        assert_eq!(cc.stale_if_error, Some(0));
        assert!(request_wants_fresh(&headers(&[(
            "cache-control",
            "max-age=0"
        )])));
        assert!(request_wants_fresh(&headers(&[("pragma", "no-cache")])));
        assert!(!request_wants_fresh(&headers(&[(
            "cache-control",
            "max-age=5"
        )])));
    }

    #[test]
    fn etag_matching() {
        let inm = HeaderValue::from_static("\"a\", W/\"b\"");
        assert!(none_match(&inm, b"\"a\""));
        assert!(none_match(&inm, b"\"b\""));
        assert!(!none_match(&inm, b"\"c\""));
        assert!(none_match(&HeaderValue::from_static("*"), b"\"c\""));
    }
}
