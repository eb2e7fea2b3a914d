//! [`MetricsBuilder`]: bucket layouts, series caps, label names and prices.

use crate::buckets::Buckets;
use crate::families::{AgentMetrics, BusinessMetrics, CacheMetrics, Ctx, DbMetrics, LlmMetrics};
use crate::http::HttpLabelNames;
use crate::http::collector::{HTTP_FAMILIES, HttpCollector};
use crate::http::table::HttpTable;
use crate::integrations::Observed;
use crate::labels::FamilyLabels;
use crate::llm::PriceTable;
use crate::names::{Names, Registrar};
use crate::registry::{Families, Inner, Metrics};
use parking_lot::{Mutex, RwLock};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// Configures a [`Metrics`] registry: bucket layouts, series caps, label names, prices.
///
/// `cache_operation_duration_seconds` has no bucket option: it always uses the cache's own
/// layout, [`Buckets::cache_duration`], so observed caches and hand-recorded series agree.
#[derive(Debug, Clone)]
pub struct MetricsBuilder {
    http_duration: Buckets,
    route_durations: Vec<(String, Buckets)>,
    size: Buckets,
    db_duration: Buckets,
    llm_duration: Buckets,
    agent_duration: Buckets,
    confidence: Buckets,
    http_series_limit: usize,
    series_limit: usize,
    http_label_names: HttpLabelNames,
    prices: PriceTable,
}

impl Default for MetricsBuilder {
    fn default() -> Self {
        Self {
            http_duration: Buckets::http_duration(),
            route_durations: Vec::new(),
            size: Buckets::size_bytes(),
            db_duration: Buckets::db_duration(),
            llm_duration: Buckets::llm_duration(),
            agent_duration: Buckets::agent_duration(),
            confidence: Buckets::confidence(),
            http_series_limit: 10_000,
            series_limit: 2_000,
            http_label_names: HttpLabelNames::default(),
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
        /// Buckets of `http_request_duration_seconds` (default 5 ms to 10 s); see
        /// [`http_route_duration`](Self::http_route_duration) for slower routes.
        http_duration,
        /// Buckets of `http_request_size_bytes` and `http_response_size_bytes` (64 B to 16 MiB).
        size,
        /// Buckets of `db_query_duration_seconds` (0.5 ms to 2.5 s).
        db_duration,
        /// Buckets of `llm_api_duration_seconds` (100 ms to 120 s).
        llm_duration,
        /// Buckets of `agent_execution_duration_seconds` (50 ms to 300 s).
        agent_duration,
        /// Buckets of `agent_confidence_score` (0.1 to 1.0).
        confidence
    );

    /// Buckets of `http_request_duration_seconds` for one route template, for routes whose
    /// requests take longer than the default layout's 10 s (an LLM-backed endpoint:
    /// `.http_route_duration("/api/recommendations", Buckets::llm_duration())`).
    ///
    /// ```
    /// use inframind_metrics::{Buckets, Metrics};
    /// let metrics = Metrics::builder()
    ///     .http_route_duration("/api/recommendations", Buckets::llm_duration())
    ///     .build();
    /// # let _ = metrics;
    /// ```
    #[must_use]
    pub fn http_route_duration(mut self, route: impl Into<String>, buckets: Buckets) -> Self {
        let route = route.into();
        self.route_durations.retain(|(r, _)| *r != route);
        self.route_durations.push((route, buckets));
        self
    }

    /// The cap on HTTP label sets (default 10,000); see [`crate::http`].
    #[must_use]
    pub fn http_series_limit(mut self, limit: usize) -> Self {
        self.http_series_limit = limit;
        self
    }

    /// The label names of the HTTP families (default [`HttpLabelNames::Prometheus`]).
    #[must_use]
    pub fn http_label_names(mut self, names: HttpLabelNames) -> Self {
        self.http_label_names = names;
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
        let dropped: Family<FamilyLabels, Counter> = Family::default();
        let ctx = Ctx {
            limit: self.series_limit,
            dropped: &dropped,
        };
        let http_dropped = dropped.get_or_create_owned(&FamilyLabels::new("http_requests"));
        let families = Families {
            dropped: dropped.clone(),
            http: Arc::new(HttpTable::new(
                &self.http_duration,
                &self.route_durations,
                &self.size,
                self.http_series_limit,
                http_dropped,
            )),
            http_label_names: self.http_label_names,
            db: DbMetrics::new(&ctx, &self.db_duration),
            cache: CacheMetrics::new(&ctx),
            llm: LlmMetrics::new(&ctx, &self.llm_duration),
            business: BusinessMetrics::new(&ctx),
            agent: AgentMetrics::new(&ctx, &self.agent_duration, &self.confidence),
            observed: Observed::default(),
        };
        let mut registry = Registry::default();
        let mut names = Names::default();
        families.register(&mut Registrar {
            registry: &mut registry,
            names: &mut names,
        });
        Metrics {
            inner: Arc::new(Inner {
                registry: RwLock::new(registry),
                names: Mutex::new(names),
                families,
                prices: self.prices,
            }),
        }
    }
}

impl Families {
    /// Registers every built-in family, each group registering its own.
    pub(crate) fn register(&self, r: &mut Registrar<'_>) {
        r.metric(
            "inframind_metrics_series_dropped",
            "Observations sent to a family's overflow series because its series cap was reached",
            None,
            self.dropped.clone(),
        );
        r.collector(
            &HTTP_FAMILIES,
            Box::new(HttpCollector {
                table: Arc::clone(&self.http),
                names: self.http_label_names,
            }),
        );
        self.db.register(r);
        self.cache.register(r, self.observed.cache_feed());
        self.llm.register(r);
        self.business.register(r);
        self.agent.register(r);
        self.observed.register(r);
    }
}
