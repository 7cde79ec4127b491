//! Consistent snapshots of a data folder (the store's own copy, `chatvault_store_sqlite::snapshot`),
//! and the state of the archive and the audit chain they hold.

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
        chatvault_store_sqlite::snapshot::copy_database(&src, &dst)?;
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
    if !db.exists() {
        return Ok(None);
    }
    Ok(chatvault_store_sqlite::snapshot::newest_audit_checkpoint(
        db,
    )?)
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
    let f = chatvault_store_sqlite::snapshot::archive_facts(db)?;
    Ok(ArchiveState {
        archive_id: f.archive_id.unwrap_or_default(),
        verifier_key: f.verifier_key.unwrap_or_default(),
        tree_size: f.checkpoint.as_ref().map_or(0, |c| c.0),
        root: f.checkpoint.as_ref().map(|c| hex::encode(&c.1)),
        checkpoint: f.checkpoint.map(|c| c.2),
        messages: f.messages,
    })
}
