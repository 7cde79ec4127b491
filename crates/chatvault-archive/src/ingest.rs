//! Import: dedup, seal, append to the log, store in batches, then index.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chatvault_crypto::{DataKey, Kek};
use chatvault_import::{Parsed, Rejection};
use chatvault_index::IndexDoc;
use chatvault_ledger::{first_stored_index, leaf_hash, Frontier};
use chatvault_model::canonical::CanonicalRecord;
use chatvault_model::dedup::{content_fingerprint, dedup_key, DedupKey};
use chatvault_model::leaf::{commitment, leaf_bytes, LeafFields};
use chatvault_model::normalize::normalize;
use chatvault_model::pii::PiiFlags;
use chatvault_model::NewMessage;
use chatvault_store::{DataKeyRow, MessageRow, WriteTxn};
use serde::Serialize;

use crate::body::{Body, Raw};
use crate::{
    attachment_aad, body_aad, dek_binding, now_ms, Archive, ArchiveError, Directory, Result,
    StoreHashes,
};

/// Messages per store transaction.
const BATCH: usize = 2048;
/// Rejections and warnings kept with their details in a report; the rest are counted.
const MAX_DETAILED: usize = 10_000;
/// Messages between index commits during a long import.
const INDEX_COMMIT_EVERY: u64 = 500_000;

/// What an import did. Every input record is in exactly one of the three outcomes.
#[derive(Debug, Default, Serialize)]
pub struct ImportReport {
    pub stored: u64,
    pub duplicates: u64,
    /// The first rejections, with file, line and reason (at most 10,000 are kept in
    /// memory; `rejected_count` has them all).
    pub rejected: Vec<Rejection>,
    pub rejected_count: u64,
    /// Records imported with something missing (media the export left out, say).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Rejection>,
    pub warning_count: u64,
    /// Lines that look like a record header of the file's own format but were not read
    /// as one (each is also counted among the rejections or the warnings, marked
    /// `header_like`): never taken silently as text of the record above them.
    pub header_like: u64,
    /// Distinct conversations among the accepted records.
    pub conversations: u64,
}

/// Counts after each durable commit.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct ImportProgress {
    pub stored: u64,
    pub duplicates: u64,
    pub rejected: u64,
    /// The log size after the commit.
    pub log_size: u64,
}

/// A message with everything computed that does not depend on the archive's state.
pub(crate) struct Prepared {
    m: NewMessage,
    dedup: DedupKey,
    salt: [u8; 16],
    commitment: [u8; 32],
    raw_is_canonical: bool,
    normalized: String,
    pii: PiiFlags,
    /// The normalised text with its personal data masked, for the index's masked view
    /// (only when it holds some).
    masked: Option<String>,
}

enum Item {
    Message(Box<Prepared>),
    Rejected(Rejection),
    Warning(Rejection),
}

/// A producer of import records: it pushes each one, and stops when the push returns
/// `false` (storing failed).
pub type Producer<'a> = dyn FnMut(&mut dyn FnMut(Parsed) -> bool) + Send + 'a;

/// How many times each content fingerprint was seen in this import, so identical
/// messages (same conversation, sender, instant and content) are told apart by their
/// ordinal. The fingerprint includes the instant, so only messages near each other in
/// time can share one: when the map grows large, entries more than a day older than the
/// newest instant seen are dropped, which keeps memory bounded on exports of any length.
#[derive(Default)]
struct Ordinals {
    seen: HashMap<[u8; 32], (u32, i64)>,
    newest_ms: i64,
    /// The size at which the next pruning runs (doubles when a day holds more).
    prune_at: usize,
}

impl Ordinals {
    const PRUNE_AT: usize = 250_000;
    const WINDOW_MS: i64 = 24 * 3600 * 1000;

    fn next(&mut self, fp: [u8; 32], at_ms: i64) -> u32 {
        self.newest_ms = self.newest_ms.max(at_ms);
        if self.seen.len() >= self.prune_at.max(Self::PRUNE_AT) {
            let floor = self.newest_ms - Self::WINDOW_MS;
            self.seen.retain(|_, (_, t)| *t >= floor);
            self.prune_at = (self.seen.len() * 2).max(Self::PRUNE_AT);
        }
        let e = self.seen.entry(fp).or_insert((0, at_ms));
        let ord = e.0;
        e.0 += 1;
        ord
    }
}

/// Per-message work that needs no archive state: runs on the parsing thread.
/// Prepares one batch that arrived together (an API call): identical messages in it are
/// told apart by their ordinal, as within one import.
pub(crate) fn prepare_batch(messages: Vec<NewMessage>) -> Vec<Prepared> {
    let mut ordinals = Ordinals::default();
    messages
        .into_iter()
        .map(|m| prepare(m, &mut ordinals))
        .collect()
}

fn prepare(m: NewMessage, ordinals: &mut Ordinals) -> Prepared {
    let dedup = match &m.source_id {
        Some(s) => DedupKey::Source(s.clone()),
        None => {
            let fp = content_fingerprint(&m);
            let ord = ordinals.next(fp, m.sent_at.utc_ms);
            dedup_key(&m, &fp, ord)
        }
    };
    let salt: [u8; 16] = chatvault_crypto::random_bytes();
    let refs: Vec<_> = m.attachments.iter().map(|a| a.reference.clone()).collect();
    let commitment = commitment(&salt, &m.text, &refs, &m.raw);
    let raw_is_canonical = canonical_line(&m).as_bytes() == m.raw.as_slice();
    let normalized = normalize(&m.text);
    let pii = PiiFlags::of(&m.text);
    let masked = masked_text(&m.text, pii);
    Prepared {
        m,
        dedup,
        salt,
        commitment,
        raw_is_canonical,
        normalized,
        pii,
        masked,
    }
}

/// What a reader without `pii.view` reads of a text, normalised as the index holds it;
/// `None` when the text holds no personal data.
fn masked_text(text: &str, pii: PiiFlags) -> Option<String> {
    (!pii.is_empty()).then(|| normalize(&chatvault_model::pii::mask(text)))
}

impl Archive {
    /// Imports a stream of parsed records. `on_commit` runs after each durable batch.
    ///
    /// Parsing and per-message hashing run on a second thread while this one stores, so
    /// both cores work; batches are committed in input order.
    pub fn import(
        &mut self,
        records: &mut (dyn Iterator<Item = Parsed> + Send),
        on_commit: &mut dyn FnMut(ImportProgress),
    ) -> Result<ImportReport> {
        self.import_from(
            &mut |push: &mut dyn FnMut(Parsed) -> bool| {
                for p in &mut *records {
                    if !push(p) {
                        break;
                    }
                }
            },
            on_commit,
        )
    }

    /// Imports what `produce` pushes; see [`Archive::import`].
    pub fn import_from(
        &mut self,
        produce: &mut Producer<'_>,
        on_commit: &mut dyn FnMut(ImportProgress),
    ) -> Result<ImportReport> {
        self.lock_for_writing()?;
        let mut report = ImportReport::default();
        let mut conversations: HashSet<(String, String)> = HashSet::new();
        let mut since_index_commit = 0u64;
        std::thread::scope(|scope| -> Result<()> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Item>>(2);
            scope.spawn(move || {
                let mut ordinals = Ordinals::default();
                let mut buf = Vec::with_capacity(BATCH);
                let mut messages = 0;
                produce(&mut |p| {
                    match p {
                        Parsed::Message(m) => {
                            buf.push(Item::Message(Box::new(prepare(*m, &mut ordinals))));
                            messages += 1;
                        }
                        Parsed::Rejected(r) => buf.push(Item::Rejected(r)),
                        Parsed::Warning(r) => buf.push(Item::Warning(r)),
                    }
                    if messages == BATCH || buf.len() >= 4 * BATCH {
                        messages = 0;
                        // The receiver is gone only when storing failed: stop reading.
                        return tx.send(std::mem::take(&mut buf)).is_ok();
                    }
                    true
                });
                if !buf.is_empty() {
                    let _ = tx.send(buf);
                }
            });
            for items in rx {
                let mut batch = Vec::with_capacity(BATCH);
                for it in items {
                    match it {
                        Item::Message(p) => batch.push(*p),
                        Item::Rejected(r) => {
                            report.header_like += u64::from(r.header_like);
                            report.rejected_count += 1;
                            if report.rejected.len() < MAX_DETAILED {
                                report.rejected.push(r);
                            }
                        }
                        Item::Warning(r) => {
                            report.header_like += u64::from(r.header_like);
                            report.warning_count += 1;
                            if report.warnings.len() < MAX_DETAILED {
                                report.warnings.push(r);
                            }
                        }
                    }
                }
                if batch.is_empty() {
                    continue;
                }
                let outcome = self.store_batch_each(&batch)?;
                let stored = outcome.iter().filter(|s| s.is_some()).count() as u64;
                let dups = outcome.len() as u64 - stored;
                report.stored += stored;
                report.duplicates += dups;
                since_index_commit += stored;
                for p in &batch {
                    conversations.insert((p.m.platform.to_string(), p.m.conversation_id.clone()));
                }
                let log_size = self.frontier.as_ref().map_or(0, Frontier::size);
                if since_index_commit >= INDEX_COMMIT_EVERY {
                    self.index.commit(log_size)?;
                    since_index_commit = 0;
                }
                on_commit(ImportProgress {
                    stored: report.stored,
                    duplicates: report.duplicates,
                    rejected: report.rejected_count,
                    log_size,
                });
            }
            Ok(())
        })?;
        report.conversations = conversations.len() as u64;
        let size = self.store.log_size()?;
        self.index.commit(size)?;
        self.checkpoint()?;
        Ok(report)
    }

    /// Stores one batch in one transaction; returns, per message in order, its sequence
    /// number, or `None` for a duplicate.
    pub(crate) fn store_batch_each(&mut self, batch: &[Prepared]) -> Result<Vec<Option<u64>>> {
        let mut frontier = match self.frontier.take() {
            Some(f) => f,
            None => Frontier::load(self.store.log_size()?, &StoreHashes(&*self.store))?,
        };
        let received = now_ms();
        let mut stored_seqs = Vec::with_capacity(batch.len());
        let mut each = Vec::with_capacity(batch.len());
        let outcome = (|| -> Result<()> {
            let mut tx = self.store.write()?;
            for p in batch {
                let ctx = WriteCtx {
                    kek: &self.kek,
                    dir: &mut self.dir,
                };
                let seq = store_one(
                    tx.as_mut(),
                    ctx,
                    p,
                    received,
                    &mut frontier,
                    &mut self.ulids,
                )?;
                each.push(seq.as_ref().map(|s| s.seq));
                if let Some(s) = seq {
                    stored_seqs.push((s, p));
                }
            }
            tx.commit()?;
            Ok(())
        })();
        if let Err(e) = outcome {
            // Nothing of the batch was written: forget what this batch cached.
            self.frontier = None;
            self.load_directory()?;
            return Err(e);
        }
        self.frontier = Some(frontier);
        // New senders may have joined the conversations this batch wrote to: their member
        // lists are read again when next asked for (the others stay cached, so a live
        // archive's searches do not read every member list anew after each batch).
        for (s, _) in &stored_seqs {
            self.dir.members.pop(&s.conversation);
            // A sender's cached conversations gain the ones this batch wrote to.
            if let Some(convs) = self.dir.sender_conversations.get_mut(&s.sender) {
                if let Err(at) = convs.binary_search(&s.conversation) {
                    Arc::make_mut(convs).insert(at, s.conversation);
                }
            }
        }
        for (s, p) in stored_seqs {
            let (seq, conversation_id) = (s.seq, s.conversation);
            let m = &p.m;
            let conversation = format!("{}:{}", m.platform, m.conversation_id);
            self.index.add(&IndexDoc {
                seq,
                conversation_id,
                sent_at_ms: m.sent_at.utc_ms,
                platform: m.platform.as_str(),
                conversation: &conversation,
                sender_handle: &m.sender.id,
                sender_name: m.sender.name.as_deref(),
                kind: m.kind.as_str(),
                text: &p.normalized,
                masked: p.masked.as_deref(),
            })?;
        }
        Ok(each)
    }

    /// Adds one stored message to the index (committed by the caller).
    pub(crate) fn index_row(&mut self, row: &MessageRow) -> Result<()> {
        let view = self.message_view(row)?;
        let raw = view.text.as_deref().unwrap_or_default();
        let text = normalize(raw);
        let masked = masked_text(raw, PiiFlags::of(raw));
        self.index.add(&IndexDoc {
            seq: row.seq,
            conversation_id: row.conversation,
            sent_at_ms: row.sent_at_ms,
            platform: view.platform.as_str(),
            conversation: &view.conversation,
            sender_handle: &view.sender,
            sender_name: view.sender_name.as_deref(),
            kind: view.kind.as_str(),
            text: &text,
            masked: masked.as_deref(),
        })?;
        Ok(())
    }

    /// Brings the index up to the store's log size. Returns how many messages it indexed.
    pub(crate) fn catch_up_index(&mut self, progress: &mut dyn FnMut(u64)) -> Result<u64> {
        let size = self.store.log_size()?;
        let mut from = self.index.indexed_upto()?;
        if from > size {
            // The index is ahead of the store (say, a restored database): rebuild it.
            self.index.clear()?;
            from = 0;
        }
        if from == size {
            return Ok(0);
        }
        let mut done = 0;
        self.sync_deleted()?;
        while from < size {
            let rows = self.rows_from(from, 4096)?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                // Deleted and purged messages are searchable by no one.
                if !self.is_deleted(row.seq)? {
                    self.index_row(row)?;
                }
            }
            from = rows.last().map_or(size, |r| r.seq + 1);
            done += rows.len() as u64;
            progress(done);
        }
        self.index.commit(size)?;
        Ok(done)
    }

    /// Deletes the search index and rebuilds it from the store.
    pub fn reindex(&mut self, progress: &mut dyn FnMut(u64)) -> Result<u64> {
        self.lock_for_writing()?;
        self.index.clear()?;
        self.index.commit(0)?;
        let n = self.catch_up_index(progress)?;
        self.index.close_writer()?;
        Ok(n)
    }

    pub(crate) fn rows_from(&self, from: u64, max: usize) -> Result<Vec<MessageRow>> {
        let mut rows = Vec::with_capacity(max);
        self.store.scan_messages(from, &mut |r| {
            rows.push(r);
            Ok(rows.len() < max)
        })?;
        Ok(rows)
    }

    /// Releases the index writer (waits for merges). Call before exiting.
    pub fn close(&mut self) -> Result<()> {
        self.index.close_writer()?;
        Ok(())
    }

    /// Sets the search index writer's threads and memory (for benchmarks and large imports).
    pub fn set_index_budget(&mut self, threads: usize, memory_bytes: usize) {
        self.index.set_writer_budget(threads, memory_bytes);
    }
}

struct WriteCtx<'a> {
    kek: &'a Kek,
    dir: &'a mut Directory,
}

/// The rebuilt canonical line of a message, as [`Raw::Canonical`] promises.
pub(crate) fn canonical_line(m: &NewMessage) -> String {
    CanonicalRecord::from_message(m).to_line()
}

/// Stores one message inside the batch's transaction: its seq and the row ids of its
/// conversation and sender, or `None` for a duplicate.
fn store_one(
    tx: &mut dyn WriteTxn,
    ctx: WriteCtx<'_>,
    p: &Prepared,
    received: i64,
    frontier: &mut Frontier,
    ulids: &mut ulid::Generator,
) -> Result<Option<Stored>> {
    let m = &p.m;
    let platform = m.platform.as_str();
    let dir = ctx.dir;
    let conv_id = match dir.cached_conversation_id(platform, &m.conversation_id) {
        Some(id) => id,
        None => {
            // Found or inserted (a new one keeps this title); only the id is cached,
            // the row is read from the store when it is needed.
            let kind = m.conversation_kind.map(|k| k.code());
            let id = tx.conversation(
                platform,
                &m.conversation_id,
                m.conversation_title.as_deref(),
                kind,
            )?;
            dir.remember_conversation_id(platform, &m.conversation_id, id);
            id
        }
    };
    if tx.exists(conv_id, &p.dedup)? {
        return Ok(None);
    }
    let dek: Arc<DataKey> = match dir.deks.get(&conv_id) {
        Some(k) => k.clone(),
        None => {
            let binding = dek_binding(platform, &m.conversation_id);
            let dek = match tx.data_key(conv_id)? {
                Some(row) => ctx.kek.unwrap(&row.wrapped, &binding).map_err(|_| {
                    ArchiveError::Corrupt(format!(
                        "the data key of {platform}:{} does not unwrap",
                        m.conversation_id
                    ))
                })?,
                None => {
                    let dek = DataKey::generate();
                    tx.put_data_key(&DataKeyRow {
                        conversation: conv_id,
                        kek_id: ctx.kek.id().to_owned(),
                        wrapped: ctx.kek.wrap(&dek, &binding),
                    })?;
                    dek
                }
            };
            let dek = Arc::new(dek);
            dir.deks.put(conv_id, dek.clone());
            dek
        }
    };
    let sender_id = match dir.cached_participant_id(platform, &m.sender.id) {
        Some(id) => id,
        None => {
            let id = tx.participant(platform, &m.sender.id, m.sender.name.as_deref())?;
            dir.remember_participant_id(platform, &m.sender.id, id);
            id
        }
    };
    let id = ulids
        .generate()
        .unwrap_or_else(|_| ulid::Ulid::new())
        .to_bytes();
    let raw = if p.raw_is_canonical {
        Raw::Canonical {
            conversation_title: m.conversation_title.clone(),
            conversation_kind: m.conversation_kind.map(|k| k.code()),
        }
    } else {
        Raw::Verbatim(m.raw.clone())
    };
    let fields = LeafFields {
        id,
        platform,
        conversation_id: &m.conversation_id,
        source_id: m.source_id.as_deref(),
        dedup: &p.dedup,
        sender_id: &m.sender.id,
        sender_name: m.sender.name.as_deref(),
        sender_role: m.sender.role,
        sent_at: m.sent_at,
        received_at_ms: received,
        kind: m.kind,
        reply_to: m.reply_to.as_deref(),
        target: m.target.as_deref(),
    };
    let leaf = leaf_bytes(&fields, &p.commitment);
    let refs = m.attachments.iter().map(|a| a.reference.clone()).collect();
    let body = Body {
        salt: p.salt,
        text: m.text.clone(),
        attachments: refs,
        raw,
        sealed: Some(crate::body::Sealed {
            conversation_title: m.conversation_title.clone(),
            stored: m.attachments.iter().map(|a| a.bytes.is_some()).collect(),
            conversation_kind: Some(m.conversation_kind.map(|k| k.code())),
        }),
    }
    .encode();
    let seq = frontier.size();
    let fingerprint = match &p.dedup {
        DedupKey::Fingerprint(f) => Some(*f),
        DedupKey::Source(_) => None,
    };
    tx.insert_message(&MessageRow {
        seq,
        id,
        conversation: conv_id,
        source_id: m.source_id.clone(),
        fingerprint,
        sender: sender_id,
        sender_name: m.sender.name.clone(),
        sender_role: m.sender.role.code(),
        sent_at_ms: m.sent_at.utc_ms,
        sent_offset_s: m.sent_at.offset_s,
        received_at_ms: received,
        kind: m.kind.code(),
        reply_to: m.reply_to.clone(),
        target: m.target.clone(),
        tags: if m.tags.is_empty() {
            None
        } else {
            serde_json::to_string(&m.tags).ok()
        },
        body: Some(dek.seal(&body, &body_aad(&id))),
        pii: Some(p.pii.bits()),
    })?;
    let hashes: Vec<[u8; 32]> = frontier
        .push(leaf_hash(&leaf))?
        .into_iter()
        .map(|h| h.0)
        .collect();
    tx.put_hashes(first_stored_index(seq), &hashes)?;
    for a in &m.attachments {
        if let Some(bytes) = &a.bytes {
            let aad = attachment_aad(platform, &m.conversation_id, &a.reference.sha256);
            tx.put_attachment(conv_id, &a.reference.sha256, &dek.seal(bytes, &aad))?;
        }
    }
    Ok(Some(Stored {
        seq,
        conversation: conv_id,
        sender: sender_id,
    }))
}

/// Where a stored message went.
struct Stored {
    seq: u64,
    conversation: i64,
    sender: i64,
}

#[cfg(test)]
mod ordinal_tests {
    use super::Ordinals;

    #[test]
    fn ordinals_count_identical_messages_and_stay_bounded() {
        let mut o = Ordinals::default();
        assert_eq!(
            (o.next([1; 32], 0), o.next([1; 32], 0), o.next([2; 32], 0)),
            (0, 1, 0)
        );
        // A long export: one distinct message a minute for a year.
        for i in 0..525_600i64 {
            let mut fp = [0u8; 32];
            fp[..8].copy_from_slice(&i.to_le_bytes());
            assert_eq!(o.next(fp, i * 60_000), 0);
        }
        assert!(o.seen.len() <= Ordinals::PRUNE_AT, "{}", o.seen.len());
        // Identical messages close in time are still told apart after pruning.
        let t = 525_600 * 60_000;
        assert_eq!((o.next([9; 32], t), o.next([9; 32], t)), (0, 1));
    }
}
