//! [`OperationLatency`]: how long store operations take, in fixed buckets kept on atomics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A latency distribution of one kind of store operation, as the cache recorded it: a
/// histogram with fixed bounds ([`BOUNDS_SECONDS`](Self::BOUNDS_SECONDS)), ready for a
/// Prometheus histogram (`le` buckets are the cumulative sums of `bucket_counts`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct OperationLatency {
    /// How many operations fell in each bucket, not cumulative: `bucket_counts[i]` counts
    /// those that took more than `BOUNDS_SECONDS[i - 1]` and at most `BOUNDS_SECONDS[i]`
    /// (the first from 0); the last counts those over the last bound (`+Inf`).
    pub bucket_counts: [u64; 13],
    /// How many operations were recorded.
    pub count: u64,
    /// Their total duration, in seconds.
    pub sum_seconds: f64,
}

impl OperationLatency {
    /// The buckets' upper bounds, in seconds: 50 µs to 1 s.
    pub const BOUNDS_SECONDS: [f64; 12] = [
        0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0,
    ];
}

/// [`OperationLatency::BOUNDS_SECONDS`] in nanoseconds, for integer comparisons.
const BOUNDS_NANOS: [u64; 12] = [
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    1_000_000_000,
];

/// The atomics behind an [`OperationLatency`]: three relaxed increments per operation.
#[derive(Debug, Default)]
pub(crate) struct LatencyRecorder {
    buckets: [AtomicU64; 13],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl LatencyRecorder {
    pub(crate) fn record(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BOUNDS_NANOS
            .iter()
            .position(|&bound| nanos <= bound)
            .unwrap_or(BOUNDS_NANOS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Times `future` and records how long it took.
    pub(crate) async fn time<F: std::future::Future>(&self, future: F) -> F::Output {
        let start = Instant::now();
        let output = future.await;
        self.record(start.elapsed());
        output
    }

    pub(crate) fn snapshot(&self) -> OperationLatency {
        let mut bucket_counts = [0; 13];
        for (out, bucket) in bucket_counts.iter_mut().zip(&self.buckets) {
            *out = bucket.load(Ordering::Relaxed);
        }
        OperationLatency {
            bucket_counts,
            count: self.count.load(Ordering::Relaxed),
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_land_in_their_buckets() {
        let recorder = LatencyRecorder::default();
        for micros in [10, 50, 51, 700, 2_000_000] {
            recorder.record(Duration::from_micros(micros));
        }
        let snapshot = recorder.snapshot();
        let mut want = [0; 13];
        want[0] = 2; // 10 µs and exactly 50 µs
        want[1] = 1; // 51 µs
        want[4] = 1; // 700 µs
        want[12] = 1; // 2 s: +Inf
        assert_eq!(snapshot.bucket_counts, want);
        assert_eq!(snapshot.count, 5);
        assert!((snapshot.sum_seconds - 2.000811).abs() < 1e-9);
        for (bound, nanos) in OperationLatency::BOUNDS_SECONDS.iter().zip(BOUNDS_NANOS) {
            assert_eq!((bound * 1e9).round() as u64, nanos);
        }
    }
}
