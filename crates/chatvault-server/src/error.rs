//! Every error the API returns: JSON `{"error":{"code","message"}}` with a stable code
//! and the HTTP status that code always has.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chatvault_access::AccessError;
use chatvault_archive::ArchiveError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    /// An error with its code; the status is the code's, from the one table
    /// (`chatvault_app::errors`).
    pub fn new(code: &'static str, message: impl Into<String>) -> ApiError {
        chatvault_app::Error::new(code, message).into()
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        chatvault_app::Error::bad_request(message).into()
    }
    /// An error whose code is one of the table's 403s.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> ApiError {
        chatvault_app::Error::forbidden(code, message).into()
    }
    /// The one answer for content outside the caller's reach, whether it exists or not.
    pub fn denied() -> ApiError {
        chatvault_app::Error::denied().into()
    }
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        chatvault_app::Error::internal(e).into()
    }
}

/// The application layer's errors carry their code; the status is the code's.
impl From<chatvault_app::Error> for ApiError {
    fn from(e: chatvault_app::Error) -> ApiError {
        ApiError {
            status: status_of(e.code),
            code: e.code,
            message: e.message,
            retry_after_s: e.retry_after_s,
        }
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> ApiError {
        chatvault_app::Error::from(e).into()
    }
}

impl From<ArchiveError> for ApiError {
    fn from(e: ArchiveError) -> ApiError {
        chatvault_app::Error::from(e).into()
    }
}

impl From<chatvault_policy::PolicyError> for ApiError {
    fn from(e: chatvault_policy::PolicyError) -> ApiError {
        chatvault_app::Error::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        let mut r = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after_s {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

fn status_of(code: &str) -> StatusCode {
    StatusCode::from_u16(chatvault_app::errors::status(code))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
