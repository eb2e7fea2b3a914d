//! The servers the harness runs besides the real one: the ceilings (the same bytes from
//! memory, and from one Redis `GET`) and the real router cut at each depth of its stack.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use infra_mind::config::Config;
use infra_mind::routes::StackDepth;
use infra_mind::startup::Server;
use redis::AsyncCommands;

/// Why a helper server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ServeError {
    /// A `name=value` argument without `=`, or an unknown depth.
    #[error("bad argument {0:?}")]
    Argument(String),
    /// A body file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Redis refused a connection or a command.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The address is taken.
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
    /// The real server did not build.
    #[error("infra-mind: {0}")]
    Startup(#[from] infra_mind::startup::StartupError),
    /// A cache layer did not build.
    #[error("cache layer: {0}")]
    Cache(#[from] inframind_cache::CacheError),
}

/// Splits `name=value`.
pub(crate) fn name_value(arg: &str) -> Result<(String, String), ServeError> {
    arg.split_once('=')
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .ok_or_else(|| ServeError::Argument(arg.to_owned()))
}

#[derive(Clone)]
struct Ceiling {
    bodies: Arc<HashMap<String, Bytes>>,
    redis: Option<redis::aio::MultiplexedConnection>,
}

/// `GET /bare/{name}`: the bytes from memory. `GET /redis/{name}`: one `GET` of them from
/// Redis (key `ceiling:{name}`, written at start-up), returned as they are.
pub(crate) async fn serve_ceiling(
    bind: SocketAddr,
    bodies: &[String],
    redis_url: Option<&str>,
) -> Result<(), ServeError> {
    let mut loaded = HashMap::new();
    for arg in bodies {
        let (name, path) = name_value(arg)?;
        let path = PathBuf::from(path);
        let bytes = std::fs::read(&path).map_err(|source| ServeError::Read { path, source })?;
        loaded.insert(name, Bytes::from(bytes));
    }
    let redis = match redis_url {
        Some(url) => {
            let client = redis::Client::open(url)?;
            let mut connection = client.get_multiplexed_async_connection().await?;
            for (name, bytes) in &loaded {
                let () = connection
                    .set(format!("ceiling:{name}"), bytes.as_ref())
                    .await?;
            }
            Some(connection)
        }
        None => None,
    };
    let state = Ceiling {
        bodies: Arc::new(loaded),
        redis,
    };
    let app = Router::new()
        .route("/bare/{name}", axum::routing::get(bare))
        .route("/redis/{name}", axum::routing::get(from_redis))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(bind).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

fn json(bytes: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

async fn bare(State(state): State<Ceiling>, Path(name): Path<String>) -> Response {
    match state.bodies.get(&name) {
        Some(bytes) => json(bytes.clone()),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn from_redis(State(state): State<Ceiling>, Path(name): Path<String>) -> Response {
    let Some(mut connection) = state.redis else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let got: redis::RedisResult<Option<Vec<u8>>> = connection.get(format!("ceiling:{name}")).await;
    match got {
        Ok(Some(bytes)) => json(Bytes::from(bytes)),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// Parses a depth name (`handlers`, `cache`, `metrics`, `limits`, `errors`, `full`).
pub(crate) fn depth(name: &str) -> Result<StackDepth, ServeError> {
    DEPTHS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, d)| *d)
        .ok_or_else(|| ServeError::Argument(name.to_owned()))
}

/// Every depth, innermost first, with its name.
pub(crate) const DEPTHS: [(&str, StackDepth); 6] = [
    ("handlers", StackDepth::Handlers),
    ("cache", StackDepth::Cache),
    ("metrics", StackDepth::Metrics),
    ("limits", StackDepth::Limits),
    ("errors", StackDepth::Errors),
    ("full", StackDepth::Full),
];

/// Serves the real router cut at each `depth=addr` of `listen`, all over one state (one
/// store, one cache) built from `config` as the server builds it.
pub(crate) async fn serve_layered(mut config: Config, listen: &[String]) -> Result<(), ServeError> {
    let mut routers = Vec::new();
    for arg in listen {
        let (name, addr) = name_value(arg)?;
        let addr: SocketAddr = addr
            .parse()
            .map_err(|_| ServeError::Argument(arg.clone()))?;
        routers.push((depth(&name)?, addr));
    }
    infra_mind::telemetry::init(config.log_format);
    config.bind_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let server = Server::build(config).await?;
    let state = server.state().clone();
    drop(server);
    let mut tasks = tokio::task::JoinSet::new();
    for (depth, addr) in routers {
        let router = infra_mind::routes::router_to(state.clone(), depth)?;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        tasks.spawn(async move { axum::serve(listener, router).await });
    }
    while let Some(done) = tasks.join_next().await {
        if let Ok(Err(error)) = done {
            return Err(error.into());
        }
    }
    Ok(())
}
