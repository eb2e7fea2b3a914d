//! The layer on a real Redis: the same semantics, plus what only Redis can show (one round
//! trip per hit, SCAN instead of KEYS, surviving an outage).
#![cfg(feature = "redis")]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use inframind_cache::{CacheHandle, CacheLayer, CachePrincipal, RedisStore};
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

/// `INFO commandstats` as (command, calls) pairs.
async fn command_stats(conn: &mut redis::aio::MultiplexedConnection) -> Vec<(String, u64)> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("cmdstat_")?;
            let (name, fields) = rest.split_once(':')?;
            let calls = fields
                .split(',')
                .find_map(|f| f.strip_prefix("calls="))?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

#[tokio::test]
async fn hit_miss_expiry_and_per_user_on_redis() {
    let redis = inframind_test_support::redis();
    let handle = CacheHandle::new(store(&redis).await);
    let origin = Origin::new(|req, n| {
        let user = req
            .extensions()
            .get::<CachePrincipal>()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        Reply::ok(format!("{{\"user\":\"{user}\",\"call\":{n}}}"))
    });
    let shared = handle
        .layer()
        .ttl(Duration::from_millis(500))
        .prefix("assessments:list")
        .build()
        .unwrap();
    let svc = service(&shared, &origin);
    assert_eq!(send(&svc, get("/api/assessments")).await.x_cache(), "MISS");
    assert_eq!(send(&svc, get("/api/assessments")).await.x_cache(), "HIT");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(send(&svc, get("/api/assessments")).await.x_cache(), "MISS");

    let mine = handle.layer().per_user().prefix("mine").build().unwrap();
    let svc = service(&mine, &origin);
    let as_user = |user: &str| {
        let mut req = get("/api/users/me/assessments");
        req.extensions_mut().insert(CachePrincipal::new(user));
        req
    };
    send(&svc, as_user("alice")).await;
    let bob = send(&svc, as_user("bob")).await;
    assert_eq!(bob.x_cache(), "MISS");
    assert!(bob.text().contains("bob"));
    let alice = send(&svc, as_user("alice")).await;
    assert_eq!(alice.x_cache(), "HIT");
    assert!(alice.text().contains("alice"));
    assert_eq!(origin.calls(), 4);
}

#[tokio::test]
async fn zstd_and_etag_on_redis() {
    let redis = inframind_test_support::redis();
    let layer = CacheLayer::builder(store(&redis).await).build().unwrap();
    let json = format!(
        "[{}]",
        vec!["{\"id\":1,\"name\":\"an assessment\"}"; 300].join(",")
    );
    let body = json.clone();
    let origin = Origin::new(move |_, _| Reply::ok(body.clone()));
    let svc = service(&layer, &origin);
    send(&svc, get("/a")).await;
    let plain = send(&svc, get("/a")).await;
    assert_eq!((plain.x_cache(), plain.text()), ("HIT", json.clone()));
    let req = http::Request::get("/a")
        .header("accept-encoding", "zstd")
        .body(())
        .unwrap();
    let raw_zstd = send(&svc, req).await;
    assert_eq!(raw_zstd.headers["content-encoding"], "zstd");
    assert_eq!(
        zstd::decode_all(&raw_zstd.body[..]).unwrap(),
        json.as_bytes()
    );
    let req = http::Request::get("/a")
        .header("if-none-match", plain.headers["etag"].clone())
        .body(())
        .unwrap();
    assert_eq!(send(&svc, req).await.status, http::StatusCode::NOT_MODIFIED);
    let stats = layer.handle().stats();
    assert!(stats.bytes_saved_by_compression > 0);
    assert_eq!(stats.entries, None);
}

#[tokio::test]
async fn prefix_invalidation_on_redis() {
    let redis = inframind_test_support::redis();
    prefix_invalidation(CacheHandle::new(store(&redis).await)).await;
}

#[tokio::test]
async fn corrupted_or_foreign_bytes_are_a_miss_then_replaced() {
    let redis = inframind_test_support::redis();
    let store = store(&redis).await;
    let layer = CacheLayer::builder(store.clone()).build().unwrap();
    let origin = Origin::echo();
    let svc = service(&layer, &origin);
    let key = store.redis_key(&layer.key_for(&get("/a")).unwrap());
    let mut conn = raw(redis.url()).await;
    for junk in [&b"{\"not\":\"ours\"}"[..], b"IMC\x01\x00", b""] {
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(junk)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(send(&svc, get("/a")).await.x_cache(), "MISS");
        let stored: Vec<u8> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let envelope = inframind_cache::envelope::Envelope::decode(&Bytes::from(stored))
            .expect("replaced by a valid envelope");
        assert_eq!(envelope.status, http::StatusCode::OK);
        assert_eq!(send(&svc, get("/a")).await.x_cache(), "HIT");
    }
}

#[tokio::test]
async fn a_hit_is_one_round_trip_and_glob_invalidation_never_uses_keys() {
    let server = RedisServer::start().expect("redis-server");
    let store = RedisStore::connect(server.url()).await.unwrap();
    let handle = CacheHandle::new(store.clone());
    let origin = Origin::echo();
    let items = service(
        &handle.layer().prefix("items")
        // Entries copied from one template below: without path scopes, whose generations
        // differ by path.
        .invalidate_on_unsafe(false).build().unwrap(),
        &origin,
    );
    let others = service(
        &handle
            .layer()
            .prefix("others")
            .invalidate_on_unsafe(false)
            .build()
            .unwrap(),
        &origin,
    );
    send(&items, get("/item/0")).await;

    let mut conn = raw(&server.url()).await;
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(send(&items, get("/item/0")).await.x_cache(), "HIT");
    let stats = command_stats(&mut conn).await;
    let data: Vec<_> = stats
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "config|resetstat" | "info"))
        .collect();
    assert_eq!(
        data,
        [&("mget".to_owned(), 1)],
        "a hit is one MGET: {stats:?}"
    );

    // 10k entries through the layer, plus some that the glob must not touch.
    let mut pipe = redis::pipe();
    let template: Vec<u8> = redis::cmd("GET")
        .arg(
            store.redis_key(
                &handle
                    .layer()
                    .prefix("items")
        // Entries copied from one template below: without path scopes, whose generations
        // differ by path.
        .invalidate_on_unsafe(false)
                    .build()
                    .unwrap()
                    .key_for(&get("/item/0"))
                    .unwrap(),
            ),
        )
        .query_async(&mut conn)
        .await
        .unwrap();
    let items_layer = handle.layer().prefix("items")
        // Entries copied from one template below: without path scopes, whose generations
        // differ by path.
        .invalidate_on_unsafe(false).build().unwrap();
    for i in 0..10_000 {
        let key = items_layer.key_for(&get(&format!("/item/{i}"))).unwrap();
        pipe.cmd("SET")
            .arg(store.redis_key(&key))
            .arg(&template)
            .arg("EX")
            .arg(600)
            .ignore();
    }
    let _: () = pipe.query_async(&mut conn).await.unwrap();
    for i in 0..20 {
        send(&others, get(&format!("/other/{i}"))).await;
    }
    assert_eq!(send(&items, get("/item/9999")).await.x_cache(), "HIT");

    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut conn)
        .await
        .unwrap();
    let deleted = handle.invalidate_matching("it?ms:*").await.unwrap();
    assert_eq!(deleted, 10_000);
    let stats = command_stats(&mut conn).await;
    assert!(!stats.iter().any(|(name, _)| name == "keys"), "{stats:?}");
    assert!(
        stats
            .iter()
            .any(|(name, calls)| name == "scan" && *calls > 1),
        "{stats:?}"
    );
    assert!(stats.iter().any(|(name, _)| name == "unlink"), "{stats:?}");
    let left: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
    // The 20 entries of the other namespace, and the two namespaces' generation keys.
    assert_eq!(left, 22, "only the other namespace's entries remain");
    assert_eq!(send(&items, get("/item/5")).await.x_cache(), "MISS");
    assert_eq!(send(&others, get("/other/5")).await.x_cache(), "HIT");

    // A namespace invalidation is one command, whatever the entry count.
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut conn)
        .await
        .unwrap();
    handle.invalidate_namespace("others").await.unwrap();
    let stats = command_stats(&mut conn).await;
    let data: Vec<_> = stats
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "config|resetstat" | "info"))
        .collect();
    assert_eq!(data, [&("set".to_owned(), 1)], "{stats:?}");
    assert_eq!(send(&others, get("/other/5")).await.x_cache(), "MISS");
}

#[tokio::test]
async fn a_redis_outage_fails_open_and_hits_resume_after_restart() {
    let mut server = RedisServer::start().expect("redis-server");
    let store = RedisStore::builder(server.url())
        .timeout(Duration::from_millis(200))
        .connect()
        .await
        .unwrap();
    let layer = CacheLayer::builder(store).build().unwrap();
    let handle = layer.handle();
    let origin = Origin::echo();
    let svc = service(&layer, &origin);
    send(&svc, get("/a")).await;
    assert_eq!(send(&svc, get("/a")).await.x_cache(), "HIT");

    server.stop();
    for i in 0..5 {
        let got = send(&svc, get("/a")).await;
        assert_eq!(
            got.status,
            http::StatusCode::OK,
            "request {i} failed during the outage"
        );
        assert_eq!(got.x_cache(), "MISS");
        assert!(
            got.cache_status().contains("store-error"),
            "{}",
            got.cache_status()
        );
        assert!(got.text().contains("\"path\":\"/a\""));
    }
    let stats = handle.stats();
    assert!(stats.store_errors >= 5, "{stats:?}");
    assert_eq!(origin.calls(), 6);
    assert!(
        handle.invalidate_namespace("cache").await.is_err(),
        "an invalidation that cannot reach the store reports it"
    );

    server.restart().expect("restart redis-server");
    // The same layer, the same connection manager: it reconnects by itself.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = send(&svc, get("/a")).await;
        assert_eq!(got.status, http::StatusCode::OK);
        if got.x_cache() == "HIT" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "hits never resumed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_redis_stampede_calls_the_inner_service_once() {
    let redis = inframind_test_support::redis();
    let layer = CacheLayer::builder(store(&redis).await).build().unwrap();
    let origin = Origin::new(|_, n| Reply::ok(format!("{n}")).delay(Duration::from_millis(200)));
    let svc = service(&layer, &origin);
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let svc = svc.clone();
            tokio::spawn(async move { send(&svc, get("/cold")).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().text(), "1");
    }
    assert_eq!(origin.calls(), 1);
}

#[tokio::test]
async fn a_glob_never_deletes_data_that_is_not_a_cache_entry() {
    let redis = inframind_test_support::redis();
    let handle = CacheHandle::new(store(&redis).await);
    let origin = Origin::echo();
    let svc = service(&handle.layer().prefix("pages").build().unwrap(), &origin);
    send(&svc, get("/a")).await;
    send(&svc, get("/b")).await;
    let mut conn = raw(redis.url()).await;
    for foreign in ["session:abc", "pages:not-a-digest", "users"] {
        let _: () = redis::cmd("SET")
            .arg(redis.key(foreign))
            .arg("keep me")
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    assert_eq!(handle.invalidate_matching("*").await.unwrap(), 2);
    for foreign in ["session:abc", "pages:not-a-digest", "users"] {
        let kept: Option<String> = redis::cmd("GET")
            .arg(redis.key(foreign))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(kept.as_deref(), Some("keep me"), "{foreign} was deleted");
    }
    assert_eq!(send(&svc, get("/a")).await.x_cache(), "MISS");
}
