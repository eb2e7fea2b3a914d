//! The response cache over real HTTP: MISS then HIT per cached route, reads after every kind
//! of write see the write, per-user lists never cross, ETags give 304, zstd clients get zstd.
//! The MongoDB variant caches in Redis, the embedded one in process.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::common::TestApp;

both_backends!(
    each_cached_route_misses_then_hits,
    reads_after_every_write_see_the_write,
    a_write_to_one_assessment_leaves_the_others_cached,
    per_user_lists_are_cached_per_user_and_never_cross,
    an_etag_revalidates_to_304,
    zstd_clients_get_zstd_bytes,
    logged_in_readers_share_the_catalogue_entries,
    lists_with_relations_see_every_relation_write,
    lists_longer_than_a_mebibyte_are_cached,
);

async fn each_cached_route_misses_then_hits(app: TestApp) {
    let (_, token) = app.user("cache-a").await;
    let id = app.assessment(&token, "Cached").await;
    for path in [
        "/api/assessments".to_owned(),
        format!("/api/assessments/{id}"),
        format!("/api/assessments/{id}/full"),
        "/api/recommendations".to_owned(),
    ] {
        let first = app.get(&path, None).await;
        assert_eq!(first.header("x-cache"), Some("MISS"), "{path}");
        let second = app.get(&path, None).await;
        assert_eq!(second.header("x-cache"), Some("HIT"), "{path}");
        assert_eq!(first.body, second.body, "{path}");
        assert!(
            second.header("x-request-id") != first.header("x-request-id"),
            "ids stay per request"
        );
    }
    let stats = app
        .get("/admin/cache/stats", Some(&app.admin_token))
        .await
        .body;
    assert!(stats["hits"].as_u64().unwrap() >= 4, "{stats}");
    assert!(stats["misses"].as_u64().unwrap() >= 4, "{stats}");
}

async fn reads_after_every_write_see_the_write(app: TestApp) {
    let (_, token) = app.user("cache-b").await;
    let id = app.assessment(&token, "Before").await;
    let item = format!("/api/assessments/{id}");
    let full = format!("{item}/full");
    // Warm every entry.
    for path in [
        "/api/assessments",
        item.as_str(),
        full.as_str(),
        "/api/recommendations",
    ] {
        app.get(path, None).await;
        assert_eq!(
            app.get(path, None).await.header("x-cache"),
            Some("HIT"),
            "{path}"
        );
    }
    // Create: the list shows the new assessment.
    let second = app.assessment(&token, "Second").await;
    let list = app.get("/api/assessments", None).await.body;
    assert_eq!(list[0]["id"], second.as_str());
    // Update: the item, `/full` and the list show it.
    app.put(&item, Some(&token), &json!({ "title": "After" }))
        .await;
    assert_eq!(app.get(&item, None).await.body["title"], "After");
    assert_eq!(
        app.get(&full, None).await.body["assessment"]["title"],
        "After"
    );
    let list = app.get("/api/assessments", None).await.body;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|a| a["title"] == "After")
    );
    // A recommendation: the list and `/full` show it.
    let rec = app.recommendation(&token, &id, "medium").await;
    assert_eq!(
        app.get("/api/recommendations", None).await.body[0]["id"],
        rec.as_str()
    );
    assert_eq!(
        app.get(&full, None).await.body["recommendations"][0]["id"],
        rec.as_str()
    );
    // Generated recommendations too.
    let generated = app
        .post(
            &format!("{item}/recommendations/generate"),
            Some(&token),
            &json!({}),
        )
        .await;
    let newest = generated.body["recommendations"][0]["id"].clone();
    let recs = app.get("/api/recommendations", None).await.body;
    assert!(recs.as_array().unwrap().iter().any(|r| r["id"] == newest));
    // A report: `/full` lists it.
    let report = app
        .post(
            &format!("{item}/reports"),
            Some(&token),
            &json!({ "type": "summary", "format": "json" }),
        )
        .await;
    assert_eq!(
        app.get(&full, None).await.body["reports"][0]["id"],
        report.body["id"]
    );
    // Delete: the item is gone, the list and recommendations forget it.
    app.delete(&item, Some(&token)).await;
    assert_eq!(app.get(&item, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&full, None).await.status, StatusCode::NOT_FOUND);
    let list = app.get("/api/assessments", None).await.body;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|a| a["id"] != id.as_str())
    );
    let recs = app.get("/api/recommendations", None).await.body;
    assert!(
        recs.as_array()
            .unwrap()
            .iter()
            .all(|r| r["assessment_id"] != id.as_str())
    );
}

/// Each assessment is cached under its own namespace (`assessments:{id}`): a write to A makes
/// A's item and `/full` miss (and show the write), while B's stay HITs.
async fn a_write_to_one_assessment_leaves_the_others_cached(app: TestApp) {
    let (_, token) = app.user("cache-ns").await;
    let a = app.assessment(&token, "A before").await;
    let b = app.assessment(&token, "B").await;
    let paths = |id: &str| {
        [
            format!("/api/assessments/{id}"),
            format!("/api/assessments/{id}/full"),
        ]
    };
    let (a_paths, b_paths) = (paths(&a), paths(&b));
    let x_cache = |response: &crate::common::Answer| response.header("x-cache").map(str::to_owned);
    for path in a_paths.iter().chain(&b_paths) {
        assert_eq!(
            x_cache(&app.get(path, None).await).as_deref(),
            Some("MISS"),
            "{path}"
        );
        assert_eq!(
            x_cache(&app.get(path, None).await).as_deref(),
            Some("HIT"),
            "{path}"
        );
    }
    let b_still_hits = |when: &'static str| {
        let (app, b_paths) = (&app, &b_paths);
        async move {
            for path in b_paths {
                let got = app.get(path, None).await;
                assert_eq!(got.header("x-cache"), Some("HIT"), "{path} after {when}");
            }
        }
    };

    // Update A: A's item and `/full` miss and show it; B's stay cached.
    app.put(&a_paths[0], Some(&token), &json!({ "title": "A after" }))
        .await;
    let item = app.get(&a_paths[0], None).await;
    assert_eq!(item.header("x-cache"), Some("MISS"));
    assert_eq!(item.body["title"], "A after");
    let full = app.get(&a_paths[1], None).await;
    assert_eq!(full.header("x-cache"), Some("MISS"));
    assert_eq!(full.body["assessment"]["title"], "A after");
    b_still_hits("an update of A").await;

    // A recommendation for A (posted elsewhere than A's paths): A misses and lists it.
    for path in &a_paths {
        app.get(path, None).await;
    }
    let rec = app.recommendation(&token, &a, "high").await;
    assert_eq!(
        app.get(&a_paths[0], None).await.header("x-cache"),
        Some("MISS")
    );
    let full = app.get(&a_paths[1], None).await;
    assert_eq!(full.header("x-cache"), Some("MISS"));
    assert_eq!(full.body["recommendations"][0]["id"], rec.as_str());
    b_still_hits("a recommendation for A").await;

    // A report for A: A's `/full` misses and lists it.
    let report = app
        .post(
            &format!("{}/reports", a_paths[0]),
            Some(&token),
            &json!({ "type": "summary", "format": "json" }),
        )
        .await;
    let full = app.get(&a_paths[1], None).await;
    assert_eq!(full.header("x-cache"), Some("MISS"));
    assert_eq!(full.body["reports"][0]["id"], report.body["id"]);
    b_still_hits("a report for A").await;

    // Delete A: gone from its paths, B still cached.
    app.delete(&a_paths[0], Some(&token)).await;
    for path in &a_paths {
        assert_eq!(
            app.get(path, None).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    b_still_hits("deleting A").await;

    // Hostile ids never reach the cache as globs or extra levels: a plain 400, uncached or
    // keyed apart, never a 500.
    for hostile in ["%2A", "a:b", "%5B%3F%5D", "%40p"] {
        let path = format!("/api/assessments/{hostile}");
        assert_eq!(
            app.get(&path, None).await.status,
            StatusCode::BAD_REQUEST,
            "{path}"
        );
    }
    b_still_hits("hostile reads").await;
}

async fn per_user_lists_are_cached_per_user_and_never_cross(app: TestApp) {
    let (a_id, a) = app.user("cache-c").await;
    let (b_id, b) = app.user("cache-d").await;
    let mine = app.assessment(&a, "A's").await;
    let theirs = app.assessment(&b, "B's").await;
    let a_path = format!("/api/users/{a_id}/assessments");
    let b_path = format!("/api/users/{b_id}/assessments");
    assert_eq!(
        app.get(&a_path, Some(&a)).await.header("x-cache"),
        Some("MISS")
    );
    let hit = app.get(&a_path, Some(&a)).await;
    assert_eq!(hit.header("x-cache"), Some("HIT"));
    assert_eq!(hit.body[0]["id"], mine.as_str());
    // B asking for A's list is refused, whatever A's cached entry holds.
    assert_eq!(
        app.get(&a_path, Some(&b)).await.status,
        StatusCode::FORBIDDEN
    );
    let own = app.get(&b_path, Some(&b)).await;
    assert_eq!(own.body.as_array().unwrap().len(), 1);
    assert_eq!(own.body[0]["id"], theirs.as_str());
    // The admin's reads are keyed apart from the owner's.
    let admin = app.get(&a_path, Some(&app.admin_token)).await;
    assert_eq!(admin.header("x-cache"), Some("MISS"));
    assert_eq!(admin.body, hit.body);
    // A write by A shows in A's list at once.
    let newer = app.assessment(&a, "A's second").await;
    assert_eq!(
        app.get(&a_path, Some(&a)).await.body[0]["id"],
        newer.as_str()
    );
    assert_eq!(
        app.get(&a_path, None).await.status,
        StatusCode::UNAUTHORIZED,
        "no token, no list"
    );
}

async fn an_etag_revalidates_to_304(app: TestApp) {
    let (_, token) = app.user("cache-e").await;
    let id = app.assessment(&token, "Etag").await;
    let path = format!("/api/assessments/{id}");
    app.get(&path, None).await;
    let hit = app.get(&path, None).await;
    let etag = hit.header("etag").expect("an ETag").to_owned();
    let revalidated = app
        .send(
            app.request(Method::GET, &path, None)
                .header("if-none-match", &etag),
        )
        .await;
    assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED);
    assert!(revalidated.bytes.is_empty());
    app.put(&path, Some(&token), &json!({ "title": "Changed" }))
        .await;
    let changed = app
        .send(
            app.request(Method::GET, &path, None)
                .header("if-none-match", &etag),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "a write changes the ETag");
    assert_eq!(changed.body["title"], "Changed");
}

async fn zstd_clients_get_zstd_bytes(app: TestApp) {
    let (_, token) = app.user("cache-f").await;
    for i in 0..20 {
        app.assessment(
            &token,
            &format!("Long enough to pass the compression threshold {i}"),
        )
        .await;
    }
    let plain = app.get("/api/assessments", None).await;
    assert!(plain.bytes.len() > 1024, "a body over the 1 KiB threshold");
    let zstd = app
        .send(
            app.request(Method::GET, "/api/assessments", None)
                .header("accept-encoding", "zstd"),
        )
        .await;
    assert_eq!(zstd.header("x-cache"), Some("HIT"));
    assert_eq!(zstd.header("content-encoding"), Some("zstd"));
    let decoded = zstd::stream::decode_all(zstd.bytes.as_slice()).expect("valid zstd");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&decoded).unwrap(),
        plain.body
    );
    let identity = app.get("/api/assessments", None).await;
    assert_eq!(
        identity.header("content-encoding"),
        None,
        "others get it decompressed"
    );
}

/// Logged-in readers always get fresh catalogue data. (Sharing the anonymous entries needs the
/// cache's opt-in for authenticated reads of shared content, which another branch adds; until
/// then these requests bypass the cache.)
async fn logged_in_readers_share_the_catalogue_entries(app: TestApp) {
    let (_, token) = app.user("cache-g").await;
    let id = app.assessment(&token, "Shared").await;
    let path = format!("/api/assessments/{id}");
    app.get(&path, None).await;
    let anonymous = app.get(&path, None).await;
    assert_eq!(anonymous.header("x-cache"), Some("HIT"));
    let logged_in = app.get(&path, Some(&token)).await;
    assert_eq!(logged_in.status, StatusCode::OK);
    assert_eq!(
        logged_in.header("x-cache"),
        Some("HIT"),
        "the anonymous entry"
    );
    assert_eq!(logged_in.body, anonymous.body);
    // And the other way round: an entry a logged-in reader filled serves anonymous readers.
    let list = "/api/assessments";
    assert_eq!(
        app.get(list, Some(&token)).await.header("x-cache"),
        Some("MISS")
    );
    assert_eq!(app.get(list, None).await.header("x-cache"), Some("HIT"));
    app.put(&path, Some(&token), &json!({ "title": "Shared v2" }))
        .await;
    assert_eq!(
        app.get(&path, Some(&token)).await.body["title"],
        "Shared v2"
    );
    assert_eq!(app.get(&path, None).await.body["title"], "Shared v2");
}

/// `?include=` lists are cached like the plain list, and a recommendation or report write
/// reaches them: the public list and the per-user listing.
async fn lists_with_relations_see_every_relation_write(app: TestApp) {
    let (user_id, token) = app.user("cache-include").await;
    let id = app.assessment(&token, "With relations").await;
    let public = "/api/assessments?include=user,recommendations,reports";
    let own = format!("/api/users/{user_id}/assessments?include=recommendations,reports");
    let warm = || async {
        for path in [public, own.as_str()] {
            app.get(path, Some(&token)).await;
            let again = app.get(path, Some(&token)).await;
            assert_eq!(again.header("x-cache"), Some("HIT"), "{path}");
        }
    };
    let item = |body: &serde_json::Value| {
        body.as_array()
            .unwrap()
            .iter()
            .find(|i| i["assessment"]["id"] == id.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("{id} missing from {body}"))
    };
    warm().await;
    let listed = item(&app.get(public, None).await.body);
    assert_eq!(listed["user"]["id"], user_id.as_str());
    assert_eq!(listed["recommendations"], json!([]));

    let rec = app.recommendation(&token, &id, "high").await;
    for path in [public, own.as_str()] {
        let body = app.get(path, Some(&token)).await.body;
        assert_eq!(
            item(&body)["recommendations"][0]["id"],
            rec.as_str(),
            "{path}"
        );
    }

    warm().await;
    let report = app
        .post(
            &format!("/api/assessments/{id}/reports"),
            Some(&token),
            &json!({ "type": "summary", "format": "json" }),
        )
        .await;
    assert_eq!(report.status, StatusCode::CREATED);
    for path in [public, own.as_str()] {
        let body = app.get(path, Some(&token)).await.body;
        assert_eq!(item(&body)["reports"][0]["id"], report.body["id"], "{path}");
    }
}

/// The longest lists (`?limit=10000` is about 3 MB) are cached too: the layer's own default
/// (1 MiB) would pass them through uncached on every request.
async fn lists_longer_than_a_mebibyte_are_cached(app: TestApp) {
    let (_, token) = app.user("cache-long").await;
    let description = "x".repeat(600 * 1024);
    for title in ["Long one", "Long two"] {
        let answer = app
            .post(
                "/api/assessments",
                Some(&token),
                &json!({ "title": title, "cloud_provider": "aws", "description": description }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    }
    let first = app.get("/api/assessments", None).await;
    assert_eq!(first.status, StatusCode::OK);
    let bytes = first.bytes.len();
    assert!(bytes > 1024 * 1024, "the list is {bytes} bytes");
    assert_eq!(first.header("x-cache"), Some("MISS"));
    let second = app.get("/api/assessments", None).await;
    assert_eq!(second.header("x-cache"), Some("HIT"));
    assert_eq!(first.bytes, second.bytes);
}
