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
    /// The inner future behind a breaker: admitted at its first poll, classified when done;
    /// or a request the circuit rejected before the inner service was called.
    #[project = GuardedProj]
    pub(crate) enum Guarded<F, C> {
        Called {
            #[pin]
            fut: F,
            admission: Admission<CircuitBreaker>,
            classifier: C,
        },
        Rejected {
            rejected: Option<Rejected>,
        },
    }
}

impl<F, C> Guarded<F, C> {
    /// A request the circuit admitted when the service was called: the permit is taken at
    /// the first poll.
    #[inline]
    pub(crate) fn called(fut: F, breaker: CircuitBreaker, classifier: C) -> Self {
        Self::Called {
            fut,
            admission: Admission::new(breaker),
            classifier,
        }
    }

    /// A request the circuit rejected when the service was called.
    #[cold]
    pub(crate) fn rejected(rejected: Rejected) -> Self {
        Self::Rejected {
            rejected: Some(rejected),
        }
    }

    pub(crate) fn stage(&self) -> &'static str {
        match self {
            Self::Called { admission, .. } => admission.stage(),
            Self::Rejected { rejected: Some(_) } => "rejected",
            Self::Rejected { rejected: None } => "done",
        }
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
        match self.project() {
            GuardedProj::Called {
                fut,
                admission,
                classifier,
            } => {
                if let Err(rejected) = admission.admit() {
                    return Poll::Ready(Err(rejected));
                }
                let output = ready!(fut.poll(cx));
                admission.finish(classifier.classify(&output));
                Poll::Ready(Ok(output))
            }
            GuardedProj::Rejected { rejected } => match rejected.take() {
                Some(r) => Poll::Ready(Err(r)),
                None => panic!("circuit breaker future polled after completion"),
            },
        }
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
