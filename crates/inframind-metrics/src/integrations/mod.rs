//! Scrape-time collectors over the other Infra Mind crates' statistics.
//!
//! Nothing is added to those crates' hot paths: their counters are plain atomics, read when
//! `/metrics` is scraped. Each integration is a prometheus-client collector, so it also appears
//! in a registry filled by [`Metrics::register_into`](crate::Metrics::register_into).
//!
//! Sources are combined the same way everywhere: sources reporting under one name (two cache
//! handles observed as `"api"`, two loader registries each with a loader `"User_id"`, two
//! breaker registries each with a breaker `"openai"`) are summed, and a source observed twice
//! (the same handle or registry, see their `ptr_eq`) counts once. Counters, entries, bytes and
//! the number of breakers in each state are sums (histograms bucket by bucket); ratios are recomputed from the sums
//! (`loader_efficiency_ratio`) or are the highest of the sources (`circuit_breaker_failure_ratio`,
//! `circuit_breaker_consecutive_failures`).
//!
//! | feature | call | families |
//! |---|---|---|
//! | `cache` | [`Metrics::observe_cache`](crate::Metrics::observe_cache) | `cache_hits_total`, `cache_misses_total`, `cache_entries`, `cache_memory_bytes` (the built-in cache families; the last two when the store can tell), `cache_operation_duration_seconds{cache, operation}` (histogram of store operations, `operation` is `get`, `put` or `invalidate`, in the cache's own buckets, `OperationLatency::BOUNDS_SECONDS`), plus `cache_stale_hits_total`, `cache_coalesced_waits_total`, `cache_bypasses_total`, `cache_store_errors_total`, `cache_stored_bytes_total`, `cache_compression_saved_bytes_total`, all `{cache}` |
//! | `loader` | [`Metrics::observe_loaders`](crate::Metrics::observe_loaders) | `loader_batches_total`, `loader_items_loaded_total`, `loader_queries_total`, `loader_queries_saved_total`, `loader_loads_total`, `loader_cache_hits_total`, `loader_errors_total`, `loader_efficiency_ratio`, `loader_batch_size` (histogram), all `{loader}` |
//! | `breaker` | [`Metrics::observe_breakers`](crate::Metrics::observe_breakers) | `circuit_breaker_state{breaker, state}` (1 for the current state, 0 for the others), `circuit_breaker_calls_total{breaker, outcome}` (`success`, `failure`, `rejected`), `circuit_breaker_slow_calls_total`, `circuit_breaker_consecutive_failures`, `circuit_breaker_failure_ratio` (when the breaker has a rate window) |

use crate::families::CacheFeed;
use crate::names::Registrar;
use std::sync::Arc;

#[cfg(feature = "breaker")]
pub(crate) mod breaker;
#[cfg(feature = "cache")]
pub(crate) mod cache;
#[cfg(feature = "loader")]
pub(crate) mod loader;

#[cfg(any(feature = "loader", feature = "breaker", feature = "cache"))]
mod encode {
    // Each integration uses a subset of these helpers.
    #![allow(dead_code)]

    use prometheus_client::encoding::{EncodeLabelSet, MetricEncoder, NoLabelSet};

    pub(crate) fn counter(
        me: &mut MetricEncoder<'_>,
        labels: &impl EncodeLabelSet,
        v: u64,
    ) -> std::fmt::Result {
        me.encode_family(labels)?
            .encode_counter::<NoLabelSet, u64, u64>(&v, None)
    }

    pub(crate) fn gauge(
        me: &mut MetricEncoder<'_>,
        labels: &impl EncodeLabelSet,
        v: f64,
    ) -> std::fmt::Result {
        me.encode_family(labels)?.encode_gauge(&v)
    }

    pub(crate) fn gauge_i64(
        me: &mut MetricEncoder<'_>,
        labels: &impl EncodeLabelSet,
        v: i64,
    ) -> std::fmt::Result {
        me.encode_family(labels)?.encode_gauge(&v)
    }
}
#[cfg(any(feature = "loader", feature = "breaker", feature = "cache"))]
pub(crate) use encode::*;

/// The sources observed by one [`Metrics`](crate::Metrics), one list per enabled integration.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    #[cfg(feature = "cache")]
    pub(crate) caches: Arc<cache::CacheSources>,
    #[cfg(feature = "loader")]
    pub(crate) loaders: Arc<loader::LoaderCollector>,
    #[cfg(feature = "breaker")]
    pub(crate) breakers: Arc<breaker::BreakerCollector>,
}

impl Observed {
    /// What the cache families copy in at every scrape (`None` without the `cache` feature).
    #[allow(clippy::unused_self)] // without the `cache` feature
    pub(crate) fn cache_feed(&self) -> Option<Arc<dyn CacheFeed>> {
        #[cfg(feature = "cache")]
        {
            Some(Arc::clone(&self.caches) as Arc<dyn CacheFeed>)
        }
        #[cfg(not(feature = "cache"))]
        {
            None
        }
    }

    /// Registers the loader and breaker collectors.
    // Without the `loader` and `breaker` features there is nothing to register.
    #[allow(
        unused_variables,
        clippy::unused_self,
        clippy::needless_pass_by_ref_mut
    )]
    pub(crate) fn register(&self, r: &mut Registrar<'_>) {
        #[cfg(feature = "loader")]
        r.collector(
            loader::FAMILIES,
            Box::new(Shared(Arc::clone(&self.loaders))),
        );
        #[cfg(feature = "breaker")]
        r.collector(
            breaker::FAMILIES,
            Box::new(Shared(Arc::clone(&self.breakers))),
        );
    }
}

/// A collector shared by several registries.
#[derive(Debug)]
#[allow(dead_code)]
struct Shared<C>(Arc<C>);

impl<C: prometheus_client::collector::Collector> prometheus_client::collector::Collector
    for Shared<C>
{
    fn encode(
        &self,
        encoder: prometheus_client::encoding::DescriptorEncoder<'_>,
    ) -> std::fmt::Result {
        self.0.encode(encoder)
    }
}
