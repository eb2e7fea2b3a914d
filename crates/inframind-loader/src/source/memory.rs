//! An in-memory document source, for tests and embedded mode.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parking_lot::RwLock;

use super::{Fetched, Source};

type Extractor<T, K> = Arc<dyn Fn(&T) -> Option<K> + Send + Sync>;

/// Typed documents kept in memory, looked up by the fields registered with
/// [`field`](Self::field).
///
/// It stands in for a collection in tests and in embedded mode: the same [`Source`] contract as
/// `MongoSource`, with insertion order as the stable order. Each `fetch` counts as one query
/// ([`queries`](Self::queries)), so tests can check how many a code path makes. Clones share
/// the documents.
///
/// ```
/// use inframind_loader::{Loader, MemorySource};
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct User { id: u32, email: String }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let users = MemorySource::new("users")
///     .field("_id", |u: &User| u.id)
///     .field("email", |u: &User| u.email.clone());
/// users.insert(User { id: 1, email: "ada@example.com".into() });
///
/// let by_email = Loader::new(users.by("email"));
/// let ada = by_email.load("ada@example.com".to_owned()).await.unwrap();
/// assert_eq!(ada.map(|u| u.id), Some(1));
/// assert_eq!(users.queries(), 1);
/// # }
/// ```
pub struct MemorySource<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    name: String,
    docs: RwLock<Vec<T>>,
    fields: RwLock<HashMap<String, Arc<dyn Any + Send + Sync>>>,
    queries: AtomicU64,
}

impl<T> Clone for MemorySource<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for MemorySource<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySource")
            .field("name", &self.inner.name)
            .field("docs", &self.inner.docs.read().len())
            .field(
                "fields",
                &self.inner.fields.read().keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl<T: Clone + Send + Sync + 'static> MemorySource<T> {
    /// An empty source; `name` plays the collection name in errors.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                name: name.into(),
                docs: RwLock::new(Vec::new()),
                fields: RwLock::new(HashMap::new()),
                queries: AtomicU64::new(0),
            }),
        }
    }

    /// Registers `field`, whose value in a document is `key(doc)`.
    pub fn field<K, F>(self, field: impl Into<String>, key: F) -> Self
    where
        K: 'static,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.optional_field(field, move |doc: &T| Some(key(doc)))
    }

    /// Registers a field that some documents lack (`None`); those match no key.
    pub fn optional_field<K, F>(self, field: impl Into<String>, key: F) -> Self
    where
        K: 'static,
        F: Fn(&T) -> Option<K> + Send + Sync + 'static,
    {
        let extractor: Extractor<T, K> = Arc::new(key);
        self.inner
            .fields
            .write()
            .insert(field.into(), Arc::new(extractor));
        self
    }

    /// The collection name given to [`new`](Self::new).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Appends a document.
    pub fn insert(&self, doc: T) {
        self.inner.docs.write().push(doc);
    }

    /// Appends documents, in order.
    pub fn extend(&self, docs: impl IntoIterator<Item = T>) {
        self.inner.docs.write().extend(docs);
    }

    /// Keeps only the documents for which `keep` is true.
    pub fn retain(&self, keep: impl FnMut(&T) -> bool) {
        self.inner.docs.write().retain(keep);
    }

    /// Applies `update` to every document; returns how many it changed (`update` returns
    /// whether it changed the document).
    pub fn update(&self, mut update: impl FnMut(&mut T) -> bool) -> usize {
        self.inner
            .docs
            .write()
            .iter_mut()
            .filter_map(|doc| update(doc).then_some(()))
            .count()
    }

    /// A copy of every document, in insertion order.
    pub fn snapshot(&self) -> Vec<T> {
        self.inner.docs.read().clone()
    }

    /// The number of documents.
    pub fn len(&self) -> usize {
        self.inner.docs.read().len()
    }

    /// Whether there are no documents.
    pub fn is_empty(&self) -> bool {
        self.inner.docs.read().is_empty()
    }

    /// How many fetches (queries) this source has answered.
    pub fn queries(&self) -> u64 {
        self.inner.queries.load(Relaxed)
    }

    /// A [`BatchFn`](crate::BatchFn) loading these documents by `field`.
    pub fn by(&self, field: impl Into<Arc<str>>) -> super::ByField<Self> {
        super::ByField::new(self.clone(), field)
    }

    /// A [`BatchFn`](crate::BatchFn) loading these documents by `_id`.
    pub fn by_id(&self) -> super::ByField<Self> {
        self.by("_id")
    }

    fn extractor<K: 'static>(&self, field: &str) -> Result<Extractor<T, K>, MemoryError> {
        let fields = self.inner.fields.read();
        let Some(any) = fields.get(field) else {
            return Err(MemoryError::UnknownField {
                collection: self.inner.name.clone(),
                field: field.to_owned(),
            });
        };
        any.downcast_ref::<Extractor<T, K>>()
            .cloned()
            .ok_or_else(|| MemoryError::KeyType {
                collection: self.inner.name.clone(),
                field: field.to_owned(),
                key_type: std::any::type_name::<K>(),
            })
    }
}

impl<K, T> Source<K, T> for MemorySource<T>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    type Error = MemoryError;

    async fn fetch(
        &self,
        field: &str,
        keys: &[K],
    ) -> Result<Fetched<K, T, Self::Error>, Self::Error> {
        let extractor = self.extractor::<K>(field)?;
        if keys.is_empty() {
            return Ok(Fetched::new(Vec::new(), 0));
        }
        self.inner.queries.fetch_add(1, Relaxed);
        let wanted: HashSet<&K> = keys.iter().collect();
        let docs = self
            .inner
            .docs
            .read()
            .iter()
            .filter_map(|doc| {
                let key = extractor(doc)?;
                wanted.contains(&key).then(|| (key, Ok(doc.clone())))
            })
            .collect();
        Ok(Fetched::new(docs, 1))
    }
}

/// Why a [`MemorySource`] lookup failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// The field was never registered.
    #[error("{collection}: no field `{field}` is registered")]
    UnknownField {
        /// The source's name.
        collection: String,
        /// The field asked for.
        field: String,
    },
    /// The field was registered with another key type.
    #[error("{collection}: field `{field}` does not hold keys of type {key_type}")]
    KeyType {
        /// The source's name.
        collection: String,
        /// The field asked for.
        field: String,
        /// The key type asked with.
        key_type: &'static str,
    },
}
