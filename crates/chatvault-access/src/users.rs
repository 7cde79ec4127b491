//! Accounts: argon2id passwords, TOTP (RFC 6238), throttling and lock-out, freezing.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use chatvault_policy::{Handle, Role, Subject};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use totp_rs::{Algorithm, Secret, TOTP};
use zeroize::Zeroizing;

use crate::audit::{Action, Event, Outcome};
use crate::{sha256, Access, AccessError, Result, Tx};

/// Roles that must sign in with a TOTP code.
pub const TOTP_REQUIRED: [Role; 4] = [Role::Legal, Role::Executive, Role::Auditor, Role::Admin];
/// The TOTP step, in seconds (RFC 6238's default, which every authenticator app uses).
const STEP_S: i64 = 30;
/// Codes of one step before or after the current one are accepted (clock drift).
const SKEW_STEPS: i64 = 1;
/// The longest wait between attempts once throttling starts.
const MAX_DELAY_S: u64 = 15 * 60;

/// An account as listed (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub name: String,
    pub role: Role,
    pub team: Option<String>,
    pub handles: Vec<Handle>,
    pub totp: bool,
    pub frozen: bool,
    pub locked: bool,
    pub created_at: String,
    /// TOTP is set up but no code has confirmed it yet (enrolment at the next sign-in).
    pub totp_pending: bool,
    /// The user's interface language (`zh` or `en`), when they chose one.
    pub lang: Option<String>,
}

impl User {
    pub fn subject(&self) -> Subject {
        Subject {
            user: self.name.clone(),
            role: self.role,
            team: self.team.clone(),
            handles: self.handles.clone(),
            frozen: self.frozen || self.locked,
        }
    }
}

/// What `user add` and `user reset-totp` hand back once.
#[derive(Debug, Serialize)]
pub struct Enrolment {
    pub user: String,
    /// Set when the password was generated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The `otpauth://` URI for the authenticator app, when TOTP is enrolled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otpauth: Option<String>,
}

/// Why a sign-in failed, and the audit entry it leaves.
#[derive(Debug)]
pub struct LoginFailure {
    pub error: AccessError,
}

fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(AccessError::invalid(
            "user name",
            "use 1 to 64 letters, digits, '.', '_', '-' or '@'",
        ))
    }
}

fn validate_password(p: &str) -> Result<()> {
    if p.chars().count() < 12 {
        return Err(AccessError::invalid(
            "password",
            "use at least 12 characters",
        ));
    }
    Ok(())
}

/// A readable random password: 20 characters from a 56-symbol alphabet (about 116 bits).
pub fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

fn hash_password(p: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(p.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccessError::invalid("password", e.to_string()))
}

fn password_matches(p: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .is_ok_and(|h| Argon2::default().verify_password(p.as_bytes(), &h).is_ok())
}

/// A fixed argon2id hash, checked when the user does not exist so that an unknown name
/// costs as long as a wrong password (no user enumeration by timing).
fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password("chatvault-dummy-password").unwrap_or_default())
}

fn totp_for(secret: &[u8], user: &str, issuer: &str) -> Result<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        SKEW_STEPS as u8,
        STEP_S as u64,
        secret.to_vec(),
        Some(issuer.to_owned()),
        user.to_owned(),
    )
    .map_err(|e| AccessError::invalid("totp", e.to_string()))
}

fn totp_aad(user: &str) -> Vec<u8> {
    format!("chatvault/totp/v1\0{user}").into_bytes()
}

/// The code an authenticator shows for `secret` at `time_ms` (tests and `demo`).
pub fn totp_code(otpauth_secret_b32: &str, time_ms: i64) -> Result<String> {
    let secret = Secret::Encoded(otpauth_secret_b32.to_owned())
        .to_bytes()
        .map_err(|e| AccessError::invalid("totp secret", e.to_string()))?;
    Ok(totp_for(&secret, "x", "chatvault")?.generate((time_ms / 1000) as u64))
}

/// The base32 secret inside an `otpauth://` URI.
pub fn otpauth_secret(uri: &str) -> Option<String> {
    let q = uri.split_once('?')?.1;
    q.split('&')
        .find_map(|kv| kv.strip_prefix("secret="))
        .map(str::to_owned)
}

fn row_user(r: &rusqlite::Row<'_>) -> rusqlite::Result<(User, String)> {
    let role: String = r.get(1)?;
    let handles: String = r.get(3)?;
    let created: i64 = r.get(8)?;
    Ok((
        User {
            name: r.get(0)?,
            role: Role::parse(&role).unwrap_or(Role::Agent),
            team: r.get(2)?,
            handles: serde_json::from_str(&handles).unwrap_or_default(),
            totp: r.get::<_, Option<Vec<u8>>>(5)?.is_some(),
            frozen: r.get::<_, i64>(6)? != 0,
            locked: r.get::<_, i64>(7)? != 0,
            created_at: crate::rfc3339(created),
            totp_pending: r.get::<_, Option<Vec<u8>>>(5)?.is_some() && r.get::<_, i64>(9)? == 0,
            lang: r.get(10)?,
        },
        role,
    ))
}

const USER_COLS: &str = "name, role, team, handles, password, totp_secret, frozen, locked, created_ms, totp_last_step, lang";
/// How long an enrolment (the QR code shown after a right password) stays valid.
const ENROL_TTL_MS: i64 = 10 * 60 * 1000;

/// Parses `PLATFORM:ID`.
pub fn parse_handle(s: &str) -> Result<Handle> {
    match s.split_once(':') {
        Some((p, id)) if !p.is_empty() && !id.is_empty() => Ok(Handle::new(p, id)),
        _ => Err(AccessError::invalid(
            "handle",
            format!("`{s}`: write PLATFORM:ID, e.g. wecom:zhangsan"),
        )),
    }
}

impl Tx<'_> {
    pub(crate) fn user(&self, name: &str) -> Result<Option<User>> {
        let row = self
            .tx
            .query_row(
                &format!("SELECT {USER_COLS} FROM users WHERE name = ?1"),
                [name],
                row_user,
            )
            .optional()
            .map_err(|e| self.e(e))?;
        match row {
            Some((u, role)) if Role::parse(&role).is_ok() => Ok(Some(u)),
            Some((_, role)) => Err(AccessError::Corrupt(
                self.path.to_owned(),
                format!("user {name} has unknown role `{role}`"),
            )),
            None => Ok(None),
        }
    }

    pub(crate) fn require_user(&self, name: &str) -> Result<User> {
        self.user(name)?
            .ok_or_else(|| AccessError::NoUser(name.to_owned()))
    }

    fn new_totp_secret(&self, user: &str) -> Result<(Vec<u8>, String)> {
        let secret = chatvault_crypto::random_bytes::<20>().to_vec();
        let uri = totp_for(&secret, user, "chatvault")?.get_url();
        Ok((self.keys.seal.seal(&secret, &totp_aad(user)), uri))
    }

    /// Checks a TOTP code against the sealed secret and records its step, so it is never
    /// accepted again (nor any earlier one).
    fn accept_totp(
        &self,
        username: &str,
        sealed: &[u8],
        last_step: i64,
        code: &str,
    ) -> Result<bool> {
        let secret = self
            .keys
            .seal
            .open(sealed, &totp_aad(username), "TOTP secret")
            .map_err(|_| {
                AccessError::Corrupt(
                    self.path.to_owned(),
                    format!("the TOTP secret of {username} does not decrypt"),
                )
            })?;
        let totp = totp_for(&secret, username, "chatvault")?;
        let now_step = self.now.div_euclid(1000) / STEP_S;
        let step = (now_step - SKEW_STEPS..=now_step + SKEW_STEPS)
            .filter(|s| *s > last_step)
            .find(|s| {
                constant_time_eq(
                    totp.generate((*s * STEP_S) as u64).as_bytes(),
                    code.as_bytes(),
                )
            });
        let Some(step) = step else { return Ok(false) };
        let n = self
            .tx
            .execute(
                "UPDATE users SET totp_last_step = ?2 WHERE name = ?1 AND totp_last_step < ?2",
                params![username, step],
            )
            .map_err(|e| self.e(e))?;
        Ok(n > 0)
    }

    /// Opens an enrolment: a single-use ticket (stored as its SHA-256) that lets the next
    /// request confirm the authenticator, and the otpauth URI to show as a QR code.
    fn begin_enrolment(
        &self,
        username: &str,
        sealed: &[u8],
        ip: Option<&str>,
    ) -> Result<AccessError> {
        let secret = self
            .keys
            .seal
            .open(sealed, &totp_aad(username), "TOTP secret")
            .map_err(|_| {
                AccessError::Corrupt(
                    self.path.to_owned(),
                    format!("the TOTP secret of {username} does not decrypt"),
                )
            })?;
        let otpauth = totp_for(&secret, username, "chatvault")?.get_url();
        let ticket = hex::encode(chatvault_crypto::random_bytes::<32>());
        self.tx
            .execute(
                "DELETE FROM enrolments WHERE user = ?1 OR expires_ms <= ?2",
                params![username, self.now],
            )
            .map_err(|e| self.e(e))?;
        self.tx
            .execute(
                "INSERT INTO enrolments (ticket_hash, user, expires_ms) VALUES (?1, ?2, ?3)",
                params![
                    &sha256(ticket.as_bytes())[..],
                    username,
                    self.now + ENROL_TTL_MS
                ],
            )
            .map_err(|e| self.e(e))?;
        self.append(&Event::new(username, Action::TotpEnrolStart).ip(ip))?;
        Ok(AccessError::TotpEnrol { ticket, otpauth })
    }

    /// Remembers that `user` signed in from `ip`: from there, a guess spread over other
    /// addresses does not hold the owner up.
    fn remember_address(&self, user: &str, ip: Option<&str>) -> Result<()> {
        let Some(ip) = ip.filter(|i| !i.is_empty()) else {
            return Ok(());
        };
        self.tx
            .execute(
                "INSERT INTO known_addresses (user, ip, last_ms) VALUES (?1, ?2, ?3) ON CONFLICT (user, ip) DO UPDATE SET last_ms = excluded.last_ms",
                params![user, ip, self.now],
            )
            .map_err(|e| self.e(e))?;
        Ok(())
    }

    /// Records a failed attempt (throttling, lock-out) and its audit entry.
    fn login_failed(
        &self,
        username: &str,
        ip: Option<&str>,
        err: &AccessError,
        lock_after: u32,
    ) -> Result<()> {
        // Only attempts whose password was checked count: a throttled attempt is
        // audited, but neither lengthens the wait nor runs towards the lock, so a
        // stranger hammering an account cannot lock out its owner (OWASP ASVS 2.2.1).
        if !matches!(err, AccessError::Throttled { .. }) {
            self.tx
                .execute(
                    "INSERT INTO login_failures (user, at_ms, ip) VALUES (?1, ?2, ?3)",
                    params![username, self.now, ip.unwrap_or("")],
                )
                .map_err(|e| self.e(e))?;
        }
        let hour: i64 = self
            .tx
            .query_row(
                "SELECT count(*) FROM login_failures WHERE user = ?1 AND at_ms > ?2",
                params![username, self.now - 3_600_000],
                |r| r.get(0),
            )
            .map_err(|e| self.e(e))?;
        if hour >= lock_after as i64 {
            let n = self
                .tx
                .execute(
                    "UPDATE users SET locked = 1 WHERE name = ?1 AND locked = 0",
                    [username],
                )
                .map_err(|e| self.e(e))?;
            if n > 0 {
                self.end_sessions(username)?;
                self.append(
                    &Event::new("system", Action::UserLock)
                        .target(username)
                        .details(serde_json::json!({"failures_in_hour": hour})),
                )?;
            }
        }
        let mut ev = Event::new(username, Action::LoginFailure)
            .result(Outcome::Denied)
            .details(serde_json::json!({"reason": err.code()}));
        ev.ip = ip.map(str::to_owned);
        self.append(&ev)?;
        Ok(())
    }

    /// Ends every session and revokes every token of a user.
    pub(crate) fn end_sessions(&self, user: &str) -> Result<(u64, u64)> {
        let s = self.ops.delete_sessions_of(user)?;
        let t = self.ops.revoke_tokens_of(user, self.now)?;
        Ok((s, t))
    }
}

impl Access {
    /// Creates an account. Without `password`, one is generated and returned once. TOTP
    /// is enrolled for the roles that require it, or when `totp` is set.
    #[allow(clippy::too_many_arguments)] // each is one field of the account, named at the call
    pub fn add_user(
        &mut self,
        actor: &str,
        name: &str,
        role: Role,
        team: Option<&str>,
        handles: &[Handle],
        password: Option<&str>,
        totp: bool,
    ) -> Result<Enrolment> {
        validate_name(name)?;
        if let Some(p) = password {
            validate_password(p)?;
        }
        if role == Role::TeamLead && team.is_none() {
            return Err(AccessError::invalid("team", "a team lead needs --team"));
        }
        let generated = password.is_none().then(generate_password);
        let pw = Zeroizing::new(
            password
                .map(str::to_owned)
                .or_else(|| generated.clone())
                .unwrap_or_default(),
        );
        let hash = hash_password(&pw)?;
        let enrol = totp || TOTP_REQUIRED.contains(&role);
        self.in_tx(|t| {
            if t.user(name)?.is_some() {
                return Err(AccessError::UserExists(name.to_owned()));
            }
            let (sealed, uri) = if enrol { t.new_totp_secret(name).map(|(s, u)| (Some(s), Some(u)))? } else { (None, None) };
            t.tx.execute(
                "INSERT INTO users (name, role, team, handles, password, totp_secret, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![name, role.as_str(), team, serde_json::to_string(handles).unwrap_or_default(), hash, sealed, t.now],
            )
            .map_err(|e| t.e(e))?;
            t.append(&Event::new(actor, Action::UserAdd).target(name).details(serde_json::json!({
                "role": role.as_str(), "team": team, "handles": handles, "totp": enrol,
            })))?;
            Ok(Enrolment { user: name.to_owned(), password: generated, otpauth: uri })
        })
    }

    pub fn users(&self) -> Result<Vec<User>> {
        let mut st = self
            .db
            .conn()
            .prepare(&format!("SELECT {USER_COLS} FROM users ORDER BY name"))
            .map_err(|e| self.e(e))?;
        let rows = st.query_map([], row_user).map_err(|e| self.e(e))?;
        rows.map(|r| r.map(|(u, _)| u).map_err(|e| self.e(e)))
            .collect()
    }

    pub fn user(&mut self, name: &str) -> Result<Option<User>> {
        self.in_tx(|t| t.user(name))
    }

    /// Freezes an account (熔断): at once, every session ends and every token is revoked.
    pub fn freeze(&mut self, actor: &str, name: &str, reason: &str) -> Result<(u64, u64)> {
        self.in_tx(|t| {
            t.require_user(name)?;
            t.tx.execute(
                "UPDATE users SET frozen = 1, updated_ms = ?2 WHERE name = ?1",
                params![name, t.now],
            )
            .map_err(|e| t.e(e))?;
            let (s, k) = t.end_sessions(name)?;
            t.append(&Event::new(actor, Action::UserFreeze).target(name).details(
                serde_json::json!({
                    "reason": reason, "sessions_ended": s, "tokens_revoked": k,
                }),
            ))?;
            Ok((s, k))
        })
    }

    /// Changes a user's role, team or handles (each only when given). A change of role or
    /// team ends the user's sessions, so the new reach applies from the next sign-in.
    pub fn change_user(
        &mut self,
        actor: &str,
        name: &str,
        role: Option<Role>,
        team: Option<Option<&str>>,
        handles: Option<&[Handle]>,
    ) -> Result<User> {
        self.in_tx(|t| {
            let old = t.require_user(name)?;
            let new_role = role.unwrap_or(old.role);
            let new_team = team.map_or(old.team.clone(), |t| t.map(str::to_owned));
            let new_handles = handles.map_or(old.handles.clone(), <[Handle]>::to_vec);
            if new_role == Role::TeamLead && new_team.is_none() {
                return Err(AccessError::invalid("team", "a team lead needs a team"));
            }
            t.tx.execute(
                "UPDATE users SET role = ?2, team = ?3, handles = ?4, updated_ms = ?5 WHERE name = ?1",
                params![name, new_role.as_str(), new_team, serde_json::to_string(&new_handles).unwrap_or_default(), t.now],
            )
            .map_err(|e| t.e(e))?;
            let reach_changed = new_role != old.role || new_team != old.team || new_handles != old.handles;
            let sessions = if reach_changed { t.ops.delete_sessions_of(name)? } else { 0 };
            t.append(&Event::new(actor, Action::UserChange).target(name).details(serde_json::json!({
                "role": [old.role.as_str(), new_role.as_str()],
                "team": [old.team, new_team],
                "handles": [old.handles, new_handles],
                "sessions_ended": sessions,
            })))?;
            t.require_user(name)
        })
    }

    /// Lifts a freeze and a lock-out.
    pub fn unfreeze(&mut self, actor: &str, name: &str) -> Result<()> {
        self.in_tx(|t| {
            t.require_user(name)?;
            t.tx.execute(
                "UPDATE users SET frozen = 0, locked = 0, updated_ms = ?2 WHERE name = ?1",
                params![name, t.now],
            )
            .map_err(|e| t.e(e))?;
            t.tx.execute("DELETE FROM login_failures WHERE user = ?1", [name])
                .map_err(|e| t.e(e))?;
            t.append(&Event::new(actor, Action::UserUnfreeze).target(name))?;
            Ok(())
        })
    }

    /// A new TOTP secret (the old one stops working); every session ends.
    pub fn reset_totp(&mut self, actor: &str, name: &str) -> Result<Enrolment> {
        self.in_tx(|t| {
            t.require_user(name)?;
            let (sealed, uri) = t.new_totp_secret(name)?;
            t.tx.execute(
                "UPDATE users SET totp_secret = ?2, totp_last_step = 0, updated_ms = ?3 WHERE name = ?1",
                params![name, sealed, t.now],
            )
            .map_err(|e| t.e(e))?;
            t.end_sessions(name)?;
            t.append(&Event::new(actor, Action::UserResetTotp).target(name))?;
            Ok(Enrolment { user: name.to_owned(), password: None, otpauth: Some(uri) })
        })
    }

    /// Checks a sign-in. Every attempt, success or failure, is audited; failures count
    /// towards throttling (whether or not the user exists) and lock-out.
    pub fn check_login(
        &mut self,
        username: &str,
        password: &str,
        totp: Option<&str>,
        ip: Option<&str>,
    ) -> Result<User> {
        // The password hash is checked outside the transaction: argon2 takes tens of
        // milliseconds and must not hold the database's write lock.
        let stored: Option<(String, Option<Vec<u8>>, i64)> = self
            .db
            .conn()
            .query_row(
                "SELECT password, totp_secret, totp_last_step FROM users WHERE name = ?1",
                [username],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| self.e(e))?;
        let wait = self.throttle_wait(username, ip)?;
        let password_ok = match &stored {
            Some((h, _, _)) if wait.is_none() => password_matches(password, h),
            None if wait.is_none() => {
                password_matches(password, dummy_hash());
                false
            }
            _ => false,
        };
        let lock_after = self.settings.lock_after_failures_per_hour;
        self.in_tx(|t| {
            let fail =
                |t: &Tx<'_>, err: AccessError| -> Result<std::result::Result<User, AccessError>> {
                    t.login_failed(username, ip, &err, lock_after)?;
                    Ok(Err(err))
                };
            if let Some(retry_after_s) = wait {
                return fail(t, AccessError::Throttled { retry_after_s });
            }
            let Some(user) = t.user(username)? else {
                return fail(t, AccessError::BadCredentials);
            };
            if !password_ok {
                return fail(t, AccessError::BadCredentials);
            }
            if user.locked {
                return fail(t, AccessError::Locked(user.name.clone()));
            }
            if user.frozen {
                return fail(t, AccessError::Frozen(user.name.clone()));
            }
            if let Some((_, Some(sealed), last_step)) = &stored {
                let Some(code) = totp.map(str::trim).filter(|c| !c.is_empty()) else {
                    if *last_step == 0 {
                        // Right password, authenticator never confirmed: enrolment.
                        return Ok(Err(t.begin_enrolment(username, sealed, ip)?));
                    }
                    return fail(t, AccessError::TotpRequired);
                };
                if !t.accept_totp(username, sealed, *last_step, code)? {
                    return fail(t, AccessError::TotpInvalid);
                }
            } else if TOTP_REQUIRED.contains(&user.role) {
                return fail(t, AccessError::TotpRequired);
            }
            // Success clears this address's count for the account; failures from other
            // addresses (an attack elsewhere) still count.
            t.tx.execute(
                "DELETE FROM login_failures WHERE user = ?1 AND ip = ?2",
                params![username, ip.unwrap_or("")],
            )
            .map_err(|e| t.e(e))?;
            t.remember_address(username, ip)?;
            let mut ev = Event::new(username, Action::LoginSuccess);
            ev.ip = ip.map(str::to_owned);
            t.append(&ev)?;
            Ok(Ok(user))
        })?
    }

    /// Finishes an enrolment that [`Self::check_login`] began: the first code from the
    /// authenticator confirms it and signs the user in. A wrong code counts as a failed
    /// sign-in; the enrolment stays open until it expires.
    pub fn finish_enrolment(&mut self, ticket: &str, code: &str, ip: Option<&str>) -> Result<User> {
        let hash = sha256(ticket.as_bytes());
        let lock_after = self.settings.lock_after_failures_per_hour;
        let found: Option<String> = self
            .db
            .conn()
            .query_row(
                "SELECT user FROM enrolments WHERE ticket_hash = ?1 AND expires_ms > ?2",
                params![&hash[..], self.now_ms()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.e(e))?;
        let Some(username) = found else {
            return Err(AccessError::EnrolmentExpired);
        };
        let wait = self.throttle_wait(&username, ip)?;
        let outcome = self.in_tx(|t| {
            let fail =
                |t: &Tx<'_>, err: AccessError| -> Result<std::result::Result<User, AccessError>> {
                    t.login_failed(&username, ip, &err, lock_after)?;
                    Ok(Err(err))
                };
            if let Some(retry_after_s) = wait {
                return fail(t, AccessError::Throttled { retry_after_s });
            }
            let user = t.require_user(&username)?;
            if user.locked || user.frozen {
                t.tx.execute("DELETE FROM enrolments WHERE user = ?1", [&username])
                    .map_err(|e| t.e(e))?;
                return fail(
                    t,
                    if user.locked {
                        AccessError::Locked(username.clone())
                    } else {
                        AccessError::Frozen(username.clone())
                    },
                );
            }
            let (sealed, last_step): (Option<Vec<u8>>, i64) =
                t.tx.query_row(
                    "SELECT totp_secret, totp_last_step FROM users WHERE name = ?1",
                    [&username],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(|e| t.e(e))?;
            let (Some(sealed), 0) = (sealed, last_step) else {
                // Enrolled meanwhile (another tab, or the CLI reset it): start again.
                t.tx.execute("DELETE FROM enrolments WHERE user = ?1", [&username])
                    .map_err(|e| t.e(e))?;
                return Ok(Err(AccessError::EnrolmentExpired));
            };
            if !t.accept_totp(&username, &sealed, 0, code.trim())? {
                return fail(t, AccessError::TotpInvalid);
            }
            t.tx.execute("DELETE FROM enrolments WHERE user = ?1", [&username])
                .map_err(|e| t.e(e))?;
            t.tx.execute(
                "DELETE FROM login_failures WHERE user = ?1 AND ip = ?2",
                params![&username, ip.unwrap_or("")],
            )
            .map_err(|e| t.e(e))?;
            t.remember_address(&username, ip)?;
            t.append(&Event::new(&username, Action::TotpEnrolled).ip(ip))?;
            t.append(
                &Event::new(&username, Action::LoginSuccess)
                    .ip(ip)
                    .details(serde_json::json!({"totp_enrolled": true})),
            )?;
            t.require_user(&username).map(Ok)
        })?;
        outcome
    }

    /// Sets the user's interface language (`zh` or `en`).
    pub fn set_lang(&mut self, name: &str, lang: &str) -> Result<()> {
        if !matches!(lang, "zh" | "en") {
            return Err(AccessError::invalid("lang", "use zh or en"));
        }
        self.in_tx(|t| {
            t.require_user(name)?;
            t.tx.execute(
                "UPDATE users SET lang = ?2 WHERE name = ?1",
                params![name, lang],
            )
            .map_err(|e| t.e(e))?;
            t.append(
                &Event::new(name, Action::UserLang)
                    .target(name)
                    .details(serde_json::json!({"lang": lang})),
            )?;
            Ok(())
        })
    }

    /// How long the next attempt must wait, if at all: the longest of three waits, each
    /// 1 s after its allowance of failures within the hour, doubling, up to 15 min:
    /// - this account from this address (`throttle_after_failures`): a guesser is slowed
    ///   while the owner, signing in from elsewhere, is not;
    /// - this address across accounts (4×): one address spraying many accounts;
    /// - this account across addresses (10×): a guess spread over many addresses.
    fn throttle_wait(&self, username: &str, ip: Option<&str>) -> Result<Option<u64>> {
        let ip = ip.unwrap_or("");
        let since = self.now_ms() - 3_600_000;
        let free = i64::from(self.settings.throttle_after_failures);
        let count = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<(i64, Option<i64>)> {
            self.db.conn()
                .query_row(sql, p, |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| self.e(e))
        };
        let mut waits = vec![(
            count(
                "SELECT count(*), max(at_ms) FROM login_failures WHERE user = ?1 AND ip = ?2 AND at_ms > ?3",
                &[&username, &ip, &since],
            )?,
            free,
        )];
        // From an address the account signed in from within 30 days, only that pair's
        // own failures count: an attack elsewhere never holds the owner up there.
        let known_address = !ip.is_empty()
            && self
                .db
                .conn()
                .query_row(
                    "SELECT 1 FROM known_addresses WHERE user = ?1 AND ip = ?2 AND last_ms > ?3",
                    params![username, ip, self.now_ms() - 30 * 86_400_000],
                    |_| Ok(()),
                )
                .optional()
                .map_err(|e| self.e(e))?
                .is_some();
        if !known_address {
            waits.push((
                count(
                    "SELECT count(*), max(at_ms) FROM login_failures WHERE user = ?1 AND at_ms > ?2",
                    &[&username, &since],
                )?,
                free * 10,
            ));
        }
        // The address's count slows an address trying many accounts; it does not delay
        // the first attempt of someone else behind the same address (an office's NAT, a
        // proxy), only attempts on unknown names or on an account it already failed.
        let pair_failed = waits[0].0 .0 > 0;
        let known = self
            .db
            .conn()
            .query_row(
                "SELECT 1 FROM users WHERE name = ?1",
                [username],
                |_| Ok(()),
            )
            .optional()
            .map_err(|e| self.e(e))?
            .is_some();
        if !ip.is_empty() && !known_address && (pair_failed || !known) {
            waits.push((
                count(
                    "SELECT count(*), max(at_ms) FROM login_failures WHERE ip = ?1 AND at_ms > ?2",
                    &[&ip, &since],
                )?,
                free * 4,
            ));
        }
        let now = self.now_ms();
        Ok(waits
            .into_iter()
            .filter_map(|((n, last), free)| {
                let last = last.filter(|_| n >= free)?;
                let delay_s = 1u64
                    .checked_shl((n - free).min(30) as u32)
                    .unwrap_or(MAX_DELAY_S)
                    .min(MAX_DELAY_S);
                let ready = last + delay_s as i64 * 1000;
                (now < ready).then(|| ((ready - now) as u64).div_ceil(1000))
            })
            .max())
    }
}

/// Compares secrets without an early exit, so the time taken says nothing about where
/// they differ. (Six bytes of TOTP and a CSRF token do not justify a dependency.)
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
