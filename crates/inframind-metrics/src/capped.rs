//! A prometheus-client `Family` with a hard series cap and an overflow series.

use crate::labels::OverflowLabels;
use parking_lot::MappedRwLockReadGuard;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::{MetricType, TypedMetric};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A [`Family`] that never holds more than `limit` label sets.
///
/// Once the limit is reached, observations for new label sets go to one overflow series (every
/// label set to [`OVERFLOW_LABEL`](crate::OVERFLOW_LABEL)) and count in
/// `inframind_metrics_series_dropped_total{family}`. Existing series keep working.
///
/// ```
/// use inframind_metrics::{CappedFamily, DbQueryLabels, OVERFLOW_LABEL};
/// use prometheus_client::metrics::counter::Counter;
///
/// let family: CappedFamily<DbQueryLabels, Counter> = CappedFamily::new(2, Counter::default());
/// for i in 0..10 {
///     family.get_or_create(&DbQueryLabels::new(format!("c{i}"), "find")).inc();
/// }
/// assert_eq!(family.len(), 3); // two series and the overflow series
/// assert_eq!(family.get_or_create(&DbQueryLabels::new(OVERFLOW_LABEL, OVERFLOW_LABEL)).get(), 8);
/// assert_eq!(family.dropped(), 8);
/// ```
#[derive(Debug)]
pub struct CappedFamily<S, M, C = fn() -> M> {
    family: Family<S, M, C>,
    used: Arc<AtomicUsize>,
    limit: usize,
    overflow: Arc<S>,
    dropped: Counter,
}

impl<S, M, C: Clone> Clone for CappedFamily<S, M, C> {
    fn clone(&self) -> Self {
        Self {
            family: self.family.clone(),
            used: Arc::clone(&self.used),
            limit: self.limit,
            overflow: Arc::clone(&self.overflow),
            dropped: self.dropped.clone(),
        }
    }
}

impl<S: OverflowLabels, M: Default> CappedFamily<S, M> {
    /// A family of default-constructed metrics holding at most `limit` label sets, counting
    /// refused observations in `dropped`.
    pub fn new(limit: usize, dropped: Counter) -> Self {
        Self::with_constructor(limit, dropped, M::default)
    }
}

impl<S: OverflowLabels, M, C: MetricConstructor<M>> CappedFamily<S, M, C> {
    /// A family built with `constructor` holding at most `limit` label sets.
    pub fn with_constructor(limit: usize, dropped: Counter, constructor: C) -> Self {
        Self {
            family: Family::new_with_constructor(constructor),
            used: Arc::new(AtomicUsize::new(0)),
            limit,
            overflow: Arc::new(S::overflow()),
            dropped,
        }
    }

    /// The metric of `labels`, created if the cap allows; otherwise the overflow series.
    pub fn get_or_create(&self, labels: &S) -> MappedRwLockReadGuard<'_, M> {
        if let Some(metric) = self.family.get(labels) {
            return metric;
        }
        if *labels != *self.overflow && self.reserve() {
            return self.family.get_or_create(labels);
        }
        if *labels != *self.overflow {
            self.dropped.inc();
        }
        self.family.get_or_create(&self.overflow)
    }

    /// Like [`get_or_create`](Self::get_or_create), but returns a clone of the metric (counters,
    /// gauges and histograms share their value through an `Arc`), so no lock is held.
    ///
    /// Prefer it when keeping the metric: holding the guard of `get_or_create` while creating
    /// another series of the same family deadlocks (prometheus-client's `Family` takes its
    /// write lock to insert).
    pub fn get_or_create_owned(&self, labels: &S) -> M
    where
        M: Clone,
    {
        self.get_or_create(labels).clone()
    }

    /// Removes the series of `labels`, freeing its place under the cap; whether it existed.
    pub fn remove(&self, labels: &S) -> bool {
        let removed = self.family.remove(labels);
        if removed && *labels != *self.overflow {
            self.used.fetch_sub(1, Ordering::AcqRel);
        }
        removed
    }

    fn reserve(&self) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used < self.limit).then_some(used + 1)
            })
            .is_ok()
    }

    /// The number of series, the overflow series included.
    pub fn len(&self) -> usize {
        self.used.load(Ordering::Acquire) + usize::from(self.family.get(&self.overflow).is_some())
    }

    /// Whether no series exists yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The series cap.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Observations sent to the overflow series so far, across every family sharing the
    /// dropped-series counter.
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }

    /// The wrapped prometheus-client family.
    pub fn family(&self) -> &Family<S, M, C> {
        &self.family
    }
}

impl<S, M, C> EncodeMetric for CappedFamily<S, M, C>
where
    S: Clone + std::hash::Hash + Eq + prometheus_client::encoding::EncodeLabelSet,
    M: EncodeMetric + TypedMetric,
    C: MetricConstructor<M>,
{
    fn encode(&self, encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        self.family.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        M::TYPE
    }

    /// Never empty: the family's HELP and TYPE are written before its first series, so
    /// alerts and dashboards see the family from the first scrape.
    fn is_empty(&self) -> bool {
        false
    }
}

impl<S, M, C> TypedMetric for CappedFamily<S, M, C>
where
    M: TypedMetric,
{
    const TYPE: MetricType = M::TYPE;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::{DbQueryLabels, OVERFLOW_LABEL};

    #[test]
    fn a_removed_series_frees_its_place_under_the_cap() {
        let family: CappedFamily<DbQueryLabels, Counter> = CappedFamily::new(1, Counter::default());
        let (a, b) = (
            DbQueryLabels::new("a", "find"),
            DbQueryLabels::new("b", "find"),
        );
        family.get_or_create(&a).inc();
        assert!(family.remove(&a));
        assert!(!family.remove(&a), "already gone");
        family.get_or_create(&b).inc();
        assert!(
            family.family().get(&b).is_some(),
            "b has a series of its own"
        );
        assert_eq!(family.dropped(), 0);
        assert_eq!(family.len(), 1);
    }

    #[test]
    fn cap_is_hard_under_concurrency() {
        let family: CappedFamily<DbQueryLabels, Counter> =
            CappedFamily::new(50, Counter::default());
        std::thread::scope(|s| {
            for t in 0..4 {
                let family = &family;
                s.spawn(move || {
                    for i in 0..500 {
                        family
                            .get_or_create_owned(&DbQueryLabels::new(
                                format!("c{}", (i * 7 + t) % 200),
                                "find",
                            ))
                            .inc();
                    }
                });
            }
        });
        assert!(family.len() <= 51, "{}", family.len());
        let overflow = DbQueryLabels::new(OVERFLOW_LABEL, OVERFLOW_LABEL);
        let in_overflow = family.family().get(&overflow).map_or(0, |c| c.get());
        assert_eq!(in_overflow, family.dropped());
        assert!(in_overflow > 0);
        // Existing series keep counting after the cap is reached.
        let first = family
            .get_or_create_owned(&DbQueryLabels::new("c0", "find"))
            .get();
        family
            .get_or_create(&DbQueryLabels::new("c0", "find"))
            .inc();
        let now = family
            .get_or_create_owned(&DbQueryLabels::new("c0", "find"))
            .get();
        assert!(now == first + 1 || first == 0, "{first} -> {now}");
    }
}
