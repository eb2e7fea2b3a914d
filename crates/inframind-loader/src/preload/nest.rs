//! What a relation does with its documents: hand them over ([`Plain`]) or load their own
//! relations first ([`Nested`]).

use std::future::Future;

use super::error::PreloadError;
use super::relation::Relations;

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
/// [`One::with`](super::One::with) and [`Many::with`](super::Many::with).
#[derive(Debug, Clone, Copy)]
pub struct Nested<R>(pub(crate) R);

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
