//! Cookie sessions (with CSRF tokens and idle/absolute timeouts) and API tokens.

use chatvault_store::access::{SessionRow, TokenRow};
use serde::Serialize;

use crate::audit::{Action, Event};
use crate::users::User;
use crate::{random_token, sha256, Access, AccessError, Result};

/// How long a session's idle timer may lag its last use. Refreshing it is a write with a
/// flush to disk; once a minute is enough for a timeout of minutes.
const TOUCH_EVERY_MS: i64 = 60_000;

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// Search and read, with the user's reach.
    Read,
    /// Post messages to the ingest API.
    Ingest,
}

impl TokenScope {
    pub fn parse(s: &str) -> Result<TokenScope> {
        match s {
            "read" => Ok(TokenScope::Read),
            "ingest" => Ok(TokenScope::Ingest),
            _ => Err(AccessError::invalid(
                "scope",
                format!("`{s}`: use read or ingest"),
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Ingest => "ingest",
        }
    }
}

/// Who is calling, after the session or token checked out.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub via: Credential,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Session {
        csrf: String,
    },
    Token {
        id: String,
        scope: TokenScope,
        source: Option<String>,
    },
}

/// A new session: the cookie value and the CSRF token, each shown once.
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    #[serde(skip)]
    pub cookie: String,
    pub csrf_token: String,
    pub user: String,
    pub role: &'static str,
    pub expires_at: String,
}

/// A token as listed (never its secret).
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub user: String,
    pub scope: TokenScope,
    pub source: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// Token text: `cvt_` then the id, `_`, and 256 random bits.
const TOKEN_PREFIX: &str = "cvt_";

impl Access {
    /// Starts a session for a user who just signed in.
    pub fn create_session(&mut self, user: &User) -> Result<SessionInfo> {
        let cookie = random_token();
        let csrf = random_token();
        let abs = self.settings.session_absolute_hours as i64 * 3_600_000;
        self.in_tx(|t| {
            let id_hash = sha256(cookie.as_bytes());
            let tag = t.keys.seal.seal(
                b"",
                &crate::state::session_aad(&id_hash, &user.name, &csrf, t.now),
            );
            t.ops.insert_session(&SessionRow {
                id_hash,
                user: user.name.clone(),
                csrf: csrf.clone(),
                created_ms: t.now,
                seen_ms: t.now,
                tag: Some(tag),
            })?;
            Ok(SessionInfo {
                cookie: cookie.clone(),
                csrf_token: csrf.clone(),
                user: user.name.clone(),
                role: user.role.as_str(),
                expires_at: crate::rfc3339(t.now + abs),
            })
        })
    }

    /// The principal behind a session cookie. Refreshes the idle timer (at most once a
    /// minute, so a session idle since its last refresh ends up to a minute early, never
    /// late); an expired session is deleted. The account is re-read on every call, so a freeze or lock
    /// takes effect on the next request.
    pub fn session(&mut self, cookie: &str) -> Result<Principal> {
        let idle = self.settings.session_idle_minutes as i64 * 60_000;
        let abs = self.settings.session_absolute_hours as i64 * 3_600_000;
        let hash = sha256(cookie.as_bytes());
        self.in_tx(|t| {
            let Some(SessionRow {
                user: name,
                csrf,
                created_ms: created,
                seen_ms: seen,
                tag,
                ..
            }) = t.ops.session(&hash)?
            else {
                return Ok(Err(AccessError::NoSession));
            };
            // A row chatvault did not write (or one edited since) is no session.
            if !session_tag_ok(&t.keys.seal, &hash, &name, &csrf, created, tag.as_deref()) {
                return Ok(Err(AccessError::NoSession));
            }
            if t.now - seen > idle || t.now - created > abs {
                t.ops.delete_session(&hash)?;
                t.append(&Event::new(&name, Action::SessionExpired))?;
                return Ok(Err(AccessError::NoSession));
            }
            let user = t.require_user(&name)?;
            if user.frozen || user.locked {
                t.end_sessions(&name)?;
                return Ok(Err(AccessError::Frozen(name)));
            }
            // The idle timer moves at most once a minute (`TOUCH_EVERY_MS`): a write, and
            // its fsync, on every request doubled the cost of an audited read.
            if t.now - seen >= TOUCH_EVERY_MS.min(idle / 2) {
                t.ops.touch_session(&hash, t.now)?;
            }
            Ok(Ok(Principal {
                user,
                via: Credential::Session { csrf },
            }))
        })?
    }

    pub fn end_session(&mut self, cookie: &str) -> Result<Option<String>> {
        let hash = sha256(cookie.as_bytes());
        self.in_tx(|t| {
            let user = t.ops.session(&hash)?.map(|s| s.user);
            t.ops.delete_session(&hash)?;
            if let Some(u) = &user {
                t.append(&Event::new(u, Action::Logout))?;
            }
            Ok(user)
        })
    }

    /// Creates an API token and returns its text, which is never shown again.
    pub fn create_token(
        &mut self,
        actor: &str,
        user: &str,
        scope: TokenScope,
        source: Option<&str>,
    ) -> Result<(TokenInfo, String)> {
        let id = ulid::Ulid::new().to_string().to_lowercase();
        let secret = random_token();
        let text = format!("{TOKEN_PREFIX}{id}_{secret}");
        self.in_tx(|t| {
            let u = t.require_user(user)?;
            if u.frozen {
                return Err(AccessError::Frozen(user.to_owned()));
            }
            t.ops.insert_token(&TokenRow {
                id: id.clone(),
                hash: sha256(text.as_bytes()),
                user: user.to_owned(),
                scope: scope.as_str().to_owned(),
                source: source.map(str::to_owned),
                created_ms: t.now,
                revoked_ms: None,
            })?;
            t.append(
                &Event::new(actor, Action::TokenCreate)
                    .target(user)
                    .details(serde_json::json!({
                        "token": id, "scope": scope.as_str(), "source": source,
                    })),
            )?;
            let info = TokenInfo {
                id: id.clone(),
                user: user.to_owned(),
                scope,
                source: source.map(str::to_owned),
                created_at: crate::rfc3339(t.now),
                revoked_at: None,
            };
            Ok((info, text.clone()))
        })
    }

    pub fn revoke_token(&mut self, actor: &str, id: &str) -> Result<()> {
        self.in_tx(|t| {
            if !t.ops.revoke_token(id, t.now)? {
                return Err(AccessError::NotFound(format!("active token {id}")));
            }
            t.append(&Event::new(actor, Action::TokenRevoke).target(id))?;
            Ok(())
        })
    }

    pub fn tokens(&self) -> Result<Vec<TokenInfo>> {
        Ok(self
            .ops()
            .tokens()?
            .into_iter()
            .map(|r| TokenInfo {
                id: r.id,
                user: r.user,
                scope: TokenScope::parse(&r.scope).unwrap_or(TokenScope::Read),
                source: r.source,
                created_at: crate::rfc3339(r.created_ms),
                revoked_at: r.revoked_ms.map(crate::rfc3339),
            })
            .collect())
    }

    /// The principal behind a bearer token.
    pub fn token(&mut self, text: &str) -> Result<Principal> {
        if !text.starts_with(TOKEN_PREFIX) {
            return Err(AccessError::BadToken);
        }
        let hash = sha256(text.as_bytes());
        self.in_tx(|t| {
            let Some(TokenRow {
                id,
                user: name,
                scope,
                source,
                revoked_ms: None,
                ..
            }) = t.ops.token_by_hash(&hash)?
            else {
                return Ok(Err(AccessError::BadToken));
            };
            let user = t.require_user(&name)?;
            if user.frozen || user.locked {
                return Ok(Err(AccessError::Frozen(name)));
            }
            Ok(Ok(Principal {
                user,
                via: Credential::Token {
                    id,
                    scope: TokenScope::parse(&scope)?,
                    source,
                },
            }))
        })?
    }
}

/// Whether a session row's tag was made by this archive's sealing key over its fields.
fn session_tag_ok(
    key: &chatvault_crypto::DataKey,
    id_hash: &[u8],
    user: &str,
    csrf: &str,
    created_ms: i64,
    tag: Option<&[u8]>,
) -> bool {
    tag.is_some_and(|tag| {
        key.open(
            tag,
            &crate::state::session_aad(id_hash, user, csrf, created_ms),
            "session",
        )
        .is_ok()
    })
}

impl Access {
    /// Session rows whose tag does not verify: written or edited outside chatvault.
    pub(crate) fn forged_sessions(
        &self,
        ops: &dyn chatvault_store::access::AccessOps,
    ) -> Result<Vec<String>> {
        let mut out = vec![];
        for s in ops.sessions()? {
            if !session_tag_ok(
                &self.keys.seal,
                &s.id_hash,
                &s.user,
                &s.csrf,
                s.created_ms,
                s.tag.as_deref(),
            ) {
                let user = s.user;
                out.push(format!("access.db `sessions`: a session of {user:?} was not written by chatvault or was edited since (it is refused)"));
            }
        }
        Ok(out)
    }
}
