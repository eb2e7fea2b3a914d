//! The state every handler shares.

use std::sync::Arc;
use std::time::Instant;

use inframind_cache::CacheHandle;
use inframind_loader::StatsRegistry;
use inframind_metrics::Metrics;

use crate::auth::AdminToken;
use crate::config::Config;
use crate::domain::{Assessment, Include, Related};
use crate::llm::chain::ProviderChain;
use crate::repo::{RepoError, Repository, relations};

/// Cloned into every handler; each field is an `Arc` or cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The data store.
    pub repo: Arc<dyn Repository>,
    /// The admin token's hash.
    pub admin: Arc<AdminToken>,
    /// The response cache: its store, statistics and invalidation.
    pub cache: CacheHandle,
    /// Batching statistics of every per-request loader, by loader name.
    pub loader_stats: StatsRegistry,
    /// The shared metrics registry behind `/metrics`.
    pub metrics: Metrics,
    /// The LLM providers behind their breakers.
    pub llm: ProviderChain,
    /// The configuration the server started with.
    pub config: Arc<Config>,
    /// When the server started (for uptime).
    pub started_at: Instant,
}

impl AppState {
    /// The `include`d relations of `assessments`, loaded as `--relation-loading` says.
    ///
    /// # Errors
    /// The store's error.
    pub async fn relations(
        &self,
        assessments: Vec<Assessment>,
        include: Include,
    ) -> Result<Vec<Related>, RepoError> {
        relations::load(
            self.repo.as_ref(),
            self.config.relation_loading,
            assessments,
            include,
        )
        .await
    }
}
