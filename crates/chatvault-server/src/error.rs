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

/// The data folder this process serves: a plain I/O error from SQLite there is a full
/// disk when the disk has no space left ([`chatvault_archive::is_storage_full_under`]).
static DATA_DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

pub(crate) fn set_data_dir(dir: &std::path::Path) {
    let _ = DATA_DIR.set(dir.to_owned());
}

fn storage_full(e: &(dyn std::error::Error + 'static)) -> bool {
    match DATA_DIR.get() {
        Some(dir) => chatvault_archive::is_storage_full_under(e, dir),
        None => chatvault_archive::is_storage_full(e),
    }
}

impl ApiError {
    /// An error with its code; the status is the code's, from the one table
    /// (`chatvault_app::errors`).
    pub fn new(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: status_of(code),
            code,
            message: message.into(),
            retry_after_s: None,
        }
    }
    /// The disk is full: 507, `storage.full`. The request is not acknowledged; a retry
    /// once space returns answers any message it did store as a duplicate.
    pub fn storage_full(e: &dyn std::fmt::Display) -> ApiError {
        ApiError::new("storage.full",
            format!("the disk is full ({e}): the request is not acknowledged; retry it once space returns (messages it did store are then answered as duplicates)"),
        )
    }
    /// The disk failed a write or a flush: 503, `storage.io`. The request is not
    /// acknowledged; a retry answers any message it did store as a duplicate.
    pub fn storage_failure(e: &dyn std::fmt::Display) -> ApiError {
        ApiError::new("storage.io",
            format!("the disk failed a write ({e}): the request is not acknowledged; retry it once the disk is sound (messages it did store are then answered as duplicates)"),
        )
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new("input.invalid", message)
    }
    /// An error whose code is one of the table's 403s.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> ApiError {
        debug_assert_eq!(chatvault_app::errors::status(code), 403, "{code}");
        ApiError::new(code, message)
    }
    /// The one answer for content outside the caller's reach, whether it exists or not.
    pub fn denied() -> ApiError {
        ApiError::forbidden("access.denied", "outside your reach: your role and your active grants do not cover it (file a retrieval request)")
    }
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::new("internal", e.to_string())
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> ApiError {
        if storage_full(&e) {
            return ApiError::storage_full(&e);
        }
        if chatvault_archive::is_storage_failure(&e) {
            return ApiError::storage_failure(&e);
        }
        let retry_after_s = match &e {
            AccessError::Throttled { retry_after_s } => Some(*retry_after_s),
            _ => None,
        };
        ApiError {
            retry_after_s,
            ..ApiError::new(e.code(), e.to_string())
        }
    }
}

impl From<ArchiveError> for ApiError {
    fn from(e: ArchiveError) -> ApiError {
        if storage_full(&e) {
            return ApiError::storage_full(&e);
        }
        if chatvault_archive::is_storage_failure(&e) {
            return ApiError::storage_failure(&e);
        }
        ApiError::new(e.code(), e.to_string())
    }
}

impl From<chatvault_policy::PolicyError> for ApiError {
    fn from(e: chatvault_policy::PolicyError) -> ApiError {
        AccessError::Policy(e).into()
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
