//! The HTTP adapter: a classifier for responses and the 503 answer for rejected requests.

use http::{HeaderValue, Response, StatusCode, header};

use crate::classify::{Classify, Outcome};
use crate::error::Rejected;

/// Classifies HTTP outcomes: transport errors (timeouts included) and `5xx` responses are
/// failures; everything else, `4xx` included, is a success (the dependency answered).
///
/// Implemented for `Result<http::Response<B>, E>` and for a bare `http::Response<B>`.
///
/// ```
/// use http::{Response, StatusCode};
/// use inframind_breaker::{Classify, HttpClassifier, Outcome};
///
/// let res = |s: u16| Response::builder().status(s).body(()).unwrap();
/// assert_eq!(HttpClassifier.classify(&res(503)), Outcome::Failure);
/// assert_eq!(HttpClassifier.classify(&res(404)), Outcome::Success);
/// let timeout: Result<Response<()>, &str> = Err("timed out");
/// assert_eq!(HttpClassifier.classify(&timeout), Outcome::Failure);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpClassifier;

impl<B> Classify<Response<B>> for HttpClassifier {
    #[inline]
    fn classify(&self, res: &Response<B>) -> Outcome {
        Outcome::failure_if(res.status().is_server_error())
    }
}

impl<B, E> Classify<Result<Response<B>, E>> for HttpClassifier {
    #[inline]
    fn classify(&self, outcome: &Result<Response<B>, E>) -> Outcome {
        match outcome {
            Ok(res) => self.classify(res),
            Err(_) => Outcome::Failure,
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
