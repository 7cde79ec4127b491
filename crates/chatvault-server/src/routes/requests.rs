//! Retrieval requests and grants: filing, deciding, listing and revoking.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeBody {
    #[serde(default)]
    conversations: Vec<String>,
    /// `platform:id` text or `{"platform","id"}`.
    #[serde(default)]
    participants: Vec<Value>,
    from: Value,
    to: Value,
    #[serde(default)]
    keywords: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    scope: ScopeBody,
    reason: String,
    case_number: String,
    rights: Vec<Right>,
}

fn handle_value(v: &Value) -> ApiResult<Handle> {
    match v {
        Value::String(s) => chatvault_access::users::parse_handle(s).map_err(Into::into),
        Value::Object(_) => serde_json::from_value(v.clone())
            .map_err(|e| ApiError::bad_request(format!("participants: {e}"))),
        _ => Err(ApiError::bad_request(
            "participants: give `platform:id` or {\"platform\",\"id\"}",
        )),
    }
}

pub async fn file_request(
    AxState(state): AxState<State>,
    caller: Caller,
    ApiJson(body): ApiJson<RequestBody>,
) -> ApiResult<Json<Value>> {
    let scope = Scope {
        conversations: body.scope.conversations,
        participants: body
            .scope
            .participants
            .iter()
            .map(handle_value)
            .collect::<ApiResult<_>>()?,
        from_ms: time_value(&body.scope.from, "scope.from", false, state.zone)?,
        to_ms: time_value(&body.scope.to, "scope.to", true, state.zone)?,
        keywords: body.scope.keywords,
    };
    let r = blocking(|| {
        state.file_request(
            caller.name(),
            scope,
            &body.reason,
            &body.case_number,
            &body.rights,
        )
    })?;
    Ok(Json(json!({"id": r.id, "request": r})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    #[serde(default)]
    comment: String,
    expires_at: Option<Value>,
}

pub async fn approve(
    AxState(state): AxState<State>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Decision>,
) -> ApiResult<Json<Value>> {
    let expires = match &body.expires_at {
        // A date means the end of that day: the same in the API, the UI and the CLI.
        Some(v) => time_value(v, "expires_at", true, state.zone)?,
        None => {
            return Err(ApiError::bad_request(
                "expires_at: required (RFC 3339 or milliseconds)",
            ))
        }
    };
    let g = blocking(|| state.approve_request(caller.name(), &id, &body.comment, expires))?;
    Ok(Json(json!({"grant": g})))
}

pub async fn reject(
    AxState(state): AxState<State>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let comment = optional_body::<Decision>(&body)?
        .map(|b| b.comment)
        .unwrap_or_default();
    let r = blocking(|| state.reject_request(caller.name(), &id, &comment))?;
    Ok(Json(json!({"request": r})))
}

/// The requests a caller may see (the application's rule), oldest first.
pub fn visible_requests(
    state: &State,
    caller: &Caller,
) -> ApiResult<Vec<chatvault_policy::Request>> {
    Ok(blocking(|| state.requests_for(&caller.principal.user))?)
}

/// The grants a caller may see, each with whether it is active now.
pub fn visible_grants(
    state: &State,
    caller: &Caller,
) -> ApiResult<Vec<(chatvault_policy::Grant, bool)>> {
    Ok(blocking(|| state.grants_for(&caller.principal.user))?)
}

pub async fn list_requests(
    AxState(state): AxState<State>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({"requests": visible_requests(&state, &caller)?}),
    ))
}

pub async fn list_grants(AxState(state): AxState<State>, caller: Caller) -> ApiResult<Json<Value>> {
    let out: Vec<Value> = visible_grants(&state, &caller)?
        .into_iter()
        .map(|(g, active)| {
            let mut v = json!(g);
            v["active"] = json!(active);
            v
        })
        .collect();
    Ok(Json(json!({"grants": out})))
}

pub async fn revoke_grant(
    AxState(state): AxState<State>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let g = blocking(|| state.revoke_grant(caller.name(), &id))?;
    Ok(Json(json!({"grant": g})))
}
