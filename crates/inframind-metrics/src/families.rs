//! The non-HTTP families: DB, cache, LLM, business and AI agent.

use crate::buckets::HistogramCtor;
use crate::capped::CappedFamily;
use crate::labels::{
    AgentErrorLabels, AgentExecutionLabels, AgentLabels, CacheLabels, CacheOperationLabels,
    DbErrorLabels, DbQueryLabels, LlmCallLabels, LlmModelLabels, LlmTypedLabels,
    RecommendationLabels, ReportLabels, StatusLabels,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// A capped counter family.
pub type CounterFamily<S> = CappedFamily<S, Counter>;
/// A capped counter family with a floating-point value (for example US dollars).
pub type FloatCounterFamily<S> = CappedFamily<S, Counter<f64, AtomicU64>>;
/// A capped gauge family.
pub type GaugeFamily<S> = CappedFamily<S, Gauge>;
/// A capped histogram family.
pub type HistogramFamily<S> = CappedFamily<S, Histogram, HistogramCtor>;

/// Database families, fed by the MongoDB event handler (feature `mongodb`) or by hand.
#[derive(Debug, Clone)]
pub struct DbMetrics {
    /// `db_queries_total{collection, operation}`.
    pub queries: CounterFamily<DbQueryLabels>,
    /// `db_query_duration_seconds{collection, operation}`.
    pub query_duration: HistogramFamily<DbQueryLabels>,
    /// `db_connections_active`: connections checked out of the pool.
    pub connections_active: Gauge,
    /// `db_connections_idle`: open connections waiting in the pool.
    pub connections_idle: Gauge,
    /// `db_errors_total{collection, type}`.
    pub errors: CounterFamily<DbErrorLabels>,
}

impl DbMetrics {
    /// Records one query, and its error type when it failed.
    pub fn record_query(
        &self,
        collection: &str,
        operation: &str,
        duration: Duration,
        error: Option<&str>,
    ) {
        let labels = DbQueryLabels::new(collection, operation);
        self.queries.get_or_create(&labels).inc();
        self.query_duration
            .get_or_create(&labels)
            .observe(duration.as_secs_f64());
        if let Some(error) = error {
            self.errors
                .get_or_create(&DbErrorLabels::new(collection, error))
                .inc();
        }
    }
}

/// Cache families, fed by the cache collector (feature `cache`) or by hand.
#[derive(Debug, Clone)]
pub struct CacheMetrics {
    /// `cache_hits_total{cache}`.
    pub hits: CounterFamily<CacheLabels>,
    /// `cache_misses_total{cache}`.
    pub misses: CounterFamily<CacheLabels>,
    /// `cache_operation_duration_seconds{cache, operation}`.
    pub operation_duration: HistogramFamily<CacheOperationLabels>,
    /// `cache_entries{cache}`.
    pub entries: GaugeFamily<CacheLabels>,
    /// `cache_memory_bytes{cache}`.
    pub memory_bytes: GaugeFamily<CacheLabels>,
}

impl CacheMetrics {
    /// Records a lookup of `cache`: a hit or a miss, and how long it took.
    pub fn record_lookup(&self, cache: &str, hit: bool, duration: Duration) {
        let labels = CacheLabels::new(cache);
        if hit {
            self.hits.get_or_create(&labels).inc()
        } else {
            self.misses.get_or_create(&labels).inc()
        };
        self.operation_duration
            .get_or_create(&CacheOperationLabels::new(cache, "get"))
            .observe(duration.as_secs_f64());
    }
}

/// LLM families; see [`Metrics::track_llm_call`](crate::Metrics::track_llm_call).
#[derive(Debug, Clone)]
pub struct LlmMetrics {
    /// `llm_api_calls_total{provider, model, status}`.
    pub calls: CounterFamily<LlmCallLabels>,
    /// `llm_api_duration_seconds{provider, model}`.
    pub duration: HistogramFamily<LlmModelLabels>,
    /// `llm_tokens_used_total{provider, model, type}`, `type` is `prompt` or `completion`.
    pub tokens: CounterFamily<LlmTypedLabels>,
    /// `llm_api_cost_usd_total{provider, model}`.
    pub cost_usd: FloatCounterFamily<LlmModelLabels>,
    /// `llm_api_errors_total{provider, model, type}`.
    pub errors: CounterFamily<LlmTypedLabels>,
}

/// Business families.
#[derive(Debug, Clone)]
pub struct BusinessMetrics {
    /// `users_total`.
    pub users_total: Gauge,
    /// `users_active` (active in the last 7 days).
    pub users_active: Gauge,
    /// `assessments_total`.
    pub assessments_total: Gauge,
    /// `assessments_created_total{status}`.
    pub assessments_created: CounterFamily<StatusLabels>,
    /// `recommendations_generated_total{category, priority}`.
    pub recommendations_generated: CounterFamily<RecommendationLabels>,
    /// `reports_generated_total{type, format}`.
    pub reports_generated: CounterFamily<ReportLabels>,
}

/// AI agent families.
#[derive(Debug, Clone)]
pub struct AgentMetrics {
    /// `agent_executions_total{name, status}`.
    pub executions: CounterFamily<AgentExecutionLabels>,
    /// `agent_execution_duration_seconds{name}`.
    pub duration: HistogramFamily<AgentLabels>,
    /// `agent_errors_total{name, type}`.
    pub errors: CounterFamily<AgentErrorLabels>,
    /// `agent_confidence_score{name}` (histogram of scores in `[0, 1]`).
    pub confidence: HistogramFamily<AgentLabels>,
}

impl AgentMetrics {
    /// Records one agent run: its status, duration, confidence (if any) and error type (if any).
    pub fn record_execution(
        &self,
        name: &str,
        status: &str,
        duration: Duration,
        confidence: Option<f64>,
        error: Option<&str>,
    ) {
        self.executions
            .get_or_create(&AgentExecutionLabels::new(name, status))
            .inc();
        let labels = AgentLabels::new(name);
        self.duration
            .get_or_create(&labels)
            .observe(duration.as_secs_f64());
        if let Some(c) = confidence.filter(|c| c.is_finite()) {
            self.confidence.get_or_create(&labels).observe(c);
        }
        if let Some(error) = error {
            self.errors
                .get_or_create(&AgentErrorLabels::new(name, error))
                .inc();
        }
    }
}
