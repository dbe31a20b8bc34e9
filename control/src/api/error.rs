//! API errors: one JSON shape, `{"error": {"code": "...", "message": "..."}}`, with
//! stable machine codes. Every error response also carries a [`Refusal`] extension
//! so the audit middleware records the refusal with its reason.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::model::ValidationError;

/// A refused or failed request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine code (e.g. `forbidden`, `invalid_field`, `duplicate_liid`).
    pub code: &'static str,
    /// Human-readable reason (never contains a target identifier from another intercept).
    pub message: String,
}

/// Marker attached to error responses: what the audit middleware records.
#[derive(Clone, Debug)]
pub struct Refusal {
    /// Stable code.
    pub code: &'static str,
    /// Reason.
    pub message: String,
}

impl ApiError {
    /// An error with any status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409 with `code`.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 500 `internal` (details go to the log, not the client).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// 503 with `code`: stored, but not (yet) in effect on every worker.
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    /// Maps a JSON body error: unknown fields and bad syntax get distinct codes.
    pub fn from_json(e: &serde_json::Error) -> Self {
        let text = e.to_string();
        let code = if text.contains("unknown field") {
            "unknown_field"
        } else if e.is_data() {
            "invalid_field"
        } else {
            "malformed_json"
        };
        Self::bad_request(code, format!("request body: {text}"))
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self::bad_request(e.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code, "message": self.message }
        });
        let mut response = (self.status, Json(body)).into_response();
        response.extensions_mut().insert(Refusal {
            code: self.code,
            message: self.message,
        });
        response
    }
}
