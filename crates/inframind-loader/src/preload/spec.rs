//! What [`One`](super::One) and [`Many`](super::Many) share: the query, priming, and handing
//! each parent its documents.

use std::collections::{HashMap, HashSet};
use std::error::Error as StdError;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;

use super::error::PreloadError;
use super::nest::{Nest, Nested};
use crate::loader::{BatchFn, Loader};
use crate::source::Source;

pub(crate) type KeyFn<'s, P, K> = Box<dyn Fn(&P) -> Option<K> + Send + Sync + 's>;
type PrimeFn<'s, T> = Box<dyn Fn(&T) + Send + Sync + 's>;
/// Called once per distinct key asked for, with its first document or `None`.
type KeyPrimeFn<'s, K, T> = Box<dyn Fn(&K, Option<&T>) + Send + Sync + 's>;

/// What [`One`] and [`Many`] share: the source, the matched field, the parent's key, nesting.
pub(crate) struct Spec<'s, P, K, T, S, N> {
    source: &'s S,
    field: String,
    key: KeyFn<'s, P, K>,
    nested: N,
    primes: Vec<PrimeFn<'s, T>>,
    key_primes: Vec<KeyPrimeFn<'s, K, T>>,
    _doc: PhantomData<fn() -> T>,
}

impl<P, K, T, S, N> fmt::Debug for Spec<'_, P, K, T, S, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relation")
            .field("field", &self.field)
            .field("primes", &(self.primes.len() + self.key_primes.len()))
            .finish_non_exhaustive()
    }
}

/// The parents' keys, and each key's documents (as outputs) in the source's order.
type Grouped<K, X> = (Vec<Option<K>>, HashMap<K, Vec<X>>);

impl<'s, P, K, T, S, N> Spec<'s, P, K, T, S, N> {
    /// The same relation, also loading `relations` of each related document.
    pub(crate) fn nest<R>(self, relations: R) -> Spec<'s, P, K, T, S, Nested<R>> {
        Spec {
            source: self.source,
            field: self.field,
            key: self.key,
            nested: Nested(relations),
            primes: self.primes,
            key_primes: self.key_primes,
            _doc: PhantomData,
        }
    }

    /// Primes `loader` with every fetched document under `key(doc)`.
    pub(crate) fn add_prime<K2, B>(
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

    /// Primes `loader`, keyed as the relation is, with each key's first document, and records
    /// the keys with no document as missing.
    pub(crate) fn add_key_prime<B>(&mut self, loader: &'s Loader<K, T, B>)
    where
        K: Eq + Hash + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        B: BatchFn<K, T>,
    {
        self.key_primes
            .push(Box::new(move |key: &K, doc: Option<&T>| match doc {
                Some(doc) => loader.prime(key.clone(), doc.clone()),
                None => loader.prime_missing(key.clone()),
            }));
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
    pub(crate) fn new(source: &'s S, field: &str, key: KeyFn<'s, P, K>, nested: N) -> Self {
        Self {
            source,
            field: field.to_owned(),
            key,
            nested,
            primes: Vec::new(),
            key_primes: Vec::new(),
            _doc: PhantomData,
        }
    }

    pub(crate) async fn fetch(&self, parents: &[P]) -> Result<Grouped<K, N::Output>, PreloadError> {
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
        if !self.key_primes.is_empty() {
            let mut primed = HashSet::with_capacity(distinct.len());
            for (key, doc) in matched.iter().zip(&docs) {
                if primed.insert(key) {
                    self.key_primes
                        .iter()
                        .for_each(|prime| prime(key, Some(doc)));
                }
            }
            for key in distinct.iter().filter(|key| !primed.contains(key)) {
                self.key_primes.iter().for_each(|prime| prime(key, None));
            }
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
pub(crate) fn distribute<K, X, O>(
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
