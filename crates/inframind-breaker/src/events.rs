//! State-transition events for logs and metrics.

use std::sync::Arc;

use crate::CircuitState;

/// A state-transition callback.
pub(crate) type Listener = Arc<dyn Fn(&StateTransition) + Send + Sync + 'static>;

/// Why a transition happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransitionReason {
    /// The consecutive-failure threshold was reached (closed to open).
    ConsecutiveFailures,
    /// The failure rate over the sliding window reached its threshold (closed to open).
    FailureRate,
    /// The slow-call rate over the sliding window reached its threshold (closed to open).
    SlowCallRate,
    /// The open duration passed (open to half-open).
    OpenTimeoutElapsed,
    /// Enough probes succeeded (half-open to closed).
    ProbesSucceeded,
    /// Too many probes failed to reach the required success rate (half-open to open).
    ProbesFailed,
    /// The probes of a half-open phase did not finish within the probe timeout; a fresh
    /// half-open phase began (half-open to half-open).
    ProbeTimeout,
    /// An operator called `force_open`, `force_closed`, `disable` or `reset`.
    Manual,
}

impl TransitionReason {
    /// A stable snake-case name for logs and labels.
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::ConsecutiveFailures => "consecutive_failures",
            Self::FailureRate => "failure_rate",
            Self::SlowCallRate => "slow_call_rate",
            Self::OpenTimeoutElapsed => "open_timeout_elapsed",
            Self::ProbesSucceeded => "probes_succeeded",
            Self::ProbesFailed => "probes_failed",
            Self::ProbeTimeout => "probe_timeout",
            Self::Manual => "manual",
        }
    }
}

/// One state transition of a named breaker.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StateTransition {
    /// The breaker's name.
    pub name: Arc<str>,
    /// The state left.
    pub from: CircuitState,
    /// The state entered.
    pub to: CircuitState,
    /// Why.
    pub reason: TransitionReason,
    /// For transitions into `Open`: how long the circuit stays open.
    pub open_for: Option<std::time::Duration>,
}
