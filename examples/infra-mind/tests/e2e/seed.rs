//! `infra-mind seed`: bulk inserts into MongoDB, the same counts when run twice with `--reset`.

use std::process::Command;

use infra_mind::config::Config;

fn seed(mongo: &inframind_test_support::TestMongo, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_infra-mind"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MONGODB_URI", mongo.uri())
        .env("MONGODB_DB", mongo.database())
        .args([
            "seed",
            "--users",
            "4",
            "--assessments",
            "30",
            "--recommendations",
            "2",
            "--reports",
            "1",
            "--batch-size",
            "7",
        ])
        .args(extra)
        .output()
        .expect("the binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_fills_mongodb_and_reset_makes_it_idempotent() {
    let mongo = inframind_test_support::mongodb();
    for run in 0..2 {
        let output = seed(&mongo, &["--reset"]);
        assert!(
            output.status.success(),
            "run {run}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut config = Config::embedded();
        config.mongodb_uri = Some(mongo.uri().to_owned());
        config.mongodb_db = mongo.database().to_owned();
        let repo = infra_mind::startup::open_store(&config, &inframind_metrics::Metrics::new())
            .await
            .unwrap();
        let counts = repo.counts().await.unwrap();
        assert_eq!(counts.users, 4, "run {run}");
        assert_eq!(
            counts.assessments_by_status.values().sum::<u64>(),
            30,
            "run {run}"
        );
        assert_eq!(
            counts.recommendations_by_priority.values().sum::<u64>(),
            60,
            "run {run}"
        );
        assert_eq!(
            counts.reports_by_format.values().sum::<u64>(),
            30,
            "run {run}"
        );
    }
    let without_mongo = Command::new(env!("CARGO_BIN_EXE_infra-mind"))
        .env_clear()
        .args(["seed", "--users", "1"])
        .output()
        .unwrap();
    assert!(!without_mongo.status.success(), "seed needs MONGODB_URI");
    assert!(String::from_utf8_lossy(&without_mongo.stderr).contains("MONGODB_URI"));
}
