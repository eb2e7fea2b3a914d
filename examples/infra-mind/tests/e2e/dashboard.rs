//! The dashboard: totals per label and the ten most recent assessments with owners.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::common::TestApp;

both_backends!(dashboard_counts_everything_and_lists_the_ten_newest);

async fn dashboard_counts_everything_and_lists_the_ten_newest(app: TestApp) {
    let empty = app.get("/api/dashboard", None).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.body["counts"]["users"], 0);
    assert_eq!(
        empty.body["counts"]["assessments_by_status"],
        json!({ "draft": 0, "in_progress": 0, "completed": 0 })
    );
    assert_eq!(empty.body["recent_assessments"], json!([]));

    let (a_id, a) = app.user("nia").await;
    let (b_id, b) = app.user("oli").await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let (token, _) = if i % 2 == 0 { (&a, &a_id) } else { (&b, &b_id) };
        ids.push(app.assessment(token, &format!("d{i}")).await);
    }
    let newest = ids.last().unwrap().clone();
    app.recommendation(&b, &newest, "critical").await;
    app.recommendation(&b, &newest, "high").await;
    app.put(
        &format!("/api/assessments/{}", ids[0]),
        Some(&a),
        &json!({ "status": "completed" }),
    )
    .await;

    let dashboard = app.get("/api/dashboard", None).await.body;
    let counts = &dashboard["counts"];
    assert_eq!(counts["users"], 2);
    assert_eq!(
        counts["assessments_by_status"],
        json!({ "draft": 11, "in_progress": 0, "completed": 1 })
    );
    assert_eq!(
        counts["recommendations_by_priority"],
        json!({ "low": 0, "medium": 0, "high": 1, "critical": 1 })
    );
    assert_eq!(
        counts["reports_by_format"],
        json!({ "json": 0, "markdown": 0, "html": 0, "pdf": 0 })
    );
    let recent = dashboard["recent_assessments"].as_array().unwrap();
    assert_eq!(recent.len(), 10);
    assert_eq!(recent[0]["id"], newest.as_str());
    assert_eq!(recent[0]["user"]["id"], b_id.as_str());
    assert_eq!(recent[0]["recommendations_count"], 2);
    assert_eq!(recent[1]["user"]["id"], a_id.as_str());
    assert_eq!(recent[1]["recommendations_count"], 0);
    let listed: Vec<_> = recent
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<_> = ids.iter().rev().take(10).cloned().collect();
    assert_eq!(listed, expected);
}
