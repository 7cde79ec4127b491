//! Authentication and authorization as request extractors.
//!
//! [`Caller`] is whoever a session cookie or bearer token names (CSRF-checked for
//! cookie requests that change state). The guards build on it:
//! - [`ContentReader`]: a caller allowed to read content at all, with its subject, its
//!   active grants and the organisation loaded. Handlers read content only through it:
//!   every read goes through a rule made by [`chatvault_policy::decide`]. (The archive
//!   itself is the application's, `App::archive`, which use cases that store or derive
//!   also take; that handlers do not is held by review, until issue 16's reader types.)
//! - [`Auditor`]: the audit log and integrity proofs.
//! - [`Admin`]: users and configuration.
//! - [`Ingestor`]: a bearer token with the ingest scope.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method};
use chatvault_access::sessions::Credential;
use chatvault_access::{Access, Action, Event, Outcome, Principal, TokenScope};
use chatvault_app::App;
use chatvault_archive::{Archive, Visibility};
use chatvault_model::StoredMessage;
use chatvault_policy::{Grant, Handle, Org, Reach, Right, Role, Subject};

use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use chatvault_policy::reach::{Part, Who};

pub const SESSION_COOKIE: &str = "cv_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// What every handler shares: the application ([`App`], by `Deref`), whether it is
/// served over TLS, and the live feed and webhook deliveries of its alerts.
pub struct Shared {
    pub app: App,
    pub tls: bool,
    /// The live SLA alerts' feed and deliveries (the monitor itself is the app's).
    pub live: crate::alerts::Live,
}

pub type State = Arc<Shared>;

pub(crate) use chatvault_app::service::recover;
pub use chatvault_app::service::ArchiveGuard;

impl std::ops::Deref for Shared {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}

impl Shared {
    pub fn new(archive: Archive, access: Access, config: Config, tls: bool) -> Shared {
        let live = crate::alerts::Live::new(Some(archive.data_dir()));
        Shared {
            app: App::new(archive, access, config),
            tls,
            live,
        }
    }
}

/// The client's address as the audit trail records it.
/// The client's address: the connection's peer, or, when that peer is a configured
/// trusted proxy, the nearest address in `X-Forwarded-For` that is not one.
pub(crate) fn client_ip(parts: &Parts, trusted: &[String]) -> Option<String> {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())?;
    let is_trusted = |ip: &std::net::IpAddr| {
        trusted
            .iter()
            .any(|t| t.trim().parse::<std::net::IpAddr>().ok() == Some(*ip))
    };
    if !is_trusted(&peer) {
        return Some(peer.to_string());
    }
    let forwarded: Vec<std::net::IpAddr> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .iter()
            .rev()
            .find(|ip| !is_trusted(ip))
            .copied()
            .unwrap_or(peer)
            .to_string(),
    )
}

/// A cookie's value from the request headers.
pub(crate) fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then(|| v.to_owned())
        })
}

/// An authenticated caller.
pub struct Caller {
    pub principal: Principal,
    pub ip: Option<String>,
    /// The session cookie, for logout.
    pub session: Option<String>,
}

impl Caller {
    pub fn name(&self) -> &str {
        &self.principal.user.name
    }
    pub fn role(&self) -> Role {
        self.principal.user.role
    }
    pub fn event(&self, action: Action) -> Event {
        Event::new(self.name(), action).ip(self.ip.as_deref())
    }
    fn token_scope(&self) -> Option<TokenScope> {
        match &self.principal.via {
            Credential::Token { scope, .. } => Some(*scope),
            Credential::Session { .. } => None,
        }
    }
    pub fn token_source(&self) -> Option<&str> {
        match &self.principal.via {
            Credential::Token { source, .. } => source.as_deref(),
            Credential::Session { .. } => None,
        }
    }
}

impl FromRequestParts<State> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> ApiResult<Caller> {
        authenticate(parts, state, false)
    }
}

/// Checks the session cookie (and its CSRF token on a state change) or the bearer
/// token. A read token only reads; an ingest token only ingests (`allow_ingest`).
fn authenticate(parts: &Parts, state: &State, allow_ingest: bool) -> ApiResult<Caller> {
    let ip = client_ip(parts, &state.config.trusted_proxies);
    let reading = matches!(parts.method, Method::GET | Method::HEAD);
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|s| s.trim().to_owned());
    if let Some(token) = bearer {
        let p = state.access()?.token(&token)?;
        let caller = Caller {
            principal: p,
            ip,
            session: None,
        };
        let ok = match caller.token_scope() {
            Some(TokenScope::Ingest) => allow_ingest,
            Some(TokenScope::Read) => reading && !allow_ingest,
            None => false,
        };
        if !ok {
            let ev = caller.event(Action::AccessDenied).result(Outcome::Denied).details(serde_json::json!({
                "reason": "auth.scope", "method": parts.method.as_str(), "path": parts.uri.path(),
            }));
            state.audit(ev)?;
            return Err(ApiError::forbidden(
                "auth.scope",
                "this token's scope does not cover the call: read tokens only read, ingest tokens only post messages; people act through a session",
            ));
        }
        return Ok(caller);
    }
    let Some(c) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Err(chatvault_access::AccessError::NoSession.into());
    };
    let p = state.access()?.session(&c)?;
    if !reading {
        let Credential::Session { csrf } = &p.via else {
            return Err(ApiError::internal("session without CSRF token"));
        };
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !chatvault_access::users::constant_time_eq(sent, csrf.as_bytes()) {
            let ev = Event::new(&p.user.name, Action::AccessDenied).ip(ip.as_deref()).result(Outcome::Denied).details(serde_json::json!({
                "reason": "auth.csrf", "method": parts.method.as_str(), "path": parts.uri.path(),
            }));
            state.audit(ev)?;
            return Err(chatvault_access::AccessError::Csrf.into());
        }
    }
    Ok(Caller {
        principal: p,
        ip,
        session: Some(c),
    })
}

/// A caller who may read content: through the role's default reach or an active grant.
pub struct ContentReader {
    pub caller: Caller,
    pub subject: Subject,
    pub grants: Vec<Grant>,
    pub org: Org,
    pub now_ms: i64,
    /// Storage-only data in force: blocked unless a grant has `restricted.view`.
    pub restrictions: Vec<chatvault_policy::retention::Restriction>,
    state: State,
}

impl FromRequestParts<State> for ContentReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> ApiResult<ContentReader> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let subject = caller.principal.user.subject();
        let policy = state.config.policy();
        let (org, grants, now_ms, restrictions) = {
            let mut acc = state.access()?;
            let org = acc.org(&policy)?;
            let now = acc.now_ms();
            let grants: Vec<Grant> = acc
                .grants(Some(&subject.user))?
                .into_iter()
                .filter(|g| g.is_active(now))
                .collect();
            (org, grants, now, acc.restrictions()?)
        };
        let rules = org.policy.rules(subject.role);
        let has_role_content = rules.reach != Reach::Nothing && rules.rights.contains(&Right::View);
        if !has_role_content && grants.is_empty() {
            let ev = caller
                .event(Action::AccessDenied)
                .result(Outcome::Denied)
                .details(serde_json::json!({
                    "reason": "role has no content and no active grant", "path": parts.uri.path(),
                }));
            state.audit(ev)?;
            return Err(ApiError::forbidden(
                "access.role",
                format!(
                    "the {} role sees no content without an approved retrieval request",
                    subject.role.as_str()
                ),
            ));
        }
        Ok(ContentReader {
            caller,
            subject,
            grants,
            org,
            now_ms,
            restrictions,
            state: state.clone(),
        })
    }
}

pub use chatvault_app::reach::{visibility, Usage};

impl ContentReader {
    /// The archive, for reads through [`Self::rule`].
    #[track_caller]
    pub fn archive(&self) -> ApiResult<ArchiveGuard<'_>> {
        Ok(self.state.archive()?)
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// How much of the personal data this caller may see is shown: everywhere (the role
    /// has `pii.view` and so does each of the caller's grants), nowhere (neither the role
    /// nor any grant has it), or in part. Unless shown everywhere, searches match the
    /// masked text (see `Archive::plan_visible`).
    pub fn personal_data(&self) -> chatvault_archive::PersonalData {
        use chatvault_archive::PersonalData;
        let by_role = self
            .org
            .policy
            .rules(self.subject.role)
            .rights
            .contains(&Right::PiiView);
        let own = || self.grants.iter().filter(|g| g.holder == self.subject.user);
        if by_role && own().all(|g| g.rights.contains(&Right::PiiView)) {
            PersonalData::Shown
        } else if !by_role && !own().any(|g| g.rights.contains(&Right::PiiView)) {
            PersonalData::Masked
        } else {
            PersonalData::Mixed
        }
    }

    /// The visibility rule for `right`, recording what each shown message was shown by.
    /// A token limited to one source sees that platform only.
    pub fn rule<'a>(
        &'a self,
        right: Right,
        usage: &'a mut Usage,
    ) -> impl FnMut(&StoredMessage, &[Handle]) -> Visibility + 'a {
        let decide = self.decider(right);
        move |m: &StoredMessage, members: &[Handle]| decide(m, members, usage)
    }

    /// The caller's decision on one message under `right`, recording what it used in the
    /// usage it is given (the shape the application layer's exports take).
    pub fn decider(
        &self,
        right: Right,
    ) -> impl Fn(&StoredMessage, &[Handle], &mut Usage) -> Visibility + '_ {
        let source = self.caller.token_source().map(str::to_owned);
        move |m: &StoredMessage, members: &[Handle], usage: &mut Usage| {
            if source.as_deref().is_some_and(|s| s != m.platform.as_str()) {
                return Visibility::Hidden;
            }
            visibility(
                &self.subject,
                &self.grants,
                &self.org,
                &self.restrictions,
                self.now_ms,
                right,
                usage,
                m,
                members,
            )
        }
    }

    /// Narrows a search's filters to a superset of what the caller may see (the
    /// conversations and the time span its role and grants reach), so the index does the
    /// bulk of the filtering; [`Self::rule`] still decides each hit. The flag says whether
    /// the caller sees every match (executive): then the index pages and counts.
    pub fn narrow(
        &self,
        archive: &mut Archive,
        f: &chatvault_archive::Filters,
    ) -> ApiResult<(chatvault_archive::Filters, bool)> {
        let parts = self.reach(Right::View);
        let source = self.caller.token_source();
        let unbounded =
            |p: &Part| p.who == Who::Everyone && p.from_ms == i64::MIN && p.to_ms == i64::MAX;
        if source.is_none() && parts.iter().any(unbounded) {
            return Ok((f.clone(), true));
        }
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        let mut convs: Option<std::collections::BTreeSet<String>> = Some(Default::default());
        let mut handles: Vec<Handle> = vec![];
        for p in &parts {
            lo = lo.min(p.from_ms);
            hi = hi.max(p.to_ms);
            let b = p.bounds(&self.org.directory);
            if b.everyone {
                convs = None;
            } else if let Some(c) = &mut convs {
                c.extend(b.conversations);
                handles.extend(b.handles);
            }
        }
        if let Some(c) = &mut convs {
            handles.sort();
            handles.dedup();
            c.extend(archive.conversations_of(&handles)?);
        }
        let mut out = f.clone();
        out.from_ms = Some(f.from_ms.map_or(lo, |x| x.max(lo)));
        out.to_ms = Some(f.to_ms.map_or(hi, |x| x.min(hi)));
        let mut list: Option<Vec<String>> = convs.map(|c| c.into_iter().collect());
        if let Some(s) = source {
            match &f.platform {
                Some(p) if p != s => list = Some(vec![]),
                _ => out.platform = Some(s.to_owned()),
            }
        }
        if out.from_ms > out.to_ms {
            list = Some(vec![]);
        }
        out.conversations = list;
        Ok((out, false))
    }

    /// What this caller's role and grants reach with `right`: the one rule
    /// ([`chatvault_policy::reach`]) that `decide` judges each message by.
    fn reach(&self, right: Right) -> Vec<Part> {
        chatvault_policy::reach::reach(&self.subject, right, self.now_ms, &self.grants, &self.org)
    }

    /// Whether anything the caller may see could match these bounds: a conversation
    /// and a time range. A search or listing wholly outside the caller's reach is refused
    /// (403 and an audit entry) rather than answered empty.
    pub fn might_reach(
        &self,
        archive: &mut Archive,
        conversation: Option<&str>,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
    ) -> ApiResult<bool> {
        let members: Option<Vec<Handle>> = match conversation {
            Some(c) => match archive.participants_of(c) {
                Ok(m) => Some(m.to_vec()),
                Err(chatvault_archive::ArchiveError::NotFound(_)) => return Ok(false),
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let (lo, hi) = (from_ms.unwrap_or(i64::MIN), to_ms.unwrap_or(i64::MAX));
        let within = conversation.zip(members.as_deref());
        Ok(self
            .reach(Right::View)
            .iter()
            .any(|p| p.might_reach(within, lo, hi, &self.org.directory)))
    }

    /// Audits a refusal and returns the error to send.
    pub fn deny(&self, target: &str, details: serde_json::Value) -> ApiError {
        let ev = self
            .caller
            .event(Action::AccessDenied)
            .target(target)
            .result(Outcome::Denied)
            .details(details);
        match self.state.audit(ev) {
            Ok(()) => ApiError::denied(),
            Err(e) => e.into(),
        }
    }

    /// Audits a content read (and each grant it used).
    pub fn audit_read(
        &self,
        action: Action,
        target: Option<&str>,
        details: serde_json::Value,
        usage: &Usage,
    ) -> ApiResult<()> {
        let events = chatvault_app::reach::read_events(
            &|a| self.caller.event(a),
            action,
            target,
            details,
            usage,
        );
        let mut acc = self.state.access()?;
        for ev in events {
            acc.audit(ev)?;
        }
        Ok(())
    }
}

fn role_guard(caller: &Caller, state: &State, role: Role, path: &str) -> ApiResult<()> {
    if caller.role() == role {
        return Ok(());
    }
    state.audit(caller.event(Action::AccessDenied).result(Outcome::Denied).details(serde_json::json!({"reason": format!("needs the {} role", role.as_str()), "path": path})))?;
    Err(ApiError::forbidden(
        "access.role",
        format!("only the {} role may use this", role.as_str()),
    ))
}

/// The auditor: the audit log and integrity proofs, no content.
pub struct Auditor(pub Caller);

impl FromRequestParts<State> for Auditor {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &State) -> ApiResult<Auditor> {
        let c = Caller::from_request_parts(parts, state).await?;
        role_guard(&c, state, Role::Auditor, parts.uri.path())?;
        Ok(Auditor(c))
    }
}

/// The administrator: users and configuration, no content.
pub struct Admin(pub Caller);

impl FromRequestParts<State> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &State) -> ApiResult<Admin> {
        let c = Caller::from_request_parts(parts, state).await?;
        role_guard(&c, state, Role::Admin, parts.uri.path())?;
        Ok(Admin(c))
    }
}

/// A machine with an ingest token. It writes; it never reads content.
pub struct Ingestor {
    pub caller: Caller,
}

impl FromRequestParts<State> for Ingestor {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &State) -> ApiResult<Ingestor> {
        let c = authenticate(parts, state, true)?;
        if c.token_scope() != Some(TokenScope::Ingest) {
            state.audit(c.event(Action::AccessDenied).result(Outcome::Denied).details(serde_json::json!({"reason": "ingest needs an ingest token", "path": parts.uri.path()})))?;
            return Err(ApiError::forbidden("auth.scope", "ingest needs a bearer token created with `chatvault token create USER --scope ingest`"));
        }
        Ok(Ingestor { caller: c })
    }
}
