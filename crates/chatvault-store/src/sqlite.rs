//! The embedded store: one SQLite file in the data folder.
//!
//! WAL journal with `synchronous=FULL` (a committed batch survives power loss), foreign
//! keys on, and `secure_delete` on so that purged content is overwritten, not just unlinked.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use crate::{
    CheckpointRow, ConversationRow, DataKeyRow, DedupKey, DeletionRow, DeletionState, MessageRow,
    ParticipantRow, Result, Store, StoreError, StoreRead, StoreStats, WriteTxn,
};

const SCHEMA_VERSION: i64 = 4;

const SCHEMA: &str = r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY,
    platform TEXT NOT NULL,
    external_id TEXT NOT NULL,
    title TEXT,
    kind INTEGER,
    UNIQUE (platform, external_id)
);
CREATE TABLE participants (
    id INTEGER PRIMARY KEY,
    platform TEXT NOT NULL,
    handle TEXT NOT NULL,
    display_name TEXT,
    UNIQUE (platform, handle)
);
CREATE TABLE data_keys (
    conversation INTEGER PRIMARY KEY REFERENCES conversations (id),
    kek_id TEXT NOT NULL,
    wrapped BLOB NOT NULL
);
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    id BLOB NOT NULL UNIQUE,
    conversation INTEGER NOT NULL REFERENCES conversations (id),
    source_id TEXT,
    fingerprint BLOB,
    sender INTEGER NOT NULL REFERENCES participants (id),
    sender_name TEXT,
    sender_role INTEGER NOT NULL,
    sent_at INTEGER NOT NULL,
    sent_offset INTEGER,
    received_at INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    reply_to TEXT,
    target TEXT,
    tags TEXT,
    body BLOB,
    pii INTEGER,
    CHECK ((source_id IS NULL) <> (fingerprint IS NULL))
);
CREATE UNIQUE INDEX messages_source ON messages (conversation, source_id) WHERE source_id IS NOT NULL;
CREATE UNIQUE INDEX messages_fingerprint ON messages (conversation, fingerprint) WHERE fingerprint IS NOT NULL;
CREATE INDEX messages_time ON messages (conversation, sent_at);
CREATE INDEX messages_sender ON messages (sender, conversation);
CREATE TABLE log_hashes (idx INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE checkpoints (
    size INTEGER PRIMARY KEY,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE attachments (
    conversation INTEGER NOT NULL REFERENCES conversations (id),
    sha256 BLOB NOT NULL,
    sealed BLOB NOT NULL,
    PRIMARY KEY (conversation, sha256)
) WITHOUT ROWID;
CREATE TABLE deletions (
    seq INTEGER PRIMARY KEY REFERENCES messages (seq),
    state INTEGER NOT NULL,
    deleted_ms INTEGER NOT NULL,
    recover_until_ms INTEGER NOT NULL,
    purged_ms INTEGER,
    leaf_hash BLOB NOT NULL,
    reason TEXT NOT NULL
);
"#;

const MESSAGE_COLUMNS: &str =
    "seq, id, conversation, source_id, fingerprint, sender, sender_name, sender_role, \
     sent_at, sent_offset, received_at, kind, reply_to, target, tags, body, pii";

pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating when absent) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(|e| err(path, e))?;
        let store = SqliteStore {
            conn,
            path: path.to_owned(),
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    fn conversations_where(
        &self,
        filter: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<ConversationRow>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT id, platform, external_id, title, kind FROM conversations {filter}"
            ))
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map(params, |r| {
                Ok(ConversationRow {
                    id: r.get(0)?,
                    platform: r.get(1)?,
                    external_id: r.get(2)?,
                    title: r.get(3)?,
                    kind: r.get(4)?,
                })
            })
            .map_err(|e| self.e(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.e(e))
    }

    fn participants_where(
        &self,
        filter: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<ParticipantRow>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT id, platform, handle, display_name FROM participants {filter}"
            ))
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map(params, |r| {
                Ok(ParticipantRow {
                    id: r.get(0)?,
                    platform: r.get(1)?,
                    handle: r.get(2)?,
                    display_name: r.get(3)?,
                })
            })
            .map_err(|e| self.e(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.e(e))
    }

    fn e(&self, e: rusqlite::Error) -> StoreError {
        err(&self.path, e)
    }

    fn checkpoints_where(&self, rest: &str) -> Result<Vec<CheckpointRow>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT size, root, note, created_at FROM checkpoints {rest}"
            ))
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(CheckpointRow {
                    size: r.get::<_, i64>(0)? as u64,
                    root: blob32(r.get(1)?, "root")?,
                    note: r.get(2)?,
                    created_at_ms: r.get(3)?,
                })
            })
            .map_err(|e| self.e(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.e(e))
    }

    fn configure(&self) -> Result<()> {
        // The query planner's stability guarantee. Without it, SQLite marks a statement
        // whose plan could depend on a bound value (`LIMIT ?`, `col = ?`) to be prepared
        // again whenever its bindings are cleared, which rusqlite's statement cache does
        // each time a statement goes back: every cached read was compiled anew (a
        // profile of the soak found `sqlite3Reprepare` at 6–8% of the server's time).
        self.conn
            .set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
                true,
            )
            .map_err(|e| self.e(e))?;
        self.conn
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA secure_delete = ON;
                 PRAGMA cache_size = -65536;
                 PRAGMA temp_store = MEMORY;
                 PRAGMA busy_timeout = 10000;",
            )
            .map_err(|e| self.e(e))
    }

    fn migrate(&self) -> Result<()> {
        loop {
            let version: i64 = self
                .conn
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(|e| self.e(e))?;
            let step = match version {
                0 => format!("BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"),
                // Version 2 keeps each message's PII flags; rows archived before it have none
                // (NULL), and readers derive them from the content instead.
                1 => "BEGIN; ALTER TABLE messages ADD COLUMN pii INTEGER; PRAGMA user_version = 2; COMMIT;".to_owned(),
                // Version 3 indexes senders, so the server finds a person's conversations
                // without scanning every message.
                2 => "BEGIN; CREATE INDEX IF NOT EXISTS messages_sender ON messages (sender, conversation); PRAGMA user_version = 3; COMMIT;".to_owned(),
                // Version 4 records deletions: recoverable first, then purged (the row and
                // its leaf stay, the content goes; the row is the tombstone).
                3 => format!("BEGIN; {} PRAGMA user_version = 4; COMMIT;", "CREATE TABLE IF NOT EXISTS deletions (     seq INTEGER PRIMARY KEY REFERENCES messages (seq),     state INTEGER NOT NULL,     deleted_ms INTEGER NOT NULL,     recover_until_ms INTEGER NOT NULL,     purged_ms INTEGER,     leaf_hash BLOB NOT NULL,     reason TEXT NOT NULL );"),
                SCHEMA_VERSION => return Ok(()),
                found => return Err(StoreError::Schema { path: self.path.display().to_string(), found, known: SCHEMA_VERSION }),
            };
            self.conn.execute_batch(&step).map_err(|e| self.e(e))?;
        }
    }

    /// Runs SQLite's own `PRAGMA integrity_check` and `foreign_key_check`.
    pub fn integrity_check(&self) -> Result<Vec<String>> {
        let mut out = vec![];
        let mut st = self
            .conn
            .prepare("PRAGMA integrity_check")
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.e(e))?;
        for r in rows {
            let r = r.map_err(|e| self.e(e))?;
            if r != "ok" {
                out.push(r);
            }
        }
        let mut st = self
            .conn
            .prepare("PRAGMA foreign_key_check")
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(format!(
                    "foreign key: {} row {:?}",
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<i64>>(1)?
                ))
            })
            .map_err(|e| self.e(e))?;
        for r in rows {
            out.push(r.map_err(|e| self.e(e))?);
        }
        Ok(out)
    }
}

fn err(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.display().to_string(),
        source,
    }
}

fn blob16(v: Vec<u8>, what: &str) -> rusqlite::Result<[u8; 16]> {
    v.try_into().map_err(|_| {
        rusqlite::Error::InvalidColumnType(0, what.to_owned(), rusqlite::types::Type::Blob)
    })
}

fn blob32(v: Vec<u8>, what: &str) -> rusqlite::Result<[u8; 32]> {
    v.try_into().map_err(|_| {
        rusqlite::Error::InvalidColumnType(0, what.to_owned(), rusqlite::types::Type::Blob)
    })
}

fn message_from_row(r: &Row<'_>) -> rusqlite::Result<MessageRow> {
    Ok(MessageRow {
        seq: r.get::<_, i64>(0)? as u64,
        id: blob16(r.get(1)?, "id")?,
        conversation: r.get(2)?,
        source_id: r.get(3)?,
        fingerprint: r
            .get::<_, Option<Vec<u8>>>(4)?
            .map(|v| blob16(v, "fingerprint"))
            .transpose()?,
        sender: r.get(5)?,
        sender_name: r.get(6)?,
        sender_role: r.get(7)?,
        sent_at_ms: r.get(8)?,
        sent_offset_s: r.get(9)?,
        received_at_ms: r.get(10)?,
        kind: r.get(11)?,
        reply_to: r.get(12)?,
        target: r.get(13)?,
        tags: r.get(14)?,
        body: r.get(15)?,
        pii: r.get(16)?,
    })
}

fn data_key_on(conn: &Connection, path: &Path, conversation: i64) -> Result<Option<DataKeyRow>> {
    conn.prepare_cached(
        "SELECT conversation, kek_id, wrapped FROM data_keys WHERE conversation = ?1",
    )
    .and_then(|mut st| {
        st.query_row([conversation], |r| {
            Ok(DataKeyRow {
                conversation: r.get(0)?,
                kek_id: r.get(1)?,
                wrapped: r.get(2)?,
            })
        })
        .optional()
    })
    .map_err(|e| err(path, e))
}

fn read_hashes_on(conn: &Connection, path: &Path, indexes: &[u64]) -> Result<Vec<[u8; 32]>> {
    let mut st = conn
        .prepare_cached("SELECT hash FROM log_hashes WHERE idx = ?1")
        .map_err(|e| err(path, e))?;
    indexes
        .iter()
        .map(|&i| {
            let h: Option<Vec<u8>> = st
                .query_row([i as i64], |r| r.get(0))
                .optional()
                .map_err(|e| err(path, e))?;
            let h = h.ok_or_else(|| StoreError::Corrupt(format!("log hash {i} is missing")))?;
            h.try_into()
                .map_err(|_| StoreError::Corrupt(format!("log hash {i} is not 32 bytes")))
        })
        .collect()
}

impl SqliteStore {
    /// Calls `f` with each message row from `from_seq` in seq order until it returns false.
    fn scan_rows(&self, from_seq: u64, f: &mut dyn FnMut(&Row<'_>) -> Result<bool>) -> Result<()> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE seq >= ?1 ORDER BY seq"
            ))
            .map_err(|e| self.e(e))?;
        let mut rows = st.query([from_seq as i64]).map_err(|e| self.e(e))?;
        while let Some(r) = rows.next().map_err(|e| self.e(e))? {
            if !f(r)? {
                break;
            }
        }
        Ok(())
    }
}

impl StoreRead for SqliteStore {
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.e(e))
    }

    fn meta_keys(&self, prefix: &str) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare("SELECT key FROM meta ORDER BY key")
            .map_err(|e| self.e(e))?;
        let keys = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.e(e))?;
        let mut out = vec![];
        for k in keys {
            let k = k.map_err(|e| self.e(e))?;
            if k.starts_with(prefix) {
                out.push(k);
            }
        }
        Ok(out)
    }

    fn conversations_of_sender(&self, sender: i64) -> Result<Vec<i64>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT DISTINCT conversation FROM messages WHERE sender = ?1")
            .map_err(|e| self.e(e))?;
        let ids = st
            .query_map([sender], |r| r.get::<_, i64>(0))
            .map_err(|e| self.e(e))?;
        ids.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.e(e))
    }

    fn conversation_senders(&self, conversation: i64) -> Result<Vec<i64>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT DISTINCT sender FROM messages WHERE conversation = ?1")
            .map_err(|e| self.e(e))?;
        let ids = st
            .query_map([conversation], |r| r.get::<_, i64>(0))
            .map_err(|e| self.e(e))?;
        ids.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.e(e))
    }

    fn log_size(&self) -> Result<u64> {
        let n: Option<i64> = self
            .conn
            .query_row("SELECT max(seq) FROM messages", [], |r| r.get(0))
            .map_err(|e| self.e(e))?;
        Ok(n.map_or(0, |n| n as u64 + 1))
    }

    fn message_by_seq(&self, seq: u64) -> Result<Option<MessageRow>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE seq = ?1"
            ))
            .map_err(|e| self.e(e))?;
        st.query_row([seq as i64], message_from_row)
            .optional()
            .map_err(|e| self.e(e))
    }

    fn message_by_id(&self, id: &[u8; 16]) -> Result<Option<MessageRow>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1"
            ))
            .map_err(|e| self.e(e))?;
        st.query_row([&id[..]], message_from_row)
            .optional()
            .map_err(|e| self.e(e))
    }

    fn conversation_messages(
        &self,
        conversation: i64,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<MessageRow>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation = ?1 \
                 ORDER BY sent_at, seq LIMIT ?2 OFFSET ?3"
            ))
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map(
                params![
                    conversation,
                    limit.min(i64::MAX as u64) as i64,
                    offset.min(i64::MAX as u64) as i64
                ],
                message_from_row,
            )
            .map_err(|e| self.e(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.e(e))
    }

    fn scan_messages(
        &self,
        from_seq: u64,
        f: &mut dyn FnMut(MessageRow) -> Result<bool>,
    ) -> Result<()> {
        self.scan_rows(from_seq, &mut |r| {
            f(message_from_row(r).map_err(|e| self.e(e))?)
        })
    }

    fn scan_messages_lenient(
        &self,
        from_seq: u64,
        f: &mut dyn FnMut(std::result::Result<MessageRow, (u64, String)>) -> Result<bool>,
    ) -> Result<()> {
        self.scan_rows(from_seq, &mut |r| {
            f(message_from_row(r).map_err(|e| {
                let seq = r.get::<_, i64>(0).map_or(u64::MAX, |s| s as u64);
                (seq, e.to_string())
            }))
        })
    }

    fn deletions(&self) -> Result<Vec<DeletionRow>> {
        let mut st = self
            .conn
            .prepare("SELECT seq, state, deleted_ms, recover_until_ms, purged_ms, leaf_hash, reason FROM deletions ORDER BY seq")
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map([], |r| {
                let hash: Vec<u8> = r.get(5)?;
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    hash,
                    r.get(6)?,
                ))
            })
            .map_err(|e| self.e(e))?;
        let mut out = vec![];
        for row in rows {
            let (seq, state, deleted_ms, recover_until_ms, purged_ms, hash, reason) =
                row.map_err(|e| self.e(e))?;
            let leaf_hash: [u8; 32] = hash.try_into().map_err(|_| {
                StoreError::Corrupt(format!(
                    "deletion of seq {seq}: the leaf hash is not 32 bytes"
                ))
            })?;
            let state = match state {
                1 => DeletionState::Deleted,
                2 => DeletionState::Purged,
                s => {
                    return Err(StoreError::Corrupt(format!(
                        "deletion of seq {seq}: unknown state {s}"
                    )))
                }
            };
            out.push(DeletionRow {
                seq: seq as u64,
                state,
                deleted_ms,
                recover_until_ms,
                purged_ms,
                leaf_hash,
                reason,
            });
        }
        Ok(out)
    }

    fn conversation_messages_after(
        &self,
        conversation: i64,
        after: Option<(i64, u64)>,
        limit: u64,
    ) -> Result<Vec<MessageRow>> {
        let (t, s) = after.map_or((i64::MIN, -1i64), |(t, s)| (t, s as i64));
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation = ?1 AND (sent_at > ?2 OR (sent_at = ?2 AND seq > ?3)) \
                 ORDER BY sent_at, seq LIMIT ?4"
            ))
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map(params![conversation, t, s, limit as i64], message_from_row)
            .map_err(|e| self.e(e))?;
        rows.map(|r| r.map_err(|e| self.e(e))).collect()
    }

    fn conversations_of_seqs(&self, seqs: &[u64]) -> Result<Vec<i64>> {
        let mut out = std::collections::BTreeSet::new();
        let mut st = self
            .conn
            .prepare_cached("SELECT conversation FROM messages WHERE seq = ?1")
            .map_err(|e| self.e(e))?;
        for s in seqs {
            if let Some(c) = st
                .query_row([*s as i64], |r| r.get::<_, i64>(0))
                .optional()
                .map_err(|e| self.e(e))?
            {
                out.insert(c);
            }
        }
        Ok(out.into_iter().collect())
    }

    fn conversations_from_seq(&self, seq: u64) -> Result<Vec<i64>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT DISTINCT conversation FROM messages WHERE seq >= ?1")
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map([seq as i64], |r| r.get::<_, i64>(0))
            .map_err(|e| self.e(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.e(e))
    }

    fn attachment_count(&self, conversation: i64) -> Result<u64> {
        self.conn
            .prepare_cached("SELECT count(*) FROM attachments WHERE conversation = ?1")
            .and_then(|mut st| st.query_row([conversation], |r| r.get::<_, i64>(0)))
            .map(|n| n as u64)
            .map_err(|e| self.e(e))
    }

    fn conversations(&self) -> Result<Vec<ConversationRow>> {
        self.conversations_where("", &[])
    }

    fn participants(&self) -> Result<Vec<ParticipantRow>> {
        self.participants_where("", &[])
    }

    fn conversation_row(&self, id: i64) -> Result<Option<ConversationRow>> {
        Ok(self.conversations_where("WHERE id = ?1", &[&id])?.pop())
    }

    fn conversation_by_key(
        &self,
        platform: &str,
        external_id: &str,
    ) -> Result<Option<ConversationRow>> {
        Ok(self
            .conversations_where(
                "WHERE platform = ?1 AND external_id = ?2",
                &[&platform, &external_id],
            )?
            .pop())
    }

    fn conversations_by_external_id(&self, external_id: &str) -> Result<Vec<ConversationRow>> {
        self.conversations_where("WHERE external_id = ?1", &[&external_id])
    }

    fn participant_row(&self, id: i64) -> Result<Option<ParticipantRow>> {
        Ok(self.participants_where("WHERE id = ?1", &[&id])?.pop())
    }

    fn participant_by_key(&self, platform: &str, handle: &str) -> Result<Option<ParticipantRow>> {
        Ok(self
            .participants_where("WHERE platform = ?1 AND handle = ?2", &[&platform, &handle])?
            .pop())
    }

    fn data_keys(&self) -> Result<Vec<DataKeyRow>> {
        let mut st = self
            .conn
            .prepare("SELECT conversation, kek_id, wrapped FROM data_keys")
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(DataKeyRow {
                    conversation: r.get(0)?,
                    kek_id: r.get(1)?,
                    wrapped: r.get(2)?,
                })
            })
            .map_err(|e| self.e(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.e(e))
    }

    fn data_key(&self, conversation: i64) -> Result<Option<DataKeyRow>> {
        data_key_on(&self.conn, &self.path, conversation)
    }

    fn conversation_count(&self, conversation: i64) -> Result<u64> {
        self.conn
            .query_row(
                "SELECT count(*) FROM messages WHERE conversation = ?1",
                [conversation],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| self.e(e))
    }

    fn messages_by_platform(&self) -> Result<Vec<(String, u64)>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT c.platform, count(*) AS n FROM messages m JOIN conversations c ON c.id = m.conversation \
                 GROUP BY c.platform ORDER BY n DESC, c.platform",
            )
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(|e| self.e(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.e(e))
    }

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>> {
        read_hashes_on(&self.conn, &self.path, indexes)
    }

    fn scan_hashes(
        &self,
        from: u64,
        f: &mut dyn FnMut(u64, [u8; 32]) -> Result<bool>,
    ) -> Result<()> {
        let mut st = self
            .conn
            .prepare("SELECT idx, hash FROM log_hashes WHERE idx >= ?1 ORDER BY idx")
            .map_err(|e| self.e(e))?;
        let mut rows = st.query([from as i64]).map_err(|e| self.e(e))?;
        while let Some(r) = rows.next().map_err(|e| self.e(e))? {
            let idx: i64 = r.get(0).map_err(|e| self.e(e))?;
            let h: Vec<u8> = r.get(1).map_err(|e| self.e(e))?;
            let h = h
                .try_into()
                .map_err(|_| StoreError::Corrupt(format!("log hash {idx} is not 32 bytes")))?;
            if !f(idx as u64, h)? {
                break;
            }
        }
        Ok(())
    }

    fn checkpoints(&self) -> Result<Vec<CheckpointRow>> {
        self.checkpoints_where("ORDER BY size")
    }

    fn latest_checkpoint(&self) -> Result<Option<CheckpointRow>> {
        Ok(self.checkpoints_where("ORDER BY size DESC LIMIT 1")?.pop())
    }

    fn attachment(&self, conversation: i64, sha256: &[u8; 32]) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row(
                "SELECT sealed FROM attachments WHERE conversation = ?1 AND sha256 = ?2",
                params![conversation, &sha256[..]],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.e(e))
    }

    fn stats(&self) -> Result<StoreStats> {
        let count = |table: &str| -> Result<u64> {
            self.conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
                    r.get::<_, i64>(0)
                })
                .map(|n| n as u64)
                .map_err(|e| self.e(e))
        };
        let mut bytes = 0;
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            bytes += std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        }
        Ok(StoreStats {
            messages: self.log_size()?,
            conversations: count("conversations")?,
            participants: count("participants")?,
            attachments: count("attachments")?,
            checkpoints: count("checkpoints")?,
            bytes_on_disk: bytes,
        })
    }
}

impl Store for SqliteStore {
    fn write(&mut self) -> Result<Box<dyn WriteTxn + '_>> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| err(&path, e))?;
        Ok(Box::new(SqliteTxn { tx, path }))
    }
}

struct SqliteTxn<'a> {
    tx: Transaction<'a>,
    path: PathBuf,
}

impl SqliteTxn<'_> {
    fn e(&self, e: rusqlite::Error) -> StoreError {
        err(&self.path, e)
    }
}

impl WriteTxn for SqliteTxn<'_> {
    fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.tx
            .execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                params![key, value],
            )
            .map(drop)
            .map_err(|e| self.e(e))
    }

    fn put_meta_if_absent(&mut self, key: &str, value: &[u8]) -> Result<bool> {
        self.tx
            .execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
                params![key, value],
            )
            .map(|n| n == 1)
            .map_err(|e| self.e(e))
    }

    fn conversation(
        &mut self,
        platform: &str,
        external_id: &str,
        title: Option<&str>,
        kind: Option<u8>,
    ) -> Result<i64> {
        let mut st = self
            .tx
            .prepare_cached("SELECT id FROM conversations WHERE platform = ?1 AND external_id = ?2")
            .map_err(|e| err(&self.path, e))?;
        if let Some(id) = st
            .query_row(params![platform, external_id], |r| r.get(0))
            .optional()
            .map_err(|e| err(&self.path, e))?
        {
            return Ok(id);
        }
        drop(st);
        self.tx
            .execute(
                "INSERT INTO conversations (platform, external_id, title, kind) VALUES (?1, ?2, ?3, ?4)",
                params![platform, external_id, title, kind],
            )
            .map_err(|e| self.e(e))?;
        Ok(self.tx.last_insert_rowid())
    }

    fn participant(
        &mut self,
        platform: &str,
        handle: &str,
        display_name: Option<&str>,
    ) -> Result<i64> {
        let mut st = self
            .tx
            .prepare_cached("SELECT id FROM participants WHERE platform = ?1 AND handle = ?2")
            .map_err(|e| err(&self.path, e))?;
        if let Some(id) = st
            .query_row(params![platform, handle], |r| r.get(0))
            .optional()
            .map_err(|e| err(&self.path, e))?
        {
            return Ok(id);
        }
        drop(st);
        self.tx
            .execute(
                "INSERT INTO participants (platform, handle, display_name) VALUES (?1, ?2, ?3)",
                params![platform, handle, display_name],
            )
            .map_err(|e| self.e(e))?;
        Ok(self.tx.last_insert_rowid())
    }

    fn put_data_key(&mut self, k: &DataKeyRow) -> Result<()> {
        self.tx
            .execute(
                "INSERT OR REPLACE INTO data_keys (conversation, kek_id, wrapped) VALUES (?1, ?2, ?3)",
                params![k.conversation, k.kek_id, k.wrapped],
            )
            .map(drop)
            .map_err(|e| self.e(e))
    }

    fn data_key(&mut self, conversation: i64) -> Result<Option<DataKeyRow>> {
        data_key_on(&self.tx, &self.path, conversation)
    }

    fn exists(&mut self, conversation: i64, key: &DedupKey) -> Result<bool> {
        let r = match key {
            DedupKey::Source(s) => self
                .tx
                .prepare_cached("SELECT 1 FROM messages WHERE conversation = ?1 AND source_id = ?2")
                .and_then(|mut st| st.exists(params![conversation, s])),
            DedupKey::Fingerprint(f) => self
                .tx
                .prepare_cached(
                    "SELECT 1 FROM messages WHERE conversation = ?1 AND fingerprint = ?2",
                )
                .and_then(|mut st| st.exists(params![conversation, &f[..]])),
        };
        r.map_err(|e| self.e(e))
    }

    fn insert_message(&mut self, m: &MessageRow) -> Result<()> {
        let mut st = self
            .tx
            .prepare_cached(&format!(
                "INSERT INTO messages ({MESSAGE_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
            ))
            .map_err(|e| err(&self.path, e))?;
        st.execute(params![
            m.seq as i64,
            &m.id[..],
            m.conversation,
            m.source_id,
            m.fingerprint.as_ref().map(|f| &f[..]),
            m.sender,
            m.sender_name,
            m.sender_role,
            m.sent_at_ms,
            m.sent_offset_s,
            m.received_at_ms,
            m.kind,
            m.reply_to,
            m.target,
            m.tags,
            m.body,
            m.pii,
        ])
        .map(drop)
        .map_err(|e| err(&self.path, e))
    }

    fn put_hashes(&mut self, first: u64, hashes: &[[u8; 32]]) -> Result<()> {
        let mut st = self
            .tx
            .prepare_cached("INSERT INTO log_hashes (idx, hash) VALUES (?1, ?2)")
            .map_err(|e| err(&self.path, e))?;
        for (i, h) in hashes.iter().enumerate() {
            st.execute(params![(first + i as u64) as i64, &h[..]])
                .map_err(|e| err(&self.path, e))?;
        }
        Ok(())
    }

    fn put_attachment(
        &mut self,
        conversation: i64,
        sha256: &[u8; 32],
        sealed: &[u8],
    ) -> Result<()> {
        self.tx
            .execute(
                "INSERT OR IGNORE INTO attachments (conversation, sha256, sealed) VALUES (?1, ?2, ?3)",
                params![conversation, &sha256[..], sealed],
            )
            .map(drop)
            .map_err(|e| self.e(e))
    }

    fn put_checkpoint(&mut self, cp: &CheckpointRow) -> Result<()> {
        self.tx
            .execute(
                "INSERT OR IGNORE INTO checkpoints (size, root, note, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![cp.size as i64, &cp.root[..], cp.note, cp.created_at_ms],
            )
            .map(drop)
            .map_err(|e| self.e(e))
    }

    fn put_deletion(&mut self, d: &DeletionRow) -> Result<()> {
        let state = match d.state {
            DeletionState::Deleted => 1,
            DeletionState::Purged => 2,
        };
        self.tx
            .prepare_cached("INSERT OR REPLACE INTO deletions (seq, state, deleted_ms, recover_until_ms, purged_ms, leaf_hash, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
            .and_then(|mut st| st.execute(params![d.seq as i64, state, d.deleted_ms, d.recover_until_ms, d.purged_ms, &d.leaf_hash[..], d.reason]))
            .map(drop)
            .map_err(|e| self.e(e))
    }

    fn remove_deletion(&mut self, seq: u64) -> Result<bool> {
        self.tx
            .execute(
                "DELETE FROM deletions WHERE seq = ?1 AND state = 1",
                [seq as i64],
            )
            .map(|n| n > 0)
            .map_err(|e| self.e(e))
    }

    fn clear_body(&mut self, seq: u64) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE messages SET body = NULL WHERE seq = ?1")
            .and_then(|mut st| st.execute([seq as i64]))
            .map(drop)
            .map_err(|e| self.e(e))
    }

    fn live_count(&mut self, conversation: i64) -> Result<u64> {
        self.tx
            .prepare_cached(
                "SELECT count(*) FROM messages WHERE conversation = ?1 AND body IS NOT NULL",
            )
            .and_then(|mut st| st.query_row([conversation], |r| r.get::<_, i64>(0)))
            .map(|n| n as u64)
            .map_err(|e| self.e(e))
    }

    fn live_bodies(&mut self, conversation: i64) -> Result<Vec<([u8; 16], Vec<u8>)>> {
        let mut st = self
            .tx
            .prepare_cached(
                "SELECT id, body FROM messages WHERE conversation = ?1 AND body IS NOT NULL",
            )
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map([conversation], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(|e| self.e(e))?;
        let mut out = vec![];
        for row in rows {
            let (id, body) = row.map_err(|e| self.e(e))?;
            let id: [u8; 16] = id
                .try_into()
                .map_err(|_| StoreError::Corrupt("a message id is not 16 bytes".into()))?;
            out.push((id, body));
        }
        Ok(out)
    }

    fn attachment_shas(&mut self, conversation: i64) -> Result<Vec<[u8; 32]>> {
        let mut st = self
            .tx
            .prepare_cached("SELECT sha256 FROM attachments WHERE conversation = ?1")
            .map_err(|e| self.e(e))?;
        let rows = st
            .query_map([conversation], |r| r.get::<_, Vec<u8>>(0))
            .map_err(|e| self.e(e))?;
        let mut out = vec![];
        for row in rows {
            let h = row.map_err(|e| self.e(e))?;
            out.push(
                h.try_into().map_err(|_| {
                    StoreError::Corrupt("an attachment hash is not 32 bytes".into())
                })?,
            );
        }
        Ok(out)
    }

    fn delete_attachment(&mut self, conversation: i64, sha256: &[u8; 32]) -> Result<()> {
        self.tx
            .execute(
                "DELETE FROM attachments WHERE conversation = ?1 AND sha256 = ?2",
                params![conversation, &sha256[..]],
            )
            .map(drop)
            .map_err(|e| self.e(e))
    }

    fn delete_attachments(&mut self, conversation: i64) -> Result<u64> {
        self.tx
            .execute(
                "DELETE FROM attachments WHERE conversation = ?1",
                [conversation],
            )
            .map(|n| n as u64)
            .map_err(|e| self.e(e))
    }

    fn delete_data_key(&mut self, conversation: i64) -> Result<()> {
        self.tx
            .execute(
                "DELETE FROM data_keys WHERE conversation = ?1",
                [conversation],
            )
            .map(drop)
            .map_err(|e| self.e(e))
    }

    fn commit(self: Box<Self>) -> Result<()> {
        let path = self.path.clone();
        self.tx.commit().map_err(|e| err(&path, e))
    }
}
