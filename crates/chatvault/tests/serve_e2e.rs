//! End to end on the real binary and the real server over TCP: two users; one files a
//! retrieval request, the other approves it; a search inside the scope succeeds, one
//! outside is refused; the audit log shows each step, verifies, and a tampered log fails.

// Tests stop at the first broken expectation; unwrap is how they say so.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

mod common;
use common::{http, Server};

const PW: &str = "e2e-password-long";

fn bin(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chatvault"));
    c.arg("--data")
        .arg(data)
        .env_remove("CHATVAULT_KEY")
        .env_remove("CHATVAULT_PASSPHRASE")
        .env_remove("CHATVAULT_CONFIG");
    c
}

fn run(data: &Path, args: &[&str], stdin: Option<&str>) -> (i32, String) {
    let mut c = bin(data);
    c.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    if let Some(s) = stdin {
        // A command that fails before reading its password (a bad role, say) may have
        // closed stdin already: a broken pipe here is that, not a test failure.
        let _ = child.stdin.take().unwrap().write_all(s.as_bytes());
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn start(data: &Path) -> Server {
    common::start(data, &[])
}

fn login(addr: &str, user: &str, totp: Option<String>) -> (String, String) {
    common::login(addr, user, PW, totp)
}

#[test]
fn request_approve_search_audit_on_the_real_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert_eq!(run(&data, &["init"], None).0, 0);
    let now = chrono::Utc::now();
    let at = |days: i64| (now - chrono::Duration::days(days)).to_rfc3339();
    let export = dir.path().join("m.jsonl");
    std::fs::write(
        &export,
        [
            json!({"platform":"wecom","conversation_id":"case-1","sender_id":"agent7","sent_at":at(3),"text":"客户要求退款，订单 A-1001"}),
            json!({"platform":"wecom","conversation_id":"case-1","sender_id":"cust","sent_at":at(3),"text":"退款还没到账"}),
            json!({"platform":"wecom","conversation_id":"other","sender_id":"agent8","sent_at":at(2),"text":"退款已处理"}),
        ]
        .iter()
        .map(|v| v.to_string() + "\n")
        .collect::<String>(),
    )
    .unwrap();
    let (code, out) = run(&data, &["import", export.to_str().unwrap()], None);
    assert_eq!(code, 0, "{out}");

    // 1. Two users exist: a legal officer and an executive (both with TOTP).
    let mut secrets = std::collections::HashMap::new();
    for (user, role) in [("lisa", "legal"), ("boss", "executive")] {
        let (code, out) = run(
            &data,
            &["--json", "user", "add", user, "--role", role],
            Some(PW),
        );
        assert_eq!(code, 0, "{out}");
        let v: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        let uri = v["otpauth"]
            .as_str()
            .expect("TOTP enrolled for legal and executive");
        secrets.insert(user, chatvault_access::users::otpauth_secret(uri).unwrap());
    }
    let (code, out) = run(&data, &["user", "list"], None);
    assert!(
        code == 0 && out.contains("lisa") && out.contains("boss"),
        "{out}"
    );

    let server = start(&data);
    let addr = server.addr.clone();
    let code_for = |u: &str| {
        Some(
            chatvault_access::users::totp_code(&secrets[u], chrono::Utc::now().timestamp_millis())
                .unwrap(),
        )
    };

    // 2. lisa files a request.
    let (lisa, lisa_csrf) = login(&addr, "lisa", code_for("lisa"));
    let before = http(
        &addr,
        "GET",
        "/api/v1/search?q=%E9%80%80%E6%AC%BE",
        Some(&lisa),
        None,
        None,
    );
    assert_eq!(before.status, 403, "no grant yet: {:?}", before.body);
    let req = json!({"scope": {"conversations": ["wecom:case-1"], "participants": [], "from": at(10), "to": at(0), "keywords": []},
        "reason": "劳动仲裁取证", "case_number": "京劳仲字[2026]第88号", "rights": ["view", "export"]});
    let r = http(
        &addr,
        "POST",
        "/api/v1/requests",
        Some(&lisa),
        Some(&lisa_csrf),
        Some(&req),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();

    // 3. boss approves it.
    let (boss, boss_csrf) = login(&addr, "boss", code_for("boss"));
    let expires = (now + chrono::Duration::days(7)).to_rfc3339();
    let r = http(
        &addr,
        "POST",
        &format!("/api/v1/requests/{id}/approve"),
        Some(&boss),
        Some(&boss_csrf),
        Some(&json!({"comment": "准予调取", "expires_at": expires})),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    let grant = r.body["grant"]["id"].as_str().unwrap().to_owned();
    let r = http(&addr, "GET", "/api/v1/grants", Some(&lisa), None, None);
    assert_eq!(r.body["grants"][0]["id"], grant.as_str());

    // 4. A search inside the scope succeeds, and sees only the scope.
    let r = http(
        &addr,
        "GET",
        "/api/v1/search?q=%E9%80%80%E6%AC%BE",
        Some(&lisa),
        None,
        None,
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["total"], 2,
        "case-1's two messages, not the other conversation's: {:?}",
        r.body
    );
    assert!(r.body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["conversation"] == "wecom:case-1"));

    // 5. A search outside the scope is refused.
    let r = http(
        &addr,
        "GET",
        "/api/v1/search?q=%E9%80%80%E6%AC%BE&conversation=wecom:other",
        Some(&lisa),
        None,
        None,
    );
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert_eq!(r.body["error"]["code"], "access.denied");

    // 6. The audit log shows each step, in order (CLI, while the server runs).
    let (code, out) = run(&data, &["--json", "audit", "list"], None);
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let steps: Vec<(String, String, String)> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
                e["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        ("lisa", "user.add"),
        ("boss", "user.add"),
        ("lisa", "login.success"),
        ("lisa", "access.denied"),
        ("lisa", "request.file"),
        ("boss", "login.success"),
        ("boss", "request.approve"),
        ("lisa", "search"),
        ("lisa", "grant.use"),
        ("lisa", "access.denied"),
    ];
    let mut it = steps.iter();
    for (who, action) in want {
        let found = it.any(|(a, act, _)| act == action && (a == who || (action == "user.add")));
        assert!(
            found,
            "audit step {who} {action} missing or out of order in {steps:?}"
        );
    }
    let (code, out) = run(&data, &["audit", "verify"], None);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ok:"), "{out}");

    // Logout ends the session.
    let r = http(
        &addr,
        "DELETE",
        "/api/v1/session",
        Some(&lisa),
        Some(&lisa_csrf),
        None,
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        http(&addr, "GET", "/api/v1/search?q=x", Some(&lisa), None, None).status,
        401
    );
    drop(server);

    // A tampered audit log is detected, by the CLI too.
    let db = chatvault_store_sqlite::raw::Connection::open(data.join("access.db")).unwrap();
    db.execute("UPDATE audit SET body = replace(body, '\"lisa\"', '\"mallory\"') WHERE action = 'request.file'", []).unwrap();
    let (code, out) = run(&data, &["audit", "verify"], None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILED") && out.contains("edited"), "{out}");
}

#[test]
fn user_commands_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    run(&data, &["init"], None);
    let cases: &[(&str, &[&str], Option<&str>, i32, &str)] = &[
        (
            "unknown role",
            &["user", "add", "x", "--role", "boss"],
            Some(PW),
            2,
            "policy.unknown_role",
        ),
        (
            "short password",
            &["user", "add", "x", "--role", "agent"],
            Some("short"),
            2,
            "12 characters",
        ),
        (
            "bad handle",
            &["user", "add", "x", "--role", "agent", "--handle", "nocolon"],
            Some(PW),
            2,
            "PLATFORM:ID",
        ),
        (
            "team lead without team",
            &["user", "add", "x", "--role", "team_lead"],
            Some(PW),
            2,
            "--team",
        ),
        (
            "generated password",
            &[
                "user",
                "add",
                "ann",
                "--role",
                "agent",
                "--handle",
                "wecom:ann",
            ],
            None,
            0,
            "password (shown once)",
        ),
        (
            "duplicate",
            &["user", "add", "ann", "--role", "agent"],
            Some(PW),
            2,
            "user.exists",
        ),
        (
            "change role",
            &["user", "set", "ann", "--role", "team_lead", "--team", "t9"],
            None,
            0,
            "role team_lead, team t9",
        ),
        (
            "lead without team",
            &["user", "set", "ann", "--team", "-"],
            None,
            2,
            "a team lead needs a team",
        ),
        (
            "freeze",
            &["user", "freeze", "ann", "--reason", "test"],
            None,
            0,
            "froze ann",
        ),
        (
            "freeze unknown",
            &["user", "freeze", "nobody"],
            None,
            2,
            "user.missing",
        ),
        (
            "unfreeze",
            &["user", "unfreeze", "ann"],
            None,
            0,
            "unfroze ann",
        ),
        (
            "reset totp",
            &["user", "reset-totp", "ann"],
            None,
            0,
            "otpauth://totp/",
        ),
        (
            "token",
            &["token", "create", "ann", "--scope", "ingest"],
            None,
            0,
            "cvt_",
        ),
        (
            "bad scope",
            &["token", "create", "ann", "--scope", "write"],
            None,
            2,
            "read or ingest",
        ),
        (
            "config example",
            &["config", "example"],
            None,
            0,
            "[security]",
        ),
    ];
    for (name, args, stdin, want, needle) in cases {
        // A generated password needs an empty stdin that is not a terminal.
        let (code, out) = run(&data, args, Some(stdin.unwrap_or("")));
        assert_eq!(code, *want, "{name}: {out}");
        assert!(out.contains(needle), "{name}: {out}");
    }
    let (_, out) = run(
        &data,
        &["--json", "audit", "list", "--action", "user."],
        None,
    );
    let v: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let actions: Vec<&str> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "user.add",
            "user.change",
            "user.freeze",
            "user.unfreeze",
            "user.reset_totp"
        ]
    );
    // A bad config names the file and the field.
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "listen = \"127.0.0.1:1\"\n[security]\nsession_idle_minutes = \"soon\"\n",
    )
    .unwrap();
    let (code, out) = run(&data, &["serve", "--config", cfg.to_str().unwrap()], None);
    assert_eq!(code, 2);
    assert!(
        out.contains("bad.toml") && out.contains("session_idle_minutes"),
        "{out}"
    );
}
