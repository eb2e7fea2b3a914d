//! `/metrics` after traffic: valid for `promtool check metrics`, every family fed.

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::common::TestApp;

both_backends!(metrics_cover_every_family_that_saw_traffic);

/// Whether some sample of `family` matching every `needle` has a value above zero.
fn has_positive(text: &str, family: &str, needles: &[&str]) -> bool {
    text.lines().filter(|l| !l.starts_with('#')).any(|line| {
        let Some(rest) = line.strip_prefix(family) else {
            return false;
        };
        if !(rest.starts_with('{') || rest.starts_with(' '))
            || !needles.iter().all(|n| line.contains(n))
        {
            return false;
        }
        let value = line
            .rsplit(' ')
            .find_map(|v| v.parse::<f64>().ok().filter(|_| !v.contains('{')));
        // The value is the field after the labels (an exemplar may follow it).
        let after_labels = line.rsplit_once('}').map_or(rest, |(_, v)| v);
        let first = after_labels
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok());
        first.or(value).is_some_and(|v| v > 0.0)
    })
}

fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run promtool ({e}): install the prometheus package (Debian/Ubuntu: apt-get install -y prometheus)"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // The spec names two gauges `users_total` and `assessments_total`, which promtool's
    // linter flags; those two findings are known, anything else fails the test.
    let known = [
        r#"assessments_total non-counter metrics should not have "_total" suffix"#,
        r#"users_total non-counter metrics should not have "_total" suffix"#,
    ];
    let unexpected: Vec<&str> = report
        .lines()
        .filter(|l| !l.trim().is_empty() && !known.contains(&l.trim()))
        .collect();
    assert!(unexpected.is_empty(), "promtool check metrics:\n{report}");
}

async fn metrics_cover_every_family_that_saw_traffic(app: TestApp) {
    let (_, token) = app.user("zed").await;
    let id = app.assessment(&token, "Metered").await;
    app.recommendation(&token, &id, "high").await;
    let generated = app
        .post(
            &format!("/api/assessments/{id}/recommendations/generate"),
            Some(&token),
            &json!({}),
        )
        .await;
    assert_eq!(generated.status, StatusCode::CREATED);
    let report = app
        .post(
            &format!("/api/assessments/{id}/reports"),
            Some(&token),
            &json!({ "type": "summary", "format": "markdown" }),
        )
        .await;
    assert_eq!(report.status, StatusCode::CREATED);
    for _ in 0..3 {
        app.get("/api/assessments", None).await;
        app.get(&format!("/api/assessments/{id}"), None).await;
    }
    app.get("/no/such/route", None).await;
    // A second user who writes nothing: registered, not active.
    app.user("idle").await;
    infra_mind::observe::refresh_gauges(app.repo.as_ref(), &app.metrics).await;

    // Prometheus scrapes with the Prometheus text format; promtool reads that one.
    let scrape = app
        .send(
            app.client
                .get(app.url("/metrics"))
                .header("accept", "text/plain"),
        )
        .await;
    assert_eq!(scrape.status, StatusCode::OK);
    let text = String::from_utf8(scrape.bytes).unwrap();
    promtool_check(&text);

    for (family, needles) in [
        (
            "http_requests_total",
            &["endpoint=\"/api/assessments/{id}\"", "status=\"200\""][..],
        ),
        (
            "http_requests_total",
            &[
                "endpoint=\"/api/assessments\"",
                "method=\"POST\"",
                "status=\"201\"",
            ][..],
        ),
        (
            "http_request_duration_seconds_count",
            &["endpoint=\"/api/assessments\""][..],
        ),
        ("assessments_created_total", &["status=\"draft\""][..]),
        (
            "recommendations_generated_total",
            &["priority=\"high\""][..],
        ),
        ("reports_generated_total", &["format=\"markdown\""][..]),
        (
            "llm_api_calls_total",
            &["provider=\"offline\"", "status=\"success\""][..],
        ),
        ("llm_tokens_used_total", &["provider=\"offline\""][..]),
        (
            "agent_executions_total",
            &["name=\"recommendation_agent\"", "status=\"success\""][..],
        ),
        (
            "agent_confidence_score_count",
            &["name=\"recommendation_agent\""][..],
        ),
        (
            "circuit_breaker_state",
            &["breaker=\"offline\"", "state=\"closed\""][..],
        ),
        ("cache_hits_total", &[][..]),
        ("cache_misses_total", &[][..]),
        ("loader_batches_total", &["loader=\"User_id\""][..]),
    ] {
        assert!(
            has_positive(&text, family, needles),
            "{family} {needles:?} not positive in:\n{text}"
        );
    }
    assert!(
        !has_positive(&text, "llm_api_calls_total", &["provider=\"openai\""]),
        "no traffic, no series"
    );
    let gauge = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
    };
    assert_eq!(gauge("users_total"), 2.0);
    assert_eq!(gauge("users_active"), 1.0, "only zed wrote this week");
    assert_eq!(gauge("assessments_total"), 1.0);
    assert!(
        !text.contains("endpoint=\"/no/such/route\""),
        "raw paths never become labels"
    );
    if app.repo.backend() == "mongodb" {
        for collection in ["assessments", "users", "recommendations", "reports"] {
            let needle = format!("collection=\"{collection}\"");
            assert!(
                has_positive(&text, "db_queries_total", &[needle.as_str()]),
                "db_queries_total for {collection}:\n{text}"
            );
        }
        assert!(
            has_positive(&text, "db_query_duration_seconds_count", &[]),
            "{text}"
        );
    }
}
