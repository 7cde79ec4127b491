//! The handlers. Each one that returns content takes a [`ContentReader`]; the others
//! take the guard of the role they serve, or the bare state for sign-in.

use crate::ApiQuery;
use axum::extract::{Path, State as AxState};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chatvault_access::audit::AuditFilter;
use chatvault_access::{Action, Outcome};
use chatvault_app::time::{parse_bound, End, Zone};
use chatvault_archive::Filters;
use chatvault_model::pii;
use chatvault_policy::{Approves, Handle, Right, Role, Scope};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::guard::{Admin, Auditor, Caller, ContentReader, Ingestor, State, Usage, SESSION_COOKIE};
use crate::ApiJson;

/// Runs blocking work (argon2, SQLite, decryption) off the async workers when the
/// runtime has worker threads to spare.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// A time from a caller: [`chatvault_app::time`]'s one parser, in the deployment's zone
/// when the value names none; `end_of_day`: a date or minute means its last millisecond.
pub fn parse_time(s: &str, field: &str, end_of_day: bool, zone: Zone) -> ApiResult<i64> {
    let end = if end_of_day { End::To } else { End::From };
    parse_bound(s, zone, end, field).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn time_value(v: &Value, field: &str, end_of_day: bool, zone: Zone) -> ApiResult<i64> {
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(ms) => parse_time(&ms.to_string(), field, end_of_day, zone),
            None => Err(ApiError::bad_request(format!("{field}: not an integer"))),
        },
        Value::String(s) => parse_time(s, field, end_of_day, zone),
        _ => Err(ApiError::bad_request(format!(
            "{field}: give RFC 3339 text or milliseconds"
        ))),
    }
}

/// A JSON body that may be left out.
pub(crate) fn optional_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> ApiResult<Option<T>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(bytes)
        .map(Some)
        .map_err(|e| ApiError::bad_request(format!("body: {e}")))
}

/// The client's address, when the server knows it.
pub struct ClientIp(pub Option<String>);

impl axum::extract::FromRequestParts<crate::State> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::State,
    ) -> Result<ClientIp, Self::Rejection> {
        Ok(ClientIp(crate::guard::client_ip(
            parts,
            &state.config.trusted_proxies,
        )))
    }
}

// ---- health and sign-in ----

pub async fn health() -> Json<Value> {
    Json(json!({"ok": true, "version": env!("CARGO_PKG_VERSION")}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    username: String,
    password: String,
    #[serde(default)]
    totp: Option<String>,
}

pub async fn login(
    AxState(state): AxState<State>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<Login>,
) -> ApiResult<Response> {
    let session = blocking(|| -> ApiResult<_> {
        let mut acc = state.access()?;
        let user = acc.check_login(
            &body.username,
            &body.password,
            body.totp.as_deref(),
            ip.as_deref(),
        )?;
        Ok(acc.create_session(&user)?)
    })?;
    let secure = if state.tls { "; Secure" } else { "" };
    let max_age = state.config.security.session_absolute_hours as u64 * 3600;
    let cookie = format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}",
        session.cookie
    );
    let mut r = Json(json!(session)).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(ApiError::internal)?,
    );
    Ok(r)
}

pub async fn whoami(caller: Caller) -> Json<Value> {
    let u = &caller.principal.user;
    let csrf = match &caller.principal.via {
        chatvault_access::sessions::Credential::Session { csrf } => Some(csrf.clone()),
        _ => None,
    };
    Json(
        json!({"user": u.name, "role": u.role, "team": u.team, "handles": u.handles, "csrf_token": csrf}),
    )
}

pub async fn logout(AxState(state): AxState<State>, caller: Caller) -> ApiResult<Response> {
    if let Some(c) = &caller.session {
        state.access()?.end_session(c)?;
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    let expire = format!(
        "{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}",
        if state.tls { "; Secure" } else { "" }
    );
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&expire).map_err(ApiError::internal)?,
    );
    Ok(r)
}

// ---- content ----

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    #[serde(default)]
    pub q: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub sender: Option<String>,
    pub conversation: Option<String>,
    pub platform: Option<String>,
    pub kind: Option<String>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

pub async fn search(
    reader: ContentReader,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(run_search(&reader, &p)?)))
}

/// A search as the caller may see it, audited: the API's and the web UI's.
pub fn run_search(
    reader: &ContentReader,
    p: &SearchParams,
) -> ApiResult<chatvault_archive::SearchResponse> {
    let from_ms = p
        .from
        .as_deref()
        .map(|s| parse_time(s, "from", false, reader.state().zone))
        .transpose()?;
    let to_ms =
        p.to.as_deref()
            .map(|s| parse_time(s, "to", true, reader.state().zone))
            .transpose()?;
    if let (Some(f), Some(t)) = (from_ms, to_ms) {
        if f > t {
            return Err(ApiError::bad_request("`from` is after `to`"));
        }
    }
    if let Some(k) = &p.kind {
        k.parse::<chatvault_model::MessageKind>()
            .map_err(|e| ApiError::bad_request(format!("kind: {e}")))?;
    }
    let limit = p
        .limit
        .unwrap_or(20)
        .min(reader.state().config.limits.max_page);
    let filters = Filters {
        from_ms,
        to_ms,
        sender: p.sender.clone(),
        conversation: p.conversation.clone(),
        platform: p.platform.clone(),
        kind: p.kind.clone(),
        conversations: None,
    };
    // What is audited: the query (personal data masked), the filters and the count.
    let details = json!({
        "query": pii::mask(&p.q),
        "filters": {"from": p.from, "to": p.to, "sender": p.sender.as_deref().map(pii::mask), "conversation": p.conversation, "platform": p.platform, "kind": p.kind},
    });
    let result = blocking(|| -> ApiResult<_> {
        // The archive's lock is held to plan and to read the page, not while the index
        // counts: ingest and other readers go on meanwhile.
        let plan = {
            let mut a = reader.archive()?;
            if !reader.might_reach(&mut a, p.conversation.as_deref(), from_ms, to_ms)? {
                return Ok(Err(details.clone()));
            }
            let (narrowed, all_visible) = reader.narrow(&mut a, &filters)?;
            a.plan_visible(
                &p.q,
                &narrowed,
                limit,
                p.offset.unwrap_or(0),
                all_visible,
                reader.personal_data(),
            )?
        };
        let found = plan.run()?;
        let mut usage = Usage::default();
        let r = reader
            .archive()?
            .finish_visible(found, &mut reader.rule(Right::View, &mut usage))?;
        Ok(Ok((r, usage)))
    })?;
    match result {
        Err(details) => Err(reader.deny("search", details)),
        Ok((r, usage)) => {
            let mut d = details;
            d["total"] = json!(r.total);
            reader.audit_read(Action::Search, None, d, &usage)?;
            Ok(r)
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    pub offset: Option<u64>,
    pub limit: Option<u64>,
    /// A message id: the page is centred on it.
    pub around: Option<String>,
}

pub async fn conversation_messages(
    reader: ContentReader,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(run_conversation(&reader, &id, &p)?.0)))
}

/// One page of a conversation as the caller may see it, audited, and how many of its
/// messages were masked.
pub fn run_conversation(
    reader: &ContentReader,
    id: &str,
    p: &PageParams,
) -> ApiResult<(chatvault_archive::ConversationView, u64)> {
    let limit = p
        .limit
        .unwrap_or(50)
        .min(reader.state().config.limits.max_page as u64);
    let result = blocking(|| -> ApiResult<_> {
        let mut a = reader.archive()?;
        let mut usage = Usage::default();
        let v = a.conversation_visible(
            id,
            p.offset.unwrap_or(0),
            limit,
            p.around.as_deref(),
            &mut reader.rule(Right::View, &mut usage),
        );
        Ok((v, usage))
    })?;
    match result {
        (Ok(v), usage) => {
            reader.audit_read(Action::View, Some(&v.conversation), json!({"conversation": v.conversation, "shown": v.messages.len(), "total": v.total}), &usage)?;
            Ok((v, usage.masked))
        }
        (Err(chatvault_archive::ArchiveError::NotFound(_)), _) => {
            Err(reader.deny(id, json!({"conversation": id})))
        }
        (Err(e), _) => Err(e.into()),
    }
}

pub async fn message(reader: ContentReader, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let result = blocking(|| -> ApiResult<_> {
        let mut a = reader.archive()?;
        let mut usage = Usage::default();
        let v = a.message_visible(&id, &mut reader.rule(Right::View, &mut usage));
        Ok((v, usage))
    })?;
    match result {
        (Ok((m, _)), usage) => {
            reader.audit_read(
                Action::View,
                Some(&id),
                json!({"message": id, "conversation": m.conversation}),
                &usage,
            )?;
            Ok(Json(json!(m)))
        }
        // A message that does not exist and one outside the reach get the same answer.
        (
            Err(
                chatvault_archive::ArchiveError::NotFound(_)
                | chatvault_archive::ArchiveError::Invalid { .. },
            ),
            _,
        ) => Err(reader.deny(&id, json!({"message": id}))),
        (Err(e), _) => Err(e.into()),
    }
}

pub async fn attachment(
    reader: ContentReader,
    Path((id, sha)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (att, bytes) = run_attachment(&reader, &id, &sha, Right::Export)?;
    Ok(download(&att.name, bytes))
}

/// An attachment's bytes, read under `right` (export to download, view to preview),
/// audited.
pub fn run_attachment(
    reader: &ContentReader,
    id: &str,
    sha: &str,
    right: Right,
) -> ApiResult<(chatvault_model::AttachmentRef, Vec<u8>)> {
    let result = blocking(|| -> ApiResult<_> {
        let mut a = reader.archive()?;
        let mut usage = Usage::default();
        let v = a.attachment_visible(id, sha, &mut reader.rule(right, &mut usage));
        Ok((v, usage))
    })?;
    let action = if right == Right::Export {
        Action::Export
    } else {
        Action::View
    };
    match result {
        (Ok((att, bytes)), usage) => {
            let Some(bytes) = bytes else {
                return Err(ApiError::new("attachment.absent", "the export recorded this attachment by hash only; its bytes were never archived"));
            };
            reader.audit_read(
                action,
                Some(id),
                json!({"message": id, "attachment": sha, "bytes": bytes.len()}),
                &usage,
            )?;
            Ok((att, bytes))
        }
        (
            Err(
                chatvault_archive::ArchiveError::NotFound(_)
                | chatvault_archive::ArchiveError::Invalid { .. },
            ),
            _,
        ) => Err(reader.deny(
            id,
            json!({"message": id, "attachment": sha, "right": right}),
        )),
        (Err(e), _) => Err(e.into()),
    }
}

/// Bytes as a download, never rendered: the bytes and the name are untrusted.
pub fn download(name: &str, bytes: Vec<u8>) -> Response {
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// A case timeline: the messages of `conversations` and of every conversation the
/// `participants` (and every handle an identity link joins to them) took part in, within
/// the caller's reach, oldest first. Returns the total and one page. Audited as a search.
pub fn run_timeline(
    reader: &ContentReader,
    participants: &[Handle],
    conversations: &[String],
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    limit: usize,
    offset: usize,
) -> ApiResult<(u64, Vec<chatvault_model::StoredMessage>)> {
    if let (Some(f), Some(t)) = (from_ms, to_ms) {
        if f > t {
            return Err(ApiError::bad_request("`from` is after `to`"));
        }
    }
    let details = json!({
        "timeline": true,
        "participants": participants.iter().map(|h| pii::mask(&format!("{}:{}", h.platform, h.id))).collect::<Vec<_>>(),
        "conversations": conversations,
        "from_ms": from_ms, "to_ms": to_ms,
    });
    let participants = crate::cases::linked(reader.state(), participants)?;
    let result = blocking(|| -> ApiResult<_> {
        let mut a = reader.archive()?;
        let mut wanted: std::collections::BTreeSet<String> =
            conversations.iter().cloned().collect();
        wanted.extend(a.conversations_of(&participants)?);
        let base = Filters {
            from_ms,
            to_ms,
            conversations: Some(wanted.iter().cloned().collect()),
            ..Filters::default()
        };
        let (mut narrowed, all_visible) = reader.narrow(&mut a, &base)?;
        // `narrow` replaces the conversation list with the caller's reach: intersect.
        narrowed.conversations = Some(match narrowed.conversations.take() {
            Some(reach) if !all_visible => {
                reach.into_iter().filter(|c| wanted.contains(c)).collect()
            }
            _ => wanted.iter().cloned().collect(),
        });
        let mut usage = Usage::default();
        // The index orders newest first; a timeline reads oldest first, so the page is
        // taken from the end and reversed.
        let total = a
            .search_visible(
                "",
                &narrowed,
                1,
                0,
                all_visible,
                reader.personal_data(),
                &mut reader.rule(Right::View, &mut Usage::default()),
            )?
            .total as usize;
        let end = total.saturating_sub(offset);
        let start = end.saturating_sub(limit);
        if end == 0 {
            return Ok((total as u64, vec![], usage));
        }
        let r = a.search_visible(
            "",
            &narrowed,
            end - start,
            start,
            all_visible,
            reader.personal_data(),
            &mut reader.rule(Right::View, &mut usage),
        )?;
        let mut msgs = vec![];
        for h in r.hits.iter().rev() {
            // Each message is read again through the caller's rule, which masks every
            // field that may carry personal data (sender, name, attachments), not only
            // the text the hit carries. (The uses were counted by the search above.)
            match a.message_visible(&h.id, &mut reader.rule(Right::View, &mut Usage::default())) {
                Ok((m, _)) => msgs.push(m),
                Err(chatvault_archive::ArchiveError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok((total as u64, msgs, usage))
    })?;
    let (total, msgs, usage) = result;
    let mut d = details;
    d["total"] = json!(total);
    reader.audit_read(Action::Search, None, d, &usage)?;
    Ok((total, msgs))
}

// ---- ingest ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestBody {
    messages: Vec<Value>,
}

pub async fn ingest(
    ing: Ingestor,
    AxState(state): AxState<State>,
    ApiJson(body): ApiJson<IngestBody>,
) -> ApiResult<Json<Value>> {
    let sender = chatvault_app::ingest::Sender::new(
        ing.caller.name(),
        ing.caller.ip.as_deref(),
        ing.caller.token_source(),
    );
    let items = chatvault_app::ingest::parse_canonical(body.messages, "api");
    let receipt = blocking(|| chatvault_app::ingest::ingest(&state, sender, items))?;
    Ok(Json(json!(receipt)))
}

// ---- retrieval requests and grants ----

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
        state
            .access()?
            .file_request(
                caller.name(),
                scope,
                &body.reason,
                &body.case_number,
                &body.rights,
            )
            .map_err(ApiError::from)
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
    let policy = state.config.policy();
    let g = blocking(|| {
        state
            .access()?
            .approve_request(caller.name(), &id, &body.comment, expires, &policy)
            .map_err(ApiError::from)
    })?;
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
    let policy = state.config.policy();
    let r = blocking(|| {
        state
            .access()?
            .reject_request(caller.name(), &id, &comment, &policy)
            .map_err(ApiError::from)
    })?;
    Ok(Json(json!({"request": r})))
}

/// Whose requests and grants a caller may list: their own; those they may decide; all
/// for the auditor.
fn may_list(state: &State, caller: &Caller, owner: &str) -> ApiResult<bool> {
    if owner == caller.name() || caller.role() == Role::Auditor {
        return Ok(true);
    }
    let policy = state.config.policy();
    Ok(match policy.rules(caller.role()).approves {
        Approves::Everyone => true,
        Approves::OwnTeam => {
            let org = state.access()?.org(&policy)?;
            caller.principal.user.team.is_some()
                && org.directory.team_of_user(owner) == caller.principal.user.team.as_deref()
        }
        Approves::Nobody => false,
    })
}

/// The requests a caller may see (see [`may_list`]), oldest first.
pub fn visible_requests(
    state: &State,
    caller: &Caller,
) -> ApiResult<Vec<chatvault_policy::Request>> {
    let all = state.access()?.requests(None)?;
    let mut out = vec![];
    for r in all {
        if may_list(state, caller, &r.requester)? {
            out.push(r);
        }
    }
    Ok(out)
}

/// The grants a caller may see, each with whether it is active now.
pub fn visible_grants(
    state: &State,
    caller: &Caller,
) -> ApiResult<Vec<(chatvault_policy::Grant, bool)>> {
    let (all, now) = {
        let acc = state.access()?;
        (acc.grants(None)?, acc.now_ms())
    };
    let mut out = vec![];
    for g in all {
        if may_list(state, caller, &g.holder)? {
            let active = g.is_active(now);
            out.push((g, active));
        }
    }
    Ok(out)
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
    let policy = state.config.policy();
    let g = state.access()?.revoke_grant(caller.name(), &id, &policy)?;
    Ok(Json(json!({"grant": g})))
}

// ---- audit ----

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

// ---- administration ----

pub async fn list_users(AxState(state): AxState<State>, Admin(_): Admin) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"users": state.access()?.users()?})))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FreezeBody {
    #[serde(default)]
    reason: String,
}

pub async fn freeze_user(
    AxState(state): AxState<State>,
    Admin(caller): Admin,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let reason = optional_body::<FreezeBody>(&body)?
        .map(|b| b.reason)
        .unwrap_or_default();
    let (s, t) = state.access()?.freeze(caller.name(), &name, &reason)?;
    Ok(Json(
        json!({"user": name, "frozen": true, "sessions_ended": s, "tokens_revoked": t}),
    ))
}

pub async fn unfreeze_user(
    AxState(state): AxState<State>,
    Admin(caller): Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    state.access()?.unfreeze(caller.name(), &name)?;
    Ok(Json(json!({"user": name, "frozen": false})))
}

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::OPENAPI).into_response()
}

pub async fn not_found() -> ApiError {
    ApiError::new(
        "route.unknown",
        "no such API route (see /api/v1/openapi.json)",
    )
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        "route.method",
        "this route does not take that method (see /api/v1/openapi.json)",
    )
}
