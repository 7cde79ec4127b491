//! The audit log, its activity chart, and verifying its chain.

use super::*;

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
    flagged: Option<String>,
}

pub struct EntryView {
    pub(super) seq: u64,
    pub(super) time: String,
    pub(super) actor: String,
    pub(super) action: String,
    pub(super) target: String,
    pub(super) result: &'static str,
    pub(super) result_label: &'static str,
    pub(super) flags: String,
    pub(super) details: String,
    pub(super) ip: String,
}

impl EntryView {
    pub(super) fn of(t: &crate::ui::i18n::Strings, zone: Zone, e: &AuditEntry) -> EntryView {
        EntryView {
            seq: e.seq,
            time: fmt_ms(e.time_ms, zone),
            actor: clean(&e.actor),
            action: clean(&e.action),
            target: clean(e.target.as_deref().unwrap_or("")),
            result: match e.result {
                Outcome::Ok => "ok",
                Outcome::Denied => "denied",
                Outcome::Failed => "failed",
            },
            result_label: match e.result {
                Outcome::Ok => t.result_ok,
                Outcome::Denied => t.result_denied,
                Outcome::Failed => t.result_failed,
            },
            flags: clean(&e.flags.join(", ")),
            details: if e.details.is_null() {
                String::new()
            } else {
                clean(&e.details.to_string())
            },
            ip: clean(e.ip.as_deref().unwrap_or("")),
        }
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    ctx: Ctx,
    q: AuditForm,
    entries: Vec<EntryView>,
    chart: String,
    actions: Vec<&'static str>,
}

#[derive(Default)]
struct AuditForm {
    actor: String,
    action: String,
    from: String,
    to: String,
    flagged: bool,
}

/// Entries per minute, hour or day (whichever fits the span shown), flagged ones apart,
/// as the chart's JSON (`app.js` draws it).
fn activity_chart(t: &crate::ui::i18n::Strings, entries: &[AuditEntry]) -> String {
    let span = match (entries.first(), entries.last()) {
        (Some(a), Some(b)) => b.time_ms - a.time_ms,
        _ => 0,
    };
    let (bucket, fmt) = if span <= 3 * 3_600_000 {
        (60_000, "%m-%d %H:%M")
    } else if span <= 4 * 86_400_000 {
        (3_600_000, "%m-%d %H:00")
    } else {
        (86_400_000, "%Y-%m-%d")
    };
    let mut by_hour: std::collections::BTreeMap<i64, (u64, u64)> = Default::default();
    for e in entries {
        let slot = by_hour.entry(e.time_ms.div_euclid(bucket)).or_default();
        if e.flags.is_empty() {
            slot.0 += 1;
        } else {
            slot.1 += 1;
        }
    }
    let label = |k: i64| {
        chrono::DateTime::from_timestamp_millis(k * bucket)
            .map(|t| t.format(fmt).to_string())
            .unwrap_or_default()
    };
    let hours: Vec<String> = by_hour.keys().map(|k| label(*k)).collect();
    let plain: Vec<u64> = by_hour.values().map(|v| v.0).collect();
    let flagged: Vec<u64> = by_hour.values().map(|v| v.1).collect();
    serde_json::json!({"hours": hours, "plain": plain, "flagged": flagged, "labels": [t.chart_ok, t.chart_flagged]}).to_string()
}

pub async fn audit_page(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
    Query(q): Query<AuditQuery>,
) -> UiResult<Response> {
    let caller = caller_or(&req, caller)?;
    let lang = req.lang_for(Some(&caller));
    let fail = |e| UiError::for_caller(&req, &caller, e);
    if caller.role() != Role::Auditor {
        return Err(fail(role_denied(&state, &caller, Role::Auditor, "/audit")));
    }
    let p = routes::AuditParams {
        actor: q.actor.clone(),
        action: q.action.clone(),
        from: q.from.clone(),
        to: q.to.clone(),
        flagged: q.flagged.as_deref().is_some_and(|v| !v.is_empty()),
        limit: Some(500),
    };
    let entries = routes::run_audit_list(&state, &caller, &p).map_err(fail)?;
    let t = lang.strings();
    let chart = activity_chart(t, &entries);
    Ok(render(&AuditPage {
        ctx: Ctx::for_caller(lang, &caller, "/audit", t.audit_title),
        q: AuditForm {
            actor: clean(q.actor.as_deref().unwrap_or("")),
            action: clean(q.action.as_deref().unwrap_or("")),
            from: clean(q.from.as_deref().unwrap_or("")),
            to: clean(q.to.as_deref().unwrap_or("")),
            flagged: p.flagged,
        },
        entries: entries
            .iter()
            .rev()
            .map(|e| EntryView::of(t, state.zone, e))
            .collect(),
        chart,
        actions: Action::ALL.iter().map(|a| a.name()).collect(),
    }))
}

/// A role refusal, audited like the API's.
pub(super) fn role_denied(state: &State, caller: &Caller, role: Role, path: &str) -> ApiError {
    let ev = caller.event(Action::AccessDenied).result(Outcome::Denied).details(serde_json::json!({"reason": format!("needs the {} role", role.as_str()), "path": path}));
    match state.audit(ev) {
        Ok(()) => ApiError::forbidden(
            "access.role",
            format!("only the {} role may use this", role.as_str()),
        ),
        Err(e) => e.into(),
    }
}

#[derive(Template)]
#[template(path = "verify_result.html")]
pub(super) struct VerifyResult {
    pub(super) ok: bool,
    pub(super) ok_text: &'static str,
    pub(super) fail_text: &'static str,
    pub(super) summary: String,
    pub(super) errors: Vec<String>,
}

pub async fn audit_verify_submit(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
) -> UiResult<Response> {
    let caller = caller_or(&req, caller)?;
    let lang = req.lang_for(Some(&caller));
    let fail = |e| UiError::for_caller(&req, &caller, e);
    if caller.role() != Role::Auditor {
        return Err(fail(role_denied(
            &state,
            &caller,
            Role::Auditor,
            "/audit/verify",
        )));
    }
    let r = routes::run_audit_verify(&state, &caller).map_err(fail)?;
    let t = lang.strings();
    let summary = format!(
        "{} {} · {} {} · {}: {}",
        r.entries, t.entries, r.checkpoints, t.checkpoints, t.verifier_key, r.verifier_key
    );
    Ok(render(&VerifyResult {
        ok: r.ok,
        ok_text: t.chain_ok,
        fail_text: t.chain_failed,
        summary: clean(&summary),
        errors: r.errors.iter().map(|e| clean(e)).collect(),
    }))
}
