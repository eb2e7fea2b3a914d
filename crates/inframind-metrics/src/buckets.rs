//! Histogram bucket layouts and their defaults per family.

use std::sync::Arc;

/// The bounds of [`Buckets::cache_duration`]: `inframind_cache::OperationLatency::BOUNDS_SECONDS`,
/// copied so the family keeps them without the `cache` feature (a test checks they agree).
pub(crate) const CACHE_DURATION_BOUNDS: [f64; 12] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0,
];

/// Upper bounds of a histogram's buckets, checked to be finite and strictly increasing.
///
/// ```
/// use inframind_metrics::Buckets;
/// let b = Buckets::new([0.01, 0.1, 1.0]).unwrap();
/// assert_eq!(b.bounds(), &[0.01, 0.1, 1.0]);
/// assert!(Buckets::new([1.0, 0.5]).is_err());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Buckets(Arc<[f64]>);

/// Why a bucket layout was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BucketsError {
    /// No bounds were given.
    #[error("a histogram needs at least one bucket bound")]
    Empty,
    /// A bound is NaN or infinite (`+Inf` is always added).
    #[error("bucket bound {0} is not finite")]
    NotFinite(f64),
    /// Bounds are not strictly increasing.
    #[error("bucket bounds must increase strictly ({0} follows {1})")]
    NotIncreasing(f64, f64),
    /// Too many bounds (more than 64).
    #[error("{0} bucket bounds given, at most 64 are allowed")]
    TooMany(usize),
}

impl Buckets {
    /// Checks and wraps the upper bounds.
    ///
    /// # Errors
    /// [`BucketsError`] when the bounds are empty, not finite, not strictly increasing or more
    /// than 64.
    pub fn new(bounds: impl IntoIterator<Item = f64>) -> Result<Self, BucketsError> {
        let bounds: Vec<f64> = bounds.into_iter().collect();
        if bounds.is_empty() {
            return Err(BucketsError::Empty);
        }
        if bounds.len() > 64 {
            return Err(BucketsError::TooMany(bounds.len()));
        }
        for (i, b) in bounds.iter().enumerate() {
            if !b.is_finite() {
                return Err(BucketsError::NotFinite(*b));
            }
            if i > 0 && *b <= bounds[i - 1] {
                return Err(BucketsError::NotIncreasing(*b, bounds[i - 1]));
            }
        }
        Ok(Self(bounds.into()))
    }

    fn fixed(bounds: &[f64]) -> Self {
        Self(bounds.into())
    }

    /// `count` bounds starting at `start`, each `factor` times the previous one.
    ///
    /// # Errors
    /// [`BucketsError`] when the result is not a valid layout (for example `factor <= 1`).
    pub fn exponential(start: f64, factor: f64, count: usize) -> Result<Self, BucketsError> {
        Self::new((0..count).map(|i| start * factor.powi(i32::try_from(i).unwrap_or(i32::MAX))))
    }

    /// The upper bounds, without `+Inf`.
    pub fn bounds(&self) -> &[f64] {
        &self.0
    }

    /// HTTP request latency in seconds: 5 ms to 10 s (the Prometheus client default).
    pub fn http_duration() -> Self {
        Self::fixed(&[
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ])
    }

    /// Body sizes in bytes: 64 B to 16 MiB, by factors of 4.
    pub fn size_bytes() -> Self {
        Self::fixed(&[
            64.0,
            256.0,
            1024.0,
            4096.0,
            16384.0,
            65536.0,
            262_144.0,
            1_048_576.0,
            4_194_304.0,
            16_777_216.0,
        ])
    }

    /// Database query latency in seconds: 0.5 ms to 2.5 s.
    pub fn db_duration() -> Self {
        Self::fixed(&[
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ])
    }

    /// Cache operation latency in seconds: 50 µs to 1 s, the layout `inframind-cache` records
    /// its store operations in (`OperationLatency::BOUNDS_SECONDS`), so series recorded by hand
    /// ([`CacheMetrics::record_lookup`](crate::CacheMetrics::record_lookup)) and series of
    /// observed caches share one layout in `cache_operation_duration_seconds` and can be
    /// summed by `le`. It is fixed for that reason (no builder option).
    pub fn cache_duration() -> Self {
        Self::fixed(&CACHE_DURATION_BOUNDS)
    }

    /// LLM call latency in seconds: 100 ms to 2 minutes.
    pub fn llm_duration() -> Self {
        Self::fixed(&[0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0])
    }

    /// Agent execution latency in seconds: 50 ms to 5 minutes.
    pub fn agent_duration() -> Self {
        Self::fixed(&[
            0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
        ])
    }

    /// Confidence scores in `[0, 1]`, in steps of 0.1.
    pub fn confidence() -> Self {
        Self::fixed(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    }
}

/// Builds prometheus-client histograms with a fixed layout (a `Family` constructor).
#[derive(Clone, Debug)]
pub struct HistogramCtor(pub(crate) Buckets);

impl
    prometheus_client::metrics::family::MetricConstructor<
        prometheus_client::metrics::histogram::Histogram,
    > for HistogramCtor
{
    fn new_metric(&self) -> prometheus_client::metrics::histogram::Histogram {
        prometheus_client::metrics::histogram::Histogram::new(self.0.bounds().iter().copied())
    }
}

#[cfg(test)]
mod tests {
    #[cfg(feature = "cache")]
    #[test]
    fn cache_duration_is_the_layout_the_cache_records_in() {
        assert_eq!(
            super::Buckets::cache_duration().bounds(),
            inframind_cache::OperationLatency::BOUNDS_SECONDS
        );
    }
}
