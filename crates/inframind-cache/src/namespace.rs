//! Namespaces derived from the request path ([`CacheLayerBuilder::prefix_from_path`]), and
//! the escaping that keeps them valid and unambiguous ([`namespace_segment`]).
//!
//! [`CacheLayerBuilder::prefix_from_path`]: crate::CacheLayerBuilder::prefix_from_path

use crate::error::CacheError;
use crate::key::validate_namespace;

/// The longest path value (after percent-decoding) a derived namespace takes; a longer one
/// is not cached, so a client cannot make the cache build huge keys.
pub const MAX_SEGMENT_BYTES: usize = 128;

/// One path value as a namespace segment: `value` with every byte other than ASCII letters,
/// digits, `-`, `_` and `.` written `%XX` (uppercase hex), so the segment never holds `:`,
/// glob characters, `@`, whitespace or non-ASCII, and two different values never give the
/// same segment. `None` for an empty value or one longer than [`MAX_SEGMENT_BYTES`].
///
/// [`CacheLayerBuilder::prefix_from_path`](crate::CacheLayerBuilder::prefix_from_path)
/// escapes the (percent-decoded) path values it puts into namespaces this way; use it to
/// name the namespace you invalidate:
///
/// ```
/// use inframind_cache::namespace_segment;
///
/// assert_eq!(namespace_segment("64b7f0c2").as_deref(), Some("64b7f0c2"));
/// assert_eq!(namespace_segment("a:b*").as_deref(), Some("a%3Ab%2A"));
/// assert_eq!(namespace_segment(""), None);
/// // cache.invalidate_namespace(&format!("assessments:{}", namespace_segment(id)?)).await?;
/// ```
pub fn namespace_segment(value: &str) -> Option<String> {
    escape(value.as_bytes())
}

fn escape(value: &[u8]) -> Option<String> {
    if value.is_empty() || value.len() > MAX_SEGMENT_BYTES {
        return None;
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(value.len());
    for &byte in value {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 15)]));
        }
    }
    Some(out)
}

/// Percent-decodes one path segment; `None` for a malformed `%` sequence.
fn decode(segment: &str) -> Option<Vec<u8>> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The most `/` segments a route pattern may have (its values are held on the stack).
const MAX_ROUTE_SEGMENTS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
enum RoutePart {
    Literal(Box<str>),
    Param(Box<str>),
}

#[derive(Debug, Clone)]
enum TemplatePart {
    Literal(Box<str>),
    /// The index of the route segment whose value fills it.
    Param(usize),
}

/// A route pattern (`/api/assessments/{id}`) and the namespace template filled from its
/// parameters (`assessments:{id}`).
#[derive(Debug, Clone)]
pub(crate) struct PathNamespace {
    route: Box<[RoutePart]>,
    template: Box<[TemplatePart]>,
    /// The template, as given.
    source: Box<str>,
}

fn param_name(segment: &str) -> Option<&str> {
    segment.strip_prefix('{')?.strip_suffix('}')
}

impl PathNamespace {
    /// Parses and checks `route` and `template`.
    pub(crate) fn new(route: &str, template: &str) -> Result<Self, CacheError> {
        let bad_route = |reason| CacheError::InvalidSetting {
            setting: "prefix_from_path",
            reason,
        };
        let Some(rest) = route.strip_prefix('/') else {
            return Err(bad_route("the route must start with `/`"));
        };
        let mut parts = Vec::new();
        for segment in rest.split('/') {
            match param_name(segment) {
                Some(name) => {
                    let valid = !name.is_empty()
                        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                    if !valid {
                        return Err(bad_route(
                            "a route parameter is `{name}`, with letters, digits or `_`",
                        ));
                    }
                    if parts
                        .iter()
                        .any(|p| matches!(p, RoutePart::Param(n) if &**n == name))
                    {
                        return Err(bad_route("a route parameter appears twice"));
                    }
                    parts.push(RoutePart::Param(name.into()));
                }
                None if segment.contains(['{', '}']) => {
                    return Err(bad_route(
                        "a route parameter must be a whole `/` segment (`{*rest}` is not supported)",
                    ));
                }
                None => parts.push(RoutePart::Literal(segment.into())),
            }
        }
        if parts.len() > MAX_ROUTE_SEGMENTS {
            return Err(bad_route("the route has more than 16 `/` segments"));
        }
        let bad_template = |reason| CacheError::InvalidNamespace {
            namespace: template.to_owned(),
            reason,
        };
        let mut filled = Vec::new();
        let mut sample = Vec::new();
        for segment in template.split(':') {
            match param_name(segment) {
                Some(name) => {
                    let index = parts
                        .iter()
                        .position(|p| matches!(p, RoutePart::Param(n) if &**n == name))
                        .ok_or_else(|| {
                            bad_template("it names a parameter the route does not have")
                        })?;
                    filled.push(TemplatePart::Param(index));
                    sample.push("x");
                }
                None if segment.contains(['{', '}']) => {
                    return Err(bad_template(
                        "a parameter must be a whole `:` segment of the template",
                    ));
                }
                None => {
                    filled.push(TemplatePart::Literal(segment.into()));
                    sample.push(segment);
                }
            }
        }
        if !filled.iter().any(|p| matches!(p, TemplatePart::Param(_))) {
            return Err(bad_template(
                "it names no route parameter (use `prefix` for a fixed namespace)",
            ));
        }
        if matches!(filled.first(), Some(TemplatePart::Param(_))) {
            return Err(bad_template(
                "it must start with a fixed segment, so that its namespaces can be invalidated together",
            ));
        }
        // Every filled-in value is escaped to visible ASCII without `:`, globs or `@`: the
        // template is valid exactly when it is valid with any one such value.
        validate_namespace(&sample.join(":")).map_err(|_| {
            bad_template(
                "it is not a valid namespace (empty segments, glob characters, whitespace, a \
                 leading `@` or more than 8 levels)",
            )
        })?;
        Ok(Self {
            route: parts.into(),
            template: filled.into(),
            source: template.into(),
        })
    }

    /// The template's fixed segments before its first parameter (`assessments` of
    /// `assessments:{id}`).
    pub(crate) fn fixed_prefix(&self) -> &str {
        let end = self.source.find(":{").unwrap_or(self.source.len());
        &self.source[..end]
    }

    /// The namespace of a request to `path`, or `None` when the path does not match the route
    /// or a value is empty, too long or malformed.
    pub(crate) fn derive(&self, path: &str) -> Option<String> {
        let rest = path.strip_prefix('/')?;
        let mut values: [Option<&str>; MAX_ROUTE_SEGMENTS] = [None; MAX_ROUTE_SEGMENTS];
        let mut segments = rest.split('/');
        for (index, part) in self.route.iter().enumerate() {
            let segment = segments.next()?;
            match part {
                RoutePart::Literal(literal) => {
                    if &**literal != segment {
                        return None;
                    }
                }
                RoutePart::Param(_) => *values.get_mut(index)? = Some(segment),
            }
        }
        if segments.next().is_some() {
            return None;
        }
        let mut namespace = String::with_capacity(64);
        for (i, part) in self.template.iter().enumerate() {
            if i > 0 {
                namespace.push(':');
            }
            match part {
                TemplatePart::Literal(literal) => namespace.push_str(literal),
                TemplatePart::Param(index) => {
                    let raw = (*values.get(*index)?)?;
                    namespace.push_str(&escape(&decode(raw)?)?);
                }
            }
        }
        // Valid by construction; checked again, as a derived namespace is never trusted.
        validate_namespace(&namespace).ok()?;
        Some(namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn assessments() -> PathNamespace {
        PathNamespace::new("/api/assessments/{id}", "assessments:{id}").unwrap()
    }

    #[test]
    fn routes_and_templates_are_checked() {
        for (route, template) in [
            ("api/{id}", "a:{id}"),
            ("/api/{id}", "a:{other}"),
            ("/api/{id}/{id}", "a:{id}"),
            ("/api/x{id}", "a:{id}"),
            ("/api/{*rest}", "a:{rest}"),
            ("/api/{id}", "a:x{id}"),
            ("/api/{id}", "{id}"),
            ("/api/{id}", "fixed"),
            ("/api/{id}", "a::{id}"),
            ("/api/{id}", "a*:{id}"),
            ("/api/{id}", "@a:{id}"),
            ("/api/{id}", "1:2:3:4:5:6:7:8:{id}"),
        ] {
            assert!(
                PathNamespace::new(route, template).is_err(),
                "{route} {template}"
            );
        }
        assert!(PathNamespace::new("/a/{x}/b/{y}", "a:{y}:{x}").is_ok());
    }

    #[test]
    fn hostile_values_are_escaped_or_rejected() {
        let ns = assessments();
        let derive = |path: &str| ns.derive(path);
        assert_eq!(
            derive("/api/assessments/42").as_deref(),
            Some("assessments:42")
        );
        assert_eq!(
            derive("/api/assessments/*").as_deref(),
            Some("assessments:%2A")
        );
        assert_eq!(
            derive("/api/assessments/%2A").as_deref(),
            Some("assessments:%2A")
        );
        assert_eq!(
            derive("/api/assessments/%2a").as_deref(),
            Some("assessments:%2A")
        );
        assert_eq!(
            derive("/api/assessments/a:b").as_deref(),
            Some("assessments:a%3Ab")
        );
        assert_eq!(
            derive("/api/assessments/@x").as_deref(),
            Some("assessments:%40x")
        );
        assert_eq!(
            derive("/api/assessments/%25").as_deref(),
            Some("assessments:%25")
        );
        assert_eq!(
            derive("/api/assessments/[?]").as_deref(),
            Some("assessments:%5B%3F%5D")
        );
        for miss in [
            "/api/assessments/",
            "/api/assessments",
            "/api/assessments/1/full",
            "/api/other/1",
            "/api/assessments/%zz",
            "/api/assessments/%2",
            "",
        ] {
            assert_eq!(derive(miss), None, "{miss}");
        }
        let long = format!("/api/assessments/{}", "a".repeat(MAX_SEGMENT_BYTES + 1));
        assert_eq!(derive(&long), None);
        let ok = format!("/api/assessments/{}", "a".repeat(MAX_SEGMENT_BYTES));
        assert!(derive(&ok).is_some());
    }

    proptest! {
        #[test]
        fn derived_namespaces_are_valid_and_never_shared(
            a in proptest::collection::vec(any::<u8>(), 0..40),
            b in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let ns = assessments();
            // Any bytes, as a client may send them percent-encoded.
            let path = |v: &[u8]| {
                let encoded: String = v.iter().map(|b| format!("%{b:02X}")).collect();
                format!("/api/assessments/{encoded}")
            };
            let (da, db) = (ns.derive(&path(&a)), ns.derive(&path(&b)));
            for (value, derived) in [(&a, &da), (&b, &db)] {
                prop_assert_eq!(derived.is_some(), !value.is_empty());
                if let Some(derived) = derived {
                    prop_assert!(validate_namespace(derived).is_ok());
                    prop_assert_eq!(derived.split(':').count(), 2);
                    prop_assert!(derived.starts_with("assessments:"));
                }
            }
            if a != b && !a.is_empty() {
                prop_assert_ne!(&da, &db);
            }
            if let Ok(text) = std::str::from_utf8(&a) {
                prop_assert_eq!(
                    da,
                    namespace_segment(text).map(|s| format!("assessments:{s}"))
                );
            }
        }

        #[test]
        fn raw_paths_never_give_invalid_namespaces(segment in "[ -~]{0,40}") {
            let ns = assessments();
            if let Some(derived) = ns.derive(&format!("/api/assessments/{segment}")) {
                prop_assert!(validate_namespace(&derived).is_ok());
                prop_assert_eq!(derived.split(':').count(), 2);
            }
        }
    }
}
