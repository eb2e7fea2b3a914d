//! The breaker: state word, admission, outcome recording, transitions.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::classify::Outcome;
use crate::clock::{ceil_millis, millis_since};
use crate::config::BreakerConfig;
use crate::error::Rejected;
use crate::events::{Listener, StateTransition, TransitionReason};
use crate::registry::BreakerSnapshot;
use crate::state::{CircuitState, GEN_BITS, GEN_MASK, Word};
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use crate::window::Stripes;

// The consecutive-failure word: | generation (21 bits) | failures (43 bits) |.
const CONSEC_BITS: u32 = 64 - GEN_BITS;
const CONSEC_MASK: u64 = (1 << CONSEC_BITS) - 1;

// The half-open word: | generation (21) | in flight (14) | succeeded (14) | failed (14) |.
const HO_FIELD: u32 = 14;
const HO_MASK: u64 = (1 << HO_FIELD) - 1;
const HO_GEN_SHIFT: u32 = 3 * HO_FIELD;
const HO_INFLIGHT_SHIFT: u32 = 2 * HO_FIELD;
const HO_SUCC_SHIFT: u32 = HO_FIELD;

#[derive(Debug, Clone, Copy)]
struct HalfOpen {
    generation: u64,
    inflight: u64,
    succeeded: u64,
    failed: u64,
}

impl HalfOpen {
    const fn unpack(raw: u64) -> Self {
        Self {
            generation: raw >> HO_GEN_SHIFT,
            inflight: (raw >> HO_INFLIGHT_SHIFT) & HO_MASK,
            succeeded: (raw >> HO_SUCC_SHIFT) & HO_MASK,
            failed: raw & HO_MASK,
        }
    }

    const fn pack(self) -> u64 {
        ((self.generation & GEN_MASK) << HO_GEN_SHIFT)
            | ((self.inflight & HO_MASK) << HO_INFLIGHT_SHIFT)
            | ((self.succeeded & HO_MASK) << HO_SUCC_SHIFT)
            | (self.failed & HO_MASK)
    }

    const fn fresh(generation: u64) -> Self {
        Self {
            generation,
            inflight: 0,
            succeeded: 0,
            failed: 0,
        }
    }
}

/// What a permit was admitted under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    /// Nanoseconds since the breaker's origin, plus one, when the call was admitted; zero
    /// when slow-call detection is off.
    start_ns: u64,
    generation: u32,
    mode: CircuitState,
}

impl Ticket {
    #[inline]
    fn generation(&self) -> u64 {
        u64::from(self.generation)
    }
}

enum Probe {
    Granted,
    Full,
    Stale,
}

pub(crate) struct Inner {
    state: CachePadded<AtomicU64>,
    consecutive: CachePadded<AtomicU64>,
    half_open: CachePadded<AtomicU64>,
    trip_streak: AtomicU32,
    stripes: Stripes,
    config: BreakerConfig,
    name: Arc<str>,
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
    fn new(
        name: Arc<str>,
        config: BreakerConfig,
        shared_listeners: Option<Arc<RwLock<Vec<Listener>>>>,
    ) -> Self {
        let uses_window = config.uses_window();
        let stripes = Stripes::new(uses_window.then_some(config.window));
        let time_calls = config.slow_call_duration.is_some();
        let time_records = time_calls || stripes.is_time_window();
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
            consecutive: CachePadded::new(AtomicU64::new(0)),
            half_open: CachePadded::new(AtomicU64::new(HalfOpen::fresh(GEN_MASK).pack())),
            trip_streak: AtomicU32::new(0),
            stripes,
            min_calls: config.effective_minimum_calls(),
            probe_successes_needed: needed,
            probe_failures_allowed: u64::from(config.half_open_max_calls) - needed,
            config,
            name,
            origin,
            time_calls,
            time_records,
            plain_success_path: !time_records && !uses_window,
            shared_listeners,
        }
    }

    #[inline]
    fn start_stamp(&self) -> u64 {
        if self.time_calls {
            let since = self
                .config
                .clock
                .now()
                .saturating_duration_since(self.origin);
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX - 1) + 1
        } else {
            0
        }
    }

    #[inline]
    fn now_ms(&self) -> u64 {
        millis_since(self.origin, self.config.clock.now())
    }

    fn state(&self) -> CircuitState {
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
                Ok(Ticket {
                    generation: Word::generation_of(raw) as u32,
                    mode,
                    start_ns: self.start_stamp(),
                })
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
                    return Ok(Ticket {
                        generation: word.generation as u32,
                        mode: word.state,
                        start_ns: self.start_stamp(),
                    });
                }
                CircuitState::ForcedOpen => {
                    return Err(self.reject(CircuitState::ForcedOpen, None));
                }
                CircuitState::Open => {
                    let now = self.now_ms();
                    if now < word.deadline_ms {
                        let left = Duration::from_millis(word.deadline_ms - now);
                        return Err(self.reject(CircuitState::Open, Some(left)));
                    }
                    let next = word.next(CircuitState::HalfOpen, now + self.probe_timeout_ms());
                    self.transition(raw, next, TransitionReason::OpenTimeoutElapsed, None);
                }
                CircuitState::HalfOpen => match self.try_probe(word.generation) {
                    Probe::Granted => {
                        return Ok(Ticket {
                            generation: word.generation as u32,
                            mode: CircuitState::HalfOpen,
                            start_ns: self.start_stamp(),
                        });
                    }
                    Probe::Stale => {}
                    Probe::Full => {
                        let now = self.now_ms();
                        if now < word.deadline_ms {
                            return Err(self.reject(CircuitState::HalfOpen, Some(Duration::ZERO)));
                        }
                        // The probes of this phase overran the probe timeout: write them off.
                        let next = word.next(CircuitState::HalfOpen, now + self.probe_timeout_ms());
                        self.transition(raw, next, TransitionReason::ProbeTimeout, None);
                    }
                },
            }
            raw = self.state.load(Ordering::Acquire);
        }
    }

    fn probe_timeout_ms(&self) -> u64 {
        ceil_millis(self.config.probe_timeout)
    }

    fn reject(&self, state: CircuitState, remaining: Option<Duration>) -> Rejected {
        self.stripes
            .local()
            .rejected
            .fetch_add(1, Ordering::Relaxed);
        Rejected { state, remaining }
    }

    fn try_probe(&self, generation: u64) -> Probe {
        let max = u64::from(self.config.half_open_max_calls);
        let mut raw = self.half_open.load(Ordering::Acquire);
        loop {
            let current = HalfOpen::unpack(raw);
            let base = if current.generation == generation {
                current
            } else if self.is_current(generation) {
                // The word still holds an earlier phase's counts: this phase starts fresh.
                // (A later phase's counts can only exist once the state word moved on.)
                HalfOpen::fresh(generation)
            } else {
                return Probe::Stale;
            };
            if base.inflight + base.succeeded + base.failed >= max {
                return Probe::Full;
            }
            let next = HalfOpen {
                inflight: base.inflight + 1,
                ..base
            };
            match self.half_open.compare_exchange_weak(
                raw,
                next.pack(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Probe::Granted,
                Err(actual) => raw = actual,
            }
        }
    }

    // ---- outcomes --------------------------------------------------------------------------

    /// A permit was dropped without a result.
    pub(crate) fn release(&self, ticket: Ticket) {
        if ticket.mode == CircuitState::HalfOpen {
            self.probe_result(ticket.generation(), Outcome::Ignore);
        }
    }

    #[inline]
    pub(crate) fn record(&self, ticket: Ticket, outcome: Outcome) {
        if self.plain_success_path
            && outcome == Outcome::Success
            && ticket.mode == CircuitState::Closed
        {
            // The common case: a success, no window, no clock. Clearing the consecutive
            // failures needs no generation check: the counter carries its own tag.
            self.stripes
                .local()
                .successes
                .fetch_add(1, Ordering::Relaxed);
            if self.config.failure_threshold.is_some() {
                self.clear_consecutive(ticket.generation());
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
            Outcome::Ignore => return self.release(ticket),
        };
        let now = if self.time_records {
            Some(self.config.clock.now())
        } else {
            None
        };
        let slow = match (self.config.slow_call_duration, now) {
            (Some(limit), Some(now)) if ticket.start_ns != 0 => {
                let start = self.origin + Duration::from_nanos(ticket.start_ns - 1);
                now.saturating_duration_since(start) >= limit
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
        match ticket.mode {
            CircuitState::Closed | CircuitState::ForcedClosed => {
                self.record_closed(ticket, stripe, now, failure, slow);
            }
            CircuitState::HalfOpen => self.probe_result(ticket.generation(), outcome),
            _ => {}
        }
    }

    #[inline]
    fn record_closed(
        &self,
        ticket: Ticket,
        stripe: &crate::window::Stripe,
        now: Option<Instant>,
        failure: bool,
        slow: bool,
    ) {
        let raw = self.state.load(Ordering::Acquire);
        let generation = ticket.generation();
        if Word::generation_of(raw) != generation {
            // Admitted under an earlier state: ignored.
            return;
        }
        let now_ms = now.map_or(0, |n| millis_since(self.origin, n));
        if self.stripes.has_window() {
            self.stripes
                .record_window(stripe, generation, now_ms, failure, slow, || {
                    self.is_current(generation)
                });
        }
        if ticket.mode != CircuitState::Closed {
            return;
        }
        let mut reason = None;
        if let Some(threshold) = self.config.failure_threshold {
            if failure {
                if self.bump_consecutive(generation) >= u64::from(threshold) {
                    reason = Some(TransitionReason::ConsecutiveFailures);
                }
            } else {
                self.clear_consecutive(generation);
            }
        }
        if reason.is_none() && (failure || slow) && self.stripes.has_window() {
            reason = self.rate_exceeded(generation, now_ms);
        }
        if let Some(reason) = reason {
            self.trip(raw, reason);
        }
    }

    fn bump_consecutive(&self, generation: u64) -> u64 {
        let mut raw = self.consecutive.load(Ordering::Relaxed);
        loop {
            let count = if raw >> CONSEC_BITS == generation {
                (raw & CONSEC_MASK) + 1
            } else if self.is_current(generation) {
                1
            } else {
                return 0;
            };
            let next = (generation << CONSEC_BITS) | (count & CONSEC_MASK);
            match self.consecutive.compare_exchange_weak(
                raw,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return count,
                Err(actual) => raw = actual,
            }
        }
    }

    #[inline]
    fn clear_consecutive(&self, generation: u64) {
        let mut raw = self.consecutive.load(Ordering::Relaxed);
        // Read-only when there is nothing to clear: successes do not bounce the cache line.
        while raw >> CONSEC_BITS == generation && raw & CONSEC_MASK != 0 {
            match self.consecutive.compare_exchange_weak(
                raw,
                generation << CONSEC_BITS,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => raw = actual,
            }
        }
    }

    fn consecutive_failures(&self, generation: u64) -> u64 {
        let raw = self.consecutive.load(Ordering::Relaxed);
        if raw >> CONSEC_BITS == generation {
            raw & CONSEC_MASK
        } else {
            0
        }
    }

    #[cold]
    fn rate_exceeded(&self, generation: u64, now_ms: u64) -> Option<TransitionReason> {
        let counts = self.stripes.window_counts(generation, now_ms);
        if counts.calls < self.min_calls || counts.calls == 0 {
            return None;
        }
        #[allow(clippy::cast_precision_loss)]
        let rate = |n: u64| n as f64 * 100.0 / counts.calls as f64;
        if let Some(t) = self.config.failure_rate_threshold {
            if rate(counts.failures) >= t {
                return Some(TransitionReason::FailureRate);
            }
        }
        if let Some(t) = self.config.slow_call_rate_threshold {
            if rate(counts.slow) >= t {
                return Some(TransitionReason::SlowCallRate);
            }
        }
        None
    }

    fn probe_result(&self, generation: u64, outcome: Outcome) {
        let mut raw = self.half_open.load(Ordering::Acquire);
        let after = loop {
            let mut h = HalfOpen::unpack(raw);
            if h.generation != generation || h.inflight == 0 {
                return;
            }
            h.inflight -= 1;
            match outcome {
                Outcome::Success => h.succeeded += 1,
                Outcome::Failure => h.failed += 1,
                Outcome::Ignore => {}
            }
            match self.half_open.compare_exchange_weak(
                raw,
                h.pack(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break h,
                Err(actual) => raw = actual,
            }
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
        let base = self.config.recovery_timeout;
        let mut d = match self.config.backoff {
            Some(b) if streak > 0 => {
                let exp = i32::try_from(streak).unwrap_or(i32::MAX);
                let factor = b.multiplier.powi(exp);
                let secs = base.as_secs_f64() * factor;
                if secs.is_finite() && secs < b.max.as_secs_f64() {
                    Duration::from_secs_f64(secs)
                } else {
                    b.max
                }
            }
            _ => base,
        };
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

    fn set_state(&self, to: CircuitState) {
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

    fn snapshot(&self) -> BreakerSnapshot {
        let word = Word::unpack(self.state.load(Ordering::Acquire));
        let totals = self.stripes.totals();
        let needs_now = word.state == CircuitState::Open || self.stripes.is_time_window();
        let now_ms = if needs_now { self.now_ms() } else { 0 };
        let remaining_open = (word.state == CircuitState::Open)
            .then(|| Duration::from_millis(word.deadline_ms.saturating_sub(now_ms)));
        let mut failure_rate = None;
        let mut slow_call_rate = None;
        if matches!(
            word.state,
            CircuitState::Closed | CircuitState::ForcedClosed
        ) && self.stripes.has_window()
        {
            let c = self.stripes.window_counts(word.generation, now_ms);
            if c.calls >= self.min_calls && c.calls > 0 {
                #[allow(clippy::cast_precision_loss)]
                let rate = |n: u64| n as f64 * 100.0 / c.calls as f64;
                failure_rate = Some(rate(c.failures));
                slow_call_rate = self
                    .config
                    .slow_call_duration
                    .is_some()
                    .then(|| rate(c.slow));
            }
        }
        BreakerSnapshot {
            name: self.name.to_string(),
            state: word.state,
            successful_calls: totals.successes,
            failed_calls: totals.failures,
            rejected_calls: totals.rejected,
            slow_calls: totals.slow,
            failure_rate,
            slow_call_rate,
            remaining_open,
            consecutive_failures: if word.state == CircuitState::Closed {
                self.consecutive_failures(word.generation)
            } else {
                0
            },
        }
    }
}

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
        &self.inner.config
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
        Ok(Permit {
            inner: &self.inner,
            ticket,
            done: false,
        })
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
        Ok(OwnedPermit {
            inner: Arc::clone(&self.inner),
            ticket,
            done: false,
        })
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

impl Permit<'_> {
    /// The state the call was admitted under.
    #[must_use]
    pub fn admitted_state(&self) -> CircuitState {
        self.ticket.mode
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
            .field("admitted_state", &self.ticket.mode)
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
    /// The state the call was admitted under.
    #[must_use]
    pub fn admitted_state(&self) -> CircuitState {
        self.ticket.mode
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
            .field("admitted_state", &self.ticket.mode)
            .finish()
    }
}
