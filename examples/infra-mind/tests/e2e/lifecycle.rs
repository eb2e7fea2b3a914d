//! Start-up on embedded defaults, JSON logs with request ids, graceful shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use infra_mind::config::Config;
use infra_mind::startup::Server;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_defaults_start_with_demo_data() {
    let server = Server::build(Config::embedded())
        .await
        .expect("starts with nothing configured");
    let repo = Arc::clone(&server.state().repo);
    let app = TestApp::spawn(server, repo, None);
    assert_eq!(app.get("/health", None).await.body["status"], "ok");
    let assessments = app.get("/api/assessments", None).await.body;
    assert!(
        !assessments.as_array().unwrap().is_empty(),
        "demo assessments"
    );
    let dashboard = app.get("/api/dashboard", None).await.body;
    assert_eq!(dashboard["counts"]["users"], 3);
    let page = app.get("/", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&page.bytes).contains("Infra Mind"));
    // A newcomer can sign up and write at once.
    let (_, token) = app.user("newcomer").await;
    app.assessment(&token, "First").await;
}

/// A request whose body is still arriving when shutdown starts is answered; then the
/// server stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish() {
    let mut app = TestApp::embedded().await;
    let body = json!({ "email": "late@example.com", "full_name": "Late" }).to_string();
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/users HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let task = app.task.take().unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the server stops after the last request")
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(app.addr).await.is_err(),
        "no longer listening"
    );
}

/// The binary itself, as the README runs it: JSON logs carry the request id on every
/// request line, the start-up line carries the generated admin token, SIGTERM stops it.
#[test]
fn the_binary_logs_json_with_request_ids_and_stops_on_sigterm() {
    let child = Command::new(env!("CARGO_BIN_EXE_infra-mind"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary runs");
    let mut guard = KillOnDrop(Some(child));
    let child = guard.0.as_mut().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = loop {
        let line = lines.next().expect("a start-up line").unwrap();
        let value: serde_json::Value = serde_json::from_str(&line).expect("every line is JSON");
        if value.get("address").is_some() {
            break value;
        }
    };
    let address = first["address"]
        .as_str()
        .expect("the start-up line names the address")
        .to_owned();
    let admin_token = first["admin_token"]
        .as_str()
        .expect("and the generated admin token")
        .to_owned();
    assert_eq!(first["store"], "memory");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        // With the default `ACCESS_LOG=errors`, a quick 200 gets no INFO line; a 404 does.
        for (path, id, expected) in [
            ("/admin/status", "quiet-1", StatusCode::OK),
            ("/no/such/route", "log-me-7", StatusCode::NOT_FOUND),
        ] {
            let status = client
                .get(format!("http://{address}{path}"))
                .bearer_auth(&admin_token)
                .header("x-request-id", id)
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, expected);
        }
    });
    let request_line = loop {
        let line = lines.next().expect("more log lines").unwrap();
        let value: serde_json::Value = serde_json::from_str(&line).expect("every line is JSON");
        assert_ne!(value["span"]["request_id"], "quiet-1", "{line}");
        if value["span"]["request_id"] == "log-me-7" {
            break value;
        }
    };
    assert_eq!(request_line["span"]["path"], "/no/such/route");
    assert_eq!(request_line["status"], 404);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert!(
        rest.iter()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "{rest:?}"
    );
    assert!(
        rest.iter().any(|l| l.contains("infra-mind stopped")),
        "{rest:?}"
    );
    assert!(child.wait().unwrap().success());
    guard.0 = None;
}

/// Stops the child if the test fails half-way, so no server outlives the test.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
