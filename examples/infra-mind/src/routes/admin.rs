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

/// What to invalidate: a namespace and everything below it (O(1), by generation), or the
/// entries whose keys match a glob (a keyspace walk). Exactly one of the two.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Invalidate {
    namespace: Option<String>,
    pattern: Option<String>,
}

#[utoipa::path(
    post,
    path = "/admin/cache/invalidate",
    tag = "admin",
    summary = "Invalidate a namespace or a key glob",
    responses((status = 200, description = "OK"), (status = 401, description = "Missing or unknown token"), (status = 403, description = "Forbidden"), (status = 422, description = "Invalid field (named in error.field)"))
)]
/// Invalidates `{"namespace": "assessments"}` (that namespace and everything below it) or
/// `{"pattern": "*:list:*"}` (entries whose keys match the glob; answers how many).
async fn cache_invalidate(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(body): ApiJson<Invalidate>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let store_down = |e| ApiError::Unavailable {
        backend: "redis".to_owned(),
        message: format!("the cache store failed: {e}"),
        retry_after: crate::error::RETRY_AFTER_SECS,
    };
    match (body.namespace, body.pattern) {
        (Some(namespace), None) => match state.cache.invalidate_namespace(&namespace).await {
            Ok(()) => Ok(Json(serde_json::json!({ "namespace": namespace }))),
            Err(inframind_cache::CacheError::Store(e)) => Err(store_down(e)),
            Err(other) => Err(ApiError::field("namespace", other.to_string())),
        },
        (None, Some(pattern)) => match state.cache.invalidate_matching(&pattern).await {
            Ok(invalidated) => Ok(Json(
                serde_json::json!({ "pattern": pattern, "invalidated": invalidated }),
            )),
            Err(inframind_cache::CacheError::Store(e)) => Err(store_down(e)),
            Err(other) => Err(ApiError::field("pattern", other.to_string())),
        },
        _ => Err(ApiError::field(
            "namespace",
            "give exactly one of `namespace` (such as \"assessments\") and `pattern` (a glob)",
        )),
    }
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
