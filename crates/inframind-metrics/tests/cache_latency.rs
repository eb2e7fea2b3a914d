//! `cache_operation_duration_seconds{cache, operation}` from real caches: the latency
//! histograms a `CacheHandle` keeps (`CacheStats::{get,put,invalidate}_latency`) appear at
//! scrape time in the cache's own buckets, summed over distinct handles of one name and
//! counted once for a handle observed twice, in a valid exposition in both text formats.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use common::{
    check_openmetrics, dashboard, lines, panel_metrics, panel_total, parse_series, run_promtool,
    sample,
};
use inframind_cache::{CacheHandle, CacheLayer, MemoryStore, OperationLatency, RedisStore, Store};
use inframind_metrics::{Format, Metrics};
use std::time::Duration;
use tower::ServiceExt;

const FAMILY: &str = "cache_operation_duration_seconds";

fn layer(store: impl Store, prefix: &str) -> CacheLayer {
    CacheLayer::builder(store)
        .ttl(Duration::from_secs(300))
        .prefix(prefix)
        .build()
        .expect("cache layer")
}

async fn get_ok(app: &Router, path: &str) {
    let res = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).expect("req"))
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::OK);
    axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .expect("body");
}

/// Misses (a store get and a put each), hits (a get each) on `paths`, then one namespace
/// invalidation through the handle.
async fn traffic(layer: CacheLayer, paths: &[&str]) {
    let handle = layer.handle();
    let app = Router::new()
        .route("/a", get(|| async { "alpha" }))
        .route("/b", get(|| async { "beta" }))
        .layer(layer);
    for path in paths {
        get_ok(&app, path).await;
    }
    handle
        .invalidate_namespace("assessments")
        .await
        .expect("store reachable");
}

fn latency(stats: &inframind_cache::CacheStats, operation: &str) -> OperationLatency {
    match operation {
        "get" => stats.get_latency,
        "put" => stats.put_latency,
        "invalidate" => stats.invalidate_latency,
        other => panic!("no operation {other}"),
    }
}

/// The `le` values of `series`'s bucket lines (`name_bucket` with `labels`), in order.
fn le_values(text: &str, name: &str, cache: &str, operation: &str) -> Vec<(String, f64)> {
    lines(text, &format!("{name}_bucket"))
        .into_iter()
        .filter_map(parse_series)
        .filter(|(_, labels, _)| {
            labels.contains(&("cache".into(), cache.into()))
                && labels.contains(&("operation".into(), operation.into()))
        })
        .map(|(_, labels, rest)| {
            let le = labels
                .iter()
                .find(|(k, _)| k == "le")
                .map(|(_, v)| v.clone())
                .expect("a bucket has le");
            let value = rest.trim_start().split(' ').next().expect("a value");
            (le, value.parse().expect("a number"))
        })
        .collect()
}

/// Checks one series of the family against `want` (the handles' summed statistics): the
/// cache's 12 bounds and `+Inf` in order, every bucket cumulative and equal to the cache's
/// own counts, `_count` the `+Inf` bucket and the statistics' count, `_sum` the statistics'
/// sum.
fn assert_series(text: &str, cache: &str, operation: &str, want: &OperationLatency) {
    let labels = format!(r#"cache="{cache}",operation="{operation}""#);
    let v =
        |series: String| sample(text, &series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
    assert_eq!(v(format!("{FAMILY}_count{{{labels}}}")), want.count as f64);
    let sum = v(format!("{FAMILY}_sum{{{labels}}}"));
    assert!(
        (sum - want.sum_seconds).abs() < 1e-9,
        "{operation} sum {sum} against {}",
        want.sum_seconds
    );
    let buckets = le_values(text, FAMILY, cache, operation);
    let bounds: Vec<f64> = OperationLatency::BOUNDS_SECONDS
        .into_iter()
        .chain([f64::INFINITY])
        .collect();
    let seen: Vec<f64> = buckets
        .iter()
        .map(|(le, _)| le.parse().expect("le is a number"))
        .collect();
    assert_eq!(
        seen, bounds,
        "{operation}: the cache's bounds, in order\n{text}"
    );
    let mut cumulative = 0;
    for ((le, value), n) in buckets.iter().zip(want.bucket_counts) {
        cumulative += n;
        assert_eq!(*value, cumulative as f64, "{operation} le={le} in\n{text}");
    }
    assert_eq!(cumulative, want.count, "the +Inf bucket is the count");
}

/// The Prometheus text exposition passes `promtool check metrics`, apart from the two
/// spec-named `_total` gauges its linter always flags.
fn assert_promtool_accepts(metrics: &Metrics) {
    let om = metrics.encode(Format::OpenMetrics);
    let (ok, out) = check_openmetrics(&om);
    assert!(ok, "{out}\n{om}");
    let plain = metrics.encode(Format::PrometheusText);
    let (_, out) = run_promtool(&["check", "metrics"], Some(&plain));
    let unexpected: Vec<&str> = out
        .lines()
        .filter(|l| {
            !l.trim().is_empty() && !l.contains("users_total") && !l.contains("assessments_total")
        })
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?}\n{plain}");
}

/// Every operation of `cache` against the summed statistics of `handles`, in both formats.
fn assert_family_matches(metrics: &Metrics, cache: &str, handles: &[&CacheHandle]) {
    for format in [Format::OpenMetrics, Format::PrometheusText] {
        let text = metrics.encode(format);
        for operation in ["get", "put", "invalidate"] {
            let mut want = OperationLatency::default();
            for handle in handles {
                let l = latency(&handle.stats(), operation);
                for (w, n) in want.bucket_counts.iter_mut().zip(l.bucket_counts) {
                    *w += n;
                }
                want.count += l.count;
                want.sum_seconds += l.sum_seconds;
            }
            assert_series(&text, cache, operation, &want);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_operations_are_exported_as_the_caches_own_histograms() {
    let metrics = Metrics::new();
    let cache = layer(MemoryStore::new(), "assessments:list");
    let handle = cache.handle();
    metrics.observe_cache("assessments", handle.clone());
    traffic(cache, &["/a", "/a", "/b", "/a", "/b"]).await;

    let stats = handle.stats();
    assert!(stats.get_latency.count > 0, "{stats:?}");
    assert!(stats.put_latency.count > 0, "{stats:?}");
    assert_eq!(stats.invalidate_latency.count, 1, "{stats:?}");
    let text = metrics.encode(Format::OpenMetrics);
    for operation in ["get", "put", "invalidate"] {
        let count = sample(
            &text,
            &format!(r#"{FAMILY}_count{{cache="assessments",operation="{operation}"}}"#),
        );
        assert!(
            count.is_some_and(|c| c > 0.0),
            "{operation}: {count:?}\n{text}"
        );
    }
    assert_family_matches(&metrics, "assessments", &[&handle]);
    assert_promtool_accepts(&metrics);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_operations_are_exported_as_the_caches_own_histograms() {
    let redis = inframind_test_support::redis();
    let store = RedisStore::builder(redis.url())
        .key_prefix(redis.prefix())
        .connect()
        .await
        .expect("connect to the test Redis");
    let metrics = Metrics::new();
    let cache = layer(store, "assessments:list");
    let handle = cache.handle();
    metrics.observe_cache("assessments", handle.clone());
    traffic(cache, &["/a", "/b", "/a", "/b", "/a"]).await;

    let stats = handle.stats();
    assert!(stats.get_latency.count > 0, "{stats:?}");
    assert!(stats.put_latency.count > 0, "{stats:?}");
    assert_eq!(stats.invalidate_latency.count, 1, "{stats:?}");
    let text = metrics.encode(Format::PrometheusText);
    for operation in ["get", "put", "invalidate"] {
        let count = sample(
            &text,
            &format!(r#"{FAMILY}_count{{cache="assessments",operation="{operation}"}}"#),
        );
        assert!(
            count.is_some_and(|c| c > 0.0),
            "{operation}: {count:?}\n{text}"
        );
    }
    // A network round trip lands above the first buckets: the layout is the cache's, not a
    // guess of ours that would put everything in one bucket.
    assert!(
        sample(
            &text,
            &format!(r#"{FAMILY}_sum{{cache="assessments",operation="get"}}"#)
        )
        .is_some_and(|s| s > 0.0)
    );
    assert_family_matches(&metrics, "assessments", &[&handle]);
    assert_promtool_accepts(&metrics);
}

/// The same handle observed twice counts once; two distinct handles under one name sum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operation_durations_of_one_name_are_summed_and_never_counted_twice() {
    let metrics = Metrics::new();
    let (one, two) = (
        layer(MemoryStore::new(), "one"),
        layer(MemoryStore::new(), "two"),
    );
    let (h1, h2) = (one.handle(), two.handle());
    metrics.observe_cache("api", h1.clone());
    metrics.observe_cache("api", h1.clone());
    metrics.observe_cache("api", h2.clone());
    traffic(one, &["/a", "/a", "/a", "/b"]).await;
    traffic(two, &["/b", "/b"]).await;

    let (s1, s2) = (h1.stats(), h2.stats());
    assert!(s1.get_latency.count > 0 && s2.get_latency.count > 0);
    assert_ne!(
        s1.get_latency.count, s2.get_latency.count,
        "distinguishable"
    );
    let text = metrics.encode(Format::OpenMetrics);
    let count = |operation: &str| {
        sample(
            &text,
            &format!(r#"{FAMILY}_count{{cache="api",operation="{operation}"}}"#),
        )
    };
    assert_eq!(
        count("get"),
        Some((s1.get_latency.count + s2.get_latency.count) as f64),
        "{text}"
    );
    assert_eq!(
        count("put"),
        Some((s1.put_latency.count + s2.put_latency.count) as f64)
    );
    assert_eq!(count("invalidate"), Some(2.0));
    assert_family_matches(&metrics, "api", &[&h1, &h2]);
    assert_promtool_accepts(&metrics);
}

/// The family has its HELP and TYPE before any traffic, an observed cache starts at 0, and a
/// series recorded by hand under an observed name does not become a second series with the
/// same labels; other names recorded by hand keep theirs, in the same buckets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_family_is_there_from_the_start_and_hand_records_never_duplicate_a_series() {
    let metrics = Metrics::new();
    let text = metrics.encode(Format::OpenMetrics);
    assert!(
        text.contains(&format!("# TYPE {FAMILY} histogram")),
        "{text}"
    );
    assert!(text.contains(&format!("# HELP {FAMILY} ")), "{text}");

    let cache = layer(MemoryStore::new(), "users");
    metrics.observe_cache("users", cache.handle());
    let text = metrics.encode(Format::OpenMetrics);
    assert_eq!(
        sample(
            &text,
            &format!(r#"{FAMILY}_count{{cache="users",operation="put"}}"#)
        ),
        Some(0.0),
        "{text}"
    );

    metrics
        .cache()
        .record_lookup("users", true, Duration::from_micros(70));
    metrics
        .cache()
        .record_lookup("sessions", true, Duration::from_micros(70));
    traffic(cache.clone(), &["/a"]).await;
    let text = metrics.encode(Format::OpenMetrics);
    let series: Vec<_> = lines(&text, &format!("{FAMILY}_count"))
        .into_iter()
        .filter_map(|l| parse_series(l).map(|(_, labels, _)| labels))
        .collect();
    let get_users = series
        .iter()
        .filter(|labels| {
            labels.iter().any(|(k, v)| k == "cache" && v == "users")
                && labels.iter().any(|(k, v)| k == "operation" && v == "get")
        })
        .count();
    assert_eq!(get_users, 1, "{text}");
    assert_family_matches(&metrics, "users", &[&cache.handle()]);
    for format in [Format::OpenMetrics, Format::PrometheusText] {
        let text = metrics.encode(format);
        // A name recorded by hand keeps its series, in the cache's layout: 70 µs is in the
        // second bucket (50 µs, 100 µs]. Its `le` values are spelled by prometheus-client's
        // own histogram, and the observed series spell theirs the same way.
        let hand = le_values(&text, FAMILY, "sessions", "get");
        let counts: Vec<f64> = hand.iter().map(|(_, v)| *v).collect();
        assert_eq!(
            counts,
            [
                0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0
            ]
        );
        let spelled = |buckets: Vec<(String, f64)>| -> Vec<String> {
            buckets.into_iter().map(|(le, _)| le).collect()
        };
        assert_eq!(
            spelled(le_values(&text, FAMILY, "users", "get")),
            spelled(hand),
            "{text}"
        );
    }
    assert_promtool_accepts(&metrics);
}

/// The dashboard's cache latency panel queries only what the exposition has, and real
/// traffic on a Redis-backed cache moves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_latency_panel_sees_real_cache_traffic() {
    let names = panel_metrics(&dashboard(), "Cache operation latency p95");
    assert_eq!(names, [format!("{FAMILY}_bucket")]);
    let redis = inframind_test_support::redis();
    let store = RedisStore::builder(redis.url())
        .key_prefix(redis.prefix())
        .connect()
        .await
        .expect("connect to the test Redis");
    let metrics = Metrics::new();
    let cache = layer(store, "assessments:list");
    metrics.observe_cache("assessments", cache.handle());
    let before = panel_total(&metrics.encode(Format::OpenMetrics), &names);
    assert_eq!(before, 0.0);
    traffic(cache, &["/a", "/a"]).await;
    let text = metrics.encode(Format::OpenMetrics);
    assert!(panel_total(&text, &names) > 0.0, "{text}");
}
