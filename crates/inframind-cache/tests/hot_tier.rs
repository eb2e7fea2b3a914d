//! The Redis hot tier (`RedisStoreBuilder::hot_tier`): two "replicas" (layers on separate
//! stores, each with its own tier, on one Redis prefix) never serve a body that a write
//! through the other has replaced, whatever the invalidation, under bursts and outages.
#![cfg(feature = "redis")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use http::{Method, Request};
use inframind_cache::{CacheLayer, HotTierStats, RedisStore};
use inframind_test_support::{RedisServer, TestRedis};

const NAMESPACE: &str = "assessments:list";
const LIST: &str = "/api/assessments";

/// An origin whose body carries a version that a `POST` (or the test) moves on; the body is
/// over the compression threshold, so identity clients are served a decompressed body.
fn versioned() -> (Origin, Arc<AtomicU64>) {
    let version = Arc::new(AtomicU64::new(0));
    let current = Arc::clone(&version);
    let origin = Origin::new(move |req, _| {
        let v = if req.method() == Method::POST {
            current.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            current.load(Ordering::SeqCst)
        };
        Reply::ok(format!(
            "{{\"version\":{v},\"items\":\"{}\"}}",
            "assessment ".repeat(200)
        ))
    });
    (origin, version)
}

fn version_of(got: &Got) -> u64 {
    let text = got.text();
    let rest = text
        .strip_prefix("{\"version\":")
        .unwrap_or_else(|| panic!("not a versioned body: {text:.60}"));
    rest[..rest.find(',').unwrap()].parse().unwrap()
}

struct Replica {
    layer: CacheLayer,
    svc: Cached,
}

impl Replica {
    async fn on(url: &str, prefix: &str, origin: &Origin, ttl: Duration, hot_bytes: u64) -> Self {
        let store = RedisStore::builder(url)
            .key_prefix(prefix)
            .timeout(Duration::from_millis(300))
            .hot_tier(hot_bytes)
            .connect()
            .await
            .expect("connect to Redis");
        let layer = CacheLayer::builder(store)
            .prefix(NAMESPACE)
            .ttl(ttl)
            .invalidate_on_unsafe(true)
            .build()
            .unwrap();
        let svc = service(&layer, origin);
        Self { layer, svc }
    }

    async fn read(&self) -> Got {
        send(&self.svc, get(LIST)).await
    }

    fn hot(&self) -> HotTierStats {
        self.layer
            .handle()
            .stats()
            .hot_tier
            .expect("the tier is on")
    }
}

async fn pair(redis: &TestRedis, origin: &Origin) -> (Replica, Replica) {
    let ttl = Duration::from_secs(60);
    let a = Replica::on(redis.url(), redis.prefix(), origin, ttl, 8 << 20).await;
    let b = Replica::on(redis.url(), redis.prefix(), origin, ttl, 8 << 20).await;
    (a, b)
}

/// A fills the entry, B reads it whole from Redis and then from its tier: both hold `version`.
async fn both_hold(a: &Replica, b: &Replica, version: u64) {
    let first = a.read().await;
    assert_eq!(version_of(&first), version);
    for _ in 0..2 {
        let got = b.read().await;
        assert_eq!(got.x_cache(), "HIT");
        assert_eq!(version_of(&got), version);
    }
    let got = a.read().await;
    assert_eq!((got.x_cache(), version_of(&got)), ("HIT", version));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_come_from_the_tier_for_identity_and_zstd_clients() {
    let redis = inframind_test_support::redis();
    let (origin, _) = versioned();
    let (a, b) = pair(&redis, &origin).await;
    both_hold(&a, &b, 0).await;
    let hot = b.hot();
    assert!(hot.hits >= 1, "{hot:?}");
    assert_eq!(hot.entries, 1, "{hot:?}");
    assert!(hot.bytes > 0 && hot.bytes <= hot.max_bytes, "{hot:?}");

    let plain = b.read().await;
    let mut req = get(LIST);
    req.headers_mut()
        .insert("accept-encoding", "zstd".parse().unwrap());
    let zstd = send(&b.svc, req).await;
    assert_eq!(zstd.x_cache(), "HIT");
    assert_eq!(zstd.headers["content-encoding"], "zstd");
    let decoded = zstd::decode_all(&zstd.body[..]).unwrap();
    assert_eq!(decoded, plain.body);
    assert_eq!(
        plain.headers["content-length"],
        plain.body.len().to_string()
    );
    assert!(b.hot().hits >= hot.hits + 2);

    // Conditional and HEAD requests are answered from the tier's entry too.
    let mut req = get(LIST);
    let etag = plain.headers["etag"].clone();
    req.headers_mut().insert("if-none-match", etag);
    let not_modified = send(&b.svc, req).await;
    assert_eq!(not_modified.status, http::StatusCode::NOT_MODIFIED);
    assert_eq!(not_modified.x_cache(), "HIT");
    let head = send(&b.svc, Request::head(LIST).body(()).unwrap()).await;
    assert_eq!((head.x_cache(), head.body.len()), ("HIT", 0));
    assert!(b.hot().hits >= hot.hits + 4);
    assert_eq!(origin.calls(), 1);
}

/// Reads cancelled at random points (mid round trip, mid fill) while writes go on leave
/// nothing behind that a later read could be served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_reads_leave_no_old_body_behind() {
    let redis = inframind_test_support::redis();
    let (origin, version) = versioned();
    let (a, b) = pair(&redis, &origin).await;
    let replicas = Arc::new([a, b]);
    for write in 0..20u64 {
        let mut cancelled = Vec::new();
        for i in 0..16u64 {
            let replicas = Arc::clone(&replicas);
            cancelled.push(tokio::spawn(async move {
                let budget = Duration::from_micros(50 + (i * 97 + write * 31) % 900);
                let _ = tokio::time::timeout(budget, replicas[(i % 2) as usize].read()).await;
            }));
        }
        let replica = &replicas[(write % 2) as usize];
        version.store(write + 1, Ordering::SeqCst);
        replica
            .layer
            .handle()
            .invalidate_namespace(NAMESPACE)
            .await
            .unwrap();
        for task in cancelled {
            task.await.unwrap();
        }
        for replica in replicas.iter() {
            let got = replica.read().await;
            // Collapsed answers included: a read never joins a flight begun before a write
            // it follows.
            assert_eq!(version_of(&got), write + 1, "{}", got.cache_status());
        }
    }
    for replica in replicas.iter() {
        let got = replica.read().await;
        assert_eq!((got.x_cache(), version_of(&got)), ("HIT", 20));
    }
    assert!(replicas.iter().all(|r| r.hot().hits > 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_namespace_through_one_replica_reaches_the_others_tier() {
    let redis = inframind_test_support::redis();
    let (origin, version) = versioned();
    let (a, b) = pair(&redis, &origin).await;
    both_hold(&a, &b, 0).await;

    version.store(1, Ordering::SeqCst);
    a.layer
        .handle()
        .invalidate_namespace("assessments")
        .await
        .unwrap();
    let got = b.read().await;
    assert_eq!((got.x_cache(), version_of(&got)), ("MISS", 1));
    // A's tier holds the old entry; Redis holds B's new one.
    let got = a.read().await;
    assert_eq!((got.x_cache(), version_of(&got)), ("HIT", 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_key_through_one_replica_reaches_the_others_tier() {
    let redis = inframind_test_support::redis();
    let (origin, version) = versioned();
    let (a, b) = pair(&redis, &origin).await;
    both_hold(&a, &b, 0).await;
    let key = a.layer.key_for(&get(LIST)).unwrap();

    // Deleted: B's tier finds it gone.
    version.store(1, Ordering::SeqCst);
    assert!(a.layer.handle().invalidate_key(&key).await.unwrap());
    let got = b.read().await;
    assert_eq!((got.x_cache(), version_of(&got)), ("MISS", 1));

    // Deleted and filled again by A under the same generations: B's tier finds another
    // entry there.
    version.store(2, Ordering::SeqCst);
    assert!(a.layer.handle().invalidate_key(&key).await.unwrap());
    assert_eq!(version_of(&a.read().await), 2);
    let got = b.read().await;
    assert_eq!((got.x_cache(), version_of(&got)), ("HIT", 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_matching_through_one_replica_reaches_the_others_tier() {
    let redis = inframind_test_support::redis();
    let (origin, version) = versioned();
    let (a, b) = pair(&redis, &origin).await;
    both_hold(&a, &b, 0).await;

    version.store(1, Ordering::SeqCst);
    let deleted = a
        .layer
        .handle()
        .invalidate_matching("assessments:*")
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    let got = b.read().await;
    assert_eq!((got.x_cache(), version_of(&got)), ("MISS", 1));
    let got = a.read().await;
    assert_eq!((got.x_cache(), version_of(&got)), ("HIT", 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsafe_request_through_one_replica_reaches_the_others_tier() {
    let redis = inframind_test_support::redis();
    let (origin, _) = versioned();
    let (a, b) = pair(&redis, &origin).await;
    both_hold(&a, &b, 0).await;

    let post = Request::post(LIST).body(()).unwrap();
    let created = send(&a.svc, post).await;
    assert!(created.status.is_success());
    assert_eq!(version_of(&created), 1);
    let got = b.read().await;
    assert_eq!((got.x_cache(), version_of(&got)), ("MISS", 1));
    let got = a.read().await;
    assert_eq!((got.x_cache(), version_of(&got)), ("HIT", 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tier_entry_is_not_served_past_its_ttl() {
    let redis = inframind_test_support::redis();
    let (origin, version) = versioned();
    let ttl = Duration::from_millis(1000);
    let a = Replica::on(redis.url(), redis.prefix(), &origin, ttl, 8 << 20).await;
    let b = Replica::on(redis.url(), redis.prefix(), &origin, ttl, 8 << 20).await;
    both_hold(&a, &b, 0).await;
    // The origin changes without an invalidation: only expiry lets it through.
    version.store(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let got = b.read().await;
    assert_eq!((got.x_cache(), version_of(&got)), ("MISS", 1));
    let got = a.read().await;
    assert_eq!((got.x_cache(), version_of(&got)), ("HIT", 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_an_outage_the_tier_serves_nothing_and_after_it_nothing_old() {
    let mut server = RedisServer::start().expect("redis-server");
    let url = server.url();
    let (origin, version) = versioned();
    let ttl = Duration::from_secs(60);
    let a = Replica::on(&url, "", &origin, ttl, 8 << 20).await;
    let b = Replica::on(&url, "", &origin, ttl, 8 << 20).await;
    both_hold(&a, &b, 0).await;

    server.stop();
    version.store(1, Ordering::SeqCst);
    for replica in [&a, &b] {
        let got = replica.read().await;
        assert_eq!(got.status, http::StatusCode::OK);
        assert_eq!(got.x_cache(), "MISS", "{}", got.cache_status());
        assert!(
            got.cache_status().contains("store-error"),
            "{}",
            got.cache_status()
        );
        assert_eq!(version_of(&got), 1);
    }

    // Back, empty: what the tiers hold is gone from Redis, so it is never served again.
    server.restart().expect("restart redis-server");
    version.store(2, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    for replica in [&b, &a] {
        loop {
            let got = replica.read().await;
            assert_eq!(got.status, http::StatusCode::OK);
            assert_eq!(version_of(&got), 2, "{}", got.cache_status());
            if got.x_cache() == "HIT" {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "hits never resumed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tier_stays_within_its_byte_bound() {
    let redis = inframind_test_support::redis();
    // Bodies that compress poorly: each entry costs its encoded and plain bodies.
    let origin = Origin::new(|req, n| {
        let seed = blake3::hash(req.uri().path().as_bytes());
        let mut body = String::with_capacity(8192);
        let mut block = *seed.as_bytes();
        while body.len() < 8000 {
            block = *blake3::hash(&block).as_bytes();
            for byte in block {
                body.push_str(&format!("{byte:02x}"));
            }
        }
        Reply::ok(format!("{{\"call\":{n},\"data\":\"{body}\"}}"))
    });
    let max_bytes = 256 * 1024;
    let store = RedisStore::builder(redis.url())
        .key_prefix(redis.prefix())
        .hot_tier(max_bytes)
        .connect()
        .await
        .unwrap();
    let layer = CacheLayer::builder(store).build().unwrap();
    let svc = service(&layer, &origin);
    for i in 0..120 {
        let got = send(&svc, get(&format!("/items/{i}"))).await;
        assert_eq!(got.x_cache(), "MISS");
        let hot = layer.handle().stats().hot_tier.unwrap();
        assert!(hot.bytes <= max_bytes, "after {i}: {hot:?}");
    }
    let hot = layer.handle().stats().hot_tier.unwrap();
    assert!(hot.entries > 4 && hot.entries < 120, "{hot:?}");
    // Evicted entries are still served, whole from Redis.
    for i in 0..120 {
        let got = send(&svc, get(&format!("/items/{i}"))).await;
        assert_eq!(got.x_cache(), "HIT");
        assert!(layer.handle().stats().hot_tier.unwrap().bytes <= max_bytes);
    }
    assert_eq!(origin.calls(), 120);
}

/// Readers on both replicas while writes (namespace invalidations and unsafe requests) go
/// through either: a read that starts after a write has returned never sees an older body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_of_reads_never_see_a_body_older_than_the_last_completed_write() {
    let redis = inframind_test_support::redis();
    let (origin, version) = versioned();
    let (a, b) = pair(&redis, &origin).await;
    let replicas = Arc::new([a, b]);
    let committed = Arc::new(AtomicU64::new(0));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let mut readers = Vec::new();
    for reader in 0..8usize {
        let (replicas, committed, done) = (
            Arc::clone(&replicas),
            Arc::clone(&committed),
            Arc::clone(&done),
        );
        readers.push(tokio::spawn(async move {
            let mut reads = 0u64;
            while !done.load(Ordering::SeqCst) {
                let floor = committed.load(Ordering::SeqCst);
                let got = replicas[(reader + reads as usize) % 2].read().await;
                let seen = version_of(&got);
                assert!(
                    seen >= floor,
                    "read {seen} after write {floor} had returned ({})",
                    got.x_cache()
                );
                reads += 1;
                // A hit served without any I/O never yields: let the writer run.
                tokio::task::yield_now().await;
            }
            reads
        }));
    }
    for write in 0..40usize {
        let replica = &replicas[write % 2];
        let new = if write % 3 == 0 {
            let post = Request::post(LIST).body(()).unwrap();
            version_of(&send(&replica.svc, post).await)
        } else {
            let new = version.fetch_add(1, Ordering::SeqCst) + 1;
            replica
                .layer
                .handle()
                .invalidate_namespace(NAMESPACE)
                .await
                .unwrap();
            new
        };
        committed.store(new, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    done.store(true, Ordering::SeqCst);
    let mut reads = 0;
    for reader in readers {
        reads += reader.await.expect("a reader saw an old body");
    }
    let hits: u64 = replicas.iter().map(|r| r.hot().hits).sum();
    assert!(reads > 100 && hits > 0, "reads {reads}, tier hits {hits}");
}

mod model {
    //! Sequences of reads and writes through two replicas, against the model: every read
    //! returns the origin's current version.
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Read(usize),
        /// The origin changes and replica `.0` invalidates as `.1` says.
        Write(usize, Invalidation),
    }

    #[derive(Debug, Clone, Copy)]
    enum Invalidation {
        Namespace,
        Key,
        Matching,
        Unsafe,
    }

    fn op() -> impl Strategy<Value = Op> {
        let invalidation = prop_oneof![
            Just(Invalidation::Namespace),
            Just(Invalidation::Key),
            Just(Invalidation::Matching),
            Just(Invalidation::Unsafe),
        ];
        prop_oneof![
            3 => (0..2usize).prop_map(Op::Read),
            1 => (0..2usize, invalidation).prop_map(|(r, i)| Op::Write(r, i)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn two_replicas_serve_what_the_model_allows(ops in proptest::collection::vec(op(), 1..24)) {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let redis = inframind_test_support::redis();
                let (origin, version) = versioned();
                let (a, b) = pair(&redis, &origin).await;
                let replicas = [a, b];
                for op in ops {
                    match op {
                        Op::Read(r) => {
                            let got = replicas[r].read().await;
                            assert_eq!(version_of(&got), version.load(Ordering::SeqCst));
                        }
                        Op::Write(r, invalidation) => {
                            let replica = &replicas[r];
                            let handle = replica.layer.handle();
                            if !matches!(invalidation, Invalidation::Unsafe) {
                                version.fetch_add(1, Ordering::SeqCst);
                            }
                            match invalidation {
                                Invalidation::Namespace => {
                                    handle.invalidate_namespace("assessments").await.unwrap();
                                }
                                Invalidation::Key => {
                                    let key = replica.layer.key_for(&get(LIST)).unwrap();
                                    handle.invalidate_key(&key).await.unwrap();
                                }
                                Invalidation::Matching => {
                                    handle.invalidate_matching("assessments:list:*").await.unwrap();
                                }
                                Invalidation::Unsafe => {
                                    let post = Request::post(LIST).body(()).unwrap();
                                    assert!(send(&replica.svc, post).await.status.is_success());
                                }
                            }
                        }
                    }
                }
            });
        }
    }
}
