//! RFC 9111's rules for a shared cache where the origin decides: the directives of a request
//! and of a response (RFC 9213's targeted fields first), whether a response may be stored,
//! its freshness lifetime and age, and which stored headers a `304` replaces.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};

/// Statuses RFC 9110 §15.1 defines as heuristically cacheable.
pub(crate) fn heuristically_cacheable(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 206 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// The part of a stored response's last-modified age taken as heuristic freshness (RFC 9111
/// §4.2.2 suggests no more than 10%), and its ceiling.
const HEURISTIC_FRACTION: u64 = 10;
const HEURISTIC_MAX_SECS: u64 = 24 * 60 * 60;

/// A response's directives, from its targeted field (RFC 9213) when it has a valid one, else
/// from `Cache-Control`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ResponseDirectives {
    pub(crate) no_store: bool,
    pub(crate) no_cache: bool,
    pub(crate) private: bool,
    pub(crate) public: bool,
    pub(crate) must_revalidate: bool,
    /// `must-understand`: stored only when the cache knows the status's caching rules.
    pub(crate) must_understand: bool,
    pub(crate) max_age: Option<Seconds>,
    pub(crate) s_maxage: Option<Seconds>,
    pub(crate) stale_while_revalidate: Option<u64>,
    pub(crate) stale_if_error: Option<u64>,
    /// The directives came from a targeted field: `Expires` no longer counts.
    pub(crate) targeted: bool,
}

/// A delta-seconds argument: a number, or one that does not parse (the response is then
/// stale, RFC 9111 §4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seconds {
    Valid(u64),
    Invalid,
}

impl Seconds {
    fn parse(argument: Option<&str>) -> Option<Self> {
        let argument = argument?;
        if argument.is_empty() || !argument.bytes().all(|b| b.is_ascii_digit()) {
            return Some(Self::Invalid);
        }
        // Larger than any lifetime the cache can express: RFC 9111 §1.2.2 says to use 2^31.
        Some(Self::Valid(
            argument.parse::<u64>().unwrap_or(1 << 31).min(1 << 31),
        ))
    }

    fn secs(self) -> u64 {
        match self {
            Self::Valid(s) => s,
            Self::Invalid => 0,
        }
    }
}

/// The `name[=argument]` items of every `field` line, names lowercased, quotes removed.
fn items<'a>(
    headers: &'a HeaderMap,
    field: &'a HeaderName,
) -> impl Iterator<Item = Option<(String, Option<String>)>> + 'a {
    headers.get_all(field).into_iter().flat_map(|value| {
        let text = value.to_str().ok();
        let list: Vec<Option<(String, Option<String>)>> = match text {
            None => vec![None],
            Some(text) => split_list(text)
                .into_iter()
                .filter(|d| !d.trim().is_empty())
                .map(|directive| {
                    let (name, argument) = match directive.split_once('=') {
                        Some((n, a)) => (n.trim(), Some(a.trim())),
                        None => (directive.trim(), None),
                    };
                    let argument = argument.map(|a| {
                        a.strip_prefix('"')
                            .and_then(|a| a.strip_suffix('"'))
                            .unwrap_or(a)
                            .to_owned()
                    });
                    Some((name.to_ascii_lowercase(), argument))
                })
                .collect(),
        };
        list
    })
}

/// Splits a comma-separated list, keeping commas inside quoted strings.
fn split_list(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

/// A targeted field's directives (RFC 9213 §2.1: a Structured Fields Dictionary); `None`
/// when the field is absent or does not parse, so `Cache-Control` applies.
fn targeted(headers: &HeaderMap, field: &HeaderName) -> Option<ResponseDirectives> {
    if !headers.contains_key(field) {
        return None;
    }
    let mut out = ResponseDirectives {
        targeted: true,
        ..ResponseDirectives::default()
    };
    for item in items(headers, field) {
        let (name, argument) = item?;
        let valid_key = name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'*')
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.*".contains(&b));
        if !valid_key {
            return None;
        }
        let number = |a: &Option<String>| -> Option<Option<u64>> {
            match a {
                None => Some(None),
                Some(a) => a.parse::<u64>().ok().map(Some),
            }
        };
        match name.as_str() {
            "max-age" => out.max_age = Some(Seconds::Valid(number(&argument)??)),
            "s-maxage" => out.s_maxage = Some(Seconds::Valid(number(&argument)??)),
            "stale-while-revalidate" => out.stale_while_revalidate = number(&argument)?,
            "stale-if-error" => out.stale_if_error = number(&argument)?,
            "no-store" => out.no_store = true,
            "no-cache" => out.no_cache = true,
            "private" => out.private = true,
            "public" => out.public = true,
            "must-revalidate" | "proxy-revalidate" => out.must_revalidate = true,
            _ => {}
        }
    }
    Some(out)
}

impl ResponseDirectives {
    /// The directives of a response: from the first of `targets` it carries validly, else
    /// from `Cache-Control`.
    pub(crate) fn parse(headers: &HeaderMap, targets: &[HeaderName]) -> Self {
        if let Some(directives) = targets.iter().find_map(|field| targeted(headers, field)) {
            return directives;
        }
        let mut out = Self::default();
        for item in items(headers, &header::CACHE_CONTROL) {
            let Some((name, argument)) = item else {
                // Unreadable directives: assume the strictest.
                out.no_store = true;
                continue;
            };
            let argument = argument.as_deref();
            // The first occurrence of a duplicated directive wins (RFC 9111 §4.2.1).
            match name.as_str() {
                "max-age" if out.max_age.is_none() => out.max_age = Seconds::parse(argument),
                "s-maxage" if out.s_maxage.is_none() => out.s_maxage = Seconds::parse(argument),
                "stale-while-revalidate" => {
                    out.stale_while_revalidate = Seconds::parse(argument).map(Seconds::secs);
                }
                "stale-if-error" => {
                    out.stale_if_error = Seconds::parse(argument).map(Seconds::secs);
                }
                "no-store" => out.no_store = true,
                // `no-cache="field"` only forbids reusing those fields unvalidated; treated as
                // the whole response, which is the safe reading.
                "no-cache" => out.no_cache = true,
                // `private="field"` likewise.
                "private" => out.private = true,
                "public" => out.public = true,
                "must-revalidate" | "proxy-revalidate" => out.must_revalidate = true,
                "must-understand" => out.must_understand = true,
                _ => {}
            }
        }
        out
    }
}

/// A request's directives (RFC 9111 §5.2.1), with `Pragma: no-cache` counted as `no-cache`
/// when there is no `Cache-Control` (§5.4).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RequestDirectives {
    pub(crate) no_store: bool,
    pub(crate) no_cache: bool,
    pub(crate) only_if_cached: bool,
    pub(crate) max_age: Option<u64>,
    pub(crate) min_fresh: Option<u64>,
    /// `max-stale` (`Some(None)`: any staleness).
    pub(crate) max_stale: Option<Option<u64>>,
}

impl RequestDirectives {
    pub(crate) fn parse(headers: &HeaderMap) -> Self {
        let mut out = Self::default();
        if !headers.contains_key(header::CACHE_CONTROL) {
            out.no_cache = items(headers, &header::PRAGMA)
                .any(|item| item.is_some_and(|(name, _)| name == "no-cache"));
            return out;
        }
        for item in items(headers, &header::CACHE_CONTROL) {
            let Some((name, argument)) = item else {
                continue;
            };
            let seconds = || Seconds::parse(argument.as_deref());
            match name.as_str() {
                "no-store" => out.no_store = true,
                "no-cache" => out.no_cache = true,
                "only-if-cached" => out.only_if_cached = true,
                // An invalid max-age asks for a response at most 0 s old.
                "max-age" => out.max_age = seconds().map(Seconds::secs),
                "min-fresh" => out.min_fresh = seconds().map(Seconds::secs),
                "max-stale" => {
                    out.max_stale = Some(seconds().map(Seconds::secs));
                }
                _ => {}
            }
        }
        out
    }
}

/// An HTTP-date (any of the three forms RFC 9110 §5.6.7 says recipients accept), as seconds
/// since the epoch.
pub(crate) fn date(value: &HeaderValue) -> Option<u64> {
    let text = value.to_str().ok()?;
    let time = httpdate::parse_http_date(text.trim()).ok()?;
    time.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// The single `field` line's HTTP-date; `Err` when there are several lines or it does not
/// parse.
fn single_date(headers: &HeaderMap, field: &HeaderName) -> Option<Result<u64, ()>> {
    let mut values = headers.get_all(field).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return Some(Err(()));
    }
    Some(date(first).ok_or(()))
}

/// The `Age` header's value (RFC 9111 §5.1): `Ok(None)` when absent, `Err` when it is not
/// one non-negative integer, which makes the response stale (as the HTTP caching test suite
/// expects). Several lines, a list (`0, 0`), a sign, a fraction or a parameter are invalid;
/// only a value glued to more text by a bare comma (`0,7200`) is read by its leading digits,
/// as common parsers do.
pub(crate) fn age_value(headers: &HeaderMap) -> Result<Option<u64>, ()> {
    let mut values = headers.get_all(header::AGE).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(());
    }
    let text = first.to_str().map_err(|_| ())?.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &text[digits..];
    let glued = rest
        .strip_prefix(',')
        .is_some_and(|r| r.bytes().next().is_some_and(|b| b.is_ascii_digit()));
    if digits == 0 || !(rest.is_empty() || glued) {
        return Err(());
    }
    Ok(Some(
        text[..digits]
            .parse::<u64>()
            .unwrap_or(1 << 31)
            .min(1 << 31),
    ))
}

/// What RFC 9111 §4.2 makes of a response received at `response_ms` for a request sent at
/// `request_ms`: when it was "born" (so its age is now minus that) and how long it is fresh.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub(crate) born_ms: u64,
    pub(crate) lifetime_ms: u64,
}

/// The corrected initial age (§4.2.3) and freshness lifetime (§4.2.1, §4.2.2) of a
/// response.
pub(crate) fn timing(
    status: StatusCode,
    headers: &HeaderMap,
    directives: &ResponseDirectives,
    request_ms: u64,
    response_ms: u64,
) -> Timing {
    let response_secs = response_ms / 1000;
    let date = match single_date(headers, &header::DATE) {
        Some(Ok(date)) => Some(date),
        _ => None,
    };
    let date_secs = date.unwrap_or(response_secs);
    let apparent_ms = response_secs.saturating_sub(date_secs).saturating_mul(1000);
    let age = age_value(headers);
    let corrected_age_ms = age
        .unwrap_or(None)
        .unwrap_or(0)
        .saturating_mul(1000)
        .saturating_add(response_ms.saturating_sub(request_ms));
    let initial_age_ms = apparent_ms.max(corrected_age_ms);
    let born_ms = response_ms.saturating_sub(initial_age_ms);

    let lifetime_secs = if age.is_err() {
        0
    } else if let Some(s_maxage) = directives.s_maxage {
        s_maxage.secs()
    } else if let Some(max_age) = directives.max_age {
        max_age.secs()
    } else if directives.targeted {
        // A targeted field with no lifetime: no explicit freshness (RFC 9213 §2.1).
        heuristic(status, headers, directives, date_secs)
    } else if let Some(expires) = single_date(headers, &header::EXPIRES) {
        // An invalid Expires (`0`) means already expired.
        match expires {
            Ok(expires) => expires.saturating_sub(date_secs),
            Err(()) => 0,
        }
    } else {
        heuristic(status, headers, directives, date_secs)
    };
    Timing {
        born_ms,
        lifetime_ms: lifetime_secs.saturating_mul(1000),
    }
}

/// Heuristic freshness (§4.2.2): a tenth of the time since `Last-Modified`, capped at a day,
/// for heuristically cacheable statuses and `public` responses only.
fn heuristic(
    status: StatusCode,
    headers: &HeaderMap,
    directives: &ResponseDirectives,
    date_secs: u64,
) -> u64 {
    if !(heuristically_cacheable(status) || directives.public) {
        return 0;
    }
    match single_date(headers, &header::LAST_MODIFIED) {
        Some(Ok(modified)) => {
            (date_secs.saturating_sub(modified) / HEURISTIC_FRACTION).min(HEURISTIC_MAX_SECS)
        }
        _ => 0,
    }
}

/// Statuses whose caching rules this cache implements (RFC 9110 §15).
fn understood(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 300 | 301 | 302 | 303 | 307 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// Whether a shared cache may store this response to a GET (RFC 9111 §3, §3.5).
pub(crate) fn storable(
    method: &Method,
    request: &RequestDirectives,
    request_headers: &HeaderMap,
    status: StatusCode,
    headers: &HeaderMap,
    directives: &ResponseDirectives,
) -> bool {
    if method != Method::GET || request.no_store || directives.private {
        return false;
    }
    // RFC 9111 §5.2.2.3: with `must-understand`, a status whose caching rules the cache
    // knows is stored whatever `no-store` says; any other is not.
    if directives.must_understand {
        if !understood(status) {
            return false;
        }
    } else if directives.no_store {
        return false;
    }
    // Final statuses only; partial content and 304 are not whole responses to keep.
    if status.is_informational()
        || status == StatusCode::PARTIAL_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return false;
    }
    if request_headers.contains_key(header::AUTHORIZATION)
        && !(directives.public || directives.must_revalidate || directives.s_maxage.is_some())
    {
        return false;
    }
    if vary_names(headers).is_none() {
        return false;
    }
    // Something that makes it reusable or revalidatable.
    directives.public
        || directives.max_age.is_some()
        || directives.s_maxage.is_some()
        || (!directives.targeted && headers.contains_key(header::EXPIRES))
        || heuristically_cacheable(status)
        || directives.no_cache
}

/// The request headers a response varies on, lowercased; `None` for `Vary: *` or an
/// unreadable `Vary`.
pub(crate) fn vary_names(headers: &HeaderMap) -> Option<Vec<HeaderName>> {
    let mut names = Vec::new();
    for value in headers.get_all(header::VARY) {
        let text = value.to_str().ok()?;
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "*" {
                return None;
            }
            let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Some(names)
}

/// A digest of the request's values of `names`, normalised as RFC 9111 §4.1 allows
/// (lines joined with `, `, whitespace around commas dropped): two requests with the same
/// digest select the same variant.
pub(crate) fn variant_digest(names: &[HeaderName], request: &HeaderMap) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    for name in names {
        hasher.update(name.as_str().as_bytes());
        hasher.update(b"\0");
        if let Some(members) = preference_list(name, request) {
            // The same preferences in any order or case select the same variant.
            for member in members {
                hasher.update(member.as_bytes());
                hasher.update(b",");
            }
            hasher.update(b"\0");
            continue;
        }
        let mut first = true;
        for value in request.get_all(name) {
            for part in value.as_bytes().split(|&b| b == b',') {
                if !first {
                    hasher.update(b",");
                }
                first = false;
                hasher.update(part.trim_ascii());
            }
        }
        if first {
            // Absent is not the same as empty.
            hasher.update(b"\x01absent");
        }
        hasher.update(b"\0");
    }
    *hasher.finalize().as_bytes()
}

/// The members of a present, readable `Accept`, `Accept-Charset`, `Accept-Encoding` or
/// `Accept-Language` (RFC 9110 §12.5), lowercased, each with its q-value, sorted: the field's
/// meaning without the order and case of equal preferences. `None` for other fields.
fn preference_list(name: &HeaderName, request: &HeaderMap) -> Option<Vec<String>> {
    if !matches!(
        name.as_str(),
        "accept" | "accept-charset" | "accept-encoding" | "accept-language"
    ) || !request.contains_key(name)
    {
        return None;
    }
    let mut members = Vec::new();
    for value in request.get_all(name) {
        let text = value.to_str().ok()?;
        for member in text.split(',').map(str::trim).filter(|m| !m.is_empty()) {
            let mut parts = member.split(';').map(str::trim);
            let token = parts.next().unwrap_or("").to_ascii_lowercase();
            let mut quality = 1000u32;
            let mut params = Vec::new();
            for param in parts {
                match param.split_once('=') {
                    Some((q, v)) if q.trim().eq_ignore_ascii_case("q") => {
                        let v: f32 = v.trim().parse().ok()?;
                        quality = (v.clamp(0.0, 1.0) * 1000.0).round() as u32;
                    }
                    _ => params.push(param.to_ascii_lowercase()),
                }
            }
            members.push(format!("{quality:04};{token};{}", params.join(";")));
        }
    }
    members.sort_unstable_by(|a, b| b.cmp(a));
    Some(members)
}

/// Headers a cache never stores or forwards from a response: hop-by-hop ones, and the
/// layer's own labels (recomputed for each response it serves).
pub(crate) fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authentication-info"
            | "proxy-authorization"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
    )
}

/// The headers worth storing from a response: all but hop-by-hop ones (and those its
/// `Connection` names), `Age` (computed on every hit) and the layer's labels.
pub(crate) fn stored_headers(headers: &HeaderMap) -> HeaderMap {
    let connection: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if hop_by_hop(name)
            || *name == header::AGE
            || name.as_str() == "x-cache"
            || name.as_str() == "cache-status"
            || connection.iter().any(|c| c == name.as_str())
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// Updates stored headers from a `304` (RFC 9111 §3.2): each header the 304 carries replaces
/// the stored one, except those describing the stored body, which the 304 cannot change.
pub(crate) fn update_from_304(stored: &mut HeaderMap, not_modified: &HeaderMap) {
    let fresh = stored_headers(not_modified);
    let mut replaced: Vec<HeaderName> = Vec::new();
    for (name, value) in &fresh {
        if matches!(
            name.as_str(),
            "content-length" | "content-encoding" | "content-md5" | "content-range" | "etag"
        ) {
            continue;
        }
        if !replaced.contains(name) {
            stored.remove(name);
            replaced.push(name.clone());
        }
        stored.append(name.clone(), value.clone());
    }
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
    fn targeted_field_overrides_cache_control() {
        let cdn = [HeaderName::from_static("cdn-cache-control")];
        let h = headers(&[
            ("cache-control", "no-store"),
            ("cdn-cache-control", "max-age=30"),
        ]);
        let d = ResponseDirectives::parse(&h, &cdn);
        assert!(!d.no_store);
        assert_eq!(d.max_age, Some(Seconds::Valid(30)));
        // An invalid dictionary is ignored.
        let h = headers(&[
            ("cache-control", "max-age=5"),
            ("cdn-cache-control", "max-age=\"x\""),
        ]);
        assert_eq!(
            ResponseDirectives::parse(&h, &cdn).max_age,
            Some(Seconds::Valid(5))
        );
    }

    #[test]
    fn preference_lists_select_the_same_variant_in_any_order_or_case() {
        let names = [HeaderName::from_static("accept-language")];
        let digest = |value: &str| variant_digest(&names, &headers(&[("accept-language", value)]));
        assert_eq!(digest("en, de"), digest("de, en"));
        assert_eq!(digest("en, de"), digest("eN,De"));
        assert_eq!(digest("en;q=0.5, de"), digest("de;q=1.0, EN;q=0.50"));
        assert_ne!(digest("en;q=0.5, de"), digest("en, de;q=0.5"));
        assert_ne!(digest("en"), digest("de"));
        assert_ne!(digest("en"), variant_digest(&names, &HeaderMap::new()));
    }

    #[test]
    fn age_parsing() {
        assert_eq!(age_value(&headers(&[("age", "10")])), Ok(Some(10)));
        assert_eq!(age_value(&headers(&[("age", "-1")])), Err(()));
        assert_eq!(age_value(&headers(&[("age", "1.5")])), Err(()));
        assert_eq!(age_value(&headers(&[("age", "0, 0")])), Err(()));
        assert_eq!(age_value(&headers(&[("age", "7;a=1")])), Err(()));
        assert_eq!(age_value(&headers(&[("age", "0,7200")])), Ok(Some(0)));
        assert_eq!(age_value(&headers(&[("age", "1"), ("age", "1")])), Err(()));
        assert_eq!(
            age_value(&headers(&[("age", "99999999999")])),
            Ok(Some(1 << 31))
        );
        assert_eq!(age_value(&HeaderMap::new()), Ok(None));
    }

    #[test]
    fn cache_control_first_duplicate_wins_and_invalid_is_stale() {
        let d =
            ResponseDirectives::parse(&headers(&[("cache-control", "max-age=5, max-age=60")]), &[]);
        assert_eq!(d.max_age, Some(Seconds::Valid(5)));
        let d = ResponseDirectives::parse(&headers(&[("cache-control", "max-age=\"x\"")]), &[]);
        assert_eq!(d.max_age, Some(Seconds::Invalid));
    }
}
