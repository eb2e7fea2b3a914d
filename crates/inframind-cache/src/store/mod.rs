//! Where entries live: the [`Store`] trait, [`MemoryStore`] and (feature `redis`) `RedisStore`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response};

use crate::entry::Cached;
use crate::envelope::Envelope;
use crate::error::StoreError;

pub(crate) mod glob;
mod memory;
#[cfg(feature = "redis")]
mod redis;

pub use memory::{MemoryStore, MemoryStoreBuilder};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::{RedisStore, RedisStoreBuilder};

/// The future a [`Store`] method returns: boxed once per store operation.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The answer to [`Store::get`]: the stored bytes and the namespace generations, read together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lookup {
    /// The bytes under the key, if any.
    pub value: Option<Bytes>,
    /// The current generation of each namespace asked for, in order; `None` when the store has
    /// lost one of them (an entry computed under a lost generation must not be served).
    pub generations: Option<Generations>,
    /// `value` already decoded and verified, from a store's in-process tier (the Redis hot
    /// tier), which has just checked that the backend still holds it.
    pub(crate) ready: Option<Ready>,
}

impl Lookup {
    /// A lookup result.
    pub fn new(value: Option<Bytes>, generations: Option<Generations>) -> Self {
        Self {
            value,
            generations,
            ready: None,
        }
    }
}

/// A decoded, verified entry a store keeps in process, with the generations it was computed
/// under; shared by the store's tier and the lookups it answers.
#[derive(Clone)]
pub(crate) struct Ready(pub(crate) Arc<ReadyEntry>);

/// What [`Ready`] shares.
pub(crate) struct ReadyEntry {
    /// The entry, its plain body always present (its `envelope.generations` left empty, as
    /// [`Store::get`]'s ordinary path leaves them).
    pub(crate) cached: Cached,
    pub(crate) generations: Generations,
}

impl PartialEq for Ready {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Ready {}

impl fmt::Debug for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ready")
            .field("generations", &self.0.generations)
            .finish_non_exhaustive()
    }
}

/// The counters of a store's in-process hot tier ([`Store::hot_tier_stats`]), such as
/// `RedisStoreBuilder::hot_tier`'s (feature `redis`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HotTierStats {
    /// Lookups answered from the tier: its entry was confirmed current by the backend (one
    /// small round trip, no body transferred or decompressed).
    pub hits: u64,
    /// Lookups the tier could not answer: no entry held, or the backend no longer holds the
    /// same entry under the current generations (the entry was then fetched whole).
    pub misses: u64,
    /// Entries held now.
    pub entries: u64,
    /// Bytes the held entries are charged (keys, encoded and plain bodies, heads).
    pub bytes: u64,
    /// The most bytes the tier holds.
    pub max_bytes: u64,
}

/// The generations of a key's namespaces, held inline: a namespace has at most
/// [`Generations::MAX`] `:`-separated levels, so a lookup needs no allocation for them.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Generations {
    len: u8,
    values: [u64; Generations::MAX],
}

impl Generations {
    /// The most namespace levels a key may have.
    pub const MAX: usize = 8;

    /// No generations.
    pub fn new() -> Self {
        Self::default()
    }

    /// The generations in `values`, or `None` when there are more than [`Generations::MAX`].
    pub fn from_slice(values: &[u64]) -> Option<Self> {
        let mut out = Self::new();
        for &value in values {
            if !out.push(value) {
                return None;
            }
        }
        Some(out)
    }

    /// Appends a generation; `false` (and nothing appended) when full.
    pub fn push(&mut self, value: u64) -> bool {
        let len = usize::from(self.len);
        if len == Self::MAX {
            return false;
        }
        self.values[len] = value;
        self.len += 1;
        true
    }
}

impl std::ops::Deref for Generations {
    type Target = [u64];

    fn deref(&self) -> &[u64] {
        &self.values[..usize::from(self.len)]
    }
}

impl fmt::Debug for Generations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A store's own handle on a layer's namespaces, made once when the layer is built
/// ([`Store::resolve_namespaces`]) and handed back with every [`HitRequest`]: what the store
/// needs to check their generations without looking them up by name on each hit.
pub type NamespaceToken = Arc<dyn std::any::Any + Send + Sync>;

/// A request a store may answer at once from an entry it keeps ready ([`Store::ready_hit`]).
#[non_exhaustive]
pub struct HitRequest<'a> {
    /// The entry's key (as [`Store::get`] gets it, here as its ASCII bytes: a hit does not
    /// spend time proving them UTF-8).
    pub key: &'a [u8],
    /// The layer's namespaces, whose current generations the entry must have been computed
    /// under.
    pub namespaces: &'a [Arc<str>],
    /// What [`Store::resolve_namespaces`] made of `namespaces`, if anything.
    pub token: Option<&'a NamespaceToken>,
    /// The request's path scope (ASCII bytes), whose generation the entry must also have
    /// recorded (after the namespaces'); `None` when the layer does not use scopes. A missing
    /// scope is lost.
    pub scope: Option<&'a [u8]>,
    /// The time, in milliseconds since the Unix epoch, freshness is judged at.
    pub now_ms: u64,
    /// The request's headers.
    pub headers: &'a HeaderMap,
    /// A HEAD request: answer with the head and an empty body.
    pub head_only: bool,
    /// Renders `Cache-Status` for a fresh hit (see [`fresh_cache_status`](Self::fresh_cache_status)).
    pub(crate) fresh_status: &'a (dyn Fn(u64) -> HeaderValue + 'a),
}

impl HitRequest<'_> {
    /// The `Cache-Status` value of a fresh hit with `ttl_secs` seconds of freshness left, as
    /// the layer renders it.
    pub fn fresh_cache_status(&self, ttl_secs: u64) -> HeaderValue {
        (self.fresh_status)(ttl_secs)
    }
}

impl fmt::Debug for HitRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HitRequest")
            .field("key", &String::from_utf8_lossy(self.key))
            .field("scope", &self.scope.map(String::from_utf8_lossy))
            .field("now_ms", &self.now_ms)
            .field("head_only", &self.head_only)
            .finish_non_exhaustive()
    }
}

/// What [`Store::put`] did with an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PutOutcome {
    /// The entry is stored.
    Stored,
    /// The entry is larger than the store keeps; nothing was stored.
    TooLarge,
}

/// A place to keep encoded cache entries.
///
/// Keys are strings `{namespace}:{digest}`. Each namespace (`a`, `a:b`, ... of a key's
/// `a:b:...` prefix) has a generation number; an entry records the generations it was
/// computed under, and invalidating a namespace changes its generation, which makes every entry
/// below it stale at once without touching them (O(1) store work).
///
/// Implementations answer [`get`](Self::get) with one round trip to their backend.
pub trait Store: fmt::Debug + Send + Sync + 'static {
    /// Reads `key` and the current generations of `namespaces`, together.
    fn get<'a>(&'a self, key: &'a str, namespaces: &'a [Arc<str>]) -> StoreFuture<'a, Lookup>;

    /// [`get`](Self::get) answered at once, for stores that never wait (in-process); `None`
    /// (the default) means the cache must call `get`. The cache uses it to answer hits without
    /// allocating a future.
    fn try_get(&self, key: &str, namespaces: &[Arc<str>]) -> Option<Result<Lookup, StoreError>> {
        let _ = (key, namespaces);
        None
    }

    /// Resolves a layer's namespaces once, when the layer is built, into whatever the store
    /// wants handed back in each [`HitRequest`]. The default resolves nothing.
    fn resolve_namespaces(&self, namespaces: &[Arc<str>]) -> Option<NamespaceToken> {
        let _ = namespaces;
        None
    }

    /// A fresh hit the store answers by itself, for stores that keep entries ready to serve
    /// (in process); `None`, the default, hands the request to [`try_get`](Self::try_get)
    /// and [`get`](Self::get), which is always correct.
    ///
    /// A store that answers must answer as the cache would: only an entry that is fresh at
    /// `now_ms` and was computed under the current generations of `namespaces` (and
    /// `scope`), with its stored headers, `Age`, `X-Cache: HIT`, a `Cache-Status` from
    /// [`HitRequest::fresh_cache_status`], `304 Not Modified` for a matching
    /// `If-None-Match`, and an empty body for HEAD. Return `None` for anything else
    /// (`If-Modified-Since`, compressed bodies...). The cache counts the hit.
    fn ready_hit(&self, hit: &HitRequest<'_>) -> Option<Response<Bytes>> {
        let _ = hit;
        None
    }

    /// [`put`](Self::put), with the entry `value` encodes at hand: a store that keeps
    /// entries decoded may use `entry` instead of decoding `value` again. The default puts
    /// `value`.
    fn put_entry<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        entry: &'a Envelope,
        ttl: Duration,
    ) -> StoreFuture<'a, PutOutcome> {
        let _ = entry;
        self.put(key, value, ttl)
    }

    /// The current generations of `namespaces`, creating the ones that do not exist yet.
    fn generations<'a>(&'a self, namespaces: &'a [Arc<str>]) -> StoreFuture<'a, Vec<u64>>;

    /// Stores `value` under `key` for `ttl`, and says whether it did: a store that cannot keep
    /// an entry (larger than it allows) answers [`PutOutcome::TooLarge`] rather than dropping
    /// it silently, so the cache never reports `stored` for it.
    fn put<'a>(&'a self, key: &'a str, value: Bytes, ttl: Duration) -> StoreFuture<'a, PutOutcome>;

    /// Deletes `key`; whether it existed.
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool>;

    /// Gives `namespace` a new generation, invalidating every entry in it and below it.
    fn bump_namespace<'a>(&'a self, namespace: &'a str) -> StoreFuture<'a, ()>;

    /// The generation of path scope `scope`, creating it when it does not exist, and keeping
    /// it for at least `lifetime`.
    ///
    /// A path scope (`@p:` and 32 hex digits) stands for every entry of one URI path, all
    /// query variants included: the cache lists it after the namespaces in
    /// [`get`](Self::get), records its generation in each entry, and drops it when an unsafe
    /// request (POST, PUT, PATCH, DELETE) to the path succeeds. Unlike a namespace, which
    /// lives as long as the store, a scope may expire once its entries have: so a scope that
    /// is missing must read as lost (`Lookup::generations` is `None`), never as a fresh
    /// start. The default keeps it as a namespace, with [`generations`](Self::generations).
    fn scope_generation<'a>(&'a self, scope: &'a str, lifetime: Duration) -> StoreFuture<'a, u64> {
        let _ = lifetime;
        Box::pin(async move {
            let scope: [Arc<str>; 1] = [Arc::from(scope)];
            let generations = self.generations(&scope).await?;
            generations
                .first()
                .copied()
                .ok_or_else(|| StoreError::Protocol("no generation for a scope".into()))
        })
    }

    /// Drops path scope `scope`: every entry recorded under it is invalidated (see
    /// [`scope_generation`](Self::scope_generation)). The default gives it a new generation
    /// with [`bump_namespace`](Self::bump_namespace).
    fn drop_scope<'a>(&'a self, scope: &'a str) -> StoreFuture<'a, ()> {
        self.bump_namespace(scope)
    }

    /// Deletes every key matching the Redis-style glob `pattern`; how many were deleted.
    /// Implementations must not block the backend (Redis: `SCAN` and `UNLINK`, never `KEYS`).
    fn delete_matching<'a>(&'a self, pattern: &'a str) -> StoreFuture<'a, u64>;

    /// How many entries the store holds, when it can tell cheaply.
    fn entries(&self) -> Option<u64> {
        None
    }

    /// The bytes the store's entries occupy now, when it can tell cheaply (the spec's
    /// `cache_memory_bytes`).
    fn memory_bytes(&self) -> Option<u64> {
        None
    }

    /// The counters of the store's in-process hot tier, when it has one (`None`, the
    /// default, when it has none or it is off).
    fn hot_tier_stats(&self) -> Option<HotTierStats> {
        None
    }

    /// The largest body, in bytes, an entry of this store can hold, when the store has such a
    /// limit (`None`, the default, means no limit short of the layer's `max_body`). A layer's
    /// builder rejects a larger `max_body` and lowers its default to this.
    fn max_entry_body(&self) -> Option<u64> {
        None
    }

    /// The compression threshold the layer uses when its builder sets none: `Some(1024)` for
    /// remote stores (smaller values, less network), `None` for in-process stores, where
    /// decompressing on every hit costs more than the memory it saves.
    fn default_compression_threshold(&self) -> Option<usize> {
        Some(1024)
    }
}

/// Milliseconds since the Unix epoch: the clock of entries' `stored_at` and freshness.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() * 1000 + u64::from(d.subsec_millis()))
}

/// A fresh, unpredictable generation number (never 0, the "never invalidated" value).
pub(crate) fn fresh_generation() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    hasher.write_u64(nanos);
    hasher.finish().max(1)
}
