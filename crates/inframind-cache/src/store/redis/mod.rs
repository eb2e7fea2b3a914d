//! A Redis store: one multiplexed connection with automatic reconnection, per-command timeouts,
//! and an optional in-process hot tier ([`hot`]).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{
    Generations, HotTierStats, Lookup, PutOutcome, Store, StoreFuture, fresh_generation, glob,
    now_ms,
};
use crate::envelope::Envelope;
use crate::error::StoreError;

mod hot;

use hot::{HotEntry, HotTier, identity_len};

const GENERATION_MARK: &str = "@gen:";
/// Marks the keys of entries, so glob deletion tells them from anything else under the prefix.
const ENTRY_MARK: &str = "@e:";

/// A [`Store`] on Redis, through the `redis` crate's [`ConnectionManager`]: one multiplexed
/// connection shared by every request, re-established in the background after an outage.
///
/// - A lookup is one round trip: `MGET` of the namespace generation keys and the entry.
/// - Every command is bounded by a timeout (default 250 ms); a timeout is a
///   [`StoreError::Timeout`], which the layer counts and serves around.
/// - Namespace invalidation is one `SET` of a fresh random generation (O(1) whatever the number
///   of entries). Other globs use `SCAN ... MATCH` and `UNLINK` in batches, never `KEYS`.
/// - Keys: an entry `{namespace}:{digest}` lives under `{key_prefix}@e:{namespace}:{digest}`
///   ([`redis_key`](Self::redis_key)), a namespace generation under
///   `{key_prefix}@gen:{namespace}`. Glob deletion matches only the `@e:` keys, so `*` on a
///   database shared with other data, even under the same prefix, removes only the cache's
///   entries.
/// - An optional key prefix (for example `myapp:`) puts every key this store writes under it.
/// - A generation key that does not hold a number (written by something else) is replaced by
///   a fresh generation, as if its namespace had been invalidated.
/// - An optional **hot tier** ([`RedisStoreBuilder::hot_tier`], off by default) keeps
///   entries decoded in process; a hit on one still asks Redis whether it is current, in one
///   small round trip without the body, so it is as consistent across processes as a hit
///   without the tier, and costs no decompression.
///
/// ```no_run
/// # async fn run() -> Result<(), inframind_cache::StoreError> {
/// use std::time::Duration;
/// use inframind_cache::RedisStore;
///
/// let store = RedisStore::builder("redis://127.0.0.1:6379/0")
///     .timeout(Duration::from_millis(100))
///     .key_prefix("myapp:")
///     .connect()
///     .await?;
/// # drop(store);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    timeout: Duration,
    key_prefix: Arc<str>,
    scan_count: usize,
    hot: Option<Arc<HotTier>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("timeout", &self.timeout)
            .field("key_prefix", &self.key_prefix)
            .field("scan_count", &self.scan_count)
            .field("hot_tier", &self.hot.as_ref().map(|hot| hot.stats()))
            .finish_non_exhaustive()
    }
}

/// Settings for a [`RedisStore`].
#[derive(Debug, Clone)]
pub struct RedisStoreBuilder {
    url: String,
    timeout: Duration,
    key_prefix: String,
    scan_count: usize,
    hot_tier_bytes: u64,
}

impl RedisStoreBuilder {
    /// The timeout of every command, and of every connection attempt. Default 250 ms.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A prefix for every key this store reads or writes. Default none.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// The `COUNT` hint of each `SCAN` during glob invalidation, which is also the largest
    /// `UNLINK` batch. Default 1000.
    pub fn scan_count(mut self, count: usize) -> Self {
        self.scan_count = count.max(1);
        self
    }

    /// Keeps up to `max_bytes` of hot entries decoded in this process, so that a hit neither
    /// transfers the body nor decompresses it. Default 0: off.
    ///
    /// A hit on a held entry still makes one round trip, a small one: `MGET` of the
    /// namespace generations and `GETRANGE` of the entry's first bytes (its identity: stored
    /// at, timing, ETag, generations; under a hundred bytes). The entry is served only when
    /// Redis still holds that very entry under the current generations; otherwise it is
    /// dropped and the entry read whole, as without the tier. So a read after an
    /// invalidation or a write, through any process sharing the Redis, never sees the old
    /// body: the tier is exactly as consistent as the store without it. When Redis cannot be
    /// reached, held entries are not served either (the layer fails open, as without the
    /// tier).
    ///
    /// What it holds: entries this process wrote or read whole, each with its plain body
    /// (and its compressed one, when stored compressed), for at most its lifetime in Redis,
    /// bounded by `max_bytes` (quick_cache's S3-FIFO eviction, as
    /// [`MemoryStore`](crate::MemoryStore)); an entry heavier than one of its shards (it
    /// shards by core count) is not kept, and is served as without the tier.
    /// [`CacheStats::hot_tier`](crate::CacheStats::hot_tier) counts its hits and misses.
    ///
    /// Two replicas on one Redis, each with its own tier: a write through one is never
    /// hidden by what the other's tier holds.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use inframind_cache::{CacheLayer, RedisStore};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let redis = inframind_test_support::redis();
    /// # let (url, prefix) = (redis.url(), redis.prefix());
    /// let version = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1));
    /// let mut replicas = Vec::new();
    /// for _ in 0..2 {
    ///     let store = RedisStore::builder(url)
    ///         .key_prefix(prefix)
    ///         .hot_tier(64 * 1024 * 1024)
    ///         .connect()
    ///         .await?;
    ///     let layer = CacheLayer::builder(store).prefix("assessments:list").build()?;
    ///     let version = version.clone();
    ///     let list = move || async move { format!("version {version:?}") };
    ///     let app = Router::new().route("/api/assessments", get(list).layer(layer.clone()));
    ///     replicas.push((app, layer.handle()));
    /// }
    /// let read = |i: usize| {
    ///     let app = replicas[i].0.clone();
    ///     async move {
    ///         let req = http::Request::get("/api/assessments").body(axum::body::Body::empty())?;
    ///         let res = app.oneshot(req).await?;
    ///         let x_cache = res.headers()["x-cache"].to_str()?.to_owned();
    ///         let body = axum::body::to_bytes(res.into_body(), usize::MAX).await?;
    ///         Ok::<_, Box<dyn std::error::Error>>((x_cache, String::from_utf8(body.to_vec())?))
    ///     }
    /// };
    /// assert_eq!(read(0).await?, ("MISS".to_owned(), "version 1".to_owned()));
    /// assert_eq!(read(1).await?, ("HIT".to_owned(), "version 1".to_owned())); // read whole, kept
    /// assert_eq!(read(1).await?, ("HIT".to_owned(), "version 1".to_owned())); // from the tier
    /// assert_eq!(replicas[1].1.stats().hot_tier.expect("on").hits, 1);
    ///
    /// // A write through replica 0; replica 1's tier still holds version 1, and never serves it.
    /// version.store(2, std::sync::atomic::Ordering::SeqCst);
    /// replicas[0].1.invalidate_namespace("assessments").await?;
    /// assert_eq!(read(1).await?, ("MISS".to_owned(), "version 2".to_owned()));
    /// assert_eq!(read(0).await?, ("HIT".to_owned(), "version 2".to_owned()));
    /// # Ok(())
    /// # }
    /// ```
    pub fn hot_tier(mut self, max_bytes: u64) -> Self {
        self.hot_tier_bytes = max_bytes;
        self
    }

    fn manager_config(&self) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_response_timeout(Some(self.timeout))
            .set_connection_timeout(Some(self.timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(500))
    }

    fn finish(self, conn: ConnectionManager) -> RedisStore {
        RedisStore {
            conn,
            timeout: self.timeout,
            key_prefix: Arc::from(self.key_prefix),
            scan_count: self.scan_count,
            hot: (self.hot_tier_bytes > 0).then(|| Arc::new(HotTier::new(self.hot_tier_bytes))),
        }
    }

    /// Connects, failing when Redis cannot be reached now.
    ///
    /// # Errors
    ///
    /// [`StoreError::Redis`] for a bad URL or an unreachable server, [`StoreError::Timeout`]
    /// when connecting takes longer than the timeout.
    pub async fn connect(self) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(self.url.as_str())?;
        let conn = tokio::time::timeout(
            self.timeout,
            ConnectionManager::new_with_config(client, self.manager_config()),
        )
        .await
        .map_err(|_| StoreError::Timeout(self.timeout))??;
        Ok(self.finish(conn))
    }

    /// A store that connects on first use, so an application can start while Redis is down
    /// (the cache then fails open until Redis is back). Must be called within a Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`StoreError::Redis`] for a URL the client cannot parse.
    pub fn connect_lazy(self) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(self.url.as_str())?;
        let conn = ConnectionManager::new_lazy_with_config(client, self.manager_config())?;
        Ok(self.finish(conn))
    }
}

impl RedisStore {
    /// Settings for a store on `url` (`redis://host:port/db`).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            timeout: Duration::from_millis(250),
            key_prefix: String::new(),
            scan_count: 1000,
            hot_tier_bytes: 0,
        }
    }

    /// Connects to `url` with the default settings.
    ///
    /// # Errors
    ///
    /// As [`RedisStoreBuilder::connect`].
    pub async fn connect(url: impl Into<String>) -> Result<Self, StoreError> {
        Self::builder(url).connect().await
    }

    /// The underlying connection, for commands of your own.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The Redis key the entry under `key` (as built by
    /// [`CacheLayer::key_for`](crate::CacheLayer::key_for)) is stored under:
    /// `{key_prefix}@e:{key}`.
    pub fn redis_key(&self, key: &str) -> String {
        let mut out = String::with_capacity(self.key_prefix.len() + ENTRY_MARK.len() + key.len());
        out.push_str(&self.key_prefix);
        out.push_str(ENTRY_MARK);
        out.push_str(key);
        out
    }

    fn generation_key(&self, namespace: &str) -> String {
        let mut out =
            String::with_capacity(self.key_prefix.len() + GENERATION_MARK.len() + namespace.len());
        out.push_str(&self.key_prefix);
        out.push_str(GENERATION_MARK);
        out.push_str(namespace);
        out
    }

    async fn run<T, F>(&self, future: F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        match tokio::time::timeout(self.timeout, future).await {
            Ok(result) => result.map_err(StoreError::from),
            Err(_) => Err(StoreError::Timeout(self.timeout)),
        }
    }
}

/// What Redis said of an entry the hot tier holds.
enum Checked {
    /// It holds the same entry, under the generations it was computed under: served from
    /// the tier.
    Current(Lookup),
    /// The answer is known without reading the entry: it is gone, or it is the same entry
    /// under generations that have changed since (invalidated).
    Settled(Lookup),
    /// It holds another entry now: read it whole.
    Replaced,
}

impl RedisStore {
    /// The ordinary lookup: one `MGET` of the generations and the whole entry.
    async fn fetch(&self, key: &str, namespaces: &[Arc<str>]) -> Result<Lookup, StoreError> {
        let mut cmd = redis::cmd("MGET");
        for ns in namespaces {
            cmd.arg(self.generation_key(ns));
        }
        cmd.arg(self.redis_key(key));
        let mut conn = self.conn.clone();
        let mut values: Vec<Option<Vec<u8>>> = self.run(cmd.query_async(&mut conn)).await?;
        if values.len() != namespaces.len() + 1 {
            return Err(StoreError::Protocol("MGET answered the wrong count".into()));
        }
        let value = values.pop().flatten().map(Bytes::from);
        Ok(Lookup::new(value, parse_generations(values)))
    }

    /// Whether Redis still holds `entry` under `key`, and under the current generations: one
    /// round trip (`MGET` of the generations, `GETRANGE` of the entry's identity), with no
    /// body.
    async fn check(
        &self,
        key: &str,
        namespaces: &[Arc<str>],
        entry: &HotEntry,
    ) -> Result<Checked, StoreError> {
        let identity_end = identity_len(entry.ready.0.generations.len()) - 1;
        let mut pipe = redis::pipe();
        if !namespaces.is_empty() {
            let mget = pipe.cmd("MGET");
            for ns in namespaces {
                mget.arg(self.generation_key(ns));
            }
        }
        pipe.cmd("GETRANGE")
            .arg(self.redis_key(key))
            .arg(0)
            .arg(identity_end);
        let mut conn = self.conn.clone();
        let (generations, identity) = if namespaces.is_empty() {
            let (identity,): (Vec<u8>,) = self.run(pipe.query_async(&mut conn)).await?;
            (Some(Generations::new()), identity)
        } else {
            let (values, identity): (Vec<Option<Vec<u8>>>, Vec<u8>) =
                self.run(pipe.query_async(&mut conn)).await?;
            if values.len() != namespaces.len() {
                return Err(StoreError::Protocol("MGET answered the wrong count".into()));
            }
            (parse_generations(values), identity)
        };
        if identity.is_empty() {
            return Ok(Checked::Settled(Lookup::new(None, generations)));
        }
        if identity != entry.identity[..] {
            return Ok(Checked::Replaced);
        }
        let ready = &entry.ready;
        if generations.as_deref() == Some(&*ready.0.generations) {
            let mut lookup = Lookup::new(Some(entry.encoded.clone()), generations);
            lookup.ready = Some(ready.clone());
            return Ok(Checked::Current(lookup));
        }
        // The same bytes under other generations: what the ordinary path would read, judged
        // the same way (invalidated).
        Ok(Checked::Settled(Lookup::new(
            Some(entry.encoded.clone()),
            generations,
        )))
    }
}

/// Generation values as read from Redis; `None` when one is missing or not a number (lost:
/// the lookup is a miss, and the fill's `generations` call replaces it).
fn parse_generations(values: Vec<Option<Vec<u8>>>) -> Option<Generations> {
    let mut generations = Generations::new();
    for raw in values {
        if !generations.push(raw.as_deref().and_then(parse_generation)?) {
            return None;
        }
    }
    Some(generations)
}

fn parse_generation(raw: &[u8]) -> Option<u64> {
    std::str::from_utf8(raw).ok().and_then(|s| s.parse().ok())
}

impl Store for RedisStore {
    fn get<'a>(&'a self, key: &'a str, namespaces: &'a [Arc<str>]) -> StoreFuture<'a, Lookup> {
        Box::pin(async move {
            let Some(hot) = &self.hot else {
                return self.fetch(key, namespaces).await;
            };
            if let Some(entry) = hot.entry(key, now_ms()) {
                match self.check(key, namespaces, &entry).await? {
                    Checked::Current(lookup) => {
                        hot.hit();
                        return Ok(lookup);
                    }
                    Checked::Settled(lookup) => {
                        hot.forget(key, &entry);
                        hot.miss();
                        return Ok(lookup);
                    }
                    Checked::Replaced => hot.forget(key, &entry),
                }
            }
            hot.miss();
            let lookup = self.fetch(key, namespaces).await?;
            Ok(hot.keep_fetched(key, lookup, now_ms()))
        })
    }

    fn generations<'a>(&'a self, namespaces: &'a [Arc<str>]) -> StoreFuture<'a, Vec<u64>> {
        Box::pin(async move {
            let mut pipe = redis::pipe();
            for ns in namespaces {
                let key = self.generation_key(ns);
                pipe.cmd("SET")
                    .arg(&key)
                    .arg(fresh_generation())
                    .arg("NX")
                    .ignore();
                pipe.cmd("GET").arg(&key);
            }
            let mut conn = self.conn.clone();
            let values: Vec<Option<Vec<u8>>> = self.run(pipe.query_async(&mut conn)).await?;
            let mut out = Vec::with_capacity(values.len());
            for (ns, raw) in namespaces.iter().zip(values) {
                match raw.as_deref().and_then(parse_generation) {
                    Some(generation) => out.push(generation),
                    None => {
                        // Not a number (or gone again): heal it with a new generation, which
                        // invalidates nothing that could have been served under it.
                        let fresh = fresh_generation();
                        let mut set = redis::cmd("SET");
                        set.arg(self.generation_key(ns)).arg(fresh);
                        self.run(set.query_async::<()>(&mut conn)).await?;
                        out.push(fresh);
                    }
                }
            }
            Ok(out)
        })
    }

    fn put_entry<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        entry: &'a Envelope,
        ttl: Duration,
    ) -> StoreFuture<'a, PutOutcome> {
        let Some(hot) = &self.hot else {
            return self.put(key, value, ttl);
        };
        Box::pin(async move {
            let now = now_ms();
            let outcome = self.put(key, value.clone(), ttl).await?;
            let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
            hot.keep_written(key, &value, entry, now, ttl_ms);
            Ok(outcome)
        })
    }

    fn put<'a>(&'a self, key: &'a str, value: Bytes, ttl: Duration) -> StoreFuture<'a, PutOutcome> {
        Box::pin(async move {
            // Bytes the tier has not decoded: whatever it held under the key is not kept.
            if let Some(hot) = &self.hot {
                hot.remove(key);
            }
            let millis = ttl.as_millis().clamp(1, u128::from(u64::MAX)) as u64;
            let mut cmd = redis::cmd("SET");
            cmd.arg(self.redis_key(key))
                .arg(value.as_ref())
                .arg("PX")
                .arg(millis);
            let mut conn = self.conn.clone();
            self.run(cmd.query_async::<()>(&mut conn)).await?;
            Ok(PutOutcome::Stored)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut cmd = redis::cmd("UNLINK");
            cmd.arg(self.redis_key(key));
            let mut conn = self.conn.clone();
            if let Some(hot) = &self.hot {
                hot.remove(key);
            }
            let removed: u64 = self.run(cmd.query_async(&mut conn)).await?;
            Ok(removed > 0)
        })
    }

    fn bump_namespace<'a>(&'a self, namespace: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut cmd = redis::cmd("SET");
            cmd.arg(self.generation_key(namespace))
                .arg(fresh_generation());
            let mut conn = self.conn.clone();
            self.run(cmd.query_async::<()>(&mut conn)).await
        })
    }

    fn scope_generation<'a>(&'a self, scope: &'a str, lifetime: Duration) -> StoreFuture<'a, u64> {
        // Read, create or extend in one step, without Redis 7's `PEXPIRE ... GT`.
        const SCRIPT: &str = "local g = redis.call('GET', KEYS[1]) \
            if not g or not tonumber(g) then \
              redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return ARGV[1] end \
            if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then \
              redis.call('PEXPIRE', KEYS[1], ARGV[2]) end \
            return g";
        Box::pin(async move {
            let millis = lifetime.as_millis().clamp(1, u128::from(u64::MAX >> 1)) as u64;
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(SCRIPT)
                .arg(1)
                .arg(self.generation_key(scope))
                .arg(fresh_generation().to_string())
                .arg(millis);
            let mut conn = self.conn.clone();
            let raw: Vec<u8> = self.run(cmd.query_async(&mut conn)).await?;
            parse_generation(&raw)
                .ok_or_else(|| StoreError::Protocol("a scope generation is not a number".into()))
        })
    }

    fn drop_scope<'a>(&'a self, scope: &'a str) -> StoreFuture<'a, ()> {
        // A missing scope reads as lost: deleting it invalidates its entries, and leaves no
        // key behind.
        Box::pin(async move {
            let mut cmd = redis::cmd("UNLINK");
            cmd.arg(self.generation_key(scope));
            let mut conn = self.conn.clone();
            self.run(cmd.query_async::<u64>(&mut conn)).await?;
            Ok(())
        })
    }

    fn hot_tier_stats(&self) -> Option<HotTierStats> {
        self.hot.as_ref().map(|hot| hot.stats())
    }

    fn delete_matching<'a>(&'a self, pattern: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let marked = self.redis_key("");
            let full_pattern = format!("{}{pattern}", glob::escape(&marked));
            if let Some(hot) = &self.hot {
                hot.remove_matching(pattern);
            }
            let mut conn = self.conn.clone();
            let mut cursor: u64 = 0;
            let mut deleted = 0;
            loop {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor)
                    .arg("MATCH")
                    .arg(&full_pattern)
                    .arg("COUNT")
                    .arg(self.scan_count);
                let (next, keys): (u64, Vec<String>) =
                    self.run(scan.query_async(&mut conn)).await?;
                // Only cache entries: a glob such as `*` must not take other data in the same
                // database with it, nor the generation keys.
                let keys: Vec<String> = keys
                    .into_iter()
                    .filter(|key| {
                        key.strip_prefix(marked.as_str())
                            .is_some_and(crate::key::is_entry_key)
                    })
                    .collect();
                if !keys.is_empty() {
                    let mut unlink = redis::cmd("UNLINK");
                    unlink.arg(&keys);
                    let removed: u64 = self.run(unlink.query_async(&mut conn)).await?;
                    deleted += removed;
                }
                if next == 0 {
                    return Ok(deleted);
                }
                cursor = next;
            }
        })
    }
}
