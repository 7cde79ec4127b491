//! Deletion: recoverable first, then purged; the log still verifies and each tombstone
//! proves what went, when and why.

// Tests stop at the first broken expectation; unwrap is how they say so.
#![allow(clippy::unwrap_used)]

mod common;

use chatvault_archive::{DeletionReason, Filters};
use common::*;

const DAY: i64 = 86_400_000;

fn reason() -> DeletionReason {
    DeletionReason {
        rule: "policy:default".into(),
        requested_by: "sweep".into(),
        approved_by: None,
    }
}

/// Two conversations: `a` with three messages, `b` with two, one carrying an attachment.
fn world() -> (tempfile::TempDir, chatvault_archive::Archive, Vec<String>) {
    let (dir, mut a) = new_archive();
    let att = serde_json::json!({"platform":"wecom","conversation_id":"b","source_id":"b2","sender_id":"u2","sent_at":"2026-01-01T10:00:05+08:00",
        "kind":"file","text":"合同 退款凭证","attachments":[{"name":"凭证.pdf","mime":"application/pdf","data":"JVBERi0xLjQKJcfsj6IK"}]});
    let text = [
        line(
            "a",
            Some("a1"),
            "u1",
            "2026-01-01T10:00:00+08:00",
            "退款 第一条 secretword1",
        ),
        line(
            "a",
            Some("a2"),
            "u1",
            "2026-01-01T10:00:01+08:00",
            "退款 第二条 secretword2",
        ),
        line(
            "a",
            Some("a3"),
            "u1",
            "2026-01-01T10:00:02+08:00",
            "退款 第三条",
        ),
        line(
            "b",
            Some("b1"),
            "u2",
            "2026-01-01T10:00:04+08:00",
            "退款 乙会话",
        ),
        att.to_string(),
    ]
    .join("\n");
    let r = import_text(&mut a, "w.jsonl", &text);
    assert_eq!(r.stored, 5);
    let ids: Vec<String> = a
        .search("", &Filters::default(), 10, 0)
        .unwrap()
        .hits
        .into_iter()
        .rev()
        .map(|h| h.id)
        .collect();
    (dir, a, ids)
}

#[test]
fn delete_recover_purge_and_verify() {
    let (dir, mut a, ids) = world();
    let now = 1_800_000_000_000;
    // Delete a1 and a2: gone from search and views, recoverable.
    let r = a.delete_messages(&ids[0..2], &reason(), now, 30).unwrap();
    assert_eq!((r.deleted, r.already), (2, 0));
    assert_eq!(total(&mut a, "退款"), 3);
    assert_eq!(total(&mut a, "secretword1"), 0, "searchable by no one");
    assert!(a.message(&ids[0]).is_err(), "invisible to everyone");
    let page = a.show("wecom:a", 0, 10).unwrap();
    assert_eq!(page.messages.len(), 1);
    let again = a.delete_messages(&ids[0..1], &reason(), now, 30).unwrap();
    assert_eq!(
        (again.deleted, again.already),
        (0, 1),
        "deleting twice changes nothing"
    );
    let v = a.verify(&mut |_| {}).unwrap();
    assert!(v.ok && v.deleted == 2 && v.purged == 0, "{:?}", v.errors);

    // Recover a2 inside the window: visible and searchable again.
    let rec = a.recover_messages(&ids[1..2], now + DAY).unwrap();
    assert_eq!(rec.recovered, 1);
    assert_eq!(total(&mut a, "secretword2"), 1);

    // After the window, purge: a1's content is destroyed; its leaf stays and verifies.
    let early = a.purge_due(now + 29 * DAY, &mut |_| {}).unwrap();
    assert_eq!(early.purged, 0, "not before the window closes");
    let p = a.purge_due(now + 31 * DAY, &mut |_| {}).unwrap();
    assert_eq!((p.purged, p.conversations_shredded), (1, 0));
    let rec = a.recover_messages(&ids[0..1], now + 31 * DAY).unwrap();
    assert_eq!(
        rec.not_recoverable,
        vec![ids[0].clone()],
        "a purge is final"
    );
    let v = a.verify(&mut |_| {}).unwrap();
    assert!(v.ok && v.purged == 1 && v.deleted == 0, "{:?}", v.errors);
    let list = a.deletion_list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (
            list[0].id.as_str(),
            list[0].state,
            list[0].reason.rule.as_str()
        ),
        (ids[0].as_str(), "purged", "policy:default")
    );
    assert_eq!(
        list[0].leaf_hash.len(),
        64,
        "the tombstone keeps the leaf hash (verify checked it against the log)"
    );

    // Purging a whole conversation shreds its data key and its attachments.
    a.delete_messages(&ids[3..5], &reason(), now, 0).unwrap();
    let p = a.purge_due(now, &mut |_| {}).unwrap();
    assert_eq!(
        (p.purged, p.attachments_removed, p.conversations_shredded),
        (2, 1, 1)
    );
    let v = a.verify(&mut |_| {}).unwrap();
    assert!(v.ok && v.purged == 3, "{:?}", v.errors);
    a.close().unwrap();
    drop(a);
    let db = chatvault_store_sqlite::raw::Connection::open(dir.path().join("archive.db")).unwrap();
    let nulls: i64 = db
        .query_row(
            "SELECT count(*) FROM messages WHERE body IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let keys: i64 = db
        .query_row("SELECT count(*) FROM data_keys", [], |r| r.get(0))
        .unwrap();
    let atts: i64 = db
        .query_row("SELECT count(*) FROM attachments", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        (nulls, keys, atts),
        (3, 1, 0),
        "content gone; only conversation a keeps a key"
    );
    // A reopened archive still knows what is deleted.
    let mut a = reopen(dir.path());
    assert_eq!(total(&mut a, "退款"), 2);
}

#[test]
fn verify_names_a_purge_without_a_tombstone_and_a_forged_tombstone() {
    let (dir, mut a, ids) = world();
    a.delete_messages(&ids[0..2], &reason(), 0, 0).unwrap();
    a.purge_due(0, &mut |_| {}).unwrap();
    a.close().unwrap();
    drop(a);
    let db = chatvault_store_sqlite::raw::Connection::open(dir.path().join("archive.db")).unwrap();
    let seq_of = |id: &str| -> i64 {
        let bytes = ulid::Ulid::from_string(id).unwrap().to_bytes().to_vec();
        db.query_row("SELECT seq FROM messages WHERE id = ?1", [bytes], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let cases: &[(&str, String, &str)] = &[
        (
            "tombstone removed",
            format!("DELETE FROM deletions WHERE seq = {}", seq_of(&ids[0])),
            "no tombstone records its deletion",
        ),
        (
            "tombstone names another leaf",
            format!(
                "UPDATE deletions SET leaf_hash = zeroblob(32) WHERE seq = {}",
                seq_of(&ids[1])
            ),
            "names another leaf",
        ),
        (
            "content cleared without any deletion",
            format!(
                "UPDATE messages SET body = NULL WHERE seq = {}",
                seq_of(&ids[2])
            ),
            "no tombstone records its deletion",
        ),
    ];
    for (name, sql, want) in cases {
        db.execute_batch(sql).unwrap();
        let mut a = reopen(dir.path());
        let v = a.verify(&mut |_| {}).unwrap();
        assert!(!v.ok, "{name}");
        assert!(
            v.errors.iter().any(|e| e.what.contains(want)),
            "{name}: {:?}",
            v.errors
        );
    }
}
