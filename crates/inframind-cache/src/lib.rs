//! Response caching for tower and axum, on Redis or in process.
//!
//! [`CacheLayer`] caches the GET and HEAD responses of any
//! `Service<http::Request<B>>` whose response body is an [`http_body::Body`]. One
//! [`CacheHandle`] per store invalidates entries and reports statistics for every layer built
//! from it.
//!
//! ```
//! use std::time::Duration;
//!
//! use axum::{Json, Router, extract::State, routing::get};
//! use inframind_cache::{CacheHandle, CacheLayer, MemoryStore};
//! use tower::ServiceExt;
//!
//! async fn list_assessments() -> Json<Vec<&'static str>> {
//!     Json(vec!["cloud migration", "cost review"]) // an expensive query, in real life
//! }
//!
//! async fn create_assessment(State(cache): State<CacheHandle>) -> &'static str {
//!     // ... insert it, then drop every cached `assessments:*` response, O(1):
//!     cache.invalidate("assessments:*").await.expect("store reachable");
//!     "created"
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Or `RedisStore::connect("redis://127.0.0.1:6379").await?` with feature `redis`.
//! let cache = CacheLayer::builder(MemoryStore::new())
//!     .ttl(Duration::from_secs(300))
//!     .prefix("assessments:list")
//!     .build()?;
//! let handle = cache.handle();
//!
//! let app = Router::new()
//!     .route("/api/assessments", get(list_assessments).layer(cache))
//!     .route("/api/assessments/new", axum::routing::post(create_assessment))
//!     .with_state(handle.clone());
//!
//! let get = || http::Request::get("/api/assessments").body(axum::body::Body::empty()).unwrap();
//! let first = app.clone().oneshot(get()).await?;
//! assert_eq!(first.headers()["x-cache"], "MISS");
//! let second = app.clone().oneshot(get()).await?;
//! assert_eq!(second.headers()["x-cache"], "HIT");
//!
//! let post = http::Request::post("/api/assessments/new").body(axum::body::Body::empty())?;
//! app.clone().oneshot(post).await?;
//! let third = app.clone().oneshot(get()).await?;
//! assert_eq!(third.headers()["x-cache"], "MISS");
//!
//! let stats = handle.stats();
//! assert_eq!((stats.hits, stats.misses), (1, 2));
//! println!("hit rate {:.0}%", stats.hit_rate() * 100.0);
//! # Ok(())
//! # }
//! ```
//!
//! # Keys
//!
//! A key is `{namespace}:{blake3}`: the namespace is the layer's [`prefix`] (`:`-separated, such
//! as `assessments:list`), and the digest covers the method, the path, the query with its
//! parameters sorted by name, the [`vary`] headers and, on routes keyed [`per_user`], the
//! [`CachePrincipal`] the application's authentication put in the request's extensions. The
//! principal never comes from a header the client picks.
//!
//! # What is cached
//!
//! - Only GET and HEAD. Other methods, and requests carrying `Authorization` or `Cookie` on a
//!   route that is not keyed per user, pass through (`X-Cache: BYPASS`).
//! - Responses with a [cacheable status](CacheLayerBuilder::cacheable_statuses), a body no
//!   larger than [`max_body`], and no `Cache-Control: no-store` or `no-cache`. Responses with
//!   `Set-Cookie` or `Cache-Control: private` are stored only on routes keyed per user. A `Vary`
//!   naming a header the key does not cover prevents storing.
//! - A larger body is passed through as it streams, after the bytes buffered so far; nothing is
//!   stored and nothing fails.
//!
//! # Serving
//!
//! - Concurrent misses on one key call the inner service once (single flight); the others
//!   wait and get the same response.
//! - Entries carry a strong ETag (blake3 of the body); `If-None-Match` gets `304 Not Modified`.
//! - Bodies of at least the [compression threshold](CacheLayerBuilder::compress_above) are
//!   stored zstd-compressed and sent as stored to clients with `Accept-Encoding: zstd`;
//!   others get them decompressed.
//! - Every response says what happened: `X-Cache: HIT | MISS | STALE | BYPASS` and an
//!   RFC 9211 `Cache-Status` such as `inframind; hit; ttl=297` or
//!   `inframind; fwd=uri-miss; fwd-status=200; stored`.
//! - Optional [stale-while-revalidate](CacheLayerBuilder::stale_while_revalidate) and
//!   [stale-if-error](CacheLayerBuilder::stale_if_error) windows.
//!
//! # Failures
//!
//! A store that errors or times out never fails a request: the inner service answers and
//! [`CacheStats::store_errors`] counts it. Bytes under a key that do not decode are a miss, and
//! are deleted. Invalidation, on the other hand, reports a store failure to its caller.
//!
//! # Invalidation
//!
//! [`CacheHandle::invalidate`] takes a glob. `ns:*` and `ns*` invalidate namespace `ns` and
//! everything below it by changing its generation, which every lookup reads in the same round
//! trip as the entry: O(1) store work for any number of entries. Other globs delete matching
//! keys with `SCAN` and `UNLINK` (never `KEYS`).
//!
//! # Features
//!
//! - `redis`: [`RedisStore`], on the `redis` crate's connection manager.
//!
//! [`prefix`]: CacheLayerBuilder::prefix
//! [`vary`]: CacheLayerBuilder::vary
//! [`per_user`]: CacheLayerBuilder::per_user
//! [`max_body`]: CacheLayerBuilder::max_body

#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
pub mod envelope;
mod error;
mod flight;
mod future;
mod handle;
mod key;
mod layer;
mod policy;
mod prepared;
mod service;
mod store;

pub use body::CacheBody;
pub use error::{BoxError, CacheError, StoreError};
pub use future::ResponseFuture;
pub use handle::{CacheHandle, CacheStats};
pub use layer::{CacheLayer, CacheLayerBuilder, CachePrincipal};
pub use service::CacheService;
pub use store::{Generations, Lookup, MemoryStore, MemoryStoreBuilder, Store, StoreFuture};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use store::{RedisStore, RedisStoreBuilder};

/// The README's example, compiled as a doctest.
#[cfg(all(doctest, feature = "redis"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
