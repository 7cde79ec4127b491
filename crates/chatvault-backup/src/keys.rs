//! age keys: generating an identity, reading recipients and identities, and encrypting
//! and decrypting one chunk.

use super::*;

/// Generates an age identity: (the secret `AGE-SECRET-KEY-1…`, its public recipient `age1…`).
pub fn keygen() -> (zeroize::Zeroizing<String>, String) {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    (
        zeroize::Zeroizing::new(id.to_string().expose_secret().to_owned()),
        id.to_public().to_string(),
    )
}

pub fn parse_recipient(s: &str) -> Result<age::x25519::Recipient> {
    s.trim()
        .parse()
        .map_err(|e| BackupError::Key(format!("recipient `{}`: {e}", s.trim())))
}

/// Reads an identity file (`age-keygen` format: comments and one or more keys).
pub fn read_identities(path: &Path) -> Result<Vec<age::x25519::Identity>> {
    let text = std::fs::read_to_string(path).map_err(|source| BackupError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let ids: Vec<age::x25519::Identity> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("AGE-SECRET-KEY-"))
        .map(|l| {
            l.parse()
                .map_err(|e| BackupError::Key(format!("{}: {e}", path.display())))
        })
        .collect::<Result<_>>()?;
    if ids.is_empty() {
        return Err(BackupError::Key(format!(
            "{}: no AGE-SECRET-KEY line",
            path.display()
        )));
    }
    Ok(ids)
}

pub(crate) fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

pub(crate) fn encrypt(recipients: &[age::x25519::Recipient], plain: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write;
    let enc = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|e| BackupError::Key(e.to_string()))?;
    let mut out = vec![];
    let mut w = enc
        .wrap_output(&mut out)
        .map_err(|e| BackupError::Key(e.to_string()))?;
    w.write_all(plain)
        .and_then(|_| w.finish())
        .map_err(|e| BackupError::Key(e.to_string()))?;
    Ok(out)
}

pub(crate) fn decrypt(
    identities: &[age::x25519::Identity],
    object: &str,
    cipher: &[u8],
) -> Result<Vec<u8>> {
    use std::io::Read;
    let bad = |why: String| BackupError::Object {
        object: object.to_owned(),
        why,
    };
    let d =
        age::Decryptor::new_buffered(cipher).map_err(|e| bad(format!("not an age file: {e}")))?;
    let mut r = d
        .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
        .map_err(|e| {
            bad(format!(
                "does not decrypt with this identity (the wrong key?): {e}"
            ))
        })?;
    let mut out = vec![];
    r.read_to_end(&mut out)
        .map_err(|e| bad(format!("its ciphertext is damaged: {e}")))?;
    Ok(out)
}
