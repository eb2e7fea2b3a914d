//! The [`Metrics`] registry and its builder.

use crate::buckets::{Buckets, HistogramCtor};
use crate::capped::CappedFamily;
use crate::families::{
    AgentMetrics, BusinessMetrics, CacheMetrics, DbMetrics, HistogramFamily, LlmMetrics,
};
use crate::handler::{Format, MetricsHandler};
use crate::http::table::HttpTable;
use crate::labels::{FamilyLabels, LlmCallLabels, LlmModelLabels, LlmTypedLabels, OverflowLabels};
use crate::llm::{LlmCall, PriceTable};
use parking_lot::{Mutex, RwLock};
use prometheus_client::collector::Collector;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::{Metric, Registry, Unit};
use std::sync::Arc;

/// A hook run at the start of every scrape, to copy another component's statistics into
/// metrics (nothing is added to that component's hot path).
pub trait ScrapeSource: Send + Sync + std::fmt::Debug + 'static {
    /// Updates the metrics this source feeds.
    fn refresh(&self, metrics: &Metrics);
}

/// Every Phase 2 metric family, registered in a prometheus-client [`Registry`] that
/// applications can add their own metrics to. Cheap to clone (an `Arc`).
///
/// ```
/// use inframind_metrics::{Format, Metrics};
/// use prometheus_client::metrics::counter::Counter;
///
/// let metrics = Metrics::new();
/// metrics.business().assessments_total.set(12);
/// let logins: Counter = Counter::default();
/// metrics.register("app_logins", "Successful logins", logins.clone());
/// logins.inc();
/// let text = metrics.encode(Format::OpenMetrics);
/// assert!(text.contains("assessments_total 12"));
/// assert!(text.contains("app_logins_total 1"));
/// assert!(text.ends_with("# EOF\n"));
/// ```
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: RwLock<Registry>,
    http: Arc<HttpTable>,
    db: DbMetrics,
    cache: CacheMetrics,
    llm: LlmMetrics,
    business: BusinessMetrics,
    agent: AgentMetrics,
    prices: PriceTable,
    sources: Mutex<Vec<Box<dyn ScrapeSource>>>,
    #[cfg(feature = "cache")]
    caches: Arc<crate::integrations::cache::CacheSources>,
    #[cfg(feature = "loader")]
    loaders: Arc<Mutex<Vec<inframind_loader::StatsRegistry>>>,
    #[cfg(feature = "breaker")]
    breakers: Arc<Mutex<Vec<inframind_breaker::BreakerRegistry>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Configures a [`Metrics`] registry: bucket layouts, series caps, prices.
#[derive(Debug, Clone)]
pub struct MetricsBuilder {
    http_duration: Buckets,
    size: Buckets,
    db_duration: Buckets,
    cache_duration: Buckets,
    llm_duration: Buckets,
    agent_duration: Buckets,
    confidence: Buckets,
    http_series_limit: usize,
    series_limit: usize,
    prices: PriceTable,
}

impl Default for MetricsBuilder {
    fn default() -> Self {
        Self {
            http_duration: Buckets::http_duration(),
            size: Buckets::size_bytes(),
            db_duration: Buckets::db_duration(),
            cache_duration: Buckets::cache_duration(),
            llm_duration: Buckets::llm_duration(),
            agent_duration: Buckets::agent_duration(),
            confidence: Buckets::confidence(),
            http_series_limit: 10_000,
            series_limit: 2_000,
            prices: PriceTable::defaults(),
        }
    }
}

macro_rules! bucket_setter {
    ($($(#[$m:meta])* $name:ident),+) => {$(
        $(#[$m])*
        #[must_use]
        pub fn $name(mut self, buckets: Buckets) -> Self {
            self.$name = buckets;
            self
        }
    )+};
}

impl MetricsBuilder {
    bucket_setter!(
        /// Buckets of `http_request_duration_seconds` (default 5 ms to 10 s).
        http_duration,
        /// Buckets of `http_request_size_bytes` and `http_response_size_bytes` (64 B to 16 MiB).
        size,
        /// Buckets of `db_query_duration_seconds` (0.5 ms to 2.5 s).
        db_duration,
        /// Buckets of `cache_operation_duration_seconds` (50 µs to 100 ms).
        cache_duration,
        /// Buckets of `llm_api_duration_seconds` (100 ms to 120 s).
        llm_duration,
        /// Buckets of `agent_execution_duration_seconds` (50 ms to 300 s).
        agent_duration,
        /// Buckets of `agent_confidence_score` (0.1 to 1.0).
        confidence
    );

    /// The cap on HTTP label sets (default 10,000); see [`crate::http`].
    #[must_use]
    pub fn http_series_limit(mut self, limit: usize) -> Self {
        self.http_series_limit = limit;
        self
    }

    /// The cap on series per non-HTTP family (default 2,000).
    #[must_use]
    pub fn series_limit(mut self, limit: usize) -> Self {
        self.series_limit = limit;
        self
    }

    /// The model prices used when a call's cost is not given (default
    /// [`PriceTable::defaults`]).
    #[must_use]
    pub fn prices(mut self, prices: PriceTable) -> Self {
        self.prices = prices;
        self
    }

    /// Builds the registry.
    pub fn build(self) -> Metrics {
        let mut registry = Registry::default();
        let dropped: Family<FamilyLabels, Counter> = Family::default();
        registry.register(
            "inframind_metrics_series_dropped",
            "Observations sent to a family's overflow series because its series cap was reached",
            dropped.clone(),
        );
        let limit = self.series_limit;
        let counter = |name: &str| dropped.get_or_create_owned(&FamilyLabels::new(name));
        fn capped<S: OverflowLabels, M: Default>(
            limit: usize,
            dropped: Counter,
        ) -> CappedFamily<S, M> {
            CappedFamily::new(limit, dropped)
        }
        fn hist<S: OverflowLabels>(
            limit: usize,
            b: &Buckets,
            dropped: Counter,
        ) -> HistogramFamily<S> {
            CappedFamily::with_constructor(limit, dropped, HistogramCtor(b.clone()))
        }

        let http = Arc::new(HttpTable::new(
            &self.http_duration,
            &self.size,
            self.http_series_limit,
            counter("http_requests"),
        ));

        let db = DbMetrics {
            queries: capped(limit, counter("db_queries")),
            query_duration: hist(
                limit,
                &self.db_duration,
                counter("db_query_duration_seconds"),
            ),
            connections_active: Default::default(),
            connections_idle: Default::default(),
            errors: capped(limit, counter("db_errors")),
        };
        registry.register(
            "db_queries",
            "Database queries by collection and operation",
            db.queries.clone(),
        );
        registry.register_with_unit(
            "db_query_duration",
            "Database query latency by collection and operation",
            Unit::Seconds,
            db.query_duration.clone(),
        );
        registry.register(
            "db_connections_active",
            "Database connections checked out of the pool",
            db.connections_active.clone(),
        );
        registry.register(
            "db_connections_idle",
            "Open database connections idle in the pool",
            db.connections_idle.clone(),
        );
        registry.register(
            "db_errors",
            "Database errors by collection and error type",
            db.errors.clone(),
        );

        let cache = CacheMetrics {
            hits: capped(limit, counter("cache_hits")),
            misses: capped(limit, counter("cache_misses")),
            operation_duration: hist(
                limit,
                &self.cache_duration,
                counter("cache_operation_duration_seconds"),
            ),
            entries: capped(limit, counter("cache_entries")),
            memory_bytes: capped(limit, counter("cache_memory_bytes")),
        };
        registry.register("cache_hits", "Cache hits by cache", cache.hits.clone());
        registry.register(
            "cache_misses",
            "Cache misses by cache",
            cache.misses.clone(),
        );
        registry.register_with_unit(
            "cache_operation_duration",
            "Cache operation latency by cache and operation",
            Unit::Seconds,
            cache.operation_duration.clone(),
        );
        registry.register(
            "cache_entries",
            "Entries held by the cache",
            cache.entries.clone(),
        );
        registry.register_with_unit(
            "cache_memory",
            "Bytes held by the cache",
            Unit::Bytes,
            cache.memory_bytes.clone(),
        );

        let llm = LlmMetrics {
            calls: capped(limit, counter("llm_api_calls")),
            duration: hist(
                limit,
                &self.llm_duration,
                counter("llm_api_duration_seconds"),
            ),
            tokens: capped(limit, counter("llm_tokens_used")),
            cost_usd: capped(limit, counter("llm_api_cost_usd")),
            errors: capped(limit, counter("llm_api_errors")),
        };
        registry.register(
            "llm_api_calls",
            "LLM API calls by provider, model and status",
            llm.calls.clone(),
        );
        registry.register_with_unit(
            "llm_api_duration",
            "LLM API call latency by provider and model",
            Unit::Seconds,
            llm.duration.clone(),
        );
        registry.register(
            "llm_tokens_used",
            "LLM tokens by provider, model and type (prompt or completion)",
            llm.tokens.clone(),
        );
        registry.register_with_unit(
            "llm_api_cost",
            "Cumulative LLM API cost in US dollars by provider and model",
            Unit::Other("usd".into()),
            llm.cost_usd.clone(),
        );
        registry.register(
            "llm_api_errors",
            "LLM API errors by provider, model and error type",
            llm.errors.clone(),
        );

        let business = BusinessMetrics {
            users_total: Default::default(),
            users_active: Default::default(),
            assessments_total: Default::default(),
            assessments_created: capped(limit, counter("assessments_created")),
            recommendations_generated: capped(limit, counter("recommendations_generated")),
            reports_generated: capped(limit, counter("reports_generated")),
        };
        registry.register(
            "users_total",
            "Registered users",
            business.users_total.clone(),
        );
        registry.register(
            "users_active",
            "Users active in the last 7 days",
            business.users_active.clone(),
        );
        registry.register(
            "assessments_total",
            "Assessments stored",
            business.assessments_total.clone(),
        );
        registry.register(
            "assessments_created",
            "Assessments created, by status",
            business.assessments_created.clone(),
        );
        registry.register(
            "recommendations_generated",
            "Recommendations generated, by category and priority",
            business.recommendations_generated.clone(),
        );
        registry.register(
            "reports_generated",
            "Reports generated, by type and format",
            business.reports_generated.clone(),
        );

        let agent = AgentMetrics {
            executions: capped(limit, counter("agent_executions")),
            duration: hist(
                limit,
                &self.agent_duration,
                counter("agent_execution_duration_seconds"),
            ),
            errors: capped(limit, counter("agent_errors")),
            confidence: hist(limit, &self.confidence, counter("agent_confidence_score")),
        };
        registry.register(
            "agent_executions",
            "AI agent runs by name and status",
            agent.executions.clone(),
        );
        registry.register_with_unit(
            "agent_execution_duration",
            "AI agent run latency by name",
            Unit::Seconds,
            agent.duration.clone(),
        );
        registry.register(
            "agent_errors",
            "AI agent errors by name and error type",
            agent.errors.clone(),
        );
        registry.register(
            "agent_confidence_score",
            "Confidence scores of AI agent results, by name",
            agent.confidence.clone(),
        );

        #[cfg(feature = "cache")]
        let caches = {
            let caches = Arc::new(crate::integrations::cache::CacheSources::default());
            registry.register_collector(Box::new(crate::integrations::cache::CacheCollector(
                Arc::clone(&caches),
            )));
            caches
        };
        #[cfg(feature = "loader")]
        let loaders = {
            let collector = crate::integrations::loader::LoaderCollector::default();
            let loaders = Arc::clone(&collector.registries);
            registry.register_collector(Box::new(collector));
            loaders
        };
        #[cfg(feature = "breaker")]
        let breakers = {
            let collector = crate::integrations::breaker::BreakerCollector::default();
            let breakers = Arc::clone(&collector.registries);
            registry.register_collector(Box::new(collector));
            breakers
        };

        Metrics {
            inner: Arc::new(Inner {
                registry: RwLock::new(registry),
                http,
                db,
                cache,
                llm,
                business,
                agent,
                prices: self.prices,
                sources: Mutex::new(Vec::new()),
                #[cfg(feature = "cache")]
                caches,
                #[cfg(feature = "loader")]
                loaders,
                #[cfg(feature = "breaker")]
                breakers,
            }),
        }
    }
}

impl Metrics {
    /// A registry with the default buckets, caps and prices.
    pub fn new() -> Self {
        MetricsBuilder::default().build()
    }

    /// A builder to configure buckets, series caps and prices.
    pub fn builder() -> MetricsBuilder {
        MetricsBuilder::default()
    }

    pub(crate) fn http_table(&self) -> &Arc<HttpTable> {
        &self.inner.http
    }

    /// The database families.
    pub fn db(&self) -> &DbMetrics {
        &self.inner.db
    }

    /// The cache families.
    pub fn cache(&self) -> &CacheMetrics {
        &self.inner.cache
    }

    /// The LLM families.
    pub fn llm(&self) -> &LlmMetrics {
        &self.inner.llm
    }

    /// The business families.
    pub fn business(&self) -> &BusinessMetrics {
        &self.inner.business
    }

    /// The AI agent families.
    pub fn agent(&self) -> &AgentMetrics {
        &self.inner.agent
    }

    /// The HTTP series cap and how much of it is used.
    pub fn http_series(&self) -> (usize, usize) {
        (self.inner.http.used(), self.inner.http.limit())
    }

    /// Registers an application metric beside the built-in families.
    pub fn register(&self, name: impl Into<String>, help: impl Into<String>, metric: impl Metric) {
        self.inner.registry.write().register(name, help, metric);
    }

    /// Registers an application metric with a unit.
    pub fn register_with_unit(
        &self,
        name: impl Into<String>,
        help: impl Into<String>,
        unit: Unit,
        metric: impl Metric,
    ) {
        self.inner
            .registry
            .write()
            .register_with_unit(name, help, unit, metric);
    }

    /// Registers a prometheus-client [`Collector`], encoded at every scrape.
    pub fn register_collector(&self, collector: Box<dyn Collector>) {
        self.inner.registry.write().register_collector(collector);
    }

    /// Gives mutable access to the underlying registry (sub-registries, prefixes, ...).
    pub fn with_registry<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        f(&mut self.inner.registry.write())
    }

    /// Adds a hook run at the start of every scrape.
    pub fn add_source(&self, source: impl ScrapeSource) {
        self.inner.sources.lock().push(Box::new(source));
    }

    /// The `/metrics` service (axum: `.route_service("/metrics", metrics.handler())`).
    pub fn handler(&self) -> MetricsHandler {
        MetricsHandler {
            metrics: self.clone(),
        }
    }

    /// Encodes every family in `format`.
    pub fn encode(&self, format: Format) -> String {
        let mut out = String::new();
        self.encode_into(&mut out, format);
        out
    }

    /// Appends the exposition of every family in `format` to `out`.
    pub fn encode_into(&self, out: &mut String, format: Format) {
        {
            let sources = self.inner.sources.lock();
            for s in sources.iter() {
                s.refresh(self);
            }
        }
        #[cfg(feature = "cache")]
        self.inner.caches.refresh(self);
        let open_metrics = format == Format::OpenMetrics;
        self.inner.http.encode(out, open_metrics);
        let registry = self.inner.registry.read();
        // Writing into a String cannot fail.
        let _ = if open_metrics {
            prometheus_client::encoding::text::encode(out, &registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(out, &registry)
        };
    }

    /// Exports the statistics of `handle` under `{cache="name"}` at every scrape:
    /// `cache_hits_total` (fresh and stale hits and coalesced waits, the requests answered
    /// without the handler), `cache_misses_total`, `cache_entries` (when the store can tell),
    /// and the cache-specific families listed in [`crate::integrations`]. Handles observed
    /// under one name are summed. The values replace anything recorded by hand for that name.
    #[cfg(feature = "cache")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
    pub fn observe_cache(&self, name: impl Into<String>, handle: inframind_cache::CacheHandle) {
        self.inner.caches.handles.lock().push((name.into(), handle));
    }

    /// Exports the batching statistics of every loader reporting into `stats` at every scrape
    /// (`loader_*` families, see [`crate::integrations`]).
    #[cfg(feature = "loader")]
    #[cfg_attr(docsrs, doc(cfg(feature = "loader")))]
    pub fn observe_loaders(&self, stats: inframind_loader::StatsRegistry) {
        self.inner.loaders.lock().push(stats);
    }

    /// Exports the state and call counts of every breaker in `breakers` at every scrape
    /// (`circuit_breaker_*` families, see [`crate::integrations`]).
    #[cfg(feature = "breaker")]
    #[cfg_attr(docsrs, doc(cfg(feature = "breaker")))]
    pub fn observe_breakers(&self, breakers: inframind_breaker::BreakerRegistry) {
        self.inner.breakers.lock().push(breakers);
    }

    /// The model prices used by [`Metrics::track_llm_call`].
    pub fn prices(&self) -> &PriceTable {
        &self.inner.prices
    }

    /// Records one LLM call: calls, duration, tokens, cost and errors. The cost is the call's
    /// own, else the price table's; the charged cost is returned (`None` for an unpriced
    /// model).
    pub fn track_llm_call(&self, call: LlmCall<'_>) -> Option<f64> {
        let llm = &self.inner.llm;
        llm.calls
            .get_or_create(&LlmCallLabels::new(call.provider, call.model, call.status))
            .inc();
        let model = LlmModelLabels::new(call.provider, call.model);
        if let Some(d) = call.duration {
            llm.duration.get_or_create(&model).observe(d.as_secs_f64());
        }
        for (kind, n) in [
            ("prompt", call.prompt_tokens),
            ("completion", call.completion_tokens),
        ] {
            if n > 0 {
                llm.tokens
                    .get_or_create(&LlmTypedLabels::new(call.provider, call.model, kind))
                    .inc_by(n);
            }
        }
        let cost = call
            .cost
            .filter(|c| c.is_finite() && *c >= 0.0)
            .or_else(|| {
                self.inner
                    .prices
                    .cost(call.model, call.prompt_tokens, call.completion_tokens)
            });
        if let Some(c) = cost.filter(|c| *c > 0.0) {
            llm.cost_usd.get_or_create(&model).inc_by(c);
        }
        if let Some(e) = call.error {
            llm.errors
                .get_or_create(&LlmTypedLabels::new(call.provider, call.model, e))
                .inc();
        }
        cost
    }
}
