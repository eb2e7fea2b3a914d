//! [`CacheHandle`]: invalidation and statistics, shared by every layer on one store.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{CacheError, StoreError};
use crate::flight::Flights;
use crate::key::{is_entry_key, validate_namespace};
use crate::latency::{LatencyRecorder, OperationLatency};
use crate::layer::CacheLayerBuilder;
use crate::store::Store;

/// A cheap, cloneable handle on a cache: invalidate entries from handlers and admin code, and
/// read statistics.
///
/// Every [`CacheLayer`](crate::CacheLayer) built from one handle (see
/// [`CacheHandle::layer`]) shares its store, its statistics and its single-flight table, so one
/// handle serves an application with a layer per route.
#[derive(Clone, Debug)]
pub struct CacheHandle {
    pub(crate) shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) counters: Counters,
    pub(crate) flights: Arc<Flights>,
}

/// The counters behind [`CacheStats`]: relaxed atomics, read only when a snapshot is taken.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) stale_hits: AtomicU64,
    pub(crate) bypasses: AtomicU64,
    pub(crate) coalesced_waits: AtomicU64,
    pub(crate) store_errors: AtomicU64,
    pub(crate) bytes_stored: AtomicU64,
    pub(crate) bytes_saved_by_compression: AtomicU64,
    pub(crate) corrupt_entries: AtomicU64,
    pub(crate) get_latency: LatencyRecorder,
    pub(crate) put_latency: LatencyRecorder,
    pub(crate) invalidate_latency: LatencyRecorder,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn store_error(&self, error: &StoreError) {
        tracing::debug!(%error, "cache store error; serving from the inner service");
        self.store_errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// A snapshot of a cache's counters, since the handle was created.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Requests answered from a fresh entry (including `304 Not Modified` answers).
    pub hits: u64,
    /// Cacheable requests that called the inner service.
    pub misses: u64,
    /// Requests answered from an expired entry: stale-while-revalidate, or stale-if-error when
    /// the inner service failed.
    pub stale_hits: u64,
    /// Requests the cache did not handle: methods other than GET and HEAD, credentials on a
    /// route not keyed per user, or a per-user route without a principal.
    pub bypasses: u64,
    /// Requests that waited for a concurrent miss on the same key and reused its response.
    pub coalesced_waits: u64,
    /// Store operations that failed or timed out (the requests were still served).
    pub store_errors: u64,
    /// Bytes written to the store (encoded entries, after compression).
    pub bytes_stored: u64,
    /// Bytes compression kept out of the store: the sum of (plain − compressed) body sizes.
    pub bytes_saved_by_compression: u64,
    /// Entries in the store, when the store can tell (the in-process store can; Redis cannot
    /// tell this cache's keys from others' cheaply, so `None`).
    pub entries: Option<u64>,
    /// Bytes the store's entries occupy now, when the store can tell (the in-process store
    /// can, counting what its byte bound counts; Redis cannot, so `None`).
    pub memory_bytes: Option<u64>,
    /// Entries read from the store that were not served because they were corrupt: bytes that
    /// do not decode, or a body that does not hash to its ETag. Each was deleted, and the
    /// request went to the inner service.
    pub corrupt_entries: u64,
    /// How long lookups through [`Store::get`] took: every lookup of a remote store (one
    /// round trip each), and the lookups of an in-process store that go through the trait
    /// (misses, stale entries). A `MemoryStore` hit answered from its decoded entries is not
    /// timed: it costs less than reading the clock twice would add.
    pub get_latency: OperationLatency,
    /// How long writes of entries ([`Store::put`]) took.
    pub put_latency: OperationLatency,
    /// How long invalidations took: [`CacheHandle::invalidate_namespace`],
    /// [`invalidate_key`](CacheHandle::invalidate_key),
    /// [`invalidate_matching`](CacheHandle::invalidate_matching), and those of unsafe
    /// requests ([`Store::drop_scope`]).
    pub invalidate_latency: OperationLatency,
    /// The store's in-process hot tier, when it has one ([`Store::hot_tier_stats`]; a
    /// `RedisStore` with `RedisStoreBuilder::hot_tier` set).
    pub hot_tier: Option<crate::store::HotTierStats>,
}

impl CacheStats {
    /// The share of cacheable requests answered without calling the inner service:
    /// `(hits + stale_hits + coalesced_waits) / (that + misses)`, or 0 with no requests.
    pub fn hit_rate(&self) -> f64 {
        let served = self.hits + self.stale_hits + self.coalesced_waits;
        let total = served + self.misses;
        if total == 0 {
            0.0
        } else {
            served as f64 / total as f64
        }
    }
}

impl CacheHandle {
    /// A handle on a new cache over `store`.
    pub fn new(store: impl Store) -> Self {
        Self::from_arc(Arc::new(store))
    }

    /// A handle on a new cache over a shared store (a [`MemoryStore`](crate::MemoryStore)
    /// here still answers hits from its decoded entries, through [`Store::ready_hit`]).
    pub fn from_arc(store: Arc<dyn Store>) -> Self {
        Self {
            shared: Arc::new(Shared {
                store,
                counters: Counters::default(),
                flights: Arc::new(Flights::new()),
            }),
        }
    }

    /// A builder for a layer on this handle's cache.
    pub fn layer(&self) -> CacheLayerBuilder {
        CacheLayerBuilder::new(self.clone())
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    /// A snapshot of the counters: a few relaxed atomic loads, plus the store's entry count.
    pub fn stats(&self) -> CacheStats {
        let c = &self.shared.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheStats {
            hits: load(&c.hits),
            misses: load(&c.misses),
            stale_hits: load(&c.stale_hits),
            bypasses: load(&c.bypasses),
            coalesced_waits: load(&c.coalesced_waits),
            store_errors: load(&c.store_errors),
            bytes_stored: load(&c.bytes_stored),
            bytes_saved_by_compression: load(&c.bytes_saved_by_compression),
            entries: self.shared.store.entries(),
            memory_bytes: self.shared.store.memory_bytes(),
            corrupt_entries: load(&c.corrupt_entries),
            get_latency: c.get_latency.snapshot(),
            put_latency: c.put_latency.snapshot(),
            invalidate_latency: c.invalidate_latency.snapshot(),
            hot_tier: self.shared.store.hot_tier_stats(),
        }
    }

    /// Invalidates namespace `namespace` and every namespace below it (`namespace:...`): one
    /// generation change, O(1) store work however many entries they hold. Their entries become
    /// unreachable at once; their bytes are reclaimed as they expire or are overwritten.
    /// Sibling namespaces that merely start with the same characters (`assessments2` for
    /// `assessments`) are not touched.
    ///
    /// # Errors
    ///
    /// [`CacheError::InvalidNamespace`] for a name a layer could not have (empty, glob
    /// characters, a leading `@`...), [`CacheError::Store`] when the store could not be
    /// reached: unlike lookups, which fail open, an invalidation that may not have happened is
    /// reported to its caller.
    pub async fn invalidate_namespace(&self, namespace: &str) -> Result<(), CacheError> {
        validate_namespace(namespace)?;
        let shared = &self.shared;
        let bump = shared.store.bump_namespace(namespace);
        shared.counters.invalidate_latency.time(bump).await?;
        Ok(())
    }

    /// Deletes the entry under `key` (as built by
    /// [`CacheLayer::key_for`](crate::CacheLayer::key_for)); whether it existed.
    ///
    /// # Errors
    ///
    /// [`CacheError::InvalidPattern`] for a string that is not an entry key
    /// (`{namespace}:{64 hex digits}`), [`CacheError::Store`] when the store could not be
    /// reached.
    pub async fn invalidate_key(&self, key: &str) -> Result<bool, CacheError> {
        if !is_entry_key(key) {
            return Err(CacheError::InvalidPattern {
                pattern: key.to_owned(),
                reason: "not an entry key `{namespace}:{64 hex digits}` (see `CacheLayer::key_for`)",
            });
        }
        let shared = &self.shared;
        let delete = shared.store.delete(key);
        Ok(shared.counters.invalidate_latency.time(delete).await?)
    }

    /// Deletes the entries whose keys (`{namespace}:{digest}`) match the Redis-style glob
    /// `pattern` (`*`, `?`, `[...]`, `\\`): `*:list:*`, `a?c:*`, `*`. Only this cache's own
    /// entries are touched, even in a Redis database shared with other data. On Redis it walks
    /// the keyspace with `SCAN ... MATCH` and `UNLINK` in batches (never `KEYS`), so prefer
    /// [`invalidate_namespace`](Self::invalidate_namespace), O(1), where a namespace fits.
    /// Returns how many entries were deleted.
    ///
    /// # Errors
    ///
    /// [`CacheError::InvalidPattern`] for an empty pattern or one starting with `@`
    /// (reserved), [`CacheError::Store`] when the store could not be reached.
    pub async fn invalidate_matching(&self, pattern: &str) -> Result<u64, CacheError> {
        let invalid = |reason| CacheError::InvalidPattern {
            pattern: pattern.to_owned(),
            reason,
        };
        if pattern.is_empty() {
            return Err(invalid("it is empty"));
        }
        if pattern.starts_with('@') {
            return Err(invalid("a leading `@` is reserved"));
        }
        let shared = &self.shared;
        let delete = shared.store.delete_matching(pattern);
        Ok(shared.counters.invalidate_latency.time(delete).await?)
    }

    /// The one-call invalidation of earlier versions, kept so callers compile:
    ///
    /// - `ns:*` or `ns*`, where `ns` is a namespace: [`invalidate_namespace`](Self::invalidate_namespace)`(ns)`, returning 0;
    /// - an entry key: [`invalidate_key`](Self::invalidate_key), returning 0 or 1;
    /// - any other glob: [`invalidate_matching`](Self::invalidate_matching).
    ///
    /// # Errors
    ///
    /// As those three, and [`CacheError::InvalidPattern`] for a pattern without glob
    /// characters that is not an entry key (such as a bare namespace `assessments`): earlier
    /// versions took it for a key, deleted nothing and left the namespace cached.
    #[deprecated(
        since = "0.1.0",
        note = "say what you mean: `invalidate_namespace`, `invalidate_key` or `invalidate_matching`"
    )]
    pub async fn invalidate(&self, pattern: &str) -> Result<u64, CacheError> {
        if let Some(namespace) = pattern.strip_suffix('*') {
            let namespace = namespace.strip_suffix(':').unwrap_or(namespace);
            if validate_namespace(namespace).is_ok() {
                self.invalidate_namespace(namespace).await?;
                return Ok(0);
            }
        }
        if pattern.contains(['*', '?', '[', '\\']) || pattern.is_empty() || pattern.starts_with('@')
        {
            return self.invalidate_matching(pattern).await;
        }
        if is_entry_key(pattern) {
            return Ok(u64::from(self.invalidate_key(pattern).await?));
        }
        Err(CacheError::InvalidPattern {
            pattern: pattern.to_owned(),
            reason: "neither a glob nor an entry key; for a namespace, use `invalidate_namespace`",
        })
    }
}

impl CacheHandle {
    /// Whether both are handles to the same cache (one store, one set of statistics).
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_rate_counts_every_answer_without_the_inner_service() {
        let stats = CacheStats {
            hits: 6,
            stale_hits: 1,
            coalesced_waits: 1,
            misses: 2,
            bypasses: 100,
            ..CacheStats::default()
        };
        assert!((stats.hit_rate() - 0.8).abs() < 1e-9);
        assert_eq!(CacheStats::default().hit_rate(), 0.0);
    }
}
