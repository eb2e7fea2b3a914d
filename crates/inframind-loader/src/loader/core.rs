//! The loader's shared state: the cache, the keys queued for the next round, and what a batch
//! does when it runs and completes.

use std::collections::HashMap;
use std::hash::Hash;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use parking_lot::Mutex;
use tokio::sync::{Notify, Semaphore};

use super::batch::{BatchFn, Loaded};
use super::error::LoadError;
use super::outcome::{Batch, Outcome};
use crate::stats::{LiveCounts, LocalStats, StatsCell};

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

/// A cached key: primed, or a batch (queued, in flight or done) holding the key's answer at an
/// index.
pub(crate) enum Entry<V, E> {
    Ready(Option<V>),
    Batch(Arc<Batch<V, E>>, usize),
}

/// What a `load` finds before it queues anything: a value, or a batch to wait on.
pub(crate) enum Found<V, E> {
    Ready(Option<V>),
    Waiting(Ticket<V, E>),
}

/// The jobs of one dispatched round: full ones, and the last one still open (kept apart so that
/// the usual round, one open job, takes no allocation).
pub(crate) struct Round<K, V, E> {
    pub(crate) sealed: Vec<Job<K, V, E>>,
    pub(crate) open: Option<Job<K, V, E>>,
}

/// Keys that go to the batch function together, and the batch their waiters wait on.
pub(crate) struct Job<K, V, E> {
    pub(crate) keys: Vec<K>,
    pub(crate) batch: Arc<Batch<V, E>>,
}

pub(crate) struct State<K, V, E> {
    pub(crate) cache: HashMap<K, Entry<V, E>>,
    /// The batch still taking keys.
    pub(crate) open: Option<Job<K, V, E>>,
    /// Full batches of the same round, waiting for it to be dispatched.
    pub(crate) sealed: Vec<Job<K, V, E>>,
    /// Keys of the queued round whose cache entry was cleared or primed over: a new `load` of
    /// one rejoins its place in the round, so a batch never gets a key twice.
    pub(crate) detached: HashMap<K, (Arc<Batch<V, E>>, usize)>,
    /// Whether a `Load` of the queued round has taken on dispatching it.
    pub(crate) leader: bool,
    /// Whether a window collector task is scheduled (with [`Config::window`] only).
    pub(crate) collector: bool,
    /// Bumped for every queued key, so a round's leader can tell when keys stop arriving.
    pub(crate) generation: u64,
    /// The cache size that triggers the next sweep of finished entries (see `make_room`).
    pub(crate) sweep_at: usize,
    pub(crate) stats: LocalStats,
}

impl<K: Eq + Hash + Clone, V: Clone, E> State<K, V, E> {
    /// The cached answer or batch for `key`, if any.
    pub(crate) fn lookup(&mut self, key: &K) -> Option<Found<V, E>> {
        let found = match self.cache.get(key) {
            Some(Entry::Ready(value)) => Found::Ready(value.clone()),
            Some(Entry::Batch(batch, idx)) => Found::Waiting(Ticket {
                batch: Arc::clone(batch),
                idx: *idx,
            }),
            None => {
                // A key cleared while its round is still queued goes back to its place.
                if self.detached.is_empty() {
                    return None;
                }
                let (batch, idx) = self.detached.remove(key)?;
                self.cache
                    .insert(key.clone(), Entry::Batch(Arc::clone(&batch), idx));
                Found::Waiting(Ticket { batch, idx })
            }
        };
        Some(found)
    }

    /// Removes `key`'s cache entry; a key whose round is still queued stays findable, so that
    /// loading it again does not queue it twice.
    pub(crate) fn forget(&mut self, key: &K) {
        if let Some((key, entry)) = self.cache.remove_entry(key) {
            detach(self, key, entry);
        }
    }

    /// Forgets every key.
    pub(crate) fn forget_all(&mut self) {
        let cache = std::mem::take(&mut self.cache);
        if self.open.is_some() || !self.sealed.is_empty() {
            for (key, entry) in cache {
                detach(self, key, entry);
            }
        }
        self.sweep_at = 0;
    }

    /// Takes every queued job, ending the round: the sealed ones, and the open one.
    pub(crate) fn take_jobs(&mut self) -> Round<K, V, E> {
        self.collector = false;
        self.leader = false;
        self.detached.clear();
        let round = Round {
            sealed: std::mem::take(&mut self.sealed),
            open: self.open.take(),
        };
        for job in round.sealed.iter().chain(&round.open) {
            job.batch.mark_dispatched();
        }
        round
    }
}

pub(crate) struct Inner<K, V, B: BatchFn<K, V>> {
    pub(crate) batch_fn: B,
    pub(crate) config: Config,
    pub(crate) state: Mutex<State<K, V, B::Error>>,
    /// The registry's cell for this loader's name, and this loader's slot in it.
    pub(crate) shared: Option<(Arc<StatsCell>, usize)>,
    /// Loads and cache hits, which the registry reads live.
    pub(crate) counts: Arc<LiveCounts>,
    pub(crate) name: Arc<str>,
    pub(crate) full: Notify,
    pub(crate) limit: Semaphore,
}

impl<K, V, B: BatchFn<K, V>> Drop for Inner<K, V, B> {
    fn drop(&mut self) {
        if let Some((shared, slot)) = &self.shared {
            shared.detach(*slot, &self.counts);
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
        let counts = Arc::new(LiveCounts::default());
        let shared = shared.map(|cell| {
            let slot = cell.attach(Arc::clone(&counts));
            (cell, slot)
        });
        Self {
            batch_fn,
            limit: Semaphore::new(config.concurrency),
            config,
            state: Mutex::new(State {
                cache: HashMap::new(),
                open: None,
                sealed: Vec::new(),
                detached: HashMap::new(),
                leader: false,
                collector: false,
                generation: 0,
                sweep_at: 0,
                stats: LocalStats::new(&name),
            }),
            shared,
            counts,
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

    /// Caches `value` for `key`, replacing whatever was cached or queued for it.
    pub(crate) fn prime(&self, state: &mut State<K, V, B::Error>, key: K, value: V) {
        state.forget(&key);
        if self.make_room(state) {
            state.cache.insert(key, Entry::Ready(Some(value)));
        }
    }

    /// Queues a key that is neither cached nor in flight. Returns the ticket and whether the
    /// caller must schedule a window collector (after releasing the lock).
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
        let schedule = self.config.window.is_some() && !state.collector;
        state.collector |= schedule;
        (Ticket { batch, idx }, schedule)
    }

    /// Answers every queued key with [`LoadError::Aborted`].
    pub(crate) fn abort_queued(&self) {
        let round = self.state.lock().take_jobs();
        for job in round.sealed.into_iter().chain(round.open) {
            self.complete(&job, Outcome::All(LoadError::Aborted), 0);
        }
    }

    /// Records the batch, drops entries that must not stay cached, and wakes the waiters.
    pub(crate) fn complete(
        &self,
        job: &Job<K, V, B::Error>,
        outcome: Outcome<V, B::Error>,
        queries: u64,
    ) {
        let size = job.keys.len() as u64;
        let errors = match &outcome {
            Outcome::PerKey(answers) => answers.iter().filter(|a| a.is_err()).count() as u64,
            Outcome::All(_) => size,
        };
        {
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
        }
        if let Some((shared, _)) = &self.shared {
            shared.record_batch(size, queries, errors);
        }
        job.batch.finish(outcome);
    }
}

/// Keeps a removed entry of a still-queued round findable in `detached`.
fn detach<K: Eq + Hash, V, E>(state: &mut State<K, V, E>, key: K, entry: Entry<V, E>) {
    if let Entry::Batch(batch, idx) = entry {
        if !batch.is_dispatched() {
            state.detached.insert(key, (batch, idx));
        }
    }
}

/// A dispatched job: runs it, or answers its waiters with [`LoadError::Aborted`] if dropped
/// before it finishes (its task was dropped, or its runtime shut down).
pub(crate) struct JobGuard<K, V, B>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    B: BatchFn<K, V>,
{
    pub(crate) inner: Arc<Inner<K, V, B>>,
    pub(crate) job: Job<K, V, B::Error>,
    pub(crate) armed: bool,
}

impl<K, V, B> JobGuard<K, V, B>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    B: BatchFn<K, V>,
{
    /// Runs the batch under the concurrency limit, answering its waiters whatever happens.
    pub(crate) async fn run(mut self) {
        let inner = &*self.inner;
        let _permit = inner.limit.acquire().await;
        let keys = &self.job.keys;
        let result = match std::panic::catch_unwind(AssertUnwindSafe(|| inner.batch_fn.load(keys)))
        {
            Ok(future) => AssertUnwindSafe(future).catch_unwind().await,
            Err(panic) => Err(panic),
        };
        self.armed = false;
        let (outcome, queries) = match result {
            Ok(Ok(loaded)) => {
                let queries = loaded.queries;
                (answers(keys, loaded), queries)
            }
            Ok(Err(error)) => (Outcome::All(LoadError::Batch(Arc::new(error))), 1),
            Err(_panic) => (Outcome::All(LoadError::Panicked), 0),
        };
        inner.complete(&self.job, outcome, queries);
    }
}

impl<K, V, B> Drop for JobGuard<K, V, B>
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
