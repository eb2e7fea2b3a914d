//! Admin routes, readiness, and a store outage.

use std::sync::Arc;

use infra_mind::config::Config;
use reqwest::StatusCode;

use crate::both_backends;
use crate::common::TestApp;

both_backends!(admin_routes_need_the_admin_token, ready_names_the_store);

async fn admin_routes_need_the_admin_token(app: TestApp) {
    let (_, token) = app.user("rae").await;
    let none = app.get("/admin/status", None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    let user = app.get("/admin/status", Some(&token)).await;
    assert_eq!(user.status, StatusCode::FORBIDDEN);
    assert_eq!(user.error_code(), "forbidden");
    let admin = app.get("/admin/status", Some(&app.admin_token)).await;
    assert_eq!(admin.status, StatusCode::OK, "{}", admin.body);
    assert_eq!(admin.body["store"], app.repo.backend());
    assert_eq!(admin.body["store_up"], true);
    assert_eq!(admin.body["counts"]["users"], 1);
    assert!(
        app.admin_token.starts_with("imt_"),
        "generated when ADMIN_TOKEN is unset"
    );
}

async fn ready_names_the_store(app: TestApp) {
    let ready = app.get("/ready", None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["checks"][app.repo.backend()], "up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_admin_token_is_used() {
    let mut config = Config::embedded();
    config.admin_token = Some("s3cret-admin".to_owned());
    let app = TestApp::start(
        config,
        Arc::new(infra_mind::repo::memory::MemoryRepository::new()),
        None,
    )
    .await;
    assert_eq!(
        app.get("/admin/status", Some("s3cret-admin")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/admin/status", Some("s3cret-admiN")).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// MongoDB stops under a running server: `/ready` names it, reads answer 503 with
/// `Retry-After` within the selection timeout instead of hanging, and nothing else breaks.
/// When MongoDB is back on the same port, the same running server recovers by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_down_is_503_with_retry_after_and_ready_names_it() {
    let mut server =
        inframind_test_support::MongoServer::start().expect("a private MongoDB wire server");
    let mut config = Config::embedded();
    config.mongodb_uri = Some(server.uri());
    config.mongodb_db = "outage".to_owned();
    config.mongodb_timeout_secs = 1;
    let repo = infra_mind::startup::open_store(&config, &inframind_metrics::Metrics::new())
        .await
        .expect("store opens");
    let app = TestApp::start(config, repo, None).await;
    let (_, token) = app.user("sam").await;
    let id = app.assessment(&token, "Cached before the outage").await;
    let cached = format!("/api/assessments/{id}");
    app.get(&cached, None).await;
    assert_eq!(app.get("/ready", None).await.status, StatusCode::OK);

    server.stop();
    let started = std::time::Instant::now();
    let ready = app.get("/ready", None).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.error_code(), "not_ready");
    assert!(
        ready.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mongodb"),
        "{}",
        ready.body
    );
    assert!(ready.header("retry-after").is_some());
    for answer in [
        app.get("/api/assessments", None).await,
        app.get("/api/users/me", Some(&token)).await,
    ] {
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            answer.body
        );
        assert_eq!(answer.error_code(), "service_unavailable");
        assert_eq!(answer.header("retry-after"), Some("5"));
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(12),
        "answers within the timeouts"
    );
    let served = app.get(&cached, None).await;
    assert_eq!(
        served.status,
        StatusCode::OK,
        "cached reads keep being served"
    );
    assert_eq!(served.body["title"], "Cached before the outage");
    assert_eq!(
        app.get("/health", None).await.status,
        StatusCode::OK,
        "liveness is unaffected"
    );

    // Back on the same port, with its data: the same app recovers without a restart.
    server.restart().expect("MongoDB restarts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let ready = app.get("/ready", None).await;
        if ready.status == StatusCode::OK {
            assert_eq!(ready.body["checks"]["mongodb"], "up", "{}", ready.body);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/ready is still {} 30s after MongoDB came back: {}",
            ready.status,
            ready.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let me = app.get("/api/users/me", Some(&token)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["email"], "sam@example.com");
    let listed = app.get("/api/assessments", None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_ne!(listed.header("x-cache"), Some("HIT"), "read from MongoDB");
    let created = app.assessment(&token, "Written after the outage").await;
    let fresh = app.get(&format!("/api/assessments/{created}"), None).await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    assert_eq!(fresh.body["title"], "Written after the outage");
    let renamed = app
        .put(
            &cached,
            Some(&token),
            &serde_json::json!({ "title": "Renamed after the outage" }),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(
        app.get(&cached, None).await.body["title"],
        "Renamed after the outage",
        "the write reached MongoDB and the cached copy was replaced"
    );
}

/// Redis stops under a running server: every route still answers, uncached; when Redis is
/// back the cache works again without a restart of the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_serves_uncached_and_recovers() {
    let mut redis = inframind_test_support::RedisServer::start().expect("a private redis-server");
    let mut config = Config::embedded();
    config.redis_url = Some(redis.url());
    let app = TestApp::start(
        config,
        Arc::new(infra_mind::repo::memory::MemoryRepository::new()),
        None,
    )
    .await;
    let (_, token) = app.user("tia").await;
    let id = app.assessment(&token, "Through an outage").await;
    let path = format!("/api/assessments/{id}");
    app.get(&path, None).await;
    assert_eq!(app.get(&path, None).await.header("x-cache"), Some("HIT"));

    redis.stop();
    for answer in [
        app.get(&path, None).await,
        app.get("/api/assessments", None).await,
        app.get("/api/recommendations", None).await,
        app.get(&format!("/api/assessments/{id}/full"), None).await,
    ] {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_ne!(answer.header("x-cache"), Some("HIT"));
    }
    let updated = app
        .put(
            &path,
            Some(&token),
            &serde_json::json!({ "title": "Renamed while down" }),
        )
        .await;
    assert_eq!(
        updated.status,
        StatusCode::OK,
        "writes work while the cache is down"
    );
    assert_eq!(
        app.get(&path, None).await.body["title"],
        "Renamed while down"
    );

    redis.restart().expect("redis restarts");
    let mut hit = false;
    for _ in 0..50 {
        let answer = app.get(&path, None).await;
        assert_eq!(
            answer.body["title"], "Renamed while down",
            "never the old data"
        );
        if answer.header("x-cache") == Some("HIT") {
            hit = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(hit, "the cache hits again once Redis is back");
}
