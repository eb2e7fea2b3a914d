//! [`Many`]: a to-many relation.

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

impl<'s, P, K, T, S, N> Many<'s, P, K, T, S, N>
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
        F: Fn(&mut P, Vec<N::Output>) + Send + Sync,
    {
        Set::new(self, set)
    }
}

/// A relation on its own is a set of one: its output is not wrapped in a 1-tuple.
impl<P, K, T, S, N> Relations<P> for Many<'_, P, K, T, S, N>
where
    P: Sync,
    K: Eq + Hash + Clone + Send + Sync + 'static,
    T: Send + Sync + 'static,
    S: Source<K, T>,
    S::Error: StdError + Send + Sync + 'static,
    N: Nest<T>,
{
    type Output = Vec<N::Output>;

    fn load_all(
        &self,
        parents: &[P],
    ) -> impl std::future::Future<Output = Result<Vec<Self::Output>, PreloadError>> + Send {
        Relation::load(self, parents)
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
