//! The HTTP families as a prometheus-client [`Collector`]: read from the lock-free
//! [`HttpTable`] at scrape time, written by prometheus-client's own encoder, so any
//! [`Registry`](prometheus_client::registry::Registry) the collector is registered in exposes
//! them with the same spelling as every other family (`le="1.0"` in OpenMetrics, `le="1"` in
//! the Prometheus text format).

use super::table::{EndpointEntry, HttpTable, METHODS, STATUS_ERROR};
use crate::labels::encode_pairs;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, LabelSetEncoder, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::exemplar::CounterWithExemplar;
use prometheus_client::registry::Unit;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The label names of the HTTP families.
///
/// ```
/// use inframind_metrics::{Format, HttpLabelNames, Metrics};
/// let metrics = Metrics::builder().http_label_names(HttpLabelNames::OpenTelemetry).build();
/// assert!(metrics.encode(Format::OpenMetrics).contains("# TYPE http_requests counter"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HttpLabelNames {
    /// `method`, `endpoint`, `status` (the default, and what `docs/operations` queries).
    #[default]
    Prometheus,
    /// The OpenTelemetry HTTP server conventions as Prometheus spells them:
    /// `http_request_method`, `http_route`, `http_response_status_code`, and `error_type` on
    /// failed requests (the status code for 5xx; `_OTHER` when the inner service failed
    /// without a response, and `abandoned` for a request dropped before its response, neither
    /// of which has a status code).
    OpenTelemetry,
}

impl HttpLabelNames {
    fn keys(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Prometheus => ("method", "endpoint", "status"),
            Self::OpenTelemetry => (
                "http_request_method",
                "http_route",
                "http_response_status_code",
            ),
        }
    }
}

/// The label set of one HTTP series, borrowed from the table.
struct SeriesLabels<'a> {
    names: HttpLabelNames,
    method: &'a str,
    endpoint: &'a str,
    /// The status label (`200`, `5xx`, `error`, `499`); `None` for the per-route families.
    status: Option<(u16, &'a str)>,
}

impl EncodeLabelSet for SeriesLabels<'_> {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> Result<(), std::fmt::Error> {
        let (method, endpoint, status) = self.names.keys();
        encode_pairs(encoder, &[(method, self.method), (endpoint, self.endpoint)])?;
        let Some((code, label)) = self.status else {
            return Ok(());
        };
        match self.names {
            HttpLabelNames::Prometheus => encode_pairs(encoder, &[(status, label)]),
            HttpLabelNames::OpenTelemetry => {
                let error = if code == STATUS_ERROR {
                    Some("_OTHER")
                } else if code == super::table::ABANDONED_STATUS {
                    Some("abandoned")
                } else if label.starts_with('5') {
                    Some(label)
                } else {
                    None
                };
                if code != STATUS_ERROR && code != super::table::ABANDONED_STATUS {
                    encode_pairs(encoder, &[(status, label)])?;
                }
                match error {
                    Some(e) => encode_pairs(encoder, &[("error_type", e)]),
                    None => Ok(()),
                }
            }
        }
    }
}

/// `{trace_id}` of an exemplar.
#[derive(Debug)]
struct TraceLabel(Box<str>);

impl EncodeLabelSet for TraceLabel {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> Result<(), std::fmt::Error> {
        encode_pairs(encoder, &[("trace_id", &self.0)])
    }
}

/// The five HTTP families, read from the table at every scrape.
#[derive(Debug)]
pub(crate) struct HttpCollector {
    pub(crate) table: Arc<HttpTable>,
    pub(crate) names: HttpLabelNames,
}

/// The family names this collector writes (for the registry's name checks).
pub(crate) const HTTP_FAMILIES: [(&str, MetricType); 5] = [
    ("http_requests", MetricType::Counter),
    ("http_request_duration_seconds", MetricType::Histogram),
    ("http_requests_in_progress", MetricType::Gauge),
    ("http_request_size_bytes", MetricType::Histogram),
    ("http_response_size_bytes", MetricType::Histogram),
];

fn histogram(
    me: &mut MetricEncoder<'_>,
    labels: &SeriesLabels<'_>,
    bounds: &[f64],
    counts: impl Iterator<Item = u64>,
    sum: f64,
    scratch: &mut Vec<(f64, u64)>,
) -> std::fmt::Result {
    scratch.clear();
    scratch.extend(
        bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(counts),
    );
    let count = scratch.iter().map(|(_, c)| c).sum();
    me.encode_family(labels)?
        .encode_histogram::<NoLabelSet>(sum, count, scratch, None)
}

impl HttpCollector {
    fn each_method(
        endpoints: &[Arc<EndpointEntry>],
    ) -> impl Iterator<Item = (&EndpointEntry, usize, &super::table::MethodEntry)> {
        endpoints.iter().flat_map(|e| {
            e.methods
                .iter()
                .enumerate()
                .filter_map(move |(m, entry)| entry.get().map(|entry| (&**e, m, entry)))
        })
    }
}

impl Collector for HttpCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let endpoints = self.table.snapshot();
        let names = self.names;
        fn labels<'a>(
            names: HttpLabelNames,
            e: &'a EndpointEntry,
            m: usize,
            status: Option<(u16, &'a str)>,
        ) -> SeriesLabels<'a> {
            SeriesLabels {
                names,
                method: METHODS[m],
                endpoint: e.name(),
                status,
            }
        }
        let mut scratch = Vec::with_capacity(16);

        let mut me = encoder.encode_descriptor(
            "http_requests",
            "HTTP requests by method, route template and status (499: dropped before the response)",
            None,
            MetricType::Counter,
        )?;
        for (e, m, entry) in Self::each_method(&endpoints) {
            for s in entry.statuses.iter().filter_map(|s| s.get()) {
                let l = labels(names, e, m, Some((s.status, &s.label)));
                let value = s.requests.load(Ordering::Relaxed);
                let exemplar = s.exemplar.lock().clone();
                let mut fe = me.encode_family(&l)?;
                match exemplar {
                    // prometheus-client builds exemplars only inside its own metrics.
                    Some(ex) => {
                        let holder: CounterWithExemplar<TraceLabel> =
                            CounterWithExemplar::default();
                        holder.inc_by(1, Some(TraceLabel(ex.trace_id)), Some(ex.timestamp));
                        let (_, ex) = holder.get();
                        fe.encode_counter::<TraceLabel, u64, u64>(&value, ex.as_ref())?;
                    }
                    None => fe.encode_counter::<NoLabelSet, u64, u64>(&value, None)?,
                }
            }
        }

        let mut me = encoder.encode_descriptor(
            "http_request_duration",
            "HTTP request latency by method, route template and status",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (e, m, entry) in Self::each_method(&endpoints) {
            for s in entry.statuses.iter().filter_map(|s| s.get()) {
                histogram(
                    &mut me,
                    &labels(names, e, m, Some((s.status, &s.label))),
                    &e.duration_bounds_secs,
                    s.duration.counts(),
                    s.duration.sum() as f64 / 1e9,
                    &mut scratch,
                )?;
            }
        }

        let mut me = encoder.encode_descriptor(
            "http_requests_in_progress",
            "HTTP requests being served, by method and route template",
            None,
            MetricType::Gauge,
        )?;
        for (e, m, entry) in Self::each_method(&endpoints) {
            me.encode_family(&labels(names, e, m, None))?
                .encode_gauge(&entry.in_progress.load(Ordering::Relaxed))?;
        }

        for (name, help, request) in [
            (
                "http_request_size",
                "HTTP request body sizes, by method and route template",
                true,
            ),
            (
                "http_response_size",
                "HTTP response body sizes, by method and route template",
                false,
            ),
        ] {
            let mut me =
                encoder.encode_descriptor(name, help, Some(&Unit::Bytes), MetricType::Histogram)?;
            for (e, m, entry) in Self::each_method(&endpoints) {
                let h = if request {
                    &entry.request_size
                } else {
                    &entry.response_size
                };
                histogram(
                    &mut me,
                    &labels(names, e, m, None),
                    &self.table.size_bounds_f64,
                    h.counts(),
                    h.sum() as f64,
                    &mut scratch,
                )?;
            }
        }
        Ok(())
    }
}
