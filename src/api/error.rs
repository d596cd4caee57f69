//! API errors: an HTTP status, a machine code and a sentence for people, as
//! `{"error": {"code": "...", "message": "..."}}`. The message is the whole
//! cause chain ("disk full while writing to ...: No space left on device").

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use peerfx_node::NodeError;
use serde_json::json;

/// An API error.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 with `code`.
    pub fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

pub use peerfx_node::error::chain;

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> ApiError {
        use peerfx_node::error::ErrorKind as K;
        use StatusCode as S;
        let status = match e.kind() {
            K::Invalid => S::BAD_REQUEST,
            K::NotFound => S::NOT_FOUND,
            K::Conflict | K::Paused => S::CONFLICT,
            K::Full => S::INSUFFICIENT_STORAGE,
            K::Unreachable | K::PeerRefused => S::BAD_GATEWAY,
            K::Internal => S::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.code(), chain(&e))
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> ApiError {
        let status = e.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "bad_json"
        };
        ApiError::new(status, code, e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> ApiError {
        ApiError::bad("bad_query", e.body_text())
    }
}

/// Parses a request field, with the field's name in the error.
pub fn parse<T: std::str::FromStr>(what: &'static str, s: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    Ok(peerfx_node::input::parse(what, s)?)
}
