//! What the server needs from the archive beyond importing and searching: named secrets
//! for other components (the audit log's signing key, the key that seals TOTP secrets),
//! who takes part in each conversation, reads filtered by a visibility rule decided by
//! the caller, and ingest of one batch with a result per message.
//!
//! The archive does not decide who may see what: `chatvault-policy` does, in the server.
//! Here a rule is a closure that answers, for one message, hidden, shown masked, or
//! shown in full; totals count shown messages only, so a count never reveals a hidden one.

use std::sync::Arc;

use chatvault_index::{Query, TextView};
use chatvault_ledger::CheckpointSigner;
use chatvault_model::normalize::normalize;
use chatvault_model::pii;
use chatvault_model::{NewMessage, StoredMessage};
use chatvault_policy::Handle;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::ingest::prepare_batch;
use crate::search::{hit, snippet, Ask, Found, SearchFound, SearchPlan};
use crate::{Archive, ArchiveError, ConversationView, Filters, Result, SearchResponse};

/// How one message may be shown to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Hidden,
    /// Shown with personal data masked (`138****5678`).
    Masked,
    Full,
}

/// The rule a filtered read applies to each message: the message (unmasked) and the
/// handles of everyone who takes part in its conversation.
pub type VisibleRule<'a> = dyn FnMut(&StoredMessage, &[Handle]) -> Visibility + 'a;

/// The outcome of one ingested message, in input order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum IngestOutcome {
    Stored {
        id: String,
    },
    /// Already archived (same source id, or same content, sender and instant).
    Duplicate,
}

pub(crate) fn secret_binding(name: &str) -> Vec<u8> {
    format!("chatvault/secret/{name}").into_bytes()
}

/// How much personal data a searching reader sees unmasked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonalData {
    /// Everywhere it reaches (`pii.view` from its role and from each of its grants).
    Shown,
    /// Nowhere: it reads every message masked.
    Masked,
    /// In what some grants cover, masked elsewhere.
    Mixed,
}

/// Masks every field of a message that may carry personal data: the text, the sender's
/// handle and name (WhatsApp handles are phone numbers), and attachment names.
pub fn mask_message(m: &mut StoredMessage) {
    if let Some(t) = &m.text {
        m.text = Some(pii::mask(t));
    }
    m.sender = pii::mask(&m.sender);
    m.sender_name = m.sender_name.as_deref().map(pii::mask);
    for a in &mut m.attachments {
        a.name = pii::mask(&a.name);
    }
}

impl Archive {
    /// A named secret for another component, created (with `generate`) at first use and
    /// kept in the store sealed under the key-encryption key; `keys rotate` re-wraps it.
    /// Two processes creating it at once agree on the first one written.
    pub fn service_secret(
        &mut self,
        name: &str,
        generate: &dyn Fn() -> Result<Zeroizing<Vec<u8>>>,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let key = format!("secret:{name}");
        let binding = secret_binding(name);
        if self.store.meta(&key)?.is_none() {
            let fresh = generate()?;
            let sealed = self.kek.seal_secret(&fresh, &binding);
            let mut tx = self.store.write()?;
            tx.put_meta_if_absent(&key, &sealed)?;
            tx.commit()?;
        }
        let sealed = self
            .store
            .meta(&key)?
            .ok_or_else(|| ArchiveError::Corrupt(format!("secret `{name}` vanished")))?;
        self.kek.open_secret(&sealed, &binding).map_err(|_| {
            ArchiveError::Corrupt(format!(
                "secret `{name}` does not decrypt with the archive key"
            ))
        })
    }

    /// The origin of the audit log's signed checkpoints: distinct from the message log's,
    /// so a checkpoint of one can never pass for a checkpoint of the other.
    pub fn audit_origin(&self) -> String {
        format!("chatvault/{}/audit", self.archive_id)
    }

    /// The signer of the audit log's checkpoints (its own key, made at first use).
    pub fn audit_signer(&mut self) -> Result<CheckpointSigner> {
        let origin = self.audit_origin();
        let skey = self.service_secret("audit_signing_key", &|| {
            let (_, skey) = CheckpointSigner::generate(&origin)?;
            Ok(Zeroizing::new(skey.into_bytes()))
        })?;
        let text = std::str::from_utf8(&skey)
            .map_err(|_| ArchiveError::Corrupt("audit signing key is not text".into()))?;
        Ok(CheckpointSigner::from_private_key(text)?)
    }

    /// Picks up what another process committed since this one last looked (new
    /// conversations, participants and index segments). Cheap when nothing changed.
    pub fn refresh(&mut self) -> Result<()> {
        let size = self.store.log_size()?;
        if self.write_lock.is_none() && size != self.seen_size {
            self.load_directory()?;
            self.index.refresh()?;
        }
        self.seen_size = size;
        Ok(())
    }

    /// Everyone who sent a message in a conversation (by its row id), cached.
    pub(crate) fn members(&mut self, conversation: i64) -> Result<Arc<[Handle]>> {
        if let Some(m) = self.dir.members.get(&conversation) {
            return Ok(m.clone());
        }
        let mut handles = vec![];
        for id in self.store.conversation_senders(conversation)? {
            let p = self
                .participant_row(id)?
                .ok_or_else(|| ArchiveError::Corrupt(format!("participant row {id} is unknown")))?;
            handles.push(Handle::new(&p.platform, &p.handle));
        }
        handles.sort();
        let handles: Arc<[Handle]> = handles.into();
        self.dir.members.put(conversation, handles.clone());
        Ok(handles)
    }

    /// The handles of everyone who takes part in a conversation (`platform:id`).
    pub fn participants_of(&mut self, conversation: &str) -> Result<Arc<[Handle]>> {
        let id = self.conversation_id(conversation)?;
        self.members(id)
    }

    pub(crate) fn members_of_view(&mut self, m: &StoredMessage) -> Result<Arc<[Handle]>> {
        let id = self.conversation_id(&m.conversation)?;
        self.members(id)
    }

    /// Every participant the archive knows, with the display name it last saw.
    pub fn known_participants(&self) -> Result<Vec<(Handle, Option<String>)>> {
        let mut v: Vec<(Handle, Option<String>)> = self
            .store
            .participants()?
            .into_iter()
            .map(|p| (Handle::new(&p.platform, &p.handle), p.display_name))
            .collect();
        v.sort();
        Ok(v)
    }

    /// The conversations (`platform:id`) any of these handles sent a message in.
    pub fn conversations_of(&mut self, handles: &[Handle]) -> Result<Vec<String>> {
        self.conversation_ids_of(handles)?
            .into_iter()
            .map(|id| {
                let c = self.conversation(id)?;
                Ok(format!("{}:{}", c.platform, c.external_id))
            })
            .collect()
    }

    /// The row ids of the conversations these handles wrote in, ascending (what the
    /// index's `conversation_ids` filter takes).
    pub fn conversation_ids_of(&mut self, handles: &[Handle]) -> Result<Vec<i64>> {
        // Sorted lists, concatenated and sorted again: a team's reach is thousands of ids,
        // and a tree set of them cost more than the index query (profiled at 3M).
        let mut ids: Vec<i64> = vec![];
        for h in handles {
            if let Some(pid) = self.participant_by_key(&h.platform, &h.id)? {
                ids.extend_from_slice(&self.sender_conversations(pid)?);
            }
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// The conversations a participant sent in, ascending: cached, and kept up to date by
    /// each batch this process stores (another process's writes clear the cache).
    fn sender_conversations(&mut self, participant: i64) -> Result<Arc<Vec<i64>>> {
        if let Some(c) = self.dir.sender_conversations.get(&participant) {
            return Ok(c.clone());
        }
        let mut ids = self.store.conversations_of_sender(participant)?;
        ids.sort_unstable();
        ids.dedup();
        let ids = Arc::new(ids);
        self.dir.sender_conversations.put(participant, ids.clone());
        Ok(ids)
    }

    /// The row id of the conversation named exactly `platform:external_id`; `None` when
    /// there is none (a name is never guessed at, unlike [`Self::conversation_id`]).
    pub fn conversation_id_exact(&mut self, name: &str) -> Result<Option<i64>> {
        match name.split_once(':') {
            Some((platform, external_id)) => self.conversation_by_key(platform, external_id),
            None => Ok(None),
        }
    }

    /// One message and whether the rule shows it. A hidden message is reported as not
    /// found, exactly as a message that does not exist, so ids cannot be probed.
    pub fn message_visible(
        &mut self,
        id: &str,
        rule: &mut VisibleRule<'_>,
    ) -> Result<(crate::Visible<StoredMessage>, Visibility)> {
        let mut m = self.message(id)?;
        let members = self.members_of_view(&m)?;
        let v = rule(&m, &members);
        match v {
            Visibility::Hidden => return Err(ArchiveError::NotFound(format!("message {id}"))),
            Visibility::Masked => mask_message(&mut m),
            Visibility::Full => {}
        }
        Ok((crate::Visible::new(m), v))
    }

    /// Search, keeping only what the rule shows; `total` counts shown messages only.
    ///
    /// With `all_visible` (the caller's reach is everything, as for an executive), the
    /// index pages and counts as for an unfiltered search, and the rule only masks; should
    /// it hide a message of the page after all, the search falls back to checking every
    /// match, which costs one decryption per match (narrow `filters` first).
    ///
    /// The server runs the three steps apart ([`Self::plan_visible`], then
    /// [`SearchPlan::run`] without the archive's lock, then [`Self::finish_visible`]).
    #[allow(clippy::too_many_arguments)]
    pub fn search_visible(
        &mut self,
        query: &str,
        filters: &Filters,
        limit: usize,
        offset: usize,
        all_visible: bool,
        personal: PersonalData,
        rule: &mut VisibleRule<'_>,
    ) -> Result<crate::Visible<SearchResponse>> {
        let plan = self.plan_visible(query, filters, limit, offset, all_visible, personal)?;
        let found = plan.run()?;
        self.finish_visible(found, rule)
    }

    /// The first step of [`Self::search_visible`], under the archive's lock.
    pub fn plan_visible(
        &mut self,
        query: &str,
        filters: &Filters,
        limit: usize,
        offset: usize,
        all_visible: bool,
        personal: PersonalData,
    ) -> Result<SearchPlan> {
        let q = Query::parse(query)?;
        let pii_visible = personal == PersonalData::Shown;
        // For a reader who may not see personal data, a keyword that could fall inside
        // it is matched against the masked text: text hidden by the mask never matches,
        // so neither the hits, the count nor the snippets confirm it. A reader who sees
        // it nowhere asks the index's masked view, which counts and pages exactly; one
        // who sees it in some conversations only has each candidate matched against the
        // text it sees.
        let pii_check = !pii_visible && q.could_match_personal_data();
        let view = if pii_check && personal == PersonalData::Masked {
            TextView::Masked
        } else {
            TextView::Stored
        };
        // A sender filter that is itself personal data (a phone number as a handle, an
        // e-mail address) would confirm what the mask hides: it is for readers with
        // pii.view only.
        if !pii_visible
            && filters
                .sender
                .as_deref()
                .is_some_and(|s| !chatvault_model::pii::detect(s).is_empty())
        {
            return Err(crate::ArchiveError::Invalid {
                what: "sender".into(),
                why:
                    "filtering by personal data (a phone number, an e-mail address) needs pii.view"
                        .into(),
            });
        }
        let ask = if filters.conversations.as_ref().is_some_and(Vec::is_empty)
            || filters.conversation_ids.as_ref().is_some_and(Vec::is_empty)
        {
            Ask::Nothing
        } else if all_visible && (!pii_check || view == TextView::Masked) {
            Ask::Page
        } else {
            // A negated keyword found only inside masked data must not hide a message
            // either: the index then looks for the positive keywords alone, and each
            // candidate is matched whole against the text its reader sees.
            Ask::All {
                positive_only: pii_check
                    && view == TextView::Stored
                    && q.clauses.iter().any(|c| c.negated),
            }
        };
        self.plan(q, filters, limit, offset, ask, true, pii_check, view)
    }

    /// The last step of [`Self::search_visible`], under the archive's lock: reads the
    /// page (or every match) the index found and asks the rule about each message.
    pub fn finish_visible(
        &mut self,
        found: SearchFound,
        rule: &mut VisibleRule<'_>,
    ) -> Result<crate::Visible<SearchResponse>> {
        self.finish_rule(found, rule).map(crate::Visible::new)
    }

    pub(crate) fn finish_rule(
        &mut self,
        found: SearchFound,
        rule: &mut VisibleRule<'_>,
    ) -> Result<SearchResponse> {
        // Deletions made while the index was asked are seen here.
        self.sync_deleted()?;
        let SearchFound { plan, found } = found;
        let index_lag = (plan.lag > 0).then_some(plan.lag);
        let terms = plan.q.highlight_terms();
        let (exact, seqs) = match found {
            Found::Nothing => {
                return Ok(SearchResponse {
                    total: 0,
                    hits: vec![],
                    index_lag: None,
                })
            }
            Found::Page(page) => {
                // A deletion since the plan may have taken a match off another page: the
                // index's count is then redone without the deleted (rare, under the lock).
                let recount = matches!(page, chatvault_index::IndexHits::Exact { .. })
                    && self.deleted_gen != plan.gen;
                let (mut total, page) =
                    self.read_page(&plan.q, plan.view, page, plan.limit, plan.offset)?;
                if recount {
                    let (_, seqs) = plan
                        .snapshot
                        .search_all(&plan.q, &plan.filters, plan.view)?;
                    total = 0;
                    for s in seqs {
                        if !self.is_deleted(s)? {
                            total += 1;
                        }
                    }
                }
                let mut hits = Vec::with_capacity(page.len());
                let mut hidden = false;
                for mut m in page {
                    let v = if plan.ruled {
                        let members = self.members_of_view(&m)?;
                        rule(&m, &members)
                    } else {
                        Visibility::Full
                    };
                    match v {
                        Visibility::Hidden => {
                            hidden = true;
                            break;
                        }
                        Visibility::Masked => mask_message(&mut m),
                        Visibility::Full => {}
                    }
                    let text = m.text.clone().unwrap_or_default();
                    let (snip, highlights) = snippet(&text, &terms);
                    hits.push(hit(m, text, snip, highlights));
                }
                if !hidden {
                    return Ok(SearchResponse {
                        total,
                        hits,
                        index_lag,
                    });
                }
                // The rule hid a message of the page: the index's count and order are
                // not the caller's, so every match is judged (rare: the caller's reach
                // was everything).
                plan.snapshot
                    .search_all(&plan.q, &plan.filters, plan.view)?
            }
            Found::All { exact, seqs } => (exact, seqs),
        };
        let (q, pii_check) = (&plan.q, plan.pii_check);
        let mut shown = vec![];
        // A candidate whose text lacks a positive keyword matches neither as stored nor
        // masked (a mask only hides): it is passed over before the rule is asked, so the
        // audit's usage counts only what could be shown.
        let positive = pii_check.then(|| q.positive());
        for seq in seqs {
            if self.is_deleted(seq)? {
                continue;
            }
            let m = self.view_seq(seq)?;
            let raw = m.text.as_deref().unwrap_or_default();
            let stored = normalize(raw);
            // Without the masked check, this is the whole query: a candidate past it
            // matches as stored. (The masked view's candidates are checked as masked.)
            // The masked text, made once for both checks that read it.
            let masked = std::cell::OnceCell::new();
            let masked = || masked.get_or_init(|| normalize(&pii::mask(raw)));
            let read = match plan.view {
                TextView::Stored => &stored,
                TextView::Masked => masked(),
            };
            if !exact && !positive.as_ref().unwrap_or(&q).matches(read) {
                continue;
            }
            let members = self.members_of_view(&m)?;
            let v = rule(&m, &members);
            let matched = match v {
                Visibility::Hidden => false,
                Visibility::Masked if pii_check => q.matches(masked()),
                _ => exact || !pii_check || q.matches(&stored),
            };
            if matched {
                shown.push((m, v));
            }
        }
        // Newest first, as the unfiltered search orders.
        shown.sort_by(|a, b| {
            b.0.sent_at_ts
                .utc_ms
                .cmp(&a.0.sent_at_ts.utc_ms)
                .then(b.0.seq.cmp(&a.0.seq))
        });
        let total = shown.len() as u64;
        let hits = shown
            .into_iter()
            .skip(plan.offset)
            .take(plan.limit)
            .map(|(mut m, v)| {
                if v == Visibility::Masked {
                    mask_message(&mut m);
                }
                let text = m.text.clone().unwrap_or_default();
                let (snip, highlights) = snippet(&text, &terms);
                hit(m, text, snip, highlights)
            })
            .collect();
        Ok(SearchResponse {
            total,
            hits,
            index_lag,
        })
    }

    /// A conversation's messages that the rule shows, oldest first: `offset`/`limit` page
    /// over the shown ones, and `total` counts them. With `around`, the page is the
    /// `limit` shown messages centred on that message (which must itself be shown).
    pub fn conversation_visible(
        &mut self,
        key: &str,
        offset: u64,
        limit: u64,
        around: Option<&str>,
        rule: &mut VisibleRule<'_>,
    ) -> Result<crate::Visible<ConversationView>> {
        let (offset, limit) = (offset.min(crate::MAX_OFFSET), limit.min(crate::MAX_PAGE));
        let id = self.conversation_id(key)?;
        let members = self.members(id)?;
        let count = self.store.conversation_count(id)?;
        self.sync_deleted()?;
        let mut shown = vec![];
        let mut start = 0;
        while start < count {
            let rows = self.store.conversation_messages(id, start, 2048)?;
            if rows.is_empty() {
                break;
            }
            start += rows.len() as u64;
            for r in &rows {
                if self.is_deleted(r.seq)? {
                    continue;
                }
                let m = self.message_view(r)?;
                match rule(&m, &members) {
                    Visibility::Hidden => {}
                    v => shown.push((m, v)),
                }
            }
        }
        if shown.is_empty() {
            // Nothing visible: indistinguishable from a conversation that does not exist.
            return Err(ArchiveError::NotFound(format!("conversation `{key}`")));
        }
        let total = shown.len() as u64;
        let first = match around {
            None => offset as usize,
            Some(mid) => {
                let at = shown.iter().position(|(m, _)| m.id == mid).ok_or_else(|| {
                    ArchiveError::NotFound(format!("message {mid} in conversation `{key}`"))
                })?;
                at.saturating_sub(limit as usize / 2)
            }
        };
        let messages = shown
            .into_iter()
            .skip(first)
            .take(limit as usize)
            .map(|(mut m, v)| {
                if v == Visibility::Masked {
                    mask_message(&mut m);
                }
                m
            })
            .collect();
        let c = self.conversation(id)?;
        Ok(crate::Visible::new(ConversationView {
            conversation: format!("{}:{}", c.platform, c.external_id),
            title: c.title.clone(),
            kind: c
                .kind
                .and_then(chatvault_model::ConversationKind::from_code),
            platform: c.platform.clone(),
            total,
            offset: first as u64,
            messages,
        }))
    }

    /// Stores one batch of messages in one durable transaction and returns what became
    /// of each, in input order. Nothing is reported stored before the commit.
    pub fn ingest(&mut self, messages: Vec<NewMessage>) -> Result<Vec<IngestOutcome>> {
        let out = self.ingest_durable(messages)?;
        self.flush_index()?;
        Ok(out)
    }

    /// [`Archive::ingest`] without the index commit and the signed checkpoint: the
    /// messages are durable (and verifiable from the log) when this returns, and
    /// searchable after the next [`Archive::flush_index`]. A live server ingests this way
    /// and flushes a few times a second, so a stream of small batches pays for one index
    /// segment per flush, not per batch. A crash before the flush loses nothing: the
    /// index catches up from the store when the archive is next written.
    pub fn ingest_durable(&mut self, messages: Vec<NewMessage>) -> Result<Vec<IngestOutcome>> {
        self.ingest_durable_batches(vec![messages])
    }

    /// [`Archive::ingest_durable`] of several callers' batches in one transaction (a
    /// group commit), each batch read on its own: identical messages without a source
    /// id are told apart by their order within their batch, so the same batch sent
    /// twice (a retry) answers duplicates, whichever group each copy lands in. The
    /// outcomes come in order, batch after batch.
    pub fn ingest_durable_batches(
        &mut self,
        batches: Vec<Vec<NewMessage>>,
    ) -> Result<Vec<IngestOutcome>> {
        self.lock_for_writing()?;
        let batch: Vec<_> = batches.into_iter().flat_map(prepare_batch).collect();
        let seqs = self.store_batch_each(&batch)?;
        self.index_pending = true;
        let mut out = Vec::with_capacity(seqs.len());
        for s in seqs {
            out.push(match s {
                Some(seq) => {
                    let row = self.store.message_by_seq(seq)?.ok_or_else(|| {
                        ArchiveError::Corrupt(format!(
                            "message seq {seq} vanished after its commit"
                        ))
                    })?;
                    IngestOutcome::Stored {
                        id: ulid::Ulid::from_bytes(row.id).to_string(),
                    }
                }
                None => IngestOutcome::Duplicate,
            });
        }
        Ok(out)
    }
}

impl Archive {
    /// Commits what [`Archive::ingest_durable`] stored to the index, and signs a
    /// checkpoint over the log: true when there was anything to flush.
    pub fn flush_index(&mut self) -> Result<bool> {
        if !self.index_pending {
            return Ok(false);
        }
        let size = self.store.log_size()?;
        self.index.commit(size)?;
        self.index_pending = false;
        self.checkpoint()?;
        Ok(true)
    }

    /// An attachment of a message the rule shows: its reference and decrypted bytes.
    /// `None` bytes when the export referenced media it did not include.
    pub fn attachment_visible(
        &mut self,
        message_id: &str,
        sha256_hex: &str,
        rule: &mut VisibleRule<'_>,
    ) -> Result<(
        crate::Visible<chatvault_model::AttachmentRef>,
        Option<Vec<u8>>,
    )> {
        let (m, _) = self.message_visible(message_id, rule)?;
        let att = m
            .attachments
            .iter()
            .find(|a| hex::encode(a.sha256) == sha256_hex.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| {
                ArchiveError::NotFound(format!("attachment {sha256_hex} of message {message_id}"))
            })?;
        let conv = self.conversation_id(&m.conversation)?;
        let Some(sealed) = self.store.attachment(conv, &att.sha256)? else {
            return Ok((crate::Visible::new(att), None));
        };
        let c = self.conversation(conv)?;
        let aad = crate::attachment_aad(&c.platform, &c.external_id, &att.sha256);
        let dek = self.dek(conv)?;
        let bytes = dek.open(&sealed, &aad, "attachment").map_err(|_| {
            ArchiveError::Corrupt(format!("attachment {sha256_hex} does not decrypt"))
        })?;
        Ok((crate::Visible::new(att), Some(bytes)))
    }
}
