//! The [`Metrics`] registry.

use crate::builder::MetricsBuilder;
use crate::families::{AgentMetrics, BusinessMetrics, CacheMetrics, DbMetrics, LlmMetrics};
use crate::handler::{Format, MetricsHandler};
use crate::http::HttpLabelNames;
use crate::http::table::HttpTable;
use crate::integrations::Observed;
use crate::labels::{FamilyLabels, LlmCallLabels, LlmErrorLabels, LlmModelLabels, LlmTokenLabels};
use crate::llm::{LlmCall, PriceTable};
use crate::names::{Names, RegisterError, Registrar};
use parking_lot::{Mutex, RwLock};
use prometheus_client::collector::Collector;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::{Metric, Registry, Unit};
use std::sync::Arc;

/// Every built-in metric family (the 30 listed in the [crate docs](crate), and the crate's own),
/// registered in a prometheus-client [`Registry`] that
/// applications can add their own metrics to. Cheap to clone (an `Arc`).
///
/// Every family is a prometheus-client metric or [`Collector`] in that registry, so
/// [`Metrics::encode`] is prometheus-client's encoder, and an application with its own
/// registry gets every family with one [`Metrics::register_into`]. Every family has its HELP
/// and TYPE lines from the start, and label-less series start at 0, so alerts need no
/// `absent()`.
///
/// ```
/// use inframind_metrics::{Format, Metrics, RegisterError};
/// use prometheus_client::metrics::counter::Counter;
///
/// let metrics = Metrics::new();
/// metrics.business().assessments_total.set(12);
/// let logins: Counter = Counter::default();
/// metrics.register("app_logins", "Successful logins", logins.clone())?;
/// logins.inc();
/// let text = metrics.encode(Format::OpenMetrics);
/// assert!(text.contains("assessments_total 12"));
/// assert!(text.contains("app_logins_total 1"));
/// assert!(text.ends_with("# EOF\n"));
///
/// // prometheus-client adds `_total` itself; a built-in name cannot be taken twice.
/// let signups: Counter = Counter::default();
/// assert!(matches!(
///     metrics.register("app_signups_total", "Sign-ups", signups.clone()),
///     Err(RegisterError::TotalSuffix { .. })
/// ));
/// assert!(matches!(
///     metrics.register("http_requests", "Requests", signups),
///     Err(RegisterError::NameTaken { .. })
/// ));
/// # Ok::<(), RegisterError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Metrics {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) registry: RwLock<Registry>,
    pub(crate) names: Mutex<Names>,
    pub(crate) families: Families,
    pub(crate) prices: PriceTable,
}

/// The built-in families; [`Families::register`] puts them in a registry.
#[derive(Debug)]
pub(crate) struct Families {
    pub(crate) dropped: Family<FamilyLabels, Counter>,
    pub(crate) http: Arc<HttpTable>,
    pub(crate) http_label_names: HttpLabelNames,
    pub(crate) db: DbMetrics,
    pub(crate) cache: CacheMetrics,
    pub(crate) llm: LlmMetrics,
    pub(crate) business: BusinessMetrics,
    pub(crate) agent: AgentMetrics,
    pub(crate) observed: Observed,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
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
        &self.inner.families.http
    }

    /// The database families.
    pub fn db(&self) -> &DbMetrics {
        &self.inner.families.db
    }

    /// The cache families.
    pub fn cache(&self) -> &CacheMetrics {
        &self.inner.families.cache
    }

    /// The LLM families.
    pub fn llm(&self) -> &LlmMetrics {
        &self.inner.families.llm
    }

    /// The business families.
    pub fn business(&self) -> &BusinessMetrics {
        &self.inner.families.business
    }

    /// The AI agent families.
    pub fn agent(&self) -> &AgentMetrics {
        &self.inner.families.agent
    }

    /// The HTTP series cap and how much of it is used.
    pub fn http_series(&self) -> (usize, usize) {
        (
            self.inner.families.http.used(),
            self.inner.families.http.limit(),
        )
    }

    /// Registers an application metric beside the built-in families.
    ///
    /// # Errors
    /// [`RegisterError`] when a counter's name ends with `_total` (prometheus-client adds it),
    /// when the name is not a valid metric name, or when it (or one of its sample names) is
    /// already used by a built-in family or an earlier registration.
    pub fn register(
        &self,
        name: impl Into<String>,
        help: impl Into<String>,
        metric: impl Metric,
    ) -> Result<(), RegisterError> {
        self.register_checked(name.into(), help.into(), None, metric)
    }

    /// Registers an application metric with a unit (exposed as `<name>_<unit>`).
    ///
    /// # Errors
    /// As [`Metrics::register`].
    pub fn register_with_unit(
        &self,
        name: impl Into<String>,
        help: impl Into<String>,
        unit: Unit,
        metric: impl Metric,
    ) -> Result<(), RegisterError> {
        self.register_checked(name.into(), help.into(), Some(unit), metric)
    }

    fn register_checked(
        &self,
        name: String,
        help: String,
        unit: Option<Unit>,
        metric: impl Metric,
    ) -> Result<(), RegisterError> {
        let mut registry = self.inner.registry.write();
        self.inner
            .names
            .lock()
            .claim(&name, unit.as_ref(), metric.metric_type())?;
        match unit {
            Some(unit) => registry.register_with_unit(name, help, unit, metric),
            None => registry.register(name, help, metric),
        }
        Ok(())
    }

    /// Registers a prometheus-client [`Collector`], encoded at every scrape. Its family names
    /// are not checked: they must not clash with the built-in ones.
    pub fn register_collector(&self, collector: Box<dyn Collector>) {
        self.inner.registry.write().register_collector(collector);
    }

    /// Gives mutable access to the underlying registry (sub-registries, prefixes, ...). Names
    /// registered here are not checked.
    pub fn with_registry<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        f(&mut self.inner.registry.write())
    }

    /// Registers every built-in family (HTTP, DB, cache, LLM, business, agent, the observed
    /// caches, loaders and breakers, and the dropped-series counter) into an application's own
    /// prometheus-client registry, so that encoding that registry exposes them; they keep
    /// recording through this `Metrics`. Metrics registered with [`Metrics::register`] stay in
    /// this registry only.
    ///
    /// ```
    /// use inframind_metrics::Metrics;
    /// use prometheus_client::registry::Registry;
    ///
    /// let metrics = Metrics::new();
    /// let mut registry = Registry::default();
    /// metrics.register_into(&mut registry);
    /// let mut text = String::new();
    /// prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    /// assert!(text.contains("# TYPE http_requests counter"));
    /// assert!(text.contains("# TYPE db_queries counter"));
    /// ```
    pub fn register_into(&self, registry: &mut Registry) {
        self.inner.families.register(&mut Registrar {
            registry,
            names: &mut Names::default(),
        });
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
        let registry = self.inner.registry.read();
        // Writing into a String cannot fail.
        let _ = match format {
            Format::OpenMetrics => prometheus_client::encoding::text::encode(out, &registry),
            Format::PrometheusText => {
                prometheus_client::encoding::prometheus_text::encode(out, &registry)
            }
        };
    }

    /// Exports the statistics of `handle` under `{cache="name"}` at every scrape:
    /// `cache_hits_total` (fresh and stale hits and coalesced waits, the requests answered
    /// without the handler), `cache_misses_total`, `cache_entries` (when the store can tell),
    /// and the cache-specific families listed in [`crate::integrations`]. Distinct handles
    /// observed under one name are summed; a handle observed twice under one name counts once.
    /// The values replace anything recorded by hand for that name.
    #[cfg(feature = "cache")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
    pub fn observe_cache(&self, name: impl Into<String>, handle: inframind_cache::CacheHandle) {
        self.inner.families.observed.caches.add(name.into(), handle);
    }

    /// Exports the batching statistics of every loader reporting into `stats` at every scrape
    /// (`loader_*` families, see [`crate::integrations`]). Loaders of one name in distinct
    /// registries are summed; a registry observed twice counts once.
    #[cfg(feature = "loader")]
    #[cfg_attr(docsrs, doc(cfg(feature = "loader")))]
    pub fn observe_loaders(&self, stats: inframind_loader::StatsRegistry) {
        self.inner.families.observed.loaders.add(stats);
    }

    /// Exports the state and call counts of every breaker in `breakers` at every scrape
    /// (`circuit_breaker_*` families, see [`crate::integrations`]). Breakers of one name in
    /// distinct registries are summed; a registry observed twice counts once.
    #[cfg(feature = "breaker")]
    #[cfg_attr(docsrs, doc(cfg(feature = "breaker")))]
    pub fn observe_breakers(&self, breakers: inframind_breaker::BreakerRegistry) {
        self.inner.families.observed.breakers.add(breakers);
    }

    /// The model prices used by [`Metrics::track_llm_call`].
    pub fn prices(&self) -> &PriceTable {
        &self.inner.prices
    }

    /// Records one LLM call: calls, duration, tokens, cost and errors. The cost is the call's
    /// own, else the price table's; the charged cost is returned (`None` for an unpriced
    /// model).
    pub fn track_llm_call(&self, call: LlmCall<'_>) -> Option<f64> {
        let llm = &self.inner.families.llm;
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
                    .get_or_create(&LlmTokenLabels::new(call.provider, call.model, kind))
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
                .get_or_create(&LlmErrorLabels::new(call.provider, call.model, e))
                .inc();
        }
        cost
    }
}
