//! The DB families count every command of a real `mongodb` client against the MongoDB wire
//! server from inframind-test-support.

use inframind_metrics::mongodb::DbEventHandler;
use inframind_metrics::{DbErrorLabels, DbQueryLabels, Format, Metrics};
use mongodb::Client;
use mongodb::bson::{Document, doc};
use mongodb::options::ClientOptions;

fn queries(metrics: &Metrics, collection: &str, op: &str) -> u64 {
    metrics
        .db()
        .queries
        .family()
        .get(&DbQueryLabels::new(collection, op))
        .map_or(0, |c| c.get())
}

/// `db_connections_active` once the driver has checked in the last connection (bounded wait).
async fn settled_active(metrics: &Metrics) -> i64 {
    for _ in 0..200 {
        if metrics.db().connections_active.get() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    metrics.db().connections_active.get()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_families_count_the_drivers_commands() {
    let mongo = inframind_test_support::mongodb();
    let metrics = Metrics::new();
    let mut options = ClientOptions::parse(mongo.uri()).await.expect("parse uri");
    options.max_pool_size = Some(4);
    DbEventHandler::new(&metrics).install(&mut options);
    let client = Client::with_options(options).expect("client");
    let db = client.database(mongo.database());
    let items = db.collection::<Document>("items");

    for i in 0..7 {
        items
            .insert_one(doc! { "_id": i, "n": i })
            .await
            .expect("insert");
    }
    for i in 0..5 {
        let found = items.find_one(doc! { "_id": i }).await.expect("find");
        assert_eq!(found.and_then(|d| d.get_i32("n").ok()), Some(i));
    }
    items
        .update_one(doc! { "_id": 1 }, doc! { "$set": { "n": 10 } })
        .await
        .expect("update");
    items.delete_one(doc! { "_id": 2 }).await.expect("delete");
    assert_eq!(items.count_documents(doc! {}).await.expect("count"), 6);

    // A duplicate key is a write error inside a successful reply.
    let dup = items.insert_one(doc! { "_id": 0 }).await;
    assert!(dup.is_err(), "duplicate _id must fail");
    // An unknown command fails on the server.
    let failed = db
        .run_command(doc! { "noSuchCommandForMetrics": "items" })
        .await;
    assert!(failed.is_err(), "unknown command must fail");

    assert_eq!(queries(&metrics, "items", "insert"), 8);
    assert_eq!(queries(&metrics, "items", "find"), 5);
    assert_eq!(queries(&metrics, "items", "update"), 1);
    assert_eq!(queries(&metrics, "items", "delete"), 1);
    assert_eq!(
        queries(&metrics, "items", "aggregate"),
        1,
        "count_documents runs an aggregate"
    );

    let dup_errors = metrics
        .db()
        .errors
        .family()
        .get(&DbErrorLabels::new("items", "DuplicateKey"))
        .map(|c| c.get());
    let text = metrics.encode(Format::OpenMetrics);
    assert_eq!(
        dup_errors,
        Some(1),
        "duplicate key counted as a DB error:\n{text}"
    );
    let unknown: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with("db_errors_total{collection=\"items\"") && !l.contains("DuplicateKey")
        })
        .collect();
    assert_eq!(
        unknown.len(),
        1,
        "the failed command is counted once:\n{text}"
    );
    assert!(unknown[0].ends_with(" 1"), "{}", unknown[0]);

    let count = text
        .lines()
        .find(|l| {
            l.starts_with(
                r#"db_query_duration_seconds_count{collection="items",operation="insert"}"#,
            )
        })
        .expect("insert latency histogram");
    assert!(count.ends_with(" 8"), "{count}");

    // Every command has finished: nothing is checked out, and the pool holds open connections.
    assert_eq!(settled_active(&metrics).await, 0);
    let idle = metrics.db().connections_idle.get();
    assert!((1..=4).contains(&idle), "idle connections {idle}");

    // A concurrent burst checks out several connections at once.
    let mut tasks = Vec::new();
    for i in 100..140 {
        let items = items.clone();
        tasks.push(tokio::spawn(async move {
            items.insert_one(doc! { "_id": i }).await.map(|_| ())
        }));
    }
    for t in tasks {
        t.await.expect("join").expect("insert");
    }
    assert_eq!(queries(&metrics, "items", "insert"), 48);
    // The driver checks a connection back in just after handing the reply over.
    assert_eq!(settled_active(&metrics).await, 0);
    assert!(metrics.db().connections_idle.get() >= 1);
    drop(client);
}
