//! Prometheus metrics for tower and axum services, on the official [`prometheus_client`] crate.
//!
//! One [`Metrics`] registry holds the 30 metric families an Infra Mind service exposes (HTTP,
//! database, cache, LLM, business, AI agent; listed below) under their conventional names, next
//! to any metric the application registers. Every family is a prometheus-client metric or collector, so an
//! application with its own registry gets them all with [`Metrics::register_into`].
//! [`MetricsLayer`] records the HTTP families with route templates as labels and a hard series
//! cap, and counts every request that reaches it (dropped ones as `499`); put it outermost
//! ([`http`] lists what each placement sees). [`Metrics::handler`] serves `/metrics` in the
//! OpenMetrics text format (or Prometheus text, by `Accept` q-values), with trace-id exemplars.
//!
//! ```
//! # #[cfg(feature = "axum")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{Router, body::Body, routing::get};
//! use http::Request;
//! use inframind_metrics::{Metrics, MetricsLayer};
//! use tower::ServiceExt;
//!
//! let metrics = Metrics::new();
//! let app = Router::new()
//!     .route("/users/{id}", get(|| async { "a user" }))
//!     // Everything above this line is measured, labelled by route template.
//!     .layer(MetricsLayer::axum(&metrics))
//!     .route_service("/metrics", metrics.handler());
//!
//! let res = app.clone().oneshot(Request::get("/users/42").body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), 200);
//!
//! let res = app.oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.headers()["content-type"], "application/openmetrics-text; version=1.0.0; charset=utf-8");
//! let body = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
//! let text = String::from_utf8(body.to_vec()).unwrap();
//! assert!(text.contains(r#"http_requests_total{method="GET",endpoint="/users/{id}",status="200"} 1"#));
//! # }
//! # #[cfg(not(feature = "axum"))]
//! # fn main() {}
//! ```
//!
//! # Families
//!
//! | group | families |
//! |---|---|
//! | HTTP ([`MetricsLayer`]) | `http_requests_total`, `http_request_duration_seconds`, `http_requests_in_progress`, `http_request_size_bytes`, `http_response_size_bytes` |
//! | DB ([`DbMetrics`]) | `db_queries_total`, `db_query_duration_seconds`, `db_connections_active`, `db_connections_idle`, `db_errors_total` |
//! | cache ([`CacheMetrics`]) | `cache_hits_total`, `cache_misses_total`, `cache_operation_duration_seconds{cache, operation}` (store `get`, `put` and `invalidate` latency, in the cache's own buckets), `cache_entries`, `cache_memory_bytes` |
//! | LLM ([`Metrics::track_llm_call`]) | `llm_api_calls_total`, `llm_api_duration_seconds`, `llm_tokens_used_total`, `llm_api_cost_usd_total`, `llm_api_errors_total` |
//! | business ([`BusinessMetrics`]) | `users_total`, `users_active`, `assessments_total`, `assessments_created_total`, `recommendations_generated_total`, `reports_generated_total` |
//! | AI agent ([`AgentMetrics`]) | `agent_executions_total`, `agent_execution_duration_seconds`, `agent_errors_total`, `agent_confidence_score` |
//! | the crate itself | `inframind_metrics_series_dropped_total{family}` |
//!
//! Every family has a hard series cap ([`MetricsBuilder::series_limit`],
//! [`MetricsBuilder::http_series_limit`]); label sets past it share one overflow series and
//! are counted in `inframind_metrics_series_dropped_total`. Buckets are configurable per
//! family ([`Buckets`]).
//!
//! # Features
//!
//! - `axum`: [`MetricsLayer::axum`] labels by axum's `MatchedPath`.
//! - `mongodb`: [`mongodb::DbEventHandler`] feeds the DB families from the driver's command,
//!   connection-pool and server-monitoring events, and counts operations that never reached a
//!   server ([`mongodb::DbEventHandler::track`]), so a database outage shows.
//! - `cache`, `loader`, `breaker`: scrape-time collectors over `inframind-cache`,
//!   `inframind-loader` and `inframind-breaker` statistics ([`integrations`]).

#![cfg_attr(docsrs, feature(doc_cfg))]

mod buckets;
mod builder;
mod capped;
mod families;
mod handler;
pub mod http;
pub mod integrations;
mod labels;
mod llm;
#[cfg(feature = "mongodb")]
#[cfg_attr(docsrs, doc(cfg(feature = "mongodb")))]
pub mod mongodb;
mod names;
mod registry;

pub use buckets::{Buckets, BucketsError, HistogramCtor};
pub use builder::MetricsBuilder;
pub use capped::CappedFamily;
pub use families::{
    AgentMetrics, BusinessMetrics, CacheMetrics, CounterFamily, DbMetrics, FloatCounterFamily,
    GaugeFamily, HistogramFamily, LlmMetrics,
};
pub use handler::{Format, MetricsHandler, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE};
pub use http::{
    ABANDONED_STATUS, DefaultEndpoint, EndpointFn, EndpointLabel, HttpLabelNames, MetricsLayer,
    MetricsService, OVERFLOW_ENDPOINT, TraceId, UNMATCHED_ENDPOINT,
};
pub use labels::{
    AgentErrorLabels, AgentExecutionLabels, AgentLabels, CacheLabels, CacheOperationLabels,
    DbErrorLabels, DbQueryLabels, FamilyLabels, LlmCallLabels, LlmErrorLabels, LlmModelLabels,
    LlmTokenLabels, OVERFLOW_LABEL, OverflowLabels, RecommendationLabels, ReportLabels,
    StatusLabels,
};
pub use llm::{LlmCall, ModelPrice, PriceTable};
pub use names::RegisterError;
pub use prometheus_client;
pub use registry::Metrics;
