//! Live capture: a platform's request at `/hooks/NAME` becomes messages on the one ingest
//! path ([`crate::ingest::ingest`]), the same as the batch API's.
//!
//! A connector is one module here and one entry in [`KINDS`]: its name, the secrets and
//! settings a source of its kind needs, and `receive`, which verifies a request over its
//! raw bytes (`chatvault-connect`) and turns it into a handshake reply or candidates.
//! This module does the rest for every kind: it loads the source and its secrets, refuses
//! what does not verify (401, nothing stored, the refusal audited at most once a minute
//! per source), ingests, and answers.

use std::collections::{BTreeMap, BTreeSet};

use chatvault_access::sources::{Secrets, SourceInfo};
use chatvault_access::{Action, Event, Outcome};
use chatvault_connect::Refusal;
use serde_json::json;

use crate::ingest::{Candidate, ItemOutcome, Receipt, Sender};
use crate::{App, Error, Result};

pub mod dingtalk;
pub mod feishu;
pub mod slack;
pub mod stats;
pub mod telegram;
pub mod webhook;
pub mod wecom;
pub mod wecom_archive;
pub mod wecom_kf;

/// One request to a source's endpoint, as the server received it.
pub struct Request<'a> {
    pub method: &'a str,
    /// The raw query string (without `?`).
    pub query: &'a str,
    /// A header's value by its name (case-insensitive).
    pub header: &'a dyn Fn(&str) -> Option<String>,
    /// The raw body: signatures cover these bytes.
    pub body: &'a [u8],
    pub ip: Option<&'a str>,
    pub now_s: i64,
}

impl Request<'_> {
    /// Refuses anything but a POST: `what` names what the platform posts.
    pub fn post_only(&self, what: &str) -> std::result::Result<(), Refusal> {
        if self.method == "POST" {
            Ok(())
        } else {
            Err(Refusal::Malformed(
                "method",
                format!("{what} come as POSTs"),
            ))
        }
    }

    /// A header the platform always sends, or `Missing` naming it.
    pub fn required(&self, name: &'static str) -> std::result::Result<String, Refusal> {
        (self.header)(name).ok_or(Refusal::Missing(name))
    }
}

/// What the platform gets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, v: serde_json::Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: v.to_string().into_bytes(),
        }
    }
}

/// What a verified request asks for.
pub enum Handled {
    /// A handshake (a URL check, a challenge): answered as is, nothing stored.
    Reply(Reply),
    /// A verified event: `payload` is what the kind's `map` reads (the body, or its
    /// decrypted plaintext). It is mapped and stored (or quarantined) before the reply,
    /// which is made from the receipt.
    Event {
        payload: Vec<u8>,
        reply: Box<dyn FnOnce(&Receipt) -> Reply + Send>,
    },
    /// A verified notice that the platform holds messages to fetch (微信客服's
    /// `kf_msg_or_event`): it wakes the source's pull with `note` (the fetch token), and is
    /// answered at once.
    Pull {
        note: serde_json::Value,
        reply: Reply,
    },
}

impl Handled {
    /// A verified event answered `{"ok": true}` once it is stored (or quarantined).
    pub fn acked(payload: Vec<u8>) -> Handled {
        Handled::Event {
            payload,
            reply: Box::new(|_| Reply::json(200, json!({"ok": true}))),
        }
    }

    /// A verified request that holds nothing to store and no event (a handshake without
    /// its challenge): 400 `input.invalid`, naming why (signed, so not a 401).
    pub fn invalid(why: impl std::fmt::Display) -> Handled {
        Handled::Reply(Reply::json(
            400,
            json!({"error": {"code": "input.invalid", "message": why.to_string()}}),
        ))
    }
}

/// What a kind's `map` makes of one verified event.
#[derive(Default)]
pub struct Mapped {
    /// The messages it holds; one that does not map sends the event to quarantine.
    pub candidates: Vec<Candidate>,
    /// The platform's sequence number of the event, where it has one (Telegram's
    /// `update_id`): a skipped number raises a gap alert.
    pub seq: Option<i64>,
}

impl Mapped {
    /// One event's canonical record, or why it has none, as its one message.
    pub fn one(record: std::result::Result<serde_json::Value, String>, label: &str) -> Mapped {
        let candidate = record.and_then(|r| {
            crate::ingest::parse_canonical(vec![r], label)
                .pop()
                .unwrap_or_else(|| Err("no record".into()))
        });
        Mapped {
            candidates: vec![candidate],
            seq: None,
        }
    }
}

/// A source's configuration as its kind reads it.
pub struct Source<'a> {
    pub info: &'a SourceInfo,
    pub secrets: &'a Secrets,
}

impl Source<'_> {
    pub fn secret(&self, name: &'static str) -> std::result::Result<&str, Refusal> {
        self.secrets
            .get(name)
            .map(|s| s.as_str())
            .ok_or_else(|| Refusal::BadKey(format!("the source has no {name}")))
    }
}

/// A kind of source: one connector.
pub struct Kind {
    pub name: &'static str,
    /// The secrets a source of this kind needs (each from a file on `source add`).
    pub secrets: &'static [&'static str],
    /// The settings it needs (not secret).
    pub settings: &'static [&'static str],
    pub receive: fn(&Source<'_>, &Request<'_>) -> std::result::Result<Handled, Refusal>,
    /// Maps a verified event (a [`Handled::Event`]'s payload) to messages; an error
    /// (an unknown type, a schema change) sends it to quarantine. Pure: a replay after
    /// an upgrade runs it again on the same bytes.
    pub map: fn(&Source<'_>, &[u8]) -> std::result::Result<Mapped, String>,
}

/// Every connector built so far.
pub static KINDS: &[&Kind] = &[
    &webhook::KIND,
    &slack::KIND,
    &telegram::KIND,
    &feishu::KIND,
    &wecom::KIND,
    &dingtalk::KIND,
    &dingtalk::ROBOT,
    &wecom_kf::KIND,
    &wecom_archive::KIND,
];

pub fn kind(name: &str) -> Option<&'static Kind> {
    KINDS.iter().copied().find(|k| k.name == name)
}

/// Checks a new source's kind, secrets and settings before it is stored.
fn check_new(
    kind_name: &str,
    secrets: &Secrets,
    settings: &BTreeMap<String, String>,
) -> Result<()> {
    let Some(k) = kind(kind_name) else {
        return Err(Error::bad_request(format!(
            "kind `{kind_name}`: the connectors built so far are {} ",
            KINDS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
        )));
    };
    for s in k.secrets {
        if !secrets.contains_key(*s) {
            return Err(Error::bad_request(format!(
                "a {} source needs its {s}",
                k.name
            )));
        }
    }
    for s in k.settings {
        if !settings.contains_key(*s) {
            return Err(Error::bad_request(format!(
                "a {} source needs its {s}",
                k.name
            )));
        }
    }
    if k.name == dingtalk::KIND.name {
        let owner = settings
            .get("owner_key")
            .map(String::as_str)
            .unwrap_or_default();
        if owner.trim().is_empty() {
            return Err(Error::bad_request(
                "owner_key: give the AppKey (or CorpId, SuiteKey) the events are for",
            ));
        }
        let get = |n: &str| secrets.get(n).map(|s| s.as_str()).unwrap_or_default();
        chatvault_connect::wxbiz::Crypto::new(get("token"), get("aes_key"), owner)
            .map_err(|e| Error::bad_request(format!("aes_key: {e}")))?;
    }
    if k.name == wecom_archive::KIND.name {
        let get = |n: &str| secrets.get(n).map(|s| s.as_str()).unwrap_or_default();
        chatvault_connect::finance::PrivateKey::from_pem(get("private_key"))
            .map_err(|e| Error::bad_request(format!("private_key: {e}")))?;
        let sdk = settings
            .get("sdk_path")
            .map(String::as_str)
            .unwrap_or_default();
        if !std::path::Path::new(sdk).is_file() {
            return Err(Error::bad_request(format!(
                "sdk_path: no file at `{sdk}` (the libWeWorkFinanceSdk_C.so WeCom's admin console gives)"
            )));
        }
        if settings
            .get("receive_id")
            .is_none_or(|r| r.trim().is_empty())
        {
            return Err(Error::bad_request("receive_id: give the CorpID"));
        }
        // The callback is optional; given, it needs both its Token and its key.
        match (
            secrets.contains_key("token"),
            secrets.contains_key("aes_key"),
        ) {
            (false, false) => {}
            (true, true) => {
                chatvault_connect::wxbiz::Crypto::new(
                    get("token"),
                    get("aes_key"),
                    settings
                        .get("receive_id")
                        .map(String::as_str)
                        .unwrap_or_default(),
                )
                .map_err(|e| Error::bad_request(format!("aes_key: {e}")))?;
            }
            _ => {
                return Err(Error::bad_request(
                    "the callback needs both --token-file and --aes-key-file (or neither)",
                ))
            }
        }
    }
    if k.name == wecom_kf::KIND.name {
        check_api_base(wecom_kf::api_base(settings)).map_err(Error::bad_request)?;
    }
    if k.name == wecom::KIND.name || k.name == wecom_kf::KIND.name {
        let get = |n: &str| secrets.get(n).map(|s| s.as_str()).unwrap_or_default();
        let receive_id = settings
            .get("receive_id")
            .map(String::as_str)
            .unwrap_or_default();
        if receive_id.trim().is_empty() {
            return Err(Error::bad_request(
                "receive_id: give the CorpID (or SuiteID) the callbacks are for",
            ));
        }
        chatvault_connect::wxbiz::Crypto::new(get("token"), get("aes_key"), receive_id)
            .map_err(|e| Error::bad_request(format!("aes_key: {e}")))?;
    }
    if k.name == telegram::KIND.name {
        let secret = secrets
            .get("secret_token")
            .map(|s| s.as_str())
            .unwrap_or_default();
        chatvault_connect::telegram::check_secret(secret)
            .map_err(|e| Error::bad_request(format!("secret token: {e}")))?;
        telegram::check_poll(secrets, settings).map_err(Error::bad_request)?;
    } else if settings.contains_key("mode")
        || (settings.contains_key("api_base") && k.name != wecom_kf::KIND.name)
    {
        return Err(Error::bad_request(format!(
            "--poll is for telegram sources, --api-base for telegram and wecom-kf; not {}",
            k.name
        )));
    }
    if k.name == webhook::KIND.name {
        let secret = secrets
            .get("secret")
            .map(|s| s.as_str())
            .unwrap_or_default();
        chatvault_connect::standard_webhooks::check_secret(secret)
            .map_err(|e| Error::bad_request(format!("secret: {e}")))?;
    }
    Ok(())
}

/// An API server a pulling source sends its tokens to: `https://`, or plain `http://`
/// only on this machine (a local Bot API server, a test double).
pub(crate) fn check_api_base(base: &str) -> std::result::Result<(), String> {
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| {
            base == *p || base.starts_with(&format!("{p}:")) || base.starts_with(&format!("{p}/"))
        });
    if base.starts_with("https://") || loopback {
        Ok(())
    } else {
        Err(format!(
            "api base `{base}`: an https:// URL (the source's tokens travel in it), or http:// on this machine only"
        ))
    }
}

/// Where a new source comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `chatvault source add`, by someone on the server's machine.
    Console,
    /// The API or the web UI: an admin anywhere.
    Remote,
}

/// Adds a source after checking its kind, secrets and settings: the one path for the
/// CLI, the API and the web UI. Audited as `source.add` (secrets by name only).
///
/// A chat archive source (`wecom-archive`) names a library the server loads and runs
/// (`sdk_path`): only the console may add one, or a web admin could make the server run
/// code of their choosing.
pub fn add(
    access: &mut chatvault_access::Access,
    via: Via,
    actor: &str,
    name: &str,
    kind: &str,
    settings: BTreeMap<String, String>,
    secrets: &Secrets,
) -> Result<SourceInfo> {
    if via == Via::Remote && kind == wecom_archive::KIND.name {
        return Err(Error::bad_request(
            "a wecom-archive source loads the SDK at sdk_path into the server: add it with `chatvault source add` on the server's machine",
        ));
    }
    check_new(kind, secrets, &settings)?;
    Ok(access.add_source(actor, name, kind, settings, secrets)?)
}

/// A source as the admin's views show it: its configuration (secrets by name), its
/// endpoint, its figures since the server started, and how many events it holds in
/// quarantine.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Overview {
    #[serde(flatten)]
    pub info: SourceInfo,
    pub endpoint: String,
    pub figures: stats::SourceFigures,
    pub quarantine: usize,
}

/// Every source, with its figures.
pub fn overview(app: &App) -> Result<Vec<Overview>> {
    let (sources, held) = {
        let acc = app.access()?;
        (acc.sources()?, acc.quarantined(None)?)
    };
    sources
        .into_iter()
        .map(|info| {
            Ok(Overview {
                endpoint: format!("/hooks/{}", info.name),
                figures: app.capture.figures(&info.name)?,
                quarantine: held.iter().filter(|q| q.source == info.name).count(),
                info,
            })
        })
        .collect()
}

/// The last refusal audited per source (ms): at most one entry a minute each, so a flood
/// of forged requests cannot flood the audit log.
static LAST_REFUSAL_AUDIT: std::sync::Mutex<BTreeMap<String, i64>> =
    std::sync::Mutex::new(BTreeMap::new());

/// Answers one request to `/hooks/NAME`.
pub fn receive(app: &App, name: &str, req: &Request<'_>) -> Result<Reply> {
    let (info, secrets, kind) = load(app, name)?;
    app.capture.received(name)?;
    let source = Source {
        info: &info,
        secrets: &secrets,
    };
    match (kind.receive)(&source, req) {
        Err(refusal) => {
            app.capture.refused(name)?;
            audit_refusal(app, name, &refusal, req.ip)?;
            Err(Error::new(
                "hook.refused",
                format!("source {name}: {refusal}"),
            ))
        }
        Ok(Handled::Reply(r)) => Ok(r),
        Ok(Handled::Event { payload, reply }) => {
            let receipt = deliver(app, &source, kind, &payload, req.ip, true)?;
            Ok(reply(&receipt))
        }
        Ok(Handled::Pull { note, reply }) => {
            app.capture.wake(name, note)?;
            Ok(reply)
        }
    }
}

/// An event a source pulled from its platform's API (Telegram's `getUpdates` in poll
/// mode). The platform handed it over TLS in answer to the source's own token, so there
/// is no signature to check: it is mapped and stored (or quarantined) as a pushed one is.
pub fn pulled(app: &App, name: &str, payload: &[u8]) -> Result<Receipt> {
    let (info, secrets, kind) = load(app, name)?;
    app.capture.received(name)?;
    let source = Source {
        info: &info,
        secrets: &secrets,
    };
    deliver(app, &source, kind, payload, None, true)
}

/// What a pull needs of its source: its settings, its secrets, and its cursor.
pub struct Pulling {
    pub info: SourceInfo,
    secrets: Secrets,
    pub cursor: Option<String>,
}

impl Pulling {
    /// One of the source's secrets, or why it has none.
    pub fn secret(&self, name: &str) -> std::result::Result<String, String> {
        self.secrets
            .get(name)
            .map(|s| s.to_string())
            .ok_or_else(|| format!("the source has no {name}"))
    }

    pub fn setting(&self, name: &str) -> String {
        self.info.settings.get(name).cloned().unwrap_or_default()
    }
}

/// A pulling source as its next pull starts.
pub fn pulling(app: &App, name: &str) -> Result<Pulling> {
    let acc = app.access()?;
    let (info, secrets) = acc
        .source_secrets(name)?
        .ok_or_else(|| Error::new("hook.unknown", format!("source {name} is gone")))?;
    let cursor = acc.source_cursor(name)?;
    Ok(Pulling {
        info,
        secrets,
        cursor,
    })
}

/// A page a pulling source fetched: each event stored (or quarantined) through
/// [`pulled`], in order, and only then the cursor that follows the page kept, so a
/// restart resumes where the store stands (what came again answers as duplicates).
pub fn pulled_page(
    app: &App,
    name: &str,
    events: &[serde_json::Value],
    cursor: Option<&str>,
) -> Result<()> {
    for e in events {
        let bytes = serde_json::to_vec(e).map_err(|e| Error::internal(e.to_string()))?;
        pulled(app, name, &bytes)?;
    }
    if let Some(c) = cursor {
        app.access()?.set_source_cursor(name, c)?;
    }
    Ok(())
}

/// The events a source holds in quarantine, or `not_found` for no such source (one it
/// held before its removal is listed once it is added again).
pub fn quarantine(app: &App, name: &str) -> Result<Vec<chatvault_access::sources::Quarantined>> {
    let acc = app.access()?;
    if !acc.sources()?.iter().any(|s| s.name == name) {
        return Err(Error::new("not_found", format!("no source {name:?}")));
    }
    Ok(acc.quarantined(Some(name))?)
}

/// A source, its secrets and its connector, or `hook.unknown`.
fn load(app: &App, name: &str) -> Result<(SourceInfo, Secrets, &'static Kind)> {
    let unknown = || Error::new("hook.unknown", format!("no capture source {name:?}"));
    let Some((info, secrets)) = app.access()?.source_secrets(name)? else {
        return Err(unknown());
    };
    let Some(kind) = kind(&info.kind) else {
        // Stored by a build with more connectors: not this one's to answer (a 5xx would
        // have the platform retry for days).
        log_err!("source {name}: this build has no connector of its kind");
        return Err(unknown());
    };
    Ok((info, secrets, kind))
}

/// Maps a verified event and stores what maps, on the one ingest path; what does not
/// map is kept whole in the quarantine (sealed, with why), and answered as quarantined
/// so the platform stops retrying. Both are durable before this returns.
///
/// `arriving`: the event comes from the platform now, and counts in the source's
/// figures, latency and sequence; a replay of the quarantine does not (its events are
/// old by nature).
fn deliver(
    app: &App,
    source: &Source<'_>,
    kind: &Kind,
    payload: &[u8],
    ip: Option<&str>,
    arriving: bool,
) -> Result<Receipt> {
    let name = source.info.name.as_str();
    let (candidates, seq, mut problems) = match (kind.map)(source, payload) {
        Ok(m) => (m.candidates, m.seq, vec![]),
        Err(why) => (vec![], None, vec![why]),
    };
    let sent_ms: Vec<Option<i64>> = candidates
        .iter()
        .map(|c| c.as_ref().ok().map(|m| m.sent_at.utc_ms))
        .collect();
    let mut receipt = if candidates.is_empty() {
        Receipt::default()
    } else {
        let sender =
            Sender::new(&format!("source:{name}"), ip, None).live(&format!("{}:{name}", kind.name));
        crate::ingest::ingest(app, sender, candidates)?
    };
    for r in &mut receipt.results {
        if let ItemOutcome::Rejected { reason } = r {
            problems.push(reason.clone());
            *r = ItemOutcome::Quarantined {
                reason: std::mem::take(reason),
            };
        }
    }
    if receipt.results.is_empty() {
        if let Some(why) = problems.first() {
            receipt.results.push(ItemOutcome::Quarantined {
                reason: why.clone(),
            });
        }
    }
    receipt.quarantined = receipt.rejected.max(u64::from(!problems.is_empty()));
    receipt.rejected = 0;
    if !problems.is_empty() {
        app.access()?
            .quarantine(name, payload, &problems.join("; "))?;
    }
    if !arriving {
        return Ok(receipt);
    }
    let stored_sent: Vec<i64> = receipt
        .results
        .iter()
        .zip(sent_ms.iter().chain(std::iter::repeat(&None)))
        .filter_map(|(r, s)| matches!(r, ItemOutcome::Stored { .. }).then_some(*s)?)
        .collect();
    let now = chrono::Utc::now().timestamp_millis();
    app.capture.delivered(
        name,
        &stored_sent,
        receipt.duplicates,
        !problems.is_empty(),
        now,
    )?;
    let gap = match seq {
        Some(seq) => app.capture.sequence(name, seq, now)?,
        None => None,
    };
    if app.monitor.enabled() {
        let live = format!("{}:{name}", kind.name);
        let mut m = app.monitor.monitor()?;
        if let Some(latest) = stored_sent.iter().max() {
            m.capture_delay(&live, *latest, now);
        }
        if let Some((last, seq)) = gap {
            m.gap(&live, last, seq, now);
        }
    }
    Ok(receipt)
}

/// What a replay of a source's quarantine did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Replayed {
    /// Events that now map: stored, and out of quarantine.
    pub released: u64,
    /// Messages they stored (the others were stored before: duplicates).
    pub stored: u64,
    pub duplicates: u64,
    /// Events that still do not map, with why: they stay.
    pub kept: Vec<chatvault_access::sources::Quarantined>,
}

/// Runs each event a source holds in quarantine through its kind's mapping again (after
/// an upgrade that knows its type, say): what maps now is stored and let go (audited as
/// `source.replay`); what does not stays, with its reason brought up to date.
pub fn replay(app: &App, actor: &str, name: &str) -> Result<Replayed> {
    let (info, secrets, kind) = load(app, name)?;
    let source = Source {
        info: &info,
        secrets: &secrets,
    };
    let held = app.access()?.quarantined(Some(name))?;
    let mut out = Replayed::default();
    let mut kept = BTreeSet::new();
    for h in held {
        let payload = app.access()?.quarantined_event(name, &h.id)?;
        let receipt = deliver(app, &source, kind, &payload, None, false)?;
        if receipt.quarantined > 0 {
            kept.insert(h.id);
            continue;
        }
        out.released += 1;
        out.stored += receipt.stored;
        out.duplicates += receipt.duplicates;
        app.access()?.release_quarantined(
            actor,
            name,
            &h.id,
            json!({"stored": receipt.stored, "duplicates": receipt.duplicates}),
        )?;
    }
    // What stays, read once more for the reasons the replay brought up to date.
    out.kept = app
        .access()?
        .quarantined(Some(name))?
        .into_iter()
        .filter(|q| kept.contains(&q.id))
        .collect();
    Ok(out)
}

fn audit_refusal(app: &App, name: &str, refusal: &Refusal, ip: Option<&str>) -> Result<()> {
    let now = chrono::Utc::now().timestamp_millis();
    let due = {
        let mut last = crate::service::recover(&LAST_REFUSAL_AUDIT, |_| Ok::<(), Error>(()))?;
        let due = last.get(name).is_none_or(|t| now - t >= 60_000);
        if due {
            last.insert(name.to_owned(), now);
        }
        due
    };
    if due {
        app.audit(
            Event::new(&format!("source:{name}"), Action::SourceRefused)
                .target(name)
                .ip(ip)
                .result(Outcome::Denied)
                .details(json!({"reason": refusal.to_string()})),
        )?;
    }
    Ok(())
}
