//! The server-wide middleware: request ids, the request span, error rendering.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Span;

use crate::error::{ErrorBody, RETRY_AFTER_SECS};
use crate::telemetry::REQUEST_ID_HEADER;

/// The request id of a request (set by `SetRequestIdLayer` before anything else runs).
fn request_id(request: &Request) -> &str {
    request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The span every log line of a request is written in, so each line carries the request id.
pub(crate) fn request_span(request: &http::Request<Body>) -> Span {
    let id = request_id(request);
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    )
}

/// Puts fresh per-request loaders in the request extensions.
pub(crate) async fn attach_loaders(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let loaders = crate::repo::loaders::RequestLoaders::new(&state.repo, &state.loader_stats);
    request.extensions_mut().insert(loaders);
    next.run(request).await
}

/// Gives every 4xx and 5xx the JSON error shape with the request id: those from handlers (an
/// [`ErrorBody`] in the extensions) and those from the router or tower-http (unknown route,
/// 405, body limit, timeout, panic). A 503 always carries `Retry-After`.
pub(crate) async fn render_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let id = request_id(&request).to_owned();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    // Handlers' errors carry their `ErrorBody` (the cache layer keeps response extensions);
    // anything else (router, tower-http) gets the body its status implies.
    let error = parts
        .extensions
        .remove::<ErrorBody>()
        .unwrap_or_else(|| ErrorBody::for_status(status, method.as_str(), &path));
    // tower-http's timeout answers 408 by default; the contract says 503 with Retry-After.
    if status == StatusCode::REQUEST_TIMEOUT {
        parts.status = StatusCode::SERVICE_UNAVAILABLE;
    }
    if parts.status == StatusCode::SERVICE_UNAVAILABLE {
        parts
            .headers
            .entry(header::RETRY_AFTER)
            .or_insert_with(|| HeaderValue::from(RETRY_AFTER_SECS));
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(error.to_json(&id).to_string()))
}
