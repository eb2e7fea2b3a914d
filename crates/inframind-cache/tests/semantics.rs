//! HTTP caching semantics (RFC 9111, RFC 5861, RFC 9211), each run on the in-process store
//! and on real Redis.

mod common;

use std::time::Duration;

use common::*;
use http::{Request, StatusCode};
use inframind_cache::{CacheError, CacheLayer, MemoryStore};

fn ttl_of(got: &Got) -> i64 {
    got.cache_status()
        .split("; ")
        .find_map(|p| p.strip_prefix("ttl="))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no ttl in {}", got.cache_status()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_freshness_bounds_the_ttl_and_the_layer_ttl_caps_it() {
    for handle in handles().await {
        let origin = Origin::new(|req, n| {
            let cc = match req.uri().path() {
                "/max-age" => "max-age=1",
                "/s-maxage" => "s-maxage=1, max-age=600",
                "/long" => "max-age=100000",
                _ => "",
            };
            let reply = Reply::ok(format!("{n}"));
            let reply = if cc.is_empty() {
                reply
            } else {
                reply.header("cache-control", cc)
            };
            if req.uri().path() == "/expires" {
                return reply
                    .header("date", "Tue, 01 Dec 2026 10:00:00 GMT")
                    .header("expires", "Tue, 01 Dec 2026 10:00:01 GMT");
            }
            reply
        });
        let layer = handle
            .layer()
            .prefix("fresh")
            .ttl(Duration::from_secs(60))
            .build()
            .unwrap();
        let svc = service(&layer, &origin);
        for path in ["/max-age", "/s-maxage", "/expires", "/long", "/none"] {
            assert_eq!(send(&svc, get(path)).await.x_cache(), "MISS", "{path}");
            let hit = send(&svc, get(path)).await;
            assert_eq!(hit.x_cache(), "HIT", "{path}");
            let ceiling = if matches!(path, "/long" | "/none") {
                60
            } else {
                1
            };
            assert!(ttl_of(&hit) <= ceiling, "{path}: {}", hit.cache_status());
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
        for (path, want) in [
            ("/max-age", "MISS"),
            ("/s-maxage", "MISS"),
            ("/expires", "MISS"),
            ("/long", "HIT"),
            ("/none", "HIT"),
        ] {
            assert_eq!(send(&svc, get(path)).await.x_cache(), want, "{path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_zero_is_not_stored_unless_a_stale_window_applies() {
    for handle in handles().await {
        let origin = Origin::new(|req, n| {
            let cc = match req.uri().path() {
                "/zero" => "max-age=0",
                "/s-zero" => "s-maxage=0",
                _ => "max-age=0, stale-while-revalidate=30",
            };
            Reply::ok(format!("{n}"))
                .header("cache-control", cc)
                .delay(Duration::from_millis(20))
        });
        let layer = handle.layer().prefix("zero").build().unwrap();
        let svc = service(&layer, &origin);
        for path in ["/zero", "/s-zero"] {
            let first = send(&svc, get(path)).await;
            assert!(!first.cache_status().contains("stored"), "{path}");
            assert_eq!(send(&svc, get(path)).await.x_cache(), "MISS", "{path}");
        }
        let first = send(&svc, get("/swr")).await;
        assert!(
            first.cache_status().contains("stored"),
            "{}",
            first.cache_status()
        );
        let stale = send(&svc, get("/swr")).await;
        assert_eq!(stale.x_cache(), "STALE");
        assert!(stale.cache_status().contains("stale-while-revalidate"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_age_counts_and_must_revalidate_is_never_served_stale() {
    for handle in handles().await {
        let origin = Origin::new(|req, n| {
            let reply = Reply::ok(format!("{n}"));
            match req.uri().path() {
                // 100 s allowed, 99 of them already spent upstream: a second left.
                "/aged" => reply
                    .header("cache-control", "max-age=100")
                    .header("age", "99"),
                _ if n > 1 => Reply::ok("down").status(StatusCode::BAD_GATEWAY),
                _ => reply.header("cache-control", "max-age=1, must-revalidate"),
            }
        });
        let layer = handle
            .layer()
            .prefix("revalidate")
            .stale_if_error(Duration::from_secs(60))
            .stale_while_revalidate(Duration::from_secs(60))
            .build()
            .unwrap();
        let svc = service(&layer, &origin);
        send(&svc, get("/strict")).await;
        send(&svc, get("/aged")).await;
        let aged = send(&svc, get("/aged")).await;
        assert_eq!(aged.x_cache(), "HIT");
        assert!(ttl_of(&aged) <= 1, "{}", aged.cache_status());
        tokio::time::sleep(Duration::from_millis(1100)).await;
        // Expired, the origin failing, windows configured: still not served stale.
        let strict = send(&svc, get("/strict")).await;
        assert_eq!(strict.x_cache(), "MISS");
        assert_eq!(strict.status, StatusCode::BAD_GATEWAY);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_stale_if_error_is_honoured() {
    for handle in handles().await {
        let origin = Origin::new(|_, n| {
            if n == 1 {
                Reply::ok("v1").header("cache-control", "max-age=1, stale-if-error=60")
            } else {
                Reply::ok("down").status(StatusCode::BAD_GATEWAY)
            }
        });
        let layer = handle.layer().prefix("sie").build().unwrap();
        let svc = service(&layer, &origin);
        send(&svc, get("/a")).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let got = send(&svc, get("/a")).await;
        assert_eq!((got.x_cache(), got.text().as_str()), ("STALE", "v1"));
        assert!(got.cache_status().contains("detail=stale-if-error"));
    }
}

#[tokio::test]
async fn request_no_cache_is_ignored_by_default_and_honoured_when_configured() {
    for handle in handles().await {
        let origin = Origin::echo();
        let no_cache = |value: &'static str| {
            Request::get("/a")
                .header("cache-control", value)
                .body(())
                .unwrap()
        };
        let default = service(&handle.layer().prefix("rq1").build().unwrap(), &origin);
        send(&default, get("/a")).await;
        for value in ["no-cache", "max-age=0"] {
            assert_eq!(send(&default, no_cache(value)).await.x_cache(), "HIT");
        }
        let honouring = handle
            .layer()
            .prefix("rq2")
            .honour_request_no_cache(true)
            .build()
            .unwrap();
        let svc = service(&honouring, &origin);
        let first = send(&svc, get("/a")).await;
        let forced = send(&svc, no_cache("no-cache")).await;
        assert_eq!(forced.x_cache(), "MISS");
        assert!(
            forced.cache_status().contains("fwd=request")
                && forced.cache_status().contains("stored"),
            "{}",
            forced.cache_status()
        );
        assert_ne!(forced.body, first.body);
        let after = send(&svc, get("/a")).await;
        assert_eq!((after.x_cache(), &after.body), ("HIT", &forced.body));
    }
}

#[tokio::test]
async fn authenticated_reads_share_entries_only_on_an_opted_in_route() {
    for handle in handles().await {
        let origin = Origin::echo();
        let authed = || {
            Request::get("/catalogue")
                .header("authorization", "Bearer user-42")
                .body(())
                .unwrap()
        };
        let public = handle
            .layer()
            .prefix("catalogue")
            .share_authenticated()
            .build()
            .unwrap();
        let svc = service(&public, &origin);
        let anonymous = send(&svc, get("/catalogue")).await;
        let logged_in = send(&svc, authed()).await;
        assert_eq!(logged_in.x_cache(), "HIT");
        assert_eq!(logged_in.body, anonymous.body);

        let closed = service(&handle.layer().prefix("closed").build().unwrap(), &origin);
        send(&closed, get("/catalogue")).await;
        let got = send(&closed, authed()).await;
        assert_eq!(got.x_cache(), "BYPASS");
        assert!(got.cache_status().ends_with("fwd=request"));
        // Private responses are never shared, opted in or not.
        let private_origin =
            Origin::new(|_, n| Reply::ok(format!("{n}")).header("cache-control", "private"));
        let svc = service(&public, &private_origin);
        let mine = || {
            Request::get("/mine")
                .header("authorization", "Bearer user-42")
                .body(())
                .unwrap()
        };
        send(&svc, mine()).await;
        assert_eq!(send(&svc, mine()).await.x_cache(), "MISS");
    }
}

#[tokio::test]
async fn head_is_answered_from_the_stored_get_with_the_same_etag() {
    for handle in handles().await {
        let origin = Origin::echo();
        let svc = service(&handle.layer().prefix("head").build().unwrap(), &origin);
        let full = send(&svc, get("/a")).await;
        let head = send(&svc, Request::head("/a").body(()).unwrap()).await;
        assert_eq!((head.status, head.x_cache()), (StatusCode::OK, "HIT"));
        assert_eq!(head.headers["etag"], full.headers["etag"]);
        assert_eq!(
            head.headers["content-length"],
            full.body.len().to_string().as_str()
        );
        assert!(head.body.is_empty());
        // A HEAD miss fills the entry with a GET, whose body a later GET gets.
        let head = send(&svc, Request::head("/b").body(()).unwrap()).await;
        assert!(head.body.is_empty());
        let got = send(&svc, get("/b")).await;
        assert_eq!(got.x_cache(), "HIT");
        assert!(got.text().contains("\"path\":\"/b\""));
        assert_eq!(origin.calls(), 2);
    }
}

#[tokio::test]
async fn cache_status_follows_rfc_9211_for_bypasses() {
    for handle in handles().await {
        let origin = Origin::echo();
        let svc = service(&handle.layer().prefix("rfc").build().unwrap(), &origin);
        let post = send(&svc, Request::post("/a").body(()).unwrap()).await;
        assert_eq!(post.cache_status(), "inframind; fwd=method");
        let cookie = Request::get("/a").header("cookie", "s=1").body(()).unwrap();
        assert_eq!(
            send(&svc, cookie).await.cache_status(),
            "inframind; fwd=request"
        );
        let miss = send(&svc, get("/a")).await;
        assert_eq!(
            miss.cache_status(),
            "inframind; fwd=uri-miss; fwd-status=200; stored"
        );
    }
}

#[test]
fn the_builder_rejects_settings_that_cannot_work() {
    let builder = || CacheLayer::builder(MemoryStore::new());
    let setting = |result: Result<CacheLayer, CacheError>| match result {
        Err(CacheError::InvalidSetting { setting, .. }) => setting,
        other => panic!("{other:?}"),
    };
    assert_eq!(setting(builder().max_body(0).build()), "max_body");
    assert_eq!(
        setting(builder().cacheable_statuses([]).build()),
        "cacheable_statuses"
    );
    assert_eq!(
        setting(builder().ttl(Duration::from_secs(366 * 24 * 3600)).build()),
        "ttl"
    );
    assert!(
        builder()
            .ttl(Duration::from_secs(365 * 24 * 3600))
            .build()
            .is_ok()
    );
}

#[tokio::test]
async fn a_successful_unsafe_request_invalidates_its_uri_with_every_query_variant() {
    for handle in handles().await {
        let origin = Origin::new(|req, n| match (req.method().as_str(), req.uri().path()) {
            ("POST", "/items") => Reply::ok("created")
                .status(StatusCode::CREATED)
                .header("location", "/items/7")
                .header("content-location", "https://elsewhere.example/items/8"),
            ("DELETE", _) => Reply::ok("no").status(StatusCode::INTERNAL_SERVER_ERROR),
            _ => Reply::ok(format!("{n}")),
        });
        let layer = handle.layer().prefix("unsafe").build().unwrap();
        let svc = service(&layer, &origin);
        let on = |method: &str, uri: &str| {
            Request::builder()
                .method(method)
                .uri(uri)
                .header("host", "shop.example")
                .body(())
                .unwrap()
        };
        let paths = ["/items", "/items?page=2", "/items/7", "/items/8", "/other"];
        for path in paths {
            send(&svc, on("GET", path)).await;
            assert_eq!(send(&svc, on("GET", path)).await.x_cache(), "HIT", "{path}");
        }
        // A failed unsafe request changes nothing.
        assert_eq!(send(&svc, on("DELETE", "/items")).await.status, 500);
        for path in paths {
            assert_eq!(send(&svc, on("GET", path)).await.x_cache(), "HIT", "{path}");
        }
        let created = send(&svc, on("POST", "/items?draft=1")).await;
        assert_eq!(created.status, StatusCode::CREATED);
        assert_eq!(created.cache_status(), "inframind; fwd=method");
        for (path, want) in [
            ("/items", "MISS"),
            ("/items?page=2", "MISS"),
            // Named by `Location`, on the same host.
            ("/items/7", "MISS"),
            // Named by `Content-Location`, on another host: not ours to invalidate.
            ("/items/8", "HIT"),
            ("/other", "HIT"),
        ] {
            assert_eq!(send(&svc, on("GET", path)).await.x_cache(), want, "{path}");
        }
        // Stored again after the write, and hit.
        assert_eq!(send(&svc, on("GET", "/items")).await.x_cache(), "HIT");
        // On another host, the same path is another URI.
        let elsewhere = Request::get("/items")
            .header("host", "other.example")
            .body(())
            .unwrap();
        send(&svc, elsewhere).await;
        send(&svc, on("POST", "/items")).await;
        let elsewhere = Request::get("/items")
            .header("host", "other.example")
            .body(())
            .unwrap();
        assert_eq!(send(&svc, elsewhere).await.x_cache(), "HIT");
    }
}

#[tokio::test]
async fn unsafe_invalidation_can_be_turned_off() {
    for handle in handles().await {
        let origin = Origin::echo();
        let layer = handle
            .layer()
            .prefix("keep")
            .invalidate_on_unsafe(false)
            .build()
            .unwrap();
        let svc = service(&layer, &origin);
        send(&svc, get("/items")).await;
        send(&svc, Request::post("/items").body(()).unwrap()).await;
        assert_eq!(send(&svc, get("/items")).await.x_cache(), "HIT");
    }
}

#[tokio::test]
async fn store_operations_are_timed_in_latency_buckets() {
    use inframind_cache::OperationLatency;
    for (i, handle) in handles().await.into_iter().enumerate() {
        let remote = i > 0;
        let origin = Origin::echo();
        let layer = handle.layer().prefix("timed").build().unwrap();
        let svc = service(&layer, &origin);
        send(&svc, get("/a")).await; // a lookup, the leader's second look, a write
        send(&svc, get("/a")).await; // a hit
        send(&svc, Request::post("/a").body(()).unwrap()).await; // drops the path scope
        handle.invalidate_namespace("timed").await.unwrap();
        let stats = handle.stats();
        let check = |latency: &OperationLatency, count: u64, what: &str| {
            assert_eq!(latency.count, count, "{what}: {latency:?}");
            assert_eq!(latency.bucket_counts.iter().sum::<u64>(), count, "{what}");
            assert!(latency.sum_seconds > 0.0, "{what}: {latency:?}");
            // Nothing here takes a second.
            assert_eq!(latency.bucket_counts[12], 0, "{what}");
        };
        // The in-process store's hit is served from its decoded entries, untimed.
        check(&stats.get_latency, if remote { 3 } else { 2 }, "get");
        check(&stats.put_latency, 1, "put");
        check(&stats.invalidate_latency, 2, "invalidate");
        assert_eq!(OperationLatency::BOUNDS_SECONDS.len() + 1, 13);
    }
}
