//! The router: every resource's routes, `/admin` nested behind the admin token, and the
//! server-wide middleware (outermost first): request id, propagation, tracing span, CORS,
//! error rendering, panic catching, body limit, timeout.

mod admin;
pub(crate) mod assessments;
pub mod cache;
mod dashboard;
mod health;
pub(crate) mod middleware;
mod openapi;
mod recommendations;
mod reports;
mod status_page;
mod users;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Method, StatusCode, header};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use inframind_cache::CacheError;
use inframind_metrics::MetricsLayer;

use crate::error::BODY_LIMIT;
use crate::state::AppState;
use crate::telemetry::REQUEST_ID_HEADER;

/// The whole application over `state`.
///
/// # Errors
/// When a cache layer cannot be built.
pub fn router(state: AppState) -> Result<Router, CacheError> {
    let caches = cache::Layers::new(&state.cache)?;
    let attach_loaders =
        axum::middleware::from_fn_with_state(state.clone(), middleware::attach_loaders);
    let resolve_principal =
        axum::middleware::from_fn_with_state(state.clone(), cache::principal_for_cache);
    let timeout = state.config.request_timeout();
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            request_id.clone(),
        ])
        .expose_headers([
            request_id.clone(),
            header::RETRY_AFTER,
            header::ETAG,
            HeaderName::from_static("x-cache"),
        ]);
    let (api, mut doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(status_page::router())
        .merge(health::router())
        .merge(users::router())
        // Each cached route gets its own layer; only GET and HEAD are cached, writes on the
        // same paths pass through.
        .merge(
            users::assessments_router()
                .layer(caches.assessment_user)
                .layer(resolve_principal)
                .route_layer(attach_loaders.clone()),
        )
        .merge(assessments::list_router().layer(caches.assessment_list))
        .merge(assessments::item_router().layer(caches.assessment_item))
        .merge(recommendations::list_router().layer(caches.recommendation_list))
        .merge(recommendations::generate_router())
        .merge(reports::router().route_layer(attach_loaders))
        .merge(dashboard::router())
        .merge(admin::router())
        .split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let router = api
        // GET (and HEAD) only, as documented; `route_service` would answer every method.
        .route("/metrics", axum::routing::get_service(state.metrics.handler()))
        .route("/openapi.json", openapi::handler(&doc).with_state(()))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Inside the router so the `endpoint` label is the matched route template.
        .layer(MetricsLayer::axum(&state.metrics))
        .with_state(state)
        // Innermost first: each `layer` call wraps the router built so far.
        .layer(
            ServiceBuilder::new()
                .layer(CatchPanicLayer::new())
                .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
                .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, timeout)),
        )
        .layer(axum::middleware::from_fn(middleware::render_errors))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(middleware::request_span)
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                )
                .layer(cors),
        );
    Ok(router)
}
