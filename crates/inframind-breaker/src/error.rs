//! Errors: the typed rejection, and the call error that wraps it with the inner error.

use std::fmt;
use std::time::Duration;

use crate::CircuitState;

/// A call was not admitted because the circuit rejects calls.
///
/// It carries the state that rejected the call and, for an open circuit, the time left until
/// probes are admitted (what an HTTP edge puts in `Retry-After`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    /// Milliseconds, `u64::MAX` for none: two words, so a rejection travels in registers.
    remaining_ms: u64,
    state: CircuitState,
}

impl fmt::Debug for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("state", &self.state)
            .field("remaining", &self.remaining_open())
            .finish()
    }
}

impl Rejected {
    /// A rejection by `state`, `remaining_ms` milliseconds until a retry may be admitted.
    #[inline]
    pub(crate) fn from_millis(state: CircuitState, remaining_ms: Option<u64>) -> Self {
        Self {
            remaining_ms: remaining_ms.map_or(u64::MAX, |ms| ms.min(u64::MAX - 1)),
            state,
        }
    }

    /// The state that rejected the call: `Open`, `HalfOpen` (all probe permits taken) or
    /// `ForcedOpen`.
    #[must_use]
    pub fn state(&self) -> CircuitState {
        self.state
    }

    /// The time until a retry may be admitted: until the open circuit admits probes
    /// (`Open`); while every half-open probe permit is taken (`HalfOpen`), the probes'
    /// remaining time, after which the probe timeout writes them off (a permit may free up
    /// sooner, when a probe finishes); unknown for a forced-open circuit.
    #[must_use]
    pub fn remaining_open(&self) -> Option<Duration> {
        (self.remaining_ms != u64::MAX).then(|| Duration::from_millis(self.remaining_ms))
    }

    /// A retry hint in whole seconds, rounded up and at least 1, as `Retry-After` wants it;
    /// `None` when the circuit is forced open.
    #[must_use]
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.remaining_open().map(|d| {
            let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            secs.max(1)
        })
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit breaker is {}, call rejected", self.state)?;
        if let Some(d) = self.remaining_open() {
            if self.state == CircuitState::Open {
                write!(f, " (open for another {} ms)", d.as_millis())?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Rejected {}

/// The error of a guarded call: the breaker rejected it, or the call itself failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakerError<E> {
    /// The circuit rejected the call; the wrapped call never ran.
    Rejected(Rejected),
    /// The call ran and returned this error.
    Inner(E),
}

impl<E> BreakerError<E> {
    /// The rejection, if the call was rejected.
    pub fn rejected(&self) -> Option<&Rejected> {
        match self {
            Self::Rejected(r) => Some(r),
            Self::Inner(_) => None,
        }
    }

    /// The inner error, if the call ran and failed.
    pub fn into_inner(self) -> Option<E> {
        match self {
            Self::Rejected(_) => None,
            Self::Inner(e) => Some(e),
        }
    }
}

impl<E> From<Rejected> for BreakerError<E> {
    fn from(r: Rejected) -> Self {
        Self::Rejected(r)
    }
}

impl<E: fmt::Display> fmt::Display for BreakerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected(r) => r.fmt(f),
            Self::Inner(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for BreakerError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Rejected(r) => Some(r),
            Self::Inner(e) => Some(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up() {
        let r = Rejected::from_millis(CircuitState::Open, Some(1500));
        assert_eq!(r.retry_after_secs(), Some(2));
        let r = Rejected::from_millis(CircuitState::HalfOpen, Some(0));
        assert_eq!(r.retry_after_secs(), Some(1));
        let r = Rejected::from_millis(CircuitState::ForcedOpen, None);
        assert_eq!(r.remaining_open(), None);
        assert_eq!(r.retry_after_secs(), None);
        assert!(r.to_string().contains("forced_open"));
    }
}
