//! [`HttpResponseFuture`]: a rejected request resolves to `503 Service Unavailable`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::classify::rejected_response;
use crate::classify::Classify;
use crate::layer::future::Guarded;

pin_project! {
    /// The response future of [`HttpCircuitBreakerService`](super::HttpCircuitBreakerService):
    /// a rejected request resolves to `503 Service Unavailable` with `Retry-After`.
    ///
    /// Admission works as for [`ResponseFuture`](crate::layer::ResponseFuture): checked when
    /// the service is called, and the permit taken at the first poll.
    #[must_use = "futures do nothing unless polled"]
    pub struct HttpResponseFuture<F, C> {
        #[pin]
        inner: Guarded<F, C>,
    }
}

impl<F, C> HttpResponseFuture<F, C> {
    #[inline]
    pub(super) fn new(inner: Guarded<F, C>) -> Self {
        Self { inner }
    }
}

impl<F, C, B, E> Future for HttpResponseFuture<F, C>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    C: Classify<Result<http::Response<B>, E>>,
    B: Default,
{
    type Output = Result<http::Response<B>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match ready!(self.project().inner.poll_guarded(cx)) {
            Ok(result) => result,
            Err(r) => Ok(rejected_response(&r)),
        })
    }
}

impl<F, C> std::fmt::Debug for HttpResponseFuture<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpResponseFuture")
            .field("admission", &self.inner.stage())
            .finish_non_exhaustive()
    }
}
