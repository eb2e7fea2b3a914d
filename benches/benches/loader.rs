//! inframind-loader against async-graphql's `DataLoader` (default 1 ms delay, and
//! `delay(Duration::ZERO)`) and the `dataloader` crate, with the same in-memory batch function;
//! then N+1 against `preload_relations` against hand-written `$in` queries on SecantusDB's Rust
//! server.
//!
//! ```sh
//! cargo bench -p inframind-benches --bench loader -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Two parts run:
//! Everything runs on a current-thread runtime, then on a multi-thread runtime with 2 workers
//! (`LOADER_BENCH_RUNTIME=current` or `multi` picks one).
//!
//! 1. Paired, interleaved rounds (the method of `docs/benchmarks.md`): every variant runs for
//!    about 20 ms per round, in turn, and each round gives a ratio to inframind-loader; the
//!    medians of the per-round figures are printed. `LOADER_BENCH_ROUNDS` sets the rounds (15).
//! 2. The same in-memory benchmarks through criterion, for its reports (skipped with
//!    `LOADER_BENCH_CRITERION=0`).
//!
//! The MongoDB part needs `secantusd-rs` (`~/.cargo/bin/secantusd-rs`, or `SECANTUSD_RS`); it is
//! started on a free port with a temporary storage folder and stopped at the end. Without it
//! the MongoDB part is reported as skipped (`LOADER_BENCH_MONGO=0` skips it too).
#![allow(
    missing_docs,
    clippy::print_stdout,
    clippy::missing_panics_doc,
    unreachable_pub
)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::hint::black_box;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use futures::TryStreamExt;
use futures::future::join_all;
use inframind_loader::{Loaded, Loader, Many, MongoSource, One, preload_relations};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Document, doc};
use mongodb::{Client, Database};
use serde::{Deserialize, Serialize};
use tokio::runtime::Runtime;

// ---------------------------------------------------------------------------------------------
// The same batch function for every loader: value = key * 2, counting calls.

#[derive(Clone, Default)]
struct Calls(Arc<AtomicU64>);

impl Calls {
    fn bump(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

fn values(keys: &[u64]) -> HashMap<u64, u64> {
    keys.iter().map(|&k| (k, k * 2)).collect()
}

struct Ours(Calls);

impl inframind_loader::BatchFn<u64, u64> for Ours {
    type Error = Infallible;

    async fn load(&self, keys: &[u64]) -> Result<Loaded<u64, u64, Infallible>, Infallible> {
        self.0.bump();
        Ok(keys.iter().map(|&k| (k, k * 2)).collect())
    }
}

struct Graphql(Calls);

impl async_graphql::dataloader::Loader<u64> for Graphql {
    type Value = u64;
    type Error = ();

    async fn load(&self, keys: &[u64]) -> Result<HashMap<u64, u64>, ()> {
        self.0.bump();
        Ok(values(keys))
    }
}

struct Cksac(Calls);

impl dataloader::BatchFn<u64, u64> for Cksac {
    async fn load(&mut self, keys: &[u64]) -> HashMap<u64, u64> {
        self.0.bump();
        values(keys)
    }
}

type GraphqlLoader = async_graphql::dataloader::DataLoader<Graphql>;

fn graphql(calls: &Calls, delay: Option<Duration>) -> GraphqlLoader {
    let loader = async_graphql::dataloader::DataLoader::new(Graphql(calls.clone()), tokio::spawn);
    match delay {
        Some(delay) => loader.delay(delay),
        None => loader,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Peer {
    Ours,
    GraphqlDefault,
    GraphqlZero,
    Cksac,
    /// The batch function called directly, without a loader: the backend's own cost.
    Bare,
}

const PEERS: [Peer; 5] = [
    Peer::Ours,
    Peer::GraphqlZero,
    Peer::Cksac,
    Peer::GraphqlDefault,
    Peer::Bare,
];

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Self::Ours => "inframind-loader",
            Self::GraphqlDefault => "async-graphql (default 1 ms delay)",
            Self::GraphqlZero => "async-graphql delay(0)",
            Self::Cksac => "dataloader",
            Self::Bare => "batch function alone (no loader)",
        }
    }
}

/// The runtimes measured: current-thread, and multi-thread with 2 workers (axum's). Pick one with
/// `LOADER_BENCH_RUNTIME=current` or `multi`; both run by default.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Flavor {
    CurrentThread,
    MultiThread,
}

impl Flavor {
    fn name(self) -> &'static str {
        match self {
            Self::CurrentThread => "current_thread",
            Self::MultiThread => "multi_thread (2 workers)",
        }
    }

    fn chosen() -> Vec<Self> {
        match std::env::var("LOADER_BENCH_RUNTIME").as_deref() {
            Ok("current") => vec![Self::CurrentThread],
            Ok("multi") => vec![Self::MultiThread],
            _ => vec![Self::CurrentThread, Self::MultiThread],
        }
    }

    fn runtime(self) -> Runtime {
        match self {
            Self::CurrentThread => tokio::runtime::Builder::new_current_thread(),
            Self::MultiThread => {
                let mut builder = tokio::runtime::Builder::new_multi_thread();
                builder.worker_threads(2);
                builder
            }
        }
        .enable_all()
        .build()
        .unwrap()
    }
}

/// `iters` lone loads, one after another, from inside a runtime task (as a request handler
/// runs): the latency of one load with nothing else queued. Caches are off (each peer's
/// non-caching form) so every load reaches the batch function.
fn single_load(rt: &Runtime, peer: Peer, iters: u64) -> Duration {
    rt.block_on(async move {
        tokio::spawn(async move {
            let calls = Calls::default();
            match peer {
                Peer::Ours => {
                    let loader = Loader::builder(Ours(calls.clone())).cache(false).build();
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(loader.load(black_box(7)).await.unwrap());
                    }
                    start.elapsed()
                }
                Peer::GraphqlDefault | Peer::GraphqlZero => {
                    let delay = (peer == Peer::GraphqlZero).then_some(Duration::ZERO);
                    let loader = graphql(&calls, delay);
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(loader.load_one(black_box(7u64)).await.unwrap());
                    }
                    start.elapsed()
                }
                Peer::Cksac => {
                    let loader = dataloader::non_cached::Loader::new(Cksac(calls.clone()));
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(loader.load(black_box(7)).await);
                    }
                    start.elapsed()
                }
                Peer::Bare => {
                    use inframind_loader::BatchFn;
                    let batch_fn = Ours(calls.clone());
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(batch_fn.load(&[black_box(7)]).await.unwrap());
                    }
                    start.elapsed()
                }
            }
        })
        .await
        .unwrap()
    })
}

/// `iters` requests, each with a fresh loader and 1000 concurrent loads on distinct keys.
/// Returns the time and the batches per request.
fn thousand_loads(rt: &Runtime, peer: Peer, iters: u64) -> (Duration, f64) {
    rt.block_on(async move {
        tokio::spawn(async move {
            let calls = Calls::default();
            let start = Instant::now();
            for _ in 0..iters {
                match peer {
                    Peer::Ours => {
                        let loader = Loader::new(Ours(calls.clone()));
                        let out = join_all((0..1000u64).map(|k| loader.load(k))).await;
                        assert_eq!(out[999].as_ref().unwrap(), &Some(1998));
                    }
                    Peer::GraphqlDefault | Peer::GraphqlZero => {
                        let delay = (peer == Peer::GraphqlZero).then_some(Duration::ZERO);
                        let loader = graphql(&calls, delay);
                        let out = join_all((0..1000u64).map(|k| loader.load_one(k))).await;
                        assert_eq!(out[999], Ok(Some(1998)));
                    }
                    Peer::Cksac => {
                        let loader = dataloader::cached::Loader::new(Cksac(calls.clone()));
                        let out = join_all((0..1000u64).map(|k| loader.load(k))).await;
                        assert_eq!(out[999], 1998);
                    }
                    Peer::Bare => {
                        use inframind_loader::BatchFn;
                        let keys: Vec<u64> = (0..1000).collect();
                        let out = Ours(calls.clone()).load(black_box(&keys)).await.unwrap();
                        assert_eq!(out.len(), 1000);
                    }
                }
            }
            (start.elapsed(), calls.get() as f64 / iters as f64)
        })
        .await
        .unwrap()
    })
}

// ---------------------------------------------------------------------------------------------
// Paired, interleaved rounds.

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Iterations that take about `target`.
fn calibrate(target: Duration, mut run: impl FnMut(u64) -> Duration) -> u64 {
    let mut n = 1;
    loop {
        let took = run(n);
        if took >= target / 4 || n >= 1 << 20 {
            let per = took.as_secs_f64() / n as f64;
            return ((target.as_secs_f64() / per) as u64).max(1);
        }
        n *= 4;
    }
}

fn rounds() -> usize {
    std::env::var("LOADER_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(15)
}

fn paired_in_memory(rt: &Runtime) {
    let target = Duration::from_millis(20);
    println!(
        "\n## single load, nothing else queued (paired, {} rounds)",
        rounds()
    );
    let iters: Vec<u64> = PEERS
        .iter()
        .map(|&p| calibrate(target, |n| single_load(rt, p, n)))
        .collect();
    let mut per_iter: Vec<Vec<f64>> = vec![Vec::new(); PEERS.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); PEERS.len()];
    for _ in 0..rounds() {
        let times: Vec<f64> = PEERS
            .iter()
            .zip(&iters)
            .map(|(&p, &n)| single_load(rt, p, n).as_secs_f64() / n as f64)
            .collect();
        for (i, t) in times.iter().enumerate() {
            per_iter[i].push(*t);
            ratios[i].push(t / times[0]);
        }
    }
    for (i, peer) in PEERS.iter().enumerate() {
        println!(
            "{:40} {:>10.2} us/load   peer/ours = {:>8.2}",
            peer.name(),
            median(per_iter[i].clone()) * 1e6,
            median(ratios[i].clone())
        );
    }

    println!("\n## 1000 concurrent loads on distinct keys, fresh loader per request (paired)");
    let iters: Vec<u64> = PEERS
        .iter()
        .map(|&p| calibrate(target, |n| thousand_loads(rt, p, n).0))
        .collect();
    let mut per_iter: Vec<Vec<f64>> = vec![Vec::new(); PEERS.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); PEERS.len()];
    let mut batches = vec![0.0; PEERS.len()];
    for _ in 0..rounds() {
        let results: Vec<(f64, f64)> = PEERS
            .iter()
            .zip(&iters)
            .map(|(&p, &n)| {
                let (took, b) = thousand_loads(rt, p, n);
                (took.as_secs_f64() / n as f64, b)
            })
            .collect();
        for (i, (t, b)) in results.iter().enumerate() {
            per_iter[i].push(*t);
            ratios[i].push(t / results[0].0);
            batches[i] = *b;
        }
    }
    for (i, peer) in PEERS.iter().enumerate() {
        println!(
            "{:40} {:>10.1} us/request   peer/ours = {:>6.2}   batches/request = {:.2}",
            peer.name(),
            median(per_iter[i].clone()) * 1e6,
            median(ratios[i].clone()),
            batches[i]
        );
    }
}

fn criterion_in_memory(rt: &Runtime) {
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("loader/single_load");
    for peer in PEERS {
        if peer == Peer::GraphqlDefault {
            group.sample_size(10);
        }
        group.bench_function(peer.name(), |b| {
            b.iter_custom(|iters| single_load(rt, peer, iters));
        });
    }
    group.finish();
    let mut group = c.benchmark_group("loader/1000_concurrent_keys");
    group.sample_size(20);
    for peer in PEERS {
        group.bench_function(peer.name(), |b| {
            b.iter_custom(|iters| thousand_loads(rt, peer, iters).0);
        });
    }
    group.finish();
    c.final_summary();
}

// ---------------------------------------------------------------------------------------------
// MongoDB: N+1 against preload against hand-written `$in`, 100 parents.

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct User {
    #[serde(rename = "_id")]
    id: ObjectId,
    email: String,
    full_name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Assessment {
    #[serde(rename = "_id")]
    id: ObjectId,
    title: String,
    user_id: ObjectId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Recommendation {
    #[serde(rename = "_id")]
    id: ObjectId,
    assessment_id: ObjectId,
    title: String,
    category: String,
    priority: i32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Report {
    #[serde(rename = "_id")]
    id: ObjectId,
    assessment_id: ObjectId,
    format: String,
}

type Full = (Assessment, (Option<User>, Vec<Recommendation>, Vec<Report>));

struct Secantus {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for Secantus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn secantusd_rs() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SECANTUSD_RS") {
        return Some(path.into());
    }
    let home = PathBuf::from(std::env::var_os("HOME")?);
    let path = home.join(".cargo/bin/secantusd-rs");
    path.exists().then_some(path)
}

fn start_secantus(binary: &PathBuf) -> Secantus {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("loader-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new(binary)
        .args(["--port", &port.to_string(), "--storage-path"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "secantusd-rs did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Secantus { child, dir, port }
}

async fn seed(db: &Database) {
    let users: Vec<User> = (0..100)
        .map(|i| User {
            id: ObjectId::new(),
            email: format!("user{i}@example.com"),
            full_name: format!("User {i}"),
        })
        .collect();
    let assessments: Vec<Assessment> = (0..100)
        .map(|i| Assessment {
            id: ObjectId::new(),
            title: format!("Assessment {i}"),
            user_id: users[i % 40].id,
        })
        .collect();
    let mut recs = Vec::new();
    let mut reports = Vec::new();
    for (i, a) in assessments.iter().enumerate() {
        for r in 0..5 {
            recs.push(Recommendation {
                id: ObjectId::new(),
                assessment_id: a.id,
                title: format!("Recommendation {i}.{r}"),
                category: ["cost", "security", "performance"][r % 3].to_owned(),
                priority: (r % 3) as i32,
            });
        }
        for r in 0..2 {
            reports.push(Report {
                id: ObjectId::new(),
                assessment_id: a.id,
                format: ["pdf", "html"][r].to_owned(),
            });
        }
    }
    for name in ["recommendations", "reports"] {
        db.run_command(doc! {
            "createIndexes": name,
            "indexes": [{ "key": { "assessment_id": 1 }, "name": "assessment_id_1" }],
        })
        .await
        .unwrap();
    }
    db.collection::<User>("users")
        .insert_many(&users)
        .await
        .unwrap();
    db.collection::<Assessment>("assessments")
        .insert_many(&assessments)
        .await
        .unwrap();
    db.collection::<Recommendation>("recommendations")
        .insert_many(&recs)
        .await
        .unwrap();
    db.collection::<Report>("reports")
        .insert_many(&reports)
        .await
        .unwrap();
}

async fn all_assessments(db: &Database) -> Vec<Assessment> {
    db.collection("assessments")
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

async fn n_plus_one(db: &Database) -> Vec<Full> {
    let mut out = Vec::new();
    for a in all_assessments(db).await {
        let user = db
            .collection::<User>("users")
            .find_one(doc! { "_id": a.user_id })
            .await
            .unwrap();
        let recs = db
            .collection::<Recommendation>("recommendations")
            .find(doc! { "assessment_id": a.id })
            .sort(doc! { "_id": 1 })
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let reports = db
            .collection::<Report>("reports")
            .find(doc! { "assessment_id": a.id })
            .sort(doc! { "_id": 1 })
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        out.push((a, (user, recs, reports)));
    }
    out
}

struct Sources {
    users: MongoSource<User>,
    recs: MongoSource<Recommendation>,
    reports: MongoSource<Report>,
}

async fn preloaded(db: &Database, s: &Sources) -> Vec<Full> {
    preload_relations(
        all_assessments(db).await,
        (
            One::new(&s.users, "_id", |a: &Assessment| a.user_id),
            Many::new(&s.recs, "assessment_id", |a: &Assessment| a.id),
            Many::new(&s.reports, "assessment_id", |a: &Assessment| a.id),
        ),
    )
    .await
    .unwrap()
}

/// What a careful engineer writes by hand on the raw driver: three concurrent `$in` queries,
/// grouped into maps, handed out per parent.
async fn hand_written(db: &Database) -> Vec<Full> {
    let assessments = all_assessments(db).await;
    let mut user_ids: Vec<ObjectId> = assessments.iter().map(|a| a.user_id).collect();
    user_ids.sort_unstable();
    user_ids.dedup();
    let ids: Vec<ObjectId> = assessments.iter().map(|a| a.id).collect();
    let users = async {
        db.collection::<User>("users")
            .find(doc! { "_id": { "$in": &user_ids } })
            .sort(doc! { "_id": 1 })
            .await?
            .try_collect::<Vec<_>>()
            .await
    };
    let recs = async {
        db.collection::<Recommendation>("recommendations")
            .find(doc! { "assessment_id": { "$in": &ids } })
            .sort(doc! { "_id": 1 })
            .await?
            .try_collect::<Vec<_>>()
            .await
    };
    let reports = async {
        db.collection::<Report>("reports")
            .find(doc! { "assessment_id": { "$in": &ids } })
            .sort(doc! { "_id": 1 })
            .await?
            .try_collect::<Vec<_>>()
            .await
    };
    let (users, recs, reports) = futures::try_join!(users, recs, reports).unwrap();
    let users: HashMap<ObjectId, User> = users.into_iter().map(|u| (u.id, u)).collect();
    let mut recs_by: HashMap<ObjectId, Vec<Recommendation>> = HashMap::new();
    for r in recs {
        recs_by.entry(r.assessment_id).or_default().push(r);
    }
    let mut reports_by: HashMap<ObjectId, Vec<Report>> = HashMap::new();
    for r in reports {
        reports_by.entry(r.assessment_id).or_default().push(r);
    }
    assessments
        .into_iter()
        .map(|a| {
            let user = users.get(&a.user_id).cloned();
            let recs = recs_by.remove(&a.id).unwrap_or_default();
            let reports = reports_by.remove(&a.id).unwrap_or_default();
            (a, (user, recs, reports))
        })
        .collect()
}

async fn timed(work: impl Future<Output = Vec<Full>>) -> f64 {
    let start = Instant::now();
    black_box(work.await);
    start.elapsed().as_secs_f64()
}

async fn find_count(client: &Client) -> i64 {
    let status = client
        .database("admin")
        .run_command(doc! { "serverStatus": 1 })
        .await
        .unwrap();
    let query = status
        .get_document("opcounters")
        .unwrap()
        .get("query")
        .unwrap();
    query
        .as_i64()
        .or_else(|| query.as_i32().map(i64::from))
        .unwrap()
}

fn mongo(rt: &Runtime) {
    let Some(binary) = secantusd_rs() else {
        println!("\n## MongoDB: skipped (no secantusd-rs; set SECANTUSD_RS or install it)");
        return;
    };
    let server = start_secantus(&binary);
    rt.block_on(async {
        let uri = format!("mongodb://127.0.0.1:{}/?directConnection=true", server.port);
        let client = Client::with_uri_str(&uri).await.unwrap();
        let db = client.database("loader_bench");
        seed(&db).await;
        let sources = Sources {
            users: MongoSource::new(db.collection::<Document>("users")),
            recs: MongoSource::new(db.collection::<Document>("recommendations")),
            reports: MongoSource::new(db.collection::<Document>("reports")),
        };

        // Same data, and the query counts, once.
        let before = find_count(&client).await;
        let expected = n_plus_one(&db).await;
        let n1_queries = find_count(&client).await - before;
        let before = find_count(&client).await;
        assert_eq!(preloaded(&db, &sources).await, expected);
        let preload_queries = find_count(&client).await - before;
        let before = find_count(&client).await;
        assert_eq!(hand_written(&db).await, expected);
        let hand_queries = find_count(&client).await - before;

        let rounds = rounds();
        let mut n1 = Vec::new();
        let mut pre = Vec::new();
        let mut hand = Vec::new();
        let mut pre_over_hand = Vec::new();
        let mut n1_over_pre = Vec::new();
        for round in 0..rounds {
            // Five pairs per round, alternating which of the two close contenders goes first.
            let (mut p, mut h) = (0.0, 0.0);
            for pair in 0..5 {
                if (round + pair) % 2 == 0 {
                    p += timed(preloaded(&db, &sources)).await;
                    h += timed(hand_written(&db)).await;
                } else {
                    h += timed(hand_written(&db)).await;
                    p += timed(preloaded(&db, &sources)).await;
                }
            }
            let (p, h) = (p / 5.0, h / 5.0);
            let n = timed(n_plus_one(&db)).await;
            n1.push(n);
            pre.push(p);
            hand.push(h);
            pre_over_hand.push(p / h);
            n1_over_pre.push(n / p);
        }
        println!(
            "\n## MongoDB (secantusd-rs), 100 assessments with user (one), 5 recommendations and \
             2 reports (many) each; {rounds} paired rounds"
        );
        println!(
            "N+1                  {:>4} queries {:>9.2} ms",
            n1_queries,
            median(n1) * 1e3
        );
        println!(
            "preload_relations    {:>4} queries {:>9.2} ms",
            preload_queries,
            median(pre) * 1e3
        );
        println!(
            "hand-written $in     {:>4} queries {:>9.2} ms",
            hand_queries,
            median(hand) * 1e3
        );
        println!(
            "preload / hand-written = {:.3}   N+1 / preload = {:.1}",
            median(pre_over_hand),
            median(n1_over_pre)
        );
    });
    drop(server);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --benches` runs bench binaries with `--test`: keep that quick.
    if args.iter().any(|a| a == "--test") {
        for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
            let rt = flavor.runtime();
            single_load(&rt, Peer::Ours, 10);
            thousand_loads(&rt, Peer::Ours, 1);
        }
        return;
    }
    println!(
        "machine: {} CPUs; rounds: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        rounds()
    );
    for flavor in Flavor::chosen() {
        println!("\n# runtime: {}", flavor.name());
        let rt = flavor.runtime();
        paired_in_memory(&rt);
        if std::env::var("LOADER_BENCH_MONGO").as_deref() != Ok("0") {
            mongo(&rt);
        }
        if std::env::var("LOADER_BENCH_CRITERION").as_deref() != Ok("0") {
            criterion_in_memory(&rt);
        }
    }
}
