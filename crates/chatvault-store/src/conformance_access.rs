//! The conformance suite for access stores ([`AccessOps`]), written once: every backend
//! runs it unchanged (`access_conformance_tests!`). It grows with the trait (issue 16).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::access::{
    AccessOps, AccessStore, AuditRange, AuditRow, Image, SessionRow, Shelf, TokenRow, UserRow,
    Value, SEALED_TABLES,
};

/// Makes empty access stores for the suite.
pub trait AccessBackend {
    /// A new, empty store at the newest schema.
    fn fresh(&mut self) -> Box<dyn AccessStore>;
    /// Another handle on the store [`AccessBackend::fresh`] made last (a second
    /// process's).
    fn another(&mut self) -> Box<dyn AccessStore>;
}

/// One case of the suite, run on a fresh backend.
pub type Case = fn(&mut dyn AccessBackend);

pub const CASES: &[(&str, Case)] = &[
    ("documents_replace_list_and_delete", documents),
    ("lifecycle_kinds_are_apart", lifecycle_kinds_are_apart),
    ("sessions", sessions),
    ("tokens_revoke_once", tokens),
    ("another_handle_sees_the_rows", another_handle_sees_the_rows),
    ("users", users),
    ("login_failures_and_addresses", login_failures_and_addresses),
    ("enrolments", enrolments),
    ("audit_rows_in_order", audit_rows_in_order),
    ("audit_search_is_literal", audit_search_is_literal),
    ("audit_checkpoints_and_meta", audit_checkpoints_and_meta),
    ("a_transaction_commits_whole_or_not_at_all", transactions),
    ("concurrent_writers_serialize", concurrent_writers_serialize),
    ("a_snapshot_is_consistent", snapshots),
    ("sealed_changes_are_tracked", sealed_changes),
    (
        "every_write_to_a_sealed_table_is_tracked",
        every_sealed_write_is_tracked,
    ),
    (
        "sealed_rows_keep_their_types_and_order",
        sealed_rows_keep_their_types_and_order,
    ),
];

/// One `#[test]` running every case for a backend.
#[macro_export]
macro_rules! access_conformance_tests {
    ($make:expr) => {
        #[test]
        fn access_conformance() {
            let failed =
                $crate::conformance::failed_cases($crate::conformance_access::CASES, &mut |case| {
                    let mut backend = ($make)();
                    case(&mut backend)
                });
            assert!(failed.is_empty(), "access store cases failed: {failed:?}");
        }
    };
}

fn documents(b: &mut dyn AccessBackend) {
    let s = b.fresh();
    // ULIDs order by time: the later id lists first.
    s.put_document(Shelf::Requests, "req-01A", "lisa", "{\"n\":1}")
        .unwrap();
    s.put_document(Shelf::Requests, "req-01B", "bob", "{\"n\":2}")
        .unwrap();
    s.put_document(Shelf::Requests, "req-01C", "lisa", "{\"n\":3}")
        .unwrap();
    let keys = |v: Vec<(String, String)>| v.into_iter().map(|d| d.0).collect::<Vec<_>>();
    assert_eq!(
        keys(s.documents(Shelf::Requests, None).unwrap()),
        ["req-01C", "req-01B", "req-01A"]
    );
    assert_eq!(
        keys(s.documents(Shelf::Requests, Some("lisa")).unwrap()),
        ["req-01C", "req-01A"]
    );
    s.put_document(Shelf::Requests, "req-01A", "lisa", "{\"n\":4}")
        .unwrap();
    assert_eq!(
        s.document(Shelf::Requests, "req-01A").unwrap().as_deref(),
        Some("{\"n\":4}"),
        "replaced"
    );
    assert_eq!(
        s.document(Shelf::Grants, "req-01A").unwrap(),
        None,
        "shelves are apart"
    );
    assert!(s.delete_document(Shelf::Requests, "req-01B").unwrap());
    assert!(
        !s.delete_document(Shelf::Requests, "req-01B").unwrap(),
        "already gone"
    );
    assert_eq!(s.documents(Shelf::Requests, None).unwrap().len(), 2);
    s.put_document(Shelf::Grants, "grant-1", "lisa", "{}")
        .unwrap();
    assert_eq!(
        keys(s.documents(Shelf::Grants, Some("lisa")).unwrap()),
        ["grant-1"]
    );
    assert!(s.documents(Shelf::Grants, Some("bob")).unwrap().is_empty());
}

fn lifecycle_kinds_are_apart(b: &mut dyn AccessBackend) {
    let s = b.fresh();
    s.put_document(Shelf::Lifecycle("hold"), "h2", "", "{\"h\":2}")
        .unwrap();
    s.put_document(Shelf::Lifecycle("hold"), "h1", "", "{\"h\":1}")
        .unwrap();
    s.put_document(Shelf::Lifecycle("tag"), "h1", "", "{\"t\":1}")
        .unwrap();
    let holds = s.documents(Shelf::Lifecycle("hold"), None).unwrap();
    assert_eq!(
        holds,
        [
            ("h1".to_owned(), "{\"h\":1}".to_owned()),
            ("h2".to_owned(), "{\"h\":2}".to_owned())
        ],
        "by key"
    );
    assert_eq!(
        s.document(Shelf::Lifecycle("tag"), "h1")
            .unwrap()
            .as_deref(),
        Some("{\"t\":1}")
    );
    assert!(s.delete_document(Shelf::Lifecycle("tag"), "h1").unwrap());
    assert!(
        s.document(Shelf::Lifecycle("hold"), "h1")
            .unwrap()
            .is_some(),
        "another kind's key stays"
    );
    // A new store holds the default retention policy.
    assert!(s
        .document(Shelf::Lifecycle("policy"), "default")
        .unwrap()
        .is_some());
}

fn session(id: u8, user: &str, created: i64) -> SessionRow {
    SessionRow {
        id_hash: vec![id; 32],
        user: user.to_owned(),
        csrf: format!("csrf-{id}"),
        created_ms: created,
        seen_ms: created,
        tag: Some(vec![0xAA, id]),
    }
}

fn sessions(b: &mut dyn AccessBackend) {
    let s = b.fresh();
    s.insert_session(&session(2, "alice", 200)).unwrap();
    s.insert_session(&session(1, "alice", 100)).unwrap();
    s.insert_session(&session(3, "bob", 300)).unwrap();
    assert_eq!(s.session(&[1; 32]).unwrap(), Some(session(1, "alice", 100)));
    assert!(
        s.insert_session(&session(1, "mallory", 1)).is_err(),
        "a session id is unique"
    );
    s.touch_session(&[1; 32], 150).unwrap();
    assert_eq!(s.session(&[1; 32]).unwrap().unwrap().seen_ms, 150);
    let order: Vec<u8> = s.sessions().unwrap().iter().map(|r| r.id_hash[0]).collect();
    assert_eq!(order, [1, 2, 3], "oldest first");
    assert_eq!(s.delete_sessions_of("alice").unwrap(), 2);
    assert_eq!(s.session(&[2; 32]).unwrap(), None);
    assert!(s.delete_session(&[3; 32]).unwrap());
    assert!(!s.delete_session(&[3; 32]).unwrap());
    assert!(s.sessions().unwrap().is_empty());
}

fn token(id: &str, user: &str, created: i64) -> TokenRow {
    TokenRow {
        id: id.to_owned(),
        hash: id.as_bytes().to_vec(),
        user: user.to_owned(),
        scope: "read".to_owned(),
        source: Some("wecom".to_owned()),
        created_ms: created,
        revoked_ms: None,
    }
}

fn tokens(b: &mut dyn AccessBackend) {
    let s = b.fresh();
    s.insert_token(&token("t2", "alice", 20)).unwrap();
    s.insert_token(&token("t1", "alice", 10)).unwrap();
    s.insert_token(&token("t3", "bob", 30)).unwrap();
    assert_eq!(
        s.token_by_hash(b"t1").unwrap(),
        Some(token("t1", "alice", 10))
    );
    assert_eq!(s.token_by_hash(b"nope").unwrap(), None);
    assert!(s.revoke_token("t1", 50).unwrap());
    assert!(!s.revoke_token("t1", 60).unwrap(), "revoked once");
    assert_eq!(
        s.token_by_hash(b"t1").unwrap().unwrap().revoked_ms,
        Some(50),
        "the first revocation stands"
    );
    assert_eq!(
        s.revoke_tokens_of("alice", 70).unwrap(),
        1,
        "only the active one"
    );
    assert_eq!(
        s.token_by_hash(b"t2").unwrap().unwrap().revoked_ms,
        Some(70)
    );
    let ids: Vec<String> = s.tokens().unwrap().into_iter().map(|t| t.id).collect();
    assert_eq!(ids, ["t1", "t2", "t3"], "oldest first");
    let mut dup = token("t9", "bob", 40);
    dup.hash = b"t3".to_vec();
    assert!(s.insert_token(&dup).is_err(), "a token hash is unique");
}

fn another_handle_sees_the_rows(b: &mut dyn AccessBackend) {
    let s = b.fresh();
    s.insert_session(&session(7, "alice", 1)).unwrap();
    s.put_document(Shelf::Grants, "grant-7", "alice", "{}")
        .unwrap();
    let other = b.another();
    assert!(other.session(&[7; 32]).unwrap().is_some());
    assert!(other.document(Shelf::Grants, "grant-7").unwrap().is_some());
}

fn user(name: &str, created: i64) -> UserRow {
    UserRow {
        name: name.to_owned(),
        role: "agent".to_owned(),
        team: Some("t1".to_owned()),
        handles: "[{\"platform\":\"wecom\",\"id\":\"a\"}]".to_owned(),
        password: "$argon2id$v=19$...".to_owned(),
        totp_secret: Some(vec![1, 2, 3]),
        totp_last_step: 0,
        frozen: false,
        locked: false,
        created_ms: created,
        updated_ms: created,
        lang: None,
    }
}

fn users(b: &mut dyn AccessBackend) {
    let s = b.fresh();
    s.insert_user(&user("zoe", 1)).unwrap();
    s.insert_user(&user("adam", 2)).unwrap();
    assert!(
        s.insert_user(&user("zoe", 3)).is_err(),
        "a name is taken once"
    );
    assert_eq!(
        s.user("zoe").unwrap(),
        Some(user("zoe", 1)),
        "every field as written"
    );
    let names: Vec<String> = s.users().unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(names, ["adam", "zoe"], "by name");
    let mut z = user("zoe", 1);
    z.role = "legal".to_owned();
    z.team = None;
    z.totp_secret = None;
    z.totp_last_step = 42;
    z.frozen = true;
    z.locked = true;
    z.updated_ms = 9;
    z.lang = Some("en".to_owned());
    z.created_ms = 777;
    s.update_user(&z).unwrap();
    let got = s.user("zoe").unwrap().unwrap();
    assert_eq!(got.created_ms, 1, "the creation time stays");
    z.created_ms = 1;
    assert_eq!(got, z, "every other field is written");
    assert_eq!(s.user("nobody").unwrap(), None);
}

fn login_failures_and_addresses(b: &mut dyn AccessBackend) {
    let s = b.fresh();
    s.add_login_failure("zoe", 100, "10.0.0.1").unwrap();
    s.add_login_failure("zoe", 200, "10.0.0.2").unwrap();
    s.add_login_failure("adam", 300, "10.0.0.1").unwrap();
    s.add_login_failure("zoe", 50, "10.0.0.1").unwrap();
    assert_eq!(
        s.login_failures(Some("zoe"), None, 60).unwrap(),
        (2, Some(200)),
        "after `since` only"
    );
    assert_eq!(
        s.login_failures(Some("zoe"), Some("10.0.0.1"), 0).unwrap(),
        (2, Some(100))
    );
    assert_eq!(
        s.login_failures(None, Some("10.0.0.1"), 0).unwrap(),
        (3, Some(300))
    );
    assert_eq!(s.login_failures(Some("eve"), None, 0).unwrap(), (0, None));
    s.clear_login_failures("zoe", Some("10.0.0.1")).unwrap();
    assert_eq!(
        s.login_failures(Some("zoe"), None, 0).unwrap(),
        (1, Some(200)),
        "only that address's"
    );
    s.clear_login_failures("zoe", None).unwrap();
    assert_eq!(s.login_failures(Some("zoe"), None, 0).unwrap(), (0, None));
    assert_eq!(
        s.login_failures(Some("adam"), None, 0).unwrap().0,
        1,
        "another user's stay"
    );
    s.remember_address("zoe", "10.0.0.1", 1000).unwrap();
    assert!(s.address_known("zoe", "10.0.0.1", 999).unwrap());
    assert!(
        !s.address_known("zoe", "10.0.0.1", 1000).unwrap(),
        "after `since` only"
    );
    s.remember_address("zoe", "10.0.0.1", 5000).unwrap();
    assert!(
        s.address_known("zoe", "10.0.0.1", 4000).unwrap(),
        "the newest sign-in counts"
    );
    assert!(!s.address_known("adam", "10.0.0.1", 0).unwrap());
}

fn enrolments(b: &mut dyn AccessBackend) {
    let s = b.fresh();
    s.put_enrolment(&[1; 32], "zoe", 100).unwrap();
    s.put_enrolment(&[2; 32], "adam", 50).unwrap();
    assert_eq!(s.enrolment(&[1; 32], 99).unwrap().as_deref(), Some("zoe"));
    assert_eq!(
        s.enrolment(&[1; 32], 100).unwrap(),
        None,
        "expired at its time"
    );
    assert_eq!(s.enrolment(&[9; 32], 0).unwrap(), None);
    // Closing zoe's, and every one expired by 60: adam's goes too.
    s.delete_enrolments("zoe", Some(60)).unwrap();
    assert_eq!(s.enrolment(&[1; 32], 0).unwrap(), None);
    assert_eq!(s.enrolment(&[2; 32], 0).unwrap(), None);
    s.put_enrolment(&[3; 32], "adam", 500).unwrap();
    s.delete_enrolments("zoe", None).unwrap();
    assert_eq!(
        s.enrolment(&[3; 32], 0).unwrap().as_deref(),
        Some("adam"),
        "another user's stays"
    );
}

fn entry(seq: u64, time_ms: i64, actor: &str, action: &str, body: &str) -> AuditRow {
    AuditRow {
        seq,
        time_ms,
        actor: actor.to_owned(),
        action: action.to_owned(),
        body: body.to_owned(),
        hash: vec![seq as u8; 32],
    }
}

fn scan(s: &dyn AccessOps, r: &AuditRange<'_>) -> Vec<u64> {
    let mut out = vec![];
    s.audit_scan(r, &mut |row| {
        out.push(row.seq);
        Ok(())
    })
    .unwrap();
    out
}

fn audit_rows_in_order(b: &mut dyn AccessBackend) {
    let s = b.fresh();
    assert_eq!(s.audit_head().unwrap(), None);
    let rows = [
        entry(0, 100, "amy", "login.success", "{}"),
        entry(1, 200, "amy", "export", "{}"),
        entry(2, 300, "bob", "export", "{}"),
        entry(3, 400, "amy", "export", "{}"),
    ];
    for r in &rows {
        s.insert_audit(r).unwrap();
    }
    assert!(
        s.insert_audit(&entry(3, 500, "eve", "x", "{}")).is_err(),
        "a sequence number is taken once"
    );
    assert_eq!(s.audit_head().unwrap(), Some((3, vec![3; 32])));
    let mut all = vec![];
    s.audit_scan(&AuditRange::default(), &mut |r| {
        all.push(r);
        Ok(())
    })
    .unwrap();
    assert_eq!(all, rows, "every field, oldest first");
    assert_eq!(
        scan(
            &*s,
            &AuditRange {
                actor: Some("amy"),
                ..Default::default()
            }
        ),
        [0, 1, 3]
    );
    assert_eq!(
        scan(
            &*s,
            &AuditRange {
                action: Some("export"),
                ..Default::default()
            }
        ),
        [1, 2, 3]
    );
    assert_eq!(
        scan(
            &*s,
            &AuditRange {
                from_ms: Some(200),
                to_ms: Some(300),
                ..Default::default()
            }
        ),
        [1, 2],
        "inclusive times"
    );
    assert_eq!(
        scan(
            &*s,
            &AuditRange {
                from_seq: 2,
                ..Default::default()
            }
        ),
        [2, 3]
    );
    assert_eq!(s.audit_count("amy", "export", 150).unwrap(), 2);
    assert_eq!(
        s.audit_count("amy", "export", 200).unwrap(),
        1,
        "after `since` only"
    );
    // A callback's error stops the scan and is returned.
    let mut seen = 0;
    let r = s.audit_scan(&AuditRange::default(), &mut |_| {
        seen += 1;
        Err(crate::StoreError::Corrupt("stop".into()))
    });
    assert!(r.is_err() && seen == 1);
}

fn audit_search_is_literal(b: &mut dyn AccessBackend) {
    let s = b.fresh();
    s.insert_audit(&entry(0, 1, "a", "x", r#"{"state":{"users":"1"}}"#))
        .unwrap();
    s.insert_audit(&entry(1, 2, "a", "x", r#"{"details":"50% off_sale"}"#))
        .unwrap();
    s.insert_audit(&entry(2, 3, "a", "x", r#"{"other":1}"#))
        .unwrap();
    assert_eq!(
        s.audit_last_containing(u64::MAX, "\"state\":{")
            .unwrap()
            .map(|e| e.0),
        Some(0)
    );
    assert_eq!(
        s.audit_last_containing(0, "\"state\":{").unwrap(),
        None,
        "below `below_seq` only"
    );
    assert_eq!(
        s.audit_last_containing(u64::MAX, "50% off")
            .unwrap()
            .map(|e| e.0),
        Some(1)
    );
    assert_eq!(
        s.audit_last_containing(u64::MAX, "5_%").unwrap(),
        None,
        "wildcards are literal"
    );
    assert_eq!(
        s.audit_last_containing(u64::MAX, "%").unwrap().map(|e| e.0),
        Some(1)
    );
}

fn audit_checkpoints_and_meta(b: &mut dyn AccessBackend) {
    let s = b.fresh();
    s.put_audit_checkpoint(1, "note 1").unwrap();
    s.put_audit_checkpoint(3, "note 3").unwrap();
    s.put_audit_checkpoint(2, "note 2").unwrap();
    assert!(
        s.put_audit_checkpoint(2, "again").is_err(),
        "one checkpoint per size"
    );
    assert_eq!(s.audit_checkpoint(2).unwrap().as_deref(), Some("note 2"));
    s.delete_audit_checkpoint(2).unwrap();
    assert_eq!(s.audit_checkpoint(2).unwrap(), None);
    assert_eq!(
        s.audit_checkpoints().unwrap(),
        [(1, "note 1".to_owned()), (3, "note 3".to_owned())],
        "by size"
    );
    assert_eq!(s.meta("config_sha256").unwrap(), None);
    s.put_meta("config_sha256", "aa").unwrap();
    s.put_meta("config_sha256", "bb").unwrap();
    assert_eq!(s.meta("config_sha256").unwrap().as_deref(), Some("bb"));
}

fn transactions(b: &mut dyn AccessBackend) {
    let mut s = b.fresh();
    {
        let tx = s.begin().unwrap();
        tx.insert_user(&user("zoe", 1)).unwrap();
        tx.insert_session(&session(1, "zoe", 1)).unwrap();
        assert!(
            tx.user("zoe").unwrap().is_some(),
            "a transaction reads its own writes"
        );
        // Dropped uncommitted: rolled back.
    }
    assert_eq!(s.user("zoe").unwrap(), None);
    assert_eq!(s.session(&[1; 32]).unwrap(), None);
    let tx = s.begin().unwrap();
    tx.insert_user(&user("zoe", 1)).unwrap();
    tx.insert_audit(&entry(0, 1, "zoe", "user.add", "{}"))
        .unwrap();
    tx.commit().unwrap();
    assert!(s.user("zoe").unwrap().is_some());
    assert_eq!(s.audit_head().unwrap().map(|h| h.0), Some(0));
}

fn concurrent_writers_serialize(b: &mut dyn AccessBackend) {
    let mut first = b.fresh();
    let mut second = b.another();
    let (began, wait) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let tx = first.begin().unwrap();
        began.send(()).unwrap();
        let (seq, _) = tx
            .audit_head()
            .unwrap()
            .map_or((0, vec![]), |(s, h)| (s + 1, h));
        std::thread::sleep(std::time::Duration::from_millis(300));
        tx.insert_audit(&entry(seq, 1, "a", "x", "{}")).unwrap();
        tx.commit().unwrap();
    });
    // The first writer holds its transaction before the second asks for one.
    wait.recv().unwrap();
    // The second writer waits for the first, then sees its entry: each appends after
    // the head it read, so no two entries take one sequence number.
    let tx = second.begin().unwrap();
    let next = tx.audit_head().unwrap().map_or(0, |(s, _)| s + 1);
    tx.insert_audit(&entry(next, 2, "b", "x", "{}")).unwrap();
    tx.commit().unwrap();
    t.join().unwrap();
    let mut seqs = vec![];
    second
        .audit_scan(&AuditRange::default(), &mut |r| {
            seqs.push((r.seq, r.actor));
            Ok(())
        })
        .unwrap();
    assert_eq!(seqs, [(0, "a".to_owned()), (1, "b".to_owned())]);
}

fn snapshots(b: &mut dyn AccessBackend) {
    let s = b.fresh();
    let mut other = b.another();
    s.insert_audit(&entry(0, 1, "a", "x", "{}")).unwrap();
    let snap = s.snapshot().unwrap();
    assert_eq!(snap.audit_head().unwrap().map(|h| h.0), Some(0));
    let tx = other.begin().unwrap();
    tx.insert_audit(&entry(1, 2, "a", "x", "{}")).unwrap();
    tx.commit().unwrap();
    assert_eq!(
        snap.audit_head().unwrap().map(|h| h.0),
        Some(0),
        "a snapshot does not move"
    );
    drop(snap);
    assert_eq!(s.audit_head().unwrap().map(|h| h.0), Some(1));
}

/// A sealed table's rows as text, for comparing images.
fn rows(s: &dyn AccessOps, table: &str, image: Image) -> Vec<String> {
    let mut out = vec![];
    s.sealed_rows(table, image, &mut |r| {
        out.push(
            r.iter()
                .map(|v| match v {
                    Value::Null => "∅".to_owned(),
                    Value::Integer(i) => i.to_string(),
                    Value::Real(f) => f.to_string(),
                    Value::Text(t) | Value::Blob(t) => String::from_utf8_lossy(t).into_owned(),
                })
                .collect::<Vec<_>>()
                .join("|"),
        );
    })
    .unwrap();
    out
}

fn sealed_changes(b: &mut dyn AccessBackend) {
    let mut s = b.fresh();
    s.insert_user(&user("zoe", 1)).unwrap();
    // What happened before is taken first (the store's own setup may count).
    let _ = s.take_sealed_changes().unwrap();
    for t in SEALED_TABLES {
        s.clear_before_image(t).unwrap();
    }
    let before = rows(&*s, "users", Image::Now);
    assert_eq!(before.len(), 1);
    let tx = s.begin().unwrap();
    let mut z = user("zoe", 1);
    z.role = "executive".to_owned();
    tx.update_user(&z).unwrap();
    tx.insert_session(&session(1, "zoe", 1)).unwrap();
    tx.put_document(Shelf::Grants, "g1", "zoe", "{}").unwrap();
    assert_eq!(
        tx.take_sealed_changes().unwrap(),
        ["grants", "users"],
        "sessions are not sealed; every write path counts"
    );
    assert_eq!(
        rows(&*tx, "users", Image::BeforeChange),
        before,
        "the image before the first change"
    );
    assert_ne!(rows(&*tx, "users", Image::Now), before);
    assert!(tx.take_sealed_changes().unwrap().is_empty(), "taken once");
    tx.clear_before_image("users").unwrap();
    assert!(rows(&*tx, "users", Image::BeforeChange).is_empty());
    tx.mark_all_sealed_changed().unwrap();
    let mut all = tx.take_sealed_changes().unwrap();
    all.sort();
    let mut want: Vec<String> = SEALED_TABLES.iter().map(|t| t.to_string()).collect();
    want.sort();
    assert_eq!(all, want);
    assert_eq!(
        rows(&*tx, "users", Image::BeforeChange),
        rows(&*tx, "users", Image::Now),
        "marked: the image is the rows as they are"
    );
    tx.commit().unwrap();
    assert!(
        s.sealed_rows("sessions", Image::Now, &mut |_| {}).is_err(),
        "only sealed tables"
    );
}

fn every_sealed_write_is_tracked(b: &mut dyn AccessBackend) {
    let mut s = b.fresh();
    s.insert_user(&user("zoe", 1)).unwrap();
    s.insert_token(&token("t1", "zoe", 1)).unwrap();
    s.put_enrolment(&[1; 32], "zoe", 100).unwrap();
    let _ = s.take_sealed_changes().unwrap();
    type Write = (&'static str, fn(&dyn AccessOps));
    let writes: &[Write] = &[
        ("users", |t| t.insert_user(&user("amy", 2)).unwrap()),
        ("users", |t| {
            let mut z = user("zoe", 1);
            z.locked = true;
            t.update_user(&z).unwrap()
        }),
        ("tokens", |t| {
            t.insert_token(&token("t2", "zoe", 2)).unwrap()
        }),
        ("tokens", |t| assert!(t.revoke_token("t1", 5).unwrap())),
        ("tokens", |t| {
            assert_eq!(t.revoke_tokens_of("zoe", 5).unwrap(), 1)
        }),
        ("enrolments", |t| {
            t.put_enrolment(&[2; 32], "zoe", 100).unwrap()
        }),
        ("enrolments", |t| t.delete_enrolments("zoe", None).unwrap()),
        ("requests", |t| {
            t.put_document(Shelf::Requests, "r1", "zoe", "{}").unwrap()
        }),
        ("grants", |t| {
            t.put_document(Shelf::Grants, "g1", "zoe", "{}").unwrap()
        }),
        ("lifecycle", |t| {
            t.put_document(Shelf::Lifecycle("hold"), "h1", "", "{}")
                .unwrap()
        }),
        ("lifecycle", |t| {
            assert!(t
                .delete_document(Shelf::Lifecycle("policy"), "default")
                .unwrap())
        }),
        ("meta", |t| t.put_meta("config_sha256", "aa").unwrap()),
    ];
    for (table, write) in writes {
        let tx = s.begin().unwrap();
        write(&*tx);
        assert_eq!(
            tx.take_sealed_changes().unwrap(),
            [*table],
            "a write to {table}"
        );
        tx.clear_before_image(table).unwrap();
        tx.commit().unwrap();
    }
    // Writes to the tables that give no right are not tracked.
    let tx = s.begin().unwrap();
    tx.insert_session(&session(1, "zoe", 1)).unwrap();
    tx.add_login_failure("zoe", 1, "").unwrap();
    tx.remember_address("zoe", "10.0.0.1", 1).unwrap();
    tx.insert_audit(&entry(0, 1, "zoe", "x", "{}")).unwrap();
    assert!(tx.take_sealed_changes().unwrap().is_empty());
}

/// The digest above the store frames each value by its type: a backend must hand back
/// the values as the schema types them, in the fixed column order.
fn sealed_rows_keep_their_types_and_order(b: &mut dyn AccessBackend) {
    let s = b.fresh();
    let mut z = user("zoe", 1);
    z.lang = None;
    z.totp_secret = Some(vec![9, 9]);
    s.insert_user(&z).unwrap();
    s.insert_token(&token("t1", "zoe", 7)).unwrap();
    let mut users = vec![];
    s.sealed_rows("users", Image::Now, &mut |r| users.push(format!("{r:?}")))
        .unwrap();
    let want = format!(
        "{:?}",
        [
            Value::Text(b"zoe"),
            Value::Text(b"agent"),
            Value::Text(b"t1"),
            Value::Text(z.handles.as_bytes()),
            Value::Text(z.password.as_bytes()),
            Value::Blob(&[9, 9]),
            Value::Integer(0),
            Value::Integer(0),
            Value::Integer(0),
            Value::Integer(1),
            Value::Integer(1),
            Value::Null,
        ]
    );
    assert_eq!(users, [want], "name, role, team, handles, password, totp_secret, totp_last_step, frozen, locked, created_ms, updated_ms, lang");
    let mut tokens = vec![];
    s.sealed_rows("tokens", Image::Now, &mut |r| tokens.push(format!("{r:?}")))
        .unwrap();
    let want = format!(
        "{:?}",
        [
            Value::Text(b"t1"),
            Value::Blob(b"t1"),
            Value::Text(b"zoe"),
            Value::Text(b"read"),
            Value::Text(b"wecom"),
            Value::Integer(7),
            Value::Null,
        ]
    );
    assert_eq!(
        tokens,
        [want],
        "id, hash, user, scope, source, created_ms, revoked_ms"
    );
}
