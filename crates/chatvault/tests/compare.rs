//! `compare` through the binary: a WhatsApp export against the same conversation in the
//! archive, and two copies with known edits across time zones.

// Tests stop at the first broken expectation; unwrap is how they say so.
#![allow(clippy::unwrap_used)]

use std::io::Read;

use serde_json::{json, Value};

mod common;
use common::run;

const WA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../chatvault-import/tests/fixtures/whatsapp/pustur-website__whatsapp-chat-parser-example.zip"
);

#[test]
fn a_whatsapp_export_against_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert_eq!(run(&data, &["init"]).0, 0);
    let (code, out, err) = run(&data, &["import", WA, "--tz", "Europe/Rome"]);
    assert_eq!(code, 0, "{out}{err}");
    let conv = "archive:whatsapp:chat:pustur-website__whatsapp-chat-parser-example";
    let (code, out, err) = run(
        &data,
        &["--json", "compare", WA, conv, "--tz", "Europe/Rome"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            r["matched"].as_u64(),
            r["verdict"]
                .as_str()
                .map(|v| v.starts_with("the copies agree"))
        ),
        (Some(52), Some(true)),
        "{r}"
    );

    // The customer's copy lost a message and has another edited.
    let mut z = zip::ZipArchive::new(std::fs::File::open(WA).unwrap()).unwrap();
    let mut chat = String::new();
    z.by_name("_chat.txt")
        .unwrap()
        .read_to_string(&mut chat)
        .unwrap();
    let edited: String = chat
        .lines()
        .filter(|l| !l.contains("Is everybody here?"))
        .map(|l| {
            if l.ends_with("John: Thanks") {
                l.replace("John: Thanks", "John: Thanks, but I was never here")
            } else {
                l.to_owned()
            }
        })
        .map(|l| l + "\n")
        .collect();
    let copy = dir.path().join("customer.txt");
    std::fs::write(&copy, edited).unwrap();
    let (code, out, _) = run(
        &data,
        &[
            "--json",
            "compare",
            copy.to_str().unwrap(),
            conv,
            "--tz",
            "Europe/Rome",
        ],
    );
    assert_eq!(code, 1, "they differ: {out}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["missing_from_a"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(
        r["missing_from_a"][0]["text"], "Is everybody here?",
        "the message deleted from the customer's copy is named"
    );
    assert_eq!(r["altered"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["altered"][0]["b"]["text"], "Thanks");
    assert!(
        r["altered"][0]["diff"]
            .as_str()
            .unwrap()
            .contains("{+, but I was never here+}")
            || r["altered"][0]["diff"]
                .as_str()
                .unwrap()
                .contains("[-, but I was never here-]"),
        "{r}"
    );
    let (code, out, _) = run(
        &data,
        &[
            "compare",
            copy.to_str().unwrap(),
            conv,
            "--tz",
            "Europe/Rome",
        ],
    );
    assert!(
        code == 1
            && out.contains("only in B")
            && out.contains("Is everybody here?")
            && out.contains("altered"),
        "{out}"
    );
}

#[test]
fn known_edits_across_time_zones() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let base = [
        ("1", "你好，订单还没到"),
        ("2", "请提供订单号"),
        ("3", "A-1001"),
        ("4", "已经帮您催促物流"),
        ("5", "谢谢"),
    ];
    let line = |id: &str, at: chrono::DateTime<chrono::FixedOffset>, text: &str| {
        json!({"platform":"wecom","conversation_id":"c","source_id":id,"sender_id":"u","sent_at":at.to_rfc3339(),"text":text}).to_string()
    };
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-03-01T09:00:00+08:00").unwrap();
    let a: Vec<String> = base
        .iter()
        .enumerate()
        .map(|(i, (id, t))| line(id, t0 + chrono::Duration::seconds(i as i64 * 30), t))
        .collect();
    // B: the same instants written in UTC, 3 s skew; 2 deleted, 4 edited, one added.
    let utc = chrono::FixedOffset::east_opt(0).unwrap();
    let mut b: Vec<String> = vec![];
    for (i, (id, t)) in base.iter().enumerate() {
        let at = (t0 + chrono::Duration::seconds(i as i64 * 30 + 3)).with_timezone(&utc);
        match *id {
            "2" => {}
            "4" => b.push(line(id, at, "已经帮您取消订单")),
            _ => b.push(line(id, at, t)),
        }
    }
    b.push(line(
        "9",
        (t0 + chrono::Duration::seconds(200)).with_timezone(&utc),
        "我从来没说过要退款",
    ));
    let (fa, fb) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    std::fs::write(&fa, a.join("\n") + "\n").unwrap();
    std::fs::write(&fb, b.join("\n") + "\n").unwrap();
    let (code, out, err) = run(
        &data,
        &[
            "--json",
            "compare",
            fa.to_str().unwrap(),
            fb.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    let keys = |f: &str| {
        r[f].as_array()
            .unwrap()
            .iter()
            .map(|m| m["key"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys("missing_from_b"), ["2"], "{r}");
    assert_eq!(keys("missing_from_a"), ["9"], "{r}");
    assert_eq!(r["altered"][0]["a"]["key"], "4");
    assert_eq!(r["reordered"].as_array().unwrap().len(), 0);
    assert!(
        (r["offset_ms"].as_i64().unwrap() - 3000).abs() <= 1000,
        "the skew is estimated: {r}"
    );
    // A bad side is named.
    let (code, _, err) = run(
        &data,
        &["compare", fa.to_str().unwrap(), "archive:wecom:nope"],
    );
    assert_eq!(code, 2, "{err}");
}
