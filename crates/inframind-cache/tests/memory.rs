//! HTTP behaviour of the layer on the in-process store.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::{Request, StatusCode};
use inframind_cache::{CacheLayer, CachePrincipal, MemoryStore};

fn layer() -> inframind_cache::CacheLayerBuilder {
    CacheLayer::builder(MemoryStore::new())
}

#[tokio::test]
async fn miss_then_hit_then_expiry() {
    let origin = Origin::echo();
    let layer = layer().ttl(Duration::from_millis(300)).build().unwrap();
    let svc = service(&layer, &origin);

    let first = send(&svc, get("/a")).await;
    assert_eq!(first.x_cache(), "MISS");
    assert!(
        first.cache_status().contains("fwd=uri-miss"),
        "{}",
        first.cache_status()
    );
    assert!(first.cache_status().contains("stored"));
    let second = send(&svc, get("/a")).await;
    assert_eq!(second.x_cache(), "HIT");
    assert!(second.cache_status().starts_with("inframind; hit; ttl="));
    assert_eq!(second.body, first.body, "a hit replays the stored body");
    assert_eq!(second.headers["content-type"], "application/json");
    assert_eq!(
        second.headers["content-length"],
        first.body.len().to_string()
    );
    assert_eq!(origin.calls(), 1);

    tokio::time::sleep(Duration::from_millis(350)).await;
    let third = send(&svc, get("/a")).await;
    assert_eq!(third.x_cache(), "MISS");
    assert!(third.text().contains("\"call\":2"));
    assert_eq!(origin.calls(), 2);

    let stats = layer.handle().stats();
    assert_eq!((stats.hits, stats.misses), (1, 2));
    assert_eq!(stats.entries, Some(1));
    assert!(stats.bytes_stored > 0);
}

#[tokio::test]
async fn ttl_is_per_route_on_one_handle() {
    let origin = Origin::echo();
    let short = layer()
        .ttl(Duration::from_millis(200))
        .prefix("short")
        .build()
        .unwrap();
    let long = short
        .handle()
        .layer()
        .ttl(Duration::from_secs(60))
        .prefix("long")
        .build()
        .unwrap();
    let (s, l) = (service(&short, &origin), service(&long, &origin));
    send(&s, get("/x")).await;
    send(&l, get("/x")).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(send(&s, get("/x")).await.x_cache(), "MISS");
    assert_eq!(send(&l, get("/x")).await.x_cache(), "HIT");
    // Both layers count into the one handle.
    let stats = short.handle().stats();
    assert_eq!((stats.hits, stats.misses), (1, 3));
}

#[tokio::test]
async fn query_order_does_not_matter() {
    let origin = Origin::echo();
    let layer = layer().build().unwrap();
    let svc = service(&layer, &origin);
    let a = send(&svc, get("/list?page=2&sort=name")).await;
    let b = send(&svc, get("/list?sort=name&page=2")).await;
    assert_eq!(b.x_cache(), "HIT");
    assert_eq!(a.body, b.body);
    assert_eq!(
        send(&svc, get("/list?sort=name&page=3")).await.x_cache(),
        "MISS"
    );
    assert_eq!(origin.calls(), 2);
}

fn as_user(uri: &str, user: &str) -> Request<()> {
    let mut req = Request::get(uri)
        .header("authorization", format!("Bearer token-of-{user}"))
        .body(())
        .unwrap();
    req.extensions_mut().insert(CachePrincipal::new(user));
    req
}

#[tokio::test]
async fn per_user_entries_never_cross_users() {
    let origin = Origin::new(|req, n| {
        let user = req
            .extensions()
            .get::<CachePrincipal>()
            .unwrap()
            .as_str()
            .to_owned();
        Reply::ok(format!("{{\"user\":\"{user}\",\"call\":{n}}}"))
            .header("set-cookie", format!("seen={user}"))
            .header("cache-control", "private")
    });
    let layer = layer().per_user().prefix("mine").build().unwrap();
    let svc = service(&layer, &origin);

    let alice = send(&svc, as_user("/api/users/me/assessments", "alice")).await;
    assert_eq!(alice.x_cache(), "MISS");
    let bob = send(&svc, as_user("/api/users/me/assessments", "bob")).await;
    assert_eq!(bob.x_cache(), "MISS", "bob must not get alice's entry");
    assert!(bob.text().contains("\"user\":\"bob\""));
    let alice_again = send(&svc, as_user("/api/users/me/assessments", "alice")).await;
    assert_eq!(alice_again.x_cache(), "HIT");
    assert!(alice_again.text().contains("\"user\":\"alice\""));
    assert_eq!(alice_again.headers["set-cookie"], "seen=alice");
    let bob_again = send(&svc, as_user("/api/users/me/assessments", "bob")).await;
    assert!(bob_again.text().contains("\"user\":\"bob\""));
    assert_eq!(origin.calls(), 2);

    let ka = layer
        .key_for(&as_user("/api/users/me/assessments", "alice"))
        .unwrap();
    let kb = layer
        .key_for(&as_user("/api/users/me/assessments", "bob"))
        .unwrap();
    assert_ne!(ka, kb);

    // No principal on a per-user route: bypass, even with a credential header.
    let anonymous = Request::get("/api/users/me/assessments")
        .header("authorization", "Bearer token-of-alice")
        .body(())
        .unwrap();
    assert!(layer.key_for(&anonymous).is_none());
}

#[tokio::test]
async fn no_store_is_never_stored_even_per_user() {
    let origin = Origin::new(|_, n| Reply::ok(format!("{n}")).header("cache-control", "no-store"));
    let layer = layer().per_user().build().unwrap();
    let svc = service(&layer, &origin);
    for _ in 0..3 {
        assert_eq!(send(&svc, as_user("/a", "alice")).await.x_cache(), "MISS");
    }
    assert_eq!(origin.calls(), 3);
    assert_eq!(layer.handle().stats().entries, Some(0));
}

#[tokio::test]
async fn per_user_without_principal_bypasses() {
    let origin = Origin::echo();
    let layer = layer().per_user().build().unwrap();
    let svc = service(&layer, &origin);
    let got = send(&svc, get("/a")).await;
    assert_eq!(got.x_cache(), "BYPASS");
    send(&svc, get("/a")).await;
    assert_eq!(origin.calls(), 2);
    assert_eq!(layer.handle().stats().bypasses, 2);
}

#[tokio::test]
async fn credentials_bypass_shared_routes() {
    let origin = Origin::echo();
    let layer = layer().build().unwrap();
    let svc = service(&layer, &origin);
    for header in ["authorization", "cookie"] {
        for _ in 0..2 {
            let req = Request::get("/a")
                .header(header, "secret")
                .body(())
                .unwrap();
            let got = send(&svc, req).await;
            assert_eq!(got.x_cache(), "BYPASS");
            assert_eq!(got.cache_status(), "inframind; fwd=request");
        }
    }
    assert_eq!(origin.calls(), 4);
    // And a credentialed request never reads what an anonymous one stored.
    send(&svc, get("/a")).await;
    let req = Request::get("/a").header("cookie", "s=1").body(()).unwrap();
    assert_eq!(send(&svc, req).await.x_cache(), "BYPASS");
}

#[tokio::test]
async fn only_get_and_head_are_cached() {
    let origin = Origin::echo();
    let layer = layer().build().unwrap();
    let svc = service(&layer, &origin);
    for _ in 0..2 {
        let post = Request::post("/a").body(()).unwrap();
        let got = send(&svc, post).await;
        assert_eq!(got.x_cache(), "BYPASS");
        assert_eq!(got.cache_status(), "inframind; fwd=method");
    }
    for _ in 0..2 {
        send(&svc, Request::head("/a").body(()).unwrap()).await;
    }
    assert_eq!(origin.calls(), 3, "two POSTs, one HEAD miss");
}

#[tokio::test]
async fn private_responses_are_never_stored_on_shared_routes() {
    for (name, value) in [
        ("set-cookie", "session=abc"),
        ("cache-control", "no-store"),
        ("cache-control", "private, max-age=60"),
        ("cache-control", "no-cache"),
        ("vary", "accept-language"),
    ] {
        let origin = Origin::new(move |_, n| Reply::ok(format!("{n}")).header(name, value));
        let layer = layer().build().unwrap();
        let svc = service(&layer, &origin);
        for _ in 0..3 {
            let got = send(&svc, get("/a")).await;
            assert_eq!(got.x_cache(), "MISS", "{name}: {value}");
            assert!(!got.cache_status().contains("stored"));
        }
        assert_eq!(origin.calls(), 3, "{name}: {value} was stored");
        assert_eq!(layer.handle().stats().entries, Some(0));
    }
}

#[tokio::test]
async fn uncacheable_statuses_are_not_stored() {
    let origin = Origin::new(|_, n| Reply::ok(format!("{n}")).status(StatusCode::NOT_FOUND));
    let layer = layer().build().unwrap();
    let svc = service(&layer, &origin);
    send(&svc, get("/a")).await;
    assert_eq!(send(&svc, get("/a")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(origin.calls(), 2);

    let origin = Origin::new(|_, n| Reply::ok(format!("{n}")).status(StatusCode::NOT_FOUND));
    let layer = CacheLayer::builder(MemoryStore::new())
        .cacheable_statuses([StatusCode::OK, StatusCode::NOT_FOUND])
        .build()
        .unwrap();
    let svc = service(&layer, &origin);
    send(&svc, get("/a")).await;
    let got = send(&svc, get("/a")).await;
    assert_eq!((got.status, got.x_cache()), (StatusCode::NOT_FOUND, "HIT"));
}

#[tokio::test]
async fn vary_headers_split_the_key() {
    let origin = Origin::new(|req, _| {
        let lang = req
            .headers()
            .get("accept-language")
            .map(|v| v.to_str().unwrap().to_owned());
        Reply::ok(lang.unwrap_or_default()).header("vary", "Accept-Language")
    });
    let layer = layer().vary(http::header::ACCEPT_LANGUAGE).build().unwrap();
    let svc = service(&layer, &origin);
    let lang = |l: &str| {
        Request::get("/a")
            .header("accept-language", l)
            .body(())
            .unwrap()
    };
    assert_eq!(send(&svc, lang("fr")).await.text(), "fr");
    assert_eq!(send(&svc, lang("de")).await.text(), "de");
    let again = send(&svc, lang("fr")).await;
    assert_eq!((again.x_cache(), again.text().as_str()), ("HIT", "fr"));
}

#[tokio::test]
async fn etag_and_304() {
    let origin = Origin::echo();
    let layer = layer().build().unwrap();
    let svc = service(&layer, &origin);
    let first = send(&svc, get("/a")).await;
    let etag = first.headers["etag"].clone();
    let expected = format!("\"{}\"", &blake3::hash(&first.body).to_hex()[..32]);
    assert_eq!(
        etag.to_str().unwrap(),
        expected,
        "strong ETag = blake3 of the body"
    );

    let conditional = Request::get("/a")
        .header("if-none-match", etag.clone())
        .body(())
        .unwrap();
    let got = send(&svc, conditional).await;
    assert_eq!(got.status, StatusCode::NOT_MODIFIED);
    assert!(got.body.is_empty());
    assert_eq!(got.headers["etag"], etag);
    assert_eq!(got.x_cache(), "HIT");

    let other = Request::get("/a")
        .header("if-none-match", "\"nope\"")
        .body(())
        .unwrap();
    let got = send(&svc, other).await;
    assert_eq!((got.status, got.body), (StatusCode::OK, first.body));
    assert_eq!(origin.calls(), 1);
}

fn big_json(n: usize) -> String {
    let items: Vec<String> = (0..n)
        .map(|i| format!("{{\"id\":{i},\"title\":\"assessment number {i}\",\"status\":\"open\"}}"))
        .collect();
    format!("[{}]", items.join(","))
}

#[tokio::test]
async fn zstd_is_served_raw_to_zstd_clients_and_decompressed_to_others() {
    let json = big_json(200);
    let body = json.clone();
    let origin = Origin::new(move |_, _| Reply::ok(body.clone()));
    let layer = layer().compress_above(1024).build().unwrap();
    let svc = service(&layer, &origin);

    let miss = send(&svc, get("/a")).await;
    assert_eq!(miss.text(), json);
    let plain = send(&svc, get("/a")).await;
    assert_eq!(plain.x_cache(), "HIT");
    assert_eq!(plain.text(), json);
    assert!(plain.headers.get("content-encoding").is_none());
    assert_eq!(plain.headers["vary"], "accept-encoding");

    let zstd_req = Request::get("/a")
        .header("accept-encoding", "gzip, zstd")
        .body(())
        .unwrap();
    let raw = send(&svc, zstd_req).await;
    assert_eq!(raw.x_cache(), "HIT");
    assert_eq!(raw.headers["content-encoding"], "zstd");
    assert!(raw.body.len() < json.len() / 3, "{} bytes", raw.body.len());
    assert_eq!(zstd::decode_all(&raw.body[..]).unwrap(), json.as_bytes());
    assert_ne!(
        raw.headers["etag"], plain.headers["etag"],
        "one ETag per representation"
    );
    assert_eq!(raw.headers["content-length"], raw.body.len().to_string());

    let stats = layer.handle().stats();
    assert!(stats.bytes_saved_by_compression > json.len() as u64 / 2);
    assert_eq!(origin.calls(), 1);
}

#[tokio::test]
async fn memory_store_does_not_compress_unless_asked() {
    let json = big_json(100);
    let body = json.clone();
    let origin = Origin::new(move |_, _| Reply::ok(body.clone()));
    let layer = layer().build().unwrap();
    let svc = service(&layer, &origin);
    send(&svc, get("/a")).await;
    let req = Request::get("/a")
        .header("accept-encoding", "zstd")
        .body(())
        .unwrap();
    let got = send(&svc, req).await;
    assert!(got.headers.get("content-encoding").is_none());
    assert_eq!(got.text(), json);
    assert_eq!(layer.handle().stats().bytes_saved_by_compression, 0);
}

/// A body that yields `chunks` data frames of `size` bytes, one per poll.
struct Chunked {
    chunks: std::collections::VecDeque<Bytes>,
}

impl http_body::Body for Chunked {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(
            self.chunks
                .pop_front()
                .map(|c| Ok(http_body::Frame::data(c))),
        )
    }
}

fn chunked(chunks: usize, size: usize) -> Chunked {
    Chunked {
        chunks: (0..chunks)
            .map(|i| Bytes::from(vec![b'a' + (i % 26) as u8; size]))
            .collect(),
    }
}

#[tokio::test]
async fn bodies_over_the_maximum_pass_through_whole_and_uncached() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = Arc::clone(&calls);
    let origin = tower::service_fn(move |_req: Request<()>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, std::convert::Infallible>(http::Response::new(chunked(40, 1000))) }
    });
    let layer = layer().max_body(10_000).build().unwrap();
    let svc = tower::Layer::layer(&layer, origin);
    for _ in 0..2 {
        let response = svc.clone().oneshot(get("/big")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-cache"], "MISS");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body.len(), 40_000, "every byte arrives, buffered or not");
        let expected: Vec<u8> = (0..40)
            .flat_map(|i| vec![b'a' + (i % 26) as u8; 1000])
            .collect();
        assert_eq!(&body[..], &expected[..]);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(layer.handle().stats().entries, Some(0));

    // A body that fits is stored, even when it arrives in many frames.
    let small = tower::service_fn(|_req: Request<()>| async move {
        Ok::<_, std::convert::Infallible>(http::Response::new(chunked(5, 1000)))
    });
    let svc = tower::Layer::layer(&layer, small);
    svc.clone().oneshot(get("/small")).await.unwrap();
    let hit = svc.clone().oneshot(get("/small")).await.unwrap();
    assert_eq!(hit.headers()["x-cache"], "HIT");
    assert_eq!(
        hit.into_body().collect().await.unwrap().to_bytes().len(),
        5000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stampede_of_1000_calls_the_inner_service_once() {
    let origin = Origin::new(|_, n| {
        Reply::ok(format!("{{\"call\":{n}}}")).delay(Duration::from_millis(200))
    });
    let layer = layer().build().unwrap();
    let svc = service(&layer, &origin);
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let svc = svc.clone();
            tokio::spawn(async move { send(&svc, get("/cold")).await })
        })
        .collect();
    let mut bodies = std::collections::HashSet::new();
    for task in tasks {
        let got = task.await.unwrap();
        assert_eq!(got.status, StatusCode::OK);
        bodies.insert(got.body);
    }
    assert_eq!(origin.calls(), 1, "inner service called more than once");
    assert_eq!(bodies.len(), 1, "every request got the same response");
    let stats = layer.handle().stats();
    assert_eq!(stats.misses, 1);
    assert_eq!(stats.hits + stats.coalesced_waits, 999);
    assert!(stats.coalesced_waits > 0);
}

#[tokio::test]
async fn stale_while_revalidate_serves_stale_and_refreshes_once() {
    let origin = Origin::new(|_, n| Reply::ok(format!("v{n}")).delay(Duration::from_millis(50)));
    let layer = layer()
        .ttl(Duration::from_millis(400))
        .stale_while_revalidate(Duration::from_secs(10))
        .build()
        .unwrap();
    let svc = service(&layer, &origin);
    assert_eq!(send(&svc, get("/a")).await.text(), "v1");
    tokio::time::sleep(Duration::from_millis(450)).await;
    for _ in 0..5 {
        let got = send(&svc, get("/a")).await;
        assert_eq!((got.x_cache(), got.text().as_str()), ("STALE", "v1"));
        // Under a second past expiry: `ttl=0`, never RFC 9211's meaningless `ttl=-0`.
        assert_eq!(
            got.cache_status(),
            "inframind; hit; ttl=0; detail=stale-while-revalidate"
        );
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let fresh = send(&svc, get("/a")).await;
    assert_eq!((fresh.x_cache(), fresh.text().as_str()), ("HIT", "v2"));
    assert_eq!(
        origin.calls(),
        2,
        "one background refresh for five stale hits"
    );
    assert_eq!(layer.handle().stats().stale_hits, 5);
}

#[tokio::test]
async fn stale_if_error_serves_stale_when_the_service_fails() {
    let failing = Arc::new(AtomicBool::new(false));
    let fail = Arc::clone(&failing);
    let origin = Origin::new(move |_, n| {
        if fail.load(Ordering::SeqCst) {
            Reply::ok("down").status(StatusCode::SERVICE_UNAVAILABLE)
        } else {
            Reply::ok(format!("v{n}"))
        }
    });
    let layer = layer()
        .ttl(Duration::from_millis(100))
        .stale_if_error(Duration::from_secs(10))
        .build()
        .unwrap();
    let svc = service(&layer, &origin);
    send(&svc, get("/a")).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    failing.store(true, Ordering::SeqCst);
    let got = send(&svc, get("/a")).await;
    assert_eq!(
        (got.status, got.x_cache(), got.text().as_str()),
        (StatusCode::OK, "STALE", "v1")
    );
    assert!(got.cache_status().contains("stale-if-error"));
    failing.store(false, Ordering::SeqCst);
    let got = send(&svc, get("/a")).await;
    assert_eq!((got.x_cache(), got.text().as_str()), ("MISS", "v3"));
}

#[tokio::test]
async fn corrupted_bytes_are_a_miss_and_get_replaced() {
    let origin = Origin::echo();
    let layer = layer().build().unwrap();
    let svc = service(&layer, &origin);
    let key = layer.key_for(&get("/a")).unwrap();
    let handle = layer.handle();
    let store = handle.store();
    store
        .put(
            &key,
            Bytes::from_static(b"\x00garbage"),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(send(&svc, get("/a")).await.x_cache(), "MISS");
    assert_eq!(send(&svc, get("/a")).await.x_cache(), "HIT");
    assert_eq!(origin.calls(), 1);
}

#[tokio::test]
async fn prefix_invalidation_removes_exactly_the_namespace() {
    prefix_invalidation(inframind_cache::CacheHandle::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn builder_rejects_bad_settings() {
    for bad in ["", "a b", "a*", "a::b", "@x"] {
        assert!(layer().prefix(bad).build().is_err(), "{bad:?}");
    }
    assert!(layer().ttl(Duration::ZERO).build().is_err());
    assert!(layer().compression_level(40).build().is_err());
    assert!(layer().cache_status_name("has space").build().is_err());
}

#[tokio::test]
async fn works_as_an_axum_layer() {
    use axum::{Router, routing::get as axum_get};
    use tower::ServiceExt;
    let layer = layer().prefix("axum").build().unwrap();
    let app = Router::new().route(
        "/hello",
        axum_get(|| async { "hello" }).layer(layer.clone()),
    );
    let req = || {
        http::Request::get("/hello")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let first = app.clone().oneshot(req()).await.unwrap();
    assert_eq!(first.headers()["x-cache"], "MISS");
    let second = app.clone().oneshot(req()).await.unwrap();
    assert_eq!(second.headers()["x-cache"], "HIT");
    let body = http_body_util::BodyExt::collect(second.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"hello");
}

#[tokio::test]
async fn a_hit_replays_the_head_with_fresh_age_and_cache_status() {
    let origin = Origin::new(|_, _| Reply::ok("{\"a\":1}").header("x-origin", "yes"));
    let layer = layer().ttl(Duration::from_secs(60)).build().unwrap();
    let svc = service(&layer, &origin);
    let miss = send(&svc, get("/a")).await;
    for _ in 0..3 {
        let hit = send(&svc, get("/a")).await;
        assert_eq!((hit.status, hit.x_cache()), (StatusCode::OK, "HIT"));
        assert_eq!(hit.body, miss.body);
        for name in ["content-type", "x-origin", "etag", "content-length"] {
            assert_eq!(hit.headers.get_all(name).iter().count(), 1, "{name}");
            assert_eq!(hit.headers[name], miss.headers[name], "{name}");
        }
        assert_eq!(hit.headers["age"], "0");
        assert_eq!(hit.headers.get_all("cache-status").iter().count(), 1);
        let ttl = hit.cache_status().strip_prefix("inframind; hit; ttl=");
        assert!(
            ttl.is_some_and(|t| (58..=60).contains(&t.parse::<u64>().unwrap())),
            "{}",
            hit.cache_status()
        );
    }
    let conditional = Request::get("/a")
        .header("if-none-match", miss.headers["etag"].clone())
        .body(())
        .unwrap();
    let not_modified = send(&svc, conditional).await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    assert!(not_modified.headers.get("content-length").is_none());
    assert_eq!(not_modified.x_cache(), "HIT");
    // A later hit is whole again: the 304 changed nothing that is shared.
    let hit = send(&svc, get("/a")).await;
    assert_eq!((hit.status, hit.body), (StatusCode::OK, miss.body));
    assert_eq!(origin.calls(), 1);
}

#[tokio::test]
async fn a_memory_store_shared_as_a_trait_object_still_hits_and_invalidates() {
    let origin = Origin::echo();
    let handle = inframind_cache::CacheHandle::from_arc(Arc::new(MemoryStore::new()));
    let layer = handle.layer().prefix("shared:list").build().unwrap();
    let svc = service(&layer, &origin);
    assert_eq!(send(&svc, get("/a")).await.x_cache(), "MISS");
    assert_eq!(send(&svc, get("/a")).await.x_cache(), "HIT");
    handle.invalidate_namespace("shared").await.unwrap();
    assert_eq!(send(&svc, get("/a")).await.x_cache(), "MISS");
    assert_eq!(send(&svc, get("/a")).await.x_cache(), "HIT");
    assert_eq!(origin.calls(), 2);
}

/// A store that wraps a `MemoryStore`, delegating every method, and counts the lookups that
/// reach the ordinary path.
#[derive(Debug)]
struct Wrapped {
    inner: MemoryStore,
    lookups: std::sync::atomic::AtomicU64,
    /// Whether hits may take the store's ready path (else they take the ordinary one).
    ready: bool,
}

impl inframind_cache::Store for Wrapped {
    fn get<'a>(
        &'a self,
        key: &'a str,
        namespaces: &'a [Arc<str>],
    ) -> inframind_cache::StoreFuture<'a, inframind_cache::Lookup> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key, namespaces)
    }
    fn try_get(
        &self,
        key: &str,
        namespaces: &[Arc<str>],
    ) -> Option<Result<inframind_cache::Lookup, inframind_cache::StoreError>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.try_get(key, namespaces)
    }
    fn resolve_namespaces(
        &self,
        namespaces: &[Arc<str>],
    ) -> Option<inframind_cache::NamespaceToken> {
        self.inner.resolve_namespaces(namespaces)
    }
    fn ready_hit(&self, hit: &inframind_cache::HitRequest<'_>) -> Option<http::Response<Bytes>> {
        if self.ready {
            self.inner.ready_hit(hit)
        } else {
            None
        }
    }
    fn put_entry<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        entry: &'a inframind_cache::envelope::Envelope,
        ttl: Duration,
    ) -> inframind_cache::StoreFuture<'a, inframind_cache::PutOutcome> {
        self.inner.put_entry(key, value, entry, ttl)
    }
    fn generations<'a>(
        &'a self,
        namespaces: &'a [Arc<str>],
    ) -> inframind_cache::StoreFuture<'a, Vec<u64>> {
        self.inner.generations(namespaces)
    }
    fn scope_generation<'a>(
        &'a self,
        scope: &'a str,
        lifetime: Duration,
    ) -> inframind_cache::StoreFuture<'a, u64> {
        self.inner.scope_generation(scope, lifetime)
    }
    fn put<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        ttl: Duration,
    ) -> inframind_cache::StoreFuture<'a, inframind_cache::PutOutcome> {
        self.inner.put(key, value, ttl)
    }
    fn delete<'a>(&'a self, key: &'a str) -> inframind_cache::StoreFuture<'a, bool> {
        self.inner.delete(key)
    }
    fn bump_namespace<'a>(&'a self, namespace: &'a str) -> inframind_cache::StoreFuture<'a, ()> {
        self.inner.bump_namespace(namespace)
    }
    fn delete_matching<'a>(&'a self, pattern: &'a str) -> inframind_cache::StoreFuture<'a, u64> {
        self.inner.delete_matching(pattern)
    }
}

#[tokio::test]
async fn a_wrapped_memory_store_keeps_the_ready_hit_path() {
    let origin = Origin::echo();
    let store = Arc::new(Wrapped {
        inner: MemoryStore::new(),
        lookups: Default::default(),
        ready: true,
    });
    let handle = inframind_cache::CacheHandle::from_arc(Arc::clone(&store) as _);
    let svc = service(&handle.layer().prefix("wrapped").build().unwrap(), &origin);
    assert_eq!(send(&svc, get("/a")).await.x_cache(), "MISS");
    let before = store.lookups.load(Ordering::SeqCst);
    for _ in 0..3 {
        let got = send(&svc, get("/a")).await;
        assert_eq!(got.x_cache(), "HIT");
        assert!(got.cache_status().starts_with("inframind; hit; ttl="));
    }
    assert_eq!(
        store.lookups.load(Ordering::SeqCst),
        before,
        "hits went past the store's ready entries"
    );
}

#[tokio::test]
async fn one_memory_store_under_two_handles_shares_invalidation() {
    let origin = Origin::echo();
    let store = MemoryStore::new();
    let a = inframind_cache::CacheHandle::new(store.clone());
    let b = inframind_cache::CacheHandle::new(store);
    let layer = a.layer().prefix("team:list").build().unwrap();
    let svc = service(&layer, &origin);
    send(&svc, get("/a")).await;
    assert_eq!(send(&svc, get("/a")).await.x_cache(), "HIT");
    // A parent namespace invalidated through the other handle.
    b.invalidate_namespace("team").await.unwrap();
    assert_eq!(send(&svc, get("/a")).await.x_cache(), "MISS");
    assert_eq!(origin.calls(), 2);
}

#[tokio::test]
async fn an_entry_with_the_caches_own_headers_stored_is_served_with_fresh_ones() {
    use inframind_cache::envelope::Envelope;
    let origin = Origin::echo();
    // Without path scopes, so the entry's generations are just its namespace's.
    let layer = layer()
        .prefix("foreign")
        .invalidate_on_unsafe(false)
        .build()
        .unwrap();
    let svc = service(&layer, &origin);
    let key = layer.key_for(&get("/a")).unwrap();
    let handle = layer.handle();
    let mut headers = http::HeaderMap::new();
    headers.insert("age", "999".parse().unwrap());
    headers.insert("x-cache", "MISS".parse().unwrap());
    headers.insert("content-type", "text/plain".parse().unwrap());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let envelope = Envelope {
        status: StatusCode::OK,
        headers,
        body: Bytes::from_static(b"stored"),
        compressed: false,
        plain_len: 6,
        stored_at_ms: now,
        ttl_ms: 60_000,
        stale_while_revalidate_ms: 0,
        stale_if_error_ms: 0,
        etag: inframind_cache::envelope::etag_of(b"stored"),
        generations: vec![0],
    };
    handle
        .store()
        .put(&key, envelope.encode(), Duration::from_secs(60))
        .await
        .unwrap();
    let got = send(&svc, get("/a")).await;
    assert_eq!((got.x_cache(), got.text().as_str()), ("HIT", "stored"));
    assert_eq!(got.headers.get_all("age").iter().count(), 1);
    assert_eq!(got.headers["age"], "0");
    assert_eq!(got.headers.get_all("x-cache").iter().count(), 1);
    assert_eq!(got.headers["content-length"], "6");
    let etag = inframind_cache::envelope::etag_of(b"stored");
    let hex: String = etag.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(got.headers["etag"], format!("\"{hex}\""));
    assert_eq!(origin.calls(), 0);
}

/// A compressed entry's hits take the ready path too (identity clients get the body
/// decompressed once, when it was stored) and answer exactly as the ordinary path does: for
/// identity and zstd clients, HEAD, and `If-None-Match` with either representation's tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_entries_hit_ready_as_the_ordinary_path_answers() {
    let body: String = (0..400)
        .map(|i| format!("{{\"id\":{i},\"title\":\"assessment {i}\"}},"))
        .collect();
    let mut answers = Vec::new();
    for ready in [true, false] {
        let reply = body.clone();
        let origin = Origin::new(move |_, _| Reply::ok(reply.clone()));
        let store = Arc::new(Wrapped {
            inner: MemoryStore::new(),
            lookups: Default::default(),
            ready,
        });
        let handle = inframind_cache::CacheHandle::from_arc(Arc::clone(&store) as _);
        let layer = handle
            .layer()
            .prefix("compressed")
            .compress_above(256)
            .build()
            .unwrap();
        let svc = service(&layer, &origin);
        let with = |name: &'static str, value: String| {
            Request::get("/list").header(name, value).body(()).unwrap()
        };
        assert_eq!(send(&svc, get("/list")).await.x_cache(), "MISS");
        let before = store.lookups.load(Ordering::SeqCst);
        let identity = send(&svc, get("/list")).await;
        let zstd = send(&svc, with("accept-encoding", "zstd".into())).await;
        let tag = |got: &Got| got.headers["etag"].to_str().unwrap().to_owned();
        let (plain_tag, zstd_tag) = (tag(&identity), tag(&zstd));
        let got = vec![
            send(&svc, Request::head("/list").body(()).unwrap()).await,
            send(&svc, with("if-none-match", plain_tag.clone())).await,
            send(
                &svc,
                Request::get("/list")
                    .header("accept-encoding", "zstd")
                    .header("if-none-match", zstd_tag.clone())
                    .body(())
                    .unwrap(),
            )
            .await,
            identity,
            zstd,
        ];
        assert_ne!(plain_tag, zstd_tag);
        assert_eq!(got[3].text(), body, "identity clients get the plain body");
        assert_eq!(got[4].headers["content-encoding"], "zstd");
        assert_eq!(zstd::decode_all(&got[4].body[..]).unwrap(), body.as_bytes());
        assert_eq!(got[1].status, StatusCode::NOT_MODIFIED);
        assert_eq!(got[2].status, StatusCode::NOT_MODIFIED);
        if ready {
            assert_eq!(
                store.lookups.load(Ordering::SeqCst),
                before,
                "every hit was served from the ready entry"
            );
        }
        answers.push(
            got.into_iter()
                .map(|mut g| {
                    // Time moves between the two runs: the seconds left and the age may differ.
                    let status = g.headers.remove("cache-status").unwrap();
                    assert!(status.to_str().unwrap().starts_with("inframind; hit; ttl="));
                    g.headers.remove("age");
                    (g.status, g.headers, g.body)
                })
                .collect::<Vec<_>>(),
        );
    }
    for (i, (ready, ordinary)) in answers[0].iter().zip(&answers[1]).enumerate() {
        assert_eq!(ready.0, ordinary.0, "answer {i}: status");
        assert_eq!(ready.1, ordinary.1, "answer {i}: headers");
        assert!(ready.2 == ordinary.2, "answer {i}: bodies differ");
    }
}
