//! The archive: one data folder that stores, protects, indexes and proves chat records.
//!
//! [`Archive`] composes the other crates: it encrypts content with `chatvault-crypto`,
//! writes rows through a `chatvault-store` [`Store`], appends each message to the
//! `chatvault-ledger` Merkle log, signs checkpoints, and keeps the `chatvault-index`
//! search index in step. The CLI and (later) the server call only this crate.
//!
//! Invariants it maintains:
//! - A message is reported stored only after its batch committed durably; its log leaf,
//!   sealed content and data key commit in the same transaction.
//! - The log leaf of message `seq` is at log index `seq`; sequence numbers have no gaps.
//! - Plaintext content exists only in memory and in the search index; the store gets
//!   sealed bytes only.
//! - The index is derived: it is caught up from the store when it lags, and `reindex`
//!   rebuilds it from nothing.

mod analytics;
mod body;
mod deletion;
mod directory;
use directory::Directory;
mod export;
mod ingest;
mod keys;
mod proof;
mod retention;
mod search;
mod services;
#[cfg(test)]
mod tamper_tests;
mod verify;
mod visible;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chatvault_crypto::{DataKey, Kek};
use chatvault_index::{IndexError, QueryError, SearchIndex};
use chatvault_ledger::{
    CheckpointSigner, Frontier, Hash, HashReader, HashReaderError, LedgerError,
};
use chatvault_model::pii::PiiFlags;
use chatvault_model::{
    ConversationKind, MessageKind, Platform, SenderRole, StoredMessage, Timestamp,
};
use chatvault_store::{MessageRow, Store, StoreError, StoreRead};
use serde::Serialize;
use zeroize::Zeroizing;

pub use chatvault_import::{Parsed, Rejection};
pub use chatvault_index::Filters;
pub use chatvault_store_sqlite::{is_storage_failure, is_storage_full, is_storage_full_under};

/// Opens the archive's store: the one place that chooses the backend (the embedded
/// SQLite file in the data folder).
fn open_store(layout: &Layout) -> std::result::Result<Box<dyn Store>, StoreError> {
    Ok(Box::new(chatvault_store_sqlite::SqliteStore::open(
        &layout.db(),
    )?))
}
pub use deletion::{DeleteReport, DeletionInfo, DeletionReason, PurgeReport, RecoverReport};
pub use export::{Selection, StreamCounts};
pub use ingest::{ImportProgress, ImportReport};
pub use keys::{KeyProvider, KeySourceKind, Layout};
pub use proof::{
    check_consistency_file, verify_proof_file, ConsistencyFile, ProofCheck, ProofFile,
};
pub use retention::{PlanEntry, PlanSummary, RetentionRules};
pub use search::{SearchFound, SearchHit, SearchPlan, SearchResponse};
pub use services::{mask_message, IngestOutcome, PersonalData, Visibility, VisibleRule};
pub use verify::{VerifyIssue, VerifyReport};
pub use visible::Visible;

/// Every failure of the archive, each with a stable code (see [`ArchiveError::code`]).
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("no archive in {0}: run `chatvault init` first (or pass --data)")]
    NotAnArchive(PathBuf),
    #[error("{0} already holds an archive")]
    AlreadyExists(PathBuf),
    #[error("another chatvault process is writing to {0}; wait for it to finish")]
    Locked(PathBuf),
    #[error("key: {0}")]
    Key(String),
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("{0} not found")]
    NotFound(String),
    #[error("invalid {what}: {why}")]
    Invalid { what: String, why: String },
    #[error("archive is damaged: {0} (run `chatvault verify` for a full report)")]
    Corrupt(String),
}

impl ArchiveError {
    /// A stable, documented code for scripts and the API (`docs/cli.md`).
    pub fn code(&self) -> &'static str {
        if is_storage_full(self) {
            return "storage.full";
        }
        if is_storage_failure(self) {
            return "storage.io";
        }
        match self {
            ArchiveError::NotAnArchive(_) => "archive.missing",
            ArchiveError::AlreadyExists(_) => "archive.exists",
            ArchiveError::Locked(_) => "archive.locked",
            ArchiveError::Key(_) => "key.invalid",
            ArchiveError::Io { .. } => "io",
            ArchiveError::Store(_) => "store",
            ArchiveError::Index(_) => "index",
            ArchiveError::Ledger(_) => "ledger",
            ArchiveError::Query(_) => "query.invalid",
            ArchiveError::NotFound(_) => "not_found",
            ArchiveError::Invalid { .. } => "input.invalid",
            ArchiveError::Corrupt(_) => "archive.corrupt",
        }
    }
}

pub type Result<T> = std::result::Result<T, ArchiveError>;

/// What `init` created.
#[derive(Debug, Serialize)]
pub struct InitReport {
    pub data_dir: PathBuf,
    pub archive_id: String,
    pub key_source: &'static str,
    pub key_id: String,
    pub key_file: Option<PathBuf>,
    pub verifier_key: String,
    pub key_fingerprint: String,
}

/// `stats`.
#[derive(Debug, Serialize)]
pub struct Stats {
    pub archive_id: String,
    pub messages: u64,
    pub conversations: u64,
    pub participants: u64,
    pub attachments: u64,
    pub by_platform: Vec<(String, u64)>,
    pub checkpoints: u64,
    pub latest_checkpoint: Option<CheckpointSummary>,
    pub store_bytes: u64,
    pub index_bytes: u64,
    pub indexed_messages: u64,
    pub key_id: String,
    pub key_fingerprint: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckpointSummary {
    pub size: u64,
    pub root: String,
    pub time: String,
}

/// A conversation and one page of its messages.
#[derive(Debug, Serialize)]
pub struct ConversationView {
    pub conversation: String,
    pub title: Option<String>,
    pub kind: Option<ConversationKind>,
    pub platform: String,
    pub total: u64,
    /// The position of the page's first message among the shown ones.
    pub offset: u64,
    pub messages: Vec<StoredMessage>,
}

/// The largest page offset any caller can ask for: far past the end of any archive (a
/// page there is empty), and far from any overflow in the arithmetic that pages.
pub const MAX_OFFSET: u64 = 1 << 40;
/// The most messages one page holds, whoever asks (the server's own limit is lower).
pub const MAX_PAGE: u64 = 100_000;

pub struct Archive {
    layout: Layout,
    /// The store behind the traits; SQLite ([`open_store`]) is the embedded default.
    store: Box<dyn Store>,
    index: SearchIndex,
    kek: Kek,
    signer: CheckpointSigner,
    archive_id: String,
    /// Held while this process may write.
    write_lock: Option<std::fs::File>,
    /// The log's right edge, loaded on the first write.
    frontier: Option<Frontier>,
    dir: Directory,
    /// One monotonic generator, so ids sort in archive order even within a millisecond.
    ulids: ulid::Generator,
    /// The log size when this process last caught up with the store (see `refresh`).
    seen_size: u64,
    /// Deleted and purged messages by sequence number, and the change counter they were
    /// read at (`deletion.rs`).
    deleted: HashMap<u64, chatvault_store::DeletionState>,
    deleted_gen: Option<Option<u64>>,
    /// Messages stored by [`Archive::ingest_durable`] whose index documents and signed
    /// checkpoint wait for [`Archive::flush_index`].
    index_pending: bool,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn now_rfc3339() -> String {
    Timestamp::utc(now_ms()).to_rfc3339()
}

/// Reads stored log hashes through a store, for the ledger's proof functions.
pub(crate) struct StoreHashes<'a>(pub &'a dyn StoreRead);

impl HashReader for StoreHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> std::result::Result<Vec<Hash>, HashReaderError> {
        self.0
            .read_hashes(indexes)
            .map(|v| v.into_iter().map(Hash).collect())
            .map_err(|_| HashReaderError::IndexesNotInTree)
    }
}

impl Archive {
    /// Creates an archive in `dir` (which must not already hold one).
    pub fn init(dir: &Path, keys: &KeyProvider) -> Result<InitReport> {
        let layout = Layout::new(dir);
        if layout.db().exists() {
            return Err(ArchiveError::AlreadyExists(dir.to_owned()));
        }
        std::fs::create_dir_all(layout.keys()).map_err(|e| keys::io_err(&layout.keys(), e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for d in [dir.to_owned(), layout.keys()] {
                std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))
                    .map_err(|e| keys::io_err(&d, e))?;
            }
        }
        let archive_id = ulid::Ulid::new().to_string();
        let mut salt = None;
        let (kek, source, key_file) = if let Some(text) = &keys.env_key {
            (
                keys::kek_from_text(text, "CHATVAULT_KEY")?,
                KeySourceKind::Env,
                None,
            )
        } else if let Some(pass) = &keys.passphrase {
            let s: [u8; 16] = chatvault_crypto::random_bytes();
            salt = Some(s);
            (
                keys::kek_from_passphrase(pass, &s)?,
                KeySourceKind::Passphrase,
                None,
            )
        } else {
            let kek = Kek::generate();
            if layout.key_file().exists() {
                return Err(ArchiveError::AlreadyExists(layout.key_file()));
            }
            keys::write_secret_file(&layout.key_file(), &kek.to_text())?;
            (kek, KeySourceKind::File, Some(layout.key_file()))
        };
        let origin = format!("chatvault/{archive_id}");
        let (signer, skey) = CheckpointSigner::generate(&origin)?;
        let skey = Zeroizing::new(skey);
        let mut store = open_store(&layout)?;
        {
            let mut tx = store.write()?;
            tx.put_meta("format", b"chatvault-archive-v1")?;
            tx.put_meta("archive_id", archive_id.as_bytes())?;
            tx.put_meta("created_at", now_rfc3339().as_bytes())?;
            tx.put_meta("kek_source", source.as_str().as_bytes())?;
            tx.put_meta("kek_id", kek.id().as_bytes())?;
            tx.put_meta(
                "kek_check",
                &kek.seal_secret(keys::CHECK_PLAINTEXT, keys::CHECK_BINDING),
            )?;
            if let Some(s) = salt {
                tx.put_meta("kek_salt", &s)?;
            }
            tx.put_meta(
                "signing_key",
                &kek.seal_secret(skey.as_bytes(), keys::SIGNING_BINDING),
            )?;
            tx.put_meta("verifier_key", signer.verifier_key().as_bytes())?;
            tx.commit()?;
        }
        SearchIndex::open(&layout.index())?;
        Ok(InitReport {
            data_dir: dir.to_owned(),
            archive_id,
            key_source: source.as_str(),
            key_id: kek.id().to_owned(),
            key_file,
            key_fingerprint: chatvault_ledger::key_fingerprint(signer.verifier_key()),
            verifier_key: signer.verifier_key().to_owned(),
        })
    }

    /// Opens the archive in `dir` for reading (writes take the write lock when they start).
    pub fn open(dir: &Path, keys: &KeyProvider) -> Result<Archive> {
        let layout = Layout::new(dir);
        if !layout.db().exists() {
            return Err(ArchiveError::NotAnArchive(dir.to_owned()));
        }
        let store = open_store(&layout)?;
        let meta_str = |k: &str| -> Result<String> {
            let v = store
                .meta(k)?
                .ok_or_else(|| ArchiveError::Corrupt(format!("metadata `{k}` is missing")))?;
            String::from_utf8(v)
                .map_err(|_| ArchiveError::Corrupt(format!("metadata `{k}` is not text")))
        };
        let archive_id = meta_str("archive_id")?;
        let expected_id = meta_str("kek_id")?;
        let source = KeySourceKind::parse(&meta_str("kek_source")?)
            .ok_or_else(|| ArchiveError::Corrupt("unknown key source".into()))?;
        let check = store
            .meta("kek_check")?
            .ok_or_else(|| ArchiveError::Corrupt("key check is missing".into()))?;
        let opens = |k: &Kek| {
            k.open_secret(&check, keys::CHECK_BINDING)
                .is_ok_and(|p| p.as_slice() == keys::CHECK_PLAINTEXT)
        };
        let kek = match source {
            KeySourceKind::Env => {
                let text = keys.env_key.as_ref().ok_or_else(|| {
                    ArchiveError::Key(format!("this archive's key comes from CHATVAULT_KEY (key id {expected_id}), which is not set"))
                })?;
                keys::kek_from_text(text, "CHATVAULT_KEY")?
            }
            KeySourceKind::Passphrase => {
                let pass = keys.passphrase.as_ref().ok_or_else(|| {
                    ArchiveError::Key(
                        "this archive is opened with a passphrase: set CHATVAULT_PASSPHRASE".into(),
                    )
                })?;
                let salt = store
                    .meta("kek_salt")?
                    .ok_or_else(|| ArchiveError::Corrupt("passphrase salt is missing".into()))?;
                keys::kek_from_passphrase(pass, &salt)?
            }
            KeySourceKind::File => {
                let kek = keys::read_key_file(&layout.key_file());
                match kek {
                    Ok(k) if opens(&k) => k,
                    other => {
                        // An interrupted rotation leaves the new key in kek.new.
                        match keys::read_key_file(&layout.new_key_file()) {
                            Ok(new) if opens(&new) => {
                                Self::finish_file_rotation(&layout)?;
                                new
                            }
                            _ => other?,
                        }
                    }
                }
            }
        };
        if !opens(&kek) {
            return Err(ArchiveError::Key(format!(
                "key {} does not open this archive, which expects key {expected_id}",
                kek.id()
            )));
        }
        let sealed = store
            .meta("signing_key")?
            .ok_or_else(|| ArchiveError::Corrupt("signing key is missing".into()))?;
        let skey = kek
            .open_secret(&sealed, keys::SIGNING_BINDING)
            .map_err(|_| ArchiveError::Corrupt("the signing key does not decrypt".into()))?;
        let skey = Zeroizing::new(
            String::from_utf8(skey.to_vec())
                .map_err(|_| ArchiveError::Corrupt("signing key".into()))?,
        );
        let signer = CheckpointSigner::from_private_key(&skey)?;
        let index = open_index(&layout)?;
        let mut a = Archive {
            layout,
            store,
            index,
            kek,
            signer,
            archive_id,
            write_lock: None,
            frontier: None,
            dir: Directory::default(),
            ulids: ulid::Generator::new(),
            seen_size: 0,
            index_pending: false,
            deleted: HashMap::new(),
            deleted_gen: None,
        };
        a.load_directory()?;
        a.seen_size = a.store.log_size()?;
        Ok(a)
    }

    fn finish_file_rotation(layout: &Layout) -> Result<()> {
        let old = layout.key_file();
        if old.exists() {
            std::fs::create_dir_all(layout.retired())
                .map_err(|e| keys::io_err(&layout.retired(), e))?;
            let id = keys::read_key_file(&old)
                .map(|k| k.id().to_owned())
                .unwrap_or_else(|_| "unreadable".into());
            let dest = layout.retired().join(format!("kek-{id}"));
            std::fs::rename(&old, &dest).map_err(|e| keys::io_err(&old, e))?;
        }
        std::fs::rename(layout.new_key_file(), &old).map_err(|e| keys::io_err(&old, e))?;
        Ok(())
    }

    pub fn archive_id(&self) -> &str {
        &self.archive_id
    }

    pub fn data_dir(&self) -> &Path {
        &self.layout.root
    }

    pub fn verifier_key(&self) -> &str {
        self.signer.verifier_key()
    }

    /// Signs a statement with the archive's key (a backup manifest's digest): a signed
    /// note that [`chatvault_ledger::verify_text`] checks against [`Self::verifier_key`].
    pub fn sign_statement(&self, text: &str) -> Result<String> {
        Ok(self.signer.sign_text(text)?)
    }

    pub fn key_fingerprint(&self) -> String {
        chatvault_ledger::key_fingerprint(self.signer.verifier_key())
    }

    /// Brings what this process holds in memory back in line with the store, after a
    /// panic while the archive was in use (a request that failed half-way): index
    /// changes not yet committed are dropped, the directory and the log frontier are
    /// read again, and the index catches up from the store. What was committed stands;
    /// what was not never happened.
    pub fn resync(&mut self) -> Result<()> {
        self.index.discard_uncommitted()?;
        // What was stored but not yet committed to the index is indexed again from the
        // store by the catch-up below (or at the next write).
        self.index_pending = false;
        self.load_directory()?;
        self.frontier = None;
        self.seen_size = self.store.log_size()?;
        if self.write_lock.is_some() {
            self.catch_up_index(&mut |_| {})?;
        }
        Ok(())
    }

    /// Takes the write lock (released when the archive is dropped or the process dies).
    pub(crate) fn lock_for_writing(&mut self) -> Result<()> {
        if self.write_lock.is_some() {
            return Ok(());
        }
        let f = open_lock_file(&self.layout)?;
        match f.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(ArchiveError::Locked(self.layout.root.clone()))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(keys::io_err(&self.layout.lock(), e))
            }
        }
        self.write_lock = Some(f);
        // Another process may have written since this one opened.
        self.load_directory()?;
        self.frontier = None;
        self.index.refresh()?;
        self.catch_up_index(&mut |_| {})?;
        Ok(())
    }

    /// The data key of a conversation, unwrapped once and cached.
    pub(crate) fn dek(&mut self, conversation: i64) -> Result<Arc<DataKey>> {
        if let Some(k) = self.dir.deks.get(&conversation) {
            return Ok(k.clone());
        }
        let conv = self.conversation(conversation)?;
        let binding = dek_binding(&conv.platform, &conv.external_id);
        let row = self.store.data_key(conversation)?.ok_or_else(|| {
            ArchiveError::Corrupt(format!(
                "conversation {}:{} has no data key",
                conv.platform, conv.external_id
            ))
        })?;
        let dek = self.kek.unwrap(&row.wrapped, &binding).map_err(|_| {
            ArchiveError::Corrupt(format!(
                "the data key of conversation {}:{} does not unwrap",
                conv.platform, conv.external_id
            ))
        })?;
        let dek = Arc::new(dek);
        self.dir.deks.put(conversation, dek.clone());
        Ok(dek)
    }

    /// Decrypts a message row into the public view.
    pub fn message_view(&mut self, row: &MessageRow) -> Result<StoredMessage> {
        let body = self.open_body(row).map_err(|e| {
            ArchiveError::Corrupt(format!("message {}: {e}", ulid::Ulid::from_bytes(row.id)))
        })?;
        self.view_with_body(row, body.as_ref())
    }

    /// Decrypts a row's sealed content; `None` once purged. The error says what does not hold.
    pub(crate) fn open_body(
        &mut self,
        row: &MessageRow,
    ) -> std::result::Result<Option<body::Body>, String> {
        let Some(sealed) = &row.body else {
            return Ok(None);
        };
        let dek = self.dek(row.conversation).map_err(|e| match e {
            ArchiveError::Corrupt(what) => format!("{what} (key wrap changed)"),
            other => other.to_string(),
        })?;
        let plain = dek
            .open(sealed, &body_aad(&row.id), "content")
            .map_err(|_| "its content does not decrypt: the ciphertext, or its binding to this message id, changed")?;
        body::Body::decode(&plain)
            .map(Some)
            .map_err(|e| format!("its content is malformed: {e}"))
    }

    pub(crate) fn view_with_body(
        &self,
        row: &MessageRow,
        body: Option<&body::Body>,
    ) -> Result<StoredMessage> {
        let conv = self
            .conversation_row(row.conversation)?
            .ok_or_else(|| ArchiveError::Corrupt("unknown conversation".into()))?;
        let sender = self
            .participant_row(row.sender)?
            .ok_or_else(|| ArchiveError::Corrupt("unknown sender".into()))?;
        let sent = Timestamp {
            utc_ms: row.sent_at_ms,
            offset_s: row.sent_offset_s,
        };
        Ok(StoredMessage {
            id: ulid::Ulid::from_bytes(row.id).to_string(),
            seq: row.seq,
            platform: Platform::new(&conv.platform)
                .map_err(|e| ArchiveError::Corrupt(e.to_string()))?,
            conversation: format!("{}:{}", conv.platform, conv.external_id),
            source_id: row.source_id.clone(),
            sender: sender.handle.clone(),
            sender_name: row.sender_name.clone(),
            sender_role: SenderRole::from_code(row.sender_role).unwrap_or(SenderRole::Unknown),
            sent_at: sent.to_rfc3339(),
            sent_at_ts: sent,
            received_at: Timestamp::utc(row.received_at_ms).to_rfc3339(),
            kind: MessageKind::from_code(row.kind).unwrap_or(MessageKind::Other),
            text: body.map(|b| b.text.clone()),
            reply_to: row.reply_to.clone(),
            target: row.target.clone(),
            attachments: body.map(|b| b.attachments.clone()).unwrap_or_default(),
            tags: row
                .tags
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or_default(),
            // Rows archived before the flags were kept have none: derive them.
            pii: match (row.pii, body) {
                (Some(bits), _) => PiiFlags::from_bits(bits).kinds().collect(),
                (None, Some(b)) => PiiFlags::of(&b.text).kinds().collect(),
                (None, None) => vec![],
            },
        })
    }

    /// Resolves `platform:external_id` (or a bare external id when it is unique).
    pub fn conversation_id(&self, key: &str) -> Result<i64> {
        if let Some((p, ext)) = key.split_once(':') {
            if let Some(id) = self.conversation_by_key(p, ext)? {
                return Ok(id);
            }
        }
        let matches = self.conversations_by_external_id(key)?;
        match matches.as_slice() {
            [one] => Ok(*one),
            [] => Err(ArchiveError::NotFound(format!("conversation `{key}`"))),
            _ => Err(ArchiveError::Invalid {
                what: "conversation".into(),
                why: format!("`{key}` exists on several platforms; write it as PLATFORM:{key}"),
            }),
        }
    }

    /// One page of a conversation, oldest first.
    pub fn show(&mut self, key: &str, offset: u64, limit: u64) -> Result<ConversationView> {
        let (offset, limit) = (offset.min(MAX_OFFSET), limit.min(MAX_PAGE));
        let id = self.conversation_id(key)?;
        let rows = self.store.conversation_messages(id, offset, limit)?;
        let total = self.store.conversation_count(id)?;
        self.sync_deleted()?;
        let mut messages = Vec::with_capacity(rows.len());
        for r in &rows {
            if !self.is_deleted(r.seq)? {
                messages.push(self.message_view(r)?);
            }
        }
        let c = self.conversation(id)?;
        Ok(ConversationView {
            conversation: format!("{}:{}", c.platform, c.external_id),
            title: c.title.clone(),
            kind: c.kind.and_then(ConversationKind::from_code),
            platform: c.platform.clone(),
            total,
            offset,
            messages,
        })
    }

    /// One message by its archive id.
    /// A message that is not deleted (a deleted one is not found, like a missing one).
    pub fn message(&mut self, id: &str) -> Result<StoredMessage> {
        let row = self.message_row(id)?;
        self.sync_deleted()?;
        if self.is_deleted(row.seq)? {
            return Err(ArchiveError::NotFound(format!("message {id}")));
        }
        self.message_view(&row)
    }

    pub(crate) fn message_row(&self, id: &str) -> Result<MessageRow> {
        let ulid = ulid::Ulid::from_string(id).map_err(|_| ArchiveError::Invalid {
            what: "message id".into(),
            why: format!("`{id}` is not a ULID"),
        })?;
        self.store
            .message_by_id(&ulid.to_bytes())?
            .ok_or_else(|| ArchiveError::NotFound(format!("message {id}")))
    }

    pub fn stats(&self) -> Result<Stats> {
        let s = self.store.stats()?;
        let latest = self.store.latest_checkpoint()?.map(|c| CheckpointSummary {
            size: c.size,
            root: hex::encode(c.root),
            time: chatvault_ledger::verify_checkpoint(&c.note, self.signer.verifier_key())
                .map(|v| v.time)
                .unwrap_or_default(),
        });
        Ok(Stats {
            archive_id: self.archive_id.clone(),
            messages: s.messages,
            conversations: s.conversations,
            participants: s.participants,
            attachments: s.attachments,
            by_platform: self.store.messages_by_platform()?,
            checkpoints: s.checkpoints,
            latest_checkpoint: latest,
            store_bytes: s.bytes_on_disk,
            index_bytes: chatvault_index::dir_size(&self.layout.index()),
            indexed_messages: self.index.num_docs(),
            key_id: self.kek.id().to_owned(),
            key_fingerprint: self.key_fingerprint(),
        })
    }

    /// Signs a checkpoint over the whole log if the latest one does not cover it.
    pub fn checkpoint(&mut self) -> Result<Option<CheckpointSummary>> {
        self.lock_for_writing()?;
        let size = self.store.log_size()?;
        let latest = self.store.latest_checkpoint()?.map(|c| c.size).unwrap_or(0);
        if size == 0 || latest >= size {
            return Ok(None);
        }
        let root = chatvault_ledger::tree_root(size, &StoreHashes(&*self.store))?;
        let time = now_rfc3339();
        let cp = self.signer.sign(size, root, &time)?;
        let mut tx = self.store.write()?;
        tx.put_checkpoint(&chatvault_store::CheckpointRow {
            size,
            root: root.0,
            note: cp.note,
            created_at_ms: now_ms(),
        })?;
        tx.commit()?;
        Ok(Some(CheckpointSummary {
            size,
            root: hex::encode(root.0),
            time,
        }))
    }

    /// Replaces the key-encryption key: every data key and the signing key are re-wrapped
    /// in one transaction. Returns (old id, new id).
    pub fn rotate_key(&mut self, keys: &KeyProvider) -> Result<(String, String)> {
        self.lock_for_writing()?;
        let source = KeySourceKind::parse(&String::from_utf8_lossy(
            &self.store.meta("kek_source")?.unwrap_or_default(),
        ))
        .ok_or_else(|| ArchiveError::Corrupt("unknown key source".into()))?;
        let mut salt = None;
        let new = match source {
            KeySourceKind::File => Kek::generate(),
            KeySourceKind::Env => {
                let t = keys.new_env_key.as_ref().ok_or_else(|| {
                    ArchiveError::Key("set CHATVAULT_NEW_KEY to the new key; this archive's key comes from the environment".into())
                })?;
                keys::kek_from_text(t, "CHATVAULT_NEW_KEY")?
            }
            KeySourceKind::Passphrase => {
                let p = keys.new_passphrase.as_ref().ok_or_else(|| {
                    ArchiveError::Key("set CHATVAULT_NEW_PASSPHRASE to the new passphrase".into())
                })?;
                let s: [u8; 16] = chatvault_crypto::random_bytes();
                salt = Some(s);
                keys::kek_from_passphrase(p, &s)?
            }
        };
        if new.id() == self.kek.id() {
            return Err(ArchiveError::Key("the new key is the current key".into()));
        }
        if source == KeySourceKind::File {
            let p = self.layout.new_key_file();
            if p.exists() {
                std::fs::remove_file(&p).map_err(|e| keys::io_err(&p, e))?;
            }
            keys::write_secret_file(&p, &new.to_text())?;
        }
        // Unwrap everything with the old key before writing anything.
        let mut rewrapped = vec![];
        for row in self.store.data_keys()? {
            let conv = self
                .conversation_row(row.conversation)?
                .ok_or_else(|| ArchiveError::Corrupt("data key of unknown conversation".into()))?;
            let binding = dek_binding(&conv.platform, &conv.external_id);
            let dek = self.kek.unwrap(&row.wrapped, &binding).map_err(|_| {
                ArchiveError::Corrupt(format!(
                    "the data key of {}:{} does not unwrap",
                    conv.platform, conv.external_id
                ))
            })?;
            rewrapped.push(chatvault_store::DataKeyRow {
                conversation: row.conversation,
                kek_id: new.id().to_owned(),
                wrapped: new.wrap(&dek, &binding),
            });
        }
        let sealed = self
            .store
            .meta("signing_key")?
            .ok_or_else(|| ArchiveError::Corrupt("signing key is missing".into()))?;
        let skey = self
            .kek
            .open_secret(&sealed, keys::SIGNING_BINDING)
            .map_err(|_| ArchiveError::Corrupt("signing key".into()))?;
        let mut secrets = vec![];
        for key in self.store.meta_keys("secret:")? {
            let name = &key["secret:".len()..];
            let binding = services::secret_binding(name);
            let sealed = self
                .store
                .meta(&key)?
                .ok_or_else(|| ArchiveError::Corrupt(format!("secret `{name}` vanished")))?;
            let plain = self
                .kek
                .open_secret(&sealed, &binding)
                .map_err(|_| ArchiveError::Corrupt(format!("secret `{name}` does not decrypt")))?;
            secrets.push((key.clone(), new.seal_secret(&plain, &binding)));
        }
        let mut tx = self.store.write()?;
        for (key, sealed) in &secrets {
            tx.put_meta(key, sealed)?;
        }
        for r in &rewrapped {
            tx.put_data_key(r)?;
        }
        tx.put_meta(
            "signing_key",
            &new.seal_secret(&skey, keys::SIGNING_BINDING),
        )?;
        tx.put_meta(
            "kek_check",
            &new.seal_secret(keys::CHECK_PLAINTEXT, keys::CHECK_BINDING),
        )?;
        tx.put_meta("kek_id", new.id().as_bytes())?;
        if let Some(s) = salt {
            tx.put_meta("kek_salt", &s)?;
        }
        tx.commit()?;
        if source == KeySourceKind::File {
            Self::finish_file_rotation(&self.layout)?;
        }
        let old = std::mem::replace(&mut self.kek, new);
        self.dir.deks.clear();
        Ok((old.id().to_owned(), self.kek.id().to_owned()))
    }
}

/// What a conversation's wrapped data key is bound to.
/// The archive's write-lock file, opened (created when absent) but not locked.
fn open_lock_file(layout: &Layout) -> Result<std::fs::File> {
    let path = layout.lock();
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| keys::io_err(&path, e))
}

/// Opens the search index. One built by another version (its fields differ) is derived
/// data: when no other process writes the archive, it is deleted here and rebuilt from
/// the store when this process first takes the write lock (a search takes it too).
/// While another process writes, the error stands, naming `chatvault reindex`.
fn open_index(layout: &Layout) -> Result<SearchIndex> {
    match SearchIndex::open(&layout.index()) {
        Err(IndexError::OtherVersion { path }) => {
            let f = open_lock_file(layout)?;
            if f.try_lock().is_err() {
                return Err(IndexError::OtherVersion { path }.into());
            }
            eprintln!("[archive] the search index at {path} was built by another version of chatvault: rebuilding it from the store");
            std::fs::remove_dir_all(layout.index())
                .map_err(|e| keys::io_err(&layout.index(), e))?;
            let index = SearchIndex::open(&layout.index())?;
            // The lock is released when `f` is dropped; the rebuild takes it again.
            drop(f);
            Ok(index)
        }
        other => Ok(other?),
    }
}

pub(crate) fn dek_binding(platform: &str, external_id: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(platform.len() + external_id.len() + 1);
    b.extend_from_slice(platform.as_bytes());
    b.push(0);
    b.extend_from_slice(external_id.as_bytes());
    b
}

/// What a message's sealed content is bound to: its archive id.
pub(crate) fn body_aad(id: &[u8; 16]) -> Vec<u8> {
    [b"chatvault/body/v1\0".as_slice(), id].concat()
}

/// What a sealed attachment is bound to: its conversation and hash.
pub(crate) fn attachment_aad(platform: &str, external_id: &str, sha256: &[u8; 32]) -> Vec<u8> {
    [
        b"chatvault/attachment/v1\0".as_slice(),
        &dek_binding(platform, external_id),
        b"\0",
        sha256,
    ]
    .concat()
}

#[cfg(test)]
mod dek_cache_tests {
    use super::*;

    /// The unwrapped data keys, conversations and participants are bounded caches over
    /// the store: with room for 4 of each, 12 conversations of 7 senders are written and
    /// read back whole (sender, conversation and text), and verify holds.
    #[test]
    fn data_keys_and_rows_are_evicted_and_read_again() {
        let dir = tempfile::tempdir().expect("tmp");
        Archive::init(dir.path(), &KeyProvider::default()).expect("init");
        let mut a = Archive::open(dir.path(), &KeyProvider::default()).expect("open");
        a.dir = Directory::with_capacity(4, 4);
        let text: String = (0..24)
            .map(|i| {
                format!(
                    r#"{{"platform":"wecom","conversation_id":"c{}","sender_id":"u{}","sent_at":"2024-01-01T00:00:{:02}Z","source_id":"{i}","text":"第{i}条"}}"#,
                    i % 12,
                    i % 7,
                    i
                ) + "\n"
            })
            .collect();
        let ctx = chatvault_import::ImportContext {
            file_label: "t".into(),
            ..Default::default()
        };
        let mut recs = chatvault_import::CanonicalJsonl.open(Box::new(text.as_bytes()), ctx);
        assert_eq!(a.import(&mut recs, &mut |_| {}).expect("import").stored, 24);
        assert!(a.dir.deks.len() <= 4);
        for i in 0..12 {
            let v = a
                .conversation_visible(
                    &format!("wecom:c{i}"),
                    0,
                    10,
                    None,
                    &mut |_: &StoredMessage, _: &[chatvault_policy::Handle]| {
                        services::Visibility::Full
                    },
                )
                .expect("read");
            let texts: Vec<String> = v.messages.iter().filter_map(|m| m.text.clone()).collect();
            assert_eq!(texts, [format!("第{i}条"), format!("第{}条", i + 12)]);
            let senders: Vec<&str> = v.messages.iter().map(|m| m.sender.as_str()).collect();
            assert_eq!(
                senders,
                [format!("u{}", i % 7), format!("u{}", (i + 12) % 7)]
            );
            assert_eq!(v.conversation, format!("wecom:c{i}"));
            let members = a.participants_of(&format!("c{i}")).expect("members");
            assert_eq!(members.len(), if i % 7 == (i + 12) % 7 { 1 } else { 2 });
        }
        assert!(a.dir.deks.len() <= 4);
        assert!(a.dir.cached_rows() <= 8, "{}", a.dir.cached_rows());
        let report = a.verify(&mut |_| {}).expect("verify");
        assert!(report.ok, "{report:?}");
    }
}
