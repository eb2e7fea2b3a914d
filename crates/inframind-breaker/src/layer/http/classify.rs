//! [`HttpClassifier`], which decides what an HTTP outcome says about the dependency, and
//! [`rejected_response`], the answer to a request the circuit rejects.

use http::{HeaderValue, Response, StatusCode, header};

use crate::classify::{Classify, Outcome};
use crate::error::Rejected;

/// Classifies HTTP outcomes by what they say about the dependency's health.
///
/// By default:
/// - transport errors (the `Err` of the inner service: connection failures, timeouts from a
///   timeout layer), `5xx`, `429 Too Many Requests` and `408 Request Timeout` are failures;
/// - other `4xx` are ignored ([`Outcome::Ignore`]): a client's mistake says nothing about the
///   provider, so it neither ends a run of failures nor dilutes a failure rate;
/// - `1xx`, `2xx` and `3xx` are successes.
///
/// Each class can be given another [`Outcome`]; for anything finer, any closure
/// `Fn(&Result<Response<B>, E>) -> Outcome` is a [`Classify`] too.
///
/// Implemented for `Result<http::Response<B>, E>` and for a bare `http::Response<B>`.
///
/// ```
/// use http::{Response, StatusCode};
/// use inframind_breaker::{Classify, HttpClassifier, Outcome};
///
/// let res = |s: u16| Response::builder().status(s).body(()).unwrap();
/// let classify = HttpClassifier::new();
/// assert_eq!(classify.classify(&res(503)), Outcome::Failure);
/// assert_eq!(classify.classify(&res(429)), Outcome::Failure);
/// assert_eq!(classify.classify(&res(404)), Outcome::Ignore);
/// assert_eq!(classify.classify(&res(200)), Outcome::Success);
/// let timeout: Result<Response<()>, &str> = Err("timed out");
/// assert_eq!(classify.classify(&timeout), Outcome::Failure);
///
/// // A provider whose 4xx mean it is overloaded, and whose 429 means "slow down", not "down":
/// let strict = HttpClassifier::new()
///     .client_errors(Outcome::Failure)
///     .too_many_requests(Outcome::Ignore);
/// assert_eq!(strict.classify(&res(400)), Outcome::Failure);
/// assert_eq!(strict.classify(&res(429)), Outcome::Ignore);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HttpClassifier {
    server_errors: Outcome,
    too_many_requests: Outcome,
    request_timeout: Outcome,
    client_errors: Outcome,
    errors: Outcome,
}

impl Default for HttpClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClassifier {
    /// The default classification (see the type's docs).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            server_errors: Outcome::Failure,
            too_many_requests: Outcome::Failure,
            request_timeout: Outcome::Failure,
            client_errors: Outcome::Ignore,
            errors: Outcome::Failure,
        }
    }

    /// How `5xx` responses count (default: failure).
    #[must_use]
    pub const fn server_errors(mut self, outcome: Outcome) -> Self {
        self.server_errors = outcome;
        self
    }

    /// How `429 Too Many Requests` counts (default: failure).
    #[must_use]
    pub const fn too_many_requests(mut self, outcome: Outcome) -> Self {
        self.too_many_requests = outcome;
        self
    }

    /// How `408 Request Timeout` counts (default: failure).
    #[must_use]
    pub const fn request_timeout(mut self, outcome: Outcome) -> Self {
        self.request_timeout = outcome;
        self
    }

    /// How the other `4xx` responses count (default: ignored).
    #[must_use]
    pub const fn client_errors(mut self, outcome: Outcome) -> Self {
        self.client_errors = outcome;
        self
    }

    /// How an `Err` of the inner service counts: transport errors and timeouts (default:
    /// failure).
    #[must_use]
    pub const fn errors(mut self, outcome: Outcome) -> Self {
        self.errors = outcome;
        self
    }

    /// How a response with `status` counts.
    #[must_use]
    pub const fn classify_status(&self, status: StatusCode) -> Outcome {
        match status.as_u16() {
            429 => self.too_many_requests,
            408 => self.request_timeout,
            400..=499 => self.client_errors,
            500..=599 => self.server_errors,
            _ => Outcome::Success,
        }
    }
}

impl<B> Classify<Response<B>> for HttpClassifier {
    #[inline]
    fn classify(&self, res: &Response<B>) -> Outcome {
        self.classify_status(res.status())
    }
}

impl<B, E> Classify<Result<Response<B>, E>> for HttpClassifier {
    #[inline]
    fn classify(&self, outcome: &Result<Response<B>, E>) -> Outcome {
        match outcome {
            Ok(res) => self.classify_status(res.status()),
            Err(_) => self.errors,
        }
    }
}

/// The answer to a rejected request: `503 Service Unavailable`, an empty body, and
/// `Retry-After` in whole seconds (rounded up, at least 1) unless the circuit is forced open.
///
/// ```
/// use inframind_breaker::{BreakerConfig, CircuitBreaker, rejected_response};
///
/// let breaker = CircuitBreaker::new("x", BreakerConfig::default());
/// breaker.try_acquire().unwrap().failure();
/// # for _ in 0..4 { breaker.try_acquire().unwrap().failure(); }
/// let rejected = breaker.try_acquire().unwrap_err();
/// let res: http::Response<String> = rejected_response(&rejected);
/// assert_eq!(res.status(), 503);
/// assert_eq!(res.headers()["retry-after"], "60");
/// ```
pub fn rejected_response<B: Default>(rejected: &Rejected) -> Response<B> {
    let mut res = Response::new(B::default());
    *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    if let Some(secs) = rejected.retry_after_secs() {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}
