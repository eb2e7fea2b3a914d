//! The half-open word: how many probes of one half-open phase are in flight, succeeded and
//! failed, tagged with the phase's generation.
//!
//! Layout: | generation (21 bits) | in flight (14) | succeeded (14) | failed (14) |. A phase
//! starts from a word tagged with an earlier generation, which reads as empty, so entering
//! half-open never has to clear it.

use crate::classify::Outcome;
use crate::state::GEN_MASK;
use crate::sync::{AtomicU64, Ordering};

const FIELD: u32 = 14;
const MASK: u64 = (1 << FIELD) - 1;
const GEN_SHIFT: u32 = 3 * FIELD;
const INFLIGHT_SHIFT: u32 = 2 * FIELD;
const SUCC_SHIFT: u32 = FIELD;

#[derive(Debug, Clone, Copy)]
pub(super) struct Probes {
    generation: u64,
    pub(super) inflight: u64,
    pub(super) succeeded: u64,
    pub(super) failed: u64,
}

impl Probes {
    const fn unpack(raw: u64) -> Self {
        Self {
            generation: raw >> GEN_SHIFT,
            inflight: (raw >> INFLIGHT_SHIFT) & MASK,
            succeeded: (raw >> SUCC_SHIFT) & MASK,
            failed: raw & MASK,
        }
    }

    const fn pack(self) -> u64 {
        ((self.generation & GEN_MASK) << GEN_SHIFT)
            | ((self.inflight & MASK) << INFLIGHT_SHIFT)
            | ((self.succeeded & MASK) << SUCC_SHIFT)
            | (self.failed & MASK)
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

/// The answer to a probe request.
pub(super) enum Probe {
    Granted,
    /// Every probe permit of the phase is taken or used.
    Full,
    /// The breaker left the phase meanwhile.
    Stale,
}

#[derive(Debug)]
pub(super) struct HalfOpenWord(AtomicU64);

impl HalfOpenWord {
    pub(super) fn new() -> Self {
        Self(AtomicU64::new(Probes::fresh(GEN_MASK).pack()))
    }

    /// Takes one of `max` probe permits of phase `generation`. `is_current` says whether the
    /// breaker is still in that phase.
    pub(super) fn try_probe(
        &self,
        generation: u64,
        max: u64,
        is_current: impl Fn() -> bool,
    ) -> Probe {
        let mut raw = self.0.load(Ordering::Acquire);
        loop {
            let current = Probes::unpack(raw);
            let base = if current.generation == generation {
                current
            } else if is_current() {
                // The word still holds an earlier phase's counts: this phase starts fresh.
                // (A later phase's counts can only exist once the state word moved on.)
                Probes::fresh(generation)
            } else {
                return Probe::Stale;
            };
            if base.inflight + base.succeeded + base.failed >= max {
                return Probe::Full;
            }
            let next = Probes {
                inflight: base.inflight + 1,
                ..base
            };
            match self.0.compare_exchange_weak(
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

    /// Whether every one of `max` probe permits of phase `generation` is taken or used.
    #[cfg(feature = "tower")]
    pub(super) fn is_full(&self, generation: u64, max: u64) -> bool {
        let p = Probes::unpack(self.0.load(Ordering::Acquire));
        p.generation == generation && p.inflight + p.succeeded + p.failed >= max
    }

    /// Records a probe's outcome (`Ignore` hands the permit back); the phase's counts after
    /// it, or `None` if the probe belongs to a finished phase.
    pub(super) fn finish(&self, generation: u64, outcome: Outcome) -> Option<Probes> {
        let mut raw = self.0.load(Ordering::Acquire);
        loop {
            let mut p = Probes::unpack(raw);
            if p.generation != generation || p.inflight == 0 {
                return None;
            }
            p.inflight -= 1;
            match outcome {
                Outcome::Success => p.succeeded += 1,
                Outcome::Failure => p.failed += 1,
                Outcome::Ignore => {}
            }
            match self
                .0
                .compare_exchange_weak(raw, p.pack(), Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(p),
                Err(actual) => raw = actual,
            }
        }
    }
}
