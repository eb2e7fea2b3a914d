//! inframind-cache benchmarks (figures in docs/benchmarks.md).
//!
//! ```sh
//! cargo bench -p inframind-cache --features redis --bench cache      # everything
//! cargo bench -p inframind-cache --bench cache -- --quick            # fewer paired rounds
//! cargo bench -p inframind-cache --bench cache -- --only paired      # paired comparisons only
//! cargo bench -p inframind-cache --bench cache -- --only micro       # key building and zstd
//! ```
//!
//! Paired comparisons (docs/benchmarking.md's method): every round runs each variant for a
//! batch of about 20 ms, in rotating order; the figures are the medians over rounds of each
//! variant's time per request and of its ratio to the baseline measured in the same round.
//!
//! 1. A MemoryStore hit for a 10 KiB JSON body on an axum route, against the bare route
//!    returning the same bytes, and against an `axum-response-cache` hit on the same route.
//! 2. A miss (a new query string every request, so every request runs the handler, buffers the
//!    body and stores it) against the bare route.
//! 3. A RedisStore hit on loopback against a raw `GET` of the same stored bytes on the same
//!    connection (a private `redis-server`).
//! 4. Key building (blake3) and zstd compress / decompress of 1, 10 and 100 KiB JSON.
//! 5. Invalidating a namespace of 100k entries on Redis: a generation bump against
//!    `SCAN` + `UNLINK` of the same keys.

#![allow(clippy::print_stdout, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;
#[cfg(feature = "redis")]
use inframind_cache::{CacheHandle, RedisStore};
use inframind_cache::{CacheLayer, CachePrincipal, MemoryStore};
use tokio::runtime::Runtime;
use tower::ServiceExt;

struct Options {
    rounds: usize,
    batch: Duration,
    only: Option<String>,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    Options {
        rounds: if quick { 10 } else { 30 },
        batch: Duration::from_millis(20),
        only,
    }
}

fn json(bytes: usize) -> Bytes {
    let mut out = String::from("[");
    let mut i = 0;
    while out.len() + 80 < bytes {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            "{{\"id\":{i},\"title\":\"Assessment {i}\",\"status\":\"open\",\"score\":{}}}",
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

/// A variant: runs `n` requests and returns the elapsed time.
type Variant<'a> = (&'static str, Box<dyn FnMut(u64) -> Duration + 'a>);

fn calibrate(f: &mut dyn FnMut(u64) -> Duration, batch: Duration) -> u64 {
    let mut n = 1;
    loop {
        let t = f(n);
        if t >= batch / 4 || n >= 1 << 24 {
            let per = t.as_nanos().max(1) as f64 / n as f64;
            return ((batch.as_nanos() as f64 / per) as u64).max(1);
        }
        n *= 4;
    }
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

/// Runs the variants in rotating order; the first is the baseline. With `peer`, also the
/// per-round ratio of each variant to that one.
fn paired(title: &str, opts: &Options, mut variants: Vec<Variant<'_>>, peer: Option<usize>) {
    println!("\n## {title}");
    let sizes: Vec<u64> = variants
        .iter_mut()
        .map(|(_, f)| {
            f(16); // warm up
            calibrate(f.as_mut(), opts.batch)
        })
        .collect();
    let k = variants.len();
    let mut per_request: Vec<Vec<f64>> = vec![Vec::new(); k];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); k];
    let mut deltas: Vec<Vec<f64>> = vec![Vec::new(); k];
    let mut to_peer: Vec<Vec<f64>> = vec![Vec::new(); k];
    for round in 0..opts.rounds {
        let mut this = vec![0.0; k];
        for j in 0..k {
            let i = (round + j) % k;
            let t = (variants[i].1)(sizes[i]);
            this[i] = t.as_nanos() as f64 / sizes[i] as f64;
        }
        for i in 0..k {
            per_request[i].push(this[i]);
            ratios[i].push(this[i] / this[0]);
            deltas[i].push(this[i] - this[0]);
            if let Some(p) = peer {
                to_peer[i].push(this[i] / this[p]);
            }
        }
    }
    let peer_name = peer.map(|p| variants[p].0);
    match peer_name {
        Some(name) => {
            println!(
                "| variant | ns/request (median) | ratio to {} | difference | ratio to {name} |",
                variants[0].0
            );
            println!("|---|---|---|---|---|");
        }
        None => {
            println!(
                "| variant | ns/request (median) | ratio to {} | difference |",
                variants[0].0
            );
            println!("|---|---|---|---|");
        }
    }
    for i in 0..k {
        let to_peer = if peer.is_some() {
            format!(" {:.3} |", median(&mut to_peer[i]))
        } else {
            String::new()
        };
        println!(
            "| {} | {:.0} | {:.3} | {:+.0} ns |{to_peer}",
            variants[i].0,
            median(&mut per_request[i]),
            median(&mut ratios[i]),
            median(&mut deltas[i]),
        );
    }
}

/// `n` GETs of `path(i)` through `router`, bodies collected.
fn router_batch(
    rt: &Runtime,
    router: &Router,
    n: u64,
    path: impl Fn(u64) -> String,
    principal: Option<&CachePrincipal>,
) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        for i in 0..n {
            let mut req = Request::get(path(i)).body(Body::empty()).unwrap();
            if let Some(p) = principal {
                req.extensions_mut().insert(p.clone());
            }
            let res = router.clone().oneshot(req).await.unwrap();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            black_box(body);
        }
        start.elapsed()
    })
}

fn memory_hits(opts: &Options) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = json(10 * 1024);
    let handler = move || {
        let body = body.clone();
        async move { ([(http::header::CONTENT_TYPE, "application/json")], body) }
    };
    let bare = Router::new().route("/data", get(handler.clone()));
    let ours_layer = CacheLayer::builder(MemoryStore::new())
        .ttl(Duration::from_secs(3600))
        .prefix("bench")
        .build()
        .unwrap();
    let ours = Router::new().route("/data", get(handler.clone()).layer(ours_layer.clone()));
    let per_user_layer = ours_layer
        .handle()
        .layer()
        .ttl(Duration::from_secs(3600))
        .prefix("bench:user")
        .per_user()
        .build()
        .unwrap();
    let ours_user = Router::new().route("/data", get(handler.clone()).layer(per_user_layer));
    let peer = Router::new().route(
        "/data",
        get(handler.clone()).layer(axum_response_cache::CacheLayer::with_lifespan(
            Duration::from_secs(3600),
        )),
    );
    let alice = CachePrincipal::new("alice");
    let path = |_| "/data".to_owned();
    // Warm every cache, and check the hits are hits.
    for router in [&ours, &peer] {
        router_batch(&rt, router, 2, path, None);
    }
    router_batch(&rt, &ours_user, 2, path, Some(&alice));
    let res = rt.block_on(
        ours.clone()
            .oneshot(Request::get("/data").body(Body::empty()).unwrap()),
    );
    assert_eq!(res.unwrap().headers()["x-cache"], "HIT");
    let hits_before = ours_layer.handle().stats().hits;

    if let Ok(spec) = std::env::var("CACHE_BENCH_COUNT") {
        // For `valgrind --tool=callgrind`: run one variant `n` times and exit; the difference
        // between two counts gives instructions per request, without setup.
        let (variant, n) = spec.split_once(':').expect("CACHE_BENCH_COUNT=variant:n");
        let n: u64 = n.parse().expect("a count");
        match variant {
            "bare" => router_batch(&rt, &bare, n, path, None),
            "ours" => router_batch(&rt, &ours, n, path, None),
            "ours-user" => router_batch(&rt, &ours_user, n, path, Some(&alice)),
            "peer" => router_batch(&rt, &peer, n, path, None),
            other => panic!("unknown variant {other}"),
        };
        return;
    }
    if std::env::var_os("CACHE_BENCH_PROFILE_HIT").is_some() {
        // For profilers: only our hit path, for a few seconds.
        router_batch(&rt, &ours, 2_000_000, path, None);
        return;
    }
    paired(
        "MemoryStore hit, 10 KiB JSON, axum route (current-thread runtime)",
        opts,
        vec![
            (
                "bare route",
                Box::new(|n| router_batch(&rt, &bare, n, path, None)),
            ),
            (
                "inframind-cache hit",
                Box::new(|n| router_batch(&rt, &ours, n, path, None)),
            ),
            (
                "inframind-cache hit, per-user key",
                Box::new(|n| router_batch(&rt, &ours_user, n, path, Some(&alice))),
            ),
            (
                "axum-response-cache 0.5 hit",
                Box::new(|n| router_batch(&rt, &peer, n, path, None)),
            ),
        ],
        Some(3),
    );
    let stats = ours_layer.handle().stats();
    assert!(stats.hits > hits_before && stats.misses == 2, "{stats:?}");
}

fn memory_misses(opts: &Options) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = json(10 * 1024);
    let handler = move || {
        let body = body.clone();
        async move { ([(http::header::CONTENT_TYPE, "application/json")], body) }
    };
    let bare = Router::new().route("/data", get(handler.clone()));
    // Misses: a new query every request.
    // A store small enough to be full: steady state, where evictions recycle memory (a store
    // still growing pays first-touch page faults instead).
    let miss_layer = CacheLayer::builder(MemoryStore::with_max_bytes(8 * 1024 * 1024))
        .ttl(Duration::from_secs(3600))
        .prefix("miss")
        .build()
        .unwrap();
    let miss = Router::new().route("/data", get(handler).layer(miss_layer.clone()));
    let counter = std::cell::Cell::new(0u64);
    let fresh = |_| {
        counter.set(counter.get() + 1);
        format!("/data?page={}", counter.get())
    };
    if let Some(n) = std::env::var("CACHE_BENCH_COUNT")
        .ok()
        .and_then(|spec| spec.strip_prefix("miss:")?.parse::<u64>().ok())
    {
        // For callgrind, as the hit variants (run with `--only miss`).
        router_batch(&rt, &miss, n, fresh, None);
        return;
    }
    if std::env::var_os("CACHE_BENCH_PROFILE_MISS").is_some() {
        router_batch(&rt, &miss, 500_000, fresh, None);
        return;
    }
    paired(
        "Miss (handler runs, body buffered and stored in a MemoryStore), 10 KiB JSON",
        opts,
        vec![
            (
                "bare route",
                Box::new(|n| router_batch(&rt, &bare, n, fresh, None)),
            ),
            (
                "inframind-cache miss",
                Box::new(|n| router_batch(&rt, &miss, n, fresh, None)),
            ),
        ],
        None,
    );
    let stats = miss_layer.handle().stats();
    assert_eq!(stats.hits, 0, "{stats:?}");
}

#[cfg(feature = "redis")]
fn redis_hits(opts: &Options, server: &inframind_test_support::RedisServer) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = json(10 * 1024);
    let store = rt.block_on(RedisStore::connect(server.url())).unwrap();
    let mut raw = store.connection();
    let layer = CacheLayer::builder(store.clone())
        .ttl(Duration::from_secs(3600))
        .prefix("bench:redis")
        .build()
        .unwrap();
    let handler = {
        let body = body.clone();
        move || {
            let body = body.clone();
            async move { ([(http::header::CONTENT_TYPE, "application/json")], body) }
        }
    };
    let ours = Router::new().route("/data", get(handler).layer(layer.clone()));
    let path = |_| "/data".to_owned();
    router_batch(&rt, &ours, 2, path, None);
    // The Redis key the entry lives under (`{prefix}@e:{key}`).
    let key = store.redis_key(
        &layer
            .key_for(&Request::get("/data").body(()).unwrap())
            .unwrap(),
    );
    let stored: Vec<u8> = rt
        .block_on(redis::cmd("GET").arg(&key).query_async(&mut raw))
        .unwrap();
    assert!(!stored.is_empty(), "the raw GET must read the stored entry");
    println!(
        "\nRedis entry: {} bytes for a {} byte body (zstd above 1 KiB)",
        stored.len(),
        body.len()
    );
    paired(
        "RedisStore hit on loopback vs a raw GET of the same bytes on the same connection",
        opts,
        vec![
            (
                "raw GET",
                Box::new(|n| {
                    rt.block_on(async {
                        let start = Instant::now();
                        for _ in 0..n {
                            let v: Vec<u8> = redis::cmd("GET")
                                .arg(&key)
                                .query_async(&mut raw.clone())
                                .await
                                .unwrap();
                            black_box(v);
                        }
                        start.elapsed()
                    })
                }),
            ),
            (
                "inframind-cache hit (plain client)",
                Box::new(|n| router_batch(&rt, &ours, n, path, None)),
            ),
        ],
        None,
    );
    let stats = layer.handle().stats();
    assert_eq!((stats.misses, stats.store_errors), (1, 0), "{stats:?}");
}

#[cfg(feature = "redis")]
fn invalidation(server: &inframind_test_support::RedisServer) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = rt.block_on(RedisStore::connect(server.url())).unwrap();
    let mut conn = store.connection();
    let handle = CacheHandle::new(store.clone());
    let layer = handle.layer().prefix("inv").build().unwrap();
    let value = vec![b'x'; 200];
    let fill = |conn: &mut redis::aio::ConnectionManager| {
        rt.block_on(async {
            for chunk in 0..10 {
                let mut pipe = redis::pipe();
                for i in chunk * 10_000..(chunk + 1) * 10_000 {
                    let key = layer
                        .key_for(&Request::get(format!("/item/{i}")).body(()).unwrap())
                        .unwrap();
                    pipe.cmd("SET")
                        .arg(store.redis_key(&key))
                        .arg(&value)
                        .ignore();
                }
                let _: () = pipe.query_async(conn).await.unwrap();
            }
        });
    };
    println!("\n## Invalidating a namespace of 100k entries on Redis (3 runs each)");
    println!("| method | run 1 | run 2 | run 3 |");
    println!("|---|---|---|---|");
    let mut bump = Vec::new();
    let mut scan = Vec::new();
    for _ in 0..3 {
        fill(&mut conn);
        let start = Instant::now();
        rt.block_on(handle.invalidate_namespace("inv")).unwrap();
        bump.push(start.elapsed());
        let start = Instant::now();
        let deleted = rt.block_on(handle.invalidate_matching("in?:*")).unwrap();
        scan.push(start.elapsed());
        assert_eq!(deleted, 100_000);
    }
    let fmt = |v: &[Duration]| {
        v.iter()
            .map(|d| format!("{:.3} ms", d.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    println!("| generation bump (`inv:*`) | {} |", fmt(&bump));
    println!("| SCAN + UNLINK (`in?:*`) | {} |", fmt(&scan));
}

fn micro(opts: &Options) {
    println!(
        "\n## Key building and zstd (median of {} batches)",
        opts.rounds
    );
    let layer = CacheLayer::builder(MemoryStore::new())
        .prefix("assessments:list")
        .vary(http::header::ACCEPT_LANGUAGE)
        .per_user()
        .build()
        .unwrap();
    let mut req = Request::get("/api/assessments?sort=created&page=3&status=open")
        .header("accept-language", "en")
        .body(())
        .unwrap();
    req.extensions_mut().insert(CachePrincipal::new("user-42"));
    let time = |f: &mut dyn FnMut(u64) -> Duration| {
        let n = calibrate(f, opts.batch);
        let mut v: Vec<f64> = (0..opts.rounds.min(15))
            .map(|_| f(n).as_nanos() as f64 / n as f64)
            .collect();
        median(&mut v)
    };
    let key_ns = time(&mut |n| {
        let start = Instant::now();
        for _ in 0..n {
            black_box(layer.key_for(black_box(&req)));
        }
        start.elapsed()
    });
    println!("| operation | time |");
    println!("|---|---|");
    println!("| key (method, path, 3-param query, 1 vary header, principal) | {key_ns:.0} ns |");
    let input = [7u8; 120];
    let blake_ns = time(&mut |n| {
        let start = Instant::now();
        for _ in 0..n {
            black_box(blake3::hash(black_box(&input)));
        }
        start.elapsed()
    });
    println!("| of which: blake3 of 120 bytes | {blake_ns:.0} ns |");
    let body = json(10 * 1024);
    let etag_ns = time(&mut |n| {
        let start = Instant::now();
        for _ in 0..n {
            black_box(blake3::hash(black_box(&body)));
        }
        start.elapsed()
    });
    println!(
        "| ETag: blake3 of a 10 KiB body (once per miss) | {:.2} µs |",
        etag_ns / 1e3
    );
    for kib in [1, 10, 100] {
        let data = json(kib * 1024);
        // Reused contexts, as the layer keeps one per thread.
        let mut compressor = zstd::bulk::Compressor::new(3).unwrap();
        let mut decompressor = zstd::bulk::Decompressor::new().unwrap();
        let packed = compressor.compress(&data).unwrap();
        let c = time(&mut |n| {
            let start = Instant::now();
            for _ in 0..n {
                black_box(compressor.compress(black_box(&data)).unwrap());
            }
            start.elapsed()
        });
        let d = time(&mut |n| {
            let start = Instant::now();
            for _ in 0..n {
                black_box(
                    decompressor
                        .decompress(black_box(&packed), data.len())
                        .unwrap(),
                );
            }
            start.elapsed()
        });
        println!(
            "| zstd level 3, {kib} KiB JSON → {} bytes: compress | {:.1} µs |",
            packed.len(),
            c / 1e3
        );
        println!("| zstd, {kib} KiB JSON: decompress | {:.1} µs |", d / 1e3);
    }
}

fn main() {
    let opts = options();
    let want = |name: &str| opts.only.as_deref().is_none_or(|o| o == name);
    println!(
        "# inframind-cache benchmarks ({} paired rounds of ~{} ms per variant)",
        opts.rounds,
        opts.batch.as_millis()
    );
    if want("micro") {
        micro(&opts);
    }
    if want("paired") || want("memory") {
        memory_hits(&opts);
    }
    if want("paired") || want("miss") {
        memory_misses(&opts);
    }
    #[cfg(not(feature = "redis"))]
    println!("\n(Redis benchmarks skipped: run with `--features redis`.)");
    #[cfg(feature = "redis")]
    if want("paired") || want("redis") || want("invalidation") {
        let server = inframind_test_support::RedisServer::start().expect("redis-server");
        if want("paired") || want("redis") {
            redis_hits(&opts, &server);
        }
        if opts.only.is_none() || want("invalidation") {
            invalidation(&server);
        }
    }
}
