//! `chatvault export`: a conversation or a query's matches as JSON, CSV or HTML, for a
//! user, under the export right their role or an approved grant gives, audited.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chatvault_access::{Action, Event, Outcome};
use chatvault_app::exports;
use chatvault_archive::{Archive, Filters, KeyProvider};
use chatvault_export::Format;
use chatvault_policy::Right;

use crate::security::{open_access, time_arg};
use crate::{print_json, render};

pub use chatvault_app::reach::UserReach;

/// Loads what deciding `user`'s reads needs.
pub fn load_reach(
    acc: &mut chatvault_access::Access,
    cfg: &chatvault_app::Config,
    user: &str,
) -> Result<UserReach> {
    Ok(UserReach::load(acc, &cfg.policy(), user)?)
}

pub use chatvault_app::exports::Chosen;

/// The export's selection from the command's flags: a conversation (whole, or in a time
/// range) or a query's matches.
pub fn chosen(
    conversation: Option<&str>,
    query: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Chosen> {
    let from_ms = from.map(|s| time_arg(s, "--from", false)).transpose()?;
    let to_ms = to.map(|s| time_arg(s, "--to", true)).transpose()?;
    let range = format!(
        "{}{}",
        from.map(|f| format!(" from {f}")).unwrap_or_default(),
        to.map(|t| format!(" to {t}")).unwrap_or_default()
    );
    match (conversation, query) {
        (Some(c), None) => Ok(Chosen::conversation_range(c, from_ms, to_ms, &range)),
        (None, Some(q)) => Ok(Chosen::query(
            q,
            Filters {
                from_ms,
                to_ms,
                ..Default::default()
            },
            &range,
        )),
        _ => bail!(chatvault_policy::PolicyError::Invalid(
            "give exactly one of --conversation or --query".into()
        )),
    }
}

pub fn export(
    data: &Path,
    json: bool,
    user: &str,
    chosen: &Chosen,
    format: &str,
    out: &Path,
) -> Result<ExitCode> {
    let Some(fmt) = Format::parse(format) else {
        bail!(chatvault_policy::PolicyError::Invalid(format!(
            "--format `{format}`: use json, csv, html or pdf"
        )))
    };
    let (mut acc, cfg) = open_access(data)?;
    let zone = cfg.zone()?;
    let reach = load_reach(&mut acc, &cfg, user)?;
    let target = chosen.audit_target();
    let mut archive = Archive::open(data, &KeyProvider::from_env())?;
    // Written beside the target and renamed at the end: no half export under its name.
    let partial = out.with_extension("partial");
    let file = std::fs::File::create(&partial).with_context(|| partial.display().to_string())?;
    let mut w = std::io::BufWriter::new(file);
    let decide = |m: &chatvault_model::StoredMessage,
                  members: &[chatvault_policy::Handle],
                  usage: &mut chatvault_app::reach::Usage| {
        reach.decide(Right::Export, usage, m, members)
    };
    let written = exports::write_plain(
        &mut archive,
        user,
        reach.now,
        chosen,
        &chosen.filters,
        fmt,
        exports::export_grants(&reach.grants),
        &decide,
        None,
        zone,
        &mut w,
    )
    .and_then(|written| {
        w.flush().map_err(exports::ExportError::Write)?;
        Ok(written)
    });
    let written = match written {
        Ok(written) => written,
        Err(e) => {
            drop(w);
            let _ = std::fs::remove_file(&partial);
            if matches!(e, exports::ExportError::NothingVisible { .. }) {
                audit_refusal(&mut acc, user, &target, chosen, false, &e.to_string())?;
            }
            return Err(e.into());
        }
    };
    drop(w);
    std::fs::rename(&partial, out).with_context(|| out.display().to_string())?;
    let details = exports::plain_details(chosen, fmt, &file_name(out), &written);
    audit_export(&mut acc, user, &target, details, &written.usage)?;
    let (counts, sha) = (&written.counts, &written.sha256);
    if json {
        print_json(
            &serde_json::json!({"out": out, "format": format, "shown": counts.shown, "masked": counts.masked, "hidden": counts.hidden, "sha256": sha}),
        )?;
    } else {
        println!(
            "exported {} messages ({} masked, {} outside {}'s export right) to {} (sha256 {sha})",
            counts.shown,
            counts.masked,
            counts.hidden,
            render::safe(user, true),
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The name an export's audit entry gives its file.
pub fn file_name(out: &Path) -> String {
    out.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Audits an export made from the console: the read (the same details the API records)
/// and each grant it used.
pub fn audit_export(
    acc: &mut chatvault_access::Access,
    user: &str,
    target: &str,
    details: serde_json::Value,
    usage: &chatvault_app::reach::Usage,
) -> Result<()> {
    for ev in chatvault_app::reach::read_events(
        &|a| Event::new(user, a),
        Action::Export,
        Some(target),
        details,
        usage,
    ) {
        acc.audit(ev)?;
    }
    Ok(())
}

/// Audits a refused export (plain or evidence) as `access.denied`.
pub fn audit_refusal(
    acc: &mut chatvault_access::Access,
    user: &str,
    target: &str,
    chosen: &Chosen,
    evidence: bool,
    why: &str,
) -> Result<()> {
    acc.audit(
        Event::new(user, Action::AccessDenied)
            .target(target)
            .result(Outcome::Denied)
            .details(exports::denied_details(chosen, evidence, why)),
    )?;
    Ok(())
}
