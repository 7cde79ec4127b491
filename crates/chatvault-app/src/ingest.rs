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
    Stored { id: String },
    Duplicate,
    Rejected { reason: String },
}

/// The answer to a batch: one outcome per item, in the batch's order, and the counts.
#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    pub results: Vec<ItemOutcome>,
    #[serde(skip)]
    pub stored: u64,
    #[serde(skip)]
    pub duplicates: u64,
    #[serde(skip)]
    pub rejected: u64,
}

/// Who sends a batch: the audit entry (`ingest`, naming the actor and its address), and
/// the platform its token is bound to, if it is (every message must then be of that
/// platform).
pub struct Sender {
    pub event: Event,
    pub source: Option<String>,
}

impl Sender {
    pub fn new(actor: &str, ip: Option<&str>, source: Option<&str>) -> Sender {
        Sender {
            event: Event::new(actor, Action::Ingest).ip(ip),
            source: source.map(str::to_owned),
        }
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
pub fn ingest(app: &App, sender: Sender, items: Vec<Candidate>) -> Result<Receipt> {
    check_size(app, items.len())?;
    let source = sender.source;
    let mut results: Vec<Option<ItemOutcome>> = vec![None; items.len()];
    let mut accepted = vec![];
    let mut slots = vec![];
    for (i, item) in items.into_iter().enumerate() {
        let checked = item.and_then(|m| match &source {
            Some(s) if s != m.platform.as_str() => Err(format!(
                "messages[{i}]: this token may only ingest platform `{s}`"
            )),
            _ => Ok(m),
        });
        match checked {
            Ok(m) => {
                accepted.push(m);
                slots.push(i);
            }
            Err(reason) => results[i] = Some(ItemOutcome::Rejected { reason }),
        }
    }
    // What the monitor needs of each message, kept before the archive takes them.
    let live = &app.monitor;
    let seen: Vec<_> = if live.enabled() {
        accepted.iter().map(|m| live.facts(m)).collect()
    } else {
        vec![]
    };
    let outcomes = app.archive()?.ingest(accepted)?;
    if outcomes.len() != slots.len() {
        // The archive answers each message it was given; anything else is a defect, and
        // the batch is not acknowledged (a retry answers what was stored as duplicates).
        return Err(Error::internal(format!(
            "the archive answered {} of {} messages",
            outcomes.len(),
            slots.len()
        )));
    }
    let received_ms = chrono::Utc::now().timestamp_millis();
    let observed: Vec<_> = seen
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| matches!(o, IngestOutcome::Stored { .. }))
        .map(|(f, _)| f.observed(source.as_deref(), received_ms))
        .collect();
    // The batch is stored: a monitor failure must not turn its receipt into an error.
    if let Err(e) = live.observe(&observed) {
        log_err!("alerts: {}", e.message);
    }
    let (mut stored, mut duplicates) = (0u64, 0u64);
    for (slot, o) in slots.into_iter().zip(outcomes) {
        results[slot] = Some(match o {
            IngestOutcome::Stored { id } => {
                stored += 1;
                ItemOutcome::Stored { id }
            }
            IngestOutcome::Duplicate => {
                duplicates += 1;
                ItemOutcome::Duplicate
            }
        });
    }
    // Every slot is filled: rejected above, or answered by the archive (counted above).
    let results: Vec<ItemOutcome> = results.into_iter().flatten().collect();
    let rejected = results.len() as u64 - stored - duplicates;
    app.audit(sender.event.details(json!({
        "stored": stored, "duplicates": duplicates, "rejected": rejected, "source": source,
    })))?;
    Ok(Receipt {
        results,
        stored,
        duplicates,
        rejected,
    })
}
