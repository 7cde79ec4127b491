//! The conformance suite: what every [`Store`] must do, written once against the traits.
//! The SQLite store runs it (`tests/conformance.rs`); a PostgreSQL store runs the same
//! cases by implementing [`Backend`] and calling [`conformance_tests!`](crate::conformance_tests).
//!
//! It covers append-only rows, atomic batches, dedup keys, the log hashes, checkpoints,
//! deletions and purge tombstones, conversations and participants, attachments, data keys,
//! meta, time order with keyset paging, isolation of readers, and concurrent writers.
//! Each case panics with a message naming what failed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::{CheckpointRow, DataKeyRow, DedupKey, DeletionRow, DeletionState, MessageRow, Store};

/// How the suite gets stores of one backend.
pub trait Backend {
    /// A new, empty store.
    fn fresh(&mut self) -> Box<dyn Store>;
    /// Another handle on the store [`Backend::fresh`] made last: a second connection, as
    /// a second process would hold.
    fn another(&mut self) -> Box<dyn Store>;
}

/// Every case, by name.
/// One case of the suite, run on a fresh backend.
pub type Case = fn(&mut dyn Backend);

pub const CASES: &[(&str, Case)] = &[
    ("batch_is_atomic", batch_is_atomic),
    ("messages_are_append_only", messages_are_append_only),
    ("dedup_keys", dedup_keys),
    ("log_hashes", log_hashes),
    ("checkpoints_are_kept_as_first_signed", checkpoints),
    ("deletions_and_tombstones", deletions_and_tombstones),
    (
        "conversations_and_participants",
        conversations_and_participants,
    ),
    ("attachments", attachments),
    ("data_keys", data_keys),
    ("meta", meta),
    ("time_order_and_keyset_paging", time_order_and_keyset_paging),
    (
        "readers_see_committed_data_only",
        readers_see_committed_data_only,
    ),
    ("concurrent_writers_serialize", concurrent_writers_serialize),
];

/// Runs every case of a suite, `run` giving each a fresh backend, and names the ones
/// that panicked (the others still run).
pub fn failed_cases<F: Copy>(
    cases: &[(&'static str, F)],
    run: &mut dyn FnMut(F),
) -> Vec<&'static str> {
    cases
        .iter()
        .filter(|(_, case)| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(*case))).is_err()
        })
        .map(|(name, _)| *name)
        .collect()
}

/// One `#[test]` running every case for a backend: `conformance_tests!(|| MyBackend::new());`.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        #[test]
        fn conformance() {
            let failed =
                $crate::conformance::failed_cases($crate::conformance::CASES, &mut |case| {
                    let mut backend = ($make)();
                    case(&mut backend)
                });
            assert!(failed.is_empty(), "conformance cases failed: {failed:?}");
        }
    };
}

/// A message row of `conversation` from `sender` at `seq`, keyed by its source id.
pub fn row(
    seq: u64,
    conversation: i64,
    sender: i64,
    source_id: &str,
    sent_at_ms: i64,
) -> MessageRow {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&seq.to_be_bytes());
    id[8..].copy_from_slice(&(conversation as u64).to_be_bytes());
    MessageRow {
        seq,
        id,
        conversation,
        source_id: Some(source_id.to_owned()),
        fingerprint: None,
        sender,
        sender_name: None,
        sender_role: 1,
        sent_at_ms,
        sent_offset_s: Some(28_800),
        received_at_ms: sent_at_ms + 5,
        kind: 0,
        reply_to: None,
        target: None,
        tags: None,
        body: Some(format!("sealed {seq}").into_bytes()),
        pii: Some(0),
    }
}

fn hash(i: u64) -> [u8; 32] {
    let mut h = [0u8; 32];
    h[..8].copy_from_slice(&i.to_be_bytes());
    h[31] = 0xAB;
    h
}

fn checkpoint(size: u64, note: &str) -> CheckpointRow {
    CheckpointRow {
        size,
        root: hash(size),
        note: note.to_owned(),
        created_at_ms: 1_700_000_000_000 + size as i64,
    }
}

/// Writes `n` messages of one new conversation (`external`) from `seq` in one committed
/// batch, with their log hashes; returns the conversation's id.
fn seed(s: &mut dyn Store, external: &str, first_seq: u64, n: u64) -> i64 {
    let mut t = s.write().unwrap();
    let c = t
        .conversation("wecom", external, Some("title"), Some(1))
        .unwrap();
    let p = t.participant("wecom", "u1", Some("王女士")).unwrap();
    for i in 0..n {
        let seq = first_seq + i;
        t.insert_message(&row(
            seq,
            c,
            p,
            &format!("{external}-{seq}"),
            1_000 * seq as i64,
        ))
        .unwrap();
    }
    t.put_hashes(
        tlog_tiles::tlog::stored_hash_count(first_seq),
        &records(first_seq, n),
    )
    .unwrap();
    t.commit().unwrap();
    c
}

pub fn batch_is_atomic(b: &mut dyn Backend) {
    let mut s = b.fresh();
    {
        let mut t = s.write().unwrap();
        let c = t.conversation("wecom", "c1", None, None).unwrap();
        let p = t.participant("wecom", "u1", None).unwrap();
        for seq in 0..3 {
            t.insert_message(&row(seq, c, p, &seq.to_string(), 0))
                .unwrap();
        }
        t.put_hashes(0, &records(0, 3)).unwrap();
        t.put_checkpoint(&checkpoint(3, "cp")).unwrap();
        t.put_meta("k", b"v").unwrap();
        // Dropped without commit: none of it happened.
    }
    assert_eq!(
        s.log_size().unwrap(),
        0,
        "an uncommitted batch left messages"
    );
    assert!(
        s.conversations().unwrap().is_empty(),
        "an uncommitted batch left a conversation"
    );
    assert!(
        s.participants().unwrap().is_empty(),
        "an uncommitted batch left a participant"
    );
    assert!(
        s.read_hashes(&[0]).is_err(),
        "an uncommitted batch left a log hash"
    );
    assert_eq!(
        s.latest_checkpoint().unwrap(),
        None,
        "an uncommitted batch left a checkpoint"
    );
    assert_eq!(s.meta("k").unwrap(), None, "an uncommitted batch left meta");

    let c = seed(s.as_mut(), "c1", 0, 3);
    assert_eq!(s.log_size().unwrap(), 3);
    assert_eq!(s.conversation_count(c).unwrap(), 3);
    assert_eq!(s.read_hashes(&[0, 1, 2, 3]).unwrap(), log_of(3));
}

pub fn messages_are_append_only(b: &mut dyn Backend) {
    let mut s = b.fresh();
    let c = seed(s.as_mut(), "c1", 0, 2);
    let before = s.message_by_seq(0).unwrap().expect("seq 0");
    // The same sequence number again, with other content: refused, at insert or commit.
    let refused = (|| -> crate::Result<()> {
        let mut t = s.write()?;
        let p = t.participant("wecom", "u1", None)?;
        let mut again = row(0, c, p, "other", 99);
        again.id = [9; 16];
        again.body = Some(b"replaced".to_vec());
        t.insert_message(&again)?;
        t.commit()
    })();
    assert!(refused.is_err(), "a second row at seq 0 was accepted");
    // The same message id at a new sequence number: refused.
    let refused = (|| -> crate::Result<()> {
        let mut t = s.write()?;
        let p = t.participant("wecom", "u1", None)?;
        let mut twin = row(2, c, p, "twin", 99);
        twin.id = before.id;
        t.insert_message(&twin)?;
        t.commit()
    })();
    assert!(
        refused.is_err(),
        "a second row with the same message id was accepted"
    );
    assert_eq!(
        s.message_by_seq(0).unwrap().as_ref(),
        Some(&before),
        "seq 0 changed"
    );
    assert_eq!(s.message_by_id(&before.id).unwrap().as_ref(), Some(&before));
    assert_eq!(s.log_size().unwrap(), 2);
}

pub fn dedup_keys(b: &mut dyn Backend) {
    let mut s = b.fresh();
    let c1 = seed(s.as_mut(), "c1", 0, 1);
    let src = DedupKey::Source("c1-0".into());
    let mut t = s.write().unwrap();
    assert!(
        t.exists(c1, &src).unwrap(),
        "a committed source id is not found"
    );
    let c2 = t.conversation("wecom", "c2", None, None).unwrap();
    assert!(
        !t.exists(c2, &src).unwrap(),
        "a source id leaked into another conversation"
    );
    let p = t.participant("wecom", "u1", None).unwrap();
    let mut fp = row(1, c2, p, "x", 5);
    fp.source_id = None;
    fp.fingerprint = Some([7; 16]);
    let fkey = DedupKey::Fingerprint([7; 16]);
    assert!(!t.exists(c2, &fkey).unwrap());
    t.insert_message(&fp).unwrap();
    assert!(
        t.exists(c2, &fkey).unwrap(),
        "a fingerprint is not found in its own batch"
    );
    t.commit().unwrap();
    let refused = (|| -> crate::Result<()> {
        let mut t = s.write()?;
        let mut dup = row(2, c1, p, "c1-0", 7);
        dup.id = [3; 16];
        t.insert_message(&dup)?;
        t.commit()
    })();
    assert!(
        refused.is_err(),
        "a second row with the same source id was accepted"
    );
    assert_eq!(s.log_size().unwrap(), 2);
    assert_eq!(
        s.message_by_seq(1).unwrap().unwrap().dedup_key().unwrap(),
        fkey
    );
    let mut neither = row(0, c1, p, "x", 0);
    neither.source_id = None;
    assert!(
        neither.dedup_key().is_err(),
        "a row with no dedup key has one"
    );
}

/// The stored hashes (tlog's order) of a log of `n` records whose leaf hashes are
/// `hash(0)`, `hash(1)`, …: what a writer passes to `put_hashes`.
pub fn log_of(n: u64) -> Vec<[u8; 32]> {
    use tlog_tiles::tlog::{stored_hashes_for_record_hash, Hash, HashReader};
    struct All(Vec<Hash>);
    impl HashReader for All {
        fn read_hashes(
            &self,
            indexes: &[u64],
        ) -> std::result::Result<Vec<Hash>, tlog_tiles::Error> {
            Ok(indexes.iter().map(|&i| self.0[i as usize]).collect())
        }
    }
    let mut all = All(vec![]);
    for i in 0..n {
        let more = stored_hashes_for_record_hash(i, Hash(hash(i)), &all).expect("stored hashes");
        all.0.extend(more);
    }
    all.0.into_iter().map(|h| h.0).collect()
}

/// The stored hashes records `first..first + n` append to that log.
fn records(first: u64, n: u64) -> Vec<[u8; 32]> {
    let from = tlog_tiles::tlog::stored_hash_count(first) as usize;
    log_of(first + n)[from..].to_vec()
}

pub fn log_hashes(b: &mut dyn Backend) {
    use tlog_tiles::tlog::stored_hash_count;
    let mut s = b.fresh();
    // Five records: their leaves and the interior hashes they complete (indexes 0..8).
    let log = log_of(5);
    assert_eq!(log.len() as u64, stored_hash_count(5));
    {
        let mut t = s.write().unwrap();
        t.put_hashes(0, &log[..4]).unwrap(); // records 0 and 1, then 2
        t.put_hashes(4, &log[4..]).unwrap(); // records 3 and 4
        t.commit().unwrap();
    }
    assert_eq!(
        s.read_hashes(&[7, 0, 2, 6]).unwrap(),
        vec![log[7], log[0], log[2], log[6]],
        "the leaves and the interior hashes read back as they were put"
    );
    assert!(s.read_hashes(&[8]).is_err(), "an absent log hash was read");
    let mut seen = vec![];
    s.scan_hashes(5, &mut |i, h| {
        seen.push((i, h));
        Ok(true)
    })
    .unwrap();
    assert_eq!(seen, vec![(5, log[5]), (6, log[6]), (7, log[7])]);
    let mut first = vec![];
    s.scan_hashes(0, &mut |i, _| {
        first.push(i);
        Ok(first.len() < 2)
    })
    .unwrap();
    assert_eq!(
        first,
        vec![0, 1],
        "a scan went on after its callback said stop"
    );
    // The log only grows at its end, a whole record at a time.
    for (why, at, hashes) in [
        ("a log hash was overwritten", 3, vec![hash(99)]),
        ("a gap was left in the log", 9, vec![hash(99)]),
        (
            "a record was appended without the interior hash it completes",
            8,
            vec![log_of(6)[8]],
        ),
    ] {
        let refused = (|| -> crate::Result<()> {
            let mut t = s.write()?;
            t.put_hashes(at, &hashes)?;
            t.commit()
        })();
        assert!(refused.is_err(), "{why}");
    }
    assert_eq!(s.read_hashes(&[3]).unwrap(), vec![log[3]]);
    // An interior hash that is not the one its leaves give is refused (a store that keeps
    // some levels must not keep a wrong one), and a refused call leaves nothing behind:
    // the same transaction goes on with the right hashes.
    let right = log_of(300);
    let mut wrong = right.clone();
    let level8 = (0..wrong.len())
        .find(|&i| tlog_tiles::tlog::split_stored_hash_index(i as u64).0 == 8)
        .expect("a hash at level 8");
    wrong[level8][5] ^= 1;
    let mut s = b.fresh();
    {
        let mut t = s.write().unwrap();
        assert!(
            t.put_hashes(0, &wrong).is_err(),
            "a level-8 hash that does not follow from its 256 leaves was taken"
        );
        t.put_hashes(0, &right).unwrap();
        t.commit().unwrap();
    }
    let all: Vec<u64> = (0..right.len() as u64).collect();
    assert_eq!(s.read_hashes(&all).unwrap(), right);
    // Many records, in batches of every size, across several hundred leaves: every hash
    // reads back, and the log grows on from a store opened again.
    let n = 1500u64;
    let log = log_of(n);
    let mut s = b.fresh();
    let (mut rec, mut at) = (0u64, 0u64);
    for size in 1.. {
        if rec >= n {
            break;
        }
        let next = (rec + size % 300).min(n).max(rec + 1);
        let end = stored_hash_count(next);
        let mut t = s.write().unwrap();
        t.put_hashes(at, &log[at as usize..end as usize]).unwrap();
        t.commit().unwrap();
        (rec, at) = (next, end);
    }
    let all: Vec<u64> = (0..log.len() as u64).collect();
    assert_eq!(s.read_hashes(&all).unwrap(), log);
    let mut scanned = vec![];
    s.scan_hashes(0, &mut |_, h| {
        scanned.push(h);
        Ok(true)
    })
    .unwrap();
    assert_eq!(scanned, log);
}

pub fn checkpoints(b: &mut dyn Backend) {
    let mut s = b.fresh();
    {
        let mut t = s.write().unwrap();
        for (size, note) in [(1, "one"), (5, "five"), (3, "three")] {
            t.put_checkpoint(&checkpoint(size, note)).unwrap();
        }
        t.commit().unwrap();
    }
    assert_eq!(s.latest_checkpoint().unwrap(), Some(checkpoint(5, "five")));
    let mut all = s.checkpoints().unwrap();
    all.sort_by_key(|c| c.size);
    assert_eq!(all.len(), 3);
    // A checkpoint once stored is kept as first signed.
    {
        let mut t = s.write().unwrap();
        let _ = t.put_checkpoint(&checkpoint(5, "forged"));
        let _ = t.commit();
    }
    assert_eq!(s.latest_checkpoint().unwrap(), Some(checkpoint(5, "five")));
}

pub fn deletions_and_tombstones(b: &mut dyn Backend) {
    let mut s = b.fresh();
    seed(s.as_mut(), "c1", 0, 2);
    let deleted = DeletionRow {
        seq: 1,
        state: DeletionState::Deleted,
        deleted_ms: 10,
        recover_until_ms: 20,
        purged_ms: None,
        leaf_hash: hash(1),
        reason: r#"{"rule":"r"}"#.into(),
    };
    {
        let mut t = s.write().unwrap();
        t.put_deletion(&deleted).unwrap();
        t.commit().unwrap();
    }
    assert_eq!(s.deletions().unwrap(), vec![deleted.clone()]);
    {
        let mut t = s.write().unwrap();
        assert!(
            t.remove_deletion(1).unwrap(),
            "a recoverable deletion was not recovered"
        );
        assert!(
            !t.remove_deletion(1).unwrap(),
            "a deletion was recovered twice"
        );
        t.commit().unwrap();
    }
    assert!(s.deletions().unwrap().is_empty());
    // Deleted again, then purged: the row is the tombstone, the content is gone.
    let purged = DeletionRow {
        state: DeletionState::Purged,
        purged_ms: Some(30),
        ..deleted.clone()
    };
    {
        let mut t = s.write().unwrap();
        t.put_deletion(&deleted).unwrap();
        t.put_deletion(&purged).unwrap();
        t.clear_body(1).unwrap();
        t.commit().unwrap();
    }
    assert_eq!(s.deletions().unwrap(), vec![purged]);
    let m = s
        .message_by_seq(1)
        .unwrap()
        .expect("the purged message's row stays");
    assert_eq!(m.body, None, "a purged message kept its content");
    assert_eq!(s.log_size().unwrap(), 2, "a purge changed the log's size");
    assert_eq!(
        s.read_hashes(&[1]).unwrap(),
        vec![hash(1)],
        "a purge changed a log hash"
    );
    {
        let mut t = s.write().unwrap();
        assert!(
            !t.remove_deletion(1).unwrap(),
            "a purged message was recovered"
        );
        t.commit().unwrap();
    }
    assert_eq!(
        s.message_by_seq(0).unwrap().unwrap().body,
        Some(b"sealed 0".to_vec())
    );
}

pub fn conversations_and_participants(b: &mut dyn Backend) {
    let mut s = b.fresh();
    let mut t = s.write().unwrap();
    let a = t
        .conversation("wecom", "c1", Some("first"), Some(1))
        .unwrap();
    let again = t
        .conversation("wecom", "c1", Some("second"), Some(2))
        .unwrap();
    assert_eq!(a, again, "one conversation got two ids");
    let other = t.conversation("slack", "c1", None, None).unwrap();
    assert_ne!(a, other, "platforms share a conversation");
    let p = t.participant("wecom", "u1", Some("王女士")).unwrap();
    assert_eq!(t.participant("wecom", "u1", Some("other")).unwrap(), p);
    t.insert_message(&row(0, a, p, "m", 0)).unwrap();
    t.commit().unwrap();
    let c = s.conversation_by_key("wecom", "c1").unwrap().unwrap();
    assert_eq!(
        (c.id, c.title.as_deref()),
        (a, Some("first")),
        "the first title is not kept"
    );
    assert_eq!(s.conversation_row(a).unwrap().unwrap(), c);
    assert_eq!(s.conversations_by_external_id("c1").unwrap().len(), 2);
    assert_eq!(s.participant_by_key("wecom", "u1").unwrap().unwrap().id, p);
    assert_eq!(s.participant_row(p).unwrap().unwrap().handle, "u1");
    assert_eq!(s.conversations_of_sender(p).unwrap(), vec![a]);
    assert_eq!(s.conversation_senders(a).unwrap(), vec![p]);
    assert_eq!(s.conversations_of_seqs(&[0]).unwrap(), vec![a]);
    assert_eq!(
        s.messages_by_platform().unwrap(),
        vec![("wecom".to_owned(), 1)]
    );
    assert_eq!(s.conversation_by_key("wecom", "nope").unwrap(), None);
}

pub fn attachments(b: &mut dyn Backend) {
    let mut s = b.fresh();
    let c = seed(s.as_mut(), "c1", 0, 1);
    let sha = [5u8; 32];
    {
        let mut t = s.write().unwrap();
        t.put_attachment(c, &sha, b"first").unwrap();
        t.put_attachment(c, &sha, b"second").unwrap();
        t.commit().unwrap();
    }
    assert_eq!(
        s.attachment(c, &sha).unwrap(),
        Some(b"first".to_vec()),
        "an attachment was replaced"
    );
    assert_eq!(s.attachment_count(c).unwrap(), 1);
    {
        let mut t = s.write().unwrap();
        assert_eq!(t.attachment_shas(c).unwrap(), vec![sha]);
        t.delete_attachment(c, &sha).unwrap();
        t.commit().unwrap();
    }
    assert_eq!(s.attachment(c, &sha).unwrap(), None);
}

pub fn data_keys(b: &mut dyn Backend) {
    let mut s = b.fresh();
    let c = seed(s.as_mut(), "c1", 0, 1);
    let key = |kek: &str| DataKeyRow {
        conversation: c,
        kek_id: kek.into(),
        wrapped: kek.as_bytes().to_vec(),
    };
    {
        let mut t = s.write().unwrap();
        t.put_data_key(&key("k1")).unwrap();
        assert_eq!(
            t.data_key(c).unwrap(),
            Some(key("k1")),
            "a key is not seen in its batch"
        );
        t.commit().unwrap();
    }
    {
        // Key rotation re-wraps the key in place.
        let mut t = s.write().unwrap();
        t.put_data_key(&key("k2")).unwrap();
        t.commit().unwrap();
    }
    assert_eq!(s.data_key(c).unwrap(), Some(key("k2")));
    assert_eq!(s.data_keys().unwrap(), vec![key("k2")]);
    {
        // Crypto-shredding.
        let mut t = s.write().unwrap();
        t.delete_data_key(c).unwrap();
        t.commit().unwrap();
    }
    assert_eq!(s.data_key(c).unwrap(), None);
}

pub fn meta(b: &mut dyn Backend) {
    let mut s = b.fresh();
    {
        let mut t = s.write().unwrap();
        assert!(t.put_meta_if_absent("a.1", b"x").unwrap());
        assert!(
            !t.put_meta_if_absent("a.1", b"y").unwrap(),
            "an existing meta key was set again"
        );
        t.put_meta("a.0", b"z").unwrap();
        t.put_meta("b", b"w").unwrap();
        t.put_meta("b", b"w2").unwrap();
        t.commit().unwrap();
    }
    assert_eq!(s.meta("a.1").unwrap(), Some(b"x".to_vec()));
    assert_eq!(s.meta("b").unwrap(), Some(b"w2".to_vec()));
    assert_eq!(
        s.meta_keys("a.").unwrap(),
        vec!["a.0".to_owned(), "a.1".to_owned()]
    );
    assert_eq!(s.meta("none").unwrap(), None);
}

pub fn time_order_and_keyset_paging(b: &mut dyn Backend) {
    let mut s = b.fresh();
    let times = [50i64, 10, 30, 10, 70, 20, 60, 40];
    let c = {
        let mut t = s.write().unwrap();
        let c = t.conversation("wecom", "c1", None, None).unwrap();
        let p = t.participant("wecom", "u1", None).unwrap();
        for (seq, at) in times.iter().enumerate() {
            t.insert_message(&row(seq as u64, c, p, &seq.to_string(), *at))
                .unwrap();
        }
        t.commit().unwrap();
        c
    };
    let mut want: Vec<(i64, u64)> = times
        .iter()
        .enumerate()
        .map(|(i, t)| (*t, i as u64))
        .collect();
    want.sort_unstable();
    let key = |m: &MessageRow| (m.sent_at_ms, m.seq);
    let all: Vec<_> = s
        .conversation_messages(c, 0, 100)
        .unwrap()
        .iter()
        .map(key)
        .collect();
    assert_eq!(all, want, "not in (sent_at, seq) order");
    let page: Vec<_> = s
        .conversation_messages(c, 2, 3)
        .unwrap()
        .iter()
        .map(key)
        .collect();
    assert_eq!(page, want[2..5].to_vec(), "offset paging");
    let mut paged = vec![];
    let mut after = None;
    loop {
        let rows = s.conversation_messages_after(c, after, 3).unwrap();
        if rows.is_empty() {
            break;
        }
        after = rows.last().map(key);
        paged.extend(rows.iter().map(key));
    }
    assert_eq!(paged, want, "keyset paging missed or repeated messages");
    let mut scanned = vec![];
    s.scan_messages(3, &mut |m| {
        scanned.push(m.seq);
        Ok(true)
    })
    .unwrap();
    assert_eq!(
        scanned,
        vec![3, 4, 5, 6, 7],
        "scan_messages is not in seq order from its start"
    );
    assert_eq!(s.conversations_from_seq(6).unwrap(), vec![c]);
}

pub fn readers_see_committed_data_only(b: &mut dyn Backend) {
    let mut w = b.fresh();
    seed(w.as_mut(), "c1", 0, 1);
    let r = b.another();
    {
        let mut t = w.write().unwrap();
        let c = t.conversation("wecom", "c2", None, None).unwrap();
        let p = t.participant("wecom", "u2", None).unwrap();
        t.insert_message(&row(1, c, p, "x", 0)).unwrap();
        t.put_hashes(1, &records(1, 1)).unwrap();
        assert_eq!(
            r.log_size().unwrap(),
            1,
            "a reader saw an uncommitted message"
        );
        assert_eq!(
            r.conversation_by_key("wecom", "c2").unwrap(),
            None,
            "a reader saw an uncommitted conversation"
        );
        t.commit().unwrap();
    }
    assert_eq!(
        r.log_size().unwrap(),
        2,
        "a reader missed a committed message"
    );
}

pub fn concurrent_writers_serialize(b: &mut dyn Backend) {
    let mut first = b.fresh();
    let mut second = b.another();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let a = scope.spawn(move || {
            let mut t = first.write().unwrap();
            let c = t.conversation("wecom", "a", None, None).unwrap();
            let p = t.participant("wecom", "ua", None).unwrap();
            for seq in 0..10 {
                t.insert_message(&row(seq, c, p, &format!("a{seq}"), 0))
                    .unwrap();
            }
            // The other writer tries while this batch is open.
            tx.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(200));
            t.commit().unwrap();
            first
        });
        rx.recv().unwrap();
        let written = (|| -> crate::Result<()> {
            let mut t = second.write()?;
            let c = t.conversation("wecom", "b", None, None)?;
            let p = t.participant("wecom", "ub", None)?;
            for seq in 10..20 {
                t.insert_message(&row(seq, c, p, &format!("b{seq}"), 0))?;
            }
            t.commit()
        })();
        let first = a.join().unwrap();
        let a_rows = first
            .conversation_by_key("wecom", "a")
            .unwrap()
            .map(|c| first.conversation_count(c.id).unwrap());
        assert_eq!(a_rows, Some(10), "the first writer's batch is not whole");
        let b_rows = first
            .conversation_by_key("wecom", "b")
            .unwrap()
            .map(|c| first.conversation_count(c.id).unwrap());
        match written {
            // Serialized after the first: whole.
            Ok(()) => assert_eq!(b_rows, Some(10), "the second writer's batch is not whole"),
            // Refused: nothing of it.
            Err(_) => assert_eq!(b_rows, None, "a refused batch left rows"),
        }
        assert_eq!(
            first.log_size().unwrap(),
            if b_rows.is_some() { 20 } else { 10 }
        );
    });
}
