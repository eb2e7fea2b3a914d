//! The loader's shared state, its batches, and the collector task that dispatches them.

use std::collections::HashMap;
use std::hash::Hash;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use parking_lot::Mutex;
use tokio::sync::{Notify, Semaphore};

use super::batch::{BatchFn, Loaded};
use super::error::LoadError;
use crate::stats::{LocalCounts, LocalStats, StatsCell};

/// One key's answer.
pub(crate) type Answer<V, E> = Result<Option<V>, LoadError<E>>;

/// How many rounds the collector waits, at most, while every round brings new keys (a full
/// batch goes at once, so this only bounds the wait of a batch that keeps growing slowly).
const MAX_YIELD_ROUNDS: u32 = 128;

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) max_batch_size: usize,
    pub(crate) concurrency: usize,
    pub(crate) window: Option<Duration>,
    pub(crate) cache: bool,
    pub(crate) cache_limit: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_batch_size: 1000,
            concurrency: 8,
            window: None,
            cache: true,
            cache_limit: 100_000,
        }
    }
}

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

    fn is_error(&self, idx: usize) -> bool {
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
}

impl<V, E> Batch<V, E> {
    /// Releases a dropped waiter's waker early.
    pub(crate) fn forget(&self, slot: usize) {
        if let Some(stored) = self.wakers.lock().get_mut(slot) {
            *stored = None;
        }
    }
}

impl<V: Clone, E> Batch<V, E> {
    fn new() -> Self {
        Self {
            outcome: OnceLock::new(),
            wakers: Mutex::new(Wakers::default()),
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

    fn finish(&self, outcome: Outcome<V, E>) {
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

/// A cached key: primed, or a batch (in flight or done) holding the key's answer at an index.
pub(crate) enum Entry<V, E> {
    Ready(Option<V>),
    Batch(Arc<Batch<V, E>>, usize),
}

/// The open job and the sealed ones, as the collector takes them.
type Queued<K, V, E> = (Option<Job<K, V, E>>, Vec<Job<K, V, E>>);

/// Keys that go to the batch function together, and the batch their waiters wait on.
pub(crate) struct Job<K, V, E> {
    keys: Vec<K>,
    batch: Arc<Batch<V, E>>,
}

pub(crate) struct State<K, V, E> {
    pub(crate) cache: HashMap<K, Entry<V, E>>,
    /// The batch still taking keys.
    open: Option<Job<K, V, E>>,
    /// Full batches waiting for the collector.
    sealed: Vec<Job<K, V, E>>,
    /// Whether a collector task is scheduled.
    collector: bool,
    /// Bumped for every queued key, so the collector can tell when keys stop arriving.
    generation: u64,
    /// The cache size that triggers the next sweep of finished entries (see `make_room`).
    pub(crate) sweep_at: usize,
    /// Counts not yet added to the shared stats cell.
    pub(crate) unflushed: LocalCounts,
    pub(crate) stats: LocalStats,
}

pub(crate) struct Inner<K, V, B: BatchFn<K, V>> {
    pub(crate) batch_fn: B,
    pub(crate) config: Config,
    pub(crate) state: Mutex<State<K, V, B::Error>>,
    pub(crate) shared: Option<Arc<StatsCell>>,
    pub(crate) name: Arc<str>,
    full: Notify,
    limit: Semaphore,
}

impl<K, V, B: BatchFn<K, V>> Drop for Inner<K, V, B> {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            shared.record_local(self.state.get_mut().unflushed);
        }
    }
}

/// Where a queued key's answer will appear.
pub(crate) struct Ticket<V, E> {
    pub(crate) batch: Arc<Batch<V, E>>,
    pub(crate) idx: usize,
}

impl<K, V, B> Inner<K, V, B>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    B: BatchFn<K, V>,
{
    pub(crate) fn new(
        batch_fn: B,
        config: Config,
        name: Arc<str>,
        shared: Option<Arc<StatsCell>>,
    ) -> Self {
        Self {
            batch_fn,
            limit: Semaphore::new(config.concurrency),
            config,
            state: Mutex::new(State {
                cache: HashMap::new(),
                open: None,
                sealed: Vec::new(),
                collector: false,
                generation: 0,
                sweep_at: 0,
                unflushed: LocalCounts::default(),
                stats: LocalStats::new(&name),
            }),
            shared,
            name,
            full: Notify::new(),
        }
    }

    /// Makes room in the cache for one more finished entry by dropping finished entries when
    /// the cache is full; `false` when it stays full of keys in flight. Sweeps are amortised:
    /// after one leaves `n` entries in flight, the next waits until the cache holds `2n`.
    pub(crate) fn make_room(&self, state: &mut State<K, V, B::Error>) -> bool {
        let limit = self.config.cache_limit;
        if state.cache.len() >= limit.max(state.sweep_at) {
            state.cache.retain(|_, entry| match entry {
                Entry::Ready(_) => false,
                Entry::Batch(batch, _) => !batch.is_done(),
            });
            state.sweep_at = state.cache.len() * 2;
        }
        state.cache.len() < limit
    }

    /// Queues a key that is neither cached nor in flight. Returns the ticket and whether the
    /// caller must schedule a collector (after releasing the lock).
    pub(crate) fn enqueue(
        &self,
        state: &mut State<K, V, B::Error>,
        key: K,
    ) -> (Ticket<V, B::Error>, bool) {
        state.generation = state.generation.wrapping_add(1);
        let job = state.open.get_or_insert_with(|| Job {
            keys: Vec::new(),
            batch: Arc::new(Batch::new()),
        });
        let idx = job.keys.len();
        let batch = Arc::clone(&job.batch);
        // Keys in flight are always cached, past the limit if need be (they are bounded by the
        // waiters), so that a key never goes twice into one batch.
        self.make_room(state);
        state
            .cache
            .insert(key.clone(), Entry::Batch(Arc::clone(&batch), idx));
        // `make_room` borrowed the state; the open job is still there.
        if let Some(job) = state.open.as_mut() {
            job.keys.push(key);
            if job.keys.len() >= self.config.max_batch_size {
                if let Some(full) = state.open.take() {
                    state.sealed.push(full);
                }
                if self.config.window.is_some() {
                    self.full.notify_one();
                }
            }
        }
        let schedule = !state.collector;
        state.collector = true;
        (Ticket { batch, idx }, schedule)
    }

    /// Starts a collector for the queued keys.
    pub(crate) fn schedule(self: &Arc<Self>) {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(Arc::clone(self).collect());
            }
            Err(_) => {
                // Nothing can run the batch: answer its waiters now rather than never.
                self.abort_queued();
            }
        }
    }

    /// Answers every queued key with [`LoadError::Aborted`].
    fn abort_queued(&self) {
        let (open, sealed) = self.take_jobs();
        for job in sealed.into_iter().chain(open) {
            self.complete(&job, Outcome::All(LoadError::Aborted), 0);
        }
    }

    /// Takes every queued job: the open one and the sealed ones.
    fn take_jobs(&self) -> Queued<K, V, B::Error> {
        let mut state = self.state.lock();
        state.collector = false;
        (state.open.take(), std::mem::take(&mut state.sealed))
    }

    /// Waits until the tasks queueing keys have yielded (or the window has passed), then
    /// dispatches everything queued.
    async fn collect(self: Arc<Self>) {
        // If this task is dropped before it takes the queued keys, their waiters are answered.
        let mut pending = PendingGuard {
            inner: &self,
            armed: true,
        };
        match self.config.window {
            None => {
                let mut seen = self.state.lock().generation;
                for _ in 0..MAX_YIELD_ROUNDS {
                    YieldOnce(false).await;
                    let state = self.state.lock();
                    if state.generation == seen || !state.sealed.is_empty() {
                        break;
                    }
                    seen = state.generation;
                }
            }
            Some(window) => {
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
        }
        let (open, sealed) = self.take_jobs();
        let guard = |job| AbortGuard {
            inner: &*self,
            job,
            armed: true,
        };
        match (open, sealed.is_empty()) {
            (Some(job), true) => {
                let job = guard(job);
                pending.armed = false;
                self.run(job).await;
            }
            (open, _) => {
                let guards: Vec<_> = sealed.into_iter().chain(open).map(guard).collect();
                pending.armed = false;
                let mut running: FuturesUnordered<_> =
                    guards.into_iter().map(|guard| self.run(guard)).collect();
                while running.next().await.is_some() {}
            }
        }
    }

    /// Runs one batch under the concurrency limit, answering its waiters whatever happens.
    async fn run(&self, mut guard: AbortGuard<'_, K, V, B>) {
        let _permit = self.limit.acquire().await;
        let keys = &guard.job.keys;
        let result = match std::panic::catch_unwind(AssertUnwindSafe(|| self.batch_fn.load(keys))) {
            Ok(future) => AssertUnwindSafe(future).catch_unwind().await,
            Err(panic) => Err(panic),
        };
        guard.armed = false;
        let (outcome, queries) = match result {
            Ok(Ok(loaded)) => {
                let queries = loaded.queries;
                (answers(keys, loaded), queries)
            }
            Ok(Err(error)) => (Outcome::All(LoadError::Batch(Arc::new(error))), 1),
            Err(_panic) => (Outcome::All(LoadError::Panicked), 0),
        };
        self.complete(&guard.job, outcome, queries);
    }

    /// Records the batch, drops entries that must not stay cached, and wakes the waiters.
    fn complete(&self, job: &Job<K, V, B::Error>, outcome: Outcome<V, B::Error>, queries: u64) {
        let size = job.keys.len() as u64;
        let errors = match &outcome {
            Outcome::PerKey(answers) => answers.iter().filter(|a| a.is_err()).count() as u64,
            Outcome::All(_) => size,
        };
        let unflushed = {
            let mut state = self.state.lock();
            if !self.config.cache || errors > 0 {
                for (idx, key) in job.keys.iter().enumerate() {
                    if self.config.cache && !outcome.is_error(idx) {
                        continue;
                    }
                    // Only this batch's own entry: a key cleared or primed meanwhile stays so.
                    let ours = matches!(
                        state.cache.get(key),
                        Some(Entry::Batch(batch, _)) if Arc::ptr_eq(batch, &job.batch)
                    );
                    if ours {
                        state.cache.remove(key);
                    }
                }
            }
            state.stats.record_batch(size, queries, errors);
            std::mem::take(&mut state.unflushed)
        };
        if let Some(shared) = &self.shared {
            shared.record_batch(size, queries, errors);
            shared.record_local(unflushed);
        }
        job.batch.finish(outcome);
    }
}

fn answers<K: Eq + Hash, V, E>(keys: &[K], loaded: Loaded<K, V, E>) -> Outcome<V, E> {
    let mut entries = loaded.entries;
    Outcome::PerKey(
        keys.iter()
            .map(|key| match entries.remove(key) {
                Some(Ok(value)) => Ok(Some(value)),
                Some(Err(error)) => Err(LoadError::Key(error)),
                None => Ok(None),
            })
            .collect(),
    )
}

/// Lets every task already queued on this scheduler run once: the task wakes itself, which puts
/// it at the back of the run queue. Unlike `tokio::task::yield_now`, which defers the task until
/// the scheduler next polls the I/O driver, this costs no system call.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Answers a batch's waiters with [`LoadError::Aborted`] when its task is dropped mid-batch.
struct AbortGuard<'a, K, V, B>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    B: BatchFn<K, V>,
{
    inner: &'a Inner<K, V, B>,
    job: Job<K, V, B::Error>,
    armed: bool,
}

impl<K, V, B> Drop for AbortGuard<'_, K, V, B>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    B: BatchFn<K, V>,
{
    fn drop(&mut self) {
        if self.armed {
            self.inner
                .complete(&self.job, Outcome::All(LoadError::Aborted), 0);
        }
    }
}

/// Answers the queued keys' waiters with [`LoadError::Aborted`] when a collector is dropped
/// before it takes them.
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
