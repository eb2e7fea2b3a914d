//! The non-HTTP families: DB, cache, LLM, business and AI agent. Each group builds its families
//! ([`Ctx`]) and registers them itself.

use crate::buckets::{Buckets, HistogramCtor};
use crate::capped::CappedFamily;
use crate::labels::{
    AgentErrorLabels, AgentExecutionLabels, AgentLabels, CacheLabels, CacheOperationLabels,
    DbErrorLabels, DbQueryLabels, FamilyLabels, LlmCallLabels, LlmErrorLabels, LlmModelLabels,
    LlmTokenLabels, OverflowLabels, RecommendationLabels, ReportLabels, StatusLabels,
};
use crate::names::Registrar;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Unit;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// What a family group needs to build its families: the series cap and the dropped-series
/// counter family.
pub(crate) struct Ctx<'a> {
    pub(crate) limit: usize,
    pub(crate) dropped: &'a Family<FamilyLabels, Counter>,
}

impl Ctx<'_> {
    fn dropped(&self, family: &str) -> Counter {
        self.dropped.get_or_create_owned(&FamilyLabels::new(family))
    }

    fn capped<S: OverflowLabels, M: Default>(&self, family: &str) -> CappedFamily<S, M> {
        CappedFamily::new(self.limit, self.dropped(family))
    }

    fn histogram<S: OverflowLabels>(&self, family: &str, buckets: &Buckets) -> HistogramFamily<S> {
        CappedFamily::with_constructor(
            self.limit,
            self.dropped(family),
            HistogramCtor(buckets.clone()),
        )
    }
}

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
    /// `db_errors_total{collection, error_type}`.
    pub errors: CounterFamily<DbErrorLabels>,
}

impl DbMetrics {
    pub(crate) fn new(ctx: &Ctx<'_>, duration: &Buckets) -> Self {
        Self {
            queries: ctx.capped("db_queries"),
            query_duration: ctx.histogram("db_query_duration_seconds", duration),
            connections_active: Gauge::default(),
            connections_idle: Gauge::default(),
            errors: ctx.capped("db_errors"),
        }
    }

    pub(crate) fn register(&self, r: &mut Registrar<'_>) {
        r.metric(
            "db_queries",
            "Database queries by collection and operation (operations that never reached a server included)",
            None,
            self.queries.clone(),
        );
        r.metric(
            "db_query_duration",
            "Database query latency by collection and operation",
            Some(Unit::Seconds),
            self.query_duration.clone(),
        );
        r.metric(
            "db_connections_active",
            "Database connections checked out of the pool",
            None,
            self.connections_active.clone(),
        );
        r.metric(
            "db_connections_idle",
            "Open database connections idle in the pool",
            None,
            self.connections_idle.clone(),
        );
        r.metric(
            "db_errors",
            "Database errors by collection and error type",
            None,
            self.errors.clone(),
        );
    }

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
    /// `cache_operation_duration_seconds{cache, operation}`, in the cache's own buckets
    /// ([`Buckets::cache_duration`]). For a cache name observed with
    /// [`Metrics::observe_cache`](crate::Metrics::observe_cache) the series are its handles'
    /// latency histograms, written at each scrape in place of any recorded by hand under that
    /// name.
    pub operation_duration: HistogramFamily<CacheOperationLabels>,
    /// `cache_entries{cache}`.
    pub entries: GaugeFamily<CacheLabels>,
    /// `cache_memory_bytes{cache}`.
    pub memory_bytes: GaugeFamily<CacheLabels>,
}

/// Figures copied into the cache families at every scrape, and more families written after
/// them (the `cache` feature's observed handles).
pub(crate) trait CacheFeed: Send + Sync + std::fmt::Debug + 'static {
    /// Copies the observed figures into the built-in counter and gauge cache families.
    fn refresh(&self, cache: &CacheMetrics);
    /// Writes `cache_operation_duration_seconds` (the observed caches' latency histograms and
    /// the series recorded by hand in `operation_duration`), then the cache families beyond
    /// the five built-in ones.
    fn encode_more(
        &self,
        encoder: &mut DescriptorEncoder<'_>,
        operation_duration: &HistogramFamily<CacheOperationLabels>,
    ) -> std::fmt::Result;
    /// The names [`encode_more`](Self::encode_more) writes.
    fn families(&self) -> &'static [(&'static str, MetricType)];
}

/// The cache families as one collector, so observed handles are copied in before the families
/// are written, in whichever registry the collector sits.
#[derive(Debug)]
struct CacheCollector {
    families: CacheMetrics,
    feed: Option<Arc<dyn CacheFeed>>,
}

/// The name (without the unit) and HELP of `cache_operation_duration_seconds`.
pub(crate) const CACHE_OPERATION_DURATION: (&str, &str) = (
    "cache_operation_duration",
    "Cache store operation latency by cache and operation (get, put, invalidate)",
);

fn encode_family(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    metric: &impl EncodeMetric,
) -> std::fmt::Result {
    metric.encode(encoder.encode_descriptor(name, help, unit, metric.metric_type())?)
}

impl Collector for CacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        if let Some(feed) = &self.feed {
            feed.refresh(&self.families);
        }
        let f = &self.families;
        let e = &mut encoder;
        encode_family(e, "cache_hits", "Cache hits by cache", None, &f.hits)?;
        encode_family(e, "cache_misses", "Cache misses by cache", None, &f.misses)?;
        encode_family(
            e,
            "cache_entries",
            "Entries held by the cache",
            None,
            &f.entries,
        )?;
        encode_family(
            e,
            "cache_memory",
            "Bytes held by the cache",
            Some(&Unit::Bytes),
            &f.memory_bytes,
        )?;
        match &self.feed {
            Some(feed) => feed.encode_more(e, &f.operation_duration),
            None => encode_family(
                e,
                CACHE_OPERATION_DURATION.0,
                CACHE_OPERATION_DURATION.1,
                Some(&Unit::Seconds),
                &f.operation_duration,
            ),
        }
    }
}

impl CacheMetrics {
    pub(crate) fn new(ctx: &Ctx<'_>) -> Self {
        Self {
            hits: ctx.capped("cache_hits"),
            misses: ctx.capped("cache_misses"),
            operation_duration: ctx.histogram(
                "cache_operation_duration_seconds",
                &Buckets::cache_duration(),
            ),
            entries: ctx.capped("cache_entries"),
            memory_bytes: ctx.capped("cache_memory_bytes"),
        }
    }

    pub(crate) fn register(&self, r: &mut Registrar<'_>, feed: Option<Arc<dyn CacheFeed>>) {
        let mut families = vec![
            ("cache_hits", MetricType::Counter),
            ("cache_misses", MetricType::Counter),
            ("cache_operation_duration_seconds", MetricType::Histogram),
            ("cache_entries", MetricType::Gauge),
            ("cache_memory_bytes", MetricType::Gauge),
        ];
        if let Some(feed) = &feed {
            families.extend_from_slice(feed.families());
        }
        r.collector(
            &families,
            Box::new(CacheCollector {
                families: self.clone(),
                feed,
            }),
        );
    }

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
    /// `llm_tokens_used_total{provider, model, token_type}`, `token_type` is `prompt` or
    /// `completion`.
    pub tokens: CounterFamily<LlmTokenLabels>,
    /// `llm_api_cost_usd_total{provider, model}`.
    pub cost_usd: FloatCounterFamily<LlmModelLabels>,
    /// `llm_api_errors_total{provider, model, error_type}`.
    pub errors: CounterFamily<LlmErrorLabels>,
}

impl LlmMetrics {
    pub(crate) fn new(ctx: &Ctx<'_>, duration: &Buckets) -> Self {
        Self {
            calls: ctx.capped("llm_api_calls"),
            duration: ctx.histogram("llm_api_duration_seconds", duration),
            tokens: ctx.capped("llm_tokens_used"),
            cost_usd: ctx.capped("llm_api_cost_usd"),
            errors: ctx.capped("llm_api_errors"),
        }
    }

    pub(crate) fn register(&self, r: &mut Registrar<'_>) {
        r.metric(
            "llm_api_calls",
            "LLM API calls by provider, model and status",
            None,
            self.calls.clone(),
        );
        r.metric(
            "llm_api_duration",
            "LLM API call latency by provider and model",
            Some(Unit::Seconds),
            self.duration.clone(),
        );
        r.metric(
            "llm_tokens_used",
            "LLM tokens by provider, model and token type (prompt or completion)",
            None,
            self.tokens.clone(),
        );
        r.metric(
            "llm_api_cost",
            "Cumulative LLM API cost in US dollars by provider and model",
            Some(Unit::Other("usd".into())),
            self.cost_usd.clone(),
        );
        r.metric(
            "llm_api_errors",
            "LLM API errors by provider, model and error type",
            None,
            self.errors.clone(),
        );
    }
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

impl BusinessMetrics {
    pub(crate) fn new(ctx: &Ctx<'_>) -> Self {
        Self {
            users_total: Gauge::default(),
            users_active: Gauge::default(),
            assessments_total: Gauge::default(),
            assessments_created: ctx.capped("assessments_created"),
            recommendations_generated: ctx.capped("recommendations_generated"),
            reports_generated: ctx.capped("reports_generated"),
        }
    }

    pub(crate) fn register(&self, r: &mut Registrar<'_>) {
        r.metric(
            "users_total",
            "Registered users",
            None,
            self.users_total.clone(),
        );
        r.metric(
            "users_active",
            "Users active in the last 7 days",
            None,
            self.users_active.clone(),
        );
        r.metric(
            "assessments_total",
            "Assessments stored",
            None,
            self.assessments_total.clone(),
        );
        r.metric(
            "assessments_created",
            "Assessments created, by status",
            None,
            self.assessments_created.clone(),
        );
        r.metric(
            "recommendations_generated",
            "Recommendations generated, by category and priority",
            None,
            self.recommendations_generated.clone(),
        );
        r.metric(
            "reports_generated",
            "Reports generated, by type and format",
            None,
            self.reports_generated.clone(),
        );
    }
}

/// AI agent families.
#[derive(Debug, Clone)]
pub struct AgentMetrics {
    /// `agent_executions_total{name, status}`.
    pub executions: CounterFamily<AgentExecutionLabels>,
    /// `agent_execution_duration_seconds{name}`.
    pub duration: HistogramFamily<AgentLabels>,
    /// `agent_errors_total{name, error_type}`.
    pub errors: CounterFamily<AgentErrorLabels>,
    /// `agent_confidence_score{name}` (histogram of scores in `[0, 1]`).
    pub confidence: HistogramFamily<AgentLabels>,
}

impl AgentMetrics {
    pub(crate) fn new(ctx: &Ctx<'_>, duration: &Buckets, confidence: &Buckets) -> Self {
        Self {
            executions: ctx.capped("agent_executions"),
            duration: ctx.histogram("agent_execution_duration_seconds", duration),
            errors: ctx.capped("agent_errors"),
            confidence: ctx.histogram("agent_confidence_score", confidence),
        }
    }

    pub(crate) fn register(&self, r: &mut Registrar<'_>) {
        r.metric(
            "agent_executions",
            "AI agent runs by name and status",
            None,
            self.executions.clone(),
        );
        r.metric(
            "agent_execution_duration",
            "AI agent run latency by name",
            Some(Unit::Seconds),
            self.duration.clone(),
        );
        r.metric(
            "agent_errors",
            "AI agent errors by name and error type",
            None,
            self.errors.clone(),
        );
        r.metric(
            "agent_confidence_score",
            "Confidence scores of AI agent results, by name",
            None,
            self.confidence.clone(),
        );
    }

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
