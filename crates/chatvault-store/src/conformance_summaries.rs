//! The conformance suite for report-cache stores ([`SummaryStore`]), written once: every
//! backend runs it unchanged (`summaries_conformance_tests!`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::summaries::{RiskRow, SummaryRow, SummaryStore, SummaryWrite};

/// Makes empty report-cache stores for the suite.
pub trait SummaryBackend {
    /// A new, empty store whose layout version is `version`.
    fn fresh(&mut self, version: &str) -> Box<dyn SummaryStore>;
    /// The store [`SummaryBackend::fresh`] made last, opened again with `version`.
    fn reopen(&mut self, version: &str) -> Box<dyn SummaryStore>;
}

/// One case of the suite, run on a fresh backend.
pub type Case = fn(&mut dyn SummaryBackend);

pub const CASES: &[(&str, Case)] = &[
    ("rows_replace_by_key", rows_replace_by_key),
    (
        "scan_is_by_start_and_platform",
        scan_is_by_start_and_platform,
    ),
    ("risks_follow_their_row", risks_follow_their_row),
    ("agents_keep_their_earliest", agents_keep_their_earliest),
    ("clear_first_and_meta", clear_first_and_meta),
    ("another_version_is_emptied", another_version_is_emptied),
];

/// One `#[test]` running every case for a backend.
#[macro_export]
macro_rules! summaries_conformance_tests {
    ($make:expr) => {
        #[test]
        fn summaries_conformance() {
            let failed = $crate::conformance::failed_cases(
                $crate::conformance_summaries::CASES,
                &mut |case| {
                    let mut backend = ($make)();
                    case(&mut backend)
                },
            );
            assert!(failed.is_empty(), "summary store cases failed: {failed:?}");
        }
    };
}

fn row<'a>(key: &'a str, platform: &'a str, start_ms: i64, packed: &'a [u8]) -> SummaryRow<'a> {
    SummaryRow {
        key,
        platform,
        start_ms,
        agents: "a1\na2",
        packed,
        topics: "退款",
        terms: "退款\n发票",
    }
}

fn put(s: &mut dyn SummaryStore, rows: &[(SummaryRow<'_>, Vec<RiskRow<'_>>)]) {
    let batch: Vec<SummaryWrite<'_>> = rows
        .iter()
        .map(|(r, k)| SummaryWrite {
            key: r.key,
            summary: Some((*r, k.clone())),
            agent_first_ms: &[],
        })
        .collect();
    s.write(&batch, &[], false).unwrap();
}

/// (key, start, packed, topics) of a scan.
fn scan(
    s: &dyn SummaryStore,
    from: i64,
    to: i64,
    platform: Option<&str>,
    terms: bool,
) -> Vec<(String, i64, Vec<u8>, String)> {
    let mut out = vec![];
    s.scan(from, to, platform, terms, &mut |_, r| {
        out.push((
            r.key.to_owned(),
            r.start_ms,
            r.packed.to_vec(),
            r.topics.to_owned(),
        ));
        Ok(())
    })
    .unwrap();
    out
}

fn rows_replace_by_key(b: &mut dyn SummaryBackend) {
    let mut s = b.fresh("1");
    put(&mut *s, &[(row("wecom:c1", "wecom", 10, b"one"), vec![])]);
    put(&mut *s, &[(row("wecom:c1", "wecom", 20, b"two"), vec![])]);
    let got = scan(&*s, 0, 100, None, true);
    assert_eq!(got.len(), 1, "a key has one row");
    assert_eq!((got[0].1, got[0].2.as_slice()), (20, b"two".as_slice()));
    // A conversation with nothing left loses its row.
    s.write(
        &[SummaryWrite {
            key: "wecom:c1",
            summary: None,
            agent_first_ms: &[],
        }],
        &[],
        false,
    )
    .unwrap();
    assert!(scan(&*s, 0, 100, None, true).is_empty());
}

fn scan_is_by_start_and_platform(b: &mut dyn SummaryBackend) {
    let mut s = b.fresh("1");
    put(
        &mut *s,
        &[
            (row("wecom:late", "wecom", 30, b"x"), vec![]),
            (row("slack:mid", "slack", 20, b"y"), vec![]),
            (row("wecom:early", "wecom", 10, b"z"), vec![]),
            (row("wecom:out", "wecom", 40, b"w"), vec![]),
        ],
    );
    let keys =
        |v: Vec<(String, i64, Vec<u8>, String)>| v.into_iter().map(|r| r.0).collect::<Vec<_>>();
    assert_eq!(
        keys(scan(&*s, 10, 30, None, true)),
        ["wecom:early", "slack:mid", "wecom:late"],
        "inclusive bounds, oldest first"
    );
    assert_eq!(keys(scan(&*s, 0, 100, Some("slack"), true)), ["slack:mid"]);
    // Without terms, topics are not read.
    assert!(scan(&*s, 0, 100, None, false)
        .iter()
        .all(|r| r.3.is_empty()));
    assert_eq!(scan(&*s, 0, 100, None, true)[0].3, "退款");
}

fn risks_follow_their_row(b: &mut dyn SummaryBackend) {
    let mut s = b.fresh("1");
    let risk = |m: &'static str, t: i64| RiskRow {
        message: m,
        word: "投诉",
        side: Some("customer"),
        sent_ms: t,
    };
    put(
        &mut *s,
        &[(
            row("wecom:c1", "wecom", 10, b"a"),
            vec![risk("m1", 11), risk("m2", 12)],
        )],
    );
    put(
        &mut *s,
        &[(row("wecom:c2", "wecom", 20, b"b"), vec![risk("m3", 21)])],
    );
    // Replacing c1 replaces its risks.
    put(
        &mut *s,
        &[(row("wecom:c1", "wecom", 10, b"a"), vec![risk("m4", 13)])],
    );
    let mut rows = std::collections::HashMap::new();
    s.scan(0, 100, None, false, &mut |id, r| {
        rows.insert(id, r.key.to_owned());
        Ok(())
    })
    .unwrap();
    let mut got = vec![];
    s.risks_since(12, &mut |id, k| {
        got.push((
            rows[&id].clone(),
            k.message.to_owned(),
            k.side.map(str::to_owned),
        ));
        Ok(())
    })
    .unwrap();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "wecom:c1".to_owned(),
                "m4".to_owned(),
                Some("customer".to_owned())
            ),
            (
                "wecom:c2".to_owned(),
                "m3".to_owned(),
                Some("customer".to_owned())
            ),
        ]
    );
}

fn agents_keep_their_earliest(b: &mut dyn SummaryBackend) {
    let mut s = b.fresh("1");
    let r1 = row("wecom:c1", "wecom", 10, b"a");
    let r2 = row("wecom:c2", "wecom", 20, b"b");
    let first1 = [("a1".to_owned(), 50)];
    let first2 = [("a1".to_owned(), 40), ("a2".to_owned(), 60)];
    s.write(
        &[SummaryWrite {
            key: r1.key,
            summary: Some((r1, vec![])),
            agent_first_ms: &first1,
        }],
        &[],
        false,
    )
    .unwrap();
    s.write(
        &[SummaryWrite {
            key: r2.key,
            summary: Some((r2, vec![])),
            agent_first_ms: &first2,
        }],
        &[],
        false,
    )
    .unwrap();
    assert_eq!(s.agent_first_ms("a1").unwrap(), Some(40));
    assert_eq!(s.agent_first_ms("a2").unwrap(), Some(60));
    assert_eq!(s.agent_first_ms("nobody").unwrap(), None);
}

fn clear_first_and_meta(b: &mut dyn SummaryBackend) {
    let mut s = b.fresh("1");
    put(&mut *s, &[(row("wecom:c1", "wecom", 10, b"a"), vec![])]);
    let r2 = row("wecom:c2", "wecom", 20, b"b");
    s.write(
        &[SummaryWrite {
            key: r2.key,
            summary: Some((r2, vec![])),
            agent_first_ms: &[],
        }],
        &[("synced", "7".to_owned())],
        true,
    )
    .unwrap();
    let keys: Vec<String> = scan(&*s, 0, 100, None, true)
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(
        keys,
        ["wecom:c2"],
        "clear_first empties the rows before writing"
    );
    assert_eq!(s.meta("synced").unwrap().as_deref(), Some("7"));
    s.write(&[], &[("synced", "8".to_owned())], false).unwrap();
    assert_eq!(
        s.meta("synced").unwrap().as_deref(),
        Some("8"),
        "meta is replaced"
    );
    assert_eq!(s.meta("absent").unwrap(), None);
}

fn another_version_is_emptied(b: &mut dyn SummaryBackend) {
    let mut s = b.fresh("1");
    put(&mut *s, &[(row("wecom:c1", "wecom", 10, b"a"), vec![])]);
    s.write(&[], &[("synced", "7".to_owned())], false).unwrap();
    drop(s);
    let same = b.reopen("1");
    assert_eq!(
        scan(&*same, 0, 100, None, true).len(),
        1,
        "the same version keeps its rows"
    );
    drop(same);
    let other = b.reopen("2");
    assert!(
        scan(&*other, 0, 100, None, true).is_empty(),
        "another version starts empty"
    );
    assert_eq!(other.meta("synced").unwrap(), None);
}
