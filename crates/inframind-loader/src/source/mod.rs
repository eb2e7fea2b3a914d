//! Document sources: where loaders and `preload_relations` get documents from.
//!
//! A [`Source`] fetches the documents whose field (`_id` or any other) equals one of a set of
//! keys, in one query or a few. [`MemorySource`] keeps typed documents in memory, for tests and
//! embedded mode; `MongoSource` (feature `mongodb`) queries a MongoDB collection with `$in`.
//! [`ByField`] turns a source into a [`BatchFn`] for a [`Loader`](crate::Loader).

mod memory;
#[cfg(feature = "mongodb")]
mod mongo;

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

pub use self::memory::{MemoryError, MemorySource};
#[cfg(feature = "mongodb")]
#[cfg_attr(docsrs, doc(cfg(feature = "mongodb")))]
pub use self::mongo::{MongoError, MongoSource};

use crate::loader::{BatchFn, Loaded};

/// Documents of type `T` looked up by a field whose values are `K`.
pub trait Source<K, T>: Send + Sync + 'static {
    /// Why a query, or one document, failed.
    type Error: Send + Sync + 'static;

    /// Fetches every document whose `field` equals one of `keys` (distinct), each paired with
    /// the key it matched, in the source's stable order (for `MongoSource`, its sort, by default
    /// ascending `_id`; for [`MemorySource`], insertion order).
    ///
    /// A document that cannot be decoded is an `Err` for its key alone; an `Err` from the call
    /// itself means the query failed.
    fn fetch(
        &self,
        field: &str,
        keys: &[K],
    ) -> impl Future<Output = Result<Fetched<K, T, Self::Error>, Self::Error>> + Send;
}

impl<K, T, S: Source<K, T>> Source<K, T> for Arc<S> {
    type Error = S::Error;

    fn fetch(
        &self,
        field: &str,
        keys: &[K],
    ) -> impl Future<Output = Result<Fetched<K, T, Self::Error>, Self::Error>> + Send {
        (**self).fetch(field, keys)
    }
}

/// What a [`Source`] fetched: documents (or per-document errors) with their keys, and how many
/// backend queries it took.
#[non_exhaustive]
pub struct Fetched<K, T, E> {
    /// Each document with the key it matched, in the source's order.
    pub docs: Vec<(K, Result<T, E>)>,
    /// Backend queries made (0 when there were no keys).
    pub queries: u64,
}

impl<K, T, E> fmt::Debug for Fetched<K, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetched")
            .field("docs", &self.docs.len())
            .field("queries", &self.queries)
            .finish()
    }
}

impl<K, T, E> Fetched<K, T, E> {
    /// A result of `docs` from `queries` queries.
    pub fn new(docs: Vec<(K, Result<T, E>)>, queries: u64) -> Self {
        Self { docs, queries }
    }
}

/// A [`BatchFn`] loading documents of a [`Source`] by one field: `_id` (from
/// [`by_id`](Self::by_id)) or any other.
///
/// When several documents match a key, the first in the source's order is the key's value.
/// A document that fails to decode fails its key alone.
#[derive(Clone)]
pub struct ByField<S> {
    source: S,
    field: Arc<str>,
}

impl<S> fmt::Debug for ByField<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByField")
            .field("field", &&*self.field)
            .finish_non_exhaustive()
    }
}

impl<S> ByField<S> {
    /// Loads `source`'s documents by `field`.
    pub fn new(source: S, field: impl Into<Arc<str>>) -> Self {
        Self {
            source,
            field: field.into(),
        }
    }

    /// Loads `source`'s documents by `_id`.
    pub fn by_id(source: S) -> Self {
        Self::new(source, "_id")
    }

    /// The field loaded by.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The source.
    pub fn source(&self) -> &S {
        &self.source
    }
}

impl<K, T, S> BatchFn<K, T> for ByField<S>
where
    K: Eq + Hash + Send + Sync + 'static,
    T: Send + Sync + 'static,
    S: Source<K, T>,
{
    type Error = S::Error;

    async fn load(&self, keys: &[K]) -> Result<Loaded<K, T, Self::Error>, Self::Error> {
        let fetched = self.source.fetch(&self.field, keys).await?;
        let mut loaded = Loaded::with_capacity(keys.len());
        loaded.set_queries(fetched.queries);
        for (key, doc) in fetched.docs {
            match doc {
                Ok(doc) => loaded.insert_first(key, doc),
                Err(error) => loaded.fail_first(key, error),
            }
        }
        Ok(loaded)
    }
}
