//! Accounts: argon2id passwords, TOTP (RFC 6238), throttling and lock-out, freezing.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use chatvault_policy::{Handle, Role, Subject};
use chatvault_store::access::UserRow;
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

/// An account as the crate shows it, from its stored row.
fn user_of(r: &UserRow) -> User {
    User {
        name: r.name.clone(),
        role: Role::parse(&r.role).unwrap_or(Role::Agent),
        team: r.team.clone(),
        handles: serde_json::from_str(&r.handles).unwrap_or_default(),
        totp: r.totp_secret.is_some(),
        frozen: r.frozen,
        locked: r.locked,
        created_at: crate::rfc3339(r.created_ms),
        totp_pending: r.totp_secret.is_some() && r.totp_last_step == 0,
        lang: r.lang.clone(),
    }
}

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
        match self.ops.user(name)? {
            Some(r) if Role::parse(&r.role).is_ok() => Ok(Some(user_of(&r))),
            Some(r) => Err(AccessError::Corrupt(
                self.path.to_owned(),
                format!("user {name} has unknown role `{}`", r.role),
            )),
            None => Ok(None),
        }
    }

    /// An account's stored row, to change and write back in this transaction.
    fn user_row(&self, name: &str) -> Result<UserRow> {
        // The same checks as `require_user`: a row with an unknown role is corrupt.
        self.require_user(name)?;
        self.ops
            .user(name)?
            .ok_or_else(|| AccessError::NoUser(name.to_owned()))
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
        // Only a later step than any accepted before (this transaction holds the write
        // lock, so no other sign-in reads the row meanwhile).
        let mut row = self.user_row(username)?;
        if row.totp_last_step >= step {
            return Ok(false);
        }
        row.totp_last_step = step;
        self.ops.update_user(&row)?;
        Ok(true)
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
        self.ops.delete_enrolments(username, Some(self.now))?;
        self.ops.put_enrolment(
            &sha256(ticket.as_bytes()),
            username,
            self.now + ENROL_TTL_MS,
        )?;
        self.append(&Event::new(username, Action::TotpEnrolStart).ip(ip))?;
        Ok(AccessError::TotpEnrol { ticket, otpauth })
    }

    /// Remembers that `user` signed in from `ip`: from there, a guess spread over other
    /// addresses does not hold the owner up.
    fn remember_address(&self, user: &str, ip: Option<&str>) -> Result<()> {
        let Some(ip) = ip.filter(|i| !i.is_empty()) else {
            return Ok(());
        };
        Ok(self.ops.remember_address(user, ip, self.now)?)
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
            self.ops
                .add_login_failure(username, self.now, ip.unwrap_or(""))?;
        }
        let (hour, _) = self
            .ops
            .login_failures(Some(username), None, self.now - 3_600_000)?;
        if hour >= u64::from(lock_after) {
            // Locks an existing, unlocked account (a failure may name no account).
            let locked_now = match self.ops.user(username)? {
                Some(mut row) if !row.locked => {
                    row.locked = true;
                    self.ops.update_user(&row)?;
                    true
                }
                _ => false,
            };
            if locked_now {
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
            let (sealed, uri) = if enrol {
                t.new_totp_secret(name).map(|(s, u)| (Some(s), Some(u)))?
            } else {
                (None, None)
            };
            t.ops.insert_user(&UserRow {
                name: name.to_owned(),
                role: role.as_str().to_owned(),
                team: team.map(str::to_owned),
                handles: serde_json::to_string(handles).unwrap_or_default(),
                password: hash.clone(),
                totp_secret: sealed,
                totp_last_step: 0,
                frozen: false,
                locked: false,
                created_ms: t.now,
                updated_ms: t.now,
                lang: None,
            })?;
            t.append(&Event::new(actor, Action::UserAdd).target(name).details(
                serde_json::json!({
                    "role": role.as_str(), "team": team, "handles": handles, "totp": enrol,
                }),
            ))?;
            Ok(Enrolment {
                user: name.to_owned(),
                password: generated,
                otpauth: uri,
            })
        })
    }

    pub fn users(&self) -> Result<Vec<User>> {
        Ok(self.ops().users()?.iter().map(user_of).collect())
    }

    pub fn user(&mut self, name: &str) -> Result<Option<User>> {
        self.in_tx(|t| t.user(name))
    }

    /// Freezes an account (熔断): at once, every session ends and every token is revoked.
    pub fn freeze(&mut self, actor: &str, name: &str, reason: &str) -> Result<(u64, u64)> {
        self.in_tx(|t| {
            let mut row = t.user_row(name)?;
            row.frozen = true;
            row.updated_ms = t.now;
            t.ops.update_user(&row)?;
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
            let mut row = t.user_row(name)?;
            row.role = new_role.as_str().to_owned();
            row.team = new_team.clone();
            row.handles = serde_json::to_string(&new_handles).unwrap_or_default();
            row.updated_ms = t.now;
            t.ops.update_user(&row)?;
            let reach_changed =
                new_role != old.role || new_team != old.team || new_handles != old.handles;
            let sessions = if reach_changed {
                t.ops.delete_sessions_of(name)?
            } else {
                0
            };
            t.append(&Event::new(actor, Action::UserChange).target(name).details(
                serde_json::json!({
                    "role": [old.role.as_str(), new_role.as_str()],
                    "team": [old.team, new_team],
                    "handles": [old.handles, new_handles],
                    "sessions_ended": sessions,
                }),
            ))?;
            t.require_user(name)
        })
    }

    /// Lifts a freeze and a lock-out.
    pub fn unfreeze(&mut self, actor: &str, name: &str) -> Result<()> {
        self.in_tx(|t| {
            let mut row = t.user_row(name)?;
            row.frozen = false;
            row.locked = false;
            row.updated_ms = t.now;
            t.ops.update_user(&row)?;
            t.ops.clear_login_failures(name, None)?;
            t.append(&Event::new(actor, Action::UserUnfreeze).target(name))?;
            Ok(())
        })
    }

    /// A new TOTP secret (the old one stops working); every session ends.
    pub fn reset_totp(&mut self, actor: &str, name: &str) -> Result<Enrolment> {
        self.in_tx(|t| {
            let mut row = t.user_row(name)?;
            let (sealed, uri) = t.new_totp_secret(name)?;
            row.totp_secret = Some(sealed);
            row.totp_last_step = 0;
            row.updated_ms = t.now;
            t.ops.update_user(&row)?;
            t.end_sessions(name)?;
            t.append(&Event::new(actor, Action::UserResetTotp).target(name))?;
            Ok(Enrolment {
                user: name.to_owned(),
                password: None,
                otpauth: Some(uri),
            })
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
            .ops()
            .user(username)?
            .map(|r| (r.password, r.totp_secret, r.totp_last_step));
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
            t.ops
                .clear_login_failures(username, Some(ip.unwrap_or("")))?;
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
        let found = self.ops().enrolment(&hash, self.now_ms())?;
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
                t.ops.delete_enrolments(&username, None)?;
                return fail(
                    t,
                    if user.locked {
                        AccessError::Locked(username.clone())
                    } else {
                        AccessError::Frozen(username.clone())
                    },
                );
            }
            let row = t.user_row(&username)?;
            let (Some(sealed), 0) = (row.totp_secret, row.totp_last_step) else {
                // Enrolled meanwhile (another tab, or the CLI reset it): start again.
                t.ops.delete_enrolments(&username, None)?;
                return Ok(Err(AccessError::EnrolmentExpired));
            };
            if !t.accept_totp(&username, &sealed, 0, code.trim())? {
                return fail(t, AccessError::TotpInvalid);
            }
            t.ops.delete_enrolments(&username, None)?;
            t.ops
                .clear_login_failures(&username, Some(ip.unwrap_or("")))?;
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
            let mut row = t.user_row(name)?;
            row.lang = Some(lang.to_owned());
            t.ops.update_user(&row)?;
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
        let free = u64::from(self.settings.throttle_after_failures);
        let ops = self.ops();
        let mut waits = vec![(ops.login_failures(Some(username), Some(ip), since)?, free)];
        // From an address the account signed in from within 30 days, only that pair's
        // own failures count: an attack elsewhere never holds the owner up there.
        let known_address =
            !ip.is_empty() && ops.address_known(username, ip, self.now_ms() - 30 * 86_400_000)?;
        if !known_address {
            waits.push((ops.login_failures(Some(username), None, since)?, free * 10));
        }
        // The address's count slows an address trying many accounts; it does not delay
        // the first attempt of someone else behind the same address (an office's NAT, a
        // proxy), only attempts on unknown names or on an account it already failed.
        let pair_failed = waits[0].0 .0 > 0;
        let known = ops.user(username)?.is_some();
        if !ip.is_empty() && !known_address && (pair_failed || !known) {
            waits.push((ops.login_failures(None, Some(ip), since)?, free * 4));
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
