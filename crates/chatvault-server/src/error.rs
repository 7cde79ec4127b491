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
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_s: None,
        }
    }
    /// The disk is full: 507, `storage.full`. The request is not acknowledged; a retry
    /// once space returns answers any message it did store as a duplicate.
    pub fn storage_full(e: &dyn std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "storage.full",
            format!("the disk is full ({e}): the request is not acknowledged; retry it once space returns (messages it did store are then answered as duplicates)"),
        )
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "input.invalid", message)
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, code, message)
    }
    /// The one answer for content outside the caller's reach, whether it exists or not.
    pub fn denied() -> ApiError {
        ApiError::forbidden("access.denied", "outside your reach: your role and your active grants do not cover it (file a retrieval request)")
    }
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> ApiError {
        if storage_full(&e) {
            return ApiError::storage_full(&e);
        }
        let status = match &e {
            AccessError::BadCredentials
            | AccessError::TotpRequired
            | AccessError::TotpInvalid
            | AccessError::TotpEnrol { .. }
            | AccessError::EnrolmentExpired
            | AccessError::NoSession
            | AccessError::BadToken => StatusCode::UNAUTHORIZED,
            AccessError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AccessError::Locked(_) | AccessError::Frozen(_) | AccessError::Csrf => {
                StatusCode::FORBIDDEN
            }
            AccessError::UserExists(_) => StatusCode::CONFLICT,
            AccessError::NoUser(_) | AccessError::NotFound(_) => StatusCode::NOT_FOUND,
            AccessError::Invalid { .. } => StatusCode::BAD_REQUEST,
            AccessError::Policy(p) => match p {
                chatvault_policy::PolicyError::Invalid(_)
                | chatvault_policy::PolicyError::UnknownRole(_) => StatusCode::BAD_REQUEST,
                chatvault_policy::PolicyError::State(_) => StatusCode::CONFLICT,
                _ => StatusCode::FORBIDDEN,
            },
            AccessError::Db { .. } | AccessError::Corrupt(..) | AccessError::Signing(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let retry_after_s = match &e {
            AccessError::Throttled { retry_after_s } => Some(*retry_after_s),
            _ => None,
        };
        ApiError {
            status,
            code: e.code(),
            message: e.to_string(),
            retry_after_s,
        }
    }
}

impl From<ArchiveError> for ApiError {
    fn from(e: ArchiveError) -> ApiError {
        if storage_full(&e) {
            return ApiError::storage_full(&e);
        }
        let status = match &e {
            ArchiveError::NotFound(_) => StatusCode::NOT_FOUND,
            ArchiveError::Invalid { .. } | ArchiveError::Query(_) => StatusCode::BAD_REQUEST,
            ArchiveError::Locked(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.code(), e.to_string())
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
