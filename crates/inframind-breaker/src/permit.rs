//! Permits: permission for one call, told its outcome or dropped.
//!
//! [`Permit`] and [`OwnedPermit`] are the public RAII guards of
//! [`CircuitBreaker::try_acquire`](crate::CircuitBreaker::try_acquire); [`Admission`] is the
//! crate's own, which the call and layer futures take at their first poll.

use std::fmt;
use std::sync::Arc;

use crate::CircuitBreaker;
use crate::classify::Outcome;
use crate::core::{Inner, Ticket};
use crate::error::Rejected;
use crate::state::CircuitState;

/// Permission for one call from [`CircuitBreaker::try_acquire`].
///
/// Report the outcome with [`success`](Self::success), [`failure`](Self::failure) or
/// [`record`](Self::record). Dropped unreported (a cancelled call), it counts nothing and gives a
/// half-open probe permit back.
#[must_use = "a permit records nothing unless told the outcome"]
pub struct Permit<'a> {
    inner: &'a Inner,
    ticket: Ticket,
    done: bool,
}

impl<'a> Permit<'a> {
    pub(crate) fn new(inner: &'a Inner, ticket: Ticket) -> Self {
        Self {
            inner,
            ticket,
            done: false,
        }
    }

    /// The state the call was admitted under.
    #[must_use]
    pub fn admitted_state(&self) -> CircuitState {
        self.ticket.mode()
    }

    /// Records `outcome`.
    #[inline]
    pub fn record(mut self, outcome: Outcome) {
        self.done = true;
        self.inner.record(self.ticket, outcome);
    }

    /// Records a success.
    #[inline]
    pub fn success(self) {
        self.record(Outcome::Success);
    }

    /// Records a failure.
    #[inline]
    pub fn failure(self) {
        self.record(Outcome::Failure);
    }
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        if !self.done {
            self.inner.release(self.ticket);
        }
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.inner.name)
            .field("admitted_state", &self.ticket.mode())
            .finish()
    }
}

/// An owned [`Permit`]: holds a handle to its breaker.
#[must_use = "a permit records nothing unless told the outcome"]
pub struct OwnedPermit {
    inner: Arc<Inner>,
    ticket: Ticket,
    done: bool,
}

impl OwnedPermit {
    pub(crate) fn new(inner: Arc<Inner>, ticket: Ticket) -> Self {
        Self {
            inner,
            ticket,
            done: false,
        }
    }

    /// The state the call was admitted under.
    #[must_use]
    pub fn admitted_state(&self) -> CircuitState {
        self.ticket.mode()
    }

    /// Records `outcome`.
    #[inline]
    pub fn record(mut self, outcome: Outcome) {
        self.done = true;
        self.inner.record(self.ticket, outcome);
    }

    /// Records a success.
    pub fn success(self) {
        self.record(Outcome::Success);
    }

    /// Records a failure.
    pub fn failure(self) {
        self.record(Outcome::Failure);
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        if !self.done {
            self.inner.release(self.ticket);
        }
    }
}

impl fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit")
            .field("breaker", &self.inner.name)
            .field("admitted_state", &self.ticket.mode())
            .finish()
    }
}

/// How a future holds its breaker.
pub(crate) trait Holder {
    fn inner(&self) -> &Inner;
}

impl Holder for CircuitBreaker {
    #[inline]
    fn inner(&self) -> &Inner {
        &self.inner
    }
}

impl Holder for &CircuitBreaker {
    #[inline]
    fn inner(&self) -> &Inner {
        &self.inner
    }
}

/// A future's admission: decided at its first poll, not when the future is made, so a future
/// built before the circuit opened does not run after.
///
/// `B` is how the future holds its breaker: borrowed for
/// [`CircuitBreaker::call`](crate::CircuitBreaker::call), owned for the tower layer's future.
/// Dropped while admitted (a cancelled call), it records nothing and hands a half-open probe
/// permit back.
pub(crate) struct Admission<B: Holder> {
    breaker: B,
    stage: Stage,
}

#[derive(Clone, Copy)]
enum Stage {
    Waiting,
    Admitted(Ticket),
    Done,
}

impl<B: Holder> Admission<B> {
    pub(crate) fn new(breaker: B) -> Self {
        Self {
            breaker,
            stage: Stage::Waiting,
        }
    }

    /// Asks the breaker on the first call and remembers the answer; `Err` once, when
    /// rejected. Panics if called after [`finish`](Self::finish) (a future polled after
    /// completion).
    #[inline]
    pub(crate) fn admit(&mut self) -> Result<(), Rejected> {
        match self.stage {
            Stage::Admitted(_) => Ok(()),
            Stage::Waiting => match self.breaker.inner().acquire() {
                Ok(ticket) => {
                    self.stage = Stage::Admitted(ticket);
                    Ok(())
                }
                Err(rejected) => {
                    self.stage = Stage::Done;
                    Err(rejected)
                }
            },
            Stage::Done => panic!("circuit breaker future polled after completion"),
        }
    }

    /// Records the admitted call's outcome.
    #[inline]
    pub(crate) fn finish(&mut self, outcome: Outcome) {
        if let Stage::Admitted(ticket) = std::mem::replace(&mut self.stage, Stage::Done) {
            self.breaker.inner().record(ticket, outcome);
        }
    }

    /// `"waiting"`, `"admitted"` or `"done"`, for `Debug`.
    pub(crate) fn stage(&self) -> &'static str {
        match self.stage {
            Stage::Waiting => "waiting",
            Stage::Admitted(_) => "admitted",
            Stage::Done => "done",
        }
    }
}

impl<B: Holder> Drop for Admission<B> {
    #[inline]
    fn drop(&mut self) {
        if let Stage::Admitted(ticket) = self.stage {
            self.breaker.inner().release(ticket);
        }
    }
}
