//! Ingest: validate → store → index → monitor → audit, as one path. The HTTP route
//! (`POST /api/v1/messages`) calls it, and so will every live capture connector: each
//! turns its own wire format into [`Candidate`]s and hands them here.
//!
//! Each item of a batch gets its own answer, in order: stored (with its id), a duplicate
//! of one stored before, or rejected with a reason that names the item and the field. A
//! batch is acknowledged only once it is stored and audited; an error before then means
//! nothing of it is acknowledged, and a retry answers what did get stored as duplicates.

use chatvault_access::{Action, Event};
use chatvault_archive::IngestOutcome;
use chatvault_model::canonical::CanonicalRecord;
use chatvault_model::{NewMessage, Origin};
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::service::App;

/// One item of a batch before it is stored: a message, or why it is not one.
pub type Candidate = std::result::Result<NewMessage, String>;

/// What became of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum ItemOutcome {
    Stored {
        id: String,
    },
    Duplicate,
    Rejected {
        reason: String,
    },
    /// A live source's event that did not map: kept whole in the source's quarantine,
    /// to be replayed (`chatvault source replay`).
    Quarantined {
        reason: String,
    },
}

/// The answer to a batch: one outcome per item, in the batch's order, and the counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Receipt {
    pub results: Vec<ItemOutcome>,
    #[serde(skip)]
    pub stored: u64,
    #[serde(skip)]
    pub duplicates: u64,
    #[serde(skip)]
    pub rejected: u64,
    #[serde(skip)]
    pub quarantined: u64,
}

/// Who sends a batch: the audit entry (`ingest`, naming the actor and its address), and
/// the platform its token is bound to, if it is (every message must then be of that
/// platform).
pub struct Sender {
    pub event: Event,
    pub source: Option<String>,
    /// The live source the monitor counts the messages under (a capture source's
    /// `kind:name`); else the token's platform, or each message's.
    pub live: Option<String>,
}

impl Sender {
    pub fn new(actor: &str, ip: Option<&str>, source: Option<&str>) -> Sender {
        Sender {
            event: Event::new(actor, Action::Ingest).ip(ip),
            source: source.map(str::to_owned),
            live: None,
        }
    }

    /// Counts the messages under live source `name` in the monitor.
    pub fn live(mut self, name: &str) -> Sender {
        self.live = Some(name.to_owned());
        self
    }
}

/// Reads a batch of canonical records (the API's JSON form of a message). A record that
/// does not parse is rejected, naming its index and the field; the others go on.
pub fn parse_canonical(records: Vec<Value>, label: &str) -> Vec<Candidate> {
    records
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let raw = serde_json::to_vec(&v).unwrap_or_default();
            let rec = serde_json::from_value::<CanonicalRecord>(v)
                .map_err(|e| format!("messages[{i}]: {e}"))?;
            let origin = Origin {
                file: label.into(),
                line: i as u64 + 1,
            };
            rec.into_new_message(raw, origin, &mut |_| {
                Err("the API takes attachments inline as `data` (base64), not by `path`".into())
            })
            .map_err(|e| format!("messages[{i}]: {e}"))
        })
        .collect()
}

/// Refuses a batch of more than `[limits] max_ingest_messages` items, before anything of
/// it is read.
pub fn check_size(app: &App, n: usize) -> Result<()> {
    let max = app.config.limits.max_ingest_messages;
    if n > max {
        return Err(Error::new(
            "ingest.too_large",
            format!("{n} messages in one batch; the limit is {max}"),
        ));
    }
    Ok(())
}

/// The API's form: a batch of canonical records, bounded before any is parsed, then
/// [`ingest`]ed.
pub fn ingest_canonical(app: &App, sender: Sender, records: Vec<Value>) -> Result<Receipt> {
    check_size(app, records.len())?;
    ingest(app, sender, parse_canonical(records, "api"))
}

/// Stores a batch for `sender`: bounds its size, holds each message to the sender's
/// platform, stores and indexes the rest in one transaction, feeds what was stored to
/// the live monitor, and audits `ingest` with the counts.
///
/// Batches that arrive while another is being written wait and are then written
/// together (group commit): one archive transaction, one index commit and one audit
/// transaction for all of them, each still answered and audited on its own. A live
/// source's requests of one message each thus share the fsyncs.
pub fn ingest(app: &App, sender: Sender, items: Vec<Candidate>) -> Result<Receipt> {
    check_size(app, items.len())?;
    app.committer.submit(app, Batch { sender, items })
}

/// One caller's batch, waiting for the group it is written with.
pub struct Batch {
    sender: Sender,
    items: Vec<Candidate>,
}

/// The group commit: batches queue here; the first caller to find no writer at work
/// writes every batch queued (up to [`GROUP_MAX`] messages), answers each, and goes on
/// while more wait. No thread of its own: callers take turns.
#[derive(Default)]
pub struct Committer {
    queue: std::sync::Mutex<Queue>,
    done: std::sync::Condvar,
}

#[derive(Default)]
struct Queue {
    waiting: std::collections::VecDeque<(u64, Batch)>,
    answers: std::collections::HashMap<u64, Result<Receipt>>,
    writing: bool,
    next: u64,
}

/// The most messages one group writes: the rest wait for the next round.
pub const GROUP_MAX: usize = 5_000;

impl Committer {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Queue>> {
        // A writer that panicked answered its group with an error (`Round`'s drop): what
        // is left is consistent.
        crate::service::recover(&self.queue, |_| Ok::<(), Error>(()))
    }

    fn submit(&self, app: &App, batch: Batch) -> Result<Receipt> {
        let ticket = {
            let mut q = self.lock()?;
            let t = q.next;
            q.next += 1;
            q.waiting.push_back((t, batch));
            t
        };
        let mut q = self.lock()?;
        loop {
            if let Some(answer) = q.answers.remove(&ticket) {
                return answer;
            }
            if q.writing {
                q = self
                    .done
                    .wait(q)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            // This caller writes the next group (its own batch may be in it or not).
            q.writing = true;
            let mut group = vec![];
            let mut n = 0;
            while let Some((_, b)) = q.waiting.front() {
                if !group.is_empty() && n + b.items.len() > GROUP_MAX {
                    break;
                }
                n += b.items.len();
                group.extend(q.waiting.pop_front());
            }
            drop(q);
            let mut round = Round {
                committer: self,
                tickets: group.iter().map(|(t, _)| *t).collect(),
                answered: false,
            };
            let answers = write_group(app, group.into_iter().map(|(_, b)| b).collect());
            round.answer(answers)?;
            q = self.lock()?;
        }
    }
}

/// A group being written: answered with its receipts, or, if the writer panics, with an
/// error for each batch, so that no caller waits forever.
struct Round<'a> {
    committer: &'a Committer,
    tickets: Vec<u64>,
    answered: bool,
}

impl Round<'_> {
    fn answer(&mut self, answers: Vec<Result<Receipt>>) -> Result<()> {
        let mut q = self.committer.lock()?;
        for (t, a) in self.tickets.iter().zip(answers) {
            q.answers.insert(*t, a);
        }
        q.writing = false;
        self.answered = true;
        self.committer.done.notify_all();
        Ok(())
    }
}

impl Drop for Round<'_> {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        let mut q = self
            .committer
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for t in &self.tickets {
            q.answers.insert(
                *t,
                Err(Error::internal("the write this batch was part of failed")),
            );
        }
        q.writing = false;
        self.committer.done.notify_all();
    }
}

/// One batch's part of a group, before the write.
struct Part {
    results: Vec<Option<ItemOutcome>>,
    slots: Vec<usize>,
    event: Event,
    source: Option<String>,
    live: Option<String>,
    facts: Vec<crate::live::Facts>,
}

/// Writes a group: each batch checked on its own, then every accepted message in one
/// archive write, then the monitor, then every batch's audit entry in one transaction.
/// An error in a shared step fails every batch of the group (nothing of it is
/// acknowledged; a retry answers what was stored as duplicates).
fn write_group(app: &App, group: Vec<Batch>) -> Vec<Result<Receipt>> {
    let n = group.len();
    let live = &app.monitor;
    let mut parts = Vec::with_capacity(n);
    // Each batch's accepted messages apart: the archive reads each batch on its own.
    let mut accepted: Vec<Vec<chatvault_model::NewMessage>> = Vec::with_capacity(n);
    for Batch { sender, items } in group {
        let mut mine = vec![];
        let source = sender.source.clone();
        let mut results: Vec<Option<ItemOutcome>> = vec![None; items.len()];
        let mut slots = vec![];
        let mut facts = vec![];
        for (i, item) in items.into_iter().enumerate() {
            let checked = item.and_then(|m| match &source {
                Some(s) if s != m.platform.as_str() => Err(format!(
                    "messages[{i}]: this token may only ingest platform `{s}`"
                )),
                _ => Ok(m),
            });
            match checked {
                Ok(m) => {
                    // What the monitor needs of each message, kept before the archive
                    // takes them.
                    if live.enabled() {
                        facts.push(live.facts(&m));
                    }
                    mine.push(m);
                    slots.push(i);
                }
                Err(reason) => results[i] = Some(ItemOutcome::Rejected { reason }),
            }
        }
        accepted.push(mine);
        parts.push(Part {
            results,
            slots,
            event: sender.event,
            source,
            live: sender.live,
            facts,
        });
    }
    let fail = |e: Error| (0..n).map(|_| Err(e.clone())).collect();
    let expected: usize = accepted.iter().map(Vec::len).sum();
    let defer = app.defers_index();
    let outcomes = match app.archive().and_then(|mut a| {
        let o = a.ingest_durable_batches(accepted)?;
        if !defer {
            a.flush_index()?;
        }
        Ok(o)
    }) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    if outcomes.len() != expected {
        // The archive answers each message it was given; anything else is a defect.
        return fail(Error::internal(format!(
            "the archive answered {} of {expected} messages",
            outcomes.len()
        )));
    }
    let received_ms = chrono::Utc::now().timestamp_millis();
    let mut outcomes = outcomes.into_iter();
    let mut receipts = Vec::with_capacity(n);
    let mut events = Vec::with_capacity(n);
    let mut observed = vec![];
    for part in &mut parts {
        let (mut stored, mut duplicates) = (0u64, 0u64);
        for (k, slot) in part.slots.iter().enumerate() {
            let Some(o) = outcomes.next() else { break };
            part.results[*slot] = Some(match o {
                IngestOutcome::Stored { id } => {
                    if let Some(f) = part.facts.get(k) {
                        observed.push(f.observed(
                            part.live.as_deref().or(part.source.as_deref()),
                            received_ms,
                        ));
                    }
                    stored += 1;
                    ItemOutcome::Stored { id }
                }
                IngestOutcome::Duplicate => {
                    duplicates += 1;
                    ItemOutcome::Duplicate
                }
            });
        }
        // Every slot is filled: rejected above, or answered by the archive.
        let results: Vec<ItemOutcome> = std::mem::take(&mut part.results)
            .into_iter()
            .flatten()
            .collect();
        let rejected = results.len() as u64 - stored - duplicates;
        events.push(part.event.clone().details(json!({
            "stored": stored, "duplicates": duplicates, "rejected": rejected, "source": part.source,
        })));
        receipts.push(Receipt {
            results,
            stored,
            duplicates,
            rejected,
            quarantined: 0,
        });
    }
    // The group is stored: a monitor failure must not turn its receipts into errors.
    if let Err(e) = live.observe(&observed) {
        log_err!("alerts: {}", e.message);
    }
    if let Err(e) = app.access().and_then(|mut a| Ok(a.audit_all(&events)?)) {
        return fail(e);
    }
    receipts.into_iter().map(Ok).collect()
}
