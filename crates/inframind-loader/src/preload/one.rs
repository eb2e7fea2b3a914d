//! [`One`]: a to-one relation.

use std::error::Error as StdError;
use std::fmt;
use std::hash::Hash;

use super::assign::Set;
use super::error::PreloadError;
use super::nest::{Nest, Nested, Plain};
use super::relation::{Relation, Relations};
use super::spec::{Spec, distribute};
use crate::loader::{BatchFn, Loader};
use crate::source::Source;

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

    /// Primes `loader`, which loads by the same key as this relation (a loader by `_id` for a
    /// relation on `_id`), with each key's document, and records the keys that have no
    /// document as missing, so that `loader.load` asks for none of them again.
    pub fn prime_keys<B>(mut self, loader: &'s Loader<K, T, B>) -> Self
    where
        K: Eq + Hash + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        B: BatchFn<K, T>,
    {
        self.spec.add_key_prime(loader);
        self
    }
}

impl<'s, P, K, T, S, N> One<'s, P, K, T, S, N>
where
    P: Sync,
    K: Eq + Hash + Clone + Send + Sync + 'static,
    T: Send + Sync + 'static,
    S: Source<K, T>,
    S::Error: StdError + Send + Sync + 'static,
    N: Nest<T>,
{
    /// Writes each parent's output into the parent itself with `set`, for
    /// [`preload_into`](super::preload_into): `.set(|a: &mut Assessment, user| a.user = user)`.
    pub fn set<F>(self, set: F) -> Set<Self, F>
    where
        F: Fn(&mut P, Option<N::Output>) + Send + Sync,
    {
        Set::new(self, set)
    }
}

/// A relation on its own is a set of one: its output is not wrapped in a 1-tuple.
impl<P, K, T, S, N> Relations<P> for One<'_, P, K, T, S, N>
where
    P: Sync,
    K: Eq + Hash + Clone + Send + Sync + 'static,
    T: Send + Sync + 'static,
    S: Source<K, T>,
    S::Error: StdError + Send + Sync + 'static,
    N: Nest<T>,
{
    type Output = Option<N::Output>;

    fn load_all(
        &self,
        parents: &[P],
    ) -> impl std::future::Future<Output = Result<Vec<Self::Output>, PreloadError>> + Send {
        Relation::load(self, parents)
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
