//! The case timeline through the binary: explicit identity links join a person's
//! handles across platforms, suggestions say why and how sure, and the merged view is in
//! time order and exports like any other.

// Tests stop at the first broken expectation; unwrap is how they say so.
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};

mod common;
use common::{ok, run};

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
    std::fs::write(
        &f,
        lines
            .iter()
            .map(|v| v.to_string() + "\n")
            .collect::<String>(),
    )
    .unwrap();
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

    // Exported like any other export.
    let out = dir.path().join("case.csv");
    ok(
        &data,
        &[
            "timeline",
            "--participant",
            "whatsapp:+8613800138000",
            "--format",
            "csv",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let csv = std::fs::read_to_string(&out).unwrap();
    assert!(
        csv.starts_with('\u{FEFF}')
            && csv.contains("Still no refund")
            && csv.contains("我要退款")
            && !csv.contains("无关的会话"),
        "{csv}"
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
