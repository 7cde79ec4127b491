//! The audit log and its verification, for auditors.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    #[serde(default)]
    pub flagged: bool,
    pub limit: Option<usize>,
}

pub async fn audit_list(
    AxState(state): AxState<State>,
    Auditor(caller): Auditor,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({"entries": run_audit_list(&state, &caller, &p)?}),
    ))
}

/// The audit entries matching `p`; reading them is itself audited.
pub fn run_audit_list(
    state: &State,
    caller: &Caller,
    p: &AuditParams,
) -> ApiResult<Vec<chatvault_access::AuditEntry>> {
    let f = AuditFilter {
        actor: p.actor.clone().filter(|s| !s.is_empty()),
        action: p.action.clone().filter(|s| !s.is_empty()),
        from_ms: p
            .from
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| parse_time(s, "from", false, state.zone))
            .transpose()?,
        to_ms: p
            .to
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| parse_time(s, "to", true, state.zone))
            .transpose()?,
        flagged: p.flagged,
        limit: Some(p.limit.unwrap_or(1000).min(10_000)),
    };
    let mut acc = state.access()?;
    let entries = acc.audit_list(&f)?;
    acc.audit(caller.event(Action::AuditRead).details(json!({"actor": p.actor, "action": p.action, "from": p.from, "to": p.to, "returned": entries.len()})))?;
    Ok(entries)
}

pub async fn audit_verify(
    AxState(state): AxState<State>,
    Auditor(caller): Auditor,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(run_audit_verify(&state, &caller)?)))
}

/// Verifies the audit chain and its checkpoints; the check is audited with its result.
pub fn run_audit_verify(
    state: &State,
    caller: &Caller,
) -> ApiResult<chatvault_access::AuditReport> {
    let mut acc = state.access()?;
    let r = blocking(|| acc.audit_verify())?;
    acc.audit(
        caller
            .event(Action::AuditVerify)
            .result(if r.ok { Outcome::Ok } else { Outcome::Failed })
            .details(json!({"entries": r.entries})),
    )?;
    Ok(r)
}
