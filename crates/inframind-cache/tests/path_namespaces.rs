//! Namespaces derived from the request path (`prefix_from_path`), on the in-process store and
//! on real Redis: one item's invalidation leaves the others cached, hostile values never
//! escape their namespace, and the rest of the cache (single flight, per-user keys, ETags,
//! stale windows, unsafe-method invalidation) works as with a fixed prefix.

mod common;

use std::time::Duration;

use common::*;
use http::{Request, StatusCode};
use inframind_cache::{
    CacheError, CacheHandle, CacheLayer, CachePrincipal, MemoryStore, namespace_segment,
};

fn item_layer(handle: &CacheHandle) -> CacheLayer {
    handle
        .layer()
        .ttl(Duration::from_secs(60))
        .prefix_from_path("/api/assessments/{id}", "assessments:{id}")
        .build()
        .expect("valid template")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidating_one_item_leaves_the_others_hits() {
    for handle in handles().await {
        let origin = Origin::echo();
        let items = service(&item_layer(&handle), &origin);
        let list = service(
            &handle.layer().prefix("assessments:list").build().unwrap(),
            &origin,
        );
        let (a, b) = ("/api/assessments/aaa", "/api/assessments/bbb");
        for uri in [a, b, "/api/assessments"] {
            let svc = if uri == "/api/assessments" {
                &list
            } else {
                &items
            };
            assert_eq!(send(svc, get(uri)).await.x_cache(), "MISS", "{uri}");
            assert_eq!(send(svc, get(uri)).await.x_cache(), "HIT", "{uri}");
        }
        handle
            .invalidate_namespace("assessments:aaa")
            .await
            .unwrap();
        assert_eq!(send(&items, get(a)).await.x_cache(), "MISS");
        assert_eq!(send(&items, get(b)).await.x_cache(), "HIT");
        assert_eq!(send(&list, get("/api/assessments")).await.x_cache(), "HIT");
        assert_eq!(send(&items, get(a)).await.x_cache(), "HIT");
        // The parent still covers every item, and only the parent's subtree.
        handle.invalidate_namespace("assessments").await.unwrap();
        assert_eq!(send(&items, get(a)).await.x_cache(), "MISS");
        assert_eq!(send(&items, get(b)).await.x_cache(), "MISS");
        assert_eq!(send(&list, get("/api/assessments")).await.x_cache(), "MISS");
        assert_eq!(origin.calls(), 7, "{handle:?}");
        let key = item_layer(&handle).key_for(&get(a)).unwrap();
        assert!(key.starts_with("assessments:aaa:"), "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_and_the_ones_below_it_are_invalidated_together() {
    for handle in handles().await {
        let origin = Origin::echo();
        let item = service(&item_layer(&handle), &origin);
        let full = service(
            &handle
                .layer()
                .prefix_from_path("/api/assessments/{id}/full", "assessments:{id}:full")
                .build()
                .unwrap(),
            &origin,
        );
        let paths = [
            (&item, "/api/assessments/a"),
            (&full, "/api/assessments/a/full"),
            (&item, "/api/assessments/b"),
            (&full, "/api/assessments/b/full"),
        ];
        for (svc, path) in paths {
            assert_eq!(send(svc, get(path)).await.x_cache(), "MISS");
        }
        handle.invalidate_namespace("assessments:a").await.unwrap();
        let got: Vec<String> = {
            let mut got = Vec::new();
            for (svc, path) in paths {
                got.push(send(svc, get(path)).await.x_cache().to_owned());
            }
            got
        };
        assert_eq!(got, ["MISS", "MISS", "HIT", "HIT"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_layer_on_several_routes_shares_the_item_namespace() {
    for handle in handles().await {
        let origin = Origin::echo();
        let layer = handle
            .layer()
            .prefix_from_path("/api/assessments/{id}", "assessments:{id}")
            .prefix_from_path("/api/assessments/{id}/full", "assessments:{id}")
            .build()
            .unwrap();
        let svc = service(&layer, &origin);
        let paths = [
            "/api/assessments/a",
            "/api/assessments/a/full",
            "/api/assessments/b",
            "/api/assessments/b/full",
        ];
        for path in paths {
            assert_eq!(send(&svc, get(path)).await.x_cache(), "MISS", "{path}");
            assert_eq!(send(&svc, get(path)).await.x_cache(), "HIT", "{path}");
        }
        handle.invalidate_namespace("assessments:b").await.unwrap();
        let mut got = Vec::new();
        for path in paths {
            got.push(send(&svc, get(path)).await.x_cache().to_owned());
        }
        assert_eq!(got, ["HIT", "HIT", "MISS", "MISS"]);
        assert_eq!(
            send(&svc, get("/api/assessments/a/other"))
                .await
                .cache_status(),
            "inframind; fwd=bypass; detail=namespace"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_stay_in_their_own_namespace_or_pass_through() {
    for handle in handles().await {
        let origin = Origin::echo();
        let items = service(&item_layer(&handle), &origin);
        let hostile = [
            "*", "%2A", "%3F", "%5B", "a%3Ab", "@p", "%40p", "%25", "..", "a.b-c_d",
        ];
        for value in hostile {
            let uri = format!("/api/assessments/{value}");
            let first = send(&items, get(&uri)).await;
            assert_eq!(first.status, StatusCode::OK, "{uri}");
            assert_eq!(first.x_cache(), "MISS", "{uri}");
            assert_eq!(send(&items, get(&uri)).await.x_cache(), "HIT", "{uri}");
        }
        // Invalidating `*` (escaped) drops only that value, however it was spelled in the
        // path (`*` and `%2A` are keyed apart but share the namespace): the glob never
        // reaches the store.
        let star = format!("assessments:{}", namespace_segment("*").unwrap());
        assert_eq!(star, "assessments:%2A");
        handle.invalidate_namespace(&star).await.unwrap();
        for uri in ["/api/assessments/*", "/api/assessments/%2A"] {
            assert_eq!(send(&items, get(uri)).await.x_cache(), "MISS", "{uri}");
        }
        assert_eq!(
            send(&items, get("/api/assessments/a%3Ab")).await.x_cache(),
            "HIT"
        );
        // An unescaped glob is rejected by the handle, never sent as a pattern.
        assert!(matches!(
            handle.invalidate_namespace("assessments:*").await,
            Err(CacheError::InvalidNamespace { .. })
        ));
        // A value that gives no namespace passes through uncached, never an error.
        let long = format!("/api/assessments/{}", "x".repeat(4096));
        for uri in [
            "/api/assessments/",
            "/api/assessments/%zz",
            "/api/assessments/a/b",
            "/api/other/1",
            long.as_str(),
        ] {
            for _ in 0..2 {
                let got = send(&items, get(uri)).await;
                assert_eq!(got.status, StatusCode::OK, "{uri}");
                assert_eq!(got.x_cache(), "BYPASS", "{uri}");
                assert_eq!(
                    got.cache_status(),
                    "inframind; fwd=bypass; detail=namespace",
                    "{uri}"
                );
            }
        }
        assert!(item_layer(&handle).key_for(&get(&long)).is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_flight_etags_per_user_and_unsafe_invalidation_keep_working() {
    for handle in handles().await {
        // Single flight: a burst on one item calls the origin once.
        let slow = Origin::new(|req, n| {
            Reply::ok(format!(
                "{{\"path\":\"{}\",\"call\":{n}}}",
                req.uri().path()
            ))
            .delay(Duration::from_millis(100))
        });
        let items = service(&item_layer(&handle), &slow);
        let burst: Vec<_> = (0..16)
            .map(|_| {
                let items = items.clone();
                tokio::spawn(async move { send(&items, get("/api/assessments/burst")).await })
            })
            .collect();
        for task in burst {
            assert_eq!(task.await.unwrap().status, StatusCode::OK);
        }
        assert_eq!(slow.calls(), 1, "{handle:?}");

        // ETags: a matching If-None-Match is a 304 from the derived namespace's entry.
        let origin = Origin::echo();
        let items = service(&item_layer(&handle), &origin);
        let first = send(&items, get("/api/assessments/etag")).await;
        let etag = first.headers["etag"].to_str().unwrap().to_owned();
        let conditional = Request::get("/api/assessments/etag")
            .header("if-none-match", etag)
            .body(())
            .unwrap();
        assert_eq!(
            send(&items, conditional).await.status,
            StatusCode::NOT_MODIFIED
        );

        // Unsafe methods through the layer invalidate their path.
        let put = Request::put("/api/assessments/etag").body(()).unwrap();
        assert_eq!(send(&items, put).await.x_cache(), "BYPASS");
        assert_eq!(
            send(&items, get("/api/assessments/etag")).await.x_cache(),
            "MISS"
        );

        // Per-user keys under a derived namespace: users never share entries.
        let per_user = service(
            &handle
                .layer()
                .prefix_from_path("/api/users/{user}/assessments", "users:{user}:assessments")
                .per_user()
                .build()
                .unwrap(),
            &origin,
        );
        let as_user = |who: &str| {
            let mut req = get("/api/users/u1/assessments");
            req.extensions_mut().insert(CachePrincipal::new(who));
            req
        };
        assert_eq!(send(&per_user, as_user("alice")).await.x_cache(), "MISS");
        assert_eq!(send(&per_user, as_user("bob")).await.x_cache(), "MISS");
        assert_eq!(send(&per_user, as_user("alice")).await.x_cache(), "HIT");
        handle
            .invalidate_namespace("users:u1:assessments")
            .await
            .unwrap();
        assert_eq!(send(&per_user, as_user("alice")).await.x_cache(), "MISS");
        let anonymous = send(&per_user, get("/api/users/u1/assessments")).await;
        assert_eq!(anonymous.cache_status(), "inframind; fwd=request");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_windows_work_under_a_derived_namespace() {
    for handle in handles().await {
        let origin = Origin::echo();
        let items = service(
            &handle
                .layer()
                .ttl(Duration::from_millis(200))
                .stale_while_revalidate(Duration::from_secs(30))
                .prefix_from_path("/api/assessments/{id}", "assessments:{id}")
                .build()
                .unwrap(),
            &origin,
        );
        assert_eq!(
            send(&items, get("/api/assessments/s")).await.x_cache(),
            "MISS"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            send(&items, get("/api/assessments/s")).await.x_cache(),
            "STALE"
        );
        // The background refresh stores under the derived namespace: a HIT follows.
        let mut refreshed = false;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if origin.calls() == 2 {
                refreshed = true;
                break;
            }
        }
        assert!(refreshed, "the stale entry was refreshed");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            send(&items, get("/api/assessments/s")).await.x_cache(),
            "HIT"
        );
        // Invalidation reaches the refreshed entry.
        handle.invalidate_namespace("assessments:s").await.unwrap();
        assert_eq!(
            send(&items, get("/api/assessments/s")).await.x_cache(),
            "MISS"
        );
    }
}

#[test]
fn bad_templates_are_builder_errors() {
    let handle = CacheHandle::new(MemoryStore::new());
    for (route, template) in [
        ("/api/assessments/{id}", "assessments:{other}"),
        ("/api/assessments/{id}", "assessments:*:{id}"),
        ("api/assessments/{id}", "assessments:{id}"),
        ("/api/assessments/{id}", "{id}"),
        ("/api/assessments/{id}", "assessments:x{id}"),
    ] {
        let built = handle.layer().prefix_from_path(route, template).build();
        assert!(
            matches!(
                built,
                Err(CacheError::InvalidNamespace { .. } | CacheError::InvalidSetting { .. })
            ),
            "{route} {template}"
        );
    }
    // `prefix` after `prefix_from_path` is a fixed namespace again.
    let fixed = handle
        .layer()
        .prefix_from_path("/api/assessments/{id}", "assessments:{id}")
        .prefix("assessments:list")
        .build()
        .unwrap();
    assert!(
        fixed
            .key_for(&get("/api/assessments/1"))
            .unwrap()
            .starts_with("assessments:list:")
    );
}
