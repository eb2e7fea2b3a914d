//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use inframind_cache::{CacheBody, CacheLayer};
use tower::{BoxError, Service, ServiceExt};

/// What the counting origin answers with.
#[derive(Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
    pub delay: Duration,
}

impl Reply {
    pub fn ok(body: impl Into<Bytes>) -> Self {
        Self {
            status: StatusCode::OK,
            headers: vec![("content-type", "application/json".to_owned())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type ReplyFn = dyn Fn(&Request<()>, u64) -> Reply + Send + Sync;

/// An origin service that counts its calls; the reply may depend on the request.
#[derive(Clone)]
pub struct Origin {
    pub calls: Arc<AtomicU64>,
    reply: Arc<ReplyFn>,
}

impl Origin {
    pub fn new(reply: impl Fn(&Request<()>, u64) -> Reply + Send + Sync + 'static) -> Self {
        Self {
            calls: Arc::new(AtomicU64::new(0)),
            reply: Arc::new(reply),
        }
    }

    /// Answers `{"path": ..., "call": n}` so tests can tell fresh responses apart.
    pub fn echo() -> Self {
        Self::new(|req, n| {
            Reply::ok(format!(
                "{{\"path\":\"{}\",\"query\":\"{}\",\"call\":{n}}}",
                req.uri().path(),
                req.uri().query().unwrap_or("")
            ))
        })
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Service<Request<()>> for Origin {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<()>) -> Self::Future {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let reply = (self.reply)(&req, n);
        Box::pin(async move {
            if !reply.delay.is_zero() {
                tokio::time::sleep(reply.delay).await;
            }
            let mut response = Response::new(Full::new(reply.body));
            *response.status_mut() = reply.status;
            for (name, value) in reply.headers {
                response
                    .headers_mut()
                    .append(name, value.parse().expect("header value"));
            }
            Ok(response)
        })
    }
}

pub fn get(uri: &str) -> Request<()> {
    Request::get(uri).body(()).unwrap()
}

pub type Cached = inframind_cache::CacheService<Origin>;

pub fn service(layer: &CacheLayer, origin: &Origin) -> Cached {
    inframind_cache::CacheService::new(origin.clone(), layer)
}

/// The response's parts and collected body.
pub struct Got {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Got {
    pub fn x_cache(&self) -> &str {
        self.headers
            .get("x-cache")
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    pub fn cache_status(&self) -> &str {
        self.headers
            .get("cache-status")
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).unwrap()
    }
}

pub async fn send<S, B>(svc: &S, req: Request<()>) -> Got
where
    S: Service<Request<()>, Response = Response<CacheBody<B>>> + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: Into<BoxError> + std::fmt::Debug,
{
    let response = svc.clone().oneshot(req).await.expect("service error");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Got {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// Invalidation semantics, run on every store.
pub async fn prefix_invalidation(handle: inframind_cache::CacheHandle) {
    let origin = Origin::echo();
    let namespaces = [
        "assessments:list",
        "assessments:42",
        "assessments2:list",
        "users:list",
    ];
    let services: Vec<_> = namespaces
        .iter()
        .map(|ns| service(&handle.layer().prefix(*ns).build().unwrap(), &origin))
        .collect();
    let hits = |expected: [&'static str; 4]| {
        let services = services.clone();
        async move {
            for (svc, want) in services.iter().zip(expected) {
                assert_eq!(send(svc, get("/x")).await.x_cache(), want);
            }
        }
    };
    hits(["MISS"; 4]).await;
    hits(["HIT"; 4]).await;
    handle
        .invalidate_namespace("assessments:list")
        .await
        .unwrap();
    hits(["MISS", "HIT", "HIT", "HIT"]).await;
    handle.invalidate_namespace("assessments").await.unwrap();
    hits(["MISS", "MISS", "HIT", "HIT"]).await;
    hits(["HIT"; 4]).await;
    // An exact key.
    let key = handle
        .layer()
        .prefix("users:list")
        .build()
        .unwrap()
        .key_for(&get("/x"))
        .unwrap();
    assert!(handle.invalidate_key(&key).await.unwrap());
    hits(["HIT", "HIT", "HIT", "MISS"]).await;
    // A glob that is not a namespace prefix: SCAN/UNLINK or the store's own matching.
    assert_eq!(handle.invalidate_matching("*:list:*").await.unwrap(), 3);
    hits(["MISS", "HIT", "MISS", "MISS"]).await;
    assert!(handle.invalidate_matching("").await.is_err());
    assert!(handle.invalidate_matching("@gen:x").await.is_err());
    assert!(handle.invalidate_namespace("").await.is_err());
    assert!(handle.invalidate_namespace("a*").await.is_err());
    // The earlier one-call form still does what it says, and refuses a bare namespace.
    #[allow(deprecated)]
    {
        assert_eq!(handle.invalidate("users:*").await.unwrap(), 0);
        assert!(handle.invalidate("users").await.is_err());
    }
}

/// A handle on each store the scenarios run on: a fresh `MemoryStore`, and with feature
/// `redis` a `RedisStore` on the test Redis under its own key prefix.
pub async fn handles() -> Vec<inframind_cache::CacheHandle> {
    #[allow(unused_mut)]
    let mut handles = vec![inframind_cache::CacheHandle::new(
        inframind_cache::MemoryStore::new(),
    )];
    #[cfg(feature = "redis")]
    {
        let redis = inframind_test_support::redis();
        let store = inframind_cache::RedisStore::builder(redis.url())
            .key_prefix(redis.prefix())
            .connect()
            .await
            .expect("connect to the test Redis");
        handles.push(inframind_cache::CacheHandle::new(store));
    }
    handles
}
