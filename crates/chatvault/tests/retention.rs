//! Retention through the real binary: policies, tag rules, locks, legal holds and the
//! dry-run plan over an imported archive.

// Tests stop at the first broken expectation; unwrap is how they say so.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    /// Exit code, stdout and stderr.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
        let mut c = Command::new(env!("CARGO_BIN_EXE_chatvault"));
        for k in [
            "CHATVAULT_KEY",
            "CHATVAULT_PASSPHRASE",
            "CHATVAULT_DATA",
            "CHATVAULT_CONFIG",
        ] {
            c.env_remove(k);
        }
        c.arg("--data")
            .arg(self.data())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        if let Some(s) = stdin {
            let _ = child.stdin.take().unwrap().write_all(s.as_bytes());
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args, None);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        out
    }
    fn plan(&self, at: &str) -> Value {
        serde_json::from_str(&self.ok(&["--json", "retention", "plan", "--at", at])).unwrap()
    }
}

/// Three conversations sent on 2026-01-01: an ordinary one, a complaint, and one that a
/// case will concern.
fn env() -> Env {
    let e = Env {
        dir: tempfile::tempdir().unwrap(),
    };
    e.ok(&["init"]);
    let t = "2026-01-01T10:00:00+08:00";
    let lines = [
        json!({"platform":"wecom","conversation_id":"plain","source_id":"p1","sender_id":"cust-1","sent_at":t,"text":"请问发票怎么开"}),
        json!({"platform":"wecom","conversation_id":"angry","source_id":"a1","sender_id":"cust-2","sent_at":t,"text":"我要投诉你们"}),
        json!({"platform":"qq","conversation_id":"case","source_id":"c1","sender_id":"cust-3","sent_at":t,"text":"你们违约了，我要求赔偿"}),
        json!({"platform":"qq","conversation_id":"case","source_id":"c2","sender_id":"a-1","sent_at":t,"text":"我们会处理"}),
    ];
    let f = e.dir.path().join("m.jsonl");
    std::fs::write(
        &f,
        lines
            .iter()
            .map(|v| v.to_string() + "\n")
            .collect::<String>(),
    )
    .unwrap();
    e.ok(&["import", f.to_str().unwrap()]);
    for (u, r) in [("lisa", "legal"), ("boss", "executive"), ("ann", "agent")] {
        let (code, out, err) = e.run(
            &["user", "add", u, "--role", r],
            Some("correct horse battery"),
        );
        assert_eq!(code, 0, "{out}{err}");
    }
    e
}

fn verdicts(plan: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = plan["expired"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["conversation"].as_str().unwrap().to_owned(),
                e["policy"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn policies_tags_holds_and_the_plan() {
    let e = env();
    // The default keeps 180 days: by 2026-05-01 nothing is due, by 2026-07-01 everything.
    assert_eq!(e.plan("2026-05-01")["summary"]["expired"], 0);
    let p = e.plan("2026-07-01");
    assert_eq!(p["summary"]["expired"], 4);
    assert_eq!(p["summary"]["expired_by_policy"]["default"], 4);

    // Complaints (tagged by keyword) are kept a year.
    e.ok(&[
        "retention",
        "tag-rule",
        "complaint",
        "--keyword",
        "投诉",
        "--keyword",
        "差评",
    ]);
    e.ok(&[
        "retention",
        "set",
        "complaints",
        "--keep",
        "365",
        "--tag",
        "complaint",
    ]);
    let p = e.plan("2026-07-01");
    assert_eq!(
        verdicts(&p),
        [
            ("qq:case".to_owned(), "default".to_owned()),
            ("qq:case".into(), "default".into()),
            ("wecom:plain".into(), "default".into())
        ]
    );
    // A shorter policy never shortens the default.
    e.ok(&[
        "retention",
        "set",
        "qq-short",
        "--keep",
        "30",
        "--platform",
        "qq",
    ]);
    assert_eq!(
        e.plan("2026-03-01")["summary"]["expired"],
        0,
        "30 days on qq does not beat the 180-day default"
    );

    // Locked: extend yes, shorten or remove never, and each refusal is an error with its code.
    e.ok(&["retention", "lock", "complaints"]);
    let cases: &[(&str, &[&str], i32, &str)] = &[
        (
            "shorten a locked policy",
            &[
                "retention",
                "set",
                "complaints",
                "--keep",
                "30",
                "--tag",
                "complaint",
            ],
            2,
            "retention.locked",
        ),
        (
            "change its filters",
            &[
                "retention",
                "set",
                "complaints",
                "--keep",
                "400",
                "--tag",
                "other",
            ],
            2,
            "retention.locked",
        ),
        (
            "remove it",
            &["retention", "remove", "complaints"],
            2,
            "retention.locked",
        ),
        (
            "remove the default",
            &["retention", "remove", "default"],
            2,
            "policy.invalid",
        ),
        (
            "a policy matching everything",
            &["retention", "set", "all", "--keep", "10"],
            2,
            "policy.invalid",
        ),
        (
            "a bad keep",
            &["retention", "set", "x", "--keep", "1y", "--platform", "qq"],
            2,
            "policy.invalid",
        ),
        (
            "extend it",
            &[
                "retention",
                "set",
                "complaints",
                "--keep",
                "forever",
                "--tag",
                "complaint",
            ],
            0,
            "forever",
        ),
    ];
    for (name, args, code, want) in cases {
        let (c, out, err) = e.run(args, None);
        assert_eq!(c, *code, "{name}: {out}{err}");
        assert!(
            out.contains(want) || err.contains(want),
            "{name}: {out}{err}"
        );
    }

    // A legal hold beats every policy until a second person approves its release.
    let (code, out, err) = e.run(
        &[
            "--json",
            "hold",
            "add",
            "--as",
            "ann",
            "--case-number",
            "C-1",
            "--reason",
            "诉讼",
            "--conversation",
            "qq:case",
        ],
        None,
    );
    assert_eq!(code, 2, "an agent cannot place a hold: {out}{err}");
    let h: Value = serde_json::from_str(&e.ok(&[
        "--json",
        "hold",
        "add",
        "--as",
        "lisa",
        "--case-number",
        "（2026）京0105民初123号",
        "--reason",
        "诉讼保全",
        "--participant",
        "qq:cust-3",
        "--keyword",
        "违约",
    ]))
    .unwrap();
    let id = h["id"].as_str().unwrap().to_owned();
    let p = e.plan("2030-01-01");
    assert_eq!(
        p["summary"]["held"], 1,
        "the message holding the keyword, from that participant's conversation"
    );
    assert_eq!(p["summary"]["held_by_hold"][&id], 1);
    assert_eq!(
        p["summary"]["expired"], 2,
        "the other case message and the plain one; the complaint is kept forever"
    );
    e.ok(&["hold", "release", &id, "--as", "lisa", "--reason", "结案"]);
    let (code, _, err) = e.run(&["hold", "approve-release", &id, "--as", "lisa"], None);
    assert!(code == 2 && err.contains("policy.self_approval"), "{err}");
    assert_eq!(
        e.plan("2030-01-01")["summary"]["held"],
        1,
        "still held until approved"
    );
    e.ok(&["hold", "approve-release", &id, "--as", "boss"]);
    assert_eq!(e.plan("2030-01-01")["summary"]["held"], 0);

    // Hand-set tags: a conversation tagged as a complaint is kept like one.
    e.ok(&["retention", "tag", "wecom:plain", "complaint"]);
    assert_eq!(
        e.plan("2030-01-01")["summary"]["expired"],
        2,
        "only the two case messages are left to expire"
    );

    // Every step is in the audit trail, refusals included.
    let audit: Value = serde_json::from_str(&e.ok(&["--json", "audit", "list"])).unwrap();
    let entries = audit["entries"].as_array().unwrap();
    let count = |action: &str, result: &str| {
        entries
            .iter()
            .filter(|x| x["action"] == action && x["result"] == result)
            .count()
    };
    // (A keep that does not parse is refused by the CLI before any change is attempted.)
    assert_eq!(
        count("retention.policy_set", "denied"),
        3,
        "shorten, filters, everything"
    );
    assert_eq!(count("retention.policy_remove", "denied"), 2);
    assert_eq!(count("retention.policy_lock", "ok"), 1);
    assert_eq!(count("hold.create", "denied"), 1);
    assert_eq!(count("hold.release", "ok"), 1);
    assert!(count("retention.plan", "ok") >= 8);
    let (code, out, _) = e.run(&["audit", "verify"], None);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn the_human_plan_names_what_goes_and_why() {
    let e = env();
    let out = e.ok(&["retention", "plan", "--at", "2026-07-01", "--limit", "1"]);
    assert!(out.contains("a dry run: nothing is deleted"), "{out}");
    assert!(out.contains("4 due for deletion"), "{out}");
    assert!(
        out.contains("DELETE ") && out.contains("policy default"),
        "{out}"
    );
    assert!(out.contains("and 3 more due"), "{out}");
    // The dry run deleted nothing.
    let stats: Value = serde_json::from_str(&e.ok(&["--json", "stats"])).unwrap();
    assert_eq!(stats["messages"], 4);
}

#[test]
fn manual_deletion_needs_two_people_respects_holds_and_recovers() {
    let e = env();
    let (code, out, err) = e.run(
        &["user", "add", "root", "--role", "admin"],
        Some("correct horse battery"),
    );
    assert_eq!(code, 0, "{out}{err}");
    let search = |q: &str| -> u64 {
        let v: Value = serde_json::from_str(&e.ok(&["--json", "search", q])).unwrap();
        v["total"].as_u64().unwrap()
    };
    assert_eq!(search("我们会处理"), 1);
    // A hold on the case's keyword message keeps it even from an approved deletion.
    e.ok(&[
        "hold",
        "add",
        "--as",
        "lisa",
        "--case-number",
        "C-9",
        "--reason",
        "诉讼",
        "--conversation",
        "qq:case",
        "--keyword",
        "违约",
    ]);
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "no selector",
            &["delete", "request", "--as", "lisa", "--reason", "r"],
            "exactly one of",
        ),
        (
            "two selectors",
            &[
                "delete",
                "request",
                "--as",
                "lisa",
                "--conversation",
                "qq:case",
                "--query",
                "x",
                "--reason",
                "r",
            ],
            "exactly one of",
        ),
        (
            "unknown conversation",
            &[
                "delete",
                "request",
                "--as",
                "lisa",
                "--conversation",
                "qq:nope",
                "--reason",
                "r",
            ],
            "not_found",
        ),
        (
            "selects nothing",
            &[
                "delete",
                "request",
                "--as",
                "lisa",
                "--query",
                "不存在的词",
                "--reason",
                "r",
            ],
            "selects no message",
        ),
        (
            "an agent",
            &[
                "delete",
                "request",
                "--as",
                "ann",
                "--conversation",
                "qq:case",
                "--reason",
                "r",
            ],
            "input.invalid",
        ),
    ];
    for (name, args, want) in cases {
        let (code, out, err) = e.run(args, None);
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(err.contains(want), "{name}: {err}");
    }
    let r: Value = serde_json::from_str(&e.ok(&[
        "--json",
        "delete",
        "request",
        "--as",
        "lisa",
        "--conversation",
        "qq:case",
        "--reason",
        "当事人申请删除",
    ]))
    .unwrap();
    let id = r["id"].as_str().unwrap().to_owned();
    assert_eq!(r["messages"].as_array().unwrap().len(), 2);
    let (code, _, err) = e.run(&["delete", "approve", &id, "--as", "lisa"], None);
    assert!(
        code == 2 && err.contains("input.invalid"),
        "legal may not approve: {err}"
    );
    assert_eq!(
        search("我们会处理"),
        1,
        "nothing happens before the approval"
    );
    let x: Value =
        serde_json::from_str(&e.ok(&["--json", "delete", "approve", &id, "--as", "boss"])).unwrap();
    assert_eq!(x["done"], 1, "{x}");
    assert_eq!(
        x["held"].as_array().unwrap().len(),
        1,
        "the held message stays: {x}"
    );
    assert_eq!(search("我们会处理"), 0, "deleted: searchable by no one");
    assert_eq!(search("违约"), 1, "held: still there");
    let (code, _, err) = e.run(&["delete", "approve", &id, "--as", "root"], None);
    assert!(
        code == 2 && err.contains("policy.state"),
        "decided once: {err}"
    );

    // Recovery, also by two people, inside the window.
    let list: Value = serde_json::from_str(&e.ok(&["--json", "delete", "list"])).unwrap();
    let gone = list["deletions"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list["deletions"][0]["state"], "deleted");
    let rec: Value = serde_json::from_str(&e.ok(&[
        "--json",
        "delete",
        "recover",
        "--as",
        "root",
        "--message",
        &gone,
        "--reason",
        "误删",
    ]))
    .unwrap();
    let rid = rec["id"].as_str().unwrap().to_owned();
    e.ok(&["delete", "approve", &rid, "--as", "boss"]);
    assert_eq!(search("我们会处理"), 1, "recovered");

    // Delete again, then purge after the window: the tombstone remains and verify passes.
    let r: Value = serde_json::from_str(&e.ok(&[
        "--json",
        "delete",
        "request",
        "--as",
        "root",
        "--message",
        &gone,
        "--reason",
        "依法删除",
    ]))
    .unwrap();
    e.ok(&[
        "delete",
        "approve",
        r["id"].as_str().unwrap(),
        "--as",
        "boss",
    ]);
    let early: Value = serde_json::from_str(&e.ok(&["--json", "delete", "purge"])).unwrap();
    assert_eq!(early["purged"], 0, "inside the 30-day window");
    let later = (chrono::Utc::now() + chrono::Duration::days(31)).to_rfc3339();
    let p: Value =
        serde_json::from_str(&e.ok(&["--json", "delete", "purge", "--at", &later])).unwrap();
    assert_eq!(p["purged"], 1);
    let v: Value = serde_json::from_str(&e.ok(&["--json", "verify"])).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["purged"], 1);
    let list: Value = serde_json::from_str(&e.ok(&["--json", "delete", "list"])).unwrap();
    let t = &list["deletions"][0];
    assert_eq!(
        (t["state"].as_str(), t["reason"]["approved_by"].as_str()),
        (Some("purged"), Some("boss")),
        "{t}"
    );
    assert!(t["reason"]["rule"]
        .as_str()
        .unwrap()
        .starts_with("request:del-"));
    let (code, _, err) = e.run(&["--json", "show", "qq:case"], None);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_sweep_deletes_what_expired_keeps_what_is_held_and_writes_a_report() {
    let e = env();
    e.ok(&[
        "hold",
        "add",
        "--as",
        "lisa",
        "--case-number",
        "C-2",
        "--reason",
        "诉讼",
        "--conversation",
        "qq:case",
    ]);
    let r: Value =
        serde_json::from_str(&e.ok(&["--json", "retention", "sweep", "--at", "2026-07-01"]))
            .unwrap();
    assert_eq!(r["plan"]["expired"], 2, "{r}");
    assert_eq!(r["plan"]["held"], 2);
    assert_eq!(r["deleted"]["default"], 2);
    assert_eq!(r["purge"]["purged"], 0, "recoverable for 30 days first");
    let file = r["report_file"].as_str().unwrap();
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(saved["deleted"]["default"], 2);
    assert!(file.contains("/reports/sweep-"), "{file}");
    // A month later the next sweep purges them; the held conversation stays.
    let r: Value =
        serde_json::from_str(&e.ok(&["--json", "retention", "sweep", "--at", "2026-08-15"]))
            .unwrap();
    assert_eq!(
        (r["plan"]["deleted"].as_u64(), r["purge"]["purged"].as_u64()),
        (Some(2), Some(2)),
        "{r}"
    );
    assert_eq!(
        r["purge"]["conversations_shredded"], 2,
        "both conversations wholly gone: their keys destroyed"
    );
    let v: Value = serde_json::from_str(&e.ok(&["--json", "verify"])).unwrap();
    assert_eq!(
        (v["ok"].as_bool(), v["purged"].as_u64()),
        (Some(true), Some(2)),
        "{v}"
    );
    let s: Value = serde_json::from_str(&e.ok(&["--json", "search", "我们会处理"])).unwrap();
    assert_eq!(s["total"], 1, "held");
    let audit: Value =
        serde_json::from_str(&e.ok(&["--json", "audit", "list", "--action", "retention.sweep"]))
            .unwrap();
    assert_eq!(audit["entries"].as_array().unwrap().len(), 2);
}

#[test]
fn serve_sweeps_on_its_schedule() {
    let e = env();
    // Every two seconds, so the test need not wait for 22:00.
    let cfg = e.dir.path().join("chatvault.toml");
    std::fs::write(
        &cfg,
        "[retention]\nsweep_schedule = \"*/2 * * * * *\"\nrecover_days = 0\n",
    )
    .unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_chatvault"));
    for k in [
        "CHATVAULT_KEY",
        "CHATVAULT_PASSPHRASE",
        "CHATVAULT_DATA",
        "CHATVAULT_CONFIG",
    ] {
        c.env_remove(k);
    }
    let mut child = c
        .arg("--data")
        .arg(e.data())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--config",
            cfg.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reports = e.data().join("reports");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut found = vec![];
    while std::time::Instant::now() < deadline && found.len() < 2 {
        std::thread::sleep(std::time::Duration::from_millis(250));
        found = std::fs::read_dir(&reports)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        found.len() >= 2,
        "two scheduled sweeps wrote reports within 20 s: {found:?}"
    );
    found.sort();
    let first: Value = serde_json::from_str(&std::fs::read_to_string(&found[0]).unwrap()).unwrap();
    assert_eq!(first["by"], "system:retention-schedule");
    assert_eq!(
        first["deleted"]["default"], 4,
        "the 2026-01-01 messages are past 180 days: {first}"
    );
    assert_eq!(
        first["purge"]["purged"], 4,
        "recover_days = 0: purged in the same sweep: {first}"
    );
    let second: Value = serde_json::from_str(&std::fs::read_to_string(&found[1]).unwrap()).unwrap();
    assert_eq!(
        second["plan"]["deleted"], 4,
        "the next sweep finds them deleted already: {second}"
    );
    let v: Value = serde_json::from_str(&e.ok(&["--json", "verify"])).unwrap();
    assert_eq!(
        (v["ok"].as_bool(), v["purged"].as_u64()),
        (Some(true), Some(4)),
        "{v}"
    );
}

#[test]
fn a_bad_schedule_is_refused_with_its_field() {
    let e = env();
    let cfg = e.dir.path().join("bad.toml");
    std::fs::write(&cfg, "[retention]\nsweep_schedule = \"every night\"\n").unwrap();
    let (code, _, err) = e.run(
        &[
            "serve",
            "--config",
            cfg.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("retention.sweep_schedule") && err.contains("every night"),
        "{err}"
    );
}

/// kill -9 at any moment of a sweep (deleting, then purging): each message is either
/// purged wholly (content gone and a tombstone) or not at all, and verify passes.
#[test]
fn kill_dash_nine_mid_sweep_leaves_each_message_whole() {
    let e = Env {
        dir: tempfile::tempdir().unwrap(),
    };
    e.ok(&["init"]);
    let lines: Vec<String> = chatvault_gen::Generator::new(
        chatvault_gen::GenOptions {
            messages: 40_000,
            seed: 5,
            ..Default::default()
        },
        None,
    )
    .collect();
    let f = e.dir.path().join("g.jsonl");
    std::fs::write(&f, lines.join("\n") + "\n").unwrap();
    e.ok(&["import", f.to_str().unwrap()]);
    e.ok(&["retention", "set", "default", "--keep", "1"]);
    let check = |round: &str| {
        let v: Value = serde_json::from_str(&e.ok(&["--json", "verify"])).unwrap();
        assert_eq!(v["ok"], true, "{round}: {v}");
        let db =
            chatvault_store_sqlite::raw::Connection::open(e.data().join("archive.db")).unwrap();
        let half: i64 = db
            .query_row(
                "SELECT count(*) FROM messages m LEFT JOIN deletions d ON d.seq = m.seq WHERE (m.body IS NULL) <> (d.state IS NOT NULL AND d.state = 2)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(half, 0, "{round}: a message is half purged");
        let purged: i64 = db
            .query_row("SELECT count(*) FROM deletions WHERE state = 2", [], |r| {
                r.get(0)
            })
            .unwrap();
        purged
    };
    let run_killed = |args: &[&str], recover_days: &str, delay_ms: u64| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_chatvault"));
        for k in [
            "CHATVAULT_KEY",
            "CHATVAULT_PASSPHRASE",
            "CHATVAULT_DATA",
            "CHATVAULT_CONFIG",
        ] {
            c.env_remove(k);
        }
        let mut child = c
            .env("CHATVAULT_RETENTION__RECOVER_DAYS", recover_days)
            .arg("--data")
            .arg(e.data())
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
    };
    let deleted = || -> i64 {
        let db =
            chatvault_store_sqlite::raw::Connection::open(e.data().join("archive.db")).unwrap();
        db.query_row("SELECT count(*) FROM deletions", [], |r| r.get(0))
            .unwrap()
    };
    // 1. Kills while a sweep deletes (recoverably: the window is 30 days).
    let mut seen = std::collections::BTreeSet::new();
    for round in 0..30u64 {
        run_killed(
            &["retention", "sweep", "--at", "2040-01-01"],
            "30",
            40 + round * 40,
        );
        assert_eq!(
            check(&format!("deleting, round {round}")),
            0,
            "nothing purged inside the window"
        );
        let d = deleted();
        seen.insert(d);
        if d == 40_000 {
            break;
        }
    }
    eprintln!("deletions seen after kills: {seen:?}");
    assert_eq!(deleted(), 40_000, "the rounds finished deleting");
    // 2. Kills while purging, at finer steps (every purge batch is one transaction).
    let mut last = 0;
    let mut seen = std::collections::BTreeSet::new();
    for round in 0..40u64 {
        run_killed(
            &["delete", "purge", "--at", "2040-03-01"],
            "30",
            30 + round * 15,
        );
        let purged = check(&format!("purging, round {round}"));
        assert!(purged >= last, "purges are never undone");
        last = purged;
        seen.insert(purged);
        if purged == 40_000 {
            break;
        }
    }
    eprintln!("purged counts seen after kills: {seen:?}");
    // Run to the end: everything purged, verify passes.
    let out = Command::new(env!("CARGO_BIN_EXE_chatvault"))
        .env_remove("CHATVAULT_CONFIG")
        .env("CHATVAULT_RETENTION__RECOVER_DAYS", "0")
        .arg("--data")
        .arg(e.data())
        .args(["retention", "sweep", "--at", "2040-03-01"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(check("finished"), 40_000);
}
