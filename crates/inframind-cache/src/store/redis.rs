//! A Redis store: one multiplexed connection with automatic reconnection, per-command timeouts.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Generations, Lookup, PutOutcome, Store, StoreFuture, fresh_generation, glob};
use crate::error::StoreError;

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
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("timeout", &self.timeout)
            .field("key_prefix", &self.key_prefix)
            .field("scan_count", &self.scan_count)
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

fn parse_generation(raw: &[u8]) -> Option<u64> {
    std::str::from_utf8(raw).ok().and_then(|s| s.parse().ok())
}

impl Store for RedisStore {
    fn get<'a>(&'a self, key: &'a str, namespaces: &'a [Arc<str>]) -> StoreFuture<'a, Lookup> {
        Box::pin(async move {
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
            let mut generations = Some(Generations::new());
            for raw in values {
                // A generation that is missing or not a number is lost: the lookup is a miss,
                // and the fill's `generations` call replaces it.
                match (
                    raw.as_deref().and_then(parse_generation),
                    generations.as_mut(),
                ) {
                    (Some(generation), Some(list)) => {
                        if !list.push(generation) {
                            generations = None;
                        }
                    }
                    _ => generations = None,
                }
            }
            Ok(Lookup::new(value, generations))
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

    fn put<'a>(&'a self, key: &'a str, value: Bytes, ttl: Duration) -> StoreFuture<'a, PutOutcome> {
        Box::pin(async move {
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

    fn delete_matching<'a>(&'a self, pattern: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let marked = self.redis_key("");
            let full_pattern = format!("{}{pattern}", glob::escape(&marked));
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
