//! Reports: every type and format, stored and downloaded with the right Content-Type; a real
//! PDF that poppler reads; access for the owner only.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::common::{TestApp, UNKNOWN_ID};

both_backends!(
    reports_are_generated_in_every_format_and_downloaded,
    unknown_report_types_and_formats_are_422_naming_the_field,
    reports_are_for_the_assessment_owner,
);

/// Runs a poppler tool on `pdf`, failing with install advice when poppler is missing.
fn poppler(tool: &str, pdf: &[u8]) -> String {
    let dir = tempfile_dir();
    let path = dir.join("report.pdf");
    std::fs::write(&path, pdf).unwrap();
    let mut command = Command::new(tool);
    command.arg(&path);
    if tool == "pdftotext" {
        command.arg("-");
    }
    let output = command.output().unwrap_or_else(|e| {
        panic!("cannot run {tool} ({e}): install poppler-utils (Debian/Ubuntu: apt-get install -y poppler-utils; macOS: brew install poppler)")
    });
    assert!(
        output.status.success(),
        "{tool} rejected the PDF: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "infra-mind-report-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn reports_are_generated_in_every_format_and_downloaded(app: TestApp) {
    let (_, token) = app.user("rita").await;
    let id = app.assessment(&token, "Payments platform").await;
    app.recommendation(&token, &id, "critical").await;
    app.recommendation(&token, &id, "low").await;
    let cases = [
        ("summary", "json", "application/json"),
        ("detailed", "markdown", "text/markdown; charset=utf-8"),
        ("executive", "html", "text/html; charset=utf-8"),
        ("detailed", "pdf", "application/pdf"),
    ];
    for (report_type, format, content_type) in cases {
        let created = app
            .post(
                &format!("/api/assessments/{id}/reports"),
                Some(&token),
                &json!({ "type": report_type, "format": format }),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["type"], report_type);
        assert_eq!(created.body["format"], format);
        assert_eq!(created.body["assessment_id"], id.as_str());
        let report_id = created.body["id"].as_str().unwrap();
        let meta = app
            .get(&format!("/api/reports/{report_id}"), Some(&token))
            .await;
        assert_eq!(meta.status, StatusCode::OK);
        assert_eq!(meta.body, created.body, "metadata reads back unchanged");
        let download = app
            .get(created.body["download_url"].as_str().unwrap(), Some(&token))
            .await;
        assert_eq!(download.status, StatusCode::OK);
        assert_eq!(
            download.header("content-type"),
            Some(content_type),
            "{format}"
        );
        assert!(
            download
                .header("content-disposition")
                .unwrap()
                .contains(&format!("report-{report_id}"))
        );
        assert_eq!(
            download.bytes.len() as u64,
            created.body["size_bytes"].as_u64().unwrap()
        );
        let text = String::from_utf8_lossy(&download.bytes).into_owned();
        match format {
            "json" => assert_eq!(download.body["assessment"]["id"], id.as_str()),
            "markdown" => assert!(text.starts_with("# Payments platform"), "{text}"),
            "html" => assert!(
                text.contains("<h1>Payments platform</h1>") && text.contains("Next steps"),
                "{text}"
            ),
            "pdf" => {
                assert!(download.bytes.starts_with(b"%PDF-"), "a PDF header");
                let info = poppler("pdfinfo", &download.bytes);
                assert!(info.contains("Pages:"), "{info}");
                let extracted = poppler("pdftotext", &download.bytes);
                for expected in ["Payments platform", "Recommendations", "Fix critical"] {
                    assert!(
                        extracted.contains(expected),
                        "{expected:?} not in {extracted:?}"
                    );
                }
            }
            _ => unreachable!(),
        }
    }
    let counts = app.get("/api/dashboard", None).await.body;
    assert_eq!(
        counts["counts"]["reports_by_format"],
        json!({ "json": 1, "markdown": 1, "html": 1, "pdf": 1 })
    );
    let full = app
        .get(&format!("/api/assessments/{id}/full"), None)
        .await
        .body;
    assert_eq!(full["reports"].as_array().unwrap().len(), 4);
}

async fn unknown_report_types_and_formats_are_422_naming_the_field(app: TestApp) {
    let (_, token) = app.user("sid").await;
    let id = app.assessment(&token, "Types").await;
    let path = format!("/api/assessments/{id}/reports");
    for (body, field) in [
        (json!({ "type": "weekly", "format": "pdf" }), "type"),
        (json!({ "type": "summary", "format": "docx" }), "format"),
        (json!({ "format": "pdf" }), "type"),
        (json!({ "type": "summary" }), "format"),
    ] {
        let answer = app.post(&path, Some(&token), &body).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            answer.body["error"]["field"], field,
            "{body}: {}",
            answer.body
        );
    }
}

async fn reports_are_for_the_assessment_owner(app: TestApp) {
    let (_, owner) = app.user("tess").await;
    let (_, other) = app.user("ugo").await;
    let id = app.assessment(&owner, "Private").await;
    let body = json!({ "type": "summary", "format": "markdown" });
    let path = format!("/api/assessments/{id}/reports");
    assert_eq!(
        app.post(&path, Some(&other), &body).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post(&path, None, &body).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post(
            &format!("/api/assessments/{UNKNOWN_ID}/reports"),
            Some(&owner),
            &body
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let created = app.post(&path, Some(&owner), &body).await;
    let report = format!("/api/reports/{}", created.body["id"].as_str().unwrap());
    for path in [report.clone(), format!("{report}/download")] {
        assert_eq!(
            app.get(&path, Some(&other)).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
        assert_eq!(
            app.get(&path, None).await.status,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_eq!(
            app.get(&path, Some(&app.admin_token)).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    assert_eq!(
        app.get("/api/reports/bad", Some(&owner)).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get(&format!("/api/reports/{UNKNOWN_ID}"), Some(&owner))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}
