//! The futures returned by `CircuitBreaker::call` and `call_with`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use crate::CircuitBreaker;
use crate::classify::{Classify, DefaultClassifier};
use crate::error::{BreakerError, Rejected};
use crate::permit::Admission;

impl CircuitBreaker {
    /// Runs `fut` through the breaker: `Ok` counts as a success, `Err` as a failure.
    ///
    /// Admission is decided when the returned future is first polled, not when it is made: a
    /// future built while the circuit was closed does not run if the circuit opened before it
    /// was polled. A rejected call never polls `fut`. Dropping the returned future before it
    /// completes counts nothing and hands a half-open probe permit back. Slow-call timing
    /// starts at admission.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use inframind_breaker::{BreakerConfig, BreakerError, CircuitBreaker};
    ///
    /// let breaker = CircuitBreaker::new("db", BreakerConfig::default());
    /// let ok: Result<u32, BreakerError<std::io::Error>> = breaker.call(async { Ok(7) }).await;
    /// assert_eq!(ok.unwrap(), 7);
    /// # }
    /// ```
    pub fn call<F, T, E>(&self, fut: F) -> Call<'_, F>
    where
        F: Future<Output = Result<T, E>>,
    {
        Call {
            inner: self.call_with(DefaultClassifier, fut),
        }
    }

    /// Runs `fut` through the breaker, classifying its output with `classifier`. The output is
    /// `Ok(fut's output)` or `Err(Rejected)`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use inframind_breaker::{BreakerConfig, CircuitBreaker, Outcome};
    ///
    /// let breaker = CircuitBreaker::new("llm", BreakerConfig::default());
    /// // A status code standing in for an HTTP response: 5xx is a failure.
    /// let status = breaker
    ///     .call_with(|s: &u16| Outcome::failure_if(*s >= 500), async { 503_u16 })
    ///     .await
    ///     .expect("closed breakers admit");
    /// assert_eq!(status, 503);
    /// assert_eq!(breaker.snapshot().failed_calls, 1);
    /// # }
    /// ```
    pub fn call_with<F, C>(&self, classifier: C, fut: F) -> CallWith<'_, F, C>
    where
        F: Future,
        C: Classify<F::Output>,
    {
        CallWith {
            fut,
            admission: Admission::new(self),
            classifier,
        }
    }
}

pin_project! {
    /// The future of [`CircuitBreaker::call_with`].
    #[must_use = "futures do nothing unless polled"]
    pub struct CallWith<'a, F, C> {
        #[pin]
        fut: F,
        admission: Admission<&'a CircuitBreaker>,
        classifier: C,
    }
}

impl<F, C> Future for CallWith<'_, F, C>
where
    F: Future,
    C: Classify<F::Output>,
{
    type Output = Result<F::Output, Rejected>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Err(rejected) = this.admission.admit() {
            return Poll::Ready(Err(rejected));
        }
        let output = ready!(this.fut.poll(cx));
        this.admission.finish(this.classifier.classify(&output));
        Poll::Ready(Ok(output))
    }
}

impl<F, C> std::fmt::Debug for CallWith<'_, F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallWith")
            .field("admission", &self.admission.stage())
            .finish()
    }
}

pin_project! {
    /// The future of [`CircuitBreaker::call`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Call<'a, F> {
        #[pin]
        inner: CallWith<'a, F, DefaultClassifier>,
    }
}

impl<F, T, E> Future for Call<'_, F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, BreakerError<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match ready!(self.project().inner.poll(cx)) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(BreakerError::Inner(e)),
            Err(r) => Err(BreakerError::Rejected(r)),
        })
    }
}

impl<F> std::fmt::Debug for Call<'_, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Call").field(&self.inner).finish()
    }
}
