//! Live capture: a platform's request at `/hooks/NAME` becomes messages on the one ingest
//! path ([`crate::ingest::ingest`]), the same as the batch API's.
//!
//! A connector is one module here and one entry in [`KINDS`]: its name, the secrets and
//! settings a source of its kind needs, and `receive`, which verifies a request over its
//! raw bytes (`chatvault-connect`) and turns it into a handshake reply or candidates.
//! This module does the rest for every kind: it loads the source and its secrets, refuses
//! what does not verify (401, nothing stored, the refusal audited at most once a minute
//! per source), ingests, and answers.

use std::collections::BTreeMap;

use chatvault_access::sources::{Secrets, SourceInfo};
use chatvault_access::{Action, Event, Outcome};
use chatvault_connect::Refusal;
use serde_json::json;

use crate::ingest::{Candidate, Receipt, Sender};
use crate::{App, Error, Result};

pub mod feishu;
pub mod slack;
pub mod telegram;
pub mod webhook;
pub mod wecom;

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
    /// Messages to store; the reply is made from the receipt once they are durable.
    Messages {
        candidates: Vec<Candidate>,
        reply: fn(&Receipt) -> Reply,
    },
}

impl Handled {
    /// A verified request that holds nothing to store: 400 `input.invalid`, naming why
    /// (signed, so not a 401; the platform's sender has a bug to fix).
    pub fn invalid(why: impl std::fmt::Display) -> Handled {
        Handled::Reply(Reply::json(
            400,
            json!({"error": {"code": "input.invalid", "message": why.to_string()}}),
        ))
    }

    /// One event's canonical record, or why it has none, as the message to store.
    pub fn one(
        record: std::result::Result<serde_json::Value, String>,
        label: &str,
        reply: fn(&Receipt) -> Reply,
    ) -> Handled {
        let candidate = record.and_then(|r| {
            crate::ingest::parse_canonical(vec![r], label)
                .pop()
                .unwrap_or_else(|| Err("no record".into()))
        });
        Handled::Messages {
            candidates: vec![candidate],
            reply,
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
}

/// Every connector built so far.
pub static KINDS: &[&Kind] = &[
    &webhook::KIND,
    &slack::KIND,
    &telegram::KIND,
    &feishu::KIND,
    &wecom::KIND,
];

pub fn kind(name: &str) -> Option<&'static Kind> {
    KINDS.iter().copied().find(|k| k.name == name)
}

/// Checks a new source's kind, secrets and settings before it is stored.
pub fn check_new(
    kind_name: &str,
    secrets: &Secrets,
    settings: &BTreeMap<String, String>,
) -> Result<()> {
    let Some(k) = kind(kind_name) else {
        return Err(Error::bad_request(format!(
            "kind `{kind_name}`: the connectors built so far are {} (DingTalk comes with issue 17's next steps)",
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
    if k.name == wecom::KIND.name {
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

/// The last refusal audited per source (ms): at most one entry a minute each, so a flood
/// of forged requests cannot flood the audit log.
static LAST_REFUSAL_AUDIT: std::sync::Mutex<BTreeMap<String, i64>> =
    std::sync::Mutex::new(BTreeMap::new());

/// Answers one request to `/hooks/NAME`.
pub fn receive(app: &App, name: &str, req: &Request<'_>) -> Result<Reply> {
    let loaded = app.access()?.source_secrets(name)?;
    let Some((info, secrets)) = loaded else {
        return Err(Error::new(
            "hook.unknown",
            format!("no capture source {name:?}"),
        ));
    };
    let Some(kind) = kind(&info.kind) else {
        // Stored by a build with more connectors: not this one's to answer (a 5xx would
        // have the platform retry for days).
        log_err!("source {name}: this build has no connector of its kind");
        return Err(Error::new(
            "hook.unknown",
            format!("no capture source {name:?}"),
        ));
    };
    let source = Source {
        info: &info,
        secrets: &secrets,
    };
    match (kind.receive)(&source, req) {
        Err(refusal) => {
            audit_refusal(app, name, &refusal, req.ip)?;
            Err(Error::new(
                "hook.refused",
                format!("source {name}: {refusal}"),
            ))
        }
        Ok(Handled::Reply(r)) => Ok(r),
        Ok(Handled::Messages { candidates, reply }) => {
            let sender = Sender::new(&format!("source:{name}"), req.ip, None);
            let receipt = crate::ingest::ingest(app, sender, candidates)?;
            Ok(reply(&receipt))
        }
    }
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
