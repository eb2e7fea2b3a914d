//! Writing relations into the parents' own fields: [`preload_into`] and [`Set`].

use std::future::Future;

use super::error::PreloadError;
use super::relation::{Relation, Relations};

/// Loads `relations` for every parent and writes each output into the parent itself, through
/// the relations' [`set`](super::One::set) functions: afterwards `assessment.user` is the
/// assessment's user. One query per relation, relations concurrently, as
/// [`preload_relations`](super::preload_relations).
///
/// # Errors
///
/// [`PreloadError`] when a relation's query fails or one of its documents does not decode;
/// the parents are then left as they were.
///
/// # Example
///
/// ```
/// use inframind_loader::preload::{preload_into, Many, One};
/// use inframind_loader::MemorySource;
///
/// #[derive(Clone, Debug)] struct User { id: u32, name: &'static str }
/// #[derive(Clone, Debug)] struct Recommendation { id: u32, assessment_id: u32 }
/// #[derive(Clone, Debug, Default)]
/// struct Assessment {
///     id: u32,
///     user_id: u32,
///     user: Option<User>,
///     recommendations: Vec<Recommendation>,
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), inframind_loader::preload::PreloadError> {
/// let users = MemorySource::new("users").field("_id", |u: &User| u.id);
/// users.extend([User { id: 1, name: "Ada" }, User { id: 2, name: "Grace" }]);
/// let recs = MemorySource::new("recommendations")
///     .field("assessment_id", |r: &Recommendation| r.assessment_id);
/// recs.extend((0..6).map(|id| Recommendation { id, assessment_id: 10 + id % 3 }));
///
/// let mut assessments: Vec<Assessment> = (10..13)
///     .map(|id| Assessment { id, user_id: 1 + id % 2, ..Assessment::default() })
///     .collect();
/// preload_into(
///     &mut assessments,
///     (
///         One::new(&users, "_id", |a: &Assessment| a.user_id).set(|a, user| a.user = user),
///         Many::new(&recs, "assessment_id", |a: &Assessment| a.id)
///             .set(|a, recs| a.recommendations = recs),
///     ),
/// )
/// .await?;
///
/// let assessment = &assessments[1];
/// assert_eq!(assessment.user.as_ref().unwrap().name, "Grace");
/// assert_eq!(assessment.recommendations.len(), 2);
/// assert_eq!(users.queries() + recs.queries(), 2);
/// # Ok(())
/// # }
/// ```
pub async fn preload_into<P, R>(parents: &mut [P], relations: R) -> Result<(), PreloadError>
where
    P: Sync,
    R: AssignAll<P>,
{
    let outputs = relations.load_all(parents).await?;
    for (parent, output) in parents.iter_mut().zip(outputs) {
        relations.assign_all(parent, output);
    }
    Ok(())
}

/// A relation whose output each parent stores itself; from [`One::set`](super::One::set) and
/// [`Many::set`](super::Many::set).
pub struct Set<R, F> {
    relation: R,
    set: F,
}

impl<R: std::fmt::Debug, F> std::fmt::Debug for Set<R, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Set")
            .field(&self.relation)
            .finish_non_exhaustive()
    }
}

impl<R, F> Set<R, F> {
    pub(crate) fn new(relation: R, set: F) -> Self {
        Self { relation, set }
    }
}

/// A [`Relation`] that writes its output into the parent.
pub trait Assign<P>: Relation<P> {
    /// Stores `output` in `parent`.
    fn assign(&self, parent: &mut P, output: <Self as Relation<P>>::Output);
}

/// A set of [`Relations`] that write their outputs into the parent: a [`Set`], or a tuple of
/// up to eight.
pub trait AssignAll<P>: Relations<P> {
    /// Stores every output of the set in `parent`.
    fn assign_all(&self, parent: &mut P, output: <Self as Relations<P>>::Output);
}

impl<P, R, F> Relation<P> for Set<R, F>
where
    R: Relation<P>,
    F: Fn(&mut P, R::Output) + Send + Sync,
{
    type Output = R::Output;

    fn load(
        &self,
        parents: &[P],
    ) -> impl Future<Output = Result<Vec<Self::Output>, PreloadError>> + Send {
        self.relation.load(parents)
    }
}

impl<P, R, F> Relations<P> for Set<R, F>
where
    R: Relation<P>,
    F: Fn(&mut P, R::Output) + Send + Sync,
{
    type Output = R::Output;

    fn load_all(
        &self,
        parents: &[P],
    ) -> impl Future<Output = Result<Vec<Self::Output>, PreloadError>> + Send {
        self.relation.load(parents)
    }
}

impl<P, R, F> Assign<P> for Set<R, F>
where
    R: Relation<P>,
    F: Fn(&mut P, R::Output) + Send + Sync,
{
    fn assign(&self, parent: &mut P, output: R::Output) {
        (self.set)(parent, output);
    }
}

impl<P, R, F> AssignAll<P> for Set<R, F>
where
    R: Relation<P>,
    F: Fn(&mut P, R::Output) + Send + Sync,
{
    fn assign_all(&self, parent: &mut P, output: R::Output) {
        (self.set)(parent, output);
    }
}

/// A relation left out (`None`) leaves the parent's field as it was.
impl<P, R> Assign<P> for Option<R>
where
    P: Sync,
    R: Assign<P>,
    <R as Relation<P>>::Output: Default,
{
    fn assign(&self, parent: &mut P, output: <R as Relation<P>>::Output) {
        if let Some(relation) = self {
            relation.assign(parent, output);
        }
    }
}

macro_rules! tuple_assign {
    ($($R:ident $idx:tt $v:ident),+) => {
        impl<P: Sync, $($R: Assign<P>),+> AssignAll<P> for ($($R,)+) {
            fn assign_all(
                &self,
                parent: &mut P,
                ($($v,)+): ($(<$R as Relation<P>>::Output,)+),
            ) {
                $(self.$idx.assign(parent, $v);)+
            }
        }
    };
}

tuple_assign!(A 0 a);
tuple_assign!(A 0 a, B 1 b);
tuple_assign!(A 0 a, B 1 b, C 2 c);
tuple_assign!(A 0 a, B 1 b, C 2 c, D 3 d);
tuple_assign!(A 0 a, B 1 b, C 2 c, D 3 d, E 4 e);
tuple_assign!(A 0 a, B 1 b, C 2 c, D 3 d, E 4 e, F 5 f);
tuple_assign!(A 0 a, B 1 b, C 2 c, D 3 d, E 4 e, F 5 f, G 6 g);
tuple_assign!(A 0 a, B 1 b, C 2 c, D 3 d, E 4 e, F 5 f, G 6 g, H 7 h);
