//! `MetricsLayer`: the HTTP families of a [`Metrics`](crate::Metrics) registry, recorded by a
//! tower middleware.
//!
//! Families and labels (Prometheus names; [`HttpLabelNames::OpenTelemetry`] switches to the
//! OpenTelemetry HTTP server conventions' names: `http_request_method`, `http_route`,
//! `http_response_status_code`, `error_type`):
//!
//! | family | type | labels |
//! |---|---|---|
//! | `http_requests_total` | counter | `method`, `endpoint`, `status` |
//! | `http_request_duration_seconds` | histogram | `method`, `endpoint`, `status` |
//! | `http_requests_in_progress` | gauge | `method`, `endpoint` |
//! | `http_request_size_bytes` | histogram | `method`, `endpoint` |
//! | `http_response_size_bytes` | histogram | `method`, `endpoint` |
//!
//! - `endpoint` is the route template, never the raw path: axum's `MatchedPath` with
//!   [`MetricsLayer::axum`] (feature `axum`; `Router::nest_service` mounts need
//!   [`MetricsLayer::nested_service`]), a [`RouteTemplate`] request extension with
//!   [`MetricsLayer::new`] (whatever features are on), or [`MetricsLayer::endpoint_fn`]. Requests no route matched share
//!   [`UNMATCHED_ENDPOINT`]. Methods outside the nine standard ones share `_OTHER`.
//! - Cardinality is capped ([`MetricsBuilder::http_series_limit`](crate::MetricsBuilder::http_series_limit)):
//!   each new endpoint, `(method, endpoint)` pair and `(method, endpoint, status)` series takes
//!   one unit of the limit. Past it, requests go to the [`OVERFLOW_ENDPOINT`] series, whose
//!   `status` is the class (`2xx`, `5xx`; so `status=~"5.."` still matches), and count in
//!   `inframind_metrics_series_dropped_total{family="http_requests"}`. At most 16 distinct
//!   statuses are kept per `(method, endpoint)`.
//! - Every request that reaches the layer is counted once:
//!   - with its response's status;
//!   - with `status="error"` when the inner service fails without a response;
//!   - with `status="499"` ([`ABANDONED_STATUS`], nginx's "client closed request") when the
//!     request future is dropped before the response head: the client hung up, or a layer
//!     outside this one (a timeout, a load shedder) gave up on the request.
//! - Duration runs until the response head by default, or until the body is sent with
//!   [`MetricsLayer::duration_until`]`(`[`DurationUntil::ResponseEnd`]`)` (for streamed
//!   responses; the request then also stays in progress until then). The default buckets run
//!   from 5 ms to 10 s; give slow routes (LLM-backed ones) their own layout with
//!   [`MetricsBuilder::http_route_duration`](crate::MetricsBuilder::http_route_duration).
//!   `http_requests_in_progress` is decremented by a guard, so a cancelled request leaves it.
//!
//! # Where to put the layer
//!
//! Put `MetricsLayer` outermost, outside timeouts, rate limits, authentication and caches: it
//! then sees every response the client gets, as the client gets it. Each placement sees:
//!
//! | layer outside `MetricsLayer` | what the HTTP families show |
//! |---|---|
//! | none (recommended) | every request, with the status the client received (`408` from a timeout, `429` from a limiter, `401` from auth, cache hits) |
//! | a timeout (`tower::timeout` + `HandleErrorLayer`, tower-http's `TimeoutLayer`) | timed-out requests as `status="499"`: the layer's future is dropped, and the 408 is written outside it |
//! | a layer answering without calling inward (auth, rate limit, cache hit) | nothing for those requests: they never reach `MetricsLayer` |
//! | the server only | client hang-ups as `status="499"` |
//!
//! With axum, `Router::layer` wraps outwards: the last `.layer(...)` call is the outermost.
//! - Body sizes come from `Content-Length` or an exact size hint. Response bodies of unknown
//!   length are counted as they stream and recorded when they end or are dropped. Request
//!   bodies of unknown length (chunked uploads) are counted the same way with
//!   [`MetricsLayer::count_request_bodies`], which hands the inner service a [`RequestBody`]
//!   (axum routes accept any body); by default they are not recorded, and the inner service
//!   sees the request body unchanged.
//! - Exemplars: with a [`TraceId`] request extension or a W3C `traceparent` header, the
//!   request counter carries `{trace_id="..."}` in the OpenMetrics output (prometheus-client
//!   0.26 gives collectors no way to build a histogram bucket's exemplar).
//! - The families are a prometheus-client collector ([`crate::Metrics::register_into`] puts
//!   them in any registry), written by prometheus-client's encoder like every other family.
//! - The request path costs no lock once a series exists: a read-mostly endpoint map (skipped
//!   entirely under axum's `Router::layer`, where each route has its own service), then
//!   atomics.
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use axum::{Router, routing::get};
//! use inframind_metrics::{Metrics, MetricsLayer};
//!
//! let metrics = Metrics::new();
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { "user" }))
//!     .layer(MetricsLayer::axum(&metrics).exclude_path("/metrics"))
//!     .route_service("/metrics", metrics.handler());
//! # let _ = app;
//! # }
//! ```

mod body;
pub(crate) mod collector;
mod config;
mod endpoint;
mod future;
mod layer;
mod service;
pub(crate) mod table;
mod trace;

pub use body::{CountingBody, RequestBody, ResponseBody};
pub use collector::HttpLabelNames;
pub use config::DurationUntil;
#[cfg(feature = "axum")]
pub use endpoint::AxumEndpoint;
pub use endpoint::{DefaultEndpoint, EndpointFn, EndpointLabel, RouteTemplate};
pub use future::ResponseFuture;
pub use layer::MetricsLayer;
pub use service::{CountRequestBodies, KnownLength, MetricsService};
pub use table::{ABANDONED_STATUS, OVERFLOW_ENDPOINT, UNMATCHED_ENDPOINT};
pub use trace::TraceId;
