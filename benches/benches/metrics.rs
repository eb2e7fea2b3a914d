//! inframind-metrics against its peers, paired and interleaved (see docs/benchmarks.md).
//!
//! ```sh
//! cargo bench -p inframind-benches --bench metrics            # full run
//! cargo bench -p inframind-benches --bench metrics -- --quick # fewer rounds
//! ```
//!
//! 1. Per-request overhead on an in-process axum router (`oneshot`): no layer (baseline),
//!    `inframind_metrics::MetricsLayer`, a hand-written prometheus-client middleware (the
//!    usual `Family::get_or_create` with owned `String` labels and a boxed future) and
//!    axum-prometheus. Every round runs each variant for a batch of requests, in rotating
//!    order; the figure is the median over rounds of (variant - baseline) per request.
//! 2. `/metrics` encoding of the five HTTP families at 1k, 10k and 100k label sets:
//!    `Metrics::encode` against prometheus-client's `text::encode` of the same families with
//!    the same label sets and buckets, paired the same way.

#![allow(clippy::print_stdout, missing_docs)]

use axum::Router;
use axum::body::Body;
use axum::extract::MatchedPath;
use axum::routing::get;
use http::{Request, Response};
use inframind_metrics::{Format, Metrics, MetricsLayer};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::borrow::Cow;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::{Layer, Service, ServiceExt};

// ---------------------------------------------------------------------------------------------
// The hand-written prometheus-client middleware.

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandLabels {
    method: String,
    endpoint: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandRouteLabels {
    method: String,
    endpoint: String,
}

type HistFamily<S> = Family<S, Histogram, fn() -> Histogram>;

#[derive(Clone)]
struct HandLayer {
    requests: Family<HandLabels, Counter>,
    duration: HistFamily<HandLabels>,
    in_progress: Family<HandRouteLabels, Gauge>,
}

fn duration_hist() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

impl HandLayer {
    fn new(registry: &mut Registry) -> Self {
        let l = Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(duration_hist as fn() -> Histogram),
            in_progress: Family::default(),
        };
        registry.register("http_requests", "requests", l.requests.clone());
        registry.register_with_unit(
            "http_request_duration",
            "latency",
            Unit::Seconds,
            l.duration.clone(),
        );
        registry.register(
            "http_requests_in_progress",
            "in flight",
            l.in_progress.clone(),
        );
        l
    }
}

impl<S> Layer<S> for HandLayer {
    type Service = HandService<S>;
    fn layer(&self, inner: S) -> HandService<S> {
        HandService {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
struct HandService<S> {
    inner: S,
    layer: HandLayer,
}

impl<S, B> Service<Request<B>> for HandService<S>
where
    S: Service<Request<B>, Response = Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let method = req.method().as_str().to_owned();
        let endpoint = req
            .extensions()
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        let gauge = self
            .layer
            .in_progress
            .get_or_create_owned(&HandRouteLabels {
                method: method.clone(),
                endpoint: endpoint.clone(),
            });
        gauge.inc();
        let layer = self.layer.clone();
        let start = Instant::now();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await;
            gauge.dec();
            let status = res.as_ref().map_or(500, |r| r.status().as_u16());
            let labels = HandLabels {
                method,
                endpoint,
                status,
            };
            layer.requests.get_or_create(&labels).inc();
            layer
                .duration
                .get_or_create(&labels)
                .observe(start.elapsed().as_secs_f64());
            res
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Paired harness.

fn routes() -> Router {
    Router::new().route("/users/{id}", get(|| async { "ok" }))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs `n` requests on each of `tasks` tasks; the aggregate time per request, in ns.
fn batch(rt: &tokio::runtime::Runtime, app: &Router, n: usize, tasks: usize) -> f64 {
    let start = Instant::now();
    rt.block_on(async {
        let mut handles = Vec::with_capacity(tasks);
        for _ in 0..tasks {
            let app = app.clone();
            handles.push(tokio::spawn(async move {
                for _ in 0..n {
                    let req = Request::get("/users/42")
                        .body(Body::empty())
                        .expect("request");
                    let res = app.clone().oneshot(req).await.expect("infallible");
                    black_box(res);
                }
            }));
        }
        for h in handles {
            h.await.expect("task");
        }
    });
    start.elapsed().as_nanos() as f64 / (n * tasks) as f64
}

/// The four variants; axum-prometheus installs a global recorder, so they are built once.
fn variants(rt: &tokio::runtime::Runtime) -> Vec<(&'static str, Router)> {
    let metrics = Metrics::new();
    let mut registry = Registry::default();
    // axum-prometheus spawns an upkeep task, so it is built inside a runtime.
    let (prom_layer, handle) = {
        let _guard = rt.enter();
        axum_prometheus::PrometheusMetricLayer::pair()
    };
    // Keep the recorder handle alive for the whole run.
    Box::leak(Box::new(handle));
    vec![
        ("no layer", routes()),
        (
            "inframind-metrics",
            routes().layer(MetricsLayer::axum(&metrics)),
        ),
        (
            "hand-written prometheus-client",
            routes().layer(HandLayer::new(&mut registry)),
        ),
        ("axum-prometheus 0.10", routes().layer(prom_layer)),
    ]
}

/// The variants as `axum::serve` runs them: `into_make_service` calls `with_state(())`, which
/// turns every handler (with its layers) into a route once instead of per request.
fn served(variants: Vec<(&'static str, Router)>, convert: bool) -> Vec<(&'static str, Router)> {
    variants
        .into_iter()
        .map(|(n, r)| (n, if convert { r.with_state(()) } else { r }))
        .collect()
}

fn per_request(
    rt: &tokio::runtime::Runtime,
    variants: &[(&'static str, Router)],
    rounds: usize,
    per_batch: usize,
    tasks: usize,
) {
    for (_, app) in variants {
        batch(rt, app, per_batch, tasks); // warm-up
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for round in 0..rounds {
        for k in 0..variants.len() {
            let i = (round + k) % variants.len();
            times[i].push(batch(rt, &variants[i].1, per_batch, tasks));
        }
    }
    println!(
        "per-request overhead on an axum router, {tasks} task(s) on {} worker thread(s), {rounds} rounds x {per_batch} requests per task and variant (aggregate ns/request)",
        rt.metrics().num_workers()
    );
    let mut base = times[0].clone();
    println!(
        "  {:<32} {:>9.0} ns/request (median)",
        variants[0].0,
        median(&mut base)
    );
    for (i, (name, _)) in variants.iter().enumerate().skip(1) {
        let mut diff: Vec<f64> = times[i].iter().zip(&times[0]).map(|(v, b)| v - b).collect();
        let mut ratio: Vec<f64> = times[i].iter().zip(&times[0]).map(|(v, b)| v / b).collect();
        let mut abs = times[i].clone();
        println!(
            "  {:<32} {:>9.0} ns/request, overhead {:>+7.0} ns (x{:.3} of baseline)",
            name,
            median(&mut abs),
            median(&mut diff),
            median(&mut ratio)
        );
    }
}

fn encoding(sizes: &[(usize, usize)]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("/metrics encoding of the five HTTP families (OpenMetrics text)");
    for &(n, rounds) in sizes {
        // Ours: N endpoints recorded through the layer (one GET/200 series each).
        let metrics = Metrics::builder().http_series_limit(4 * n + 16).build();
        let app = Router::new()
            .route("/e/{id}", get(|| async { "ok" }))
            .layer(
                MetricsLayer::axum(&metrics)
                    .endpoint_fn(|uri, _| Some(Cow::Owned(uri.path().to_owned()))),
            );
        rt.block_on(async {
            for i in 0..n {
                let req = Request::get(format!("/e/{i}"))
                    .body(Body::empty())
                    .expect("request");
                black_box(app.clone().oneshot(req).await.expect("infallible"));
            }
        });

        // Plain prometheus-client: the same families, label sets and buckets.
        let mut registry = Registry::default();
        let requests: Family<HandLabels, Counter> = Family::default();
        let duration: HistFamily<HandLabels> =
            Family::new_with_constructor(duration_hist as fn() -> Histogram);
        let in_progress: Family<HandRouteLabels, Gauge> = Family::default();
        fn size_hist() -> Histogram {
            Histogram::new([
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
        let req_size: HistFamily<HandRouteLabels> =
            Family::new_with_constructor(size_hist as fn() -> Histogram);
        let res_size: HistFamily<HandRouteLabels> =
            Family::new_with_constructor(size_hist as fn() -> Histogram);
        registry.register("http_requests", "requests", requests.clone());
        registry.register_with_unit(
            "http_request_duration",
            "latency",
            Unit::Seconds,
            duration.clone(),
        );
        registry.register(
            "http_requests_in_progress",
            "in flight",
            in_progress.clone(),
        );
        registry.register_with_unit(
            "http_request_size",
            "request sizes",
            Unit::Bytes,
            req_size.clone(),
        );
        registry.register_with_unit(
            "http_response_size",
            "response sizes",
            Unit::Bytes,
            res_size.clone(),
        );
        for i in 0..n {
            let route = HandRouteLabels {
                method: "GET".into(),
                endpoint: format!("/e/{i}"),
            };
            let labels = HandLabels {
                method: "GET".into(),
                endpoint: format!("/e/{i}"),
                status: 200,
            };
            requests.get_or_create(&labels).inc();
            duration.get_or_create(&labels).observe(0.0001);
            in_progress.get_or_create(&route).set(0);
            req_size.get_or_create(&route).observe(0.0);
            res_size.get_or_create(&route).observe(2.0);
        }

        let ours = || {
            let start = Instant::now();
            let text = metrics.encode(Format::OpenMetrics);
            let t = start.elapsed();
            (t, text.len())
        };
        let plain = || {
            let start = Instant::now();
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
            let t = start.elapsed();
            (t, text.len())
        };
        let (_, ours_len) = ours();
        let (_, plain_len) = plain();
        let mut ratio = Vec::new();
        let mut ours_ns = Vec::new();
        let mut plain_ns = Vec::new();
        for r in 0..rounds {
            let (a, b) = if r % 2 == 0 {
                let a = ours().0;
                (a, plain().0)
            } else {
                let b = plain().0;
                (ours().0, b)
            };
            ours_ns.push(a.as_nanos() as f64 / n as f64);
            plain_ns.push(b.as_nanos() as f64 / n as f64);
            ratio.push(a.as_secs_f64() / b.as_secs_f64().max(1e-12));
        }
        println!(
            "  {:>6} label sets: inframind-metrics {:>6.0} ns/set ({} KiB), prometheus-client {:>6.0} ns/set ({} KiB), ratio x{:.3}",
            n,
            median(&mut ours_ns),
            ours_len / 1024,
            median(&mut plain_ns),
            plain_len / 1024,
            median(&mut ratio)
        );
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let only = std::env::args().find_map(|a| a.strip_prefix("--only=").map(str::to_owned));
    let t = Instant::now();
    // Instruction counts, immune to machine load: run one variant under callgrind, e.g.
    // valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/deps/metrics-* --requests-of=1
    if let Some(v) =
        std::env::args().find_map(|a| a.strip_prefix("--requests-of=").map(str::to_owned))
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let variants = served(variants(&rt), !std::env::args().any(|a| a == "--direct"));
        let i: usize = v.parse().expect("variant index 0..=3");
        batch(&rt, &variants[i].1, 20_000, 1);
        println!("ran 20000 requests of {}", variants[i].0);
        return;
    }
    if only.as_deref().is_none_or(|o| o == "layer") {
        let (rounds, per_batch) = if quick { (20, 1000) } else { (60, 2000) };
        let single = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let direct = variants(&multi);
        let served = served(direct.clone(), true);
        println!(
            "# Router as axum::serve runs it (handlers and layers converted once, `with_state`)"
        );
        per_request(&single, &served, rounds, per_batch, 1);
        per_request(&multi, &served, rounds / 2, per_batch, 2);
        println!(
            "# Router<()> called directly (axum converts handlers and applies layers per request)"
        );
        per_request(&single, &direct, rounds, per_batch, 1);
    }
    if only.as_deref().is_none_or(|o| o == "encode") {
        if quick {
            encoding(&[(1_000, 20), (10_000, 6), (100_000, 2)]);
        } else {
            encoding(&[(1_000, 100), (10_000, 30), (100_000, 6)]);
        }
    }
    println!("total {:?}", t.elapsed().max(Duration::ZERO));
}
