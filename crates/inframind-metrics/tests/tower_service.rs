//! `MetricsLayer` on a plain tower service (no axum): caller-supplied endpoint labels, inner
//! service errors, and label values that need escaping in a valid exposition.

mod common;

use common::{check_openmetrics, lines, sample};
use http::{Request, Response, StatusCode};
use inframind_metrics::{Format, Metrics, MetricsLayer};
use proptest::prelude::*;
use std::borrow::Cow;
use std::convert::Infallible;
use tower::{Layer, ServiceExt, service_fn};

#[tokio::test]
async fn generic_service_with_an_endpoint_function() {
    let metrics = Metrics::new();
    let layer = MetricsLayer::new(&metrics).endpoint_fn(|uri, _| {
        uri.path()
            .strip_prefix("/items/")
            .map(|_| Cow::Borrowed("/items/:id"))
    });
    let svc = layer.layer(service_fn(|req: Request<String>| async move {
        if req.uri().path() == "/boom" {
            return Err(std::io::Error::other("backend down"));
        }
        let status = if req.body().is_empty() {
            StatusCode::OK
        } else {
            StatusCode::ACCEPTED
        };
        Ok(Response::builder()
            .status(status)
            .body(String::from("hello"))
            .expect("response"))
    }));
    for i in 0..4 {
        let res = svc
            .clone()
            .oneshot(
                Request::get(format!("/items/{i}"))
                    .body(String::new())
                    .expect("req"),
            )
            .await;
        assert_eq!(res.expect("ok").status(), StatusCode::OK);
    }
    let res = svc
        .clone()
        .oneshot(
            Request::post("/items/9")
                .body(String::from("abc"))
                .expect("req"),
        )
        .await;
    assert_eq!(res.expect("ok").status(), StatusCode::ACCEPTED);
    let err = svc
        .clone()
        .oneshot(Request::get("/boom").body(String::new()).expect("req"))
        .await;
    assert!(err.is_err(), "the inner error is passed through unchanged");

    let text = metrics.encode(Format::OpenMetrics);
    let v = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
    assert_eq!(
        v(r#"http_requests_total{method="GET",endpoint="/items/:id",status="200"}"#),
        4.0
    );
    assert_eq!(
        v(r#"http_requests_total{method="POST",endpoint="/items/:id",status="202"}"#),
        1.0
    );
    assert_eq!(
        v(r#"http_requests_total{method="GET",endpoint="__unmatched__",status="error"}"#),
        1.0
    );
    assert_eq!(
        v(r#"http_request_size_bytes_sum{method="POST",endpoint="/items/:id"}"#),
        3.0
    );
    assert_eq!(
        v(r#"http_response_size_bytes_sum{method="GET",endpoint="/items/:id"}"#),
        20.0
    );
    assert_eq!(
        v(r#"http_requests_in_progress{method="GET",endpoint="__unmatched__"}"#),
        0.0
    );
}

/// Endpoint labels with quotes, backslashes, newlines and any Unicode still give a valid
/// exposition, and each label value decodes back to the original.
fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn any_label_value_is_escaped(names in proptest::collection::btree_set("\\PC{0,12}|[\"\\\\\n{}=,# ]{1,6}", 1..5)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let metrics = Metrics::new();
        let svc = MetricsLayer::new(&metrics)
            .endpoint_fn(|_, ext| ext.get::<String>().map(|s| Cow::Owned(s.clone())))
            .layer(service_fn(|_req: Request<String>| async { Ok::<_, Infallible>(Response::new(String::new())) }));
        rt.block_on(async {
            for name in &names {
                let mut req = Request::get("/").body(String::new()).expect("req");
                req.extensions_mut().insert(name.clone());
                svc.clone().oneshot(req).await.expect("infallible");
            }
        });
        let text = metrics.encode(Format::OpenMetrics);
        let (ok, out) = check_openmetrics(&text);
        prop_assert!(ok, "{}\n{}", out, text);
        let mut seen: Vec<String> = lines(&text, "http_requests_total")
            .iter()
            .map(|l| {
                let start = l.find("endpoint=\"").expect("endpoint") + "endpoint=\"".len();
                let end = l.rfind("\",status=").expect("status");
                unescape(&l[start..end])
            })
            .collect();
        seen.sort();
        let mut want: Vec<String> = names.into_iter().collect();
        want.sort();
        prop_assert_eq!(seen, want);
    }
}
