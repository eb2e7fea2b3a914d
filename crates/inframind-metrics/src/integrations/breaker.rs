//! `circuit_breaker_*` families from an `inframind_breaker::BreakerRegistry`.

use super::{counter, gauge, gauge_i64};
use inframind_breaker::BreakerRegistry;
use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use std::collections::BTreeMap;

/// The states exported by `circuit_breaker_state`, always all of them (1 for the current one).
const STATES: [&str; 6] = [
    "closed",
    "open",
    "half_open",
    "forced_open",
    "forced_closed",
    "disabled",
];

/// The families this collector writes.
pub(crate) const FAMILIES: &[(&str, MetricType)] = &[
    ("circuit_breaker_state", MetricType::Gauge),
    ("circuit_breaker_calls", MetricType::Counter),
    ("circuit_breaker_slow_calls", MetricType::Counter),
    ("circuit_breaker_consecutive_failures", MetricType::Gauge),
    ("circuit_breaker_failure_ratio", MetricType::Gauge),
];

#[derive(Debug, Default)]
pub(crate) struct BreakerCollector {
    registries: Mutex<Vec<BreakerRegistry>>,
}

/// The breakers of one name across the observed registries.
#[derive(Debug, Default)]
struct Merged {
    name: String,
    /// Breakers in each state (`STATES` order, then any other state by name).
    states: BTreeMap<&'static str, i64>,
    successful_calls: u64,
    failed_calls: u64,
    rejected_calls: u64,
    slow_calls: u64,
    consecutive_failures: u64,
    failure_rate: Option<f64>,
}

impl BreakerCollector {
    /// Observes `registry`, unless it is observed already.
    pub(crate) fn add(&self, registry: BreakerRegistry) {
        let mut registries = self.registries.lock();
        if !registries.iter().any(|r| r.ptr_eq(&registry)) {
            registries.push(registry);
        }
    }

    fn merged(&self) -> Vec<Merged> {
        let mut by_name: BTreeMap<String, Merged> = BTreeMap::new();
        for r in self.registries.lock().iter() {
            for s in r.snapshot() {
                let m = by_name.entry(s.name.clone()).or_insert_with(|| Merged {
                    name: s.name.clone(),
                    ..Merged::default()
                });
                *m.states.entry(s.state.as_str()).or_default() += 1;
                m.successful_calls += s.successful_calls;
                m.failed_calls += s.failed_calls;
                m.rejected_calls += s.rejected_calls;
                m.slow_calls += s.slow_calls;
                m.consecutive_failures = m.consecutive_failures.max(s.consecutive_failures);
                m.failure_rate = match (m.failure_rate, s.failure_rate) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        by_name.into_values().collect()
    }
}

impl Collector for BreakerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let snaps = self.merged();

        let mut me = encoder.encode_descriptor(
            "circuit_breaker_state",
            "Circuit breaker state: 1 for the current state, 0 for the others",
            None,
            MetricType::Gauge,
        )?;
        for s in &snaps {
            for state in STATES {
                let v = s.states.get(state).copied().unwrap_or(0);
                gauge_i64(
                    &mut me,
                    &[("breaker", s.name.as_str()), ("state", state)],
                    v,
                )?;
            }
            for (state, v) in s.states.iter().filter(|(k, _)| !STATES.contains(k)) {
                gauge_i64(
                    &mut me,
                    &[("breaker", s.name.as_str()), ("state", state)],
                    *v,
                )?;
            }
        }

        let mut me = encoder.encode_descriptor(
            "circuit_breaker_calls",
            "Calls through the circuit breaker by outcome (success, failure, rejected)",
            None,
            MetricType::Counter,
        )?;
        for s in &snaps {
            for (outcome, v) in [
                ("success", s.successful_calls),
                ("failure", s.failed_calls),
                ("rejected", s.rejected_calls),
            ] {
                counter(
                    &mut me,
                    &[("breaker", s.name.as_str()), ("outcome", outcome)],
                    v,
                )?;
            }
        }

        let mut me = encoder.encode_descriptor(
            "circuit_breaker_slow_calls",
            "Calls at or above the breaker's slow-call duration",
            None,
            MetricType::Counter,
        )?;
        for s in &snaps {
            counter(&mut me, &[("breaker", s.name.as_str())], s.slow_calls)?;
        }

        let mut me = encoder.encode_descriptor(
            "circuit_breaker_consecutive_failures",
            "Current run of consecutive failures while closed",
            None,
            MetricType::Gauge,
        )?;
        for s in &snaps {
            gauge_i64(
                &mut me,
                &[("breaker", s.name.as_str())],
                i64::try_from(s.consecutive_failures).unwrap_or(i64::MAX),
            )?;
        }

        let mut me = encoder.encode_descriptor(
            "circuit_breaker_failure_ratio",
            "Failure rate over the breaker's sliding window (0 to 1), when it has enough calls",
            None,
            MetricType::Gauge,
        )?;
        for s in &snaps {
            if let Some(rate) = s.failure_rate {
                gauge(&mut me, &[("breaker", s.name.as_str())], rate / 100.0)?;
            }
        }
        Ok(())
    }
}
