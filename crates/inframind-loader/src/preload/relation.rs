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
