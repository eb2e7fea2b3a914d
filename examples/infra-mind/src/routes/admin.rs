//! Operator routes under `/admin`, behind the admin token.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::auth::Admin;
use crate::error::{ApiError, ApiJson};
use crate::state::AppState;
use crate::status::StatusSnapshot;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/status", get(status))
        .route("/admin/breakers", get(breakers))
        .route("/admin/cache/stats", get(cache_stats))
        .route("/admin/cache/invalidate", post(cache_invalidate))
}

async fn status(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<StatusSnapshot>, ApiError> {
    Ok(Json(
        StatusSnapshot::collect(state.repo.as_ref(), state.started_at.elapsed()).await,
    ))
}

/// Every breaker's state and counters.
async fn breakers(State(state): State<AppState>, _admin: Admin) -> Json<serde_json::Value> {
    let breakers: Vec<_> = state
        .llm
        .registry()
        .snapshot()
        .into_iter()
        .map(|s| {
            serde_json::json!({
                "name": s.name,
                "state": s.state.as_str(),
                "successful_calls": s.successful_calls,
                "failed_calls": s.failed_calls,
                "rejected_calls": s.rejected_calls,
                "consecutive_failures": s.consecutive_failures,
                "remaining_open_secs": s.remaining_open.map(|d| d.as_secs_f64()),
            })
        })
        .collect();
    Json(serde_json::json!({ "breakers": breakers }))
}

/// The cache's counters.
async fn cache_stats(State(state): State<AppState>, _admin: Admin) -> Json<serde_json::Value> {
    let s = state.cache.stats();
    Json(serde_json::json!({
        "hits": s.hits,
        "misses": s.misses,
        "stale_hits": s.stale_hits,
        "bypasses": s.bypasses,
        "coalesced_waits": s.coalesced_waits,
        "store_errors": s.store_errors,
        "bytes_stored": s.bytes_stored,
        "bytes_saved_by_compression": s.bytes_saved_by_compression,
        "entries": s.entries,
        "memory_bytes": s.memory_bytes,
        "hit_rate": s.hit_rate(),
    }))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Invalidate {
    pattern: String,
}

/// Invalidates a pattern (`assessments:*`, `recommendations:list*`, ...).
async fn cache_invalidate(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(body): ApiJson<Invalidate>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let invalidated = state
        .cache
        .invalidate(&body.pattern)
        .await
        .map_err(|error| match error {
            inframind_cache::CacheError::Store(e) => ApiError::Unavailable {
                backend: "redis".to_owned(),
                message: format!("the cache store failed: {e}"),
                retry_after: crate::error::RETRY_AFTER_SECS,
            },
            other => ApiError::field("pattern", other.to_string()),
        })?;
    Ok(Json(
        serde_json::json!({ "pattern": body.pattern, "invalidated": invalidated }),
    ))
}
