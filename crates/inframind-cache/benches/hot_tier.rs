//! The Redis hot tier against its peers, paired (figures in docs/benchmarks.md, "Redis hot
//! tier").
//!
//! ```sh
//! cargo bench -p inframind-cache --features redis --bench hot_tier              # 15 rounds
//! cargo bench -p inframind-cache --features redis --bench hot_tier -- --quick   # 5 rounds
//! ```
//!
//! Every variant is an axum route called in process (`oneshot`, no sockets) by `C` concurrent
//! tasks on a two-worker runtime, against a private `redis-server` on loopback, for a batch of
//! about 50 ms per round in rotating order; the figures are medians over rounds of
//! requests per second and of the ratio to the first variant in the same round:
//!
//! - `raw GET`: a bare route that does one Redis `GET` of the plain body bytes and returns
//!   them (the issue's "ceiling with Redis");
//! - `RedisStore hit`: `CacheLayer` on a `RedisStore` (zstd above 1 KiB: each identity hit
//!   fetches the whole entry and decompresses it);
//! - `RedisStore + hot tier hit`: the same with `hot_tier(64 MiB)`, each hit one `MGET` of the
//!   generations and a `GETRANGE` of the entry's identity;
//! - `MemoryStore hit`: the in-process store.
//!
//! For an identity client and a zstd client (`Accept-Encoding: zstd`), and a ~15 KiB and a
//! ~150 KiB JSON list, at C = 64, and for 15 KiB identity at C = 1.
//!
//! `--tcp` measures the 15 KiB identity case end to end instead, as wrk would: the four routes
//! served by `axum::serve` on 127.0.0.1 (its own two-worker runtime), and 64 HTTP/1.1
//! keep-alive connections from a hyper client (another runtime), ~300 ms per variant and
//! round.

#![allow(clippy::print_stdout, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;
use inframind_cache::{CacheLayer, MemoryStore, RedisStore};
use redis::aio::ConnectionManager;
use tokio::runtime::Runtime;
use tower::ServiceExt;

fn json(bytes: usize) -> Bytes {
    let mut out = String::from("[");
    let mut i = 0;
    while out.len() + 120 < bytes {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            "{{\"id\":\"{:024x}\",\"title\":\"Assessment {i}\",\"status\":\"open\",\"score\":{}}}",
            i * 7919,
            (i * 37) % 100
        ));
        i += 1;
    }
    out.push(']');
    while out.len() < bytes {
        out.insert(out.len() - 1, ' ');
    }
    Bytes::from(out)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mid = v.len() / 2;
    if v.len() % 2 == 0 {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

/// `n` requests through `router`, spread over `concurrency` tasks; the elapsed time.
fn batch(rt: &Runtime, router: &Router, zstd: bool, n: u64, concurrency: u64) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..concurrency)
            .map(|t| {
                let router = router.clone();
                let share = n / concurrency + u64::from(t < n % concurrency);
                tokio::spawn(async move {
                    for _ in 0..share {
                        let mut req = Request::get("/list");
                        if zstd {
                            req = req.header("accept-encoding", "zstd");
                        }
                        let res = router
                            .clone()
                            .oneshot(req.body(Body::empty()).unwrap())
                            .await
                            .unwrap();
                        assert!(res.status().is_success());
                        black_box(res.into_body().collect().await.unwrap().to_bytes());
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        start.elapsed()
    })
}

struct Case {
    name: &'static str,
    router: Router,
}

fn paired(rt: &Runtime, title: &str, cases: &[Case], zstd: bool, concurrency: u64, rounds: usize) {
    println!("\n## {title}");
    let target = Duration::from_millis(50);
    let sizes: Vec<u64> = cases
        .iter()
        .map(|case| {
            batch(rt, &case.router, zstd, concurrency * 4, concurrency);
            let mut n = concurrency * 4;
            loop {
                let t = batch(rt, &case.router, zstd, n, concurrency);
                if t >= target / 4 {
                    let per = t.as_nanos() as f64 / n as f64;
                    break ((target.as_nanos() as f64 / per) as u64).max(concurrency);
                }
                n *= 4;
            }
        })
        .collect();
    let k = cases.len();
    let mut rps = vec![Vec::new(); k];
    let mut ratios = vec![Vec::new(); k];
    for round in 0..rounds {
        let mut this = vec![0.0; k];
        for j in 0..k {
            let i = (round + j) % k;
            let t = batch(rt, &cases[i].router, zstd, sizes[i], concurrency);
            this[i] = sizes[i] as f64 / t.as_secs_f64();
        }
        for i in 0..k {
            rps[i].push(this[i]);
            ratios[i].push(this[i] / this[0]);
        }
    }
    println!("| variant | req/s (median) | ratio to {} |", cases[0].name);
    println!("|---|---|---|");
    for i in 0..k {
        println!(
            "| {} | {:.0} | {:.3} |",
            cases[i].name,
            median(&mut rps[i]),
            median(&mut ratios[i])
        );
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 5 } else { 15 };
    if std::env::args().any(|a| a == "--tcp") {
        tcp(rounds);
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = inframind_test_support::RedisServer::start().expect("redis-server");
    let url = server.url();
    if let Ok(variant) = std::env::var("HOT_TIER_PROFILE") {
        // For profilers: one variant (0 raw GET, 1 RedisStore, 2 hot tier, 3 MemoryStore),
        // 15 KiB identity at C = 64, for about 200 000 requests.
        let cases = rt.block_on(cases(&url, "profile", json(15 * 1024)));
        let case = &cases[variant.parse::<usize>().expect("a variant index")];
        batch(&rt, &case.router, false, 200_000, 64);
        return;
    }
    println!("# Redis hot tier ({rounds} paired rounds of ~50 ms per variant)");
    for (label, size) in [("15 KiB", 15 * 1024), ("150 KiB", 150 * 1024)] {
        let body = json(size);
        let cases = rt.block_on(cases(&url, label, body.clone()));
        for (client, zstd) in [("identity", false), ("zstd", true)] {
            paired(
                &rt,
                &format!("{label} JSON, {client} client, C = 64"),
                &cases,
                zstd,
                64,
                rounds,
            );
        }
        if size == 15 * 1024 {
            paired(
                &rt,
                &format!("{label} JSON, identity client, C = 1"),
                &cases,
                false,
                1,
                rounds,
            );
        }
    }
}

async fn cases(url: &str, label: &str, body: Bytes) -> Vec<Case> {
    let handler = {
        let body = body.clone();
        move || {
            let body = body.clone();
            async move { ([(http::header::CONTENT_TYPE, "application/json")], body) }
        }
    };
    // The raw route reads the plain body from a key of its own, on a connection of its own.
    let raw_key = format!("bench:raw:{label}");
    let client = redis::Client::open(url).unwrap();
    let mut raw_conn = ConnectionManager::new(client).await.unwrap();
    redis::cmd("SET")
        .arg(&raw_key)
        .arg(body.as_ref())
        .query_async::<()>(&mut raw_conn)
        .await
        .unwrap();
    let raw_key: Arc<str> = Arc::from(raw_key);
    let raw = Router::new().route(
        "/list",
        get(move || {
            let (mut conn, key) = (raw_conn.clone(), Arc::clone(&raw_key));
            async move {
                let bytes: Vec<u8> = redis::cmd("GET")
                    .arg(&*key)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                (
                    [(http::header::CONTENT_TYPE, "application/json")],
                    Bytes::from(bytes),
                )
            }
        }),
    );
    let mut cases = vec![Case {
        name: "raw GET",
        router: raw,
    }];
    for (name, hot) in [
        ("RedisStore hit", 0),
        ("RedisStore + hot tier hit", 64 << 20),
    ] {
        let store = RedisStore::builder(url)
            .key_prefix(format!("bench:{label}:{hot}:"))
            .hot_tier(hot)
            .connect()
            .await
            .unwrap();
        let layer = CacheLayer::builder(store)
            .ttl(Duration::from_secs(3600))
            .prefix("assessments:list")
            .build()
            .unwrap();
        cases.push(Case {
            name,
            router: Router::new().route("/list", get(handler.clone()).layer(layer)),
        });
    }
    let memory = CacheLayer::builder(MemoryStore::new())
        .ttl(Duration::from_secs(3600))
        .prefix("assessments:list")
        .build()
        .unwrap();
    cases.push(Case {
        name: "MemoryStore hit",
        router: Router::new().route("/list", get(handler).layer(memory)),
    });
    // Fill each cache, and check that what follows are hits.
    for case in &cases[1..] {
        for _ in 0..2 {
            let res = case
                .router
                .clone()
                .oneshot(Request::get("/list").body(Body::empty()).unwrap())
                .await
                .unwrap();
            black_box(res.into_body().collect().await.unwrap().to_bytes());
        }
        let res = case
            .router
            .clone()
            .oneshot(Request::get("/list").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.headers()["x-cache"], "HIT", "{}", case.name);
        assert_eq!(
            res.into_body().collect().await.unwrap().to_bytes(),
            body,
            "{}",
            case.name
        );
    }
    cases
}

/// The 15 KiB identity case over loopback TCP, paired as the in-process cases are.
fn tcp(rounds: usize) {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = inframind_test_support::RedisServer::start().expect("redis-server");
    let url = server.url();
    let body = json(15 * 1024);
    let routes = server_rt.block_on(cases(&url, "tcp", body));
    let names: Vec<&str> = routes.iter().map(|case| case.name).collect();
    let mut app = Router::new();
    for (i, case) in routes.into_iter().enumerate() {
        app = app.nest_service(&format!("/{i}"), case.router);
    }
    let listener = server_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    server_rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    println!("# Redis hot tier over TCP ({rounds} paired rounds of ~300 ms per variant)");
    println!("\n## 15 KiB JSON, identity client, C = 64, HTTP/1.1 keep-alive on loopback");
    let window = Duration::from_millis(300);
    let k = names.len();
    for i in 0..k {
        client_rt.block_on(load(addr, i, 64, Duration::from_millis(100)));
    }
    let mut rps = vec![Vec::new(); k];
    let mut ratios = vec![Vec::new(); k];
    for round in 0..rounds {
        let mut this = vec![0.0; k];
        for j in 0..k {
            let i = (round + j) % k;
            this[i] = client_rt.block_on(load(addr, i, 64, window));
        }
        for i in 0..k {
            rps[i].push(this[i]);
            ratios[i].push(this[i] / this[0]);
        }
    }
    println!("| variant | req/s (median) | ratio to {} |", names[0]);
    println!("|---|---|---|");
    for i in 0..k {
        println!(
            "| {} | {:.0} | {:.3} |",
            names[i],
            median(&mut rps[i]),
            median(&mut ratios[i])
        );
    }
}

/// `concurrency` keep-alive connections sending `GET /{route}/list` for `window`; requests
/// per second.
async fn load(
    addr: std::net::SocketAddr,
    route: usize,
    concurrency: usize,
    window: Duration,
) -> f64 {
    let path: Arc<str> = Arc::from(format!("/{route}/list"));
    let mut connections = Vec::new();
    for _ in 0..concurrency {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(conn);
        connections.push(sender);
    }
    let start = Instant::now();
    let deadline = start + window;
    let tasks: Vec<_> = connections
        .into_iter()
        .map(|mut sender| {
            let path = Arc::clone(&path);
            tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    sender.ready().await.unwrap();
                    let req = Request::get(&*path)
                        .header("host", "127.0.0.1")
                        .body(http_body_util::Empty::<Bytes>::new())
                        .unwrap();
                    let res = sender.send_request(req).await.unwrap();
                    assert!(res.status().is_success());
                    black_box(res.into_body().collect().await.unwrap().to_bytes());
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}
