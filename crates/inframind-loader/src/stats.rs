//! Batching statistics: per loader, and aggregated by loader name across requests.
//!
//! A [`Loader`](crate::Loader) usually lives for one request, so a figure such as the spec's
//! `get_batching_stats()["User_id"]` has to add up many short-lived loaders. Each loader counts
//! into its own [`LoaderStats`] (read with [`Loader::stats`](crate::Loader::stats)) and, when it
//! was built with [`LoaderBuilder::stats`](crate::LoaderBuilder::stats), into the shared cell its
//! name has in a [`StatsRegistry`]. The shared cell is plain atomics, updated once per batch (not
//! per `load`); loads and cache hits stay in each loader's own counters, which the registry adds
//! up when it is read, so a snapshot shows current figures and the hot path writes nothing
//! shared.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parking_lot::{Mutex, RwLock};

/// Upper bounds (inclusive) of the batch-size histogram buckets; a last bucket counts larger
/// batches.
pub const BATCH_SIZE_BUCKETS: [u64; 11] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000];

/// A batch-size histogram: how many batches had how many keys.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchSizeHistogram {
    /// Inclusive upper bound of each bucket, ascending ([`BATCH_SIZE_BUCKETS`]).
    pub bounds: Vec<u64>,
    /// Batches per bucket, not cumulative; one longer than `bounds`, the last entry counting
    /// batches larger than the last bound.
    pub counts: Vec<u64>,
    /// The sum of all batch sizes (equal to `total_items_loaded`).
    pub sum: u64,
}

impl BatchSizeHistogram {
    fn empty() -> Self {
        Self {
            bounds: BATCH_SIZE_BUCKETS.to_vec(),
            counts: vec![0; BATCH_SIZE_BUCKETS.len() + 1],
            sum: 0,
        }
    }

    /// The number of batches recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Cumulative counts, `(le, count)`, as a Prometheus histogram exposes them; the last pair
    /// has `le = u64::MAX` standing for `+Inf`.
    pub fn cumulative(&self) -> Vec<(u64, u64)> {
        let mut total = 0;
        self.bounds
            .iter()
            .copied()
            .chain(std::iter::once(u64::MAX))
            .zip(&self.counts)
            .map(|(le, count)| {
                total += count;
                (le, total)
            })
            .collect()
    }
}

fn bucket_of(size: u64) -> usize {
    BATCH_SIZE_BUCKETS
        .iter()
        .position(|&bound| size <= bound)
        .unwrap_or(BATCH_SIZE_BUCKETS.len())
}

/// Batching figures for one loader, or for every loader sharing a name.
///
/// The field names follow the spec's `get_batching_stats()`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LoaderStats {
    /// The loader's name, for example `User_id`.
    pub name: String,
    /// Batches dispatched to the batch function (one per chunk of at most `max_batch_size`).
    pub total_batches: u64,
    /// Keys sent to the batch function, summed over batches (distinct within a batch).
    pub total_items_loaded: u64,
    /// Backend queries the batches made, as the batch function reported them (one per batch
    /// unless a source splits a batch further, as [`MongoSource`](crate::source) does past its
    /// `$in` limits).
    pub total_queries: u64,
    /// `total_items_loaded - total_queries`: the queries one-at-a-time loading would have added.
    pub queries_saved: u64,
    /// `total_items_loaded / total_queries` (0 when nothing was queried).
    pub efficiency_ratio: f64,
    /// Keys asked for through `load` and `load_many`, including cache hits.
    pub total_loads: u64,
    /// Of those, keys answered from the per-loader cache or joined to a batch already in flight.
    pub cache_hits: u64,
    /// Keys whose load ended in an error (the key's own, its batch's, or an aborted batch).
    pub errors: u64,
    /// Distribution of batch sizes.
    pub batch_sizes: BatchSizeHistogram,
}

impl LoaderStats {
    pub(crate) fn empty(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            total_batches: 0,
            total_items_loaded: 0,
            total_queries: 0,
            queries_saved: 0,
            efficiency_ratio: 0.0,
            total_loads: 0,
            cache_hits: 0,
            errors: 0,
            batch_sizes: BatchSizeHistogram::empty(),
        }
    }

    pub(crate) fn derive(&mut self) {
        self.queries_saved = self.total_items_loaded.saturating_sub(self.total_queries);
        self.efficiency_ratio = if self.total_queries == 0 {
            0.0
        } else {
            self.total_items_loaded as f64 / self.total_queries as f64
        };
    }
}

/// One loader's running count of loads and cache hits. The loader bumps it under the lock it
/// already holds (no other thread writes it); its registry cell reads it at scrape time.
#[derive(Debug, Default)]
pub(crate) struct LiveCounts {
    loads: AtomicU64,
    cache_hits: AtomicU64,
}

impl LiveCounts {
    pub(crate) fn add(&self, loads: u64, cache_hits: u64) {
        self.loads.fetch_add(loads, Relaxed);
        if cache_hits > 0 {
            self.cache_hits.fetch_add(cache_hits, Relaxed);
        }
    }

    pub(crate) fn loads(&self) -> u64 {
        self.loads.load(Relaxed)
    }

    pub(crate) fn cache_hits(&self) -> u64 {
        self.cache_hits.load(Relaxed)
    }
}

/// The live loaders of one name, by slot, so a snapshot can add up their running counts.
#[derive(Debug, Default)]
struct LiveSet {
    slots: Vec<Option<Arc<LiveCounts>>>,
    free: Vec<usize>,
}

/// The shared, atomic counters behind one loader name.
#[derive(Default)]
pub(crate) struct StatsCell {
    batches: AtomicU64,
    items: AtomicU64,
    queries: AtomicU64,
    /// Loads and cache hits of the loaders already dropped; live ones are in `live`.
    loads: AtomicU64,
    cache_hits: AtomicU64,
    errors: AtomicU64,
    buckets: [AtomicU64; BATCH_SIZE_BUCKETS.len() + 1],
    live: Mutex<LiveSet>,
}

impl fmt::Debug for StatsCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatsCell")
            .field("batches", &self.batches.load(Relaxed))
            .field("items", &self.items.load(Relaxed))
            .finish_non_exhaustive()
    }
}

impl StatsCell {
    pub(crate) fn record_batch(&self, size: u64, queries: u64, errors: u64) {
        self.batches.fetch_add(1, Relaxed);
        self.items.fetch_add(size, Relaxed);
        self.queries.fetch_add(queries, Relaxed);
        if errors > 0 {
            self.errors.fetch_add(errors, Relaxed);
        }
        self.buckets[bucket_of(size)].fetch_add(1, Relaxed);
    }

    /// Counts a new loader's loads live from now on; returns its slot.
    pub(crate) fn attach(&self, counts: Arc<LiveCounts>) -> usize {
        let mut live = self.live.lock();
        match live.free.pop() {
            Some(slot) => {
                live.slots[slot] = Some(counts);
                slot
            }
            None => {
                live.slots.push(Some(counts));
                live.slots.len() - 1
            }
        }
    }

    /// Folds a dropped loader's counts into the totals. Under the same lock as the snapshot's
    /// sum, so no snapshot counts them twice or not at all.
    pub(crate) fn detach(&self, slot: usize, counts: &LiveCounts) {
        let mut live = self.live.lock();
        self.loads.fetch_add(counts.loads(), Relaxed);
        self.cache_hits.fetch_add(counts.cache_hits(), Relaxed);
        if let Some(stored) = live.slots.get_mut(slot) {
            *stored = None;
            live.free.push(slot);
        }
    }

    fn snapshot(&self, name: &str) -> LoaderStats {
        let mut stats = LoaderStats::empty(name);
        stats.total_batches = self.batches.load(Relaxed);
        stats.total_items_loaded = self.items.load(Relaxed);
        stats.total_queries = self.queries.load(Relaxed);
        {
            let live = self.live.lock();
            let running = live.slots.iter().flatten();
            stats.total_loads =
                self.loads.load(Relaxed) + running.clone().map(|c| c.loads()).sum::<u64>();
            stats.cache_hits =
                self.cache_hits.load(Relaxed) + running.map(|c| c.cache_hits()).sum::<u64>();
        }
        stats.errors = self.errors.load(Relaxed);
        stats.batch_sizes.counts = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        stats.batch_sizes.sum = stats.total_items_loaded;
        stats.derive();
        stats
    }
}

/// Per-loader statistics kept under the loader's own lock.
#[derive(Debug)]
pub(crate) struct LocalStats {
    pub(crate) stats: LoaderStats,
}

impl LocalStats {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            stats: LoaderStats::empty(name),
        }
    }

    pub(crate) fn record_batch(&mut self, size: u64, queries: u64, errors: u64) {
        let s = &mut self.stats;
        s.total_batches += 1;
        s.total_items_loaded += size;
        s.total_queries += queries;
        s.errors += errors;
        s.batch_sizes.counts[bucket_of(size)] += 1;
        s.batch_sizes.sum += size;
    }
}

/// Loader statistics aggregated by loader name, shared by every loader that reports into it.
///
/// Create one per application, give it to each per-request loader with
/// [`LoaderBuilder::stats`](crate::LoaderBuilder::stats), and read it from an admin endpoint or
/// a metrics collector with [`snapshot`](Self::snapshot).
///
/// ```
/// use inframind_loader::{Loaded, Loader, StatsRegistry};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let registry = StatsRegistry::new();
/// for _request in 0..3 {
///     let loader = Loader::builder(|keys: Vec<u32>| async move {
///         Ok::<_, std::convert::Infallible>(keys.into_iter().map(|k| (k, k * 2)).collect::<Loaded<_, _, _>>())
///     })
///     .name("Double_n")
///     .stats(&registry)
///     .build();
///     let _ = loader.load_many([1, 2, 3]).await;
/// }
/// let stats = &registry.snapshot()[0];
/// assert_eq!(stats.name, "Double_n");
/// assert_eq!((stats.total_batches, stats.total_items_loaded), (3, 9));
/// assert_eq!(stats.queries_saved, 6);
/// assert_eq!(stats.efficiency_ratio, 3.0);
/// # }
/// ```
#[derive(Clone, Default)]
pub struct StatsRegistry {
    cells: Arc<RwLock<BTreeMap<String, Arc<StatsCell>>>>,
}

impl fmt::Debug for StatsRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatsRegistry")
            .field("names", &self.cells.read().keys().collect::<Vec<_>>())
            .finish()
    }
}

impl StatsRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The shared cell for `name`, created on first use.
    pub(crate) fn cell(&self, name: &str) -> Arc<StatsCell> {
        if let Some(cell) = self.cells.read().get(name) {
            return Arc::clone(cell);
        }
        Arc::clone(self.cells.write().entry(name.to_owned()).or_default())
    }

    /// Statistics for every name reported so far, sorted by name.
    pub fn snapshot(&self) -> Vec<LoaderStats> {
        self.cells
            .read()
            .iter()
            .map(|(name, cell)| cell.snapshot(name))
            .collect()
    }

    /// Statistics for one name, if any loader has reported under it.
    pub fn get(&self, name: &str) -> Option<LoaderStats> {
        self.cells.read().get(name).map(|cell| cell.snapshot(name))
    }
}

impl StatsRegistry {
    /// Whether both are handles to the same statistics registry.
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.cells, &other.cells)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_inclusive_and_overflow_goes_last() {
        assert_eq!(bucket_of(1), 0);
        assert_eq!(bucket_of(2), 1);
        assert_eq!(bucket_of(3), 2);
        assert_eq!(bucket_of(100), 6);
        assert_eq!(bucket_of(5000), 10);
        assert_eq!(bucket_of(5001), 11);
    }

    #[test]
    fn registry_aggregates_by_name_and_derives_ratios() {
        let registry = StatsRegistry::new();
        let a = registry.cell("User_id");
        let b = registry.cell("User_id");
        a.record_batch(100, 1, 0);
        b.record_batch(50, 1, 2);
        registry.cell("Report_id").record_batch(1, 1, 0);
        let snapshot = registry.snapshot();
        assert_eq!(snapshot.len(), 2);
        let user = registry.get("User_id").unwrap();
        assert_eq!(user.total_batches, 2);
        assert_eq!(user.total_items_loaded, 150);
        assert_eq!(user.total_queries, 2);
        assert_eq!(user.queries_saved, 148);
        assert!((user.efficiency_ratio - 75.0).abs() < f64::EPSILON);
        assert_eq!(user.errors, 2);
        assert_eq!(user.batch_sizes.count(), 2);
        assert_eq!(user.batch_sizes.sum, 150);
        let cumulative = user.batch_sizes.cumulative();
        assert_eq!(cumulative[5], (50, 1));
        assert_eq!(cumulative[6], (100, 2));
        assert_eq!(*cumulative.last().unwrap(), (u64::MAX, 2));
    }
}
