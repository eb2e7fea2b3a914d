//! [`preload_relations`]: N parents' relations in one query per relation.
//!
//! A relation is the spec's `(related model, foreign key field, one | many)`:
//!
//! - [`One`]: the parent holds the key (`assessment.user_id`), matched against a field of the
//!   related documents (usually `_id`). Each parent gets an `Option<T>`.
//! - [`Many`]: the related documents hold the parent's key (`recommendation.assessment_id`).
//!   Each parent gets a `Vec<T>`.
//!
//! Relations are given alone or as a tuple, and run concurrently; each is one
//! [`Source::fetch`](crate::Source::fetch) with the distinct keys of all parents (one `$in`
//! query for [`MongoSource`](crate::source), more only past its chunking limits). The result is
//! a `Vec<(P, outputs)>` in the parents' order, with the outputs typed as the relation (or the
//! tuple of relations): no map to dig in. [`preload_into`] instead writes each output into a
//! field of the parent ([`One::set`], [`Many::set`]), so the result reads as the spec's
//! `assessment.user.name`.
//!
//! Order: a `Many` relation's documents come in the source's stable order (for `MongoSource`,
//! its sort, by default ascending `_id`; for [`MemorySource`](crate::MemorySource), insertion
//! order). When several documents match a `One` key, the first in that order wins.
//!
//! A missing related document is `None` or an empty `Vec`. A related document that fails to
//! decode fails the whole preload with a [`PreloadError`] naming the relation, the collection
//! and the document's `_id`: a preload returns complete data or an error, never a silently
//! shortened list. (Use a [`Loader`](crate::Loader) over the same source to get per-key
//! errors.)

mod assign;
mod error;
mod many;
mod nest;
mod one;
mod relation;
mod spec;

pub use self::assign::{Assign, AssignAll, Set, preload_into};
pub use self::error::PreloadError;
pub use self::many::Many;
pub use self::nest::{Nest, Nested, Plain};
pub use self::one::One;
pub use self::relation::{Relation, Relations};

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
