//! An in-process store bounded by bytes, with TTLs and least-recently-used eviction.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode, header};
use parking_lot::RwLock;

use super::{
    Generations, HitRequest, Lookup, NamespaceToken, PutOutcome, Store, StoreFuture,
    fresh_generation, glob, now_ms,
};
use crate::envelope::Envelope;
use crate::headers::{CACHE_STATUS, small_number};
use crate::policy;
use crate::prepared::Prepared;

const DEFAULT_CAPACITY: u64 = 64 * 1024 * 1024;
/// Bytes charged per entry on top of its key and value, for the map slot and bookkeeping.
const ENTRY_OVERHEAD: u64 = 64;
/// What an entry costs besides its body, at most, for [`Store::max_entry_body`]: its key, the
/// envelope's fixed fields and headers, the decoded head and [`ENTRY_OVERHEAD`]. An entry with
/// more headers than this allows is refused ([`PutOutcome::TooLarge`]), never dropped silently.
const ENTRY_ALLOWANCE: u64 = 4096;

/// An in-process [`Store`]: sharded maps behind read-mostly locks, bounded by bytes.
///
/// Entries past their TTL are never returned; they are reclaimed when their shard needs room,
/// before the least recently used live entries are evicted. Cloning shares the same storage.
///
/// An entry is decoded once, when it is written, and kept ready to serve: the store answers a
/// fresh hit itself ([`Store::ready_hit`]) by cloning a response head, without decoding
/// anything, however the cache holds it (directly, or as an `Arc<dyn Store>`). Expiry and access times are wall-clock milliseconds, the
/// clock the cache judges freshness by.
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
            .field("bytes", &self.inner.bytes.load(Ordering::Relaxed))
            .field("entries", &self.inner.entries.load(Ordering::Relaxed))
            .finish()
    }
}

/// Settings for a [`MemoryStore`].
#[derive(Debug, Clone)]
pub struct MemoryStoreBuilder {
    max_bytes: u64,
    shards: usize,
}

struct Inner {
    shards: Box<[RwLock<Shard>]>,
    shard_max_bytes: u64,
    max_bytes: u64,
    /// Namespace generations, each in a cell that layers on this store hold on to, so a hit
    /// reads its generations without a lock or a map lookup.
    generations: RwLock<HashMap<Arc<str>, Arc<AtomicU64>, BuildHasherDefault<KeyHasher>>>,
    /// Path scopes (see [`Store::scope_generation`]): a generation, and when it may be dropped
    /// (every entry recorded under it has expired by then).
    scopes: RwLock<HashMap<Box<[u8]>, ScopeCell, BuildHasherDefault<KeyHasher>>>,
    /// The scope count after the last sweep of expired scopes.
    swept_scopes: AtomicU64,
    bytes: AtomicU64,
    entries: AtomicU64,
    /// The clock expiry and access times are read from.
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

#[derive(Default)]
struct Shard {
    /// Keys as bytes: a hit looks its key up without checking that it is UTF-8.
    map: HashMap<Box<[u8]>, Slot, BuildHasherDefault<KeyHasher>>,
    bytes: u64,
}

struct Slot {
    value: Bytes,
    /// `value` decoded, when it is a valid envelope.
    prepared: Option<Arc<Prepared>>,
    /// Milliseconds since the Unix epoch: the clock entries' freshness is judged by, so a hit
    /// reads the time once.
    expires_at: u64,
    /// When the entry was last read, in the same milliseconds: no counter shared by every hit.
    last_access: AtomicU64,
    size: u64,
}

impl Slot {
    /// Records an access. Written only when the time moved by a millisecond, so a hot entry's
    /// cache line is not rewritten by every core on every hit.
    fn touch(&self, now: u64) {
        if now > self.last_access.load(Ordering::Relaxed) {
            self.last_access.store(now, Ordering::Relaxed);
        }
    }
}

impl MemoryStoreBuilder {
    /// The most bytes (keys, values and a fixed per-entry overhead) the store keeps.
    /// Default 64 MiB.
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// How many independently locked shards to use (rounded up to a power of two, at least 1).
    /// Default 16. Each shard holds at most `max_bytes / shards`.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards.max(1).next_power_of_two();
        self
    }

    /// The store.
    pub fn build(self) -> MemoryStore {
        let shards = (0..self.shards)
            .map(|_| RwLock::new(Shard::default()))
            .collect();
        MemoryStore {
            inner: Arc::new(Inner {
                shards,
                shard_max_bytes: self.max_bytes / self.shards as u64,
                max_bytes: self.max_bytes,
                generations: RwLock::new(HashMap::default()),
                scopes: RwLock::new(HashMap::default()),
                swept_scopes: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                entries: AtomicU64::new(0),
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

    /// The bytes currently charged to stored entries.
    pub fn bytes(&self) -> u64 {
        self.inner.bytes.load(Ordering::Relaxed)
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

    fn read(&self, key: &str) -> Option<Bytes> {
        let key = key.as_bytes();
        let shard = self.shard(key).read();
        let slot = shard.map.get(key)?;
        let now = self.now();
        if slot.expires_at <= now {
            return None;
        }
        slot.touch(now);
        Some(slot.value.clone())
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

    /// A fresh hit from the decoded entry under `hit.key`, when it can be served by cloning
    /// its head (see [`Store::ready_hit`]).
    fn serve_ready(
        &self,
        hit: &HitRequest<'_>,
        cells: &[Arc<AtomicU64>],
    ) -> Option<Response<Bytes>> {
        let if_none_match = hit.headers.get(header::IF_NONE_MATCH);
        if if_none_match.is_none() && hit.headers.contains_key(header::IF_MODIFIED_SINCE) {
            // A date to compare: the ordinary path does it.
            return None;
        }
        // A path scope that does not exist was dropped: nothing under it is served.
        let scope = match hit.scope {
            Some(scope) => Some(self.scope_generation_now(scope, hit.now_ms)?),
            None => None,
        };
        let now = hit.now_ms;
        let key = hit.key;
        let shard = self.shard(key).read();
        let slot = shard.map.get(key)?;
        if slot.expires_at <= now {
            return None;
        }
        let entry = slot.prepared.as_deref()?;
        let head = entry.hit.as_ref()?;
        let envelope = &entry.envelope;
        let recorded = &envelope.generations;
        if recorded.len() != cells.len() + usize::from(scope.is_some())
            || recorded
                .iter()
                .zip(cells)
                .any(|(generation, cell)| *generation != cell.load(Ordering::Acquire))
            || scope.is_some_and(|scope| recorded.last() != Some(&scope))
        {
            return None;
        }
        let age_ms = now.saturating_sub(envelope.stored_at_ms);
        if age_ms >= envelope.ttl_ms {
            return None;
        }
        slot.touch(now);
        let mut headers = head.headers.clone();
        let body = envelope.body.clone();
        let status = envelope.status;
        let not_modified = status == StatusCode::OK
            && if_none_match.is_some_and(|inm| policy::none_match(inm, head.etag.as_bytes()));
        let slots_from = head.len - 3;
        let ttl_left = (envelope.ttl_ms - age_ms) / 1000;
        drop(shard);

        let age = small_number(age_ms / 1000);
        let cache_status = hit.fresh_cache_status(ttl_left);
        // The head ends with its Age, X-Cache and Cache-Status slots: overwritten in place,
        // without hashing their names again.
        let mut slots = headers.iter_mut().skip(slots_from);
        match (slots.next(), slots.next(), slots.next()) {
            (Some((a, age_slot)), Some(_), Some((c, status_slot)))
                if *a == header::AGE && *c == CACHE_STATUS =>
            {
                *age_slot = age;
                *status_slot = cache_status;
            }
            _ => {
                headers.insert(header::AGE, age);
                headers.insert(CACHE_STATUS, cache_status);
            }
        }
        let (status, body) = if not_modified {
            headers.remove(header::CONTENT_LENGTH);
            (StatusCode::NOT_MODIFIED, Bytes::new())
        } else if hit.head_only {
            (status, Bytes::new())
        } else {
            (status, body)
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Some(response)
    }

    fn insert(&self, key: &str, value: Bytes, ttl: Duration) -> PutOutcome {
        // Decoded here, outside the lock, once per write rather than on every hit.
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
        let prepared = prepared.map(Arc::new);
        let size = key.len() as u64
            + value.len() as u64
            + ENTRY_OVERHEAD
            + prepared.as_ref().map_or(0, |p| p.heap_size());
        let inner = &self.inner;
        let key = key.as_bytes();
        let mut shard = self.shard(key).write();
        if let Some(old) = shard.map.remove(key) {
            shard.bytes -= old.size;
            inner.bytes.fetch_sub(old.size, Ordering::Relaxed);
            inner.entries.fetch_sub(1, Ordering::Relaxed);
        }
        if size > inner.shard_max_bytes {
            return PutOutcome::TooLarge;
        }
        if shard.bytes + size > inner.shard_max_bytes {
            self.evict(&mut shard, inner.shard_max_bytes.saturating_sub(size));
        }
        let now = self.now();
        // Rounded up, so a sub-millisecond TTL still stores the entry briefly.
        let ttl_ms = u64::try_from(ttl.as_micros().div_ceil(1000)).unwrap_or(u64::MAX);
        shard.bytes += size;
        shard.map.insert(
            key.into(),
            Slot {
                value,
                prepared,
                expires_at: now.saturating_add(ttl_ms),
                last_access: AtomicU64::new(now),
                size,
            },
        );
        inner.bytes.fetch_add(size, Ordering::Relaxed);
        inner.entries.fetch_add(1, Ordering::Relaxed);
        PutOutcome::Stored
    }

    /// Drops expired entries, then the least recently used, until the shard uses at most
    /// 90% of `target`. The bytes subtracted are those of the entries removed, one by one, so
    /// the accounting cannot drift from what the shard holds.
    fn evict(&self, shard: &mut Shard, target: u64) {
        let inner = &self.inner;
        let now = self.now();
        let before_len = shard.map.len() as u64;
        let mut freed = 0;
        shard.map.retain(|_, slot| {
            let keep = slot.expires_at > now;
            if !keep {
                freed += slot.size;
            }
            keep
        });
        let goal = target - target / 10;
        if shard.bytes - freed > goal {
            // Oldest first, by last-access tick, without cloning keys. Many entries may share
            // the cutoff millisecond (a burst of inserts): only as many of them go as needed.
            let mut by_age: Vec<(u64, u64)> = shard
                .map
                .values()
                .map(|slot| (slot.last_access.load(Ordering::Relaxed), slot.size))
                .collect();
            by_age.sort_unstable_by_key(|(tick, _)| *tick);
            let mut used = shard.bytes - freed;
            let (mut cutoff, mut at_cutoff) = (0, 0usize);
            for (tick, size) in by_age {
                if used <= goal {
                    break;
                }
                used -= size;
                if tick != cutoff {
                    cutoff = tick;
                    at_cutoff = 0;
                }
                at_cutoff += 1;
            }
            shard.map.retain(|_, slot| {
                let tick = slot.last_access.load(Ordering::Relaxed);
                let evict = tick < cutoff || (tick == cutoff && at_cutoff > 0);
                if tick == cutoff && evict {
                    at_cutoff -= 1;
                }
                if evict {
                    freed += slot.size;
                }
                !evict
            });
        }
        shard.bytes -= freed;
        inner.bytes.fetch_sub(freed, Ordering::Relaxed);
        inner
            .entries
            .fetch_sub(before_len - shard.map.len() as u64, Ordering::Relaxed);
    }

    fn remove(&self, key: &str) -> bool {
        let key = key.as_bytes();
        let mut shard = self.shard(key).write();
        let removed = shard.map.remove(key);
        if let Some(slot) = &removed {
            shard.bytes -= slot.size;
            self.inner.bytes.fetch_sub(slot.size, Ordering::Relaxed);
            self.inner.entries.fetch_sub(1, Ordering::Relaxed);
        }
        removed.is_some()
    }

    fn remove_matching(&self, pattern: &str) -> u64 {
        let mut deleted = 0;
        for shard in self.inner.shards.iter() {
            let mut shard = shard.write();
            let mut freed = 0;
            let before = shard.map.len();
            shard.map.retain(|key, slot| {
                let hit = glob::matches(pattern.as_bytes(), key);
                if hit {
                    freed += slot.size;
                }
                !hit
            });
            let removed = (before - shard.map.len()) as u64;
            shard.bytes -= freed;
            self.inner.bytes.fetch_sub(freed, Ordering::Relaxed);
            self.inner.entries.fetch_sub(removed, Ordering::Relaxed);
            deleted += removed;
        }
        deleted
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
        Some(self.inner.entries.load(Ordering::Relaxed))
    }

    fn memory_bytes(&self) -> Option<u64> {
        Some(self.bytes())
    }

    fn max_entry_body(&self) -> Option<u64> {
        Some(self.inner.shard_max_bytes.saturating_sub(ENTRY_ALLOWANCE))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run<T>(future: StoreFuture<'_, T>) -> T {
        // Every MemoryStore future is ready at once.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut future = future;
        match future.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(result) => result.unwrap(),
            std::task::Poll::Pending => panic!("MemoryStore future was pending"),
        }
    }

    #[test]
    fn bounded_by_bytes_evicting_least_recently_used() {
        let store = MemoryStore::builder().max_bytes(10_000).shards(1).build();
        let value = Bytes::from(vec![b'x'; 900]);
        for i in 0..9 {
            run(store.put(&format!("k{i}"), value.clone(), Duration::from_secs(60)));
        }
        for i in 9..20 {
            // Keep k0 the most recently used (access times have millisecond granularity).
            std::thread::sleep(Duration::from_millis(2));
            assert!(store.read("k0").is_some());
            run(store.put(&format!("k{i}"), value.clone(), Duration::from_secs(60)));
            assert!(store.bytes() <= 10_000, "{} bytes", store.bytes());
        }
        assert!(store.read("k0").is_some(), "recently used entry evicted");
        assert!(store.read("k1").is_none(), "least recently used entry kept");
        assert!(store.read("k19").is_some());
        let counted = store.inner.shards[0].read().map.len() as u64;
        assert_eq!(store.entries(), Some(counted));
    }

    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Put { key: u8, len: usize, ttl_ms: u64 },
        Get { key: u8 },
        Delete { key: u8 },
        Advance { ms: u64 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..24, 0usize..2500, 1u64..60).prop_map(|(key, len, ttl_ms)| Op::Put { key, len, ttl_ms }),
            3 => (0u8..24).prop_map(|key| Op::Get { key }),
            1 => (0u8..24).prop_map(|key| Op::Delete { key }),
            2 => (0u64..5).prop_map(|ms| Op::Advance { ms }),
        ]
    }

    /// (bytes, entries) the shards really hold.
    fn held(store: &MemoryStore) -> (u64, u64) {
        store
            .inner
            .shards
            .iter()
            .fold((0, 0), |(bytes, entries), shard| {
                let shard = shard.read();
                let sum: u64 = shard.map.values().map(|slot| slot.size).sum();
                assert_eq!(sum, shard.bytes, "a shard's own count drifted");
                (bytes + sum, entries + shard.map.len() as u64)
            })
    }

    proptest! {
        /// Against a reference model: the store returns only what was last put and is not
        /// expired, keeps what it just stored, counts exactly the bytes and entries it holds,
        /// never holds more than its bound, and evicts only as much as it needs.
        #[test]
        fn accounting_matches_a_reference_model(
            max_bytes in 6_000u64..40_000,
            shards in prop_oneof![Just(1usize), Just(2), Just(4)],
            ops in proptest::collection::vec(op(), 1..200),
        ) {
            let mut store = MemoryStore::builder().max_bytes(max_bytes).shards(shards).build();
            let clock = Arc::new(AtomicU64::new(1_000));
            Arc::get_mut(&mut store.inner).unwrap().clock = Clock::Manual(Arc::clone(&clock));
            let shard_max = store.inner.shard_max_bytes;
            // key -> (value, expires_at)
            let mut model: HashMap<String, (Bytes, u64)> = HashMap::new();
            for (i, op) in ops.into_iter().enumerate() {
                let now = clock.load(Ordering::Relaxed);
                match op {
                    Op::Put { key, len, ttl_ms } => {
                        let key = format!("k{key}");
                        let value = Bytes::from(vec![i as u8; len]);
                        let size = key.len() as u64 + len as u64 + ENTRY_OVERHEAD;
                        let (live_before, largest) = {
                            let shard = store.shard(key.as_bytes()).read();
                            shard.map.iter()
                                .filter(|(k, slot)| &***k != key.as_bytes() && slot.expires_at > now)
                                .fold((0u64, 0u64), |(sum, max), (_, slot)| (sum + slot.size, max.max(slot.size)))
                        };
                        let outcome = run(store.put(&key, value.clone(), Duration::from_millis(ttl_ms)));
                        model.remove(&key);
                        if size > shard_max {
                            prop_assert_eq!(outcome, PutOutcome::TooLarge);
                            prop_assert!(store.read(&key).is_none());
                        } else {
                            prop_assert_eq!(outcome, PutOutcome::Stored);
                            prop_assert_eq!(store.read(&key), Some(value.clone()));
                            model.insert(key.clone(), (value, now + ttl_ms));
                            let target = shard_max - size;
                            let goal = target - target / 10;
                            let kept = store.shard(key.as_bytes()).read().bytes;
                            let floor = (live_before + size).min((goal + size).saturating_sub(largest));
                            prop_assert!(kept >= floor, "kept {} bytes, at least {} expected", kept, floor);
                        }
                    }
                    Op::Get { key } => {
                        let key = format!("k{key}");
                        if let Some(value) = store.read(&key) {
                            let (want, expires_at) = model.get(&key).expect("a value never put");
                            prop_assert_eq!(&value, want);
                            prop_assert!(*expires_at > now);
                        }
                    }
                    Op::Delete { key } => {
                        let key = format!("k{key}");
                        run(store.delete(&key));
                        model.remove(&key);
                        prop_assert!(store.read(&key).is_none());
                    }
                    Op::Advance { ms } => {
                        clock.fetch_add(ms, Ordering::Relaxed);
                    }
                }
                let (bytes, entries) = held(&store);
                prop_assert_eq!(store.bytes(), bytes);
                prop_assert_eq!(store.entries(), Some(entries));
                prop_assert!(bytes <= max_bytes, "{} bytes held, bound {}", bytes, max_bytes);
            }
        }
    }

    #[test]
    fn expired_entries_are_not_returned() {
        let store = MemoryStore::new();
        run(store.put("a", Bytes::from_static(b"1"), Duration::from_millis(1)));
        std::thread::sleep(Duration::from_millis(5));
        assert!(store.read("a").is_none());
    }

    #[test]
    fn glob_delete_and_generations() {
        let store = MemoryStore::new();
        for key in ["a:1", "a:2", "ab:1", "b:1"] {
            run(store.put(key, Bytes::from_static(b"v"), Duration::from_secs(60)));
        }
        assert_eq!(run(store.delete_matching("a:*")), 2);
        assert_eq!(store.entries(), Some(2));
        let ns: Vec<Arc<str>> = vec![Arc::from("a"), Arc::from("a:b")];
        assert_eq!(run(store.generations(&ns)), vec![0, 0]);
        run(store.bump_namespace("a:b"));
        let after = run(store.generations(&ns));
        assert_eq!(after[0], 0);
        assert_ne!(after[1], 0);
    }
}
