use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use crate::breaker::OwnedPermit;
use crate::classify::Classify;
use crate::error::{BreakerError, Rejected};

pin_project! {
    /// Admission plus the inner future; resolves to the inner output or the rejection.
    struct Guarded<F, C> {
        #[pin]
        fut: Option<F>,
        permit: Option<OwnedPermit>,
        rejected: Option<Rejected>,
        classifier: C,
    }
}

impl<F, C> Guarded<F, C> {
    fn admitted(fut: F, permit: OwnedPermit, classifier: C) -> Self {
        Self {
            fut: Some(fut),
            permit: Some(permit),
            rejected: None,
            classifier,
        }
    }

    fn rejected(rejected: Rejected, classifier: C) -> Self {
        Self {
            fut: None,
            permit: None,
            rejected: Some(rejected),
            classifier,
        }
    }
}

impl<F, C> Guarded<F, C>
where
    F: Future,
    C: Classify<F::Output>,
{
    #[inline]
    fn poll_guarded(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<F::Output, Rejected>> {
        let mut this = self.project();
        if let Some(r) = this.rejected.take() {
            return Poll::Ready(Err(r));
        }
        let Some(fut) = this.fut.as_mut().as_pin_mut() else {
            panic!("circuit breaker response future polled after completion");
        };
        let output = ready!(fut.poll(cx));
        this.fut.set(None);
        if let Some(permit) = this.permit.take() {
            permit.record(this.classifier.classify(&output));
        }
        Poll::Ready(Ok(output))
    }
}

pin_project! {
    /// The response future of [`CircuitBreakerService`](super::CircuitBreakerService).
    ///
    /// A rejected request resolves on its first poll without touching the inner service.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, C> {
        #[pin]
        inner: Guarded<F, C>,
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(super) fn admitted(fut: F, permit: OwnedPermit, classifier: C) -> Self {
        Self {
            inner: Guarded::admitted(fut, permit, classifier),
        }
    }

    pub(super) fn rejected(rejected: Rejected, classifier: C) -> Self {
        Self {
            inner: Guarded::rejected(rejected, classifier),
        }
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<Result<T, E>>,
{
    type Output = Result<T, BreakerError<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match ready!(self.project().inner.poll_guarded(cx)) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(BreakerError::Inner(e)),
            Err(r) => Err(BreakerError::Rejected(r)),
        })
    }
}

impl<F, C> std::fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("rejected", &self.inner.rejected)
            .field("admitted", &self.inner.permit.is_some())
            .finish()
    }
}

#[cfg(feature = "http")]
pin_project! {
    /// The response future of [`HttpCircuitBreakerService`](super::HttpCircuitBreakerService):
    /// a rejected request resolves to `503 Service Unavailable` with `Retry-After`.
    #[must_use = "futures do nothing unless polled"]
    pub struct HttpResponseFuture<F, C> {
        #[pin]
        inner: Guarded<F, C>,
    }
}

#[cfg(feature = "http")]
impl<F, C> HttpResponseFuture<F, C> {
    pub(super) fn admitted(fut: F, permit: OwnedPermit, classifier: C) -> Self {
        Self {
            inner: Guarded::admitted(fut, permit, classifier),
        }
    }

    pub(super) fn rejected(rejected: Rejected, classifier: C) -> Self {
        Self {
            inner: Guarded::rejected(rejected, classifier),
        }
    }
}

#[cfg(feature = "http")]
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
            Err(r) => Ok(crate::http::rejected_response(&r)),
        })
    }
}

#[cfg(feature = "http")]
impl<F, C> std::fmt::Debug for HttpResponseFuture<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpResponseFuture")
            .field("rejected", &self.inner.rejected)
            .field("admitted", &self.inner.permit.is_some())
            .finish()
    }
}
