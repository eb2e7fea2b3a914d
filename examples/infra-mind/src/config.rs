//! Configuration from flags and the environment (the names of `docs/architecture.md`).

use std::net::SocketAddr;
use std::time::Duration;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable, coloured when on a terminal.
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// How handlers load an assessment's relations (user, recommendations, reports).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RelationLoading {
    /// One query per relation, whatever the number of assessments (`preload_relations`).
    #[default]
    Batched,
    /// One query per assessment and relation, as the spec's "before" code: for the load
    /// harness's comparison, never for production.
    NPlusOne,
}

/// Which finished requests get an `INFO` line (the others are logged at `DEBUG`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AccessLog {
    /// 4xx and 5xx answers, and requests slower than a second: what an operator acts on.
    /// Counts and latencies of every request are in `/metrics`.
    #[default]
    Errors,
    /// Every request.
    All,
}

const DEFAULT_CACHE_MEMORY_BYTES: u64 = 256 << 20;
const DEFAULT_CACHE_MAX_BODY_BYTES: u64 = 8 << 20;

/// Everything the server reads at start-up. Each flag also reads the environment variable
/// named beside it; with nothing set the server runs on embedded defaults.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8000")]
    pub bind_addr: SocketAddr,

    /// Redis for the response cache; unset means the in-process cache store.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key the cache writes (to share one Redis database).
    #[arg(long, env = "REDIS_KEY_PREFIX")]
    pub redis_key_prefix: Option<String>,

    /// Bytes of Redis cache entries kept decoded in process (the hot tier; each hit still
    /// checks with Redis that its entry is current). 0, the default, turns it off.
    #[arg(long, env = "CACHE_HOT_TIER_BYTES", default_value_t = 0)]
    pub cache_hot_tier_bytes: u64,

    /// Bytes the in-process cache store holds at most (without `REDIS_URL`). Its largest
    /// entry is about 1/16 of it, so it must be at least 16 times `CACHE_MAX_BODY_BYTES`.
    #[arg(long, env = "CACHE_MEMORY_BYTES", default_value_t = DEFAULT_CACHE_MEMORY_BYTES)]
    pub cache_memory_bytes: u64,

    /// The largest response body the cache stores; a larger one is served uncached. The
    /// default holds the longest list (`?limit=10000`, about 3 MB).
    #[arg(long, env = "CACHE_MAX_BODY_BYTES", default_value_t = DEFAULT_CACHE_MAX_BODY_BYTES)]
    pub cache_max_body_bytes: u64,

    /// MongoDB for the data; unset means the in-process store with demo data.
    #[arg(long, env = "MONGODB_URI")]
    pub mongodb_uri: Option<String>,

    /// MongoDB database name.
    #[arg(long, env = "MONGODB_DB", default_value = "infra_mind")]
    pub mongodb_db: String,

    /// How long a MongoDB call waits for a reachable server, in seconds.
    #[arg(long, env = "MONGODB_TIMEOUT_SECS", default_value_t = 2)]
    pub mongodb_timeout_secs: u64,

    /// Bearer token for `/admin/*`; unset means one is generated and logged at start-up.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// OpenAI-compatible chat-completions base URL.
    #[arg(
        long,
        env = "OPENAI_BASE_URL",
        default_value = "https://api.openai.com/v1"
    )]
    pub openai_base_url: String,

    /// OpenAI API key; unset leaves the provider out of the chain.
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<String>,

    /// OpenAI model.
    #[arg(long, env = "OPENAI_MODEL", default_value = "gpt-4o-mini")]
    pub openai_model: String,

    /// Anthropic messages API base URL.
    #[arg(
        long,
        env = "ANTHROPIC_BASE_URL",
        default_value = "https://api.anthropic.com"
    )]
    pub anthropic_base_url: String,

    /// Anthropic API key; unset leaves the provider out of the chain.
    #[arg(long, env = "ANTHROPIC_API_KEY", hide_env_values = true)]
    pub anthropic_api_key: Option<String>,

    /// Anthropic model.
    #[arg(
        long,
        env = "ANTHROPIC_MODEL",
        default_value = "claude-3-5-haiku-latest"
    )]
    pub anthropic_model: String,

    /// Each LLM provider behind its breaker (`false` only to measure what breakers save).
    #[arg(long, env = "LLM_BREAKERS", default_value_t = true, action = clap::ArgAction::Set)]
    pub llm_breakers: bool,

    /// Timeout of one LLM call, in seconds.
    #[arg(long, env = "LLM_TIMEOUT_SECS", default_value_t = 30)]
    pub llm_timeout_secs: u64,

    /// Longest a request may take before it is answered 503, in seconds.
    #[arg(long, env = "REQUEST_TIMEOUT_SECS", default_value_t = 15)]
    pub request_timeout_secs: u64,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// Which finished requests are logged at `INFO`: `errors` (4xx, 5xx, slower than 1 s) or
    /// `all`. The rest are logged at `DEBUG`.
    #[arg(long, env = "ACCESS_LOG", value_enum, default_value_t = AccessLog::Errors)]
    pub access_log: AccessLog,

    /// How relations are loaded: `batched`, or `n-plus-one` to measure what batching saves.
    #[arg(long, env = "RELATION_LOADING", value_enum, default_value_t = RelationLoading::Batched)]
    pub relation_loading: RelationLoading,
}

impl Config {
    /// Embedded defaults on a free loopback port: what tests start from.
    pub fn embedded() -> Self {
        Self {
            bind_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            redis_url: None,
            redis_key_prefix: None,
            cache_hot_tier_bytes: 0,
            cache_memory_bytes: DEFAULT_CACHE_MEMORY_BYTES,
            cache_max_body_bytes: DEFAULT_CACHE_MAX_BODY_BYTES,
            mongodb_uri: None,
            mongodb_db: "infra_mind".to_owned(),
            mongodb_timeout_secs: 2,
            admin_token: None,
            openai_base_url: "https://api.openai.com/v1".to_owned(),
            openai_api_key: None,
            openai_model: "gpt-4o-mini".to_owned(),
            anthropic_base_url: "https://api.anthropic.com".to_owned(),
            anthropic_api_key: None,
            anthropic_model: "claude-3-5-haiku-latest".to_owned(),
            llm_breakers: true,
            llm_timeout_secs: 30,
            request_timeout_secs: 15,
            log_format: LogFormat::Pretty,
            access_log: AccessLog::Errors,
            relation_loading: RelationLoading::Batched,
        }
    }

    /// The request timeout as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }

    /// The MongoDB server-selection timeout as a duration.
    pub fn mongodb_timeout(&self) -> Duration {
        Duration::from_secs(self.mongodb_timeout_secs.max(1))
    }
}
