//! What backups need of the SQLite files: a consistent copy of a live database (SQLite's
//! online backup API, so writers go on meanwhile), and the few facts a backup records
//! of the copies it made (the archive's identity and newest checkpoint, the audit
//! chain's newest signed checkpoint).

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use chatvault_store::{Result, StoreError};

fn err(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| crate::err(path, e)
}

fn read_only(db: &Path) -> Result<Connection> {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(err(db))
}

/// Copies the live database `src` to `dst` consistently, as one file (no WAL beside it).
pub fn copy_database(src: &Path, dst: &Path) -> Result<()> {
    let from = read_only(src)?;
    let mut to = Connection::open(dst).map_err(err(dst))?;
    {
        let b = rusqlite::backup::Backup::new(&from, &mut to).map_err(err(src))?;
        b.run_to_completion(1024, std::time::Duration::from_millis(0), None)
            .map_err(err(src))?;
    }
    to.execute_batch("PRAGMA journal_mode = DELETE;")
        .map_err(err(dst))
}

/// The newest signed audit checkpoint (its note) of an `access.db`.
pub fn newest_audit_checkpoint(db: &Path) -> Result<Option<String>> {
    read_only(db)?
        .query_row(
            "SELECT note FROM audit_checkpoints ORDER BY size DESC LIMIT 1",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()
        .map_err(err(db))
}

/// What a backup records of an `archive.db`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArchiveFacts {
    pub archive_id: Option<String>,
    pub verifier_key: Option<String>,
    /// The newest checkpoint: tree size, root, signed note.
    pub checkpoint: Option<(u64, Vec<u8>, String)>,
    pub messages: u64,
}

/// The archive id, verifier key, newest checkpoint and message count of an `archive.db`.
pub fn archive_facts(db: &Path) -> Result<ArchiveFacts> {
    let c = read_only(db)?;
    let meta = |k: &str| -> Result<Option<String>> {
        c.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| {
            r.get::<_, Vec<u8>>(0)
        })
        .optional()
        .map(|v| v.map(|b| String::from_utf8_lossy(&b).into_owned()))
        .map_err(err(db))
    };
    let checkpoint: Option<(i64, Vec<u8>, String)> = c
        .query_row(
            "SELECT size, root, note FROM checkpoints ORDER BY size DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(err(db))?;
    let messages: i64 = c
        .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .map_err(err(db))?;
    Ok(ArchiveFacts {
        archive_id: meta("archive_id")?,
        verifier_key: meta("verifier_key")?,
        checkpoint: checkpoint.map(|(s, r, n)| (s.max(0) as u64, r, n)),
        messages: messages.max(0) as u64,
    })
}
