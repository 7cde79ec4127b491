//! The case timeline through the binary: explicit identity links join a person's
//! handles across platforms, suggestions say why and how sure, and the merged view is in
//! time order and exports like any other.

// Tests stop at the first broken expectation; unwrap is how they say so.
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};

mod common;
use common::{ok, request, run, run_env, run_with, start};

#[test]
fn one_person_across_platforms_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["init"]);
    let lines = [
        json!({"platform":"wecom","conversation_id":"w1","source_id":"1","sender_id":"cust-9","sender_name":"王女士 13800138000","sent_at":"2026-03-01T10:00:00+08:00","text":"我要退款"}),
        json!({"platform":"whatsapp","conversation_id":"wa1","source_id":"2","sender_id":"+8613800138000","sender_name":"Wang","sent_at":"2026-03-01T03:30:00Z","text":"Still no refund"}),
        json!({"platform":"wecom","conversation_id":"w1","source_id":"3","sender_id":"a-1","sender_name":"张伟","sent_at":"2026-03-01T12:00:00+08:00","text":"已为您办理"}),
        json!({"platform":"qq","conversation_id":"q1","source_id":"4","sender_id":"someone","sent_at":"2026-03-01T11:00:00+08:00","text":"无关的会话"}),
    ];
    let f = dir.path().join("m.jsonl");
    common::write_jsonl(&f, &lines);
    ok(&data, &["import", f.to_str().unwrap()]);

    // Suggested: the phone number in the WeCom name is the WhatsApp id.
    let s: Value = serde_json::from_str(&ok(&data, &["--json", "identity", "suggest"])).unwrap();
    let top = &s[0];
    assert_eq!(
        (
            top["reason"].as_str(),
            top["confidence"].as_f64().map(|c| (c * 10.0).round())
        ),
        (Some("the same mobile number"), Some(9.0)),
        "{s}"
    );

    // Before the link, the timeline of the WeCom handle is its conversation only.
    let t: Value = serde_json::from_str(&ok(
        &data,
        &["--json", "timeline", "--participant", "wecom:cust-9"],
    ))
    .unwrap();
    assert_eq!(t["messages"].as_array().unwrap().len(), 2);
    ok(
        &data,
        &[
            "identity",
            "link",
            "--handle",
            "wecom:cust-9",
            "--handle",
            "whatsapp:+8613800138000",
            "--name",
            "王女士",
        ],
    );
    let s: Value = serde_json::from_str(&ok(&data, &["--json", "identity", "suggest"])).unwrap();
    assert!(
        s.as_array()
            .unwrap()
            .iter()
            .all(|x| x["reason"] != "the same mobile number"),
        "linked: no longer suggested"
    );
    let t: Value = serde_json::from_str(&ok(
        &data,
        &["--json", "timeline", "--participant", "wecom:cust-9"],
    ))
    .unwrap();
    let texts: Vec<&str> = t["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["我要退款", "Still no refund", "已为您办理"],
        "both platforms, merged by time (10:00, 11:30, 12:00 Beijing)"
    );
    let (code, _, err) = run(&data, &["timeline", "--participant", "wecom:nobody"]);
    assert!(code == 2 && err.contains("no conversation"), "{err}");

    // Exported like any other export: as a user, under their export right and masking,
    // and audited. Without a grant, a legal user exports nothing.
    for u in ["lisa", "boss"] {
        let role = if u == "lisa" { "legal" } else { "executive" };
        let (code, out, err) = run_with(
            &data,
            &["user", "add", u, "--role", role],
            Some("correct horse battery"),
        );
        assert_eq!(code, 0, "{out}{err}");
    }
    let out = dir.path().join("case.csv");
    let export = [
        "timeline",
        "--participant",
        "whatsapp:+8613800138000",
        "--format",
        "csv",
        "--out",
        out.to_str().unwrap(),
        "--as",
        "lisa",
    ];
    let (code, _, err) = run(&data, &export);
    assert!(code != 0 && !out.exists(), "no grant, no export: {err}");
    let (code, _, err) = run(&data, &export[..export.len() - 2]);
    assert!(
        code == 2 && err.contains("--as"),
        "an export names its user: {err}"
    );
    let r: Value = serde_json::from_str(&ok(
        &data,
        &[
            "--json",
            "request",
            "file",
            "--as",
            "lisa",
            "--conversation",
            "wecom:w1",
            "--conversation",
            "whatsapp:wa1",
            "--from",
            "2026-02-01",
            "--to",
            "2026-04-01",
            "--reason",
            "诉讼取证",
            "--case-number",
            "C-9",
            "--rights",
            "view,export",
        ],
    ))
    .unwrap();
    ok(
        &data,
        &[
            "request",
            "approve",
            r["id"].as_str().unwrap(),
            "--as",
            "boss",
            "--expires",
            &(chrono::Utc::now() + chrono::Duration::days(30))
                .format("%Y-%m-%d")
                .to_string(),
        ],
    );
    ok(&data, &export);
    let csv = std::fs::read_to_string(&out).unwrap();
    assert!(
        csv.starts_with('\u{FEFF}')
            && csv.contains("Still no refund")
            && csv.contains("我要退款")
            && !csv.contains("无关的会话"),
        "{csv}"
    );
    // The grant has no pii.view: the phone number in the WeCom name and the WhatsApp
    // handle are masked, as in every other read.
    assert!(
        !csv.contains("13800138000") && csv.contains("138****8000"),
        "{csv}"
    );
    let audit: Value =
        serde_json::from_str(&ok(&data, &["--json", "audit", "list", "--actor", "lisa"])).unwrap();
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "export"
                && e["target"].as_str().unwrap_or("").contains("case timeline")),
        "the timeline export is audited: {audit}"
    );
    let list: Value = serde_json::from_str(&ok(&data, &["--json", "identity", "list"])).unwrap();
    let id = list[0]["id"].as_str().unwrap().to_owned();
    ok(&data, &["identity", "unlink", &id]);
    assert_eq!(
        serde_json::from_str::<Value>(&ok(&data, &["--json", "identity", "list"]))
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

/// Regression (issue 16): `search` read a date without a zone in the machine's zone,
/// `export`, `request file` and the API read it as UTC, so one `--from 2024-03-01` started
/// 8 hours apart in Asia/Shanghai. Every front end now reads it in the deployment's zone
/// (`[server] timezone`), and an approval's date means the end of that day everywhere.
#[test]
fn a_date_means_one_day_in_the_deployment_zone_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[server]\ntimezone = \"Asia/Shanghai\"\n").unwrap();
    let env = [("CHATVAULT_CONFIG", cfg.to_str().unwrap())];
    let ok_env = |args: &[&str]| {
        let (code, out, err) = run_env(&data, args, &env);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        out
    };
    ok(&data, &["init"]);
    // 01:30 on 1 March and 01:30 on 2 March in Beijing (17:30 UTC the day before each).
    let lines = [
        json!({"platform":"wecom","conversation_id":"c1","source_id":"1","sender_id":"cust","sent_at":"2024-02-29T17:30:00Z","text":"退款 早"}),
        json!({"platform":"wecom","conversation_id":"c1","source_id":"2","sender_id":"cust","sent_at":"2024-03-01T17:30:00Z","text":"退款 晚"}),
    ];
    let f = dir.path().join("m.jsonl");
    common::write_jsonl(&f, &lines);
    ok(&data, &["import", f.to_str().unwrap()]);
    let day = ["--from", "2024-03-01", "--to", "2024-03-01"];
    let texts = |v: &Value, key: &str| -> Vec<String> {
        let mut t: Vec<String> = v[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} in {v}"))
            .iter()
            .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
            .collect();
        t.sort();
        t
    };
    let want = vec!["退款 早".to_owned()];
    // A time that does not parse is named, with its flag, as malformed input.
    for args in [
        &["search", "退款", "--from", "yesterday"][..],
        &[
            "export",
            "--as",
            "x",
            "--query",
            "退款",
            "--to",
            "2024-13-01",
            "--format",
            "json",
            "--out",
            "x.json",
        ],
    ] {
        let (code, _, err) = run_env(&data, args, &env);
        assert!(
            code != 0 && err.contains("error[input.invalid]") && err.contains("` is not RFC 3339"),
            "{args:?}: {err}"
        );
    }

    // The CLI's search.
    let s: Value =
        serde_json::from_str(&ok_env(&[&["--json", "search", "退款"][..], &day].concat())).unwrap();
    assert_eq!(texts(&s, "hits"), want, "search: {s}");

    // A request over that day, approved until a date (the end of that day), then exported.
    for (u, role) in [("lisa", "legal"), ("boss", "executive")] {
        let (code, out, err) = run_with(
            &data,
            &["user", "add", u, "--role", role],
            Some("correct horse battery"),
        );
        assert_eq!(code, 0, "{out}{err}");
    }
    let r: Value = serde_json::from_str(&ok_env(
        &[
            &[
                "--json",
                "request",
                "file",
                "--as",
                "lisa",
                "--conversation",
                "wecom:c1",
            ][..],
            &day,
            &[
                "--reason",
                "诉讼取证",
                "--case-number",
                "C-1",
                "--rights",
                "view,export",
            ],
        ]
        .concat(),
    ))
    .unwrap();
    assert_eq!(
        (r["scope"]["from_ms"].as_i64(), r["scope"]["to_ms"].as_i64()),
        (Some(1_709_222_400_000), Some(1_709_308_799_999)),
        "the request's day is Beijing's: {r}"
    );
    let until = (chrono::Utc::now() + chrono::Duration::days(30)).date_naive();
    let end_of_until = until
        .and_hms_milli_opt(23, 59, 59, 999)
        .unwrap()
        .and_utc()
        .timestamp_millis()
        - 8 * 3_600_000;
    let approved: Value = serde_json::from_str(&ok_env(&[
        "--json",
        "request",
        "approve",
        r["id"].as_str().unwrap(),
        "--as",
        "boss",
        "--expires",
        &until.format("%Y-%m-%d").to_string(),
    ]))
    .unwrap();
    assert_eq!(
        approved["expires_ms"].as_i64(),
        Some(end_of_until),
        "a grant until a date lasts to the end of that day in Beijing: {approved}"
    );
    let out = dir.path().join("day.json");
    ok_env(
        &[
            &[
                "export", "--as", "lisa", "--query", "退款", "--format", "json", "--out",
            ][..],
            &[out.to_str().unwrap()],
            &day,
        ]
        .concat(),
    );
    let exported: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(texts(&exported, "messages"), want, "export: {exported}");

    // The API, served with the same config.
    let token = ok_env(&["token", "create", "boss", "--scope", "read"]);
    let token = token
        .split_whitespace()
        .find(|w| w.starts_with("cvt_"))
        .unwrap();
    let server = start(&data, &["--config", cfg.to_str().unwrap()]);
    let r = request(
        &server.addr,
        "GET",
        "/api/v1/search?q=%E9%80%80%E6%AC%BE&from=2024-03-01&to=2024-03-01",
        &[format!("Authorization: Bearer {token}")],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(texts(&r.body, "hits"), want, "API search: {}", r.body);
}
