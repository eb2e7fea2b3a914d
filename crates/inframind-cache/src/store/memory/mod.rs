//! An in-process store bounded by bytes, on quick_cache (S3-FIFO eviction), with TTLs checked
//! on read.

use std::cell::Cell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use parking_lot::RwLock;
use quick_cache::unsync::{Cache, DefaultLifecycle};
use quick_cache::{OptionsBuilder, Weighter};

use super::{
    Generations, HitRequest, Lookup, NamespaceToken, PutOutcome, Store, StoreFuture,
    fresh_generation, glob, now_ms,
};
use crate::envelope::Envelope;
use crate::prepared::Prepared;

mod ready;
#[cfg(test)]
mod tests;

const DEFAULT_CAPACITY: u64 = 64 * 1024 * 1024;
/// Bytes charged per entry on top of its key and value, for the map slot and bookkeeping.
const ENTRY_OVERHEAD: u64 = 64;
/// What an entry costs besides its body, at most, for [`Store::max_entry_body`]: its key, the
/// envelope's fixed fields and headers, the decoded head and [`ENTRY_OVERHEAD`]. An entry with
/// more headers than this allows is refused ([`PutOutcome::TooLarge`]), never dropped silently.
const ENTRY_ALLOWANCE: u64 = 4096;
/// quick_cache's share of a shard for its main ("hot") queue, set explicitly: it also drops,
/// silently, an entry heavier than this share of a shard, so the store refuses those first.
const HOT_ALLOCATION: f64 = 0.97;
/// An entry size to size quick_cache's maps and ghost queue by (it needs only a rough count).
const TYPICAL_ENTRY: u64 = 16 * 1024;

/// An in-process [`Store`] bounded by bytes, on [quick_cache](https://docs.rs/quick_cache)'s
/// sharded S3-FIFO cache.
///
/// **Eviction** is S3-FIFO: a new entry waits in a small probation queue and is evicted from
/// there unless it is read again, while entries that are read move to the main queue. So a
/// one-off scan of distinct URLs does not push the hot entries out, as it would under LRU.
/// Which entry goes first is quick_cache's choice, not least-recently-used order.
///
/// **TTLs** are checked on every read: an expired entry is never returned, and a read that
/// finds one removes it. Expired entries nobody reads leave as S3-FIFO evicts them (they are
/// never promoted), or in a sweep the store runs after every `max_bytes` of writes, or when
/// [`remove_expired`](Self::remove_expired) is called. Until then they are held, and counted
/// in [`bytes`](Self::bytes) and `Store::entries`, which report what is held.
///
/// **Bounds**: the store holds at most `max_bytes` (keys, values, decoded heads and a fixed
/// per-entry overhead), split evenly over its shards. An entry heavier than 97% of a shard is
/// refused with [`PutOutcome::TooLarge`]; [`Store::max_entry_body`] reports the largest body
/// that fits, and a cache layer's builder checks its `max_body` against it.
///
/// An entry is decoded once, when it is written, and kept ready to serve: the store answers a
/// fresh hit itself ([`Store::ready_hit`]) by cloning a response head, without decoding
/// anything, however the cache holds it (directly, or as an `Arc<dyn Store>`). Expiry times
/// are wall-clock milliseconds, the clock the cache judges freshness by. Cloning shares the
/// same storage.
///
/// ```
/// use inframind_cache::MemoryStore;
///
/// let store = MemoryStore::builder().max_bytes(256 * 1024 * 1024).shards(32).build();
/// # drop(store);
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("max_bytes", &self.inner.max_bytes)
            .field("shards", &self.inner.shards.len())
            .field("bytes", &self.bytes())
            .field("entries", &self.len())
            .finish()
    }
}

/// Settings for a [`MemoryStore`].
#[derive(Debug, Clone)]
pub struct MemoryStoreBuilder {
    max_bytes: u64,
    shards: usize,
}

/// One shard: quick_cache's single-threaded S3-FIFO cache behind our own lock. quick_cache's
/// sync cache hands a value out by cloning it, and an `Arc` clone is two atomic writes on a
/// hot entry's shared counter per hit; under a read lock a hit reads the entry in place
/// (quick_cache's own access mark stops being written once it is at its maximum).
type Shard = Cache<
    Box<[u8]>,
    Arc<Slot>,
    SlotWeight,
    BuildHasherDefault<KeyHasher>,
    DefaultLifecycle<Box<[u8]>, Arc<Slot>>,
>;

struct Inner {
    /// Keys as bytes: a hit looks its key up without checking that it is UTF-8.
    shards: Box<[RwLock<Shard>]>,
    max_bytes: u64,
    /// The heaviest entry quick_cache keeps (it drops heavier ones without a word).
    largest_entry: u64,
    /// Bytes written since the last sweep of expired entries.
    written: AtomicU64,
    /// Namespace generations, each in a cell that layers on this store hold on to, so a hit
    /// reads its generations without a lock or a map lookup.
    generations: RwLock<HashMap<Arc<str>, Arc<AtomicU64>, BuildHasherDefault<KeyHasher>>>,
    /// Path scopes (see [`Store::scope_generation`]): a generation, and when it may be dropped
    /// (every entry recorded under it has expired by then).
    scopes: RwLock<HashMap<Box<[u8]>, ScopeCell, BuildHasherDefault<KeyHasher>>>,
    /// The scope count after the last sweep of expired scopes.
    swept_scopes: AtomicU64,
    /// The clock expiry times are read from.
    clock: Clock,
}

struct ScopeCell {
    generation: u64,
    deadline: u64,
}

/// Milliseconds since the Unix epoch, from the system clock or (in tests) a manual one.
enum Clock {
    System,
    #[cfg(test)]
    Manual(Arc<AtomicU64>),
}

/// A stored entry. Immutable once stored (quick_cache requires a constant weight); in an
/// `Arc` so that a put can insert it again if replacing evicted it (see `insert_prepared`).
struct Slot {
    value: Bytes,
    /// `value` decoded, when it is a valid envelope.
    prepared: Option<Prepared>,
    /// Milliseconds since the Unix epoch: the clock entries' freshness is judged by, so a hit
    /// reads the time once.
    expires_at: u64,
    /// The weight charged: key, value, decoded head and [`ENTRY_OVERHEAD`].
    size: u64,
}

#[derive(Clone, Copy)]
struct SlotWeight;

impl Weighter<Box<[u8]>, Arc<Slot>> for SlotWeight {
    fn weight(&self, _key: &Box<[u8]>, slot: &Arc<Slot>) -> u64 {
        slot.size
    }
}

impl MemoryStoreBuilder {
    /// The most bytes (keys, values, decoded heads and a fixed per-entry overhead) the store
    /// keeps. Default 64 MiB.
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// How many independently locked shards to use (rounded up to a power of two, at least 1).
    /// Default 16. Each shard holds at most `max_bytes / shards`, and its largest entry is 97%
    /// of that.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards.max(1).next_power_of_two();
        self
    }

    /// The store.
    pub fn build(self) -> MemoryStore {
        let shard_bytes = self.max_bytes / self.shards as u64;
        // For quick_cache's ghost queue (keys recently evicted): a rough count is enough.
        let estimated =
            usize::try_from((shard_bytes / TYPICAL_ENTRY).max(32)).unwrap_or(usize::MAX);
        let shard = || {
            let hasher = BuildHasherDefault::default();
            match OptionsBuilder::new()
                .hot_allocation(HOT_ALLOCATION)
                .estimated_items_capacity(estimated)
                .weight_capacity(shard_bytes)
                .build()
            {
                Ok(options) => {
                    Cache::with_options(options, SlotWeight, hasher, DefaultLifecycle::default())
                }
                // Only when an option is missing, which cannot happen here: quick_cache's
                // defaults, whose hot allocation is the same.
                Err(_) => Cache::with(
                    estimated,
                    shard_bytes,
                    SlotWeight,
                    hasher,
                    DefaultLifecycle::default(),
                ),
            }
        };
        let shards: Box<[RwLock<Shard>]> = (0..self.shards).map(|_| RwLock::new(shard())).collect();
        // quick_cache's own admission limit, computed as it computes it.
        let shard_capacity = shards[0].read().capacity();
        let largest_entry = ((shard_capacity as f64 * HOT_ALLOCATION) as u64)
            .clamp(shard_capacity.min(1), shard_capacity);
        MemoryStore {
            inner: Arc::new(Inner {
                shards,
                max_bytes: self.max_bytes,
                largest_entry,
                written: AtomicU64::new(0),
                generations: RwLock::new(HashMap::default()),
                scopes: RwLock::new(HashMap::default()),
                swept_scopes: AtomicU64::new(0),
                clock: Clock::System,
            }),
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store holding at most 64 MiB.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A store holding at most `max_bytes`.
    pub fn with_max_bytes(max_bytes: u64) -> Self {
        Self::builder().max_bytes(max_bytes).build()
    }

    /// Settings, starting from 64 MiB in 16 shards.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder {
            max_bytes: DEFAULT_CAPACITY,
            shards: 16,
        }
    }

    /// The bytes currently charged to held entries (expired ones included until they leave,
    /// see the type's docs).
    pub fn bytes(&self) -> u64 {
        self.inner
            .shards
            .iter()
            .map(|shard| shard.read().weight())
            .sum()
    }

    fn len(&self) -> u64 {
        self.inner
            .shards
            .iter()
            .map(|shard| shard.read().len() as u64)
            .sum()
    }

    /// Removes every expired entry now; how many. The store also does this by itself after
    /// every `max_bytes` of writes, so calling it is only useful when writes stop.
    pub fn remove_expired(&self) -> u64 {
        let now = self.now();
        let removed = Cell::new(0);
        for shard in self.inner.shards.iter() {
            shard.write().retain(|_, slot| {
                let live = slot.expires_at > now;
                if !live {
                    removed.set(removed.get() + 1);
                }
                live
            });
        }
        removed.get()
    }

    fn now(&self) -> u64 {
        match &self.inner.clock {
            Clock::System => now_ms(),
            #[cfg(test)]
            Clock::Manual(ms) => ms.load(Ordering::Relaxed),
        }
    }

    fn shard(&self, key: &[u8]) -> &RwLock<Shard> {
        let mut hasher = KeyHasher::default();
        hasher.write(key);
        let index = (hasher.finish() >> 32) as usize & (self.inner.shards.len() - 1);
        &self.inner.shards[index]
    }

    /// `f` of the live entry under `key`, under its shard's read lock. An expired entry is
    /// removed instead (unless it was replaced since).
    fn with_live<R>(&self, key: &[u8], now: u64, f: impl FnOnce(&Slot) -> Option<R>) -> Option<R> {
        let shard = self.shard(key);
        {
            let held = shard.read();
            let slot = held.get(key)?;
            if slot.expires_at > now {
                return f(slot);
            }
        }
        shard.write().remove_if(key, |slot| slot.expires_at <= now);
        None
    }

    fn read(&self, key: &str) -> Option<Bytes> {
        self.with_live(key.as_bytes(), self.now(), |slot| Some(slot.value.clone()))
    }

    /// The generation cells of `namespaces`, created (at generation 0, which a missing
    /// namespace has anyway) where they do not exist yet.
    fn generation_cells(&self, namespaces: &[Arc<str>]) -> Box<[Arc<AtomicU64>]> {
        let mut generations = self.inner.generations.write();
        namespaces
            .iter()
            .map(|ns| Arc::clone(generations.entry(Arc::clone(ns)).or_default()))
            .collect()
    }

    fn generations_now(&self, namespaces: &[Arc<str>]) -> Option<Generations> {
        let generations = self.inner.generations.read();
        let mut out = Generations::new();
        for ns in namespaces {
            let generation = if ns.starts_with("@p:") {
                // A missing scope is lost, not new.
                self.scope_generation_now(ns.as_bytes(), self.now())?
            } else {
                generations.get(ns).map_or(0, |g| g.load(Ordering::Acquire))
            };
            if !out.push(generation) {
                return None;
            }
        }
        Some(out)
    }

    /// The generation of path scope `scope`, or `None` when it does not exist (or expired).
    fn scope_generation_now(&self, scope: &[u8], now: u64) -> Option<u64> {
        let scopes = self.inner.scopes.read();
        let cell = scopes.get(scope)?;
        (cell.deadline > now).then_some(cell.generation)
    }

    fn touch_scope(&self, scope: &str, lifetime: Duration) -> u64 {
        let now = self.now();
        let deadline = now.saturating_add(u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX));
        let mut scopes = self.inner.scopes.write();
        // Expired scopes go when the map has doubled since the last sweep: amortised O(1).
        let swept = self.inner.swept_scopes.load(Ordering::Relaxed);
        if scopes.len() as u64 > 2 * swept + 1024 {
            scopes.retain(|_, cell| cell.deadline > now);
            self.inner
                .swept_scopes
                .store(scopes.len() as u64, Ordering::Relaxed);
        }
        match scopes.get_mut(scope.as_bytes()) {
            Some(cell) if cell.deadline > now => {
                cell.deadline = cell.deadline.max(deadline);
                cell.generation
            }
            _ => {
                let generation = fresh_generation();
                scopes.insert(
                    scope.as_bytes().into(),
                    ScopeCell {
                        generation,
                        deadline,
                    },
                );
                generation
            }
        }
    }

    fn insert(&self, key: &str, value: Bytes, ttl: Duration) -> PutOutcome {
        // Decoded here, once per write rather than on every hit.
        let prepared = Prepared::decode(&value);
        self.insert_prepared(key, value, prepared, ttl)
    }

    /// Stores `value` with its decoded form, which the caller had at hand.
    fn insert_prepared(
        &self,
        key: &str,
        value: Bytes,
        prepared: Option<Prepared>,
        ttl: Duration,
    ) -> PutOutcome {
        let size = key.len() as u64
            + value.len() as u64
            + ENTRY_OVERHEAD
            + prepared.as_ref().map_or(0, |p| p.heap_size());
        let inner = &self.inner;
        let key = key.as_bytes();
        let mut shard = self.shard(key).write();
        if size > inner.largest_entry {
            // quick_cache would drop it without a word; the older entry under the key goes too,
            // as a store that kept it would have replaced it.
            shard.remove(key);
            return PutOutcome::TooLarge;
        }
        let now = self.now();
        // Rounded up, so a sub-millisecond TTL still stores the entry briefly.
        let ttl_ms = u64::try_from(ttl.as_micros().div_ceil(1000)).unwrap_or(u64::MAX);
        let slot = Arc::new(Slot {
            value,
            prepared,
            expires_at: now.saturating_add(ttl_ms),
            size,
        });
        let key: Box<[u8]> = key.into();
        shard.insert(key.clone(), Arc::clone(&slot));
        if !shard.contains_key(&*key) {
            // A replacement keeps the old entry's place in its queue, and the room it makes can
            // evict the replacement itself; a fresh insert never evicts what it inserts.
            shard.insert(key, slot);
        }
        drop(shard);
        // Expired entries nobody reads leave after every max_bytes of writes: amortised O(1).
        let written = inner.written.fetch_add(size, Ordering::Relaxed) + size;
        if written >= inner.max_bytes && inner.written.swap(0, Ordering::Relaxed) > 0 {
            self.remove_expired();
        }
        PutOutcome::Stored
    }

    fn remove(&self, key: &str) -> bool {
        let key = key.as_bytes();
        self.shard(key).write().remove(key).is_some()
    }

    fn remove_matching(&self, pattern: &str) -> u64 {
        let deleted = Cell::new(0);
        for shard in self.inner.shards.iter() {
            shard.write().retain(|key, _| {
                let hit = glob::matches(pattern.as_bytes(), key);
                if hit {
                    deleted.set(deleted.get() + 1);
                }
                !hit
            });
        }
        deleted.get()
    }
}

/// The namespace generation cells a layer's hits check ([`Store::resolve_namespaces`]).
struct Cells(Box<[Arc<AtomicU64>]>);

impl Store for MemoryStore {
    fn resolve_namespaces(&self, namespaces: &[Arc<str>]) -> Option<NamespaceToken> {
        Some(Arc::new(Cells(self.generation_cells(namespaces))))
    }

    fn ready_hit(&self, hit: &HitRequest<'_>) -> Option<Response<Bytes>> {
        let cells = hit.token?.downcast_ref::<Cells>()?;
        self.serve_ready(hit, &cells.0)
    }

    fn put_entry<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        entry: &'a Envelope,
        ttl: Duration,
    ) -> StoreFuture<'a, PutOutcome> {
        // The entry the cache just built: not decoded again.
        let prepared = Prepared::from_encoded(entry, &value);
        let outcome = self.insert_prepared(key, value, Some(prepared), ttl);
        Box::pin(std::future::ready(Ok(outcome)))
    }

    fn get<'a>(&'a self, key: &'a str, namespaces: &'a [Arc<str>]) -> StoreFuture<'a, Lookup> {
        let lookup = Lookup::new(self.read(key), self.generations_now(namespaces));
        Box::pin(std::future::ready(Ok(lookup)))
    }

    fn try_get(
        &self,
        key: &str,
        namespaces: &[Arc<str>],
    ) -> Option<Result<Lookup, crate::StoreError>> {
        Some(Ok(Lookup::new(
            self.read(key),
            self.generations_now(namespaces),
        )))
    }

    fn generations<'a>(&'a self, namespaces: &'a [Arc<str>]) -> StoreFuture<'a, Vec<u64>> {
        let generations = self.inner.generations.read();
        let list = namespaces
            .iter()
            .map(|ns| generations.get(ns).map_or(0, |g| g.load(Ordering::Acquire)))
            .collect();
        Box::pin(std::future::ready(Ok(list)))
    }

    fn put<'a>(&'a self, key: &'a str, value: Bytes, ttl: Duration) -> StoreFuture<'a, PutOutcome> {
        Box::pin(std::future::ready(Ok(self.insert(key, value, ttl))))
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(std::future::ready(Ok(self.remove(key))))
    }

    fn bump_namespace<'a>(&'a self, namespace: &'a str) -> StoreFuture<'a, ()> {
        let fresh = fresh_generation();
        let mut generations = self.inner.generations.write();
        match generations.get(namespace) {
            Some(cell) => cell.store(fresh, Ordering::Release),
            None => {
                generations.insert(Arc::from(namespace), Arc::new(AtomicU64::new(fresh)));
            }
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn delete_matching<'a>(&'a self, pattern: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(std::future::ready(Ok(self.remove_matching(pattern))))
    }

    fn scope_generation<'a>(&'a self, scope: &'a str, lifetime: Duration) -> StoreFuture<'a, u64> {
        Box::pin(std::future::ready(Ok(self.touch_scope(scope, lifetime))))
    }

    fn drop_scope<'a>(&'a self, scope: &'a str) -> StoreFuture<'a, ()> {
        self.inner.scopes.write().remove(scope.as_bytes());
        Box::pin(std::future::ready(Ok(())))
    }

    fn entries(&self) -> Option<u64> {
        Some(self.len())
    }

    fn memory_bytes(&self) -> Option<u64> {
        Some(self.bytes())
    }

    fn max_entry_body(&self) -> Option<u64> {
        Some(self.inner.largest_entry.saturating_sub(ENTRY_ALLOWANCE))
    }

    fn default_compression_threshold(&self) -> Option<usize> {
        None
    }
}

/// A fast hasher for cache keys, which end in a blake3 digest: no HashDoS exposure, since
/// clients cannot choose digests.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        // A final avalanche so the high bits (used for sharding) depend on every byte.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }

    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut mix = |word: u64| self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
        let word = |chunk: &[u8]| {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            u64::from_le_bytes(word)
        };
        if bytes.len() > 32 {
            // A long key: an entry key ends in 64 hex digits of a blake3 digest, whose last 16
            // carry 64 random bits. Those, the first 8 bytes and the length spread keys as
            // well as every byte would, for a fraction of the work on every lookup. (Equal
            // keys hash equally whatever is sampled; a sample can only cost a longer probe.)
            let (head, tail) = (&bytes[..8], &bytes[bytes.len() - 16..]);
            mix(bytes.len() as u64);
            mix(word(head));
            mix(word(&tail[..8]));
            mix(word(&tail[8..]));
            return;
        }
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            mix(word(chunk));
        }
        for &byte in chunks.remainder() {
            mix(u64::from(byte));
        }
    }
}
