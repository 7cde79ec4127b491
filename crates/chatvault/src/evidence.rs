//! Evidence packages (`export --evidence`) and their offline check (`verify case.zip`).
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
//! `verify` needs nothing but the zip: it checks every file's hashes, every proof (leaf,
//! path, signature, content), that every proof is against the manifest's checkpoint, that
//! `messages.json` holds exactly the proven messages in their order with their text, the
//! attachments against their hashes, and the custody chain. It names what was changed,
//! dropped, added or swapped.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chatvault_access::{Action, Event};
use chatvault_archive::{Archive, KeyProvider, Selection, Visibility};
use chatvault_policy::Right;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::security::open_access;
use crate::{print_json, render};

pub const FORMAT: &str = "chatvault-evidence/v1";

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
    pub checkpoint: String,
    pub tree_size: u64,
    pub verifier_key: String,
    pub key_fingerprint: String,
    pub files: Vec<FileHash>,
    pub messages: Vec<MessageEntry>,
}

fn hashes(name: &str, bytes: &[u8]) -> FileHash {
    FileHash { name: name.to_owned(), size: bytes.len() as u64, sha256: hex::encode(sha2::Sha256::digest(bytes)), sm3: hex::encode(sm3::Sm3::digest(bytes)) }
}

/// Builds an evidence package of a conversation for `user`, who must hold `export` and
/// `pii.view` over every message (the proofs open the content).
pub fn build(data: &Path, json: bool, user: &str, conversation: &str, out: &Path) -> Result<ExitCode> {
    let (mut acc, cfg) = open_access(data)?;
    let reach = crate::export::UserReach::load(&mut acc, &cfg, user)?;
    let (now, grants) = (reach.now, &reach.grants);
    let mut archive = Archive::open(data, &KeyProvider::from_env())?;
    // One checkpoint covers every message: sign the tail first.
    archive.checkpoint()?;
    let mut usage = chatvault_server::guard::Usage::default();
    let mut messages = vec![];
    let mut masked = 0u64;
    {
        let mut rule = |m: &chatvault_model::StoredMessage, members: &[chatvault_policy::Handle]| {
            let v = reach.decide(Right::Export, &mut usage, m, members);
            if v == Visibility::Masked {
                masked += 1;
            }
            v
        };
        archive.stream_visible(&Selection::Conversation(conversation), &mut rule, &mut |m| {
            messages.push(m);
            Ok(())
        })?;
    }
    if messages.is_empty() {
        acc.audit(Event::new(user, Action::AccessDenied).target(conversation).result(chatvault_access::Outcome::Denied).details(serde_json::json!({"reason": "evidence export"})))?;
        bail!(chatvault_policy::PolicyError::Invalid(format!("{user} may export none of {conversation} (an approved request with export and pii.view)")));
    }
    if masked > 0 {
        bail!(chatvault_policy::PolicyError::Invalid(format!("{masked} messages would be masked for {user}: an evidence package opens the content, so it needs pii.view")));
    }
    let stats = archive.stats()?;
    let mut files: Vec<(String, Vec<u8>)> = vec![];
    let mut entries = vec![];
    let mut checkpoint: Option<(String, u64)> = None;
    for m in &messages {
        let p = archive.proof(&m.id, true)?;
        match &checkpoint {
            None => checkpoint = Some((p.checkpoint.clone(), p.tree_size)),
            Some((c, _)) if *c != p.checkpoint => bail!(chatvault_archive::ArchiveError::Corrupt("the archive signed a new checkpoint while the package was built; run it again".into())),
            _ => {}
        }
        let name = format!("proofs/{}.json", m.id);
        entries.push(MessageEntry { id: m.id.clone(), leaf_index: p.leaf_index, leaf_hash: p.leaf_hash.clone(), proof: name.clone() });
        files.push((name, serde_json::to_vec_pretty(&p)?));
        for a in &m.attachments {
            let sha = hex::encode(a.sha256);
            let mut r = |_: &chatvault_model::StoredMessage, _: &[chatvault_policy::Handle]| Visibility::Full;
            if let Ok((_, Some(bytes))) = archive.attachment_visible(&m.id, &sha, &mut r) {
                let name = format!("attachments/{sha}");
                if !files.iter().any(|(n, _)| *n == name) {
                    files.push((name, bytes));
                }
            }
        }
    }
    let (checkpoint, tree_size) = checkpoint.unwrap_or_default();
    let header = chatvault_export::Header {
        format: chatvault_export::FORMAT,
        title: format!("证据包 Evidence: {conversation}"),
        selection: format!("conversation {conversation}"),
        exported_by: user.to_owned(),
        exported_at: chatvault_model::Timestamp::utc(now).to_rfc3339(),
        archive_id: stats.archive_id.clone(),
        key_fingerprint: stats.key_fingerprint.clone(),
        grants: usage.grants.iter().cloned().collect(),
    };
    for (fmt, name) in [(chatvault_export::Format::Json, "messages.json"), (chatvault_export::Format::Pdf, "messages.pdf")] {
        let mut buf = vec![];
        {
            let mut sink = chatvault_export::sink(fmt, Box::new(&mut buf));
            sink.begin(&header)?;
            for m in &messages {
                sink.message(m)?;
            }
            sink.finish(messages.len() as u64)?;
        }
        files.push((name.to_owned(), buf));
    }
    // Custody: the requests behind the grants used, the export, and the audit chain.
    let requests: Vec<_> = acc.requests(None)?.into_iter().filter(|r| grants.iter().any(|g| usage.grants.contains(&g.id) && g.request == r.id)).collect();
    let used: Vec<_> = grants.iter().filter(|g| usage.grants.contains(&g.id)).cloned().collect();
    let targets: BTreeSet<String> = requests.iter().map(|r| r.id.clone()).chain(used.iter().map(|g| g.id.clone())).collect();
    let all = acc.audit_list(&chatvault_access::AuditFilter::default())?;
    let first = all.iter().find(|e| e.target.as_ref().is_some_and(|t| targets.contains(t))).map_or(all.len().saturating_sub(1) as u64, |e| e.seq);
    let segment = acc.audit_segment(first)?;
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    let custody = serde_json::json!({
        "requests": requests,
        "grants": used,
        "export": {"by": user, "at": chatvault_model::Timestamp::utc(now).to_rfc3339(), "host": host, "tool": format!("chatvault {}", env!("CARGO_PKG_VERSION")), "selection": header.selection},
        "matching_audit_seqs": all.iter().filter(|e| e.target.as_ref().is_some_and(|t| targets.contains(t))).map(|e| e.seq).collect::<Vec<_>>(),
        "audit_segment": segment,
    });
    files.push(("custody.json".into(), serde_json::to_vec_pretty(&custody)?));
    let manifest = Manifest {
        format: FORMAT.into(),
        created_at: chatvault_model::Timestamp::utc(now).to_rfc3339(),
        archive_id: stats.archive_id.clone(),
        checkpoint,
        tree_size,
        verifier_key: archive.verifier_key().to_owned(),
        key_fingerprint: stats.key_fingerprint.clone(),
        files: files.iter().map(|(n, b)| hashes(n, b)).collect(),
        messages: entries,
    };
    files.push(("manifest.json".into(), serde_json::to_vec_pretty(&manifest)?));
    let partial = out.with_extension("partial");
    {
        let f = std::fs::File::create(&partial).with_context(|| partial.display().to_string())?;
        let mut z = zip::ZipWriter::new(f);
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in &files {
            z.start_file(name.as_str(), opts)?;
            z.write_all(bytes)?;
        }
        z.finish()?;
    }
    let sha = hex::encode(sha2::Sha256::digest(std::fs::read(&partial)?));
    std::fs::rename(&partial, out).with_context(|| out.display().to_string())?;
    acc.audit(Event::new(user, Action::Export).target(conversation).details(serde_json::json!({
        "evidence": true, "messages": messages.len(), "files": manifest.files.len(), "grants": usage.grants, "sha256": sha, "tree_size": tree_size,
    })))?;
    for g in &usage.grants {
        acc.audit(Event::new(user, Action::GrantUse).target(g).details(serde_json::json!({"for": "evidence", "on": conversation})))?;
    }
    if json {
        print_json(&serde_json::json!({"out": out, "messages": messages.len(), "files": manifest.files.len(), "sha256": sha, "tree_size": tree_size}))?;
    } else {
        println!("evidence package {}: {} messages, {} files, proofs against checkpoint {tree_size}; sha256 {sha}", out.display(), messages.len(), manifest.files.len());
    }
    Ok(ExitCode::SUCCESS)
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
    pub problems: Vec<Finding>,
    /// With `--against`: that the later checkpoint extends the package's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
}

fn manifest_of(path: &Path) -> Result<Manifest> {
    let f = std::fs::File::open(path).with_context(|| path.display().to_string())?;
    let mut z = zip::ZipArchive::new(f)?;
    let mut b = vec![];
    z.by_name("manifest.json")?.by_ref().take(64 << 20).read_to_end(&mut b)?;
    Ok(serde_json::from_slice(&b)?)
}

/// Checks a package offline, from the zip alone.
pub fn check(path: &Path) -> Result<Report> {
    let f = std::fs::File::open(path).with_context(|| path.display().to_string())?;
    let mut z = zip::ZipArchive::new(f).with_context(|| format!("{}: not a zip", path.display()))?;
    // A package is read whole; one that unpacks to more than this is refused (a zip bomb
    // does not exhaust memory).
    const MAX_UNPACKED: u64 = 2 << 30;
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut total = 0u64;
    for i in 0..z.len() {
        let mut e = z.by_index(i)?;
        let mut b = vec![];
        e.by_ref().take(MAX_UNPACKED - total + 1).read_to_end(&mut b)?;
        total += b.len() as u64;
        if total > MAX_UNPACKED {
            bail!(chatvault_policy::PolicyError::Invalid(format!("{}: unpacks to more than {} GiB: not read", path.display(), MAX_UNPACKED >> 30)));
        }
        files.insert(e.name().to_owned(), b);
    }
    let mut problems = vec![];
    let mut p = |item: &str, what: String| problems.push(Finding { item: item.to_owned(), what });
    let Some(mb) = files.get("manifest.json") else { bail!(chatvault_policy::PolicyError::Invalid(format!("{}: no manifest.json: not an evidence package", path.display()))) };
    let manifest: Manifest = serde_json::from_slice(mb).with_context(|| "manifest.json")?;
    if manifest.format != FORMAT {
        p("manifest.json", format!("format `{}`; this program reads {FORMAT}", manifest.format));
    }
    // Every file against its hashes; nothing added, nothing dropped.
    let listed: BTreeSet<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
    for fh in &manifest.files {
        match files.get(&fh.name) {
            None => p(&fh.name, "dropped: listed in the manifest, missing from the package".into()),
            Some(b) => {
                let h = hashes(&fh.name, b);
                if h.sha256 != fh.sha256 || h.sm3 != fh.sm3 {
                    p(&fh.name, "changed: its SHA-256/SM3 differ from the manifest".into());
                }
            }
        }
    }
    for name in files.keys().filter(|n| *n != "manifest.json" && !listed.contains(n.as_str())) {
        p(name, "added: in the package but not in the manifest".into());
    }
    // The checkpoint the manifest names is the archive's, and every proof is against it.
    match chatvault_ledger::verify_checkpoint(&manifest.checkpoint, &manifest.verifier_key) {
        Ok(c) if c.size == manifest.tree_size => {}
        Ok(c) => p("manifest.json", format!("the checkpoint is for size {}, the manifest says {}", c.size, manifest.tree_size)),
        Err(e) => p("manifest.json", format!("the checkpoint does not verify with the archive's key: {e}")),
    }
    let mut proven: Vec<(String, String)> = vec![];
    for m in &manifest.messages {
        let Some(b) = files.get(&m.proof) else {
            p(&format!("message {}", m.id), "dropped: its proof file is missing".into());
            continue;
        };
        let c = chatvault_archive::verify_proof_file(b, Some(&manifest.key_fingerprint));
        if !c.ok {
            p(&format!("message {}", m.id), format!("its proof fails: {}", c.errors.join("; ")));
        }
        let pf: serde_json::Value = serde_json::from_slice(b).unwrap_or_default();
        if pf["checkpoint"].as_str() != Some(manifest.checkpoint.as_str()) {
            p(&format!("message {}", m.id), "its proof is against another checkpoint than the manifest's".into());
        }
        if pf["message_id"].as_str() != Some(m.id.as_str()) || pf["leaf_hash"].as_str() != Some(m.leaf_hash.as_str()) || pf["leaf_index"].as_u64() != Some(m.leaf_index) {
            p(&format!("message {}", m.id), "the manifest's leaf, index or id differs from its proof".into());
        }
        proven.push((m.id.clone(), c.text.unwrap_or_default()));
    }
    // messages.json holds exactly the proven messages, in order, with their text.
    if let Some(b) = files.get("messages.json") {
        let v: serde_json::Value = serde_json::from_slice(b).unwrap_or_default();
        let shown: Vec<(String, String)> = v["messages"]
            .as_array()
            .map(|a| a.iter().map(|m| (m["id"].as_str().unwrap_or("").to_owned(), m["text"].as_str().unwrap_or("").to_owned())).collect())
            .unwrap_or_default();
        let proven_ids: BTreeSet<&str> = proven.iter().map(|x| x.0.as_str()).collect();
        let shown_ids: BTreeSet<&str> = shown.iter().map(|x| x.0.as_str()).collect();
        for id in proven_ids.difference(&shown_ids) {
            p(&format!("message {id}"), "dropped from messages.json".into());
        }
        for id in shown_ids.difference(&proven_ids) {
            p(&format!("message {id}"), "added to messages.json without a proof".into());
        }
        let text: BTreeMap<&str, &str> = proven.iter().map(|(i, t)| (i.as_str(), t.as_str())).collect();
        for (id, t) in &shown {
            if let Some(want) = text.get(id.as_str()) {
                if want != t {
                    p(&format!("message {id}"), "its text in messages.json differs from the proven content".into());
                }
            }
        }
        let order: Vec<&str> = shown.iter().map(|x| x.0.as_str()).filter(|i| proven_ids.contains(i)).collect();
        let want: Vec<&str> = proven.iter().map(|x| x.0.as_str()).filter(|i| shown_ids.contains(i)).collect();
        if order != want {
            let first = order.iter().zip(&want).find(|(a, b)| a != b).map(|(a, _)| a.to_string()).unwrap_or_default();
            p(&format!("message {first}"), "swapped: messages.json is not in the proven order".into());
        }
    }
    // Attachments: each named by its hash.
    for (name, b) in files.iter().filter(|(n, _)| n.starts_with("attachments/")) {
        if hex::encode(sha2::Sha256::digest(b)) != name.trim_start_matches("attachments/") {
            p(name, "changed: its bytes do not hash to its name".into());
        }
    }
    // Custody: the audit chain stretch ends at a signed audit head.
    match files.get("custody.json").map(|b| serde_json::from_slice::<serde_json::Value>(b)) {
        Some(Ok(c)) => match serde_json::from_value::<chatvault_access::AuditSegment>(c["audit_segment"].clone()) {
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
        problems,
        extends: None,
    })
}

pub fn verify(path: &Path, against: Option<&Path>, json: bool) -> Result<ExitCode> {
    let mut r = check(path)?;
    if let Some(later) = against {
        let bytes = std::fs::read(later).with_context(|| later.display().to_string())?;
        let item = later.display().to_string();
        match serde_json::from_slice::<chatvault_archive::ConsistencyFile>(&bytes) {
            Err(e) => r.problems.push(Finding { item, what: format!("not a checkpoint file: {e}") }),
            Ok(f) => {
                let m: Manifest = manifest_of(path)?;
                match chatvault_archive::check_consistency_file(&m.checkpoint, &m.verifier_key, &f) {
                    Ok((a, b)) => r.extends = Some(format!("the checkpoint of size {b} extends the package's of size {a}")),
                    Err(e) => r.problems.push(Finding { item, what: e }),
                }
            }
        }
        r.ok = r.problems.is_empty();
    }
    if json {
        print_json(&r)?;
    } else {
        println!(
            "{}: evidence package {}: {} messages, {} files, proofs against the checkpoint of size {} signed by {}",
            if r.ok { "ok" } else { "FAILED" },
            path.display(),
            r.messages,
            r.files,
            r.tree_size,
            r.key_fingerprint
        );
        if let Some(x) = &r.extends {
            println!("  {x}");
        }
        for f in &r.problems {
            println!("  {}: {}", render::safe(&f.item, true), render::safe(&f.what, true));
        }
    }
    Ok(if r.ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
