//! `loader_*` families from `inframind_loader::StatsRegistry`s.

use super::{counter, gauge};
use inframind_loader::{LoaderStats, StatsRegistry};
use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use std::collections::BTreeMap;

/// The families this collector writes.
pub(crate) const FAMILIES: &[(&str, MetricType)] = &[
    ("loader_batches", MetricType::Counter),
    ("loader_items_loaded", MetricType::Counter),
    ("loader_queries", MetricType::Counter),
    ("loader_queries_saved", MetricType::Counter),
    ("loader_loads", MetricType::Counter),
    ("loader_cache_hits", MetricType::Counter),
    ("loader_errors", MetricType::Counter),
    ("loader_efficiency_ratio", MetricType::Gauge),
    ("loader_batch_size", MetricType::Histogram),
];

#[derive(Debug, Default)]
pub(crate) struct LoaderCollector {
    registries: Mutex<Vec<StatsRegistry>>,
}

impl LoaderCollector {
    /// Observes `stats`, unless that registry is observed already.
    pub(crate) fn add(&self, stats: StatsRegistry) {
        let mut registries = self.registries.lock();
        if !registries.iter().any(|r| r.ptr_eq(&stats)) {
            registries.push(stats);
        }
    }

    /// One entry per loader name, summed over the observed registries.
    fn merged(&self) -> Vec<LoaderStats> {
        let mut by_name: BTreeMap<String, LoaderStats> = BTreeMap::new();
        for r in self.registries.lock().iter() {
            for s in r.snapshot() {
                match by_name.get_mut(&s.name) {
                    None => {
                        by_name.insert(s.name.clone(), s);
                    }
                    Some(t) => add(t, &s),
                }
            }
        }
        by_name.into_values().collect()
    }
}

/// Adds `s` into `t` (two loaders with one name in two registries).
fn add(t: &mut LoaderStats, s: &LoaderStats) {
    t.total_batches += s.total_batches;
    t.total_items_loaded += s.total_items_loaded;
    t.total_queries += s.total_queries;
    t.queries_saved += s.queries_saved;
    t.total_loads += s.total_loads;
    t.cache_hits += s.cache_hits;
    t.errors += s.errors;
    t.efficiency_ratio = if t.total_queries == 0 {
        0.0
    } else {
        t.total_items_loaded as f64 / t.total_queries as f64
    };
    let (th, sh) = (&mut t.batch_sizes, &s.batch_sizes);
    if th.bounds == sh.bounds {
        for (a, b) in th.counts.iter_mut().zip(&sh.counts) {
            *a += b;
        }
    } else {
        // Different layouts cannot be merged bucket by bucket: keep the total in `+Inf`.
        if let Some(last) = th.counts.last_mut() {
            *last += sh.counts.iter().sum::<u64>();
        }
    }
    th.sum += sh.sum;
}

impl Collector for LoaderCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let stats = self.merged();

        type Field = fn(&LoaderStats) -> u64;
        let counters: [(&str, &str, Field); 7] = [
            (
                "loader_batches",
                "Batches dispatched to the batch function",
                |s| s.total_batches,
            ),
            (
                "loader_items_loaded",
                "Keys sent to the batch function",
                |s| s.total_items_loaded,
            ),
            (
                "loader_queries",
                "Backend queries made by the batches",
                |s| s.total_queries,
            ),
            (
                "loader_queries_saved",
                "Queries one-at-a-time loading would have added",
                |s| s.queries_saved,
            ),
            (
                "loader_loads",
                "Keys asked for through load and load_many",
                |s| s.total_loads,
            ),
            (
                "loader_cache_hits",
                "Keys answered from the loader cache or an in-flight batch",
                |s| s.cache_hits,
            ),
            ("loader_errors", "Keys whose load ended in an error", |s| {
                s.errors
            }),
        ];
        for (name, help, field) in counters {
            let mut me = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for s in &stats {
                counter(&mut me, &[("loader", s.name.as_str())], field(s))?;
            }
        }

        let mut me = encoder.encode_descriptor(
            "loader_efficiency_ratio",
            "Keys loaded per backend query",
            None,
            MetricType::Gauge,
        )?;
        for s in &stats {
            gauge(&mut me, &[("loader", s.name.as_str())], s.efficiency_ratio)?;
        }

        let mut me = encoder.encode_descriptor(
            "loader_batch_size",
            "Keys per batch",
            None,
            MetricType::Histogram,
        )?;
        for s in &stats {
            let h = &s.batch_sizes;
            let buckets: Vec<(f64, u64)> = h
                .bounds
                .iter()
                .map(|b| *b as f64)
                .chain(std::iter::once(f64::INFINITY))
                .zip(h.counts.iter().copied())
                .collect();
            me.encode_family(&[("loader", s.name.as_str())])?
                .encode_histogram::<NoLabelSet>(h.sum as f64, h.count(), &buckets, None)?;
        }
        Ok(())
    }
}
