//! The inner response's `http::Extensions` survive the layer on every response made from the
//! inner service's own answer (a miss, stored or not, and a bypass); a stored hit has none.

mod common;

use std::convert::Infallible;

use bytes::Bytes;
use common::{Got, handles, send};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::{Layer, ServiceExt};

/// What the inner service attaches, as an error-rendering middleware would read it.
#[derive(Debug, Clone, PartialEq)]
struct ErrorCode(&'static str);

async fn origin(req: Request<()>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"{\"ok\":true}")));
    match req.uri().path() {
        "/error" => *response.status_mut() = StatusCode::NOT_FOUND,
        "/no-store" => {
            response
                .headers_mut()
                .insert("cache-control", "no-store".parse().unwrap());
        }
        _ => {}
    }
    response.extensions_mut().insert(ErrorCode("from-inner"));
    Ok(response)
}

/// The extension on `req`'s response, and its `X-Cache`.
async fn send_keeping_extensions<S>(svc: &S, req: Request<()>) -> (Option<ErrorCode>, String)
where
    S: tower::Service<
            Request<()>,
            Response = Response<inframind_cache::CacheBody<Full<Bytes>>>,
            Error = Infallible,
        > + Clone,
{
    let response = svc.clone().oneshot(req).await.unwrap();
    let code = response.extensions().get::<ErrorCode>().cloned();
    let x_cache = response.headers()["x-cache"].to_str().unwrap().to_owned();
    (code, x_cache)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_from_the_inner_service_keep_its_extensions() {
    for handle in handles().await {
        let layer = handle.layer().prefix("ext").build().unwrap();
        let svc = layer.layer(tower::service_fn(origin));
        let inner = Some(ErrorCode("from-inner"));
        let get = |path: &str| Request::get(path).body(()).unwrap();
        // A miss that is stored: the leader's own response keeps them.
        assert_eq!(
            send_keeping_extensions(&svc, get("/ok")).await,
            (inner.clone(), "MISS".to_owned())
        );
        // A stored hit is made from the entry: no extensions (documented).
        assert_eq!(
            send_keeping_extensions(&svc, get("/ok")).await,
            (None, "HIT".to_owned())
        );
        // Misses not stored (a 404, `no-store`) and bypasses keep them.
        for path in ["/error", "/no-store"] {
            assert_eq!(
                send_keeping_extensions(&svc, get(path)).await,
                (inner.clone(), "MISS".to_owned()),
                "{path}"
            );
        }
        let post = Request::post("/ok").body(()).unwrap();
        assert_eq!(
            send_keeping_extensions(&svc, post).await,
            (inner.clone(), "BYPASS".to_owned())
        );
        let authorized = Request::get("/ok")
            .header("authorization", "Bearer x")
            .body(())
            .unwrap();
        assert_eq!(
            send_keeping_extensions(&svc, authorized).await,
            (inner.clone(), "BYPASS".to_owned())
        );
        // The body is untouched.
        let got: Got = send(&svc, get("/error")).await;
        assert_eq!(got.status, StatusCode::NOT_FOUND);
    }
}
