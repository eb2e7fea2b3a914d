//! Cache families from `inframind_cache::CacheHandle`s.

use super::counter;
use crate::families::{CACHE_OPERATION_DURATION, CacheFeed, CacheMetrics, HistogramFamily};
use crate::labels::{CacheLabels, CacheOperationLabels};
use inframind_cache::{CacheHandle, OperationLatency};
use parking_lot::Mutex;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// The observed caches, copied into the cache families at every scrape.
#[derive(Debug, Default)]
pub(crate) struct CacheSources {
    handles: Mutex<Vec<(String, CacheHandle)>>,
}

/// Counters of one cache name, summed over its handles.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Totals {
    served: u64,
    misses: u64,
    stale_hits: u64,
    coalesced_waits: u64,
    bypasses: u64,
    store_errors: u64,
    bytes_stored: u64,
    bytes_saved: u64,
    entries: Option<u64>,
    memory_bytes: Option<u64>,
    /// `get`, `put` and `invalidate`, as `OPERATIONS` names them.
    latency: [Latency; 3],
}

/// The `operation` label values of `cache_operation_duration_seconds`, in the order of
/// [`Totals::latency`].
const OPERATIONS: [&str; 3] = ["get", "put", "invalidate"];

/// One operation's latency histogram, summed over handles, in the cache's own buckets
/// (`OperationLatency::BOUNDS_SECONDS`, then `+Inf`); the counts are not cumulative.
#[derive(Debug, Default, Clone, Copy)]
struct Latency {
    buckets: [u64; 13],
    sum_seconds: f64,
}

impl Latency {
    fn add(&mut self, l: &OperationLatency) {
        for (total, n) in self.buckets.iter_mut().zip(l.bucket_counts) {
            *total += n;
        }
        self.sum_seconds += l.sum_seconds;
    }

    /// The count is the buckets' sum rather than `OperationLatency::count`: the cache loads
    /// them one by one while operations land, and `_count` must equal the `+Inf` bucket.
    fn encode(&self, me: &mut prometheus_client::encoding::MetricEncoder<'_>) -> std::fmt::Result {
        let bounds = OperationLatency::BOUNDS_SECONDS
            .into_iter()
            .chain([f64::INFINITY]);
        let buckets: Vec<(f64, u64)> = bounds.zip(self.buckets).collect();
        let count = self.buckets.iter().sum();
        me.encode_histogram::<NoLabelSet>(self.sum_seconds, count, &buckets, None)
    }
}

impl CacheSources {
    /// Observes `handle` under `name`, unless that handle is observed under that name already.
    pub(crate) fn add(&self, name: String, handle: CacheHandle) {
        let mut handles = self.handles.lock();
        if !handles.iter().any(|(n, h)| *n == name && h.ptr_eq(&handle)) {
            handles.push((name, handle));
        }
    }

    fn totals(&self) -> BTreeMap<String, Totals> {
        let mut out: BTreeMap<String, Totals> = BTreeMap::new();
        for (name, handle) in self.handles.lock().iter() {
            let s = handle.stats();
            let t = out.entry(name.clone()).or_default();
            t.served += s.hits + s.stale_hits + s.coalesced_waits;
            t.misses += s.misses;
            t.stale_hits += s.stale_hits;
            t.coalesced_waits += s.coalesced_waits;
            t.bypasses += s.bypasses;
            t.store_errors += s.store_errors;
            t.bytes_stored += s.bytes_stored;
            t.bytes_saved += s.bytes_saved_by_compression;
            t.entries = add_known(t.entries, s.entries);
            t.memory_bytes = add_known(t.memory_bytes, s.memory_bytes);
            for (total, l) in
                t.latency
                    .iter_mut()
                    .zip([&s.get_latency, &s.put_latency, &s.invalidate_latency])
            {
                total.add(l);
            }
        }
        out
    }
}

impl CacheFeed for CacheSources {
    /// Copies the counters into the built-in cache families (`cache_hits_total` counts every request
    /// answered without calling the handler: fresh and stale hits and coalesced waits, as
    /// `CacheStats::hit_rate` does).
    fn refresh(&self, cache: &CacheMetrics) {
        for (name, t) in self.totals() {
            let labels = CacheLabels::new(name);
            cache
                .hits
                .get_or_create(&labels)
                .inner()
                .store(t.served, Ordering::Relaxed);
            cache
                .misses
                .get_or_create(&labels)
                .inner()
                .store(t.misses, Ordering::Relaxed);
            if let Some(e) = t.entries {
                cache
                    .entries
                    .get_or_create(&labels)
                    .set(i64::try_from(e).unwrap_or(i64::MAX));
            }
            if let Some(bytes) = t.memory_bytes {
                cache
                    .memory_bytes
                    .get_or_create(&labels)
                    .set(i64::try_from(bytes).unwrap_or(i64::MAX));
            }
        }
    }

    fn families(&self) -> &'static [(&'static str, MetricType)] {
        &[
            ("cache_stale_hits", MetricType::Counter),
            ("cache_coalesced_waits", MetricType::Counter),
            ("cache_bypasses", MetricType::Counter),
            ("cache_store_errors", MetricType::Counter),
            ("cache_stored_bytes", MetricType::Counter),
            ("cache_compression_saved_bytes", MetricType::Counter),
        ]
    }

    /// The observed latency histograms in `cache_operation_duration_seconds`, and the cache
    /// counters the built-in cache families do not cover.
    fn encode_more(
        &self,
        encoder: &mut DescriptorEncoder<'_>,
        operation_duration: &HistogramFamily<CacheOperationLabels>,
    ) -> std::fmt::Result {
        let totals = self.totals();
        let mut me = encoder.encode_descriptor(
            CACHE_OPERATION_DURATION.0,
            CACHE_OPERATION_DURATION.1,
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (cache, t) in &totals {
            for (operation, latency) in OPERATIONS.iter().zip(&t.latency) {
                let labels = CacheOperationLabels::new(cache.as_str(), *operation);
                // An observed name's handles are its figures, as for the counters: a series
                // recorded by hand under it would be a second series with the same labels.
                operation_duration.remove(&labels);
                latency.encode(&mut me.encode_family(&labels)?)?;
            }
        }
        operation_duration.encode(me)?;
        type Field = fn(&Totals) -> u64;
        let families: [(&str, &str, Option<Unit>, Field); 6] = [
            (
                "cache_stale_hits",
                "Requests answered from an expired entry",
                None,
                |t| t.stale_hits,
            ),
            (
                "cache_coalesced_waits",
                "Requests that reused a concurrent miss's response",
                None,
                |t| t.coalesced_waits,
            ),
            (
                "cache_bypasses",
                "Requests the cache did not handle",
                None,
                |t| t.bypasses,
            ),
            (
                "cache_store_errors",
                "Store operations that failed or timed out",
                None,
                |t| t.store_errors,
            ),
            (
                "cache_stored",
                "Bytes written to the store",
                Some(Unit::Bytes),
                |t| t.bytes_stored,
            ),
            (
                "cache_compression_saved",
                "Bytes compression kept out of the store",
                Some(Unit::Bytes),
                |t| t.bytes_saved,
            ),
        ];
        for (name, help, unit, field) in &families {
            let mut me =
                encoder.encode_descriptor(name, help, unit.as_ref(), MetricType::Counter)?;
            for (cache, t) in &totals {
                counter(&mut me, &[("cache", cache.as_str())], field(t))?;
            }
        }
        Ok(())
    }
}

/// Adds two figures where either may be unknown (a store that cannot tell).
fn add_known(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}
