//! Striped counters and the bucketed sliding window.
//!
//! Every thread writes to its own cache-padded stripe, so two threads calling through one
//! breaker never write to the same cache line on the success path. Readers (trip evaluation,
//! snapshots) sum the stripes.
//!
//! The window is a ring of buckets per stripe. A bucket slot is tagged with the generation of
//! the closed state that wrote it and the bucket's epoch (time slice or call-count slice); a
//! writer that finds a stale tag claims the slot with a compare-and-swap and restarts it with
//! its own call. Readers count only slots whose tag belongs to the current generation and to
//! one of the last `buckets` epochs, so old calls age out and a new closed phase starts empty
//! without anyone clearing memory.

use std::cell::Cell;
use std::sync::atomic::AtomicUsize;

use crossbeam_utils::CachePadded;

use crate::config::SlidingWindow;
use crate::state::{GEN_BITS, GEN_MASK};
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

#[inline]
pub(crate) const fn pack_tag(generation: u64, epoch: u64) -> u64 {
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

/// Counts of one window bucket or of a whole window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
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
            slow: self.slow.load(Ordering::Relaxed),
        };
        fence(Ordering::Acquire);
        (self.tag.load(Ordering::Relaxed) == before).then_some(counts)
    }
}

/// One thread's share of a breaker's counters.
#[derive(Debug)]
pub(crate) struct Stripe {
    pub(crate) successes: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) slow: AtomicU64,
    pub(crate) rejected: AtomicU64,
    slots: Box<[CachePadded<Slot>]>,
}

/// Totals over all stripes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Totals {
    pub(crate) successes: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
    pub(crate) rejected: u64,
}

/// The stripes of one breaker, plus the window's layout.
#[derive(Debug)]
pub(crate) struct Stripes {
    stripes: Box<[CachePadded<Stripe>]>,
    mask: usize,
    window: Option<WindowLayout>,
}

#[derive(Debug)]
pub(crate) struct WindowLayout {
    buckets: u64,
    kind: WindowKind,
}

#[derive(Debug)]
enum WindowKind {
    /// `cap` calls per bucket; `counter` = generation tag + calls so far in that generation.
    Count {
        cap: u64,
        counter: CachePadded<AtomicU64>,
    },
    /// `bucket_ms` milliseconds per bucket.
    Time { bucket_ms: u64 },
}

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// A small per-thread number: consecutive threads get consecutive stripes.
#[inline]
fn thread_index() -> usize {
    THREAD_SLOT.with(|c| {
        let v = c.get();
        if v == usize::MAX {
            let n = NEXT_THREAD.fetch_add(1, Ordering::Relaxed) & (usize::MAX >> 1);
            c.set(n);
            n
        } else {
            v
        }
    })
}

impl WindowLayout {
    fn new(window: SlidingWindow) -> Self {
        match window {
            SlidingWindow::Count(n) => {
                let n = u64::from(n.max(1));
                // Prefer a bucket count that divides the window, so it holds exactly `n` calls
                // once full; fall back to 16 buckets of ceil(n/16).
                let buckets = (8..=16)
                    .rev()
                    .find(|b| n % b == 0)
                    .unwrap_or_else(|| n.min(16));
                let buckets = buckets.min(n);
                let cap = n.div_ceil(buckets);
                Self {
                    buckets,
                    kind: WindowKind::Count {
                        cap,
                        // Generation `GEN_MASK` with no calls: reads as empty for any other
                        // generation and as a fresh start for that one.
                        counter: CachePadded::new(AtomicU64::new(pack_tag(GEN_MASK, 0))),
                    },
                }
            }
            SlidingWindow::Time(d) => {
                let ms = crate::clock::ceil_millis(d).max(1);
                let buckets = ms.min(16);
                Self {
                    buckets,
                    kind: WindowKind::Time {
                        bucket_ms: ms.div_ceil(buckets),
                    },
                }
            }
        }
    }
}

impl Stripes {
    pub(crate) fn new(window: Option<SlidingWindow>) -> Self {
        let cpus = std::thread::available_parallelism().map_or(4, std::num::NonZero::get);
        let n = (cpus * 2).next_power_of_two().clamp(4, 64);
        let window = window.map(WindowLayout::new);
        let slots_per_stripe = window.as_ref().map_or(0, |w| w.buckets as usize);
        let stripes = (0..n)
            .map(|_| {
                CachePadded::new(Stripe {
                    successes: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                    slow: AtomicU64::new(0),
                    rejected: AtomicU64::new(0),
                    slots: (0..slots_per_stripe)
                        .map(|_| CachePadded::new(Slot::new()))
                        .collect(),
                })
            })
            .collect();
        Self {
            stripes,
            mask: n - 1,
            window,
        }
    }

    /// The calling thread's stripe.
    #[inline]
    pub(crate) fn local(&self) -> &Stripe {
        &self.stripes[thread_index() & self.mask]
    }

    pub(crate) fn has_window(&self) -> bool {
        self.window.is_some()
    }

    pub(crate) fn is_time_window(&self) -> bool {
        matches!(
            self.window,
            Some(WindowLayout {
                kind: WindowKind::Time { .. },
                ..
            })
        )
    }

    pub(crate) fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for s in self.stripes.iter() {
            t.successes += s.successes.load(Ordering::Relaxed);
            t.failures += s.failures.load(Ordering::Relaxed);
            t.slow += s.slow.load(Ordering::Relaxed);
            t.rejected += s.rejected.load(Ordering::Relaxed);
        }
        t
    }

    /// Records one call of closed generation `generation` in the window. `now_ms` is needed
    /// for time windows only.
    /// `is_current` says whether `generation` is still the breaker's.
    #[inline]
    pub(crate) fn record_window(
        &self,
        stripe: &Stripe,
        generation: u64,
        now_ms: u64,
        failure: bool,
        slow: bool,
        is_current: impl Fn() -> bool,
    ) {
        let Some(w) = &self.window else { return };
        let epoch = match &w.kind {
            WindowKind::Time { bucket_ms } => now_ms / bucket_ms,
            WindowKind::Count { cap, counter } => {
                let Some(index) = next_call_index(counter, generation, &is_current) else {
                    return;
                };
                if !failure && !slow {
                    // A count window knows its calls from the counter: successes stop here.
                    return;
                }
                index / cap
            }
        };
        let slot = &stripe.slots[(epoch % w.buckets) as usize];
        slot.add(pack_tag(generation, epoch), failure, slow, is_current);
    }

    /// The window's counts for closed generation `generation`.
    pub(crate) fn window_counts(&self, generation: u64, now_ms: u64) -> Counts {
        let Some(w) = &self.window else {
            return Counts::default();
        };
        let (current, calls_from_counter) = match &w.kind {
            WindowKind::Time { bucket_ms } => (now_ms / bucket_ms, None),
            WindowKind::Count { cap, counter } => {
                let c = counter.load(Ordering::Acquire);
                let issued = tag_epoch(c);
                if tag_gen(c) != generation || issued == 0 {
                    return Counts::default();
                }
                let current = (issued - 1) / cap;
                let oldest = current.saturating_sub(w.buckets - 1);
                (current, Some(issued - oldest * cap))
            }
        };
        let oldest = current.saturating_sub(w.buckets - 1);
        let accept =
            |tag: u64| tag_gen(tag) == generation && (oldest..=current).contains(&tag_epoch(tag));
        let mut sum = Counts::default();
        for s in self.stripes.iter() {
            for slot in s.slots.iter() {
                if let Some(c) = slot.read(accept) {
                    sum.calls += c.calls;
                    sum.failures += c.failures;
                    sum.slow += c.slow;
                }
            }
        }
        if let Some(calls) = calls_from_counter {
            sum.calls = calls;
            // Outcomes may land a moment after their index was issued; never exceed the calls.
            sum.failures = sum.failures.min(calls);
            sum.slow = sum.slow.min(calls);
        }
        sum
    }
}

/// Takes the next call index of generation `generation` from a count window's counter
/// (one `fetch_add` unless the counter still belongs to an earlier closed phase).
#[inline]
fn next_call_index(
    counter: &AtomicU64,
    generation: u64,
    is_current: impl Fn() -> bool,
) -> Option<u64> {
    let previous = counter.fetch_add(1, Ordering::AcqRel);
    if tag_gen(previous) == generation {
        return Some(tag_epoch(previous));
    }
    // The increment above landed on an earlier phase's counter and is void; restart it.
    let mut current = counter.load(Ordering::Acquire);
    loop {
        if tag_gen(current) == generation {
            let previous = counter.fetch_add(1, Ordering::AcqRel);
            if tag_gen(previous) == generation {
                return Some(tag_epoch(previous));
            }
            current = counter.load(Ordering::Acquire);
            continue;
        }
        if !is_current() {
            return None;
        }
        match counter.compare_exchange(
            current,
            pack_tag(generation, 1),
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

    #[test]
    fn count_layout_divides_the_window() {
        let l = WindowLayout::new(SlidingWindow::Count(100));
        assert_eq!(l.buckets, 10);
        let l = WindowLayout::new(SlidingWindow::Count(5));
        assert_eq!(l.buckets, 5);
        let l = WindowLayout::new(SlidingWindow::Count(1));
        assert_eq!(l.buckets, 1);
    }

    #[test]
    fn count_window_holds_the_last_n_calls() {
        let s = Stripes::new(Some(SlidingWindow::Count(10)));
        let local = s.local();
        for _ in 0..10 {
            s.record_window(local, 3, 0, true, false, || true);
        }
        assert_eq!(s.window_counts(3, 0).failures, 10);
        for _ in 0..10 {
            s.record_window(local, 3, 0, false, false, || true);
        }
        let c = s.window_counts(3, 0);
        assert_eq!((c.calls, c.failures), (10, 0));
        // Another generation sees nothing, and starts from zero.
        assert_eq!(s.window_counts(4, 0), Counts::default());
        s.record_window(local, 4, 0, true, false, || true);
        s.record_window(local, 4, 0, false, false, || true);
        let c = s.window_counts(4, 0);
        assert_eq!((c.calls, c.failures), (2, 1));
        // A result of a generation the breaker already left is dropped.
        s.record_window(local, 3, 0, true, false, || false);
        assert_eq!(s.window_counts(4, 0).failures, 1);
    }

    #[test]
    fn time_window_ages_out() {
        let s = Stripes::new(Some(SlidingWindow::Time(std::time::Duration::from_secs(
            16,
        ))));
        let local = s.local();
        s.record_window(local, 1, 0, true, true, || true);
        s.record_window(local, 1, 15_999, false, false, || true);
        let c = s.window_counts(1, 15_999);
        assert_eq!((c.calls, c.failures, c.slow), (2, 1, 1));
        let c = s.window_counts(1, 16_000);
        assert_eq!((c.calls, c.failures), (1, 0));
        // A slot reused after a full turn restarts.
        s.record_window(local, 1, 32_000, true, false, || true);
        let c = s.window_counts(1, 32_000);
        assert_eq!((c.calls, c.failures), (1, 1));
    }
}
