//! The batch function trait and the per-key results it returns.

use std::collections::HashMap;
use std::collections::hash_map;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

/// Loads many keys in one backend call.
///
/// `load` gets the distinct keys of one batch (at most the loader's `max_batch_size`) and
/// returns a [`Loaded`] holding, for each key, its value or its own error. A key left out is
/// *missing*: [`Loader::load`](crate::Loader::load) answers it with `Ok(None)`. An `Err` from
/// `load` itself fails every key of the batch (and only that batch).
///
/// Closures `Fn(Vec<K>) -> impl Future<Output = Result<Loaded<K, V, E>, E>>` implement it, as
/// does `Arc<B>` for a shared batch function. [`ByField`](crate::ByField) adapts any
/// [`Source`](crate::Source), such as [`MemorySource`](crate::MemorySource) or
/// `MongoSource`, to load by `_id` or another field.
///
/// The error type need not be `Clone`: the loader shares it between waiters behind an `Arc`.
pub trait BatchFn<K, V>: Send + Sync + 'static {
    /// The error of one key, or of a whole batch.
    type Error: Send + Sync + 'static;

    /// Loads `keys` (distinct, non-empty).
    fn load(
        &self,
        keys: &[K],
    ) -> impl Future<Output = Result<Loaded<K, V, Self::Error>, Self::Error>> + Send;
}

impl<K, V, B> BatchFn<K, V> for Arc<B>
where
    B: BatchFn<K, V>,
{
    type Error = B::Error;

    fn load(
        &self,
        keys: &[K],
    ) -> impl Future<Output = Result<Loaded<K, V, Self::Error>, Self::Error>> + Send {
        (**self).load(keys)
    }
}

impl<K, V, E, F, Fut> BatchFn<K, V> for F
where
    K: Clone,
    F: Fn(Vec<K>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Loaded<K, V, E>, E>> + Send,
    E: Send + Sync + 'static,
{
    type Error = E;

    fn load(
        &self,
        keys: &[K],
    ) -> impl Future<Output = Result<Loaded<K, V, Self::Error>, Self::Error>> + Send {
        self(keys.to_vec())
    }
}

/// What one batch found: a value or an error per key. Keys left out are missing.
///
/// Build it with [`insert`](Self::insert) and [`fail`](Self::fail), or collect it from
/// `(key, value)` pairs. A source that needed more than one backend query for the batch says so
/// with [`set_queries`](Self::set_queries), so that the loader's `total_queries` matches what the
/// backend saw.
pub struct Loaded<K, V, E> {
    pub(crate) entries: HashMap<K, Result<V, Arc<E>>>,
    pub(crate) queries: u64,
}

impl<K, V, E> fmt::Debug for Loaded<K, V, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded")
            .field("entries", &self.entries.len())
            .field("queries", &self.queries)
            .finish()
    }
}

impl<K, V, E> Default for Loaded<K, V, E> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            queries: 1,
        }
    }
}

impl<K: Eq + Hash, V, E> Loaded<K, V, E> {
    /// An empty result (every key missing), counted as one query.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty result with room for `n` keys.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            entries: HashMap::with_capacity(n),
            queries: 1,
        }
    }

    /// Records `key`'s value. A later `insert` or `fail` for the same key replaces it.
    pub fn insert(&mut self, key: K, value: V) {
        self.entries.insert(key, Ok(value));
    }

    /// Records `key`'s value unless the key already has one (first match wins).
    pub fn insert_first(&mut self, key: K, value: V) {
        if let hash_map::Entry::Vacant(slot) = self.entries.entry(key) {
            slot.insert(Ok(value));
        }
    }

    /// Records an error for `key` alone; the batch's other keys are unaffected.
    pub fn fail(&mut self, key: K, error: E) {
        self.entries.insert(key, Err(Arc::new(error)));
    }

    /// Records an error for `key` unless the key already has a value or an error.
    pub fn fail_first(&mut self, key: K, error: E) {
        if let hash_map::Entry::Vacant(slot) = self.entries.entry(key) {
            slot.insert(Err(Arc::new(error)));
        }
    }

    /// Sets how many backend queries this batch made (1 by default).
    pub fn set_queries(&mut self, queries: u64) {
        self.queries = queries;
    }

    /// The number of backend queries recorded for this batch.
    pub fn queries(&self) -> u64 {
        self.queries
    }

    /// The number of keys with a value or an error.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether every key is missing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<K: Eq + Hash, V, E> FromIterator<(K, V)> for Loaded<K, V, E> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            entries: iter.into_iter().map(|(k, v)| (k, Ok(v))).collect(),
            queries: 1,
        }
    }
}

impl<K: Eq + Hash, V, E> Extend<(K, V)> for Loaded<K, V, E> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        self.entries
            .extend(iter.into_iter().map(|(k, v)| (k, Ok(v))));
    }
}
