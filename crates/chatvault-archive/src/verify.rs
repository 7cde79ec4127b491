//! `verify`: recompute the whole log from the decrypted store and check every checkpoint.
//!
//! For each message, in log order, the leaf is rebuilt from the row's metadata and its
//! decrypted content (text, salt, attachments, raw record) and compared with the stored
//! leaf hash; the log's interior hashes are recomputed alongside and compared with the
//! stored ones; and at each checkpoint's size the recomputed root must equal the signed
//! root. So a changed byte anywhere in a message (metadata, ciphertext, nonce, salt, key
//! wrap, attachment) names that message, and a change that keeps the rows consistent but
//! rewrites history fails against the signed checkpoints.

use std::collections::BTreeMap;

use chatvault_ledger::{
    first_stored_index, leaf_hash, stored_hash_count, stored_index_leaves, Frontier, Hash,
};
use chatvault_model::leaf::{commitment, leaf_bytes, LeafFields};
use chatvault_model::pii::PiiFlags;
use chatvault_model::{
    ConversationKind, MessageKind, NewAttachment, NewMessage, Origin, Platform, Sender, SenderRole,
    Timestamp,
};
use chatvault_store::MessageRow;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::body::{Body, Raw};
use crate::ingest::canonical_line;
use crate::{attachment_aad, Archive, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyIssue {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    pub what: String,
}

#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    pub messages: u64,
    pub checkpoints: u64,
    pub errors: Vec<VerifyIssue>,
    /// Messages after the newest checkpoint (signed at the next import or checkpoint).
    pub unsigned_tail: u64,
    /// Deleted messages still recoverable (their content is checked like any other).
    pub deleted: u64,
    /// Purged messages: each one's tombstone was checked against its leaf in the log.
    pub purged: u64,
}

fn issue(message_id: Option<String>, what: impl Into<String>) -> VerifyIssue {
    VerifyIssue {
        message_id,
        what: what.into(),
    }
}

/// A message's decrypted content and the leaf it must hash to.
pub(crate) struct Opened {
    pub body: Body,
    pub raw: Vec<u8>,
    pub leaf: Vec<u8>,
}

impl Archive {
    /// Decrypts a row and rebuilds its leaf. The error says what does not hold.
    pub(crate) fn open_row(&mut self, row: &MessageRow) -> std::result::Result<Opened, String> {
        let conv = self
            .conversation_row(row.conversation)
            .map_err(|e| e.to_string())?
            .ok_or("its conversation row is missing")?;
        let sender = self
            .participant_row(row.sender)
            .map_err(|e| e.to_string())?
            .ok_or("its sender row is missing")?;
        let body = self.open_body(row)?.ok_or("its content is missing")?;
        // The flags are derived from the content, so the content decides.
        if row
            .pii
            .is_some_and(|bits| bits != PiiFlags::of(&body.text).bits())
        {
            return Err("its PII flags do not match its content".into());
        }
        let kind = MessageKind::from_code(row.kind).ok_or("its kind is not a known code")?;
        let role =
            SenderRole::from_code(row.sender_role).ok_or("its sender role is not a known code")?;
        let sent_at = Timestamp {
            utc_ms: row.sent_at_ms,
            offset_s: row.sent_offset_s,
        };
        let raw = match &body.raw {
            Raw::Verbatim(b) => b.clone(),
            Raw::Canonical {
                conversation_title,
                conversation_kind,
            } => {
                let m = NewMessage {
                    platform: Platform::new(&conv.platform).map_err(|e| e.to_string())?,
                    conversation_id: conv.external_id.clone(),
                    conversation_title: conversation_title.clone(),
                    conversation_kind: conversation_kind.and_then(ConversationKind::from_code),
                    source_id: row.source_id.clone(),
                    sender: Sender {
                        id: sender.handle.clone(),
                        name: row.sender_name.clone(),
                        role,
                    },
                    sent_at,
                    kind,
                    text: body.text.clone(),
                    reply_to: row.reply_to.clone(),
                    target: row.target.clone(),
                    attachments: body
                        .attachments
                        .iter()
                        .map(|r| NewAttachment {
                            reference: r.clone(),
                            bytes: None,
                        })
                        .collect(),
                    tags: row
                        .tags
                        .as_deref()
                        .and_then(|t| serde_json::from_str(t).ok())
                        .unwrap_or_default(),
                    raw: vec![],
                    origin: Origin {
                        file: String::new(),
                        line: 0,
                    },
                };
                canonical_line(&m).into_bytes()
            }
        };
        let dedup = row.dedup_key().map_err(|e| e.to_string())?;
        let fields = LeafFields {
            id: row.id,
            platform: &conv.platform,
            conversation_id: &conv.external_id,
            source_id: row.source_id.as_deref(),
            dedup: &dedup,
            sender_id: &sender.handle,
            sender_name: row.sender_name.as_deref(),
            sender_role: role,
            sent_at,
            received_at_ms: row.received_at_ms,
            kind,
            reply_to: row.reply_to.as_deref(),
            target: row.target.as_deref(),
        };
        let leaf = leaf_bytes(
            &fields,
            &commitment(&body.salt, &body.text, &body.attachments, &raw),
        );
        Ok(Opened { body, raw, leaf })
    }

    /// Checks every stored attachment of a message against its hash.
    fn check_attachments(&mut self, row: &MessageRow, body: &Body) -> Vec<String> {
        let mut out = vec![];
        let conv = match self.conversation_row(row.conversation) {
            Ok(Some(c)) => c,
            // A missing row is named where the message's leaf is rebuilt.
            Ok(None) => return out,
            Err(e) => {
                out.push(format!("its conversation row does not read: {e}"));
                return out;
            }
        };
        let Ok(dek) = self.dek(row.conversation) else {
            return out;
        };
        for (i, a) in body.attachments.iter().enumerate() {
            let was_stored = body
                .sealed
                .as_ref()
                .and_then(|s| s.stored.get(i).copied())
                .unwrap_or(false);
            match self.store.attachment(row.conversation, &a.sha256) {
                Ok(Some(sealed)) => {
                    let aad = attachment_aad(&conv.platform, &conv.external_id, &a.sha256);
                    match dek.open(&sealed, &aad, "attachment") {
                        Ok(bytes) if Sha256::digest(&bytes).as_slice() == a.sha256 => {}
                        Ok(_) => {
                            out.push(format!("attachment `{}` does not match its hash", a.name))
                        }
                        Err(_) => out.push(format!("attachment `{}` does not decrypt", a.name)),
                    }
                }
                // Its bytes were stored with the message: the row is gone.
                Ok(None) if was_stored => out.push(format!(
                    "attachment `{}` is missing: its bytes were stored with the message, and their row was deleted",
                    a.name
                )),
                Ok(None) => {} // recorded by hash only: the export had no media
                Err(e) => out.push(format!("attachment `{}`: {e}", a.name)),
            }
        }
        out
    }

    /// The full integrity check. `progress` gets the number of messages checked so far.
    pub fn verify(&mut self, progress: &mut dyn FnMut(u64)) -> Result<VerifyReport> {
        let mut errors = vec![];
        for e in self.store.integrity_check()? {
            errors.push(issue(None, format!("database: {e}")));
        }
        // Damage the store found in the log when it moved it to a new layout.
        if let Some(note) = self.store.meta(chatvault_store::LOG_FINDING)? {
            errors.push(issue(None, String::from_utf8_lossy(&note).into_owned()));
        }
        let meta_key = self
            .store
            .meta("verifier_key")?
            .map(|v| String::from_utf8_lossy(&v).into_owned());
        if meta_key.as_deref() != Some(self.signer.verifier_key()) {
            errors.push(issue(
                None,
                "the stored verifier key differs from the archive's signing key",
            ));
        }
        // The archive's id is the signing key's name (`chatvault/ID`): the one that shows in
        // `stats` and names backups must be that one.
        let origin = self.signer.verifier_key().split('+').next().unwrap_or("");
        if origin != format!("chatvault/{}", self.archive_id) {
            errors.push(issue(
                None,
                format!(
                    "the stored archive id {:?} is not the one the signing key names ({origin:?})",
                    self.archive_id
                ),
            ));
        }
        for k in self.store.data_keys()? {
            if k.kek_id != self.kek.id() {
                errors.push(issue(
                    None,
                    format!(
                        "conversation {}: its data key is labelled as wrapped by key {:?}, but the archive's key is {:?}",
                        k.conversation, k.kek_id, self.kek.id()
                    ),
                ));
            }
        }
        // The search index is derived data, but a damaged one answers searches wrongly.
        match self.index.damaged_files() {
            Ok(bad) => {
                for f in bad {
                    errors.push(issue(None, format!("search index file {f} fails its checksum (damaged on disk): run `chatvault reindex`")));
                }
            }
            Err(e) => errors.push(issue(
                None,
                format!("the search index cannot be checked ({e}): run `chatvault reindex`"),
            )),
        }
        let checkpoints = self.store.checkpoints()?;
        let mut signed: BTreeMap<u64, Hash> = BTreeMap::new();
        for cp in &checkpoints {
            match chatvault_ledger::verify_checkpoint(&cp.note, self.signer.verifier_key()) {
                Ok(v) if v.size == cp.size && v.root.0 == cp.root => {
                    signed.insert(v.size, v.root);
                }
                Ok(_) => errors.push(issue(
                    None,
                    format!(
                        "checkpoint at size {}: its row differs from its signed note",
                        cp.size
                    ),
                )),
                Err(e) => errors.push(issue(None, format!("checkpoint at size {}: {e}", cp.size))),
            }
        }
        let tombstones: std::collections::HashMap<u64, chatvault_store::DeletionRow> = self
            .store
            .deletions()?
            .into_iter()
            .map(|d| (d.seq, d))
            .collect();
        let (mut deleted, mut purged) = (0u64, 0u64);
        let mut frontier = Frontier::new();
        // Each participant's display name is the name its first message gave (a committed
        // leaf field): a changed name in the directory is named.
        let mut first_names: std::collections::HashMap<i64, Option<String>> = Default::default();
        // Likewise each conversation's title: the one its first message gave, sealed in
        // that message's content (not known for messages stored before version 2).
        let mut first_titles: std::collections::HashMap<i64, Option<Option<String>>> =
            Default::default();
        // And its kind (sealed from content version 3, or in a canonical raw record).
        let mut first_kinds: std::collections::HashMap<i64, Option<Option<u8>>> =
            Default::default();
        // Each participant belongs to the platform of the conversation it first wrote in.
        let mut first_conversation: std::collections::HashMap<i64, i64> = Default::default();
        'scan: loop {
            let mut rows = Vec::with_capacity(4096);
            self.store
                .scan_messages_lenient(frontier.size(), &mut |r| {
                    rows.push(r);
                    Ok(rows.len() < 4096)
                })?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let n = frontier.size();
                let row = match row {
                    Ok(row) => row,
                    Err((seq, why)) => {
                        // Unreadable: named, and the log's own leaf stands in for it so
                        // the scan goes on to every other message.
                        errors.push(issue(
                            None,
                            format!("message seq {seq} cannot be read from the store: {why}"),
                        ));
                        if seq != n {
                            break 'scan;
                        }
                        match self.store.read_hashes(&[first_stored_index(n)]) {
                            Ok(h) => {
                                frontier.push(Hash(h[0]))?;
                                continue;
                            }
                            Err(_) => break 'scan,
                        }
                    }
                };
                first_names
                    .entry(row.sender)
                    .or_insert_with(|| row.sender_name.clone());
                first_conversation
                    .entry(row.sender)
                    .or_insert(row.conversation);
                let id = ulid::Ulid::from_bytes(row.id).to_string();
                if row.seq != n {
                    errors.push(issue(
                        None,
                        format!("message seq {n} is missing: the log has a gap before {id}"),
                    ));
                    break 'scan;
                }
                let tomb = tombstones.get(&row.seq);
                let purged_row =
                    tomb.is_some_and(|t| t.state == chatvault_store::DeletionState::Purged);
                match tomb.map(|t| t.state) {
                    Some(chatvault_store::DeletionState::Purged) => purged += 1,
                    Some(chatvault_store::DeletionState::Deleted) => deleted += 1,
                    None => {}
                }
                if purged_row && row.body.is_some() {
                    errors.push(issue(
                        Some(id.clone()),
                        "its tombstone says purged, but its content is still stored",
                    ));
                }
                // A first message whose content cannot be opened (purged) leaves the
                // title unknown: a later message did not set it.
                if row.body.is_none() {
                    first_titles.entry(row.conversation).or_insert(None);
                    first_kinds.entry(row.conversation).or_insert(None);
                }
                let recomputed = match self.open_row(&row) {
                    // A purged message has no content to rebuild its leaf from: its
                    // tombstone stands in for it, checked against the log below.
                    Err(_) if purged_row && row.body.is_none() => None,
                    Ok(o) => {
                        for e in self.check_attachments(&row, &o.body) {
                            errors.push(issue(Some(id.clone()), e));
                        }
                        let title = match (&o.body.raw, &o.body.sealed) {
                            (
                                crate::body::Raw::Canonical {
                                    conversation_title, ..
                                },
                                _,
                            ) => Some(conversation_title.clone()),
                            (_, Some(s)) => Some(s.conversation_title.clone()),
                            _ => None,
                        };
                        let kind = match (&o.body.raw, &o.body.sealed) {
                            (
                                crate::body::Raw::Canonical {
                                    conversation_kind, ..
                                },
                                _,
                            ) => Some(*conversation_kind),
                            (_, Some(s)) => s.conversation_kind,
                            _ => None,
                        };
                        // Only the conversation's first message set its title and kind.
                        first_titles.entry(row.conversation).or_insert(title);
                        first_kinds.entry(row.conversation).or_insert(kind);
                        Some(leaf_hash(&o.leaf))
                    }
                    Err(what) => {
                        let what = if row.body.is_none() && tomb.is_none() {
                            "its content is missing and no tombstone records its deletion"
                                .to_owned()
                        } else {
                            what
                        };
                        errors.push(issue(Some(id.clone()), what));
                        None
                    }
                };
                let first = first_stored_index(n);
                let count = stored_hash_count(n + 1) - first;
                let indexes: Vec<u64> = (first..first + count).collect();
                let stored = match self.store.read_hashes(&indexes) {
                    Ok(s) => s,
                    Err(e) => {
                        errors.push(issue(
                            Some(id),
                            format!("its log hashes cannot be read: {e}"),
                        ));
                        break 'scan;
                    }
                };
                if let Some(h) = recomputed {
                    if h.0 != stored[0] {
                        errors.push(issue(
                            Some(id.clone()),
                            "its metadata or content changed: the leaf hash differs from the log",
                        ));
                    }
                }
                if let Some(t) = tomb {
                    if t.leaf_hash != stored[0] {
                        errors.push(issue(
                            Some(id.clone()),
                            "its deletion record names another leaf than the log holds",
                        ));
                    }
                }

                let new = frontier.push(recomputed.unwrap_or(Hash(stored[0])))?;
                for (i, h) in new.iter().enumerate().skip(1) {
                    if h.0 != stored[i] {
                        let (a, b) = stored_index_leaves(first + i as u64);
                        errors.push(issue(
                            None,
                            format!(
                                "log node {} (messages {a}..={b}) differs from its recomputed hash",
                                first + i as u64
                            ),
                        ));
                    }
                }
                if let Some(root) = signed.get(&frontier.size()) {
                    if frontier.root()? != *root {
                        errors.push(issue(None, format!("checkpoint at size {}: the recomputed root differs from the signed root", frontier.size())));
                    }
                }
            }
            progress(frontier.size());
        }
        let conversations = self.store.conversations()?;
        let platform_of: std::collections::HashMap<i64, &str> = conversations
            .iter()
            .map(|c| (c.id, c.platform.as_str()))
            .collect();
        for c in &conversations {
            if let Some(Some(kind)) = first_kinds.get(&c.id) {
                if c.kind != *kind {
                    errors.push(issue(
                        None,
                        format!(
                            "conversation {}:{}: its kind {:?} is not the one its first message gave ({:?})",
                            c.platform, c.external_id, c.kind.and_then(ConversationKind::from_code), kind.and_then(ConversationKind::from_code)
                        ),
                    ));
                }
            }
            if let Some(Some(title)) = first_titles.get(&c.id) {
                if c.title != *title {
                    errors.push(issue(
                        None,
                        format!(
                            "conversation {}:{}: its title {:?} is not the one its first message gave ({:?})",
                            c.platform, c.external_id, c.title.as_deref().unwrap_or(""), title.as_deref().unwrap_or("")
                        ),
                    ));
                }
            }
        }
        for p in self.store.participants()? {
            let platform = first_conversation
                .get(&p.id)
                .and_then(|c| platform_of.get(c));
            if let Some(platform) = platform.filter(|pl| **pl != p.platform) {
                errors.push(issue(
                    None,
                    format!(
                        "participant {}:{}: its platform is not the one of the conversation it wrote in ({platform})",
                        p.platform, p.handle
                    ),
                ));
            }
            if let Some(first) = first_names.get(&p.id) {
                if p.display_name.is_some() && p.display_name != *first {
                    errors.push(issue(
                        None,
                        format!(
                            "participant {}:{}: its display name {:?} is not the name its first message gave ({:?})",
                            p.platform, p.handle, p.display_name.as_deref().unwrap_or(""), first.as_deref().unwrap_or("")
                        ),
                    ));
                }
            }
        }
        let size = frontier.size();
        for s in signed.keys().filter(|&&s| s > size) {
            errors.push(issue(None, format!("checkpoint at size {s} covers more messages than the store holds ({size}): messages were removed")));
        }
        let expected_hashes = stored_hash_count(size);
        let mut extra = 0u64;
        self.store.scan_hashes(expected_hashes, &mut |_, _| {
            extra += 1;
            Ok(true)
        })?;
        if extra > 0 {
            errors.push(issue(
                None,
                format!(
                    "the log has {extra} hashes beyond its {size} messages: messages were removed"
                ),
            ));
        }
        let latest = signed.keys().next_back().copied().unwrap_or(0);
        Ok(VerifyReport {
            ok: errors.is_empty(),
            messages: size,
            checkpoints: checkpoints.len() as u64,
            errors,
            unsigned_tail: size.saturating_sub(latest),
            deleted,
            purged,
        })
    }
}
