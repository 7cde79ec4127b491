//! Tampering, field by field: each change to a stored byte makes `verify` fail and, where
//! one message is concerned, name that message.

use chatvault_import::{CanonicalJsonl, ImportContext};
use chatvault_store_sqlite::raw::{params, Connection};

use crate::body::Body;
use crate::{body_aad, Archive, KeyProvider};

const TARGET: u64 = 17;

struct Fixture {
    dir: tempfile::TempDir,
    target_id: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tmp");
    Archive::init(dir.path(), &KeyProvider::default()).expect("init");
    let mut a = Archive::open(dir.path(), &KeyProvider::default()).expect("open");
    let opts = chatvault_gen::GenOptions {
        messages: 60,
        seed: 21,
        ..Default::default()
    };
    let mut text: String = chatvault_gen::Generator::new(opts, None)
        .collect::<Vec<_>>()
        .join("\n");
    // One message with an attachment, placed at the target's seq + 1.
    text.push('\n');
    text.push_str(r#"{"platform":"wecom","conversation_id":"att","sender_id":"u","sent_at":"2024-01-01T00:00:00Z","source_id":"att-1","attachments":[{"name":"a.txt","mime":"text/plain","data":"aGVsbG8gd29ybGQ="}]}"#);
    let ctx = ImportContext {
        file_label: "t".into(),
        base_dir: None,
        ..ImportContext::default()
    };
    let mut recs = CanonicalJsonl.open(Box::new(text.as_bytes()), ctx);
    assert_eq!(a.import(&mut recs, &mut |_| {}).expect("import").stored, 61);
    let row = a
        .store
        .message_by_seq(TARGET)
        .expect("row")
        .expect("exists");
    a.close().expect("close");
    Fixture {
        target_id: ulid::Ulid::from_bytes(row.id).to_string(),
        dir,
    }
}

fn db(f: &Fixture) -> Connection {
    Connection::open(f.dir.path().join("archive.db")).expect("db")
}

fn flip(conn: &Connection, table: &str, column: &str, key: &str, key_value: i64, at: usize) {
    let v: Vec<u8> = conn
        .query_row(
            &format!("SELECT {column} FROM {table} WHERE {key} = ?1"),
            [key_value],
            |r| r.get(0),
        )
        .expect("read");
    let mut v = v;
    let i = at.min(v.len() - 1);
    v[i] ^= 0x01;
    conn.execute(
        &format!("UPDATE {table} SET {column} = ?1 WHERE {key} = ?2"),
        params![v, key_value],
    )
    .expect("write");
}

/// Re-encrypts the target's content after `change`, as an attacker holding the key could.
fn reseal(f: &Fixture, change: &dyn Fn(&mut Body)) {
    let mut a = Archive::open(f.dir.path(), &KeyProvider::default()).expect("open");
    let row = a
        .store
        .message_by_seq(TARGET)
        .expect("row")
        .expect("exists");
    let dek = a.dek(row.conversation).expect("dek");
    let aad = body_aad(&row.id);
    let sealed = row.body.as_ref().expect("body");
    let mut body = Body::decode(&dek.open(sealed, &aad, "t").expect("opens")).expect("decodes");
    change(&mut body);
    let resealed = dek.seal(&body.encode(), &aad);
    drop(a);
    db(f)
        .execute(
            "UPDATE messages SET body = ?1 WHERE seq = ?2",
            params![resealed, TARGET as i64],
        )
        .expect("write");
}

#[test]
fn every_tampering_is_detected_and_named() {
    type Tamper = Box<dyn Fn(&Fixture)>;
    let t = TARGET as i64;
    // (name, change, whether the target message must be named)
    let cases: Vec<(&str, Tamper, bool)> = vec![
        (
            "body_ciphertext_byte",
            Box::new(move |f| flip(&db(f), "messages", "body", "seq", t, 30)),
            true,
        ),
        (
            "body_nonce_byte",
            Box::new(move |f| flip(&db(f), "messages", "body", "seq", t, 0)),
            true,
        ),
        (
            "body_tag_byte",
            Box::new(move |f| flip(&db(f), "messages", "body", "seq", t, usize::MAX)),
            true,
        ),
        (
            "body_swapped_between_rows",
            Box::new(move |f| {
                let c = db(f);
                c.execute("UPDATE messages SET body = (SELECT body FROM messages WHERE seq = ?1 + 1) WHERE seq = ?1", [t]).expect("swap");
            }),
            true,
        ),
        (
            "sender_name",
            Box::new(move |f| {
                db(f).execute("UPDATE messages SET sender_name = coalesce(sender_name, '') || 'x' WHERE seq = ?1", [t]).expect("w");
            }),
            true,
        ),
        (
            "sender_row",
            Box::new(move |f| {
                db(f).execute("UPDATE messages SET sender = (SELECT max(id) FROM participants WHERE id <> sender) WHERE seq = ?1", [t]).expect("w");
            }),
            true,
        ),
        (
            "sender_role",
            Box::new(move |f| {
                db(f)
                    .execute(
                        "UPDATE messages SET sender_role = (sender_role + 1) % 4 WHERE seq = ?1",
                        [t],
                    )
                    .expect("w");
            }),
            true,
        ),
        (
            "sent_at_one_ms",
            Box::new(move |f| {
                db(f)
                    .execute(
                        "UPDATE messages SET sent_at = sent_at + 1 WHERE seq = ?1",
                        [t],
                    )
                    .expect("w");
            }),
            true,
        ),
        (
            "sent_offset",
            Box::new(move |f| {
                db(f).execute("UPDATE messages SET sent_offset = coalesce(sent_offset, 0) + 3600 WHERE seq = ?1", [t]).expect("w");
            }),
            true,
        ),
        (
            "received_at",
            Box::new(move |f| {
                db(f)
                    .execute(
                        "UPDATE messages SET received_at = received_at - 1 WHERE seq = ?1",
                        [t],
                    )
                    .expect("w");
            }),
            true,
        ),
        (
            "kind",
            Box::new(move |f| {
                db(f)
                    .execute(
                        "UPDATE messages SET kind = (kind + 1) % 11 WHERE seq = ?1",
                        [t],
                    )
                    .expect("w");
            }),
            true,
        ),
        (
            "source_id",
            Box::new(move |f| {
                db(f)
                    .execute(
                        "UPDATE messages SET source_id = source_id || 'x' WHERE seq = ?1",
                        [t],
                    )
                    .expect("w");
            }),
            true,
        ),
        (
            "reply_to",
            Box::new(move |f| {
                db(f)
                    .execute(
                        "UPDATE messages SET reply_to = 'forged' WHERE seq = ?1",
                        [t],
                    )
                    .expect("w");
            }),
            true,
        ),
        (
            "moved_to_other_conversation",
            Box::new(move |f| {
                db(f).execute("UPDATE messages SET conversation = (SELECT max(id) FROM conversations WHERE id <> conversation) WHERE seq = ?1", [t]).expect("w");
            }),
            true,
        ),
        (
            "pii_flags",
            Box::new(move |f| {
                db(f)
                    .execute(
                        "UPDATE messages SET pii = (pii + 1) % 16 WHERE seq = ?1",
                        [t],
                    )
                    .expect("w");
            }),
            true,
        ),
        (
            "message_id",
            Box::new(move |f| flip(&db(f), "messages", "id", "seq", t, 9)),
            false,
        ),
        (
            "salt_resealed_with_the_key",
            Box::new(|f| reseal(f, &|b| b.salt[0] ^= 1)),
            true,
        ),
        (
            "text_resealed_with_the_key",
            Box::new(|f| reseal(f, &|b| b.text.push('!'))),
            true,
        ),
        (
            "leaf_hash_in_log",
            Box::new(move |f| {
                // The target's leaf hash, in the tile row that holds it.
                let c = db(f);
                let (key, _) = tile_row_of(&c, TARGET);
                let at = (TARGET - key as u64) as usize * 32 + 3;
                flip(&c, "log_tiles", "hashes", "key", key, at);
            }),
            true,
        ),
        (
            "key_wrap_byte",
            Box::new(move |f| {
                let c = db(f);
                let conv: i64 = c
                    .query_row(
                        "SELECT conversation FROM messages WHERE seq = ?1",
                        [t],
                        |r| r.get(0),
                    )
                    .expect("conv");
                flip(&c, "data_keys", "wrapped", "conversation", conv, 20);
            }),
            true,
        ),
        (
            "participant_handle",
            Box::new(move |f| {
                db(f).execute("UPDATE participants SET handle = handle || 'x' WHERE id = (SELECT sender FROM messages WHERE seq = ?1)", [t]).expect("w");
            }),
            true,
        ),
        (
            "conversation_external_id",
            Box::new(move |f| {
                db(f).execute("UPDATE conversations SET external_id = external_id || 'x' WHERE id = (SELECT conversation FROM messages WHERE seq = ?1)", [t]).expect("w");
            }),
            true,
        ),
        (
            "attachment_bytes",
            Box::new(|f| {
                let c = db(f);
                let sealed: Vec<u8> = c
                    .query_row("SELECT sealed FROM attachments", [], |r| r.get(0))
                    .expect("att");
                let mut s = sealed;
                s[20] ^= 1;
                c.execute("UPDATE attachments SET sealed = ?1", [s])
                    .expect("w");
            }),
            false,
        ),
        (
            "conversation_title",
            Box::new(move |f| {
                db(f).execute("UPDATE conversations SET title = 'forged title' WHERE id = (SELECT conversation FROM messages WHERE seq = ?1)", [t]).expect("w");
            }),
            false,
        ),
        (
            "participant_display_name",
            Box::new(move |f| {
                db(f).execute("UPDATE participants SET display_name = 'Someone Else' WHERE id = (SELECT sender FROM messages WHERE seq = ?1)", [t]).expect("w");
            }),
            false,
        ),
        (
            "attachment_row_deleted",
            Box::new(|f| {
                db(f).execute("DELETE FROM attachments", []).expect("w");
            }),
            false,
        ),
        (
            "unreadable_row_among_others",
            Box::new(move |f| {
                // A text where a number must be: the row cannot be read; the messages
                // after it are still checked.
                db(f)
                    .execute("UPDATE messages SET sent_at = 'soon' WHERE seq = ?1", [t])
                    .expect("w");
                db(f)
                    .execute(
                        "UPDATE messages SET reply_to = 'forged' WHERE seq = ?1",
                        [t + 5],
                    )
                    .expect("w");
            }),
            false,
        ),
        (
            "checkpoint_note_byte",
            Box::new(|f| {
                let c = db(f);
                let note: String = c
                    .query_row("SELECT note FROM checkpoints", [], |r| r.get(0))
                    .expect("note");
                c.execute(
                    "UPDATE checkpoints SET note = ?1",
                    [note.replacen('\n', "\n ", 1)],
                )
                .expect("w");
            }),
            false,
        ),
        (
            "checkpoint_root_column",
            Box::new(|f| {
                let c = db(f);
                let size: i64 = c
                    .query_row("SELECT size FROM checkpoints", [], |r| r.get(0))
                    .expect("size");
                flip(&c, "checkpoints", "root", "size", size, 0);
            }),
            false,
        ),
        (
            "message_deleted",
            Box::new(move |f| {
                db(f)
                    .execute("DELETE FROM messages WHERE seq = ?1", [t])
                    .expect("w");
            }),
            false,
        ),
        (
            "last_message_and_its_hashes_deleted",
            Box::new(|f| {
                let c = db(f);
                c.execute(
                    "DELETE FROM messages WHERE seq = (SELECT max(seq) FROM messages)",
                    [],
                )
                .expect("w");
                // The last leaf's hash goes from its tile row (the log holds 61 leaves).
                let (key, hashes) = tile_row_of(&c, 60);
                let keep = (60 - key as u64) as usize * 32;
                if keep == 0 {
                    c.execute("DELETE FROM log_tiles WHERE key = ?1", [key])
                } else {
                    c.execute(
                        "UPDATE log_tiles SET hashes = ?1 WHERE key = ?2",
                        params![&hashes[..keep], key],
                    )
                }
                .expect("w");
            }),
            false,
        ),
        (
            "history_rewritten_consistently",
            Box::new(move |f| {
                // Change a sender name AND recompute every log hash to match: only the signed
                // checkpoint can catch this one.
                let c = db(f);
                c.execute(
                    "UPDATE messages SET sender_name = 'forger' WHERE seq = ?1",
                    [t],
                )
                .expect("w");
                drop(c);
                rewrite_log(f);
            }),
            false,
        ),
    ];
    for (name, change, names_target) in cases {
        let f = fixture();
        change(&f);
        let mut a = match Archive::open(f.dir.path(), &KeyProvider::default()) {
            Ok(a) => a,
            Err(e) => panic!("{name}: the archive should open and let verify report, got {e}"),
        };
        let r = a
            .verify(&mut |_| {})
            .unwrap_or_else(|e| panic!("{name}: verify errored instead of reporting: {e}"));
        assert!(!r.ok, "{name}: tampering went unnoticed");
        if names_target {
            assert!(
                r.errors
                    .iter()
                    .any(|e| e.message_id.as_deref() == Some(f.target_id.as_str())),
                "{name}: target {} not named in {:?}",
                f.target_id,
                r.errors
            );
        }
    }
}

/// Recomputes every stored log hash from the (tampered) rows, as a forger with the key would.
fn rewrite_log(f: &Fixture) {
    let mut a = Archive::open(f.dir.path(), &KeyProvider::default()).expect("open");
    let n = a.store.log_size().expect("size");
    let mut frontier = chatvault_ledger::Frontier::new();
    let mut all = vec![];
    for seq in 0..n {
        let row = a.store.message_by_seq(seq).expect("row").expect("exists");
        let opened = a.open_row(&row).expect("opens");
        all.extend(
            frontier
                .push(chatvault_ledger::leaf_hash(&opened.leaf))
                .expect("push"),
        );
    }
    drop(a);
    // The tiles as the forger's log gives them: the hashes of tree levels 0, 8, …, each
    // tile level's in rows of up to 256.
    let mut levels: Vec<Vec<[u8; 32]>> = vec![];
    for (i, h) in all.iter().enumerate() {
        let (level, _) = chatvault_ledger::split_stored_hash_index(i as u64);
        if level % 8 == 0 {
            let t = usize::from(level / 8);
            levels.resize_with(levels.len().max(t + 1), Vec::new);
            levels[t].push(h.0);
        }
    }
    let c = db(f);
    c.execute("DELETE FROM log_tiles", []).expect("w");
    for (t, hashes) in levels.iter().enumerate() {
        for (n, tile) in hashes.chunks(256).enumerate() {
            c.execute(
                "INSERT INTO log_tiles (key, hashes) VALUES (?1, ?2)",
                params![((t as i64) << 56) | (n as i64 * 256), tile.as_flattened()],
            )
            .expect("w");
        }
    }
}

/// The level-0 tile row (key, hashes) that holds leaf `leaf`'s hash.
fn tile_row_of(c: &Connection, leaf: u64) -> (i64, Vec<u8>) {
    c.query_row(
        "SELECT key, hashes FROM log_tiles WHERE key <= ?1 ORDER BY key DESC LIMIT 1",
        [leaf as i64],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .expect("the leaf's tile row")
}

#[test]
fn an_untouched_archive_verifies() {
    let f = fixture();
    let mut a = Archive::open(f.dir.path(), &KeyProvider::default()).expect("open");
    let r = a.verify(&mut |_| {}).expect("verify");
    assert!(r.ok, "{:?}", r.errors);
    assert_eq!((r.messages, r.checkpoints, r.unsigned_tail), (61, 1, 0));
}

/// What people read beside the content (a conversation's title, a participant's name,
/// whether an attachment was stored) is checked by `verify`, and a row that cannot be
/// read does not stop it: every problem is named, then it ends.
#[test]
fn metadata_people_read_is_checked_and_every_problem_named() {
    let t = TARGET as i64;
    type Change = Box<dyn Fn(&Fixture)>;
    let cases: Vec<(&str, Change, Vec<&str>)> = vec![
        (
            "conversation_title",
            Box::new(move |f| {
                db(f).execute("UPDATE conversations SET title = 'forged title' WHERE id = (SELECT conversation FROM messages WHERE seq = ?1)", [t]).expect("w");
            }),
            vec!["its title \"forged title\" is not the one its first message gave"],
        ),
        (
            "participant_display_name",
            Box::new(move |f| {
                db(f).execute("UPDATE participants SET display_name = 'Someone Else' WHERE id = (SELECT sender FROM messages WHERE seq = ?1)", [t]).expect("w");
            }),
            vec!["its display name \"Someone Else\" is not the name its first message gave"],
        ),
        (
            "attachment_row_deleted",
            Box::new(|f| {
                db(f).execute("DELETE FROM attachments", []).expect("w");
            }),
            vec!["attachment `a.txt` is missing"],
        ),
        (
            "conversation_kind",
            Box::new(move |f| {
                db(f).execute("UPDATE conversations SET kind = coalesce(kind, 0) + 1 WHERE id = (SELECT conversation FROM messages WHERE seq = ?1)", [t]).expect("w");
            }),
            vec!["is not the one its first message gave"],
        ),
        (
            "participant_platform",
            Box::new(move |f| {
                db(f).execute("UPDATE participants SET platform = 'other' WHERE id = (SELECT sender FROM messages WHERE seq = ?1)", [t]).expect("w");
            }),
            vec!["its platform is not the one of the conversation it wrote in"],
        ),
        (
            "data_key_label",
            Box::new(|f| {
                db(f)
                    .execute("UPDATE data_keys SET kek_id = 'k-other'", [])
                    .expect("w");
            }),
            vec!["its data key is labelled as wrapped by key \"k-other\""],
        ),
        (
            "archive_id",
            Box::new(|f| {
                db(f).execute("UPDATE meta SET value = CAST('01ANOTHERARCHIVE' AS BLOB) WHERE key = 'archive_id'", []).expect("w");
            }),
            vec!["is not the one the signing key names"],
        ),
        (
            "unreadable_row_then_a_changed_one",
            Box::new(move |f| {
                db(f)
                    .execute("UPDATE messages SET sent_at = 'soon' WHERE seq = ?1", [t])
                    .expect("w");
                db(f)
                    .execute(
                        "UPDATE messages SET reply_to = 'forged' WHERE seq = ?1",
                        [t + 5],
                    )
                    .expect("w");
            }),
            vec![
                "message seq 17 cannot be read",
                "the leaf hash differs from the log",
            ],
        ),
    ];
    for (name, change, needles) in cases {
        let f = fixture();
        change(&f);
        let mut a = Archive::open(f.dir.path(), &KeyProvider::default()).expect("open");
        let r = a
            .verify(&mut |_| {})
            .unwrap_or_else(|e| panic!("{name}: verify stopped instead of reporting: {e}"));
        assert!(!r.ok, "{name}: unnoticed");
        for n in needles {
            assert!(
                r.errors.iter().any(|e| e.what.contains(n)),
                "{name}: {n:?} not in {:?}",
                r.errors
            );
        }
    }
}
