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
//!     // ... insert it, then drop every cached response of namespace `assessments`, O(1):
//!     cache.invalidate_namespace("assessments").await.expect("store reachable");
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
//! as `assessments:list`), and the digest covers the method (HEAD counts as GET: a stored GET
//! response answers it, with the same ETag), the authority (the URI's, else the `Host`
//! header, lowercased; a service that answers one host only may leave it out with
//! [`key_host(false)`](CacheLayerBuilder::key_host)), the path, the query with its parameters
//! sorted by name, the [`vary`] headers and, on routes keyed [`per_user`], the
//! [`CachePrincipal`] the application's authentication put in the request's extensions. The
//! principal never comes from a header the client picks.
//!
//! A layer's namespace may also come from the request path:
//! [`prefix_from_path`](CacheLayerBuilder::prefix_from_path)`("/api/assessments/{id}",
//! "assessments:{id}")` keeps each assessment under its own namespace (`assessments:42`),
//! so invalidating one leaves the others cached. Path values are percent-decoded and escaped
//! ([`namespace_segment`]), so no value can add a level, a glob or a reserved `@`; a path
//! that gives no namespace passes through uncached (`fwd=bypass; detail=namespace`).
//!
//! # What is cached
//!
//! - Only GET and HEAD (HEAD from the stored GET response). Other methods pass through
//!   (`X-Cache: BYPASS`, `Cache-Status: ...; fwd=method`); so do requests carrying
//!   `Authorization` or `Cookie` (`fwd=request`), unless the route is keyed
//!   [`per_user`] or opted in with
//!   [`share_authenticated`](CacheLayerBuilder::share_authenticated) for content that is the
//!   same for everyone (RFC 9111 §3.5: the opt-in says for the route what `public` says on a
//!   response), where logged-in and anonymous reads share entries.
//! - Responses with a [cacheable status](CacheLayerBuilder::cacheable_statuses), a body no
//!   larger than [`max_body`], and no `Cache-Control: no-store` or `no-cache`. Responses with
//!   `Set-Cookie` or `Cache-Control: private` are stored only on routes keyed per user. A `Vary`
//!   naming a header the key does not cover prevents storing.
//! - Freshness follows the origin (RFC 9111 §4.2.1 for a shared cache): `s-maxage`, else
//!   `max-age`, else `Expires` against `Date` bound an entry's TTL; the layer's
//!   [`ttl`](CacheLayerBuilder::ttl) is the default and the ceiling. A response that is stale
//!   on arrival (`max-age=0`, `s-maxage=0`, an `Expires` in the past) is not stored, unless a
//!   stale window applies. An upstream `Age` comes off the origin's lifetime. The response
//!   directives `stale-while-revalidate=N` and `stale-if-error=N` (RFC 5861) replace the
//!   layer's windows for that entry, and `must-revalidate` or `proxy-revalidate` close them
//!   (never served stale).
//! - A request's own `Cache-Control: no-cache` or `max-age=0` is ignored by default, as
//!   Varnish does, so no client can empty the cache's benefit; with
//!   [`honour_request_no_cache`](CacheLayerBuilder::honour_request_no_cache) it goes to the
//!   inner service (`fwd=request`) and its response is stored.
//! - A larger body is passed through as it streams, after the bytes buffered so far; nothing is
//!   stored and nothing fails.
//!
//! # Serving
//!
//! - Concurrent misses on one key call the inner service once (single flight); the others
//!   wait and get the same response. The shared fill is unconditional and whole: the
//!   request's `If-None-Match`, `If-Modified-Since`, `Range` and `If-Range` are not
//!   forwarded (and HEAD goes forward as GET), and each request's own conditional is then
//!   answered from the result. On a Tokio runtime, a fill runs in a task of its own and
//!   finishes even when the request that started it is dropped (a client that hangs up); and
//!   single flight holds during a store outage too.
//! - Entries carry a strong ETag (blake3 of the body); `If-None-Match` gets `304 Not
//!   Modified`, and so does `If-Modified-Since` against a stored `Last-Modified` (IMF-fixdate).
//!   A `Range` request gets the whole `200` response, as RFC 9110 allows.
//! - Bodies of at least the [compression threshold](CacheLayerBuilder::compress_above) are
//!   stored zstd-compressed and sent as stored to clients with `Accept-Encoding: zstd`;
//!   others get them decompressed.
//! - Every response says what happened: `X-Cache: HIT | MISS | STALE | BYPASS` and an
//!   RFC 9211 `Cache-Status` such as `inframind; hit; ttl=297` or
//!   `inframind; fwd=uri-miss; fwd-status=200; stored`.
//! - Optional [stale-while-revalidate](CacheLayerBuilder::stale_while_revalidate) and
//!   [stale-if-error](CacheLayerBuilder::stale_if_error) windows.
//! - A response made from the inner service's own answer (a miss, stored or not, and a
//!   bypass) keeps that answer's `http::Extensions`, so middleware outside the layer can read
//!   what the handler attached. Responses served from an entry (hits, stale answers, waiters
//!   of a single flight) have none: extensions are not stored.
//!
//! # Failures
//!
//! A store that errors or times out never fails a request: the inner service answers (once
//! per key, through single flight) and [`CacheStats::store_errors`] counts it. Bytes under a
//! key that do not decode, or whose body does not hash to its ETag, are a miss, are deleted
//! and are counted in [`CacheStats::corrupt_entries`]. An entry larger than the store keeps
//! (a [`MemoryStore`] entry is at most 97% of `max_bytes / shards`) is reported as not stored; the
//! builder lowers its default [`max_body`] to the store's largest entry and rejects a larger
//! explicit one. Invalidation, on the other hand, reports a store failure to its caller.
//!
//! # Invalidation
//!
//! A POST, PUT, PATCH or DELETE that succeeds (2xx or 3xx) through a layer invalidates the
//! entries of its target URI, every query variant included, and of the URIs its response's
//! `Location` and `Content-Location` name on the same host (RFC 9111 §4.4), before its
//! response is returned. Each entry records the generation of its path scope (read in the
//! lookup's one round trip), and the write drops it. Turn it off per layer with
//! [`invalidate_on_unsafe(false)`](CacheLayerBuilder::invalidate_on_unsafe); wrap the unsafe
//! routes with the layer too, or they never pass through it.
//!
//! From code, three calls, one per intent, so none can be mistaken for another:
//!
//! - [`CacheHandle::invalidate_namespace`]`("ns")` invalidates namespace `ns` and everything
//!   below it (`ns:...`) by changing its generation, which every lookup reads in the same
//!   round trip as the entry: O(1) store work for any number of entries. With namespaces
//!   from the path, `invalidate_namespace("assessments:42")` drops one assessment's entries
//!   and `invalidate_namespace("assessments")` all of them.
//! - [`CacheHandle::invalidate_key`] deletes one entry, by the key
//!   [`CacheLayer::key_for`] gives.
//! - [`CacheHandle::invalidate_matching`]`("*:list:*")` deletes the cache's own entries whose
//!   keys match a glob, with `SCAN` and `UNLINK` on Redis (never `KEYS`); keys that are not
//!   this cache's entries are never touched, even under the same Redis key prefix.
//!
//! # Statistics
//!
//! [`CacheHandle::stats`] reads relaxed atomics: hits, misses, stale hits, bypasses,
//! coalesced waits, store errors, corrupt entries, bytes stored and saved, the store's entries
//! and bytes where it can tell, a Redis hot tier's hits and misses
//! ([`CacheStats::hot_tier`]), and [`OperationLatency`] histograms of store lookups, writes
//! and invalidations (an in-process hit answered from decoded entries is not timed).
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
mod buffer;
mod config;
mod entry;
pub mod envelope;
mod error;
mod flight;
mod future;
mod handle;
mod headers;
mod key;
mod latency;
mod layer;
mod lookup;
mod miss;
mod namespace;
mod origin;
mod policy;
mod prepared;
mod respond;
mod service;
mod store;

pub use body::CacheBody;
pub use config::CachePrincipal;
pub use error::{BoxError, CacheError, StoreError};
pub use future::ResponseFuture;
pub use handle::{CacheHandle, CacheStats};
pub use latency::OperationLatency;
pub use layer::{CacheLayer, CacheLayerBuilder};
pub use namespace::{MAX_SEGMENT_BYTES, namespace_segment};
pub use service::CacheService;
pub use store::{
    Generations, HitRequest, HotTierStats, Lookup, MemoryStore, MemoryStoreBuilder, NamespaceToken,
    PutOutcome, Store, StoreFuture,
};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use store::{RedisStore, RedisStoreBuilder};

/// The README's example, compiled as a doctest.
#[cfg(all(doctest, feature = "redis"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
