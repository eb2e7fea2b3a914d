//! How the `endpoint` label is chosen: a route template, never the raw path.

use http::{Extensions, Uri};
use std::borrow::Cow;

/// Chooses the `endpoint` label of a request.
///
/// It must return a route template (`/users/{id}`), never the raw path: every distinct value
/// is a new series. `None` means no route matched; such requests share
/// [`UNMATCHED_ENDPOINT`](crate::UNMATCHED_ENDPOINT).
pub trait EndpointLabel: Clone + Send + Sync + 'static {
    /// The endpoint label of a request, or `None` when no route matched.
    fn endpoint<'a>(&self, uri: &'a Uri, extensions: &'a Extensions) -> Option<Cow<'a, str>>;
}

/// The default endpoint label: axum's `MatchedPath` when the `axum` feature is on, else
/// nothing (every request is unmatched; supply a function with
/// [`MetricsLayer::endpoint_fn`](crate::MetricsLayer::endpoint_fn)).
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct DefaultEndpoint;

impl EndpointLabel for DefaultEndpoint {
    #[inline]
    fn endpoint<'a>(&self, _uri: &'a Uri, extensions: &'a Extensions) -> Option<Cow<'a, str>> {
        #[cfg(feature = "axum")]
        {
            extensions
                .get::<axum::extract::MatchedPath>()
                .map(|p| Cow::Borrowed(p.as_str()))
        }
        #[cfg(not(feature = "axum"))]
        {
            let _ = extensions;
            None
        }
    }
}

/// An endpoint label computed by a caller-supplied function.
#[derive(Clone)]
pub struct EndpointFn<F>(pub(crate) F);

impl<F> std::fmt::Debug for EndpointFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointFn").finish_non_exhaustive()
    }
}

impl<F> EndpointLabel for EndpointFn<F>
where
    F: for<'a> Fn(&'a Uri, &'a Extensions) -> Option<Cow<'a, str>> + Clone + Send + Sync + 'static,
{
    #[inline]
    fn endpoint<'a>(&self, uri: &'a Uri, extensions: &'a Extensions) -> Option<Cow<'a, str>> {
        (self.0)(uri, extensions)
    }
}
