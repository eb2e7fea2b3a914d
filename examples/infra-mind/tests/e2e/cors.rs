//! CORS over real HTTP: any origin may read the API and the headers a frontend needs, a
//! preflight is answered without reaching a handler, and no answer varies on the request's
//! CORS headers (so shared caches keep one copy, not one per origin).

use reqwest::{Method, StatusCode};

use crate::common::TestApp;

/// Sends `request` from `origin` and asserts a 200 that any origin may read.
async fn allowed(request: reqwest::RequestBuilder, origin: &str) -> reqwest::Response {
    let answer = request.header("origin", origin).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["access-control-allow-origin"], "*");
    answer
}

/// Asserts that the comma-separated header `name` lists every one of `items`.
fn assert_lists(headers: &reqwest::header::HeaderMap, name: &str, items: &[&str]) {
    let value = headers[name].to_str().unwrap();
    let listed: Vec<&str> = value.split(',').map(str::trim).collect();
    for item in items {
        assert!(listed.contains(item), "{name}: {value}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_origin_reads_the_api_and_its_exposed_headers() {
    let app = TestApp::embedded().await;
    for origin in ["https://app.example", "http://localhost:5173"] {
        let answer = allowed(app.client.get(app.url("/api/assessments")), origin).await;
        let headers = answer.headers();
        assert_lists(
            headers,
            "access-control-expose-headers",
            &["x-request-id", "retry-after", "etag", "x-cache"],
        );
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
    let preflight = app
        .client
        .request(Method::OPTIONS, app.url("/api/assessments"))
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        );
    let answer = allowed(preflight, "https://app.example").await;
    let headers = answer.headers();
    assert_lists(
        headers,
        "access-control-allow-methods",
        &["GET", "POST", "PUT", "DELETE"],
    );
    assert_lists(
        headers,
        "access-control-allow-headers",
        &["authorization", "content-type", "x-request-id"],
    );
    assert!(headers.get("vary").is_none(), "{headers:?}");
}
