//! Every request reaches the HTTP counters, over a real server on loopback and a hyper client:
//! a timeout outside the layer, a client that hangs up, and a response that streams for a
//! while (timed to the end of its body on request).

use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::http::StatusCode;
use axum::routing::get;
use http_body_util::BodyExt;
use inframind_metrics::http::DurationUntil;
use inframind_metrics::{ABANDONED_STATUS, Format, Metrics, MetricsLayer};
use std::net::SocketAddr;
use std::time::Duration;
use tower::ServiceBuilder;
use tower::timeout::TimeoutLayer;

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn serve(app: Router) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    (addr, server)
}

/// One HTTP/1.1 connection with a hyper client.
async fn client(
    addr: SocketAddr,
) -> (
    hyper::client::conn::http1::SendRequest<String>,
    tokio::task::JoinHandle<()>,
) {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .expect("handshake");
    let conn = tokio::spawn(async move {
        let _ = conn.await;
    });
    (send, conn)
}

/// GET `path` on a fresh connection: the status and the body.
async fn get_once(addr: SocketAddr, path: &str) -> (StatusCode, String) {
    let (mut send, conn) = client(addr).await;
    let req = http::Request::get(path)
        .header("host", "test")
        .body(String::new())
        .expect("request");
    let res = send.send_request(req).await.expect("response");
    let status = res.status();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    conn.abort();
    (status, String::from_utf8(body.to_vec()).expect("utf8"))
}

/// Polls `series` in `metrics` until it equals `want` (bounded), returning the last value.
async fn settle(metrics: &Metrics, series: &str, want: f64) -> Option<f64> {
    let mut last = None;
    for _ in 0..300 {
        last = sample(&metrics.encode(Format::OpenMetrics), series);
        if last == Some(want) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    last
}

fn slow_routes() -> Router {
    Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route("/pending", get(std::future::pending::<&'static str>))
}

fn timeout_layer() -> impl tower::Layer<
    axum::routing::Route,
    Service: tower::Service<
        axum::extract::Request,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future: Send + 'static,
    > + Clone
                 + Send
                 + Sync
                 + 'static,
> + Clone {
    ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
            StatusCode::REQUEST_TIMEOUT
        }))
        .layer(TimeoutLayer::new(Duration::from_millis(100)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_outside_the_layer_is_counted_as_abandoned() {
    let metrics = Metrics::new();
    // `Router::layer` wraps outwards: the timeout runs outside MetricsLayer.
    let app = slow_routes()
        .layer(MetricsLayer::axum(&metrics))
        .layer(timeout_layer());
    let (addr, server) = serve(app).await;
    for _ in 0..2 {
        assert_eq!(get_once(addr, "/slow").await.0, StatusCode::REQUEST_TIMEOUT);
    }
    let series = format!(
        r#"http_requests_total{{method="GET",endpoint="/slow",status="{ABANDONED_STATUS}"}}"#
    );
    assert_eq!(settle(&metrics, &series, 2.0).await, Some(2.0));
    let text = metrics.encode(Format::OpenMetrics);
    assert_eq!(
        sample(
            &text,
            r#"http_requests_in_progress{method="GET",endpoint="/slow"}"#
        ),
        Some(0.0)
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_outside_a_timeout_sees_its_408s() {
    let metrics = Metrics::new();
    // The recommended order: MetricsLayer outermost.
    let app = slow_routes()
        .layer(timeout_layer())
        .layer(MetricsLayer::axum(&metrics));
    let (addr, server) = serve(app).await;
    for _ in 0..2 {
        assert_eq!(get_once(addr, "/slow").await.0, StatusCode::REQUEST_TIMEOUT);
    }
    let text = metrics.encode(Format::OpenMetrics);
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="GET",endpoint="/slow",status="408"}"#
        ),
        Some(2.0),
        "{text}"
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_is_counted_as_abandoned() {
    let metrics = Metrics::new();
    let app = slow_routes().layer(MetricsLayer::axum(&metrics));
    let (addr, server) = serve(app).await;
    let gauge = r#"http_requests_in_progress{method="GET",endpoint="/pending"}"#;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let (mut send, conn) = client(addr).await;
        let req = http::Request::get("/pending")
            .header("host", "test")
            .body(String::new())
            .expect("request");
        let pending = tokio::spawn(async move { send.send_request(req).await.map(|_| ()) });
        clients.push((pending, conn));
    }
    assert_eq!(settle(&metrics, gauge, 3.0).await, Some(3.0));
    // The clients give up: their connections close with the requests unanswered.
    for (pending, conn) in clients {
        pending.abort();
        conn.abort();
    }
    let series = r#"http_requests_total{method="GET",endpoint="/pending",status="499"}"#;
    assert_eq!(settle(&metrics, series, 3.0).await, Some(3.0));
    assert_eq!(settle(&metrics, gauge, 0.0).await, Some(0.0));
    server.abort();
}

fn streaming_route() -> Router {
    Router::new().route(
        "/stream",
        get(|| async {
            let chunks = futures_util::stream::unfold(0u8, |i| async move {
                if i == 3 {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(160)).await;
                Some((Ok::<_, std::io::Error>(format!("chunk{i}")), i + 1))
            });
            Body::from_stream(chunks)
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_response_can_be_timed_to_the_end_of_its_body() {
    let sum = r#"http_request_duration_seconds_sum{method="GET",endpoint="/stream",status="200"}"#;
    let count =
        r#"http_request_duration_seconds_count{method="GET",endpoint="/stream",status="200"}"#;

    let metrics = Metrics::new();
    let app = streaming_route()
        .layer(MetricsLayer::axum(&metrics).duration_until(DurationUntil::ResponseEnd));
    let (addr, server) = serve(app).await;
    let (status, body) = get_once(addr, "/stream").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "chunk0chunk1chunk2")
    );
    assert_eq!(settle(&metrics, count, 1.0).await, Some(1.0));
    let text = metrics.encode(Format::OpenMetrics);
    let seconds = sample(&text, sum).expect("sum");
    assert!(seconds >= 0.45, "timed to the end of the body: {seconds}");
    assert_eq!(
        sample(
            &text,
            r#"http_response_size_bytes_sum{method="GET",endpoint="/stream"}"#
        ),
        Some(18.0)
    );
    server.abort();

    // The default stops at the head: the same response records almost nothing.
    let metrics = Metrics::new();
    let app = streaming_route().layer(MetricsLayer::axum(&metrics));
    let (addr, server) = serve(app).await;
    get_once(addr, "/stream").await;
    assert_eq!(settle(&metrics, count, 1.0).await, Some(1.0));
    let seconds = sample(&metrics.encode(Format::OpenMetrics), sum).expect("sum");
    assert!(seconds < 0.15, "timed to the head: {seconds}");
    server.abort();
}

/// A burst of 40 concurrent requests, half of whose clients hang up mid-request: every
/// request is counted exactly once (200 or 499) and nothing is left in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_of_a_burst_is_counted_once() {
    let metrics = Metrics::new();
    let app = Router::new()
        .route(
            "/work",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(150)).await;
                "done"
            }),
        )
        .layer(MetricsLayer::axum(&metrics));
    let (addr, server) = serve(app).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                get_once(addr, "/work").await.0 == StatusCode::OK
            } else {
                let (mut send, conn) = client(addr).await;
                let req = http::Request::get("/work")
                    .header("host", "test")
                    .body(String::new())
                    .expect("request");
                // Give up after 30 ms: the connection closes with the request unanswered.
                let gave_up =
                    tokio::time::timeout(Duration::from_millis(30), send.send_request(req))
                        .await
                        .is_err();
                conn.abort();
                gave_up
            }
        }));
    }
    for t in tasks {
        assert!(t.await.expect("task"));
    }
    let ok = r#"http_requests_total{method="GET",endpoint="/work",status="200"}"#;
    let abandoned = r#"http_requests_total{method="GET",endpoint="/work",status="499"}"#;
    assert_eq!(settle(&metrics, abandoned, 20.0).await, Some(20.0));
    let text = metrics.encode(Format::OpenMetrics);
    assert_eq!(sample(&text, ok), Some(20.0), "{text}");
    assert_eq!(
        sample(
            &text,
            r#"http_requests_in_progress{method="GET",endpoint="/work"}"#
        ),
        Some(0.0)
    );
    server.abort();
}
