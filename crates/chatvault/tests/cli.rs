//! The real `chatvault` binary, end to end.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chatvault"));
    for k in [
        "CHATVAULT_KEY",
        "CHATVAULT_PASSPHRASE",
        "CHATVAULT_DATA",
        "CHATVAULT_NEW_KEY",
    ] {
        c.env_remove(k);
    }
    c
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let e = Env {
            dir: tempfile::tempdir().expect("tmp"),
        };
        let out = e.run(&["init", "--json"]);
        assert!(
            out.status.success(),
            "init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        e
    }
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    fn run(&self, args: &[&str]) -> Output {
        bin()
            .arg("--data")
            .arg(self.data())
            .args(args)
            .output()
            .expect("run chatvault")
    }
    fn json(&self, args: &[&str]) -> (i32, Value) {
        let out = self.run(args);
        let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: stdout is not JSON ({e}): {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), v)
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

const GOOD: &str = r#"{"platform":"wecom","conversation_id":"c-1","conversation_title":"客户 王女士","conversation_kind":"direct","source_id":"m-1","sender_id":"u-7","sender_name":"张三","sender_role":"agent","sent_at":"2024-03-01T09:15:02+08:00","kind":"text","text":"您好，请问有什么可以帮您？","reply_to":null,"attachments":[]}"#;

#[test]
fn the_whole_cli() {
    let e = Env::new();
    let lines = [
        GOOD.to_owned(),
        r#"{"platform":"wecom","conversation_id":"c-1","source_id":"m-2","sender_id":"c-9","sender_name":"王女士","sender_role":"customer","sent_at":"2024-03-01T09:15:40+08:00","text":"我想申请退款，订单待处理中"}"#.to_owned(),
        "{\"platform\": 7}".to_owned(),
        r#"{"platform":"wecom","conversation_id":"c-1","source_id":"m-3","sender_id":"u-7","sender_name":"张三","sender_role":"agent","sent_at":"2024-03-01T09:16:10+08:00","text":"好的，退款已提交，安装简单的话也可以换货"}"#.to_owned(),
        r#"{"platform":"whatsapp","conversation_id":"+8613800000000","source_id":"w-1","sender_id":"+8613800000000","sent_at":"2024-02-01T10:00:00Z","text":"<script>alert(1)</script> \u001b[2J refund please"}"#.to_owned(),
        // Truncated last line, no newline.
        GOOD[..60].to_owned(),
    ];
    let f = e.write("in.jsonl", &lines.join("\n"));
    let (code, r) = e.json(&["import", s(&f), "--json"]);
    assert_eq!(code, 0);
    assert_eq!(r["stored"], 4);
    assert_eq!(r["duplicates"], 0);
    assert_eq!(r["conversations"], 2);
    let rejected = r["rejected"].as_array().expect("rejected");
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0]["line"], 3);
    assert_eq!(rejected[0]["file"], s(&f));
    assert!(rejected[0]["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("platform"));
    assert_eq!(
        rejected[1]["line"], 6,
        "the truncated last line is rejected, not half-stored"
    );

    let (_, again) = e.json(&["import", s(&f), "--json"]);
    assert_eq!(
        (again["stored"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(4))
    );

    let (code, r) = e.json(&[
        "search",
        "退款",
        "--from",
        "2024-03-01",
        "--to",
        "2024-03-01",
        "--tz",
        "Asia/Shanghai",
        "--sender",
        "张三",
        "--json",
    ]);
    assert_eq!(code, 0);
    assert_eq!(r["total"], 1);
    let h = &r["hits"][0];
    for k in [
        "id",
        "conversation",
        "platform",
        "sender",
        "sent_at",
        "kind",
        "text",
        "snippet",
    ] {
        assert!(h.get(k).is_some(), "hit lacks {k}: {h}");
    }
    assert_eq!(h["conversation"], "wecom:c-1");
    assert_eq!(h["sender"], "张三");
    assert_eq!(h["kind"], "text");
    let (_, r) = e.json(&["search", "简单", "--json"]);
    assert_eq!(r["total"], 1, "简单 inside 安装简单");
    let (_, r) = e.json(&["search", "处理", "--json", "--limit", "0"]);
    assert_eq!(
        r["total"], 1,
        "处理 inside 待处理, counted even with --limit 0"
    );
    assert_eq!(r["hits"].as_array().map(Vec::len), Some(0));

    // Content is untrusted in the terminal: escape sequences never reach it raw.
    let out = e.run(&["search", "refund"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1 match"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "raw ESC in terminal output: {text:?}"
    );
    assert!(text.contains("\\u{1b}"), "{text}");

    let (code, v) = e.json(&["show", "wecom:c-1", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(v["messages"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["title"], "客户 王女士");

    let (code, v) = e.json(&["verify", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(v["ok"], true);
    assert_eq!(v["messages"], 4);
    assert!(v["checkpoints"].as_u64().unwrap_or(0) >= 1);
    assert_eq!(v["errors"].as_array().map(Vec::len), Some(0));

    let id = h["id"].as_str().expect("id").to_owned();
    let proof = e.run(&["proof", &id, "--with-content"]);
    assert!(proof.status.success());
    let pf = e.dir.path().join("proof.json");
    std::fs::write(&pf, &proof.stdout).expect("write proof");
    // verify-proof needs nothing but the file: no data folder at all.
    let out = bin()
        .args(["verify-proof", s(&pf), "--json"])
        .current_dir(e.dir.path())
        .output()
        .expect("run");
    let c: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(out.status.success(), "{c}");
    assert_eq!(c["ok"], true);
    assert_eq!(c["content_checked"], true);
    let mut forged: Value = serde_json::from_slice(&proof.stdout).expect("json");
    forged["content"]["text"] = "我不想退款".into();
    std::fs::write(&pf, forged.to_string()).expect("write");
    let out = bin().args(["verify-proof", s(&pf)]).output().expect("run");
    assert_eq!(out.status.code(), Some(1), "a forged proof fails");

    let (code, _) = e.json(&["keys", "rotate", "--json"]);
    assert_eq!(code, 0);
    let (code, v) = e.json(&["verify", "--json"]);
    assert_eq!(
        (code, v["ok"].as_bool()),
        (0, Some(true)),
        "readable after rotation"
    );
    let (code, v) = e.json(&["reindex", "--json"]);
    assert_eq!((code, v["indexed"].as_u64()), (0, Some(4)));
    let (_, r) = e.json(&["search", "退款", "--json"]);
    assert_eq!(r["total"], 2);
    let (code, st) = e.json(&["stats", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(st["messages"], 4);
    assert!(st["key_fingerprint"]
        .as_str()
        .unwrap_or_default()
        .starts_with("sha256:"));

    // Tamper with one stored byte: verify exits 1 and names the message.
    let conn =
        chatvault_store_sqlite::raw::Connection::open(e.data().join("archive.db")).expect("db");
    conn.execute(
        "UPDATE messages SET sent_at = sent_at + 1000 WHERE seq = 1",
        [],
    )
    .expect("tamper");
    let tampered: Vec<u8> = conn
        .query_row("SELECT id FROM messages WHERE seq = 1", [], |r| r.get(0))
        .expect("id");
    drop(conn);
    let (code, v) = e.json(&["verify", "--json"]);
    assert_eq!(code, 1);
    assert_eq!(v["ok"], false);
    let named = v["errors"][0]["message_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let out = e.run(&["search", "", "--json", "--limit", "10"]);
    let all: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        all["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .any(|h| h["id"] == named.as_str()),
        "named id {named} is a real message"
    );
    assert_eq!(tampered.len(), 16);
}

#[test]
fn errors_are_clear_and_coded() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("nothing-here");
    let out = bin()
        .arg("--data")
        .arg(&data)
        .args(["search", "x", "--json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["error"]["code"], "archive.missing");
    let out = bin()
        .arg("--data")
        .arg(&data)
        .args(["stats"])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("chatvault init"));

    let e = Env::new();
    let (code, v) = e.json(&["init", "--json"]);
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (2, Some("archive.exists"))
    );
    let (code, v) = e.json(&["search", "\"open", "--json"]);
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (2, Some("query.invalid"))
    );
    let (code, v) = e.json(&["search", "x", "--from", "yesterday", "--json"]);
    assert_eq!(code, 2, "{v}");
    let (code, v) = e.json(&["import", "/nonexistent/file.jsonl", "--json"]);
    assert_eq!(code, 2, "{v}");
    let f = e.write("notes.txt", "just some notes\n");
    let (code, v) = e.json(&["import", s(&f), "--json"]);
    assert_eq!(code, 2);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("--format"),
        "{v}"
    );
    let (code, _) = e.json(&["show", "wecom:none", "--json"]);
    assert_eq!(code, 2);
}

#[test]
fn kill_dash_nine_mid_import_loses_nothing_acknowledged() {
    let e = Env::new();
    let total = 120_000usize;
    let path = e.dir.path().join("big.jsonl");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
        let opts = chatvault_gen::GenOptions {
            messages: total,
            seed: 99,
            ..Default::default()
        };
        for l in chatvault_gen::Generator::new(opts, None) {
            writeln!(w, "{l}").expect("write");
        }
    }
    for round in 0..2 {
        let mut child = bin()
            .arg("--data")
            .arg(e.data())
            .args(["import", s(&path), "--json", "--progress", "json"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stderr = child.stderr.take().expect("stderr");
        let mut acknowledged = 0u64;
        let mut commits = 0;
        for line in BufReader::new(stderr).lines() {
            let line = line.expect("line");
            let v: Value = match serde_json::from_str(&line) {
                Ok(v) => v,
                Err(_) => continue,
            };
            if v["event"] == "committed" {
                acknowledged = v["log_size"].as_u64().expect("log_size");
                commits += 1;
                // Kill at a different point each round, mid-stream.
                if commits == 3 + round * 7 {
                    child.kill().expect("kill -9");
                    break;
                }
            }
        }
        let status = child.wait().expect("wait");
        assert!(
            !status.success(),
            "round {round}: the import finished before it was killed"
        );
        assert!(acknowledged > 0);
        let (_, st) = e.json(&["stats", "--json"]);
        let stored = st["messages"].as_u64().expect("messages");
        assert!(
            stored >= acknowledged,
            "round {round}: {stored} stored < {acknowledged} acknowledged"
        );
        let (code, v) = e.json(&["verify", "--json"]);
        assert_eq!(code, 0, "round {round}: verify after kill -9: {v}");
    }
    let (code, r) = e.json(&["import", s(&path), "--json"]);
    assert_eq!(code, 0);
    let (stored, dups) = (
        r["stored"].as_u64().expect("n"),
        r["duplicates"].as_u64().expect("n"),
    );
    assert_eq!(stored + dups, total as u64, "every record accounted for");
    assert_eq!(r["rejected"].as_array().map(Vec::len), Some(0));
    let (_, st) = e.json(&["stats", "--json"]);
    assert_eq!(
        st["messages"].as_u64(),
        Some(total as u64),
        "nothing stored twice, nothing lost"
    );
    assert_eq!(
        st["indexed_messages"].as_u64(),
        Some(total as u64),
        "the index caught up"
    );
    let (code, v) = e.json(&["verify", "--json"]);
    assert_eq!(
        (code, v["ok"].as_bool(), v["unsigned_tail"].as_u64()),
        (0, Some(true), Some(0))
    );
}

#[test]
fn demo_runs() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = bin()
        .args(["demo", "--messages", "800", "--json", "--no-serve"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["stored"], 800);
    assert_eq!(v["verify_ok"], true);
    assert_eq!(v["proof_ok"], true);
    assert!(
        v["searches"][1]["total"].as_u64().unwrap_or(0) > 0,
        "简单 found: {v}"
    );
    let logins = v["logins"].as_array().expect("demo accounts");
    assert_eq!(logins.len(), 7, "one per role, two agents: {v}");
    assert!(logins.iter().all(
        |l| l["user"].as_str().is_some_and(|u| u.starts_with("demo-"))
            && l["password"].as_str().is_some_and(|p| p.len() >= 12)
    ));
    // Running it again replaces the earlier demo.
    let again = bin()
        .args(["demo", "--messages", "100", "--json", "--no-serve"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert!(again.status.success());
    // But it never replaces a folder that is not a demo.
    std::fs::create_dir(dir.path().join("mine")).expect("mkdir");
    let refuse = bin()
        .args(["demo", "--dir", "mine", "--no-serve"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert_eq!(refuse.status.code(), Some(2));
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../chatvault-import/tests/fixtures"
    ))
    .join(rel)
}

fn stored_total(e: &Env) -> u64 {
    let (_, stats) = e.json(&["stats", "--json"]);
    stats["messages"].as_u64().expect("messages")
}

#[test]
fn real_exports_import_once_and_overlap_adds_only_the_new() {
    let e = Env::new();
    let zip = fixture("whatsapp/pustur-website__whatsapp-chat-parser-example.zip");
    let slack = fixture("slack/slack-export-viewer__testarchive.zip");
    let (code, r) = e.json(&[
        "import",
        s(&zip),
        s(&slack),
        "--tz",
        "Europe/Rome",
        "--json",
    ]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        (r["stored"].as_u64(), r["rejected_count"].as_u64()),
        (Some(52 + 158), Some(0)),
        "{r}"
    );
    assert_eq!(r["timezone"], "Europe/Rome (from --tz)");
    assert_eq!(r["inputs"][0]["format"], "whatsapp");
    assert_eq!(r["inputs"][1]["format"], "slack");
    // The same exports again: nothing is stored twice.
    let (_, again) = e.json(&[
        "import",
        s(&zip),
        s(&slack),
        "--tz",
        "Europe/Rome",
        "--json",
    ]);
    assert_eq!(
        (again["stored"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(210)),
        "{again}"
    );
    // An older, shorter export and then a newer, longer one of the same WhatsApp chat.
    let full: String = (0..30)
        .map(|i| format!("{:02}/01/2024, 10:{:02} - 张三: 第{i}条\n", 13 + i % 10, i))
        .collect();
    let older: String = full.lines().take(12).map(|l| format!("{l}\n")).collect();
    let old_path = e.write("WhatsApp Chat with 张三.txt", &older);
    let (_, first) = e.json(&["import", s(&old_path), "--tz", "Asia/Shanghai", "--json"]);
    assert_eq!(first["stored"].as_u64(), Some(12), "{first}");
    std::fs::write(&old_path, &full).expect("write newer export");
    let (_, second) = e.json(&["import", s(&old_path), "--tz", "Asia/Shanghai", "--json"]);
    assert_eq!(
        (second["stored"].as_u64(), second["duplicates"].as_u64()),
        (Some(18), Some(12)),
        "{second}"
    );
    // Attachments in the zip were stored encrypted; verify still passes.
    let out = e.run(&["verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (_, stats) = e.json(&["stats", "--json"]);
    assert_eq!(stats["attachments"].as_u64(), Some(4), "{stats}");
}

#[test]
fn hostile_and_unusable_inputs_are_refused_before_anything_is_written() {
    let e = Env::new();
    let dir = e.dir.path();
    let write_zip = |name: &str, entry: &str, bytes: &[u8]| {
        let p = dir.join(name);
        let mut w = zip::ZipWriter::new(std::fs::File::create(&p).expect("zip"));
        w.start_file(entry, zip::write::SimpleFileOptions::default())
            .expect("entry");
        w.write_all(bytes).expect("write");
        w.finish().expect("finish");
        p
    };
    let good = e.write("good.jsonl", GOOD);
    let slip = write_zip("slip.zip", "../../etc/cron.d/evil", b"x");
    let bomb = write_zip("bomb.zip", "_chat.txt", &vec![b'0'; 32 << 20]);
    let csv = e.write("plain.csv", "a,b,c\n1,2,3\n");
    let unknown = e.write("notes.txt", "just some notes\nnothing else\n");
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        ("zip_slip", vec![s(&good), s(&slip)], "outside the archive"),
        ("zip_bomb", vec![s(&good), s(&bomb)], "zip bomb"),
        ("csv_without_map", vec![s(&good), s(&csv)], "--map"),
        (
            "unrecognised",
            vec![s(&good), s(&unknown)],
            "no importer recognises",
        ),
        ("folder", vec![s(&good), s(dir)], "is a folder"),
        (
            "bad_zone",
            vec![s(&good), "--tz", "Mars/Olympus"],
            "unknown zone",
        ),
        (
            "unknown_format",
            vec![s(&good), "--format", "icq"],
            "unknown format",
        ),
    ];
    for (name, args, want) in cases {
        let mut full = vec!["import"];
        full.extend(args);
        let out = e.run(&full);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(want), "{name}: {err}");
        assert_eq!(stored_total(&e), 0, "{name}: nothing was written");
    }
}

#[test]
fn self_name_and_machine_zone() {
    let e = Env::new();
    let chat = e.write(
        "chat.md",
        "[2024-01-02 10:00:01] You: 我自己\n[2024-01-02 10:00:02] Ann: hi\n",
    );
    let out = bin()
        .arg("--data")
        .arg(e.data())
        .args(["import", s(&chat), "--self", "李雷", "--json"])
        .env("TZ", "Asia/Tokyo")
        .output()
        .expect("run");
    let r: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(r["timezone"], "Asia/Tokyo (from $TZ)");
    let (_, hits) = e.json(&["search", "我自己", "--json"]);
    assert_eq!(hits["hits"][0]["sender_id"], "李雷");
    assert_eq!(hits["hits"][0]["sent_at"], "2024-01-02T10:00:01+09:00");
}

/// `chatvault … | head -c 100`: the reader closes the pipe early. Every command ends
/// quietly: exit 0, no panic, no backtrace, nothing on stderr.
#[test]
fn a_closed_stdout_ends_quietly() {
    let e = Env::new();
    let mut jsonl = String::new();
    for i in 0..3000 {
        jsonl.push_str(
            &GOOD
                .replace("\"m-1\"", &format!("\"m-{i}\""))
                .replace("您好", &format!("您好 {i}")),
        );
        jsonl.push('\n');
    }
    let file = e.write("many.jsonl", &jsonl);
    assert!(e.run(&["import", s(&file)]).status.success());
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("search_text", vec!["search", "您好", "--limit", "3000"]),
        (
            "search_json",
            vec!["search", "您好", "--limit", "3000", "--json"],
        ),
        ("show", vec!["show", "wecom:c-1", "--limit", "3000"]),
        (
            "show_json",
            vec!["show", "wecom:c-1", "--limit", "3000", "--json"],
        ),
    ];
    for (name, args) in cases {
        let mut child = bin()
            .arg("--data")
            .arg(e.data())
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut first = [0u8; 100];
        let mut out = child.stdout.take().expect("stdout");
        std::io::Read::read_exact(&mut out, &mut first).expect("the first 100 bytes");
        drop(out);
        let done = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert!(
            done.status.success(),
            "{name}: exit {:?}, stderr: {stderr}",
            done.status.code()
        );
        assert!(stderr.is_empty(), "{name}: stderr: {stderr}");
    }
}

/// A WhatsApp line that looks like a header but cannot be one is reported, and the
/// import report counts it.
#[test]
fn header_like_lines_are_counted_in_the_import_report() {
    let e = Env::new();
    let chat = e.write(
        "WhatsApp Chat with Ann.txt",
        "13/01/2024, 10:00 - Ann: first\n13/01/2024, 25:61 - Ann: an hour no clock shows\n13/01/2024, 10:02 - Bob: second\n13/01/2024, 10:03 Bob: no dash\n",
    );
    let (code, v) = e.json(&["import", s(&chat), "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["stored"], 2, "{v}");
    assert_eq!(v["header_like"], 2, "{v}");
    assert_eq!(v["rejected"][0]["line"], 2, "{v}");
    assert_eq!(v["rejected"][0]["header_like"], true, "{v}");
    assert_eq!(v["warnings"][0]["line"], 4, "{v}");
    let text = String::from_utf8_lossy(&e.run(&["import", s(&chat)]).stdout).into_owned();
    assert!(
        text.contains("2 line(s) look like a message header"),
        "{text}"
    );
}
