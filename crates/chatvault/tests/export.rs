//! Exports through the binary: only under an export right, faithful text, Excel-safe CSV,
//! script-free HTML, masked personal data, and an audit entry with the file's hash.

// Tests stop at the first broken expectation; unwrap is how they say so.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use sha2::Digest;

mod common;

const PW: &str = "correct horse battery";

struct Env {
    dir: tempfile::TempDir,
    /// Each user's TOTP secret (legal and executive enrol at creation).
    totp: std::collections::HashMap<String, String>,
}

impl Env {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    fn run(&self, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
        self.run_env(args, stdin, &[])
    }
    fn run_env(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        env: &[(&str, &str)],
    ) -> (i32, String, String) {
        let mut c = Command::new(env!("CARGO_BIN_EXE_chatvault"));
        // Nothing of this machine's chatvault settings reaches the test
        // (`CHATVAULT_SERVER__TIMEZONE` would override the config a test writes).
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("CHATVAULT_") {
                c.env_remove(k);
            }
        }
        c.envs(env.iter().copied());
        c.arg("--data")
            .arg(self.data())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        if let Some(s) = stdin {
            use std::io::Write;
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
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

const HOSTILE: &str = "<script>alert(1)</script><img src=x onerror=alert(2)> abc\u{202E}gnp.exe";

fn env() -> Env {
    let mut e = Env {
        dir: tempfile::tempdir().unwrap(),
        totp: Default::default(),
    };
    e.ok(&["init"]);
    let now = chrono::Utc::now();
    let at = |d: i64| (now - chrono::Duration::days(d)).to_rfc3339();
    let lines = [
        json!({"platform":"wecom","conversation_id":"c1","source_id":"1","sender_id":"cust","sender_name":"王女士","sender_role":"customer","sent_at":at(3),"text":"我要退款，电话 13812345678"}),
        json!({"platform":"wecom","conversation_id":"c1","source_id":"2","sender_id":"a-1","sender_name":"张伟","sender_role":"agent","sent_at":at(3),"text":"=HYPERLINK(\"http://evil\",\"点我\")"}),
        json!({"platform":"wecom","conversation_id":"c1","source_id":"3","sender_id":"cust","sender_role":"customer","sent_at":at(2),"text":HOSTILE}),
        json!({"platform":"wecom","conversation_id":"c2","source_id":"4","sender_id":"cust2","sent_at":at(2),"text":"另一会话的退款"}),
    ];
    let f = e.path("m.jsonl");
    common::write_jsonl(&f, &lines);
    e.ok(&["import", f.to_str().unwrap()]);
    for (u, r) in [("lisa", "legal"), ("boss", "executive")] {
        let (code, out, err) = e.run(&["--json", "user", "add", u, "--role", r], Some(PW));
        assert_eq!(code, 0, "{out}{err}");
        let v: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        let uri = v["otpauth"].as_str().expect("TOTP enrolled");
        e.totp.insert(
            u.to_owned(),
            chatvault_access::users::otpauth_secret(uri).unwrap(),
        );
    }
    e
}

/// Signs `user` in to a running server: its session cookie and CSRF token.
fn sign_in(e: &Env, addr: &str, user: &str) -> (String, String) {
    let code =
        chatvault_access::users::totp_code(&e.totp[user], chrono::Utc::now().timestamp_millis())
            .unwrap();
    common::login(addr, user, PW, Some(code))
}

fn grant(e: &Env, rights: &str) {
    let from = (chrono::Utc::now() - chrono::Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    let to = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let r: Value = serde_json::from_str(&e.ok(&[
        "--json",
        "request",
        "file",
        "--as",
        "lisa",
        "--conversation",
        "wecom:c1",
        "--from",
        &from,
        "--to",
        &to,
        "--reason",
        "诉讼取证",
        "--case-number",
        "C-7",
        "--rights",
        rights,
    ]))
    .unwrap();
    let expires = (chrono::Utc::now() + chrono::Duration::days(7))
        .format("%Y-%m-%d")
        .to_string();
    e.ok(&[
        "request",
        "approve",
        r["id"].as_str().unwrap(),
        "--as",
        "boss",
        "--expires",
        &expires,
    ]);
}

fn sha_of(p: &Path) -> String {
    hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
}

#[test]
fn exports_need_the_export_right() {
    let e = env();
    let out = e.path("x.json");
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "legal without a grant",
            &[
                "export",
                "--as",
                "lisa",
                "--conversation",
                "wecom:c1",
                "--format",
                "json",
                "--out",
                out.to_str().unwrap(),
            ],
            "may export none",
        ),
        (
            "the executive reads but may not export",
            &[
                "export",
                "--as",
                "boss",
                "--conversation",
                "wecom:c1",
                "--format",
                "json",
                "--out",
                out.to_str().unwrap(),
            ],
            "may export none",
        ),
        (
            "an unknown user",
            &[
                "export",
                "--as",
                "nobody",
                "--conversation",
                "wecom:c1",
                "--format",
                "json",
                "--out",
                out.to_str().unwrap(),
            ],
            "user.missing",
        ),
        (
            "an unknown format",
            &[
                "export",
                "--as",
                "lisa",
                "--conversation",
                "wecom:c1",
                "--format",
                "xls",
                "--out",
                out.to_str().unwrap(),
            ],
            "use json, csv, html or pdf",
        ),
        (
            "no selection",
            &[
                "export",
                "--as",
                "lisa",
                "--format",
                "json",
                "--out",
                out.to_str().unwrap(),
            ],
            "exactly one of",
        ),
    ];
    for (name, args, want) in cases {
        let (code, o, err) = e.run(args, None);
        assert_eq!(code, 2, "{name}: {o}{err}");
        assert!(err.contains(want), "{name}: {err}");
        assert!(
            !out.exists() && !out.with_extension("partial").exists(),
            "{name}: no file is left"
        );
    }
    // A view-only grant does not export either.
    grant(&e, "view");
    let (code, _, err) = e.run(
        &[
            "export",
            "--as",
            "lisa",
            "--conversation",
            "wecom:c1",
            "--format",
            "json",
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(code == 2 && err.contains("may export none"), "{err}");
}

#[test]
fn every_format_is_faithful_and_safe() {
    let e = env();
    grant(&e, "view,export");
    let mut shas = vec![];
    for fmt in ["json", "csv", "html"] {
        let out = e.path(&format!("c1.{fmt}"));
        let r: Value = serde_json::from_str(&e.ok(&[
            "--json",
            "export",
            "--as",
            "lisa",
            "--conversation",
            "wecom:c1",
            "--format",
            fmt,
            "--out",
            out.to_str().unwrap(),
        ]))
        .unwrap();
        assert_eq!(
            (r["shown"].as_u64(), r["masked"].as_u64()),
            (Some(3), Some(3)),
            "{fmt}: {r}"
        );
        assert_eq!(
            r["sha256"].as_str().unwrap(),
            sha_of(&out),
            "{fmt}: the reported hash is the file's"
        );
        shas.push(r["sha256"].as_str().unwrap().to_owned());
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            !text.contains("13812345678") && text.contains("138****5678"),
            "{fmt}: personal data masked without pii.view"
        );
        match fmt {
            "json" => {
                let v: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(v["count"], 3);
                assert_eq!(v["header"]["exported_by"], "lisa");
                let texts: Vec<&str> = v["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["text"].as_str().unwrap())
                    .collect();
                assert_eq!(texts[2], HOSTILE, "JSON carries the text exactly, as data");
                assert!(
                    texts[1].starts_with("=HYPERLINK"),
                    "JSON is not a spreadsheet: unchanged"
                );
            }
            "csv" => {
                assert!(text.starts_with('\u{FEFF}'), "a UTF-8 BOM for Excel");
                assert!(
                    text.contains("\"'=HYPERLINK("),
                    "the formula is neutralised: {text}"
                );
                assert!(text.contains("我要退款"), "Chinese intact");
                assert_eq!(text.lines().count(), 4, "a header and three rows");
            }
            _ => {
                assert!(
                    !text.to_lowercase().contains("<script") && !text.contains("<img"),
                    "no live markup from content"
                );
                assert!(
                    text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                    "shown as text"
                );
                assert!(text.contains("\\u{202e}"), "the override is visible");
                assert!(
                    text.contains("Content-Security-Policy") && text.contains("default-src 'none'"),
                    "a CSP that forbids scripts"
                );
                assert!(
                    !text.contains("http://") || text.contains("http://evil"),
                    "nothing is loaded: the only URL is the message's own text"
                );
            }
        }
    }
    // Each export is audited with its hash, and the grant's use too.
    let audit: Value =
        serde_json::from_str(&e.ok(&["--json", "audit", "list", "--action", "export"])).unwrap();
    let logged: Vec<String> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["details"]["sha256"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(logged, shas);
    let uses: Value =
        serde_json::from_str(&e.ok(&["--json", "audit", "list", "--action", "grant.use"])).unwrap();
    assert_eq!(uses["entries"].as_array().unwrap().len(), 3);
}

/// The CLI and the API build exports and evidence packages through one function of the
/// application layer, so each records the same audit details, refusals included. (They
/// differed: the CLI's plain export recorded `masked` and `file`, the API's
/// `conversation`; the CLI's package named the query unmasked.)
#[test]
fn the_cli_and_the_api_audit_an_export_alike() {
    let e = env();
    grant(&e, "view,export,pii.view");
    let conv = "wecom:c1";
    let out = |n: &str| e.path(n).to_str().unwrap().to_owned();
    e.ok(&[
        "export",
        "--as",
        "lisa",
        "--conversation",
        conv,
        "--format",
        "json",
        "--out",
        &out("c.json"),
    ]);
    e.ok(&[
        "export",
        "--as",
        "lisa",
        "--conversation",
        conv,
        "--evidence",
        "--out",
        &out("c.zip"),
    ]);
    let (code, _, err) = e.run(
        &[
            "export",
            "--as",
            "boss",
            "--conversation",
            conv,
            "--format",
            "csv",
            "--out",
            &out("b.csv"),
        ],
        None,
    );
    assert!(code == 2 && err.contains("may export none"), "{err}");
    let server = common::start(&e.data(), &[]);
    let addr = server.addr.clone();
    let (lisa, lisa_csrf) = sign_in(&e, &addr, "lisa");
    for format in ["json", "evidence"] {
        let r = common::http(
            &addr,
            "POST",
            "/api/v1/exports",
            Some(&lisa),
            Some(&lisa_csrf),
            Some(&json!({"conversation": conv, "format": format})),
        );
        assert_eq!(r.status, 200, "{format}: {:?}", r.body);
    }
    let (boss, boss_csrf) = sign_in(&e, &addr, "boss");
    let r = common::http(
        &addr,
        "POST",
        "/api/v1/exports",
        Some(&boss),
        Some(&boss_csrf),
        Some(&json!({"conversation": conv, "format": "csv"})),
    );
    assert_eq!(r.status, 403, "{:?}", r.body);
    drop(server);
    // Oldest first: the CLI's entry, then the API's, of each kind.
    let entries = |action: &str| -> Vec<Value> {
        let v: Value =
            serde_json::from_str(&e.ok(&["--json", "audit", "list", "--action", action])).unwrap();
        let mut list = v["entries"].as_array().unwrap().clone();
        list.sort_by_key(|x| x["seq"].as_u64());
        list
    };
    let exports = entries("export");
    let denied: Vec<Value> = entries("access.denied")
        .into_iter()
        .filter(|d| d["details"]["right"] == "export")
        .collect();
    let cases = [
        ("plain", exports[0].clone(), exports[2].clone()),
        ("evidence", exports[1].clone(), exports[3].clone()),
        ("refused", denied[0].clone(), denied[1].clone()),
    ];
    assert_eq!(exports.len(), 4, "{exports:#?}");
    assert_eq!(denied.len(), 2, "{denied:#?}");
    for (name, cli, api) in cases {
        let (c, a) = (&cli["details"], &api["details"]);
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            keys(c),
            keys(a),
            "{name}: the same fields\nCLI {c}\nAPI {a}"
        );
        for (k, v) in c.as_object().unwrap() {
            // The file's name and bytes differ (the export time is inside).
            if ["sha256", "file"].contains(&k.as_str()) {
                continue;
            }
            assert_eq!(v, &a[k], "{name}: `{k}`\nCLI {c}\nAPI {a}");
        }
        assert_eq!(cli["target"], api["target"], "{name}");
    }
}

#[test]
fn a_query_export_stays_inside_the_grant() {
    let e = env();
    grant(&e, "view,export,pii.view");
    let out = e.path("q.json");
    let r: Value = serde_json::from_str(&e.ok(&[
        "--json",
        "export",
        "--as",
        "lisa",
        "--query",
        "退款",
        "--format",
        "json",
        "--out",
        out.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(
        (
            r["shown"].as_u64(),
            r["hidden"].as_u64(),
            r["masked"].as_u64()
        ),
        (Some(1), Some(1), Some(0)),
        "c1's match only; c2's is outside: {r}"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(
        v["messages"][0]["text"]
            .as_str()
            .unwrap()
            .contains("13812345678"),
        "pii.view: unmasked"
    );
}

/// The PDF draws Chinese with an embedded font: rendered to PNG by pdftoppm, and the text
/// extracted back by pdftotext (poppler-utils; `.ci/run` installs it with fonts-noto-cjk).
#[test]
fn the_pdf_holds_chinese_that_renders_and_extracts() {
    for tool in ["pdftotext", "pdftoppm"] {
        assert!(Command::new(tool).arg("-v").output().is_ok(), "the PDF test needs {tool}: apt-get install -y poppler-utils (bash .ci/run installs it)");
    }
    let e = env();
    grant(&e, "view,export");
    let out = e.path("c1.pdf");
    let r: Value = serde_json::from_str(&e.ok(&[
        "--json",
        "export",
        "--as",
        "lisa",
        "--conversation",
        "wecom:c1",
        "--format",
        "pdf",
        "--out",
        out.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(r["shown"], 3, "{r}");
    let pdf = std::fs::read(&out).unwrap();
    assert!(pdf.starts_with(b"%PDF-"), "a PDF");
    let txt = Command::new("pdftotext")
        .args(["-enc", "UTF-8", out.to_str().unwrap(), "-"])
        .output()
        .unwrap();
    assert!(
        txt.status.success(),
        "{}",
        String::from_utf8_lossy(&txt.stderr)
    );
    let text = String::from_utf8_lossy(&txt.stdout);
    for want in [
        "我要退款",
        "王女士",
        "张伟",
        "138****5678",
        "<script>alert(1)</script>",
        "\\u{202e}",
    ] {
        assert!(text.contains(want), "pdftotext finds {want:?} in:\n{text}");
    }
    assert!(!text.contains("13812345678"));
    let png = e.path("page");
    let r = Command::new("pdftoppm")
        .args([
            "-png",
            "-r",
            "60",
            "-f",
            "1",
            "-l",
            "1",
            out.to_str().unwrap(),
            png.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let rendered = std::fs::read_dir(e.dir.path())
        .unwrap()
        .filter_map(|x| x.ok())
        .find(|x| {
            x.file_name().to_string_lossy().starts_with("page")
                && x.file_name().to_string_lossy().ends_with(".png")
        });
    let rendered = rendered.expect("pdftoppm wrote page 1");
    let bytes = std::fs::read(rendered.path()).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 2000,
        "a real page image ({} bytes)",
        bytes.len()
    );
    if let Ok(dir) = std::env::var("CV_SHOTS") {
        let _ = std::fs::copy(
            rendered.path(),
            Path::new(&dir).join("export-pdf-page1.png"),
        );
    }
}

/// Times people read are shown in the deployment's zone, with its offset: the CLI's text
/// and the CSV, HTML and PDF exports. JSON keeps each time as its source wrote it.
#[test]
fn times_are_shown_in_the_deployment_zone() {
    let e = env();
    grant(&e, "view,export");
    let cfg = e.path("chatvault.toml");
    std::fs::write(&cfg, "[server]\ntimezone = \"+05:30\"\n").unwrap();
    let env = [("CHATVAULT_CONFIG", cfg.to_str().unwrap())];
    let export = |fmt: &str| {
        let out = e.path(&format!("tz.{fmt}"));
        let (code, o, err) = e.run_env(
            &[
                "export",
                "--as",
                "lisa",
                "--conversation",
                "wecom:c1",
                "--format",
                fmt,
                "--out",
                out.to_str().unwrap(),
            ],
            None,
            &env,
        );
        assert_eq!(code, 0, "{fmt}: {o}{err}");
        out
    };
    // JSON: each time as stored (the import gave UTC: offset 0, not the zone's), and the
    // zone named.
    let v: Value = serde_json::from_str(&std::fs::read_to_string(export("json")).unwrap()).unwrap();
    assert_eq!(v["header"]["time_zone"], "+05:30");
    let zone = chrono::FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
    let mut shown = std::collections::HashMap::new();
    for m in v["messages"].as_array().unwrap() {
        let sent = m["sent_at"].as_str().unwrap();
        let t = chrono::DateTime::parse_from_rfc3339(sent).unwrap();
        assert_eq!(
            t.offset().local_minus_utc(),
            0,
            "JSON kept the source's offset: {sent}"
        );
        shown.insert(
            m["id"].as_str().unwrap().to_owned(),
            t.with_timezone(&zone)
                .format("%Y-%m-%d %H:%M:%S +05:30")
                .to_string(),
        );
    }
    assert!(
        v["header"]["exported_at"]
            .as_str()
            .unwrap()
            .ends_with("+05:30"),
        "{}",
        v["header"]
    );
    // CSV: each row's time in the zone.
    let csv_text = std::fs::read_to_string(export("csv")).unwrap();
    let mut r = csv::Reader::from_reader(csv_text.trim_start_matches('\u{FEFF}').as_bytes());
    let mut rows = 0;
    for rec in r.records() {
        let rec = rec.unwrap();
        assert_eq!(rec[1], shown[&rec[0]], "CSV time of {}", &rec[0]);
        rows += 1;
    }
    assert_eq!(rows, 3);
    // HTML: the zone named in the header, each time shown in it.
    let html = std::fs::read_to_string(export("html")).unwrap();
    assert!(html.contains("<td>times in</td><td>+05:30</td>"), "{html}");
    for t in shown.values() {
        assert!(html.contains(t.as_str()), "HTML lacks {t}");
    }
    // PDF: the same, as its text extracts (poppler's pdftotext).
    let pdf = export("pdf");
    let txt = e.path("tz.txt");
    let status = Command::new("pdftotext")
        .arg(&pdf)
        .arg(&txt)
        .status()
        .expect("pdftotext (poppler-utils) is needed to read the PDF back");
    assert!(status.success());
    let text = std::fs::read_to_string(&txt).unwrap();
    assert!(text.contains("times in: +05:30"), "{text}");
    for t in shown.values() {
        assert!(text.contains(t.as_str()), "PDF lacks {t}: {text}");
    }
    // The CLI's text: search and show print the same times.
    let (code, out, err) = e.run_env(&["search", "退款"], None, &env);
    assert_eq!(code, 0, "{out}{err}");
    let first = out.lines().nth(1).unwrap_or_default();
    assert!(
        shown.values().any(|t| first.starts_with(t.as_str())),
        "search shows times in the zone: {out}"
    );
    let (code, out, err) = e.run_env(&["show", "wecom:c1"], None, &env);
    assert_eq!(code, 0, "{out}{err}");
    for t in shown.values() {
        assert!(out.contains(t.as_str()), "show lacks {t}: {out}");
    }
    // Another zone labels the same instants with its own offset.
    std::fs::write(&cfg, "[server]\ntimezone = \"UTC\"\n").unwrap();
    let (code, out, err) = e.run_env(&["show", "wecom:c1"], None, &env);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("+00:00") && !out.contains("+05:30"), "{out}");
}
