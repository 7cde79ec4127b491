//! The error every use case returns: a code from the one table ([`crate::errors`]), a
//! message that names what was wrong, and, for throttling, when to retry. The server
//! turns it into its JSON error with the code's HTTP status; the CLI prints it and exits
//! with the code's exit status.

use chatvault_access::AccessError;
use chatvault_archive::ArchiveError;

#[derive(Debug, Clone)]
pub struct Error {
    pub code: &'static str,
    pub message: String,
    pub retry_after_s: Option<u64>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The data folder this process serves: a plain I/O error from SQLite there is a full
/// disk when the disk has no space left ([`chatvault_archive::is_storage_full_under`]).
static DATA_DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Names the data folder whose disk a storage error is judged by (once per process).
pub fn set_data_dir(dir: &std::path::Path) {
    let _ = DATA_DIR.set(dir.to_owned());
}

fn storage_full(e: &(dyn std::error::Error + 'static)) -> bool {
    match DATA_DIR.get() {
        Some(dir) => chatvault_archive::is_storage_full_under(e, dir),
        None => chatvault_archive::is_storage_full(e),
    }
}

impl Error {
    /// An error with its code (one of the table's).
    pub fn new(code: &'static str, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
            retry_after_s: None,
        }
    }
    /// The code's HTTP status, from the one table.
    pub fn status(&self) -> u16 {
        crate::errors::status(self.code)
    }
    /// The disk is full: 507, `storage.full`. The request is not acknowledged; a retry
    /// once space returns answers any message it did store as a duplicate.
    pub fn storage_full(e: &dyn std::fmt::Display) -> Error {
        Error::new("storage.full",
            format!("the disk is full ({e}): the request is not acknowledged; retry it once space returns (messages it did store are then answered as duplicates)"),
        )
    }
    /// The disk failed a write or a flush: 503, `storage.io`. The request is not
    /// acknowledged; a retry answers any message it did store as a duplicate.
    pub fn storage_failure(e: &dyn std::fmt::Display) -> Error {
        Error::new("storage.io",
            format!("the disk failed a write ({e}): the request is not acknowledged; retry it once the disk is sound (messages it did store are then answered as duplicates)"),
        )
    }
    pub fn bad_request(message: impl Into<String>) -> Error {
        Error::new("input.invalid", message)
    }
    /// An error whose code is one of the table's 403s.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Error {
        debug_assert_eq!(crate::errors::status(code), 403, "{code}");
        Error::new(code, message)
    }
    /// The one answer for content outside the caller's reach, whether it exists or not.
    pub fn denied() -> Error {
        Error::forbidden("access.denied", "outside your reach: your role and your active grants do not cover it (file a retrieval request)")
    }
    pub fn internal(e: impl std::fmt::Display) -> Error {
        Error::new("internal", e.to_string())
    }
}

impl From<AccessError> for Error {
    fn from(e: AccessError) -> Error {
        if storage_full(&e) {
            return Error::storage_full(&e);
        }
        if chatvault_archive::is_storage_failure(&e) {
            return Error::storage_failure(&e);
        }
        let retry_after_s = match &e {
            AccessError::Throttled { retry_after_s } => Some(*retry_after_s),
            _ => None,
        };
        Error {
            retry_after_s,
            ..Error::new(e.code(), e.to_string())
        }
    }
}

impl From<ArchiveError> for Error {
    fn from(e: ArchiveError) -> Error {
        if storage_full(&e) {
            return Error::storage_full(&e);
        }
        if chatvault_archive::is_storage_failure(&e) {
            return Error::storage_failure(&e);
        }
        Error::new(e.code(), e.to_string())
    }
}

impl From<chatvault_policy::PolicyError> for Error {
    fn from(e: chatvault_policy::PolicyError) -> Error {
        AccessError::Policy(e).into()
    }
}
