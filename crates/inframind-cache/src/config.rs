//! A layer's settings as its services read them ([`Config`]), and how a request is classified:
//! keyed, or left alone and why.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Method, Request, StatusCode, header};

use crate::key::{Key, KeyBuilder, namespace_chain};
use crate::namespace::PathNamespace;
use crate::store::NamespaceToken;

/// The identity a per-user route is keyed by, put into the request's extensions by the
/// application's authentication (never taken from a header the client chooses).
///
/// ```
/// use inframind_cache::CachePrincipal;
///
/// let mut request = http::Request::get("/api/users/42/assessments").body(()).unwrap();
/// // What an auth middleware does once it has verified the caller:
/// request.extensions_mut().insert(CachePrincipal::new("user-42"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CachePrincipal(Arc<str>);

impl CachePrincipal {
    /// A principal (a user id, a tenant id...).
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self(id.into())
    }

    /// The principal's id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

type Extractor = dyn Fn(&http::Extensions) -> Option<String> + Send + Sync;

/// Where a per-user route finds its principal.
#[derive(Clone)]
pub(crate) enum Principal {
    Extension,
    Custom(Arc<Extractor>),
}

impl Principal {
    fn get<'a>(&self, extensions: &'a http::Extensions) -> Option<Cow<'a, str>> {
        match self {
            Self::Extension => extensions
                .get::<CachePrincipal>()
                .map(|p| Cow::Borrowed(p.as_str())),
            Self::Custom(f) => f(extensions).map(Cow::Owned),
        }
    }
}

/// A set of status codes, as a bitmap over 100..=999.
#[derive(Clone)]
pub(crate) struct StatusSet([u64; 16]);

impl StatusSet {
    pub(crate) fn new(codes: impl IntoIterator<Item = StatusCode>) -> Self {
        let mut bits = [0; 16];
        for code in codes {
            let c = usize::from(code.as_u16());
            bits[c / 64] |= 1 << (c % 64);
        }
        Self(bits)
    }

    pub(crate) fn contains(&self, code: StatusCode) -> bool {
        let c = usize::from(code.as_u16());
        self.0[c / 64] & (1 << (c % 64)) != 0
    }
}

/// A layer's settings, shared by its services.
pub(crate) struct Config {
    pub(crate) keys: KeyBuilder,
    pub(crate) namespaces: Arc<[Arc<str>]>,
    /// Derive each request's namespace from its path (the first that matches), instead of
    /// `namespaces`; empty for a fixed prefix.
    pub(crate) path_namespaces: Box<[PathNamespace]>,
    /// What the store resolved `namespaces` into, for the hits it answers itself.
    pub(crate) namespace_token: Option<NamespaceToken>,
    pub(crate) ttl: Duration,
    pub(crate) stale_while_revalidate: Duration,
    pub(crate) stale_if_error: Duration,
    pub(crate) compress_above: Option<usize>,
    pub(crate) compression_level: i32,
    pub(crate) max_body: usize,
    pub(crate) statuses: StatusSet,
    pub(crate) principal: Option<Principal>,
    pub(crate) status_name: Arc<str>,
    /// `{name}; hit; ttl=N` for N in 0..len, rendered on first use.
    pub(crate) hit_statuses: Box<[std::sync::OnceLock<HeaderValue>]>,
    /// `{name}; fwd=method`: a method the cache does not serve.
    pub(crate) method_bypass_status: HeaderValue,
    /// `{name}; fwd=request`: the request's credentials keep it from shared entries.
    pub(crate) request_bypass_status: HeaderValue,
    /// `{name}; fwd=bypass; detail=namespace`: no namespace could be derived from the path.
    pub(crate) namespace_bypass_status: HeaderValue,
    /// Whether a request's `no-cache` / `max-age=0` makes it skip stored entries.
    pub(crate) honour_request_no_cache: bool,
    /// Whether requests with credentials share the route's entries.
    pub(crate) share_authenticated: bool,
    /// Whether entries record their path scope, and successful unsafe requests drop it.
    pub(crate) invalidate_unsafe: bool,
    /// The origin-driven mode: the response decides (see `origin`).
    pub(crate) origin_driven: bool,
    /// The targeted cache-control fields (RFC 9213) the origin-driven mode obeys, in order.
    pub(crate) targets: Box<[http::HeaderName]>,
}

/// Why a request is not handled by the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bypass {
    Method,
    Credentials,
    NoPrincipal,
    /// The layer derives namespaces from the path, and this path gives none.
    Namespace,
}

/// A request the cache handles: its key and, when the layer derives namespaces from the
/// path, the request's namespace chain (`None`: the layer's own, with no allocation).
pub(crate) struct Classified {
    pub(crate) key: Key,
    pub(crate) namespaces: Option<Arc<[Arc<str>]>>,
}

impl Config {
    /// The longest an entry of this layer lives without directives of its own: its TTL and
    /// the longer stale window.
    pub(crate) fn lifetime(&self) -> Duration {
        self.ttl + self.stale_while_revalidate.max(self.stale_if_error)
    }

    /// The key (and derived namespaces) of a cacheable request, or why the cache leaves it
    /// alone.
    pub(crate) fn classify<B>(&self, req: &Request<B>) -> Result<Classified, Bypass> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Err(Bypass::Method);
        }
        if self.path_namespaces.is_empty() {
            return self.key(req, None).map(|key| Classified {
                key,
                namespaces: None,
            });
        }
        let path = req.uri().path();
        let namespace = self
            .path_namespaces
            .iter()
            .find_map(|p| p.derive(path))
            .ok_or(Bypass::Namespace)?;
        let key = self.key(req, Some(&namespace))?;
        Ok(Classified {
            key,
            namespaces: Some(namespace_chain(&namespace)),
        })
    }

    /// The key of a GET or HEAD request, under `namespace` or the layer's.
    fn key<B>(&self, req: &Request<B>, namespace: Option<&str>) -> Result<Key, Bypass> {
        let keyed = |principal: Option<&str>| match namespace {
            Some(namespace) => self.keys.key_inline_in(namespace, req, principal),
            None => self.keys.key_inline(req, principal),
        };
        match &self.principal {
            Some(source) => match source.get(req.extensions()) {
                Some(principal) => Ok(keyed(Some(&principal))),
                None => Err(Bypass::NoPrincipal),
            },
            None => {
                let headers = req.headers();
                if !self.share_authenticated
                    && (headers.contains_key(header::AUTHORIZATION)
                        || headers.contains_key(header::COOKIE))
                {
                    Err(Bypass::Credentials)
                } else {
                    Ok(keyed(None))
                }
            }
        }
    }
}
