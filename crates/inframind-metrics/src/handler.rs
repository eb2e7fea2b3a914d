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
    /// The format answering an `Accept` header, honouring its q-values (RFC 9110, 12.5.1):
    /// the acceptable format with the highest weight, OpenMetrics on a tie, with no header,
    /// or when neither is acceptable. `application/openmetrics-text` and `text/plain` match
    /// their exact type, their `type/*` and `*/*`; the most specific range decides a format's
    /// weight, and `q=0` refuses it.
    ///
    /// ```
    /// use http::HeaderValue;
    /// use inframind_metrics::Format;
    /// let f = |v: &'static str| Format::negotiate(Some(&HeaderValue::from_static(v)));
    /// assert_eq!(f("text/plain;q=1, application/openmetrics-text;q=0.5"), Format::PrometheusText);
    /// assert_eq!(f("application/openmetrics-text;q=0, */*"), Format::PrometheusText);
    /// assert_eq!(f("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"), Format::OpenMetrics);
    /// ```
    pub fn negotiate(accept: Option<&HeaderValue>) -> Self {
        let Some(accept) = accept.and_then(|v| v.to_str().ok()) else {
            return Self::OpenMetrics;
        };
        let open = weight(accept, "application", "openmetrics-text");
        let text = weight(accept, "text", "plain");
        match (open, text) {
            (Some(o), Some(t)) if t > o => Self::PrometheusText,
            (None | Some(0), Some(t)) if t > 0 => Self::PrometheusText,
            _ => Self::OpenMetrics,
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

/// The weight (q-value in thousandths) `accept` gives `kind/sub`, from its most specific
/// matching media range; `None` when no range matches.
fn weight(accept: &str, kind: &str, sub: &str) -> Option<u16> {
    let mut best: Option<(u8, u16)> = None;
    for range in accept.split(',') {
        let mut params = range.split(';');
        let media = params.next().unwrap_or("").trim();
        let (t, s) = media.split_once('/').unwrap_or((media, ""));
        let (t, s) = (t.trim(), s.trim());
        let specificity = if t.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(sub) {
            2
        } else if t.eq_ignore_ascii_case(kind) && s == "*" {
            1
        } else if t == "*" && s == "*" {
            0
        } else {
            continue;
        };
        let q = params
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(Some(1000), |(_, v)| parse_q(v.trim()))
            .unwrap_or(0);
        if best.is_none_or(|(sp, _)| specificity > sp) {
            best = Some((specificity, q));
        }
    }
    best.map(|(_, q)| q)
}

/// A q-value (`0`, `0.5`, `1.000`) in thousandths; `None` if malformed.
fn parse_q(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{frac:0<3}").parse::<u16>().ok()?;
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
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

    #[test]
    fn q_values_decide() {
        let f = |v: &'static str| Format::negotiate(Some(&HeaderValue::from_static(v)));
        assert_eq!(
            f("text/plain;q=1, application/openmetrics-text;q=0.5"),
            Format::PrometheusText
        );
        assert_eq!(
            f("application/openmetrics-text;q=0, text/plain;q=0.1"),
            Format::PrometheusText
        );
        assert_eq!(
            f("application/openmetrics-text;q=0, */*"),
            Format::PrometheusText
        );
        assert_eq!(
            f("text/*;q=0.9, application/*;q=0.8"),
            Format::PrometheusText
        );
        assert_eq!(f("text/plain;q=0.5, */*;q=0.6"), Format::OpenMetrics);
        assert_eq!(f("text/plain;q=0"), Format::OpenMetrics);
        assert_eq!(f("application/json"), Format::OpenMetrics);
        assert_eq!(f("TEXT/PLAIN"), Format::PrometheusText);
    }
}
