//! Who is who, and what they did: accounts, sessions, API tokens, retrieval requests and
//! grants, and the audit trail. Everything lives in `access.db` beside the archive's
//! store, in its own SQLite file, so writing an audit entry never takes the importer's
//! write lock and a CLI command can audit while the server runs.
//!
//! This crate owns:
//! - accounts ([`users`]): argon2id password hashes, TOTP (RFC 6238) secrets sealed under
//!   a key the archive keeps, single-use codes, login throttling and lock-out, freezing;
//! - [`sessions`]: cookie sessions with CSRF tokens and idle/absolute timeouts, and
//!   hashed, scoped, revocable API tokens;
//! - [`requests`]: retrieval requests and grants stored as `chatvault-policy` values;
//! - [`audit`]: an append-only, hash-chained log with signed checkpoints, its verifier,
//!   its queries and its anomaly flags.
//!
//! Invariants:
//! - No password, TOTP secret, session or token is stored in the clear: passwords as
//!   argon2id hashes, sessions and tokens as SHA-256 of 256-bit random values, TOTP
//!   secrets sealed with AES-256-GCM bound to the user name.
//! - A state change and its audit entry commit in one transaction: there is no freeze,
//!   approval or grant without its entry, and no entry for a change that rolled back.
//! - Audit entries hold no message content, no password and no secret.
//! - Decisions about content belong to `chatvault-policy`; this crate stores their inputs.

pub mod audit;
pub mod lifecycle;
pub mod requests;
pub mod sessions;
pub mod sources;
pub mod state;
pub mod users;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chatvault_crypto::DataKey;
use chatvault_ledger::CheckpointSigner;

pub use audit::{Action, AuditEntry, AuditFilter, AuditReport, AuditSegment, Event, Outcome};
pub use sessions::{Principal, SessionInfo, TokenScope};
pub use users::{LoginFailure, User};

/// Every failure, each with a stable code ([`AccessError::code`]).
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("wrong username or password")]
    BadCredentials,
    #[error("this account needs a TOTP code: send `totp` with the 6-digit code from the authenticator app")]
    TotpRequired,
    #[error("the TOTP code is wrong, expired or was already used")]
    TotpInvalid,
    /// The password was right and the account has a TOTP secret no code has confirmed
    /// yet: the sign-in continues with enrolment (the web UI shows the QR code).
    #[error("this account must enrol its authenticator first: sign in through the web UI, or use the otpauth URI `chatvault user add` printed")]
    TotpEnrol { ticket: String, otpauth: String },
    #[error("the enrolment expired or is unknown: sign in again")]
    EnrolmentExpired,
    #[error("too many failed logins: try again in {retry_after_s} s")]
    Throttled { retry_after_s: u64 },
    #[error("the account {0} is locked after too many failed logins; an admin unlocks it with `chatvault user unfreeze`")]
    Locked(String),
    #[error("the account {0} is frozen")]
    Frozen(String),
    #[error("not signed in, or the session expired: sign in again")]
    NoSession,
    #[error("missing or wrong CSRF token: send the session's token in the X-CSRF-Token header")]
    Csrf,
    #[error("the API token is unknown or revoked")]
    BadToken,
    #[error("user {0} already exists")]
    UserExists(String),
    #[error("no user {0}")]
    NoUser(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("invalid {what}: {why}")]
    Invalid { what: String, why: String },
    #[error(transparent)]
    Policy(#[from] chatvault_policy::PolicyError),
    /// The store's own error (its cause is the backend's, SQLite's here).
    #[error("{}", chatvault_store::with_cause(.0))]
    Store(#[from] chatvault_store::StoreError),
    #[error("access database {0}: {1}")]
    Corrupt(PathBuf, String),
    #[error("signing: {0}")]
    Signing(String),
}

impl AccessError {
    pub fn code(&self) -> &'static str {
        match self {
            AccessError::BadCredentials => "auth.invalid",
            AccessError::TotpRequired => "auth.totp_required",
            AccessError::TotpInvalid => "auth.totp_invalid",
            AccessError::TotpEnrol { .. } => "auth.totp_enrol",
            AccessError::EnrolmentExpired => "auth.enrolment_expired",
            AccessError::Throttled { .. } => "auth.throttled",
            AccessError::Locked(_) => "auth.locked",
            AccessError::Frozen(_) => "auth.frozen",
            AccessError::NoSession => "auth.session",
            AccessError::Csrf => "auth.csrf",
            AccessError::BadToken => "auth.token",
            AccessError::UserExists(_) => "user.exists",
            AccessError::NoUser(_) => "user.missing",
            AccessError::NotFound(_) => "not_found",
            AccessError::Invalid { .. } => "input.invalid",
            AccessError::Policy(p) => p.code(),
            AccessError::Store(_) => "store",
            AccessError::Corrupt(..) => "access.corrupt",
            AccessError::Signing(_) => "ledger",
        }
    }

    pub(crate) fn invalid(what: &str, why: impl Into<String>) -> Self {
        AccessError::Invalid {
            what: what.to_owned(),
            why: why.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, AccessError>;

/// The keys the archive keeps for this crate: one seals TOTP secrets, one signs the
/// audit log's checkpoints.
pub struct AccessKeys {
    pub seal: DataKey,
    pub audit_signer: CheckpointSigner,
}

/// Timeouts and thresholds (the server's config sets them).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// A session ends after this many minutes without a request.
    pub session_idle_minutes: u32,
    /// A session ends this many hours after sign-in, whatever its use.
    pub session_absolute_hours: u32,
    /// Failed sign-ins for one account from one address before each further attempt
    /// from there waits (1 s, doubling, up to 15 min). From one address across all
    /// accounts the allowance is 4×, and for one account across all addresses 10×.
    pub throttle_after_failures: u32,
    /// Failed sign-ins within an hour whose password was checked that lock the account.
    /// Attempts refused by the throttle do not count, so no stranger can reach it.
    pub lock_after_failures_per_hour: u32,
    #[serde(flatten)]
    pub anomalies: audit::AnomalyRules,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            throttle_after_failures: 5,
            lock_after_failures_per_hour: 100,
            anomalies: audit::AnomalyRules::default(),
        }
    }
}

/// The clock, replaceable in tests.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| chrono::Utc::now().timestamp_millis())
}

/// The access database of one archive.
pub struct Access {
    /// The store, behind its trait (SQLite's is the one [`Access::open`] opens).
    db: Box<dyn chatvault_store::access::AccessStore>,
    path: PathBuf,
    keys: AccessKeys,
    pub settings: Settings,
    clock: Clock,
}

impl Access {
    /// Opens (creating when absent) `access.db` in the archive's data folder.
    pub fn open(data_dir: &Path, keys: AccessKeys, settings: Settings) -> Result<Access> {
        let path = data_dir.join("access.db");
        // Opened, created or upgraded by the store (its schema and steps are files there):
        // the one place this crate names a database.
        let db =
            chatvault_store_sqlite::access::SqliteAccessDb::open(&path).map_err(|e| match e {
                chatvault_store::StoreError::Corrupt(why) => {
                    AccessError::Corrupt(path.clone(), why)
                }
                other => other.into(),
            })?;
        let mut acc = Access {
            db: Box::new(db),
            path,
            keys,
            settings,
            clock: system_clock(),
        };
        acc.seal_baseline()?;
        Ok(acc)
    }

    /// Gives a database whose audit chain binds no state yet (new, or from before
    /// schema 5) its first signed map of the bound tables. Never again after that: a
    /// database that has a map is only ever compared with it, so an edited file is
    /// named by `audit verify`, not sealed as it stands.
    fn seal_baseline(&mut self) -> Result<()> {
        if state::newest_state(self.ops())?.is_some() {
            return Ok(());
        }
        self.in_tx(|t| {
            // Another process may have sealed it since the look above.
            if state::newest_state(t.ops)?.is_some() {
                return Ok(());
            }
            t.mark_all_dirty()?;
            t.append(
                &audit::Event::new("chatvault", audit::Action::StateSeal)
                    .details(serde_json::json!({"reason": "first signed state of access.db"})),
            )?;
            Ok(())
        })
    }

    /// Replaces the clock (tests drive time).
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    pub fn now_ms(&self) -> i64 {
        (self.clock)()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The audit log's verifier key (`name+id+base64`).
    pub fn audit_verifier_key(&self) -> &str {
        self.keys.audit_signer.verifier_key()
    }

    /// The store's operations for reads outside a transaction.
    pub(crate) fn ops(&self) -> &dyn chatvault_store::access::AccessOps {
        &*self.db
    }

    /// A store error from a scan whose callback found a malformed row: named as this
    /// database's corruption; any other as the store's.
    pub(crate) fn corrupt_or(&self, e: chatvault_store::StoreError) -> AccessError {
        match e {
            chatvault_store::StoreError::Corrupt(m) => AccessError::Corrupt(self.path.clone(), m),
            other => other.into(),
        }
    }

    /// A stored document's JSON read back; `what` names it in the error.
    pub(crate) fn parse_doc<T: serde::de::DeserializeOwned>(
        path: &Path,
        what: &str,
        body: &str,
    ) -> Result<T> {
        serde_json::from_str(body)
            .map_err(|e| AccessError::Corrupt(path.to_owned(), format!("{what}: {e}")))
    }

    /// Records the digest of the server's effective config; when it differs from the
    /// last one recorded, audits the change. Returns the previous digest if it changed.
    pub fn note_config(&mut self, actor: &str, digest: &str) -> Result<Option<Option<String>>> {
        self.in_tx(|t| {
            let old = t.ops.meta("config_sha256")?;
            if old.as_deref() == Some(digest) {
                return Ok(None);
            }
            t.ops.put_meta("config_sha256", digest)?;
            t.append(
                &audit::Event::new(actor, audit::Action::ConfigChange)
                    .details(serde_json::json!({"old_sha256": old, "new_sha256": digest})),
            )?;
            Ok(Some(old))
        })
    }

    /// Runs `f` in one immediate transaction, committed only when it succeeds.
    pub(crate) fn in_tx<T>(&mut self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let now = self.now_ms();
        let tx = self.db.begin()?;
        let out = {
            let t = Tx {
                ops: &*tx,
                path: &self.path,
                keys: &self.keys,
                settings: &self.settings,
                now,
                pending: Default::default(),
            };
            let out = f(&t)?;
            t.flush()?;
            out
        };
        tx.commit()?;
        Ok(out)
    }
}

/// One transaction with what its steps need.
pub(crate) struct Tx<'a> {
    /// The store's operations inside this transaction.
    pub ops: &'a dyn chatvault_store::access::AccessOps,
    pub path: &'a Path,
    pub keys: &'a AccessKeys,
    pub settings: &'a Settings,
    pub now: i64,
    /// Audit entries appended in this transaction, written by [`Tx::flush`].
    pub pending: std::cell::RefCell<Vec<(audit::Event, Vec<String>)>>,
}

pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// 256 random bits, URL-safe base64 without padding.
pub(crate) fn random_token() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(chatvault_crypto::random_bytes::<32>())
}

pub(crate) fn sha256(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(data).to_vec()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A fresh access database in a temporary folder.
    pub fn fixture() -> (tempfile::TempDir, Access) {
        let dir = tempfile::tempdir().expect("tmp");
        let (signer, _) = CheckpointSigner::generate("test/audit").expect("signer");
        let acc = Access::open(
            dir.path(),
            AccessKeys {
                seal: DataKey::generate(),
                audit_signer: signer,
            },
            Settings::default(),
        )
        .expect("open");
        (dir, acc)
    }
}
