//! `export --evidence` and `verify case.zip`: the CLI's side of [`chatvault_evidence`].

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chatvault_archive::{Archive, KeyProvider};
use chatvault_evidence::EvidenceError;
use chatvault_policy::Right;

use chatvault_app::exports;

use crate::export::{audit_export, audit_refusal, file_name, load_reach, Chosen};
use crate::security::open_access;
use crate::{print_json, render};

/// The most messages one package holds: it is built and checked in memory.
pub const MAX_MESSAGES: u64 = 200_000;

/// Builds an evidence package of a conversation or a query's matches for `user`, who
/// must hold `export` and `pii.view` over every message (the proofs open the content).
pub fn build(data: &Path, json: bool, user: &str, chosen: &Chosen, out: &Path) -> Result<ExitCode> {
    let (mut acc, cfg) = open_access(data)?;
    let zone = cfg.zone()?;
    let reach = load_reach(&mut acc, &cfg, user)?;
    let mut archive = Archive::open(data, &KeyProvider::from_env())?;
    let target = chosen.audit_target();
    let decide = |m: &chatvault_model::StoredMessage,
                  members: &[chatvault_policy::Handle],
                  usage: &mut chatvault_app::reach::Usage| {
        reach.decide(Right::Export, usage, m, members)
    };
    let gathered = match exports::evidence_contents(
        &mut archive,
        user,
        reach.now,
        chosen,
        &chosen.filters,
        &decide,
        MAX_MESSAGES,
        zone,
    ) {
        Err(e @ (EvidenceError::NothingVisible { .. } | EvidenceError::Masked { .. })) => {
            audit_refusal(&mut acc, user, &target, chosen, true, &e.to_string())?;
            return Err(e.into());
        }
        other => other?,
    };
    let origin = exports::Origin {
        host: std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default(),
        front_end: "CLI",
    };
    let (built, usage) = exports::evidence_package(
        &mut acc,
        user,
        reach.now,
        chosen,
        &reach.grants,
        gathered,
        &origin,
    )?;
    // Written beside the target and renamed: no half package under its name.
    let partial = out.with_extension("partial");
    std::fs::write(&partial, &built.zip).with_context(|| partial.display().to_string())?;
    std::fs::rename(&partial, out).with_context(|| out.display().to_string())?;
    let details = exports::evidence_details(chosen, &file_name(out), &built);
    audit_export(&mut acc, user, &target, details, &usage)?;
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
