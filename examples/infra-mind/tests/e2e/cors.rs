//! CORS over real HTTP: any origin may read the API and the headers a frontend needs, a
//! preflight is answered without reaching a handler, and no answer varies on the request's
//! CORS headers (so shared caches keep one copy, not one per origin).

use reqwest::{Method, StatusCode};

use crate::common::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_origin_reads_the_api_and_its_exposed_headers() {
    let app = TestApp::embedded().await;
    for origin in ["https://app.example", "http://localhost:5173"] {
        let answer = app
            .client
            .get(app.url("/api/assessments"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let headers = answer.headers();
        assert_eq!(headers["access-control-allow-origin"], "*");
        let exposed = headers["access-control-expose-headers"].to_str().unwrap();
        for name in ["x-request-id", "retry-after", "etag", "x-cache"] {
            assert!(exposed.contains(name), "{exposed}");
        }
        // The cache's own `Vary: accept-encoding` may be there; nothing on the CORS headers.
        for vary in headers.get_all("vary") {
            let vary = vary.to_str().unwrap();
            assert!(
                !vary.contains("origin") && !vary.contains("access-control"),
                "{vary}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preflight_is_answered_with_the_allowed_methods_and_headers() {
    let app = TestApp::embedded().await;
    let answer = app
        .client
        .request(Method::OPTIONS, app.url("/api/assessments"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let headers = answer.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    for method in ["GET", "POST", "PUT", "DELETE"] {
        assert!(methods.contains(method), "{methods}");
    }
    let allowed = headers["access-control-allow-headers"].to_str().unwrap();
    for name in ["authorization", "content-type", "x-request-id"] {
        assert!(allowed.contains(name), "{allowed}");
    }
    assert!(headers.get("vary").is_none(), "{headers:?}");
}
