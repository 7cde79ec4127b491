//! The index agrees with a naive substring scan, for any text and any query.

use std::collections::BTreeSet;

use chatvault_index::{Filters, IndexDoc, IndexHits, Query, SearchIndex, TextView};
use chatvault_model::normalize::normalize;
use proptest::prelude::*;

/// A small alphabet, so that random keywords hit often: CJK, Latin in both widths and
/// cases, digits, emoji (with a modifier), punctuation and spaces.
const ALPHABET: &[&str] = &[
    "安", "装", "简", "单", "待", "处", "理", "退", "款", "a", "b", "A", "Ｂ", "1", "２", "👍",
    "🏽", "😀", "，", "!", " ", " ", "\u{3000}",
];

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(ALPHABET), 0..32).prop_map(|v| v.concat())
}

fn keyword() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(&ALPHABET[..20]), 1..11).prop_map(|v| v.concat())
}

/// Search through the index, finishing candidate sets with the definition, as the archive does.
fn index_hits(idx: &SearchIndex, q: &Query, texts: &[String]) -> BTreeSet<u64> {
    view_hits(idx, q, texts, TextView::Stored)
}

/// The text as `view` reads it, normalised.
fn read(t: &str, view: TextView) -> String {
    match view {
        TextView::Stored => normalize(t),
        TextView::Masked => normalize(&chatvault_model::pii::mask(t)),
    }
}

fn view_hits(idx: &SearchIndex, q: &Query, texts: &[String], view: TextView) -> BTreeSet<u64> {
    match idx
        .snapshot()
        .search(q, &Filters::default(), view, 10_000, 0)
        .expect("search")
    {
        IndexHits::Exact { total, page } => {
            assert_eq!(total as usize, page.len());
            page.into_iter().map(|(s, _)| s).collect()
        }
        IndexHits::Candidates(c) => c
            .into_iter()
            .map(|(s, _)| s)
            .filter(|&s| q.matches(&read(&texts[s as usize], view)))
            .collect(),
    }
}

fn build(texts: &[String]) -> (tempfile::TempDir, SearchIndex) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut idx = SearchIndex::open(dir.path()).expect("open");
    for (i, t) in texts.iter().enumerate() {
        let n = normalize(t);
        let masked = read(t, TextView::Masked);
        idx.add(&IndexDoc {
            seq: i as u64,
            sent_at_ms: i as i64,
            platform: "p",
            conversation: "p:c",
            conversation_id: 1,
            sender_handle: "u",
            sender_name: None,
            kind: "text",
            text: &n,
            masked: (masked != n).then_some(masked.as_str()),
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
        picks in prop::collection::vec((0usize..40, 0usize..24, 1usize..13), 1..12),
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

/// Pieces of text with personal data (phone numbers, an e-mail address, a resident ID,
/// a bank card) among words, digits and spaces, so that keywords fall inside, across
/// and beside masked spans.
const PERSONAL: &[&str] = &[
    "13812345678",
    "王女士",
    "退款",
    "a@b.com",
    "电话",
    "1",
    "8",
    "5678",
    " ",
    "订单",
    "110101199003077777",
    "6222021234567890123",
    "*",
    "138",
    "@",
];

fn personal_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PERSONAL), 0..8).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The masked view matches exactly what a reader without `pii.view` reads: text
    /// hidden by the mask never matches, and the stored view is unchanged beside it.
    #[test]
    fn masked_view_equals_naive_scan_of_masked_text(
        texts in prop::collection::vec(personal_text(), 1..30),
        picks in prop::collection::vec((0usize..30, 0usize..40, 1usize..13, any::<bool>()), 1..16),
        words in prop::collection::vec((prop::sample::select(PERSONAL), prop::sample::select(PERSONAL), 0u8..4), 1..8),
    ) {
        let (_dir, idx) = build(&texts);
        let mut qs: Vec<String> = vec![];
        // Substrings of the stored and of the masked texts...
        for (ti, start, len, masked) in picks {
            let t = &texts[ti % texts.len()];
            let t = if masked { chatvault_model::pii::mask(t) } else { t.clone() };
            let chars: Vec<char> = t.chars().collect();
            if chars.is_empty() { continue; }
            let s = start % chars.len();
            let k: String = chars[s..(s + len).min(chars.len())].iter().collect();
            if k.trim().is_empty() || k.contains('"') { continue; }
            qs.push(format!("\"{k}\""));
        }
        // ...and the pieces themselves, combined.
        for (a, b, op) in words {
            if a.trim().is_empty() || b.trim().is_empty() { continue; }
            qs.push(match op {
                0 => a.to_owned(),
                1 => format!("{a} -{b}"),
                2 => format!("{a} OR {b}"),
                _ => format!("\"{a} {b}\""),
            });
        }
        for q in qs {
            let Ok(parsed) = Query::parse(&q) else { continue };
            if parsed.is_empty() { continue; }
            for view in [TextView::Stored, TextView::Masked] {
                let truth: BTreeSet<u64> = texts.iter().enumerate()
                    .filter(|(_, t)| parsed.matches(&read(t, view)))
                    .map(|(i, _)| i as u64).collect();
                prop_assert_eq!(view_hits(&idx, &parsed, &texts, view), truth, "query {:?} in {:?}", q, view);
            }
        }
    }
}

#[test]
fn a_masked_phone_number_is_not_found_by_its_hidden_digits() {
    let texts: Vec<String> = ["电话13812345678", "订单5678", "no personal data"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (_dir, idx) = build(&texts);
    let hits = |q: &str, view| view_hits(&idx, &Query::parse(q).expect("parse"), &texts, view);
    assert_eq!(hits("1234", TextView::Stored), BTreeSet::from([0]));
    assert_eq!(
        hits("1234", TextView::Masked),
        BTreeSet::new(),
        "hidden digits"
    );
    assert_eq!(
        hits("5678", TextView::Masked),
        BTreeSet::from([0, 1]),
        "shown digits"
    );
    assert_eq!(
        hits("电话", TextView::Masked),
        BTreeSet::from([0]),
        "beside the mask"
    );
    assert_eq!(
        hits("data", TextView::Masked),
        BTreeSet::from([2]),
        "no personal data"
    );
    assert_eq!(
        hits("5678 -1234", TextView::Masked),
        BTreeSet::from([0, 1]),
        "a hidden keyword excludes nothing"
    );
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
