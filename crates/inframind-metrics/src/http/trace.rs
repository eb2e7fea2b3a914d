//! Trace ids for exemplars.

use http::{Extensions, HeaderMap, HeaderName};

static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// A trace id attached to a request, used as the exemplar of its HTTP series.
///
/// Insert it into the request extensions (for example from a tracing middleware that runs before
/// [`MetricsLayer`](crate::MetricsLayer)). Without it, the layer reads the trace id of a W3C
/// `traceparent` header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TraceId(pub String);

/// Exemplar labels are limited to 128 characters in total by OpenMetrics.
const MAX_TRACE_ID: usize = 64;

/// The trace id of a request: the [`TraceId`] extension, else a valid `traceparent` header.
pub(crate) fn extract(headers: &HeaderMap, extensions: &Extensions) -> Option<Box<str>> {
    if let Some(TraceId(id)) = extensions.get::<TraceId>() {
        let id = id.trim();
        if !id.is_empty() && id.len() <= MAX_TRACE_ID && id.bytes().all(|b| b.is_ascii_graphic()) {
            return Some(id.into());
        }
        return None;
    }
    let value = headers.get(&TRACEPARENT)?.to_str().ok()?;
    parse_traceparent(value).map(Into::into)
}

/// The trace id of a `traceparent` header (`version-traceid-parentid-flags`), if valid.
pub(crate) fn parse_traceparent(v: &str) -> Option<&str> {
    let v = v.trim();
    let mut parts = v.split('-');
    let version = parts.next()?;
    let trace_id = parts.next()?;
    let parent = parts.next()?;
    let flags = parts.next()?;
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !hex(version, 2)
        || version == "ff"
        || !hex(trace_id, 32)
        || !hex(parent, 16)
        || !hex(flags, 2)
    {
        return None;
    }
    if version == "00" && parts.next().is_some() {
        return None;
    }
    if trace_id.bytes().all(|b| b == b'0') || parent.bytes().all(|b| b == b'0') {
        return None;
    }
    Some(trace_id)
}

#[cfg(test)]
mod tests {
    use super::parse_traceparent;

    #[test]
    fn traceparent() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(
            parse_traceparent(&format!("00-{id}-00f067aa0ba902b7-01")),
            Some(id)
        );
        assert_eq!(
            parse_traceparent(&format!("00-{id}-00f067aa0ba902b7-01-extra")),
            None
        );
        assert_eq!(
            parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(
            parse_traceparent(&format!("00-{}-00f067aa0ba902b7-01", id.to_uppercase())),
            None
        );
        assert_eq!(parse_traceparent("garbage"), None);
        assert_eq!(
            parse_traceparent(&format!("ff-{id}-00f067aa0ba902b7-01")),
            None
        );
    }
}
