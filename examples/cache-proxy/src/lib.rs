//! A caching reverse proxy: [`inframind_cache::CacheLayer`] in its origin-driven mode in
//! front of a hyper client that forwards every request to one origin.
//!
//! [`serve`] runs it on a listener; `main.rs` parses [`Cli`] and calls it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use inframind_cache::{CacheHandle, CacheLayer, MemoryStore, RedisStore};
use tokio::net::TcpListener;
use tower::{Layer, ServiceExt};

/// The proxy's settings (flags, or the environment variables named).
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "cache-proxy", version, about)]
pub struct Cli {
    /// The origin every request is forwarded to, `http://host[:port]` (no path).
    #[arg(long, env = "CACHE_PROXY_ORIGIN")]
    pub origin: String,
    /// Where the proxy listens.
    #[arg(long, env = "CACHE_PROXY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where entries live: `memory`, or a Redis URL (`redis://127.0.0.1:6379/0`).
    #[arg(long, env = "CACHE_PROXY_STORE", default_value = "memory")]
    pub store: String,
    /// The in-process store's size, in bytes (suffixes KiB, MiB and GiB accepted).
    #[arg(long, env = "CACHE_PROXY_SIZE", default_value = "256MiB", value_parser = parse_size)]
    pub size: u64,
    /// The prefix of every Redis key the proxy writes.
    #[arg(long, env = "CACHE_PROXY_REDIS_PREFIX", default_value = "cache-proxy:")]
    pub redis_prefix: String,
    /// The largest response body the proxy stores, in bytes (suffixes accepted).
    #[arg(long, env = "CACHE_PROXY_MAX_BODY", default_value = "8MiB", value_parser = parse_size)]
    pub max_body: u64,
    /// Ignore the origin's directives and keep every cacheable response this long (seconds):
    /// the layer's application mode, for comparison.
    #[arg(long, env = "CACHE_PROXY_APPLICATION_TTL")]
    pub application_ttl: Option<u64>,
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The origin is not an `http://host[:port]` URL.
    #[error("invalid origin {0:?}: give http://host[:port]")]
    InvalidOrigin(String),
    /// The store could not be set up.
    #[error("store: {0}")]
    Store(#[from] inframind_cache::StoreError),
    /// The cache layer rejected a setting.
    #[error("cache: {0}")]
    Cache(#[from] inframind_cache::CacheError),
    /// A setting is out of range.
    #[error("invalid {0}")]
    Setting(&'static str),
    /// Listening or accepting failed.
    #[error("listen: {0}")]
    Io(#[from] std::io::Error),
}

/// Parses a byte size: `1048576`, `512KiB`, `256MiB`, `1GiB`.
///
/// # Errors
///
/// A message naming the accepted forms.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        _ => {
            return Err(format!(
                "{text:?}: give bytes, or a number with KiB, MiB or GiB"
            ));
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("{text:?}: give bytes, or a number with KiB, MiB or GiB"))
}

/// The origin: every request is sent there, whatever its method.
#[derive(Clone, Debug)]
pub struct Origin {
    client: Client<HttpConnector, Incoming>,
    scheme: Scheme,
    authority: Authority,
}

impl Origin {
    /// An origin at `url` (`http://host[:port]`).
    ///
    /// # Errors
    ///
    /// [`ProxyError::InvalidOrigin`] for anything but an `http` URL with a host and no path.
    pub fn new(url: &str) -> Result<Self, ProxyError> {
        let invalid = || ProxyError::InvalidOrigin(url.to_owned());
        let uri: Uri = url.parse().map_err(|_| invalid())?;
        let parts = uri.into_parts();
        let scheme = parts
            .scheme
            .filter(|s| *s == Scheme::HTTP)
            .ok_or_else(invalid)?;
        let authority = parts.authority.ok_or_else(invalid)?;
        if parts.path_and_query.is_some_and(|p| p.as_str() != "/") {
            return Err(invalid());
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self {
            client,
            scheme,
            authority,
        })
    }
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1): never forwarded.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
    ] {
        headers.remove(name);
    }
}

impl tower_service::Service<Request<Incoming>> for Origin {
    type Response = Response<Incoming>;
    type Error = hyper_util::client::legacy::Error;
    type Future = hyper_util::client::legacy::ResponseFuture;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Incoming>) -> Self::Future {
        let path = req
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
        strip_hop_by_hop(req.headers_mut());
        // The client writes the origin's Host from the URI.
        req.headers_mut().remove(header::HOST);
        *req.version_mut() = http::Version::HTTP_11;
        self.client.request(req)
    }
}

/// The response body the proxy sends.
pub type ProxyBody = UnsyncBoxBody<Bytes, hyper::Error>;

/// The cache for `cli`'s store and size.
///
/// # Errors
///
/// [`ProxyError::Store`] when the Redis URL is invalid.
pub async fn cache_handle(cli: &Cli) -> Result<CacheHandle, ProxyError> {
    if cli.store == "memory" {
        if cli.size == 0 {
            return Err(ProxyError::Setting("size: must be at least 1 byte"));
        }
        Ok(CacheHandle::new(MemoryStore::with_max_bytes(cli.size)))
    } else {
        let store = RedisStore::builder(cli.store.clone())
            .key_prefix(cli.redis_prefix.clone())
            .connect_lazy()?;
        Ok(CacheHandle::new(store))
    }
}

/// The cache layer the proxy puts in front of the origin.
///
/// # Errors
///
/// [`ProxyError::Cache`] for a setting the layer rejects.
pub fn cache_layer(cli: &Cli, handle: &CacheHandle) -> Result<CacheLayer, ProxyError> {
    let max_body = usize::try_from(cli.max_body).map_err(|_| ProxyError::Setting("max-body"))?;
    let builder = handle.layer().prefix("proxy").max_body(max_body);
    let layer = match cli.application_ttl {
        Some(secs) => builder.ttl(Duration::from_secs(secs)).build()?,
        None => builder.origin_driven().build()?,
    };
    Ok(layer)
}

fn bad_gateway() -> Response<ProxyBody> {
    let mut response = Response::new(
        Full::new(Bytes::from_static(b"bad gateway\n"))
            .map_err(|never: Infallible| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// Serves the proxy on `listener` until the future is dropped.
///
/// # Errors
///
/// [`ProxyError`] when the origin, the store or a setting is invalid.
pub async fn serve(listener: TcpListener, cli: Cli) -> Result<(), ProxyError> {
    let origin = Origin::new(&cli.origin)?;
    let handle = cache_handle(&cli).await?;
    let layer = cache_layer(&cli, &handle)?;
    let cache = layer.layer(origin);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let cache = cache.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let cache = cache.clone();
            async move {
                let response = match cache.oneshot(req).await {
                    Ok(response) => {
                        let (mut parts, body) = response.into_parts();
                        strip_hop_by_hop(&mut parts.headers);
                        // The client's connection is HTTP/1.1 whatever the origin spoke.
                        parts.version = http::Version::HTTP_11;
                        Response::from_parts(parts, body.boxed_unsync())
                    }
                    Err(error) => {
                        tracing::warn!(%error, "origin request failed");
                        bad_gateway()
                    }
                };
                Ok::<_, Infallible>(response)
            }
        });
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
}
