//! The access database's storage (`access.db` on SQLite), behind [`AccessOps`]: what
//! `chatvault-access` keeps about people and their rights, as rows it has already
//! prepared. The crate above hashes passwords, seals secrets, chains the audit log and
//! decides; the store keeps and returns rows.
//!
//! The same operations serve reads outside a transaction and writes inside one: a
//! backend hands out an [`AccessOps`] for either, and a transaction commits as a whole.
//!
//! Issue 16 moves `chatvault-access`'s SQL behind this trait table by table. Behind it
//! so far: the documents (retrieval requests, grants, and the lifecycle records:
//! retention policies, tag rules, holds, deletion requests, restrictions, identity
//! links), sessions and API tokens, accounts, sign-in throttling, enrolments, the audit
//! chain and its checkpoints, the meta values, the sealed tables' rows and changes, and
//! the transactions themselves ([`AccessStore`]). `chatvault-access` names no database
//! but where it opens the default one.

use crate::Result;

/// A table of JSON documents, each under a key, some with an owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shelf<'a> {
    /// Retrieval requests; the owner is the requester. Listed newest first (ids are
    /// ULIDs).
    Requests,
    /// Grants; the owner is the holder. Listed newest first.
    Grants,
    /// Lifecycle records of one kind (`policy`, `hold`, `deletion`, …); no owner.
    /// Listed by key.
    Lifecycle(&'a str),
}

/// A cookie session as stored: only the SHA-256 of the cookie, and a tag (AES-GCM over
/// the immutable fields, made and checked above the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id_hash: Vec<u8>,
    pub user: String,
    pub csrf: String,
    pub created_ms: i64,
    pub seen_ms: i64,
    pub tag: Option<Vec<u8>>,
}

/// An API token as stored: only the SHA-256 of its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub id: String,
    pub hash: Vec<u8>,
    pub user: String,
    pub scope: String,
    pub source: Option<String>,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
}

/// An account as stored: the password as its argon2id hash, the TOTP secret sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub name: String,
    pub role: String,
    pub team: Option<String>,
    /// The handles as JSON.
    pub handles: String,
    pub password: String,
    pub totp_secret: Option<Vec<u8>>,
    /// The newest TOTP step accepted (0: the authenticator never confirmed).
    pub totp_last_step: i64,
    pub frozen: bool,
    pub locked: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub lang: Option<String>,
}

/// One audit entry as stored: its hashed body (JSON) and hash, with copies of the
/// fields the auditor filters on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: u64,
    pub time_ms: i64,
    pub actor: String,
    pub action: String,
    pub body: String,
    pub hash: Vec<u8>,
}

/// Which audit entries to read, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditRange<'a> {
    pub actor: Option<&'a str>,
    pub action: Option<&'a str>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// From this sequence number on.
    pub from_seq: u64,
}

/// The tables whose rows give or take away rights. The crate above signs a digest of
/// each into the audit chain, so an edit outside chatvault is named by `audit verify`.
pub const SEALED_TABLES: &[&str] = &[
    "users",
    "tokens",
    "enrolments",
    "requests",
    "grants",
    "lifecycle",
    "meta",
];

/// One stored value, typed as the digest frames it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a [u8]),
    Blob(&'a [u8]),
}

/// Which rows of a sealed table: as they are, or as they stood before this handle's
/// first change to the table since its changes were last taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Image {
    Now,
    BeforeChange,
}

/// The access database's operations, for reads and inside a transaction alike.
pub trait AccessOps {
    /// The sealed tables written since the last call (by any statement on this handle,
    /// so no write path can forget to say), forgetting them. Each keeps its
    /// before-image until [`AccessOps::clear_before_image`].
    fn take_sealed_changes(&self) -> Result<Vec<String>>;
    /// Marks every sealed table changed, its current rows as its before-image.
    fn mark_all_sealed_changed(&self) -> Result<()>;
    /// Calls `each` with every row of sealed `table` (columns and rows in a fixed order).
    fn sealed_rows(
        &self,
        table: &str,
        image: Image,
        each: &mut dyn FnMut(&[Value<'_>]),
    ) -> Result<()>;
    fn clear_before_image(&self, table: &str) -> Result<()>;

    /// The newest entry's sequence number and hash.
    fn audit_head(&self) -> Result<Option<(u64, Vec<u8>)>>;
    /// Appends one entry; its `seq` must be the next.
    fn insert_audit(&self, row: &AuditRow) -> Result<()>;
    /// How many entries of `actor` with `action` were written after `since_ms`.
    fn audit_count(&self, actor: &str, action: &str, since_ms: i64) -> Result<u64>;
    /// Calls `each` with the entries in `range`, oldest first.
    fn audit_scan(
        &self,
        range: &AuditRange<'_>,
        each: &mut dyn FnMut(AuditRow) -> Result<()>,
    ) -> Result<()>;
    /// The newest entry below `below_seq` whose body contains `needle`.
    fn audit_last_containing(&self, below_seq: u64, needle: &str) -> Result<Option<(u64, String)>>;
    fn put_audit_checkpoint(&self, size: u64, note: &str) -> Result<()>;
    fn audit_checkpoint(&self, size: u64) -> Result<Option<String>>;
    fn delete_audit_checkpoint(&self, size: u64) -> Result<()>;
    /// Every kept checkpoint, by size.
    fn audit_checkpoints(&self) -> Result<Vec<(u64, String)>>;
    /// The database's own meta values.
    fn meta(&self, key: &str) -> Result<Option<String>>;
    fn put_meta(&self, key: &str, value: &str) -> Result<()>;

    fn user(&self, name: &str) -> Result<Option<UserRow>>;
    /// Every account, by name.
    fn users(&self) -> Result<Vec<UserRow>>;
    /// Fails when the name is taken.
    fn insert_user(&self, u: &UserRow) -> Result<()>;
    /// Writes every field of the account named `u.name` but its creation time.
    fn update_user(&self, u: &UserRow) -> Result<()>;

    fn add_login_failure(&self, user: &str, at_ms: i64, ip: &str) -> Result<()>;
    /// Failed sign-ins after `since_ms` of `user` and from `ip` (`None`: any): how many,
    /// and the newest one's time.
    fn login_failures(
        &self,
        user: Option<&str>,
        ip: Option<&str>,
        since_ms: i64,
    ) -> Result<(u64, Option<i64>)>;
    /// Forgets `user`'s failed sign-ins (only those from `ip` when given).
    fn clear_login_failures(&self, user: &str, ip: Option<&str>) -> Result<()>;
    /// Records that `user` signed in from `ip` at `at_ms`.
    fn remember_address(&self, user: &str, ip: &str, at_ms: i64) -> Result<()>;
    /// Whether `user` signed in from `ip` after `since_ms`.
    fn address_known(&self, user: &str, ip: &str, since_ms: i64) -> Result<bool>;

    /// Opens an enrolment ticket (stored as its hash) for `user`.
    fn put_enrolment(&self, ticket_hash: &[u8], user: &str, expires_ms: i64) -> Result<()>;
    /// Whose enrolment the ticket opens, unless it expired by `now_ms`.
    fn enrolment(&self, ticket_hash: &[u8], now_ms: i64) -> Result<Option<String>>;
    /// Closes `user`'s enrolments, and every one expired by `expired_by` when given.
    fn delete_enrolments(&self, user: &str, expired_by: Option<i64>) -> Result<()>;

    fn insert_session(&self, s: &SessionRow) -> Result<()>;
    fn session(&self, id_hash: &[u8]) -> Result<Option<SessionRow>>;
    /// Moves a session's idle timer.
    fn touch_session(&self, id_hash: &[u8], seen_ms: i64) -> Result<()>;
    /// Whether there was such a session.
    fn delete_session(&self, id_hash: &[u8]) -> Result<bool>;
    /// Ends every session of `user`; how many.
    fn delete_sessions_of(&self, user: &str) -> Result<u64>;
    /// Every session, oldest first.
    fn sessions(&self) -> Result<Vec<SessionRow>>;

    fn insert_token(&self, t: &TokenRow) -> Result<()>;
    fn token_by_hash(&self, hash: &[u8]) -> Result<Option<TokenRow>>;
    /// Revokes token `id` unless it is revoked already; whether it was active.
    fn revoke_token(&self, id: &str, at_ms: i64) -> Result<bool>;
    /// Revokes every active token of `user`; how many.
    fn revoke_tokens_of(&self, user: &str, at_ms: i64) -> Result<u64>;
    /// Every token, oldest first.
    fn tokens(&self) -> Result<Vec<TokenRow>>;

    /// A document's body.
    fn document(&self, shelf: Shelf<'_>, key: &str) -> Result<Option<String>>;
    /// Stores a document, replacing the one under the same key.
    fn put_document(&self, shelf: Shelf<'_>, key: &str, owner: &str, body: &str) -> Result<()>;
    /// Removes a document; whether there was one.
    fn delete_document(&self, shelf: Shelf<'_>, key: &str) -> Result<bool>;
    /// The shelf's documents as `(key, body)`, in the shelf's order; only `owner`'s when
    /// given (requests and grants).
    fn documents(&self, shelf: Shelf<'_>, owner: Option<&str>) -> Result<Vec<(String, String)>>;
}

/// A write transaction: its operations, committed together or not at all (dropped
/// uncommitted, it rolls back).
pub trait AccessTx: AccessOps {
    fn commit(self: Box<Self>) -> Result<()>;
}

/// An access database.
pub trait AccessStore: AccessOps + Send {
    /// Begins a write transaction, serialised with every other writer (other processes
    /// included).
    fn begin(&mut self) -> Result<Box<dyn AccessTx + '_>>;
    /// A consistent snapshot to read from for as long as it lives: a writer committing
    /// meanwhile is not seen half-way.
    fn snapshot(&self) -> Result<Box<dyn AccessOps + '_>>;
}
