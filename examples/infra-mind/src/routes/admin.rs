//! Operator routes under `/admin`, behind the admin token.

use axum::Json;
use axum::extract::State;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Admin;
use crate::error::{ApiError, ApiJson};
use crate::state::AppState;
use crate::status::StatusSnapshot;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(breakers))
        .routes(routes!(cache_stats))
        .routes(routes!(cache_invalidate))
        .routes(routes!(batching_stats))
}

#[utoipa::path(
    get,
    path = "/admin/status",
    tag = "admin",
    summary = "Everything the status page shows",
    responses((status = 200, description = "OK"), (status = 401, description = "Missing or unknown token"), (status = 403, description = "Forbidden"))
)]
async fn status(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<StatusSnapshot>, ApiError> {
    Ok(Json(
        StatusSnapshot::collect(state.repo.as_ref(), state.started_at.elapsed()).await,
    ))
}

#[utoipa::path(
    get,
    path = "/admin/breakers",
    tag = "admin",
    summary = "Each circuit breaker with its state and counts",
    responses((status = 200, description = "OK"), (status = 401, description = "Missing or unknown token"), (status = 403, description = "Forbidden"))
)]
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

#[utoipa::path(
    get,
    path = "/admin/cache/stats",
    tag = "admin",
    summary = "Response-cache statistics",
    responses((status = 200, description = "OK"), (status = 401, description = "Missing or unknown token"), (status = 403, description = "Forbidden"))
)]
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

#[utoipa::path(
    post,
    path = "/admin/cache/invalidate",
    tag = "admin",
    summary = "Invalidate a key pattern",
    responses((status = 200, description = "OK"), (status = 401, description = "Missing or unknown token"), (status = 403, description = "Forbidden"), (status = 422, description = "Invalid field (named in error.field)"))
)]
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

#[utoipa::path(
    get,
    path = "/admin/batching/stats",
    tag = "admin",
    summary = "Batching statistics of the per-request loaders, by loader name",
    responses((status = 200, description = "OK"), (status = 401, description = "Missing or unknown token"), (status = 403, description = "Forbidden"))
)]
async fn batching_stats(State(state): State<AppState>, _admin: Admin) -> Json<serde_json::Value> {
    let loaders: serde_json::Map<String, serde_json::Value> = state
        .loader_stats
        .snapshot()
        .into_iter()
        .map(|s| {
            (
                s.name.clone(),
                serde_json::json!({
                    "total_batches": s.total_batches,
                    "total_items_loaded": s.total_items_loaded,
                    "total_queries": s.total_queries,
                    "queries_saved": s.queries_saved,
                    "efficiency_ratio": s.efficiency_ratio,
                }),
            )
        })
        .collect();
    Json(serde_json::Value::Object(loaders))
}
