//! Durable storage for the archive, behind the [`Store`] trait.
//!
//! The store keeps rows the archive has already prepared: message metadata, sealed
//! (encrypted) content, wrapped data keys, the Merkle log's stored hashes and signed
//! checkpoints. It never sees a key or a plaintext message body, and it never decides
//! anything about content: callers encrypt before they write and decrypt after they read.
//!
//! Invariants:
//! - **Append-only.** Message rows and log hashes are inserted, never updated (a store may
//!   keep the log as tiles, C2SP tlog-tiles: it keeps the hashes of tree levels 0, 8, 16, …
//!   and computes those between when read; `chatvault-store-sqlite` does). The only
//!   exceptions are explicit: a data key is re-wrapped on key rotation, and (later) a purge
//!   clears a message's sealed body while its row and leaf stay.
//! - **Atomic batches.** Everything written through one [`WriteTxn`] becomes durable together
//!   at [`WriteTxn::commit`], or not at all.
//!
//! `chatvault-store-sqlite` is the embedded default, in its own crate with its schema and
//! upgrade steps as files. A PostgreSQL store will implement the same traits in its own
//! crate, with its own migrations, and pass the same [`conformance`] suite. This crate
//! names no database.

pub mod access;
pub mod conformance;
pub mod conformance_access;
pub mod conformance_summaries;
pub mod summaries;

pub use chatvault_model::dedup::DedupKey;

/// The meta key under which a store notes damage it found in the Merkle log while moving
/// it to a new layout (an upgrade that carried the leaves over and recomputed the rest):
/// `verify` reports it, so that the evidence of the damage outlives the old layout.
pub const LOG_FINDING: &str = "log.finding";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend's own error (SQLite's, PostgreSQL's), kept as the cause so that a
    /// full or failing disk can be told apart (`chatvault_store_sqlite::is_storage_full`).
    #[error("database {path}")]
    Backend {
        path: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    #[error("database {path} has schema version {found}; this chatvault knows version {known}")]
    Schema {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("store is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A store error as one line for a person: what failed, then the backend's own words
/// when it gave any.
pub fn with_cause(e: &StoreError) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// A conversation row.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRow {
    pub id: i64,
    pub platform: String,
    pub external_id: String,
    pub title: Option<String>,
    pub kind: Option<u8>,
}

/// A participant (sender) row.
#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantRow {
    pub id: i64,
    pub platform: String,
    pub handle: String,
    pub display_name: Option<String>,
}

/// A message row as stored. `body` is the sealed content; `None` once purged.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRow {
    pub seq: u64,
    pub id: [u8; 16],
    pub conversation: i64,
    pub source_id: Option<String>,
    pub fingerprint: Option<[u8; 16]>,
    pub sender: i64,
    /// The display name on this message, when the source gave one.
    pub sender_name: Option<String>,
    pub sender_role: u8,
    pub sent_at_ms: i64,
    pub sent_offset_s: Option<i32>,
    pub received_at_ms: i64,
    pub kind: u8,
    pub reply_to: Option<String>,
    pub target: Option<String>,
    /// JSON array of tags, when there are any.
    pub tags: Option<String>,
    pub body: Option<Vec<u8>>,
    /// The kinds of personal data in the content (`chatvault_model::pii::PiiFlags` bits),
    /// derived at import; `None` for rows archived before the flags were kept.
    pub pii: Option<u8>,
}

impl MessageRow {
    pub fn dedup_key(&self) -> Result<DedupKey> {
        match (&self.source_id, self.fingerprint) {
            (Some(s), None) => Ok(DedupKey::Source(s.clone())),
            (None, Some(f)) => Ok(DedupKey::Fingerprint(f)),
            _ => Err(StoreError::Corrupt(format!(
                "message seq {} has neither or both dedup keys",
                self.seq
            ))),
        }
    }
}

/// A wrapped data key.
#[derive(Debug, Clone, PartialEq)]
pub struct DataKeyRow {
    pub conversation: i64,
    pub kek_id: String,
    pub wrapped: Vec<u8>,
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointRow {
    pub size: u64,
    pub root: [u8; 32],
    pub note: String,
    pub created_at_ms: i64,
}

/// Sizes and counts for `stats`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreStats {
    pub messages: u64,
    pub conversations: u64,
    pub participants: u64,
    pub attachments: u64,
    pub checkpoints: u64,
    pub bytes_on_disk: u64,
}

/// Where a deleted message is in its life: recoverable, or purged for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionState {
    /// Invisible to everyone and searchable by no one; recoverable until `recover_until_ms`.
    Deleted,
    /// The content, attachments and raw record are gone; this row is the tombstone.
    Purged,
}

/// A deletion, and after the purge the tombstone: the message row and its Merkle leaf
/// stay, so the log still verifies and proves what was deleted, when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionRow {
    pub seq: u64,
    pub state: DeletionState,
    pub deleted_ms: i64,
    pub recover_until_ms: i64,
    pub purged_ms: Option<i64>,
    /// The message's leaf hash, as the log holds it.
    pub leaf_hash: [u8; 32],
    /// JSON: the rule or request, who asked and who approved.
    pub reason: String,
}

/// Reads. Every method sees committed data only.
pub trait StoreRead {
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// The meta keys that start with `prefix`, sorted.
    fn meta_keys(&self, prefix: &str) -> Result<Vec<String>>;
    /// The conversations (row ids) a participant sent messages in.
    fn conversations_of_sender(&self, sender: i64) -> Result<Vec<i64>>;
    /// The distinct senders (participant row ids) of a conversation.
    fn conversation_senders(&self, conversation: i64) -> Result<Vec<i64>>;
    /// Number of messages, which is also the next sequence number and the log size.
    fn log_size(&self) -> Result<u64>;
    fn message_by_seq(&self, seq: u64) -> Result<Option<MessageRow>>;
    fn message_by_id(&self, id: &[u8; 16]) -> Result<Option<MessageRow>>;
    /// Messages of a conversation ordered by `sent_at`, then seq.
    fn conversation_messages(
        &self,
        conversation: i64,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<MessageRow>>;
    /// Calls `f` for each message from `from_seq` in seq order until it returns false.
    fn scan_messages(
        &self,
        from_seq: u64,
        f: &mut dyn FnMut(MessageRow) -> Result<bool>,
    ) -> Result<()>;
    /// Like [`Self::scan_messages`], but a row that cannot be read (a column of the wrong
    /// type, a damaged value) is handed over as its seq and why, and the scan goes on:
    /// for `verify`, which names every problem instead of stopping at the first.
    fn scan_messages_lenient(
        &self,
        from_seq: u64,
        f: &mut dyn FnMut(std::result::Result<MessageRow, (u64, String)>) -> Result<bool>,
    ) -> Result<()>;
    fn conversations(&self) -> Result<Vec<ConversationRow>>;
    fn participants(&self) -> Result<Vec<ParticipantRow>>;
    /// One conversation by its row id.
    fn conversation_row(&self, id: i64) -> Result<Option<ConversationRow>>;
    /// One conversation by its platform and external id.
    fn conversation_by_key(
        &self,
        platform: &str,
        external_id: &str,
    ) -> Result<Option<ConversationRow>>;
    /// Every conversation with this external id, whatever its platform.
    fn conversations_by_external_id(&self, external_id: &str) -> Result<Vec<ConversationRow>>;
    /// One participant by its row id.
    fn participant_row(&self, id: i64) -> Result<Option<ParticipantRow>>;
    /// One participant by its platform and handle.
    fn participant_by_key(&self, platform: &str, handle: &str) -> Result<Option<ParticipantRow>>;
    fn data_keys(&self) -> Result<Vec<DataKeyRow>>;
    fn data_key(&self, conversation: i64) -> Result<Option<DataKeyRow>>;
    /// How many messages a conversation has.
    fn conversation_count(&self, conversation: i64) -> Result<u64>;
    /// Message counts per platform, largest first.
    fn messages_by_platform(&self) -> Result<Vec<(String, u64)>>;
    /// Log hashes at the given stored-hash indexes (tlog's numbering); an absent one is an
    /// error.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>>;
    /// Calls `f` for each stored hash from `from` in index order until it returns false.
    fn scan_hashes(
        &self,
        from: u64,
        f: &mut dyn FnMut(u64, [u8; 32]) -> Result<bool>,
    ) -> Result<()>;
    fn checkpoints(&self) -> Result<Vec<CheckpointRow>>;
    /// The newest checkpoint (one row: a live archive signs one per batch, so reading
    /// them all for the newest grew with the archive's age).
    fn latest_checkpoint(&self) -> Result<Option<CheckpointRow>>;
    fn attachment(&self, conversation: i64, sha256: &[u8; 32]) -> Result<Option<Vec<u8>>>;
    /// Every deletion and tombstone, by sequence number.
    fn deletions(&self) -> Result<Vec<DeletionRow>>;
    /// A conversation's messages in time order after `(sent_at_ms, seq)`, for streaming
    /// reads in bounded memory (keyset paging: no OFFSET scans).
    fn conversation_messages_after(
        &self,
        conversation: i64,
        after: Option<(i64, u64)>,
        limit: u64,
    ) -> Result<Vec<MessageRow>>;
    /// The conversations these messages belong to.
    fn conversations_of_seqs(&self, seqs: &[u64]) -> Result<Vec<i64>>;
    /// The conversations with a message at `seq` or later (for derived caches).
    fn conversations_from_seq(&self, seq: u64) -> Result<Vec<i64>>;
    fn attachment_count(&self, conversation: i64) -> Result<u64>;
    fn stats(&self) -> Result<StoreStats>;
    /// The backend's own consistency check (SQLite's `integrity_check` and
    /// `foreign_key_check`): one line per problem found, none when sound.
    fn integrity_check(&self) -> Result<Vec<String>>;
}

/// A store: reads, plus write transactions.
pub trait Store: StoreRead + Send {
    fn write(&mut self) -> Result<Box<dyn WriteTxn + '_>>;
}

/// One atomic batch of writes. Dropping it without [`WriteTxn::commit`] rolls it back.
pub trait WriteTxn {
    fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<()>;
    /// Sets a meta value unless the key exists; returns whether it wrote.
    fn put_meta_if_absent(&mut self, key: &str, value: &[u8]) -> Result<bool>;
    /// Returns the conversation's id, inserting it when new (the first title is kept).
    fn conversation(
        &mut self,
        platform: &str,
        external_id: &str,
        title: Option<&str>,
        kind: Option<u8>,
    ) -> Result<i64>;
    /// Returns the participant's id, inserting it when new.
    fn participant(
        &mut self,
        platform: &str,
        handle: &str,
        display_name: Option<&str>,
    ) -> Result<i64>;
    /// Stores or replaces (on key rotation) a conversation's wrapped data key.
    fn put_data_key(&mut self, key: &DataKeyRow) -> Result<()>;
    fn data_key(&mut self, conversation: i64) -> Result<Option<DataKeyRow>>;
    /// Whether a message with this dedup key exists in the conversation.
    fn exists(&mut self, conversation: i64, key: &DedupKey) -> Result<bool>;
    fn insert_message(&mut self, row: &MessageRow) -> Result<()>;
    /// Appends log hashes at consecutive stored-hash indexes from `first`, which must be
    /// the log's end: whole records, each its leaf hash then the interior hashes it
    /// completes (what `chatvault_ledger::Frontier::push` returns). Anything else is
    /// refused. A store may keep only some levels and compute the interior hashes from the
    /// leaves, so they must be the ones the leaves give.
    fn put_hashes(&mut self, first: u64, hashes: &[[u8; 32]]) -> Result<()>;
    /// Stores a sealed attachment unless the conversation already has it.
    fn put_attachment(&mut self, conversation: i64, sha256: &[u8; 32], sealed: &[u8])
        -> Result<()>;
    fn put_checkpoint(&mut self, cp: &CheckpointRow) -> Result<()>;
    fn put_deletion(&mut self, d: &DeletionRow) -> Result<()>;
    /// Removes a recoverable deletion (a recovery); `false` when there was none.
    fn remove_deletion(&mut self, seq: u64) -> Result<bool>;
    /// Destroys a message's sealed content (its text, salt, attachment list and raw record).
    fn clear_body(&mut self, seq: u64) -> Result<()>;
    /// Messages of a conversation whose content is not purged (this transaction's changes
    /// included).
    fn live_count(&mut self, conversation: i64) -> Result<u64>;
    /// Their ids and sealed bodies.
    fn live_bodies(&mut self, conversation: i64) -> Result<Vec<([u8; 16], Vec<u8>)>>;
    fn attachment_shas(&mut self, conversation: i64) -> Result<Vec<[u8; 32]>>;
    fn delete_attachment(&mut self, conversation: i64, sha256: &[u8; 32]) -> Result<()>;
    fn delete_attachments(&mut self, conversation: i64) -> Result<u64>;
    /// Crypto-shredding: the conversation's wrapped data key goes.
    fn delete_data_key(&mut self, conversation: i64) -> Result<()>;
    fn commit(self: Box<Self>) -> Result<()>;
}
