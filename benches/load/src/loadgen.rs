//! The load generator: one keep-alive HTTP/1.1 connection per concurrent client, on hyper,
//! latencies in an HDR histogram.
//!
//! Two modes. Closed loop: each connection sends its next request when the previous one is
//! answered. Open loop (a fixed rate): request `i` is due at `start + i / rate`, and its
//! latency is measured from that intended time, not from when a connection was free to send
//! it, so a stalled server shows in the tail instead of silently slowing the client down
//! (coordinated omission). Every run is bounded by a request count, a duration, or both.
//!
//! Traffic goes to 127.0.0.1 only: [`Target::parse`] refuses any other host.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{HeaderName, HeaderValue, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// In a path, replaced by the request's sequence number: a query such as `?n={n}` makes every
/// request a distinct cache key (a miss).
pub(crate) const SEQUENCE: &str = "{n}";

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum LoadError {
    /// Only `http://127.0.0.1:PORT/...` is accepted.
    #[error("refusing target {0:?}: the harness sends traffic to http://127.0.0.1:PORT only")]
    NotLoopback(String),
    /// The URL does not parse.
    #[error("bad target URL {url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Neither a request count nor a duration: the run would never stop.
    #[error("a run needs a request count or a duration")]
    Unbounded,
    /// Zero connections, or a rate that is not a positive number.
    #[error("bad plan: {0}")]
    BadPlan(&'static str),
}

/// Where requests go: a loopback address and a path (which may contain [`SEQUENCE`]).
#[derive(Debug, Clone)]
pub(crate) struct Target {
    addr: SocketAddr,
    path: String,
}

impl Target {
    /// Parses `http://127.0.0.1:PORT/path?query`; anything else is refused.
    pub(crate) fn parse(url: &str) -> Result<Self, LoadError> {
        let Some(rest) = url.strip_prefix("http://") else {
            return Err(if url.contains("://") {
                LoadError::NotLoopback(url.to_owned())
            } else {
                LoadError::BadUrl {
                    url: url.to_owned(),
                    reason: "expected http://127.0.0.1:PORT/path",
                }
            });
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err(LoadError::NotLoopback(url.to_owned()));
        }
        let addr: SocketAddr = authority.parse().map_err(|_| {
            // A name (localhost, a host) or an address without a port.
            if authority.starts_with("127.0.0.1") {
                LoadError::BadUrl {
                    url: url.to_owned(),
                    reason: "the port is missing or invalid",
                }
            } else {
                LoadError::NotLoopback(url.to_owned())
            }
        })?;
        if addr.ip() != std::net::IpAddr::V4(Ipv4Addr::LOCALHOST) {
            return Err(LoadError::NotLoopback(url.to_owned()));
        }
        Ok(Self {
            addr,
            path: path.to_owned(),
        })
    }

    /// The path of request number `n`.
    fn path_for(&self, n: u64) -> String {
        if self.path.contains(SEQUENCE) {
            self.path.replace(SEQUENCE, &n.to_string())
        } else {
            self.path.clone()
        }
    }
}

/// How much load to send.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Connections, each with at most one request in flight.
    pub(crate) concurrency: usize,
    /// Stop after this many requests.
    pub(crate) requests: Option<u64>,
    /// Stop sending after this long.
    pub(crate) duration: Option<Duration>,
    /// Open loop at this many requests per second; `None` is a closed loop.
    pub(crate) rate: Option<f64>,
    /// The method of every request (GET unless told).
    pub(crate) method: http::Method,
    /// The body of every request (empty unless told).
    pub(crate) body: Bytes,
    /// Headers sent with every request.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// A request not answered within this is counted as an error (and its connection dropped).
    pub(crate) timeout: Duration,
    /// Offsets from the start that split the results into phases (an outage's start and end);
    /// a request belongs to the phase its intended send time falls in.
    pub(crate) phases: Vec<Duration>,
}

impl Plan {
    /// A closed loop of `concurrency` connections for `duration`.
    pub(crate) fn closed(concurrency: usize, duration: Duration) -> Self {
        Self {
            concurrency,
            requests: None,
            duration: Some(duration),
            rate: None,
            method: http::Method::GET,
            body: Bytes::new(),
            headers: Vec::new(),
            timeout: Duration::from_secs(30),
            phases: Vec::new(),
        }
    }

    /// Sends every request as `method` with `body` (JSON) instead of an empty GET.
    pub(crate) fn send_json(mut self, method: http::Method, body: &serde_json::Value) -> Self {
        self.method = method;
        self.body = Bytes::from(body.to_string());
        self.header("content-type", "application/json")
    }

    /// Adds a header to every request.
    pub(crate) fn header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((HeaderName::from_static(name), value));
        }
        self
    }

    fn check(&self) -> Result<(), LoadError> {
        if self.requests.is_none() && self.duration.is_none() {
            return Err(LoadError::Unbounded);
        }
        if self.concurrency == 0 {
            return Err(LoadError::BadPlan("concurrency must be at least 1"));
        }
        if self
            .rate
            .is_some_and(|rate| !(rate.is_finite() && rate > 0.0))
        {
            return Err(LoadError::BadPlan("rate must be a positive number"));
        }
        Ok(())
    }
}

/// What one run (or one phase of it) measured. Latencies in milliseconds.
#[derive(Debug, Clone, Serialize, serde::Deserialize, Default)]
pub(crate) struct Summary {
    /// Requests answered or failed.
    pub(crate) requests: u64,
    /// 2xx answers.
    pub(crate) ok: u64,
    /// Answers with another status.
    pub(crate) non_2xx: u64,
    /// Connection errors and time-outs.
    pub(crate) errors: u64,
    /// Wall time of the run, in seconds.
    pub(crate) elapsed_s: f64,
    /// Requests per second over the run.
    pub(crate) rps: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p95_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
    pub(crate) mean_ms: f64,
    /// Response body bytes received.
    pub(crate) body_bytes: u64,
    /// Answers by status code.
    pub(crate) statuses: BTreeMap<u16, u64>,
    /// Answers by `X-Cache` value (`-` when absent).
    pub(crate) x_cache: BTreeMap<String, u64>,
    /// Per phase, when the plan had phases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) phases: Vec<Summary>,
}

impl Summary {
    /// Errors and non-2xx answers over requests.
    pub(crate) fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            (self.errors + self.non_2xx) as f64 / self.requests as f64
        }
    }
}

/// The tally of one phase (or the whole run) in one connection.
#[derive(Debug, Clone)]
struct Tally {
    latency_us: Histogram<u64>,
    ok: u64,
    non_2xx: u64,
    errors: u64,
    body_bytes: u64,
    statuses: BTreeMap<u16, u64>,
    x_cache: BTreeMap<String, u64>,
}

impl Tally {
    fn new() -> Self {
        Self {
            // 1 µs to 10 min, 3 significant digits; larger values are clamped.
            latency_us: Histogram::new_with_bounds(1, 600_000_000, 3)
                .expect("1 µs to 10 min at 3 significant digits are valid bounds"),
            ok: 0,
            non_2xx: 0,
            errors: 0,
            body_bytes: 0,
            statuses: BTreeMap::new(),
            x_cache: BTreeMap::new(),
        }
    }

    fn record(&mut self, latency: Duration, outcome: &Outcome) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.latency_us.saturating_record(micros);
        match outcome {
            Outcome::Answered {
                status,
                x_cache,
                body_bytes,
            } => {
                if (200..300).contains(status) {
                    self.ok += 1;
                } else {
                    self.non_2xx += 1;
                }
                *self.statuses.entry(*status).or_default() += 1;
                *self.x_cache.entry(x_cache.clone()).or_default() += 1;
                self.body_bytes += body_bytes;
            }
            Outcome::Failed => self.errors += 1,
        }
    }

    fn merge(&mut self, other: &Self) {
        // Both have the same bounds, so adding cannot fail.
        let _ = self.latency_us.add(&other.latency_us);
        self.ok += other.ok;
        self.non_2xx += other.non_2xx;
        self.errors += other.errors;
        self.body_bytes += other.body_bytes;
        for (k, v) in &other.statuses {
            *self.statuses.entry(*k).or_default() += v;
        }
        for (k, v) in &other.x_cache {
            *self.x_cache.entry(k.clone()).or_default() += v;
        }
    }

    fn summary(&self, elapsed: Duration) -> Summary {
        let ms = |us: u64| us as f64 / 1000.0;
        let h = &self.latency_us;
        let requests = self.ok + self.non_2xx + self.errors;
        let elapsed_s = elapsed.as_secs_f64();
        Summary {
            requests,
            ok: self.ok,
            non_2xx: self.non_2xx,
            errors: self.errors,
            elapsed_s,
            rps: if elapsed_s > 0.0 {
                requests as f64 / elapsed_s
            } else {
                0.0
            },
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
            body_bytes: self.body_bytes,
            statuses: self.statuses.clone(),
            x_cache: self.x_cache.clone(),
            phases: Vec::new(),
        }
    }
}

#[derive(Debug)]
enum Outcome {
    Answered {
        status: u16,
        x_cache: String,
        body_bytes: u64,
    },
    Failed,
}

struct Shared {
    target: Target,
    plan: Plan,
    next: AtomicU64,
    start: Instant,
}

/// Runs `plan` against `target` on the current tokio runtime and waits for every connection.
pub(crate) async fn run(target: Target, plan: Plan) -> Result<Summary, LoadError> {
    plan.check()?;
    let shared = Arc::new(Shared {
        target,
        plan,
        next: AtomicU64::new(0),
        start: Instant::now(),
    });
    let workers: Vec<_> = (0..shared.plan.concurrency)
        .map(|_| tokio::spawn(connection(Arc::clone(&shared))))
        .collect();
    let phase_count = shared.plan.phases.len() + 1;
    let mut phases = vec![Tally::new(); phase_count];
    for worker in workers {
        if let Ok(tallies) = worker.await {
            for (total, part) in phases.iter_mut().zip(&tallies) {
                total.merge(part);
            }
        }
    }
    let elapsed = shared.start.elapsed();
    let mut total = Tally::new();
    for phase in &phases {
        total.merge(phase);
    }
    let mut summary = total.summary(elapsed);
    if phase_count > 1 {
        let mut bounds = vec![Duration::ZERO];
        bounds.extend(shared.plan.phases.iter().copied());
        bounds.push(elapsed.max(*bounds.last().unwrap_or(&Duration::ZERO)));
        summary.phases = phases
            .iter()
            .enumerate()
            .map(|(i, tally)| tally.summary(bounds[i + 1].saturating_sub(bounds[i])))
            .collect();
    }
    Ok(summary)
}

/// One connection's loop: take the next request number, wait for its slot (open loop), send,
/// record. Reconnects after an error.
async fn connection(shared: Arc<Shared>) -> Vec<Tally> {
    let plan = &shared.plan;
    let mut tallies = vec![Tally::new(); plan.phases.len() + 1];
    let deadline = plan.duration.map(|d| shared.start + d);
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    loop {
        let n = shared.next.fetch_add(1, Ordering::Relaxed);
        if plan.requests.is_some_and(|limit| n >= limit) {
            break;
        }
        let intended = match plan.rate {
            Some(rate) => shared.start + Duration::from_secs_f64(n as f64 / rate),
            None => Instant::now(),
        };
        if deadline.is_some_and(|d| intended >= d) {
            break;
        }
        if plan.rate.is_some() {
            tokio::time::sleep_until(intended).await;
        }
        let outcome = match tokio::time::timeout(plan.timeout, send(&shared, &mut sender, n)).await
        {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(())) | Err(_) => {
                sender = None;
                Outcome::Failed
            }
        };
        let latency = intended.elapsed();
        let offset = intended.saturating_duration_since(shared.start);
        let phase = plan.phases.iter().take_while(|b| offset >= **b).count();
        tallies[phase].record(latency, &outcome);
        if matches!(outcome, Outcome::Failed) {
            // A refused connection fails at once; do not spin on it.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    tallies
}

async fn send(
    shared: &Shared,
    sender: &mut Option<SendRequest<Full<Bytes>>>,
    n: u64,
) -> Result<Outcome, ()> {
    if sender.as_ref().is_none_or(SendRequest::is_closed) {
        *sender = Some(connect(shared.target.addr).await?);
    }
    let Some(client) = sender.as_mut() else {
        return Err(());
    };
    client.ready().await.map_err(drop)?;
    let mut request = Request::builder()
        .method(shared.plan.method.clone())
        .uri(shared.target.path_for(n))
        .header(http::header::HOST, shared.target.addr.to_string())
        .body(Full::new(shared.plan.body.clone()))
        .map_err(drop)?;
    for (name, value) in &shared.plan.headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    let response = client.send_request(request).await.map_err(drop)?;
    let status = response.status().as_u16();
    let x_cache = response
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let mut body = response.into_body();
    let mut body_bytes = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(drop)?;
        if let Some(data) = frame.data_ref() {
            body_bytes += data.len() as u64;
        }
    }
    Ok(Outcome::Answered {
        status,
        x_cache,
        body_bytes,
    })
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, ()> {
    let stream = TcpStream::connect(addr).await.map_err(drop)?;
    stream.set_nodelay(true).map_err(drop)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(drop)?;
    tokio::spawn(async move {
        // Ends when the server closes the connection or the sender is dropped.
        let _ = conn.await;
    });
    Ok(sender)
}

/// Runs `plan` on a fresh single-threaded runtime of its own thread, so the generator uses
/// one core and never shares a runtime with the harness's own work.
pub(crate) async fn run_on_own_thread(target: Target, plan: Plan) -> Result<Summary, LoadError> {
    let joined = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|_| LoadError::BadPlan("cannot build the generator's runtime"))?;
        runtime.block_on(run(target, plan))
    })
    .await;
    joined.unwrap_or(Err(LoadError::BadPlan("the generator's thread panicked")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        for url in [
            "http://10.0.0.1:80/",
            "http://192.168.1.1:8000/api",
            "http://localhost:8000/",
            "http://example.com/",
            "https://127.0.0.1:443/",
            "http://127.0.0.2:80/",
            "http://0.0.0.0:80/",
            "http://[::1]:80/",
            "http://user@127.0.0.1:80/",
        ] {
            assert!(
                matches!(Target::parse(url), Err(LoadError::NotLoopback(_))),
                "{url} was not refused"
            );
        }
        let target = Target::parse("http://127.0.0.1:8000/api/assessments?n={n}").unwrap();
        assert_eq!(target.addr.port(), 8000);
        assert_eq!(target.path_for(7), "/api/assessments?n=7");
        assert!(matches!(
            Target::parse("http://127.0.0.1/"),
            Err(LoadError::BadUrl { .. })
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unbounded_plans_are_refused() {
        let target = Target::parse("http://127.0.0.1:9/").unwrap();
        let mut plan = Plan::closed(1, Duration::from_millis(10));
        plan.duration = None;
        assert!(matches!(
            run(target.clone(), plan).await,
            Err(LoadError::Unbounded)
        ));
        let mut plan = Plan::closed(1, Duration::from_millis(10));
        plan.rate = Some(0.0);
        assert!(matches!(
            run(target, plan).await,
            Err(LoadError::BadPlan(_))
        ));
    }

    /// A server that answers after `delay`, one request at a time per connection.
    async fn slow_server(delay: Duration) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(move || async move {
                tokio::time::sleep(delay).await;
                "ok"
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_count_bounds_the_run_exactly() {
        let addr = slow_server(Duration::ZERO).await;
        let target = Target::parse(&format!("http://{addr}/")).unwrap();
        let mut plan = Plan::closed(4, Duration::from_secs(30));
        plan.requests = Some(37);
        let summary = run(target, plan).await.unwrap();
        assert_eq!(summary.requests, 37);
        assert_eq!(summary.ok, 37);
        assert_eq!(summary.body_bytes, 37 * 2);
    }

    /// One connection, a server taking 50 ms, 100 requests per second for 0.5 s: a closed loop
    /// would report 50 ms for every request; the open loop counts the queueing behind the slow
    /// answers from each request's intended send time, so the tail grows far past 50 ms.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_loop_latency_counts_from_the_intended_send_time() {
        let addr = slow_server(Duration::from_millis(50)).await;
        let target = Target::parse(&format!("http://{addr}/")).unwrap();
        let mut plan = Plan::closed(1, Duration::from_millis(500));
        plan.rate = Some(100.0);
        let open = run(target.clone(), plan).await.unwrap();
        let closed = run(target, Plan::closed(1, Duration::from_millis(500)))
            .await
            .unwrap();
        assert!(closed.max_ms < 200.0, "closed loop: {closed:?}");
        // 50 requests were due in 0.5 s; the 50th waited for 49 answers of 50 ms each.
        assert_eq!(open.requests, 50, "{open:?}");
        assert!(open.max_ms > 1000.0, "open loop: {open:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn phases_split_the_results_by_intended_send_time() {
        let addr = slow_server(Duration::ZERO).await;
        let target = Target::parse(&format!("http://{addr}/")).unwrap();
        let mut plan = Plan::closed(2, Duration::from_millis(300));
        plan.rate = Some(200.0);
        plan.phases = vec![Duration::from_millis(100), Duration::from_millis(200)];
        let summary = run(target, plan).await.unwrap();
        assert_eq!(summary.requests, 60);
        assert_eq!(summary.phases.len(), 3);
        assert_eq!(
            summary
                .phases
                .iter()
                .map(|p| p.requests)
                .collect::<Vec<_>>(),
            vec![20, 20, 20]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_connection_is_an_error_not_a_hang() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let target = Target::parse(&format!("http://{addr}/")).unwrap();
        let mut plan = Plan::closed(2, Duration::from_secs(5));
        plan.requests = Some(10);
        let summary = run(target, plan).await.unwrap();
        assert_eq!(summary.errors, 10);
        assert!((summary.error_rate() - 1.0).abs() < f64::EPSILON);
    }
}
