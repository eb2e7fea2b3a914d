//! Scenario 4: one LLM provider failing by time-outs, with and without the breakers. A fake
//! OpenAI on loopback that never answers within the server's LLM timeout, and a fake
//! Anthropic that answers at once; our server in front of both, once with its breakers and
//! once with `LLM_BREAKERS=false`, under the same closed-loop load on
//! `POST /api/assessments/{id}/recommendations/generate`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde::Serialize;
use serde_json::json;

use crate::loadgen::{self, Plan, Summary, Target};
use crate::scenarios::{Results, Settings, say};
use crate::services::{self, HarnessError, Logs, free_port, get_ok};
use crate::stack::{self, Binaries};

/// What the agent asks for: one valid recommendation.
const ANSWER: &str = r#"{"recommendations":[{"title":"Buy reserved capacity","category":"cost","priority":"high","description":"steady load","confidence":0.9}]}"#;

/// The server's timeout of one LLM call in this scenario (seconds).
const LLM_TIMEOUT_SECS: u64 = 1;

/// One load on the generate route.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub(crate) struct BreakerRun {
    pub(crate) target: String,
    /// Calls that reached the failing provider during the load.
    pub(crate) failing_provider_calls: u64,
    pub(crate) summary: Summary,
}

#[derive(Debug, Default)]
struct Calls {
    openai: AtomicU64,
    anthropic: AtomicU64,
}

/// OpenAI hangs (past the server's timeout), Anthropic answers.
async fn fake_providers() -> Result<(SocketAddr, Arc<Calls>), HarnessError> {
    let calls = Arc::new(Calls::default());
    let router = Router::new()
        .route(
            "/v1/chat/completions",
            post(|State(calls): State<Arc<Calls>>| async move {
                calls.openai.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(LLM_TIMEOUT_SECS * 5)).await;
                axum::Json(json!({ "choices": [] }))
            }),
        )
        .route(
            "/v1/messages",
            post(|State(calls): State<Arc<Calls>>| async move {
                calls.anthropic.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({
                    "content": [{ "type": "text", "text": ANSWER }],
                    "usage": { "input_tokens": 80, "output_tokens": 40 },
                }))
            }),
        )
        .with_state(Arc::clone(&calls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok((addr, calls))
}

/// Scenario 4: latency and error rate of the generate route with and without breakers.
pub(crate) async fn breaker(
    bins: &Binaries,
    mongo_uri: &str,
    logs: &Logs,
    settings: &Settings,
    results: &mut Results,
) -> Result<(), HarnessError> {
    let (fake, calls) = fake_providers().await?;
    // Long enough for the unprotected server to make several calls per connection.
    let length = Duration::from_secs_f64((settings.case_secs * 3.0).max(3.0));
    for (name, breakers) in [
        ("ours: with breakers", true),
        ("ours: without breakers", false),
    ] {
        let port = free_port()?;
        let mut command = stack::ours(bins, port, mongo_uri, None);
        command
            .env("OPENAI_BASE_URL", format!("http://{fake}/v1"))
            .env("OPENAI_API_KEY", "sk-bench")
            .env("ANTHROPIC_BASE_URL", format!("http://{fake}"))
            .env("ANTHROPIC_API_KEY", "ak-bench")
            .env("LLM_TIMEOUT_SECS", LLM_TIMEOUT_SECS.to_string())
            .env("LLM_BREAKERS", breakers.to_string());
        let server = services::start(
            if breakers {
                "ours-breakers"
            } else {
                "ours-no-breakers"
            },
            command,
            port,
            "/health",
            logs,
        )
        .await?;
        let page = get_ok(&server, "/api/assessments?limit=1").await?;
        let listed: serde_json::Value = serde_json::from_slice(&page.body)?;
        let id = listed[0]["id"]
            .as_str()
            .ok_or_else(|| HarnessError::Internal(format!("no assessment in {listed}")))?
            .to_owned();
        let url = server.url(&format!("/api/assessments/{id}/recommendations/generate"));
        let plan = Plan::closed(8, length)
            .send_json(http::Method::POST, &json!({}))
            .header("authorization", "Bearer bench-admin-token");
        let before = calls.openai.load(Ordering::SeqCst);
        let summary = loadgen::run_on_own_thread(Target::parse(&url)?, plan).await?;
        let failing_provider_calls = calls.openai.load(Ordering::SeqCst) - before;
        say(&format!(
            "breaker  {name:24} {:>7.1} req/s  p50 {:>8.1} ms  p99 {:>8.1} ms  error rate {:.3}  failing-provider calls {failing_provider_calls}",
            summary.rps,
            summary.p50_ms,
            summary.p99_ms,
            summary.error_rate()
        ));
        results.breaker.push(BreakerRun {
            target: name.to_owned(),
            failing_provider_calls,
            summary,
        });
        drop(server);
    }
    Ok(())
}
