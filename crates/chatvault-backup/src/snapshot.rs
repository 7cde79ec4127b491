//! Consistent snapshots of a data folder (SQLite's online backup API), and the state of
//! the archive and the audit chain they hold.

use super::*;

/// The files of a data folder to back up, snapshotted consistently into `work`.
pub fn snapshot(data: &Path, work: &Path) -> Result<(Vec<(String, PathBuf)>, ArchiveState)> {
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |source| BackupError::Io { path: p, source }
    };
    std::fs::create_dir_all(work).map_err(io(work))?;
    let mut files = vec![];
    for db in ["archive.db", "access.db"] {
        let src = data.join(db);
        if !src.exists() {
            continue;
        }
        let dst = work.join(db);
        let sql = |e| BackupError::Sqlite {
            path: src.display().to_string(),
            source: e,
        };
        let from =
            rusqlite::Connection::open_with_flags(&src, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(sql)?;
        let mut to = rusqlite::Connection::open(&dst).map_err(sql)?;
        {
            let b = rusqlite::backup::Backup::new(&from, &mut to).map_err(sql)?;
            b.run_to_completion(1024, std::time::Duration::from_millis(0), None)
                .map_err(sql)?;
        }
        // One file, no WAL beside it.
        to.execute_batch("PRAGMA journal_mode = DELETE;")
            .map_err(sql)?;
        files.push((db.to_owned(), dst));
    }
    if !files.iter().any(|(n, _)| n == "archive.db") {
        return Err(BackupError::Io {
            path: data.join("archive.db").display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not a chatvault data folder",
            ),
        });
    }
    for dir in ["keys"] {
        let base = data.join(dir);
        if let Ok(rd) = walk(&base) {
            for p in rd {
                let rel = p
                    .strip_prefix(data)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .replace('\\', "/");
                files.push((rel, p));
            }
        }
    }
    let state = archive_state(&work.join("archive.db"))?;
    Ok((files, state))
}

/// The newest signed audit checkpoint of an `access.db`.
pub fn audit_head(db: &Path) -> Result<Option<String>> {
    use rusqlite::OptionalExtension;
    if !db.exists() {
        return Ok(None);
    }
    let sql = |e| BackupError::Sqlite {
        path: db.display().to_string(),
        source: e,
    };
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sql)?;
    c.query_row(
        "SELECT note FROM audit_checkpoints ORDER BY size DESC LIMIT 1",
        [],
        |r| r.get::<_, String>(0),
    )
    .optional()
    .map_err(sql)
}

pub(crate) fn walk(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            out.extend(walk(&p)?);
        } else {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// The archive id, verifier key and latest checkpoint of an `archive.db`.
pub fn archive_state(db: &Path) -> Result<ArchiveState> {
    let sql = |e| BackupError::Sqlite {
        path: db.display().to_string(),
        source: e,
    };
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sql)?;
    let meta = |k: &str| -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        c.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| {
            r.get::<_, Vec<u8>>(0)
        })
        .optional()
        .map(|v| v.map(|b| String::from_utf8_lossy(&b).into_owned()))
        .map_err(sql)
    };
    let cp: Option<(i64, Vec<u8>, String)> = {
        use rusqlite::OptionalExtension;
        c.query_row(
            "SELECT size, root, note FROM checkpoints ORDER BY size DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(sql)?
    };
    let messages: i64 = c
        .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .map_err(sql)?;
    Ok(ArchiveState {
        archive_id: meta("archive_id")?.unwrap_or_default(),
        verifier_key: meta("verifier_key")?.unwrap_or_default(),
        tree_size: cp.as_ref().map_or(0, |c| c.0 as u64),
        root: cp.as_ref().map(|c| hex::encode(&c.1)),
        checkpoint: cp.map(|c| c.2),
        messages: messages as u64,
    })
}
