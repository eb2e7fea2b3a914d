//! `circuit_breaker_*` families from an `inframind_breaker::BreakerRegistry`.

use super::{counter, gauge, gauge_i64};
use inframind_breaker::BreakerRegistry;
use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use std::sync::Arc;

/// The states exported by `circuit_breaker_state`, always all of them (1 for the current one).
const STATES: [&str; 6] = [
    "closed",
    "open",
    "half_open",
    "forced_open",
    "forced_closed",
    "disabled",
];

#[derive(Debug, Default)]
pub(crate) struct BreakerCollector {
    pub(crate) registries: Arc<Mutex<Vec<BreakerRegistry>>>,
}

impl Collector for BreakerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let mut snaps = Vec::new();
        for r in self.registries.lock().iter() {
            snaps.extend(r.snapshot());
        }
        if snaps.is_empty() {
            return Ok(());
        }
        snaps.sort_by(|a, b| a.name.cmp(&b.name));
        snaps.dedup_by(|a, b| a.name == b.name);

        let mut me = encoder.encode_descriptor(
            "circuit_breaker_state",
            "Circuit breaker state: 1 for the current state, 0 for the others",
            None,
            MetricType::Gauge,
        )?;
        for s in &snaps {
            let current = s.state.as_str();
            for state in STATES {
                let v = if state == current { 1 } else { 0 };
                gauge_i64(
                    &mut me,
                    &[("breaker", s.name.as_str()), ("state", state)],
                    v,
                )?;
            }
            if !STATES.contains(&current) {
                gauge_i64(
                    &mut me,
                    &[("breaker", s.name.as_str()), ("state", current)],
                    1,
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

        if snaps.iter().any(|s| s.failure_rate.is_some()) {
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
        }
        Ok(())
    }
}
