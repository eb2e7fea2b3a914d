//! [`BreakerSnapshot`]: a point-in-time view of one breaker.

use std::time::Duration;

use crate::CircuitState;

/// A point-in-time view of one breaker, for admin endpoints and scrape-time metrics.
///
/// Counts are totals since the breaker was created (operator resets do not clear them).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BreakerSnapshot {
    /// The breaker's name.
    pub name: String,
    /// The state.
    pub state: CircuitState,
    /// Calls that finished and were classified as successes.
    pub successful_calls: u64,
    /// Calls that finished and were classified as failures.
    pub failed_calls: u64,
    /// Calls refused by the breaker.
    pub rejected_calls: u64,
    /// Finished calls at or above the slow-call duration (successes and failures).
    pub slow_calls: u64,
    /// The failure rate in percent over the sliding window, when a rate condition is
    /// configured, the circuit is closed and the window holds the minimum number of calls.
    pub failure_rate: Option<f64>,
    /// The slow-call rate in percent, under the same conditions plus a slow-call duration.
    pub slow_call_rate: Option<f64>,
    /// While `Open`: the time until probes are admitted.
    pub remaining_open: Option<Duration>,
    /// While `Closed`: the current run of consecutive failures.
    pub consecutive_failures: u64,
    /// Calls that finished and were classified [`Outcome::Ignore`](crate::Outcome::Ignore)
    /// (neither success nor failure, such as an HTTP 404 under the default
    /// `HttpClassifier`).
    pub ignored_calls: u64,
}
