//! `/openapi.json`: the OpenAPI document, generated from the `#[utoipa::path]` attribute on
//! every handler (the routers are built with `utoipa_axum::routes!`, so a route cannot be
//! served without being documented), plus the two endpoints served by other crates.

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::OpenApi;

/// The document's fixed parts, and the operational endpoints that are services rather than
/// handlers (`/metrics` is `inframind-metrics`'s `MetricsHandler`).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Infra Mind API",
        description = "Users, assessments, recommendations, reports and a dashboard. Errors are \
                       {\"error\":{\"code\",\"message\",\"request_id\"}}; writes need \
                       Authorization: Bearer <token>."
    ),
    paths(metrics, openapi_json),
    tags(
        (name = "users"), (name = "assessments"), (name = "recommendations"),
        (name = "reports"), (name = "dashboard"), (name = "admin"), (name = "operations")
    )
)]
pub(crate) struct ApiDoc;

/// Documentation only: `/metrics` is served by `MetricsHandler`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "Prometheus metrics (OpenMetrics; Prometheus text for Accept: text/plain)",
    responses((status = 200, description = "The exposition"))
)]
#[allow(dead_code)]
fn metrics() {}

/// Documentation only: the handler is the closure in [`handler`].
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    summary = "This document",
    responses((status = 200, description = "OpenAPI 3.1 JSON"))
)]
#[allow(dead_code)]
fn openapi_json() {}

/// Serves the finished document (rendered once).
pub(crate) fn handler(doc: &utoipa::openapi::OpenApi) -> axum::routing::MethodRouter {
    let json: Arc<str> = doc
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned())
        .into();
    axum::routing::get(move || {
        let json = Arc::clone(&json);
        async move {
            (
                [(header::CONTENT_TYPE, "application/json")],
                json.to_string(),
            )
                .into_response()
        }
    })
}
