//! The failure and slow-call rates of a window.

use crate::window::Counts;

/// The failure and slow-call rates of a window, in percent.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rates {
    pub(super) failure: f64,
    pub(super) slow: f64,
}

impl Rates {
    /// The rates of `counts`, or `None` below `min_calls` calls (or with no calls).
    pub(super) fn of(counts: Counts, min_calls: u64) -> Option<Self> {
        if counts.calls < min_calls || counts.calls == 0 {
            return None;
        }
        #[allow(clippy::cast_precision_loss)]
        let rate = |n: u64, of: u64| n as f64 * 100.0 / of.max(1) as f64;
        Some(Self {
            failure: rate(counts.failures, counts.calls),
            slow: rate(counts.slow, counts.slow_calls),
        })
    }
}
