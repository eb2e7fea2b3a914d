//! The [`Relation`] and [`Relations`] traits, and tuples of relations run concurrently.

use std::future::Future;

use super::error::PreloadError;

/// One relation of a parent type `P`: [`One`](super::One) or [`Many`](super::Many).
pub trait Relation<P>: Send + Sync {
    /// What each parent gets: `Option<T>` for [`One`](super::One), `Vec<T>` for [`Many`](super::Many).
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

/// A relation chosen at run time: `None` loads nothing (no query) and gives every parent the
/// empty output, `None` for [`One`](super::One) and an empty `Vec` for [`Many`](super::Many).
/// A request's `?include=user,reports` picks its relations this way, in one tuple type.
///
/// ```
/// use inframind_loader::preload::{preload_relations, Many, One};
/// use inframind_loader::MemorySource;
///
/// #[derive(Clone, Debug)] struct User { id: u32 }
/// #[derive(Clone, Debug)] struct Assessment { id: u32, user_id: u32 }
/// #[derive(Clone, Debug)] struct Report { assessment_id: u32 }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), inframind_loader::preload::PreloadError> {
/// let users = MemorySource::new("users").field("_id", |u: &User| u.id);
/// users.extend([User { id: 1 }]);
/// let reports = MemorySource::new("reports").field("assessment_id", |r: &Report| r.assessment_id);
/// reports.extend([Report { assessment_id: 10 }]);
///
/// let include_reports = false;
/// let rows = preload_relations(
///     vec![Assessment { id: 10, user_id: 1 }],
///     (
///         Some(One::new(&users, "_id", |a: &Assessment| a.user_id)),
///         include_reports.then(|| Many::new(&reports, "assessment_id", |a: &Assessment| a.id)),
///     ),
/// )
/// .await?;
/// let (_, (user, no_reports)) = &rows[0];
/// assert_eq!(user.as_ref().map(|u| u.id), Some(1));
/// assert!(no_reports.is_empty());
/// assert_eq!(reports.queries(), 0);
/// # Ok(())
/// # }
/// ```
impl<P, R> Relation<P> for Option<R>
where
    P: Sync,
    R: Relation<P>,
    R::Output: Default,
{
    type Output = R::Output;

    async fn load(&self, parents: &[P]) -> Result<Vec<Self::Output>, PreloadError> {
        match self {
            Some(relation) => relation.load(parents).await,
            None => Ok(parents.iter().map(|_| R::Output::default()).collect()),
        }
    }
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
