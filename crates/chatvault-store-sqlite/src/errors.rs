//! Which errors are a full or a failing disk. SQLite reports some of these only through
//! its own error codes, so the check lives beside the SQLite store; the operating
//! system's own errors (and the wording libraries keep of them) are recognised too.

/// Whether an error from writing under `dir` comes from a full disk: one that says so
/// ([`is_storage_full`]), or SQLite's plain I/O error while the disk holding `dir` has
/// (almost) no space left. SQLite reports a write that ran out of space in its shared
/// memory or journal as a plain I/O error (`SQLITE_IOERR_SHMSIZE`, `…_WRITE`), without
/// the cause, so the space left is asked of the file system.
pub fn is_storage_full_under(e: &(dyn std::error::Error + 'static), dir: &std::path::Path) -> bool {
    if is_storage_full(e) {
        return true;
    }
    let io = causes(e).any(|c| sqlite_code(c) == Some(rusqlite::ErrorCode::SystemIoFailure));
    // The folder itself, else the nearest one that exists.
    let probe = dir.ancestors().find(|p| p.exists());
    io && probe
        .and_then(|p| fs4::available_space(p).ok())
        .is_some_and(|free| free < 1 << 20)
}

/// Whether an error, or anything in its chain of causes, is the disk failing a read, a
/// write or a flush (`EIO`; SQLite's `SQLITE_IOERR_*`, a failed `fsync` among them) and
/// not a full disk ([`is_storage_full`] is asked first). The front ends answer these with
/// `storage.io`: nothing beyond what was reported committed is acknowledged.
pub fn is_storage_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    causes(e).any(|c| {
        // What tantivy keeps when it drops the type: the operating system's wording, or
        // its debug form (`Os { code: 5, … }`); and a writer thread that died, whose
        // cause tantivy does not keep ("io::Error most likely", it says).
        let text = c.to_string();
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.raw_os_error() == Some(5))
            || sqlite_code(c) == Some(rusqlite::ErrorCode::SystemIoFailure)
            || [
                "Input/output error (os error 5)",
                "Os { code: 5,",
                "An index writer was killed",
            ]
            .iter()
            .any(|w| text.contains(w))
    })
}

/// An error and its chain of causes.
fn causes<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |c| c.source())
}

/// SQLite's primary code, when the error is SQLite's.
fn sqlite_code(c: &(dyn std::error::Error + 'static)) -> Option<rusqlite::ErrorCode> {
    c.downcast_ref::<rusqlite::Error>()
        .and_then(rusqlite::Error::sqlite_error_code)
}

/// Whether an error, or anything in its chain of causes, says the disk is full: SQLite's
/// `SQLITE_FULL`, an I/O error `ENOSPC`/`EDQUOT` (or `StorageFull`), or a library that
/// kept only the message of one (tantivy, the backup writer). The front ends answer
/// these with the stable code `storage.full`.
pub fn is_storage_full(e: &(dyn std::error::Error + 'static)) -> bool {
    causes(e).any(|c| {
        // Only the operating system's own wording (with its error number), which
        // tantivy and the backup writer keep when they drop the typed error: a name or
        // other text a caller sent cannot pass for it.
        let text = c.to_string();
        c.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(io.raw_os_error(), Some(28) | Some(122))
                || matches!(
                    io.kind(),
                    std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
                )
        }) || sqlite_code(c) == Some(rusqlite::ErrorCode::DiskFull)
            || [
                "No space left on device (os error 28)",
                "Disk quota exceeded (os error 122)",
                // The same errors as tantivy prints them when it keeps only the debug
                // form (writing a segment's deletions, say).
                "Os { code: 28, kind: StorageFull,",
                "Os { code: 122, kind: QuotaExceeded,",
            ]
            .iter()
            .any(|w| text.contains(w))
    })
}

#[cfg(test)]
mod tests {
    use super::is_storage_full;

    #[derive(Debug)]
    struct Text(&'static str);
    impl std::fmt::Display for Text {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Text {}

    #[test]
    fn a_full_disk_in_every_wording() {
        for (name, e, full) in [
            (
                "io error",
                Box::new(std::io::Error::from_raw_os_error(28)) as Box<dyn std::error::Error>,
                true,
            ),
            (
                "tantivy, display form",
                Box::new(Text(
                    "Failed to write: No space left on device (os error 28)",
                )),
                true,
            ),
            (
                "tantivy, debug form (a segment's .del file)",
                Box::new(Text(
                    r#"IoError { io_error: Custom { kind: StorageFull, error: PathError { path: "/d/index/.tmpZe5gNW", err: Os { code: 28, kind: StorageFull, message: "No space left on device" } } }, filepath: "e.2001.del" }"#,
                )),
                true,
            ),
            (
                "quota, debug form",
                Box::new(Text(
                    r#"Os { code: 122, kind: QuotaExceeded, message: "Disk quota exceeded" }"#,
                )),
                true,
            ),
            (
                "permission denied",
                Box::new(std::io::Error::from_raw_os_error(13)),
                false,
            ),
            (
                "the words alone",
                Box::new(Text("No space left on device")),
                false,
            ),
        ] {
            assert_eq!(is_storage_full(e.as_ref()), full, "{name}");
        }
    }
}
