//! The count window: exactly the outcomes of the last `n` recorded calls.
//!
//! A shared counter numbers the recorded calls of the current closed phase. Call `i` keeps its
//! outcome (two bits: failed, slow) in ring position `i % n`, and the ring's previous entry
//! there is call `i - n`, which leaves the window. A tally word holds the failures and slow
//! calls in the window, so reading the window is two loads, whatever `n` is.
//!
//! Successes replacing successes write nothing but the counter: the ring is written only where
//! an outcome differs from the one it replaces, and the tally only when its counts change.
//! Sequentially the window is exact. Two calls whose numbers are `n` apart recording at the
//! same instant (only possible with at least `n` calls finishing concurrently) may see each
//! other's ring entry late; the tally then stays within `0..=n` and heals as calls go by.

use crossbeam_utils::CachePadded;

use super::Counts;
use crate::state::{GEN_BITS, GEN_MASK};
use crate::sync::{AtomicU64, Ordering};

/// The largest count window: the ring takes two bits per call (256 KiB at this size).
pub(crate) const MAX_CALLS: u32 = 1 << 20;

const SEQ_BITS: u32 = 64 - GEN_BITS;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;

// The tally word: | generation (21) | failures (21) | slow (21) | 0 |.
const TALLY_FIELD: u32 = 21;
const TALLY_MASK: u64 = (1 << TALLY_FIELD) - 1;
const TALLY_GEN_SHIFT: u32 = 2 * TALLY_FIELD + 1;
const TALLY_FAIL_SHIFT: u32 = TALLY_FIELD + 1;
const TALLY_SLOW_SHIFT: u32 = 1;

const FAILED: u64 = 0b01;
const SLOW: u64 = 0b10;
const ENTRIES_PER_WORD: u64 = 32;

#[inline]
const fn seq_tag(generation: u64, seq: u64) -> u64 {
    ((generation & GEN_MASK) << SEQ_BITS) | (seq & SEQ_MASK)
}

#[inline]
const fn pack_tally(generation: u64, failures: u64, slow: u64) -> u64 {
    ((generation & GEN_MASK) << TALLY_GEN_SHIFT)
        | ((failures & TALLY_MASK) << TALLY_FAIL_SHIFT)
        | ((slow & TALLY_MASK) << TALLY_SLOW_SHIFT)
}

#[inline]
const fn tally_gen(raw: u64) -> u64 {
    raw >> TALLY_GEN_SHIFT
}

#[inline]
const fn tally_counts(raw: u64) -> (u64, u64) {
    (
        (raw >> TALLY_FAIL_SHIFT) & TALLY_MASK,
        (raw >> TALLY_SLOW_SHIFT) & TALLY_MASK,
    )
}

#[derive(Debug)]
pub(crate) struct CountWindow {
    size: u64,
    /// Generation + calls recorded in that closed phase.
    counter: CachePadded<AtomicU64>,
    /// Generation + failures and slow calls among the last `size` calls.
    tally: CachePadded<AtomicU64>,
    /// Two bits per ring position.
    ring: Box<[AtomicU64]>,
}

impl CountWindow {
    pub(crate) fn new(size: u32) -> Self {
        let size = u64::from(size.clamp(1, MAX_CALLS));
        let words = size.div_ceil(ENTRIES_PER_WORD);
        Self {
            size,
            // Generation `GEN_MASK` with no calls: empty for every other generation.
            counter: CachePadded::new(AtomicU64::new(seq_tag(GEN_MASK, 0))),
            tally: CachePadded::new(AtomicU64::new(pack_tally(GEN_MASK, 0, 0))),
            ring: (0..words).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Records one call of closed generation `generation` and returns the window after it, or
    /// `None` if the breaker already left that generation. `is_current` says whether
    /// `generation` is still the breaker's.
    #[inline]
    pub(crate) fn record(
        &self,
        generation: u64,
        failure: bool,
        slow: bool,
        is_current: impl Fn() -> bool,
    ) -> Option<Counts> {
        let seq = next_seq(&self.counter, generation, &is_current)?;
        let bits = (u64::from(failure) * FAILED) | (u64::from(slow) * SLOW);
        let replaced = self.swap_entry(seq % self.size, bits);
        // Below `size` calls the ring still holds an earlier phase's entries: nothing leaves.
        let left = if seq >= self.size { replaced } else { 0 };
        let calls = (seq + 1).min(self.size);
        let tally = if left == bits {
            self.tally.load(Ordering::Acquire)
        } else {
            self.add_to_tally(generation, bits, left, &is_current)?
        };
        Some(Self::counts_from(generation, calls, tally))
    }

    /// The window of closed generation `generation`.
    pub(crate) fn counts(&self, generation: u64) -> Counts {
        let c = self.counter.load(Ordering::Acquire);
        if c >> SEQ_BITS != generation {
            return Counts::default();
        }
        let calls = (c & SEQ_MASK).min(self.size);
        Self::counts_from(generation, calls, self.tally.load(Ordering::Acquire))
    }

    fn counts_from(generation: u64, calls: u64, tally: u64) -> Counts {
        let (failures, slow) = if tally_gen(tally) == generation {
            tally_counts(tally)
        } else {
            (0, 0)
        };
        Counts {
            calls,
            failures: failures.min(calls),
            slow: slow.min(calls),
        }
    }

    /// Stores `bits` at ring position `pos`; returns the bits it replaced.
    #[inline]
    fn swap_entry(&self, pos: u64, bits: u64) -> u64 {
        let word = &self.ring[(pos / ENTRIES_PER_WORD) as usize];
        let shift = (pos % ENTRIES_PER_WORD) * 2;
        let mut raw = word.load(Ordering::Acquire);
        loop {
            let old = (raw >> shift) & 0b11;
            if old == bits {
                return old;
            }
            let next = (raw & !(0b11 << shift)) | (bits << shift);
            match word.compare_exchange_weak(raw, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return old,
                Err(actual) => raw = actual,
            }
        }
    }

    /// Adds the call's `bits` and removes the `left` call's from the tally; returns the new
    /// tally, or `None` if the breaker left `generation`.
    #[cold]
    fn add_to_tally(
        &self,
        generation: u64,
        bits: u64,
        left: u64,
        is_current: impl Fn() -> bool,
    ) -> Option<u64> {
        let step = |count: u64, mask: u64| {
            let added = u64::from(bits & mask != 0);
            let removed = u64::from(left & mask != 0);
            (count + added).saturating_sub(removed).min(self.size)
        };
        let mut raw = self.tally.load(Ordering::Acquire);
        loop {
            let (failures, slow) = if tally_gen(raw) == generation {
                tally_counts(raw)
            } else if is_current() {
                // An earlier phase's tally: this phase starts from zero.
                (0, 0)
            } else {
                return None;
            };
            let next = pack_tally(generation, step(failures, FAILED), step(slow, SLOW));
            match self
                .tally
                .compare_exchange_weak(raw, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(next),
                Err(actual) => raw = actual,
            }
        }
    }
}

/// Takes the next call number of generation `generation` (one `fetch_add` unless the
/// counter still belongs to an earlier closed phase).
#[inline]
fn next_seq(counter: &AtomicU64, generation: u64, is_current: impl Fn() -> bool) -> Option<u64> {
    let previous = counter.fetch_add(1, Ordering::AcqRel);
    if previous >> SEQ_BITS == generation {
        return Some(previous & SEQ_MASK);
    }
    // The increment above landed on an earlier phase's counter and is void; restart it.
    let mut current = counter.load(Ordering::Acquire);
    loop {
        if current >> SEQ_BITS == generation {
            let previous = counter.fetch_add(1, Ordering::AcqRel);
            if previous >> SEQ_BITS == generation {
                return Some(previous & SEQ_MASK);
            }
            current = counter.load(Ordering::Acquire);
            continue;
        }
        if !is_current() {
            return None;
        }
        match counter.compare_exchange(
            current,
            seq_tag(generation, 1),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => return Some(0),
            Err(actual) => current = actual,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(w: &CountWindow, generation: u64, failure: bool) -> Counts {
        w.record(generation, failure, false, || true).unwrap()
    }

    #[test]
    fn holds_exactly_the_last_n_calls() {
        for n in [1_u32, 2, 17, 31, 32, 33, 100, 101] {
            let w = CountWindow::new(n);
            let mut history = Vec::new();
            for i in 0..(3 * n as usize + 5) {
                let failure = i % 3 == 0 || i % 7 == 0;
                history.push(failure);
                let c = record(&w, 3, failure);
                let last: Vec<_> = history.iter().rev().take(n as usize).collect();
                let expected = last.iter().filter(|f| ***f).count() as u64;
                assert_eq!(
                    (c.calls, c.failures),
                    (last.len() as u64, expected),
                    "n={n} i={i}"
                );
                assert_eq!(w.counts(3), c);
            }
        }
    }

    #[test]
    fn a_new_generation_starts_empty_and_stale_results_are_dropped() {
        let w = CountWindow::new(4);
        for _ in 0..4 {
            record(&w, 3, true);
        }
        assert_eq!(w.counts(4), Counts::default());
        let c = record(&w, 4, false);
        assert_eq!((c.calls, c.failures), (1, 0));
        // The ring still holds generation 3's failures in positions 1..4: they never leave
        // the new window as if they were its own.
        for _ in 0..3 {
            record(&w, 4, false);
        }
        let c = record(&w, 4, false);
        assert_eq!((c.calls, c.failures), (4, 0));
        assert!(w.record(3, true, false, || false).is_none());
        assert_eq!(w.counts(4).failures, 0);
    }

    #[test]
    fn slow_calls_are_counted_apart_from_failures() {
        let w = CountWindow::new(3);
        w.record(1, false, true, || true);
        w.record(1, true, true, || true);
        let c = w.record(1, false, false, || true).unwrap();
        assert_eq!((c.calls, c.failures, c.slow), (3, 1, 2));
        let c = w.record(1, false, false, || true).unwrap();
        assert_eq!((c.calls, c.failures, c.slow), (3, 1, 1));
    }
}
