//! The web UI in real Chromium: the demo archive, hostile fixture conversations, the real
//! binary serving, and `e2e/ui.test.mjs` driving Debian's Chromium through
//! playwright-core. `.ci/run` installs Chromium, Node's playwright-core and the CJK
//! fonts first; when any is missing this test fails and names what to install (it
//! never skips).
//!
//! Screenshots of every main page land in `e2e/screenshots/`.

// Tests stop at the first broken expectation; unwrap is how they say so.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chatvault"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// What the browser test needs beyond cargo, each with how to get it.
fn missing_tools(chromium: &Path) -> Vec<String> {
    let mut missing = vec![];
    if !chromium.exists() {
        missing.push(format!(
            "Chromium at {} (apt-get install -y chromium, or set CV_CHROMIUM)",
            chromium.display()
        ));
    }
    if Command::new("node")
        .arg("--version")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        missing.push("Node.js (apt-get install -y nodejs)".into());
    }
    if !repo().join("e2e/node_modules/playwright-core").exists() {
        missing.push("playwright-core (cd e2e && npm ci)".into());
    }
    missing
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Conversations written to attack the UI, plus a second team's and a second platform's,
/// all within the last days (inside every role's window).
fn hostile_fixture(path: &Path) {
    let now = chrono::Utc::now();
    let at = |min: i64| (now - chrono::Duration::minutes(min)).to_rfc3339();
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAghnjrQAAAABJRU5ErkJggg==";
    let xss = "<script>alert('xss')</script><img src=x onerror=alert(2)> <a href=\"javascript:alert(3)\">点我</a> 我要退款 invoice\u{202E}gnp.exe";
    let (x, xt) = ("case-xss", "<script>alert(5)</script>案件 A");
    let lines = [
        json!({"platform":"wecom","conversation_id":x,"conversation_title":xt,"source_id":"x1","sender_id":"cust-9","sender_name":"<img src=x onerror=alert(4)>王女士","sender_role":"customer","sent_at":at(300),"text":xss}),
        json!({"platform":"wecom","conversation_id":x,"source_id":"x2","sender_id":"a-1001","sender_name":"张伟","sender_role":"agent","sent_at":at(299),"text":"您好，退款已受理，请提供订单号 A-1001"}),
        json!({"platform":"wecom","conversation_id":x,"source_id":"x2e","sender_id":"a-1001","sender_name":"张伟","sender_role":"agent","sent_at":at(298),"kind":"edit","target":"x2","text":"您好，退款已受理，请提供订单号 A-1002"}),
        json!({"platform":"wecom","conversation_id":x,"source_id":"x3","sender_id":"cust-9","sender_name":"王女士","sender_role":"customer","sent_at":at(297),"text":"我的手机 13800138000，发错了"}),
        json!({"platform":"wecom","conversation_id":x,"source_id":"x3r","sender_id":"cust-9","sender_name":"王女士","sender_role":"customer","sent_at":at(296),"kind":"recall","target":"x3","text":"撤回了一条消息"}),
        json!({"platform":"wecom","conversation_id":x,"source_id":"x4","sender_id":"a-1001","sender_name":"张伟","sender_role":"agent","sent_at":at(295),"kind":"image","text":"","attachments":[{"name":"退款凭证.png","mime":"image/png","data":png}]}),
        json!({"platform":"wecom","conversation_id":"other-team","conversation_title":"客户 王女士（二组）","source_id":"o1","sender_id":"cust-9","sender_name":"王女士","sender_role":"customer","sent_at":at(200),"text":"第二个订单也要退款"}),
        json!({"platform":"wecom","conversation_id":"other-team","source_id":"o2","sender_id":"a-1002","sender_name":"李娜","sender_role":"agent","sent_at":at(199),"text":"好的，二组为您处理退款"}),
        json!({"platform":"whatsapp","conversation_id":"case-wa","conversation_title":"Wang (WhatsApp)","source_id":"w1","sender_id":"+8613800138000","sender_name":"Wang","sender_role":"customer","sent_at":at(100),"text":"Where is my refund? 退款还没到"}),
        json!({"platform":"whatsapp","conversation_id":"case-wa","source_id":"w2","sender_id":"a-2001","sender_name":"Emily Chen","sender_role":"agent","sent_at":at(99),"text":"Checking the invoice now."}),
    ];
    std::fs::write(
        path,
        lines
            .iter()
            .map(|v| v.to_string() + "\n")
            .collect::<String>(),
    )
    .expect("fixture");
}

#[test]
fn web_ui_in_chromium() {
    let chromium =
        PathBuf::from(std::env::var("CV_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    let missing = missing_tools(&chromium);
    assert!(
        missing.is_empty(),
        "the browser test cannot run; missing: {} (bash .ci/run installs them)",
        missing.join("; ")
    );

    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("demo");
    let out = bin()
        .args([
            "demo",
            "--dir",
            data.to_str().unwrap(),
            "--messages",
            "1500",
            "--json",
            "--no-serve",
        ])
        .output()
        .expect("demo");
    assert!(
        out.status.success(),
        "demo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("demo json");
    let logins = report["logins"].clone();

    let fixture = dir.path().join("hostile.jsonl");
    hostile_fixture(&fixture);
    let imp = bin()
        .args([
            "--data",
            data.to_str().unwrap(),
            "import",
            fixture.to_str().unwrap(),
            "--json",
        ])
        .output()
        .expect("import");
    assert!(
        imp.status.success(),
        "import: {}",
        String::from_utf8_lossy(&imp.stderr)
    );
    let r: Value = serde_json::from_slice(&imp.stdout).expect("import json");
    assert_eq!(r["stored"], 10, "{r}");

    // An ingest token and short alert tiers, for the live-alert step.
    let tok = bin()
        .args([
            "--data",
            data.to_str().unwrap(),
            "token",
            "create",
            "demo-admin",
            "--scope",
            "ingest",
            "--source",
            "wecom",
        ])
        .output()
        .expect("token");
    assert!(
        tok.status.success(),
        "token: {}",
        String::from_utf8_lossy(&tok.stderr)
    );
    let ingest_token = String::from_utf8_lossy(&tok.stdout).trim().to_owned();
    let cfg = dir.path().join("chatvault.toml");
    std::fs::write(
        &cfg,
        "[analytics.alerts]\nblue_seconds = 1\nyellow_seconds = 3\nred_seconds = 3600\n",
    )
    .expect("config");
    let mut child = bin()
        .args([
            "--data",
            data.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--config",
            cfg.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("serve");
    let stdout = child.stdout.take().expect("stdout");
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("listening line");
    let url = line.trim().rsplit(' ').next().expect("url").to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");

    let shots = repo().join("e2e/screenshots");
    let evidence = dir.path().join("from-the-browser.zip");
    let status = Command::new("node")
        .arg(repo().join("e2e/ui.test.mjs"))
        .current_dir(repo().join("e2e"))
        .env("CV_URL", &url)
        .env("CV_LOGINS", logins.to_string())
        .env("CV_SHOTS", &shots)
        .env("CV_EVIDENCE", &evidence)
        .env("CV_INGEST", &ingest_token)
        .env("CV_CHROMIUM", &chromium)
        .status()
        .expect("node");
    drop(server);
    assert!(
        status.success(),
        "the browser test failed (see its output above); screenshots in {}",
        shots.display()
    );
    // The package legal downloaded in the browser verifies offline.
    let v = Command::new(env!("CARGO_BIN_EXE_chatvault"))
        .args(["verify"])
        .arg(&evidence)
        .output()
        .expect("verify");
    assert!(
        v.status.success(),
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
}
