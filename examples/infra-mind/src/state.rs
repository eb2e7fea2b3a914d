//! The state every handler shares.

use std::sync::Arc;
use std::time::Instant;

use crate::auth::AdminToken;
use crate::config::Config;
use crate::llm::chain::ProviderChain;
use crate::repo::Repository;

/// Cloned into every handler; each field is an `Arc` or cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The data store.
    pub repo: Arc<dyn Repository>,
    /// The admin token's hash.
    pub admin: Arc<AdminToken>,
    /// The LLM providers behind their breakers.
    pub llm: ProviderChain,
    /// The configuration the server started with.
    pub config: Arc<Config>,
    /// When the server started (for uptime).
    pub started_at: Instant,
}

impl AppState {
    /// State over a store, an admin token and the provider chain.
    pub fn new(
        config: Config,
        repo: Arc<dyn Repository>,
        admin: AdminToken,
        llm: ProviderChain,
    ) -> Self {
        Self {
            repo,
            llm,
            admin: Arc::new(admin),
            config: Arc::new(config),
            started_at: Instant::now(),
        }
    }
}
