//! Failure classification: which outcomes count against the circuit.

/// How one call's outcome counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The dependency worked.
    Success,
    /// The dependency failed; this counts towards opening the circuit.
    Failure,
    /// Neither: the call does not end a run of failures, does not enter the sliding window,
    /// and a half-open probe's permit is handed back. It is counted only in
    /// [`BreakerSnapshot::ignored_calls`](crate::BreakerSnapshot::ignored_calls).
    Ignore,
}

impl Outcome {
    /// `Failure` if `failed`, else `Success`.
    #[must_use]
    pub const fn failure_if(failed: bool) -> Self {
        if failed { Self::Failure } else { Self::Success }
    }
}

/// Decides whether an outcome of type `T` is a success or a failure.
///
/// Implemented for closures `Fn(&T) -> Outcome`, for [`DefaultClassifier`] (`Err` is a
/// failure) and, with the `http` feature, for `HttpClassifier`
/// (errors, 5xx and 429 are failures, other 4xx are ignored).
///
/// ```
/// use inframind_breaker::{Classify, Outcome};
///
/// // Only timeouts count; other errors are the caller's fault and ignored.
/// let only_timeouts = |r: &Result<u32, std::io::Error>| match r {
///     Ok(_) => Outcome::Success,
///     Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Outcome::Failure,
///     Err(_) => Outcome::Ignore,
/// };
/// let timed_out = Err(std::io::Error::from(std::io::ErrorKind::TimedOut));
/// assert_eq!(only_timeouts.classify(&timed_out), Outcome::Failure);
/// ```
pub trait Classify<T: ?Sized> {
    /// Classifies `outcome`.
    fn classify(&self, outcome: &T) -> Outcome;
}

impl<T: ?Sized, F> Classify<T> for F
where
    F: Fn(&T) -> Outcome,
{
    #[inline]
    fn classify(&self, outcome: &T) -> Outcome {
        self(outcome)
    }
}

/// The default classifier for `Result`: `Ok` is a success, `Err` a failure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultClassifier;

impl<T, E> Classify<Result<T, E>> for DefaultClassifier {
    #[inline]
    fn classify(&self, outcome: &Result<T, E>) -> Outcome {
        Outcome::failure_if(outcome.is_err())
    }
}
