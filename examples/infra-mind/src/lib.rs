//! The Infra Mind API server, as a library so tests can drive the router in-process.
//!
//! Today it serves `GET /health` only; the example-server issue fills in the API described in
//! `docs/` on top of the workspace crates.

use axum::{Json, Router, routing::get};
use serde_json::{Value, json};

/// The server's router.
pub fn app() -> Router {
    Router::new().route("/health", get(health))
}

/// Liveness: the process is up and serving.
async fn health() -> Json<Value> {
    Json(json!({ "status": "ok", "service": "infra-mind", "version": env!("CARGO_PKG_VERSION") }))
}
