//! From [`Config`] to a listening server: the store, the admin token, the router; and
//! graceful shutdown on SIGTERM or Ctrl-C (in-flight requests finish first).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

use crate::auth::{AdminToken, generate_token};
use crate::config::Config;
use inframind_metrics::Metrics;

use crate::llm::chain::ProviderChain;
use crate::observe;
use crate::repo::memory::MemoryRepository;
use crate::repo::mongo::{MongoRepository, MongoSettings};
use crate::repo::{RepoError, Repository};
use crate::state::AppState;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// The address is taken or not ours.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The LLM HTTP client could not be built.
    #[error("cannot build the LLM client: {0}")]
    Llm(#[from] crate::llm::LlmError),
    /// The cache store (Redis) could not be opened, or a cache layer built.
    #[error("cannot set up the response cache: {0}")]
    Cache(#[from] inframind_cache::CacheError),
    /// The store could not be opened.
    #[error("cannot open the store: {0}")]
    Store(#[from] RepoError),
}

/// Opens the configured store: MongoDB when `MONGODB_URI` is set (its commands feeding the
/// DB families of `metrics`), else the embedded one.
///
/// # Errors
/// The store's error (a bad URI, or indexes that cannot be created).
pub async fn open_store(
    config: &Config,
    metrics: &Metrics,
) -> Result<Arc<dyn Repository>, RepoError> {
    match &config.mongodb_uri {
        Some(uri) => {
            let settings = MongoSettings {
                uri: uri.clone(),
                database: config.mongodb_db.clone(),
                timeout: config.mongodb_timeout(),
                metrics: Some(metrics.clone()),
            };
            Ok(Arc::new(MongoRepository::connect(&settings).await?))
        }
        None => Ok(Arc::new(MemoryRepository::with_demo_data().await)),
    }
}

/// What a server is built from besides its configuration.
#[derive(Debug, Clone)]
pub struct Parts {
    /// The store.
    pub repo: Arc<dyn Repository>,
    /// The metrics registry (the one the store reports to).
    pub metrics: Metrics,
    /// The breakers' clock; `None` is the system clock.
    pub clock: Option<Arc<dyn inframind_breaker::Clock>>,
}

impl Parts {
    /// A store with a fresh registry and the system clock.
    pub fn new(repo: Arc<dyn Repository>) -> Self {
        Self {
            repo,
            metrics: Metrics::new(),
            clock: None,
        }
    }
}

/// A bound, not yet serving, server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    router: Router,
    state: AppState,
    admin_token: String,
    admin_token_generated: bool,
}

impl Server {
    /// Binds the address and opens the store.
    ///
    /// # Errors
    /// [`StartupError`].
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let metrics = Metrics::new();
        let repo = open_store(&config, &metrics).await?;
        Self::with_parts(
            config,
            Parts {
                repo,
                metrics,
                clock: None,
            },
        )
        .await
    }

    /// Binds the address over a given store (tests use it to share one store).
    ///
    /// # Errors
    /// [`StartupError`].
    pub async fn with_store(
        config: Config,
        repo: Arc<dyn Repository>,
    ) -> Result<Self, StartupError> {
        Self::with_parts(config, Parts::new(repo)).await
    }

    /// Binds the address over given parts (tests inject a manual clock to watch breakers
    /// recover, or share a registry with the store).
    ///
    /// # Errors
    /// [`StartupError`].
    pub async fn with_parts(config: Config, parts: Parts) -> Result<Self, StartupError> {
        let addr = config.bind_addr;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        let (admin_token, admin_token_generated) = match &config.admin_token {
            Some(token) if !token.is_empty() => (token.clone(), false),
            _ => (generate_token(), true),
        };
        let Parts {
            repo,
            metrics,
            clock,
        } = parts;
        let llm =
            ProviderChain::from_config(&config, clock)?.with_observer(observe::llm_calls(&metrics));
        metrics.observe_breakers(llm.registry().clone());
        tracing::info!(providers = ?llm.names(), breakers = config.llm_breakers, "LLM provider chain");
        observe::spawn_business_gauges(Arc::clone(&repo), metrics.clone());
        let cache = crate::routes::cache::open(&config).await?;
        metrics.observe_cache("api", cache.clone());
        let loader_stats = inframind_loader::StatsRegistry::new();
        metrics.observe_loaders(loader_stats.clone());
        let state = AppState {
            repo,
            cache,
            loader_stats,
            admin: Arc::new(AdminToken::new(&admin_token)),
            metrics,
            llm,
            config: Arc::new(config),
            started_at: std::time::Instant::now(),
        };
        let router = crate::routes::router(state.clone())?;
        Ok(Self {
            listener,
            router,
            state,
            admin_token,
            admin_token_generated,
        })
    }

    /// The address actually bound (the port when the config asked for 0).
    ///
    /// # Errors
    /// The OS error.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The admin token (generated when `ADMIN_TOKEN` was unset).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The shared state, for tests that look behind the API.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The router this server serves.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    ///
    /// # Errors
    /// The listener's I/O error.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let address = self.local_addr()?;
        let admin_token = if self.admin_token_generated {
            self.admin_token.as_str()
        } else {
            "(from ADMIN_TOKEN)"
        };
        tracing::info!(
            %address,
            store = self.state.repo.backend(),
            admin_token,
            "infra-mind listening on http://{address}"
        );
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await?;
        tracing::info!("infra-mind stopped");
        Ok(())
    }

    /// Serves until SIGTERM or Ctrl-C.
    ///
    /// # Errors
    /// The listener's I/O error.
    pub async fn run(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
