//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ErrorBody, RETRY_AFTER_SECS};
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
}

#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    summary = "Liveness",
    responses((status = 200, description = "OK"))
)]
/// Liveness: the process is up and serving.
async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "service": "infra-mind", "version": env!("CARGO_PKG_VERSION") }))
}

#[utoipa::path(
    get,
    path = "/ready",
    tag = "operations",
    summary = "Readiness; 503 names the backend that is down",
    responses((status = 200, description = "OK"), (status = 503, description = "Backend unavailable (Retry-After)"))
)]
/// Readiness: every backend answers. A 503 names the backend that does not.
async fn ready(State(state): State<AppState>) -> Response {
    let backend = state.repo.backend();
    match state.repo.ping().await {
        Ok(()) => Json(json!({ "status": "ready", "checks": { backend: "up" } })).into_response(),
        Err(error) => {
            let mut response = StatusCode::SERVICE_UNAVAILABLE.into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            response.extensions_mut().insert(ErrorBody {
                code: "not_ready",
                message: format!("{backend} is down: {error}"),
                field: None,
            });
            response
        }
    }
}
