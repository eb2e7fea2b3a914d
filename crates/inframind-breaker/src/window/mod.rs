//! The sliding window the failure and slow-call rates are measured over.
//!
//! - [`count`]: exactly the last `n` recorded calls (a ring of outcomes and a tally).
//! - [`time`]: the calls of the last 16 slices of the window's duration, striped per thread.

mod count;
mod time;

use crate::config::SlidingWindow;

use self::count::CountWindow;
pub(crate) use self::count::MAX_CALLS as MAX_COUNT_WINDOW;
use self::time::TimeWindow;

/// Calls, failures and slow calls in a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    /// The calls the slow count is out of: `calls`, except for a moment under concurrency,
    /// since a count window keeps the slow calls in a tally of their own.
    pub(crate) slow_calls: u64,
    pub(crate) slow: u64,
}

// One per breaker, built once and never moved: boxing the larger variant would only add an
// indirection to every call.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    /// The window for `config`, with `stripes` per-thread rings for a time window;
    /// `track_slow` when calls are timed.
    pub(crate) fn new(window: SlidingWindow, stripes: usize, track_slow: bool) -> Self {
        match window {
            SlidingWindow::Count(n) => Self::Count(CountWindow::new(n, track_slow)),
            SlidingWindow::Time(d) => {
                Self::Time(TimeWindow::new(crate::clock::ceil_millis(d), stripes))
            }
        }
    }

    pub(crate) fn is_time(&self) -> bool {
        matches!(self, Self::Time(_))
    }

    /// Records one call of closed generation `generation` at `now_ms` (time windows only) and
    /// returns the window after it when the rates need evaluating: always for a count window
    /// (its counts come with the update), and for a time window unless the call is a fast success
    /// in a slice that was already found below the thresholds.
    #[inline]
    pub(crate) fn record(
        &self,
        generation: u64,
        now_ms: u64,
        failure: bool,
        slow: bool,
        is_current: impl Fn() -> bool,
    ) -> Option<Counts> {
        match self {
            Self::Count(w) => w.record(generation, failure, slow, is_current),
            Self::Time(w) => {
                w.record(generation, now_ms, failure, slow, is_current);
                (failure || slow || w.needs_check(generation, now_ms))
                    .then(|| w.counts(generation, now_ms))
            }
        }
    }

    /// Notes that the window at `now_ms` was evaluated and found at or above the minimum and
    /// below the thresholds.
    #[inline]
    pub(crate) fn below_thresholds(&self, generation: u64, now_ms: u64) {
        if let Self::Time(w) = self {
            w.mark_checked(generation, now_ms);
        }
    }

    /// The window's counts for closed generation `generation` at `now_ms`.
    pub(crate) fn counts(&self, generation: u64, now_ms: u64) -> Counts {
        match self {
            Self::Count(w) => w.counts(generation),
            Self::Time(w) => w.counts(generation, now_ms),
        }
    }
}
