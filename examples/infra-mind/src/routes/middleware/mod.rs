//! The server-wide middleware: the request span, per-request loaders, and ([`errors`]) the
//! JSON error rendering.

mod errors;

pub(crate) use errors::RenderErrorsLayer;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use std::time::Duration;

use tower_http::trace::OnResponse;
use tracing::Span;

use crate::config::AccessLog;
use crate::telemetry::REQUEST_ID_HEADER;

/// The request id of a request (set by `SetRequestIdLayer` before anything else runs).
fn request_id(request: &Request) -> &str {
    request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The span every log line of a request is written in, so each line carries the request id.
pub(crate) fn request_span(request: &http::Request<Body>) -> Span {
    let id = request_id(request);
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    )
}

/// The access log line of each finished request: at `INFO` for the requests
/// [`AccessLog`] selects, at `DEBUG` for the rest (so `RUST_LOG=debug` shows them all).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AccessLogLine(pub(crate) AccessLog);

/// Requests at least this slow are logged at `INFO` whatever their status.
const SLOW: Duration = Duration::from_secs(1);

impl<B> OnResponse<B> for AccessLogLine {
    fn on_response(self, response: &http::Response<B>, latency: Duration, _: &Span) {
        let status = response.status().as_u16();
        let latency_ms = latency.as_secs_f64() * 1e3;
        let notable = status >= 400 || latency >= SLOW;
        if self.0 == AccessLog::All || notable {
            tracing::info!(status, latency_ms, "finished processing request");
        } else {
            tracing::debug!(status, latency_ms, "finished processing request");
        }
    }
}

/// Puts fresh per-request loaders in the request extensions.
pub(crate) async fn attach_loaders(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let loaders = crate::repo::loaders::RequestLoaders::new(&state.repo, &state.loader_stats);
    request.extensions_mut().insert(loaders);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::http::StatusCode;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The lines `policy` logs at `INFO` for these answers.
    fn info_lines(policy: AccessLog, answers: &[(StatusCode, Duration)]) -> Vec<String> {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            for (status, latency) in answers {
                let response = http::Response::builder().status(*status).body(()).unwrap();
                AccessLogLine(policy).on_response(&response, *latency, &Span::none());
            }
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn the_default_logs_errors_and_slow_requests_and_all_logs_everything() {
        let fast = Duration::from_millis(3);
        let answers = [
            (StatusCode::OK, fast),
            (StatusCode::NOT_MODIFIED, fast),
            (StatusCode::NOT_FOUND, fast),
            (StatusCode::SERVICE_UNAVAILABLE, fast),
            (StatusCode::OK, SLOW),
        ];
        let errors = info_lines(AccessLog::Errors, &answers);
        let statuses: Vec<_> = errors
            .iter()
            .map(|line| line.split("status=").nth(1).unwrap_or_default()[..3].to_owned())
            .collect();
        assert_eq!(statuses, ["404", "503", "200"], "{errors:#?}");
        assert!(errors[2].contains("latency_ms=1000"), "{}", errors[2]);
        assert_eq!(info_lines(AccessLog::All, &answers).len(), answers.len());
    }
}
