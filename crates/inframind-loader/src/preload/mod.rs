//! [`preload_relations`]: N parents' relations in one query per relation.
//!
//! A relation is the spec's `(related model, foreign key field, one | many)`:
//!
//! - [`One`]: the parent holds the key (`assessment.user_id`), matched against a field of the
//!   related documents (usually `_id`). Each parent gets an `Option<T>`.
//! - [`Many`]: the related documents hold the parent's key (`recommendation.assessment_id`).
//!   Each parent gets a `Vec<T>`.
//!
//! Relations are given as a tuple and run concurrently; each is one [`Source::fetch`] with the
//! distinct keys of all parents (one `$in` query for [`MongoSource`](crate::source), more only
//! past its chunking limits). The result is a `Vec<(P, outputs)>` in the parents' order, with
//! the outputs typed as the tuple of relations: no map to dig in.
//!
//! Order: a `Many` relation's documents come in the source's stable order (for `MongoSource`,
//! its sort, by default ascending `_id`; for [`MemorySource`](crate::MemorySource), insertion
//! order). When several documents match a `One` key, the first in that order wins.
//!
//! A missing related document is `None` or an empty `Vec`. A related document that fails to
//! decode fails the whole preload with a [`PreloadError`] naming the relation, the collection
//! and the document's `_id`: a preload returns complete data or an error, never a silently
//! shortened list. (Use a [`Loader`] over the same source to get per-key errors.)

use std::collections::{HashMap, HashSet};
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::loader::{BatchFn, Loader};
use crate::source::Source;

/// Loads `relations` for every parent, one query per relation, relations concurrently.
///
/// Returns each parent with its relations' outputs, in the parents' order. Parents with no key
/// for a relation (see [`One::optional`]) get `None` or an empty `Vec` for it.
///
/// # Errors
///
/// [`PreloadError`] when a relation's query fails or one of its documents does not decode.
///
/// # Example
///
/// ```
/// use inframind_loader::preload::{preload_relations, Many, One};
/// use inframind_loader::MemorySource;
///
/// #[derive(Clone, Debug)] struct User { id: u32, name: &'static str }
/// #[derive(Clone, Debug)] struct Assessment { id: u32, user_id: u32 }
/// #[derive(Clone, Debug)] struct Recommendation { id: u32, assessment_id: u32 }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), inframind_loader::preload::PreloadError> {
/// let users = MemorySource::new("users").field("_id", |u: &User| u.id);
/// users.extend([User { id: 1, name: "Ada" }, User { id: 2, name: "Grace" }]);
/// let recs = MemorySource::new("recommendations")
///     .field("assessment_id", |r: &Recommendation| r.assessment_id);
/// recs.extend((0..6).map(|id| Recommendation { id, assessment_id: 10 + id % 3 }));
///
/// let assessments: Vec<Assessment> =
///     (10..13).map(|id| Assessment { id, user_id: 1 + id % 2 }).collect();
///
/// let rows = preload_relations(
///     assessments,
///     (
///         One::new(&users, "_id", |a: &Assessment| a.user_id),
///         Many::new(&recs, "assessment_id", |a: &Assessment| a.id),
///     ),
/// )
/// .await?;
///
/// for (assessment, (user, recommendations)) in &rows {
///     let user: &Option<User> = user; // one -> Option<T>
///     let recommendations: &Vec<Recommendation> = recommendations; // many -> Vec<T>
///     assert_eq!(user.as_ref().unwrap().id, 1 + assessment.id % 2);
///     assert_eq!(recommendations.len(), 2);
/// }
/// assert_eq!(rows[1].1 .0.as_ref().unwrap().name, "Grace");
/// assert_eq!(rows[1].1 .1.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 4]);
/// // Three parents, two relations: two queries.
/// assert_eq!(users.queries() + recs.queries(), 2);
/// # Ok(())
/// # }
/// ```
pub async fn preload_relations<P, R>(
    parents: Vec<P>,
    relations: R,
) -> Result<Vec<(P, R::Output)>, PreloadError>
where
    P: Sync,
    R: Relations<P>,
{
    let outputs = relations.load_all(&parents).await?;
    Ok(parents.into_iter().zip(outputs).collect())
}

/// One relation of a parent type `P`: [`One`] or [`Many`].
pub trait Relation<P>: Send + Sync {
    /// What each parent gets: `Option<T>` for [`One`], `Vec<T>` for [`Many`].
    type Output: Send;

    /// The output for each parent, in the parents' order.
    fn load(
        &self,
        parents: &[P],
    ) -> impl Future<Output = Result<Vec<Self::Output>, PreloadError>> + Send;
}

/// A set of relations, as a tuple of up to eight [`Relation`]s, run concurrently.
pub trait Relations<P>: Send + Sync {
    /// The tuple of the relations' outputs for one parent.
    type Output: Send;

    /// The outputs for each parent, in the parents' order.
    fn load_all(
        &self,
        parents: &[P],
    ) -> impl Future<Output = Result<Vec<Self::Output>, PreloadError>> + Send;
}

macro_rules! tuple_relations {
    ($($R:ident $idx:tt $v:ident),+) => {
        impl<P: Sync, $($R: Relation<P>),+> Relations<P> for ($($R,)+) {
            type Output = ($($R::Output,)+);

            async fn load_all(&self, parents: &[P]) -> Result<Vec<Self::Output>, PreloadError> {
                let ($($v,)+) = futures_util::try_join!($(self.$idx.load(parents)),+)?;
                $(let mut $v = $v.into_iter();)+
                let mut out = Vec::with_capacity(parents.len());
                for _ in 0..parents.len() {
                    out.push(($(
                        match $v.next() {
                            Some(output) => output,
                            None => return Err(PreloadError::misaligned()),
                        },
                    )+));
                }
                Ok(out)
            }
        }
    };
}

tuple_relations!(A 0 a);
tuple_relations!(A 0 a, B 1 b);
tuple_relations!(A 0 a, B 1 b, C 2 c);
tuple_relations!(A 0 a, B 1 b, C 2 c, D 3 d);
tuple_relations!(A 0 a, B 1 b, C 2 c, D 3 d, E 4 e);
tuple_relations!(A 0 a, B 1 b, C 2 c, D 3 d, E 4 e, F 5 f);
tuple_relations!(A 0 a, B 1 b, C 2 c, D 3 d, E 4 e, F 5 f, G 6 g);
tuple_relations!(A 0 a, B 1 b, C 2 c, D 3 d, E 4 e, F 5 f, G 6 g, H 7 h);

/// What a relation does with its documents before handing them to parents: nothing
/// ([`Plain`]), or load their own relations ([`Nested`]).
pub trait Nest<T>: Send + Sync {
    /// A document as each parent gets it.
    type Output: Clone + Send;

    /// Turns the fetched documents into outputs, one each, in order.
    fn attach(
        &self,
        docs: Vec<T>,
    ) -> impl Future<Output = Result<Vec<Self::Output>, PreloadError>> + Send;
}

/// No nested relations: parents get the documents themselves.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;

impl<T: Clone + Send + 'static> Nest<T> for Plain {
    type Output = T;

    async fn attach(&self, docs: Vec<T>) -> Result<Vec<T>, PreloadError> {
        Ok(docs)
    }
}

/// Nested relations: parents get `(document, its relations' outputs)`. From
/// [`One::with`] and [`Many::with`].
#[derive(Debug, Clone, Copy)]
pub struct Nested<R>(R);

impl<T, R> Nest<T> for Nested<R>
where
    T: Clone + Send + Sync + 'static,
    R: Relations<T>,
    R::Output: Clone,
{
    type Output = (T, R::Output);

    async fn attach(&self, docs: Vec<T>) -> Result<Vec<(T, R::Output)>, PreloadError> {
        let outputs = self.0.load_all(&docs).await?;
        Ok(docs.into_iter().zip(outputs).collect())
    }
}

type KeyFn<'s, P, K> = Box<dyn Fn(&P) -> Option<K> + Send + Sync + 's>;
type PrimeFn<'s, T> = Box<dyn Fn(&T) + Send + Sync + 's>;

/// What [`One`] and [`Many`] share: the source, the matched field, the parent's key, nesting.
struct Spec<'s, P, K, T, S, N> {
    source: &'s S,
    field: String,
    key: KeyFn<'s, P, K>,
    nested: N,
    primes: Vec<PrimeFn<'s, T>>,
    _doc: PhantomData<fn() -> T>,
}

impl<P, K, T, S, N> fmt::Debug for Spec<'_, P, K, T, S, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relation")
            .field("field", &self.field)
            .field("primes", &self.primes.len())
            .finish_non_exhaustive()
    }
}

/// The parents' keys, and each key's documents (as outputs) in the source's order.
type Grouped<K, X> = (Vec<Option<K>>, HashMap<K, Vec<X>>);

impl<'s, P, K, T, S, N> Spec<'s, P, K, T, S, N> {
    /// The same relation, also loading `relations` of each related document.
    fn nest<R>(self, relations: R) -> Spec<'s, P, K, T, S, Nested<R>> {
        Spec {
            source: self.source,
            field: self.field,
            key: self.key,
            nested: Nested(relations),
            primes: self.primes,
            _doc: PhantomData,
        }
    }

    /// Primes `loader` with every fetched document under `key(doc)`.
    fn add_prime<K2, B>(
        &mut self,
        loader: &'s Loader<K2, T, B>,
        key: impl Fn(&T) -> K2 + Send + Sync + 's,
    ) where
        K2: Eq + Hash + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        B: BatchFn<K2, T>,
    {
        self.primes
            .push(Box::new(move |doc: &T| loader.prime(key(doc), doc.clone())));
    }
}

impl<'s, P, K, T, S, N> Spec<'s, P, K, T, S, N>
where
    P: Sync,
    K: Eq + Hash + Clone + Send + Sync + 'static,
    T: Send + Sync + 'static,
    S: Source<K, T>,
    S::Error: StdError + Send + Sync + 'static,
    N: Nest<T>,
{
    fn new(source: &'s S, field: &str, key: KeyFn<'s, P, K>, nested: N) -> Self {
        Self {
            source,
            field: field.to_owned(),
            key,
            nested,
            primes: Vec::new(),
            _doc: PhantomData,
        }
    }

    async fn fetch(&self, parents: &[P]) -> Result<Grouped<K, N::Output>, PreloadError> {
        let keys: Vec<Option<K>> = parents.iter().map(|p| (self.key)(p)).collect();
        let mut seen = HashSet::with_capacity(keys.len());
        let distinct: Vec<K> = keys
            .iter()
            .flatten()
            .filter(|k| seen.insert(*k))
            .cloned()
            .collect();
        drop(seen);
        let mut groups = HashMap::with_capacity(distinct.len());
        if distinct.is_empty() {
            return Ok((keys, groups));
        }
        let fetched = self
            .source
            .fetch(&self.field, &distinct)
            .await
            .map_err(|e| PreloadError::new(&self.field, e))?;
        let mut matched = Vec::with_capacity(fetched.docs.len());
        let mut docs = Vec::with_capacity(fetched.docs.len());
        for (key, doc) in fetched.docs {
            let doc = doc.map_err(|e| PreloadError::new(&self.field, e))?;
            for prime in &self.primes {
                prime(&doc);
            }
            matched.push(key);
            docs.push(doc);
        }
        let outputs = self.nested.attach(docs).await?;
        for (key, output) in matched.into_iter().zip(outputs) {
            groups.entry(key).or_insert_with(Vec::new).push(output);
        }
        Ok((keys, groups))
    }
}

/// Hands each parent its key's group, moving it to the key's last parent and cloning it for
/// the others.
fn distribute<K, X, O>(
    keys: &[Option<K>],
    mut groups: HashMap<K, Vec<X>>,
    shared: impl Fn(&Vec<X>) -> O,
    owned: impl Fn(Vec<X>) -> O,
    none: impl Fn() -> O,
) -> Vec<O>
where
    K: Eq + Hash,
{
    let mut uses: HashMap<&K, usize> = HashMap::with_capacity(groups.len());
    for key in keys.iter().flatten() {
        *uses.entry(key).or_insert(0) += 1;
    }
    keys.iter()
        .map(|key| {
            let Some(key) = key else {
                return none();
            };
            let left = uses.get_mut(key).map(|n| {
                *n -= 1;
                *n
            });
            if left == Some(0) {
                groups.remove(key).map_or_else(&none, &owned)
            } else {
                groups.get(key).map_or_else(&none, &shared)
            }
        })
        .collect()
}

/// A to-one relation: the parent holds the key, matched against `field` of the related
/// documents. Each parent gets `Option<T>` (or `Option<(T, nested)>`).
pub struct One<'s, P, K, T, S, N = Plain> {
    spec: Spec<'s, P, K, T, S, N>,
}

impl<P, K, T, S, N> fmt::Debug for One<'_, P, K, T, S, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("One").field(&self.spec).finish()
    }
}

impl<'s, P, K, T, S> One<'s, P, K, T, S, Plain>
where
    P: Sync,
    K: Eq + Hash + Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
    S: Source<K, T>,
    S::Error: StdError + Send + Sync + 'static,
{
    /// The document of `source` whose `field` equals `key(parent)`; the spec's
    /// `(User, 'user_id', 'one')` is `One::new(&users, "_id", |a| a.user_id)`.
    pub fn new(source: &'s S, field: &str, key: impl Fn(&P) -> K + Send + Sync + 's) -> Self {
        Self::optional(source, field, move |p| Some(key(p)))
    }

    /// As [`new`](Self::new), for parents that may have no key (`None` gives `None`).
    pub fn optional(
        source: &'s S,
        field: &str,
        key: impl Fn(&P) -> Option<K> + Send + Sync + 's,
    ) -> Self {
        Self {
            spec: Spec::new(source, field, Box::new(key), Plain),
        }
    }

    /// Also loads `relations` of the related documents (a relation of a relation): each
    /// parent then gets `Option<(T, outputs)>`. One query per nested relation, whatever the
    /// number of documents.
    pub fn with<R: Relations<T>>(self, relations: R) -> One<'s, P, K, T, S, Nested<R>>
    where
        R::Output: Clone,
    {
        One {
            spec: self.spec.nest(relations),
        }
    }
}

impl<'s, P, K, T, S, N> One<'s, P, K, T, S, N> {
    /// Primes `loader` with every document this relation fetches, under `key(doc)`, so later
    /// `loader.load` calls for them answer from its cache.
    pub fn prime<K2, B>(
        mut self,
        loader: &'s Loader<K2, T, B>,
        key: impl Fn(&T) -> K2 + Send + Sync + 's,
    ) -> Self
    where
        K2: Eq + Hash + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        B: BatchFn<K2, T>,
    {
        self.spec.add_prime(loader, key);
        self
    }
}

impl<P, K, T, S, N> Relation<P> for One<'_, P, K, T, S, N>
where
    P: Sync,
    K: Eq + Hash + Clone + Send + Sync + 'static,
    T: Send + Sync + 'static,
    S: Source<K, T>,
    S::Error: StdError + Send + Sync + 'static,
    N: Nest<T>,
{
    type Output = Option<N::Output>;

    async fn load(&self, parents: &[P]) -> Result<Vec<Self::Output>, PreloadError> {
        let (keys, groups) = self.spec.fetch(parents).await?;
        Ok(distribute(
            &keys,
            groups,
            |group| group.first().cloned(),
            |group| group.into_iter().next(),
            || None,
        ))
    }
}

/// A to-many relation: the related documents hold the parent's key in `field`. Each parent
/// gets `Vec<T>` (or `Vec<(T, nested)>`) in the source's order.
pub struct Many<'s, P, K, T, S, N = Plain> {
    spec: Spec<'s, P, K, T, S, N>,
}

impl<P, K, T, S, N> fmt::Debug for Many<'_, P, K, T, S, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Many").field(&self.spec).finish()
    }
}

impl<'s, P, K, T, S> Many<'s, P, K, T, S, Plain>
where
    P: Sync,
    K: Eq + Hash + Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
    S: Source<K, T>,
    S::Error: StdError + Send + Sync + 'static,
{
    /// The documents of `source` whose `field` equals `key(parent)`; the spec's
    /// `(Recommendation, 'assessment_id', 'many')` is
    /// `Many::new(&recommendations, "assessment_id", |a| a.id)`.
    pub fn new(source: &'s S, field: &str, key: impl Fn(&P) -> K + Send + Sync + 's) -> Self {
        Self::optional(source, field, move |p| Some(key(p)))
    }

    /// As [`new`](Self::new), for parents that may have no key (`None` gives an empty `Vec`).
    pub fn optional(
        source: &'s S,
        field: &str,
        key: impl Fn(&P) -> Option<K> + Send + Sync + 's,
    ) -> Self {
        Self {
            spec: Spec::new(source, field, Box::new(key), Plain),
        }
    }

    /// Also loads `relations` of the related documents: each parent then gets
    /// `Vec<(T, outputs)>`. One query per nested relation, whatever the number of documents.
    pub fn with<R: Relations<T>>(self, relations: R) -> Many<'s, P, K, T, S, Nested<R>>
    where
        R::Output: Clone,
    {
        Many {
            spec: self.spec.nest(relations),
        }
    }
}

impl<'s, P, K, T, S, N> Many<'s, P, K, T, S, N> {
    /// Primes `loader` with every document this relation fetches, under `key(doc)` (such as
    /// the document's own `_id`).
    pub fn prime<K2, B>(
        mut self,
        loader: &'s Loader<K2, T, B>,
        key: impl Fn(&T) -> K2 + Send + Sync + 's,
    ) -> Self
    where
        K2: Eq + Hash + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        B: BatchFn<K2, T>,
    {
        self.spec.add_prime(loader, key);
        self
    }
}

impl<P, K, T, S, N> Relation<P> for Many<'_, P, K, T, S, N>
where
    P: Sync,
    K: Eq + Hash + Clone + Send + Sync + 'static,
    T: Send + Sync + 'static,
    S: Source<K, T>,
    S::Error: StdError + Send + Sync + 'static,
    N: Nest<T>,
{
    type Output = Vec<N::Output>;

    async fn load(&self, parents: &[P]) -> Result<Vec<Self::Output>, PreloadError> {
        let (keys, groups) = self.spec.fetch(parents).await?;
        Ok(distribute(
            &keys,
            groups,
            Vec::clone,
            |group| group,
            Vec::new,
        ))
    }
}

/// Why a preload failed: a relation's query failed, or one of its documents did not decode.
#[derive(Debug, thiserror::Error)]
#[error("preloading the relation on `{field}` failed: {source}")]
pub struct PreloadError {
    field: String,
    #[source]
    source: Arc<dyn StdError + Send + Sync>,
}

impl Clone for PreloadError {
    fn clone(&self) -> Self {
        Self {
            field: self.field.clone(),
            source: Arc::clone(&self.source),
        }
    }
}

impl PreloadError {
    fn new(field: &str, source: impl StdError + Send + Sync + 'static) -> Self {
        Self {
            field: field.to_owned(),
            source: Arc::new(source),
        }
    }

    fn misaligned() -> Self {
        #[derive(Debug, thiserror::Error)]
        #[error("a relation returned a different number of outputs than there are parents")]
        struct Misaligned;
        Self::new("?", Misaligned)
    }

    /// The field the failing relation matched on.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The source's error ([`MemoryError`](crate::MemoryError), `MongoError`, ...), to
    /// downcast.
    pub fn source_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.source
    }
}
