//! `GET /`: the live status page.

use axum::response::Html;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(page))
}

#[utoipa::path(
    get,
    path = "/",
    tag = "operations",
    summary = "The live status page (HTML)",
    responses((status = 200, description = "OK"))
)]
async fn page() -> Html<&'static str> {
    Html(include_str!("../../assets/status.html"))
}
