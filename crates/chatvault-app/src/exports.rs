//! Exports and evidence packages, built once for both front ends: what an export holds
//! ([`Chosen`]), its header, the stream of messages the caller's rule shows under the
//! `export` right, and the audit details each kind records. The CLI writes to a file
//! and the server to a response body; the bytes, the decisions and the audit entries
//! are the same.

use std::collections::BTreeSet;
use std::io::Write;

use chatvault_access::Access;
use chatvault_archive::{Archive, ArchiveError, Filters, Selection, StreamCounts, Visibility};
use chatvault_evidence::{Built, Contents, EvidenceError, ExportStep};
use chatvault_export::{Format, Header};
use chatvault_model::{pii, StoredMessage};
use chatvault_policy::{Grant, Handle, Right};
use serde_json::{json, Value};
use sha2::Digest;

use crate::reach::Usage;
use crate::time::Zone;

/// A caller's decision on one message, recording what it used: the front end's rule
/// (the server's adds the token's platform restriction) with the usage kept here.
pub type Decide<'a> = dyn Fn(&StoredMessage, &[Handle], &mut Usage) -> Visibility + 'a;

/// What an export holds: one whole conversation, or a query's matches (the search
/// syntax; empty for every message) under filters.
#[derive(Debug, Clone)]
pub struct Chosen {
    pub conversation: Option<String>,
    pub query: String,
    pub filters: Filters,
    /// How the export, its file and its audit entry name it.
    pub label: String,
}

impl Chosen {
    pub fn conversation(id: &str) -> Chosen {
        Chosen {
            conversation: Some(id.to_owned()),
            query: String::new(),
            filters: Filters::default(),
            label: format!("conversation {id}"),
        }
    }

    /// A query's matches; `range` is how the label shows the filters.
    pub fn query(query: &str, filters: Filters, range: &str) -> Chosen {
        let label = if query.trim().is_empty() {
            format!("messages{range}")
        } else {
            format!("query {query}{range}")
        };
        Chosen {
            conversation: None,
            query: query.to_owned(),
            filters,
            label,
        }
    }

    /// One conversation, or a part of it in a time range (then read through the index).
    pub fn conversation_range(
        id: &str,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        range: &str,
    ) -> Chosen {
        if from_ms.is_none() && to_ms.is_none() {
            return Chosen::conversation(id);
        }
        let filters = Filters {
            from_ms,
            to_ms,
            conversations: Some(vec![id.to_owned()]),
            ..Filters::default()
        };
        Chosen {
            conversation: None,
            query: String::new(),
            filters,
            label: format!("conversation {id}{range}"),
        }
    }

    pub fn selection<'a>(&'a self, filters: &'a Filters) -> Selection<'a> {
        match &self.conversation {
            Some(c) => Selection::Conversation(c),
            None => Selection::Query {
                query: &self.query,
                filters,
            },
        }
    }

    /// What the export's audit entry targets: the conversation, or the label with its
    /// personal data masked.
    pub fn audit_target(&self) -> String {
        self.conversation
            .clone()
            .unwrap_or_else(|| pii::mask(&self.label))
    }

    /// A file name made only of safe characters.
    pub fn file_stem(&self) -> String {
        let base = self.conversation.clone().unwrap_or_else(|| {
            if self.query.is_empty() {
                "messages".into()
            } else {
                "query".into()
            }
        });
        base.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The caller may export none of the selection; `why` says how much matched, or that
    /// the selection lies outside the caller's reach.
    #[error("{user} may export none of it ({why}; the export right comes from an approved request with `export`)")]
    NothingVisible { user: String, why: String },
    #[error("over {max} messages: use `chatvault export`, which streams")]
    TooMany { max: u64 },
    #[error("writing the export: {0}")]
    Write(#[source] std::io::Error),
}

impl ExportError {
    pub fn code(&self) -> &'static str {
        match self {
            ExportError::Archive(e) => e.code(),
            ExportError::NothingVisible { .. } => "access.denied",
            ExportError::TooMany { .. } => "export.too_large",
            ExportError::Write(_) => "io",
        }
    }
}

/// The ids of a user's grants that carry the export right (a plain export's header).
pub fn export_grants(grants: &[Grant]) -> Vec<String> {
    grants
        .iter()
        .filter(|g| g.rights.contains(&Right::Export))
        .map(|g| g.id.clone())
        .collect()
}

/// A finished plain export: what the rule did, and the SHA-256 of the bytes written.
pub struct Written {
    pub counts: StreamCounts,
    pub usage: Usage,
    pub sha256: String,
}

/// Writes a plain export (JSON, CSV, HTML or PDF) of what `chosen` holds, read through
/// `filters` (the caller's reach, narrowed), keeping what `decide` shows under the
/// export right, up to `max` messages. Nothing shown is [`ExportError::NothingVisible`];
/// the caller discards what was written then, and audits the refusal with
/// [`denied_details`].
#[allow(clippy::too_many_arguments)]
pub fn write_plain(
    archive: &mut Archive,
    user: &str,
    now_ms: i64,
    chosen: &Chosen,
    filters: &Filters,
    fmt: Format,
    grants: Vec<String>,
    decide: &Decide<'_>,
    max: Option<u64>,
    zone: Zone,
    out: &mut dyn Write,
) -> Result<Written, ExportError> {
    let stats = archive.stats()?;
    let header = Header {
        format: chatvault_export::FORMAT,
        title: format!("chatvault export: {}", chosen.label),
        selection: chosen.label.clone(),
        exported_by: user.to_owned(),
        exported_at: zone.rfc3339(now_ms),
        archive_id: stats.archive_id,
        key_fingerprint: stats.key_fingerprint,
        grants,
        time_zone: zone.name(),
    };
    let mut hashing = HashingWriter {
        inner: out,
        sha: sha2::Sha256::new(),
    };
    let mut usage = Usage::default();
    let counts = {
        let show = move |t: &str| zone.show(t);
        let mut sink = chatvault_export::sink_shown(fmt, Box::new(&mut hashing), Box::new(show));
        sink.begin(&header).map_err(ExportError::Write)?;
        let mut n = 0u64;
        let mut rule = |m: &StoredMessage, members: &[Handle]| decide(m, members, &mut usage);
        let mut too_many = false;
        let streamed = archive.stream_visible(&chosen.selection(filters), &mut rule, &mut |m| {
            n += 1;
            if max.is_some_and(|max| n > max) {
                too_many = true;
                return Err(ArchiveError::Invalid {
                    what: "export".into(),
                    why: "too many messages".into(),
                });
            }
            sink.message(&m)
                .map_err(|e| ArchiveError::Corrupt(format!("writing the export: {e}")))
        });
        let counts = match streamed {
            Err(_) if too_many => {
                return Err(ExportError::TooMany {
                    max: max.unwrap_or_default(),
                })
            }
            other => other?,
        };
        if counts.shown > 0 {
            sink.finish(n).map_err(ExportError::Write)?;
        }
        counts
    };
    if counts.shown == 0 {
        return Err(ExportError::NothingVisible {
            user: user.to_owned(),
            why: format!("{} messages match", counts.hidden),
        });
    }
    hashing.inner.flush().map_err(ExportError::Write)?;
    Ok(Written {
        counts,
        usage,
        sha256: hex::encode(hashing.sha.finalize()),
    })
}

/// A plain export's audit details (the read's own fields are added by
/// [`crate::reach::read_events`]).
pub fn plain_details(chosen: &Chosen, fmt: Format, file: &str, w: &Written) -> Value {
    json!({
        "selection": pii::mask(&chosen.label),
        "conversation": chosen.conversation,
        "format": fmt.name(),
        "file": file,
        "shown": w.counts.shown,
        "hidden": w.counts.hidden,
        "sha256": w.sha256,
    })
}

/// The details of a refused export (plain or evidence): what was asked, and why.
pub fn denied_details(chosen: &Chosen, evidence: bool, why: &str) -> Value {
    json!({
        "reason": if evidence { "evidence export" } else { "export" },
        "right": "export",
        "evidence": evidence,
        "selection": pii::mask(&chosen.label),
        "why": pii::mask(why),
    })
}

/// An evidence package's messages and proofs, gathered under the archive's lock.
pub struct Gathered {
    pub contents: Contents,
    pub usage: Usage,
}

/// Collects what `chosen` holds that `decide` shows in full under the export right (a
/// package needs `pii.view`: its proofs open the content), up to `max` messages, and
/// proves each against one fresh checkpoint.
#[allow(clippy::too_many_arguments)]
pub fn evidence_contents(
    archive: &mut Archive,
    user: &str,
    now_ms: i64,
    chosen: &Chosen,
    filters: &Filters,
    decide: &Decide<'_>,
    max: u64,
    zone: Zone,
) -> Result<Gathered, EvidenceError> {
    let mut usage = Usage::default();
    let messages = {
        let mut rule = |m: &StoredMessage, members: &[Handle]| decide(m, members, &mut usage);
        chatvault_evidence::collect(
            archive,
            user,
            &chosen.label,
            &chosen.selection(filters),
            &mut rule,
            max,
        )?
    };
    let header = Header {
        format: chatvault_export::FORMAT,
        title: format!("证据包 Evidence: {}", chosen.label),
        selection: chosen.label.clone(),
        exported_by: user.to_owned(),
        exported_at: zone.rfc3339(now_ms),
        archive_id: String::new(),
        key_fingerprint: String::new(),
        grants: usage.grants.iter().cloned().collect(),
        time_zone: zone.name(),
    };
    let show = move |t: &str| zone.show(t);
    let contents = chatvault_evidence::contents(archive, &messages, header, &show)?;
    Ok(Gathered { contents, usage })
}

/// Where an export was made from, for a package's chain of custody.
pub struct Origin {
    /// The host the CLI ran on, or the client's address for the API.
    pub host: String,
    /// `CLI`, `HTTP API`.
    pub front_end: &'static str,
}

/// Seals the package: the chain of custody (the user's grants that were used, and this
/// export step) from the access database, then the zip.
pub fn evidence_package(
    acc: &mut Access,
    user: &str,
    now_ms: i64,
    chosen: &Chosen,
    user_grants: &[Grant],
    gathered: Gathered,
    origin: &Origin,
) -> Result<(Built, Usage), EvidenceError> {
    let at = chatvault_model::Timestamp::utc(now_ms).to_rfc3339();
    let step = ExportStep {
        by: user.to_owned(),
        at: at.clone(),
        host: origin.host.clone(),
        tool: format!(
            "chatvault {} ({})",
            env!("CARGO_PKG_VERSION"),
            origin.front_end
        ),
        selection: chosen.label.clone(),
    };
    let used: &BTreeSet<String> = &gathered.usage.grants;
    let custody = chatvault_evidence::custody(acc, user_grants, used, &step)?;
    let built = chatvault_evidence::package(gathered.contents, custody, &at)?;
    Ok((built, gathered.usage))
}

/// An evidence package's audit details.
pub fn evidence_details(chosen: &Chosen, file: &str, built: &Built) -> Value {
    json!({
        "evidence": true,
        "selection": pii::mask(&chosen.label),
        "conversation": chosen.conversation,
        "format": "evidence",
        "file": file,
        "messages": built.messages,
        "files": built.files,
        "sha256": built.sha256,
        "tree_size": built.tree_size,
    })
}

/// Hashes what it writes, so the audit entry records the export's SHA-256.
struct HashingWriter<'w> {
    inner: &'w mut dyn Write,
    sha: sha2::Sha256,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// An evidence error as the use case reports it.
pub fn evidence_error(e: EvidenceError) -> crate::Error {
    use EvidenceError as E;
    match e {
        E::Archive(e) => e.into(),
        E::Access(e) => e.into(),
        E::TooMany { .. } => crate::Error::new("evidence.too_large", e.to_string()),
        other => crate::Error::new(other.code(), other.to_string()),
    }
}

impl crate::App {
    /// A plain export by the reader `r` under its export right, up to `max` messages,
    /// written to `out` and audited with its hash (`file` names it in the entry). What
    /// the caller cannot see, a conversation that does not exist included, is refused
    /// as outside its reach, and the refusal audited.
    pub fn export_plain(
        &self,
        r: &crate::read::Reader,
        chosen: &Chosen,
        fmt: Format,
        file: &str,
        max: Option<u64>,
        out: &mut dyn Write,
    ) -> crate::Result<Written> {
        let target = chosen.audit_target();
        let written = {
            let mut a = self.archive()?;
            match self.narrowed(r, &mut a, chosen)? {
                None => Err(ExportError::NothingVisible {
                    user: r.name().to_owned(),
                    why: "the selection is outside their reach".into(),
                }),
                Some(filters) => write_plain(
                    &mut a,
                    r.name(),
                    r.now_ms,
                    chosen,
                    &filters,
                    fmt,
                    export_grants(&r.grants),
                    &r.decider(Right::Export),
                    max,
                    self.zone,
                    out,
                ),
            }
        };
        match written {
            Ok(w) => {
                self.audit_read(
                    r,
                    chatvault_access::Action::Export,
                    Some(&target),
                    plain_details(chosen, fmt, file, &w),
                    &w.usage,
                )?;
                Ok(w)
            }
            Err(e @ ExportError::NothingVisible { .. }) => {
                Err(self.deny(r, &target, denied_details(chosen, false, &e.to_string())))
            }
            // A conversation the caller cannot see is one that does not exist.
            Err(ExportError::Archive(ArchiveError::NotFound(w))) => Err(self.deny(
                r,
                &target,
                denied_details(chosen, false, &format!("not found: {w}")),
            )),
            Err(ExportError::Archive(e)) => Err(e.into()),
            Err(e @ ExportError::TooMany { .. }) => Err(crate::Error::new(e.code(), e.to_string())),
            Err(e @ ExportError::Write(_)) => Err(crate::Error::internal(e)),
        }
    }

    /// An evidence package by the reader `r` (its messages under the export right and
    /// `pii.view`), up to `max` messages, its custody recorded and the export audited.
    pub fn evidence_for(
        &self,
        r: &crate::read::Reader,
        chosen: &Chosen,
        file: &str,
        max: u64,
        origin: &Origin,
    ) -> crate::Result<Built> {
        let target = chosen.audit_target();
        // The archive's lock for collecting and proving, then the access database's for
        // custody.
        let gathered = {
            let mut a = self.archive()?;
            match self.narrowed(r, &mut a, chosen)? {
                None => Err(EvidenceError::NothingVisible {
                    user: r.name().to_owned(),
                    selection: chosen.label.clone(),
                    hidden: 0,
                }),
                Some(filters) => evidence_contents(
                    &mut a,
                    r.name(),
                    r.now_ms,
                    chosen,
                    &filters,
                    &r.decider(Right::Export),
                    max,
                    self.zone,
                ),
            }
        };
        let gathered = match gathered {
            Ok(g) => g,
            Err(e @ (EvidenceError::NothingVisible { .. } | EvidenceError::Masked { .. })) => {
                let err = self.deny(r, &target, denied_details(chosen, true, &e.to_string()));
                return Err(if matches!(e, EvidenceError::Masked { .. }) {
                    crate::Error::forbidden("evidence.masked", e.to_string())
                } else {
                    err
                });
            }
            Err(e) => return Err(evidence_error(e)),
        };
        let (built, usage) = {
            let mut acc = self.access()?;
            evidence_package(
                &mut acc,
                r.name(),
                r.now_ms,
                chosen,
                &r.grants,
                gathered,
                origin,
            )
            .map_err(evidence_error)?
        };
        self.audit_read(
            r,
            chatvault_access::Action::Export,
            Some(&target),
            evidence_details(chosen, file, &built),
            &usage,
        )?;
        Ok(built)
    }

    /// The filters an export reads through: narrowed to the caller's reach, so the
    /// index does the bulk of the filtering (the rule still decides every message).
    /// `None` when the caller can reach nothing the selection could hold.
    fn narrowed(
        &self,
        r: &crate::read::Reader,
        a: &mut Archive,
        chosen: &Chosen,
    ) -> crate::Result<Option<Filters>> {
        if chosen.conversation.is_some() {
            return Ok(Some(Filters::default()));
        }
        Ok(r.narrow_within(a, &chosen.filters)?.map(|(f, _)| f))
    }
}
