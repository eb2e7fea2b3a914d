//! The HTTP caching test suite (`http-cache-tests`, pinned in `conformance/package.json`),
//! run through the proxy on each store, against the committed ratchet
//! (`conformance/ratchet.json`): a required test that passed there and fails now is a
//! regression, and so is fewer optimal tests passing.
//!
//! Needs Node and the suite: `npm ci --prefix examples/cache-proxy/conformance` (which
//! `./scripts/test` runs). The results JSON of each run is written to the target directory
//! (`conformance-<store>.json`). `INFRAMIND_CONFORMANCE_UPDATE=1` rewrites the ratchet from
//! the MemoryStore run, once an improvement is to be kept.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::Value;

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

fn suite_dir() -> PathBuf {
    let dir = conformance_dir().join("node_modules/http-cache-tests");
    assert!(
        dir.join("cli.mjs").is_file(),
        "the HTTP caching test suite is not installed: run `npm ci --prefix \
         examples/cache-proxy/conformance` (Node and npm needed; ./scripts/test does this)"
    );
    dir
}

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn wait_for(addr: SocketAddr, what: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited during start-up: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on {addr} within 20 s");
}

/// The suite's origin server on a free loopback port.
fn start_origin() -> (Killed, SocketAddr) {
    let suite = suite_dir();
    let port = free_port();
    let pidfile = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("origin-{port}.pid"));
    let mut child = Command::new("node")
        .arg("server/server.mjs")
        .current_dir(&suite)
        .env("npm_config_port", port.to_string())
        .env("npm_config_protocol", "http")
        .env("npm_config_pidfile", pidfile)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the suite's origin with `node` (is Node installed?)");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_for(addr, "the suite's origin", &mut child);
    (Killed(child), addr)
}

/// Runs the suite through the proxy at `proxy`; the report `run.mjs` prints.
fn run_suite(proxy: SocketAddr) -> Value {
    let output = Command::new("node")
        .arg("run.mjs")
        .arg("run")
        .arg(format!("http://{proxy}"))
        .current_dir(conformance_dir())
        .stderr(Stdio::inherit())
        .output()
        .expect("run the suite with `node`");
    assert!(
        output.status.success(),
        "the suite's runner failed: {}",
        output.status
    );
    serde_json::from_slice(&output.stdout).expect("the runner prints its report as JSON")
}

fn passing(report: &Value, kind: &str) -> BTreeSet<String> {
    report["tests"]
        .as_object()
        .expect("tests")
        .iter()
        .filter(|(_, t)| t["kind"] == kind && t["outcome"] == "pass")
        .map(|(id, _)| id.clone())
        .collect()
}

/// One store's suites run one at a time: the suite's timing tests (pauses of a few seconds,
/// `max-age=2`) are sensitive to a loaded 2-core machine.
static ONE_SUITE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs the whole suite through a fresh proxy on `store`: its report.
async fn suite_report(store: &str, redis_prefix: Option<&str>) -> Value {
    let (_origin, origin) = start_origin();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = listener.local_addr().unwrap();
    let mut args = vec![
        "cache-proxy".to_owned(),
        "--origin".to_owned(),
        format!("http://{origin}"),
        "--store".to_owned(),
        store.to_owned(),
    ];
    if let Some(prefix) = redis_prefix {
        args.extend(["--redis-prefix".to_owned(), prefix.to_owned()]);
    }
    let cli = cache_proxy::Cli::try_parse_from(args).expect("flags");
    let server = tokio::spawn(cache_proxy::serve(listener, cli));

    let report = tokio::task::spawn_blocking(move || run_suite(proxy))
        .await
        .unwrap();
    server.abort();
    report
}

/// Runs the whole suite through a proxy on `store` and checks it against the ratchet. A run
/// that falls short is run once more, and a test passes when it passed in either run: the
/// second run tells a timing flake on a loaded machine (reported) from a regression (fails
/// both times).
async fn holds_the_ratchet(name: &str, store: String, redis_prefix: Option<String>) {
    let _alone = ONE_SUITE_AT_A_TIME.lock().await;
    let report = suite_report(&store, redis_prefix.as_deref()).await;
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("conformance-{name}.json"));
    std::fs::write(&out, serde_json::to_vec_pretty(&report).unwrap()).unwrap();

    let mut required = passing(&report, "required");
    let mut optimal = passing(&report, "optimal");
    let ratchet_path = conformance_dir().join("ratchet.json");
    if name == "memory" && std::env::var_os("INFRAMIND_CONFORMANCE_UPDATE").is_some() {
        let ratchet = serde_json::json!({
            "suite": "http-cache-tests 0.4.5",
            "optimal_passing_at_least": optimal.len(),
            "required_passing": required,
        });
        let text = serde_json::to_string_pretty(&ratchet).unwrap() + "\n";
        std::fs::write(&ratchet_path, text).unwrap();
    }
    let ratchet: Value = serde_json::from_slice(
        &std::fs::read(&ratchet_path).expect("conformance/ratchet.json is committed"),
    )
    .expect("ratchet.json is JSON");
    let before: BTreeSet<String> = ratchet["required_passing"]
        .as_array()
        .expect("required_passing")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let floor = ratchet["optimal_passing_at_least"].as_u64().unwrap_or(0) as usize;
    if !before.is_subset(&required) || optimal.len() < floor {
        let again = suite_report(&store, redis_prefix.as_deref()).await;
        let (required_again, optimal_again) =
            (passing(&again, "required"), passing(&again, "optimal"));
        let flaky: Vec<&String> = required
            .symmetric_difference(&required_again)
            .chain(optimal.symmetric_difference(&optimal_again))
            .collect();
        eprintln!("{name}: ran the suite twice; tests that passed in only one run: {flaky:?}");
        required.extend(required_again);
        optimal.extend(optimal_again);
    }

    let regressions: Vec<String> = before
        .difference(&required)
        .map(|id| {
            format!(
                "  {id}: {}",
                report["tests"][id]["detail"].as_str().unwrap_or("?")
            )
        })
        .collect();
    let gained: Vec<&String> = required.difference(&before).collect();
    eprintln!(
        "{name}: {} required and {} optimal passed (ratchet: {} and {floor}); results in {}",
        required.len(),
        optimal.len(),
        before.len(),
        out.display()
    );
    if !gained.is_empty() {
        eprintln!(
            "{name}: required tests passing that the ratchet does not list yet (keep them with \
             INFRAMIND_CONFORMANCE_UPDATE=1): {gained:?}"
        );
    }
    assert!(
        regressions.is_empty(),
        "{name}: {} required test(s) that passed before now fail:\n{}",
        regressions.len(),
        regressions.join("\n")
    );
    assert!(
        optimal.len() >= floor,
        "{name}: {} optimal tests passed, fewer than the ratchet's {floor}",
        optimal.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_through_the_proxy_on_memory_store_holds_the_ratchet() {
    holds_the_ratchet("memory", "memory".to_owned(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_through_the_proxy_on_redis_holds_the_ratchet() {
    let redis = inframind_test_support::redis();
    holds_the_ratchet(
        "redis",
        redis.url().to_owned(),
        Some(redis.prefix().to_owned()),
    )
    .await;
}
