//! Cache keys: blake3 over the request's identity, under a `:`-separated namespace.

use std::sync::Arc;

use http::{HeaderName, Method, Request};

use crate::error::CacheError;

/// Builds the key of a request: `{namespace}:{64 hex digits}`.
///
/// The digest covers the method (HEAD as GET, whose stored response answers it), the
/// authority (the URI's, else the `Host` header's, lowercased; unless the layer leaves it out),
/// the path, the query with its parameters sorted by name (the
/// values of a repeated name keep their order), the values of the varying headers, and the
/// principal when the route is keyed per user. Every field is length-prefixed, so no two
/// different requests feed the hash the same bytes.
#[derive(Debug, Clone)]
pub(crate) struct KeyBuilder {
    namespace: Arc<str>,
    vary: Arc<[HeaderName]>,
    host: bool,
}

impl KeyBuilder {
    pub(crate) fn new(namespace: Arc<str>, vary: Arc<[HeaderName]>, host: bool) -> Self {
        Self {
            namespace,
            vary,
            host,
        }
    }

    pub(crate) fn vary(&self) -> &[HeaderName] {
        &self.vary
    }

    #[cfg(test)]
    pub(crate) fn key<B>(&self, req: &Request<B>, principal: Option<&str>) -> String {
        self.key_inline(req, principal).into_string()
    }

    /// [`key`](Self::key), built on the stack when the namespace is short enough: a hit
    /// allocates nothing for its key.
    pub(crate) fn key_inline<B>(&self, req: &Request<B>, principal: Option<&str>) -> Key {
        self.key_inline_in(&self.namespace, req, principal)
    }

    /// [`key_inline`](Self::key_inline) under `namespace` (one derived from the request)
    /// rather than the layer's.
    pub(crate) fn key_inline_in<B>(
        &self,
        namespace: &str,
        req: &Request<B>,
        principal: Option<&str>,
    ) -> Key {
        thread_local! {
            static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let digest = BUFFER.with(|buffer| {
            let mut buffer = buffer.borrow_mut();
            buffer.clear();
            self.feed(&mut buffer, req, principal);
            blake3::hash(&buffer)
        });
        let mut hex = [0u8; 64];
        for (pair, byte) in hex.chunks_exact_mut(2).zip(digest.as_bytes()) {
            pair.copy_from_slice(&HEX_PAIRS[usize::from(*byte)]);
        }
        let bytes = namespace.as_bytes();
        let len = bytes.len() + 1 + hex.len();
        if len <= INLINE_KEY {
            let mut buf = [0u8; INLINE_KEY];
            buf[..bytes.len()].copy_from_slice(bytes);
            buf[bytes.len()] = b':';
            buf[bytes.len() + 1..len].copy_from_slice(&hex);
            Key::Inline {
                buf,
                len: len as u8,
            }
        } else {
            let mut key = String::with_capacity(len);
            key.push_str(namespace);
            key.push(':');
            key.extend(hex.iter().map(|&b| char::from(b)));
            Key::Heap(key)
        }
    }

    /// The bytes the digest covers, each field length-prefixed.
    fn feed<B>(&self, out: &mut Vec<u8>, req: &Request<B>, principal: Option<&str>) {
        field(out, method_bytes(req.method()));
        if self.host {
            let authority = authority_of(req);
            out.extend_from_slice(&(authority.len() as u32).to_be_bytes());
            out.extend(authority.iter().map(u8::to_ascii_lowercase));
        }
        field(out, req.uri().path().as_bytes());
        match req.uri().query() {
            Some(query) if !query.is_empty() => hash_query(out, query),
            _ => out.push(0),
        }
        for name in self.vary.iter() {
            let values = req.headers().get_all(name);
            let count = values.iter().count();
            out.extend_from_slice(&(count as u32).to_be_bytes());
            for value in values {
                field(out, value.as_bytes());
            }
        }
        match principal {
            Some(principal) => {
                out.push(1);
                field(out, principal.as_bytes());
            }
            None => out.push(0),
        }
    }
}

impl KeyBuilder {
    /// The path scope of `req`: what an unsafe request to the same URI invalidates.
    pub(crate) fn scope<B>(&self, req: &Request<B>) -> Scope {
        self.scope_of(authority_of(req), req.uri().path())
    }

    /// The path scope of `authority` and `path`: `@p:` and 32 hex digits of a 128-bit hash
    /// over the authority (lowercased; when the key covers it) and the path, every query
    /// variant included. The hash is computed on every hit, so it is a fast one rather than
    /// blake3; it is stable across builds and processes (instances sharing a Redis must
    /// agree), and a collision can only invalidate one more path.
    pub(crate) fn scope_of(&self, authority: &[u8], path: &str) -> Scope {
        let mut state = ScopeHash::new();
        if self.host {
            state.write_u64(authority.len() as u64);
            let mut lower = [0u8; 8];
            for chunk in authority.chunks(8) {
                lower.fill(0);
                for (out, byte) in lower.iter_mut().zip(chunk) {
                    *out = byte.to_ascii_lowercase();
                }
                state.write_u64(u64::from_le_bytes(lower));
            }
        }
        state.write_u64(path.len() as u64);
        let mut word = [0u8; 8];
        for chunk in path.as_bytes().chunks(8) {
            word.fill(0);
            word[..chunk.len()].copy_from_slice(chunk);
            state.write_u64(u64::from_le_bytes(word));
        }
        let (a, b) = state.finish();
        let mut buf = [0u8; SCOPE_LEN];
        buf[..3].copy_from_slice(b"@p:");
        let digest = (u128::from(a) << 64 | u128::from(b)).to_be_bytes();
        for (pair, byte) in buf[3..].chunks_exact_mut(2).zip(&digest) {
            pair.copy_from_slice(&HEX_PAIRS[usize::from(*byte)]);
        }
        Scope { buf }
    }

    /// The scope a response's `Location` or `Content-Location` names, when it is on the
    /// request's host (RFC 9111 §4.4: a cache must not invalidate another host's entries).
    pub(crate) fn scope_of_location(&self, authority: &[u8], location: &[u8]) -> Option<Scope> {
        let uri = http::Uri::try_from(location).ok()?;
        if let Some(target) = uri.authority() {
            if !target.as_str().as_bytes().eq_ignore_ascii_case(authority) {
                return None;
            }
        } else if !location.starts_with(b"/") {
            // A relative reference other than an absolute path: not resolved.
            return None;
        }
        Some(self.scope_of(authority, uri.path()))
    }
}

const SCOPE_LEN: usize = 3 + 32;

/// Two independent multiply-xorshift lanes over 64-bit words, with a final avalanche: a fixed,
/// portable 128-bit hash (no per-process keys, unlike std's `DefaultHasher`, whose algorithm
/// may also change between Rust releases).
struct ScopeHash(u64, u64);

impl ScopeHash {
    const K0: u64 = 0x9e37_79b9_7f4a_7c15;
    const K1: u64 = 0xc2b2_ae3d_27d4_eb4f;

    fn new() -> Self {
        Self(0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344)
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(Self::K0).rotate_left(29);
        self.1 = (self.1 ^ word.rotate_left(32))
            .wrapping_mul(Self::K1)
            .rotate_left(31);
    }

    fn finish(self) -> (u64, u64) {
        let avalanche = |mut h: u64| {
            h ^= h >> 33;
            h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
            h ^= h >> 33;
            h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
            h ^ (h >> 33)
        };
        (
            avalanche(self.0 ^ self.1.rotate_left(17)),
            avalanche(self.1 ^ self.0),
        )
    }
}

/// A path scope, `@p:{32 hex digits}`, on the stack.
#[derive(Clone, Copy)]
pub(crate) struct Scope {
    buf: [u8; SCOPE_LEN],
}

impl Scope {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub(crate) fn as_str(&self) -> &str {
        // ASCII by construction.
        std::str::from_utf8(&self.buf).unwrap_or_default()
    }
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

/// The request's authority: the URI's (HTTP/2 `:authority`, an absolute-form request), else
/// the `Host` header's.
pub(crate) fn authority_of<B>(req: &Request<B>) -> &[u8] {
    req.uri()
        .authority()
        .map(|a| a.as_str().as_bytes())
        .or_else(|| req.headers().get(http::header::HOST).map(|h| h.as_bytes()))
        .unwrap_or_default()
}

/// The longest key held inline: a namespace of up to 62 bytes.
const INLINE_KEY: usize = 127;

/// Lowercase hex of every byte value.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [DIGITS[i >> 4], DIGITS[i & 15]];
        i += 1;
    }
    table
};

/// A cache key: `{namespace}:{64 hex digits}`, inline when it fits.
pub(crate) enum Key {
    Inline { buf: [u8; INLINE_KEY], len: u8 },
    Heap(String),
}

impl Key {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Namespaces are validated ASCII and digests hex: always UTF-8.
            Self::Inline { buf, len } => {
                std::str::from_utf8(&buf[..usize::from(*len)]).unwrap_or_default()
            }
            Self::Heap(key) => key,
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { buf, len } => &buf[..usize::from(*len)],
            Self::Heap(key) => key.as_bytes(),
        }
    }

    pub(crate) fn into_string(self) -> String {
        match self {
            Self::Inline { .. } => self.as_str().to_owned(),
            Self::Heap(key) => key,
        }
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

fn method_bytes(method: &Method) -> &[u8] {
    // HEAD shares GET's entry: the stored GET response answers it, with the same ETag.
    if method == Method::HEAD {
        return b"GET";
    }
    method.as_str().as_bytes()
}

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Hashes the query with parameters stably sorted by name, so `b=2&a=1` and `a=1&b=2` share a
/// key while `a=1&a=2` and `a=2&a=1` (a list whose order may matter) do not.
fn hash_query(out: &mut Vec<u8>, query: &str) {
    let pairs = || {
        query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
    };
    out.push(1);
    let sorted = pairs().zip(pairs().skip(1)).all(|(a, b)| a.0 <= b.0);
    if sorted {
        out.extend_from_slice(&(pairs().count() as u32).to_be_bytes());
        for (name, value) in pairs() {
            field(out, name.as_bytes());
            field(out, value.as_bytes());
        }
    } else {
        let mut list: Vec<(&str, &str)> = pairs().collect();
        list.sort_by(|a, b| a.0.cmp(b.0));
        out.extend_from_slice(&(list.len() as u32).to_be_bytes());
        for (name, value) in list {
            field(out, name.as_bytes());
            field(out, value.as_bytes());
        }
    }
}

/// Whether `key` has the shape of a cache entry key: `{namespace}:{64 lowercase hex digits}`.
pub(crate) fn is_entry_key(key: &str) -> bool {
    key.rsplit_once(':').is_some_and(|(namespace, digest)| {
        !namespace.is_empty()
            && digest.len() == 64
            && digest
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Checks a namespace: non-empty `:`-separated segments of visible ASCII without glob
/// characters, not starting with `@` (reserved for generation keys).
pub(crate) fn validate_namespace(namespace: &str) -> Result<(), CacheError> {
    let invalid = |reason: &'static str| CacheError::InvalidNamespace {
        namespace: namespace.to_owned(),
        reason,
    };
    if namespace.is_empty() {
        return Err(invalid("it is empty"));
    }
    if namespace.starts_with('@') {
        return Err(invalid("a leading `@` is reserved"));
    }
    if namespace.split(':').any(str::is_empty) {
        return Err(invalid("it has an empty `:` segment"));
    }
    if namespace.split(':').count() > crate::store::Generations::MAX {
        return Err(invalid("it has more than 8 `:` segments"));
    }
    if let Some(c) = namespace
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '*' | '?' | '[' | ']' | '\\'))
    {
        return Err(if c.is_ascii_graphic() {
            invalid("it contains a glob character")
        } else {
            invalid("it contains whitespace, control or non-ASCII characters")
        });
    }
    Ok(())
}

/// `a:b:c` → `["a", "a:b", "a:b:c"]`: the namespaces whose generations an entry depends on.
pub(crate) fn namespace_chain(namespace: &str) -> Arc<[Arc<str>]> {
    namespace
        .match_indices(':')
        .map(|(i, _)| Arc::from(&namespace[..i]))
        .chain(std::iter::once(Arc::from(namespace)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn builder() -> KeyBuilder {
        KeyBuilder::new(
            Arc::from("assessments:list"),
            Arc::from(vec![HeaderName::from_static("accept-language")]),
            true,
        )
    }

    fn get(uri: &str) -> Request<()> {
        Request::get(uri).body(()).unwrap()
    }

    #[test]
    fn query_order_does_not_matter_but_values_do() {
        let b = builder();
        assert_eq!(
            b.key(&get("/x?a=1&b=2"), None),
            b.key(&get("/x?b=2&a=1"), None)
        );
        assert_eq!(
            b.key(&get("/x?a=1&&b=2"), None),
            b.key(&get("/x?b=2&a=1"), None)
        );
        assert_ne!(
            b.key(&get("/x?a=1&a=2"), None),
            b.key(&get("/x?a=2&a=1"), None)
        );
        assert_ne!(b.key(&get("/x?a=1"), None), b.key(&get("/x?a=2"), None));
        assert_ne!(b.key(&get("/x?ab=1"), None), b.key(&get("/x?a=b1"), None));
        assert_ne!(b.key(&get("/x"), None), b.key(&get("/y"), None));
    }

    #[test]
    fn principal_method_and_vary_change_the_key() {
        let b = builder();
        let req = get("/x");
        let a = b.key(&req, Some("alice"));
        assert_ne!(a, b.key(&req, Some("bob")));
        assert_ne!(a, b.key(&req, None));
        assert_ne!(b.key(&req, Some("")), b.key(&req, None));
        let head = Request::head("/x").body(()).unwrap();
        assert_eq!(
            b.key(&req, None),
            b.key(&head, None),
            "HEAD is answered from GET"
        );
        let post = Request::post("/x").body(()).unwrap();
        assert_ne!(b.key(&req, None), b.key(&post, None));
        let fr = Request::get("/x")
            .header("accept-language", "fr")
            .body(())
            .unwrap();
        assert_ne!(b.key(&req, None), b.key(&fr, None));
        assert!(a.starts_with("assessments:list:"));
        assert!(is_entry_key(&a));
        assert!(!is_entry_key("session:abc"));
        assert!(!is_entry_key(&a.to_uppercase()));
        assert_eq!(a.len(), "assessments:list:".len() + 64);
    }

    #[test]
    fn namespaces_are_validated_and_chained() {
        assert!(validate_namespace("assessments:list").is_ok());
        for bad in [
            "",
            "a::b",
            ":a",
            "a:",
            "a*",
            "a b",
            "@gen",
            "é",
            "1:2:3:4:5:6:7:8:9",
        ] {
            assert!(validate_namespace(bad).is_err(), "{bad:?}");
        }
        let chain: Vec<String> = namespace_chain("a:b:c")
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(chain, ["a", "a:b", "a:b:c"]);
    }

    #[test]
    fn inline_and_long_keys_are_namespace_colon_blake3_hex() {
        let req = get("/x?b=2&a=1");
        for namespace in ["a", &"n".repeat(62), &"n".repeat(63), &"n".repeat(200)] {
            let b = KeyBuilder::new(Arc::from(namespace), Arc::from(Vec::new()), true);
            let mut fed = Vec::new();
            b.feed(&mut fed, &req, None);
            let expected = format!("{namespace}:{}", blake3::hash(&fed).to_hex());
            let key = b.key_inline(&req, None);
            assert_eq!(key.as_str(), expected);
            assert_eq!(
                matches!(key, Key::Inline { .. }),
                namespace.len() <= 62,
                "{namespace}"
            );
            assert_eq!(key.into_string(), expected);
            assert_eq!(b.key(&req, None), expected);
        }
    }

    #[test]
    fn scopes_cover_every_query_variant_of_a_path_on_one_host() {
        let b = builder();
        let on = |uri: &str, host: &str| Request::get(uri).header("host", host).body(()).unwrap();
        let scope = |req: &Request<()>| b.scope(req).as_str().to_owned();
        let a = scope(&on("/items?page=2", "Shop.example"));
        assert_eq!(a, scope(&on("/items", "shop.example")));
        assert_ne!(a, scope(&on("/items/1", "shop.example")));
        assert_ne!(a, scope(&on("/items", "other.example")));
        assert!(a.starts_with("@p:") && a.len() == 35);
        // Stable across builds and processes: instances sharing a Redis must agree.
        assert_eq!(
            b.scope_of(b"shop.example", "/items").as_str(),
            "@p:2740126f35aebde974ad7728ca9fdb2c"
        );
        let distinct: std::collections::HashSet<String> = (0..20_000)
            .map(|i| {
                b.scope_of(b"shop.example", &format!("/items/{i}"))
                    .as_str()
                    .to_owned()
            })
            .collect();
        assert_eq!(distinct.len(), 20_000);
        let here = b"shop.example";
        let same = |loc: &str| {
            b.scope_of_location(here, loc.as_bytes())
                .map(|s| s.as_str().to_owned())
        };
        assert_eq!(same("/items"), Some(a.clone()));
        assert_eq!(same("https://SHOP.example/items?x=1"), Some(a));
        assert_eq!(same("https://other.example/items"), None);
        assert_eq!(same("items"), None);
    }

    proptest! {
        #[test]
        fn principals_never_share_keys(a in "[a-z0-9]{0,12}", b in "[a-z0-9]{0,12}", path in "/[a-z]{0,8}") {
            prop_assume!(a != b);
            let builder = builder();
            let req = get(&path);
            prop_assert_ne!(builder.key(&req, Some(&a)), builder.key(&req, Some(&b)));
        }
    }
}
