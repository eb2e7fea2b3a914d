//! The time window: the calls of the last 16 time slices, striped per thread.
//!
//! Each thread writes to its own ring of 16 bucket slots, so two threads calling through one
//! breaker never write to the same cache line on the success path; readers sum the rings. A
//! slot is tagged with the generation of the closed phase that wrote it and the bucket's epoch
//! (`milliseconds since the breaker's origin / bucket length`); a writer that finds a stale tag
//! claims the slot with a compare-and-swap and restarts it with its own call. Readers count
//! only slots tagged with the current generation and one of the last 16 epochs, so old calls
//! age out and a new closed phase starts empty without anyone clearing memory.

use crossbeam_utils::CachePadded;

use super::Counts;
use crate::state::{GEN_BITS, GEN_MASK};
use crate::stripes::thread_index;
use crate::sync::{AtomicU64, Ordering, fence};

const EPOCH_BITS: u32 = 64 - GEN_BITS;
const EPOCH_MASK: u64 = (1 << EPOCH_BITS) - 1;
/// A slot being restarted by the writer that claimed it.
const BUSY: u64 = u64::MAX;
/// A slot never written.
const EMPTY: u64 = u64::MAX - 1;
/// Bounded wait for a slot another writer is restarting (a few stores); past it, the window
/// skips this one call (the call totals still count it).
const BUSY_SPINS: u32 = 128;
/// Buckets per window (fewer for windows shorter than 16 ms).
const BUCKETS: u64 = 16;

#[inline]
const fn pack_tag(generation: u64, epoch: u64) -> u64 {
    ((generation & GEN_MASK) << EPOCH_BITS) | (epoch & EPOCH_MASK)
}

#[inline]
const fn tag_gen(tag: u64) -> u64 {
    tag >> EPOCH_BITS
}

#[inline]
const fn tag_epoch(tag: u64) -> u64 {
    tag & EPOCH_MASK
}

#[derive(Debug)]
struct Slot {
    tag: AtomicU64,
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
}

impl Slot {
    fn new() -> Self {
        Self {
            tag: AtomicU64::new(EMPTY),
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            slow: AtomicU64::new(0),
        }
    }

    /// Adds one call to this slot under `tag`; false if it could not (stale epoch, or the
    /// slot stayed busy). `is_current` says whether `tag`'s generation is still the breaker's.
    #[inline]
    fn add(&self, tag: u64, failure: bool, slow: bool, is_current: impl Fn() -> bool) -> bool {
        let mut spins = 0;
        loop {
            let current = self.tag.load(Ordering::Acquire);
            if current == tag {
                self.calls.fetch_add(1, Ordering::Relaxed);
                if failure {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                }
                if slow {
                    self.slow.fetch_add(1, Ordering::Relaxed);
                }
                return true;
            }
            if current == BUSY {
                spins += 1;
                if spins > BUSY_SPINS {
                    return false;
                }
                std::hint::spin_loop();
                continue;
            }
            if current != EMPTY {
                if tag_gen(current) == tag_gen(tag) {
                    if tag_epoch(current) > tag_epoch(tag) {
                        // The slot already moved on to a newer epoch: too old for it.
                        return false;
                    }
                } else if !is_current() {
                    // The breaker left this call's generation; it must not claim the slot.
                    return false;
                }
            }
            if self
                .tag
                .compare_exchange(current, BUSY, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                self.calls.store(1, Ordering::Relaxed);
                self.failures.store(u64::from(failure), Ordering::Relaxed);
                self.slow.store(u64::from(slow), Ordering::Relaxed);
                self.tag.store(tag, Ordering::Release);
                return true;
            }
        }
    }

    /// The slot's counts if its tag satisfies `accept`.
    #[inline]
    fn read(&self, accept: impl Fn(u64) -> bool) -> Option<Counts> {
        let before = self.tag.load(Ordering::Acquire);
        if before == BUSY || before == EMPTY || !accept(before) {
            return None;
        }
        let counts = Counts {
            calls: self.calls.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            slow_calls: 0,
            slow: self.slow.load(Ordering::Relaxed),
        };
        fence(Ordering::Acquire);
        (self.tag.load(Ordering::Relaxed) == before).then_some(counts)
    }
}

#[derive(Debug)]
pub(crate) struct TimeWindow {
    buckets: u64,
    bucket_ms: u64,
    /// `stripes` rings of `buckets` slots each.
    slots: Box<[CachePadded<Slot>]>,
    stripe_mask: usize,
    /// The generation and epoch of the last evaluation that found the minimum reached and no
    /// threshold crossed. Until the epoch changes, calls only join the window (none leave),
    /// so a success that is not slow cannot raise a rate: it skips the evaluation.
    checked: CachePadded<AtomicU64>,
}

impl TimeWindow {
    /// A window of `window_ms` milliseconds, with one ring per stripe (a power of two).
    pub(crate) fn new(window_ms: u64, stripes: usize) -> Self {
        let ms = window_ms.max(1);
        let buckets = ms.min(BUCKETS);
        let slots = (0..stripes * buckets as usize)
            .map(|_| CachePadded::new(Slot::new()))
            .collect();
        Self {
            buckets,
            bucket_ms: ms.div_ceil(buckets),
            slots,
            stripe_mask: stripes - 1,
            checked: CachePadded::new(AtomicU64::new(EMPTY)),
        }
    }

    #[inline]
    fn epoch(&self, now_ms: u64) -> u64 {
        now_ms / self.bucket_ms
    }

    /// Records one call of closed generation `generation` at `now_ms`.
    #[inline]
    pub(crate) fn record(
        &self,
        generation: u64,
        now_ms: u64,
        failure: bool,
        slow: bool,
        is_current: impl Fn() -> bool,
    ) {
        let epoch = self.epoch(now_ms);
        let stripe = thread_index() & self.stripe_mask;
        let slot = &self.slots[stripe * self.buckets as usize + (epoch % self.buckets) as usize];
        slot.add(pack_tag(generation, epoch), failure, slow, is_current);
    }

    /// Whether a call that is neither a failure nor slow must evaluate the rates.
    #[inline]
    pub(crate) fn needs_check(&self, generation: u64, now_ms: u64) -> bool {
        self.checked.load(Ordering::Relaxed) != pack_tag(generation, self.epoch(now_ms))
    }

    /// Notes that an evaluation at `now_ms` found the minimum reached and no threshold crossed.
    pub(crate) fn mark_checked(&self, generation: u64, now_ms: u64) {
        self.checked
            .store(pack_tag(generation, self.epoch(now_ms)), Ordering::Relaxed);
    }

    /// The window's counts for closed generation `generation` at `now_ms`.
    pub(crate) fn counts(&self, generation: u64, now_ms: u64) -> Counts {
        let current = self.epoch(now_ms);
        let oldest = current.saturating_sub(self.buckets - 1);
        let accept =
            |tag: u64| tag_gen(tag) == generation && (oldest..=current).contains(&tag_epoch(tag));
        let mut sum = Counts::default();
        for slot in self.slots.iter() {
            if let Some(c) = slot.read(accept) {
                sum.calls += c.calls;
                sum.failures += c.failures;
                sum.slow += c.slow;
            }
        }
        sum.slow_calls = sum.calls;
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_calls_age_out_a_slice_at_a_time() {
        let w = TimeWindow::new(16_000, 4);
        w.record(1, 0, true, true, || true);
        w.record(1, 15_999, false, false, || true);
        let c = w.counts(1, 15_999);
        assert_eq!((c.calls, c.failures, c.slow), (2, 1, 1));
        let c = w.counts(1, 16_000);
        assert_eq!((c.calls, c.failures), (1, 0));
        // A slot reused after a full turn restarts.
        w.record(1, 32_000, true, false, || true);
        let c = w.counts(1, 32_000);
        assert_eq!((c.calls, c.failures), (1, 1));
        // Another generation sees nothing.
        assert_eq!(w.counts(2, 32_000), Counts::default());
    }

    #[test]
    fn a_check_holds_until_the_slice_changes() {
        let w = TimeWindow::new(1_600, 4);
        assert!(w.needs_check(1, 0));
        w.mark_checked(1, 0);
        assert!(!w.needs_check(1, 99));
        assert!(w.needs_check(1, 100));
        assert!(w.needs_check(2, 99));
    }
}
