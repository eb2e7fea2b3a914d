//! How the `endpoint` label is chosen: a route template, never the raw path.
//!
//! The default ([`DefaultEndpoint`]) is the same whatever features are enabled anywhere in the
//! build: it reads a [`RouteTemplate`] request extension. axum applications use
//! [`MetricsLayer::axum`](crate::MetricsLayer::axum) ([`AxumEndpoint`], feature `axum`).

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

/// A route template set on the request by the application's router or a middleware before
/// [`MetricsLayer`](crate::MetricsLayer) runs; [`DefaultEndpoint`] and [`AxumEndpoint`] read it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteTemplate(pub Cow<'static, str>);

impl RouteTemplate {
    /// A route template such as `/users/{id}`.
    pub fn new(template: impl Into<Cow<'static, str>>) -> Self {
        Self(template.into())
    }
}

/// The default endpoint label: the request's [`RouteTemplate`] extension, else nothing (the
/// request is unmatched). It does not depend on crate features, so enabling `axum` somewhere
/// in the dependency graph never changes the labels; axum applications use
/// [`MetricsLayer::axum`](crate::MetricsLayer::axum), other stacks
/// [`MetricsLayer::endpoint_fn`](crate::MetricsLayer::endpoint_fn).
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct DefaultEndpoint;

impl EndpointLabel for DefaultEndpoint {
    #[inline]
    fn endpoint<'a>(&self, _uri: &'a Uri, extensions: &'a Extensions) -> Option<Cow<'a, str>> {
        extensions
            .get::<RouteTemplate>()
            .map(|t| Cow::Borrowed(t.0.as_ref()))
    }
}

/// axum's route template: `MatchedPath`; for a request under a
/// [`nested_service`](AxumEndpoint::nested_service) prefix (axum's `Router::nest_service`
/// gives those no `MatchedPath`), `{prefix}/{*rest}`; else a [`RouteTemplate`] extension.
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
#[derive(Clone, Debug, Default)]
pub struct AxumEndpoint {
    /// `(prefix, label)` of each `nest_service` mount, longest prefix first.
    nested: Vec<(Box<str>, Box<str>)>,
}

#[cfg(feature = "axum")]
impl AxumEndpoint {
    /// Labels requests under `prefix` (as given to `Router::nest_service`) as
    /// `{prefix}/{*rest}`.
    #[must_use]
    pub fn nested_service(mut self, prefix: &str) -> Self {
        let prefix = prefix.trim_end_matches('/');
        let label = format!("{prefix}/{{*rest}}");
        self.nested.push((prefix.into(), label.into()));
        self.nested
            .sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        self
    }
}

#[cfg(feature = "axum")]
impl EndpointLabel for AxumEndpoint {
    #[inline]
    fn endpoint<'a>(&self, uri: &'a Uri, extensions: &'a Extensions) -> Option<Cow<'a, str>> {
        if let Some(p) = extensions.get::<axum::extract::MatchedPath>() {
            return Some(Cow::Borrowed(p.as_str()));
        }
        if !self.nested.is_empty() {
            let path = uri.path();
            for (prefix, label) in &self.nested {
                if path
                    .strip_prefix(&**prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
                {
                    return Some(Cow::Owned(label.to_string()));
                }
            }
        }
        DefaultEndpoint.endpoint(uri, extensions)
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
