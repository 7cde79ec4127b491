//! `chatvault-store-sqlite`: the embedded store, one SQLite file in the data folder,
//! implementing `chatvault-store`'s traits. Its schema and upgrade steps are the files in
//! `migrations/`; `tests/conformance.rs` runs the suite every store passes against it.
//! It also says which SQLite errors are a full or failing disk ([`is_storage_full`],
//! [`is_storage_failure`]), for every crate whose errors carry SQLite's.
//!
//! WAL journal with `synchronous=FULL` (a committed batch survives power loss), foreign
//! keys on, and `secure_delete` on so that purged content is overwritten, not just unlinked.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use chatvault_store::{
    CheckpointRow, ConversationRow, DataKeyRow, DedupKey, DeletionRow, DeletionState, MessageRow,
    ParticipantRow, Result, Store, StoreError, StoreRead, StoreStats, WriteTxn,
};

pub mod access;
/// The files as an attacker with the disk holds them: a plain SQLite connection of its
/// own, with none of chatvault's checks or triggers. For the tamper tests and campaigns,
/// which must edit or read the files as chatvault never would; no other crate depends on
/// the SQLite driver.
pub mod raw {
    pub use rusqlite::{params, Connection, OptionalExtension};
}
mod errors;
pub mod snapshot;
mod tiles;
pub use access::SqliteAccessOps;
pub mod summaries;
pub use errors::{is_storage_failure, is_storage_full, is_storage_full_under};
pub use summaries::SqliteSummaries;

const SCHEMA_VERSION: i64 = 5;

/// The schema for a new archive, and each upgrade step, as files (`migrations/`).
const SCHEMA: &str = include_str!("../migrations/schema_v5.sql");
/// `(from version, step)`: each step takes an archive from its version to the next.
const STEPS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/v1_to_v2.sql")),
    (2, include_str!("../migrations/v2_to_v3.sql")),
    (3, include_str!("../migrations/v3_to_v4.sql")),
    (4, include_str!("../migrations/v4_to_v5.sql")),
];

const MESSAGE_COLUMNS: &str =
    "seq, id, conversation, source_id, fingerprint, sender, sender_name, sender_role, \
     sent_at, sent_offset, received_at, kind, reply_to, target, tags, body, pii";

pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    /// The log's tiles read lately (`tiles`).
    tiles: tiles::Tiles,
}

impl SqliteStore {
    /// Opens (creating when absent) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(|e| err(path, e))?;
        let store = SqliteStore {
            conn,
            path: path.to_owned(),
            tiles: tiles::Tiles::default(),
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
                SCHEMA_VERSION => return Ok(()),
                // The log's hashes move into tiles: SQL for the table, code for the rows.
                // Long on a large archive: the write lock first, then the version again (a
                // second process may have upgraded it while this one waited).
                4 => {
                    self.conn
                        .execute_batch("BEGIN IMMEDIATE;")
                        .map_err(|e| self.e(e))?;
                    let step = (|| -> Result<()> {
                        let now: i64 = self
                            .conn
                            .query_row("PRAGMA user_version", [], |r| r.get(0))
                            .map_err(|e| self.e(e))?;
                        if now != 4 {
                            return Ok(());
                        }
                        self.conn.execute_batch(STEPS[3].1).map_err(|e| self.e(e))?;
                        tiles::upgrade(&self.conn, &self.path)?;
                        self.conn
                            .execute_batch("PRAGMA user_version = 5;")
                            .map_err(|e| self.e(e))
                    })();
                    match step {
                        Ok(()) => self.conn.execute_batch("COMMIT;").map_err(|e| self.e(e))?,
                        Err(e) => {
                            // The error that stopped it is the one to report.
                            let _ = self.conn.execute_batch("ROLLBACK;");
                            return Err(e);
                        }
                    }
                    continue;
                }
                found => match STEPS.iter().find(|(from, _)| *from == found) {
                    Some((from, sql)) => {
                        format!("BEGIN; {sql} PRAGMA user_version = {}; COMMIT;", from + 1)
                    }
                    None => {
                        return Err(StoreError::Schema {
                            path: self.path.display().to_string(),
                            found,
                            known: SCHEMA_VERSION,
                        })
                    }
                },
            };
            self.conn.execute_batch(&step).map_err(|e| self.e(e))?;
        }
    }

    /// Runs SQLite's own `PRAGMA integrity_check` and `foreign_key_check`.
    fn pragma_checks(&self) -> Result<Vec<String>> {
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

pub(crate) fn err(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Backend {
        path: path.display().to_string(),
        source: Box::new(source),
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

mod read;
mod write;
