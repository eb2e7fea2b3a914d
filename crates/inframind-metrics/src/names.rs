//! Family names: registration through one [`Registrar`] that remembers every name, so an
//! application metric can be refused before it makes the exposition invalid.

use prometheus_client::collector::Collector;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Metric, Registry, Unit};
use std::collections::BTreeSet;

/// Why [`Metrics::register`](crate::Metrics::register) refused a metric.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// A counter's name ends with `_total`; prometheus-client adds the suffix when encoding
    /// (register `app_signups`, which is exposed as `app_signups_total`).
    #[error("counter `{name}` must not end with `_total`: the suffix is added when encoding")]
    TotalSuffix {
        /// The name as given.
        name: String,
    },
    /// The name (or one of its sample names, such as `<name>_total` or `<name>_bucket`) is
    /// already used by a built-in family or an earlier registration; a second HELP/TYPE for
    /// it would make the exposition invalid.
    #[error("metric name `{name}` is already used by another family")]
    NameTaken {
        /// The exposed family name (with the unit suffix).
        name: String,
    },
    /// Not a valid Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
    #[error("`{name}` is not a valid metric name")]
    InvalidName {
        /// The name as given.
        name: String,
    },
}

/// Every name a family of `kind` named `name` writes: the family name and its sample names.
fn sample_names(name: &str, kind: MetricType) -> Vec<String> {
    let mut out = vec![name.to_owned()];
    match kind {
        MetricType::Counter => {
            out.push(format!("{name}_total"));
            out.push(format!("{name}_created"));
        }
        MetricType::Histogram => {
            for suffix in ["bucket", "count", "sum", "created"] {
                out.push(format!("{name}_{suffix}"));
            }
        }
        MetricType::Info => out.push(format!("{name}_info")),
        _ => {}
    }
    out
}

fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// A registry plus the names registered in it.
#[derive(Debug, Default)]
pub(crate) struct Names(BTreeSet<String>);

impl Names {
    /// Checks `name` (with `unit`) for a metric of `kind`, and reserves its names.
    pub(crate) fn claim(
        &mut self,
        name: &str,
        unit: Option<&Unit>,
        kind: MetricType,
    ) -> Result<(), RegisterError> {
        if !valid_name(name) {
            return Err(RegisterError::InvalidName { name: name.into() });
        }
        if kind == MetricType::Counter && name.ends_with("_total") {
            return Err(RegisterError::TotalSuffix { name: name.into() });
        }
        let full = match unit {
            Some(u) => format!("{name}_{}", u.as_str()),
            None => name.to_owned(),
        };
        let names = sample_names(&full, kind);
        if names.iter().any(|n| self.0.contains(n)) {
            return Err(RegisterError::NameTaken { name: full });
        }
        self.0.extend(names);
        Ok(())
    }
}

/// Registers the built-in families into a registry, remembering their names.
pub(crate) struct Registrar<'a> {
    pub(crate) registry: &'a mut Registry,
    pub(crate) names: &'a mut Names,
}

impl Registrar<'_> {
    /// Registers a built-in metric (its name is known to be valid and free).
    pub(crate) fn metric(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<Unit>,
        metric: impl Metric,
    ) {
        let claimed = self.names.claim(name, unit.as_ref(), metric.metric_type());
        debug_assert!(claimed.is_ok(), "built-in family {name}: {claimed:?}");
        match unit {
            Some(unit) => self.registry.register_with_unit(name, help, unit, metric),
            None => self.registry.register(name, help, metric),
        }
    }

    /// Registers a built-in collector writing the families `families` (full names).
    pub(crate) fn collector(
        &mut self,
        families: &[(&str, MetricType)],
        collector: Box<dyn Collector>,
    ) {
        for (name, kind) in families {
            let claimed = self.names.claim(name, None, *kind);
            debug_assert!(claimed.is_ok(), "built-in family {name}: {claimed:?}");
        }
        self.registry.register_collector(collector);
    }
}
