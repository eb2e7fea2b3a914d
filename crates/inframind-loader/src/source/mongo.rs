//! A MongoDB collection as a [`Source`], over the official `mongodb` driver.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

use bson::{Bson, Document, RawBsonRef, RawDocument, RawDocumentBuf, doc};
use futures_util::stream::{self, StreamExt};
use mongodb::Collection;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ByField, Fetched, Source};

/// Keys per `$in` query, by default.
const DEFAULT_MAX_KEYS: usize = 10_000;
/// Encoded key bytes per `$in` query, by default: half of MongoDB's 16 MiB command limit, which
/// leaves room for the filter's other parts, the projection and the sort.
const DEFAULT_MAX_BYTES: usize = 8 * 1024 * 1024;
/// `$in` queries of one fetch in flight at once, by default.
const DEFAULT_MAX_CONCURRENT: usize = 4;

/// A MongoDB collection whose documents decode (with serde) into `T`.
///
/// [`fetch`](Source::fetch) sends `find({field: {$in: keys}})` with the configured projection
/// and sort (ascending `_id` unless changed), reading raw BSON and decoding each document
/// straight into `T`. Large key sets are cut into several `$in` queries, run concurrently: at
/// most [`max_keys_per_query`](Self::max_keys_per_query) keys (10 000 by default) and
/// [`max_key_bytes_per_query`](Self::max_key_bytes_per_query) of encoded keys (8 MiB), so every
/// command stays under MongoDB's 16 MiB BSON limit. A field holding an array matches each of
/// its elements, as `$in` does. A document that does not decode is an error for its key alone,
/// naming the collection and the document's `_id`. A query that fails fails its own keys only:
/// when a key set was cut into several queries, the others still run and answer their keys,
/// and the failed one's keys get its [`MongoError::Query`]; a single query's failure is its
/// batch's. `Fetched::queries` counts every query sent.
///
/// Keys are any `serde` type that encodes to the field's BSON type (`ObjectId`, `String`,
/// integers, dates, ...). Returned documents are matched to their keys by the field's raw BSON
/// value for object ids, strings, integers (`Int32` and `Int64` alike, as MongoDB compares them)
/// and booleans, and by decoding the value with serde for other types.
///
/// ```no_run
/// # async fn example(db: mongodb::Database) {
/// use inframind_loader::{Loader, MongoSource};
/// use mongodb::bson::oid::ObjectId;
///
/// #[derive(Clone, Debug, serde::Deserialize)]
/// struct User { #[serde(rename = "_id")] id: ObjectId, email: String }
///
/// let users = MongoSource::<User>::new(db.collection::<User>("users"))
///     .projection(mongodb::bson::doc! { "email": 1 });
/// let by_id = Loader::builder(users.by_id()).name("User_id").build();
/// let user: Option<User> = by_id.load(ObjectId::new()).await.unwrap();
/// # }
/// ```
pub struct MongoSource<T> {
    inner: Arc<Inner>,
    _doc: PhantomData<fn() -> T>,
}

#[derive(Clone)]
struct Inner {
    collection: Collection<RawDocumentBuf>,
    projection: Option<Document>,
    sort: Option<Document>,
    max_keys: usize,
    max_bytes: usize,
    max_concurrent: usize,
}

impl<T> Clone for MongoSource<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            _doc: PhantomData,
        }
    }
}

impl<T> fmt::Debug for MongoSource<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoSource")
            .field("collection", &self.inner.collection.name())
            .field("projection", &self.inner.projection)
            .field("sort", &self.inner.sort)
            .field("max_keys", &self.inner.max_keys)
            .field("max_bytes", &self.inner.max_bytes)
            .field("max_concurrent", &self.inner.max_concurrent)
            .finish()
    }
}

impl<T> MongoSource<T>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    /// A source over `collection` (its document type is ignored; documents decode into `T`).
    pub fn new<C: Send + Sync>(collection: Collection<C>) -> Self {
        Self {
            inner: Arc::new(Inner {
                collection: collection.clone_with_type(),
                projection: None,
                sort: Some(doc! { "_id": 1 }),
                max_keys: DEFAULT_MAX_KEYS,
                max_bytes: DEFAULT_MAX_BYTES,
                max_concurrent: DEFAULT_MAX_CONCURRENT,
            }),
            _doc: PhantomData,
        }
    }

    fn with(mut self, change: impl FnOnce(&mut Inner)) -> Self {
        change(Arc::make_mut(&mut self.inner));
        self
    }

    /// Only these fields come back (a MongoDB projection). An inclusion projection gets the
    /// field being matched added, so results can be matched to keys.
    pub fn projection(self, projection: Document) -> Self {
        self.with(|inner| inner.projection = Some(projection))
    }

    /// The order documents come back in (default `{ "_id": 1 }`), which is the order of a
    /// parent's `many` relation and decides which document wins when several match one key.
    pub fn sort(self, sort: Document) -> Self {
        self.with(|inner| inner.sort = Some(sort))
    }

    /// No sort: the server's natural order, which MongoDB does not promise to keep stable.
    pub fn unsorted(self) -> Self {
        self.with(|inner| inner.sort = None)
    }

    /// The most keys in one `$in` query (default 10 000; 0 is taken as 1).
    pub fn max_keys_per_query(self, n: usize) -> Self {
        self.with(|inner| inner.max_keys = n.max(1))
    }

    /// The most encoded key bytes in one `$in` query (default 8 MiB).
    pub fn max_key_bytes_per_query(self, bytes: usize) -> Self {
        self.with(|inner| inner.max_bytes = bytes.max(1))
    }

    /// The most `$in` queries of one fetch in flight at once, when a key set is cut into
    /// several (default 4; 0 is taken as 1).
    pub fn max_concurrent_queries(self, n: usize) -> Self {
        self.with(|inner| inner.max_concurrent = n.max(1))
    }

    /// The collection's name.
    pub fn name(&self) -> &str {
        self.inner.collection.name()
    }

    /// A [`BatchFn`](crate::BatchFn) loading documents by `field`.
    pub fn by(&self, field: impl Into<Arc<str>>) -> ByField<Self> {
        ByField::new(self.clone(), field)
    }

    /// A [`BatchFn`](crate::BatchFn) loading documents by `_id`.
    pub fn by_id(&self) -> ByField<Self> {
        self.by("_id")
    }
}

impl<K, T> Source<K, T> for MongoSource<T>
where
    K: Serialize + DeserializeOwned + Eq + Hash + Clone + Send + Sync + 'static,
    T: DeserializeOwned + Send + Sync + 'static,
{
    type Error = MongoError;

    async fn fetch(
        &self,
        field: &str,
        keys: &[K],
    ) -> Result<Fetched<K, T, Self::Error>, Self::Error> {
        if keys.is_empty() {
            return Ok(Fetched::new(Vec::new(), 0));
        }
        let inner = &*self.inner;
        let limits = (inner.max_keys, inner.max_bytes);
        let (chunks, by_repr, all_represented) =
            chunk_keys(keys, limits).map_err(|source| MongoError::Key {
                collection: inner.collection.name().to_owned(),
                field: field.to_owned(),
                source: Box::new(source),
            })?;
        let wanted = Wanted {
            keys,
            by_repr,
            fallback: (!all_represented).then(|| keys.iter().collect()),
        };
        let projection = inner.projection.as_ref().map(|p| with_field(p, field));
        let queries = chunks.len() as u64;
        let lens: Vec<usize> = chunks.iter().map(Vec::len).collect();
        // Every piece runs to its end: one piece failing does not cancel the others.
        let mut results: Vec<_> = stream::iter(
            chunks
                .into_iter()
                .map(|chunk| query::<K, T>(inner, field, chunk, projection.as_ref(), &wanted)),
        )
        .buffered(inner.max_concurrent)
        .collect()
        .await;
        if results.len() == 1 {
            // A single query: its failure is the whole batch's.
            return Ok(Fetched::new(
                results.pop().unwrap_or(Ok(Vec::new()))?,
                queries,
            ));
        }
        // Several: each failed piece's keys get that piece's error, the others their documents.
        let mut docs = Vec::with_capacity(keys.len());
        let mut start = 0;
        for (len, result) in lens.into_iter().zip(results) {
            match result {
                Ok(found) => docs.extend(found),
                Err(error) => docs.extend(
                    keys[start..start + len]
                        .iter()
                        .map(|key| (key.clone(), Err(error.clone()))),
                ),
            }
            start += len;
        }
        Ok(Fetched::new(docs, queries))
    }
}

/// The keys asked for, found again from a document's raw field value: by their BSON
/// representation for the common key types, by decoding with serde otherwise.
struct Wanted<'k, K> {
    keys: &'k [K],
    by_repr: HashMap<KeyRepr, usize>,
    /// Set when some key has no [`KeyRepr`]: values are then also decoded and looked up here.
    fallback: Option<HashSet<&'k K>>,
}

impl<K: DeserializeOwned + Eq + Hash + Clone> Wanted<'_, K> {
    fn find(&self, value: RawBsonRef<'_>) -> Option<K> {
        let repr = KeyRepr::of_raw(value);
        if let Some(idx) = repr.as_ref().and_then(|r| self.by_repr.get(r)) {
            return self.keys.get(*idx).cloned();
        }
        let fallback = self.fallback.as_ref()?;
        let key = Bson::try_from(value)
            .ok()
            .and_then(|b| bson::deserialize_from_bson::<K>(b).ok())?;
        fallback.contains(&key).then_some(key)
    }
}

/// A key's BSON value, comparable without decoding: integers of either width compare equal,
/// as MongoDB compares them.
#[derive(Debug, PartialEq, Eq, Hash)]
enum KeyRepr {
    ObjectId([u8; 12]),
    Int(i64),
    Str(String),
    Bool(bool),
}

impl KeyRepr {
    fn of_bson(value: &Bson) -> Option<Self> {
        Some(match value {
            Bson::ObjectId(oid) => Self::ObjectId(oid.bytes()),
            Bson::Int32(n) => Self::Int(i64::from(*n)),
            Bson::Int64(n) => Self::Int(*n),
            Bson::String(s) => Self::Str(s.clone()),
            Bson::Boolean(b) => Self::Bool(*b),
            _ => return None,
        })
    }

    fn of_raw(value: RawBsonRef<'_>) -> Option<Self> {
        Some(match value {
            RawBsonRef::ObjectId(oid) => Self::ObjectId(oid.bytes()),
            RawBsonRef::Int32(n) => Self::Int(i64::from(n)),
            RawBsonRef::Int64(n) => Self::Int(n),
            RawBsonRef::String(s) => Self::Str(s.to_owned()),
            RawBsonRef::Boolean(b) => Self::Bool(b),
            _ => return None,
        })
    }
}

/// Encoded `$in` lists, the keys' indices by representation, and whether every key has one.
type Chunks = (Vec<Vec<Bson>>, HashMap<KeyRepr, usize>, bool);

/// Encodes the keys and cuts them into `$in` lists under the count and size limits.
fn chunk_keys<K: Serialize>(
    keys: &[K],
    (max_keys, max_bytes): (usize, usize),
) -> Result<Chunks, bson::error::Error> {
    let mut by_repr = HashMap::with_capacity(keys.len());
    let mut all_represented = true;
    let mut chunks = Vec::new();
    let mut current = Vec::with_capacity(keys.len().min(max_keys));
    let mut bytes = 0;
    for (idx, key) in keys.iter().enumerate() {
        let encoded = bson::serialize_to_bson(key)?;
        match KeyRepr::of_bson(&encoded) {
            Some(repr) => {
                by_repr.insert(repr, idx);
            }
            None => all_represented = false,
        }
        // Element: type byte, the index as a C string, the value.
        let size = 1 + digits(current.len()) + 1 + encoded_len(&encoded);
        if !current.is_empty() && (current.len() >= max_keys || bytes + size > max_bytes) {
            chunks.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(encoded);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    Ok((chunks, by_repr, all_represented))
}

fn digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// The encoded size of a BSON value (without its element header).
fn encoded_len(value: &Bson) -> usize {
    match value {
        Bson::ObjectId(_) => 12,
        Bson::Int32(_) => 4,
        Bson::Int64(_) | Bson::Double(_) | Bson::DateTime(_) | Bson::Timestamp(_) => 8,
        Bson::Boolean(_) => 1,
        Bson::Null => 0,
        Bson::String(s) => 4 + s.len() + 1,
        other => bson::serialize_to_vec(&doc! { "": other.clone() })
            .map_or(other.to_string().len(), |v| v.len().saturating_sub(7)),
    }
}

/// An inclusion projection with `field` added when it would otherwise be left out.
fn with_field(projection: &Document, field: &str) -> Document {
    let inclusive = projection.iter().any(|(name, value)| {
        name != "_id"
            && matches!(
                value,
                Bson::Int32(1) | Bson::Int64(1) | Bson::Boolean(true) | Bson::Double(1.0)
            )
    });
    let covered = projection.contains_key(field)
        || field == "_id"
        || projection
            .keys()
            .any(|name| field.starts_with(name.as_str()) && field[name.len()..].starts_with('.'));
    if inclusive && !covered {
        let mut projection = projection.clone();
        projection.insert(field, 1);
        projection
    } else {
        projection.clone()
    }
}

async fn query<K, T>(
    inner: &Inner,
    field: &str,
    keys: Vec<Bson>,
    projection: Option<&Document>,
    wanted: &Wanted<'_, K>,
) -> Result<Vec<(K, Result<T, MongoError>)>, MongoError>
where
    K: DeserializeOwned + Eq + Hash + Clone,
    T: DeserializeOwned,
{
    let query_error = |source| MongoError::Query {
        collection: inner.collection.name().to_owned(),
        field: field.to_owned(),
        source: Box::new(source),
    };
    let expected = keys.len();
    let mut find = inner.collection.find(doc! { field: { "$in": keys } });
    if let Some(projection) = projection {
        find = find.projection(projection.clone());
    }
    if let Some(sort) = &inner.sort {
        find = find.sort(sort.clone());
    }
    let mut cursor = find.await.map_err(query_error)?;
    let mut docs = Vec::with_capacity(expected);
    while cursor.advance().await.map_err(query_error)? {
        let raw = cursor.current();
        let Some(value) = lookup(raw, field) else {
            continue;
        };
        match value {
            RawBsonRef::Array(elements) => {
                for element in elements.into_iter().flatten() {
                    push_match(inner, raw, element, wanted, &mut docs);
                }
            }
            value => push_match(inner, raw, value, wanted, &mut docs),
        }
    }
    Ok(docs)
}

/// Decodes `raw` for the key `value` when it is one of the keys asked for.
fn push_match<K, T>(
    inner: &Inner,
    raw: &RawDocument,
    value: RawBsonRef<'_>,
    wanted: &Wanted<'_, K>,
    docs: &mut Vec<(K, Result<T, MongoError>)>,
) where
    K: DeserializeOwned + Eq + Hash + Clone,
    T: DeserializeOwned,
{
    let Some(key) = wanted.find(value) else {
        return;
    };
    let doc =
        bson::deserialize_from_slice::<T>(raw.as_bytes()).map_err(|source| MongoError::Decode {
            collection: inner.collection.name().to_owned(),
            id: raw
                .get("_id")
                .ok()
                .flatten()
                .and_then(|id| Bson::try_from(id).ok())
                .map_or_else(|| "(none)".to_owned(), |id| id.to_string()),
            source: Box::new(source),
        });
    docs.push((key, doc));
}

/// The value at a dotted path (`author.id`), if every step is a document.
fn lookup<'a>(doc: &'a RawDocument, path: &str) -> Option<RawBsonRef<'a>> {
    let mut parts = path.split('.');
    let mut value = doc.get(parts.next()?).ok()??;
    for part in parts {
        value = value.as_document()?.get(part).ok()??;
    }
    Some(value)
}

/// Why a [`MongoSource`] query, or one of its documents, failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum MongoError {
    /// The `find` failed (connection, server error, ...): every key of the query failed.
    ///
    /// The message gives the driver's error kind (for a server error, its code, name and
    /// message), not the raw server reply the driver's own message carries; that stays
    /// reachable through `source`.
    #[error("{collection}: find by `{field}` failed: {}", .source.kind)]
    Query {
        /// The collection queried.
        collection: String,
        /// The field matched with `$in`.
        field: String,
        /// The driver's error.
        #[source]
        source: Box<mongodb::error::Error>,
    },
    /// One document did not decode into the target type: only its key failed.
    #[error("{collection}: document with _id {id} does not decode: {source}")]
    Decode {
        /// The collection read.
        collection: String,
        /// The document's `_id`, as extended JSON.
        id: String,
        /// The decoding error.
        #[source]
        source: Box<bson::error::Error>,
    },
    /// A key could not be encoded as BSON.
    #[error("{collection}: a key for `{field}` does not encode to BSON: {source}")]
    Key {
        /// The collection queried.
        collection: String,
        /// The field matched with `$in`.
        field: String,
        /// The encoding error.
        #[source]
        source: Box<bson::error::Error>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_counts_index_characters() {
        assert_eq!(digits(0), 1);
        assert_eq!(digits(9), 1);
        assert_eq!(digits(10), 2);
        assert_eq!(digits(12_345), 5);
    }

    #[test]
    fn encoded_len_matches_the_bson_encoding() {
        for value in [
            Bson::ObjectId(bson::oid::ObjectId::new()),
            Bson::Int32(7),
            Bson::Int64(7),
            Bson::String("hello".into()),
            Bson::Document(doc! { "a": 1, "b": "x" }),
            Bson::Array(vec![Bson::Int32(1), Bson::Int32(2)]),
        ] {
            let whole = bson::serialize_to_vec(&doc! { "": value.clone() }).unwrap();
            // Document: 4-byte length, element (type byte, "" + NUL, value), trailing NUL.
            assert_eq!(
                encoded_len(&value),
                whole.len() - 4 - 1 - 1 - 1,
                "{value:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn chunks_keep_every_key_in_order_under_both_limits(
            keys in proptest::collection::vec(".{0,40}", 0..150),
            max_keys in 1_usize..30,
            max_bytes in 16_usize..600,
        ) {
            let (chunks, by_repr, all_represented) = chunk_keys(&keys, (max_keys, max_bytes)).unwrap();
            proptest::prop_assert!(all_represented);
            let flat: Vec<Bson> = chunks.iter().flatten().cloned().collect();
            let expected: Vec<Bson> = keys.iter().map(|k| Bson::String(k.clone())).collect();
            proptest::prop_assert_eq!(flat, expected);
            for chunk in &chunks {
                proptest::prop_assert!(!chunk.is_empty() && chunk.len() <= max_keys);
                // The `$in` array's elements, as encoded: the array less its 5 bytes of framing.
                let array = bson::serialize_to_vec(&doc! { "a": chunk.clone() }).unwrap();
                let elements = array.len() - 4 - 1 - 2 - 4 - 1 - 1;
                proptest::prop_assert!(
                    chunk.len() == 1 || elements <= max_bytes,
                    "{} bytes of keys in a chunk limited to {}", elements, max_bytes
                );
            }
            for (repr, idx) in &by_repr {
                proptest::prop_assert_eq!(repr, &KeyRepr::Str(keys[*idx].clone()));
            }
        }
    }

    #[test]
    fn integer_widths_share_a_representation() {
        assert_eq!(
            KeyRepr::of_bson(&Bson::Int32(7)),
            KeyRepr::of_bson(&Bson::Int64(7))
        );
        assert_eq!(KeyRepr::of_raw(RawBsonRef::Int32(7)), Some(KeyRepr::Int(7)));
        assert_eq!(KeyRepr::of_bson(&Bson::Double(7.0)), None);
    }

    #[test]
    fn inclusion_projections_get_the_matched_field() {
        let p = doc! { "title": 1 };
        assert_eq!(
            with_field(&p, "assessment_id"),
            doc! { "title": 1, "assessment_id": 1 }
        );
        assert_eq!(with_field(&p, "_id"), p);
        let nested = doc! { "author": 1 };
        assert_eq!(with_field(&nested, "author.id"), nested);
        let exclusion = doc! { "body": 0 };
        assert_eq!(with_field(&exclusion, "assessment_id"), exclusion);
    }
}
