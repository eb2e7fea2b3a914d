//! The scenarios of docs/benchmarks.md's "Load harness" section, run end to end against
//! private services: the servers are started here, seeded, loaded, and stopped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use inframind_test_support::{MongoServer, RedisServer};
use serde::Serialize;

use crate::loadgen::{self, Plan, Summary, Target};
use crate::services::{self, HarnessError, Logs, Process, get_ok};
use crate::stack::{Binaries, DB, Stack, start_stack};

/// How long and how hard a run is.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Settings {
    /// `full` or `ci`.
    pub(crate) mode: String,
    /// Each case's length.
    pub(crate) case_secs: f64,
    /// Interleaved rounds of every case.
    pub(crate) rounds: usize,
    /// Closed-loop concurrencies.
    pub(crate) concurrency: Vec<usize>,
    /// Seeded users and assessments.
    pub(crate) users: usize,
    pub(crate) assessments: usize,
    /// Cached list sizes of the scaling scenario.
    pub(crate) sizes: Vec<usize>,
    /// Concurrent requests on one cold key.
    pub(crate) stampede: u64,
    /// The outage scenario's fixed rate (requests per second) and length.
    pub(crate) outage_rate: f64,
    pub(crate) outage_secs: f64,
    /// A short load before the timed rounds (fills caches, opens connections).
    pub(crate) warm_up_secs: f64,
}

impl Settings {
    pub(crate) fn full() -> Self {
        Self {
            mode: "full".to_owned(),
            case_secs: 2.0,
            rounds: 3,
            concurrency: vec![1, 8, 64],
            users: 100,
            assessments: 1000,
            sizes: vec![10, 100, 1000, 10_000],
            stampede: 500,
            outage_rate: 400.0,
            outage_secs: 9.0,
            warm_up_secs: 0.5,
        }
    }

    pub(crate) fn ci() -> Self {
        Self {
            mode: "ci".to_owned(),
            case_secs: 0.25,
            rounds: 1,
            // Debug builds on a Python MongoDB server: c=64 on the N+1 routes takes minutes.
            concurrency: vec![1, 8],
            users: 10,
            assessments: 100,
            sizes: vec![10, 100],
            stampede: 100,
            outage_rate: 100.0,
            outage_secs: 1.5,
            warm_up_secs: 0.0,
        }
    }
}

/// One timed load.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub(crate) struct Case {
    pub(crate) scenario: String,
    pub(crate) target: String,
    pub(crate) concurrency: usize,
    pub(crate) round: usize,
    pub(crate) summary: Summary,
}

/// Queries per request, counted by the database server.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub(crate) struct QueryCount {
    pub(crate) endpoint: String,
    pub(crate) target: String,
    pub(crate) queries_per_request: f64,
}

/// 500 requests on one cold key.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub(crate) struct Stampede {
    pub(crate) target: String,
    pub(crate) requests: u64,
    /// Queries the database server ran meanwhile: the handler's (one find per call).
    pub(crate) database_queries: u64,
    pub(crate) summary: Summary,
}

/// A fixed-rate load while Redis is stopped and restarted: phases before, during, after.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub(crate) struct Outage {
    pub(crate) target: String,
    pub(crate) rate: f64,
    pub(crate) summary: Summary,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub(crate) struct Results {
    pub(crate) settings: serde_json::Value,
    pub(crate) machine: serde_json::Value,
    /// Which SecantusDB daemon served MongoDB.
    pub(crate) mongodb_server: String,
    pub(crate) cases: Vec<Case>,
    pub(crate) queries: Vec<QueryCount>,
    pub(crate) stampede: Vec<Stampede>,
    pub(crate) outage: Vec<Outage>,
    /// Scenario 4 (absent from results written before it existed).
    #[serde(default)]
    pub(crate) breaker: Vec<crate::breaker::BreakerRun>,
    /// Sizes of the bodies compared (bytes).
    pub(crate) bodies: Vec<(String, usize)>,
    pub(crate) notes: Vec<String>,
}

/// A URL to load, with the headers to send.
#[derive(Debug, Clone)]
struct Probe {
    name: String,
    addr: SocketAddr,
    /// `{case}` is replaced by a per-case tag, `{n}` by the request number.
    path: String,
    headers: Vec<(&'static str, &'static str)>,
}

impl Probe {
    fn new(name: &str, process: &Process, path: &str) -> Self {
        Self {
            name: name.to_owned(),
            addr: process.addr(),
            path: path.to_owned(),
            headers: Vec::new(),
        }
    }

    fn header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }

    fn target(&self, case: &str) -> Result<Target, HarnessError> {
        let path = self.path.replace("{case}", case);
        Ok(Target::parse(&format!("http://{}{path}", self.addr))?)
    }

    fn plan(&self, plan: Plan) -> Plan {
        self.headers
            .iter()
            .fold(plan, |plan, (name, value)| plan.header(name, value))
    }
}

const MISS: &str = "n={case}-{n}";

/// Runs every scenario and returns what it measured.
pub(crate) async fn run_all(
    settings: Settings,
    bins: Binaries,
    logs: Logs,
    scratch: PathBuf,
) -> Result<Results, HarnessError> {
    let mut results = Results {
        settings: serde_json::to_value(&settings)?,
        machine: crate::report::machine(),
        mongodb_server: String::new(),
        cases: Vec::new(),
        queries: Vec::new(),
        stampede: Vec::new(),
        outage: Vec::new(),
        breaker: Vec::new(),
        bodies: Vec::new(),
        notes: Vec::new(),
    };
    say("starting redis-server and SecantusDB");
    let redis = RedisServer::start()?;
    let mongo = MongoServer::start()?;
    results.mongodb_server = mongo.binary().display().to_string();
    say(&format!("MongoDB wire server: {}", results.mongodb_server));
    say(&format!(
        "seeding {} users, {} assessments",
        settings.users, settings.assessments
    ));
    services::seed(
        &bins.server,
        &mongo.uri(),
        DB,
        settings.users,
        settings.assessments,
    )
    .await?;
    let mut stack = start_stack(redis, mongo, &bins, &logs, &scratch, &mut results).await?;
    list(&stack, &settings, &mut results).await?;
    layers(&stack, &settings, &mut results).await?;
    relations(&stack, &settings, &mut results).await?;
    stampede(&stack, &settings, &mut results).await?;
    outage(&mut stack, &settings, &mut results).await?;
    let mongo_uri = stack.mongo.uri();
    crate::breaker::breaker(&bins, &mongo_uri, &logs, &settings, &mut results).await?;
    // Last: it may grow the database past the other scenarios' 1,000 assessments.
    scaling(&stack, &bins, &logs, &scratch, &settings, &mut results).await?;
    results.machine = crate::report::machine_with_start(&results.machine);
    Ok(results)
}

pub(crate) fn say(message: &str) {
    eprintln!("==> {message}");
}

/// Runs every probe at every concurrency for `rounds` interleaved rounds (probe after probe
/// inside a round), so a busy moment of the machine hits every probe alike.
async fn paired(
    scenario: &str,
    probes: &[Probe],
    concurrency: &[usize],
    settings: &Settings,
    results: &mut Results,
) -> Result<(), HarnessError> {
    let case = Duration::from_secs_f64(settings.case_secs);
    for probe in probes {
        // Fills the caches (hit probes) and checks the probe answers.
        let first = services::get(
            probe.addr,
            &probe.path.replace("{case}", "warm").replace("{n}", "0"),
            &probe.headers,
        )
        .await
        .map_err(|reason| HarnessError::Fetch {
            name: probe.name.clone(),
            path: probe.path.clone(),
            reason,
        })?;
        if first.status != 200 {
            return Err(HarnessError::Fetch {
                name: probe.name.clone(),
                path: probe.path.clone(),
                reason: format!("status {}", first.status),
            });
        }
        if settings.warm_up_secs > 0.0 {
            let plan = probe.plan(Plan::closed(
                8,
                Duration::from_secs_f64(settings.warm_up_secs),
            ));
            loadgen::run_on_own_thread(probe.target("warm")?, plan).await?;
        }
    }
    for round in 0..settings.rounds {
        for &c in concurrency {
            for probe in probes {
                let tag = format!("{scenario}-r{round}-c{c}");
                let plan = probe.plan(Plan::closed(c, case));
                let summary = loadgen::run_on_own_thread(probe.target(&tag)?, plan).await?;
                say(&format!(
                    "{scenario:10} {:24} c={c:<3} round {round}: {:>9.0} req/s  p50 {:>8.3} ms  p99 {:>8.3} ms  errors {}",
                    probe.name,
                    summary.rps,
                    summary.p50_ms,
                    summary.p99_ms,
                    summary.errors + summary.non_2xx
                ));
                results.cases.push(Case {
                    scenario: scenario.to_owned(),
                    target: probe.name.clone(),
                    concurrency: c,
                    round,
                    summary,
                });
            }
        }
    }
    Ok(())
}

/// Scenario 1: the list, cached and not, against the ceilings and the peer.
async fn list(
    stack: &Stack,
    settings: &Settings,
    results: &mut Results,
) -> Result<(), HarnessError> {
    let miss = format!("/api/assessments?{MISS}");
    let probes = vec![
        Probe::new("ceiling: bytes from memory", &stack.ceiling, "/bare/list"),
        Probe::new("ceiling: one Redis GET", &stack.ceiling, "/redis/list"),
        Probe::new(
            "ours: in-process hit",
            &stack.ours_memory,
            "/api/assessments",
        ),
        Probe::new(
            "ours: in-process hit, zstd",
            &stack.ours_memory,
            "/api/assessments",
        )
        .header("accept-encoding", "zstd"),
        Probe::new(
            "ours: Redis hit, identity",
            &stack.ours_redis,
            "/api/assessments",
        ),
        Probe::new(
            "ours: Redis hit, zstd",
            &stack.ours_redis,
            "/api/assessments",
        )
        .header("accept-encoding", "zstd"),
        Probe::new("peer: Redis hit", &stack.peer, "/api/assessments"),
        Probe::new("ours: miss (in-process)", &stack.ours_memory, &miss),
        Probe::new("ours: miss (Redis)", &stack.ours_redis, &miss),
        Probe::new("peer: miss", &stack.peer, &miss),
    ];
    paired("list", &probes, &settings.concurrency, settings, results).await
}

/// Scenario 6: the cached list as it grows. When the largest size is more than the seeded
/// assessments, the database is seeded again with that many first (every other scenario has
/// run by then), and a ceiling of its own serves each size's bytes.
async fn scaling(
    stack: &Stack,
    bins: &Binaries,
    logs: &Logs,
    scratch: &std::path::Path,
    settings: &Settings,
    results: &mut Results,
) -> Result<(), HarnessError> {
    let largest = settings.sizes.iter().copied().max().unwrap_or(0);
    if largest > settings.assessments {
        say(&format!(
            "seeding {} users, {largest} assessments for the scaling scenario",
            settings.users
        ));
        services::seed(
            &bins.server,
            &stack.mongo.uri(),
            DB,
            settings.users,
            largest,
        )
        .await?;
    }
    let paths = |size: &usize| format!("/api/assessments?limit={size}");
    let bodies: Vec<_> = settings
        .sizes
        .iter()
        .map(|size| (format!("s{size}"), paths(size)))
        .collect();
    let redis_url = stack
        .redis
        .as_ref()
        .map(RedisServer::url)
        .unwrap_or_default();
    let (ceiling, sizes) = crate::stack::start_ceiling(
        "ceiling-scaling",
        bins,
        &redis_url,
        &bodies,
        &stack.ours_memory,
        scratch,
        logs,
    )
    .await?;
    results.bodies.extend(sizes);
    let mut probes = Vec::new();
    for size in &settings.sizes {
        let path = paths(size);
        probes.push(Probe::new(
            &format!("ceiling: memory, {size}"),
            &ceiling,
            &format!("/bare/s{size}"),
        ));
        probes.push(Probe::new(
            &format!("ceiling: Redis GET, {size}"),
            &ceiling,
            &format!("/redis/s{size}"),
        ));
        probes.push(Probe::new(
            &format!("ours: in-process hit, {size}"),
            &stack.ours_memory,
            &path,
        ));
        probes.push(Probe::new(
            &format!("ours: Redis hit, {size}"),
            &stack.ours_redis,
            &path,
        ));
        probes.push(Probe::new(
            &format!("peer: Redis hit, {size}"),
            &stack.peer,
            &path,
        ));
    }
    let c = settings.concurrency.last().copied().unwrap_or(64);
    paired("scaling", &probes, &[c], settings, results).await
}

/// The cached list through the real router cut at each depth of its stack.
async fn layers(
    stack: &Stack,
    settings: &Settings,
    results: &mut Results,
) -> Result<(), HarnessError> {
    let mut probes = vec![Probe::new(
        "ceiling: bytes from memory",
        &stack.ceiling,
        "/bare/list",
    )];
    for (name, port) in &stack.layer_ports {
        probes.push(Probe {
            name: format!("stack to {name}"),
            addr: SocketAddr::from(([127, 0, 0, 1], *port)),
            path: "/api/assessments".to_owned(),
            headers: Vec::new(),
        });
    }
    let _ = &stack.layered;
    let c = settings.concurrency.last().copied().unwrap_or(64);
    paired("layers", &probes, &[c], settings, results).await
}

/// Scenario 2: N+1 against preload, in ours and in the peer: queries and latency.
async fn relations(
    stack: &Stack,
    settings: &Settings,
    results: &mut Results,
) -> Result<(), HarnessError> {
    let list = get_ok(&stack.ours_memory, "/api/assessments?limit=1").await?;
    let id = serde_json::from_slice::<serde_json::Value>(&list.body)?
        .get(0)
        .and_then(|a| a.get("id"))
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    let endpoints = [
        ("/full", format!("/api/assessments/{id}/full?{MISS}")),
        ("dashboard", format!("/api/dashboard?{MISS}")),
        (
            "list+relations",
            format!("/api/assessments?include=user,recommendations&{MISS}"),
        ),
    ];
    let mut probes = Vec::new();
    for (endpoint, path) in &endpoints {
        let n1 = format!("{path}&loading=n-plus-one");
        probes.push(Probe::new(
            &format!("{endpoint} ours: batched"),
            &stack.ours_redis,
            path,
        ));
        probes.push(Probe::new(
            &format!("{endpoint} ours: N+1"),
            &stack.ours_n_plus_one,
            path,
        ));
        probes.push(Probe::new(
            &format!("{endpoint} peer: batched"),
            &stack.peer,
            path,
        ));
        probes.push(Probe::new(
            &format!("{endpoint} peer: N+1"),
            &stack.peer,
            &n1,
        ));
    }
    // Queries per request, from the database server's counters: the least over two windows
    // of three requests (the servers' own 15 s gauges may fall into one).
    for probe in &probes {
        let mut best = f64::INFINITY;
        for window in 0..2 {
            let before = stack.counter.queries().await?;
            for i in 0..3 {
                let path = probe
                    .path
                    .replace("{case}", &format!("q{window}"))
                    .replace("{n}", &i.to_string());
                let answer = services::get(probe.addr, &path, &probe.headers).await;
                if !matches!(&answer, Ok(a) if a.status == 200) {
                    return Err(HarnessError::Fetch {
                        name: probe.name.clone(),
                        path,
                        reason: format!("{:?}", answer.map(|a| a.status)),
                    });
                }
            }
            // The counter's own serverStatus is a command, not a query.
            let after = stack.counter.queries().await?;
            best = best.min(after.saturating_sub(before) as f64 / 3.0);
        }
        let (endpoint, target) = probe.name.split_once(' ').unwrap_or((&probe.name, ""));
        say(&format!(
            "queries {endpoint:16} {target:14} {best:>6.1} per request"
        ));
        results.queries.push(QueryCount {
            endpoint: endpoint.to_owned(),
            target: target.to_owned(),
            queries_per_request: best,
        });
    }
    let same = |endpoint: &str| {
        let q = |t: &str| {
            results
                .queries
                .iter()
                .find(|q| q.endpoint == endpoint && q.target == t)
                .map(|q| q.queries_per_request)
        };
        q("ours: batched") == q("ours: N+1")
    };
    if same("list+relations") {
        results.notes.push(
            "ours: N+1 sent as many queries as batched: this server build does not honour \
             RELATION_LOADING=n-plus-one (or the list ignores include=)"
                .to_owned(),
        );
    }
    paired(
        "relations",
        &probes,
        &settings.concurrency,
        settings,
        results,
    )
    .await
}

/// Scenario 3: many concurrent requests on one cold key.
async fn stampede(
    stack: &Stack,
    settings: &Settings,
    results: &mut Results,
) -> Result<(), HarnessError> {
    let targets = [
        ("ours: in-process", &stack.ours_memory),
        ("ours: Redis", &stack.ours_redis),
        ("peer", &stack.peer),
    ];
    for (name, process) in targets {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let url = process.url(&format!("/api/assessments?n=stampede-{stamp}"));
        let mut plan = Plan::closed(
            usize::try_from(settings.stampede).unwrap_or(500),
            Duration::from_secs(60),
        );
        plan.requests = Some(settings.stampede);
        let before = stack.counter.queries().await?;
        let summary = loadgen::run_on_own_thread(Target::parse(&url)?, plan).await?;
        let after = stack.counter.queries().await?;
        let database_queries = after.saturating_sub(before);
        say(&format!(
            "stampede {name:18} {} requests: {database_queries} database queries, p99 {:.1} ms, max {:.1} ms, errors {}",
            summary.requests,
            summary.p99_ms,
            summary.max_ms,
            summary.errors + summary.non_2xx
        ));
        results.stampede.push(Stampede {
            target: name.to_owned(),
            requests: summary.requests,
            database_queries,
            summary,
        });
    }
    Ok(())
}

/// Scenario 5: Redis stopped for the middle third of a fixed-rate load, then restarted empty.
async fn outage(
    stack: &mut Stack,
    settings: &Settings,
    results: &mut Results,
) -> Result<(), HarnessError> {
    let third = Duration::from_secs_f64(settings.outage_secs / 3.0);
    let targets = [
        (
            "ours: Redis cache",
            stack.ours_redis.url("/api/assessments"),
        ),
        ("peer", stack.peer.url("/api/assessments")),
    ];
    for (name, url) in targets {
        let Some(mut redis) = stack.redis.take() else {
            break;
        };
        if !redis.is_running() {
            redis.restart()?;
        }
        // Warm the entry first, so the first third is a hit phase.
        let target = Target::parse(&url)?;
        let mut warm = Plan::closed(1, Duration::from_secs(5));
        warm.requests = Some(2);
        loadgen::run_on_own_thread(target.clone(), warm).await?;
        let mut plan = Plan::closed(64, third * 3);
        plan.rate = Some(settings.outage_rate);
        plan.timeout = Duration::from_secs(10);
        plan.phases = vec![third, third * 2];
        let switch = tokio::task::spawn_blocking(move || {
            std::thread::sleep(third);
            redis.stop();
            std::thread::sleep(third);
            let restarted = redis.restart();
            (redis, restarted)
        });
        let summary = loadgen::run_on_own_thread(target, plan).await?;
        let (redis, restarted) = switch
            .await
            .map_err(|e| HarnessError::Internal(format!("outage switch: {e}")))?;
        restarted?;
        stack.redis = Some(redis);
        let phase = |i: usize| summary.phases.get(i).cloned().unwrap_or_default();
        say(&format!(
            "outage {name:18} error rate up/down/after {:.3}/{:.3}/{:.3}, p50 {:.2}/{:.2}/{:.2} ms",
            phase(0).error_rate(),
            phase(1).error_rate(),
            phase(2).error_rate(),
            phase(0).p50_ms,
            phase(1).p50_ms,
            phase(2).p50_ms
        ));
        results.outage.push(Outage {
            target: name.to_owned(),
            rate: settings.outage_rate,
            summary,
        });
    }
    let _ = &stack.mongo;
    Ok(())
}
