//! The HTTP families after known traffic through a real axum router, the `/metrics` endpoint,
//! the series cap, cancellation, exemplars, and validity of both exposition formats.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::routing::{get, post};
use common::{check_openmetrics, exercise_every_family, lines, run_promtool, sample};
use inframind_metrics::{
    Format, Metrics, MetricsLayer, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE, TraceId,
};
use std::borrow::Cow;
use std::time::Duration;
use tower::ServiceExt;

fn app(metrics: &Metrics) -> Router {
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route(
            "/users",
            post(|body: String| async move { (StatusCode::CREATED, body) }),
        )
        .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route("/health", get(|| async { "ok" }))
        .route(
            "/stream",
            get(|| async {
                let chunks = ["0123456789", "0123456789", "0123456789"]
                    .map(|c| Ok::<_, std::io::Error>(c.to_owned()));
                Body::from_stream(futures_util::stream::iter(chunks))
            }),
        )
        .route("/pending", get(std::future::pending::<&'static str>))
        .layer(MetricsLayer::axum(metrics).exclude_path("/health"))
        .route_service("/metrics", metrics.handler())
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, String) {
    let res = app.clone().oneshot(req).await.expect("infallible");
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, String::from_utf8(body.to_vec()).expect("utf8"))
}

async fn get_path(app: &Router, path: &str) -> StatusCode {
    send(
        app,
        Request::get(path).body(Body::empty()).expect("request"),
    )
    .await
    .0
}

async fn scrape(app: &Router, accept: Option<&str>) -> (String, String) {
    let mut req = Request::get("/metrics");
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::OK);
    let ct = res.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .expect("body");
    (ct, String::from_utf8(body.to_vec()).expect("utf8"))
}

const USERS: &str = r#"method="GET",endpoint="/users/{id}""#;

#[tokio::test]
async fn counters_and_histograms_after_known_traffic() {
    let metrics = Metrics::new();
    let app = app(&metrics);

    for i in 0..5 {
        assert_eq!(get_path(&app, &format!("/users/{i}")).await, StatusCode::OK);
    }
    for _ in 0..2 {
        let req = Request::post("/users")
            .header("content-length", "10")
            .body(Body::from("0123456789"))
            .expect("req");
        assert_eq!(send(&app, req).await.0, StatusCode::CREATED);
    }
    for _ in 0..3 {
        assert_eq!(
            get_path(&app, "/fail").await,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
    let (status, body) = send(
        &app,
        Request::get("/stream").body(Body::empty()).expect("req"),
    )
    .await;
    assert_eq!((status, body.len()), (StatusCode::OK, 30));
    for path in ["/nowhere", "/users/1/extra"] {
        assert_eq!(get_path(&app, path).await, StatusCode::NOT_FOUND);
    }
    let brew = Request::builder()
        .method(Method::from_bytes(b"BREW").expect("method"))
        .uri("/users/1")
        .body(Body::empty());
    assert_eq!(
        send(&app, brew.expect("req")).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(get_path(&app, "/health").await, StatusCode::OK);

    let (ct, text) = scrape(&app, None).await;
    assert_eq!(ct, OPENMETRICS_CONTENT_TYPE);
    let v = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("no sample {s} in\n{text}"));

    assert_eq!(
        v(&format!(r#"http_requests_total{{{USERS},status="200"}}"#)),
        5.0
    );
    assert_eq!(
        v(r#"http_requests_total{method="POST",endpoint="/users",status="201"}"#),
        2.0
    );
    assert_eq!(
        v(r#"http_requests_total{method="GET",endpoint="/fail",status="500"}"#),
        3.0
    );
    assert_eq!(
        v(r#"http_requests_total{method="GET",endpoint="/stream",status="200"}"#),
        1.0
    );
    assert_eq!(
        v(r#"http_requests_total{method="GET",endpoint="__unmatched__",status="404"}"#),
        2.0
    );
    assert_eq!(
        v(r#"http_requests_total{method="_OTHER",endpoint="/users/{id}",status="405"}"#),
        1.0
    );
    assert!(!text.contains("/health"), "excluded path recorded:\n{text}");
    assert!(!text.contains("/users/1\""), "raw path used as a label");
    assert_eq!(lines(&text, "http_requests_total").len(), 6);

    // Duration histogram: cumulative buckets ending at the count.
    let d = format!(r#"{USERS},status="200""#);
    assert_eq!(
        v(&format!("http_request_duration_seconds_count{{{d}}}")),
        5.0
    );
    assert_eq!(
        v(&format!(
            r#"http_request_duration_seconds_bucket{{{d},le="+Inf"}}"#
        )),
        5.0
    );
    assert_eq!(
        v(&format!(
            r#"http_request_duration_seconds_bucket{{{d},le="10.0"}}"#
        )),
        5.0
    );
    let sum = v(&format!("http_request_duration_seconds_sum{{{d}}}"));
    assert!(sum > 0.0 && sum < 5.0, "duration sum {sum}");
    let mut last = 0.0;
    for l in lines(&text, "http_request_duration_seconds_bucket")
        .iter()
        .filter(|l| l.contains(&d))
    {
        let n: f64 = l
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("value");
        assert!(n >= last, "buckets not cumulative: {l}");
        last = n;
    }

    // Sizes: request bodies from Content-Length, response bodies from the size hint or counted.
    assert_eq!(
        v(r#"http_request_size_bytes_count{method="POST",endpoint="/users"}"#),
        2.0
    );
    assert_eq!(
        v(r#"http_request_size_bytes_sum{method="POST",endpoint="/users"}"#),
        20.0
    );
    assert_eq!(
        v(r#"http_request_size_bytes_bucket{method="POST",endpoint="/users",le="64.0"}"#),
        2.0
    );
    assert_eq!(
        v(r#"http_response_size_bytes_sum{method="POST",endpoint="/users"}"#),
        20.0
    );
    assert_eq!(v(&format!("http_response_size_bytes_sum{{{USERS}}}")), 20.0);
    assert_eq!(
        v(&format!("http_response_size_bytes_count{{{USERS}}}")),
        5.0
    );
    assert_eq!(
        v(r#"http_response_size_bytes_sum{method="GET",endpoint="/stream"}"#),
        30.0,
        "counted body"
    );
    assert_eq!(
        v(r#"http_response_size_bytes_count{method="GET",endpoint="/stream"}"#),
        1.0
    );

    // Nothing in flight once every response is out.
    for l in lines(&text, "http_requests_in_progress") {
        assert!(l.ends_with(" 0"), "{l}");
    }
    assert!(text.ends_with("# EOF\n"));
}

#[tokio::test]
async fn ten_thousand_ids_are_one_series() {
    let metrics = Metrics::new();
    let app = app(&metrics);
    for i in 0..10_000 {
        assert_eq!(get_path(&app, &format!("/users/{i}")).await, StatusCode::OK);
    }
    let (_, text) = scrape(&app, None).await;
    let series = lines(&text, "http_requests_total");
    assert_eq!(
        series,
        vec![format!(
            r#"http_requests_total{{{USERS},status="200"}} 10000"#
        )]
    );
    assert_eq!(lines(&text, "http_request_duration_seconds_count").len(), 1);
    assert_eq!(
        metrics.http_series().0,
        3,
        "one endpoint, one method, one status"
    );
}

#[tokio::test]
async fn series_cap_sends_new_label_sets_to_the_overflow_series() {
    let metrics = Metrics::builder().http_series_limit(6).build();
    // A misconfigured label function that uses the raw path: the cap must hold anyway.
    let layer =
        MetricsLayer::axum(&metrics).endpoint_fn(|uri, _| Some(Cow::Owned(uri.path().to_owned())));
    let app = Router::new()
        .route("/item/{id}", get(|| async { "x" }))
        .route("/broken/{id}", get(|| async { StatusCode::BAD_GATEWAY }))
        .layer(layer)
        .route_service("/metrics", metrics.handler());
    for i in 0..100 {
        assert_eq!(get_path(&app, &format!("/item/{i}")).await, StatusCode::OK);
    }
    for i in 0..7 {
        assert_eq!(
            get_path(&app, &format!("/broken/{i}")).await,
            StatusCode::BAD_GATEWAY
        );
    }
    let (used, limit) = metrics.http_series();
    assert!(used <= limit && limit == 6, "{used}/{limit}");

    let (_, text) = scrape(&app, None).await;
    let series = lines(&text, "http_requests_total");
    // Two endpoints fit (endpoint + method + status each take one unit), plus the overflow
    // series by status class.
    assert_eq!(series.len(), 4, "{series:#?}");
    let total: f64 = series
        .iter()
        .map(|l| {
            l.rsplit(' ')
                .next()
                .and_then(|n| n.parse::<f64>().ok())
                .expect("n")
        })
        .sum();
    assert_eq!(total, 107.0, "no request lost");
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="GET",endpoint="__overflow__",status="2xx"}"#
        ),
        Some(98.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="GET",endpoint="__overflow__",status="5xx"}"#
        ),
        Some(7.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"inframind_metrics_series_dropped_total{family="http_requests"}"#
        ),
        Some(105.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"http_request_duration_seconds_count{method="GET",endpoint="__overflow__",status="5xx"}"#
        ),
        Some(7.0)
    );
}

#[tokio::test]
async fn in_progress_gauge_returns_to_zero_after_cancelled_requests() {
    let metrics = Metrics::new();
    let app = app(&metrics);
    let gauge = r#"http_requests_in_progress{method="GET",endpoint="/pending"}"#;

    let mut futures = Vec::new();
    for _ in 0..10 {
        let mut fut = Box::pin(
            app.clone()
                .oneshot(Request::get("/pending").body(Body::empty()).expect("req")),
        );
        // Poll once so the request is inside the handler.
        assert!(
            tokio::time::timeout(Duration::from_millis(1), &mut fut)
                .await
                .is_err()
        );
        futures.push(fut);
    }
    let (_, text) = scrape(&app, None).await;
    assert_eq!(sample(&text, gauge), Some(10.0), "{text}");

    futures.truncate(3);
    let (_, text) = scrape(&app, None).await;
    assert_eq!(sample(&text, gauge), Some(3.0));
    drop(futures);

    // A request timed out by the caller is cancelled the same way.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(5),
        app.clone()
            .oneshot(Request::get("/pending").body(Body::empty()).expect("req")),
    )
    .await;
    assert!(cancelled.is_err());
    let (_, text) = scrape(&app, None).await;
    assert_eq!(sample(&text, gauge), Some(0.0));
    // Every dropped request is counted, under the documented 499.
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="GET",endpoint="/pending",status="499"}"#
        ),
        Some(11.0),
        "{text}"
    );
    assert_eq!(
        lines(&text, "http_requests_total")
            .iter()
            .filter(|l| l.contains("/pending"))
            .count(),
        1
    );
}

#[tokio::test]
async fn exemplars_carry_the_trace_id() {
    let metrics = Metrics::new();
    let app = app(&metrics);
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let req =
        Request::get("/users/7").header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"));
    assert_eq!(
        send(&app, req.body(Body::empty()).expect("req")).await.0,
        StatusCode::OK
    );
    let mut req = Request::get("/fail").body(Body::empty()).expect("req");
    req.extensions_mut()
        .insert(TraceId("from-extension-1".to_owned()));
    assert_eq!(send(&app, req).await.0, StatusCode::INTERNAL_SERVER_ERROR);
    // No trace id: no exemplar.
    assert_eq!(get_path(&app, "/stream").await, StatusCode::OK);

    let (_, text) = scrape(&app, Some("application/openmetrics-text; version=1.0.0")).await;
    let counter = lines(&text, "http_requests_total");
    let users = counter
        .iter()
        .find(|l| l.contains("/users/{id}"))
        .expect("users series");
    assert!(
        users.contains(&format!(r#"}} 1 # {{trace_id="{trace}"}} 1.0 "#)),
        "{users}"
    );
    let fail = counter
        .iter()
        .find(|l| l.contains("/fail"))
        .expect("fail series");
    assert!(
        fail.contains(r#"# {trace_id="from-extension-1"}"#),
        "{fail}"
    );
    assert!(
        counter
            .iter()
            .find(|l| l.contains("/stream"))
            .is_some_and(|l| !l.contains('#'))
    );
    // prometheus-client gives collectors no way to build a histogram exemplar, so the trace
    // id sits on the request counter only.
    let (ok, out) = check_openmetrics(&text);
    assert!(
        ok,
        "promtool rejected the OpenMetrics exposition: {out}\n{text}"
    );

    let (ct, plain) = scrape(&app, Some("text/plain")).await;
    assert_eq!(ct, PROMETHEUS_TEXT_CONTENT_TYPE);
    assert!(
        !plain.contains("trace_id"),
        "no exemplars in the Prometheus text format"
    );
}

#[tokio::test]
async fn both_formats_pass_promtool_with_every_family() {
    let metrics = Metrics::new();
    let app = app(&metrics);
    exercise_every_family(&metrics);
    for i in 0..3 {
        get_path(&app, &format!("/users/{i}")).await;
    }
    get_path(&app, "/fail").await;

    let (ct, text) = scrape(&app, Some("text/plain;version=0.0.4;q=0.5,*/*;q=0.1")).await;
    assert_eq!(ct, PROMETHEUS_TEXT_CONTENT_TYPE);
    let (_, out) = run_promtool(&["check", "metrics"], Some(&text));
    // The spec names two gauges `users_total` and `assessments_total`; promtool's linter
    // flags exactly that naming and nothing else (a parse error would be reported first).
    let findings: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        findings,
        [
            r#"assessments_total non-counter metrics should not have "_total" suffix"#,
            r#"users_total non-counter metrics should not have "_total" suffix"#,
        ],
        "promtool check metrics:\n{text}"
    );
    // Without those two spec-named gauges the exposition is lint-clean.
    let without: String = text
        .lines()
        .filter(|l| !l.contains(" users_total") && !l.starts_with("users_total"))
        .filter(|l| !l.contains(" assessments_total") && !l.starts_with("assessments_total"))
        .map(|l| format!("{l}\n"))
        .collect();
    let (ok, out) = run_promtool(&["check", "metrics"], Some(&without));
    assert!(
        ok && out.trim().is_empty(),
        "promtool check metrics: {out}\n{without}"
    );

    let (ct, om) = scrape(
        &app,
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    )
    .await;
    assert_eq!(ct, OPENMETRICS_CONTENT_TYPE);
    let (ok, out) = check_openmetrics(&om);
    assert!(ok, "promtool (OpenMetrics parser): {out}\n{om}");
    // The checker can fail: a truncated exposition (no `# EOF`) is rejected.
    assert!(!check_openmetrics(&om.replace("# EOF\n", "")).0);

    // Values, not just syntax.
    let v = |s: &str| sample(&om, s).unwrap_or_else(|| panic!("no sample {s}"));
    assert_eq!(
        v(r#"db_queries_total{collection="users",operation="insert"}"#),
        1.0
    );
    assert_eq!(
        v(r#"db_errors_total{collection="users",error_type="DuplicateKey"}"#),
        1.0
    );
    assert_eq!(v("db_connections_idle"), 3.0);
    assert_eq!(v(r#"cache_hits_total{cache="api"}"#), 1.0);
    assert_eq!(v(r#"cache_misses_total{cache="api"}"#), 1.0);
    assert_eq!(v(r#"cache_memory_bytes{cache="api"}"#), 4096.0);
    assert_eq!(
        v(r#"llm_api_calls_total{provider="openai",model="gpt-4",status="success"}"#),
        1.0
    );
    assert_eq!(
        v(r#"llm_api_calls_total{provider="anthropic",model="claude-3-haiku",status="error"}"#),
        1.0
    );
    assert_eq!(
        v(r#"llm_tokens_used_total{provider="openai",model="gpt-4",token_type="prompt"}"#),
        1000.0
    );
    assert_eq!(
        v(r#"llm_tokens_used_total{provider="openai",model="gpt-4",token_type="completion"}"#),
        500.0
    );
    assert!((v(r#"llm_api_cost_usd_total{provider="openai",model="gpt-4"}"#) - 0.06).abs() < 1e-9);
    assert_eq!(
        v(
            r#"llm_api_errors_total{provider="anthropic",model="claude-3-haiku",error_type="RateLimitError"}"#
        ),
        1.0
    );
    assert_eq!(v("users_total"), 40.0);
    assert_eq!(
        v(r#"recommendations_generated_total{category="cost",priority="high"}"#),
        1.0
    );
    assert_eq!(
        v(r#"reports_generated_total{type="executive",format="pdf"}"#),
        1.0
    );
    assert_eq!(
        v(r#"agent_executions_total{name="compliance",status="error"}"#),
        1.0
    );
    assert_eq!(
        v(r#"agent_confidence_score_count{name="cloud_engineer"}"#),
        1.0
    );
    assert_eq!(
        v(&format!(r#"http_requests_total{{{USERS},status="200"}}"#)),
        3.0
    );
    assert_eq!(
        metrics.encode(Format::OpenMetrics).matches("# EOF").count(),
        1
    );
}

fn streamed_body() -> Body {
    let chunks = ["0123456789", "01234"].map(|c| Ok::<_, std::io::Error>(c.to_owned()));
    Body::from_stream(futures_util::stream::iter(chunks))
}

#[tokio::test]
async fn request_bodies_of_unknown_length() {
    const POST_USERS: &str = r#"{method="POST",endpoint="/users"}"#;
    // Default: a chunked upload has no known size and is not recorded.
    let metrics = Metrics::new();
    let app = app(&metrics);
    let (status, echoed) = send(
        &app,
        Request::post("/users").body(streamed_body()).expect("req"),
    )
    .await;
    assert_eq!((status, echoed.len()), (StatusCode::CREATED, 15));
    let (_, text) = scrape(&app, None).await;
    assert_eq!(
        sample(&text, &format!("http_request_size_bytes_count{POST_USERS}")),
        Some(0.0)
    );

    // With count_request_bodies the bytes the handler read are counted.
    let metrics = Metrics::new();
    let app = Router::new()
        .route(
            "/users",
            post(|body: String| async move { (StatusCode::CREATED, body) }),
        )
        .layer(MetricsLayer::axum(&metrics).count_request_bodies())
        .route_service("/metrics", metrics.handler());
    for _ in 0..2 {
        let (status, _) = send(
            &app,
            Request::post("/users").body(streamed_body()).expect("req"),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let known = Request::post("/users")
        .header("content-length", "3")
        .body(Body::from("abc"))
        .expect("req");
    assert_eq!(send(&app, known).await.0, StatusCode::CREATED);
    let (_, text) = scrape(&app, None).await;
    assert_eq!(
        sample(&text, &format!("http_request_size_bytes_count{POST_USERS}")),
        Some(3.0)
    );
    assert_eq!(
        sample(&text, &format!("http_request_size_bytes_sum{POST_USERS}")),
        Some(33.0)
    );
}

/// A real server: clients that hang up mid-request leave `http_requests_in_progress`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnects_on_a_real_server_leave_the_gauge() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let metrics = Metrics::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(axum::serve(listener, app(&metrics)).into_future());
    let gauge = r#"http_requests_in_progress{method="GET",endpoint="/pending"}"#;
    let read_gauge = |m: &Metrics| sample(&m.encode(Format::OpenMetrics), gauge);
    let wait_for = |m: Metrics, want: f64| async move {
        for _ in 0..500 {
            if read_gauge(&m) == Some(want) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    };

    let mut clients = Vec::new();
    for _ in 0..8 {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /pending HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .expect("write");
        clients.push(s);
    }
    assert!(
        wait_for(metrics.clone(), 8.0).await,
        "gauge {:?}",
        read_gauge(&metrics)
    );
    drop(clients);
    assert!(
        wait_for(metrics.clone(), 0.0).await,
        "gauge {:?} after hang-ups",
        read_gauge(&metrics)
    );

    // The server still answers, and counts, normal requests.
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /users/9 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut response = String::new();
    s.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let text = metrics.encode(Format::OpenMetrics);
    assert_eq!(
        sample(
            &text,
            &format!(r#"http_requests_total{{{USERS},status="200"}}"#)
        ),
        Some(1.0)
    );
    server.abort();
}

#[tokio::test]
async fn nest_service_mounts_are_labelled_by_their_prefix() {
    let metrics = Metrics::new();
    let files = tower::service_fn(|_req: Request<Body>| async {
        Ok::<_, std::convert::Infallible>(axum::response::Response::new(Body::from("file")))
    });
    let app = Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .nest_service("/static", files)
        .layer(MetricsLayer::axum(&metrics).nested_service("/static"))
        .route_service("/metrics", metrics.handler());
    for path in ["/static/app.js", "/static/css/site.css", "/users/1"] {
        assert_eq!(get_path(&app, path).await, StatusCode::OK, "{path}");
    }
    assert_eq!(get_path(&app, "/nowhere").await, StatusCode::NOT_FOUND);
    let (_, text) = scrape(&app, None).await;
    let v = |s: &str| sample(&text, s);
    assert_eq!(
        v(r#"http_requests_total{method="GET",endpoint="/static/{*rest}",status="200"}"#),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        v(&format!(r#"http_requests_total{{{USERS},status="200"}}"#)),
        Some(1.0)
    );
    assert_eq!(
        v(r#"http_requests_total{method="GET",endpoint="__unmatched__",status="404"}"#),
        Some(1.0)
    );
}

/// `MetricsLayer::new` labels the same way whether or not some crate enabled the `axum`
/// feature (this test is built with it on): it reads `RouteTemplate`, never `MatchedPath`.
#[tokio::test]
async fn the_default_label_does_not_depend_on_features() {
    use inframind_metrics::http::RouteTemplate;
    let metrics = Metrics::new();
    let app = Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route(
            "/tagged/{id}",
            get(|| async { "tagged" }).layer(axum::middleware::map_request(
                |mut req: Request<Body>| async move {
                    req.extensions_mut()
                        .insert(RouteTemplate::new("/tagged/{id}"));
                    req
                },
            )),
        )
        .layer(MetricsLayer::new(&metrics))
        .route_service("/metrics", metrics.handler());
    assert_eq!(get_path(&app, "/users/1").await, StatusCode::OK);
    let (_, text) = scrape(&app, None).await;
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="GET",endpoint="__unmatched__",status="200"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains("endpoint=\"/users/{id}\""));
}
