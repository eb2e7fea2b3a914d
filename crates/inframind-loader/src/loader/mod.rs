//! [`Loader`]: concurrent `load(key)` calls become one batch call.
//!
//! ```
//! use inframind_loader::{Loaded, Loader};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // Any `Fn(Vec<K>) -> impl Future<Output = Result<Loaded<K, V, E>, E>>` is a batch function.
//! let squares = Loader::new(|keys: Vec<u64>| async move {
//!     Ok::<_, std::io::Error>(keys.into_iter().filter(|k| *k < 100).map(|k| (k, k * k)).collect::<Loaded<_, _, _>>())
//! });
//! let (a, b, missing) = tokio::join!(squares.load(3), squares.load(4), squares.load(500));
//! assert_eq!(a.unwrap(), Some(9));
//! assert_eq!(b.unwrap(), Some(16));
//! assert_eq!(missing.unwrap(), None); // left out by the batch function: missing, not an error
//! assert_eq!(squares.stats().total_batches, 1); // three loads, one batch
//! # }
//! ```

mod batch;
mod core;
mod dispatch;
mod error;
mod future;
mod outcome;

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

pub use self::batch::{BatchFn, Loaded};
pub use self::error::LoadError;
pub use self::future::{Load, LoadMany};

use self::core::{Config, Entry, Found, Inner};
use self::dispatch::Dispatch;
use crate::stats::{LoaderStats, StatsRegistry};

/// A DataLoader: batches, de-duplicates and caches loads of `K` into `V` through a
/// [`BatchFn`].
///
/// A loader is meant to live for one request (its cache is that request's view of the data);
/// create one per request from a shared batch function and report into a shared
/// [`StatsRegistry`]. It is cheap to clone; clones share the cache and the queue.
///
/// # Scheduling
///
/// There is no fixed delay, and no collector task. The first `Load` of a round to be polled
/// leads it: it wakes its own task and returns `Pending`, so the task first polls its other
/// futures (which queue their keys into the same round) and goes once round its scheduler's
/// queue, behind the tasks already runnable there. When it is polled again, it dispatches the
/// round (or yields again, a bounded number of times, while keys are still arriving) and runs
/// the batches in its own task. So every key queued by one task before it is back from that
/// yield (a `join!`, `join_all`, `FuturesUnordered`, `load_many`, or async blocks each
/// loading) goes into one batch, on a current-thread or a multi-thread runtime alike, and a
/// lone `load` waits for no timer, no spawned task and no I/O poll.
///
/// Loads from *other* tasks join the round while it is queued. On a current-thread runtime,
/// tasks spawned in the same tick all do; on a multi-thread runtime, a task that runs on the
/// other worker after the round went out starts the next one, so loads spread over many
/// spawned tasks may split into a few batches (`docs/benchmarks.md` has the measured split
/// rate). Load from one task with `join!` or `join_all` where one batch matters.
///
/// If the leading `Load` is dropped before it dispatches, another waiter of the round takes
/// over; if it is dropped while its batches run, they finish on a spawned Tokio task (or, with
/// no runtime to spawn on, their waiters get [`LoadError::Aborted`]). Loads need no Tokio
/// runtime otherwise. Since the leading `Load` runs its round, a task that stops polling it
/// (without dropping it) holds up that round's waiters in other tasks; every combinator that
/// polls a woken future (`join!`, `select!`, `join_all`, `FuturesUnordered`) keeps it going.
///
/// [`LoaderBuilder::window`] adds an optional bounded window instead, for callers who prefer
/// bigger batches to lower latency: a Tokio task collects the keys for the window, or until a
/// batch reaches `max_batch_size`.
///
/// # Cache
///
/// Found and missing keys are cached for the loader's life; keys in flight are cached too, so
/// a second `load` of a key already queued waits for the same batch. Errors are not cached: a
/// later `load` asks again. [`prime`](Self::prime), [`clear`](Self::clear) and
/// [`clear_all`](Self::clear_all) keep the cache in step with writes. A batch in flight never
/// overwrites an entry cleared or primed after it started.
pub struct Loader<K, V, B: BatchFn<K, V>> {
    inner: Arc<Inner<K, V, B>>,
}

impl<K, V, B: BatchFn<K, V>> Clone for Loader<K, V, B> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K, V, B: BatchFn<K, V>> fmt::Debug for Loader<K, V, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loader")
            .field("name", &&*self.inner.name)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl<K, V, B> Loader<K, V, B>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    B: BatchFn<K, V>,
{
    /// A loader with the default settings: no delay, batches of at most 1000 keys, 8 batches
    /// in flight at most, a cache of at most 100 000 entries, and the name `loader`.
    pub fn new(batch_fn: B) -> Self {
        Self::builder(batch_fn).build()
    }

    /// A builder for a named loader with other settings.
    pub fn builder(batch_fn: B) -> LoaderBuilder<K, V, B> {
        LoaderBuilder {
            batch_fn,
            name: None,
            registry: None,
            config: Config::default(),
            _types: std::marker::PhantomData,
        }
    }

    /// Loads one key: `Ok(Some(value))`, `Ok(None)` when it is missing, or its error.
    ///
    /// # Errors
    ///
    /// The future ends in a [`LoadError`] when the batch function reported an error for this
    /// key or for its whole batch, panicked, or never ran.
    pub fn load(&self, key: K) -> Load<V, B::Error> {
        let mut state = self.inner.state.lock();
        let (ticket, schedule) = match state.lookup(&key) {
            Some(found) => {
                drop(state);
                self.inner.counts.add(1, 1);
                return self.answer(found);
            }
            None => self.inner.enqueue(&mut state, key),
        };
        drop(state);
        self.inner.counts.add(1, 0);
        if schedule {
            self.inner.schedule_window();
        }
        Load::waiting(ticket, self.dispatcher())
    }

    /// Loads many keys at once; the answers come back in the order of `keys`.
    ///
    /// Duplicates are asked for once. All keys are queued before any batch is dispatched.
    pub fn load_many(&self, keys: impl IntoIterator<Item = K>) -> LoadMany<V, B::Error> {
        let mut loads = Vec::new();
        let mut schedule = false;
        let mut hits = 0;
        {
            let mut state = self.inner.state.lock();
            for key in keys {
                if let Some(found) = state.lookup(&key) {
                    hits += 1;
                    loads.push(self.answer(found));
                    continue;
                }
                let (ticket, first) = self.inner.enqueue(&mut state, key);
                schedule |= first;
                loads.push(Load::waiting(ticket, self.dispatcher()));
            }
        }
        self.inner.counts.add(loads.len() as u64, hits);
        if schedule {
            self.inner.schedule_window();
        }
        LoadMany::new(loads)
    }

    fn answer(&self, found: Found<V, B::Error>) -> Load<V, B::Error> {
        match found {
            Found::Ready(value) => Load::ready(Ok(value)),
            Found::Waiting(ticket) => Load::waiting(ticket, self.dispatcher()),
        }
    }

    fn dispatcher(&self) -> Arc<dyn Dispatch<V, B::Error>> {
        Arc::clone(&self.inner) as Arc<dyn Dispatch<V, B::Error>>
    }

    /// Caches `value` for `key`, replacing whatever was cached or in flight for it, so later
    /// loads of `key` answer from the cache. Loads already waiting keep their batch's answer.
    pub fn prime(&self, key: K, value: V) {
        let mut state = self.inner.state.lock();
        self.inner.prime(&mut state, key, value);
    }

    /// [`prime`](Self::prime)s every pair.
    pub fn prime_many(&self, pairs: impl IntoIterator<Item = (K, V)>) {
        let mut state = self.inner.state.lock();
        for (key, value) in pairs {
            self.inner.prime(&mut state, key, value);
        }
    }

    /// Caches `key` as missing, so later loads of it answer `Ok(None)` without asking the
    /// batch function (as for an id known to have no document).
    pub fn prime_missing(&self, key: K) {
        let mut state = self.inner.state.lock();
        state.forget(&key);
        if self.inner.make_room(&mut state) {
            state.cache.insert(key, Entry::Ready(None));
        }
    }

    /// Forgets `key`, so the next load asks the batch function again (after a write, say).
    ///
    /// A key still queued for a batch that has not gone out stays in that batch: a `load` of
    /// it after the `clear` waits for the same batch, whose answer is read after the `clear`.
    pub fn clear(&self, key: &K) {
        let mut state = self.inner.state.lock();
        state.forget(key);
    }

    /// Forgets every key (keys queued for a batch that has not gone out stay in it, as with
    /// [`clear`](Self::clear)).
    pub fn clear_all(&self) {
        let mut state = self.inner.state.lock();
        state.forget_all();
    }

    /// This loader's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The batch function.
    pub fn batch_fn(&self) -> &B {
        &self.inner.batch_fn
    }

    /// This loader's own statistics (the registry, if any, adds up every loader of the name).
    pub fn stats(&self) -> LoaderStats {
        let mut stats = self.inner.state.lock().stats.stats.clone();
        stats.total_loads = self.inner.counts.loads();
        stats.cache_hits = self.inner.counts.cache_hits();
        stats.derive();
        stats
    }
}

/// Settings for a [`Loader`]; from [`Loader::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct LoaderBuilder<K, V, B> {
    batch_fn: B,
    name: Option<String>,
    registry: Option<StatsRegistry>,
    config: Config,
    _types: std::marker::PhantomData<fn(K) -> V>,
}

impl<K, V, B> fmt::Debug for LoaderBuilder<K, V, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoaderBuilder")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<K, V, B> LoaderBuilder<K, V, B>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    B: BatchFn<K, V>,
{
    /// The loader's name in statistics, such as `User_id` (default `loader`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Also count into `registry` under this loader's name, adding up every loader so named.
    pub fn stats(mut self, registry: &StatsRegistry) -> Self {
        self.registry = Some(registry.clone());
        self
    }

    /// The most keys one batch function call gets (default 1000; 0 is taken as 1). Larger
    /// sets are split into several batches, run concurrently up to
    /// [`concurrency`](Self::concurrency).
    pub fn max_batch_size(mut self, n: usize) -> Self {
        self.config.max_batch_size = n.max(1);
        self
    }

    /// The most batches of this loader in flight at once (default 8; 0 is taken as 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.config.concurrency = n.max(1);
        self
    }

    /// Waits up to `window` for more keys before dispatching a batch (default: no window,
    /// dispatch as soon as the queueing tasks have yielded). A full batch goes at once.
    pub fn window(mut self, window: Duration) -> Self {
        self.config.window = Some(window);
        self
    }

    /// Whether found and missing keys stay cached after their batch (default `true`). Without
    /// the cache, keys in flight are still shared.
    pub fn cache(mut self, enabled: bool) -> Self {
        self.config.cache = enabled;
        self
    }

    /// The most cache entries (default 100 000). When full, finished entries are dropped to
    /// make room; keys in flight are always kept.
    pub fn cache_limit(mut self, entries: usize) -> Self {
        self.config.cache_limit = entries.max(1);
        self
    }

    /// Builds the loader.
    pub fn build(self) -> Loader<K, V, B> {
        let name: Arc<str> = self.name.as_deref().unwrap_or("loader").into();
        let shared = self.registry.map(|registry| registry.cell(&name));
        Loader {
            inner: Arc::new(Inner::new(self.batch_fn, self.config, name, shared)),
        }
    }
}
