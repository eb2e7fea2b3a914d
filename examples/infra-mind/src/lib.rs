//! The Infra Mind API server, as a library so tests can drive it over real HTTP.
//!
//! `main.rs` parses the flags into a [`config::Config`] and runs a [`startup::Server`]; tests build a
//! server from [`config::Config::embedded`] on `127.0.0.1:0`.

pub mod agents;
pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod llm;
pub mod observe;
pub mod repo;
pub mod reports;
pub mod routes;
pub mod seed;
pub mod startup;
pub mod state;
pub mod status;
pub mod telemetry;

use axum::Router;

/// The application router over `state` (see [`routes::router`]).
///
/// # Errors
/// When a cache layer cannot be built.
pub fn app(state: state::AppState) -> Result<Router, inframind_cache::CacheError> {
    routes::router(state)
}
