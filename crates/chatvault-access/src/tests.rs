// Tests stop at the first broken expectation; unwrap is how they say so.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chatvault_crypto::DataKey;
use chatvault_ledger::CheckpointSigner;
use chatvault_policy::{Handle, Right, Role, RolePolicy, Scope};

use super::*;

/// A connection of its own to the file: what an attacker with the disk (or a test
/// checking the stored bytes) holds, outside chatvault.
fn raw(acc: &Access) -> chatvault_store_sqlite::raw::Connection {
    chatvault_store_sqlite::raw::Connection::open(acc.path()).unwrap()
}
use crate::users::{otpauth_secret, totp_code};

/// 2025-12-01 10:00 Beijing time, a Monday inside working hours.
const T0: i64 = 1_764_554_400_000;
const PW: &str = "correct horse battery";

struct Fixture {
    _dir: tempfile::TempDir,
    acc: Access,
    time: Arc<AtomicI64>,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with(Settings::default())
    }
    fn with(settings: Settings) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (signer, _) = CheckpointSigner::generate("test/audit").unwrap();
        let mut acc = Access::open(
            dir.path(),
            AccessKeys {
                seal: DataKey::generate(),
                audit_signer: signer,
            },
            settings,
        )
        .unwrap();
        let time = Arc::new(AtomicI64::new(T0));
        let t = time.clone();
        acc.set_clock(Arc::new(move || t.load(Ordering::SeqCst)));
        Fixture {
            _dir: dir,
            acc,
            time,
        }
    }
    fn advance_ms(&self, ms: i64) {
        self.time.fetch_add(ms, Ordering::SeqCst);
    }
    fn now(&self) -> i64 {
        self.time.load(Ordering::SeqCst)
    }
    fn add(&mut self, name: &str, role: Role, team: Option<&str>) -> Option<String> {
        let e = self
            .acc
            .add_user(
                "admin",
                name,
                role,
                team,
                &[Handle::new("wecom", name)],
                Some(PW),
                false,
            )
            .unwrap();
        e.otpauth.as_deref().and_then(otpauth_secret)
    }
    fn sql(&self, sql: &str) {
        raw(&self.acc).execute_batch(sql).unwrap();
    }
    fn actions(&self) -> Vec<String> {
        self.acc
            .audit_list(&AuditFilter::default())
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }
}

#[test]
fn passwords_are_argon2id_and_totp_secrets_are_sealed() {
    let mut f = Fixture::new();
    f.add("boss", Role::Executive, None);
    let (hash, secret): (String, Vec<u8>) = raw(&f.acc)
        .query_row(
            "SELECT password, totp_secret FROM users WHERE name = 'boss'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(PW));
    assert!(secret.len() > 20, "sealed: nonce + ciphertext + tag");
}

#[test]
fn totp_is_required_for_privileged_roles_and_accepted_once() {
    let mut f = Fixture::new();
    let secret = f.add("lisa", Role::Legal, None).expect("legal is enrolled");
    let e = f.acc.check_login("lisa", PW, None, None).unwrap_err();
    assert_eq!(
        e.code(),
        "auth.totp_enrol",
        "never confirmed: the sign-in goes on to enrolment"
    );
    let code = totp_code(&secret, f.now()).unwrap();
    f.acc
        .check_login("lisa", PW, Some(&code), None)
        .expect("a fresh code works");
    assert_eq!(
        f.acc
            .check_login("lisa", PW, None, None)
            .unwrap_err()
            .code(),
        "auth.totp_required",
        "confirmed: a code is required"
    );
    // Replayed within its validity window: refused.
    f.advance_ms(1000);
    let e = f
        .acc
        .check_login("lisa", PW, Some(&code), None)
        .unwrap_err();
    assert_eq!(e.code(), "auth.totp_invalid", "a replayed code is refused");
    // A code for an earlier step than the last one used: refused too.
    let old = totp_code(&secret, f.now() - 30_000).unwrap();
    assert_eq!(
        f.acc
            .check_login("lisa", PW, Some(&old), None)
            .unwrap_err()
            .code(),
        "auth.totp_invalid"
    );
    f.advance_ms(30_000);
    let next = totp_code(&secret, f.now()).unwrap();
    f.acc
        .check_login("lisa", PW, Some(&next), None)
        .expect("the next step's code works");
    // A wrong code.
    f.advance_ms(30_000);
    assert_eq!(
        f.acc
            .check_login("lisa", PW, Some("000000"), None)
            .unwrap_err()
            .code(),
        "auth.totp_invalid"
    );
    // reset-totp: the old secret stops working.
    let new = f
        .acc
        .reset_totp("admin", "lisa")
        .unwrap()
        .otpauth
        .as_deref()
        .and_then(otpauth_secret)
        .unwrap();
    f.advance_ms(30_000);
    let stale = totp_code(&secret, f.now()).unwrap();
    let fresh = totp_code(&new, f.now()).unwrap();
    if stale != fresh {
        assert_eq!(
            f.acc
                .check_login("lisa", PW, Some(&stale), None)
                .unwrap_err()
                .code(),
            "auth.totp_invalid"
        );
    }
    f.acc.check_login("lisa", PW, Some(&fresh), None).unwrap();
}

#[test]
fn brute_force_is_throttled_then_locked() {
    const A: Option<&str> = Some("203.0.113.7");
    const B: Option<&str> = Some("198.51.100.2");
    let mut f = Fixture::new();
    f.add("alice", Role::Agent, Some("t1"));
    for i in 0..5 {
        assert_eq!(
            f.acc
                .check_login("alice", "wrong password", None, A)
                .unwrap_err()
                .code(),
            "auth.invalid",
            "failure {i}"
        );
    }
    // The sixth attempt from that address within a second waits, even with the right
    // password...
    match f.acc.check_login("alice", PW, None, A).unwrap_err() {
        AccessError::Throttled { retry_after_s } => assert_eq!(retry_after_s, 1),
        e => panic!("expected throttling, got {e}"),
    }
    // ...while the owner, from another address, signs in at once.
    f.acc
        .check_login("alice", PW, None, B)
        .expect("the owner is not locked out");
    // A throttled attempt does not count: after the delay the right password works.
    f.advance_ms(1000);
    f.acc
        .check_login("alice", PW, None, A)
        .expect("after the delay the right password works");
    // Success clears the count; the delay then doubles with each checked failure.
    for _ in 0..5 {
        let _ = f.acc.check_login("alice", "wrong password", None, A);
    }
    f.advance_ms(1000);
    assert_eq!(
        f.acc
            .check_login("alice", "wrong password", None, A)
            .unwrap_err()
            .code(),
        "auth.invalid",
        "after the wait the password is checked again"
    );
    match f
        .acc
        .check_login("alice", "wrong password", None, A)
        .unwrap_err()
    {
        AccessError::Throttled { retry_after_s } => assert_eq!(retry_after_s, 2),
        e => panic!("expected throttling, got {e}"),
    }

    // A stranger hammering as fast as possible: 1,000 attempts in one second neither lock
    // the account nor keep its owner out.
    let mut f = Fixture::new();
    f.add("bob", Role::Agent, Some("t1"));
    for _ in 0..1000 {
        let _ = f.acc.check_login("bob", "wrong password", None, A);
        f.advance_ms(1);
    }
    assert!(
        !f.acc.user("bob").unwrap().unwrap().locked,
        "no lock from throttled attempts"
    );
    f.acc
        .check_login("bob", PW, None, B)
        .expect("the owner signs in");
    // Nor for a whole hour of patient guessing from one address.
    for _ in 0..3600 {
        let _ = f.acc.check_login("bob", "wrong password", None, A);
        f.advance_ms(1000);
    }
    assert!(!f.acc.user("bob").unwrap().unwrap().locked);
    f.acc
        .check_login("bob", PW, None, B)
        .expect("the owner signs in");

    // A guess spread over many addresses slows new addresses, but the owner, from an
    // address they signed in from before, is never held up.
    let mut f = Fixture::new();
    f.add("erin", Role::Agent, Some("t1"));
    f.acc
        .check_login("erin", PW, None, B)
        .expect("erin signs in from home");
    for i in 0..80 {
        let ip = format!("10.9.{}.{}", i / 250, i % 250);
        let _ = f.acc.check_login("erin", "x", None, Some(&ip));
    }
    assert_eq!(
        f.acc
            .check_login("erin", PW, None, Some("10.200.0.1"))
            .unwrap_err()
            .code(),
        "auth.throttled",
        "a new address waits"
    );
    f.acc
        .check_login("erin", PW, None, B)
        .expect("home is not held up");

    // One address spraying many accounts is slowed after 4× the allowance.
    let mut f = Fixture::new();
    for i in 0..21 {
        let r = f.acc.check_login(&format!("user{i}"), "x", None, A);
        let want = if i < 20 {
            "auth.invalid"
        } else {
            "auth.throttled"
        };
        assert_eq!(r.unwrap_err().code(), want, "attempt {i}");
    }
    // One account guessed from many addresses is slowed after 10× the allowance.
    let mut f = Fixture::new();
    f.add("carol", Role::Agent, Some("t1"));
    for i in 0..51 {
        let ip = format!("10.0.{}.{}", i / 250, i % 250);
        let r = f.acc.check_login("carol", "x", None, Some(&ip));
        let want = if i < 50 {
            "auth.invalid"
        } else {
            "auth.throttled"
        };
        assert_eq!(r.unwrap_err().code(), want, "attempt {i}");
    }

    // The lock (checked failures within an hour) survives the right password until an
    // admin lifts it. With the defaults no stranger reaches it; a tight setting shows it.
    let mut f = Fixture::with(Settings {
        throttle_after_failures: 50,
        lock_after_failures_per_hour: 3,
        ..Settings::default()
    });
    f.add("dave", Role::Agent, Some("t1"));
    for _ in 0..3 {
        let _ = f.acc.check_login("dave", "wrong password", None, A);
    }
    assert!(f.acc.user("dave").unwrap().unwrap().locked);
    f.advance_ms(3_600_000);
    assert_eq!(
        f.acc.check_login("dave", PW, None, B).unwrap_err().code(),
        "auth.locked"
    );
    f.acc.unfreeze("admin", "dave").unwrap();
    f.acc.check_login("dave", PW, None, B).expect("unlocked");
    assert!(f.actions().contains(&"user.lock".to_owned()));
}

#[test]
fn unknown_users_fail_like_wrong_passwords() {
    let mut f = Fixture::new();
    assert_eq!(
        f.acc
            .check_login("nobody", "whatever-password", None, None)
            .unwrap_err()
            .code(),
        "auth.invalid"
    );
    let e = f
        .acc
        .audit_list(&AuditFilter {
            action: Some("login.failure".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].actor, "nobody");
}

#[test]
fn sessions_time_out_and_freezing_ends_them() {
    let mut f = Fixture::new();
    f.add("alice", Role::Agent, Some("t1"));
    let u = f.acc.check_login("alice", PW, None, None).unwrap();
    let s = f.acc.create_session(&u).unwrap();
    f.advance_ms(29 * 60_000);
    f.acc.session(&s.cookie).expect("inside the idle timeout");
    f.advance_ms(31 * 60_000);
    assert_eq!(
        f.acc.session(&s.cookie).unwrap_err().code(),
        "auth.session",
        "idle timeout"
    );
    // The idle timer moves at most once a minute. Used a minute or more after its last
    // refresh, it moves; used sooner, it does not, and the session ends 30 minutes after
    // the refresh: up to a minute early, never late.
    let s = f.acc.create_session(&u).unwrap();
    f.advance_ms(2 * 60_000);
    f.acc.session(&s.cookie).expect("two minutes in: refreshed");
    f.advance_ms(29 * 60_000);
    f.acc
        .session(&s.cookie)
        .expect("29 minutes after the refresh");
    f.acc.end_session(&s.cookie).unwrap();
    let s = f.acc.create_session(&u).unwrap();
    f.advance_ms(50_000);
    f.acc.session(&s.cookie).expect("within the minute");
    f.advance_ms(30 * 60_000 - 50_000 + 1);
    assert_eq!(
        f.acc.session(&s.cookie).unwrap_err().code(),
        "auth.session",
        "30 minutes after the last refresh, though used 50 s after it"
    );
    // Absolute timeout, even when used every few minutes.
    let s = f.acc.create_session(&u).unwrap();
    for _ in 0..(13 * 60 / 20) {
        f.advance_ms(20 * 60_000);
        if f.acc.session(&s.cookie).is_err() {
            break;
        }
    }
    assert_eq!(
        f.acc.session(&s.cookie).unwrap_err().code(),
        "auth.session",
        "absolute timeout"
    );
    // Freeze: sessions and tokens die at once.
    let s = f.acc.create_session(&u).unwrap();
    let (_, token) = f
        .acc
        .create_token("admin", "alice", TokenScope::Read, None)
        .unwrap();
    f.acc.session(&s.cookie).unwrap();
    f.acc.token(&token).unwrap();
    let (sessions, tokens) = f.acc.freeze("admin", "alice", "leaving").unwrap();
    assert_eq!((sessions, tokens), (1, 1));
    assert!(f.acc.session(&s.cookie).is_err());
    assert_eq!(f.acc.token(&token).unwrap_err().code(), "auth.token");
    assert_eq!(
        f.acc
            .check_login("alice", PW, None, None)
            .unwrap_err()
            .code(),
        "auth.frozen"
    );
    assert!(f.actions().contains(&"user.freeze".to_owned()));
}

#[test]
fn tokens_are_hashed_and_revocable() {
    let mut f = Fixture::new();
    f.add("bot", Role::Agent, Some("t1"));
    let (info, text) = f
        .acc
        .create_token("admin", "bot", TokenScope::Ingest, Some("wecom"))
        .unwrap();
    let stored: Vec<u8> = raw(&f.acc)
        .query_row("SELECT hash FROM tokens", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, sha256(text.as_bytes()));
    let p = f.acc.token(&text).unwrap();
    assert_eq!(
        p.via,
        sessions::Credential::Token {
            id: info.id.clone(),
            scope: TokenScope::Ingest,
            source: Some("wecom".into())
        }
    );
    for bad in ["", "cvt_", "Bearer x", &text[..text.len() - 1]] {
        assert_eq!(
            f.acc.token(bad).unwrap_err().code(),
            "auth.token",
            "{bad:?}"
        );
    }
    f.acc.revoke_token("admin", &info.id).unwrap();
    assert_eq!(f.acc.token(&text).unwrap_err().code(), "auth.token");
    // No secret reaches the audit trail.
    let all = serde_json::to_string(&f.acc.audit_list(&AuditFilter::default()).unwrap()).unwrap();
    assert!(!all.contains(&text[20..]), "token text in the audit log");
    assert!(!all.contains(PW), "password in the audit log");
}

fn scope() -> Scope {
    Scope {
        conversations: vec!["wecom:c1".into()],
        participants: vec![],
        from_ms: T0 - 86_400_000,
        to_ms: T0,
        keywords: vec![],
    }
}

#[test]
fn requests_grants_and_their_audit_entries() {
    let mut f = Fixture::new();
    f.add("lisa", Role::Legal, None);
    f.add("boss", Role::Executive, None);
    let policy = RolePolicy::default();
    let r = f
        .acc
        .file_request(
            "lisa",
            scope(),
            "litigation hold",
            "(2026)沪01民初1号",
            &[Right::View, Right::Export],
        )
        .unwrap();
    assert_eq!(
        f.acc
            .approve_request("lisa", &r.id, "", T0 + 86_400_000, &policy)
            .unwrap_err()
            .code(),
        "policy.self_approval"
    );
    let g = f
        .acc
        .approve_request("boss", &r.id, "ok", T0 + 86_400_000, &policy)
        .unwrap();
    assert_eq!(g.holder, "lisa");
    assert_eq!(
        f.acc
            .approve_request("boss", &r.id, "again", T0 + 86_400_000, &policy)
            .unwrap_err()
            .code(),
        "policy.state"
    );
    assert_eq!(f.acc.grants(Some("lisa")).unwrap(), vec![g.clone()]);
    let g2 = f.acc.revoke_grant("boss", &g.id, &policy).unwrap();
    assert!(!g2.is_active(f.now()));
    let actions = f.actions();
    for a in ["request.file", "request.approve", "grant.revoke"] {
        assert!(actions.contains(&a.to_owned()), "{a} in {actions:?}");
    }
    let denied = f
        .acc
        .audit_list(&AuditFilter {
            action: Some("request.approve".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        denied
            .iter()
            .filter(|e| e.result == Outcome::Denied)
            .count(),
        2,
        "self-approval and double approval are audited"
    );
}

#[test]
fn audit_verify_detects_each_kind_of_tampering() {
    let build = || {
        let mut f = Fixture::new();
        for i in 0..6 {
            f.acc
                .audit(
                    Event::new(&format!("u{i}"), Action::Search)
                        .details(serde_json::json!({"total": i})),
                )
                .unwrap();
        }
        f
    };
    let f = build();
    let r = f.acc.audit_verify().unwrap();
    assert!(r.ok, "{:?}", r.errors);
    // Six searches after the entry that first signs the access state.
    assert_eq!((r.entries, r.unsigned_tail), (7, 0));
    let cases: &[(&str, &str, &str)] = &[
        ("edited body", "UPDATE audit SET body = replace(body, '\"total\":3', '\"total\":4') WHERE seq = 4", "edited"),
        ("deleted entry", "DELETE FROM audit WHERE seq = 2", "missing"),
        ("reordered entries", "UPDATE audit SET seq = seq + 100 WHERE seq IN (1, 2); UPDATE audit SET seq = 2 WHERE seq = 101; UPDATE audit SET seq = 1 WHERE seq = 102", "entry 1"),
        ("truncated tail", "DELETE FROM audit WHERE seq >= 4", "truncated"),
        ("forged checkpoint", "UPDATE audit_checkpoints SET note = replace(note, 'test/audit', 'test/audiT')", "audit checkpoint"),
        ("checkpoints removed", "DELETE FROM audit_checkpoints", "no signed checkpoint"),
        ("actor column edited", "UPDATE audit SET actor = 'nobody' WHERE seq = 3", "`actor` column"),
        ("time column edited", "UPDATE audit SET time_ms = time_ms - 86400000 WHERE seq = 3", "`time_ms` column"),
        ("action column edited", "UPDATE audit SET action = 'login.success' WHERE seq = 3", "`action` column"),
    ];
    for (name, sql, needle) in cases {
        let f = build();
        f.sql(sql);
        let r = f.acc.audit_verify().unwrap();
        assert!(!r.ok, "{name}: not detected");
        assert!(
            r.errors.iter().any(|e| e.contains(needle)),
            "{name}: {:?}",
            r.errors
        );
    }
    // Rewriting the chain consistently after an edit still fails: the signed head differs.
    let f = build();
    let rows: Vec<(i64, String)> = {
        let c = raw(&f.acc);
        let mut st = c
            .prepare("SELECT seq, body FROM audit ORDER BY seq")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    };
    let mut prev = [0u8; 32];
    for (seq, body) in rows {
        let mut e: AuditEntry = serde_json::from_str(&body).unwrap();
        if seq == 2 {
            e.actor = "someone-else".into();
        }
        e.prev = hex::encode(prev);
        let body = serde_json::to_string(&e).unwrap();
        let mut h = <sha2::Sha256 as sha2::Digest>::new();
        sha2::Digest::update(&mut h, b"chatvault/audit/v1\0");
        sha2::Digest::update(&mut h, prev);
        sha2::Digest::update(&mut h, body.as_bytes());
        prev = sha2::Digest::finalize(h).into();
        raw(&f.acc)
            .execute(
                "UPDATE audit SET body = ?2, hash = ?3 WHERE seq = ?1",
                chatvault_store_sqlite::raw::params![seq, body, prev.to_vec()],
            )
            .unwrap();
    }
    let r = f.acc.audit_verify().unwrap();
    assert!(
        !r.ok && r.errors.iter().any(|e| e.contains("rewritten")),
        "{:?}",
        r.errors
    );
}

#[test]
fn anomaly_flags() {
    let mut f = Fixture::new();
    f.add("alice", Role::Agent, Some("t1"));
    let flags = |f: &Fixture, action: &str| -> Vec<Vec<String>> {
        f.acc
            .audit_list(&AuditFilter {
                action: Some(action.into()),
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .map(|e| e.flags)
            .collect()
    };
    // Exports: the 21st within an hour is flagged.
    for _ in 0..21 {
        f.acc.audit(Event::new("alice", Action::Export)).unwrap();
    }
    let e = flags(&f, "export");
    assert!(
        e[..20].iter().all(Vec::is_empty) && e[20] == ["exports_per_hour"],
        "{e:?}"
    );
    // Ten failed logins within ten minutes.
    for _ in 0..10 {
        let _ = f.acc.check_login("alice", "wrong password", None, None);
        f.advance_ms(40_000);
    }
    let e = flags(&f, "login.failure");
    assert!(
        e[..9]
            .iter()
            .all(|v| !v.contains(&"failed_logins".to_owned()))
            && e[9].contains(&"failed_logins".to_owned()),
        "{e:?}"
    );
    // Outside working hours (08:00–20:00 Asia/Shanghai, Monday to Friday): 23:00.
    f.time.store(T0 + 13 * 3_600_000, Ordering::SeqCst);
    f.acc.audit(Event::new("alice", Action::Search)).unwrap();
    assert_eq!(
        flags(&f, "search").last().unwrap(),
        &vec!["off_hours".to_owned()]
    );
    // A bulk deletion request.
    f.acc
        .audit(
            Event::new("alice", Action::DeletionRequest)
                .details(serde_json::json!({"messages": 5000})),
        )
        .unwrap();
    f.acc
        .audit(
            Event::new("alice", Action::DeletionRequest)
                .details(serde_json::json!({"messages": 3})),
        )
        .unwrap();
    assert_eq!(
        flags(&f, "deletion.request"),
        vec![vec!["bulk_deletion".to_owned()], vec![]]
    );
    assert_eq!(
        f.acc
            .audit_list(&AuditFilter {
                flagged: true,
                ..Default::default()
            })
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn action_names_and_numbers_are_unique() {
    let mut names = std::collections::HashSet::new();
    let mut numbers = std::collections::HashSet::new();
    for a in Action::ALL {
        assert!(
            names.insert(a.name()) && numbers.insert(a.number()),
            "{a:?}"
        );
        assert_eq!(Action::parse(a.name()), Some(*a));
    }
}

#[test]
fn audit_list_filters() {
    let mut f = Fixture::new();
    f.acc.audit(Event::new("a", Action::LoginSuccess)).unwrap();
    f.advance_ms(1000);
    f.acc.audit(Event::new("b", Action::LoginFailure)).unwrap();
    f.advance_ms(1000);
    f.acc.audit(Event::new("a", Action::Search)).unwrap();
    let n = |flt: AuditFilter| f.acc.audit_list(&flt).unwrap().len();
    assert_eq!(
        n(AuditFilter {
            actor: Some("a".into()),
            ..Default::default()
        }),
        2
    );
    assert_eq!(
        n(AuditFilter {
            action: Some("login.".into()),
            ..Default::default()
        }),
        2
    );
    assert_eq!(
        n(AuditFilter {
            action: Some("login".into()),
            ..Default::default()
        }),
        0
    );
    assert_eq!(
        n(AuditFilter {
            from_ms: Some(T0 + 1000),
            to_ms: Some(T0 + 2000),
            ..Default::default()
        }),
        2
    );
    assert_eq!(
        n(AuditFilter {
            from_ms: Some(T0),
            to_ms: Some(T0 + 999),
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        n(AuditFilter {
            limit: Some(1),
            ..Default::default()
        }),
        1
    );
}

#[test]
fn changing_a_users_reach_ends_their_sessions_and_is_audited() {
    let mut f = Fixture::new();
    f.add("alice", Role::Agent, Some("t1"));
    let u = f.acc.check_login("alice", PW, None, None).unwrap();
    let s = f.acc.create_session(&u).unwrap();
    let u = f
        .acc
        .change_user("admin", "alice", Some(Role::TeamLead), None, None)
        .unwrap();
    assert_eq!((u.role, u.team.as_deref()), (Role::TeamLead, Some("t1")));
    assert_eq!(
        f.acc.session(&s.cookie).unwrap_err().code(),
        "auth.session",
        "old reach's session ended"
    );
    let e = f
        .acc
        .audit_list(&AuditFilter {
            action: Some("user.change".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        e[0].details["role"],
        serde_json::json!(["agent", "team_lead"])
    );
    assert_eq!(
        f.acc
            .change_user("admin", "alice", None, Some(None), None)
            .unwrap_err()
            .code(),
        "input.invalid"
    );
    assert_eq!(
        f.acc
            .change_user("admin", "nobody", None, None, None)
            .unwrap_err()
            .code(),
        "user.missing"
    );
}

#[test]
fn enrolment_shows_the_secret_once_and_the_first_code_confirms_it() {
    let mut f = Fixture::new();
    let secret = f.add("aud", Role::Auditor, None).unwrap();
    assert!(f.acc.user("aud").unwrap().unwrap().totp_pending);
    // A wrong password never reaches enrolment.
    assert_eq!(
        f.acc
            .check_login("aud", "wrong password!!", None, None)
            .unwrap_err()
            .code(),
        "auth.invalid"
    );
    let AccessError::TotpEnrol { ticket, otpauth } =
        f.acc.check_login("aud", PW, None, None).unwrap_err()
    else {
        panic!("enrolment")
    };
    assert_eq!(
        otpauth_secret(&otpauth).as_deref(),
        Some(secret.as_str()),
        "the QR code carries the stored secret"
    );
    let right = totp_code(&secret, f.now()).unwrap();
    // A code ten minutes ahead is outside the accepted window.
    let wrong = totp_code(&secret, f.now() + 600_000).unwrap();
    let cases: &[(&str, &str, &str, &str)] = &[
        ("unknown ticket", "nope", &right, "auth.enrolment_expired"),
        ("wrong code", &ticket, &wrong, "auth.totp_invalid"),
        ("not a code", &ticket, "abc", "auth.totp_invalid"),
    ];
    for (name, t, code, want) in cases {
        assert_eq!(
            f.acc.finish_enrolment(t, code, None).unwrap_err().code(),
            *want,
            "{name}"
        );
    }
    let u = f
        .acc
        .finish_enrolment(
            &ticket,
            &totp_code(&secret, f.now()).unwrap(),
            Some("127.0.0.1"),
        )
        .unwrap();
    assert!(!u.totp_pending);
    // The ticket is single-use, and a confirmed account never shows its secret again.
    f.advance_ms(30_000);
    assert_eq!(
        f.acc
            .finish_enrolment(&ticket, &totp_code(&secret, f.now()).unwrap(), None)
            .unwrap_err()
            .code(),
        "auth.enrolment_expired"
    );
    assert_eq!(
        f.acc.check_login("aud", PW, None, None).unwrap_err().code(),
        "auth.totp_required"
    );
    let acts = f.actions();
    for a in [
        "totp.enrol_start",
        "login.failure",
        "totp.enrolled",
        "login.success",
    ] {
        assert!(acts.iter().any(|x| x == a), "{a} in {acts:?}");
    }
    // An enrolment expires after ten minutes; reset-totp makes the account pending again.
    f.acc.reset_totp("admin", "aud").unwrap();
    let AccessError::TotpEnrol { ticket, otpauth } =
        f.acc.check_login("aud", PW, None, None).unwrap_err()
    else {
        panic!("enrolment after reset")
    };
    f.advance_ms(10 * 60 * 1000 + 1);
    let s2 = otpauth_secret(&otpauth).unwrap();
    assert_eq!(
        f.acc
            .finish_enrolment(&ticket, &totp_code(&s2, f.now()).unwrap(), None)
            .unwrap_err()
            .code(),
        "auth.enrolment_expired"
    );
}

#[test]
fn a_version_1_database_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.db");
    {
        let c = chatvault_store_sqlite::raw::Connection::open(&path).unwrap();
        let v1 = chatvault_store_sqlite::access::SCHEMA
            .split("CREATE TABLE enrolments")
            .next()
            .unwrap()
            .replace(",\n    lang TEXT", "")
            // Schema 5 added the sessions' tags.
            .replace(",\n    tag BLOB", "")
            // Schema 4 added the address of failed sign-ins.
            .replace(", ip TEXT NOT NULL DEFAULT ''", "")
            .replace("CREATE INDEX login_failures_ip ON login_failures (ip, at_ms);", "")
            .replace("CREATE TABLE known_addresses (user TEXT NOT NULL, ip TEXT NOT NULL, last_ms INTEGER NOT NULL, PRIMARY KEY (user, ip)) WITHOUT ROWID;", "");
        c.execute_batch(&format!("{v1} PRAGMA user_version = 1;"))
            .unwrap();
        c.execute("INSERT INTO users (name, role, team, handles, password, created_ms, updated_ms) VALUES ('old', 'agent', NULL, '[]', 'x', 0, 0)", []).unwrap();
    }
    let (signer, _) = CheckpointSigner::generate("test/audit").unwrap();
    let mut acc = Access::open(
        dir.path(),
        AccessKeys {
            seal: DataKey::generate(),
            audit_signer: signer,
        },
        Settings::default(),
    )
    .unwrap();
    let u = acc.user("old").unwrap().unwrap();
    assert_eq!(u.lang, None);
    acc.set_lang("old", "en").unwrap();
    assert_eq!(
        acc.user("old").unwrap().unwrap().lang.as_deref(),
        Some("en")
    );
    assert_eq!(
        acc.set_lang("old", "fr").unwrap_err().code(),
        "input.invalid"
    );
    let v: i64 = raw(&acc)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, chatvault_store_sqlite::access::SCHEMA_VERSION);
    assert_eq!(
        acc.lifecycle().unwrap().policies[0].name,
        "default",
        "the migration adds the default policy"
    );
}

#[test]
fn an_audit_segment_verifies_on_its_own_and_names_tampering() {
    let mut f = Fixture::new();
    for n in ["a", "b", "c"] {
        f.add(n, Role::Agent, None);
    }
    // Entry 0 first signs the access state; 1, 2 and 3 add a, b and c.
    let seg = f.acc.audit_segment(2).unwrap();
    let entries = seg.verify().unwrap();
    assert_eq!(entries.len(), 2, "entries 2 and 3");
    assert_eq!(f.acc.audit_segment(0).unwrap().verify().unwrap().len(), 4);
    let cases: Vec<(&str, Box<dyn Fn(&mut AuditSegment)>)> = vec![
        (
            "edited",
            Box::new(|s: &mut AuditSegment| s.bodies[0] = s.bodies[0].replace("\"b\"", "\"x\"")),
        ),
        (
            "dropped",
            Box::new(|s: &mut AuditSegment| {
                s.bodies.remove(0);
            }),
        ),
        (
            "reordered",
            Box::new(|s: &mut AuditSegment| s.bodies.swap(0, 1)),
        ),
        (
            "another key",
            Box::new(|s: &mut AuditSegment| {
                s.verifier_key = CheckpointSigner::generate("other/audit")
                    .unwrap()
                    .0
                    .verifier_key()
                    .to_owned()
            }),
        ),
    ];
    for (name, tamper) in cases {
        let mut s = f.acc.audit_segment(2).unwrap();
        tamper(&mut s);
        assert!(s.verify().is_err(), "{name}");
    }
}

/// Accounts, tokens, requests, grants, retention rules and sessions are bound: an edit
/// made to the file outside chatvault is named by `audit verify`, and a session row
/// chatvault did not write is no session.
#[test]
fn the_access_state_is_bound_to_the_signed_audit_chain() {
    let build = || {
        let mut f = Fixture::new();
        f.add("lisa", Role::Legal, None);
        f.add("boss", Role::Executive, None);
        f.add("amy", Role::Agent, Some("t1"));
        let policy = RolePolicy::default();
        let r = f
            .acc
            .file_request("lisa", scope(), "case", "(2026)1", &[Right::View])
            .unwrap();
        f.acc
            .approve_request("boss", &r.id, "ok", T0 + 86_400_000, &policy)
            .unwrap();
        let (info, _) = f
            .acc
            .create_token("admin", "amy", TokenScope::Read, None)
            .unwrap();
        f.acc.revoke_token("admin", &info.id).unwrap();
        f.acc
            .add_hold(
                "boss",
                "(2026)2",
                "litigation",
                chatvault_policy::retention::HoldScope {
                    conversations: vec!["wecom:c1".into()],
                    ..Default::default()
                },
            )
            .unwrap();
        f.acc.set_lang("amy", "en").unwrap();
        let amy = f.acc.user("amy").unwrap().unwrap();
        let session = f.acc.create_session(&amy).unwrap();
        assert!(f.acc.session(&session.cookie).is_ok());
        f
    };
    let f = build();
    let r = f.acc.audit_verify().unwrap();
    assert!(
        r.ok,
        "every change through chatvault keeps it whole: {:?}",
        r.errors
    );
    // Another connection, as an attacker with the file would write it: without the
    // triggers this connection has.
    let outside = |f: &Fixture, sql: &str| {
        let c = chatvault_store_sqlite::raw::Connection::open(f.acc.path()).unwrap();
        c.execute_batch(sql).unwrap();
    };
    let cases: &[(&str, &str, &str)] = &[
        ("role raised", "UPDATE users SET role = 'executive' WHERE name = 'amy'", "`users`"),
        ("team moved", "UPDATE users SET team = 't2' WHERE name = 'amy'", "`users`"),
        ("password replaced", "UPDATE users SET password = (SELECT password FROM users WHERE name = 'boss') WHERE name = 'amy'", "`users`"),
        ("account injected", "INSERT INTO users (name, role, team, handles, password, created_ms, updated_ms) SELECT 'eve', 'admin', NULL, '[]', password, 0, 0 FROM users WHERE name = 'amy'", "`users`"),
        ("TOTP step moved", "UPDATE users SET totp_last_step = 5", "`users`"),
        ("account frozen", "UPDATE users SET frozen = 1 WHERE name = 'amy'", "`users`"),
        ("token revived", "UPDATE tokens SET revoked_ms = NULL", "`tokens`"),
        ("token handed to another", "UPDATE tokens SET user = 'boss'", "`tokens`"),
        ("grant widened", "UPDATE grants SET body = replace(body, 'wecom:c1', 'wecom:c2')", "`grants`"),
        ("grant removed", "DELETE FROM grants", "`grants`"),
        ("request edited", "UPDATE requests SET body = replace(body, 'case', 'cast')", "`requests`"),
        ("hold dropped", "DELETE FROM lifecycle WHERE kind <> 'policy'", "`lifecycle`"),
        ("policy shortened", "UPDATE lifecycle SET body = replace(body, '180', '1') WHERE kind = 'policy'", "`lifecycle`"),
        ("config digest edited", "INSERT INTO meta (key, value) VALUES ('config_sha256', 'x')", "`meta`"),
        ("session forged", "INSERT INTO sessions (id_hash, user, csrf, created_ms, seen_ms) VALUES (x'00', 'boss', 'c', 0, 0)", "`sessions`"),
        ("session handed to another", "UPDATE sessions SET user = 'boss'", "`sessions`"),
    ];
    for (name, sql, needle) in cases {
        let mut f = build();
        outside(&f, sql);
        let r = f.acc.audit_verify().unwrap();
        assert!(!r.ok, "{name}: not detected");
        assert!(
            r.errors.iter().any(|e| e.contains(needle)),
            "{name}: {:?}",
            r.errors
        );
        // A later change through chatvault does not make the edit legitimate.
        f.add("later", Role::Agent, None);
        let r = f.acc.audit_verify().unwrap();
        assert!(
            r.errors.iter().any(|e| e.contains(needle)),
            "{name}, after a later change: {:?}",
            r.errors
        );
    }
    // A session row edited outside is refused, not just reported.
    let mut f = Fixture::new();
    f.add("amy", Role::Agent, None);
    let amy = f.acc.user("amy").unwrap().unwrap();
    let s = f.acc.create_session(&amy).unwrap();
    outside(&f, "UPDATE sessions SET created_ms = created_ms + 1");
    assert_eq!(
        f.acc.session(&s.cookie).unwrap_err().code(),
        AccessError::NoSession.code()
    );
    // An edit blessed by a forged entry: the attacker raises a role, then appends a
    // correctly chained entry whose map holds the edited table's digest. No checkpoint
    // signs it: verify says so, and the next real change (which would sign over it)
    // records it for good.
    let mut f = build();
    outside(&f, "UPDATE users SET role = 'executive' WHERE name = 'amy'");
    {
        let c = chatvault_store_sqlite::raw::Connection::open(f.acc.path()).unwrap();
        let (seq, prev, body): (i64, Vec<u8>, String) = c
            .query_row(
                "SELECT seq, hash, body FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        let mut e: AuditEntry = serde_json::from_str(&body).unwrap();
        let mut map = crate::state::newest_state(&chatvault_store_sqlite::SqliteAccessOps::new(
            &c,
            f.acc.path(),
        ))
        .unwrap()
        .unwrap()
        .1;
        map.insert(
            "users".into(),
            crate::state::table_digest(
                &chatvault_store_sqlite::SqliteAccessOps::new(&c, f.acc.path()),
                "users",
                chatvault_store::access::Image::Now,
            )
            .unwrap(),
        );
        let prev: [u8; 32] = prev.try_into().unwrap();
        e.seq = seq as u64 + 1;
        e.prev = hex::encode(prev);
        e.action = "user.change".into();
        e.state = Some(map);
        let forged = serde_json::to_string(&e).unwrap();
        let hash = crate::audit::chain_hash(&prev, &forged);
        c.execute(
            "INSERT INTO audit (seq, time_ms, actor, action, body, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            chatvault_store_sqlite::raw::params![e.seq as i64, e.time_ms, e.actor, e.action, forged, hash.to_vec()],
        )
        .unwrap();
    }
    let r = f.acc.audit_verify().unwrap();
    assert!(
        r.errors
            .iter()
            .any(|e| e.contains("after the newest signed checkpoint")),
        "a forged unsigned entry: {:?}",
        r.errors
    );
    f.add("later", Role::Agent, None);
    let r = f.acc.audit_verify().unwrap();
    assert!(
        r.errors.iter().any(|e| e.contains("`audit`")),
        "a forged entry signed over by a later change: {:?}",
        r.errors
    );
}

#[test]
fn a_newer_access_database_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.db");
    chatvault_store_sqlite::raw::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    let (signer, _) = CheckpointSigner::generate("test/audit").unwrap();
    let Err(e) = Access::open(
        dir.path(),
        AccessKeys {
            seal: DataKey::generate(),
            audit_signer: signer,
        },
        Settings::default(),
    ) else {
        panic!("a newer database opened");
    };
    assert_eq!(e.code(), "access.corrupt");
    let text = e.to_string();
    assert!(
        text.contains("access.db") && text.contains("schema version 99 is newer than this program"),
        "{text}"
    );
}
