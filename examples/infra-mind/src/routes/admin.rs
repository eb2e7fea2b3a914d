//! Operator routes under `/admin`, behind the admin token.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use crate::auth::Admin;
use crate::error::ApiError;
use crate::state::AppState;
use crate::status::StatusSnapshot;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/status", get(status))
        .route("/admin/breakers", get(breakers))
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
