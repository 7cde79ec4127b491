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

    /// Removes a source, audited.
    pub fn remove_source(&mut self, actor: &str, name: &str) -> Result<()> {
        self.in_tx(|t| {
            if !t.ops.delete_document(Shelf::Lifecycle(KIND), name)? {
                return Err(AccessError::NotFound(format!("source {name}")));
            }
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
