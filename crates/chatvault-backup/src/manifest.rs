//! A backup's manifest: its files and chunks with their hashes, the archive's state it
//! ends at, and its signature by the archive's key.

use super::*;

/// One chunk of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    /// SHA-256 of the plaintext: the object's name.
    pub sha256: String,
    pub size: u64,
    /// SHA-256 of the stored (encrypted) object, so a backup is checked without the key.
    pub object_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the data folder (`archive.db`, `keys/kek`, …).
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub chunks: Vec<ChunkRef>,
}

/// The archive's state a backup ends at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveState {
    pub archive_id: String,
    pub verifier_key: String,
    /// The latest signed checkpoint (C2SP signed note) in the snapshot.
    pub checkpoint: Option<String>,
    pub tree_size: u64,
    /// Hex root of the checkpoint.
    pub root: Option<String>,
    pub messages: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub id: String,
    pub created_at: String,
    pub created_ms: i64,
    /// `full` or `incremental`.
    pub kind: String,
    /// The full backup this one builds on (itself for a full backup).
    pub set: String,
    /// A label for retention of backup sets (`manual`, `hourly`, `weekly`, `event`, …).
    pub tier: String,
    pub recipients: Vec<String>,
    pub archive: ArchiveState,
    pub files: Vec<FileEntry>,
    /// Chunks this backup uploaded (the others were already in its set).
    pub uploaded_chunks: u64,
    pub uploaded_bytes: u64,
    /// The newest signed checkpoint of the audit chain in the backed-up `access.db`: the
    /// users, grants and audit trail restored are those this head signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_head: Option<String>,
    /// A signed note by the archive's key over [`manifest_statement`]: the file list and
    /// hashes, the checkpoint and the audit head cannot change, nor come from another
    /// archive, without it failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The object name it was read from (not part of the manifest).
    #[serde(skip)]
    pub object_name: Option<String>,
}

/// What a manifest's signature signs: its id and the SHA-256 of the manifest as JSON
/// without its signature.
pub fn manifest_statement(m: &Manifest) -> String {
    let unsigned = Manifest {
        signature: None,
        object_name: None,
        ..m.clone()
    };
    let json = serde_json::to_vec(&unsigned).unwrap_or_default();
    format!("{FORMAT} manifest\n{}\nsha256:{}\n", m.id, sha_hex(&json))
}

/// The key fingerprint (`sha256:…`) of the archive that made a manifest.
pub fn manifest_key(m: &Manifest) -> String {
    chatvault_ledger::key_fingerprint(&m.archive.verifier_key)
}

/// Checks a manifest's signature: present, made by the key the manifest names, over
/// what the manifest says now.
pub fn check_signature(m: &Manifest) -> std::result::Result<(), String> {
    let Some(sig) = &m.signature else {
        return Err("it is not signed (written by a version before signatures, or by someone without the archive's key)".into());
    };
    let text = chatvault_ledger::verify_text(sig, &m.archive.verifier_key)
        .map_err(|e| format!("its signature is not the archive key's: {e}"))?;
    if text != manifest_statement(m) {
        return Err("it was changed after it was signed (its files, hashes, checkpoint or audit head differ from what the archive signed)".into());
    }
    Ok(())
}

/// The archive a target's backups belong to: the key `expect` names, or else the one key
/// every validly signed backup there shares. A target holding backups signed by several
/// keys has no default: someone put another archive's backups there, and which one is
/// meant must be said (`--expect-key`). `Err` lists the keys.
pub(crate) fn target_key(
    manifests: &[Manifest],
    expect: Option<&str>,
) -> std::result::Result<Option<String>, String> {
    if let Some(k) = expect {
        return Ok(Some(k.trim().to_owned()));
    }
    let mut keys: Vec<String> = manifests
        .iter()
        .filter(|m| check_signature(m).is_ok())
        .map(manifest_key)
        .collect();
    keys.sort();
    keys.dedup();
    match keys.len() {
        0 => Ok(None),
        1 => Ok(keys.pop()),
        _ => Err(format!(
            "the target holds backups of {} archives ({}): say which with --expect-key",
            keys.len(),
            keys.join(", ")
        )),
    }
}
