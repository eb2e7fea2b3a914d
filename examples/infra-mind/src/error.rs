//! API errors: one enum, one JSON shape, `{"error":{"code","message","request_id"}}`.
//!
//! Handlers return [`ApiError`]; its response carries an [`ErrorBody`] in the extensions.
//! `routes::middleware::render_errors` then writes the body with the request id, and gives
//! the same shape to errors that never passed through a handler (unknown routes, 405s, body
//! limits, timeouts, panics).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::repo::RepoError;

/// Seconds a client is told to wait after a 503.
pub const RETRY_AFTER_SECS: u64 = 5;

/// The largest request body accepted, in bytes (1 MiB).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request is wrong in a way no field explains.
    #[error("{0}")]
    BadRequest(String),
    /// The body is not JSON.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// An id is not 24 hex digits.
    #[error("{0:?} is not a valid id (expected 24 hexadecimal digits)")]
    InvalidId(String),
    /// A field is missing, has the wrong type, or an invalid value.
    #[error("{message}")]
    Validation {
        /// The field's path (`title`, `items[2].priority`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The body is not `application/json`.
    #[error("expected a body with Content-Type: application/json")]
    UnsupportedMediaType,
    /// No token, or a token nobody has.
    #[error("{0}")]
    Unauthorized(String),
    /// A valid token that may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Nothing with this id.
    #[error("{0}")]
    NotFound(String),
    /// A unique value is taken.
    #[error("{0}")]
    Conflict(String),
    /// The body is over [`BODY_LIMIT`].
    #[error("the request body is larger than {BODY_LIMIT} bytes")]
    PayloadTooLarge,
    /// A backend (the store, every LLM provider) cannot answer now.
    #[error("{message}")]
    Unavailable {
        /// Which backend.
        backend: String,
        /// Why.
        message: String,
        /// Seconds to wait before retrying.
        retry_after: u64,
    },
    /// A bug or an unexpected backend answer; logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 422 for one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::MalformedJson(_) | Self::InvalidId(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code in the body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::MalformedJson(_) => "malformed_json",
            Self::InvalidId(_) => "invalid_id",
            Self::Validation { .. } => "validation_failed",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Unavailable { .. } => "service_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }
}

impl From<RepoError> for ApiError {
    fn from(error: RepoError) -> Self {
        match error {
            RepoError::InvalidId(id) => Self::InvalidId(id),
            RepoError::Conflict(message) => Self::Conflict(message),
            RepoError::Unavailable { backend, message } => Self::Unavailable {
                backend: backend.to_owned(),
                message: format!("{backend} is unavailable: {message}"),
                retry_after: RETRY_AFTER_SECS,
            },
            RepoError::Internal(message) => Self::Internal(message),
        }
    }
}

impl From<crate::llm::chain::ChainError> for ApiError {
    fn from(error: crate::llm::chain::ChainError) -> Self {
        use crate::llm::chain::ChainError;
        let retry_after = match &error {
            ChainError::AllOpen { retry_after_secs } => *retry_after_secs,
            _ => RETRY_AFTER_SECS,
        };
        Self::Unavailable {
            backend: "llm".to_owned(),
            message: error.to_string(),
            retry_after,
        }
    }
}

impl From<crate::agents::AgentError> for ApiError {
    fn from(error: crate::agents::AgentError) -> Self {
        match error {
            crate::agents::AgentError::Llm(e) => e.into(),
            crate::agents::AgentError::Store(e) => e.into(),
        }
    }
}

/// The error as it is rendered, kept in the response extensions until the request id is known.
#[derive(Debug, Clone)]
pub struct ErrorBody {
    /// Machine-readable code.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// The offending field, for 422s.
    pub field: Option<String>,
}

impl ErrorBody {
    /// The body for a status that no handler explained (404 fallback, 405, 413, timeouts).
    pub fn for_status(status: StatusCode, method: &str, path: &str) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("not_found", format!("no route for {method} {path}")),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                format!("{method} is not allowed on {path}"),
            ),
            StatusCode::PAYLOAD_TOO_LARGE => (
                "payload_too_large",
                format!("the request body is larger than {BODY_LIMIT} bytes"),
            ),
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => (
                "service_unavailable",
                "the request did not finish within the server's timeout".to_owned(),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                "expected a body with Content-Type: application/json".to_owned(),
            ),
            s if s.is_server_error() => ("internal_error", "internal server error".to_owned()),
            s => (
                "bad_request",
                s.canonical_reason().unwrap_or("bad request").to_lowercase(),
            ),
        };
        Self {
            code,
            message,
            field: None,
        }
    }

    /// The JSON body with the request id.
    pub fn to_json(&self, request_id: &str) -> serde_json::Value {
        let mut error = serde_json::json!({
            "code": self.code,
            "message": self.message,
            "request_id": request_id,
        });
        if let Some(field) = &self.field {
            error["field"] = serde_json::Value::String(field.clone());
        }
        serde_json::json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            Self::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "internal server error".to_owned()
            }
            Self::Unavailable {
                backend, message, ..
            } => {
                tracing::warn!(%backend, %message, "backend unavailable");
                message.clone()
            }
            other => other.to_string(),
        };
        let field = match &self {
            Self::Validation { field, .. } => Some(field.clone()),
            _ => None,
        };
        let body = ErrorBody {
            code: self.code(),
            message,
            field,
        };
        // The body is written here too, so the response is complete on its own; the response
        // cache keeps the extensions on what it passes on from the handler, so
        // `render_errors` finds the `ErrorBody` there.
        let mut response = (status, axum::Json(body.to_json(""))).into_response();
        match &self {
            Self::Unavailable { retry_after, .. } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            Self::Unauthorized(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response.extensions_mut().insert(body);
        response
    }
}

/// A JSON body whose errors are [`ApiError`]s: malformed JSON is 400, a missing or ill-typed
/// field 422 naming the field, a body over the limit 413.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest(rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses JSON, naming the field on data errors. Syntax is checked first, so a body that is
/// not JSON is always a 400 whatever fields it lacks.
///
/// # Errors
/// [`ApiError::MalformedJson`] for syntax errors, [`ApiError::Validation`] for data errors.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|error| ApiError::MalformedJson(error.to_string()))?;
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        let field = field_name(&path, &message);
        ApiError::Validation { field, message }
    })
}

/// serde reports a missing field on the parent's path, naming the field in backticks; join
/// the two so the client gets `title`, not `.`. (An unknown field's path already ends in it.)
fn field_name(path: &str, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (missing, path) {
        (Some(name), ".") => name.to_owned(),
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, path) => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        title: String,
        count: u32,
    }

    #[test]
    fn missing_fields_are_named() {
        let err = parse_json::<Body>(br#"{"count": 1}"#).unwrap_err();
        assert!(
            matches!(err, ApiError::Validation { ref field, .. } if field == "title"),
            "{err:?}"
        );
    }

    #[test]
    fn ill_typed_fields_are_named() {
        let err = parse_json::<Body>(br#"{"title": "x", "count": "many"}"#).unwrap_err();
        assert!(
            matches!(err, ApiError::Validation { ref field, .. } if field == "count"),
            "{err:?}"
        );
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        for body in [
            &b"{"[..],
            b"{\"title\": }",
            b"",
            b"{} trailing",
            b"\xff\xfe",
        ] {
            let err = parse_json::<Body>(body).unwrap_err();
            assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{body:?}: {err:?}");
        }
    }
}
