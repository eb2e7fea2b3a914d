//! The error contract: one JSON shape with the request id, the right status, no panics.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_id_is_taken_or_generated_and_returned_in_errors() {
    let app = TestApp::embedded().await;
    let given = app
        .send(
            app.client
                .get(app.url("/api/assessments/bad"))
                .header("x-request-id", "trace-me-42"),
        )
        .await;
    assert_eq!(given.header("x-request-id"), Some("trace-me-42"));
    assert_eq!(given.body["error"]["request_id"], "trace-me-42");
    let generated = app.get("/health", None).await;
    let id = generated.header("x-request-id").expect("a generated id");
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let other = app.get("/health", None).await;
    assert_ne!(
        other.header("x-request-id"),
        Some(id),
        "ids are per request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_are_404_and_wrong_methods_405_with_allow() {
    let app = TestApp::embedded().await;
    let missing = app.get("/api/nothing-here", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "not_found");
    assert_eq!(missing.header("content-type"), Some("application/json"));
    let wrong = app
        .send(app.request(Method::PATCH, "/api/assessments", None))
        .await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong.error_code(), "method_not_allowed");
    let allow = wrong.header("allow").expect("Allow header");
    for method in ["GET", "POST"] {
        assert!(allow.contains(method), "{allow}");
    }
    let delete_list = app.delete("/api/recommendations", None).await;
    assert_eq!(delete_list.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_400_415_and_413() {
    let app = TestApp::embedded().await;
    let (_, token) = app.user("pat").await;
    let malformed = app
        .send(
            app.request(Method::POST, "/api/assessments", Some(&token))
                .header("content-type", "application/json")
                .body("{\"title\": "),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.error_code(), "malformed_json");
    let not_json = app
        .send(
            app.request(Method::POST, "/api/assessments", Some(&token))
                .header("content-type", "text/plain")
                .body("{}"),
        )
        .await;
    assert_eq!(not_json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(not_json.error_code(), "unsupported_media_type");

    let (status, body) = declare_an_over_limit_body(&app, "/api/assessments", &token).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
    // Just under the limit is read and judged on its content.
    let near = format!("{{\"title\": \"{}\"}}", "x".repeat(1000 * 1000));
    let judged = app
        .send(
            app.request(Method::POST, "/api/assessments", Some(&token))
                .header("content-type", "application/json")
                .body(near),
        )
        .await;
    assert_eq!(judged.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(judged.body["error"]["field"], "title");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_never_panics_or_500s() {
    let app = TestApp::embedded().await;
    let (_, token) = app.user("quinn").await;
    let id = app.assessment(&token, "Target").await;
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"\"str\"".to_vec(),
        b"{\"title\": null}".to_vec(),
        b"{\"title\": {\"$gt\": \"\"}}".to_vec(),
        b"{\"assessment_id\": {\"$ne\": null}, \"title\": \"t\", \"category\": \"c\", \"priority\": \"low\"}".to_vec(),
        b"{\"email\": \"a@b.io\", \"full_name\": \"\\u0000\"}".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x7b],
        "{\"title\": \"\u{1F600}\u{202E}\"}".as_bytes().to_vec(),
        format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
    ];
    let targets = [
        (Method::POST, "/api/users".to_owned()),
        (Method::POST, "/api/assessments".to_owned()),
        (Method::PUT, format!("/api/assessments/{id}")),
        (Method::POST, "/api/recommendations".to_owned()),
    ];
    for (method, path) in &targets {
        for body in &bodies {
            let answer = app
                .send(
                    app.request(method.clone(), path, Some(&token))
                        .header("content-type", "application/json")
                        .body(body.clone()),
                )
                .await;
            assert!(
                answer.status.is_success() || answer.status.is_client_error(),
                "{method} {path} {body:?}: {}",
                answer.status
            );
            if !answer.status.is_success() {
                answer.error_code();
            }
        }
    }
    for path in [
        "/api/assessments/%ff%fe",
        "/api/users/%00/assessments",
        "/api/assessments/..%2f..%2fetc",
        "/api/assessments?limit=%ff",
    ] {
        let answer = app.get(path, Some(&token)).await;
        assert!(answer.status.is_client_error(), "{path}: {}", answer.status);
        answer.error_code();
    }
    assert_eq!(
        app.get("/health", None).await.status,
        StatusCode::OK,
        "still serving"
    );
    let _ = json!(null);
}

/// Declares a body one byte over the limit and sends none of it. The server answers 413 from
/// the `Content-Length` alone; a client that writes the whole body may instead meet a closed
/// connection (`EPIPE`) before it reads that answer, which is a race, not the server's reply.
async fn declare_an_over_limit_body(
    app: &TestApp,
    path: &str,
    token: &str,
) -> (StatusCode, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let url = app.url("");
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        1024 * 1024 + 1
    );
    stream
        .write_all(head.as_bytes())
        .await
        .expect("send the head");
    let mut raw = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut raw),
    )
    .await
    .expect("the server answers without waiting for the body")
    .expect("read the answer");
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or_else(|| panic!("no status line in {text}"));
    let body = text
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str(body).ok())
        .unwrap_or_else(|| panic!("no JSON body in {text}"));
    (status, body)
}
