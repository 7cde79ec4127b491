//! Encrypted, incremental backups of a chatvault data folder, their verification, and
//! restore.
//!
//! A backup is a set of files (consistent SQLite snapshots of `archive.db` and
//! `access.db`, taken with SQLite's online backup API, and the key files), cut into chunks
//! of 16 to 256 KiB (64 KiB on average) where the content says (FastCDC), so a change
//! re-uploads only the chunks around the pages it touched, wherever they are. Each chunk is encrypted with age to X25519 recipients and stored once, named by
//! the SHA-256 of its plaintext, under `chunks/`. A plaintext manifest under `manifests/`
//! lists, per file, its chunks with the hashes of plaintext and ciphertext, and records the
//! archive's signed checkpoint that the backup ends at.
//!
//! - **Incremental.** A backup uploads only the chunks its set (the last full backup and the
//!   incrementals after it) does not already hold. SQLite's backup API copies pages as they
//!   are, so an archive that grew by appending changes only its last chunks.
//! - **Auditable without keys.** `verify` checks that every chunk exists and hashes to what
//!   the manifest says, and that the checkpoint is signed by the archive's key. With the
//!   age identity it also decrypts every chunk and checks the plaintext.
//! - **Restorable with the standard age tool.** Every chunk is a plain age file.
//!
//! The search index is not backed up: it is derived, and a restore rebuilds it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, PutPayload};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod keys;
mod manifest;
mod snapshot;
mod target;

pub use keys::*;
pub use manifest::*;
pub use snapshot::*;
pub use target::*;

/// Chunk sizes (minimum, average, maximum): small enough that a one-message change (a few
/// SQLite pages spread over the file) re-uploads little, large enough to keep the object
/// count of a large archive moderate.
pub const CHUNK_MIN: usize = 16 << 10;
pub const CHUNK_AVG: usize = 64 << 10;
pub const CHUNK_MAX: usize = 256 << 10;

/// The content-defined pieces of `bytes`.
pub fn pieces(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    fastcdc::v2020::FastCDC::new(bytes, CHUNK_MIN, CHUNK_AVG, CHUNK_MAX)
        .map(move |c| &bytes[c.offset..c.offset + c.length])
}
pub const FORMAT: &str = "chatvault-backup/v1";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("backup target `{target}`: {why}")]
    Target { target: String, why: String },
    #[error("{object}: {why}")]
    Object { object: String, why: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A database file could not be copied or read; the message carries SQLite's cause.
    #[error("{}", chatvault_store::with_cause(.0))]
    Store(#[from] chatvault_store::StoreError),
    #[error("{0}")]
    Key(String),
    #[error("manifest {id}: {why}")]
    Manifest { id: String, why: String },
    #[error("no backup in {0}")]
    Empty(String),
    /// The backup is not the archive's own: unsigned, signed by another key, or its
    /// signature does not cover what it now says.
    #[error("manifest {id}: {why}")]
    Foreign { id: String, why: String },
}

impl BackupError {
    pub fn code(&self) -> &'static str {
        match self {
            BackupError::Target { .. } => "backup.target",
            BackupError::Object { .. } => "backup.object",
            BackupError::Io { .. } => "io",
            BackupError::Store(_) => "store",
            BackupError::Key(_) => "backup.key",
            BackupError::Manifest { .. } => "backup.manifest",
            BackupError::Empty(_) => "backup.empty",
            BackupError::Foreign { .. } => "backup.foreign",
        }
    }
}

pub type Result<T> = std::result::Result<T, BackupError>;

/// Signs a manifest's statement with the archive's key.
pub type Sign<'a> = &'a (dyn Fn(&str) -> std::result::Result<String, String> + Sync);

/// Options of one backup.
pub struct BackupOptions<'a> {
    pub recipients: &'a [String],
    pub full: bool,
    pub tier: &'a str,
    pub now_ms: i64,
    /// The archive's signature over the manifest (`Archive::sign_statement`).
    pub sign: Sign<'a>,
}

/// Backs up a data folder to `target`: a full backup when asked or when the target holds
/// none, else an incremental one on the latest set.
pub async fn backup(data: &Path, target: &Target, o: &BackupOptions<'_>) -> Result<Manifest> {
    if o.recipients.is_empty() {
        return Err(BackupError::Key(
            "no recipient: give --recipient age1… (see `chatvault backup keygen`)".into(),
        ));
    }
    let recipients: Vec<age::x25519::Recipient> = o
        .recipients
        .iter()
        .map(|r| parse_recipient(r))
        .collect::<Result<_>>()?;
    let existing = target.manifests().await?;
    let work = tempdir_in(data)?;
    let (files, state) = snapshot(data, work.path())?;
    let latest_set = existing
        .iter()
        .rev()
        .find(|m| m.kind == "full")
        .map(|m| m.set.clone());
    let (kind, set_id, id) = {
        let id = ulid::Ulid::from_parts(o.now_ms as u64, ulid::Ulid::new().random()).to_string();
        match (&latest_set, o.full) {
            (Some(s), false) => ("incremental", s.clone(), id),
            _ => ("full", id.clone(), id),
        }
    };
    // Chunks already in this set need not be uploaded again.
    let mut have: std::collections::HashMap<String, ChunkRef> = Default::default();
    if kind == "incremental" {
        for m in existing.iter().filter(|m| m.set == set_id) {
            for f in &m.files {
                for c in &f.chunks {
                    have.insert(c.sha256.clone(), c.clone());
                }
            }
        }
    }
    let mut entries = vec![];
    let (mut uploaded, mut uploaded_bytes) = (0u64, 0u64);
    for (name, path) in &files {
        let bytes = std::fs::read(path).map_err(|source| BackupError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut chunks = vec![];
        for piece in pieces(&bytes) {
            let sha = sha_hex(piece);
            if let Some(c) = have.get(&sha) {
                chunks.push(c.clone());
                continue;
            }
            let cipher = encrypt(&recipients, piece)?;
            let c = ChunkRef {
                sha256: sha.clone(),
                size: piece.len() as u64,
                object_sha256: sha_hex(&cipher),
            };
            uploaded += 1;
            uploaded_bytes += cipher.len() as u64;
            target.put(&format!("chunks/{sha}.age"), cipher).await?;
            have.insert(sha, c.clone());
            chunks.push(c);
        }
        entries.push(FileEntry {
            name: name.clone(),
            size: bytes.len() as u64,
            sha256: sha_hex(&bytes),
            chunks,
        });
    }
    let created_at = chrono::DateTime::from_timestamp_millis(o.now_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    let mut m = Manifest {
        format: FORMAT.into(),
        id: id.clone(),
        created_at,
        created_ms: o.now_ms,
        kind: kind.into(),
        set: set_id,
        tier: o.tier.to_owned(),
        recipients: o.recipients.iter().map(|r| r.trim().to_owned()).collect(),
        archive: state,
        files: entries,
        uploaded_chunks: uploaded,
        uploaded_bytes,
        audit_head: audit_head(&work.path().join("access.db"))?,
        signature: None,
        object_name: None,
    };
    m.signature = Some(
        (o.sign)(&manifest_statement(&m)).map_err(|why| BackupError::Manifest {
            id: id.clone(),
            why: format!("signing it with the archive's key: {why}"),
        })?,
    );
    let json = serde_json::to_vec_pretty(&m).map_err(|e| BackupError::Manifest {
        id: id.clone(),
        why: e.to_string(),
    })?;
    // The manifest last: a backup interrupted before it is not a backup.
    target.put(&format!("manifests/{id}.json"), json).await?;
    Ok(m)
}

struct TempDir(PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A scratch folder beside the data (same file system, same permissions), removed after.
fn tempdir_in(data: &Path) -> Result<TempDir> {
    let p = data.join(format!(".backup-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&p).map_err(|source| BackupError::Io {
        path: p.display().to_string(),
        source,
    })?;
    Ok(TempDir(p))
}

/// One finding of a backup check.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub manifest: String,
    /// The file and the object at fault.
    pub file: Option<String>,
    pub object: Option<String>,
    pub what: String,
}

#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    pub manifests: u64,
    pub chunks_checked: u64,
    /// Whether the chunks were decrypted (an identity was given).
    pub decrypted: bool,
    pub problems: Vec<Problem>,
}

/// Checks every manifest: every chunk exists and hashes as recorded (and, with
/// identities, decrypts to the recorded plaintext), every file's chunks add up to its
/// hash, and the checkpoint is signed by the archive's key (checked by `check_note`).
pub async fn verify(
    target: &Target,
    identities: Option<&[age::x25519::Identity]>,
    check_note: &dyn Fn(&str, &str) -> std::result::Result<(), String>,
    expect_key: Option<&str>,
) -> Result<VerifyReport> {
    let manifests = target.manifests().await?;
    if manifests.is_empty() {
        return Err(BackupError::Empty(target.display.clone()));
    }
    let mut problems = vec![];
    // Without any key: every manifest is signed by the key it names, under the name of
    // its id, and every key is the target's archive's (pinned, or the one they share).
    let key = match target_key(&manifests, expect_key) {
        Ok(k) => k,
        Err(why) => {
            problems.push(Problem {
                manifest: String::new(),
                file: None,
                object: None,
                what: why,
            });
            None
        }
    };
    for m in &manifests {
        let problem = |what: String| Problem {
            manifest: m.id.clone(),
            file: None,
            object: None,
            what,
        };
        if let Err(e) = check_signature(m) {
            problems.push(problem(e));
        }
        let mine = manifest_key(m);
        if let Some(k) = key.as_deref().filter(|k| *k != mine) {
            problems.push(problem(format!(
                "it belongs to another archive (key {mine}), not this target's ({k}): a foreign backup was put here"
            )));
        }
        if m.object_name
            .as_deref()
            .is_some_and(|n| n != format!("{}.json", m.id))
        {
            problems.push(problem(format!(
                "it is stored as `{}`, not under its own id: a manifest was copied or renamed",
                m.object_name.as_deref().unwrap_or_default()
            )));
        }
    }
    let mut checked = std::collections::HashMap::<String, std::result::Result<(), String>>::new();
    for m in &manifests {
        if let Some(note) = &m.archive.checkpoint {
            if let Err(e) = check_note(note, &m.archive.verifier_key) {
                problems.push(Problem {
                    manifest: m.id.clone(),
                    file: None,
                    object: None,
                    what: format!("its checkpoint: {e}"),
                });
            }
        }
        for f in &m.files {
            let mut whole = Sha256::new();
            let mut complete = true;
            for c in &f.chunks {
                let rel = format!("chunks/{}.age", c.sha256);
                let outcome = match checked.get(&rel) {
                    Some(r) if identities.is_none() => r.clone(),
                    _ => {
                        let r = check_chunk(target, &rel, c, identities, &mut whole).await;
                        checked.insert(rel.clone(), r.clone());
                        r
                    }
                };
                if let Err(what) = outcome {
                    complete = false;
                    problems.push(Problem {
                        manifest: m.id.clone(),
                        file: Some(f.name.clone()),
                        object: Some(format!("{}/{rel}", target.display.trim_end_matches('/'))),
                        what,
                    });
                }
            }
            if identities.is_some() && complete && hex::encode(whole.finalize()) != f.sha256 {
                problems.push(Problem {
                    manifest: m.id.clone(),
                    file: Some(f.name.clone()),
                    object: None,
                    what: "its chunks do not add up to the file's hash".into(),
                });
            }
        }
    }
    Ok(VerifyReport {
        ok: problems.is_empty(),
        manifests: manifests.len() as u64,
        chunks_checked: checked.len() as u64,
        decrypted: identities.is_some(),
        problems,
    })
}

async fn check_chunk(
    target: &Target,
    rel: &str,
    c: &ChunkRef,
    identities: Option<&[age::x25519::Identity]>,
    whole: &mut Sha256,
) -> std::result::Result<(), String> {
    let cipher = match target.get(rel).await {
        Ok(b) => b,
        Err(BackupError::Object { why, .. }) => {
            return Err(format!("missing or unreadable: {why}"))
        }
        Err(e) => return Err(e.to_string()),
    };
    if sha_hex(&cipher) != c.object_sha256 {
        return Err("the stored object changed: its hash differs from the manifest".into());
    }
    if let Some(ids) = identities {
        let plain = decrypt(ids, rel, &cipher).map_err(|e| e.to_string())?;
        if sha_hex(&plain) != c.sha256 || plain.len() as u64 != c.size {
            return Err("decrypts to other bytes than the manifest records".into());
        }
        whole.update(&plain);
    }
    Ok(())
}

/// Restores the files of one backup (`id`, or the latest) into `dest`, which must not
/// exist or be empty. Every chunk is checked before anything is written.
pub async fn restore(
    target: &Target,
    id: Option<&str>,
    identities: &[age::x25519::Identity],
    dest: &Path,
    expect_key: Option<&str>,
    allow_unsigned: bool,
) -> Result<Manifest> {
    let manifests = target.manifests().await?;
    let foreign = |id: &str, why: String| BackupError::Foreign {
        id: id.to_owned(),
        why,
    };
    let key = target_key(&manifests, expect_key).map_err(|why| foreign("(all)", why))?;
    // The latest is chosen among the pinned archive's signed backups, by what they
    // signed (their time), never by a file name someone could choose.
    let m = match id {
        Some(id) => {
            manifests
                .into_iter()
                .find(|m| m.id == id)
                .ok_or_else(|| BackupError::Manifest {
                    id: id.to_owned(),
                    why: "no such backup".into(),
                })?
        }
        None => manifests
            .iter()
            .filter(|m| {
                check_signature(m).is_ok()
                    && key.as_deref().is_none_or(|k| manifest_key(m) == k)
                    && m.object_name
                        .as_deref()
                        .is_none_or(|n| n == format!("{}.json", m.id))
            })
            .max_by_key(|m| (m.created_ms, m.archive.tree_size))
            .cloned()
            // None qualifies: the newest, so that the checks below say why it does not.
            .or_else(|| manifests.last().cloned())
            .ok_or_else(|| BackupError::Empty(target.display.clone()))?,
    };
    if m.object_name
        .as_deref()
        .is_some_and(|n| n != format!("{}.json", m.id))
    {
        return Err(foreign(
            &m.id,
            format!(
                "it is stored as `{}`, not under its own id: a manifest was copied or renamed",
                m.object_name.as_deref().unwrap_or_default()
            ),
        ));
    }
    // Only the archive's own, unchanged backup is restored: signed by its key, and that
    // key the pinned one (or the one the target's backups share). A backup made before
    // manifests were signed is restored only when asked for (`--allow-unsigned`).
    match check_signature(&m) {
        Ok(()) => {}
        Err(_) if allow_unsigned && m.signature.is_none() => {}
        Err(why) => return Err(foreign(&m.id, why)),
    }
    let mine = manifest_key(&m);
    if let Some(k) = key.filter(|k| *k != mine) {
        return Err(foreign(
            &m.id,
            format!(
                "it belongs to the archive with key {mine}, not {k}{}",
                if expect_key.is_some() {
                    " (--expect-key)"
                } else {
                    " (the archive of this target's other backups): pass --expect-key to restore it knowingly"
                }
            ),
        ));
    }
    if dest.exists()
        && std::fs::read_dir(dest)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(BackupError::Io {
            path: dest.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "the restore target exists and is not empty",
            ),
        });
    }
    let staging = dest.with_extension("restoring");
    let _ = std::fs::remove_dir_all(&staging);
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |source| BackupError::Io { path: p, source }
    };
    for f in &m.files {
        if f.name.contains("..") || f.name.starts_with('/') {
            return Err(BackupError::Manifest {
                id: m.id.clone(),
                why: format!("file name `{}` leaves the data folder", f.name),
            });
        }
        let mut bytes = Vec::with_capacity(f.size as usize);
        for c in &f.chunks {
            let rel = format!("chunks/{}.age", c.sha256);
            let cipher = target.get(&rel).await?;
            let object = format!("{}/{rel}", target.display.trim_end_matches('/'));
            if sha_hex(&cipher) != c.object_sha256 {
                return Err(BackupError::Object {
                    object,
                    why: "the stored object changed: its hash differs from the manifest".into(),
                });
            }
            let plain = decrypt(identities, &object, &cipher)?;
            if sha_hex(&plain) != c.sha256 {
                return Err(BackupError::Object {
                    object,
                    why: "decrypts to other bytes than the manifest records".into(),
                });
            }
            bytes.extend_from_slice(&plain);
        }
        if sha_hex(&bytes) != f.sha256 {
            return Err(BackupError::Manifest {
                id: m.id.clone(),
                why: format!("{}: the chunks do not add up to the file's hash", f.name),
            });
        }
        let out = staging.join(&f.name);
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&out, &bytes).map_err(io(&out))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if f.name.starts_with("keys/") || f.name == "access.db" {
                let _ = std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o600));
            }
        }
    }
    // What was written is what was signed: the archive's identity and the audit head.
    let restored = archive_state(&staging.join("archive.db"))?;
    let head = audit_head(&staging.join("access.db"))?;
    if restored.verifier_key != m.archive.verifier_key
        || restored.archive_id != m.archive.archive_id
        || (m.signature.is_some() && head != m.audit_head)
    {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(BackupError::Foreign {
            id: m.id.clone(),
            why: "the restored files are not those the manifest signs (archive key, id or audit head differ)".into(),
        });
    }
    let _ = std::fs::remove_dir(dest);
    std::fs::rename(&staging, dest).map_err(io(dest))?;
    Ok(m)
}

/// Removes backup sets older than `keep_days` for their tier (their newest backup's
/// time counts), then every chunk no remaining manifest references. A purge thus reaches
/// the backups once every set that holds the purged content has expired. The latest set
/// is always kept.
pub async fn prune(
    target: &Target,
    keep_days: &std::collections::BTreeMap<String, u32>,
    now_ms: i64,
) -> Result<PruneReport> {
    let manifests = target.manifests().await?;
    let latest_set = manifests
        .iter()
        .rev()
        .find(|m| m.kind == "full")
        .map(|m| m.set.clone());
    let mut newest: std::collections::BTreeMap<String, (i64, String)> = Default::default();
    for m in &manifests {
        let e = newest
            .entry(m.set.clone())
            .or_insert((m.created_ms, m.tier.clone()));
        e.0 = e.0.max(m.created_ms);
    }
    let expired: std::collections::BTreeSet<String> = newest
        .iter()
        .filter(|(set, (t, tier))| {
            Some(*set) != latest_set.as_ref()
                && keep_days
                    .get(tier)
                    .is_some_and(|d| *t + *d as i64 * 86_400_000 <= now_ms)
        })
        .map(|(s, _)| s.clone())
        .collect();
    let mut report = PruneReport::default();
    let mut live = std::collections::BTreeSet::new();
    for m in &manifests {
        if expired.contains(&m.set) {
            target.delete(&format!("manifests/{}.json", m.id)).await?;
            report.manifests_removed += 1;
        } else {
            live.extend(
                m.files
                    .iter()
                    .flat_map(|f| f.chunks.iter().map(|c| c.sha256.clone())),
            );
        }
    }
    let mut all = std::collections::BTreeSet::new();
    for m in &manifests {
        all.extend(
            m.files
                .iter()
                .flat_map(|f| f.chunks.iter().map(|c| c.sha256.clone())),
        );
    }
    for sha in all.difference(&live) {
        let rel = format!("chunks/{sha}.age");
        if target.exists(&rel).await? {
            target.delete(&rel).await?;
            report.chunks_removed += 1;
        }
    }
    report.sets_removed = expired.len() as u64;
    Ok(report)
}

#[derive(Debug, Default, Serialize)]
pub struct PruneReport {
    pub sets_removed: u64,
    pub manifests_removed: u64,
    pub chunks_removed: u64,
}
