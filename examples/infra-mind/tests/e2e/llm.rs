//! Recommendation generation through the provider chain: the offline default, and real HTTP
//! providers (a fake OpenAI and Anthropic on loopback that fail on demand) behind breakers
//! that open, fall back, answer 503 when all are open, and recover on an injected clock.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use axum::{Json, Router};
use infra_mind::config::Config;
use infra_mind::repo::memory::MemoryRepository;
use infra_mind::startup::{Parts, Server};
use inframind_breaker::ManualClock;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::common::TestApp;

both_backends!(the_offline_provider_generates_and_stores_recommendations);

async fn the_offline_provider_generates_and_stores_recommendations(app: TestApp) {
    let (_, token) = app.user("vic").await;
    let (_, other) = app.user("wes").await;
    let id = app.assessment(&token, "Offline").await;
    let path = format!("/api/assessments/{id}/recommendations/generate");
    let first = app.post(&path, Some(&token), &json!({})).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["provider"], "offline");
    let recs = first.body["recommendations"].as_array().unwrap();
    assert!((2..=4).contains(&recs.len()), "{}", first.body);
    for r in recs {
        assert_eq!(r["source"], "offline");
        assert_eq!(r["assessment_id"], id.as_str());
        let confidence = r["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&confidence));
    }
    let second = app.post(&path, Some(&token), &json!({})).await;
    let titles = |v: &Value| {
        v["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["title"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(titles(&first.body), titles(&second.body), "deterministic");
    let full = app
        .get(&format!("/api/assessments/{id}/full"), None)
        .await
        .body;
    assert_eq!(
        full["recommendations"].as_array().unwrap().len(),
        recs.len() * 2,
        "stored"
    );
    assert_eq!(
        app.post(&path, Some(&other), &json!({})).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post(&path, None, &json!({})).await.status,
        StatusCode::UNAUTHORIZED
    );
}

const HEALTHY: u8 = 0;
const FAILING: u8 = 1;
const MALFORMED: u8 = 2;

/// A fake OpenAI (`/v1/chat/completions`) and Anthropic (`/v1/messages`) in one server.
#[derive(Debug, Default)]
struct Fake {
    openai_mode: AtomicU8,
    anthropic_mode: AtomicU8,
    openai_calls: AtomicUsize,
    anthropic_calls: AtomicUsize,
}

const ANSWER: &str = r#"{"recommendations":[{"title":"Buy reserved capacity","category":"cost","priority":"high","description":"steady load","confidence":0.9}]}"#;

async fn openai(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (AxumStatus, Json<Value>) {
    fake.openai_calls.fetch_add(1, Ordering::SeqCst);
    assert_eq!(headers["authorization"], "Bearer sk-test");
    assert_eq!(body["model"], "gpt-test");
    assert_eq!(body["messages"][0]["role"], "system");
    match fake.openai_mode.load(Ordering::SeqCst) {
        FAILING => (
            AxumStatus::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": "boom" })),
        ),
        mode => {
            let content = if mode == MALFORMED {
                "I think you should buy more servers."
            } else {
                ANSWER
            };
            (
                AxumStatus::OK,
                Json(json!({
                    "choices": [{ "message": { "role": "assistant", "content": content } }],
                    "usage": { "prompt_tokens": 100, "completion_tokens": 50 },
                })),
            )
        }
    }
}

async fn anthropic(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (AxumStatus, Json<Value>) {
    fake.anthropic_calls.fetch_add(1, Ordering::SeqCst);
    assert_eq!(headers["x-api-key"], "ak-test");
    assert_eq!(headers["anthropic-version"], "2023-06-01");
    assert_eq!(body["model"], "claude-test");
    match fake.anthropic_mode.load(Ordering::SeqCst) {
        FAILING => (
            AxumStatus::SERVICE_UNAVAILABLE,
            Json(json!({ "type": "error" })),
        ),
        _ => (
            AxumStatus::OK,
            Json(json!({
                "content": [{ "type": "text", "text": ANSWER }],
                "usage": { "input_tokens": 80, "output_tokens": 40 },
            })),
        ),
    }
}

async fn fake_providers() -> (Arc<Fake>, SocketAddr) {
    let fake = Arc::new(Fake::default());
    let router = Router::new()
        .route("/v1/chat/completions", post(openai))
        .route("/v1/messages", post(anthropic))
        .with_state(Arc::clone(&fake));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (fake, addr)
}

async fn app_with_providers(addr: SocketAddr, clock: &ManualClock) -> TestApp {
    app_with_providers_and(addr, clock, |_| {}).await
}

async fn app_with_providers_and(
    addr: SocketAddr,
    clock: &ManualClock,
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    let mut config = Config::embedded();
    config.openai_base_url = format!("http://{addr}/v1");
    config.openai_api_key = Some("sk-test".to_owned());
    config.openai_model = "gpt-test".to_owned();
    config.anthropic_base_url = format!("http://{addr}");
    config.anthropic_api_key = Some("ak-test".to_owned());
    config.anthropic_model = "claude-test".to_owned();
    config.llm_timeout_secs = 5;
    configure(&mut config);
    let repo: Arc<dyn infra_mind::repo::Repository> = Arc::new(MemoryRepository::new());
    let mut parts = Parts::new(Arc::clone(&repo));
    parts.clock = Some(Arc::new(clock.clone()));
    let server = Server::with_parts(config, parts).await.unwrap();
    TestApp::spawn(server, repo, None)
}

async fn breaker_state(app: &TestApp, name: &str) -> String {
    let breakers = app
        .get("/admin/breakers", Some(&app.admin_token))
        .await
        .body;
    breakers["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == name)
        .map(|b| b["state"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no breaker {name} in {breakers}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakers_open_fall_back_refuse_and_recover() {
    let (fake, addr) = fake_providers().await;
    let clock = ManualClock::new();
    let app = app_with_providers(addr, &clock).await;
    let (_, token) = app.user("xena").await;
    let id = app.assessment(&token, "Breakers").await;
    let path = format!("/api/assessments/{id}/recommendations/generate");
    let empty = json!({});
    let generate = || app.post(&path, Some(&token), &empty);

    // Healthy: OpenAI answers first.
    let ok = generate().await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    assert_eq!(ok.body["provider"], "openai");
    assert_eq!(ok.body["recommendations"][0]["source"], "openai");

    // OpenAI fails: every call falls back to Anthropic; five failures open its breaker.
    fake.openai_mode.store(FAILING, Ordering::SeqCst);
    for _ in 0..5 {
        let answer = generate().await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        assert_eq!(answer.body["provider"], "anthropic");
    }
    assert_eq!(fake.openai_calls.load(Ordering::SeqCst), 6);
    assert_eq!(breaker_state(&app, "openai").await, "open");
    let skipped = generate().await;
    assert_eq!(skipped.body["provider"], "anthropic");
    assert_eq!(
        fake.openai_calls.load(Ordering::SeqCst),
        6,
        "an open breaker sends nothing"
    );

    // Anthropic fails too: 503 while it fails, then its breaker opens after three.
    fake.anthropic_mode.store(FAILING, Ordering::SeqCst);
    for _ in 0..3 {
        let answer = generate().await;
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            answer.body
        );
        assert!(answer.header("retry-after").is_some());
    }
    assert_eq!(breaker_state(&app, "anthropic").await, "open");
    let calls = (
        fake.openai_calls.load(Ordering::SeqCst),
        fake.anthropic_calls.load(Ordering::SeqCst),
    );
    let refused = generate().await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.error_code(), "service_unavailable");
    let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (1..=30).contains(&retry_after),
        "the soonest breaker (anthropic, 30 s): {retry_after}"
    );
    assert_eq!(
        (
            fake.openai_calls.load(Ordering::SeqCst),
            fake.anthropic_calls.load(Ordering::SeqCst)
        ),
        calls,
        "all open: no provider is called"
    );

    // 31 s later Anthropic is probed; it is healthy again and closes.
    fake.anthropic_mode.store(HEALTHY, Ordering::SeqCst);
    clock.advance(Duration::from_secs(31));
    let probed = generate().await;
    assert_eq!(probed.status, StatusCode::CREATED, "{}", probed.body);
    assert_eq!(probed.body["provider"], "anthropic");
    assert_eq!(breaker_state(&app, "anthropic").await, "closed");
    assert_eq!(breaker_state(&app, "openai").await, "open");

    // 61 s after it opened, OpenAI is probed and takes over again.
    fake.openai_mode.store(HEALTHY, Ordering::SeqCst);
    clock.advance(Duration::from_secs(30));
    let back = generate().await;
    assert_eq!(back.body["provider"], "openai", "{}", back.body);
    assert_eq!(breaker_state(&app, "openai").await, "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_answer_is_a_failed_call_not_a_panic() {
    let (fake, addr) = fake_providers().await;
    let clock = ManualClock::new();
    let app = app_with_providers(addr, &clock).await;
    let (_, token) = app.user("yuri").await;
    let id = app.assessment(&token, "Malformed").await;
    let path = format!("/api/assessments/{id}/recommendations/generate");
    fake.openai_mode.store(MALFORMED, Ordering::SeqCst);
    for _ in 0..5 {
        let answer = app.post(&path, Some(&token), &json!({})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        assert_eq!(answer.body["provider"], "anthropic", "fell back");
    }
    assert_eq!(
        breaker_state(&app, "openai").await,
        "open",
        "malformed answers count as failures"
    );
    let full = app
        .get(&format!("/api/assessments/{id}/full"), None)
        .await
        .body;
    let sources: Vec<_> = full["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["source"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        sources.iter().all(|s| s == "anthropic"),
        "nothing stored from the bad answers: {sources:?}"
    );
}

/// `LLM_BREAKERS=false`, the comparison the load harness makes: a failing provider is tried on
/// every call, however often it failed, and the next one answers; no breaker is registered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_breakers_a_failing_provider_is_tried_every_time() {
    let (fake, addr) = fake_providers().await;
    let clock = ManualClock::new();
    let app = app_with_providers_and(addr, &clock, |c| c.llm_breakers = false).await;
    let (_, token) = app.user("yuri").await;
    let id = app.assessment(&token, "No breakers").await;
    let path = format!("/api/assessments/{id}/recommendations/generate");
    fake.openai_mode.store(FAILING, Ordering::SeqCst);
    for _ in 0..8 {
        let answer = app.post(&path, Some(&token), &json!({})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        assert_eq!(answer.body["provider"], "anthropic");
    }
    assert_eq!(
        fake.openai_calls.load(Ordering::SeqCst),
        8,
        "no breaker: OpenAI is called every time"
    );
    let breakers = app
        .get("/admin/breakers", Some(&app.admin_token))
        .await
        .body;
    assert_eq!(breakers["breakers"], json!([]), "{breakers}");
}
