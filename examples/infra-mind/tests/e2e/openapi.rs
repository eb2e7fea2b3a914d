//! `/openapi.json` is generated from the code: every documented operation is served, and no
//! documented path answers a method the document does not list.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestApp, UNKNOWN_ID};

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_is_served_and_nothing_undocumented_is() {
    let app = TestApp::embedded().await;
    let doc = app.get("/openapi.json", None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(
        doc.body["openapi"].as_str().map(|v| v.starts_with("3.")),
        Some(true),
        "{}",
        doc.body
    );
    let paths = doc.body["paths"].as_object().expect("paths");

    let mut documented = BTreeSet::new();
    for (path, item) in paths {
        let concrete = path
            .replace("{id}", UNKNOWN_ID)
            .replace("{user_id}", UNKNOWN_ID);
        for method in METHODS {
            let request = app
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    &concrete,
                    Some(&app.admin_token),
                )
                .json(&json!({}));
            let answer = app.send(request).await;
            let routed = !(answer.status == StatusCode::NOT_FOUND
                && answer.body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("no route")));
            if item.get(method).is_some() {
                documented.insert(format!("{} {path}", method.to_uppercase()));
                assert!(routed, "{method} {path} is documented but not served");
                assert_ne!(
                    answer.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is documented but not served"
                );
            } else {
                assert_eq!(
                    answer.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is served but not documented"
                );
            }
        }
    }
    // The contract's routes, all of them in the document.
    for route in [
        "GET /",
        "GET /health",
        "GET /ready",
        "GET /metrics",
        "GET /openapi.json",
        "POST /api/users",
        "GET /api/users",
        "GET /api/users/me",
        "GET /api/users/{id}",
        "GET /api/users/{user_id}/assessments",
        "GET /api/assessments",
        "POST /api/assessments",
        "GET /api/assessments/{id}",
        "PUT /api/assessments/{id}",
        "DELETE /api/assessments/{id}",
        "GET /api/assessments/{id}/full",
        "POST /api/recommendations",
        "GET /api/recommendations",
        "POST /api/assessments/{id}/recommendations/generate",
        "POST /api/assessments/{id}/reports",
        "GET /api/reports/{id}",
        "GET /api/reports/{id}/download",
        "GET /api/dashboard",
        "GET /admin/status",
        "GET /admin/cache/stats",
        "POST /admin/cache/invalidate",
        "GET /admin/breakers",
        "GET /admin/batching/stats",
    ] {
        assert!(
            documented.contains(route),
            "{route} is not in /openapi.json: {documented:?}"
        );
    }
    // Paths outside the document are not served.
    for path in [
        "/api",
        "/api/assessment",
        "/admin",
        "/api/users/me/extra",
        "/docs",
    ] {
        let answer = app.get(path, Some(&app.admin_token)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
    }
}
