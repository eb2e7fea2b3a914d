//! Breaker configuration: trip conditions, open duration, half-open probing.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, ClockSource};
use crate::events::{Listener, StateTransition};

/// The longest accepted open duration, probe timeout or time window (one year).
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);
/// The largest accepted count window.
const MAX_WINDOW_CALLS: u32 = crate::window::MAX_COUNT_WINDOW;
/// The largest accepted number of half-open probes.
pub(crate) const MAX_PROBES: u32 = 10_000;

/// How the failure-rate and slow-call-rate window measures recent calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlidingWindow {
    /// Exactly the last `n` recorded calls (at most 2^20), sliding one call at a time.
    ///
    /// Every call bumps one shared counter; under heavy multi-thread contention prefer
    /// [`SlidingWindow::Time`], whose bookkeeping is striped per thread.
    Count(u32),
    /// The calls of the last duration, in 16 slices of a sixteenth each (one slice per
    /// millisecond below 16 ms): a call leaves the window when its slice is no longer one of
    /// the last 16, so the window slides a slice at a time and covers between 15/16 of the
    /// duration and all of it. Slices are numbered from the breaker's creation; bookkeeping
    /// is striped per thread.
    Time(Duration),
}

/// Exponential growth of the open duration over consecutive trips.
///
/// The first trip opens for the recovery timeout; every further trip without a successful
/// half-open phase in between multiplies it by `multiplier`, up to `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub(crate) multiplier: f64,
    pub(crate) max: Duration,
}

impl Backoff {
    /// Multiply the open duration by `multiplier` on each consecutive trip, capped at `max`.
    #[must_use]
    pub const fn exponential(multiplier: f64, max: Duration) -> Self {
        Self { multiplier, max }
    }

    /// The open duration of a trip after `streak` earlier consecutive trips:
    /// `base * multiplier^streak`, at most `max`.
    pub(crate) fn open_duration(self, base: Duration, streak: u32) -> Duration {
        if streak == 0 {
            return base;
        }
        let exp = i32::try_from(streak).unwrap_or(i32::MAX);
        let secs = base.as_secs_f64() * self.multiplier.powi(exp);
        if secs.is_finite() && secs < self.max.as_secs_f64() {
            Duration::from_secs_f64(secs)
        } else {
            self.max
        }
    }
}

/// An invalid [`BreakerConfig`]: which setting, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A count that must be at least one was zero.
    Zero(&'static str),
    /// A rate outside (0, 100] percent, or a non-finite number.
    InvalidRate(&'static str),
    /// A duration that is zero or longer than a year.
    InvalidDuration(&'static str),
    /// A setting above its upper bound.
    TooLarge(&'static str),
    /// A slow-call rate threshold without a slow-call duration.
    MissingSlowCallDuration,
    /// A backoff multiplier below 1 or non-finite, or a jitter outside `0.0..=1.0`.
    InvalidBackoff,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Zero(what) => write!(f, "`{what}` must be at least 1"),
            Self::InvalidRate(what) => {
                write!(f, "`{what}` must be a percentage in (0, 100]")
            }
            Self::InvalidDuration(what) => {
                write!(f, "`{what}` must be non-zero and at most one year")
            }
            Self::TooLarge(what) => write!(f, "`{what}` is too large"),
            Self::MissingSlowCallDuration => {
                f.write_str("a slow-call rate threshold needs a slow-call duration")
            }
            Self::InvalidBackoff => f.write_str(
                "the backoff multiplier must be finite and >= 1, the jitter within 0.0..=1.0",
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A validated breaker configuration. Build one with [`BreakerConfig::builder`].
///
/// The defaults: open after 5 consecutive failures (`failure_threshold = 5`), stay open 60 s
/// (`recovery_timeout = 60 s`), then admit one probe whose success closes the circuit. No
/// rate condition is on; when one is, the window is the last 100 calls with a minimum of 20.
#[derive(Clone)]
pub struct BreakerConfig {
    pub(crate) failure_threshold: Option<u32>,
    pub(crate) failure_rate_threshold: Option<f64>,
    pub(crate) slow_call_rate_threshold: Option<f64>,
    pub(crate) slow_call_duration: Option<Duration>,
    pub(crate) window: SlidingWindow,
    pub(crate) minimum_calls: u32,
    pub(crate) recovery_timeout: Duration,
    pub(crate) backoff: Option<Backoff>,
    pub(crate) jitter: f64,
    pub(crate) half_open_max_calls: u32,
    pub(crate) half_open_success_rate: f64,
    pub(crate) probe_timeout: Duration,
    pub(crate) clock: ClockSource,
    pub(crate) listeners: Vec<Listener>,
}

impl fmt::Debug for BreakerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerConfig")
            .field("failure_threshold", &self.failure_threshold)
            .field("failure_rate_threshold", &self.failure_rate_threshold)
            .field("slow_call_rate_threshold", &self.slow_call_rate_threshold)
            .field("slow_call_duration", &self.slow_call_duration)
            .field("window", &self.window)
            .field("minimum_calls", &self.minimum_calls)
            .field("recovery_timeout", &self.recovery_timeout)
            .field("backoff", &self.backoff)
            .field("jitter", &self.jitter)
            .field("half_open_max_calls", &self.half_open_max_calls)
            .field("half_open_success_rate", &self.half_open_success_rate)
            .field("probe_timeout", &self.probe_timeout)
            .field("clock", &self.clock)
            .field("listeners", &self.listeners.len())
            .finish()
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: Some(5),
            failure_rate_threshold: None,
            slow_call_rate_threshold: None,
            slow_call_duration: None,
            window: SlidingWindow::Count(100),
            minimum_calls: 20,
            recovery_timeout: Duration::from_secs(60),
            backoff: None,
            jitter: 0.0,
            half_open_max_calls: 1,
            half_open_success_rate: 100.0,
            probe_timeout: Duration::from_secs(60),
            clock: ClockSource::System,
            listeners: Vec::new(),
        }
    }
}

impl BreakerConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> BreakerConfigBuilder {
        BreakerConfigBuilder {
            config: Self::default(),
        }
    }

    /// The consecutive-failure threshold, if that trip condition is on.
    #[must_use]
    pub fn failure_threshold(&self) -> Option<u32> {
        self.failure_threshold
    }

    /// The base open duration.
    #[must_use]
    pub fn recovery_timeout(&self) -> Duration {
        self.recovery_timeout
    }

    /// Whether any condition needs the sliding window.
    pub(crate) fn uses_window(&self) -> bool {
        self.failure_rate_threshold.is_some() || self.slow_call_rate_threshold.is_some()
    }

    /// The minimum number of calls before rates are evaluated; never above a count window.
    pub(crate) fn effective_minimum_calls(&self) -> u64 {
        let min = u64::from(self.minimum_calls.max(1));
        match self.window {
            SlidingWindow::Count(n) => min.min(u64::from(n)),
            SlidingWindow::Time(_) => min,
        }
    }

    /// How many probe successes close the circuit.
    pub(crate) fn required_probe_successes(&self) -> u64 {
        let p = f64::from(self.half_open_max_calls);
        // Saturating float-to-int conversion; p <= MAX_PROBES so the value is small.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let needed = (p * self.half_open_success_rate / 100.0 - 1e-9).ceil() as u64;
        needed.clamp(1, u64::from(self.half_open_max_calls))
    }
}

/// Builds a [`BreakerConfig`]; [`build`](Self::build) validates it.
///
/// ```
/// use std::time::Duration;
/// use inframind_breaker::{Backoff, BreakerConfig, SlidingWindow};
///
/// let config = BreakerConfig::builder()
///     .failure_threshold(5)
///     .failure_rate_threshold(50.0)
///     .sliding_window(SlidingWindow::Time(Duration::from_secs(30)))
///     .minimum_calls(10)
///     .slow_call_duration(Duration::from_secs(2))
///     .slow_call_rate_threshold(80.0)
///     .recovery_timeout(Duration::from_secs(60))
///     .backoff(Backoff::exponential(2.0, Duration::from_secs(600)))
///     .jitter(0.1)
///     .half_open_max_calls(3)
///     .half_open_success_rate(66.0)
///     .build()?;
/// # Ok::<(), inframind_breaker::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct BreakerConfigBuilder {
    config: BreakerConfig,
}

impl BreakerConfigBuilder {
    /// Open after `n` consecutive failures (default 5). A success ends the run; an
    /// [`Outcome::Ignore`](crate::Outcome::Ignore) does not.
    pub fn failure_threshold(mut self, n: u32) -> Self {
        self.config.failure_threshold = Some(n);
        self
    }

    /// Turn the consecutive-failure condition off.
    pub fn no_failure_threshold(mut self) -> Self {
        self.config.failure_threshold = None;
        self
    }

    /// Open when the failure rate over the sliding window reaches `percent` (off by default).
    pub fn failure_rate_threshold(mut self, percent: f64) -> Self {
        self.config.failure_rate_threshold = Some(percent);
        self
    }

    /// Open when the share of slow calls over the sliding window reaches `percent`
    /// (off by default; needs [`slow_call_duration`](Self::slow_call_duration)).
    pub fn slow_call_rate_threshold(mut self, percent: f64) -> Self {
        self.config.slow_call_rate_threshold = Some(percent);
        self
    }

    /// A call that takes at least `d` counts as slow, whether it succeeded or failed.
    pub fn slow_call_duration(mut self, d: Duration) -> Self {
        self.config.slow_call_duration = Some(d);
        self
    }

    /// The window the rates are measured over (default: the last 100 calls).
    pub fn sliding_window(mut self, window: SlidingWindow) -> Self {
        self.config.window = window;
        self
    }

    /// Rates are evaluated, on every recorded call, once the window holds this many calls
    /// (default 20). It takes effect before a count window is full, and is capped at the
    /// count window's size.
    pub fn minimum_calls(mut self, n: u32) -> Self {
        self.config.minimum_calls = n;
        self
    }

    /// How long the circuit stays open before admitting probes (default 60 s).
    pub fn recovery_timeout(mut self, d: Duration) -> Self {
        self.config.recovery_timeout = d;
        self
    }

    /// Grow the open duration exponentially over consecutive trips.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.config.backoff = Some(backoff);
        self
    }

    /// Spread each open duration uniformly by up to `fraction` either way (0.0 to 1.0;
    /// default 0), so that many breakers tripped together do not probe together.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.config.jitter = fraction;
        self
    }

    /// How many probes may be in flight or finished in one half-open phase (default 1).
    pub fn half_open_max_calls(mut self, n: u32) -> Self {
        self.config.half_open_max_calls = n;
        self
    }

    /// The share of the half-open probes that must succeed to close (default 100 %). The
    /// circuit reopens as soon as enough probes failed that the share cannot be reached.
    pub fn half_open_success_rate(mut self, percent: f64) -> Self {
        self.config.half_open_success_rate = percent;
        self
    }

    /// Probes still unfinished this long after the half-open phase began are written off:
    /// their permits are handed out again and their late results ignored (default 60 s).
    pub fn probe_timeout(mut self, d: Duration) -> Self {
        self.config.probe_timeout = d;
        self
    }

    /// Use `clock` instead of the system clock (see [`ManualClock`](crate::ManualClock)).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.config.clock = ClockSource::Custom(Arc::new(clock));
        self
    }

    /// Call `f` on every state transition (after the transition took effect). Keep it short:
    /// it runs on the thread of the call that caused the transition.
    pub fn on_transition<F>(mut self, f: F) -> Self
    where
        F: Fn(&StateTransition) + Send + Sync + 'static,
    {
        self.config.listeners.push(Arc::new(f));
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first invalid setting: a zero threshold, window or probe
    /// count, a rate outside (0, 100], a zero or over-a-year duration, a slow-call rate
    /// without a slow-call duration, or a bad backoff or jitter.
    pub fn build(self) -> Result<BreakerConfig, ConfigError> {
        let c = self.config;
        if c.failure_threshold == Some(0) {
            return Err(ConfigError::Zero("failure_threshold"));
        }
        check_rate(c.failure_rate_threshold, "failure_rate_threshold")?;
        check_rate(c.slow_call_rate_threshold, "slow_call_rate_threshold")?;
        check_rate(Some(c.half_open_success_rate), "half_open_success_rate")?;
        if c.slow_call_rate_threshold.is_some() && c.slow_call_duration.is_none() {
            return Err(ConfigError::MissingSlowCallDuration);
        }
        if let Some(d) = c.slow_call_duration {
            check_duration(d, "slow_call_duration")?;
        }
        match c.window {
            SlidingWindow::Count(0) => return Err(ConfigError::Zero("sliding_window")),
            SlidingWindow::Count(n) if n > MAX_WINDOW_CALLS => {
                return Err(ConfigError::TooLarge("sliding_window"));
            }
            SlidingWindow::Time(d) => check_duration(d, "sliding_window")?,
            SlidingWindow::Count(_) => {}
        }
        if c.minimum_calls == 0 {
            return Err(ConfigError::Zero("minimum_calls"));
        }
        check_duration(c.recovery_timeout, "recovery_timeout")?;
        check_duration(c.probe_timeout, "probe_timeout")?;
        if let Some(b) = c.backoff {
            if !b.multiplier.is_finite() || b.multiplier < 1.0 {
                return Err(ConfigError::InvalidBackoff);
            }
            check_duration(b.max, "backoff.max")?;
        }
        if !(0.0..=1.0).contains(&c.jitter) {
            return Err(ConfigError::InvalidBackoff);
        }
        if c.half_open_max_calls == 0 {
            return Err(ConfigError::Zero("half_open_max_calls"));
        }
        if c.half_open_max_calls > MAX_PROBES {
            return Err(ConfigError::TooLarge("half_open_max_calls"));
        }
        Ok(c)
    }
}

fn check_rate(rate: Option<f64>, what: &'static str) -> Result<(), ConfigError> {
    match rate {
        Some(r) if !(r > 0.0 && r <= 100.0) => Err(ConfigError::InvalidRate(what)),
        _ => Ok(()),
    }
}

fn check_duration(d: Duration, what: &'static str) -> Result<(), ConfigError> {
    if d.is_zero() || d > MAX_DURATION {
        Err(ConfigError::InvalidDuration(what))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_open_after_five_failures_for_sixty_seconds() {
        let c = BreakerConfig::default();
        assert_eq!(c.failure_threshold(), Some(5));
        assert_eq!(c.recovery_timeout(), Duration::from_secs(60));
        assert_eq!(c.required_probe_successes(), 1);
    }

    #[test]
    fn invalid_settings_are_typed_errors() {
        let b = BreakerConfig::builder;
        assert_eq!(
            b().failure_threshold(0).build().unwrap_err(),
            ConfigError::Zero("failure_threshold")
        );
        assert_eq!(
            b().failure_rate_threshold(0.0).build().unwrap_err(),
            ConfigError::InvalidRate("failure_rate_threshold")
        );
        assert_eq!(
            b().failure_rate_threshold(f64::NAN).build().unwrap_err(),
            ConfigError::InvalidRate("failure_rate_threshold")
        );
        assert_eq!(
            b().slow_call_rate_threshold(50.0).build().unwrap_err(),
            ConfigError::MissingSlowCallDuration
        );
        assert_eq!(
            b().recovery_timeout(Duration::ZERO).build().unwrap_err(),
            ConfigError::InvalidDuration("recovery_timeout")
        );
        assert_eq!(
            b().sliding_window(SlidingWindow::Count(0))
                .build()
                .unwrap_err(),
            ConfigError::Zero("sliding_window")
        );
        assert_eq!(
            b().half_open_max_calls(MAX_PROBES + 1).build().unwrap_err(),
            ConfigError::TooLarge("half_open_max_calls")
        );
        assert_eq!(
            b().jitter(1.5).build().unwrap_err(),
            ConfigError::InvalidBackoff
        );
        assert_eq!(
            b().backoff(Backoff::exponential(0.5, Duration::from_secs(1)))
                .build()
                .unwrap_err(),
            ConfigError::InvalidBackoff
        );
        assert!(!ConfigError::InvalidBackoff.to_string().is_empty());
    }

    #[test]
    fn probe_success_requirements() {
        let c = BreakerConfig::builder()
            .half_open_max_calls(3)
            .half_open_success_rate(66.0)
            .build()
            .unwrap();
        assert_eq!(c.required_probe_successes(), 2);
        let c = BreakerConfig::builder()
            .half_open_max_calls(4)
            .half_open_success_rate(50.0)
            .build()
            .unwrap();
        assert_eq!(c.required_probe_successes(), 2);
        let c = BreakerConfig::builder()
            .half_open_max_calls(10)
            .half_open_success_rate(1.0)
            .build()
            .unwrap();
        assert_eq!(c.required_probe_successes(), 1);
    }

    #[test]
    fn minimum_calls_capped_by_count_window() {
        let c = BreakerConfig::builder()
            .sliding_window(SlidingWindow::Count(10))
            .minimum_calls(50)
            .build()
            .unwrap();
        assert_eq!(c.effective_minimum_calls(), 10);
    }
}
