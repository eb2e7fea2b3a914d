//! Users: sign-up hands out the token once, only its hash is stored, emails are unique.

use infra_mind::auth::hash_token;
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::common::{TestApp, UNKNOWN_ID, is_object_id};

both_backends!(
    sign_up_returns_the_token_once_and_stores_only_its_hash,
    emails_are_unique_ignoring_case,
    sign_up_validates_each_field_by_name,
    tokens_are_required_and_checked,
    users_are_listed_newest_first_with_stable_timestamps,
    a_burst_of_sign_ups_with_one_email_creates_one_user,
);

async fn sign_up_returns_the_token_once_and_stores_only_its_hash(app: TestApp) {
    let created = app
        .post(
            "/api/users",
            None,
            &json!({ "email": "Ada@Example.com", "full_name": " Ada " }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(is_object_id(&created.body["id"]), "{}", created.body);
    assert_eq!(created.body["email"], "ada@example.com");
    assert_eq!(created.body["full_name"], "Ada");
    let token = created.body["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("imt_") && token.len() == 68, "{token}");

    let me = app.get("/api/users/me", Some(&token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["id"], created.body["id"]);
    let id = created.body["id"].as_str().unwrap();
    let shown = app.get(&format!("/api/users/{id}"), Some(&token)).await;
    for body in [&me.body, &shown.body] {
        assert!(
            body.get("token").is_none() && body.get("token_hash").is_none(),
            "{body}"
        );
    }
    // The store finds the user by the hash and holds nothing that equals the token.
    let by_hash = app
        .repo
        .user_by_token_hash(&hash_token(&token))
        .await
        .unwrap();
    assert_eq!(by_hash.map(|u| u.id), Some(id.to_owned()));
    assert!(app.repo.user_by_token_hash(&token).await.unwrap().is_none());
}

async fn emails_are_unique_ignoring_case(app: TestApp) {
    app.user("grace").await;
    let again = app
        .post(
            "/api/users",
            None,
            &json!({ "email": "GRACE@example.com", "full_name": "G" }),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "conflict");
    assert_eq!(
        app.get("/api/users", Some(&app.admin_token))
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn sign_up_validates_each_field_by_name(app: TestApp) {
    let cases = [
        (json!({ "full_name": "x" }), "email"),
        (json!({ "email": "a@b.io" }), "full_name"),
        (json!({ "email": 5, "full_name": "x" }), "email"),
        (
            json!({ "email": "not-an-email", "full_name": "x" }),
            "email",
        ),
        (
            json!({ "email": "a@b.io", "full_name": "   " }),
            "full_name",
        ),
        (
            json!({ "email": "a@b.io", "full_name": "x", "admin": true }),
            "admin",
        ),
    ];
    for (body, field) in cases {
        let answer = app.post("/api/users", None, &body).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            answer.body
        );
        assert_eq!(answer.error_code(), "validation_failed");
        assert_eq!(
            answer.body["error"]["field"], field,
            "{body}: {}",
            answer.body
        );
    }
}

async fn tokens_are_required_and_checked(app: TestApp) {
    let (id, token) = app.user("alan").await;
    for (header, case) in [
        (None, "no header"),
        (Some("Bearer imt_nobody"), "unknown token"),
        (Some("Basic YWxhbjpwdw=="), "wrong scheme"),
        (Some("Bearer "), "empty token"),
    ] {
        let mut request = app.client.get(app.url("/api/users/me"));
        if let Some(header) = header {
            request = request.header("authorization", header);
        }
        let answer = app.send(request).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(answer.error_code(), "unauthorized");
        assert_eq!(answer.header("www-authenticate"), Some("Bearer"), "{case}");
    }
    let me = app.get("/api/users/me", Some(&token)).await;
    assert_eq!(me.body["id"], id.as_str());
    assert_eq!(
        app.get(&format!("/api/users/{UNKNOWN_ID}"), Some(&token))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/users/nope", Some(&token)).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/api/users", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn users_are_listed_newest_first_with_stable_timestamps(app: TestApp) {
    let mut created = Vec::new();
    for name in ["u1", "u2", "u3"] {
        let answer = app
            .post(
                "/api/users",
                None,
                &json!({ "email": format!("{name}@x.io"), "full_name": name }),
            )
            .await;
        created.push(answer.body);
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let listed = app.get("/api/users", Some(&app.admin_token)).await.body;
    let ids: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].clone())
        .collect();
    let expected: Vec<_> = created.iter().rev().map(|u| u["id"].clone()).collect();
    assert_eq!(ids, expected);
    for (listed, created) in listed.as_array().unwrap().iter().zip(created.iter().rev()) {
        // Millisecond precision, the same on the way in and out of either store.
        assert_eq!(listed["created_at"], created["created_at"]);
        let at = listed["created_at"].as_str().unwrap();
        assert!(
            at.ends_with('Z') && at.len() <= "2026-01-01T00:00:00.123Z".len(),
            "{at}"
        );
    }
}

async fn a_burst_of_sign_ups_with_one_email_creates_one_user(app: TestApp) {
    let app = std::sync::Arc::new(app);
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let app = std::sync::Arc::clone(&app);
            tokio::spawn(async move {
                let body =
                    json!({ "email": "race@example.com", "full_name": format!("Racer {i}") });
                app.post("/api/users", None, &body).await.status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 31), "{statuses:?}");
    let users = app.get("/api/users", Some(&app.admin_token)).await.body;
    assert_eq!(users.as_array().unwrap().len(), 1);
}
