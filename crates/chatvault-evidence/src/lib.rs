//! Evidence packages and their offline check.
//!
//! A package is a zip holding:
//! - `messages.json` and `messages.pdf`: the messages, for people;
//! - `proofs/<id>.json`: per message, its leaf, its inclusion proof against **one** signed
//!   checkpoint and the opening of its content commitment (what `chatvault proof
//!   --with-content` writes);
//! - `attachments/<sha256>`: the attachments' bytes;
//! - `custody.json`: the retrieval requests and approvals the export ran under, the export
//!   event, and a stretch of the audit chain from the first of those steps to a signed
//!   head, with every entry in between (a hash chain cannot skip entries);
//! - `manifest.json`: the SHA-256 and SM3 of every other file, every message's leaf hash
//!   and proof file, the checkpoint, and the archive's public key and fingerprint.
//!
//! Building one takes four steps, so that a server holds each of its locks for one step
//! only: [`collect`] the messages a rule shows (the archive), [`contents`] (their proofs,
//! attachments and renderings; the archive), [`custody`] (the access database), and
//! [`package`] (the zip, in memory). The CLI and the HTTP API both call them.
//!
//! [`check`] needs nothing but the zip: it checks every file's hashes, every proof (leaf,
//! path, signature, content), that every proof is against the manifest's checkpoint, that
//! `messages.json` holds exactly the proven messages in their order with their text, the
//! attachments against their hashes, and the custody chain. It names what was changed,
//! dropped, added or swapped.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, Write};

use chatvault_archive::{Archive, Selection, Visibility, VisibleRule};
use chatvault_model::StoredMessage;
use serde::{Deserialize, Serialize};
use sha2::Digest;

pub const FORMAT: &str = "chatvault-evidence/v1";

/// A package is read whole; one that unpacks to more than this is refused (a zip bomb
/// does not exhaust memory).
pub const MAX_UNPACKED: u64 = 2 << 30;

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error(transparent)]
    Archive(#[from] chatvault_archive::ArchiveError),
    #[error(transparent)]
    Access(#[from] chatvault_access::AccessError),
    /// The caller may export none of the selection.
    #[error("{user} may export none of {selection} ({hidden} messages match; a package needs an approved request with export and pii.view)")]
    NothingVisible {
        user: String,
        selection: String,
        hidden: u64,
    },
    /// Some messages would be masked: a package opens the content, so it needs pii.view.
    #[error("{masked} messages would be masked for {user}: an evidence package opens the content, so it needs pii.view")]
    Masked { user: String, masked: u64 },
    #[error("{selection}: over {max} messages in one package; narrow it (--from, --to, or one conversation)")]
    TooMany { selection: String, max: u64 },
    /// The input is not a package, or is one this program cannot read.
    #[error("{0}")]
    NotAPackage(String),
    #[error("{what}: {why}")]
    Write { what: String, why: String },
}

impl EvidenceError {
    /// A stable code for the CLI's and the API's errors.
    pub fn code(&self) -> &'static str {
        match self {
            EvidenceError::Archive(e) => e.code(),
            EvidenceError::Access(e) => e.code(),
            EvidenceError::NothingVisible { .. } => "access.denied",
            EvidenceError::Masked { .. } => "evidence.masked",
            EvidenceError::TooMany { .. } => "evidence.too_large",
            EvidenceError::NotAPackage(_) => "evidence.invalid",
            EvidenceError::Write { .. } => "evidence.write",
        }
    }
}

pub type Result<T, E = EvidenceError> = std::result::Result<T, E>;

fn write_err(what: &str) -> impl Fn(std::fmt::Arguments<'_>) -> EvidenceError + '_ {
    move |why| EvidenceError::Write {
        what: what.to_owned(),
        why: why.to_string(),
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FileHash {
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub sm3: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MessageEntry {
    pub id: String,
    pub leaf_index: u64,
    /// Base64, as in the proof file.
    pub leaf_hash: String,
    pub proof: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub created_at: String,
    pub archive_id: String,
    /// What the package holds, as the exporter asked for it.
    #[serde(default)]
    pub selection: String,
    pub checkpoint: String,
    pub tree_size: u64,
    pub verifier_key: String,
    pub key_fingerprint: String,
    pub files: Vec<FileHash>,
    pub messages: Vec<MessageEntry>,
}

fn hashes(name: &str, bytes: &[u8]) -> FileHash {
    FileHash {
        name: name.to_owned(),
        size: bytes.len() as u64,
        sha256: hex::encode(sha2::Sha256::digest(bytes)),
        sm3: hex::encode(sm3::Sm3::digest(bytes)),
    }
}

/// Step 1: every message of the selection that `rule` shows, oldest first. Refuses when it
/// shows none ([`EvidenceError::NothingVisible`]; the caller audits the refusal), when it
/// would mask any, or when there are more than `max`.
pub fn collect(
    archive: &mut Archive,
    user: &str,
    label: &str,
    sel: &Selection<'_>,
    rule: &mut VisibleRule<'_>,
    max: u64,
) -> Result<Vec<StoredMessage>> {
    let mut messages = vec![];
    let counts = archive.stream_visible(sel, rule, &mut |m| {
        if messages.len() as u64 >= max {
            return Err(chatvault_archive::ArchiveError::Invalid {
                what: label.to_owned(),
                why: format!("over {max} messages"),
            });
        }
        messages.push(m.into_inner());
        Ok(())
    });
    let counts = match counts {
        Err(chatvault_archive::ArchiveError::Invalid { what, .. }) if what == label => {
            return Err(EvidenceError::TooMany {
                selection: label.to_owned(),
                max,
            })
        }
        Err(chatvault_archive::ArchiveError::NotFound(_)) => {
            return Err(EvidenceError::NothingVisible {
                user: user.to_owned(),
                selection: label.to_owned(),
                hidden: 0,
            })
        }
        other => other?,
    };
    if counts.shown == 0 {
        return Err(EvidenceError::NothingVisible {
            user: user.to_owned(),
            selection: label.to_owned(),
            hidden: counts.hidden,
        });
    }
    if counts.masked > 0 {
        return Err(EvidenceError::Masked {
            user: user.to_owned(),
            masked: counts.masked,
        });
    }
    Ok(messages)
}

/// The files of a package before custody and the manifest: proofs, attachments and the
/// messages rendered as JSON and PDF.
pub struct Contents {
    files: Vec<(String, Vec<u8>)>,
    entries: Vec<MessageEntry>,
    checkpoint: String,
    tree_size: u64,
    verifier_key: String,
    archive_id: String,
    key_fingerprint: String,
    selection: String,
}

impl Contents {
    pub fn messages(&self) -> u64 {
        self.entries.len() as u64
    }
}

/// Step 2: signs a checkpoint over the log so far, then proves every message against it,
/// reads the attachments and renders the messages (`header` names the selection, the
/// exporter and the grants; the archive's id and key fingerprint are filled in here).
/// `messages.pdf`, which people read, shows times through `show_time` (the deployment's
/// zone, named by the header); `messages.json`, which the proofs bind, keeps them as
/// each source wrote them.
pub fn contents(
    archive: &mut Archive,
    messages: &[StoredMessage],
    mut header: chatvault_export::Header,
    show_time: &dyn Fn(&str) -> String,
) -> Result<Contents> {
    // One checkpoint covers every message: sign the tail first.
    archive.checkpoint()?;
    let stats = archive.stats()?;
    header.archive_id = stats.archive_id.clone();
    header.key_fingerprint = stats.key_fingerprint.clone();
    let mut files: Vec<(String, Vec<u8>)> = vec![];
    let mut seen_attachments = BTreeSet::new();
    let mut entries = vec![];
    let mut checkpoint: Option<(String, u64)> = None;
    for m in messages {
        let p = archive.proof(&m.id, true)?;
        match &checkpoint {
            None => checkpoint = Some((p.checkpoint.clone(), p.tree_size)),
            Some((c, _)) if *c != p.checkpoint => {
                return Err(chatvault_archive::ArchiveError::Corrupt(
                    "the archive signed a new checkpoint while the package was built; run it again"
                        .into(),
                )
                .into())
            }
            _ => {}
        }
        let name = format!("proofs/{}.json", m.id);
        entries.push(MessageEntry {
            id: m.id.clone(),
            leaf_index: p.leaf_index,
            leaf_hash: p.leaf_hash.clone(),
            proof: name.clone(),
        });
        files.push((
            name,
            serde_json::to_vec_pretty(&p).map_err(|e| write_err("a proof")(format_args!("{e}")))?,
        ));
        for a in &m.attachments {
            let sha = hex::encode(a.sha256);
            if !seen_attachments.insert(sha.clone()) {
                continue;
            }
            // The rule already showed this message in full; an attachment recorded by hash
            // only (its bytes never archived) is listed in the message, not in the package.
            let mut full = |_: &StoredMessage, _: &[chatvault_policy::Handle]| Visibility::Full;
            if let Ok((_, Some(bytes))) = archive.attachment_visible(&m.id, &sha, &mut full) {
                files.push((format!("attachments/{sha}"), bytes));
            }
        }
    }
    let (checkpoint, tree_size) = checkpoint.unwrap_or_default();
    for (fmt, name) in [
        (chatvault_export::Format::Json, "messages.json"),
        (chatvault_export::Format::Pdf, "messages.pdf"),
    ] {
        let mut buf = vec![];
        let e = write_err(name);
        {
            let mut sink =
                chatvault_export::sink_shown(fmt, Box::new(&mut buf), Box::new(show_time));
            sink.begin(&header).map_err(|x| e(format_args!("{x}")))?;
            for m in messages {
                sink.message(m).map_err(|x| e(format_args!("{x}")))?;
            }
            sink.finish(messages.len() as u64)
                .map_err(|x| e(format_args!("{x}")))?;
        }
        files.push((name.to_owned(), buf));
    }
    Ok(Contents {
        files,
        entries,
        checkpoint,
        tree_size,
        verifier_key: archive.verifier_key().to_owned(),
        archive_id: stats.archive_id,
        key_fingerprint: stats.key_fingerprint,
        selection: header.selection,
    })
}

/// The export step as `custody.json` records it.
#[derive(Debug, Clone, Serialize)]
pub struct ExportStep {
    pub by: String,
    pub at: String,
    /// Where from: the host the CLI ran on, or the client's address for the API.
    pub host: String,
    pub tool: String,
    pub selection: String,
}

/// Step 3: `custody.json`: the requests behind the grants used, those grants, the export
/// step, and the audit chain from the first entry about any of them to the signed head.
pub fn custody(
    acc: &mut chatvault_access::Access,
    grants: &[chatvault_policy::Grant],
    used: &BTreeSet<String>,
    export: &ExportStep,
) -> Result<Vec<u8>> {
    let used_grants: Vec<_> = grants
        .iter()
        .filter(|g| used.contains(&g.id))
        .cloned()
        .collect();
    let requests: Vec<_> = acc
        .requests(None)?
        .into_iter()
        .filter(|r| used_grants.iter().any(|g| g.request == r.id))
        .collect();
    let targets: BTreeSet<String> = requests
        .iter()
        .map(|r| r.id.clone())
        .chain(used_grants.iter().map(|g| g.id.clone()))
        .collect();
    let all = acc.audit_list(&chatvault_access::AuditFilter::default())?;
    let matching: Vec<u64> = all
        .iter()
        .filter(|e| e.target.as_ref().is_some_and(|t| targets.contains(t)))
        .map(|e| e.seq)
        .collect();
    let first = matching
        .first()
        .copied()
        .unwrap_or_else(|| all.last().map_or(0, |e| e.seq));
    let segment = acc.audit_segment(first)?;
    let custody = serde_json::json!({
        "requests": requests,
        "grants": used_grants,
        "export": export,
        "matching_audit_seqs": matching,
        "audit_segment": segment,
    });
    serde_json::to_vec_pretty(&custody).map_err(|e| write_err("custody.json")(format_args!("{e}")))
}

/// A package, built.
pub struct Built {
    pub zip: Vec<u8>,
    pub messages: u64,
    pub files: u64,
    pub tree_size: u64,
    /// Of the zip.
    pub sha256: String,
}

/// Step 4: the manifest over every file, and the zip.
pub fn package(c: Contents, custody: Vec<u8>, created_at: &str) -> Result<Built> {
    let mut files = c.files;
    files.push(("custody.json".into(), custody));
    let manifest = Manifest {
        format: FORMAT.into(),
        created_at: created_at.to_owned(),
        archive_id: c.archive_id,
        selection: c.selection,
        checkpoint: c.checkpoint,
        tree_size: c.tree_size,
        verifier_key: c.verifier_key,
        key_fingerprint: c.key_fingerprint,
        files: files.iter().map(|(n, b)| hashes(n, b)).collect(),
        messages: c.entries,
    };
    let (messages, nfiles, tree_size) = (
        manifest.messages.len() as u64,
        manifest.files.len() as u64,
        manifest.tree_size,
    );
    files.push((
        "manifest.json".into(),
        serde_json::to_vec_pretty(&manifest)
            .map_err(|e| write_err("manifest.json")(format_args!("{e}")))?,
    ));
    let e = write_err("the package");
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in &files {
        z.start_file(name.as_str(), opts)
            .map_err(|x| e(format_args!("{name}: {x}")))?;
        z.write_all(bytes)
            .map_err(|x| e(format_args!("{name}: {x}")))?;
    }
    let zip = z.finish().map_err(|x| e(format_args!("{x}")))?.into_inner();
    let sha256 = hex::encode(sha2::Sha256::digest(&zip));
    Ok(Built {
        zip,
        messages,
        files: nfiles,
        tree_size,
        sha256,
    })
}

/// One finding of a package check.
#[derive(Debug, Serialize)]
pub struct Finding {
    /// The file or message at fault.
    pub item: String,
    pub what: String,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub ok: bool,
    pub messages: u64,
    pub files: u64,
    pub tree_size: u64,
    pub key_fingerprint: String,
    pub selection: String,
    pub problems: Vec<Finding>,
    /// With a later checkpoint: that it extends the package's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    #[serde(skip)]
    checkpoint: String,
    #[serde(skip)]
    verifier_key: String,
}

/// Checks a package offline, from the zip alone. `name` is how errors name it.
pub fn check(name: &str, zip_file: impl Read + Seek) -> Result<Report> {
    let mut z = zip::ZipArchive::new(zip_file)
        .map_err(|e| EvidenceError::NotAPackage(format!("{name}: not a zip: {e}")))?;
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut total = 0u64;
    for i in 0..z.len() {
        let mut e = z
            .by_index(i)
            .map_err(|e| EvidenceError::NotAPackage(format!("{name}: entry {i}: {e}")))?;
        let mut b = vec![];
        e.by_ref()
            .take(MAX_UNPACKED - total + 1)
            .read_to_end(&mut b)
            .map_err(|x| EvidenceError::NotAPackage(format!("{name}: {}: {x}", e.name())))?;
        total += b.len() as u64;
        if total > MAX_UNPACKED {
            return Err(EvidenceError::NotAPackage(format!(
                "{name}: unpacks to more than {} GiB: not read",
                MAX_UNPACKED >> 30
            )));
        }
        files.insert(e.name().to_owned(), b);
    }
    let mut problems = vec![];
    let mut p = |item: &str, what: String| {
        problems.push(Finding {
            item: item.to_owned(),
            what,
        })
    };
    let Some(mb) = files.get("manifest.json") else {
        return Err(EvidenceError::NotAPackage(format!(
            "{name}: no manifest.json: not an evidence package"
        )));
    };
    let manifest: Manifest = serde_json::from_slice(mb)
        .map_err(|e| EvidenceError::NotAPackage(format!("{name}: manifest.json: {e}")))?;
    if manifest.format != FORMAT {
        p(
            "manifest.json",
            format!("format `{}`; this program reads {FORMAT}", manifest.format),
        );
    }
    // Every file against its hashes; nothing added, nothing dropped.
    let listed: BTreeSet<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
    for fh in &manifest.files {
        match files.get(&fh.name) {
            None => p(
                &fh.name,
                "dropped: listed in the manifest, missing from the package".into(),
            ),
            Some(b) => {
                let h = hashes(&fh.name, b);
                if h.sha256 != fh.sha256 || h.sm3 != fh.sm3 {
                    p(
                        &fh.name,
                        "changed: its SHA-256/SM3 differ from the manifest".into(),
                    );
                }
            }
        }
    }
    for n in files
        .keys()
        .filter(|n| *n != "manifest.json" && !listed.contains(n.as_str()))
    {
        p(n, "added: in the package but not in the manifest".into());
    }
    // The checkpoint the manifest names is the archive's, and every proof is against it.
    match chatvault_ledger::verify_checkpoint(&manifest.checkpoint, &manifest.verifier_key) {
        Ok(c) if c.size == manifest.tree_size => {}
        Ok(c) => p(
            "manifest.json",
            format!(
                "the checkpoint is for size {}, the manifest says {}",
                c.size, manifest.tree_size
            ),
        ),
        Err(e) => p(
            "manifest.json",
            format!("the checkpoint does not verify with the archive's key: {e}"),
        ),
    }
    let mut proven: Vec<(String, String)> = vec![];
    for m in &manifest.messages {
        let Some(b) = files.get(&m.proof) else {
            p(
                &format!("message {}", m.id),
                "dropped: its proof file is missing".into(),
            );
            continue;
        };
        let c = chatvault_archive::verify_proof_file(b, Some(&manifest.key_fingerprint));
        if !c.ok {
            p(
                &format!("message {}", m.id),
                format!("its proof fails: {}", c.errors.join("; ")),
            );
        }
        let pf: serde_json::Value = serde_json::from_slice(b).unwrap_or_default();
        if pf["checkpoint"].as_str() != Some(manifest.checkpoint.as_str()) {
            p(
                &format!("message {}", m.id),
                "its proof is against another checkpoint than the manifest's".into(),
            );
        }
        if pf["message_id"].as_str() != Some(m.id.as_str())
            || pf["leaf_hash"].as_str() != Some(m.leaf_hash.as_str())
            || pf["leaf_index"].as_u64() != Some(m.leaf_index)
        {
            p(
                &format!("message {}", m.id),
                "the manifest's leaf, index or id differs from its proof".into(),
            );
        }
        proven.push((m.id.clone(), c.text.unwrap_or_default()));
    }
    // messages.json holds exactly the proven messages, in order, with their text.
    if let Some(b) = files.get("messages.json") {
        let v: serde_json::Value = serde_json::from_slice(b).unwrap_or_default();
        let shown: Vec<(String, String)> = v["messages"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| {
                        (
                            m["id"].as_str().unwrap_or("").to_owned(),
                            m["text"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let proven_ids: BTreeSet<&str> = proven.iter().map(|x| x.0.as_str()).collect();
        let shown_ids: BTreeSet<&str> = shown.iter().map(|x| x.0.as_str()).collect();
        for id in proven_ids.difference(&shown_ids) {
            p(
                &format!("message {id}"),
                "dropped from messages.json".into(),
            );
        }
        for id in shown_ids.difference(&proven_ids) {
            p(
                &format!("message {id}"),
                "added to messages.json without a proof".into(),
            );
        }
        let text: BTreeMap<&str, &str> = proven
            .iter()
            .map(|(i, t)| (i.as_str(), t.as_str()))
            .collect();
        for (id, t) in &shown {
            if text.get(id.as_str()).is_some_and(|want| want != t) {
                p(
                    &format!("message {id}"),
                    "its text in messages.json differs from the proven content".into(),
                );
            }
        }
        let order: Vec<&str> = shown
            .iter()
            .map(|x| x.0.as_str())
            .filter(|i| proven_ids.contains(i))
            .collect();
        let want: Vec<&str> = proven
            .iter()
            .map(|x| x.0.as_str())
            .filter(|i| shown_ids.contains(i))
            .collect();
        if order != want {
            let first = order
                .iter()
                .zip(&want)
                .find(|(a, b)| a != b)
                .map(|(a, _)| a.to_string())
                .unwrap_or_default();
            p(
                &format!("message {first}"),
                "swapped: messages.json is not in the proven order".into(),
            );
        }
    }
    // Attachments: each named by its hash.
    for (n, b) in files.iter().filter(|(n, _)| n.starts_with("attachments/")) {
        if hex::encode(sha2::Sha256::digest(b)) != n.trim_start_matches("attachments/") {
            p(n, "changed: its bytes do not hash to its name".into());
        }
    }
    // Custody: the audit chain stretch ends at a signed audit head.
    match files
        .get("custody.json")
        .map(|b| serde_json::from_slice::<serde_json::Value>(b))
    {
        Some(Ok(c)) => match serde_json::from_value::<chatvault_access::AuditSegment>(
            c["audit_segment"].clone(),
        ) {
            Ok(seg) => {
                if let Err(e) = seg.verify() {
                    p("custody.json", e);
                }
            }
            Err(e) => p("custody.json", format!("no audit segment: {e}")),
        },
        _ => p("custody.json", "missing or malformed".into()),
    }
    Ok(Report {
        ok: problems.is_empty(),
        messages: manifest.messages.len() as u64,
        files: manifest.files.len() as u64,
        tree_size: manifest.tree_size,
        key_fingerprint: manifest.key_fingerprint,
        selection: manifest.selection,
        problems,
        extends: None,
        checkpoint: manifest.checkpoint,
        verifier_key: manifest.verifier_key,
    })
}

impl Report {
    /// Checks that a later checkpoint (`checkpoint --export FILE --from-size N`: the newest
    /// checkpoint and an RFC 6962 consistency proof from the package's size) extends the
    /// package's. `item` names that file in a finding.
    pub fn check_against(&mut self, item: &str, later: &[u8]) {
        match serde_json::from_slice::<chatvault_archive::ConsistencyFile>(later) {
            Err(e) => self.problems.push(Finding {
                item: item.to_owned(),
                what: format!("not a checkpoint file: {e}"),
            }),
            Ok(f) => match chatvault_archive::check_consistency_file(
                &self.checkpoint,
                &self.verifier_key,
                &f,
            ) {
                Ok((a, b)) => {
                    self.extends = Some(format!(
                        "the checkpoint of size {b} extends the package's of size {a}"
                    ))
                }
                Err(e) => self.problems.push(Finding {
                    item: item.to_owned(),
                    what: e,
                }),
            },
        }
        self.ok = self.problems.is_empty();
    }
}
