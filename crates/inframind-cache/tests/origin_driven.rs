//! The origin-driven mode (`CacheLayerBuilder::origin_driven`): the response's own headers
//! decide, as RFC 9111 says for a shared cache. Each scenario runs on every store.

mod common;

use std::time::Duration;

use common::*;
use http::{Request, StatusCode};
use inframind_cache::{CacheHandle, CacheLayer};

fn layer(handle: &CacheHandle) -> CacheLayer {
    handle
        .layer()
        .prefix("origin")
        .origin_driven()
        .build()
        .unwrap()
}

/// An origin whose every response carries `headers`.
fn origin_with(headers: &'static [(&'static str, &'static str)]) -> Origin {
    Origin::new(move |_, n| {
        let mut reply = Reply::ok(format!("call {n}"));
        for (name, value) in headers {
            reply = reply.header(name, *value);
        }
        reply
    })
}

async fn calls_after_two_gets(handle: &CacheHandle, origin: &Origin, uri: &str) -> u64 {
    let svc = service(&layer(handle), origin);
    send(&svc, get(uri)).await;
    send(&svc, get(uri)).await;
    origin.calls()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freshness_comes_from_the_response_and_there_is_no_default_ttl() {
    for handle in handles().await {
        // No freshness, no validator: never reused (the application mode's TTL would).
        let origin = origin_with(&[]);
        assert_eq!(calls_after_two_gets(&handle, &origin, "/none").await, 2);
        let origin = origin_with(&[("cache-control", "max-age=60")]);
        assert_eq!(calls_after_two_gets(&handle, &origin, "/max-age").await, 1);
        let origin = origin_with(&[("cache-control", "max-age=60, s-maxage=0")]);
        assert_eq!(calls_after_two_gets(&handle, &origin, "/s-maxage").await, 2);
        // Expires against Date; an invalid Expires is already expired.
        let origin = origin_with(&[
            ("date", "Wed, 01 Jan 2020 00:00:00 GMT"),
            ("expires", "Wed, 01 Jan 2020 00:00:00 GMT"),
        ]);
        assert_eq!(calls_after_two_gets(&handle, &origin, "/expired").await, 2);
        let origin = origin_with(&[("expires", "0")]);
        assert_eq!(
            calls_after_two_gets(&handle, &origin, "/expires-0").await,
            2
        );
        let origin = origin_with(&[("expires", "Thu, 01 Jan 2099 00:00:00 GMT")]);
        assert_eq!(calls_after_two_gets(&handle, &origin, "/expires").await, 1);
        // Heuristic freshness from Last-Modified for a 200.
        let origin = origin_with(&[("last-modified", "Wed, 01 Jan 2020 00:00:00 GMT")]);
        assert_eq!(
            calls_after_two_gets(&handle, &origin, "/heuristic").await,
            1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn age_is_computed_and_an_invalid_age_makes_the_response_stale() {
    for handle in handles().await {
        let origin = origin_with(&[("cache-control", "max-age=600"), ("age", "30")]);
        let svc = service(&layer(&handle), &origin);
        send(&svc, get("/aged")).await;
        let hit = send(&svc, get("/aged")).await;
        assert_eq!(origin.calls(), 1);
        let age: u64 = hit.headers["age"].to_str().unwrap().parse().unwrap();
        assert!((30..40).contains(&age), "age {age}");
        // Upstream age past the lifetime: stale on arrival.
        let origin = origin_with(&[("cache-control", "max-age=60"), ("age", "120")]);
        assert_eq!(calls_after_two_gets(&handle, &origin, "/too-old").await, 2);
        for age in ["abc", "-1", "1.5", "0, 0"] {
            let origin = Origin::new(move |_, n| {
                Reply::ok(format!("call {n}"))
                    .header("cache-control", "max-age=600")
                    .header("age", age)
            });
            let uri = format!("/bad-age/{}", age.len());
            assert_eq!(
                calls_after_two_gets(&handle, &origin, &uri).await,
                2,
                "age {age}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_entry_is_validated_and_a_304_updates_its_stored_headers() {
    for handle in handles().await {
        let origin = Origin::new(|req: &Request<()>, n| {
            let validated = req
                .headers()
                .get("if-none-match")
                .is_some_and(|v| v == "\"v1\"");
            let reply = if validated {
                Reply::ok("").status(StatusCode::NOT_MODIFIED)
            } else {
                Reply::ok("the body")
            };
            reply
                .header("cache-control", "max-age=1")
                .header("etag", "\"v1\"")
                .header("x-version", n.to_string())
        });
        let svc = service(&layer(&handle), &origin);
        assert_eq!(send(&svc, get("/doc")).await.text(), "the body");
        send(&svc, get("/doc")).await;
        assert_eq!(origin.calls(), 1);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let validated = send(&svc, get("/doc")).await;
        assert_eq!(origin.calls(), 2, "a conditional request");
        assert_eq!(validated.status, StatusCode::OK);
        assert_eq!(validated.text(), "the body", "the stored body");
        assert_eq!(validated.headers["x-version"], "2", "updated from the 304");
        // Fresh again after the 304, with the updated header.
        let hit = send(&svc, get("/doc")).await;
        assert_eq!(origin.calls(), 2);
        assert_eq!(hit.headers["x-version"], "2");
        // The client's own conditional is answered from the entry.
        let mut conditional = get("/doc");
        conditional
            .headers_mut()
            .insert("if-none-match", "\"v1\"".parse().unwrap());
        assert_eq!(
            send(&svc, conditional).await.status,
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(origin.calls(), 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdn_cache_control_overrides_cache_control() {
    for handle in handles().await {
        let origin = origin_with(&[
            ("cache-control", "no-store"),
            ("cdn-cache-control", "max-age=60"),
        ]);
        assert_eq!(calls_after_two_gets(&handle, &origin, "/cdn-keep").await, 1);
        let origin = origin_with(&[
            ("cache-control", "max-age=60"),
            ("cdn-cache-control", "no-store"),
        ]);
        assert_eq!(calls_after_two_gets(&handle, &origin, "/cdn-drop").await, 2);
        // A field the layer is not told to obey changes nothing.
        let layer = handle
            .layer()
            .prefix("origin")
            .origin_driven()
            .targeted_cache_control([])
            .build()
            .unwrap();
        let origin = origin_with(&[
            ("cache-control", "max-age=60"),
            ("cdn-cache-control", "no-store"),
        ]);
        let svc = service(&layer, &origin);
        send(&svc, get("/cdn-ignored")).await;
        send(&svc, get("/cdn-ignored")).await;
        assert_eq!(origin.calls(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vary_keeps_one_variant_per_request_header_value() {
    for handle in handles().await {
        let origin = Origin::new(|req: &Request<()>, n| {
            let lang = req
                .headers()
                .get("accept-language")
                .map_or("none", |v| v.to_str().unwrap());
            Reply::ok(format!("{lang} {n}"))
                .header("cache-control", "max-age=60")
                .header("vary", "Accept-Language")
        });
        let svc = service(&layer(&handle), &origin);
        let lang = |value: &str| {
            let mut req = get("/page");
            req.headers_mut()
                .insert("accept-language", value.parse().unwrap());
            req
        };
        assert_eq!(send(&svc, lang("en")).await.text(), "en 1");
        assert_eq!(send(&svc, lang("fr")).await.text(), "fr 2");
        assert_eq!(send(&svc, lang("en")).await.text(), "en 1");
        assert_eq!(send(&svc, lang("fr")).await.text(), "fr 2");
        assert_eq!(origin.calls(), 2);
        // Vary: * is never stored.
        let origin = origin_with(&[("cache-control", "max-age=60"), ("vary", "*")]);
        assert_eq!(calls_after_two_gets(&handle, &origin, "/star").await, 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_methods_invalidate_and_directives_are_obeyed() {
    for handle in handles().await {
        let origin = origin_with(&[("cache-control", "max-age=60")]);
        let svc = service(&layer(&handle), &origin);
        send(&svc, get("/item")).await;
        send(&svc, get("/item")).await;
        assert_eq!(origin.calls(), 1);
        // Any method not known to be safe, even one the cache does not know.
        let req = Request::builder()
            .method("M-SEARCH")
            .uri("/item")
            .body(())
            .unwrap();
        send(&svc, req).await;
        assert_eq!(origin.calls(), 2);
        send(&svc, get("/item")).await;
        assert_eq!(origin.calls(), 3, "invalidated");

        // Request no-cache goes to the origin; only-if-cached never does.
        let mut no_cache = get("/item");
        no_cache
            .headers_mut()
            .insert("cache-control", "no-cache".parse().unwrap());
        send(&svc, no_cache).await;
        assert_eq!(origin.calls(), 4);
        let mut only = get("/never-stored");
        only.headers_mut()
            .insert("cache-control", "only-if-cached".parse().unwrap());
        assert_eq!(send(&svc, only).await.status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(origin.calls(), 4);

        for cc in ["private, max-age=60", "no-store, max-age=60"] {
            let origin =
                Origin::new(move |_, n| Reply::ok(format!("call {n}")).header("cache-control", cc));
            let uri = format!("/not-shared/{}", cc.len());
            assert_eq!(
                calls_after_two_gets(&handle, &origin, &uri).await,
                2,
                "{cc}"
            );
        }
        // An authenticated request shares only what the response allows.
        let authorized = |uri: &str| {
            let mut req = get(uri);
            req.headers_mut()
                .insert("authorization", "Bearer x".parse().unwrap());
            req
        };
        let origin = origin_with(&[("cache-control", "max-age=60")]);
        let svc = service(&layer(&handle), &origin);
        send(&svc, authorized("/auth")).await;
        send(&svc, authorized("/auth")).await;
        assert_eq!(origin.calls(), 2);
        let origin = origin_with(&[("cache-control", "public, max-age=60")]);
        let svc = service(&layer(&handle), &origin);
        send(&svc, authorized("/auth-public")).await;
        send(&svc, authorized("/auth-public")).await;
        assert_eq!(origin.calls(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_concurrent_reads_gets_the_stored_response() {
    for handle in handles().await {
        let origin = origin_with(&[("cache-control", "max-age=60")]);
        let svc = service(&layer(&handle), &origin);
        assert_eq!(send(&svc, get("/burst")).await.text(), "call 1");
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let svc = svc.clone();
                tokio::spawn(async move { send(&svc, get("/burst")).await.text() })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), "call 1");
        }
        assert_eq!(origin.calls(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_request_leaves_the_next_one_unharmed() {
    for handle in handles().await {
        let origin = Origin::new(|_, n| {
            let reply = Reply::ok(format!("call {n}")).header("cache-control", "max-age=60");
            // The first answer is slow: its request is dropped before it arrives.
            if n == 1 {
                reply.delay(Duration::from_millis(500))
            } else {
                reply
            }
        });
        let svc = service(&layer(&handle), &origin);
        let dropped = tokio::time::timeout(Duration::from_millis(50), send(&svc, get("/slow")));
        assert!(dropped.await.is_err(), "the first request was cancelled");
        assert_eq!(send(&svc, get("/slow")).await.text(), "call 2");
        assert_eq!(send(&svc, get("/slow")).await.text(), "call 2", "stored");
        assert_eq!(origin.calls(), 2);
    }
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_fails_open_and_stored_responses_return_after_it() {
    let mut server = inframind_test_support::RedisServer::start().expect("redis-server");
    let store = inframind_cache::RedisStore::builder(server.url())
        .timeout(Duration::from_millis(200))
        .connect()
        .await
        .unwrap();
    let handle = CacheHandle::new(store);
    let origin = origin_with(&[("cache-control", "max-age=600")]);
    let svc = service(&layer(&handle), &origin);
    send(&svc, get("/a")).await;
    assert_eq!(send(&svc, get("/a")).await.x_cache(), "HIT");

    server.stop();
    for i in 0..5 {
        let got = send(&svc, get("/a")).await;
        assert_eq!(got.status, StatusCode::OK, "request {i} during the outage");
        assert_eq!(got.x_cache(), "MISS");
    }
    assert_eq!(origin.calls(), 6);
    assert!(handle.stats().store_errors >= 5);

    server.restart().expect("restart redis-server");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = send(&svc, get("/a")).await;
        assert_eq!(got.status, StatusCode::OK);
        if got.x_cache() == "HIT" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "hits never resumed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One step of the model check: a read of a path (in a language), or a write to it.
#[derive(Debug, Clone)]
enum Step {
    Get { path: u8, lang: u8 },
    Post { path: u8 },
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        3 => (0u8..3, 0u8..2).prop_map(|(path, lang)| Step::Get { path, lang }),
        1 => (0u8..3).prop_map(|path| Step::Post { path }),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Against a reference model of a shared cache (a set of stored (path, language)
    /// variants, emptied for a path by a successful write to it), every read is a hit exactly
    /// when the model holds its variant, and a hit returns what the origin said last time.
    #[test]
    fn reads_and_writes_match_a_reference_model(steps in proptest::collection::vec(step(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let handle = CacheHandle::new(inframind_cache::MemoryStore::new());
            let origin = Origin::new(|req: &Request<()>, n| {
                let lang = req
                    .headers()
                    .get("accept-language")
                    .map_or("none", |v| v.to_str().unwrap());
                Reply::ok(format!("{} {lang} {n}", req.uri().path()))
                    .header("cache-control", "max-age=600")
                    .header("vary", "accept-language")
            });
            let svc = service(&layer(&handle), &origin);
            let mut model: std::collections::HashMap<(u8, u8), String> = Default::default();
            for step in steps {
                match step {
                    Step::Get { path, lang } => {
                        let mut req = get(&format!("/p{path}"));
                        let language = ["en", "fr"][usize::from(lang)];
                        req.headers_mut().insert("accept-language", language.parse().unwrap());
                        let before = origin.calls();
                        let got = send(&svc, req).await;
                        let hit = origin.calls() == before;
                        match model.get(&(path, lang)) {
                            Some(body) => {
                                assert!(hit, "{path}/{language}: the model holds it");
                                assert_eq!(&got.text(), body);
                            }
                            None => {
                                assert!(!hit, "{path}/{language}: the model does not hold it");
                                model.insert((path, lang), got.text());
                            }
                        }
                    }
                    Step::Post { path } => {
                        let req = Request::post(format!("/p{path}")).body(()).unwrap();
                        assert_eq!(send(&svc, req).await.status, StatusCode::OK);
                        model.retain(|(p, _), _| *p != path);
                    }
                }
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_while_revalidate_answers_at_once_and_refreshes_in_the_background() {
    for handle in handles().await {
        // The first answer goes stale after 1 s; the refreshed one stays fresh, so a loaded
        // machine's slow polls cannot see it go stale again and trigger a third call.
        let origin = Origin::new(|_, n| {
            let max_age = if n == 1 { 1 } else { 60 };
            Reply::ok(format!("call {n}")).header(
                "cache-control",
                format!("max-age={max_age}, stale-while-revalidate=60"),
            )
        });
        let svc = service(&layer(&handle), &origin);
        assert_eq!(send(&svc, get("/swr")).await.text(), "call 1");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let stale = send(&svc, get("/swr")).await;
        assert_eq!(stale.text(), "call 1");
        assert_eq!(stale.x_cache(), "STALE");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let got = send(&svc, get("/swr")).await;
            if got.text() == "call 2" && got.x_cache() == "HIT" {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "never refreshed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(origin.calls(), 2);
    }
}

type Answer = Result<http::Response<http_body_util::Full<bytes::Bytes>>, std::io::Error>;

/// An origin that answers once, then cannot be reached.
fn failing_after_first(
    cache_control: &'static str,
) -> impl tower::Service<
    Request<()>,
    Response = http::Response<http_body_util::Full<bytes::Bytes>>,
    Error = std::io::Error,
    Future = std::future::Ready<Answer>,
> + Clone {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    tower::service_fn(move |_req: Request<()>| {
        let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::future::ready(if n == 0 {
            let mut response = http::Response::new(http_body_util::Full::new(
                bytes::Bytes::from_static(b"stored"),
            ));
            response
                .headers_mut()
                .insert("cache-control", cache_control.parse().unwrap());
            Ok(response)
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "origin down",
            ))
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_entry_answers_when_the_origin_cannot_be_reached_unless_forbidden() {
    for handle in handles().await {
        let layer = layer(&handle);
        let svc = inframind_cache::CacheService::new(failing_after_first("max-age=1"), &layer);
        assert_eq!(send(&svc, get("/down")).await.text(), "stored");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let got = send(&svc, get("/down")).await;
        assert_eq!(got.text(), "stored");
        assert_eq!(got.x_cache(), "STALE");
        assert!(got.cache_status().contains("stale-if-disconnected"));

        for cc in ["max-age=1, must-revalidate", "max-age=1, s-maxage=1"] {
            let svc = inframind_cache::CacheService::new(failing_after_first(cc), &layer);
            let uri = format!("/down-forbidden/{}", cc.len());
            send(&svc, get(&uri)).await;
            tokio::time::sleep(Duration::from_millis(1100)).await;
            let error = tower::ServiceExt::oneshot(svc.clone(), get(&uri)).await;
            assert!(
                error.is_err(),
                "{cc}: the origin's error, never the stale entry"
            );
        }
    }
}
