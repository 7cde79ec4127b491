//! The archive's integrity: its counts, its last verification, and verifying it now.

use super::*;

#[derive(Template)]
#[template(path = "integrity.html")]
struct IntegrityPage {
    ctx: Ctx,
    stats: chatvault_archive::Stats,
    last: Option<EntryView>,
    last_ok: bool,
    may_verify: bool,
    audit_key: String,
}

pub async fn integrity_page(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
) -> UiResult<Response> {
    let caller = caller_or(&req, caller)?;
    let lang = req.lang_for(Some(&caller));
    let fail = |e: chatvault_app::Error| UiError::for_caller(&req, &caller, e);
    let stats = state.archive_stats().map_err(fail)?;
    let (last, audit_key) = {
        let acc = state.access().map_err(fail)?;
        let f = chatvault_access::AuditFilter {
            action: Some(Action::IntegrityVerify.name().into()),
            limit: Some(1),
            ..Default::default()
        };
        (
            acc.audit_list(&f).map_err(|e| fail(e.into()))?.pop(),
            acc.audit_verifier_key().to_owned(),
        )
    };
    let t = lang.strings();
    Ok(render(&IntegrityPage {
        ctx: Ctx::for_caller(lang, &caller, "/integrity", t.integrity_title),
        last_ok: last.as_ref().is_some_and(|e| e.result == Outcome::Ok),
        last: last.as_ref().map(|e| EntryView::of(t, state.zone, e)),
        stats,
        may_verify: matches!(caller.role(), Role::Auditor | Role::Admin),
        audit_key: clean(&audit_key),
    }))
}

pub async fn integrity_verify_submit(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
) -> UiResult<Response> {
    let caller = caller_or(&req, caller)?;
    let lang = req.lang_for(Some(&caller));
    let fail = |e| UiError::for_caller(&req, &caller, e);
    if !matches!(caller.role(), Role::Auditor | Role::Admin) {
        return Err(fail(role_denied(
            &state,
            &caller,
            Role::Auditor,
            "/integrity/verify",
        )));
    }
    let r = blocking(|| state.archive_verify()).map_err(|e| fail(e.into()))?;
    let t = lang.strings();
    state
        .audit(caller.event(Action::IntegrityVerify).result(if r.ok { Outcome::Ok } else { Outcome::Failed }).details(serde_json::json!({
            "messages": r.messages, "checkpoints": r.checkpoints, "errors": r.errors.len(), "unsigned_tail": r.unsigned_tail,
        })))
        .map_err(|e| fail(e.into()))?;
    let summary = format!(
        "{} {} · {} {} · {} {}",
        r.messages, t.messages, r.checkpoints, t.checkpoints, r.unsigned_tail, t.unsigned_tail
    );
    let errors = r
        .errors
        .iter()
        .take(50)
        .map(|e| clean(&format!("{e:?}")))
        .collect();
    Ok(render(&VerifyResult {
        ok: r.ok,
        ok_text: t.verify_ok,
        fail_text: t.verify_failed,
        summary,
        errors,
    }))
}
