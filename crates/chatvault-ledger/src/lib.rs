//! The tamper-evident log: an RFC 6962 Merkle tree over every stored message, with signed
//! checkpoints, inclusion proofs and consistency proofs.
//!
//! The tree arithmetic is `tlog_tiles` (Cloudflare's port of Go's `sumdb/tlog`, the design
//! of Certificate Transparency): a log of n records keeps 2n "stored hashes", and any root
//! or proof needs O(log n) of them. Checkpoints are C2SP `tlog-checkpoint` notes signed with
//! Ed25519 through `signed_note`, so third-party tools for those formats can check them.
//!
//! This crate adds only what the libraries leave to the caller:
//! - input checks before calling `tlog_tiles`, which asserts on impossible sizes; every
//!   proof from outside goes through [`check_inclusion`] or [`check_consistency`], which
//!   return errors and never panic;
//! - [`Frontier`], an in-memory reader of the O(log n) hashes needed to extend a log, so
//!   a verifier can recompute a whole log in one pass and constant memory;
//! - the archive's checkpoint shape ([`Checkpoint`], [`CheckpointSigner`]).
//!
//! It knows nothing about messages or storage: leaves are bytes, hashes come from a
//! [`HashReader`] the caller implements.

use std::fmt;

use base64::Engine;
use sha2::{Digest, Sha256};
pub use tlog_tiles::split_stored_hash_index;
use tlog_tiles::stored_hash_index;
pub use tlog_tiles::{Error as HashReaderError, Hash, HashReader};

pub const HASH_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("invalid proof: {0}")]
    InvalidProof(String),
    #[error("hash store: {0}")]
    Store(String),
    #[error("checkpoint: {0}")]
    Checkpoint(String),
}

fn invalid(msg: impl Into<String>) -> LedgerError {
    LedgerError::InvalidProof(msg.into())
}

impl From<tlog_tiles::Error> for LedgerError {
    fn from(e: tlog_tiles::Error) -> Self {
        match e {
            tlog_tiles::Error::InvalidProof | tlog_tiles::Error::InvalidInput(_) => {
                invalid(e.to_string())
            }
            other => LedgerError::Store(other.to_string()),
        }
    }
}

/// RFC 6962 leaf hash: SHA-256(0x00 || leaf).
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    tlog_tiles::record_hash(leaf)
}

/// Where the stored hashes of leaf `n` go: they are consecutive from this index.
pub fn first_stored_index(n: u64) -> u64 {
    stored_hash_index(0, n)
}

/// How many stored hashes a log of `n` leaves has.
pub fn stored_hash_count(n: u64) -> u64 {
    tlog_tiles::stored_hash_count(n)
}

/// The stored hashes to append for leaf `n` with hash `h`, reading at most log n
/// earlier ones from `r`.
pub fn stored_hashes(n: u64, h: Hash, r: &impl HashReader) -> Result<Vec<Hash>, LedgerError> {
    Ok(tlog_tiles::stored_hashes_for_record_hash(n, h, r)?)
}

/// The root of the first `n` leaves.
pub fn tree_root(n: u64, r: &impl HashReader) -> Result<Hash, LedgerError> {
    Ok(tlog_tiles::tree_hash(n, r)?)
}

/// The range of leaves `[first, last]` that the stored hash at `index` covers.
pub fn stored_index_leaves(index: u64) -> (u64, u64) {
    let (level, k) = split_stored_hash_index(index);
    let span = 1u64 << level;
    (k * span, k * span + span - 1)
}

/// An inclusion proof for leaf `n` in the tree of size `t`.
pub fn prove_inclusion(t: u64, n: u64, r: &impl HashReader) -> Result<Vec<Hash>, LedgerError> {
    if n >= t {
        return Err(invalid(format!("leaf {n} is not in a tree of size {t}")));
    }
    Ok(tlog_tiles::prove_record(t, n, r)?)
}

/// A consistency proof that the tree of size `t` extends the tree of size `n`.
pub fn prove_consistency(t: u64, n: u64, r: &impl HashReader) -> Result<Vec<Hash>, LedgerError> {
    if n == 0 || n > t {
        return Err(invalid(format!(
            "no consistency proof from size {n} to size {t}"
        )));
    }
    Ok(tlog_tiles::prove_tree(t, n, r)?)
}

fn to_hash(bytes: &[u8], what: &str) -> Result<Hash, LedgerError> {
    let arr: [u8; HASH_LEN] = bytes
        .try_into()
        .map_err(|_| invalid(format!("{what} is {} bytes, not {HASH_LEN}", bytes.len())))?;
    Ok(Hash(arr))
}

fn to_hashes(proof: &[Vec<u8>]) -> Result<Vec<Hash>, LedgerError> {
    proof
        .iter()
        .enumerate()
        .map(|(i, p)| to_hash(p, &format!("proof[{i}]")))
        .collect()
}

/// Checks that `leaf_hash` is leaf `index` of the tree of size `size` with `root`.
/// Every input comes from outside: nothing here panics.
pub fn check_inclusion(
    index: u64,
    size: u64,
    root: &[u8],
    leaf_hash: &[u8],
    proof: &[Vec<u8>],
) -> Result<(), LedgerError> {
    if index >= size {
        return Err(invalid(format!(
            "leaf index {index} is not below tree size {size}"
        )));
    }
    // A proof never has more than one hash per level of a 64-bit tree.
    if proof.len() > 64 {
        return Err(invalid("proof is longer than any tree"));
    }
    let root = to_hash(root, "root")?;
    let leaf = to_hash(leaf_hash, "leaf hash")?;
    tlog_tiles::check_record(&to_hashes(proof)?, size, root, index, leaf).map_err(|_| {
        invalid(format!(
            "leaf {index} is not in the tree of size {size} with this root"
        ))
    })
}

/// Checks that the tree (`size2`, `root2`) extends the tree (`size1`, `root1`).
pub fn check_consistency(
    size1: u64,
    size2: u64,
    root1: &[u8],
    root2: &[u8],
    proof: &[Vec<u8>],
) -> Result<(), LedgerError> {
    if size1 == 0 {
        return Err(invalid(
            "a consistency proof from the empty tree proves nothing",
        ));
    }
    if size1 > size2 {
        return Err(invalid(format!("size {size1} is larger than size {size2}")));
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(invalid("equal sizes need an empty proof"));
        }
        if root1 != root2 {
            return Err(invalid("equal sizes with different roots"));
        }
        return Ok(());
    }
    if proof.len() > 128 {
        return Err(invalid("proof is longer than any tree"));
    }
    let r1 = to_hash(root1, "root1")?;
    let r2 = to_hash(root2, "root2")?;
    tlog_tiles::check_tree(&to_hashes(proof)?, size2, r2, size1, r1).map_err(|_| {
        invalid(format!(
            "tree of size {size2} does not extend the tree of size {size1}"
        ))
    })
}

/// The right edge of a log: for each level, the newest complete subtree. That is all a
/// log needs to append the next leaf or compute its root, so a verifier can recompute a
/// whole log in one pass and O(log n) memory.
#[derive(Default, Clone)]
pub struct Frontier {
    size: u64,
    levels: Vec<Option<(u64, Hash)>>,
}

impl Frontier {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The frontier of a stored log of `size` leaves, read through `r`.
    pub fn load(size: u64, r: &impl HashReader) -> Result<Self, LedgerError> {
        let mut levels = vec![];
        let mut level = 0u8;
        while level < 64 && (size >> level) > 0 {
            let index = stored_hash_index(level, (size >> level) - 1);
            let h = r.read_hashes(&[index])?;
            let h = *h
                .first()
                .ok_or_else(|| LedgerError::Store(format!("stored hash {index} missing")))?;
            levels.push(Some((index, h)));
            level += 1;
        }
        Ok(Frontier { size, levels })
    }

    /// Appends a leaf hash; returns the stored hashes it creates, starting at
    /// [`first_stored_index`] of the old size.
    pub fn push(&mut self, leaf: Hash) -> Result<Vec<Hash>, LedgerError> {
        let n = self.size;
        let hashes = stored_hashes(n, leaf, self)?;
        for (level, h) in hashes.iter().enumerate() {
            let index = stored_hash_index(level as u8, n >> level);
            if self.levels.len() <= level {
                self.levels.resize(level + 1, None);
            }
            self.levels[level] = Some((index, *h));
        }
        self.size += 1;
        Ok(hashes)
    }

    pub fn root(&self) -> Result<Hash, LedgerError> {
        tree_root(self.size, self)
    }
}

impl HashReader for Frontier {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                let (level, _) = split_stored_hash_index(i);
                match self.levels.get(usize::from(level)) {
                    Some(Some((idx, h))) if *idx == i => Ok(*h),
                    _ => Err(tlog_tiles::Error::IndexesNotInTree),
                }
            })
            .collect()
    }
}

/// A signed tree head: C2SP tlog-checkpoint text plus one Ed25519 signature line.
///
/// ```text
/// chatvault/01HV...            origin (also the key name)
/// 1234                         tree size
/// BASE64(root)
/// time 2024-03-01T09:15:02Z    extension line: when it was signed
///
/// — chatvault/01HV... BASE64(key id || signature)
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// RFC 3339, from the extension line.
    pub time: String,
    /// The whole signed note, as signed.
    pub note: String,
}

/// Signs checkpoints with the archive's Ed25519 key.
pub struct CheckpointSigner {
    signer: signed_note::StandardSigner,
    verifier_key: String,
}

impl CheckpointSigner {
    /// Creates a new key named `origin`. Returns the signer and the private key text
    /// (`PRIVATE+KEY+...`), which the caller must keep encrypted.
    pub fn generate(origin: &str) -> Result<(Self, String), LedgerError> {
        let (skey, _) = signed_note::generate_key(&mut rand::rngs::OsRng, origin);
        let signer = Self::from_private_key(&skey)?;
        Ok((signer, skey))
    }

    pub fn from_private_key(skey: &str) -> Result<Self, LedgerError> {
        let signer = signed_note::StandardSigner::new(skey)
            .map_err(|e| LedgerError::Checkpoint(format!("signing key: {e}")))?;
        // The verifier key is derived from the private key's public half. The text is
        // `PRIVATE+KEY+name+id+base64`, and base64 itself may contain '+'.
        let b64 = skey.splitn(5, '+').nth(4).unwrap_or_default();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| LedgerError::Checkpoint("signing key is not base64".into()))?;
        let sk = ed25519_dalek::SigningKey::try_from(raw.get(1..).unwrap_or_default())
            .map_err(|_| LedgerError::Checkpoint("signing key is not Ed25519".into()))?;
        let name = signed_note::Signer::name(&signer).to_owned();
        let verifier_key = signed_note::new_ed25519_verifier_key(&name, &sk.verifying_key());
        Ok(CheckpointSigner {
            signer,
            verifier_key,
        })
    }

    /// The public verifier key (`name+id+base64`), which [`verify_checkpoint`] takes.
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    /// Signs a statement other than a checkpoint (a backup manifest's digest, say) as a
    /// C2SP signed note: `text` (lines ending in `\n`) and the signature line.
    pub fn sign_text(&self, text: &str) -> Result<String, LedgerError> {
        let mut note = signed_note::Note::new(text.as_bytes(), &[])
            .map_err(|e| LedgerError::Checkpoint(e.to_string()))?;
        note.add_sigs(&[&self.signer])
            .map_err(|e| LedgerError::Checkpoint(e.to_string()))?;
        String::from_utf8(note.to_bytes()).map_err(|e| LedgerError::Checkpoint(e.to_string()))
    }

    pub fn sign(
        &self,
        size: u64,
        root: Hash,
        time_rfc3339: &str,
    ) -> Result<Checkpoint, LedgerError> {
        let origin = signed_note::Signer::name(&self.signer).to_owned();
        let cp =
            tlog_tiles::Checkpoint::new(&origin, size, root, &format!("time {time_rfc3339}\n"))
                .map_err(|e| LedgerError::Checkpoint(e.to_string()))?;
        let mut note = signed_note::Note::new(&cp.to_bytes(), &[])
            .map_err(|e| LedgerError::Checkpoint(e.to_string()))?;
        note.add_sigs(&[&self.signer])
            .map_err(|e| LedgerError::Checkpoint(e.to_string()))?;
        let note = String::from_utf8(note.to_bytes())
            .map_err(|e| LedgerError::Checkpoint(e.to_string()))?;
        Ok(Checkpoint {
            origin,
            size,
            root,
            time: time_rfc3339.to_owned(),
            note,
        })
    }
}

/// The fingerprint that pins a verifier key: `sha256:` and the hex SHA-256 of the key text.
pub fn key_fingerprint(verifier_key: &str) -> String {
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(verifier_key.trim().as_bytes()))
    )
}

/// Checks a signed note made by [`CheckpointSigner::sign_text`] against `verifier_key`
/// and returns the text it signs.
pub fn verify_text(note: &str, verifier_key: &str) -> Result<String, LedgerError> {
    let parsed = verified_note(note, verifier_key)?;
    String::from_utf8(parsed.text().to_vec()).map_err(|e| LedgerError::Checkpoint(e.to_string()))
}

/// A signed note whose signature by `verifier_key` has been checked.
fn verified_note(note: &str, verifier_key: &str) -> Result<signed_note::Note, LedgerError> {
    let bad = |what: String| LedgerError::Checkpoint(what);
    let verifier = signed_note::StandardVerifier::new(verifier_key.trim())
        .map_err(|e| bad(format!("verifier key: {e}")))?;
    let parsed = signed_note::Note::from_bytes(note.as_bytes())
        .map_err(|e| bad(format!("malformed note: {e}")))?;
    let list = signed_note::VerifierList::new(vec![Box::new(verifier)]);
    parsed
        .verify(&list)
        .map_err(|e| bad(format!("signature does not verify: {e}")))?;
    Ok(parsed)
}

/// Parses a signed checkpoint and checks its signature against `verifier_key`.
pub fn verify_checkpoint(note: &str, verifier_key: &str) -> Result<Checkpoint, LedgerError> {
    let bad = |what: String| LedgerError::Checkpoint(what);
    let parsed = verified_note(note, verifier_key)?;
    let cp =
        tlog_tiles::Checkpoint::from_bytes(parsed.text()).map_err(|e| bad(format!("body: {e}")))?;
    let time = cp
        .extension()
        .lines()
        .find_map(|l| l.strip_prefix("time "))
        .ok_or_else(|| bad("no `time` line".into()))?
        .to_owned();
    Ok(Checkpoint {
        origin: cp.origin().to_owned(),
        size: cp.size(),
        root: *cp.hash(),
        time,
        note: note.to_owned(),
    })
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "size {} root {} at {}",
            self.size,
            hex::encode(self.root.0),
            self.time
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct VecReader(Vec<Hash>);
    impl HashReader for VecReader {
        fn read_hashes(&self, idx: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
            idx.iter()
                .map(|&i| {
                    self.0
                        .get(i as usize)
                        .copied()
                        .ok_or(tlog_tiles::Error::IndexesNotInTree)
                })
                .collect()
        }
    }

    fn build(n: u64) -> (VecReader, Frontier) {
        let mut store = VecReader(vec![]);
        let mut f = Frontier::new();
        for i in 0..n {
            let h = leaf_hash(format!("leaf {i}").as_bytes());
            let from_store = stored_hashes(i, h, &store).expect("stored");
            let from_frontier = f.push(h).expect("push");
            assert_eq!(from_store, from_frontier, "leaf {i}");
            assert_eq!(first_stored_index(i), store.0.len() as u64);
            store.0.extend(from_store);
        }
        (store, f)
    }

    #[test]
    fn frontier_matches_the_full_store() {
        let (store, f) = build(37);
        assert_eq!(
            f.root().expect("root"),
            tree_root(37, &store).expect("root")
        );
        assert_eq!(store.0.len() as u64, stored_hash_count(37));
    }

    #[test]
    fn a_loaded_frontier_continues_the_log() {
        let (store, mut f) = build(45);
        let mut loaded = Frontier::load(45, &store).expect("load");
        assert_eq!(loaded.root().expect("root"), f.root().expect("root"));
        let h = leaf_hash(b"next");
        assert_eq!(loaded.push(h).expect("push"), f.push(h).expect("push"));
        assert_eq!(
            Frontier::load(0, &store)
                .expect("empty")
                .root()
                .expect("root")
                .0,
            tlog_tiles::EMPTY_HASH.0
        );
    }

    #[test]
    fn proofs_round_trip() {
        let (store, _) = build(21);
        for t in 1..=21u64 {
            let root = tree_root(t, &store).expect("root");
            for n in 0..t {
                let p: Vec<Vec<u8>> = prove_inclusion(t, n, &store)
                    .expect("proof")
                    .iter()
                    .map(|h| h.0.to_vec())
                    .collect();
                let leaf = leaf_hash(format!("leaf {n}").as_bytes());
                check_inclusion(n, t, &root.0, &leaf.0, &p).expect("inclusion verifies");
                assert!(check_inclusion(n, t, &root.0, &leaf_hash(b"other").0, &p).is_err());
            }
            for n in 1..=t {
                let old = tree_root(n, &store).expect("root");
                let p: Vec<Vec<u8>> = prove_consistency(t, n, &store)
                    .expect("proof")
                    .iter()
                    .map(|h| h.0.to_vec())
                    .collect();
                check_consistency(n, t, &old.0, &root.0, &p).expect("consistency verifies");
            }
        }
    }

    #[test]
    fn checkpoints_sign_and_verify() {
        let (signer, skey) = CheckpointSigner::generate("chatvault/test").expect("key");
        let again = CheckpointSigner::from_private_key(&skey).expect("reload");
        assert_eq!(again.verifier_key(), signer.verifier_key());
        let cp = signer
            .sign(5, leaf_hash(b"x"), "2024-03-01T00:00:00Z")
            .expect("sign");
        let back = verify_checkpoint(&cp.note, signer.verifier_key()).expect("verifies");
        assert_eq!(back, cp);
        let (other, _) = CheckpointSigner::generate("chatvault/test").expect("key");
        assert!(
            verify_checkpoint(&cp.note, other.verifier_key()).is_err(),
            "other key"
        );
        let tampered = cp.note.replacen("\n5\n", "\n6\n", 1);
        assert!(
            verify_checkpoint(&tampered, signer.verifier_key()).is_err(),
            "size changed"
        );
        assert!(verify_checkpoint("garbage", signer.verifier_key()).is_err());
    }
}
