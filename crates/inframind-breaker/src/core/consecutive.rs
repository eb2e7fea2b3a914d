//! The consecutive-failure word: | generation (21 bits) | failures (43 bits) |.
//!
//! Tagged with the closed phase's generation, so a new phase reads an old run as zero and a
//! late result of an earlier phase cannot extend the current run.

use crate::state::GEN_BITS;
use crate::sync::{AtomicU64, Ordering};

const COUNT_BITS: u32 = 64 - GEN_BITS;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

#[derive(Debug)]
pub(super) struct Consecutive(AtomicU64);

impl Consecutive {
    pub(super) fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Adds a failure to the run of `generation`; the run's length after it (0 if the
    /// breaker already left `generation`).
    pub(super) fn bump(&self, generation: u64, is_current: impl Fn() -> bool) -> u64 {
        let mut raw = self.0.load(Ordering::Relaxed);
        loop {
            let count = if raw >> COUNT_BITS == generation {
                (raw & COUNT_MASK) + 1
            } else if is_current() {
                1
            } else {
                return 0;
            };
            let next = (generation << COUNT_BITS) | (count & COUNT_MASK);
            match self
                .0
                .compare_exchange_weak(raw, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return count,
                Err(actual) => raw = actual,
            }
        }
    }

    /// Ends the run of `generation` (a success).
    #[inline]
    pub(super) fn clear(&self, generation: u64) {
        let mut raw = self.0.load(Ordering::Relaxed);
        // Read-only when there is nothing to clear: successes do not bounce the cache line.
        while raw >> COUNT_BITS == generation && raw & COUNT_MASK != 0 {
            match self.0.compare_exchange_weak(
                raw,
                generation << COUNT_BITS,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => raw = actual,
            }
        }
    }

    /// The run of `generation`.
    pub(super) fn get(&self, generation: u64) -> u64 {
        let raw = self.0.load(Ordering::Relaxed);
        if raw >> COUNT_BITS == generation {
            raw & COUNT_MASK
        } else {
            0
        }
    }
}
