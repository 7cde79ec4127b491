//! The newest page and the count equal sorting every match, whatever order the messages
//! reached the index in: chronological runs, reversed, shuffled, equal times, several
//! segments, deletions, time ranges and offsets. The page is read block by block from the
//! newest and stops early (see `newest.rs`); this is what keeps that honest.

use chatvault_index::{Filters, IndexDoc, IndexHits, Query, SearchIndex};
use proptest::prelude::*;

/// How the messages' times relate to the order they are indexed in.
#[derive(Debug, Clone, Copy)]
enum Order {
    Chronological,
    Reversed,
    Shuffled,
    /// Several chronological runs, each starting earlier than the last (imports of older
    /// exports after newer ones).
    Runs,
    /// Few distinct times: ties everywhere, decided by `seq`.
    Ties,
}

fn times(order: Order, n: usize, salt: &[u32]) -> Vec<i64> {
    let pick = |i: usize| salt[i % salt.len()] as i64;
    (0..n)
        .map(|i| match order {
            Order::Chronological => i as i64 * 10 + pick(i) % 7,
            Order::Reversed => (n - i) as i64 * 10,
            Order::Shuffled => (pick(i) as i64 * 7919 + i as i64 * 104_729) % 1_000_003,
            Order::Runs => {
                let run = i / 700;
                (100 - run as i64) * 1_000_000 + (i % 700) as i64 * 100
            }
            Order::Ties => (i as i64 * 31 + pick(i)) % 5,
        })
        .collect()
}

const WORDS: &[&str] = &["甲", "乙", "丙丁", "甲乙", "戊", "己庚辛"];

struct Doc {
    at: i64,
    text: String,
    deleted: bool,
}

/// Each document's conversation: 97 of them, so that a reach of dozens is a long list.
fn conv_of(i: usize) -> i64 {
    (i % 97) as i64 + 1
}

fn build(docs: &[Doc], batches: usize) -> (tempfile::TempDir, SearchIndex) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut idx = SearchIndex::open(dir.path()).expect("open");
    let per = docs.len().div_ceil(batches.max(1));
    for (i, d) in docs.iter().enumerate() {
        let conversation = format!("p:{}", conv_of(i));
        idx.add(&IndexDoc {
            seq: i as u64,
            sent_at_ms: d.at,
            platform: "p",
            conversation: &conversation,
            conversation_id: conv_of(i),
            sender_handle: "u",
            sender_name: None,
            kind: "text",
            text: &d.text,
            masked: None,
        })
        .expect("add");
        if (i + 1) % per == 0 {
            idx.commit(i as u64 + 1).expect("commit");
        }
    }
    for (i, d) in docs.iter().enumerate() {
        if d.deleted {
            idx.remove(i as u64).expect("remove");
        }
    }
    idx.commit(docs.len() as u64).expect("commit");
    (dir, idx)
}

/// Every match, sorted as the archive shows them: newest first, then the higher `seq`.
fn truth(docs: &[Doc], q: &Query, f: &Filters) -> Vec<(u64, i64)> {
    let mut all: Vec<(u64, i64)> = docs
        .iter()
        .enumerate()
        .filter(|(i, d)| {
            !d.deleted
                && q.matches(&d.text)
                && f.from_ms.is_none_or(|x| d.at >= x)
                && f.to_ms.is_none_or(|x| d.at <= x)
                && f.conversation
                    .as_deref()
                    .is_none_or(|c| c == format!("p:{}", conv_of(*i)))
                && f.conversation_ids
                    .as_ref()
                    .is_none_or(|ids| ids.contains(&conv_of(*i)))
        })
        .map(|(i, d)| (i as u64, d.at))
        .collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    all
}

fn check(idx: &SearchIndex, docs: &[Doc], q: &str, f: &Filters, offset: usize, limit: usize) {
    let parsed = Query::parse(q).expect("parse");
    let want = truth(docs, &parsed, f);
    let IndexHits::Exact { total, page } = idx.search(&parsed, f, limit, offset).expect("search")
    else {
        panic!("`{q}` is exact in the index")
    };
    assert_eq!(total as usize, want.len(), "count of `{q}` with {f:?}");
    let want_page: Vec<(u64, i64)> = want.into_iter().skip(offset).take(limit).collect();
    assert_eq!(page, want_page, "page of `{q}` with {f:?}, offset {offset}");
}

fn order() -> impl Strategy<Value = Order> {
    prop::sample::select(vec![
        Order::Chronological,
        Order::Reversed,
        Order::Shuffled,
        Order::Runs,
        Order::Ties,
    ])
}

proptest! {
    // Each case builds an index of a few thousand documents (several blocks of 1,024).
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn the_newest_page_and_the_count_equal_sorting_every_match(
        order in order(),
        n in 1usize..5000,
        salt in prop::collection::vec(any::<u32>(), 1..64),
        words in prop::collection::vec(0usize..WORDS.len(), 1..4),
        batches in 1usize..5,
        deleted_every in prop::option::of(2usize..50),
        pages in prop::collection::vec((0usize..60, 1usize..40), 1..4),
        window in prop::option::of((0u32..100, 0u32..100)),
    ) {
        let at = times(order, n, &salt);
        let docs: Vec<Doc> = (0..n)
            .map(|i| Doc {
                at: at[i],
                // Each text holds some of the words, so that keywords hit from most
                // documents to few.
                text: (0..3)
                    .filter_map(|k| {
                        let s = salt[(i + k) % salt.len()] as usize + i * (k + 1);
                        (s % (k + 2) == 0).then(|| WORDS[s % WORDS.len()])
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                deleted: deleted_every.is_some_and(|e| i % e == 1),
            })
            .collect();
        let (_dir, idx) = build(&docs, batches);
        let (lo, hi) = (at.iter().min().copied().unwrap_or(0), at.iter().max().copied().unwrap_or(0));
        let filters = match window {
            None => Filters::default(),
            Some((a, b)) => {
                let span = (hi - lo).max(1);
                let (a, b) = (a.min(b) as i64, a.max(b) as i64);
                Filters {
                    from_ms: Some(lo + span * a / 100),
                    to_ms: Some(lo + span * b / 100),
                    ..Filters::default()
                }
            }
        };
        for w in words {
            for (offset, limit) in &pages {
                check(&idx, &docs, WORDS[w], &filters, *offset, *limit);
            }
        }
        let in_a = Filters { conversation: Some("p:1".into()), ..filters.clone() };
        check(&idx, &docs, "甲", &in_a, 0, 20);
        // A reach of a few conversations (asked as terms) and of many (checked per
        // match), with ids the store never gave out among them.
        for ids in [vec![3, 5, 8, 13, 21], (1..=97).step_by(2).chain([-4, 0, 1 << 40]).collect::<Vec<i64>>()] {
            let reach = Filters { conversation_ids: Some(ids), ..filters.clone() };
            check(&idx, &docs, "甲", &reach, 0, 20);
            check(&idx, &docs, "乙 OR 戊", &reach, 3, 10);
            check(&idx, &docs, "甲 -乙", &reach, 0, 20);
            // A phrase with a space: candidates, each to be checked by the caller. They
            // hold every match in the reach, and nothing outside it.
            let phrase = Query::parse("\"甲 乙\"").expect("parse");
            let (exact, got) = idx.search_all(&phrase, &reach).expect("search_all");
            prop_assert!(!exact);
            let ids = reach.conversation_ids.clone().unwrap_or_default();
            prop_assert!(got.iter().all(|&s| ids.contains(&conv_of(s as usize))), "a candidate outside the reach");
            for (s, _) in truth(&docs, &phrase, &reach) {
                prop_assert!(got.contains(&s), "match {} missing from the candidates", s);
            }
        }
        let nowhere = Filters { conversation_ids: Some(vec![]), ..filters.clone() };
        check(&idx, &docs, "甲", &nowhere, 0, 20);
        check(&idx, &docs, "甲 -乙", &filters, 0, 20);
        check(&idx, &docs, "甲 OR 戊", &filters, 5, 20);
    }
}

#[test]
fn a_page_past_the_end_is_empty_and_the_count_stays() {
    let docs: Vec<Doc> = (0..3000)
        .map(|i| Doc {
            at: i,
            text: "甲".into(),
            deleted: false,
        })
        .collect();
    let (_dir, idx) = build(&docs, 2);
    check(&idx, &docs, "甲", &Filters::default(), 2990, 20);
    check(&idx, &docs, "甲", &Filters::default(), 5000, 20);
    check(&idx, &docs, "甲", &Filters::default(), 0, 0);
    check(&idx, &docs, "乙", &Filters::default(), 0, 20);
}

/// Each order by name, at a size of several blocks and rounds, with the keywords from
/// most documents to none.
#[test]
fn every_order_by_name() {
    let salt: Vec<u32> = (0..61u32)
        .map(|i| i.wrapping_mul(2_654_435_761) >> 7)
        .collect();
    for (name, order, n, batches) in [
        ("chronological, one segment", Order::Chronological, 9000, 1),
        (
            "chronological, three segments",
            Order::Chronological,
            9000,
            3,
        ),
        ("reversed", Order::Reversed, 6000, 2),
        ("shuffled", Order::Shuffled, 6000, 2),
        ("older runs after newer", Order::Runs, 7000, 4),
        ("equal times, decided by seq", Order::Ties, 6000, 2),
    ] {
        let at = times(order, n, &salt);
        let docs: Vec<Doc> = (0..n)
            .map(|i| Doc {
                at: at[i],
                text: match i % 7 {
                    0 => "甲 乙 丙丁",
                    1 | 2 | 3 => "甲",
                    4 => "甲乙 戊",
                    5 => "己庚辛",
                    _ => "乙",
                }
                .into(),
                deleted: i % 11 == 4,
            })
            .collect();
        let (_dir, idx) = build(&docs, batches);
        // Time windows as the roles ask them (the last 7% of the span, half of it), one
        // inside a single block, one covering everything, each with and without a reach
        // long enough to be checked per match: blocks outside a window are skipped, blocks
        // inside it counted without a check of the time.
        let (lo, hi) = (
            at.iter().min().copied().unwrap_or(0),
            at.iter().max().copied().unwrap_or(0),
        );
        let span = (hi - lo).max(1);
        for (a, b) in [(93, 100), (50, 100), (40, 41), (0, 100), (20, 60)] {
            let window = Filters {
                from_ms: Some(lo + span * a / 100),
                to_ms: Some(lo + span * b / 100),
                ..Filters::default()
            };
            let reach = Filters {
                conversation_ids: Some((1..=97).step_by(2).collect()),
                ..window.clone()
            };
            for q in ["甲", "乙", "甲乙", "己庚辛", "甲 -乙"] {
                for (offset, limit) in [(0, 20), (15, 20)] {
                    check(&idx, &docs, q, &window, offset, limit);
                    check(&idx, &docs, q, &reach, offset, limit);
                }
            }
        }
        for q in ["甲", "乙", "甲乙", "己庚辛", "丙丁 OR 戊", "甲 -乙", "无"] {
            for (offset, limit) in [(0, 20), (15, 20), (0, 1), (1000, 50)] {
                let parsed = Query::parse(q).expect("parse");
                let want = truth(&docs, &parsed, &Filters::default());
                let IndexHits::Exact { total, page } = idx
                    .search(&parsed, &Filters::default(), limit, offset)
                    .expect("search")
                else {
                    panic!("{name}: `{q}` is exact in the index")
                };
                assert_eq!(total as usize, want.len(), "{name}: count of `{q}`");
                let want: Vec<(u64, i64)> = want.into_iter().skip(offset).take(limit).collect();
                assert_eq!(page, want, "{name}: page of `{q}` at {offset}");
            }
        }
    }
}
