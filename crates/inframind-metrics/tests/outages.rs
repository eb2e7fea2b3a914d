//! Real outages show in the shipped dashboard's panels: a private SecantusDB (MongoDB wire
//! server) and a private Redis are stopped mid-test, and the series the "DB errors",
//! "DB queries per second" and "Cache store errors" panels query must move.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use common::{dashboard, panel_metrics, panel_total, sample};
use inframind_cache::{CacheLayer, RedisStore};
use inframind_metrics::mongodb::DbEventHandler;
use inframind_metrics::{Format, Metrics, MetricsLayer};
use inframind_test_support::{MongoServer, RedisServer};
use mongodb::Client;
use mongodb::bson::{Document, doc};
use mongodb::error::ErrorKind;
use mongodb::options::ClientOptions;
use std::time::Duration;
use tower::ServiceExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mongodb_outage_shows_in_the_db_panels() {
    let dashboard = dashboard();
    let errors_panel = panel_metrics(&dashboard, "DB errors");
    let queries_panel = panel_metrics(&dashboard, "DB queries per second");

    let server = MongoServer::start().expect("SecantusDB");
    let metrics = Metrics::new();
    let mut options = ClientOptions::parse(server.uri()).await.expect("uri");
    options.server_selection_timeout = Some(Duration::from_millis(800));
    options.heartbeat_freq = Some(Duration::from_millis(500));
    let events = DbEventHandler::new(&metrics);
    events.install(&mut options);
    let client = Client::with_options(options).expect("client");
    let items = client.database("outage").collection::<Document>("items");

    events
        .track(
            "items",
            "insert",
            items.insert_one(doc! { "_id": 1 }).into_future(),
        )
        .await
        .expect("insert");
    let found = events
        .track(
            "items",
            "find",
            items.find_one(doc! { "_id": 1 }).into_future(),
        )
        .await
        .expect("find");
    assert!(found.is_some());
    let find = r#"db_queries_total{collection="items",operation="find"}"#;
    let before = metrics.encode(Format::OpenMetrics);
    assert_eq!(
        sample(&before, find),
        Some(1.0),
        "counted once, by the command event"
    );
    let errors_before = panel_total(&before, &errors_panel);
    let queries_before = panel_total(&before, &queries_panel);

    drop(server); // The outage: the server process is killed.

    // The server monitor notices on its own, without traffic.
    let heartbeat = r#"db_errors_total{collection="none",error_type="heartbeat_failed"}"#;
    let mut noticed = false;
    for _ in 0..150 {
        if sample(&metrics.encode(Format::OpenMetrics), heartbeat).unwrap_or(0.0) >= 1.0 {
            noticed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(noticed, "{}", metrics.encode(Format::OpenMetrics));

    for _ in 0..3 {
        let failed = events
            .track(
                "items",
                "find",
                items.find_one(doc! { "_id": 1 }).into_future(),
            )
            .await;
        let error = failed.expect_err("the server is down");
        assert!(
            matches!(*error.kind, ErrorKind::ServerSelection { .. }),
            "{error}"
        );
    }
    let after = metrics.encode(Format::OpenMetrics);
    assert_eq!(sample(&after, find), Some(4.0), "{after}");
    assert_eq!(
        sample(
            &after,
            r#"db_errors_total{collection="items",error_type="server_selection"}"#
        ),
        Some(3.0),
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            r#"db_query_duration_seconds_count{collection="items",operation="find"}"#
        ),
        Some(4.0)
    );
    let errors_after = panel_total(&after, &errors_panel);
    let queries_after = panel_total(&after, &queries_panel);
    assert!(
        errors_after >= errors_before + 4.0,
        "DB errors panel: {errors_before} -> {errors_after}"
    );
    assert!(
        queries_after >= queries_before + 3.0,
        "DB queries panel: {queries_before} -> {queries_after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_shows_in_the_cache_store_errors_panel() {
    let dashboard = dashboard();
    let store_errors_panel = panel_metrics(&dashboard, "Cache store errors");

    let mut redis = RedisServer::start().expect("redis-server");
    let store = RedisStore::builder(redis.url())
        .timeout(Duration::from_millis(200))
        .connect()
        .await
        .expect("connect");
    let cache = CacheLayer::builder(store)
        .ttl(Duration::from_secs(300))
        .prefix("outage")
        .build()
        .expect("cache layer");
    let metrics = Metrics::new();
    metrics.observe_cache("items", cache.handle());
    let app = Router::new()
        .route("/api/items", get(|| async { "[1,2,3]" }).layer(cache))
        .layer(MetricsLayer::axum(&metrics));
    let get_items = || async {
        let res = app
            .clone()
            .oneshot(Request::get("/api/items").body(Body::empty()).expect("req"))
            .await
            .expect("infallible");
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, body)
    };
    for _ in 0..2 {
        assert_eq!(get_items().await.0, StatusCode::OK);
    }
    let before = metrics.encode(Format::OpenMetrics);
    assert_eq!(
        sample(&before, r#"cache_hits_total{cache="items"}"#),
        Some(1.0)
    );
    let errors_before = panel_total(&before, &store_errors_panel);
    assert_eq!(errors_before, 0.0, "{before}");

    redis.stop(); // The outage.
    for _ in 0..3 {
        let (status, body) = get_items().await;
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"[1,2,3]"[..]));
    }
    let after = metrics.encode(Format::OpenMetrics);
    let errors_after = panel_total(&after, &store_errors_panel);
    assert!(
        errors_after >= 3.0,
        "Cache store errors panel: {errors_before} -> {errors_after}\n{after}"
    );
    assert_eq!(
        sample(
            &after,
            r#"http_requests_total{method="GET",endpoint="/api/items",status="200"}"#
        ),
        Some(5.0)
    );
}
