//! Deletion in two steps.
//!
//! 1. **Delete** (recoverable): a deletion row is written and the message leaves the
//!    search index. From then on it is invisible to everyone and searchable by no one
//!    (every read path skips it), until `recover_until_ms`; a recovery removes the row and
//!    indexes the message again.
//! 2. **Purge** (after the window): in one transaction per batch, the sealed content (text,
//!    salt, attachment list, raw record) is destroyed, attachments no live message still
//!    references are deleted, the conversation's data key is deleted when nothing of it is
//!    left (crypto-shredding), and the deletion row becomes the tombstone. SQLite runs with
//!    `secure_delete`, so freed pages are overwritten. The message row and its Merkle leaf
//!    stay: `verify` checks each tombstone against the log, so the log still verifies and
//!    proves what was deleted, when and under which rule.
//!
//! A crash at any point leaves each message either as it was or wholly in its next state:
//! every step is one SQLite transaction, and the index, which is derived, only ever lags
//! (reads skip deleted messages whatever the index says).

use std::collections::{BTreeSet, HashMap};

use chatvault_ledger::first_stored_index;
use chatvault_store::{DeletionRow, DeletionState, MessageRow};
use serde::{Deserialize, Serialize};

use crate::{Archive, ArchiveError, Result};

/// Meta key counting deletion changes, so other processes know to reload.
const GEN_KEY: &str = "deletions_gen";
/// Messages per purge transaction.
const PURGE_BATCH: usize = 5_000;

/// Why a message was deleted: the rule or request, who asked, who approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionReason {
    /// `policy:NAME` (a retention sweep) or `request:ID` (a manual deletion).
    pub rule: String,
    pub requested_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
}

/// A deletion or tombstone, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct DeletionInfo {
    pub id: String,
    pub conversation: String,
    pub state: &'static str,
    pub deleted_ms: i64,
    pub recover_until_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purged_ms: Option<i64>,
    pub leaf_hash: String,
    pub reason: DeletionReason,
}

#[derive(Debug, Default, Serialize)]
pub struct DeleteReport {
    pub deleted: u64,
    /// Already deleted or purged: left as they were.
    pub already: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct RecoverReport {
    pub recovered: u64,
    /// Purged (gone for good) or never deleted.
    pub not_recoverable: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct PurgeReport {
    pub purged: u64,
    pub attachments_removed: u64,
    /// Conversations whose data key was destroyed: nothing of them is left.
    pub conversations_shredded: u64,
}

impl Archive {
    /// Reloads the deleted and purged messages when they changed since the last load (in
    /// this process or another). Every public read calls it once, up front; the checks in
    /// its loops then use the cache.
    pub(crate) fn sync_deleted(&mut self) -> Result<()> {
        let gen = self.gen_now()?;
        if self.deleted_gen != Some(gen) {
            self.deleted = self
                .store
                .deletions()?
                .into_iter()
                .map(|d| (d.seq, d.state))
                .collect();
            self.deleted_gen = Some(gen);
        }
        Ok(())
    }

    pub(crate) fn deleted(&mut self) -> Result<&HashMap<u64, DeletionState>> {
        if self.deleted_gen.is_none() {
            self.sync_deleted()?;
        }
        Ok(&self.deleted)
    }

    /// Whether a message is deleted or purged, as of the last [`Self::sync_deleted`].
    pub(crate) fn is_deleted(&mut self, seq: u64) -> Result<bool> {
        Ok(self.deleted()?.contains_key(&seq))
    }

    fn bump_gen(txn: &mut dyn chatvault_store::WriteTxn, current: Option<u64>) -> Result<u64> {
        let next = current.unwrap_or(0) + 1;
        txn.put_meta(GEN_KEY, &next.to_le_bytes())?;
        Ok(next)
    }

    pub(crate) fn gen_now(&self) -> Result<Option<u64>> {
        Ok(self
            .store
            .meta(GEN_KEY)?
            .map(|v| u64::from_le_bytes(v.try_into().unwrap_or_default())))
    }

    /// Deletes messages (recoverable until `now_ms + recover_days`). Ids that are already
    /// deleted are left alone; an unknown id is an error and nothing is deleted.
    pub fn delete_messages(
        &mut self,
        ids: &[String],
        reason: &DeletionReason,
        now_ms: i64,
        recover_days: u32,
    ) -> Result<DeleteReport> {
        self.lock_for_writing()?;
        let mut rows: Vec<MessageRow> = vec![];
        for id in ids {
            rows.push(self.message_row(id)?);
        }
        let reason_json =
            serde_json::to_string(reason).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        self.sync_deleted()?;
        let deleted = self.deleted()?.clone();
        let mut report = DeleteReport::default();
        let fresh: Vec<&MessageRow> = rows
            .iter()
            .filter(|r| !deleted.contains_key(&r.seq))
            .collect();
        report.already = (rows.len() - fresh.len()) as u64;
        let indexes: Vec<u64> = fresh.iter().map(|r| first_stored_index(r.seq)).collect();
        let hashes = self.store.read_hashes(&indexes)?;
        let gen = self.gen_now()?;
        let mut seen = BTreeSet::new();
        {
            let mut txn = self.store.write()?;
            for (r, h) in fresh.iter().zip(&hashes) {
                if !seen.insert(r.seq) {
                    continue;
                }
                txn.put_deletion(&DeletionRow {
                    seq: r.seq,
                    state: DeletionState::Deleted,
                    deleted_ms: now_ms,
                    recover_until_ms: now_ms + recover_days as i64 * 86_400_000,
                    purged_ms: None,
                    leaf_hash: *h,
                    reason: reason_json.clone(),
                })?;
                report.deleted += 1;
            }
            Self::bump_gen(txn.as_mut(), gen)?;
            txn.commit()?;
        }
        self.deleted_gen = None;
        // What ingest stored but has not committed to the index is committed first, as
        // covered (`upto` = the log's size): this commit must not make those documents
        // durable under the old `upto`, or a crash would index them twice.
        self.flush_index()?;
        for seq in &seen {
            self.index.remove(*seq)?;
        }
        let upto = self.index.indexed_upto()?;
        self.index.commit(upto)?;
        Ok(report)
    }

    /// Recovers deleted messages still inside their window: they are visible and
    /// searchable again.
    pub fn recover_messages(&mut self, ids: &[String], now_ms: i64) -> Result<RecoverReport> {
        self.lock_for_writing()?;
        let all: HashMap<u64, DeletionRow> = self
            .store
            .deletions()?
            .into_iter()
            .map(|d| (d.seq, d))
            .collect();
        let mut report = RecoverReport::default();
        let mut back = vec![];
        for id in ids {
            let row = self.message_row(id)?;
            match all.get(&row.seq) {
                Some(d) if d.state == DeletionState::Deleted && d.recover_until_ms > now_ms => {
                    back.push(row)
                }
                _ => report.not_recoverable.push(id.clone()),
            }
        }
        let gen = self.gen_now()?;
        {
            let mut txn = self.store.write()?;
            for r in &back {
                if txn.remove_deletion(r.seq)? {
                    report.recovered += 1;
                }
            }
            Self::bump_gen(txn.as_mut(), gen)?;
            txn.commit()?;
        }
        self.deleted_gen = None;
        self.flush_index()?;
        for r in &back {
            self.index_row(r)?;
        }
        let upto = self.index.indexed_upto()?;
        self.index.commit(upto)?;
        Ok(report)
    }

    /// Purges every deletion whose window closed by `now_ms`. Crash-safe per batch.
    pub fn purge_due(&mut self, now_ms: i64, progress: &mut dyn FnMut(u64)) -> Result<PurgeReport> {
        self.lock_for_writing()?;
        let due: Vec<DeletionRow> = self
            .store
            .deletions()?
            .into_iter()
            .filter(|d| d.state == DeletionState::Deleted && d.recover_until_ms <= now_ms)
            .collect();
        let mut report = PurgeReport::default();
        for chunk in due.chunks(PURGE_BATCH) {
            self.purge_batch(chunk, now_ms, &mut report)?;
            progress(report.purged);
        }
        self.deleted_gen = None;
        Ok(report)
    }

    fn purge_batch(
        &mut self,
        chunk: &[DeletionRow],
        now_ms: i64,
        report: &mut PurgeReport,
    ) -> Result<()> {
        let seqs: Vec<u64> = chunk.iter().map(|d| d.seq).collect();
        let convs = self.store.conversations_of_seqs(&seqs)?;
        // The keys to read what live messages still reference, where there are attachments
        // that might be orphaned (read before the transaction borrows the store).
        let mut deks = HashMap::new();
        for &c in &convs {
            if self.store.attachment_count(c)? > 0 {
                deks.insert(c, self.dek(c)?);
            }
        }
        let gen = self.gen_now()?;
        let mut shredded = vec![];
        // One transaction: the contents, the tombstones, the orphaned attachments and the
        // keys of conversations left empty go together, or not at all.
        let mut txn = self.store.write()?;
        for d in chunk {
            txn.clear_body(d.seq)?;
            txn.put_deletion(&DeletionRow {
                state: DeletionState::Purged,
                purged_ms: Some(now_ms),
                ..d.clone()
            })?;
            report.purged += 1;
        }
        for &conv in &convs {
            if txn.live_count(conv)? == 0 {
                report.attachments_removed += txn.delete_attachments(conv)?;
                txn.delete_data_key(conv)?;
                shredded.push(conv);
                continue;
            }
            let Some(dek) = deks.get(&conv) else { continue };
            let mut referenced = BTreeSet::new();
            for (id, sealed) in txn.live_bodies(conv)? {
                // A body that does not open aborts the purge: nothing is deleted on a guess.
                let plain = dek
                    .open(&sealed, &crate::body_aad(&id), "content")
                    .map_err(|_| {
                        ArchiveError::Corrupt(format!(
                            "message {}: its content does not decrypt",
                            ulid::Ulid::from_bytes(id)
                        ))
                    })?;
                let body = crate::body::Body::decode(&plain).map_err(|e| {
                    ArchiveError::Corrupt(format!("message {}: {e}", ulid::Ulid::from_bytes(id)))
                })?;
                referenced.extend(body.attachments.iter().map(|a| a.sha256));
            }
            for sha in txn.attachment_shas(conv)? {
                if !referenced.contains(&sha) {
                    txn.delete_attachment(conv, &sha)?;
                    report.attachments_removed += 1;
                }
            }
        }
        Self::bump_gen(txn.as_mut(), gen)?;
        txn.commit()?;
        report.conversations_shredded += shredded.len() as u64;
        for conv in shredded {
            self.dir.deks.pop(&conv);
        }
        Ok(())
    }

    /// Every deletion and tombstone.
    pub fn deletion_list(&mut self) -> Result<Vec<DeletionInfo>> {
        let mut out = vec![];
        for d in self.store.deletions()? {
            let Some(row) = self.store.message_by_seq(d.seq)? else {
                continue;
            };
            let conv = self
                .conversation_row(row.conversation)?
                .map(|c| format!("{}:{}", c.platform, c.external_id))
                .unwrap_or_default();
            let reason: DeletionReason = serde_json::from_str(&d.reason)
                .map_err(|e| ArchiveError::Corrupt(format!("deletion of seq {}: {e}", d.seq)))?;
            out.push(DeletionInfo {
                id: ulid::Ulid::from_bytes(row.id).to_string(),
                conversation: conv,
                state: match d.state {
                    DeletionState::Deleted => "deleted",
                    DeletionState::Purged => "purged",
                },
                deleted_ms: d.deleted_ms,
                recover_until_ms: d.recover_until_ms,
                purged_ms: d.purged_ms,
                leaf_hash: hex::encode(d.leaf_hash),
                reason,
            });
        }
        Ok(out)
    }
}
