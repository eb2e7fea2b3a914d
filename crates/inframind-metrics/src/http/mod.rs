//! `MetricsLayer`: the HTTP families of a [`Metrics`](crate::Metrics) registry, recorded by a
//! tower middleware.
//!
//! Families and labels (OpenTelemetry HTTP semantic conventions, Prometheus names):
//!
//! | family | type | labels |
//! |---|---|---|
//! | `http_requests_total` | counter | `method`, `endpoint`, `status` |
//! | `http_request_duration_seconds` | histogram | `method`, `endpoint`, `status` |
//! | `http_requests_in_progress` | gauge | `method`, `endpoint` |
//! | `http_request_size_bytes` | histogram | `method`, `endpoint` |
//! | `http_response_size_bytes` | histogram | `method`, `endpoint` |
//!
//! - `endpoint` is the route template (axum's `MatchedPath` with the `axum` feature, or
//!   [`MetricsLayer::endpoint_fn`]), never the raw path. Requests no route matched share
//!   [`UNMATCHED_ENDPOINT`]. Methods outside the nine standard ones share `_OTHER`.
//! - Cardinality is capped ([`MetricsBuilder::http_series_limit`](crate::MetricsBuilder::http_series_limit)):
//!   each new endpoint, `(method, endpoint)` pair and `(method, endpoint, status)` series takes
//!   one unit of the limit. Past it, requests go to the [`OVERFLOW_ENDPOINT`] series, whose
//!   `status` is the class (`2xx`, `5xx`; so `status=~"5.."` still matches), and count in
//!   `inframind_metrics_series_dropped_total{family="http_requests"}`. At most 16 distinct
//!   statuses are kept per `(method, endpoint)`.
//! - Duration runs until the response head. An inner-service error counts with
//!   `status="error"`. `http_requests_in_progress` is decremented by a guard inside the
//!   response future, so a cancelled (dropped) request leaves the gauge.
//! - Body sizes come from `Content-Length` or an exact size hint. Response bodies of unknown
//!   length are counted as they stream and recorded when they end or are dropped. Request
//!   bodies of unknown length (chunked uploads) are counted the same way with
//!   [`MetricsLayer::count_request_bodies`], which hands the inner service a [`RequestBody`]
//!   (axum routes accept any body); by default they are not recorded, and the inner service
//!   sees the request body unchanged.
//! - Exemplars: with a [`TraceId`] request extension or a W3C `traceparent` header, the
//!   request counter and the duration bucket carry `{trace_id="..."}` in the OpenMetrics
//!   output.
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
//!     .layer(MetricsLayer::new(&metrics).exclude_path("/metrics"))
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
pub use endpoint::{DefaultEndpoint, EndpointFn, EndpointLabel};
pub use future::ResponseFuture;
pub use layer::MetricsLayer;
pub use service::{CountRequestBodies, KnownLength, MetricsService};
pub use table::{ABANDONED_STATUS, OVERFLOW_ENDPOINT, UNMATCHED_ENDPOINT};
pub use trace::TraceId;
