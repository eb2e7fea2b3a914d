//! Batching, counted on the server side: the MongoDB driver's command monitoring feeds
//! `db_queries_total`, and `/full` and the dashboard send the same number of commands for 1
//! and for 100 related rows.

use infra_mind::config::RelationLoading;
use infra_mind::domain::{NewRecommendation, NewReport, Priority, ReportFormat, ReportType};
use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestApp;

/// Queries sent so far, from `/metrics`: every command but `getMore`, which pages through
/// the results of a query already counted (a big `$in` answer takes several pages).
async fn commands(app: &TestApp) -> f64 {
    let scrape = app
        .send(
            app.client
                .get(app.url("/metrics"))
                .header("accept", "text/plain"),
        )
        .await;
    String::from_utf8_lossy(&scrape.bytes)
        .lines()
        .filter(|l| l.starts_with("db_queries_total{") && !l.contains("operation=\"getMore\""))
        .filter_map(|l| {
            l.rsplit_once('}')
                .and_then(|(_, v)| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .sum()
}

/// Commands one GET sends (it must not be served from the cache).
async fn commands_for(app: &TestApp, path: &str) -> (f64, serde_json::Value) {
    app.post(
        "/admin/cache/invalidate",
        Some(&app.admin_token),
        &json!({ "namespace": "assessments" }),
    )
    .await;
    let before = commands(app).await;
    let answer = app.get(path, None).await;
    assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
    assert_ne!(
        answer.header("x-cache"),
        Some("HIT"),
        "{path} reached the store"
    );
    (commands(app).await - before, answer.body)
}

fn recommendations(assessment_id: &str, n: usize) -> Vec<NewRecommendation> {
    (0..n)
        .map(|i| NewRecommendation {
            assessment_id: assessment_id.to_owned(),
            title: format!("r{i}"),
            category: "cost".to_owned(),
            priority: Priority::Low,
            description: None,
            confidence: None,
            source: "test".to_owned(),
        })
        .collect()
}

fn reports(assessment_id: &str, user_id: &str, n: usize) -> Vec<NewReport> {
    (0..n)
        .map(|_| NewReport {
            assessment_id: assessment_id.to_owned(),
            user_id: user_id.to_owned(),
            report_type: ReportType::Summary,
            format: ReportFormat::Json,
            content: b"{}".to_vec(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_and_dashboard_send_as_many_queries_for_1_as_for_100_related_rows() {
    let app = TestApp::mongodb().await;
    let (user_id, token) = app.user("batch").await;
    let id = app.assessment(&token, "Batched").await;
    app.repo
        .create_recommendations(recommendations(&id, 1))
        .await
        .unwrap();
    app.repo
        .create_reports(reports(&id, &user_id, 1))
        .await
        .unwrap();
    let full = format!("/api/assessments/{id}/full");

    let (one, body) = commands_for(&app, &full).await;
    assert_eq!(body["recommendations"].as_array().unwrap().len(), 1);
    let (dashboard_one, _) = commands_for(&app, "/api/dashboard").await;

    app.repo
        .create_recommendations(recommendations(&id, 99))
        .await
        .unwrap();
    app.repo
        .create_reports(reports(&id, &user_id, 99))
        .await
        .unwrap();
    for i in 0..11 {
        let other = app.assessment(&token, &format!("More {i}")).await;
        app.repo
            .create_recommendations(recommendations(&other, 100))
            .await
            .unwrap();
    }
    let (hundred, body) = commands_for(&app, &full).await;
    assert_eq!(body["recommendations"].as_array().unwrap().len(), 100);
    assert_eq!(body["reports"].as_array().unwrap().len(), 100);
    assert_eq!(
        one, hundred,
        "/full: same commands for 1 and 100 related rows"
    );
    assert_eq!(
        one, 4.0,
        "the assessment, its user, recommendations and reports"
    );

    let (dashboard_many, body) = commands_for(&app, "/api/dashboard").await;
    assert_eq!(body["recent_assessments"].as_array().unwrap().len(), 10);
    assert_eq!(body["recent_assessments"][0]["recommendations_count"], 100);
    assert_eq!(
        dashboard_one, dashboard_many,
        "dashboard: same commands for 1 and 10 assessments with 100 rows each"
    );
    assert_eq!(
        dashboard_one, 7.0,
        "4 counts, the recent page, its users and recommendations"
    );
}

/// `?include=user,recommendations` on `rows` assessments, each with 3 recommendations: the
/// commands one uncached list sends, and the answer.
async fn list_with_relations(app: &TestApp, token: &str, rows: usize) -> (f64, serde_json::Value) {
    for i in 0..rows {
        let id = app.assessment(token, &format!("Listed {i}")).await;
        app.repo
            .create_recommendations(recommendations(&id, 3))
            .await
            .unwrap();
    }
    commands_for(
        app,
        &format!("/api/assessments?limit={rows}&include=user,recommendations"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_with_relations_costs_3_queries_batched_and_1_plus_2n_one_by_one() {
    for (mode, expected) in [
        (RelationLoading::Batched, [3.0, 3.0]),
        (
            RelationLoading::NPlusOne,
            [1.0 + 2.0 * 2.0, 1.0 + 2.0 * 30.0],
        ),
    ] {
        for (rows, expected) in [2, 30].into_iter().zip(expected) {
            let app = TestApp::mongodb_with(|config| config.relation_loading = mode).await;
            let (user_id, token) = app.user("lister").await;
            let (sent, body) = list_with_relations(&app, &token, rows).await;
            assert_eq!(sent, expected, "{mode:?}, {rows} assessments");
            let items = body.as_array().unwrap();
            assert_eq!(items.len(), rows);
            for item in items {
                assert_eq!(item["user"]["id"], user_id.as_str(), "{item}");
                assert_eq!(item["recommendations"].as_array().unwrap().len(), 3);
                assert!(item.get("reports").is_none(), "not included: {item}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_request_loaders_report_batching_stats() {
    let app = TestApp::embedded().await;
    let (user_id, token) = app.user("loader").await;
    let id = app.assessment(&token, "Loaded").await;
    let report = app
        .post(
            &format!("/api/assessments/{id}/reports"),
            Some(&token),
            &json!({ "type": "summary", "format": "markdown" }),
        )
        .await;
    assert_eq!(report.status, StatusCode::CREATED);
    let listing = app
        .get(
            &format!("/api/users/{user_id}/assessments"),
            Some(&app.admin_token),
        )
        .await;
    assert_eq!(listing.status, StatusCode::OK);
    let stats = app
        .get("/admin/batching/stats", Some(&app.admin_token))
        .await;
    assert_eq!(stats.status, StatusCode::OK);
    let users = &stats.body["User_id"];
    assert_eq!(users["total_batches"], 2, "{}", stats.body);
    assert_eq!(users["total_items_loaded"], 2, "{}", stats.body);
    assert_eq!(users["total_queries"], 2, "{}", stats.body);
    assert_eq!(
        app.get("/admin/batching/stats", Some(&token)).await.status,
        StatusCode::FORBIDDEN
    );
}
