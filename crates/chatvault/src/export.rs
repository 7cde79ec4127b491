//! `chatvault export`: a conversation or a query's matches as JSON, CSV or HTML, for a
//! user, under the export right their role or an approved grant gives, audited.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chatvault_access::{Action, Event, Outcome};
use chatvault_archive::{Archive, Filters, KeyProvider};
use chatvault_export::{Format, Header};
use chatvault_policy::Right;
use sha2::Digest;

use crate::security::{open_access, time_arg};
use crate::{print_json, render};

/// What deciding a user's reads needs, loaded from the access database.
pub struct UserReach {
    pub subject: chatvault_policy::Subject,
    pub now: i64,
    pub grants: Vec<chatvault_policy::Grant>,
    pub org: chatvault_policy::Org,
    pub restrictions: Vec<chatvault_policy::retention::Restriction>,
}

impl UserReach {
    pub fn load(
        acc: &mut chatvault_access::Access,
        cfg: &chatvault_server::Config,
        user: &str,
    ) -> Result<UserReach> {
        let Some(u) = acc.user(user)? else {
            bail!(chatvault_access::AccessError::NoUser(user.to_owned()))
        };
        let now = acc.now_ms();
        Ok(UserReach {
            subject: u.subject(),
            now,
            grants: acc
                .grants(Some(user))?
                .into_iter()
                .filter(|g| g.is_active(now))
                .collect(),
            org: acc.org(&cfg.policy())?,
            restrictions: acc.restrictions()?,
        })
    }

    /// One message's visibility under `right` (the server's own decision).
    pub fn decide(
        &self,
        right: Right,
        usage: &mut chatvault_server::guard::Usage,
        m: &chatvault_model::StoredMessage,
        members: &[chatvault_policy::Handle],
    ) -> chatvault_archive::Visibility {
        chatvault_server::guard::visibility(
            &self.subject,
            &self.grants,
            &self.org,
            &self.restrictions,
            self.now,
            right,
            usage,
            m,
            members,
        )
    }
}

pub use chatvault_server::cases::Chosen;

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
    let reach = UserReach::load(&mut acc, &cfg, user)?;
    let (now, grants) = (reach.now, &reach.grants);
    let sel = chosen.selection(&chosen.filters);
    // Audit entries name a query with its personal data masked, as searches are audited.
    let (selection, audited) = (&chosen.label, chosen.audit_target());
    let mut archive = Archive::open(data, &KeyProvider::from_env())?;
    let stats = archive.stats()?;
    let mut usage = chatvault_server::guard::Usage::default();
    // Written beside the target and renamed at the end: no half export under its name.
    let partial = out.with_extension("partial");
    let file = std::fs::File::create(&partial).with_context(|| partial.display().to_string())?;
    let mut hasher = HashingWriter {
        inner: std::io::BufWriter::new(file),
        sha: sha2::Sha256::new(),
    };
    let result = (|| -> Result<chatvault_archive::StreamCounts> {
        let mut sink = chatvault_export::sink(fmt, Box::new(&mut hasher));
        sink.begin(&Header {
            format: chatvault_export::FORMAT,
            title: format!("chatvault export: {selection}"),
            selection: selection.clone(),
            exported_by: user.to_owned(),
            exported_at: chatvault_model::Timestamp::utc(now).to_rfc3339(),
            archive_id: stats.archive_id.clone(),
            key_fingerprint: stats.key_fingerprint.clone(),
            grants: grants
                .iter()
                .filter(|g| g.rights.contains(&Right::Export))
                .map(|g| g.id.clone())
                .collect(),
        })?;
        let mut rule = |m: &chatvault_model::StoredMessage,
                        members: &[chatvault_policy::Handle]| {
            reach.decide(Right::Export, &mut usage, m, members)
        };
        let mut n = 0u64;
        let counts = archive.stream_visible(&sel, &mut rule, &mut |m| {
            n += 1;
            sink.message(&m).map_err(|e| {
                chatvault_archive::ArchiveError::Corrupt(format!("{}: {e}", partial.display()))
            })
        })?;
        sink.finish(n)?;
        Ok(counts)
    })();
    let counts = match result {
        Ok(c) if c.shown > 0 => c,
        other => {
            let _ = std::fs::remove_file(&partial);
            let counts = other?;
            acc.audit(
                Event::new(user, Action::AccessDenied)
                    .target(&audited)
                    .result(Outcome::Denied)
                    .details(serde_json::json!({
                        "reason": "export", "selection": audited, "hidden": counts.hidden,
                    })),
            )?;
            bail!(chatvault_access::AccessError::Policy(chatvault_policy::PolicyError::Invalid(format!(
                "{user} may export none of it ({} messages match; the export right comes from an approved request with `export`)",
                counts.hidden
            ))));
        }
    };
    hasher
        .inner
        .flush()
        .with_context(|| partial.display().to_string())?;
    let sha = hex::encode(hasher.sha.finalize());
    std::fs::rename(&partial, out).with_context(|| out.display().to_string())?;
    acc.audit(Event::new(user, Action::Export).target(&audited).details(serde_json::json!({
        "format": format, "selection": audited, "shown": counts.shown, "masked": counts.masked, "hidden": counts.hidden,
        "grants": usage.grants.iter().collect::<Vec<_>>(), "via_role": usage.by_role, "file": out.file_name().map(|f| f.to_string_lossy().into_owned()), "sha256": sha,
    })))?;
    for g in &usage.grants {
        acc.audit(
            Event::new(user, Action::GrantUse)
                .target(g)
                .details(serde_json::json!({"for": "export", "on": audited})),
        )?;
    }
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

/// Hashes what it writes, so the audit entry records the export's SHA-256.
struct HashingWriter<W: Write> {
    inner: W,
    sha: sha2::Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
