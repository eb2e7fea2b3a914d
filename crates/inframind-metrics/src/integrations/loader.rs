//! `loader_*` families from `inframind_loader::StatsRegistry`s.

use super::{counter, gauge};
use inframind_loader::{LoaderStats, StatsRegistry};
use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use std::sync::Arc;

#[derive(Debug, Default)]
pub(crate) struct LoaderCollector {
    pub(crate) registries: Arc<Mutex<Vec<StatsRegistry>>>,
}

impl Collector for LoaderCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let mut stats: Vec<LoaderStats> = Vec::new();
        for r in self.registries.lock().iter() {
            stats.extend(r.snapshot());
        }
        if stats.is_empty() {
            return Ok(());
        }
        // One series per loader name, even if several registries report the same name.
        stats.sort_by(|a, b| a.name.cmp(&b.name));
        stats.dedup_by(|a, b| a.name == b.name);

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
