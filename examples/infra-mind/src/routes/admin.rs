//! Operator routes under `/admin`, behind the admin token.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use crate::auth::Admin;
use crate::error::ApiError;
use crate::state::AppState;
use crate::status::StatusSnapshot;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/admin/status", get(status))
}

async fn status(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<StatusSnapshot>, ApiError> {
    Ok(Json(
        StatusSnapshot::collect(state.repo.as_ref(), state.started_at.elapsed()).await,
    ))
}
