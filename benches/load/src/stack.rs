//! The processes of a run: the real server three ways (in-process cache, Redis cache, Redis
//! with N+1 relation loading), the peer, the ceilings serving our list's bytes, and the router
//! cut at each depth of its stack.

use std::path::PathBuf;

use inframind_test_support::{MongoServer, RedisServer};
use tokio::process::Command;

use crate::scenarios::{Results, say};
use crate::services::{self, HarnessError, Logs, Process, QueryCounter, free_port, get_ok};

/// Where the binaries are.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    /// The `infra-mind` server.
    pub(crate) server: PathBuf,
    /// This harness (for its `ceiling` and `layered` subcommands).
    pub(crate) harness: PathBuf,
    /// The virtualenv's python, with the peer's requirements.
    pub(crate) python: PathBuf,
    /// The folder of `app.py`.
    pub(crate) peer_dir: PathBuf,
}

/// The database every server and the peer read.
pub(crate) const DB: &str = "bench";

/// The processes of a run.
/// Every process of a run, stopped when dropped.
pub(crate) struct Stack {
    pub(crate) redis: Option<RedisServer>,
    pub(crate) mongo: MongoServer,
    pub(crate) counter: QueryCounter,
    pub(crate) ours_memory: Process,
    pub(crate) ours_redis: Process,
    pub(crate) ours_n_plus_one: Process,
    pub(crate) peer: Process,
    pub(crate) ceiling: Process,
    pub(crate) layered: Process,
    pub(crate) layer_ports: Vec<(&'static str, u16)>,
}

pub(crate) fn ours(
    bins: &Binaries,
    port: u16,
    mongo: &str,
    redis: Option<(&str, &str)>,
) -> Command {
    let mut command = Command::new(&bins.server);
    command
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("MONGODB_URI", mongo)
        .env("MONGODB_DB", DB)
        .env("ADMIN_TOKEN", "bench-admin-token")
        .env_remove("REDIS_URL")
        .env_remove("RELATION_LOADING")
        .env_remove("CACHE_HOT_TIER_BYTES");
    if let Some((url, prefix)) = redis {
        command
            .env("REDIS_URL", url)
            .env("REDIS_KEY_PREFIX", prefix);
    }
    command
}

/// Starts a `ceiling` (as process `name`) serving, under each body name, the body `source`
/// answers at its path; returns it with each body's size.
pub(crate) async fn start_ceiling(
    name: &str,
    bins: &Binaries,
    redis_url: &str,
    bodies: &[(String, String)],
    source: &Process,
    scratch: &std::path::Path,
    logs: &Logs,
) -> Result<(Process, Vec<(String, usize)>), HarnessError> {
    std::fs::create_dir_all(scratch)?;
    let mut sizes = Vec::new();
    let mut ceiling = Command::new(&bins.harness);
    ceiling.arg("ceiling").arg("--redis-url").arg(redis_url);
    for (body, path) in bodies {
        let answer = get_ok(source, path).await?;
        let file = scratch.join(format!("{body}.json"));
        std::fs::write(&file, &answer.body)?;
        sizes.push((body.clone(), answer.body.len()));
        ceiling
            .arg("--body")
            .arg(format!("{body}={}", file.display()));
    }
    let port = free_port()?;
    ceiling.arg("--bind").arg(format!("127.0.0.1:{port}"));
    let first = bodies.first().map_or("list", |(body, _)| body.as_str());
    let process = services::start(name, ceiling, port, &format!("/bare/{first}"), logs).await?;
    Ok((process, sizes))
}

pub(crate) async fn start_stack(
    redis: RedisServer,
    mongo: MongoServer,
    bins: &Binaries,
    logs: &Logs,
    scratch: &std::path::Path,
    results: &mut Results,
) -> Result<Stack, HarnessError> {
    let uri = mongo.uri();
    let redis_url = redis.url();
    say("starting infra-mind (in-process cache, Redis cache, Redis + N+1), the peer");
    let port = free_port()?;
    let ours_memory = services::start(
        "ours-memory",
        ours(bins, port, &uri, None),
        port,
        "/health",
        logs,
    )
    .await?;
    let port = free_port()?;
    // With the hot tier (decoded entries in process, each hit checked current against Redis in
    // one small round trip), as a deployment that wants Redis hits near in-process speed runs.
    let mut command = ours(bins, port, &uri, Some((&redis_url, "ours:")));
    command.env("CACHE_HOT_TIER_BYTES", (64u64 << 20).to_string());
    let ours_redis = services::start("ours-redis", command, port, "/health", logs).await?;
    let port = free_port()?;
    let mut command = ours(bins, port, &uri, Some((&redis_url, "n1:")));
    command.env("RELATION_LOADING", "n-plus-one");
    let ours_n_plus_one =
        services::start("ours-n-plus-one", command, port, "/health", logs).await?;
    let port = free_port()?;
    let mut command = Command::new(&bins.python);
    command
        .args(["-m", "uvicorn", "app:app", "--app-dir"])
        .arg(&bins.peer_dir)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--workers", "2", "--log-level", "warning"])
        .env("MONGODB_URI", &uri)
        .env("MONGODB_DB", DB)
        .env("REDIS_URL", &redis_url);
    let peer = services::start("peer", command, port, "/health", logs).await?;

    // The ceiling serves the very bytes our list answers with (the scaling scenario starts
    // its own, for its sizes).
    let list = [("list".to_owned(), "/api/assessments".to_owned())];
    let (ceiling, sizes) = start_ceiling(
        "ceiling",
        bins,
        &redis_url,
        &list,
        &ours_memory,
        scratch,
        logs,
    )
    .await?;
    results.bodies.extend(sizes);

    let mut layered = Command::new(&bins.harness);
    layered
        .arg("layered")
        .env("MONGODB_URI", &uri)
        .env("MONGODB_DB", DB)
        .env("ADMIN_TOKEN", "bench-admin-token")
        .env_remove("REDIS_URL");
    let mut layer_ports = Vec::new();
    for (name, _) in crate::servers::DEPTHS {
        let port = free_port()?;
        layered
            .arg("--listen")
            .arg(format!("{name}=127.0.0.1:{port}"));
        layer_ports.push((name, port));
    }
    let full_port = layer_ports.last().map_or(0, |(_, p)| *p);
    let layered = services::start("layered", layered, full_port, "/health", logs).await?;
    let counter = QueryCounter::connect(&uri).await?;
    Ok(Stack {
        redis: Some(redis),
        mongo,
        counter,
        ours_memory,
        ours_redis,
        ours_n_plus_one,
        peer,
        ceiling,
        layered,
        layer_ports,
    })
}
