//! Evidence packages: built under an approved request, checked offline from the zip
//! alone, and each kind of tampering named.

// Tests stop at the first broken expectation; unwrap is how they say so.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

mod common;
use common::{ok, run_with as run};
use sha2::Digest;

/// An archive with a case conversation, legal holding an approved request with export
/// and pii.view; returns the data folder and the package written.
fn package(dir: &Path, tag: &str) -> (PathBuf, PathBuf) {
    let data = dir.join(format!("data-{tag}"));
    ok(&data, &["init"]);
    let now = chrono::Utc::now();
    let at = |m: i64| (now - chrono::Duration::minutes(m)).to_rfc3339();
    let lines = [
        json!({"platform":"wecom","conversation_id":"case","source_id":"1","sender_id":"cust","sender_name":"王女士","sender_role":"customer","sent_at":at(30),"text":"你们违约了，我要求赔偿 13812345678"}),
        json!({"platform":"wecom","conversation_id":"case","source_id":"2","sender_id":"a-1","sender_name":"张伟","sender_role":"agent","sent_at":at(29),"text":"我们承认延误，同意赔偿"}),
        json!({"platform":"wecom","conversation_id":"case","source_id":"3","sender_id":"cust","sender_role":"customer","sent_at":at(28),"kind":"file","text":"合同",
            "attachments":[{"name":"合同.pdf","mime":"application/pdf","data":"JVBERi0xLjQKJcfsj6IK"}]}),
    ];
    let f = dir.join(format!("{tag}.jsonl"));
    common::write_jsonl(&f, &lines);
    ok(&data, &["import", f.to_str().unwrap()]);
    for (u, r) in [("lisa", "legal"), ("boss", "executive")] {
        let (code, out, err) = run(
            &data,
            &["user", "add", u, "--role", r],
            Some("correct horse battery"),
        );
        assert_eq!(code, 0, "{out}{err}");
    }
    let day = |d: i64| {
        (now + chrono::Duration::days(d))
            .format("%Y-%m-%d")
            .to_string()
    };
    let r: Value = serde_json::from_str(&ok(
        &data,
        &[
            "--json",
            "request",
            "file",
            "--as",
            "lisa",
            "--conversation",
            "wecom:case",
            "--from",
            &day(-2),
            "--to",
            &day(1),
            "--reason",
            "诉讼取证",
            "--case-number",
            "（2026）京0105民初123号",
            "--rights",
            "view,export,pii.view",
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
            &day(7),
        ],
    );
    let out = dir.join(format!("case-{tag}.zip"));
    let v: Value = serde_json::from_str(&ok(
        &data,
        &[
            "--json",
            "export",
            "--as",
            "lisa",
            "--conversation",
            "wecom:case",
            "--evidence",
            "--out",
            out.to_str().unwrap(),
        ],
    ))
    .unwrap();
    assert_eq!(v["messages"], 3, "{v}");
    (data, out)
}

fn read_zip(p: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(p).unwrap()).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..z.len() {
        let mut e = z.by_index(i).unwrap();
        let mut b = vec![];
        e.read_to_end(&mut b).unwrap();
        out.insert(e.name().to_owned(), b);
    }
    out
}

fn write_zip(p: &Path, files: &BTreeMap<String, Vec<u8>>) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(p).unwrap());
    for (n, b) in files {
        z.start_file(n.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(b).unwrap();
    }
    z.finish().unwrap();
}

/// Rewrites the manifest's hashes of `name` so only a deeper check can catch the change.
fn rehash(files: &mut BTreeMap<String, Vec<u8>>, name: &str) {
    let mut m: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let b = &files[name];
    for f in m["files"].as_array_mut().unwrap() {
        if f["name"] == name {
            f["sha256"] = hex::encode(sha2::Sha256::digest(b)).into();
            f["sm3"] = hex::encode(<sm3::Sm3 as Digest>::digest(b)).into();
            f["size"] = (b.len() as u64).into();
        }
    }
    files.insert("manifest.json".into(), serde_json::to_vec(&m).unwrap());
}

fn verify(data: &Path, zip: &Path) -> (i32, Value) {
    let (code, out, err) = run(data, &["--json", "verify", zip.to_str().unwrap()], None);
    (
        code,
        serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}{err}")),
    )
}

#[test]
fn a_package_verifies_offline_and_names_every_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let (data, zip) = package(dir.path(), "a");
    let files = read_zip(&zip);
    for want in [
        "manifest.json",
        "custody.json",
        "messages.json",
        "messages.pdf",
    ] {
        assert!(
            files.contains_key(want),
            "{want} in {:?}",
            files.keys().collect::<Vec<_>>()
        );
    }
    assert_eq!(files.keys().filter(|k| k.starts_with("proofs/")).count(), 3);
    assert_eq!(
        files
            .keys()
            .filter(|k| k.starts_with("attachments/"))
            .count(),
        1
    );
    let custody: Value = serde_json::from_slice(&files["custody.json"]).unwrap();
    assert_eq!(
        custody["requests"][0]["case_number"],
        "（2026）京0105民初123号"
    );
    assert_eq!(custody["requests"][0]["status"], "approved");
    assert_eq!(custody["export"]["by"], "lisa");
    // Checked with nothing but the zip: a folder with no archive at all.
    let nowhere = dir.path().join("nowhere");
    let (code, r) = verify(&nowhere, &zip);
    assert_eq!((code, r["ok"].as_bool()), (0, Some(true)), "{r}");
    let messages: Value = serde_json::from_slice(&files["messages.json"]).unwrap();
    let ids: Vec<String> = messages["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    let (_, other) = package(dir.path(), "b");
    let other_files = read_zip(&other);

    type Tamper = Box<dyn Fn(&mut BTreeMap<String, Vec<u8>>)>;
    let flip = |name: &'static str| -> Tamper {
        Box::new(move |f| {
            let b = f.get_mut(name).unwrap();
            let n = b.len() / 2;
            b[n] ^= 1;
        })
    };
    let i0 = ids[0].clone();
    let i1 = ids[1].clone();
    let (a0, a1) = (ids[0].clone(), ids[1].clone());
    let cases: Vec<(&str, Tamper, String, &str)> = vec![
        (
            "a byte of a message flipped",
            flip("messages.json"),
            "messages.json".into(),
            "changed",
        ),
        (
            "the PDF changed",
            flip("messages.pdf"),
            "messages.pdf".into(),
            "changed",
        ),
        (
            "a message's proof dropped",
            Box::new(move |f| {
                f.remove(&format!("proofs/{i0}.json"));
            }),
            format!("message {}", ids[0]),
            "proof file is missing",
        ),
        (
            "a file added",
            Box::new(|f| {
                f.insert("extra.txt".into(), b"planted".to_vec());
            }),
            "extra.txt".into(),
            "added",
        ),
        (
            "two messages swapped (hash rewritten)",
            Box::new(move |f| {
                let mut v: Value = serde_json::from_slice(&f["messages.json"]).unwrap();
                v["messages"].as_array_mut().unwrap().swap(0, 1);
                f.insert("messages.json".into(), serde_json::to_vec(&v).unwrap());
                rehash(f, "messages.json");
            }),
            format!("message {a1}"),
            "swapped",
        ),
        (
            "a message's text edited (hash rewritten)",
            Box::new(move |f| {
                let mut v: Value = serde_json::from_slice(&f["messages.json"]).unwrap();
                v["messages"][0]["text"] = "我们不承认".into();
                f.insert("messages.json".into(), serde_json::to_vec(&v).unwrap());
                rehash(f, "messages.json");
            }),
            format!("message {a0}"),
            "differs from the proven content",
        ),
        (
            "a message added without proof (hash rewritten)",
            Box::new(|f| {
                let mut v: Value = serde_json::from_slice(&f["messages.json"]).unwrap();
                let mut extra = v["messages"][0].clone();
                extra["id"] = "01ZZZZZZZZZZZZZZZZZZZZZZZZ".into();
                v["messages"].as_array_mut().unwrap().push(extra);
                f.insert("messages.json".into(), serde_json::to_vec(&v).unwrap());
                rehash(f, "messages.json");
            }),
            "message 01ZZZZZZZZZZZZZZZZZZZZZZZZ".into(),
            "added to messages.json",
        ),
        (
            "a proof's content edited (hash rewritten)",
            Box::new(move |f| {
                let name = format!("proofs/{i1}.json");
                let mut v: Value = serde_json::from_slice(&f[&name]).unwrap();
                v["content"]["text"] = "我们不同意赔偿".into();
                f.insert(name.clone(), serde_json::to_vec(&v).unwrap());
                rehash(f, &name);
            }),
            format!("message {}", ids[1]),
            "its proof fails",
        ),
        (
            "the manifest edited",
            Box::new(|f| {
                let mut m: Value = serde_json::from_slice(&f["manifest.json"]).unwrap();
                m["messages"][2]["leaf_index"] = 99.into();
                f.insert("manifest.json".into(), serde_json::to_vec(&m).unwrap());
            }),
            format!("message {}", ids[2]),
            "differs from its proof",
        ),
        (
            "the checkpoint swapped for another archive's",
            Box::new(move |f| {
                let theirs: Value = serde_json::from_slice(&other_files["manifest.json"]).unwrap();
                let mut m: Value = serde_json::from_slice(&f["manifest.json"]).unwrap();
                m["checkpoint"] = theirs["checkpoint"].clone();
                f.insert("manifest.json".into(), serde_json::to_vec(&m).unwrap());
            }),
            "manifest.json".into(),
            "does not verify with the archive's key",
        ),
        (
            "the custody chain edited (hash rewritten)",
            Box::new(|f| {
                let mut c: Value = serde_json::from_slice(&f["custody.json"]).unwrap();
                let body = c["audit_segment"]["bodies"][0]
                    .as_str()
                    .unwrap()
                    .replace("lisa", "mallory");
                c["audit_segment"]["bodies"][0] = body.into();
                f.insert("custody.json".into(), serde_json::to_vec(&c).unwrap());
                rehash(f, "custody.json");
            }),
            "custody.json".into(),
            "does not follow",
        ),
    ];
    for (name, tamper, item, what) in cases {
        let mut f = files.clone();
        tamper(&mut f);
        let bad = dir.path().join("bad.zip");
        write_zip(&bad, &f);
        let (code, r) = verify(&nowhere, &bad);
        assert_eq!((code, r["ok"].as_bool()), (1, Some(false)), "{name}: {r}");
        let named = r["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["item"] == item.as_str() && p["what"].as_str().unwrap().contains(what));
        assert!(named, "{name}: wants {item}: {what} in {}", r["problems"]);
    }
    // The human report names the fault too, and the exit code says it failed.
    let (code, out, _) = run(&data, &["verify", zip.to_str().unwrap()], None);
    assert!(
        code == 0 && out.starts_with("ok: evidence package"),
        "{out}"
    );
}

#[test]
fn a_package_needs_export_and_pii_view() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = package(dir.path(), "c");
    // boss (executive) reads but may not export.
    let out = dir.path().join("x.zip");
    let (code, _, err) = run(
        &data,
        &[
            "export",
            "--as",
            "boss",
            "--conversation",
            "wecom:case",
            "--evidence",
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(code == 2 && err.contains("may export none"), "{err}");
    assert!(!out.exists());
    // A conversation that does not exist is refused like one out of reach.
    let (code, out_json, err) = run(
        &data,
        &[
            "--json",
            "export",
            "--as",
            "lisa",
            "--conversation",
            "nowhere:x",
            "--evidence",
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        code == 2 && out_json.contains("access.denied"),
        "{out_json}{err}"
    );
    assert!(!out.exists());
}

#[test]
fn a_query_selection_makes_a_package_of_its_matches_only() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = package(dir.path(), "q");
    let out = dir.path().join("q.zip");
    let v: Value = serde_json::from_str(&ok(
        &data,
        &[
            "--json",
            "export",
            "--as",
            "lisa",
            "--query",
            "赔偿",
            "--evidence",
            "--out",
            out.to_str().unwrap(),
        ],
    ))
    .unwrap();
    assert_eq!(v["messages"], 2, "the two messages with 赔偿: {v}");
    let (code, r) = verify(&data, &out);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["selection"], "query 赔偿");
    let files = read_zip(&out);
    let msgs: Value = serde_json::from_slice(&files["messages.json"]).unwrap();
    assert!(
        msgs["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["text"].as_str().unwrap().contains("赔偿")),
        "{msgs}"
    );
    // No attachment: the file message does not match.
    assert!(
        !files.keys().any(|k| k.starts_with("attachments/")),
        "{:?}",
        files.keys().collect::<Vec<_>>()
    );
    // The export entry names the query.
    let audit = ok(&data, &["--json", "audit", "list", "--action", "export"]);
    assert!(
        audit.contains("query 赔偿") && audit.contains("\"evidence\":true"),
        "{audit}"
    );
    // A query nobody matches: refused, nothing written.
    let none = dir.path().join("none.zip");
    let (code, _, err) = run(
        &data,
        &[
            "export",
            "--as",
            "lisa",
            "--query",
            "不存在的词",
            "--evidence",
            "--out",
            none.to_str().unwrap(),
        ],
        None,
    );
    assert!(code == 2 && err.contains("may export none"), "{err}");
    assert!(!none.exists());
}

#[test]
fn a_later_checkpoint_is_shown_to_extend_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let (data, zip) = package(dir.path(), "d");
    let m: Value = serde_json::from_slice(&read_zip(&zip)["manifest.json"]).unwrap();
    let size = m["tree_size"].as_u64().unwrap();
    // The archive grows after the package was made.
    let more = dir.path().join("more.jsonl");
    std::fs::write(&more, json!({"platform":"wecom","conversation_id":"later","source_id":"9","sender_id":"u","sent_at":chrono::Utc::now().to_rfc3339(),"text":"之后的消息"}).to_string() + "\n").unwrap();
    ok(&data, &["import", more.to_str().unwrap()]);
    let later = dir.path().join("later.json");
    ok(
        &data,
        &[
            "checkpoint",
            "--export",
            later.to_str().unwrap(),
            "--from-size",
            &size.to_string(),
        ],
    );
    let nowhere = dir.path().join("nowhere");
    let (code, out, err) = run(
        &nowhere,
        &[
            "--json",
            "verify",
            zip.to_str().unwrap(),
            "--against",
            later.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert!(
        r["extends"]
            .as_str()
            .unwrap()
            .contains(&format!("extends the package's of size {size}")),
        "{r}"
    );
    // A forged later checkpoint (another archive's), or a proof from another size, fails.
    let (other_data, _) = package(dir.path(), "e");
    let forged = dir.path().join("forged.json");
    ok(
        &other_data,
        &[
            "checkpoint",
            "--export",
            forged.to_str().unwrap(),
            "--from-size",
            &size.to_string(),
        ],
    );
    let mut wrong: Value = serde_json::from_str(&std::fs::read_to_string(&later).unwrap()).unwrap();
    wrong["from_size"] = (size - 1).into();
    let wrong_path = dir.path().join("wrong.json");
    std::fs::write(&wrong_path, wrong.to_string()).unwrap();
    for (name, f, want) in [
        ("another archive's", &forged, "another key"),
        ("another starting size", &wrong_path, "starts at size"),
    ] {
        let (code, out, _) = run(
            &nowhere,
            &[
                "--json",
                "verify",
                zip.to_str().unwrap(),
                "--against",
                f.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(code, 1, "{name}: {out}");
        assert!(out.contains(want), "{name}: {out}");
    }
}
