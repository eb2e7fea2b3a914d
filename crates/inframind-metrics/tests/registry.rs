//! One registry: every family goes through prometheus-client (so a plain `Registry` gets them
//! all, with one `le` spelling per format), every family is there from the first scrape, and
//! application metrics that would break the exposition are refused with a typed error.

mod common;

use common::{check_openmetrics, exercise_every_family, lines, run_promtool, sample};
use http::{Request, Response};
use inframind_metrics::{Format, Metrics, MetricsLayer, RegisterError};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::borrow::Cow;
use std::convert::Infallible;
use tower::{Layer, ServiceExt, service_fn};

/// The 30 families of the Phase 2 list, with their types.
const SPEC_FAMILIES: [(&str, &str); 30] = [
    ("http_requests", "counter"),
    ("http_request_duration_seconds", "histogram"),
    ("http_requests_in_progress", "gauge"),
    ("http_request_size_bytes", "histogram"),
    ("http_response_size_bytes", "histogram"),
    ("db_queries", "counter"),
    ("db_query_duration_seconds", "histogram"),
    ("db_connections_active", "gauge"),
    ("db_connections_idle", "gauge"),
    ("db_errors", "counter"),
    ("cache_hits", "counter"),
    ("cache_misses", "counter"),
    ("cache_operation_duration_seconds", "histogram"),
    ("cache_entries", "gauge"),
    ("cache_memory_bytes", "gauge"),
    ("llm_api_calls", "counter"),
    ("llm_api_duration_seconds", "histogram"),
    ("llm_tokens_used", "counter"),
    ("llm_api_cost_usd", "counter"),
    ("llm_api_errors", "counter"),
    ("users_total", "gauge"),
    ("users_active", "gauge"),
    ("assessments_total", "gauge"),
    ("assessments_created", "counter"),
    ("recommendations_generated", "counter"),
    ("reports_generated", "counter"),
    ("agent_executions", "counter"),
    ("agent_execution_duration_seconds", "histogram"),
    ("agent_errors", "counter"),
    ("agent_confidence_score", "histogram"),
];

async fn one_request(metrics: &Metrics) {
    let svc = MetricsLayer::new(metrics)
        .endpoint_fn(|_, _| Some(Cow::Borrowed("/users/{id}")))
        .layer(service_fn(|_req: Request<String>| async {
            Ok::<_, Infallible>(Response::new(String::from("user")))
        }));
    svc.oneshot(Request::get("/users/7").body(String::new()).expect("req"))
        .await
        .expect("infallible");
}

#[tokio::test]
async fn a_plain_prometheus_client_registry_gets_every_family() {
    let metrics = Metrics::new();
    one_request(&metrics).await;
    exercise_every_family(&metrics);

    let mut registry = Registry::default();
    metrics.register_into(&mut registry);
    let mut theirs = String::new();
    prometheus_client::encoding::text::encode(&mut theirs, &registry).expect("encode");

    let v = |s: &str| sample(&theirs, s).unwrap_or_else(|| panic!("no {s} in\n{theirs}"));
    assert_eq!(
        v(r#"http_requests_total{method="GET",endpoint="/users/{id}",status="200"}"#),
        1.0
    );
    assert_eq!(
        v(
            r#"http_request_duration_seconds_count{method="GET",endpoint="/users/{id}",status="200"}"#
        ),
        1.0
    );
    assert_eq!(
        v(r#"db_queries_total{collection="users",operation="insert"}"#),
        1.0
    );
    // Exactly what the crate's own /metrics serves: one exposition, however it is reached.
    assert_eq!(theirs, metrics.encode(Format::OpenMetrics));
    let (ok, out) = check_openmetrics(&theirs);
    assert!(ok, "{out}\n{theirs}");
}

#[tokio::test]
async fn le_is_spelled_as_prometheus_client_spells_it_in_each_format() {
    let metrics = Metrics::new();
    one_request(&metrics).await;
    exercise_every_family(&metrics);
    let le_values = |text: &str, family: &str| -> Vec<String> {
        lines(text, family)
            .iter()
            .filter_map(|l| {
                let start = l.find("le=\"")? + 4;
                let end = start + l[start..].find('"')?;
                Some(l[start..end].to_owned())
            })
            .collect()
    };
    for (format, one, ten) in [
        (Format::OpenMetrics, "1.0", "10.0"),
        (Format::PrometheusText, "1", "10"),
    ] {
        let text = metrics.encode(format);
        let http = le_values(&text, "http_request_duration_seconds_bucket");
        let db = le_values(&text, "db_query_duration_seconds_bucket");
        assert!(
            http.iter().any(|l| l == one) && http.iter().any(|l| l == ten),
            "{format:?}: {http:?}"
        );
        assert!(db.iter().any(|l| l == one), "{format:?}: {db:?}");
        let other = if one == "1" { "1.0" } else { "1" };
        assert!(
            !http.iter().chain(&db).any(|l| l == other),
            "{format:?} mixes spellings: {http:?} {db:?}"
        );
    }
}

#[test]
fn every_family_has_help_and_type_from_the_start() {
    let metrics = Metrics::new();
    let text = metrics.encode(Format::OpenMetrics);
    for (name, kind) in SPEC_FAMILIES {
        assert!(
            text.contains(&format!("\n# TYPE {name} {kind}\n")),
            "no TYPE for {name} in\n{text}"
        );
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "no HELP for {name}"
        );
    }
    for gauge in [
        "db_connections_active",
        "db_connections_idle",
        "users_total",
        "users_active",
        "assessments_total",
    ] {
        assert_eq!(sample(&text, gauge), Some(0.0), "{gauge} in\n{text}");
    }
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

#[test]
fn register_refuses_names_that_would_break_the_exposition() {
    let metrics = Metrics::new();
    let c = || Counter::<u64>::default();
    assert_eq!(
        metrics.register("app_signups_total", "Sign-ups", c()),
        Err(RegisterError::TotalSuffix {
            name: "app_signups_total".into()
        })
    );
    for (name, result) in [
        ("http_requests", metrics.register("http_requests", "x", c())),
        ("db_errors", metrics.register("db_errors", "x", c())),
        (
            "users_total",
            metrics.register("users_total", "x", Gauge::<i64>::default()),
        ),
        // A gauge named like a built-in counter's sample.
        (
            "cache_hits_total",
            metrics.register("cache_hits_total", "x", Gauge::<i64>::default()),
        ),
        (
            "http_request_duration_seconds",
            metrics.register_with_unit("http_request_duration", "x", Unit::Seconds, c()),
        ),
    ] {
        assert_eq!(
            result,
            Err(RegisterError::NameTaken { name: name.into() }),
            "{name}"
        );
    }
    assert!(matches!(
        metrics.register("9lives", "x", c()),
        Err(RegisterError::InvalidName { .. })
    ));
    // A free name registers once, then is taken.
    let signups = c();
    assert_eq!(
        metrics.register("app_signups", "Sign-ups", signups.clone()),
        Ok(())
    );
    assert!(matches!(
        metrics.register("app_signups", "again", c()),
        Err(RegisterError::NameTaken { .. })
    ));
    signups.inc();
    let text = metrics.encode(Format::OpenMetrics);
    assert_eq!(text.matches("# TYPE http_requests ").count(), 1);
    assert_eq!(text.matches("# TYPE app_signups ").count(), 1);
    assert_eq!(sample(&text, "app_signups_total"), Some(1.0));
    let (ok, out) = check_openmetrics(&text);
    assert!(ok, "{out}\n{text}");
}

async fn request(metrics: &Metrics, route: &'static str, status: u16) {
    let svc = MetricsLayer::new(metrics)
        .endpoint_fn(move |_, _| Some(Cow::Borrowed(route)))
        .layer(service_fn(move |_req: Request<String>| async move {
            let mut res = Response::new(String::new());
            *res.status_mut() = http::StatusCode::from_u16(status).expect("status");
            Ok::<_, Infallible>(res)
        }));
    svc.oneshot(Request::get("/").body(String::new()).expect("req"))
        .await
        .expect("infallible");
}

#[tokio::test]
async fn slow_routes_get_their_own_duration_buckets() {
    let metrics = Metrics::builder()
        .http_route_duration(
            "/api/recommendations",
            inframind_metrics::Buckets::llm_duration(),
        )
        .build();
    request(&metrics, "/api/recommendations", 200).await;
    request(&metrics, "/users/{id}", 200).await;
    let text = metrics.encode(Format::OpenMetrics);
    let llm = r#"http_request_duration_seconds_bucket{method="GET",endpoint="/api/recommendations",status="200",le="120.0"}"#;
    assert_eq!(sample(&text, llm), Some(1.0), "{text}");
    let default = r#"http_request_duration_seconds_bucket{method="GET",endpoint="/users/{id}",status="200",le="10.0"}"#;
    assert_eq!(sample(&text, default), Some(1.0));
    assert_eq!(
        sample(
            &text,
            r#"http_request_duration_seconds_bucket{method="GET",endpoint="/users/{id}",status="200",le="120.0"}"#
        ),
        None
    );
    let (ok, out) = check_openmetrics(&text);
    assert!(ok, "{out}");
}

#[tokio::test]
async fn opentelemetry_label_names_on_request() {
    use inframind_metrics::HttpLabelNames;
    let metrics = Metrics::builder()
        .http_label_names(HttpLabelNames::OpenTelemetry)
        .build();
    request(&metrics, "/users/{id}", 200).await;
    request(&metrics, "/users/{id}", 503).await;
    let text = metrics.encode(Format::OpenMetrics);
    let v = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
    assert_eq!(
        v(
            r#"http_requests_total{http_request_method="GET",http_route="/users/{id}",http_response_status_code="200"}"#
        ),
        1.0
    );
    assert_eq!(
        v(
            r#"http_requests_total{http_request_method="GET",http_route="/users/{id}",http_response_status_code="503",error_type="503"}"#
        ),
        1.0
    );
    assert_eq!(
        v(r#"http_requests_in_progress{http_request_method="GET",http_route="/users/{id}"}"#),
        0.0
    );
    let (ok, out) = check_openmetrics(&text);
    assert!(ok, "{out}");
}
