//! [`ResponseFuture`], and the admission-and-classification core it shares with the HTTP
//! variant's future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use crate::CircuitBreaker;
use crate::classify::Classify;
use crate::error::{BreakerError, Rejected};
use crate::permit::Admission;

pin_project! {
    /// The inner future behind a breaker: admitted at its first poll, classified when done.
    pub(crate) struct Guarded<F, C> {
        // `None` for a request rejected before the inner service was called.
        #[pin]
        fut: Option<F>,
        admission: Admission<CircuitBreaker>,
        classifier: C,
    }
}

impl<F, C> Guarded<F, C> {
    /// A request the circuit admitted when the service was called: the permit is taken at
    /// the first poll.
    #[inline]
    pub(crate) fn called(fut: F, breaker: CircuitBreaker, classifier: C) -> Self {
        Self {
            fut: Some(fut),
            admission: Admission::new(breaker),
            classifier,
        }
    }

    /// A request the circuit rejected when the service was called.
    #[cold]
    pub(crate) fn rejected(rejected: Rejected, breaker: CircuitBreaker, classifier: C) -> Self {
        Self {
            fut: None,
            admission: Admission::rejected(breaker, rejected),
            classifier,
        }
    }

    pub(crate) fn stage(&self) -> &'static str {
        self.admission.stage()
    }
}

impl<F, C> Guarded<F, C>
where
    F: Future,
    C: Classify<F::Output>,
{
    /// Asks the breaker at the first poll (a rejected request never polls `fut`), then polls
    /// `fut` and records its classified output.
    #[inline]
    pub(crate) fn poll_guarded(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<F::Output, Rejected>> {
        let this = self.project();
        if let Err(rejected) = this.admission.admit() {
            return Poll::Ready(Err(rejected));
        }
        let Some(fut) = this.fut.as_pin_mut() else {
            unreachable!("a request without a future is rejected at its first poll");
        };
        let output = ready!(fut.poll(cx));
        this.admission.finish(this.classifier.classify(&output));
        Poll::Ready(Ok(output))
    }
}

pin_project! {
    /// The response future of [`CircuitBreakerService`](super::CircuitBreakerService).
    ///
    /// The breaker is asked twice. When the service is called, a request the circuit rejects
    /// never reaches the inner service. A request it lets through takes its permit at the
    /// future's first poll, so a future made before the circuit opened is rejected then and
    /// its inner future is dropped unpolled. A rejected request resolves with
    /// [`BreakerError::Rejected`].
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, C> {
        #[pin]
        inner: Guarded<F, C>,
    }
}

impl<F, C> ResponseFuture<F, C> {
    #[inline]
    pub(super) fn new(inner: Guarded<F, C>) -> Self {
        Self { inner }
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
            .field("admission", &self.inner.stage())
            .finish_non_exhaustive()
    }
}
