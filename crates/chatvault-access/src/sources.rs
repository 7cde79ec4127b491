//! Live capture sources: a name, a kind (the platform), settings that are not secret
//! (a receiver id, an owner key), and secrets (tokens, AES keys, signing secrets) sealed
//! under the key that seals TOTP secrets, itself kept under the archive's KEK, so `keys
//! rotate` re-wraps them with it. Stored as lifecycle records: the sealed state binds
//! them, so a source's secret swapped in the file is named by `audit verify`.
//!
//! A secret is never returned but to the receiving code ([`Access::source_secrets`]);
//! listings show only which secrets a source has.

use std::collections::BTreeMap;

use base64::Engine;
use chatvault_store::access::Shelf;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::audit::{Action, Event};
use crate::{Access, AccessError, Result};

const KIND: &str = "source";

/// A source as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    name: String,
    kind: String,
    settings: BTreeMap<String, String>,
    /// Each secret's name, and its sealed value (base64).
    secrets: BTreeMap<String, String>,
    created_by: String,
    created_ms: i64,
}

/// A source as listings show it: the names of its secrets, never their values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceInfo {
    pub name: String,
    pub kind: String,
    pub settings: BTreeMap<String, String>,
    pub secrets: Vec<String>,
    pub created_by: String,
    pub created_at: String,
}

impl From<&Stored> for SourceInfo {
    fn from(s: &Stored) -> SourceInfo {
        SourceInfo {
            name: s.name.clone(),
            kind: s.kind.clone(),
            settings: s.settings.clone(),
            secrets: s.secrets.keys().cloned().collect(),
            created_by: s.created_by.clone(),
            created_at: crate::rfc3339(s.created_ms),
        }
    }
}

/// The secrets of one source, opened.
pub type Secrets = BTreeMap<String, Zeroizing<String>>;

fn secret_aad(source: &str, field: &str) -> Vec<u8> {
    format!("chatvault/source/v1\0{source}\0{field}").into_bytes()
}

/// A source's name: it is a URL path segment (`/hooks/NAME`).
fn check_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(AccessError::invalid(
            "name",
            format!("`{name}`: use 1-64 of a-z, 0-9, - and _ (it is the URL path /hooks/NAME)"),
        ))
    }
}

impl Access {
    /// Adds a source, its secrets sealed, audited as `source.add` (secrets not named in
    /// the entry by value, only by name).
    pub fn add_source(
        &mut self,
        actor: &str,
        name: &str,
        kind: &str,
        settings: BTreeMap<String, String>,
        secrets: &Secrets,
    ) -> Result<SourceInfo> {
        check_name(name)?;
        self.in_tx(|t| {
            if t.ops.document(Shelf::Lifecycle(KIND), name)?.is_some() {
                return Err(AccessError::invalid(
                    "name",
                    format!("a source named {name} exists: remove it first"),
                ));
            }
            let sealed = secrets
                .iter()
                .map(|(field, value)| {
                    let s = t.keys.seal.seal(value.as_bytes(), &secret_aad(name, field));
                    (
                        field.clone(),
                        base64::engine::general_purpose::STANDARD.encode(s),
                    )
                })
                .collect();
            let stored = Stored {
                name: name.to_owned(),
                kind: kind.to_owned(),
                settings,
                secrets: sealed,
                created_by: actor.to_owned(),
                created_ms: t.now,
            };
            let body = serde_json::to_string(&stored)
                .map_err(|e| AccessError::Corrupt(t.path.to_owned(), e.to_string()))?;
            t.ops.put_document(Shelf::Lifecycle(KIND), name, "", &body)?;
            let info = SourceInfo::from(&stored);
            t.append(&Event::new(actor, Action::SourceAdd).target(name).details(
                serde_json::json!({"kind": kind, "settings": info.settings, "secrets": info.secrets}),
            ))?;
            Ok(info)
        })
    }

    /// Removes a source, audited. Its pull cursor goes with it (a source added again
    /// under the name is another source: another bot, another corp); its quarantine
    /// stays, to be replayed or read.
    pub fn remove_source(&mut self, actor: &str, name: &str) -> Result<()> {
        self.in_tx(|t| {
            if !t.ops.delete_document(Shelf::Lifecycle(KIND), name)? {
                return Err(AccessError::NotFound(format!("source {name}")));
            }
            t.ops.put_meta(&cursor_key(name), "")?;
            t.append(&Event::new(actor, Action::SourceRemove).target(name))?;
            Ok(())
        })
    }

    /// Every source, by name.
    pub fn sources(&self) -> Result<Vec<SourceInfo>> {
        self.ops()
            .documents(Shelf::Lifecycle(KIND), None)?
            .iter()
            .map(|(k, b)| {
                Access::parse_doc::<Stored>(&self.path, &format!("source {k}"), b)
                    .map(|s| SourceInfo::from(&s))
            })
            .collect()
    }

    /// One source and its secrets, opened: for the code that verifies its requests.
    pub fn source_secrets(&self, name: &str) -> Result<Option<(SourceInfo, Secrets)>> {
        let Some(body) = self.ops().document(Shelf::Lifecycle(KIND), name)? else {
            return Ok(None);
        };
        let s: Stored = Access::parse_doc(&self.path, &format!("source {name}"), &body)?;
        let mut out = Secrets::new();
        for (field, sealed) in &s.secrets {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(sealed)
                .ok()
                .and_then(|b| {
                    self.keys
                        .seal
                        .open(&b, &secret_aad(name, field), "source secret")
                        .ok()
                })
                .ok_or_else(|| {
                    AccessError::Corrupt(
                        self.path.clone(),
                        format!("source {name}: its secret {field} does not decrypt"),
                    )
                })?;
            let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
                AccessError::Corrupt(
                    self.path.clone(),
                    format!("source {name}: secret {field} is not text"),
                )
            })?;
            out.insert(field.clone(), Zeroizing::new(text));
        }
        Ok(Some((SourceInfo::from(&s), out)))
    }
}

/// The lifecycle kind of quarantined events.
const QUARANTINE: &str = "quarantine";

/// A verified event that did not map, as stored: the event (the body, or its decrypted
/// plaintext) sealed like the secrets, bound to its source and id.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Held {
    source: String,
    id: String,
    reason: String,
    received_ms: i64,
    bytes: u64,
    sealed: String,
}

/// A quarantined event as listings show it (never its content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quarantined {
    pub source: String,
    pub id: String,
    pub reason: String,
    pub received_at: String,
    pub bytes: u64,
}

impl From<&Held> for Quarantined {
    fn from(h: &Held) -> Quarantined {
        Quarantined {
            source: h.source.clone(),
            id: h.id.clone(),
            reason: h.reason.clone(),
            received_at: crate::rfc3339(h.received_ms),
            bytes: h.bytes,
        }
    }
}

fn held_aad(source: &str, id: &str) -> Vec<u8> {
    format!("chatvault/quarantine/v1\0{source}\0{id}").into_bytes()
}

fn held_key(source: &str, id: &str) -> String {
    format!("{source}/{id}")
}

impl Access {
    /// Keeps a verified event that did not map, sealed, with why: audited as
    /// `source.quarantine`. Its id is the SHA-256 of the event, so a platform's retry of
    /// the same event is held once (its reason brought up to date).
    pub fn quarantine(&mut self, source: &str, event: &[u8], reason: &str) -> Result<Quarantined> {
        use sha2::Digest;
        let id = hex::encode(&sha2::Sha256::digest(event)[..12]);
        let key = held_key(source, &id);
        self.in_tx(|t| {
            let existing = t.ops.document(Shelf::Lifecycle(QUARANTINE), &key)?;
            let held = match existing {
                Some(body) => {
                    let mut h: Held =
                        Access::parse_doc(t.path, &format!("quarantined {key}"), &body)?;
                    if h.reason == reason {
                        return Ok(Quarantined::from(&h));
                    }
                    h.reason = reason.to_owned();
                    h
                }
                None => {
                    let sealed = t.keys.seal.seal(event, &held_aad(source, &id));
                    Held {
                        source: source.to_owned(),
                        id: id.clone(),
                        reason: reason.to_owned(),
                        received_ms: t.now,
                        bytes: event.len() as u64,
                        sealed: base64::engine::general_purpose::STANDARD.encode(sealed),
                    }
                }
            };
            let body = serde_json::to_string(&held)
                .map_err(|e| AccessError::Corrupt(t.path.to_owned(), e.to_string()))?;
            t.ops
                .put_document(Shelf::Lifecycle(QUARANTINE), &key, "", &body)?;
            t.append(
                &Event::new(&format!("source:{source}"), Action::SourceQuarantine)
                    .target(&key)
                    .details(serde_json::json!({"reason": reason, "bytes": held.bytes})),
            )?;
            Ok(Quarantined::from(&held))
        })
    }

    /// The events a source holds in quarantine (all sources' when `source` is None),
    /// oldest first.
    pub fn quarantined(&self, source: Option<&str>) -> Result<Vec<Quarantined>> {
        let mut out = self
            .ops()
            .documents(Shelf::Lifecycle(QUARANTINE), None)?
            .iter()
            .map(|(k, b)| Access::parse_doc::<Held>(&self.path, &format!("quarantined {k}"), b))
            .filter(|h| match (h, source) {
                (Ok(h), Some(s)) => h.source == s,
                _ => true,
            })
            .map(|h| h.map(|h| Quarantined::from(&h)))
            .collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| (&a.received_at, &a.id).cmp(&(&b.received_at, &b.id)));
        Ok(out)
    }

    /// One quarantined event, opened: for the replay that maps it again.
    pub fn quarantined_event(&self, source: &str, id: &str) -> Result<Vec<u8>> {
        let key = held_key(source, id);
        let body = self
            .ops()
            .document(Shelf::Lifecycle(QUARANTINE), &key)?
            .ok_or_else(|| AccessError::NotFound(format!("quarantined event {key}")))?;
        let h: Held = Access::parse_doc(&self.path, &format!("quarantined {key}"), &body)?;
        base64::engine::general_purpose::STANDARD
            .decode(&h.sealed)
            .ok()
            .and_then(|b| {
                self.keys
                    .seal
                    .open(&b, &held_aad(source, id), "quarantined event")
                    .ok()
            })
            .map(|b| b.to_vec())
            .ok_or_else(|| {
                AccessError::Corrupt(
                    self.path.clone(),
                    format!("quarantined event {key} does not decrypt"),
                )
            })
    }

    /// Lets a quarantined event go once a replay stored it: audited as `source.replay`
    /// with what the replay stored.
    pub fn release_quarantined(
        &mut self,
        actor: &str,
        source: &str,
        id: &str,
        details: serde_json::Value,
    ) -> Result<()> {
        let key = held_key(source, id);
        self.in_tx(|t| {
            if !t.ops.delete_document(Shelf::Lifecycle(QUARANTINE), &key)? {
                return Err(AccessError::NotFound(format!("quarantined event {key}")));
            }
            t.append(
                &Event::new(actor, Action::SourceReplay)
                    .target(&key)
                    .details(details),
            )?;
            Ok(())
        })
    }
}

fn cursor_key(source: &str) -> String {
    format!("source.cursor.{source}")
}

impl Access {
    /// A pulling source's cursor: what its next pull starts after (Telegram's last
    /// stored `update_id`). Written only once what it covers is stored.
    pub fn source_cursor(&self, source: &str) -> Result<Option<String>> {
        Ok(self
            .ops()
            .meta(&cursor_key(source))?
            .filter(|c| !c.is_empty()))
    }

    pub fn set_source_cursor(&mut self, source: &str, cursor: &str) -> Result<()> {
        self.in_tx(|t| Ok(t.ops.put_meta(&cursor_key(source), cursor)?))
    }
}
