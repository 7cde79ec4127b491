//! `export --evidence` and `verify case.zip`: the CLI's side of [`chatvault_evidence`].

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chatvault_access::{Action, Event, Outcome};
use chatvault_archive::{Archive, KeyProvider};
use chatvault_evidence::EvidenceError;
use chatvault_policy::Right;

use crate::export::{Chosen, UserReach};
use crate::security::open_access;
use crate::{print_json, render};

/// The most messages one package holds: it is built and checked in memory.
pub const MAX_MESSAGES: u64 = 200_000;

/// Builds an evidence package of a conversation or a query's matches for `user`, who
/// must hold `export` and `pii.view` over every message (the proofs open the content).
pub fn build(data: &Path, json: bool, user: &str, chosen: &Chosen, out: &Path) -> Result<ExitCode> {
    let (mut acc, cfg) = open_access(data)?;
    let reach = UserReach::load(&mut acc, &cfg, user)?;
    let mut archive = Archive::open(data, &KeyProvider::from_env())?;
    let mut usage = chatvault_server::guard::Usage::default();
    let sel = chosen.selection(&chosen.filters);
    let collected = {
        let mut rule = |m: &chatvault_model::StoredMessage,
                        members: &[chatvault_policy::Handle]| {
            reach.decide(Right::Export, &mut usage, m, members)
        };
        chatvault_evidence::collect(
            &mut archive,
            user,
            &chosen.label,
            &sel,
            &mut rule,
            MAX_MESSAGES,
        )
    };
    let messages = match collected {
        Err(e @ (EvidenceError::NothingVisible { .. } | EvidenceError::Masked { .. })) => {
            acc.audit(Event::new(user, Action::AccessDenied).target(&chosen.audit_target()).result(Outcome::Denied).details(serde_json::json!({"reason": "evidence export", "why": chatvault_model::pii::mask(&e.to_string())})))?;
            return Err(e.into());
        }
        other => other?,
    };
    let at = chatvault_model::Timestamp::utc(reach.now).to_rfc3339();
    let header = chatvault_export::Header {
        format: chatvault_export::FORMAT,
        title: format!("证据包 Evidence: {}", chosen.label),
        selection: chosen.label.clone(),
        exported_by: user.to_owned(),
        exported_at: at.clone(),
        archive_id: String::new(),
        key_fingerprint: String::new(),
        grants: usage.grants.iter().cloned().collect(),
    };
    let contents = chatvault_evidence::contents(&mut archive, &messages, header)?;
    let step = chatvault_evidence::ExportStep {
        by: user.to_owned(),
        at: at.clone(),
        host: std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default(),
        tool: format!("chatvault {} (CLI)", env!("CARGO_PKG_VERSION")),
        selection: chosen.label.clone(),
    };
    let custody = chatvault_evidence::custody(&mut acc, &reach.grants, &usage.grants, &step)?;
    let built = chatvault_evidence::package(contents, custody, &at)?;
    // Written beside the target and renamed: no half package under its name.
    let partial = out.with_extension("partial");
    std::fs::write(&partial, &built.zip).with_context(|| partial.display().to_string())?;
    std::fs::rename(&partial, out).with_context(|| out.display().to_string())?;
    audit_package(
        &mut acc,
        user,
        &chosen.audit_target(),
        &built,
        &usage.grants,
    )?;
    if json {
        print_json(
            &serde_json::json!({"out": out, "messages": built.messages, "files": built.files, "sha256": built.sha256, "tree_size": built.tree_size}),
        )?;
    } else {
        println!(
            "evidence package {}: {} messages, {} files, proofs against checkpoint {}; sha256 {}",
            out.display(),
            built.messages,
            built.files,
            built.tree_size,
            built.sha256
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The export entry for a package, and one grant-use entry per grant it used.
fn audit_package(
    acc: &mut chatvault_access::Access,
    user: &str,
    label: &str,
    built: &chatvault_evidence::Built,
    grants: &std::collections::BTreeSet<String>,
) -> Result<()> {
    acc.audit(Event::new(user, Action::Export).target(label).details(serde_json::json!({
        "evidence": true, "selection": label, "messages": built.messages, "files": built.files, "grants": grants, "sha256": built.sha256, "tree_size": built.tree_size,
    })))?;
    for g in grants {
        acc.audit(
            Event::new(user, Action::GrantUse)
                .target(g)
                .details(serde_json::json!({"for": "evidence", "on": label})),
        )?;
    }
    Ok(())
}

pub fn verify(path: &Path, against: Option<&Path>, json: bool) -> Result<ExitCode> {
    let f = std::fs::File::open(path).with_context(|| path.display().to_string())?;
    let mut r = chatvault_evidence::check(&path.display().to_string(), std::io::BufReader::new(f))?;
    if let Some(later) = against {
        let bytes = std::fs::read(later).with_context(|| later.display().to_string())?;
        r.check_against(&later.display().to_string(), &bytes);
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
        if !r.selection.is_empty() {
            println!("  holds: {}", render::safe(&r.selection, true));
        }
        if let Some(x) = &r.extends {
            println!("  {x}");
        }
        for f in &r.problems {
            println!(
                "  {}: {}",
                render::safe(&f.item, true),
                render::safe(&f.what, true)
            );
        }
    }
    Ok(if r.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
