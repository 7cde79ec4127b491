//! Carrying out retention: the plan (a dry run), the sweep (plan, delete what expired,
//! purge what is past its window, write a report), choosing the messages a deletion
//! request names, and approved manual deletions. Both the CLI and `serve`'s schedule call
//! these, so a sweep is the same wherever it runs.

use std::path::PathBuf;

use chatvault_access::{Access, Action, Event, Outcome};
use chatvault_archive::{
    Archive, DeletionReason, PlanEntry, PlanSummary, PurgeReport, RetentionRules,
};
use chatvault_policy::retention::{DeletionKind, DeletionRequest, DeletionStatus, Verdict};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Archive(#[from] chatvault_archive::ArchiveError),
    #[error(transparent)]
    Access(#[from] chatvault_access::AccessError),
    #[error("sweep report {path}: {source}")]
    Report {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    State(String),
}

impl LifecycleError {
    pub fn code(&self) -> &'static str {
        match self {
            LifecycleError::Archive(e) => e.code(),
            LifecycleError::Access(e) => e.code(),
            LifecycleError::Report { .. } => "io",
            LifecycleError::State(_) => "policy.state",
        }
    }
}

type Result<T> = std::result::Result<T, LifecycleError>;

/// The retention rules in force: the policies, tag rules, holds and manual tags.
fn with_rules<T>(
    life: &chatvault_access::lifecycle::Lifecycle,
    f: impl FnOnce(&RetentionRules<'_>) -> T,
) -> T {
    let manual = |id: &str, conv: &str| life.manual_tags(id, conv);
    f(&RetentionRules {
        policies: &life.policies,
        tag_rules: &life.tag_rules,
        holds: &life.holds,
        manual_tags: &manual,
    })
}

/// A retention plan at one time: what would be deleted, what falls due within the
/// horizon, and the counts. Nothing is deleted.
#[derive(Debug, Serialize)]
pub struct Plan {
    pub at_ms: i64,
    pub horizon_days: u32,
    pub summary: PlanSummary,
    /// Due for deletion, up to the limit asked.
    pub expired: Vec<PlanEntry>,
    pub expired_not_listed: u64,
    /// Falling due within the horizon, soonest first, up to the limit.
    pub upcoming: Vec<PlanEntry>,
    pub upcoming_not_listed: u64,
}

/// Plans retention at `now_ms` (a dry run), listing up to `limit` messages of each kind,
/// and audits `retention.plan` with the counts.
pub fn plan(
    archive: &mut Archive,
    access: &mut Access,
    actor: &str,
    now_ms: i64,
    horizon_days: u32,
    limit: usize,
) -> Result<Plan> {
    let life = access.lifecycle()?;
    let horizon = now_ms.saturating_add(i64::from(horizon_days) * 86_400_000);
    let (mut expired, mut upcoming): (Vec<PlanEntry>, Vec<PlanEntry>) = (vec![], vec![]);
    let (mut more_expired, mut more_upcoming) = (0u64, 0u64);
    let summary = with_rules(&life, |rules| {
        archive.retention_plan(rules, now_ms, &mut |e| {
            match &e.verdict {
                Verdict::Expired { .. } if expired.len() < limit => expired.push(e),
                Verdict::Expired { .. } => more_expired += 1,
                Verdict::Keep {
                    until_ms: Some(u), ..
                } if *u <= horizon => {
                    if upcoming.len() < limit {
                        upcoming.push(e)
                    } else {
                        more_upcoming += 1
                    }
                }
                _ => {}
            }
            Ok(())
        })
    })?;
    upcoming.sort_by_key(|e| match e.verdict {
        Verdict::Keep { until_ms, .. } => until_ms,
        _ => None,
    });
    access.audit(Event::new(actor, Action::RetentionPlan).details(serde_json::json!({
        "at_ms": now_ms, "messages": summary.messages, "expired": summary.expired, "held": summary.held,
    })))?;
    Ok(Plan {
        at_ms: now_ms,
        horizon_days,
        summary,
        expired,
        expired_not_listed: more_expired,
        upcoming,
        upcoming_not_listed: more_upcoming,
    })
}

/// What a deletion request names: exactly one of these.
#[derive(Debug, Clone, Default)]
pub struct Selector<'a> {
    pub messages: &'a [String],
    pub conversation: Option<&'a str>,
    /// `platform:id`.
    pub participant: Option<&'a str>,
    /// The search syntax.
    pub query: Option<&'a str>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

/// The messages a deletion request names, every one of them (the operator's view: the
/// request is decided by a second person, not by a reader's reach), and how the request
/// describes its selection.
pub fn select_messages(archive: &mut Archive, sel: &Selector<'_>) -> Result<(Vec<String>, String)> {
    let given = [
        !sel.messages.is_empty(),
        sel.conversation.is_some(),
        sel.participant.is_some(),
        sel.query.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    let one = || {
        LifecycleError::Access(chatvault_access::AccessError::Policy(
            chatvault_policy::PolicyError::Invalid(
                "give exactly one of --message, --conversation, --participant or --query".into(),
            ),
        ))
    };
    if given != 1 {
        return Err(one());
    }
    if !sel.messages.is_empty() {
        for m in sel.messages {
            archive.message(m)?;
        }
        return Ok((
            sel.messages.to_vec(),
            format!("messages {}", sel.messages.len()),
        ));
    }
    let mut f = chatvault_archive::Filters {
        from_ms: sel.from_ms,
        to_ms: sel.to_ms,
        ..Default::default()
    };
    let (q, selector) = match (sel.conversation, sel.participant, sel.query) {
        (Some(c), _, _) => {
            archive.participants_of(c)?;
            f.conversations = Some(vec![c.to_owned()]);
            (String::new(), format!("conversation {c}"))
        }
        (_, Some(p), _) => {
            let h = chatvault_access::users::parse_handle(p)?;
            f.platform = Some(h.platform.clone());
            f.sender = Some(h.id.clone());
            (String::new(), format!("participant {p}"))
        }
        (_, _, Some(q)) => (q.to_owned(), format!("query {q}")),
        _ => return Err(one()),
    };
    let total = archive.search(&q, &f, 1, 0)?.total as usize;
    let ids = if total == 0 {
        vec![]
    } else {
        archive
            .search(&q, &f, total, 0)?
            .hits
            .into_iter()
            .map(|h| h.id)
            .collect()
    };
    Ok((ids, selector))
}

/// What one sweep did.
#[derive(Debug, Serialize)]
pub struct SweepReport {
    pub at_ms: i64,
    pub at: String,
    pub by: String,
    pub plan: PlanSummary,
    /// Messages deleted by this sweep (recoverable for `recover_days`), per policy.
    pub deleted: std::collections::BTreeMap<String, u64>,
    pub recover_days: u32,
    pub purge: PurgeReport,
    pub report_file: PathBuf,
}

/// Messages per deletion transaction in a sweep.
const SWEEP_BATCH: usize = 10_000;

/// Sweeps: deletes every message whose policy expired (holds kept), purges deletions past
/// their window, writes `DATA/reports/sweep-<time>.json` and audits `retention.sweep`.
pub fn sweep(
    archive: &mut Archive,
    access: &mut Access,
    actor: &str,
    now_ms: i64,
    recover_days: u32,
) -> Result<SweepReport> {
    // Cut-off approvals first; one that cannot be carried out does not stop the sweep.
    for c in complete_approved(archive, access, actor, now_ms, recover_days)? {
        if let Err(why) = c.outcome {
            log_err!("deletion request {}: {why}", c.request);
        }
    }
    let life = access.lifecycle()?;
    let mut due: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let plan = with_rules(&life, |rules| {
        archive.retention_plan(rules, now_ms, &mut |e| {
            if let Verdict::Expired { policy, .. } = e.verdict {
                due.entry(policy).or_default().push(e.id);
            }
            Ok(())
        })
    })?;
    let mut deleted = std::collections::BTreeMap::new();
    for (policy, ids) in &due {
        let reason = DeletionReason {
            rule: format!("policy:{policy}"),
            requested_by: actor.to_owned(),
            approved_by: None,
        };
        let mut n = 0;
        for chunk in ids.chunks(SWEEP_BATCH) {
            n += archive
                .delete_messages(chunk, &reason, now_ms, recover_days)?
                .deleted;
        }
        deleted.insert(policy.clone(), n);
    }
    let purge = archive.purge_due(now_ms, &mut |_| {})?;
    let at = chatvault_model::Timestamp::utc(now_ms).to_rfc3339();
    let dir = archive.data_dir().join("reports");
    let stamp = chrono::DateTime::from_timestamp_millis(now_ms)
        .map(|t| t.format("%Y%m%dT%H%M%S%.3fZ").to_string())
        .unwrap_or_default();
    let file = dir.join(format!("sweep-{stamp}.json"));
    let report = SweepReport {
        at_ms: now_ms,
        at,
        by: actor.to_owned(),
        plan,
        deleted,
        recover_days,
        purge,
        report_file: file.clone(),
    };
    let io = |source| LifecycleError::Report {
        path: file.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let json =
        serde_json::to_vec_pretty(&report).map_err(|e| LifecycleError::State(e.to_string()))?;
    std::fs::write(&file, json).map_err(io)?;
    access.audit(Event::new(actor, Action::RetentionSweep).details(serde_json::json!({
        "at_ms": now_ms, "messages": report.plan.messages, "expired": report.plan.expired, "held": report.plan.held,
        "deleted": report.deleted, "purged": report.purge.purged, "conversations_shredded": report.purge.conversations_shredded,
        "report": file.file_name().map(|f| f.to_string_lossy().into_owned()),
    })))?;
    if report.purge.purged > 0 {
        access.audit(Event::new(actor, Action::Purge).details(serde_json::json!({"purged": report.purge.purged, "attachments_removed": report.purge.attachments_removed, "conversations_shredded": report.purge.conversations_shredded})))?;
    }
    Ok(report)
}

/// What carrying out an approved request did.
#[derive(Debug, Serialize)]
pub struct Execution {
    pub request: String,
    pub kind: DeletionKind,
    pub done: u64,
    /// Already deleted (for a deletion) or not recoverable (for a recovery).
    pub skipped: Vec<String>,
    /// Kept by a legal hold: not deleted.
    pub held: Vec<(String, Vec<String>)>,
}

/// Carries out an approved deletion or recovery request and audits `deletion.execute`.
/// Messages under an active legal hold are never deleted.
pub fn execute(
    archive: &mut Archive,
    access: &mut Access,
    actor: &str,
    r: &DeletionRequest,
    now_ms: i64,
    recover_days: u32,
) -> Result<Execution> {
    let DeletionStatus::Approved { by, .. } = &r.status else {
        return Err(LifecycleError::State(format!(
            "deletion request {} is not approved",
            r.id
        )));
    };
    let out = match r.kind {
        DeletionKind::Delete => {
            let holds = access.lifecycle()?.holds;
            let held = archive.held_by(&r.messages, &holds)?;
            let keep: std::collections::BTreeSet<&str> =
                held.iter().map(|(id, _)| id.as_str()).collect();
            let ids: Vec<String> = r
                .messages
                .iter()
                .filter(|m| !keep.contains(m.as_str()))
                .cloned()
                .collect();
            let reason = DeletionReason {
                rule: format!("request:{}", r.id),
                requested_by: r.requested_by.clone(),
                approved_by: Some(by.clone()),
            };
            let d = if ids.is_empty() {
                Default::default()
            } else {
                archive.delete_messages(&ids, &reason, now_ms, recover_days)?
            };
            Execution {
                request: r.id.clone(),
                kind: r.kind,
                done: d.deleted,
                skipped: vec![],
                held,
            }
        }
        DeletionKind::Recover => {
            let rec = archive.recover_messages(&r.messages, now_ms)?;
            Execution {
                request: r.id.clone(),
                kind: r.kind,
                done: rec.recovered,
                skipped: rec.not_recoverable,
                held: vec![],
            }
        }
    };
    // What was held back or skipped is in the details; the step itself succeeded.
    access.audit(Event::new(actor, Action::DeletionExecute).target(&r.id).result(Outcome::Ok).details(serde_json::json!({
        "kind": r.kind, "done": out.done, "skipped": out.skipped.len(), "held": out.held.len(), "approved_by": by,
    })))?;
    Ok(out)
}

/// An approved request that a crash cut off before it was carried out.
#[derive(Debug)]
pub struct CutOff {
    pub request: String,
    /// Carried out now, or why not.
    pub outcome: std::result::Result<Execution, String>,
}

/// Carries out the approved requests that were never carried out. Approval commits in
/// `access.db` and the deletion in `archive.db`, so a crash between the two leaves an
/// approved request undone; every `delete` command and every sweep finishes such
/// requests first, oldest approval first. Carrying one out again is harmless (messages
/// already deleted count as such), but one approved before a later request was carried
/// out is not redone, since it could undo that one (a recovery after a deletion): it is
/// reported for a person to decide. One that fails is reported; the others go on.
pub fn complete_approved(
    archive: &mut Archive,
    access: &mut Access,
    actor: &str,
    now_ms: i64,
    recover_days: u32,
) -> Result<Vec<CutOff>> {
    let done = access.executed_deletions()?;
    let newest_execution = done.values().copied().max().unwrap_or(i64::MIN);
    let mut cut: Vec<(i64, DeletionRequest)> = access
        .deletion_requests()?
        .into_iter()
        .filter_map(|r| match r.status {
            DeletionStatus::Approved { at_ms, .. } if !done.contains_key(&r.id) => Some((at_ms, r)),
            _ => None,
        })
        .collect();
    cut.sort_by_key(|(at, _)| *at);
    let mut out = vec![];
    for (at_ms, r) in cut {
        let outcome = if at_ms < newest_execution {
            Err("approved before a later request was carried out: carrying it out now could undo that one; decide by hand (reject it and file it again)".to_owned())
        } else {
            execute(archive, access, actor, &r, now_ms, recover_days).map_err(|e| e.to_string())
        };
        out.push(CutOff {
            request: r.id.clone(),
            outcome,
        });
    }
    Ok(out)
}

/// Who the audit trail names for scheduled sweeps.
pub const SCHEDULE_ACTOR: &str = "system:retention-schedule";

/// Who the audit trail names for scheduled backups.
pub const BACKUP_ACTOR: &str = "system:backup-schedule";
