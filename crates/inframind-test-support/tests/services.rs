//! The harness hands out real, isolated services, and fails loudly when it cannot.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use inframind_test_support::{MongoServer, RedisServer, mongodb, redis};
use mongodb::bson::{Document, doc};
use redis::AsyncCommands;

#[tokio::test]
async fn redis_round_trip_in_an_isolated_database() {
    let first = redis();
    let second = redis();
    assert_ne!(
        (first.db(), first.prefix()),
        (second.db(), second.prefix()),
        "two tests share neither a database nor a prefix"
    );

    let client = redis::Client::open(first.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = first.key("greeting");
    let () = conn.set(&key, "hello").await.unwrap();
    let value: String = conn.get(&key).await.unwrap();
    assert_eq!(value, "hello");

    let other = redis::Client::open(second.url()).unwrap();
    let mut other = other.get_multiplexed_async_connection().await.unwrap();
    let seen: Option<String> = other.get(&key).await.unwrap();
    assert_eq!(
        seen, None,
        "the second test's database does not see the first's keys"
    );
}

#[tokio::test]
async fn mongodb_insert_and_find_in_an_isolated_database() {
    let first = mongodb();
    let second = mongodb();
    assert_ne!(first.database(), second.database());

    let client = mongodb::Client::with_uri_str(first.uri()).await.unwrap();
    let users = client
        .database(first.database())
        .collection::<Document>("users");
    users
        .insert_many([
            doc! { "email": "a@example.com", "n": 1 },
            doc! { "email": "b@example.com", "n": 2 },
        ])
        .await
        .unwrap();
    let found = users.find_one(doc! { "n": 2 }).await.unwrap().unwrap();
    assert_eq!(found.get_str("email").unwrap(), "b@example.com");
    let all: Vec<Document> = users
        .find(doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 2);

    let elsewhere = client
        .database(second.database())
        .collection::<Document>("users");
    assert_eq!(elsewhere.count_documents(doc! {}).await.unwrap(), 0);
}

#[tokio::test]
async fn private_redis_survives_an_outage_and_restarts_on_the_same_port() {
    let mut server = RedisServer::start().unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let () = conn.set("k", "v").await.unwrap();

    server.stop();
    assert!(!server.is_running());
    let during_outage: redis::RedisResult<Option<String>> = conn.get("k").await;
    assert!(during_outage.is_err(), "a stopped server answers nothing");

    let port = server.port();
    server.restart().unwrap();
    assert_eq!(server.port(), port);
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let after: Option<String> = conn.get("k").await.unwrap();
    assert_eq!(after, None, "a restarted server starts empty");
}

#[tokio::test]
async fn private_mongodb_counts_only_its_own_operations() {
    let server = MongoServer::start().unwrap();
    let client = mongodb::Client::with_uri_str(server.uri()).await.unwrap();
    let admin = client.database("admin");
    let queries = || async {
        let status = admin.run_command(doc! { "serverStatus": 1 }).await.unwrap();
        status
            .get_document("opcounters")
            .unwrap()
            .get("query")
            .unwrap()
            .clone()
    };
    let before = queries().await;
    let coll = client.database("d").collection::<Document>("c");
    coll.insert_one(doc! { "x": 1 }).await.unwrap();
    let _ = coll.find_one(doc! { "x": 1 }).await.unwrap();
    let after = queries().await;
    let as_i64 = |v: &bson::Bson| v.as_i64().or(v.as_i32().map(i64::from)).unwrap();
    assert_eq!(
        as_i64(&after) - as_i64(&before),
        1,
        "exactly one find was counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_mongodb_restarts_on_the_same_port_with_its_data() {
    let mut server = MongoServer::start().unwrap();
    if let Some(chosen) = std::env::var_os("INFRAMIND_SECANTUSD") {
        assert_eq!(server.binary(), Path::new(&chosen), "the daemon asked for");
    }
    // Short timeouts so the outage shows as an error quickly rather than as a hang.
    let mut options = mongodb::options::ClientOptions::parse(server.uri())
        .await
        .unwrap();
    options.server_selection_timeout = Some(Duration::from_secs(1));
    options.connect_timeout = Some(Duration::from_secs(1));
    let client = mongodb::Client::with_options(options).unwrap();
    let coll = client.database("d").collection::<Document>("c");
    coll.insert_one(doc! { "_id": "before", "n": 1 })
        .await
        .unwrap();

    let port = server.port();
    server.stop();
    assert!(!server.is_running());
    let during_outage = coll.find_one(doc! { "_id": "before" }).await;
    assert!(
        during_outage.is_err(),
        "a stopped server answers nothing: {during_outage:?}"
    );

    server.restart().unwrap();
    assert!(server.is_running());
    assert_eq!(server.port(), port, "the same port, so the same URI");
    // The same client reconnects by itself; its monitor may need a moment to notice.
    let deadline = Instant::now() + Duration::from_secs(20);
    let found = loop {
        match coll.find_one(doc! { "_id": "before" }).await {
            Ok(found) => break found,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the client did not reconnect after the restart: {e}"),
        }
    };
    let found = found.expect("a document written before the stop survives the restart");
    assert_eq!(found.get_i32("n").unwrap(), 1);
    coll.insert_one(doc! { "_id": "after", "n": 2 })
        .await
        .unwrap();
    assert_eq!(coll.count_documents(doc! {}).await.unwrap(), 2);
}

/// The restart test again, once per installed SecantusDB daemon: they take different options.
#[test]
fn private_mongodb_restarts_with_every_installed_daemon() {
    let mut candidates =
        vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/secantusd-py")];
    candidates.extend(std::env::var_os("INFRAMIND_SECANTUSD").map(PathBuf::from));
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".cargo/bin/secantusd-rs"));
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            candidates.push(dir.join("secantusd-rs"));
            candidates.push(dir.join("secantusd-py"));
        }
    }
    let mut seen = Vec::new();
    for binary in candidates {
        let Ok(binary) = binary.canonicalize() else {
            continue;
        };
        if seen.contains(&binary) {
            continue;
        }
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "private_mongodb_restarts_on_the_same_port_with_its_data",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("INFRAMIND_SECANTUSD", &binary)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success() && text.contains("1 passed"),
            "restart with {}:\n{text}",
            binary.display()
        );
        seen.push(binary);
    }
    assert!(
        !seen.is_empty(),
        "no SecantusDB daemon found; run ./scripts/test"
    );
}

/// Runs one of this binary's tests in a child process whose service lookups all fail.
fn run_without_services(test: &str) -> (bool, String) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env_remove("INFRAMIND_TEST_REDIS_URL")
        .env_remove("INFRAMIND_TEST_MONGODB_URI")
        .env("INFRAMIND_REDIS_SERVER", "/nonexistent/redis-server")
        .env("INFRAMIND_SECANTUSD", "/nonexistent/secantusd-py")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn without_redis_the_service_test_fails_with_the_install_message() {
    let (passed, output) = run_without_services("redis_round_trip_in_an_isolated_database");
    assert!(!passed, "the test must fail, not pass or skip:\n{output}");
    assert!(
        output.contains("1 failed"),
        "the test ran and failed:\n{output}"
    );
    assert!(
        output.contains("redis-server is needed by this test but was not found")
            && output.contains("apt-get install redis-server")
            && output.contains("./scripts/test"),
        "the failure says how to install Redis:\n{output}"
    );
}

#[test]
fn without_mongodb_the_service_test_fails_with_the_install_message() {
    let (passed, output) = run_without_services("mongodb_insert_and_find_in_an_isolated_database");
    assert!(!passed, "the test must fail, not pass or skip:\n{output}");
    assert!(
        output.contains("1 failed"),
        "the test ran and failed:\n{output}"
    );
    assert!(
        output.contains("SecantusDB (secantusd-rs or secantusd-py) is needed by this test")
            && output.contains("pip install SecantusDB==0.7.0b3"),
        "the failure says how to install SecantusDB:\n{output}"
    );
}
