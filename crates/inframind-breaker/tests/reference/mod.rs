//! A plain, single-threaded reference model of the breaker's documented state machine:
//! windows, minimum calls, thresholds, slow calls, backoff, half-open permits, generations.
//!
//! It keeps every recorded call of the current closed phase in a `Vec` and recomputes the
//! window from it, so it shares none of the breaker's machinery (packed words, rings,
//! tallies, stripes, shortcuts). `tests/model.rs` checks the real breaker against it over
//! random sequences; `tests/loom.rs` checks each loom interleaving against its sequential
//! orders.

#![allow(dead_code)]

use std::time::Duration;

use inframind_breaker::{
    Backoff, BreakerConfig, BreakerConfigBuilder, BreakerSnapshot, CircuitState, ManualClock,
    SlidingWindow, TransitionReason,
};

/// The sliding window, in calls or milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Window {
    Count(u32),
    TimeMs(u64),
}

/// A breaker configuration in the model's terms (times in milliseconds, no jitter).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Config {
    pub(crate) failure_threshold: Option<u32>,
    pub(crate) failure_rate: Option<f64>,
    pub(crate) slow_rate: Option<f64>,
    pub(crate) slow_ms: Option<u64>,
    pub(crate) window: Window,
    pub(crate) minimum_calls: u32,
    pub(crate) recovery_ms: u64,
    /// Multiplier and cap in milliseconds.
    pub(crate) backoff: Option<(f64, u64)>,
    pub(crate) half_open_max_calls: u32,
    pub(crate) half_open_success_rate: f64,
    pub(crate) probe_timeout_ms: u64,
}

impl Default for Config {
    /// The breaker's documented defaults.
    fn default() -> Self {
        Self {
            failure_threshold: Some(5),
            failure_rate: None,
            slow_rate: None,
            slow_ms: None,
            window: Window::Count(100),
            minimum_calls: 20,
            recovery_ms: 60_000,
            backoff: None,
            half_open_max_calls: 1,
            half_open_success_rate: 100.0,
            probe_timeout_ms: 60_000,
        }
    }
}

impl Config {
    /// The real breaker's configuration builder for this model configuration.
    pub(crate) fn builder(&self, clock: &ManualClock) -> BreakerConfigBuilder {
        let ms = Duration::from_millis;
        let mut b = BreakerConfig::builder()
            .clock(clock.clone())
            .minimum_calls(self.minimum_calls)
            .recovery_timeout(ms(self.recovery_ms))
            .half_open_max_calls(self.half_open_max_calls)
            .half_open_success_rate(self.half_open_success_rate)
            .probe_timeout(ms(self.probe_timeout_ms))
            .sliding_window(match self.window {
                Window::Count(n) => SlidingWindow::Count(n),
                Window::TimeMs(t) => SlidingWindow::Time(ms(t)),
            });
        b = match self.failure_threshold {
            Some(n) => b.failure_threshold(n),
            None => b.no_failure_threshold(),
        };
        if let Some(r) = self.failure_rate {
            b = b.failure_rate_threshold(r);
        }
        if let Some(r) = self.slow_rate {
            b = b.slow_call_rate_threshold(r);
        }
        if let Some(d) = self.slow_ms {
            b = b.slow_call_duration(ms(d));
        }
        if let Some((m, max)) = self.backoff {
            b = b.backoff(Backoff::exponential(m, ms(max)));
        }
        b
    }

    fn uses_window(&self) -> bool {
        self.failure_rate.is_some() || self.slow_rate.is_some()
    }

    fn minimum(&self) -> u64 {
        let min = u64::from(self.minimum_calls.max(1));
        match self.window {
            Window::Count(n) => min.min(u64::from(n)),
            Window::TimeMs(_) => min,
        }
    }

    /// Probe successes that close the circuit: the success rate of the probe count, rounded
    /// up, at least one.
    fn probes_needed(&self) -> u64 {
        let p = f64::from(self.half_open_max_calls);
        let needed = (p * self.half_open_success_rate / 100.0 - 1e-9).ceil() as u64;
        needed.clamp(1, u64::from(self.half_open_max_calls))
    }

    /// The open duration after `streak` earlier consecutive trips.
    fn open_for(&self, streak: u32) -> Duration {
        let base = Duration::from_millis(self.recovery_ms);
        match self.backoff {
            Some((multiplier, max_ms)) if streak > 0 => {
                let max = Duration::from_millis(max_ms);
                let secs = base.as_secs_f64() * multiplier.powi(streak as i32);
                if secs.is_finite() && secs < max.as_secs_f64() {
                    Duration::from_secs_f64(secs)
                } else {
                    max
                }
            }
            _ => base,
        }
    }
}

fn ceil_ms(d: Duration) -> u64 {
    (d.as_millis() + u128::from(d.subsec_nanos() % 1_000_000 != 0)) as u64
}

/// What a call was admitted under.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Ticket {
    generation: u64,
    pub(crate) mode: CircuitState,
    start_ms: u64,
}

/// A rejection: the rejecting state and the remaining time.
pub(crate) type Rejection = (CircuitState, Option<Duration>);

/// A call's reported outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Failure,
    Ignore,
    /// The permit dropped without an outcome (a cancelled call).
    Drop,
}

/// One state transition as a listener sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    pub(crate) from: CircuitState,
    pub(crate) to: CircuitState,
    pub(crate) reason: TransitionReason,
    pub(crate) open_for: Option<Duration>,
}

#[derive(Debug, Clone, Copy)]
struct Recorded {
    at_ms: u64,
    failed: bool,
    slow: bool,
}

#[derive(Debug, Clone, Copy)]
struct Probes {
    generation: Option<u64>,
    inflight: u64,
    succeeded: u64,
    failed: u64,
}

/// What [`BreakerSnapshot`] should say.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Expected {
    pub(crate) state: CircuitState,
    pub(crate) successful_calls: u64,
    pub(crate) failed_calls: u64,
    pub(crate) rejected_calls: u64,
    pub(crate) slow_calls: u64,
    pub(crate) ignored_calls: u64,
    pub(crate) failure_rate: Option<f64>,
    pub(crate) slow_call_rate: Option<f64>,
    pub(crate) remaining_open: Option<Duration>,
    pub(crate) consecutive_failures: u64,
}

impl Expected {
    pub(crate) fn of(s: &BreakerSnapshot) -> Self {
        Self {
            state: s.state,
            successful_calls: s.successful_calls,
            failed_calls: s.failed_calls,
            rejected_calls: s.rejected_calls,
            slow_calls: s.slow_calls,
            ignored_calls: s.ignored_calls,
            failure_rate: s.failure_rate,
            slow_call_rate: s.slow_call_rate,
            remaining_open: s.remaining_open,
            consecutive_failures: s.consecutive_failures,
        }
    }
}

/// The reference model.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    cfg: Config,
    now_ms: u64,
    pub(crate) state: CircuitState,
    generation: u64,
    deadline_ms: u64,
    /// The current closed phase's run of failures and recorded calls.
    consecutive: u64,
    recorded: Vec<Recorded>,
    probes: Probes,
    trip_streak: u32,
    successes: u64,
    failures: u64,
    slow: u64,
    rejected: u64,
    ignored: u64,
    pub(crate) events: Vec<Event>,
}

impl Model {
    pub(crate) fn new(cfg: Config) -> Self {
        Self {
            cfg,
            now_ms: 0,
            state: CircuitState::Closed,
            generation: 0,
            deadline_ms: 0,
            consecutive: 0,
            recorded: Vec::new(),
            probes: Probes {
                generation: None,
                inflight: 0,
                succeeded: 0,
                failed: 0,
            },
            trip_streak: 0,
            successes: 0,
            failures: 0,
            slow: 0,
            rejected: 0,
            ignored: 0,
            events: Vec::new(),
        }
    }

    pub(crate) fn advance(&mut self, ms: u64) {
        self.now_ms += ms;
    }

    /// Moves to `to` in a new generation: the closed phase's run and window start empty.
    fn enter(
        &mut self,
        to: CircuitState,
        deadline_ms: u64,
        reason: TransitionReason,
        open_for: Option<Duration>,
    ) {
        let from = self.state;
        self.state = to;
        self.generation += 1;
        self.deadline_ms = deadline_ms;
        self.consecutive = 0;
        self.recorded.clear();
        if from != to || reason != TransitionReason::Manual {
            self.events.push(Event {
                from,
                to,
                reason,
                open_for,
            });
        }
    }

    fn reject(&mut self, state: CircuitState, remaining: Option<Duration>) -> Rejection {
        self.rejected += 1;
        (state, remaining)
    }

    fn ticket(&self, mode: CircuitState) -> Ticket {
        Ticket {
            generation: self.generation,
            mode,
            start_ms: self.now_ms,
        }
    }

    pub(crate) fn acquire(&mut self) -> Result<Ticket, Rejection> {
        loop {
            match self.state {
                CircuitState::Closed | CircuitState::ForcedClosed | CircuitState::Disabled => {
                    return Ok(self.ticket(self.state));
                }
                CircuitState::ForcedOpen => return Err(self.reject(CircuitState::ForcedOpen, None)),
                CircuitState::Open => {
                    if self.now_ms < self.deadline_ms {
                        let left = Duration::from_millis(self.deadline_ms - self.now_ms);
                        return Err(self.reject(CircuitState::Open, Some(left)));
                    }
                    let deadline = self.now_ms + self.cfg.probe_timeout_ms;
                    self.enter(
                        CircuitState::HalfOpen,
                        deadline,
                        TransitionReason::OpenTimeoutElapsed,
                        None,
                    );
                }
                CircuitState::HalfOpen => {
                    if self.probes.generation != Some(self.generation) {
                        self.probes = Probes {
                            generation: Some(self.generation),
                            inflight: 0,
                            succeeded: 0,
                            failed: 0,
                        };
                    }
                    let p = self.probes;
                    if p.inflight + p.succeeded + p.failed < u64::from(self.cfg.half_open_max_calls)
                    {
                        self.probes.inflight += 1;
                        return Ok(self.ticket(CircuitState::HalfOpen));
                    }
                    if self.now_ms < self.deadline_ms {
                        let left = Duration::from_millis(self.deadline_ms - self.now_ms);
                        return Err(self.reject(CircuitState::HalfOpen, Some(left)));
                    }
                    let deadline = self.now_ms + self.cfg.probe_timeout_ms;
                    self.enter(
                        CircuitState::HalfOpen,
                        deadline,
                        TransitionReason::ProbeTimeout,
                        None,
                    );
                }
                _ => unreachable!(),
            }
        }
    }

    pub(crate) fn finish(&mut self, ticket: Ticket, outcome: Outcome) {
        let failed = match outcome {
            Outcome::Drop => return self.probe_done(ticket, Outcome::Ignore),
            Outcome::Ignore => {
                self.ignored += 1;
                return self.probe_done(ticket, Outcome::Ignore);
            }
            Outcome::Success => false,
            Outcome::Failure => true,
        };
        let slow = self
            .cfg
            .slow_ms
            .is_some_and(|limit| self.now_ms - ticket.start_ms >= limit);
        if failed {
            self.failures += 1;
        } else {
            self.successes += 1;
        }
        if slow {
            self.slow += 1;
        }
        match ticket.mode {
            CircuitState::Closed | CircuitState::ForcedClosed => {
                if ticket.generation != self.generation {
                    return; // admitted under an earlier state
                }
                if self.cfg.uses_window() {
                    self.recorded.push(Recorded {
                        at_ms: self.now_ms,
                        failed,
                        slow,
                    });
                }
                if ticket.mode == CircuitState::ForcedClosed {
                    return;
                }
                let mut reason = None;
                if let Some(threshold) = self.cfg.failure_threshold {
                    if failed {
                        self.consecutive += 1;
                        if self.consecutive >= u64::from(threshold) {
                            reason = Some(TransitionReason::ConsecutiveFailures);
                        }
                    } else {
                        self.consecutive = 0;
                    }
                }
                if reason.is_none() && self.cfg.uses_window() {
                    reason = self.rate_verdict();
                }
                if let Some(reason) = reason {
                    self.trip(reason);
                }
            }
            CircuitState::HalfOpen => self.probe_done(ticket, outcome),
            _ => {}
        }
    }

    fn probe_done(&mut self, ticket: Ticket, outcome: Outcome) {
        if ticket.mode != CircuitState::HalfOpen
            || self.probes.generation != Some(ticket.generation)
            || self.probes.inflight == 0
        {
            return;
        }
        self.probes.inflight -= 1;
        match outcome {
            Outcome::Success => self.probes.succeeded += 1,
            Outcome::Failure => self.probes.failed += 1,
            _ => {}
        }
        if self.state != CircuitState::HalfOpen || self.generation != ticket.generation {
            return;
        }
        let needed = self.cfg.probes_needed();
        let allowed = u64::from(self.cfg.half_open_max_calls) - needed;
        if self.probes.failed > allowed {
            self.trip(TransitionReason::ProbesFailed);
        } else if self.probes.succeeded >= needed {
            self.enter(
                CircuitState::Closed,
                0,
                TransitionReason::ProbesSucceeded,
                None,
            );
            self.trip_streak = 0;
        }
    }

    fn trip(&mut self, reason: TransitionReason) {
        let open_for = self.cfg.open_for(self.trip_streak);
        let deadline = self.now_ms + ceil_ms(open_for);
        self.enter(CircuitState::Open, deadline, reason, Some(open_for));
        self.trip_streak += 1;
    }

    /// The current closed phase's window: (calls, failures, slow).
    fn window(&self) -> (u64, u64, u64) {
        let in_window: Vec<&Recorded> = match self.cfg.window {
            Window::Count(n) => self.recorded.iter().rev().take(n as usize).collect(),
            Window::TimeMs(ms) => {
                // 16 slices (fewer below 16 ms); a call stays while its slice is one of the
                // last 16.
                let buckets = ms.clamp(1, 16);
                let slice = ms.div_ceil(buckets);
                let current = self.now_ms / slice;
                let oldest = current.saturating_sub(buckets - 1);
                self.recorded
                    .iter()
                    .filter(|r| r.at_ms / slice >= oldest)
                    .collect()
            }
        };
        let count = |f: fn(&Recorded) -> bool| in_window.iter().filter(|r| f(r)).count() as u64;
        (
            in_window.len() as u64,
            count(|r| r.failed),
            count(|r| r.slow),
        )
    }

    fn rates(&self) -> Option<(f64, f64)> {
        let (calls, failures, slow) = self.window();
        if calls == 0 || calls < self.cfg.minimum() {
            return None;
        }
        let rate = |n: u64| n as f64 * 100.0 / calls as f64;
        Some((rate(failures), rate(slow)))
    }

    fn rate_verdict(&self) -> Option<TransitionReason> {
        let (failure, slow) = self.rates()?;
        if self.cfg.failure_rate.is_some_and(|t| failure >= t) {
            return Some(TransitionReason::FailureRate);
        }
        if self.cfg.slow_rate.is_some_and(|t| slow >= t) {
            return Some(TransitionReason::SlowCallRate);
        }
        None
    }

    /// An operator override: `ForcedOpen`, `ForcedClosed`, `Disabled`, or `Closed` (reset).
    pub(crate) fn set_state(&mut self, to: CircuitState) {
        self.enter(to, 0, TransitionReason::Manual, None);
        if to == CircuitState::Closed {
            self.trip_streak = 0;
        }
    }

    pub(crate) fn expected(&self) -> Expected {
        let rates = match self.state {
            CircuitState::Closed | CircuitState::ForcedClosed if self.cfg.uses_window() => {
                self.rates()
            }
            _ => None,
        };
        Expected {
            state: self.state,
            successful_calls: self.successes,
            failed_calls: self.failures,
            rejected_calls: self.rejected,
            slow_calls: self.slow,
            ignored_calls: self.ignored,
            failure_rate: rates.map(|r| r.0),
            slow_call_rate: rates.filter(|_| self.cfg.slow_ms.is_some()).map(|r| r.1),
            remaining_open: (self.state == CircuitState::Open)
                .then(|| Duration::from_millis(self.deadline_ms.saturating_sub(self.now_ms))),
            consecutive_failures: if self.state == CircuitState::Closed {
                self.consecutive
            } else {
                0
            },
        }
    }
}
