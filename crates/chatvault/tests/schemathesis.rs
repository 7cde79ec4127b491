//! The API against its own OpenAPI document, on the real server: the document is valid
//! (openapi-spec-validator), and Schemathesis sends generated requests to every operation
//! as each role (a read token per user) and checks that none is answered with a server
//! error and every answer matches the documented schema. Both tools come from PyPI;
//! `.ci/run` installs them, and this test fails naming what is missing.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

mod common;
use common::{ok, run_with};

fn tool(name: &str) -> String {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "`{name}` is missing: pip install schemathesis openapi-spec-validator (.ci/run does)"
    );
    String::from_utf8_lossy(&found.stdout).trim().to_owned()
}

fn world(data: &Path, dir: &Path) -> Vec<(&'static str, String)> {
    ok(data, &["init"]);
    let now = chrono::Utc::now();
    let at = |h: i64| (now - chrono::Duration::hours(h)).to_rfc3339();
    let lines = [
        json!({"platform":"wecom","conversation_id":"c1","conversation_title":"客户 王女士","sender_id":"alice","sender_name":"Alice","sender_role":"agent","sent_at":at(30),"text":"您好，请拨打 13812345678"}),
        json!({"platform":"wecom","conversation_id":"c1","sender_id":"cust1","sender_role":"customer","sent_at":at(29),"text":"我要退款","attachments":[{"name":"a.txt","mime":"text/plain","data":"aGk="}]}),
        json!({"platform":"wecom","conversation_id":"c2","sender_id":"bob","sender_role":"agent","sent_at":at(5),"text":"退款已处理"}),
        json!({"platform":"whatsapp","conversation_id":"w1","sender_id":"+8613800138000","sent_at":at(2),"text":"hello"}),
    ];
    let f = dir.join("m.jsonl");
    common::write_jsonl(&f, &lines);
    ok(data, &["import", f.to_str().unwrap()]);
    let users: [(&str, &str, &[&str]); 6] = [
        (
            "alice",
            "agent",
            &["--team", "t1", "--handle", "wecom:alice"],
        ),
        ("lead", "team_lead", &["--team", "t1"]),
        ("lisa", "legal", &[]),
        ("boss", "executive", &[]),
        ("audi", "auditor", &[]),
        ("root", "admin", &[]),
    ];
    let mut tokens = vec![];
    for (user, role, extra) in users {
        let mut args = vec!["user", "add", user, "--role", role];
        args.extend_from_slice(extra);
        let (code, out, err) = run_with(data, &args, Some("schemathesis-password"));
        assert_eq!(code, 0, "{out}{err}");
        let v: Value = serde_json::from_str(&ok(
            data,
            &["--json", "token", "create", user, "--scope", "read"],
        ))
        .unwrap();
        tokens.push((role_name(role), v["token"].as_str().unwrap().to_owned()));
    }
    tokens
}

fn role_name(r: &str) -> &'static str {
    match r {
        "agent" => "agent",
        "team_lead" => "team_lead",
        "legal" => "legal",
        "executive" => "executive",
        "auditor" => "auditor",
        _ => "admin",
    }
}

#[test]
fn every_operation_matches_its_document_for_every_role() {
    let st = tool("schemathesis");
    let _ = tool("python3");
    let valid = Command::new("python3")
        .args([
            "-c",
            "import json, sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(open(sys.argv[1])))\nprint('valid')",
        ])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../chatvault-server/src/openapi.json"))
        .output()
        .unwrap();
    assert!(
        valid.status.success(),
        "the OpenAPI document is invalid (or openapi-spec-validator is missing): {}{}",
        String::from_utf8_lossy(&valid.stdout),
        String::from_utf8_lossy(&valid.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let tokens = world(&data, dir.path());
    let server = common::start(&data, &[]);
    let base = format!("http://{}", server.addr);
    let schema = format!("{base}/api/v1/openapi.json");
    let mut failures = vec![];
    for (role, token) in &tokens {
        let out = Command::new(&st)
            .args(["run", &schema, "--url", &base])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args(["--checks", "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"])
            .args(["--max-examples", "12", "--phases", "examples,coverage,fuzzing"])
            .args(["--generation-deterministic", "--request-timeout", "20"])
            .args(["--exclude-path", "/api/v1/alerts/stream"])
            .args(["--no-color"])
            // Its cache stays in the test's folder, out of the source tree.
            .current_dir(dir.path())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!(
            "--- schemathesis as {role}: exit {:?}\n{}",
            out.status.code(),
            text.lines()
                .rev()
                .take(6)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        );
        if !out.status.success() {
            failures.push(format!("as {role}:\n{text}"));
        }
    }
    drop(server);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
