//! Time sources: the system's monotonic clock, or one injected for tests.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A monotonic time source.
///
/// The breaker reads the clock only when it must: to decide whether an open circuit may admit
/// probes, for time-based windows, and for slow-call detection. Inject one with
/// [`BreakerConfigBuilder::clock`](crate::BreakerConfigBuilder::clock); [`ManualClock`] is the
/// ready-made test clock. A clock driven by tokio's paused time is a one-liner:
///
/// ```
/// #[derive(Debug)]
/// struct TokioClock;
/// impl inframind_breaker::Clock for TokioClock {
///     fn now(&self) -> std::time::Instant {
///         tokio::time::Instant::now().into_std()
///     }
/// }
/// ```
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// The current instant. Must never go backwards.
    fn now(&self) -> Instant;
}

/// A shared clock, also as a trait object: an application that chooses its clock at start-up
/// (the system's, or a test's) holds an `Arc<dyn Clock>` and hands clones to every breaker.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use inframind_breaker::{BreakerConfig, Clock, ManualClock};
///
/// let manual = ManualClock::new();
/// let shared: Arc<dyn Clock> = Arc::new(manual.clone());
/// let config = BreakerConfig::builder().clock(Arc::clone(&shared)).build().unwrap();
/// # let _ = config;
/// let t0 = shared.now();
/// manual.advance(Duration::from_secs(5));
/// assert_eq!(shared.now() - t0, Duration::from_secs(5));
/// ```
impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

/// A clock that moves only when told to, for deterministic tests.
///
/// Clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use inframind_breaker::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let t0 = clock.now();
/// clock.advance(Duration::from_secs(30));
/// assert_eq!(clock.now() - t0, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    base: Instant,
    offset_nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at the current instant.
    #[must_use]
    pub fn new() -> Self {
        Self {
            base: Instant::now(),
            offset_nanos: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .offset_nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(nanos))
            });
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        let offset = Duration::from_nanos(self.offset_nanos.load(Ordering::SeqCst));
        // Saturate rather than panic if a test advances the clock absurdly far.
        self.base.checked_add(offset).unwrap_or(self.base)
    }
}

/// The breaker's view of time: the system clock (inlined) or an injected one.
#[derive(Clone)]
pub(crate) enum ClockSource {
    System,
    Custom(Arc<dyn Clock>),
}

impl fmt::Debug for ClockSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::System => f.write_str("System"),
            Self::Custom(c) => f.debug_tuple("Custom").field(c).finish(),
        }
    }
}

impl ClockSource {
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        match self {
            Self::System => Instant::now(),
            Self::Custom(c) => c.now(),
        }
    }
}

/// Milliseconds since `origin`, saturating at zero for instants before it.
#[inline]
pub(crate) fn millis_since(origin: Instant, now: Instant) -> u64 {
    let d = now.saturating_duration_since(origin);
    // No u128 arithmetic: seconds fit easily (the state word keeps 40 bits of milliseconds).
    d.as_secs()
        .saturating_mul(1000)
        .saturating_add(u64::from(d.subsec_millis()))
}

/// `Duration` to whole milliseconds, rounding up so that short durations are never zero.
pub(crate) fn ceil_millis(d: Duration) -> u64 {
    let ms = d.as_millis() + u128::from(d.subsec_nanos() % 1_000_000 != 0);
    u64::try_from(ms).unwrap_or(u64::MAX)
}
