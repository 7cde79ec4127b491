//! Authentication and authorization as request extractors.
//!
//! [`Caller`] is whoever a session cookie or bearer token names (CSRF-checked for
//! cookie requests that change state). The guards build on it:
//! - [`ContentReader`]: a caller allowed to read content at all: the application's
//!   `Reader` (its subject, active grants and the organisation) for this request.
//!   Handlers read content only through the application's read use cases, which take
//!   it and return `Visible` values: every message goes through a rule made by
//!   [`chatvault_policy::decide`].
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
use chatvault_archive::Archive;
use chatvault_policy::Role;

use crate::config::Config;
use crate::error::{ApiError, ApiResult};

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
/// It derefs to the application's [`Reader`], which holds the caller's decision inputs
/// and no archive: handlers read content only through the use cases that take it
/// (`App::search`, `App::message`, …), and those hand back `Visible` values only.
pub struct ContentReader {
    pub caller: Caller,
    pub read: Reader,
    state: State,
}

impl FromRequestParts<State> for ContentReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> ApiResult<ContentReader> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let read = state.reader(
            &caller.principal.user,
            caller.token_source().map(str::to_owned),
            caller.ip.clone(),
            parts.uri.path(),
        )?;
        Ok(ContentReader {
            caller,
            read,
            state: state.clone(),
        })
    }
}

pub use chatvault_app::reach::Usage;
use chatvault_app::read::Reader;

impl std::ops::Deref for ContentReader {
    type Target = Reader;
    fn deref(&self) -> &Reader {
        &self.read
    }
}

impl ContentReader {
    pub fn state(&self) -> &State {
        &self.state
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
