//! Assessments: a public catalogue, owner-checked writes, `/full`, the per-user listing.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::common::{TestApp, UNKNOWN_ID, is_object_id};

both_backends!(
    the_owner_creates_updates_and_deletes_and_others_get_403,
    the_catalogue_answers_with_and_without_a_token,
    lists_are_newest_first_and_limited,
    ids_are_checked_before_lookups,
    full_gathers_the_user_recommendations_and_reports,
    a_users_listing_is_for_the_owner_or_an_admin,
    a_users_listing_is_newest_first_and_limited,
    the_admin_may_change_anything_but_owns_nothing,
    deleting_an_assessment_removes_its_recommendations,
);

async fn the_owner_creates_updates_and_deletes_and_others_get_403(app: TestApp) {
    let (alice_id, alice) = app.user("alice").await;
    let (_, bob) = app.user("bob").await;
    let created = app
        .post(
            "/api/assessments",
            Some(&alice),
            &json!({ "title": " Web tier ", "description": "d" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(is_object_id(&created.body["id"]));
    assert_eq!(created.body["user_id"], alice_id.as_str());
    assert_eq!(created.body["title"], "Web tier");
    assert_eq!(created.body["status"], "draft");
    let path = format!("/api/assessments/{}", created.body["id"].as_str().unwrap());

    let change = json!({ "status": "in_progress" });
    let as_bob = app.put(&path, Some(&bob), &change).await;
    assert_eq!(as_bob.status, StatusCode::FORBIDDEN);
    assert_eq!(as_bob.error_code(), "forbidden");
    assert_eq!(
        app.delete(&path, Some(&bob)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.put(&path, None, &change).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post("/api/assessments", None, &json!({ "title": "x" }))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let updated = app.put(&path, Some(&alice), &change).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["status"], "in_progress");
    assert_eq!(
        updated.body["title"], "Web tier",
        "absent fields are unchanged"
    );
    assert_eq!(updated.body["created_at"], created.body["created_at"]);
    // As instants: RFC 3339 drops trailing zeros of the fraction, so strings do not sort
    // (`…:00.9Z` is after `…:00.902Z` as text).
    let instant = |answer: &crate::common::Answer| {
        let text = answer.body["updated_at"].as_str().expect("updated_at");
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .expect("RFC 3339")
    };
    assert!(instant(&updated) > instant(&created));
    assert_eq!(app.get(&path, None).await.body, updated.body);

    let blank = app.put(&path, Some(&alice), &json!({ "title": "" })).await;
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(blank.body["error"]["field"], "title");
    let bad_status = app
        .put(&path, Some(&alice), &json!({ "status": "done" }))
        .await;
    assert_eq!(bad_status.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_status.body["error"]["field"], "status");

    assert_eq!(
        app.delete(&path, Some(&alice)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get(&path, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.delete(&path, Some(&alice)).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn the_catalogue_answers_with_and_without_a_token(app: TestApp) {
    let (_, token) = app.user("carol").await;
    let id = app.assessment(&token, "Catalogue").await;
    for path in [
        "/api/assessments".to_owned(),
        format!("/api/assessments/{id}"),
        format!("/api/assessments/{id}/full"),
        "/api/recommendations".to_owned(),
        "/api/dashboard".to_owned(),
    ] {
        let anonymous = app.get(&path, None).await;
        let logged_in = app.get(&path, Some(&token)).await;
        assert_eq!(anonymous.status, StatusCode::OK, "{path}");
        assert_eq!(anonymous.body, logged_in.body, "{path}");
    }
}

async fn lists_are_newest_first_and_limited(app: TestApp) {
    let (_, token) = app.user("dave").await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(app.assessment(&token, &format!("a{i}")).await);
    }
    ids.reverse();
    let listed = app.get("/api/assessments", None).await.body;
    let listed: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ids);
    let two = app.get("/api/assessments?limit=2", None).await.body;
    assert_eq!(two.as_array().unwrap().len(), 2);
    assert_eq!(two[0]["id"], ids[0].as_str());
    for bad in ["0", "10001", "x", "-1"] {
        let answer = app
            .get(&format!("/api/assessments?limit={bad}"), None)
            .await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit={bad}"
        );
        assert_eq!(answer.body["error"]["field"], "limit");
    }
    for bad in ["bogus", "user,owner", "USER"] {
        let answer = app
            .get(&format!("/api/assessments?include={bad}"), None)
            .await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "include={bad}"
        );
        assert_eq!(answer.body["error"]["field"], "include");
    }
    // Percent-encoded commas, and an empty list is the plain list.
    let encoded = app
        .get("/api/assessments?limit=2&include=user%2Creports", None)
        .await;
    assert_eq!(encoded.status, StatusCode::OK);
    assert_eq!(encoded.body[0]["assessment"]["id"], ids[0].as_str());
    assert!(encoded.body[0].get("recommendations").is_none());
    assert_eq!(
        app.get("/api/assessments?limit=2&include=", None)
            .await
            .body,
        two
    );
}

async fn ids_are_checked_before_lookups(app: TestApp) {
    let (_, token) = app.user("erin").await;
    for suffix in ["", "/full"] {
        let bad = app
            .get(&format!("/api/assessments/not-an-id{suffix}"), None)
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{suffix}");
        assert_eq!(bad.error_code(), "invalid_id");
        // Uppercase hex is the same ObjectId but not its canonical spelling: refused, so it
        // can never be cached beside the entries that writes invalidate.
        let existing = app.assessment(&token, "Canonical ids").await;
        let shouted = app
            .get(
                &format!("/api/assessments/{}{suffix}", existing.to_uppercase()),
                None,
            )
            .await;
        assert_eq!(shouted.status, StatusCode::BAD_REQUEST, "{suffix}");
        assert_eq!(shouted.error_code(), "invalid_id");
        let unknown = app
            .get(&format!("/api/assessments/{UNKNOWN_ID}{suffix}"), None)
            .await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{suffix}");
        assert_eq!(unknown.error_code(), "not_found");
    }
    let update = json!({ "title": "x" });
    assert_eq!(
        app.put("/api/assessments/zz", Some(&token), &update)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.put(
            &format!("/api/assessments/{UNKNOWN_ID}"),
            Some(&token),
            &update
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete("/api/assessments/zz", Some(&token)).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.delete(&format!("/api/assessments/{UNKNOWN_ID}"), Some(&token))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn full_gathers_the_user_recommendations_and_reports(app: TestApp) {
    let (user_id, token) = app.user("frank").await;
    let id = app.assessment(&token, "Full").await;
    let other = app.assessment(&token, "Other").await;
    let first = app.recommendation(&token, &id, "high").await;
    let second = app.recommendation(&token, &id, "low").await;
    app.recommendation(&token, &other, "low").await;
    let full = app.get(&format!("/api/assessments/{id}/full"), None).await;
    assert_eq!(full.status, StatusCode::OK, "{}", full.body);
    assert_eq!(full.body["assessment"]["id"], id.as_str());
    assert_eq!(full.body["user"]["id"], user_id.as_str());
    let recs: Vec<_> = full.body["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        recs,
        [second.as_str(), first.as_str()],
        "this assessment's, newest first"
    );
    assert_eq!(full.body["reports"], json!([]));
}

async fn a_users_listing_is_for_the_owner_or_an_admin(app: TestApp) {
    let (gina_id, gina) = app.user("gina").await;
    let (hal_id, hal) = app.user("hal").await;
    let mine = app.assessment(&gina, "Gina's").await;
    app.assessment(&hal, "Hal's").await;
    let path = format!("/api/users/{gina_id}/assessments");
    let own = app.get(&path, Some(&gina)).await;
    assert_eq!(own.status, StatusCode::OK);
    let ids: Vec<_> = own
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [mine.as_str()]);
    assert_eq!(app.get(&path, Some(&app.admin_token)).await.body, own.body);
    let other = app.get(&path, Some(&hal)).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    assert_eq!(other.error_code(), "forbidden");
    assert_eq!(app.get(&path, None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/api/users/xyz/assessments", Some(&hal))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let unknown = app
        .get(
            &format!("/api/users/{UNKNOWN_ID}/assessments"),
            Some(&app.admin_token),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let hal_own = app
        .get(&format!("/api/users/{hal_id}/assessments"), Some(&hal))
        .await;
    assert_eq!(hal_own.body.as_array().unwrap().len(), 1);
}

async fn a_users_listing_is_newest_first_and_limited(app: TestApp) {
    let (id, token) = app.user("jo").await;
    let mut created = Vec::new();
    for title in ["first", "second", "third"] {
        created.push(app.assessment(&token, title).await);
    }
    let path = format!("/api/users/{id}/assessments");
    let ids = |answer: &crate::common::Answer| -> Vec<String> {
        answer
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let two = app.get(&format!("{path}?limit=2"), Some(&token)).await;
    assert_eq!(two.status, StatusCode::OK);
    assert_eq!(ids(&two), [created[2].clone(), created[1].clone()]);
    let all = app.get(&path, Some(&token)).await;
    assert_eq!(ids(&all).len(), 3);
    for bad in ["0", "10001", "two"] {
        let answer = app.get(&format!("{path}?limit={bad}"), Some(&token)).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(answer.body["error"]["field"], "limit", "{bad}");
    }
}

async fn the_admin_may_change_anything_but_owns_nothing(app: TestApp) {
    let (_, token) = app.user("ivy").await;
    let id = app.assessment(&token, "Ivy's").await;
    let admin = app.admin_token.clone();
    let created = app
        .post("/api/assessments", Some(&admin), &json!({ "title": "x" }))
        .await;
    assert_eq!(created.status, StatusCode::FORBIDDEN);
    let updated = app
        .put(
            &format!("/api/assessments/{id}"),
            Some(&admin),
            &json!({ "status": "completed" }),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(updated.body["status"], "completed");
    assert_eq!(
        app.get("/api/users/me", Some(&admin)).await.body["admin"],
        true
    );
}

async fn deleting_an_assessment_removes_its_recommendations(app: TestApp) {
    let (_, token) = app.user("jo").await;
    let id = app.assessment(&token, "Doomed").await;
    let kept = app.assessment(&token, "Kept").await;
    app.recommendation(&token, &id, "low").await;
    let survivor = app.recommendation(&token, &kept, "low").await;
    assert_eq!(
        app.delete(&format!("/api/assessments/{id}"), Some(&token))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let recs = app.get("/api/recommendations", None).await.body;
    let ids: Vec<_> = recs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [survivor.as_str()]);
}
