//! Per-thread counter stripes for the call totals.
//!
//! Every thread adds to its own cache-padded stripe, so two threads calling through one
//! breaker never write to the same cache line to count a success. Snapshots sum the stripes.

use std::cell::Cell;
use std::sync::atomic::AtomicUsize;

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, Ordering};

/// One thread's share of a breaker's totals.
#[derive(Debug)]
pub(crate) struct Stripe {
    pub(crate) successes: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) slow: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) ignored: AtomicU64,
}

/// Totals over all stripes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Totals {
    pub(crate) successes: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
    pub(crate) rejected: u64,
    pub(crate) ignored: u64,
}

/// The stripes of one breaker.
#[derive(Debug)]
pub(crate) struct Stripes {
    stripes: Box<[CachePadded<Stripe>]>,
    mask: usize,
}

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// A small per-thread number: consecutive threads get consecutive stripes.
#[inline]
pub(crate) fn thread_index() -> usize {
    THREAD_SLOT.with(|c| {
        let v = c.get();
        if v == usize::MAX {
            let n =
                NEXT_THREAD.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & (usize::MAX >> 1);
            c.set(n);
            n
        } else {
            v
        }
    })
}

/// How many stripes a breaker gets: twice the CPUs, a power of two from 4 to 64.
pub(crate) fn stripe_count() -> usize {
    let cpus = std::thread::available_parallelism().map_or(4, std::num::NonZero::get);
    (cpus * 2).next_power_of_two().clamp(4, 64)
}

impl Stripes {
    pub(crate) fn new(n: usize) -> Self {
        let stripes = (0..n)
            .map(|_| {
                CachePadded::new(Stripe {
                    successes: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                    slow: AtomicU64::new(0),
                    rejected: AtomicU64::new(0),
                    ignored: AtomicU64::new(0),
                })
            })
            .collect();
        Self {
            stripes,
            mask: n - 1,
        }
    }

    /// The calling thread's stripe.
    #[inline]
    pub(crate) fn local(&self) -> &Stripe {
        &self.stripes[thread_index() & self.mask]
    }

    pub(crate) fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for s in self.stripes.iter() {
            t.successes += s.successes.load(Ordering::Relaxed);
            t.failures += s.failures.load(Ordering::Relaxed);
            t.slow += s.slow.load(Ordering::Relaxed);
            t.rejected += s.rejected.load(Ordering::Relaxed);
            t.ignored += s.ignored.load(Ordering::Relaxed);
        }
        t
    }
}
