//! The state machine behind a [`CircuitBreaker`](crate::CircuitBreaker): admission, outcome
//! recording, trip decisions and transitions, over the packed state word ([`crate::state`]),
//! the consecutive-failure word, the half-open word, the sliding window and the totals.

mod consecutive;
mod half_open;
mod rates;
mod snapshot;

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use self::consecutive::Consecutive;
use self::half_open::{HalfOpenWord, Probe};
use self::rates::Rates;
use crate::classify::Outcome;
use crate::clock::{ceil_millis, millis_since};
use crate::config::BreakerConfig;
use crate::error::Rejected;
use crate::events::{Listener, StateTransition, TransitionReason};
use crate::state::{CircuitState, GEN_BITS, GEN_MASK, STATE_BITS, Word};
use crate::stripes::{Stripes, stripe_count};
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use crate::window::{Counts, Window};

/// What a call was admitted under, in one word (a wider ticket cost a store-forwarding stall
/// on every call): | start (40 bits) | generation (21) | state (3) |, the start in
/// microseconds since the breaker's origin, modulo 2^40 (12.7 days), when slow calls are
/// timed, else zero.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

const TICKET_START_SHIFT: u32 = STATE_BITS + GEN_BITS;
const TICKET_START_MASK: u64 = (1 << (64 - TICKET_START_SHIFT)) - 1;

impl Ticket {
    #[inline]
    fn new(mode: CircuitState, generation: u64, start_us: u64) -> Self {
        Self(
            mode.code()
                | ((generation & GEN_MASK) << STATE_BITS)
                | ((start_us & TICKET_START_MASK) << TICKET_START_SHIFT),
        )
    }

    #[inline]
    pub(crate) fn mode(self) -> CircuitState {
        Word::state_of(self.0)
    }

    #[inline]
    fn generation(self) -> u64 {
        Word::generation_of(self.0)
    }

    #[inline]
    fn start_us(self) -> u64 {
        self.0 >> TICKET_START_SHIFT
    }
}

pub(crate) struct Inner {
    state: CachePadded<AtomicU64>,
    consecutive: CachePadded<Consecutive>,
    half_open: CachePadded<HalfOpenWord>,
    trip_streak: AtomicU32,
    stripes: Stripes,
    window: Option<Window>,
    config: BreakerConfig,
    pub(crate) name: Arc<str>,
    origin: Instant,
    /// Read the clock at admission (slow-call detection).
    time_calls: bool,
    /// Read the clock when recording (slow calls or a time window).
    time_records: bool,
    /// No clock and no window: a closed-state success only bumps counters.
    plain_success_path: bool,
    min_calls: u64,
    probe_successes_needed: u64,
    probe_failures_allowed: u64,
    shared_listeners: Option<Arc<RwLock<Vec<Listener>>>>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name)
            .field("state", &self.state())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Inner {
    pub(crate) fn new(
        name: Arc<str>,
        config: BreakerConfig,
        shared_listeners: Option<Arc<RwLock<Vec<Listener>>>>,
    ) -> Self {
        let stripes = stripe_count();
        let window = config
            .uses_window()
            .then(|| Window::new(config.window, stripes, config.slow_call_duration.is_some()));
        let time_calls = config.slow_call_duration.is_some();
        let time_records = time_calls || window.as_ref().is_some_and(Window::is_time);
        let needed = config.required_probe_successes();
        let origin = config.clock.now();
        Self {
            state: CachePadded::new(AtomicU64::new(
                Word {
                    state: CircuitState::Closed,
                    generation: 0,
                    deadline_ms: 0,
                }
                .pack(),
            )),
            consecutive: CachePadded::new(Consecutive::new()),
            half_open: CachePadded::new(HalfOpenWord::new()),
            trip_streak: AtomicU32::new(0),
            stripes: Stripes::new(stripes),
            plain_success_path: !time_records && window.is_none(),
            window,
            min_calls: config.effective_minimum_calls(),
            probe_successes_needed: needed,
            probe_failures_allowed: u64::from(config.half_open_max_calls) - needed,
            config,
            name,
            origin,
            time_calls,
            time_records,
            shared_listeners,
        }
    }

    pub(crate) fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// Microseconds since the origin when slow calls are timed (see [`Ticket`]).
    #[inline]
    fn start_stamp(&self) -> u64 {
        if self.time_calls {
            micros_since(self.origin, self.config.clock.now())
        } else {
            0
        }
    }

    #[inline]
    fn now_ms(&self) -> u64 {
        millis_since(self.origin, self.config.clock.now())
    }

    pub(crate) fn state(&self) -> CircuitState {
        Word::state_of(self.state.load(Ordering::Acquire))
    }

    /// Whether `generation` is still the state word's.
    #[inline]
    fn is_current(&self, generation: u64) -> bool {
        Word::generation_of(self.state.load(Ordering::Acquire)) == generation
    }

    // ---- admission -------------------------------------------------------------------------

    #[inline]
    pub(crate) fn acquire(&self) -> Result<Ticket, Rejected> {
        let raw = self.state.load(Ordering::Acquire);
        match Word::state_of(raw) {
            mode @ (CircuitState::Closed | CircuitState::ForcedClosed | CircuitState::Disabled) => {
                Ok(Ticket::new(
                    mode,
                    Word::generation_of(raw),
                    self.start_stamp(),
                ))
            }
            _ => self.acquire_slow(raw),
        }
    }

    #[cold]
    fn acquire_slow(&self, mut raw: u64) -> Result<Ticket, Rejected> {
        loop {
            let word = Word::unpack(raw);
            match word.state {
                CircuitState::Closed | CircuitState::ForcedClosed | CircuitState::Disabled => {
                    return Ok(Ticket::new(word.state, word.generation, self.start_stamp()));
                }
                CircuitState::ForcedOpen => {
                    return Err(self.reject(CircuitState::ForcedOpen, None));
                }
                CircuitState::Open => {
                    let now = self.now_ms();
                    if now < word.deadline_ms {
                        let left = word.deadline_ms - now;
                        return Err(self.reject(CircuitState::Open, Some(left)));
                    }
                    let next = word.next(CircuitState::HalfOpen, now + self.probe_timeout_ms());
                    self.transition(raw, next, TransitionReason::OpenTimeoutElapsed, None);
                }
                CircuitState::HalfOpen => {
                    let max = u64::from(self.config.half_open_max_calls);
                    let probe = self
                        .half_open
                        .try_probe(word.generation, max, || self.is_current(word.generation));
                    match probe {
                        Probe::Granted => {
                            return Ok(Ticket::new(
                                CircuitState::HalfOpen,
                                word.generation,
                                self.start_stamp(),
                            ));
                        }
                        Probe::Stale => {}
                        Probe::Full => {
                            let now = self.now_ms();
                            if now < word.deadline_ms {
                                // A permit frees up when a probe finishes, at the latest when
                                // the probe timeout writes the probes in flight off.
                                let left = word.deadline_ms - now;
                                return Err(self.reject(CircuitState::HalfOpen, Some(left)));
                            }
                            // The probes of this phase overran the probe timeout: write them off.
                            let next =
                                word.next(CircuitState::HalfOpen, now + self.probe_timeout_ms());
                            self.transition(raw, next, TransitionReason::ProbeTimeout, None);
                        }
                    }
                }
            }
            raw = self.state.load(Ordering::Acquire);
        }
    }

    /// Whether [`acquire`](Self::acquire) would admit a call now, without taking a permit or
    /// moving the state; a rejection is counted. The tower layer asks this before calling its
    /// inner service, and takes the permit at the response future's first poll.
    #[cfg(feature = "tower")]
    #[inline]
    pub(crate) fn peek(&self) -> Result<(), Rejected> {
        let raw = self.state.load(Ordering::Acquire);
        match Word::state_of(raw) {
            CircuitState::Closed | CircuitState::ForcedClosed | CircuitState::Disabled => Ok(()),
            _ => self.peek_slow(raw),
        }
    }

    #[cfg(feature = "tower")]
    #[cold]
    fn peek_slow(&self, raw: u64) -> Result<(), Rejected> {
        let word = Word::unpack(raw);
        let max = u64::from(self.config.half_open_max_calls);
        let busy = match word.state {
            CircuitState::ForcedOpen => return Err(self.reject(CircuitState::ForcedOpen, None)),
            CircuitState::Open => true,
            CircuitState::HalfOpen => self.half_open.is_full(word.generation, max),
            _ => false,
        };
        if busy {
            let now = self.now_ms();
            if now < word.deadline_ms {
                return Err(self.reject(word.state, Some(word.deadline_ms - now)));
            }
        }
        Ok(())
    }

    fn probe_timeout_ms(&self) -> u64 {
        ceil_millis(self.config.probe_timeout)
    }

    /// Counts a rejection by `state` with `remaining_ms` until a retry may be admitted.
    fn reject(&self, state: CircuitState, remaining_ms: Option<u64>) -> Rejected {
        self.stripes
            .local()
            .rejected
            .fetch_add(1, Ordering::Relaxed);
        Rejected::from_millis(state, remaining_ms)
    }

    // ---- outcomes --------------------------------------------------------------------------

    /// A permit was dropped without a result: a half-open probe hands its permit back.
    pub(crate) fn release(&self, ticket: Ticket) {
        if ticket.mode() == CircuitState::HalfOpen {
            self.probe_result(ticket.generation(), Outcome::Ignore);
        }
    }

    #[inline]
    pub(crate) fn record(&self, ticket: Ticket, outcome: Outcome) {
        if self.plain_success_path
            && outcome == Outcome::Success
            && ticket.mode() == CircuitState::Closed
        {
            // The common case: a success, no window, no clock. Clearing the consecutive
            // failures needs no generation check: the counter carries its own tag.
            self.stripes
                .local()
                .successes
                .fetch_add(1, Ordering::Relaxed);
            if self.config.failure_threshold.is_some() {
                self.consecutive.clear(ticket.generation());
            }
            return;
        }
        self.record_general(ticket, outcome);
    }

    #[inline(never)]
    fn record_general(&self, ticket: Ticket, outcome: Outcome) {
        let failure = match outcome {
            Outcome::Success => false,
            Outcome::Failure => true,
            Outcome::Ignore => {
                // Neither a success nor a failure: it does not end a run of failures, does
                // not enter the window, and a probe's permit goes back.
                self.stripes.local().ignored.fetch_add(1, Ordering::Relaxed);
                return self.release(ticket);
            }
        };
        let now = if self.time_records {
            Some(self.config.clock.now())
        } else {
            None
        };
        let slow = match (self.config.slow_call_duration, now) {
            (Some(limit), Some(now)) => {
                let elapsed = micros_since(self.origin, now).wrapping_sub(ticket.start_us())
                    & TICKET_START_MASK;
                Duration::from_micros(elapsed) >= limit
            }
            _ => false,
        };
        let stripe = self.stripes.local();
        if failure {
            stripe.failures.fetch_add(1, Ordering::Relaxed);
        } else {
            stripe.successes.fetch_add(1, Ordering::Relaxed);
        }
        if slow {
            stripe.slow.fetch_add(1, Ordering::Relaxed);
        }
        match ticket.mode() {
            CircuitState::Closed | CircuitState::ForcedClosed => {
                self.record_closed(ticket, now, failure, slow);
            }
            CircuitState::HalfOpen => self.probe_result(ticket.generation(), outcome),
            _ => {}
        }
    }

    #[inline]
    fn record_closed(&self, ticket: Ticket, now: Option<Instant>, failure: bool, slow: bool) {
        let raw = self.state.load(Ordering::Acquire);
        let generation = ticket.generation();
        if Word::generation_of(raw) != generation {
            // Admitted under an earlier state: ignored.
            return;
        }
        let is_current = || self.is_current(generation);
        let now_ms = now.map_or(0, |n| millis_since(self.origin, n));
        let window = self
            .window
            .as_ref()
            .and_then(|w| w.record(generation, now_ms, failure, slow, is_current));
        if ticket.mode() != CircuitState::Closed {
            // Forced closed: measured, never tripped.
            return;
        }
        let mut reason = None;
        if let Some(threshold) = self.config.failure_threshold {
            if failure {
                if self.consecutive.bump(generation, is_current) >= u64::from(threshold) {
                    reason = Some(TransitionReason::ConsecutiveFailures);
                }
            } else {
                self.consecutive.clear(generation);
            }
        }
        if reason.is_none() {
            if let Some(counts) = window {
                // Every recorded call is evaluated once the minimum is reached: a success can
                // reach the minimum, or push a success out of the window.
                reason = self.rate_verdict(counts);
                if reason.is_none() && counts.calls >= self.min_calls {
                    if let Some(w) = &self.window {
                        w.below_thresholds(generation, now_ms);
                    }
                }
            }
        }
        if let Some(reason) = reason {
            self.trip(raw, reason);
        }
    }

    /// Which rate threshold `counts` reaches, if any, once it holds the minimum of calls.
    #[inline]
    fn rate_verdict(&self, counts: Counts) -> Option<TransitionReason> {
        if counts.failures == 0 && counts.slow == 0 {
            // Both rates are 0 %, below any threshold (thresholds are above 0): the healthy
            // window needs no division.
            return None;
        }
        let rates = Rates::of(counts, self.min_calls)?;
        if let Some(t) = self.config.failure_rate_threshold {
            if rates.failure >= t {
                return Some(TransitionReason::FailureRate);
            }
        }
        if let Some(t) = self.config.slow_call_rate_threshold {
            if rates.slow >= t {
                return Some(TransitionReason::SlowCallRate);
            }
        }
        None
    }

    fn probe_result(&self, generation: u64, outcome: Outcome) {
        let Some(after) = self.half_open.finish(generation, outcome) else {
            return;
        };
        let (to, reason) = if after.failed > self.probe_failures_allowed {
            (CircuitState::Open, TransitionReason::ProbesFailed)
        } else if after.succeeded >= self.probe_successes_needed {
            (CircuitState::Closed, TransitionReason::ProbesSucceeded)
        } else {
            return;
        };
        let raw = self.state.load(Ordering::Acquire);
        let word = Word::unpack(raw);
        if word.state != CircuitState::HalfOpen || word.generation != generation {
            return;
        }
        if to == CircuitState::Open {
            self.trip(raw, reason);
        } else if self.transition(raw, word.next(CircuitState::Closed, 0), reason, None) {
            self.trip_streak.store(0, Ordering::Relaxed);
        }
    }

    // ---- transitions -----------------------------------------------------------------------

    /// Opens the circuit if the state word is still `expected`.
    fn trip(&self, expected: u64, reason: TransitionReason) {
        let streak = self.trip_streak.load(Ordering::Relaxed);
        let open_for = self.open_duration(streak);
        let word = Word::unpack(expected);
        let next = word.next(CircuitState::Open, self.now_ms() + ceil_millis(open_for));
        if self.transition(expected, next, reason, Some(open_for)) {
            self.trip_streak
                .store(streak.saturating_add(1), Ordering::Relaxed);
        }
    }

    /// The open duration for a trip after `streak` earlier consecutive trips.
    fn open_duration(&self, streak: u32) -> Duration {
        let mut d = self
            .config
            .backoff
            .map_or(self.config.recovery_timeout, |b| {
                b.open_duration(self.config.recovery_timeout, streak)
            });
        if self.config.jitter > 0.0 {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(self.now_ms());
            #[allow(clippy::cast_precision_loss)]
            let unit = (h.finish() >> 11) as f64 / (1u64 << 53) as f64;
            let factor = 1.0 + self.config.jitter * (2.0 * unit - 1.0);
            d = Duration::from_secs_f64((d.as_secs_f64() * factor).max(0.001));
        }
        d
    }

    /// Moves the state word from `expected` to `next`; on success notifies listeners.
    fn transition(
        &self,
        expected: u64,
        next: Word,
        reason: TransitionReason,
        open_for: Option<Duration>,
    ) -> bool {
        let won = self
            .state
            .compare_exchange(expected, next.pack(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if won {
            self.emit(Word::state_of(expected), next.state, reason, open_for);
        }
        won
    }

    fn emit(
        &self,
        from: CircuitState,
        to: CircuitState,
        reason: TransitionReason,
        open_for: Option<Duration>,
    ) {
        // Cloned out so that a listener may subscribe further listeners without deadlock.
        let shared: Vec<Listener> = self.shared_listeners.as_ref().map_or_else(Vec::new, |l| {
            l.read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        });
        if self.config.listeners.is_empty() && shared.is_empty() {
            return;
        }
        let event = StateTransition {
            name: Arc::clone(&self.name),
            from,
            to,
            reason,
            open_for,
        };
        for l in &self.config.listeners {
            l(&event);
        }
        for l in &shared {
            l(&event);
        }
    }

    /// An operator override (or reset) to `to`.
    pub(crate) fn set_state(&self, to: CircuitState) {
        let mut raw = self.state.load(Ordering::Acquire);
        loop {
            let next = Word::unpack(raw).next(to, 0);
            match self.state.compare_exchange_weak(
                raw,
                next.pack(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => raw = actual,
            }
        }
        if to == CircuitState::Closed {
            self.trip_streak.store(0, Ordering::Relaxed);
        }
        let from = Word::state_of(raw);
        if from != to {
            self.emit(from, to, TransitionReason::Manual, None);
        }
    }
}

/// Microseconds since `origin`, modulo 2^40 (a ticket's start).
#[inline]
fn micros_since(origin: Instant, now: Instant) -> u64 {
    let d = now.saturating_duration_since(origin);
    d.as_secs()
        .wrapping_mul(1_000_000)
        .wrapping_add(u64::from(d.subsec_micros()))
        & TICKET_START_MASK
}
