//! Where the key-encryption key comes from, and how it is checked and rotated.
//!
//! Sources, recorded in the archive's metadata at `init`:
//! - `file`: `DATA/keys/kek`, created with mode 0600 (the default);
//! - `env`: the `CHATVAULT_KEY` environment variable (base64 or hex, 32 bytes);
//! - `passphrase`: `CHATVAULT_PASSPHRASE`, stretched with argon2id and a salt stored in the
//!   archive.
//!
//! The archive stores a check value sealed under the KEK, so a wrong key fails with a clear
//! error naming the expected key id instead of producing garbage.
//!
//! Rotation with a key file is crash-safe: the new key is written to `kek.new` first, the
//! data keys are re-wrapped in one transaction, then the old file moves to
//! `keys/retired/kek-<id>` and `kek.new` becomes `kek`. On open, a `kek.new` that opens the
//! archive finishes an interrupted rotation.

use std::io::Write;
use std::path::{Path, PathBuf};

use chatvault_crypto::Kek;
use zeroize::Zeroizing;

use crate::ArchiveError;

pub(crate) const CHECK_PLAINTEXT: &[u8] = b"chatvault key check v1";
pub(crate) const CHECK_BINDING: &[u8] = b"kek-check";
pub(crate) const SIGNING_BINDING: &[u8] = b"checkpoint-signing-key";

/// Key material the caller can offer; the archive picks what its metadata says it uses.
#[derive(Default, Clone)]
pub struct KeyProvider {
    /// The text of `CHATVAULT_KEY`.
    pub env_key: Option<Zeroizing<String>>,
    /// The text of `CHATVAULT_PASSPHRASE`.
    pub passphrase: Option<Zeroizing<String>>,
    /// For rotation: `CHATVAULT_NEW_KEY` / `CHATVAULT_NEW_PASSPHRASE`.
    pub new_env_key: Option<Zeroizing<String>>,
    pub new_passphrase: Option<Zeroizing<String>>,
}

impl KeyProvider {
    /// Reads the `CHATVAULT_*` key variables.
    pub fn from_env() -> Self {
        let get = |k: &str| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .map(Zeroizing::new)
        };
        KeyProvider {
            env_key: get("CHATVAULT_KEY"),
            passphrase: get("CHATVAULT_PASSPHRASE"),
            new_env_key: get("CHATVAULT_NEW_KEY"),
            new_passphrase: get("CHATVAULT_NEW_PASSPHRASE"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySourceKind {
    File,
    Env,
    Passphrase,
}

impl KeySourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeySourceKind::File => "file",
            KeySourceKind::Env => "env",
            KeySourceKind::Passphrase => "passphrase",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "file" => Some(KeySourceKind::File),
            "env" => Some(KeySourceKind::Env),
            "passphrase" => Some(KeySourceKind::Passphrase),
            _ => None,
        }
    }
}

/// The files of a data folder.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Self {
        Layout {
            root: root.to_owned(),
        }
    }
    pub fn db(&self) -> PathBuf {
        self.root.join("archive.db")
    }
    pub fn index(&self) -> PathBuf {
        self.root.join("index")
    }
    pub fn keys(&self) -> PathBuf {
        self.root.join("keys")
    }
    pub fn key_file(&self) -> PathBuf {
        self.keys().join("kek")
    }
    pub fn new_key_file(&self) -> PathBuf {
        self.keys().join("kek.new")
    }
    pub fn retired(&self) -> PathBuf {
        self.keys().join("retired")
    }
    pub fn lock(&self) -> PathBuf {
        self.root.join("write.lock")
    }
}

pub(crate) fn io_err(path: &Path, source: std::io::Error) -> ArchiveError {
    ArchiveError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes a secret file with mode 0600, durably, without ever leaving it world-readable.
pub(crate) fn write_secret_file(path: &Path, text: &str) -> Result<(), ArchiveError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(|e| io_err(path, e))?;
    f.write_all(text.as_bytes()).map_err(|e| io_err(path, e))?;
    f.sync_all().map_err(|e| io_err(path, e))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err(dir, e))?;
    }
    Ok(())
}

pub(crate) fn read_key_file(path: &Path) -> Result<Kek, ArchiveError> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ArchiveError::Key(format!(
            "key file {} is missing: restore it from your backup (without it the archive cannot be read)",
            path.display()
        )),
        _ => io_err(path, e),
    })?);
    Kek::parse(&text).map_err(|e| ArchiveError::Key(format!("key file {}: {e}", path.display())))
}

pub(crate) fn kek_from_text(text: &str, var: &str) -> Result<Kek, ArchiveError> {
    Kek::parse(text).map_err(|e| ArchiveError::Key(format!("{var}: {e}")))
}

pub(crate) fn kek_from_passphrase(pass: &str, salt: &[u8]) -> Result<Kek, ArchiveError> {
    if pass.chars().count() < 12 {
        return Err(ArchiveError::Key(
            "the passphrase must have at least 12 characters".into(),
        ));
    }
    Kek::from_passphrase(pass.as_bytes(), salt).map_err(|e| ArchiveError::Key(e.to_string()))
}
