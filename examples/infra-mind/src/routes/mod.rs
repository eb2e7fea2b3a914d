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
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use inframind_cache::CacheError;
use inframind_metrics::MetricsLayer;

use crate::error::BODY_LIMIT;
use crate::state::AppState;
use crate::telemetry::REQUEST_ID_HEADER;

/// How much of the stack [`router_to`] puts around the handlers, innermost first. Each depth
/// adds one piece to the one before; the load harness (`benches/load`) serves each to measure
/// what every layer costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum StackDepth {
    /// The handlers alone (with their request loaders): nothing cached, no server-wide layer.
    Handlers,
    /// Adds the per-route response caches.
    Cache,
    /// Adds the metrics layer.
    Metrics,
    /// Adds panic catching, the body limit and the request timeout.
    Limits,
    /// Adds the JSON error rendering.
    Errors,
    /// Adds request ids, the tracing span and log line, and CORS: what [`router`] serves.
    Full,
}

/// The whole application over `state`.
///
/// # Errors
/// When a cache layer cannot be built.
pub fn router(state: AppState) -> Result<Router, CacheError> {
    router_to(state, StackDepth::Full)
}

/// The application with its stack cut at `depth` (see [`StackDepth`]); [`router`] is
/// `router_to(state, StackDepth::Full)`.
///
/// # Errors
/// When a cache layer cannot be built.
pub fn router_to(state: AppState, depth: StackDepth) -> Result<Router, CacheError> {
    let cached = |routes: OpenApiRouter<AppState>, cache: inframind_cache::CacheLayer| {
        if depth >= StackDepth::Cache {
            routes.layer(cache)
        } else {
            routes
        }
    };
    let caches = cache::Layers::new(&state.cache, state.config.cache_max_body_bytes)?;
    let attach_loaders =
        axum::middleware::from_fn_with_state(state.clone(), middleware::attach_loaders);
    let resolve_principal =
        axum::middleware::from_fn_with_state(state.clone(), cache::principal_for_cache);
    let timeout = state.config.request_timeout();
    let access_log = middleware::AccessLogLine(state.config.access_log);
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
        ])
        // Every answer is the same for every origin (`*`, fixed lists), so none varies on
        // the request's CORS headers: no `Vary` for them, and shared caches keep one copy.
        .vary([]);
    let (api, mut doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(status_page::router())
        .merge(health::router())
        .merge(users::router())
        // Each cached route gets its own layer; only GET and HEAD are cached, writes on the
        // same paths pass through.
        .merge(
            cached(users::assessments_router(), caches.assessment_user)
                .layer(resolve_principal)
                .route_layer(attach_loaders.clone()),
        )
        .merge(cached(assessments::list_router(), caches.assessment_list))
        .merge(cached(assessments::item_router(), caches.assessment_item))
        .merge(cached(
            recommendations::list_router(),
            caches.recommendation_list,
        ))
        .merge(recommendations::generate_router())
        .merge(reports::router().route_layer(attach_loaders))
        .merge(dashboard::router())
        .merge(admin::router())
        .split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let mut router = api
        // GET (and HEAD) only, as documented; `route_service` would answer every method.
        .route("/metrics", axum::routing::get_service(state.metrics.handler()))
        .route("/openapi.json", openapi::handler(&doc).with_state(()))
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    if depth >= StackDepth::Metrics {
        // Inside the router so the `endpoint` label is the matched route template.
        router = router.layer(MetricsLayer::axum(&state.metrics));
    }
    let router = router.with_state(state);
    // One `layer` call per depth: each call puts a boxed, cloned-per-request route around
    // what it wraps, so the server-wide layers go on as one stack (outermost first).
    let limits = ServiceBuilder::new()
        .layer(CatchPanicLayer::new())
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ));
    let errors = ServiceBuilder::new()
        .layer(middleware::RenderErrorsLayer)
        .layer(limits.clone());
    let full = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(middleware::request_span)
                .on_response(access_log),
        )
        .layer(cors)
        .layer(errors.clone());
    let router = match depth {
        StackDepth::Handlers | StackDepth::Cache | StackDepth::Metrics => router,
        StackDepth::Limits => router.layer(limits),
        StackDepth::Errors => router.layer(errors),
        StackDepth::Full => router.layer(full),
    };
    Ok(router)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;
    use crate::config::Config;
    use crate::repo::memory::MemoryRepository;
    use crate::startup::Server;

    async fn get(router: &Router, path: &str) -> axum::response::Response {
        let request = axum::http::Request::get(path).body(Body::empty()).unwrap();
        router.clone().oneshot(request).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_depth_adds_its_layer_and_full_is_the_served_router() {
        let repo = Arc::new(MemoryRepository::with_demo_data().await);
        let server = Server::with_store(Config::embedded(), repo).await.unwrap();
        let depths = [
            StackDepth::Handlers,
            StackDepth::Cache,
            StackDepth::Metrics,
            StackDepth::Limits,
            StackDepth::Errors,
            StackDepth::Full,
        ];
        for depth in depths {
            let router = router_to(server.state().clone(), depth).unwrap();
            let list = get(&router, "/api/assessments").await;
            assert_eq!(list.status(), StatusCode::OK, "{depth:?}");
            assert_eq!(
                list.headers().contains_key("x-cache"),
                depth >= StackDepth::Cache,
                "{depth:?}: x-cache"
            );
            assert_eq!(
                list.headers().contains_key(REQUEST_ID_HEADER),
                depth >= StackDepth::Full,
                "{depth:?}: request id"
            );
            let missing = get(&router, "/no/such/route").await;
            assert_eq!(missing.status(), StatusCode::NOT_FOUND, "{depth:?}");
            let body = missing.into_body().collect().await.unwrap().to_bytes();
            let json = serde_json::from_slice::<serde_json::Value>(&body).ok();
            assert_eq!(
                json.is_some_and(|j| j["error"]["code"].is_string()),
                depth >= StackDepth::Errors,
                "{depth:?}: error shape {body:?}"
            );
            let scrape = get(&router, "/metrics").await;
            let text = scrape.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(
                String::from_utf8_lossy(&text).contains("endpoint=\"/api/assessments\""),
                depth >= StackDepth::Metrics,
                "{depth:?}: metrics"
            );
        }
        let served = server.router();
        let list = get(&served, "/api/assessments").await;
        assert!(list.headers().contains_key("x-cache"));
        assert!(list.headers().contains_key(REQUEST_ID_HEADER));
    }
}
