//! Scrape-time collectors over the real inframind-cache, inframind-loader and
//! inframind-breaker crates: their statistics appear in `/metrics` with the right values, and
//! the exposition stays valid.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use common::{check_openmetrics, run_promtool, sample};
use inframind_breaker::{BreakerConfig, BreakerError, BreakerRegistry};
use inframind_cache::{CacheLayer, MemoryStore};
use inframind_loader::{Loaded, Loader, StatsRegistry};
use inframind_metrics::{Format, Metrics};
use std::time::Duration;
use tower::ServiceExt;

#[tokio::test]
async fn cache_statistics_feed_the_cache_families() {
    let metrics = Metrics::new();
    let store = MemoryStore::new();
    let cache = CacheLayer::builder(store.clone())
        .ttl(Duration::from_secs(300))
        .prefix("assessments:list")
        .build()
        .expect("cache layer");
    metrics.observe_cache("assessments", cache.handle());
    let app = Router::new().route("/api/assessments", get(|| async { "[1,2,3]" }).layer(cache));
    for _ in 0..5 {
        let res = app
            .clone()
            .oneshot(
                Request::get("/api/assessments")
                    .body(Body::empty())
                    .expect("req"),
            )
            .await
            .expect("infallible");
        assert_eq!(res.status(), StatusCode::OK);
        axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("body");
    }
    let post = Request::post("/api/assessments")
        .body(Body::empty())
        .expect("req");
    let _ = app.clone().oneshot(post).await.expect("infallible");

    let text = metrics.encode(Format::OpenMetrics);
    let v = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
    assert_eq!(v(r#"cache_hits_total{cache="assessments"}"#), 4.0);
    assert_eq!(v(r#"cache_misses_total{cache="assessments"}"#), 1.0);
    assert_eq!(v(r#"cache_entries{cache="assessments"}"#), 1.0);
    let memory = v(r#"cache_memory_bytes{cache="assessments"}"#);
    assert!(memory > 0.0, "one entry occupies memory");
    assert_eq!(
        memory,
        store.bytes() as f64,
        "the gauge is the store's own figure"
    );
    assert_eq!(v(r#"cache_bypasses_total{cache="assessments"}"#), 1.0);
    assert_eq!(v(r#"cache_store_errors_total{cache="assessments"}"#), 0.0);
    assert!(v(r#"cache_stored_bytes_total{cache="assessments"}"#) > 0.0);
    let (ok, out) = check_openmetrics(&text);
    assert!(ok, "{out}\n{text}");
}

#[tokio::test]
async fn loader_statistics_feed_the_loader_families() {
    let metrics = Metrics::new();
    let stats = StatsRegistry::new();
    metrics.observe_loaders(stats.clone());
    for _request in 0..3 {
        let loader = Loader::builder(|keys: Vec<u32>| async move {
            Ok::<_, std::convert::Infallible>(
                keys.into_iter()
                    .map(|k| (k, k * 2))
                    .collect::<Loaded<_, _, _>>(),
            )
        })
        .name("User_id")
        .stats(&stats)
        .build();
        let _ = loader.load_many([1, 2, 3, 4]).await;
    }
    let text = metrics.encode(Format::OpenMetrics);
    let v = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
    assert_eq!(v(r#"loader_batches_total{loader="User_id"}"#), 3.0);
    assert_eq!(v(r#"loader_items_loaded_total{loader="User_id"}"#), 12.0);
    assert_eq!(v(r#"loader_queries_total{loader="User_id"}"#), 3.0);
    assert_eq!(v(r#"loader_queries_saved_total{loader="User_id"}"#), 9.0);
    assert_eq!(v(r#"loader_efficiency_ratio{loader="User_id"}"#), 4.0);
    assert_eq!(v(r#"loader_batch_size_count{loader="User_id"}"#), 3.0);
    assert_eq!(v(r#"loader_batch_size_sum{loader="User_id"}"#), 12.0);
    assert_eq!(
        v(r#"loader_batch_size_bucket{le="2.0",loader="User_id"}"#),
        0.0
    );
    assert_eq!(
        v(r#"loader_batch_size_bucket{le="5.0",loader="User_id"}"#),
        3.0
    );
    assert_eq!(
        v(r#"loader_batch_size_bucket{le="+Inf",loader="User_id"}"#),
        3.0
    );
    let (ok, out) = check_openmetrics(&text);
    assert!(ok, "{out}\n{text}");
}

#[tokio::test]
async fn breaker_state_is_a_gauge_per_state() {
    let metrics = Metrics::new();
    let breakers = BreakerRegistry::new();
    metrics.observe_breakers(breakers.clone());
    let config = || {
        BreakerConfig::builder()
            .failure_threshold(3)
            .recovery_timeout(Duration::from_secs(60))
            .build()
            .expect("config")
    };
    let openai = breakers.create_breaker("openai", config());
    let anthropic = breakers.create_breaker("anthropic", config());
    for _ in 0..2 {
        let ok: Result<u32, BreakerError<std::io::Error>> = anthropic.call(async { Ok(1) }).await;
        assert!(ok.is_ok());
    }
    for _ in 0..3 {
        let failed: Result<u32, BreakerError<std::io::Error>> = openai
            .call(async { Err(std::io::Error::other("boom")) })
            .await;
        assert!(failed.is_err());
    }
    let rejected: Result<u32, BreakerError<std::io::Error>> = openai.call(async { Ok(1) }).await;
    assert!(rejected.is_err(), "the breaker is open");

    let text = metrics.encode(Format::OpenMetrics);
    let v = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
    assert_eq!(
        v(r#"circuit_breaker_state{breaker="openai",state="open"}"#),
        1.0
    );
    assert_eq!(
        v(r#"circuit_breaker_state{breaker="openai",state="closed"}"#),
        0.0
    );
    assert_eq!(
        v(r#"circuit_breaker_state{breaker="anthropic",state="closed"}"#),
        1.0
    );
    assert_eq!(
        v(r#"circuit_breaker_state{breaker="anthropic",state="open"}"#),
        0.0
    );
    assert_eq!(
        v(r#"circuit_breaker_calls_total{breaker="openai",outcome="failure"}"#),
        3.0
    );
    assert_eq!(
        v(r#"circuit_breaker_calls_total{breaker="openai",outcome="rejected"}"#),
        1.0
    );
    assert_eq!(
        v(r#"circuit_breaker_calls_total{breaker="anthropic",outcome="success"}"#),
        2.0
    );
    let open_states = text
        .lines()
        .filter(|l| l.starts_with("circuit_breaker_state{breaker=\"openai\"") && l.ends_with(" 1"))
        .count();
    assert_eq!(open_states, 1, "exactly one state is current");

    let (ok, out) = check_openmetrics(&text);
    assert!(ok, "{out}\n{text}");
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

async fn load_keys(stats: &StatsRegistry, name: &str, keys: Vec<u32>) {
    let loader = Loader::builder(|keys: Vec<u32>| async move {
        Ok::<_, std::convert::Infallible>(
            keys.into_iter()
                .map(|k| (k, k))
                .collect::<Loaded<_, _, _>>(),
        )
    })
    .name(name)
    .stats(stats)
    .build();
    let _ = loader.load_many(keys).await;
}

/// Two registries each with a loader "Dup" are summed; a registry observed twice counts once.
#[tokio::test]
async fn loaders_of_one_name_are_summed_and_never_counted_twice() {
    let metrics = Metrics::new();
    let (a, b) = (StatsRegistry::new(), StatsRegistry::new());
    load_keys(&a, "Dup", vec![1, 2]).await;
    load_keys(&b, "Dup", vec![1, 2, 3, 4, 5]).await;
    metrics.observe_loaders(a.clone());
    metrics.observe_loaders(b);
    metrics.observe_loaders(a);
    let text = metrics.encode(Format::OpenMetrics);
    let v = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
    assert_eq!(v(r#"loader_items_loaded_total{loader="Dup"}"#), 7.0);
    assert_eq!(v(r#"loader_batches_total{loader="Dup"}"#), 2.0);
    assert_eq!(v(r#"loader_efficiency_ratio{loader="Dup"}"#), 3.5);
    assert_eq!(v(r#"loader_batch_size_count{loader="Dup"}"#), 2.0);
    assert_eq!(v(r#"loader_batch_size_sum{loader="Dup"}"#), 7.0);
    let (ok, out) = check_openmetrics(&text);
    assert!(ok, "{out}\n{text}");
}

/// Breakers named "x" in two registries are summed (calls, and how many are in each state);
/// a registry observed twice counts once.
#[tokio::test]
async fn breakers_of_one_name_are_summed_and_never_counted_twice() {
    let metrics = Metrics::new();
    let (a, b) = (BreakerRegistry::new(), BreakerRegistry::new());
    let config = || BreakerConfig::builder().build().expect("config");
    let (x1, x2) = (
        a.create_breaker("x", config()),
        b.create_breaker("x", config()),
    );
    let ok = || async { Ok::<u32, std::io::Error>(1) };
    let _: Result<u32, BreakerError<std::io::Error>> = x1.call(ok()).await;
    for _ in 0..4 {
        let _: Result<u32, BreakerError<std::io::Error>> = x2.call(ok()).await;
    }
    metrics.observe_breakers(a.clone());
    metrics.observe_breakers(b);
    metrics.observe_breakers(a);
    let text = metrics.encode(Format::OpenMetrics);
    let v = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
    assert_eq!(
        v(r#"circuit_breaker_calls_total{breaker="x",outcome="success"}"#),
        5.0
    );
    assert_eq!(
        v(r#"circuit_breaker_state{breaker="x",state="closed"}"#),
        2.0
    );
    assert_eq!(v(r#"circuit_breaker_state{breaker="x",state="open"}"#), 0.0);
    let (ok, out) = check_openmetrics(&text);
    assert!(ok, "{out}\n{text}");
}

/// The same cache handle observed twice counts once; two distinct handles under one name sum.
#[tokio::test]
async fn caches_of_one_name_are_summed_and_never_counted_twice() {
    let metrics = Metrics::new();
    let layer = |prefix: &str| {
        CacheLayer::builder(MemoryStore::new())
            .ttl(Duration::from_secs(300))
            .prefix(prefix)
            .build()
            .expect("cache layer")
    };
    let (one, two) = (layer("one"), layer("two"));
    metrics.observe_cache("api", one.handle());
    metrics.observe_cache("api", one.handle());
    metrics.observe_cache("api", two.handle());
    let app = Router::new()
        .route("/one", get(|| async { "1" }).layer(one))
        .route("/two", get(|| async { "2" }).layer(two));
    // /one: a miss and 2 hits; /two: a miss and 1 hit.
    for path in ["/one", "/one", "/one", "/two", "/two"] {
        let res = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).expect("req"))
            .await
            .expect("infallible");
        axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("body");
    }
    let text = metrics.encode(Format::OpenMetrics);
    let v = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
    assert_eq!(v(r#"cache_hits_total{cache="api"}"#), 3.0);
    assert_eq!(v(r#"cache_misses_total{cache="api"}"#), 2.0);
    assert_eq!(v(r#"cache_entries{cache="api"}"#), 2.0);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]
    /// Against a model: whatever registries exist, however often each is observed, a loader
    /// name exports the sum over the distinct registries of that name's keys.
    #[test]
    fn loader_totals_match_the_model(
        loads in proptest::collection::vec(
            proptest::collection::vec((0usize..2, 1u32..6), 0..3),
            1..4,
        ),
        observed in proptest::collection::vec(0usize..4, 1..7),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let names = ["A", "B"];
        let registries: Vec<StatsRegistry> = loads.iter().map(|_| StatsRegistry::new()).collect();
        rt.block_on(async {
            for (r, batches) in registries.iter().zip(&loads) {
                for (name, keys) in batches {
                    load_keys(r, names[*name], (0..*keys).collect()).await;
                }
            }
        });
        let metrics = Metrics::new();
        let mut distinct = std::collections::BTreeSet::new();
        for i in observed {
            let i = i % registries.len();
            distinct.insert(i);
            metrics.observe_loaders(registries[i].clone());
        }
        let text = metrics.encode(Format::OpenMetrics);
        for (n, name) in names.iter().enumerate() {
            let want: u32 = distinct
                .iter()
                .flat_map(|i| &loads[*i])
                .filter(|(l, _)| *l == n)
                .map(|(_, k)| k)
                .sum();
            let got = sample(&text, &format!(r#"loader_items_loaded_total{{loader="{name}"}}"#));
            let batches = distinct.iter().flat_map(|i| &loads[*i]).filter(|(l, _)| *l == n).count();
            if batches == 0 {
                proptest::prop_assert_eq!(got, None);
            } else {
                proptest::prop_assert_eq!(got, Some(f64::from(want)), "{}", text);
            }
        }
    }
}
