//! Retrieval requests and grants: filing, approving, rejecting and revoking.

use super::*;

pub struct RequestView {
    id: String,
    requester: String,
    filed: String,
    status: &'static str,
    status_class: &'static str,
    decided_by: String,
    comment: String,
    reason: String,
    case_number: String,
    scope: String,
    rights: String,
}

pub struct GrantView {
    id: String,
    holder: String,
    approved_by: String,
    scope: String,
    rights: String,
    expires: String,
    can_revoke: bool,
}

fn scope_text(t: &crate::ui::i18n::Strings, zone: Zone, s: &Scope) -> String {
    let mut parts = vec![];
    if !s.conversations.is_empty() {
        parts.push(s.conversations.join(", "));
    }
    if !s.participants.is_empty() {
        parts.push(
            s.participants
                .iter()
                .map(|h| h.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    parts.push(format!(
        "{} – {}",
        fmt_ms(s.from_ms, zone),
        fmt_ms(s.to_ms, zone)
    ));
    if !s.keywords.is_empty() {
        parts.push(format!("{} ×{}", t.keywords_short, s.keywords.len()));
    }
    clean(&parts.join(" · "))
}

fn rights_text(t: &crate::ui::i18n::Strings, rights: &[Right]) -> String {
    rights
        .iter()
        .map(|r| match r {
            Right::View => t.right_view,
            Right::Export => t.right_export,
            Right::PiiView => t.right_pii,
            Right::RestrictedView => t.right_restricted,
        })
        .collect::<Vec<_>>()
        .join("、")
}

#[derive(Template)]
#[template(path = "requests.html")]
struct RequestsPage {
    ctx: Ctx,
    mine: Vec<RequestView>,
    inbox: Vec<RequestView>,
    others: Vec<RequestView>,
    grants: Vec<GrantView>,
    notice: Option<&'static str>,
    may_file: bool,
    approver: bool,
    default_from: String,
    default_to: String,
    default_expiry: String,
}

#[derive(Deserialize)]
pub struct Done {
    pub(in crate::ui) done: Option<String>,
}

pub async fn requests_page(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
    Query(d): Query<Done>,
) -> UiResult<Response> {
    let caller = caller_or(&req, caller)?;
    let lang = req.lang_for(Some(&caller));
    let t = lang.strings();
    let fail = |e| UiError::for_caller(&req, &caller, e);
    let policy = state.config.policy();
    let approver = policy.rules(caller.role()).approves != Approves::Nobody;
    let requests = routes::visible_requests(&state, &caller).map_err(fail)?;
    let grants = routes::visible_grants(&state, &caller).map_err(fail)?;
    let (mut mine, mut inbox, mut others) = (vec![], vec![], vec![]);
    for r in requests.iter().rev() {
        let (status, class, by, comment) = match &r.status {
            Status::Pending => (t.status_pending, "pending", String::new(), String::new()),
            Status::Approved { by, comment, .. } => {
                (t.status_approved, "approved", by.clone(), comment.clone())
            }
            Status::Rejected { by, comment, .. } => {
                (t.status_rejected, "rejected", by.clone(), comment.clone())
            }
        };
        let can_decide =
            approver && matches!(r.status, Status::Pending) && r.requester != caller.name();
        let v = RequestView {
            id: r.id.clone(),
            requester: clean(&r.requester),
            filed: fmt_ms(r.filed_ms, state.zone),
            status,
            status_class: class,
            decided_by: clean(&by),
            comment: clean(&comment),
            reason: clean(&r.reason),
            case_number: clean(&r.case_number),
            scope: scope_text(t, state.zone, &r.scope),
            rights: rights_text(t, &r.rights),
        };
        if r.requester == caller.name() {
            mine.push(v);
        } else if can_decide {
            inbox.push(v);
        } else {
            others.push(v);
        }
    }
    let grants = grants
        .into_iter()
        .filter(|(_, active)| *active)
        .map(|(g, _)| GrantView {
            id: g.id.clone(),
            holder: clean(&g.holder),
            approved_by: clean(&g.approved_by),
            scope: scope_text(t, state.zone, &g.scope),
            rights: rights_text(t, &g.rights),
            expires: fmt_ms(g.expires_ms, state.zone),
            can_revoke: true,
        })
        .collect();
    let notice = match d.done.as_deref() {
        Some("filed") => Some(t.request_filed),
        Some("approved") => Some(t.request_approved),
        Some("rejected") => Some(t.request_rejected),
        Some("revoked") => Some(t.grant_revoked),
        _ => None,
    };
    let now = chrono::Utc::now();
    let day = |d: i64| {
        (now + chrono::Duration::days(d))
            .format("%Y-%m-%d")
            .to_string()
    };
    Ok(render(&RequestsPage {
        ctx: Ctx::for_caller(lang, &caller, "/requests", t.requests_title),
        mine,
        inbox,
        others,
        grants,
        notice,
        may_file: !matches!(caller.role(), Role::Auditor | Role::Admin),
        approver,
        default_from: day(-30),
        default_to: day(0),
        default_expiry: day(7),
    }))
}

pub async fn request_submit(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
    f: Form<Vec<(String, String)>>,
) -> UiResult<Response> {
    let caller = caller_or(&req, caller)?;
    let f = form(f);
    let run = || -> Result<(), ApiError> {
        let scope = Scope {
            conversations: f.lines("conversations"),
            participants: f
                .lines("participants")
                .iter()
                .map(|h| chatvault_access::users::parse_handle(h).map_err(ApiError::from))
                .collect::<Result<_, _>>()?,
            from_ms: parse_time(f.get("from"), "scope.from", false, state.zone)?,
            to_ms: parse_time(f.get("to"), "scope.to", true, state.zone)?,
            keywords: f.lines("keywords"),
        };
        let rights =
            f.all("right")
                .iter()
                .map(|r| {
                    serde_json::from_value::<Right>(serde_json::Value::String((*r).to_owned()))
                        .map_err(|_| {
                            ApiError::bad_request(format!(
                                "right `{r}`: use view, export, pii.view or restricted.view"
                            ))
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
        blocking(|| {
            state.file_request(
                caller.name(),
                scope,
                f.get("reason"),
                f.get("case_number"),
                &rights,
            )
        })?;
        Ok(())
    };
    run().map_err(|e| UiError::for_caller(&req, &caller, e))?;
    Ok(see_other("/requests?done=filed"))
}

pub async fn approve_submit(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
    Path(id): Path<String>,
    f: Form<Vec<(String, String)>>,
) -> UiResult<Response> {
    let caller = caller_or(&req, caller)?;
    let f = form(f);
    let run = || -> Result<(), ApiError> {
        let expires = parse_time(f.get("expires"), "expires", true, state.zone)?;
        blocking(|| state.approve_request(caller.name(), &id, f.get("comment"), expires))?;
        Ok(())
    };
    run().map_err(|e| UiError::for_caller(&req, &caller, e))?;
    Ok(see_other("/requests?done=approved"))
}

pub async fn reject_submit(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
    Path(id): Path<String>,
    f: Form<Vec<(String, String)>>,
) -> UiResult<Response> {
    let caller = caller_or(&req, caller)?;
    let f = form(f);
    blocking(|| state.reject_request(caller.name(), &id, f.get("comment")))
        .map_err(|e| UiError::for_caller(&req, &caller, ApiError::from(e)))?;
    Ok(see_other("/requests?done=rejected"))
}

pub async fn revoke_submit(
    AxState(state): AxState<State>,
    req: Req,
    caller: Result<Caller, ApiError>,
    Path(id): Path<String>,
) -> UiResult<Response> {
    let caller = caller_or(&req, caller)?;
    blocking(|| state.revoke_grant(caller.name(), &id))
        .map_err(|e| UiError::for_caller(&req, &caller, ApiError::from(e)))?;
    Ok(see_other("/requests?done=revoked"))
}
