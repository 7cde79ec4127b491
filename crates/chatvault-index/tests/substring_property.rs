//! The index agrees with a naive substring scan, for any text and any query.

use std::collections::BTreeSet;

use chatvault_index::{Filters, IndexDoc, IndexHits, Query, SearchIndex};
use chatvault_model::normalize::normalize;
use proptest::prelude::*;

/// A small alphabet, so that random keywords hit often: CJK, Latin in both widths and
/// cases, digits, emoji (with a modifier), punctuation and spaces.
const ALPHABET: &[&str] = &[
    "安", "装", "简", "单", "待", "处", "理", "退", "款", "a", "b", "A", "Ｂ", "1", "２", "👍",
    "🏽", "😀", "，", "!", " ", " ", "\u{3000}",
];

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(ALPHABET), 0..24).prop_map(|v| v.concat())
}

fn keyword() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(&ALPHABET[..20]), 1..6).prop_map(|v| v.concat())
}

/// Search through the index, finishing candidate sets with the definition, as the archive does.
fn index_hits(idx: &SearchIndex, q: &Query, texts: &[String]) -> BTreeSet<u64> {
    match idx
        .search(q, &Filters::default(), 10_000, 0)
        .expect("search")
    {
        IndexHits::Exact { total, page } => {
            assert_eq!(total as usize, page.len());
            page.into_iter().map(|(s, _)| s).collect()
        }
        IndexHits::Candidates(c) => c
            .into_iter()
            .map(|(s, _)| s)
            .filter(|&s| q.matches(&normalize(&texts[s as usize])))
            .collect(),
    }
}

fn build(texts: &[String]) -> (tempfile::TempDir, SearchIndex) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut idx = SearchIndex::open(dir.path()).expect("open");
    for (i, t) in texts.iter().enumerate() {
        let n = normalize(t);
        idx.add(&IndexDoc {
            seq: i as u64,
            sent_at_ms: i as i64,
            platform: "p",
            conversation: "p:c",
            sender_handle: "u",
            sender_name: None,
            kind: "text",
            text: &n,
        })
        .expect("add");
    }
    idx.commit(texts.len() as u64).expect("commit");
    (dir, idx)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn index_equals_naive_scan(
        texts in prop::collection::vec(text(), 1..40),
        queries in prop::collection::vec((keyword(), keyword(), 0u8..5), 1..12),
        picks in prop::collection::vec((0usize..40, 0usize..24, 1usize..6), 1..12),
    ) {
        let (_dir, idx) = build(&texts);
        let mut qs: Vec<String> = vec![];
        // Substrings cut out of the texts themselves (so most of them hit)...
        for (ti, start, len) in picks {
            let chars: Vec<char> = texts[ti % texts.len()].chars().collect();
            if chars.is_empty() { continue; }
            let s = start % chars.len();
            let k: String = chars[s..(s + len).min(chars.len())].iter().collect();
            if k.trim().is_empty() || k.contains('"') { continue; }
            qs.push(format!("\"{k}\""));
        }
        // ...and random keywords combined with the operators.
        for (a, b, op) in queries {
            qs.push(match op {
                0 => a,
                1 => format!("{a} {b}"),
                2 => format!("{a} OR {b}"),
                3 => format!("{a} -{b}"),
                _ => format!("\"{a} {b}\""),
            });
        }
        for q in qs {
            let parsed = Query::parse(&q).expect("parse");
            if parsed.is_empty() { continue; }
            let truth: BTreeSet<u64> = texts.iter().enumerate()
                .filter(|(_, t)| parsed.matches(&normalize(t)))
                .map(|(i, _)| i as u64).collect();
            prop_assert_eq!(index_hits(&idx, &parsed, &texts), truth, "query {:?}", q);
        }
    }
}

#[test]
fn known_misses_of_other_engines_hit_here() {
    let texts: Vec<String> = ["安装简单，三分钟搞定", "订单待处理中", "简 单", "处理完毕"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (_dir, idx) = build(&texts);
    let hits = |q: &str| index_hits(&idx, &Query::parse(q).expect("parse"), &texts);
    assert_eq!(
        hits("简单"),
        BTreeSet::from([0]),
        "简单 inside 安装简单, not across a space"
    );
    assert_eq!(hits("处理"), BTreeSet::from([1, 3]), "处理 inside 待处理");
    assert_eq!(
        hits("单"),
        BTreeSet::from([0, 1, 2]),
        "one character, also inside 订单"
    );
    assert_eq!(
        hits("\"简 单\""),
        BTreeSet::from([2]),
        "a phrase with a space"
    );
}

#[test]
fn filters_narrow_and_total_counts_everything() {
    let texts: Vec<String> = (0..30).map(|i| format!("退款 {i}")).collect();
    let (_dir, idx) = build(&texts);
    let q = Query::parse("退款").expect("parse");
    let IndexHits::Exact { total, page } =
        idx.search(&q, &Filters::default(), 5, 0).expect("search")
    else {
        panic!("exact expected")
    };
    assert_eq!(total, 30, "total ignores the limit");
    assert_eq!(
        page.iter().map(|p| p.0).collect::<Vec<_>>(),
        vec![29, 28, 27, 26, 25],
        "newest first"
    );
    let f = Filters {
        from_ms: Some(10),
        to_ms: Some(12),
        ..Filters::default()
    };
    let IndexHits::Exact { total, .. } = idx.search(&q, &f, 5, 0).expect("search") else {
        panic!()
    };
    assert_eq!(total, 3, "time range is inclusive at both ends");
    let f = Filters {
        platform: Some("other".into()),
        ..Filters::default()
    };
    let IndexHits::Exact { total, .. } = idx.search(&q, &f, 5, 0).expect("search") else {
        panic!()
    };
    assert_eq!(total, 0);
}
