//! `GET /`: the live status page.

use axum::Router;
use axum::response::Html;
use axum::routing::get;

use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/", get(page))
}

async fn page() -> Html<&'static str> {
    Html(include_str!("../../assets/status.html"))
}
