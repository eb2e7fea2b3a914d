//! Regression tests for defects found by trying the crate as a demanding user would (issue 9),
//! each through the public API, on the in-process store and on real Redis.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use http::{Request, StatusCode};
use inframind_cache::{CacheHandle, CacheLayer, MemoryStore, Store};

/// A 300 ms origin that honours `If-None-Match` and `Range` as a real one does, and records
/// whether it ever saw either.
fn conditional_origin(saw_conditional: Arc<AtomicU64>) -> Origin {
    Origin::new(move |req: &Request<()>, n| {
        let h = req.headers();
        let body = format!("{{\"call\":{n},\"payload\":\"abcdefghij\"}}");
        let reply = |r: Reply| r.header("etag", "\"v1\"").delay(Duration::from_millis(300));
        if h.contains_key("if-none-match") || h.contains_key("range") {
            saw_conditional.fetch_add(1, Ordering::SeqCst);
        }
        if h.get("if-none-match")
            .is_some_and(|v| v.as_bytes() == b"\"v1\"")
        {
            return reply(Reply::ok("").status(StatusCode::NOT_MODIFIED));
        }
        if h.contains_key("range") {
            return reply(
                Reply::ok(body[0..2].to_owned())
                    .status(StatusCode::PARTIAL_CONTENT)
                    .header("content-range", format!("bytes 0-1/{}", body.len())),
            );
        }
        reply(Reply::ok(body))
    })
}

async fn a_conditional_leader_and_a_plain_waiter(header: &'static str, value: &'static str) {
    let saw = Arc::new(AtomicU64::new(0));
    let origin = conditional_origin(Arc::clone(&saw));
    let layer = CacheLayer::builder(MemoryStore::new()).build().unwrap();
    let svc = service(&layer, &origin);
    let a = {
        let svc = svc.clone();
        tokio::spawn(async move {
            let req = Request::get("/catalogue")
                .header(header, value)
                .body(())
                .unwrap();
            send(&svc, req).await
        })
    };
    tokio::time::sleep(Duration::from_millis(80)).await;
    let b = {
        let svc = svc.clone();
        tokio::spawn(async move { send(&svc, get("/catalogue")).await })
    };
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(b.status, StatusCode::OK, "B asked for the whole thing");
    assert!(b.text().contains("payload"), "B got {:?}", b.text());
    assert_eq!(origin.calls(), 1, "one fill for both");
    assert_eq!(
        saw.load(Ordering::SeqCst),
        0,
        "the shared fill was conditional"
    );
    if header == "if-none-match" {
        // A's own conditional, answered from the whole response.
        assert_eq!(a.status, StatusCode::NOT_MODIFIED);
        assert!(a.body.is_empty());
    } else {
        // A cache may answer a range request with the whole representation.
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.body, b.body);
    }
    // And the stored entry is the whole response.
    let c = send(&svc, get("/catalogue")).await;
    assert_eq!((c.status, c.x_cache()), (StatusCode::OK, "HIT"));
    assert_eq!(c.body, b.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_never_gets_the_leaders_304() {
    a_conditional_leader_and_a_plain_waiter("if-none-match", "\"v1\"").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_never_gets_the_leaders_206() {
    a_conditional_leader_and_a_plain_waiter("range", "bytes=0-1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_modified_since_is_answered_from_the_stored_response() {
    let origin = Origin::new(|req, n| {
        assert!(!req.headers().contains_key("if-modified-since"));
        Reply::ok(format!("{n}")).header("last-modified", "Tue, 01 Dec 2026 10:00:00 GMT")
    });
    let layer = CacheLayer::builder(MemoryStore::new()).build().unwrap();
    let svc = service(&layer, &origin);
    let since = |date: &'static str| {
        Request::get("/x")
            .header("if-modified-since", date)
            .body(())
            .unwrap()
    };
    let first = send(&svc, since("Tue, 01 Dec 2026 11:00:00 GMT")).await;
    assert_eq!(first.status, StatusCode::NOT_MODIFIED);
    let older = send(&svc, since("Tue, 01 Dec 2026 09:00:00 GMT")).await;
    assert_eq!((older.status, older.x_cache()), (StatusCode::OK, "HIT"));
    assert_eq!(origin.calls(), 1);
}

/// The keys of `paths` under `layer`, and how many the store holds, read without touching the
/// cache's counters or inserting anything.
async fn held(layer: &CacheLayer, store: &MemoryStore, paths: &[String]) -> u64 {
    let mut held = 0;
    for path in paths {
        let key = layer.key_for(&get(path)).unwrap();
        if store.get(&key, &[]).await.unwrap().value.is_some() {
            held += 1;
        }
    }
    held
}

async fn burst(max_bytes: u64, shards: usize, requests: usize) -> (u64, u64, u64) {
    let store = MemoryStore::builder()
        .max_bytes(max_bytes)
        .shards(shards)
        .build();
    let layer = CacheLayer::builder(store.clone()).build().unwrap();
    let origin = Origin::new(|_, _| Reply::ok(vec![b'x'; 1024]));
    let svc = service(&layer, &origin);
    let paths: Vec<String> = (0..requests).map(|i| format!("/item/{i}")).collect();
    for path in &paths {
        assert_eq!(send(&svc, get(path)).await.status, StatusCode::OK);
    }
    let held = held(&layer, &store, &paths).await;
    let stats = layer.handle().stats();
    (held, stats.entries.unwrap(), stats.memory_bytes.unwrap())
}

#[tokio::test]
async fn a_burst_of_inserts_keeps_most_entries_in_one_shard() {
    let (held, entries, bytes) = burst(128 * 1024, 1, 300).await;
    assert_eq!(held, entries, "the entry count is the truth");
    assert!(bytes <= 128 * 1024, "{bytes} bytes over the bound");
    // An entry of a 1 KiB body costs under 3 KiB; most of the bound holds entries.
    assert!(held >= 30, "only {held} entries kept in 128 KiB");
    assert!(
        bytes <= held * 3 * 1024,
        "{bytes} bytes reported for {held} entries"
    );
}

#[tokio::test]
async fn a_burst_of_inserts_keeps_most_entries_in_16_shards() {
    let (held, entries, bytes) = burst(256 * 1024, 16, 600).await;
    assert_eq!(held, entries);
    assert!(bytes <= 256 * 1024, "{bytes} bytes over the bound");
    assert!(held >= 50, "only {held} entries kept in 256 KiB");
    assert!(
        bytes <= held * 3 * 1024,
        "{bytes} bytes reported for {held} entries"
    );
}

/// The reason for an admission policy (issue 9, the in-process engine): under LRU a one-off
/// scan of distinct URLs, larger than the store, evicts the hot entries. MemoryStore's S3-FIFO
/// keeps an entry that was read again, however many one-offs follow its last read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_off_scan_does_not_evict_a_hot_entry() {
    // One shard of 1 MiB: its probation queue (3%) holds a dozen of these entries.
    let store = MemoryStore::builder()
        .max_bytes(1024 * 1024)
        .shards(1)
        .build();
    let layer = CacheLayer::builder(store.clone()).build().unwrap();
    let origin = Origin::new(|_, _| Reply::ok(vec![b'x'; 1024]));
    let svc = service(&layer, &origin);
    assert_eq!(send(&svc, get("/hot")).await.x_cache(), "MISS");
    assert_eq!(send(&svc, get("/hot")).await.x_cache(), "HIT");
    assert_eq!(send(&svc, get("/hot")).await.x_cache(), "HIT");
    // About 4 MiB of distinct URLs, each requested once.
    for i in 0..2000 {
        let scanned = send(&svc, get(&format!("/scan/{i}"))).await;
        assert_eq!(scanned.x_cache(), "MISS");
    }
    let stats = layer.handle().stats();
    assert!(stats.memory_bytes.unwrap() <= 1024 * 1024);
    assert_eq!(
        send(&svc, get("/hot")).await.x_cache(),
        "HIT",
        "the scan evicted the hot entry"
    );
    assert_eq!(origin.calls(), 2001);
}

#[tokio::test]
async fn an_entry_larger_than_a_shard_is_not_reported_stored() {
    // 16 shards of 64 KiB: a 100 KiB body cannot be kept.
    let layer = CacheLayer::builder(MemoryStore::with_max_bytes(1024 * 1024))
        .build()
        .unwrap();
    let origin = Origin::new(|_, n| Reply::ok(format!("{n}{}", "y".repeat(100 * 1024))));
    let svc = service(&layer, &origin);
    let first = send(&svc, get("/big")).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body.len(), 100 * 1024 + 1);
    assert!(
        !first.cache_status().contains("stored"),
        "{}",
        first.cache_status()
    );
    assert_eq!(layer.handle().stats().bytes_stored, 0);
    assert_eq!(send(&svc, get("/big")).await.x_cache(), "MISS");
}

#[tokio::test]
async fn max_body_over_the_stores_largest_entry_is_a_builder_error() {
    let built = CacheLayer::builder(MemoryStore::with_max_bytes(1024 * 1024))
        .max_body(100 * 1024)
        .build();
    assert!(
        matches!(
            built,
            Err(inframind_cache::CacheError::InvalidSetting {
                setting: "max_body",
                ..
            })
        ),
        "{built:?}"
    );
    // Within the store's largest entry it builds.
    assert!(
        CacheLayer::builder(MemoryStore::with_max_bytes(1024 * 1024))
            .max_body(32 * 1024)
            .build()
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_leader_does_not_start_a_stampede() {
    let origin = Origin::new(|_, n| {
        Reply::ok(format!("{{\"call\":{n}}}")).delay(Duration::from_millis(300))
    });
    let layer = CacheLayer::builder(MemoryStore::new()).build().unwrap();
    let svc = service(&layer, &origin);
    let leader = {
        let svc = svc.clone();
        tokio::spawn(async move { send(&svc, get("/cold")).await })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    let waiters: Vec<_> = (0..200)
        .map(|_| {
            let svc = svc.clone();
            tokio::spawn(async move { send(&svc, get("/cold")).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The client of the first request hangs up.
    leader.abort();
    assert!(matches!(leader.await, Err(e) if e.is_cancelled()));
    for waiter in waiters {
        let got = waiter.await.unwrap();
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.text(), "{\"call\":1}");
    }
    assert_eq!(origin.calls(), 1, "the origin saw a stampede");
    assert_eq!(send(&svc, get("/cold")).await.x_cache(), "HIT");
}

#[tokio::test]
async fn the_host_is_part_of_the_key() {
    let origin = Origin::new(|req, _| {
        let host = req
            .headers()
            .get("host")
            .map(|h| h.to_str().unwrap().to_owned())
            .or_else(|| req.uri().authority().map(|a| a.to_string()))
            .unwrap_or_default();
        Reply::ok(format!("{{\"tenant\":\"{host}\"}}"))
    });
    let layer = CacheLayer::builder(MemoryStore::new()).build().unwrap();
    let svc = service(&layer, &origin);
    let on = |host: &str| {
        Request::get("/api/settings")
            .header("host", host)
            .body(())
            .unwrap()
    };
    assert!(
        send(&svc, on("tenant-a.example"))
            .await
            .text()
            .contains("tenant-a")
    );
    let b = send(&svc, on("tenant-b.example")).await;
    assert!(b.text().contains("tenant-b"), "{}", b.text());
    assert_eq!(b.x_cache(), "MISS");
    assert_eq!(send(&svc, on("TENANT-A.example")).await.x_cache(), "HIT");
    // An absolute URI's authority counts as the host (HTTP/2 `:authority`).
    let c = send(&svc, get("http://tenant-c.example/api/settings")).await;
    assert!(c.text().contains("tenant-c"), "{}", c.text());
    assert_eq!(origin.calls(), 3);
}

#[tokio::test]
async fn a_single_host_service_can_leave_the_host_out_of_the_key() {
    let origin = Origin::echo();
    let layer = CacheLayer::builder(MemoryStore::new())
        .key_host(false)
        .build()
        .unwrap();
    let svc = service(&layer, &origin);
    let on = |host: &str| Request::get("/x").header("host", host).body(()).unwrap();
    assert_eq!(send(&svc, on("a.example")).await.x_cache(), "MISS");
    assert_eq!(send(&svc, on("b.example")).await.x_cache(), "HIT");
}

#[tokio::test]
async fn a_namespace_without_a_star_is_not_silently_ignored() {
    let origin = Origin::echo();
    let layer = CacheLayer::builder(MemoryStore::new())
        .prefix("assessments")
        .build()
        .unwrap();
    let handle = layer.handle();
    let svc = service(&layer, &origin);
    send(&svc, get("/x")).await;
    #[allow(deprecated)]
    let result = handle.invalidate("assessments").await;
    let still_cached = send(&svc, get("/x")).await.x_cache() == "HIT";
    assert!(
        result.is_err() || !still_cached,
        "invalidate(\"assessments\") returned {result:?} and left the namespace cached"
    );
}

#[tokio::test]
async fn namespace_key_and_glob_invalidation_are_three_calls() {
    let origin = Origin::echo();
    let handle = CacheHandle::new(MemoryStore::new());
    let list = handle.layer().prefix("assessments:list").build().unwrap();
    let other = handle.layer().prefix("users").build().unwrap();
    let (svc, users) = (service(&list, &origin), service(&other, &origin));
    for path in ["/a", "/b"] {
        send(&svc, get(path)).await;
    }
    send(&users, get("/u")).await;

    handle.invalidate_namespace("assessments").await.unwrap();
    assert_eq!(send(&svc, get("/a")).await.x_cache(), "MISS");
    assert_eq!(send(&users, get("/u")).await.x_cache(), "HIT");

    let key = list.key_for(&get("/a")).unwrap();
    assert!(handle.invalidate_key(&key).await.unwrap());
    assert_eq!(send(&svc, get("/a")).await.x_cache(), "MISS");

    assert_eq!(handle.invalidate_matching("users:*").await.unwrap(), 1);
    assert_eq!(send(&users, get("/u")).await.x_cache(), "MISS");

    // Each call refuses what belongs to another.
    assert!(handle.invalidate_namespace("assessments:*").await.is_err());
    assert!(handle.invalidate_matching("").await.is_err());
    assert!(handle.invalidate_key("").await.is_err());
}

#[cfg(feature = "redis")]
mod on_redis {
    use super::*;
    use bytes::Bytes;
    use inframind_cache::RedisStore;
    use inframind_test_support::{RedisServer, TestRedis};

    async fn store(redis: &TestRedis) -> RedisStore {
        RedisStore::builder(redis.url())
            .key_prefix(redis.prefix())
            .connect()
            .await
            .expect("connect to the test Redis")
    }

    async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
        redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_outage_still_coalesces_misses() {
        let mut server = RedisServer::start().expect("redis-server");
        let store = RedisStore::builder(server.url())
            .timeout(Duration::from_millis(200))
            .connect()
            .await
            .unwrap();
        let layer = CacheLayer::builder(store).build().unwrap();
        server.stop();
        let origin = Origin::new(|_, n| {
            Reply::ok(format!("{{\"call\":{n}}}")).delay(Duration::from_millis(400))
        });
        let svc = service(&layer, &origin);
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let svc = svc.clone();
                tokio::spawn(async move { send(&svc, get("/cold")).await })
            })
            .collect();
        for task in tasks {
            let got = task.await.unwrap();
            assert_eq!(got.status, StatusCode::OK);
            assert_eq!(got.text(), "{\"call\":1}");
        }
        assert_eq!(origin.calls(), 1, "the outage let a stampede through");
        assert!(layer.handle().stats().store_errors > 0);
    }

    #[tokio::test]
    async fn a_flipped_byte_in_a_stored_body_is_a_miss_and_deleted() {
        let redis = inframind_test_support::redis();
        let store = store(&redis).await;
        let layer = CacheLayer::builder(store.clone())
            .no_compression()
            .build()
            .unwrap();
        let origin = Origin::new(|_, n| Reply::ok(format!("{{\"balance\":100,\"call\":{n}}}")));
        let svc = service(&layer, &origin);
        let first = send(&svc, get("/account")).await;
        let key = store.redis_key(&layer.key_for(&get("/account")).unwrap());
        let mut conn = raw(redis.url()).await;
        let mut stored: Vec<u8> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        // The body is the envelope's last field: `100` becomes `900`.
        let at = stored.len() - first.body.len() + "{\"balance\":".len();
        stored[at] = b'9';
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(stored)
            .query_async(&mut conn)
            .await
            .unwrap();
        let second = send(&svc, get("/account")).await;
        assert_eq!(second.x_cache(), "MISS");
        assert_eq!(second.text(), "{\"balance\":100,\"call\":2}");
        assert_eq!(layer.handle().stats().corrupt_entries, 1);
        let third = send(&svc, get("/account")).await;
        assert_eq!(
            (third.x_cache(), third.text().as_str()),
            ("HIT", "{\"balance\":100,\"call\":2}")
        );
    }

    #[tokio::test]
    async fn a_flipped_byte_in_a_compressed_body_is_a_miss_and_deleted() {
        let redis = inframind_test_support::redis();
        let store = store(&redis).await;
        let layer = CacheLayer::builder(store.clone())
            .compress_above(64)
            .build()
            .unwrap();
        let origin = Origin::new(|_, n| {
            Reply::ok(format!(
                "{{\"call\":{n},\"rows\":\"{}\"}}",
                "ab".repeat(2000)
            ))
        });
        let svc = service(&layer, &origin);
        send(&svc, get("/report")).await;
        let key = store.redis_key(&layer.key_for(&get("/report")).unwrap());
        let mut conn = raw(redis.url()).await;
        let stored: Vec<u8> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let envelope =
            inframind_cache::envelope::Envelope::decode(&Bytes::from(stored.clone())).unwrap();
        assert!(envelope.compressed);
        // Every byte of the compressed body, one at a time: never served.
        let body_start = stored.len() - envelope.body.len();
        for at in (body_start..stored.len()).step_by(7) {
            let mut flipped = stored.clone();
            flipped[at] ^= 0x20;
            let _: () = redis::cmd("SET")
                .arg(&key)
                .arg(flipped)
                .query_async(&mut conn)
                .await
                .unwrap();
            let got = send(&svc, get("/report")).await;
            assert_eq!(got.x_cache(), "MISS", "byte {at} flipped was served");
        }
        assert!(layer.handle().stats().corrupt_entries > 0);
    }

    #[tokio::test]
    async fn a_non_numeric_generation_heals() {
        let redis = inframind_test_support::redis();
        let layer = CacheLayer::builder(store(&redis).await)
            .prefix("catalogue")
            .build()
            .unwrap();
        let origin = Origin::echo();
        let svc = service(&layer, &origin);
        let mut conn = raw(redis.url()).await;
        let _: () = redis::cmd("SET")
            .arg(redis.key("@gen:catalogue"))
            .arg("not a number")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(send(&svc, get("/items")).await.x_cache(), "MISS");
        assert_eq!(send(&svc, get("/items")).await.x_cache(), "HIT");
        assert_eq!(origin.calls(), 1);
        let healed: String = redis::cmd("GET")
            .arg(redis.key("@gen:catalogue"))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(healed.parse::<u64>().is_ok(), "{healed:?}");
    }

    #[tokio::test]
    async fn a_star_glob_never_deletes_a_foreign_key_shaped_like_an_entry() {
        let redis = inframind_test_support::redis();
        let store = RedisStore::builder(redis.url())
            .key_prefix(redis.key("myapp:"))
            .connect()
            .await
            .unwrap();
        let layer = CacheLayer::builder(store).prefix("pages").build().unwrap();
        let handle = layer.handle();
        let origin = Origin::echo();
        let svc = service(&layer, &origin);
        send(&svc, get("/a")).await;
        let foreign = redis.key(&format!("myapp:foreign:{}", "ab".repeat(32)));
        let mut conn = raw(redis.url()).await;
        let _: () = redis::cmd("SET")
            .arg(&foreign)
            .arg("keep me")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(handle.invalidate_matching("*").await.unwrap(), 1);
        let kept: Option<String> = redis::cmd("GET")
            .arg(&foreign)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(kept.as_deref(), Some("keep me"));
        assert_eq!(send(&svc, get("/a")).await.x_cache(), "MISS");
        let _ = Bytes::new();
    }
}

/// A read that starts after a write has returned must see the write, even while a fill that
/// began before the write is still in flight: it may not join that flight (found by the hot
/// tier's cancellation test, on both stores, with and without the tier).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_after_an_invalidation_never_joins_a_fill_that_began_before_it() {
    for handle in handles().await {
        let version = Arc::new(AtomicU64::new(1));
        let read = Arc::clone(&version);
        // The origin reads its data when called, then takes 300 ms to answer.
        let origin = Origin::new(move |_, _| {
            Reply::ok(format!("v{}", read.load(Ordering::SeqCst))).delay(Duration::from_millis(300))
        });
        let layer = handle.layer().prefix("items").build().unwrap();
        let svc = service(&layer, &origin);
        let before = {
            let svc = svc.clone();
            tokio::spawn(async move { send(&svc, get("/items")).await })
        };
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(origin.calls(), 1, "the first fill has read v1");
        version.store(2, Ordering::SeqCst);
        handle.invalidate_namespace("items").await.unwrap();

        let after = send(&svc, get("/items")).await;
        assert_eq!(after.text(), "v2", "{:?}: {}", handle, after.cache_status());
        assert_eq!(before.await.unwrap().text(), "v1");
        let next = send(&svc, get("/items")).await;
        assert_eq!(
            next.text(),
            "v2",
            "the older fill is not served later either"
        );
        assert_eq!(origin.calls(), 2);
    }
}

/// A stampede on a cold key still makes one origin call on every store, with path scopes on
/// (the default): waiters whose lookup came before the leader created the scope are not
/// mistaken for readers after a write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_stampede_calls_the_origin_once_on_every_store() {
    #[allow(unused_mut)]
    let mut handles = handles().await;
    #[cfg(feature = "redis")]
    {
        let redis = inframind_test_support::redis();
        let store = inframind_cache::RedisStore::builder(redis.url())
            .key_prefix(redis.prefix())
            .hot_tier(1 << 20)
            .connect()
            .await
            .unwrap();
        handles.push(CacheHandle::new(store));
    }
    for handle in handles {
        let origin = Origin::new(|_, n| {
            Reply::ok(format!("{{\"call\":{n}}}")).delay(Duration::from_millis(200))
        });
        let layer = handle.layer().prefix("stampede").build().unwrap();
        let svc = service(&layer, &origin);
        let tasks: Vec<_> = (0..300)
            .map(|_| {
                let svc = svc.clone();
                tokio::spawn(async move { send(&svc, get("/cold")).await })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().status, StatusCode::OK);
        }
        assert_eq!(origin.calls(), 1, "{handle:?}");
    }
}
