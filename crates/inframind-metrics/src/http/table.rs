//! The HTTP series store: lock-free on the request path once a series exists, with a hard cap.
//! [`super::collector`] reads it at scrape time; nothing here knows the exposition format.

use crate::buckets::Buckets;
use parking_lot::{Mutex, RwLock};
use prometheus_client::metrics::counter::Counter;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::SystemTime;

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
/// The `status` of a request dropped before its response head: the client hung up, or a layer
/// outside [`MetricsLayer`](crate::MetricsLayer) (a timeout) gave up on it. nginx logs such
/// requests as 499 ("client closed request"), and so does this crate.
pub const ABANDONED_STATUS: u16 = 499;

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

    /// Per-bucket (not cumulative) counts, `+Inf` last.
    pub(crate) fn counts(&self) -> impl Iterator<Item = u64> + '_ {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed))
    }
}

/// The trace id of the latest traced request of a series, kept as the counter's exemplar.
#[derive(Debug, Clone)]
pub(crate) struct Exemplar {
    pub(crate) trace_id: Box<str>,
    pub(crate) timestamp: SystemTime,
}

/// One `(method, endpoint, status)` series: the request counter and the duration histogram.
#[derive(Debug)]
pub(crate) struct StatusSeries {
    pub(crate) status: u16,
    pub(crate) label: Box<str>,
    pub(crate) requests: AtomicU64,
    pub(crate) duration: AtomicHistogram,
    /// Latest exemplar of the counter; touched only for traced requests, and skipped rather
    /// than waited for when another thread holds it.
    pub(crate) exemplar: Mutex<Option<Exemplar>>,
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
            exemplar: Mutex::new(None),
        }
    }

    #[inline]
    fn record(&self, nanos: u64, trace_id: Option<&str>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.duration.observe(nanos);
        if let Some(trace_id) = trace_id {
            if let Some(mut guard) = self.exemplar.try_lock() {
                *guard = Some(Exemplar {
                    trace_id: trace_id.into(),
                    timestamp: SystemTime::now(),
                });
            }
        }
    }
}

/// One `(method, endpoint)`: in-progress gauge, body sizes, and the status series.
#[derive(Debug)]
pub(crate) struct MethodEntry {
    pub(crate) in_progress: AtomicI64,
    pub(crate) request_size: AtomicHistogram,
    pub(crate) response_size: AtomicHistogram,
    pub(crate) statuses: [OnceLock<Box<StatusSeries>>; STATUS_SLOTS],
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
    fn status(
        &self,
        core: &Core,
        bounds: &Arc<[u64]>,
        status: u16,
        class: bool,
    ) -> Option<&StatusSeries> {
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
                        Box::new(StatusSeries::new(status, class, bounds))
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
    /// The overflow endpoint records statuses by class (`2xx`, `5xx`, ...).
    overflow: bool,
    /// Duration bucket bounds of this endpoint, in nanoseconds and in seconds.
    duration_bounds: Arc<[u64]>,
    pub(crate) duration_bounds_secs: Arc<[f64]>,
    pub(crate) methods: [OnceLock<MethodEntry>; 10],
}

impl EndpointEntry {
    fn new(core: &Arc<Core>, name: &str, overflow: bool, bounds: &RouteBounds) -> Self {
        Self {
            core: Arc::clone(core),
            name: name.into(),
            overflow,
            duration_bounds: Arc::clone(&bounds.nanos),
            duration_bounds_secs: Arc::clone(&bounds.secs),
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
        if let Some(series) = entry.status(core, &self.endpoint.duration_bounds, key, class) {
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
            .and_then(|e| e.status(core, &overflow.duration_bounds, key, true))
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

/// Duration bounds of one endpoint, in nanoseconds (recording) and seconds (encoding).
#[derive(Debug, Clone)]
pub(crate) struct RouteBounds {
    nanos: Arc<[u64]>,
    secs: Arc<[f64]>,
}

impl RouteBounds {
    fn new(buckets: &Buckets) -> Self {
        let to_nanos = |b: &f64| (b * 1e9).round().clamp(0.0, u64::MAX as f64) as u64;
        Self {
            nanos: buckets.bounds().iter().map(to_nanos).collect(),
            secs: buckets.bounds().into(),
        }
    }
}

/// All HTTP series, with the cap shared across them.
#[derive(Debug)]
pub(crate) struct HttpTable {
    core: Arc<Core>,
    endpoints: RwLock<HashMap<Box<str>, Arc<EndpointEntry>>>,
    overflow: Arc<EndpointEntry>,
    default_bounds: RouteBounds,
    route_bounds: HashMap<Box<str>, RouteBounds>,
    pub(crate) size_bounds_f64: Box<[f64]>,
    /// Every endpoint sorted by name, rebuilt by a scrape only when endpoints were added
    /// (they are never removed, so an unchanged count means an unchanged set).
    sorted: Mutex<Vec<Arc<EndpointEntry>>>,
}

impl HttpTable {
    pub(crate) fn new(
        duration: &Buckets,
        route_durations: &[(String, Buckets)],
        size: &Buckets,
        limit: usize,
        dropped: Counter,
    ) -> Self {
        let to_bytes = |b: &f64| b.ceil().clamp(0.0, u64::MAX as f64) as u64;
        let core = Arc::new(Core {
            used: AtomicUsize::new(0),
            limit,
            dropped,
            size_bounds: size.bounds().iter().map(to_bytes).collect(),
            overflow: OnceLock::new(),
        });
        let default_bounds = RouteBounds::new(duration);
        let overflow = Arc::new(EndpointEntry::new(
            &core,
            OVERFLOW_ENDPOINT,
            true,
            &default_bounds,
        ));
        let _ = core.overflow.set(Arc::downgrade(&overflow));
        Self {
            core,
            endpoints: RwLock::new(HashMap::new()),
            overflow,
            default_bounds,
            route_bounds: route_durations
                .iter()
                .map(|(route, b)| (route.as_str().into(), RouteBounds::new(b)))
                .collect(),
            size_bounds_f64: size.bounds().into(),
            sorted: Mutex::new(Vec::new()),
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
        let bounds = self.route_bounds.get(name).unwrap_or(&self.default_bounds);
        let e = Arc::new(EndpointEntry::new(&self.core, name, false, bounds));
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

    /// Every endpoint, the overflow endpoint included, sorted by name. Held by one scrape at a
    /// time; the request path never takes this lock.
    pub(crate) fn snapshot(&self) -> parking_lot::MutexGuard<'_, Vec<Arc<EndpointEntry>>> {
        let mut sorted = self.sorted.lock();
        let map = self.endpoints.read();
        if sorted.len() != map.len() + 1 {
            sorted.clear();
            sorted.extend(map.values().cloned());
            drop(map);
            sorted.push(Arc::clone(&self.overflow));
            sorted.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        }
        sorted
    }
}
