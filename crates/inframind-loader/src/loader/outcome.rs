//! Where a batch's answers land: the outcome, set once, and the wakers of its waiters.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;

use super::error::LoadError;

/// One key's answer.
pub(crate) type Answer<V, E> = Result<Option<V>, LoadError<E>>;

/// The outcome of one dispatched batch.
pub(crate) enum Outcome<V, E> {
    /// One answer per key, in the batch's key order.
    PerKey(Vec<Answer<V, E>>),
    /// The same error for every key.
    All(LoadError<E>),
}

impl<V: Clone, E> Outcome<V, E> {
    fn answer(&self, idx: usize) -> Answer<V, E> {
        match self {
            Self::PerKey(answers) => answers.get(idx).cloned().unwrap_or(Err(LoadError::Aborted)),
            Self::All(e) => Err(e.clone()),
        }
    }

    pub(crate) fn is_error(&self, idx: usize) -> bool {
        match self {
            Self::PerKey(answers) => answers.get(idx).is_none_or(Result::is_err),
            Self::All(_) => true,
        }
    }
}

/// A batch's completion: set once, then every waiter reads its own answer by index.
pub(crate) struct Batch<V, E> {
    outcome: OnceLock<Outcome<V, E>>,
    wakers: Mutex<Wakers>,
    /// Set (under the loader's lock) when the batch's keys are taken for dispatch.
    dispatched: AtomicBool,
}

impl<V, E> Batch<V, E> {
    /// Whether the batch's keys have been taken for dispatch (it may still be running).
    pub(crate) fn is_dispatched(&self) -> bool {
        self.dispatched.load(Relaxed)
    }

    pub(crate) fn mark_dispatched(&self) {
        self.dispatched.store(true, Relaxed);
    }

    /// Wakes every waiter without answering it, so one of them can lead the batch's round.
    pub(crate) fn wake_waiters(&self) {
        let wakers = self.wakers.lock();
        for waker in wakers.first.iter().chain(wakers.rest.iter().flatten()) {
            waker.wake_by_ref();
        }
    }

    /// Releases a dropped waiter's waker early.
    pub(crate) fn forget(&self, slot: usize) {
        if let Some(stored) = self.wakers.lock().get_mut(slot) {
            *stored = None;
        }
    }
}

impl<V: Clone, E> Batch<V, E> {
    pub(crate) fn new() -> Self {
        Self {
            outcome: OnceLock::new(),
            wakers: Mutex::new(Wakers::default()),
            dispatched: AtomicBool::new(false),
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.outcome.get().is_some()
    }

    pub(crate) fn try_answer(&self, idx: usize) -> Option<Answer<V, E>> {
        self.outcome.get().map(|o| o.answer(idx))
    }

    pub(crate) fn poll_answer(
        &self,
        idx: usize,
        slot: &mut Option<usize>,
        cx: &Context<'_>,
    ) -> Poll<Answer<V, E>> {
        if let Some(outcome) = self.outcome.get() {
            return Poll::Ready(outcome.answer(idx));
        }
        let mut wakers = self.wakers.lock();
        // `finish` sets the outcome before it takes the wakers, so re-checking under the lock
        // cannot miss a wake-up.
        if let Some(outcome) = self.outcome.get() {
            drop(wakers);
            return Poll::Ready(outcome.answer(idx));
        }
        match slot.and_then(|i| wakers.get_mut(i)) {
            Some(Some(waker)) if waker.will_wake(cx.waker()) => {}
            Some(stored) => *stored = Some(cx.waker().clone()),
            None => *slot = Some(wakers.push(cx.waker().clone())),
        }
        Poll::Pending
    }

    pub(crate) fn finish(&self, outcome: Outcome<V, E>) {
        let _ = self.outcome.set(outcome);
        let wakers = std::mem::take(&mut *self.wakers.lock());
        if let Some(first) = wakers.first {
            first.wake();
        }
        for waker in wakers.rest.into_iter().flatten() {
            waker.wake();
        }
    }
}

/// The wakers of a batch's waiters; the first one inline, as most batches of a lone load have
/// one waiter.
#[derive(Default)]
struct Wakers {
    first: Option<Waker>,
    used_first: bool,
    rest: Vec<Option<Waker>>,
}

impl Wakers {
    fn get_mut(&mut self, slot: usize) -> Option<&mut Option<Waker>> {
        match slot {
            0 if self.used_first => Some(&mut self.first),
            0 => None,
            n => self.rest.get_mut(n - 1),
        }
    }

    /// Stores a waker, returning its slot.
    fn push(&mut self, waker: Waker) -> usize {
        if self.used_first {
            self.rest.push(Some(waker));
            self.rest.len()
        } else {
            self.used_first = true;
            self.first = Some(waker);
            0
        }
    }
}
