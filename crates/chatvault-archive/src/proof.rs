//! Inclusion proofs as self-contained files, and their offline check.
//!
//! A proof file holds the leaf bytes, the RFC 6962 audit path, the signed checkpoint and the
//! archive's public key with its fingerprint. [`verify_proof_file`] needs nothing else: no
//! archive, no key, no network. With `--with-content` the file also opens the content
//! commitment (text, salt, attachment list, raw-record hash), so the check proves what was
//! said, not only that a message with this metadata exists.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chatvault_ledger::{
    check_inclusion, key_fingerprint, leaf_hash, prove_inclusion, verify_checkpoint,
};
use chatvault_model::leaf::{commitment_with_raw_hash, decode_leaf, DecodedLeaf, SALT_LEN};
use chatvault_model::AttachmentRef;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Archive, ArchiveError, Result, StoreHashes};

pub const PROOF_FORMAT: &str = "chatvault-inclusion-proof/v1";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofFile {
    pub format: String,
    pub message_id: String,
    pub leaf_index: u64,
    pub tree_size: u64,
    /// Base64 of the canonical leaf bytes (`chatvault-model`'s `leaf` module).
    pub leaf: String,
    pub leaf_hash: String,
    pub proof: Vec<String>,
    /// The signed checkpoint (C2SP signed note).
    pub checkpoint: String,
    pub verifier_key: String,
    pub key_fingerprint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentOpening>,
}

/// What opens a leaf's content commitment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentOpening {
    pub text: String,
    pub salt: String,
    pub attachments: Vec<AttachmentRef>,
    pub raw_sha256: String,
}

/// The outcome of an offline proof check.
#[derive(Debug, Serialize)]
pub struct ProofCheck {
    pub ok: bool,
    pub message_id: String,
    pub leaf_index: u64,
    pub tree_size: u64,
    pub checkpoint_time: Option<String>,
    pub key_fingerprint: String,
    /// What the proof covers, read from the leaf.
    pub leaf: Option<DecodedLeaf>,
    pub content_checked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub errors: Vec<String>,
}

impl Archive {
    /// An inclusion proof for a message against the newest checkpoint (signing one first
    /// when the newest does not cover the message yet).
    pub fn proof(&mut self, message_id: &str, with_content: bool) -> Result<ProofFile> {
        let row = self.message_row(message_id)?;
        let covered = self
            .store
            .latest_checkpoint()?
            .is_some_and(|c| c.size > row.seq);
        if !covered {
            self.checkpoint()?;
        }
        let cp = self
            .store
            .latest_checkpoint()?
            .ok_or_else(|| ArchiveError::Corrupt("no checkpoint after signing one".into()))?;
        let opened = self
            .open_row(&row)
            .map_err(|e| ArchiveError::Corrupt(format!("message {message_id}: {e}")))?;
        let lh = leaf_hash(&opened.leaf);
        let stored = self
            .store
            .read_hashes(&[chatvault_ledger::first_stored_index(row.seq)])?;
        if stored.first() != Some(&lh.0) {
            return Err(ArchiveError::Corrupt(format!(
                "message {message_id} differs from its log leaf"
            )));
        }
        let path = prove_inclusion(cp.size, row.seq, &StoreHashes(&*self.store))?;
        let content = with_content.then(|| ContentOpening {
            text: opened.body.text.clone(),
            salt: B64.encode(opened.body.salt),
            attachments: opened.body.attachments.clone(),
            raw_sha256: hex::encode(Sha256::digest(&opened.raw)),
        });
        Ok(ProofFile {
            format: PROOF_FORMAT.into(),
            message_id: message_id.to_owned(),
            leaf_index: row.seq,
            tree_size: cp.size,
            leaf: B64.encode(&opened.leaf),
            leaf_hash: B64.encode(lh.0),
            proof: path.iter().map(|h| B64.encode(h.0)).collect(),
            checkpoint: cp.note,
            verifier_key: self.signer.verifier_key().to_owned(),
            key_fingerprint: self.key_fingerprint(),
            content,
        })
    }
}

/// Checks a proof file offline. `expect_key` pins the archive's key fingerprint.
pub fn verify_proof_file(json: &[u8], expect_key: Option<&str>) -> ProofCheck {
    let mut check = ProofCheck {
        ok: false,
        message_id: String::new(),
        leaf_index: 0,
        tree_size: 0,
        checkpoint_time: None,
        key_fingerprint: String::new(),
        leaf: None,
        content_checked: false,
        text: None,
        errors: vec![],
    };
    let p: ProofFile = match serde_json::from_slice(json) {
        Ok(p) => p,
        Err(e) => {
            check.errors.push(format!("not a proof file: {e}"));
            return check;
        }
    };
    check.message_id = p.message_id.clone();
    check.leaf_index = p.leaf_index;
    check.tree_size = p.tree_size;
    check.key_fingerprint = p.key_fingerprint.clone();
    let errors = &mut check.errors;
    if p.format != PROOF_FORMAT {
        errors.push(format!("unknown format `{}`", p.format));
    }
    let fp = key_fingerprint(&p.verifier_key);
    if fp != p.key_fingerprint {
        errors.push("the public key does not match the fingerprint in the file".into());
    }
    if let Some(want) = expect_key {
        if want.trim() != fp {
            errors.push(format!(
                "the proof is signed by key {fp}, not by the expected {}",
                want.trim()
            ));
        }
    }
    let cp = match verify_checkpoint(&p.checkpoint, &p.verifier_key) {
        Ok(cp) => Some(cp),
        Err(e) => {
            errors.push(format!("checkpoint: {e}"));
            None
        }
    };
    let leaf = B64
        .decode(&p.leaf)
        .map_err(|_| "leaf is not base64".to_string());
    let claimed = B64.decode(&p.leaf_hash).unwrap_or_default();
    let path: Vec<Vec<u8>> = p
        .proof
        .iter()
        .map(|s| B64.decode(s).unwrap_or_default())
        .collect();
    match &leaf {
        Ok(bytes) => {
            let lh = leaf_hash(bytes);
            if lh.0.as_slice() != claimed.as_slice() {
                errors.push("the leaf bytes do not hash to the stated leaf hash".into());
            }
            match decode_leaf(bytes) {
                Ok(d) => {
                    if d.id != p.message_id {
                        errors.push(format!(
                            "the leaf is message {}, not {}",
                            d.id, p.message_id
                        ));
                    }
                    if let Some(c) = &p.content {
                        match open_commitment(c) {
                            Ok(com) if com == d.commitment => {
                                check.content_checked = true;
                                check.text = Some(c.text.clone());
                            }
                            Ok(_) => errors
                                .push("the content does not match the leaf's commitment".into()),
                            Err(e) => errors.push(e),
                        }
                    }
                    check.leaf = Some(d);
                }
                Err(e) => errors.push(format!("leaf: {e}")),
            }
            if let Some(cp) = &cp {
                if cp.size != p.tree_size {
                    errors.push(format!(
                        "the checkpoint is for size {}, the proof for size {}",
                        cp.size, p.tree_size
                    ));
                }
                if let Err(e) = check_inclusion(p.leaf_index, p.tree_size, &cp.root.0, &lh.0, &path)
                {
                    errors.push(e.to_string());
                }
                check.checkpoint_time = Some(cp.time.clone());
            }
        }
        Err(e) => errors.push(e.clone()),
    }
    check.ok = check.errors.is_empty();
    check
}

fn open_commitment(c: &ContentOpening) -> std::result::Result<[u8; 32], String> {
    let salt: [u8; SALT_LEN] = B64
        .decode(&c.salt)
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or("content salt is malformed")?;
    let mut raw = [0u8; 32];
    hex::decode_to_slice(&c.raw_sha256, &mut raw).map_err(|_| "content raw_sha256 is malformed")?;
    Ok(commitment_with_raw_hash(
        &salt,
        &c.text,
        &c.attachments,
        &raw,
    ))
}

pub const CONSISTENCY_FORMAT: &str = "chatvault-consistency-proof/v1";

/// A later signed checkpoint with the proof that its tree extends an earlier one's: what
/// `verify case.zip --against FILE` checks, offline.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyFile {
    pub format: String,
    /// The later checkpoint (C2SP signed note).
    pub checkpoint: String,
    pub tree_size: u64,
    pub verifier_key: String,
    pub key_fingerprint: String,
    /// The earlier size the proof starts from.
    pub from_size: u64,
    /// Base64 hashes of the RFC 6962 consistency proof.
    pub proof: Vec<String>,
}

impl Archive {
    /// The newest checkpoint, with a consistency proof from `from_size` to it.
    pub fn consistency(&mut self, from_size: u64) -> Result<ConsistencyFile> {
        let cp = self
            .store
            .latest_checkpoint()?
            .ok_or_else(|| ArchiveError::NotFound("a checkpoint: the archive is empty".into()))?;
        let proof = if from_size == cp.size {
            vec![]
        } else {
            chatvault_ledger::prove_consistency(cp.size, from_size, &StoreHashes(&*self.store))?
        };
        Ok(ConsistencyFile {
            format: CONSISTENCY_FORMAT.into(),
            checkpoint: cp.note,
            tree_size: cp.size,
            verifier_key: self.signer.verifier_key().to_owned(),
            key_fingerprint: self.key_fingerprint(),
            from_size,
            proof: proof.iter().map(|h| B64.encode(h.0)).collect(),
        })
    }
}

/// Checks that `later` extends the earlier checkpoint `(size, note)`, both signed by
/// `verifier_key`. The error says what does not hold.
pub fn check_consistency_file(
    earlier_note: &str,
    verifier_key: &str,
    later: &ConsistencyFile,
) -> std::result::Result<(u64, u64), String> {
    if later.format != CONSISTENCY_FORMAT {
        return Err(format!(
            "format `{}`; expected {CONSISTENCY_FORMAT}",
            later.format
        ));
    }
    if later.verifier_key != verifier_key {
        return Err("the later checkpoint is signed by another key than the package's".into());
    }
    let a = verify_checkpoint(earlier_note, verifier_key)
        .map_err(|e| format!("the package's checkpoint: {e}"))?;
    let b = verify_checkpoint(&later.checkpoint, verifier_key)
        .map_err(|e| format!("the later checkpoint: {e}"))?;
    if later.from_size != a.size {
        return Err(format!(
            "the proof starts at size {}, the package's checkpoint is size {}",
            later.from_size, a.size
        ));
    }
    let proof: Vec<Vec<u8>> = later
        .proof
        .iter()
        .map(|p| {
            B64.decode(p)
                .map_err(|_| "a proof hash is not base64".to_owned())
        })
        .collect::<std::result::Result<_, _>>()?;
    chatvault_ledger::check_consistency(a.size, b.size, &a.root.0, &b.root.0, &proof)
        .map_err(|e| format!("the later tree does not extend the package's: {e}"))?;
    Ok((a.size, b.size))
}
