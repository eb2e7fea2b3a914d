//! The `/metrics` endpoint.

use crate::Metrics;
use http::{HeaderValue, Request, Response, header};
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};
use tower_service::Service;

/// Content type of the OpenMetrics text format.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of the Prometheus text format 0.0.4.
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The exposition format of a scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// OpenMetrics text 1.0 (exemplars, `# UNIT`, `# EOF`).
    OpenMetrics,
    /// Prometheus text 0.0.4, for scrapers that do not ask for OpenMetrics.
    PrometheusText,
}

impl Format {
    /// The format answering an `Accept` header: OpenMetrics unless the client asks for
    /// `text/plain` without asking for `application/openmetrics-text`.
    pub fn negotiate(accept: Option<&HeaderValue>) -> Self {
        let Some(accept) = accept.and_then(|v| v.to_str().ok()) else {
            return Self::OpenMetrics;
        };
        if accept.contains("application/openmetrics-text") {
            Self::OpenMetrics
        } else if accept.contains("text/plain") {
            Self::PrometheusText
        } else {
            Self::OpenMetrics
        }
    }

    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Self::PrometheusText => PROMETHEUS_TEXT_CONTENT_TYPE,
        }
    }
}

/// A tower service answering every request with the registry's exposition, in the format the
/// `Accept` header asks for (OpenMetrics by default). Use it with axum's `route_service`.
#[derive(Debug, Clone)]
pub struct MetricsHandler {
    pub(crate) metrics: Metrics,
}

impl<B> Service<Request<B>> for MetricsHandler {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let format = Format::negotiate(req.headers().get(header::ACCEPT));
        let body = self.metrics.encode(format);
        let mut res = Response::new(body);
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use super::Format;
    use http::HeaderValue;

    #[test]
    fn negotiation() {
        let f = |v: &'static str| Format::negotiate(Some(&HeaderValue::from_static(v)));
        assert_eq!(Format::negotiate(None), Format::OpenMetrics);
        assert_eq!(f("*/*"), Format::OpenMetrics);
        assert_eq!(f("text/plain"), Format::PrometheusText);
        assert_eq!(
            f("text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
            Format::PrometheusText
        );
        assert_eq!(
            f(
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
            ),
            Format::OpenMetrics
        );
    }
}
