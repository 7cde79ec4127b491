//! The archive end to end, through its public API.

mod common;

use chatvault_archive::{verify_proof_file, Archive, ArchiveError, Filters, KeyProvider};
use common::*;

fn z(v: &str) -> Option<zeroize::Zeroizing<String>> {
    Some(zeroize::Zeroizing::new(v.to_owned()))
}

#[test]
fn import_accounts_for_every_record() {
    let (_d, mut a) = new_archive();
    let text = [
        line("c1", Some("m1"), "u1", "2024-03-01T09:00:00+08:00", "您好，请问有什么可以帮您？"),
        "{not json".to_owned(),
        line("c1", Some("m2"), "u2", "2024-03-01T09:00:30+08:00", "我要退款"),
        String::new(),
        r#"{"platform":"wecom","conversation_id":"c1","sender_id":"u1","sent_at":"yesterday","text":"x"}"#.to_owned(),
        line("c1", Some("m1"), "u1", "2024-03-01T09:00:00+08:00", "您好，请问有什么可以帮您？"),
    ]
    .join("\n");
    let r = import_text(&mut a, "in.jsonl", &text);
    assert_eq!((r.stored, r.duplicates, r.rejected.len()), (2, 1, 2));
    assert_eq!(r.conversations, 1);
    assert_eq!(r.rejected[0].line, 2);
    assert_eq!(r.rejected[1].line, 5);
    assert!(
        r.rejected[1].reason.contains("sent_at"),
        "{}",
        r.rejected[1].reason
    );
    assert!(r.rejected.iter().all(|x| x.file == "in.jsonl"));
}

#[test]
fn dedup_table() {
    // (name, first import, second import, stored by the second)
    let a1 = line("c", Some("m1"), "u", "2024-01-01T00:00:00Z", "a");
    let a2 = line("c", Some("m2"), "u", "2024-01-01T00:00:01Z", "b");
    let a3 = line("c", Some("m3"), "u", "2024-01-01T00:00:02Z", "c");
    let ok = line("c", None, "u", "2024-01-01T00:00:05Z", "ok");
    let ok_other_conv = line("d", None, "u", "2024-01-01T00:00:05Z", "ok");
    let same_id_other_conv = line("d", Some("m1"), "u", "2024-01-01T00:00:00Z", "a");
    let cases: Vec<(&str, Vec<&str>, Vec<&str>, u64)> = vec![
        ("same_file_twice", vec![&a1, &a2], vec![&a1, &a2], 0),
        (
            "overlapping_newer_export",
            vec![&a1, &a2],
            vec![&a2, &a3],
            1,
        ),
        (
            "id_less_identical_pair_is_two_messages",
            vec![],
            vec![&ok, &ok],
            2,
        ),
        ("id_less_reimport", vec![&ok, &ok], vec![&ok, &ok], 0),
        ("id_less_export_grew", vec![&ok], vec![&ok, &ok], 1),
        (
            "same_id_in_another_conversation",
            vec![&a1],
            vec![&same_id_other_conv],
            1,
        ),
        (
            "same_content_in_another_conversation",
            vec![&ok],
            vec![&ok_other_conv],
            1,
        ),
    ];
    for (name, first, second, want) in cases {
        let (_d, mut a) = new_archive();
        if !first.is_empty() {
            import_text(&mut a, "a.jsonl", &first.join("\n"));
        }
        let r = import_text(&mut a, "b.jsonl", &second.join("\n"));
        assert_eq!(r.stored, want, "{name}");
        assert_eq!(
            r.stored + r.duplicates,
            second.len() as u64,
            "{name}: every record accounted for"
        );
        assert!(a.verify(&mut |_| {}).expect("verify").ok, "{name}: verify");
    }
}

#[test]
fn no_plaintext_reaches_the_store_files() {
    let (d, mut a) = new_archive();
    let secret = "这是一句只应加密存放的句子 SECRET-SENTENCE-42";
    let raw_only = "RAW-ONLY-EXTRA-FIELD-99";
    let text = [
        line("c", Some("m1"), "u", "2024-01-01T00:00:00Z", secret),
        // A non-canonical line (extra object), so its raw record is stored verbatim.
        format!(
            r#"{{"platform":"wecom","conversation_id":"c","sender_id":"u","sent_at":"2024-01-01T00:00:01Z","text":"{secret}","extra":{{"note":"{raw_only}"}},"attachments":[{{"name":"a.txt","data":"U0VDUkVULUFUVEFDSE1FTlQ="}}]}}"#
        ),
    ]
    .join("\n");
    assert_eq!(import_text(&mut a, "s.jsonl", &text).stored, 2);
    a.close().expect("close");
    drop(a);
    let needles: Vec<&[u8]> = vec![
        secret.as_bytes(),
        "只应加密".as_bytes(),
        b"SECRET-SENTENCE",
        raw_only.as_bytes(),
        b"SECRET-ATTACHMENT",
    ];
    let files = store_files(d.path());
    assert!(files.iter().any(|(n, _)| n.ends_with("archive.db")));
    for (name, bytes) in &files {
        for n in &needles {
            assert!(
                !bytes.windows(n.len()).any(|w| w == *n),
                "{name} contains plaintext {:?}",
                String::from_utf8_lossy(n)
            );
        }
    }
    // The index is the one place text may live; it must find the sentence.
    let mut a = reopen(d.path());
    assert_eq!(total(&mut a, "只应加密"), 2);
}

#[test]
fn wrong_and_missing_keys_fail_clearly() {
    let (d, a) = new_archive();
    drop(a);
    let key_file = d.path().join("keys/kek");
    let good = std::fs::read_to_string(&key_file).expect("key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "key file mode");
    }
    std::fs::write(
        &key_file,
        format!("chatvault-kek-v1:{}\n", "A".repeat(43) + "="),
    )
    .expect("write");
    let err = Archive::open(d.path(), &KeyProvider::default())
        .err()
        .expect("wrong key must fail");
    assert!(matches!(err, ArchiveError::Key(_)), "{err}");
    assert!(
        err.to_string().contains("does not open this archive"),
        "{err}"
    );
    std::fs::remove_file(&key_file).expect("rm");
    let err = Archive::open(d.path(), &KeyProvider::default())
        .err()
        .expect("missing key must fail");
    assert!(err.to_string().contains("missing"), "{err}");
    std::fs::write(&key_file, good).expect("restore");
    assert!(Archive::open(d.path(), &KeyProvider::default()).is_ok());
}

#[test]
fn env_key_and_passphrase_archives() {
    let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let env = KeyProvider {
        env_key: z(key),
        ..Default::default()
    };
    let d = tempfile::tempdir().expect("tmp");
    let r = Archive::init(d.path(), &env).expect("init");
    assert_eq!(r.key_source, "env");
    assert!(
        !d.path().join("keys/kek").exists(),
        "no key file for an env key"
    );
    let err = Archive::open(d.path(), &KeyProvider::default())
        .err()
        .expect("needs the env key");
    assert!(err.to_string().contains("CHATVAULT_KEY"), "{err}");
    let mut a = Archive::open(d.path(), &env).expect("open");
    import_text(
        &mut a,
        "x",
        &line("c", Some("1"), "u", "2024-01-01T00:00:00Z", "hi"),
    );
    let rotated = KeyProvider {
        env_key: z(key),
        new_env_key: z(&"ab".repeat(32)),
        ..Default::default()
    };
    a.rotate_key(&rotated).expect("rotate");
    drop(a);
    let mut a = Archive::open(
        d.path(),
        &KeyProvider {
            env_key: z(&"ab".repeat(32)),
            ..Default::default()
        },
    )
    .expect("new key opens");
    assert!(a.verify(&mut |_| {}).expect("verify").ok);
    assert!(Archive::open(d.path(), &env).is_err(), "old key retired");

    let d = tempfile::tempdir().expect("tmp");
    let pass = KeyProvider {
        passphrase: z("correct horse battery staple"),
        ..Default::default()
    };
    Archive::init(d.path(), &pass).expect("init");
    assert!(Archive::open(
        d.path(),
        &KeyProvider {
            passphrase: z("wrong horse battery staple"),
            ..Default::default()
        }
    )
    .is_err());
    assert!(Archive::open(d.path(), &pass).is_ok());
    let short = KeyProvider {
        passphrase: z("short"),
        ..Default::default()
    };
    assert!(
        Archive::init(tempfile::tempdir().expect("tmp").path(), &short).is_err(),
        "short passphrase refused"
    );
}

#[test]
fn key_rotation_keeps_everything_readable() {
    let (d, mut a) = new_archive();
    import_text(&mut a, "g", &generated(300, 3));
    let before = a
        .search("退款", &Filters::default(), 1000, 0)
        .expect("search")
        .total;
    // Service secrets (the audit signer, the TOTP seal key) are re-wrapped too.
    let audit_key = a
        .audit_signer()
        .expect("audit signer")
        .verifier_key()
        .to_owned();
    let seal = a
        .service_secret("seal", &|| Ok(zeroize::Zeroizing::new(vec![7u8; 32])))
        .expect("secret")
        .to_vec();
    let (old, new) = a.rotate_key(&KeyProvider::default()).expect("rotate");
    assert_ne!(old, new);
    assert!(
        d.path().join(format!("keys/retired/kek-{old}")).exists(),
        "old key retired, not destroyed silently"
    );
    drop(a);
    let mut a = reopen(d.path());
    let r = a.verify(&mut |_| {}).expect("verify");
    assert!(r.ok, "{:?}", r.errors);
    assert_eq!(
        a.audit_signer()
            .expect("audit signer after rotation")
            .verifier_key(),
        audit_key
    );
    let again = a
        .service_secret("seal", &|| Ok(zeroize::Zeroizing::new(vec![9u8; 32])))
        .expect("secret");
    assert_eq!(again.to_vec(), seal, "the same secret, not a new one");
    assert_eq!(
        a.search("退款", &Filters::default(), 1000, 0)
            .expect("search")
            .total,
        before
    );
    let conv = a
        .search("退款", &Filters::default(), 1, 0)
        .expect("search")
        .hits[0]
        .conversation
        .clone();
    assert!(a
        .show(&conv, 0, 100)
        .expect("show")
        .messages
        .iter()
        .all(|m| m.text.is_some()));
    // New imports after rotation use the new key too.
    import_text(&mut a, "g2", &generated(50, 4));
    assert!(a.verify(&mut |_| {}).expect("verify").ok);
}

#[test]
fn an_interrupted_file_rotation_completes_on_open() {
    let (d, mut a) = new_archive();
    import_text(&mut a, "g", &generated(20, 5));
    a.rotate_key(&KeyProvider::default()).expect("rotate");
    drop(a);
    // Simulate a crash after the database switched keys but before the files were renamed:
    // the current key sits in kek.new and an old key in kek.
    let keys = d.path().join("keys");
    let retired = std::fs::read_dir(keys.join("retired"))
        .expect("retired")
        .next()
        .expect("one")
        .expect("entry")
        .path();
    std::fs::rename(keys.join("kek"), keys.join("kek.new")).expect("mv");
    std::fs::copy(&retired, keys.join("kek")).expect("cp");
    let mut a = reopen(d.path());
    assert!(a.verify(&mut |_| {}).expect("verify").ok);
    assert!(!keys.join("kek.new").exists(), "rotation finished");
}

#[test]
fn reindex_equals_a_fresh_index() {
    let (d, mut a) = new_archive();
    import_text(&mut a, "g", &generated(800, 9));
    import_text(&mut a, "g2", &generated(400, 10));
    let queries = [
        "退款",
        "简单",
        "处理",
        "单",
        "发票 OR invoice",
        "退款 -退货",
        "\"iphone 13\"",
        "SO",
        "👍",
        "您好 感谢",
    ];
    let run = |a: &mut Archive| -> Vec<(u64, Vec<String>)> {
        queries
            .iter()
            .map(|q| {
                let r = a.search(q, &Filters::default(), 10_000, 0).expect("search");
                (r.total, r.hits.into_iter().map(|h| h.id).collect())
            })
            .collect()
    };
    let incremental = run(&mut a);
    a.reindex(&mut |_| {}).expect("reindex");
    assert_eq!(
        run(&mut a),
        incremental,
        "reindex differs from the incremental index"
    );
    drop(a);
    std::fs::remove_dir_all(d.path().join("index")).expect("rm index");
    let mut a = reopen(d.path());
    assert_eq!(
        run(&mut a),
        incremental,
        "an index rebuilt from nothing differs"
    );
    // An index of another version's layout (here: one field fewer in its schema) is
    // derived data: opening the archive rebuilds it, when no other process writes.
    drop(a);
    let meta_path = d.path().join("index").join("meta.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).expect("meta")).expect("json");
    let fields = meta["schema"].as_array_mut().expect("schema");
    let before = fields.len();
    fields.retain(|f| f["name"] != "pii");
    assert_eq!(fields.len(), before - 1, "the schema has a `pii` field");
    std::fs::write(&meta_path, serde_json::to_vec(&meta).expect("json")).expect("write");
    let mut a = reopen(d.path());
    assert_eq!(
        run(&mut a),
        incremental,
        "an index of another layout, rebuilt on open, differs"
    );
}

#[test]
fn search_filters_and_hit_shape() {
    let (_d, mut a) = new_archive();
    let text = [
        line(
            "c1",
            Some("1"),
            "张三",
            "2024-01-31T23:59:59+08:00",
            "退款申请",
        ),
        line(
            "c1",
            Some("2"),
            "李四",
            "2024-02-01T00:00:00+08:00",
            "已退款",
        ),
        line(
            "c2",
            Some("3"),
            "张三",
            "2024-02-15T12:00:00+08:00",
            "退款到账",
        ),
    ]
    .join("\n");
    import_text(&mut a, "f", &text);
    let f =
        |from: Option<i64>, to: Option<i64>, sender: Option<&str>, conv: Option<&str>| Filters {
            from_ms: from,
            to_ms: to,
            sender: sender.map(str::to_owned),
            conversation: conv.map(str::to_owned),
            ..Filters::default()
        };
    let feb1 = 1_706_716_800_000; // 2024-02-01T00:00:00+08:00
    let cases = [
        ("all", f(None, None, None, None), 3),
        ("from_inclusive", f(Some(feb1), None, None, None), 2),
        ("to_inclusive", f(None, Some(feb1), None, None), 2),
        ("sender_name", f(None, None, Some("张三"), None), 2),
        ("conversation", f(None, None, None, Some("wecom:c1")), 2),
        ("combined", f(Some(feb1), None, Some("张三"), None), 1),
        ("unknown_sender", f(None, None, Some("王五"), None), 0),
    ];
    for (name, filters, want) in cases {
        assert_eq!(
            a.search("退款", &filters, 10, 0).expect("search").total,
            want,
            "{name}"
        );
    }
    let r = a.search("退款", &Filters::default(), 1, 0).expect("search");
    assert_eq!(r.total, 3, "total ignores the limit");
    assert_eq!(r.hits.len(), 1);
    let h = &r.hits[0];
    assert_eq!(h.text, "退款到账", "newest first");
    assert_eq!(h.conversation, "wecom:c2");
    assert_eq!(h.sender, "张三");
    assert_eq!(h.sent_at, "2024-02-15T12:00:00+08:00");
    assert_eq!(h.highlights, vec![[0, 2]]);
    let page2 = a.search("退款", &Filters::default(), 1, 1).expect("search");
    assert_eq!(page2.hits[0].text, "已退款");
}

/// The server asks the index without the archive's lock: a search planned before an
/// ingest and a deletion finishes after them on the generation it planned, and never
/// shows, nor counts, the message deleted meanwhile, on its page or on another.
#[test]
fn a_search_planned_before_writes_finishes_after_them() {
    let (_d, mut a) = new_archive();
    let text = [
        line("c1", Some("1"), "u1", "2024-02-01T10:00:00+08:00", "退款一"),
        line("c1", Some("2"), "u1", "2024-02-02T10:00:00+08:00", "退款二"),
        line("c2", Some("3"), "u2", "2024-02-03T10:00:00+08:00", "退款三"),
    ]
    .join("\n");
    import_text(&mut a, "f", &text);
    let oldest = a.search("退款", &Filters::default(), 1, 2).expect("search");
    let oldest_id = oldest.hits[0].id.clone();
    for visible in [false, true] {
        let plan = if visible {
            a.plan_visible(
                "退款",
                &Filters::default(),
                10,
                0,
                true,
                chatvault_archive::PersonalData::Shown,
            )
        } else {
            // One message a page: the deleted one is on another page.
            a.plan_search("退款", &Filters::default(), 1, 0)
        }
        .expect("plan");
        if !visible {
            // Written while the plan is out: one more match, one match deleted.
            import_text(
                &mut a,
                "g",
                &line("c3", Some("4"), "u3", "2024-02-04T10:00:00+08:00", "退款四"),
            );
            a.delete_messages(
                std::slice::from_ref(&oldest_id),
                &chatvault_archive::DeletionReason {
                    rule: "request:1".into(),
                    requested_by: "test".into(),
                    approved_by: None,
                },
                0,
                30,
            )
            .expect("delete");
        }
        let found = plan.run().expect("run");
        let r = if visible {
            a.finish_visible(found, &mut |_, _| chatvault_archive::Visibility::Full)
                .map(chatvault_archive::Visible::into_inner)
        } else {
            a.finish_search(found)
        }
        .expect("finish");
        let texts: Vec<&str> = r.hits.iter().map(|h| h.text.as_str()).collect();
        if visible {
            // Planned after the writes: sees the new message, not the deleted one.
            assert_eq!(texts, ["退款四", "退款三", "退款二"], "planned after");
            assert_eq!(r.total, 3);
        } else {
            // The planned generation lacks the new message; the deletion is not counted.
            assert_eq!(texts, ["退款三"], "planned before");
            assert_eq!(r.total, 2, "the deleted message was on another page");
        }
    }
    assert_eq!(total(&mut a, "退款"), 3);
}

#[test]
fn proofs_verify_offline_and_tampering_is_named() {
    let (_d, mut a) = new_archive();
    import_text(&mut a, "g", &generated(100, 12));
    let id = a
        .search("", &Filters::default(), 1, 0)
        .expect("search")
        .hits[0]
        .id
        .clone();
    let p = a.proof(&id, true).expect("proof");
    let fp = a.key_fingerprint();
    let good = serde_json::to_vec(&p).expect("json");
    let c = verify_proof_file(&good, Some(&fp));
    assert!(c.ok, "{:?}", c.errors);
    assert!(c.content_checked);

    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_slice(&good).expect("json");
        f(&mut v);
        serde_json::to_vec(&v).expect("json")
    };
    let other_signer = other_archive_key();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "text_changed",
            edit(&|v| v["content"]["text"] = "我不要退款".into()),
        ),
        (
            "salt_changed",
            edit(&|v| v["content"]["salt"] = "AAAAAAAAAAAAAAAAAAAAAA==".into()),
        ),
        (
            "leaf_index_changed",
            edit(&|v| v["leaf_index"] = (v["leaf_index"].as_u64().unwrap_or(0) ^ 1).into()),
        ),
        (
            "tree_size_changed",
            edit(&|v| v["tree_size"] = (v["tree_size"].as_u64().unwrap_or(0) + 1).into()),
        ),
        (
            "proof_hash_dropped",
            edit(&|v| {
                if let Some(a) = v["proof"].as_array_mut() {
                    a.pop();
                }
            }),
        ),
        (
            "leaf_bytes_changed",
            edit(&|v| {
                let s = v["leaf"].as_str().unwrap_or_default().to_owned();
                v["leaf"] = format!("{}A{}", &s[..20], &s[21..]).into();
            }),
        ),
        (
            "checkpoint_root_changed",
            edit(&|v| {
                let s = v["checkpoint"].as_str().unwrap_or_default().to_owned();
                let mut lines: Vec<&str> = s.split('\n').collect();
                let fake = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned();
                lines[2] = &fake;
                v["checkpoint"] = lines.join("\n").into();
            }),
        ),
        (
            "key_swapped",
            edit(&|v| v["verifier_key"] = other_signer.clone().into()),
        ),
        (
            "message_id_changed",
            edit(&|v| v["message_id"] = "01ARZ3NDEKTSV4RRFFQ69G5FAV".into()),
        ),
        ("not_json", b"{".to_vec()),
    ];
    for (name, bytes) in cases {
        let c = verify_proof_file(&bytes, Some(&fp));
        assert!(!c.ok, "{name} must fail");
        assert!(!c.errors.is_empty(), "{name} must say why");
    }
    // Pinning the wrong fingerprint fails even for an intact proof.
    assert!(!verify_proof_file(&good, Some("sha256:00")).ok);
}

/// The checkpoint key of another archive.
fn other_archive_key() -> String {
    let d = tempfile::tempdir().expect("tmp");
    Archive::init(d.path(), &KeyProvider::default())
        .expect("init")
        .verifier_key
}

#[test]
fn index_catches_up_after_a_lost_commit() {
    let (d, mut a) = new_archive();
    import_text(&mut a, "g", &generated(200, 13));
    let want = total(&mut a, "您好");
    drop(a);
    // Replace the index with an empty one, as if its commit never happened.
    std::fs::remove_dir_all(d.path().join("index")).expect("rm");
    std::fs::create_dir(d.path().join("index")).expect("mkdir");
    let mut a = reopen(d.path());
    assert_eq!(total(&mut a, "您好"), want);
    assert!(a.stats().expect("stats").indexed_messages == 200);
}

#[test]
fn pii_flags_are_kept_at_import_and_survive_a_schema_upgrade() {
    use chatvault_model::pii::PiiKind::*;
    let (d, mut a) = new_archive();
    let text = [
        line(
            "c",
            Some("p1"),
            "u",
            "2024-01-01T00:00:00Z",
            "我的手机 13812345678，邮箱 li@example.com",
        ),
        line(
            "c",
            Some("p2"),
            "u",
            "2024-01-01T00:00:01Z",
            "身份证 11010519491231002X",
        ),
        line("c", Some("p3"), "u", "2024-01-01T00:00:02Z", "好的，谢谢"),
    ]
    .join("\n");
    assert_eq!(import_text(&mut a, "p.jsonl", &text).stored, 3);
    let flags = |a: &mut Archive| -> Vec<Vec<chatvault_model::pii::PiiKind>> {
        a.show("wecom:c", 0, 10)
            .expect("show")
            .messages
            .into_iter()
            .map(|m| m.pii)
            .collect()
    };
    let want = vec![vec![Mobile, Email], vec![ResidentId], vec![]];
    assert_eq!(flags(&mut a), want);
    a.close().expect("close");
    drop(a);
    // An archive written before the flags were kept: schema version 1, no column, no
    // sender index, and the log one row per stored hash (before tiles).
    let hashes = {
        use chatvault_store::StoreRead;
        let s =
            chatvault_store_sqlite::SqliteStore::open(&d.path().join("archive.db")).expect("store");
        let n = chatvault_ledger::stored_hash_count(s.log_size().expect("size"));
        s.read_hashes(&(0..n).collect::<Vec<_>>()).expect("hashes")
    };
    let db =
        chatvault_store_sqlite::raw::Connection::open(d.path().join("archive.db")).expect("db");
    db.execute_batch("CREATE TABLE log_hashes (idx INTEGER PRIMARY KEY, hash BLOB NOT NULL); DROP TABLE log_tiles;")
        .expect("the log as rows");
    for (i, h) in hashes.iter().enumerate() {
        db.execute(
            "INSERT INTO log_hashes (idx, hash) VALUES (?1, ?2)",
            chatvault_store_sqlite::raw::params![i as i64, &h[..]],
        )
        .expect("hash");
    }
    db.execute_batch("DROP INDEX messages_sender; DROP TABLE deletions; ALTER TABLE messages DROP COLUMN pii; PRAGMA user_version = 1;").expect("downgrade");
    drop(db);
    let mut a = reopen(d.path());
    let db =
        chatvault_store_sqlite::raw::Connection::open(d.path().join("archive.db")).expect("db");
    let v: i64 = db
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    let idx: i64 = db
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'messages_sender'",
            [],
            |r| r.get(0),
        )
        .expect("index");
    let del: i64 = db
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'deletions'",
            [],
            |r| r.get(0),
        )
        .expect("deletions");
    assert_eq!((v, idx, del), (5, 1, 1), "migrated 1 -> 2 -> 3 -> 4 -> 5");
    drop(db);
    assert_eq!(
        flags(&mut a),
        want,
        "derived from the content for rows without flags"
    );
    assert!(a.verify(&mut |_| {}).expect("verify").ok);
    // New rows after the upgrade carry their flags, and verify checks them.
    assert_eq!(
        import_text(
            &mut a,
            "q.jsonl",
            &line(
                "c",
                Some("p4"),
                "u",
                "2024-01-01T00:00:03Z",
                "卡号 4111 1111 1111 1111"
            )
        )
        .stored,
        1
    );
    assert_eq!(flags(&mut a)[3], vec![BankCard]);
    assert!(a.verify(&mut |_| {}).expect("verify").ok);
}

/// A group commit writes several callers' batches in one transaction, each read on its
/// own: the same batch twice (a retry landing in the same group as its first copy)
/// answers duplicates, even for identical messages without a source id, which are told
/// apart by their order within their batch only. Deferred, they are durable at once and
/// searchable after the flush.
#[test]
fn batches_written_together_keep_their_own_dedup() {
    use chatvault_archive::IngestOutcome;
    let (_d, mut a) = new_archive();
    let msg = |text: &str| {
        let rec: chatvault_model::canonical::CanonicalRecord =
            serde_json::from_value(serde_json::json!({
            "platform": "wecom", "conversation_id": "g1", "sender_id": "u1",
            "sent_at": "2024-03-01T09:00:00+08:00", "text": text}))
            .expect("record");
        rec.into_new_message(
            vec![],
            chatvault_model::Origin {
                file: "t".into(),
                line: 1,
            },
            &mut |_| Err("no attachments".into()),
        )
        .expect("message")
    };
    // One batch: "好的" twice (two messages, told apart by their order), then "谢谢".
    let batch = || vec![msg("好的"), msg("好的"), msg("谢谢")];
    let out = a
        .ingest_durable_batches(vec![batch(), batch()])
        .expect("ingest");
    let stored = |o: &[IngestOutcome]| {
        o.iter()
            .filter(|x| matches!(x, IngestOutcome::Stored { .. }))
            .count()
    };
    assert_eq!(stored(&out[..3]), 3, "the first copy: three messages");
    assert_eq!(
        stored(&out[3..]),
        0,
        "the retry in the same group: duplicates"
    );
    assert_eq!(total(&mut a, "好的"), 0, "not searchable before the flush");
    assert!(a.flush_index().expect("flush"));
    assert_eq!(total(&mut a, "好的"), 2);
    assert!(!a.flush_index().expect("flush"), "nothing left to flush");
}

/// A role's reach (the conversations its handles sent in) is cached; it stays what the
/// store says after this process stores more, and after another process does.
#[test]
fn the_cached_reach_follows_every_write() {
    let (d, mut a) = new_archive();
    let u1 = chatvault_policy::Handle::new("wecom", "u1");
    let names = |a: &mut Archive| {
        a.conversations_of(std::slice::from_ref(&u1))
            .expect("conversations_of")
    };
    import_text(
        &mut a,
        "one.jsonl",
        &[
            line("c1", Some("1"), "u1", "2024-03-01T09:00:00+08:00", "你好"),
            line("c2", Some("2"), "u2", "2024-03-01T09:01:00+08:00", "在吗"),
        ]
        .join("\n"),
    );
    assert_eq!(
        names(&mut a),
        vec!["wecom:c1"],
        "read from the store, then cached"
    );
    // This process writes: u1 now takes part in c2 and a new c3.
    import_text(
        &mut a,
        "two.jsonl",
        &[
            line("c2", Some("3"), "u1", "2024-03-01T09:02:00+08:00", "在"),
            line("c3", Some("4"), "u1", "2024-03-01T09:03:00+08:00", "好的"),
            line("c3", Some("5"), "u1", "2024-03-01T09:04:00+08:00", "好的"),
        ]
        .join("\n"),
    );
    assert_eq!(names(&mut a), vec!["wecom:c1", "wecom:c2", "wecom:c3"]);
    drop(a);
    // A reader caches the reach; another process then writes u1 into c4. The reader sees
    // it once it reads the store again (a search does).
    let mut reader = reopen(d.path());
    assert_eq!(names(&mut reader), vec!["wecom:c1", "wecom:c2", "wecom:c3"]);
    {
        let mut other = reopen(d.path());
        import_text(
            &mut other,
            "three.jsonl",
            &line("c4", Some("6"), "u1", "2024-03-01T09:05:00+08:00", "收到"),
        );
    }
    assert_eq!(
        total(&mut reader, "收到"),
        1,
        "a search reads the other process's writes"
    );
    assert_eq!(
        names(&mut reader),
        vec!["wecom:c1", "wecom:c2", "wecom:c3", "wecom:c4"]
    );
    let ids = reader
        .conversation_ids_of(std::slice::from_ref(&u1))
        .expect("ids");
    assert_eq!(ids.len(), 4);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ascending, no repeats");
}

/// Damage a store found in the log while moving it to a new layout (the upgrade to tiles
/// records it and carries the leaves over) is reported by `verify`, every time.
#[test]
fn verify_reports_damage_the_log_upgrade_found() {
    let (d, mut a) = new_archive();
    let text = line("c", Some("p1"), "u", "2024-01-01T00:00:00Z", "你好");
    assert_eq!(import_text(&mut a, "p.jsonl", &text).stored, 1);
    assert!(a.verify(&mut |_| {}).expect("verify").ok);
    a.close().expect("close");
    drop(a);
    let db =
        chatvault_store_sqlite::raw::Connection::open(d.path().join("archive.db")).expect("db");
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)",
        chatvault_store_sqlite::raw::params![
            chatvault_store::LOG_FINDING,
            &b"the log was damaged before its upgrade to tiles"[..]
        ],
    )
    .expect("the finding");
    drop(db);
    let mut a = reopen(d.path());
    let r = a.verify(&mut |_| {}).expect("verify");
    assert!(!r.ok, "a recorded finding was not reported");
    assert!(
        r.errors
            .iter()
            .any(|e| e.what.contains("damaged before its upgrade to tiles")),
        "{:?}",
        r.errors
    );
}
