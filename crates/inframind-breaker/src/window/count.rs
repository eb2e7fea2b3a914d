//! The count window: exactly the outcomes of the last `n` recorded calls.
//!
//! A shared counter numbers the recorded calls of the current closed phase. Call `i` keeps its
//! outcome (two bits: failed, slow) in a ring of `n` rounded up to a power of two (so that a
//! position is a mask, not a division), and reads there the outcome of call `i - n`, which
//! leaves the window. A tally word holds the calls in the window and the failures among
//! them, and a second one the slow calls (when slow calls are timed), so reading the window
//! is one or two loads whatever `n` is. Each tally moves by compare-and-swap, so every value
//! it takes is the window after some order of the calls recorded so far, and the rates are
//! evaluated on the value the call's own update produced.
//!
//! A success in a full window of successes writes nothing at all (any order of such calls
//! leaves the same window, so it needs no number). Otherwise the ring is written only where
//! an outcome differs from the one already there, and a tally only when it changes. Sequentially the window is exact. A call that stalls between taking its number
//! and writing its ring entry while `n` later calls pass may make the call `n` after it
//! remove the wrong outcome; the tallies stay within `0..=n` and heal as calls go by.

use crossbeam_utils::CachePadded;

use super::Counts;
use crate::state::{GEN_BITS, GEN_MASK};
use crate::sync::{AtomicU64, Ordering};

/// The largest count window: the ring takes two bits per call (256 KiB at this size).
pub(crate) const MAX_CALLS: u32 = 1 << 20;

const SEQ_BITS: u32 = 64 - GEN_BITS;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;

const FAILED: u64 = 0b01;
const SLOW: u64 = 0b10;
const ENTRIES_PER_WORD: u64 = 32;

#[inline]
const fn seq_tag(generation: u64, seq: u64) -> u64 {
    ((generation & GEN_MASK) << SEQ_BITS) | (seq & SEQ_MASK)
}

// A tally word: | generation (21 bits) | calls (21) | marked calls (21) | 0 |.
const FIELD: u32 = 21;
const FIELD_MASK: u64 = (1 << FIELD) - 1;
const GEN_SHIFT: u32 = 2 * FIELD + 1;
const CALLS_SHIFT: u32 = FIELD + 1;
const MARKED_SHIFT: u32 = 1;

/// Calls in the window and how many of them carry one mark (failed, or slow).
#[derive(Debug)]
struct Tally(CachePadded<AtomicU64>);

impl Tally {
    fn new() -> Self {
        // Generation `GEN_MASK`: empty for every other generation.
        Self(CachePadded::new(AtomicU64::new(Self::pack(GEN_MASK, 0, 0))))
    }

    const fn pack(generation: u64, calls: u64, marked: u64) -> u64 {
        ((generation & GEN_MASK) << GEN_SHIFT)
            | ((calls & FIELD_MASK) << CALLS_SHIFT)
            | ((marked & FIELD_MASK) << MARKED_SHIFT)
    }

    /// `(calls, marked)` of `raw` if it belongs to `generation`.
    const fn read(raw: u64, generation: u64) -> (u64, u64) {
        if raw >> GEN_SHIFT == generation {
            (
                (raw >> CALLS_SHIFT) & FIELD_MASK,
                (raw >> MARKED_SHIFT) & FIELD_MASK,
            )
        } else {
            (0, 0)
        }
    }

    #[inline]
    fn get(&self, generation: u64) -> (u64, u64) {
        Self::read(self.0.load(Ordering::Acquire), generation)
    }

    /// Applies one call: `joins` if it adds to the window's calls (one of the first `size`),
    /// `marked` if it carries the mark, `left_marked` if the call it replaced did. Returns
    /// `(calls, marked)` after it, or `None` if the breaker left `generation`.
    #[inline]
    fn apply(
        &self,
        size: u64,
        generation: u64,
        joins: bool,
        marked: bool,
        left_marked: bool,
        is_current: impl Fn() -> bool,
    ) -> Option<(u64, u64)> {
        let mut raw = self.0.load(Ordering::Acquire);
        if !joins && marked == left_marked {
            return Some(Self::read(raw, generation));
        }
        loop {
            let (calls, count) = if raw >> GEN_SHIFT == generation {
                Self::read(raw, generation)
            } else if is_current() {
                // An earlier phase's tally: this phase starts from zero.
                (0, 0)
            } else {
                return None;
            };
            let calls = (calls + u64::from(joins)).min(size);
            let count = (count + u64::from(marked))
                .saturating_sub(u64::from(left_marked))
                .min(calls);
            match self.0.compare_exchange_weak(
                raw,
                Self::pack(generation, calls, count),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some((calls, count)),
                Err(actual) => raw = actual,
            }
        }
    }
}

#[derive(Debug)]
pub(crate) struct CountWindow {
    size: u64,
    /// Generation + calls recorded in that closed phase: numbers the calls.
    counter: CachePadded<AtomicU64>,
    failures: Tally,
    /// Updated only when slow calls are timed.
    slow: Option<Tally>,
    /// Two bits per ring position; `mask + 1` positions, a power of two `>= size`.
    ring: Box<[AtomicU64]>,
    mask: u64,
}

impl CountWindow {
    /// A window of the last `size` calls; `track_slow` when calls are timed.
    pub(crate) fn new(size: u32, track_slow: bool) -> Self {
        let size = u64::from(size.clamp(1, MAX_CALLS));
        let positions = size.next_power_of_two();
        let words = positions.div_ceil(ENTRIES_PER_WORD);
        Self {
            size,
            // Generation `GEN_MASK` with no calls: empty for every other generation.
            counter: CachePadded::new(AtomicU64::new(seq_tag(GEN_MASK, 0))),
            failures: Tally::new(),
            slow: track_slow.then(Tally::new),
            ring: (0..words).map(|_| AtomicU64::new(0)).collect(),
            mask: positions - 1,
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
        if !failure && !slow {
            if let Some(all_fine) = self.all_successes(generation) {
                // A full window of successes stays one whatever the order of its calls, so a
                // success need not take a number: it leaves the ring, the tallies and the
                // counter untouched (it is ordered before any concurrent failure).
                return Some(all_fine);
            }
        }
        let seq = next_seq(&self.counter, generation, &is_current)?;
        let bits = (u64::from(failure) * FAILED) | (u64::from(slow) * SLOW);
        // Below `size` calls nothing leaves (and the ring still holds an earlier phase's
        // entries). Read before writing: with a power-of-two size both are one position.
        let joins = seq < self.size;
        let left = if joins {
            0
        } else {
            self.entry((seq - self.size) & self.mask)
        };
        self.store_entry(seq & self.mask, bits);
        let (calls, failures) = self.failures.apply(
            self.size,
            generation,
            joins,
            failure,
            left & FAILED != 0,
            &is_current,
        )?;
        let (slow_calls, slow) = match &self.slow {
            Some(t) => t.apply(
                self.size,
                generation,
                joins,
                slow,
                left & SLOW != 0,
                &is_current,
            )?,
            None => (calls, 0),
        };
        Some(Counts {
            calls,
            failures,
            slow_calls,
            slow,
        })
    }

    /// The window if it is full and holds only fast successes.
    #[inline]
    fn all_successes(&self, generation: u64) -> Option<Counts> {
        let full = (self.size, 0);
        let fine = self.failures.get(generation) == full
            && self.slow.as_ref().is_none_or(|t| t.get(generation) == full);
        fine.then_some(Counts {
            calls: self.size,
            failures: 0,
            slow_calls: self.size,
            slow: 0,
        })
    }

    /// The window of closed generation `generation`.
    pub(crate) fn counts(&self, generation: u64) -> Counts {
        let (calls, failures) = self.failures.get(generation);
        let (slow_calls, slow) = self.slow.as_ref().map_or((calls, 0), |t| t.get(generation));
        Counts {
            calls,
            failures,
            slow_calls,
            slow,
        }
    }

    /// The bits at ring position `pos`.
    #[inline]
    fn entry(&self, pos: u64) -> u64 {
        let raw = self.ring[(pos / ENTRIES_PER_WORD) as usize].load(Ordering::Acquire);
        (raw >> ((pos % ENTRIES_PER_WORD) * 2)) & 0b11
    }

    /// Stores `bits` at ring position `pos` (no write when they are already there).
    #[inline]
    fn store_entry(&self, pos: u64, bits: u64) {
        let word = &self.ring[(pos / ENTRIES_PER_WORD) as usize];
        let shift = (pos % ENTRIES_PER_WORD) * 2;
        let mut raw = word.load(Ordering::Acquire);
        while (raw >> shift) & 0b11 != bits {
            let next = (raw & !(0b11 << shift)) | (bits << shift);
            match word.compare_exchange_weak(raw, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
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
            let w = CountWindow::new(n, true);
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
        let w = CountWindow::new(4, false);
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
        let w = CountWindow::new(3, true);
        w.record(1, false, true, || true);
        w.record(1, true, true, || true);
        let c = w.record(1, false, false, || true).unwrap();
        assert_eq!((c.calls, c.failures, c.slow), (3, 1, 2));
        let c = w.record(1, false, false, || true).unwrap();
        assert_eq!((c.calls, c.failures, c.slow), (3, 1, 1));
    }
}
