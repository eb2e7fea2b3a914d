//! Every 4xx and 5xx in the JSON error shape with the request id: those from handlers (an
//! [`ErrorBody`] in the response extensions) and those from the router or tower-http (unknown
//! route, 405, body limit, timeout, panic). A 503 always carries `Retry-After`.
//!
//! A tower layer rather than `axum::middleware::from_fn`: it wraps every request, and a
//! success costs it only the clones of the method, URI and request id (shared buffers, no
//! copies), with no boxed future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::error::{ErrorBody, RETRY_AFTER_SECS};
use crate::telemetry::REQUEST_ID_HEADER;

/// Renders error responses as JSON (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RenderErrorsLayer;

impl<S> Layer<S> for RenderErrorsLayer {
    type Service = RenderErrors<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RenderErrors { inner }
    }
}

/// The service of [`RenderErrorsLayer`].
#[derive(Debug, Clone)]
pub(crate) struct RenderErrors<S> {
    inner: S,
}

/// What an error body says about its request.
#[derive(Debug)]
struct RequestLine {
    method: Method,
    uri: Uri,
    request_id: Option<HeaderValue>,
}

impl<S, B> Service<Request<B>> for RenderErrors<S>
where
    S: Service<Request<B>>,
    S::Response: IntoResponse,
{
    type Response = Response;
    type Error = S::Error;
    type Future = RenderErrorsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let line = RequestLine {
            method: request.method().clone(),
            uri: request.uri().clone(),
            request_id: request.headers().get(REQUEST_ID_HEADER).cloned(),
        };
        RenderErrorsFuture {
            inner: self.inner.call(request),
            line: Some(line),
        }
    }
}

pin_project! {
    /// The response future of [`RenderErrors`].
    pub(crate) struct RenderErrorsFuture<F> {
        #[pin]
        inner: F,
        line: Option<RequestLine>,
    }
}

impl<F, R, E> Future for RenderErrorsFuture<F>
where
    F: Future<Output = Result<R, E>>,
    R: IntoResponse,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?.into_response();
        let status = response.status();
        match this.line.take() {
            Some(line) if status.is_client_error() || status.is_server_error() => {
                Poll::Ready(Ok(render(response, &line)))
            }
            _ => Poll::Ready(Ok(response)),
        }
    }
}

fn render(response: Response, line: &RequestLine) -> Response {
    let status = response.status();
    let (mut parts, _) = response.into_parts();
    // Handlers' errors carry their `ErrorBody` (the cache layer keeps response extensions);
    // anything else (router, tower-http) gets the body its status implies.
    let error = parts
        .extensions
        .remove::<ErrorBody>()
        .unwrap_or_else(|| ErrorBody::for_status(status, line.method.as_str(), line.uri.path()));
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
    let request_id = line
        .request_id
        .as_ref()
        .and_then(|id| id.to_str().ok())
        .unwrap_or_default();
    Response::from_parts(parts, Body::from(error.to_json(request_id).to_string()))
}
