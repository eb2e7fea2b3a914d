//! The HTTP series store: lock-free on the request path once a series exists, with a hard cap.

use crate::buckets::Buckets;
use crate::text::{escape_label_value, write_f64};
use parking_lot::{Mutex, RwLock};
use prometheus_client::metrics::counter::Counter;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

/// The `method` label values, in index order. Unknown methods share `_OTHER`.
pub(crate) const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER",
];

/// The `endpoint` label of requests no route matched.
pub const UNMATCHED_ENDPOINT: &str = "__unmatched__";
/// The `endpoint` label of the overflow series once the HTTP series cap is reached.
pub const OVERFLOW_ENDPOINT: &str = "__overflow__";

/// Distinct statuses kept per (method, endpoint); more go to the overflow endpoint.
const STATUS_SLOTS: usize = 16;
/// Status code used for requests whose inner service failed without a response.
pub(crate) const STATUS_ERROR: u16 = 0;

pub(crate) fn method_index(method: &http::Method) -> usize {
    use http::Method;
    let m = method;
    if *m == Method::GET {
        0
    } else if *m == Method::POST {
        2
    } else if *m == Method::HEAD {
        1
    } else if *m == Method::PUT {
        3
    } else if *m == Method::DELETE {
        4
    } else if *m == Method::PATCH {
        8
    } else if *m == Method::OPTIONS {
        6
    } else if *m == Method::CONNECT {
        5
    } else if *m == Method::TRACE {
        7
    } else {
        9
    }
}

/// A histogram of integer observations (nanoseconds or bytes) on atomics.
#[derive(Debug)]
pub(crate) struct AtomicHistogram {
    bounds: Arc<[u64]>,
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl AtomicHistogram {
    fn new(bounds: &Arc<[u64]>) -> Self {
        Self {
            bounds: Arc::clone(bounds),
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    #[inline]
    pub(crate) fn observe(&self, v: u64) -> usize {
        let idx = self.bounds.partition_point(|b| *b < v);
        self.counts[idx].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
        idx
    }

    pub(crate) fn sum(&self) -> u64 {
        self.sum.load(Ordering::Relaxed)
    }
}

/// A trace id kept as an exemplar.
#[derive(Debug, Clone)]
pub(crate) struct Exemplar {
    pub(crate) trace_id: Box<str>,
    pub(crate) value: f64,
    pub(crate) timestamp: f64,
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// One `(method, endpoint, status)` series: the request counter and the duration histogram.
#[derive(Debug)]
pub(crate) struct StatusSeries {
    status: u16,
    label: Box<str>,
    requests: AtomicU64,
    duration: AtomicHistogram,
    /// Latest exemplar of the counter and of each duration bucket; touched only for traced
    /// requests, and skipped rather than waited for when another thread holds it.
    exemplars: Mutex<Option<Box<Exemplars>>>,
}

#[derive(Debug)]
struct Exemplars {
    counter: Option<Exemplar>,
    buckets: Vec<Option<Exemplar>>,
}

impl StatusSeries {
    fn new(status: u16, class: bool, bounds: &Arc<[u64]>) -> Self {
        let label = if status == STATUS_ERROR {
            "error".into()
        } else if class {
            format!("{status}xx").into()
        } else {
            status.to_string().into()
        };
        Self {
            status,
            label,
            requests: AtomicU64::new(0),
            duration: AtomicHistogram::new(bounds),
            exemplars: Mutex::new(None),
        }
    }

    #[inline]
    fn record(&self, nanos: u64, trace_id: Option<&str>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let bucket = self.duration.observe(nanos);
        if let Some(trace_id) = trace_id {
            if let Some(mut guard) = self.exemplars.try_lock() {
                let n = self.duration.counts.len();
                let ex = guard.get_or_insert_with(|| {
                    Box::new(Exemplars {
                        counter: None,
                        buckets: vec![None; n],
                    })
                });
                let exemplar = Exemplar {
                    trace_id: trace_id.into(),
                    value: nanos as f64 / 1e9,
                    timestamp: now_secs(),
                };
                ex.counter = Some(Exemplar {
                    value: 1.0,
                    ..exemplar.clone()
                });
                ex.buckets[bucket] = Some(exemplar);
            }
        }
    }
}

/// One `(method, endpoint)`: in-progress gauge, body sizes, and the status series.
#[derive(Debug)]
pub(crate) struct MethodEntry {
    pub(crate) in_progress: AtomicI64,
    request_size: AtomicHistogram,
    response_size: AtomicHistogram,
    statuses: [OnceLock<Box<StatusSeries>>; STATUS_SLOTS],
}

impl MethodEntry {
    fn new(core: &Core) -> Self {
        Self {
            in_progress: AtomicI64::new(0),
            request_size: AtomicHistogram::new(&core.size_bounds),
            response_size: AtomicHistogram::new(&core.size_bounds),
            statuses: Default::default(),
        }
    }

    #[inline]
    pub(crate) fn observe_request_size(&self, bytes: u64) {
        self.request_size.observe(bytes);
    }

    #[inline]
    pub(crate) fn observe_response_size(&self, bytes: u64) {
        self.response_size.observe(bytes);
    }

    /// The series of `status`, or `None` when it cannot be created (cap or slots exhausted).
    #[inline]
    fn status(&self, core: &Core, status: u16, class: bool) -> Option<&StatusSeries> {
        for slot in &self.statuses {
            match slot.get() {
                Some(s) if s.status == status => return Some(s),
                Some(_) => {}
                None => {
                    // Class series (overflow endpoint) are bounded by construction.
                    if !class && !core.reserve() {
                        return None;
                    }
                    let mut created = false;
                    let s = slot.get_or_init(|| {
                        created = true;
                        Box::new(StatusSeries::new(status, class, &core.duration_bounds))
                    });
                    if !created && !class {
                        core.release();
                    }
                    if s.status == status {
                        return Some(s);
                    }
                }
            }
        }
        None
    }
}

/// Every method of one endpoint label.
#[derive(Debug)]
pub(crate) struct EndpointEntry {
    core: Arc<Core>,
    name: Box<str>,
    escaped: Box<str>,
    /// The overflow endpoint records statuses by class (`2xx`, `5xx`, ...).
    overflow: bool,
    methods: [OnceLock<MethodEntry>; 10],
}

impl EndpointEntry {
    fn new(core: &Arc<Core>, name: &str, overflow: bool) -> Self {
        Self {
            core: Arc::clone(core),
            name: name.into(),
            escaped: escape_label_value(name).into(),
            overflow,
            methods: Default::default(),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The entry of `method`, created if the cap allows.
    #[inline]
    pub(crate) fn method(&self, method: usize) -> Option<&MethodEntry> {
        let slot = &self.methods[method];
        if let Some(e) = slot.get() {
            return Some(e);
        }
        if !self.overflow && !self.core.reserve() {
            return None;
        }
        let mut created = false;
        let e = slot.get_or_init(|| {
            created = true;
            MethodEntry::new(&self.core)
        });
        if !created && !self.overflow {
            self.core.release();
        }
        Some(e)
    }

    pub(crate) fn method_if_exists(&self, method: usize) -> Option<&MethodEntry> {
        self.methods[method].get()
    }
}

/// Where a request is counted: an endpoint and a method index inside it.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub(crate) endpoint: Arc<EndpointEntry>,
    pub(crate) method: usize,
}

impl Slot {
    #[inline]
    pub(crate) fn entry(&self) -> Option<&MethodEntry> {
        self.endpoint.method_if_exists(self.method)
    }

    /// Records a finished request: counter, duration, exemplar.
    #[inline]
    pub(crate) fn finish(&self, status: u16, nanos: u64, trace_id: Option<&str>) {
        let Some(entry) = self.entry() else { return };
        let core = &*self.endpoint.core;
        let class = self.endpoint.overflow;
        let key = if class && status != STATUS_ERROR {
            status / 100
        } else {
            status
        };
        if let Some(series) = entry.status(core, key, class) {
            series.record(nanos, trace_id);
            return;
        }
        core.dropped.inc();
        let key = if status == STATUS_ERROR {
            STATUS_ERROR
        } else {
            status / 100
        };
        let Some(overflow) = core.overflow.get().and_then(Weak::upgrade) else {
            return;
        };
        if let Some(series) = overflow
            .method(self.method)
            .and_then(|e| e.status(core, key, true))
        {
            series.record(nanos, trace_id);
        }
    }
}

/// What every entry needs to create series: the cap, the dropped counter, the bucket bounds.
#[derive(Debug)]
pub(crate) struct Core {
    used: AtomicUsize,
    limit: usize,
    dropped: Counter,
    duration_bounds: Arc<[u64]>,
    size_bounds: Arc<[u64]>,
    /// The overflow endpoint (owned by the table; weak here to avoid a cycle).
    overflow: OnceLock<Weak<EndpointEntry>>,
}

impl Core {
    fn reserve(&self) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                (u < self.limit).then_some(u + 1)
            })
            .is_ok()
    }

    fn release(&self) {
        self.used.fetch_sub(1, Ordering::AcqRel);
    }
}

/// All HTTP series, with the cap shared across them.
#[derive(Debug)]
pub(crate) struct HttpTable {
    core: Arc<Core>,
    endpoints: RwLock<HashMap<Box<str>, Arc<EndpointEntry>>>,
    overflow: Arc<EndpointEntry>,
    duration_bounds_f64: Box<[f64]>,
    size_bounds_f64: Box<[f64]>,
    last_len: AtomicUsize,
}

impl HttpTable {
    pub(crate) fn new(duration: &Buckets, size: &Buckets, limit: usize, dropped: Counter) -> Self {
        let to_nanos = |b: &f64| (b * 1e9).round().clamp(0.0, u64::MAX as f64) as u64;
        let to_bytes = |b: &f64| b.ceil().clamp(0.0, u64::MAX as f64) as u64;
        let core = Arc::new(Core {
            used: AtomicUsize::new(0),
            limit,
            dropped,
            duration_bounds: duration.bounds().iter().map(to_nanos).collect(),
            size_bounds: size.bounds().iter().map(to_bytes).collect(),
            overflow: OnceLock::new(),
        });
        let overflow = Arc::new(EndpointEntry::new(&core, OVERFLOW_ENDPOINT, true));
        let _ = core.overflow.set(Arc::downgrade(&overflow));
        Self {
            core,
            endpoints: RwLock::new(HashMap::new()),
            overflow,
            duration_bounds_f64: duration.bounds().into(),
            size_bounds_f64: size.bounds().into(),
            last_len: AtomicUsize::new(4096),
        }
    }

    /// The series cap.
    pub(crate) fn limit(&self) -> usize {
        self.core.limit
    }

    /// Label sets created so far (endpoints, `(method, endpoint)` pairs and status series).
    pub(crate) fn used(&self) -> usize {
        self.core.used.load(Ordering::Acquire)
    }

    /// The endpoint entry of `name`, created if the cap allows, else the overflow endpoint.
    pub(crate) fn endpoint(&self, name: &str) -> Arc<EndpointEntry> {
        if let Some(e) = self.endpoints.read().get(name) {
            return Arc::clone(e);
        }
        // At the cap, new names never take the write lock (which would stall every reader).
        if self.core.used.load(Ordering::Acquire) >= self.core.limit {
            self.core.dropped.inc();
            return Arc::clone(&self.overflow);
        }
        let mut map = self.endpoints.write();
        if let Some(e) = map.get(name) {
            return Arc::clone(e);
        }
        if !self.core.reserve() {
            drop(map);
            self.core.dropped.inc();
            return Arc::clone(&self.overflow);
        }
        let e = Arc::new(EndpointEntry::new(&self.core, name, false));
        map.insert(name.into(), Arc::clone(&e));
        e
    }

    /// Resolves `(endpoint, method)` and bumps the in-progress gauge.
    #[inline]
    pub(crate) fn start(&self, endpoint: Arc<EndpointEntry>, method: usize) -> Slot {
        if let Some(e) = endpoint.method(method) {
            e.in_progress.fetch_add(1, Ordering::Relaxed);
            return Slot { endpoint, method };
        }
        self.core.dropped.inc();
        let endpoint = Arc::clone(&self.overflow);
        if let Some(e) = endpoint.method(method) {
            e.in_progress.fetch_add(1, Ordering::Relaxed);
        }
        Slot { endpoint, method }
    }

    /// Appends the HTTP families to `out`, in OpenMetrics (`open_metrics`) or Prometheus text.
    pub(crate) fn encode(&self, out: &mut String, open_metrics: bool) {
        let mut endpoints: Vec<Arc<EndpointEntry>> =
            self.endpoints.read().values().cloned().collect();
        endpoints.push(Arc::clone(&self.overflow));
        endpoints.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        out.reserve(self.last_len.load(Ordering::Relaxed));
        let start = out.len();

        let labels = |out: &mut String, e: &EndpointEntry, m: usize| {
            out.push_str("{method=\"");
            out.push_str(METHODS[m]);
            out.push_str("\",endpoint=\"");
            out.push_str(&e.escaped);
            out.push('"');
        };

        // http_requests_total
        header(
            out,
            "http_requests",
            "Total HTTP requests by method, endpoint (route template) and status.",
            "counter",
            None,
            open_metrics,
        );
        for e in &endpoints {
            for (m, entry) in e.methods.iter().enumerate() {
                let Some(entry) = entry.get() else { continue };
                for s in entry.statuses.iter().filter_map(OnceLock::get) {
                    out.push_str("http_requests_total");
                    labels(out, e, m);
                    out.push_str(",status=\"");
                    out.push_str(&s.label);
                    out.push_str("\"} ");
                    push_u64(out, s.requests.load(Ordering::Relaxed));
                    if open_metrics {
                        if let Some(ex) =
                            s.exemplars.lock().as_ref().and_then(|x| x.counter.clone())
                        {
                            push_exemplar(out, &ex);
                        }
                    }
                    out.push('\n');
                }
            }
        }

        // http_request_duration_seconds
        header(
            out,
            "http_request_duration_seconds",
            "HTTP request latency until the response head, by method, endpoint and status.",
            "histogram",
            Some("seconds"),
            open_metrics,
        );
        for e in &endpoints {
            for (m, entry) in e.methods.iter().enumerate() {
                let Some(entry) = entry.get() else { continue };
                for s in entry.statuses.iter().filter_map(OnceLock::get) {
                    let exemplars = if open_metrics {
                        s.exemplars.lock().as_ref().map(|x| x.buckets.clone())
                    } else {
                        None
                    };
                    let mut base = String::with_capacity(96);
                    labels(&mut base, e, m);
                    base.push_str(",status=\"");
                    base.push_str(&s.label);
                    base.push('"');
                    encode_histogram(
                        out,
                        "http_request_duration_seconds",
                        &base,
                        &s.duration,
                        &self.duration_bounds_f64,
                        1e9,
                        exemplars.as_deref(),
                    );
                }
            }
        }

        // http_requests_in_progress
        header(
            out,
            "http_requests_in_progress",
            "HTTP requests being served, by method and endpoint.",
            "gauge",
            None,
            open_metrics,
        );
        for e in &endpoints {
            for (m, entry) in e.methods.iter().enumerate() {
                let Some(entry) = entry.get() else { continue };
                out.push_str("http_requests_in_progress");
                labels(out, e, m);
                out.push_str("} ");
                let _ = write!(out, "{}", entry.in_progress.load(Ordering::Relaxed));
                out.push('\n');
            }
        }

        for (name, help, pick) in [
            (
                "http_request_size_bytes",
                "HTTP request body sizes, by method and endpoint.",
                true,
            ),
            (
                "http_response_size_bytes",
                "HTTP response body sizes, by method and endpoint.",
                false,
            ),
        ] {
            header(out, name, help, "histogram", Some("bytes"), open_metrics);
            for e in &endpoints {
                for (m, entry) in e.methods.iter().enumerate() {
                    let Some(entry) = entry.get() else { continue };
                    let h = if pick {
                        &entry.request_size
                    } else {
                        &entry.response_size
                    };
                    let mut base = String::with_capacity(64);
                    labels(&mut base, e, m);
                    encode_histogram(out, name, &base, h, &self.size_bounds_f64, 1.0, None);
                }
            }
        }
        self.last_len.store(out.len() - start, Ordering::Relaxed);
    }
}

fn header(
    out: &mut String,
    name: &str,
    help: &str,
    kind: &str,
    unit: Option<&str>,
    open_metrics: bool,
) {
    let typed_name = if !open_metrics && kind == "counter" {
        format!("{name}_total")
    } else {
        name.to_owned()
    };
    out.push_str("# HELP ");
    out.push_str(&typed_name);
    out.push(' ');
    out.push_str(help);
    out.push_str("\n# TYPE ");
    out.push_str(&typed_name);
    out.push(' ');
    out.push_str(kind);
    out.push('\n');
    if let (Some(unit), true) = (unit, open_metrics) {
        out.push_str("# UNIT ");
        out.push_str(name);
        out.push(' ');
        out.push_str(unit);
        out.push('\n');
    }
}

#[inline]
fn push_u64(out: &mut String, v: u64) {
    let _ = write!(out, "{v}");
}

fn push_exemplar(out: &mut String, ex: &Exemplar) {
    out.push_str(" # {trace_id=\"");
    out.push_str(&escape_label_value(&ex.trace_id));
    out.push_str("\"} ");
    write_f64(out, ex.value);
    out.push(' ');
    let _ = write!(out, "{:.3}", ex.timestamp);
}

/// Writes `_bucket` lines, `_count` and `_sum` of one histogram series; `base` holds the
/// opening `{` and the labels, without the closing brace.
fn encode_histogram(
    out: &mut String,
    name: &str,
    base: &str,
    h: &AtomicHistogram,
    bounds: &[f64],
    scale: f64,
    exemplars: Option<&[Option<Exemplar>]>,
) {
    let mut cumulative = 0u64;
    for (i, c) in h.counts.iter().enumerate() {
        cumulative += c.load(Ordering::Relaxed);
        out.push_str(name);
        out.push_str("_bucket");
        out.push_str(base);
        out.push_str(",le=\"");
        match bounds.get(i) {
            Some(b) => write_f64(out, *b),
            None => out.push_str("+Inf"),
        }
        out.push_str("\"} ");
        push_u64(out, cumulative);
        if let Some(Some(ex)) = exemplars.and_then(|e| e.get(i)) {
            push_exemplar(out, ex);
        }
        out.push('\n');
    }
    out.push_str(name);
    out.push_str("_count");
    out.push_str(base);
    out.push_str("} ");
    push_u64(out, cumulative);
    out.push('\n');
    out.push_str(name);
    out.push_str("_sum");
    out.push_str(base);
    out.push_str("} ");
    write_f64(out, h.sum() as f64 / scale);
    out.push('\n');
}
