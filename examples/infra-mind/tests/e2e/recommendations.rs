//! Manual recommendations: owner-checked, validated, listed publicly newest first.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::common::{TestApp, UNKNOWN_ID};

both_backends!(
    recommendations_are_written_by_the_owner_and_listed_publicly,
    recommendation_bodies_are_validated_by_field,
);

async fn recommendations_are_written_by_the_owner_and_listed_publicly(app: TestApp) {
    let (_, owner) = app.user("kim").await;
    let (_, other) = app.user("lee").await;
    let id = app.assessment(&owner, "Recs").await;
    let body =
        json!({ "assessment_id": id, "title": "Use spot", "category": "Cost", "priority": "high" });
    let created = app.post("/api/recommendations", Some(&owner), &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["category"], "cost");
    assert_eq!(created.body["source"], "manual");
    assert_eq!(created.body["assessment_id"], id.as_str());
    assert_eq!(
        app.post("/api/recommendations", Some(&other), &body)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post("/api/recommendations", None, &body).await.status,
        StatusCode::UNAUTHORIZED
    );
    let second = app.recommendation(&owner, &id, "low").await;
    let listed = app.get("/api/recommendations", None).await.body;
    assert_eq!(listed[0]["id"], second.as_str());
    assert_eq!(listed[1]["id"], created.body["id"]);
}

async fn recommendation_bodies_are_validated_by_field(app: TestApp) {
    let (_, token) = app.user("max").await;
    let id = app.assessment(&token, "Validation").await;
    let unknown = app
        .post("/api/recommendations", Some(&token), &json!({ "assessment_id": UNKNOWN_ID, "title": "t", "category": "c", "priority": "low" }))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let invalid = app
        .post(
            "/api/recommendations",
            Some(&token),
            &json!({ "assessment_id": "nope", "title": "t", "category": "c", "priority": "low" }),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    assert_eq!(invalid.error_code(), "invalid_id");
    for (body, field) in [
        (
            json!({ "assessment_id": id, "title": "t", "category": "c", "priority": "urgent" }),
            "priority",
        ),
        (
            json!({ "assessment_id": id, "title": "t", "category": "c" }),
            "priority",
        ),
        (
            json!({ "assessment_id": id, "title": " ", "category": "c", "priority": "low" }),
            "title",
        ),
        (
            json!({ "assessment_id": id, "title": "t", "category": 3, "priority": "low" }),
            "category",
        ),
    ] {
        let answer = app.post("/api/recommendations", Some(&token), &body).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            answer.body["error"]["field"], field,
            "{body}: {}",
            answer.body
        );
    }
}
