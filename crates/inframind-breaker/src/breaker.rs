//! [`CircuitBreaker`]: the public handle over the state machine in [`crate::core`].

use std::fmt;
use std::sync::{Arc, RwLock};

use crate::config::BreakerConfig;
use crate::core::Inner;
use crate::error::Rejected;
use crate::events::Listener;
use crate::permit::{OwnedPermit, Permit};
use crate::snapshot::BreakerSnapshot;
use crate::state::CircuitState;

/// A circuit breaker: a cheap, cloneable handle (an `Arc` inside).
///
/// Guard calls with [`call`](Self::call) (or [`call_with`](Self::call_with) for a custom
/// [`Classify`](crate::Classify)), with a permit from [`try_acquire`](Self::try_acquire), or
/// as a tower layer (`CircuitBreakerLayer`, feature `tower`).
///
/// While closed, admitting and recording a call reads the state word and adds to the calling
/// thread's own counter stripe: atomics only, no lock, no allocation.
///
/// ```
/// use std::time::Duration;
/// use inframind_breaker::{BreakerConfig, CircuitBreaker, CircuitState};
///
/// let breaker = CircuitBreaker::new(
///     "payments",
///     BreakerConfig::builder()
///         .failure_threshold(2)
///         .recovery_timeout(Duration::from_secs(10))
///         .build()?,
/// );
/// for _ in 0..2 {
///     breaker.try_acquire()?.failure();
/// }
/// assert_eq!(breaker.state(), CircuitState::Open);
/// let rejected = breaker.try_acquire().unwrap_err();
/// assert!(rejected.remaining_open().unwrap() <= Duration::from_secs(10));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl CircuitBreaker {
    /// A standalone breaker named `name` (the name shows in events and snapshots).
    pub fn new(name: impl Into<Arc<str>>, config: BreakerConfig) -> Self {
        Self {
            inner: Arc::new(Inner::new(name.into(), config, None)),
        }
    }

    pub(crate) fn with_shared_listeners(
        name: Arc<str>,
        config: BreakerConfig,
        listeners: Arc<RwLock<Vec<Listener>>>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner::new(name, config, Some(listeners))),
        }
    }

    /// The breaker's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The configuration it was built with.
    #[must_use]
    pub fn config(&self) -> &BreakerConfig {
        self.inner.config()
    }

    /// The current state. An open circuit whose open duration has passed still reads `Open`
    /// until the next call turns it half-open.
    #[must_use]
    pub fn state(&self) -> CircuitState {
        self.inner.state()
    }

    /// Asks to make one call. The returned [`Permit`] must be told the outcome
    /// ([`Permit::success`], [`Permit::failure`], [`Permit::record`]); dropping it instead
    /// records nothing and hands a half-open probe permit back.
    ///
    /// # Errors
    ///
    /// [`Rejected`] while the circuit is open, forced open, or half-open with every probe
    /// permit taken.
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        let ticket = self.inner.acquire()?;
        Ok(Permit::new(&self.inner, ticket))
    }

    /// Like [`try_acquire`](Self::try_acquire), but the permit owns a handle to the breaker,
    /// so it can move into a `'static` future.
    ///
    /// # Errors
    ///
    /// As for [`try_acquire`](Self::try_acquire).
    #[inline]
    pub fn try_acquire_owned(&self) -> Result<OwnedPermit, Rejected> {
        let ticket = self.inner.acquire()?;
        Ok(OwnedPermit::new(Arc::clone(&self.inner), ticket))
    }

    /// A point-in-time view of state and counters.
    #[must_use]
    pub fn snapshot(&self) -> BreakerSnapshot {
        self.inner.snapshot()
    }

    /// Operator override: reject every call until another override or [`reset`](Self::reset).
    pub fn force_open(&self) {
        self.inner.set_state(CircuitState::ForcedOpen);
    }

    /// Operator override: admit every call and keep counting, but never trip.
    pub fn force_closed(&self) {
        self.inner.set_state(CircuitState::ForcedClosed);
    }

    /// Operator override: admit every call and count only the totals (metrics only).
    pub fn disable(&self) {
        self.inner.set_state(CircuitState::Disabled);
    }

    /// Back to `Closed` with empty windows and counters for trip decisions (totals stay).
    pub fn reset(&self) {
        self.inner.set_state(CircuitState::Closed);
    }
}
