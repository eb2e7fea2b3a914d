//! When a round of queued keys goes out, and who runs it.
//!
//! Without a window, the first `Load` of a round to be polled leads it: it wakes its own task
//! and returns `Pending`, so the task finishes polling its other futures (which queue their
//! keys into the same round) and goes back to the scheduler's queue behind the tasks already
//! runnable there. When the task is polled again, the leader dispatches the round, unless keys
//! are still arriving (then it yields again, a bounded number of times), and drives the batches
//! itself, in its own task: no other task is spawned, and no timer waited for. A leader dropped
//! before it dispatched wakes the round's other waiters so that one of them takes over; one
//! dropped mid-batch hands the batches to a spawned task, so their other waiters still get
//! their answers.
//!
//! With a window, a collector task is spawned at the round's first key and dispatches after the
//! window, or at once when a batch is full.

use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::batch::BatchFn;
use super::core::{Inner, JobGuard, Round};
use super::outcome::Batch;

/// How many times a leader yields, at most, while every yield brings new keys (a full batch
/// goes at once, so this only bounds the wait of a round that keeps growing slowly).
const MAX_YIELD_ROUNDS: u32 = 128;

/// A dispatched round's batches, running. A mutex only to make the `Load` holding it `Sync`: it
/// is reached through `get_mut`, never locked.
pub(crate) type Driver = parking_lot::Mutex<Pin<Box<dyn Future<Output = ()> + Send>>>;

/// What a leader does next.
pub(crate) enum Step {
    /// Keys arrived since the generation it saw: yield again, having seen this one.
    Yield(u64),
    /// The round is dispatched: drive it.
    Drive(Driver),
}

/// The loader as its `Load` futures see it, without its key and batch function types.
pub(crate) trait Dispatch<V, E>: Send + Sync {
    /// Takes on dispatching the round `batch` is queued in, if it has no leader yet; returns
    /// the key generation seen.
    fn claim(&self, batch: &Batch<V, E>) -> Option<u64>;

    /// Dispatches the leader's round, or asks it to yield while keys keep arriving.
    fn advance(self: Arc<Self>, seen: u64, yields: u32) -> Step;

    /// A leader went away before dispatching: another waiter of the round takes over.
    fn abdicate(&self);
}

impl<K, V, B> Dispatch<V, B::Error> for Inner<K, V, B>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    B: BatchFn<K, V>,
{
    fn claim(&self, batch: &Batch<V, B::Error>) -> Option<u64> {
        if self.config.window.is_some() {
            return None;
        }
        let mut state = self.state.lock();
        if state.leader || batch.is_dispatched() {
            return None;
        }
        state.leader = true;
        Some(state.generation)
    }

    fn advance(self: Arc<Self>, seen: u64, yields: u32) -> Step {
        let round = {
            let mut state = self.state.lock();
            if state.generation != seen && state.sealed.is_empty() && yields < MAX_YIELD_ROUNDS {
                return Step::Yield(state.generation);
            }
            state.take_jobs()
        };
        Step::Drive(parking_lot::Mutex::new(Box::pin(run_round(&self, round))))
    }

    fn abdicate(&self) {
        let batches: Vec<_> = {
            let mut state = self.state.lock();
            state.leader = false;
            state
                .sealed
                .iter()
                .chain(&state.open)
                .map(|job| Arc::clone(&job.batch))
                .collect()
        };
        for batch in batches {
            batch.wake_waiters();
        }
    }
}

/// Lets a round finish without the `Load` that drove it: on a spawned task, or, outside any
/// runtime, by dropping it, which answers its waiters with `Aborted`.
pub(crate) fn hand_off(driver: Driver) {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(driver.into_inner());
    }
}

/// Runs a round's batches, concurrently when there are several; each is answered (`Aborted`
/// if need be) even if this future is dropped before its first poll.
fn run_round<K, V, B>(
    inner: &Arc<Inner<K, V, B>>,
    round: Round<K, V, B::Error>,
) -> impl Future<Output = ()> + Send + 'static
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    B: BatchFn<K, V>,
{
    let guard = |job| JobGuard {
        inner: Arc::clone(inner),
        job,
        armed: true,
    };
    let open = round.open.map(guard);
    let sealed: Vec<_> = round.sealed.into_iter().map(guard).collect();
    async move {
        match (open, sealed.is_empty()) {
            (Some(open), true) => open.run().await,
            (open, _) => {
                let mut running: FuturesUnordered<_> =
                    sealed.into_iter().chain(open).map(JobGuard::run).collect();
                while running.next().await.is_some() {}
            }
        }
    }
}

impl<K, V, B> Inner<K, V, B>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    B: BatchFn<K, V>,
{
    /// Starts the window collector for the queued keys.
    pub(crate) fn schedule_window(self: &Arc<Self>) {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(Arc::clone(self).collect_window());
            }
            Err(_) => {
                // Nothing can time the window: answer its waiters now rather than never.
                self.abort_queued();
            }
        }
    }

    /// Waits until the window has passed or a batch is full, then dispatches everything
    /// queued.
    async fn collect_window(self: Arc<Self>) {
        // If this task is dropped before it takes the queued keys, their waiters are answered.
        let mut pending = PendingGuard {
            inner: &self,
            armed: true,
        };
        if let Some(window) = self.config.window {
            let deadline = tokio::time::Instant::now() + window;
            while self.state.lock().sealed.is_empty() {
                if tokio::time::timeout_at(deadline, self.full.notified())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
        let round = self.state.lock().take_jobs();
        let running = run_round(&self, round);
        pending.armed = false;
        running.await;
    }
}

/// Answers the queued keys' waiters with `Aborted` when a window collector is dropped before it
/// takes them.
struct PendingGuard<'a, K, V, B>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    B: BatchFn<K, V>,
{
    inner: &'a Inner<K, V, B>,
    armed: bool,
}

impl<K, V, B> Drop for PendingGuard<'_, K, V, B>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    B: BatchFn<K, V>,
{
    fn drop(&mut self) {
        if self.armed {
            self.inner.abort_queued();
        }
    }
}
