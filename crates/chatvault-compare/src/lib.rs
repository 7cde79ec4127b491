//! Two copies of one conversation, aligned: what is missing on either side, what was
//! altered (with a text diff), and what was reordered.
//!
//! The copies may come from different tools with different clocks and time zones (a
//! customer's WhatsApp export read in one zone, the archive's record in UTC). So the
//! alignment first estimates the clock offset between them: the median difference in time
//! between messages whose text is unique on both sides and equal. It then matches in three
//! passes:
//! 1. the same normalised text within `skew_ms` of the offset-corrected time;
//! 2. the unmatched rest, pairing similar texts (ratio ≥ `similarity`, or ≥ 0.2 for the
//!    same sender within 5 s) within the window; these are reported as altered;
//! 3. the matched pairs out of order: those outside the longest increasing run of
//!    positions are reported as reordered.
//!
//! Whatever is left is missing from the other side.

use chatvault_model::normalize::normalize;
use serde::Serialize;

/// One message of one side.
#[derive(Debug, Clone, Serialize)]
pub struct Msg {
    /// How the side names it: an archive id, a source id, or `line N`.
    pub key: String,
    pub sender: String,
    pub at_ms: i64,
    pub text: String,
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// How far apart two copies of a message may be in time, after the offset.
    pub skew_ms: i64,
    /// How alike two texts must be (0 to 1) to count as one message altered.
    pub similarity: f32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            skew_ms: 120_000,
            similarity: 0.5,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Altered {
    pub a: Msg,
    pub b: Msg,
    /// A unified-style diff of the two texts (`-` only in A, `+` only in B).
    pub diff: String,
    pub similarity: f32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Milliseconds to add to A's times to line them up with B's.
    pub offset_ms: i64,
    pub a_messages: usize,
    pub b_messages: usize,
    pub matched: usize,
    /// In A, not in B (deleted from B, or never there).
    pub missing_from_b: Vec<Msg>,
    /// In B, not in A.
    pub missing_from_a: Vec<Msg>,
    pub altered: Vec<Altered>,
    /// Matched pairs whose order differs between the sides.
    pub reordered: Vec<(Msg, Msg)>,
    pub verdict: String,
}

impl Report {
    pub fn identical(&self) -> bool {
        self.missing_from_a.is_empty()
            && self.missing_from_b.is_empty()
            && self.altered.is_empty()
            && self.reordered.is_empty()
    }
}

/// A message by the same sender within this of the other copy's time is "the same slot".
const SAME_SLOT_MS: i64 = 5_000;
/// How alike two texts in the same slot must be to count as one message altered.
const SAME_SLOT_SIMILARITY: f32 = 0.2;

fn norm(s: &str) -> String {
    normalize(s.trim())
}

/// Aligns `a` and `b` (each in its own order) and reports their differences.
pub fn compare(a: &[Msg], b: &[Msg], o: &Options) -> Report {
    let na: Vec<String> = a.iter().map(|m| norm(&m.text)).collect();
    let nb: Vec<String> = b.iter().map(|m| norm(&m.text)).collect();
    let offset = estimate_offset(a, b, &na, &nb);
    let mut b_of_a: Vec<Option<usize>> = vec![None; a.len()];
    let mut used = vec![false; b.len()];
    let close = |i: usize, j: usize| (b[j].at_ms - (a[i].at_ms + offset)).abs() <= o.skew_ms;
    // 1. Same text, close in time: the nearest unused copy.
    let mut by_text: std::collections::HashMap<&str, Vec<usize>> = Default::default();
    for (j, t) in nb.iter().enumerate() {
        by_text.entry(t.as_str()).or_default().push(j);
    }
    for i in 0..a.len() {
        if let Some(js) = by_text.get(na[i].as_str()) {
            let best = js
                .iter()
                .copied()
                .filter(|&j| !used[j] && close(i, j))
                .min_by_key(|&j| (b[j].at_ms - (a[i].at_ms + offset)).abs());
            if let Some(j) = best {
                used[j] = true;
                b_of_a[i] = Some(j);
            }
        }
    }
    // 2. Similar text, close in time: altered. The same sender at (nearly) the same moment
    // is the same message even when the edit changed most of it.
    let mut altered = vec![];
    for i in 0..a.len() {
        if b_of_a[i].is_some() {
            continue;
        }
        let same_slot = |j: usize| {
            norm(&a[i].sender) == norm(&b[j].sender)
                && (b[j].at_ms - (a[i].at_ms + offset)).abs() <= SAME_SLOT_MS
        };
        let best = (0..b.len())
            .filter(|&j| !used[j] && close(i, j))
            .map(|j| {
                (
                    j,
                    same_slot(j),
                    similar::TextDiff::from_chars(na[i].as_str(), nb[j].as_str()).ratio(),
                )
            })
            .filter(|(_, slot, r)| *r >= o.similarity || (*slot && *r >= SAME_SLOT_SIMILARITY))
            // The same slot first, then the most alike.
            .max_by(|x, y| x.1.cmp(&y.1).then(x.2.total_cmp(&y.2)));
        if let Some((j, _, ratio)) = best {
            used[j] = true;
            b_of_a[i] = Some(j);
            altered.push(Altered {
                a: a[i].clone(),
                b: b[j].clone(),
                diff: diff(&a[i].text, &b[j].text),
                similarity: ratio,
            });
        }
    }
    // 3. Order: pairs outside the longest increasing run of B positions moved.
    let pairs: Vec<(usize, usize)> = b_of_a
        .iter()
        .enumerate()
        .filter_map(|(i, j)| j.map(|j| (i, j)))
        .collect();
    let keep = lis(&pairs.iter().map(|p| p.1).collect::<Vec<_>>());
    let reordered: Vec<(Msg, Msg)> = pairs
        .iter()
        .enumerate()
        .filter(|(k, _)| !keep.contains(k))
        .map(|(_, &(i, j))| (a[i].clone(), b[j].clone()))
        .collect();
    let missing_from_b: Vec<Msg> = (0..a.len())
        .filter(|&i| b_of_a[i].is_none())
        .map(|i| a[i].clone())
        .collect();
    let missing_from_a: Vec<Msg> = (0..b.len())
        .filter(|&j| !used[j])
        .map(|j| b[j].clone())
        .collect();
    let mut r = Report {
        offset_ms: offset,
        a_messages: a.len(),
        b_messages: b.len(),
        matched: pairs.len(),
        missing_from_b,
        missing_from_a,
        altered,
        reordered,
        verdict: String::new(),
    };
    r.verdict = if r.identical() {
        format!("the copies agree: {} messages", r.matched)
    } else {
        format!(
            "the copies differ: {} only in A, {} only in B, {} altered, {} reordered ({} matched)",
            r.missing_from_b.len(),
            r.missing_from_a.len(),
            r.altered.len(),
            r.reordered.len(),
            r.matched
        )
    };
    r
}

/// Each text: how often it occurs, and where it first does.
fn counts(v: &[String]) -> std::collections::HashMap<&str, (usize, usize)> {
    let mut m: std::collections::HashMap<&str, (usize, usize)> = Default::default();
    for (i, t) in v.iter().enumerate() {
        let e = m.entry(t.as_str()).or_insert((0, i));
        e.0 += 1;
    }
    m
}

/// The median time difference of texts that occur once on each side.
fn estimate_offset(a: &[Msg], b: &[Msg], na: &[String], nb: &[String]) -> i64 {
    let (ca, cb) = (counts(na), counts(nb));
    let mut d: Vec<i64> = ca
        .iter()
        .filter(|(t, (n, _))| *n == 1 && t.chars().count() >= 2)
        .filter_map(|(t, (_, i))| {
            cb.get(t)
                .filter(|(n, _)| *n == 1)
                .map(|(_, j)| b[*j].at_ms - a[*i].at_ms)
        })
        .collect();
    if d.is_empty() {
        return 0;
    }
    d.sort_unstable();
    d[d.len() / 2]
}

/// The indexes of one longest strictly increasing subsequence (patience sorting).
fn lis(v: &[usize]) -> std::collections::BTreeSet<usize> {
    let mut tails: Vec<usize> = vec![];
    let mut prev: Vec<Option<usize>> = vec![None; v.len()];
    for i in 0..v.len() {
        let pos = tails.partition_point(|&t| v[t] < v[i]);
        if pos > 0 {
            prev[i] = Some(tails[pos - 1]);
        }
        if pos == tails.len() {
            tails.push(i);
        } else {
            tails[pos] = i;
        }
    }
    let mut out = std::collections::BTreeSet::new();
    let mut k = tails.last().copied();
    while let Some(i) = k {
        out.insert(i);
        k = prev[i];
    }
    out
}

fn diff(a: &str, b: &str) -> String {
    let d = similar::TextDiff::from_chars(a, b);
    let mut out = String::new();
    for c in d.iter_all_changes() {
        match c.tag() {
            similar::ChangeTag::Equal => out.push_str(c.value()),
            similar::ChangeTag::Delete => {
                out.push_str("[-");
                out.push_str(c.value());
                out.push_str("-]");
            }
            similar::ChangeTag::Insert => {
                out.push_str("{+");
                out.push_str(c.value());
                out.push_str("+}");
            }
        }
    }
    out.replace("-][-", "").replace("+}{+", "")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn m(key: &str, at_s: i64, text: &str) -> Msg {
        Msg {
            key: key.into(),
            sender: "x".into(),
            at_ms: at_s * 1000,
            text: text.into(),
        }
    }

    fn side(lines: &[(&str, i64, &str)]) -> Vec<Msg> {
        lines.iter().map(|(k, t, x)| m(k, *t, x)).collect()
    }

    const BASE: &[(&str, i64, &str)] = &[
        ("1", 0, "你好，我的订单还没到"),
        ("2", 30, "请提供订单号"),
        ("3", 60, "A-1001"),
        ("4", 90, "已经帮您催促物流"),
        ("5", 120, "谢谢"),
        ("6", 150, "不客气，祝您生活愉快"),
    ];

    #[test]
    fn copies_are_aligned_across_clock_offsets() {
        // Eight hours apart (a time zone) and a few seconds of skew.
        let a = side(BASE);
        let b: Vec<Msg> = BASE
            .iter()
            .map(|(k, t, x)| m(k, t + 8 * 3600 + (*t % 7), x))
            .collect();
        let r = compare(&a, &b, &Options::default());
        assert!(r.identical(), "{r:?}");
        assert_eq!(r.matched, 6);
        assert!(
            (r.offset_ms - 8 * 3600 * 1000).abs() < 10_000,
            "{}",
            r.offset_ms
        );
    }

    #[test]
    fn each_difference_is_named() {
        let a = side(BASE);
        let cases: Vec<(&str, Vec<Msg>, (usize, usize, usize, usize), &str)> = vec![
            (
                "deleted on B",
                side(&[BASE[0], BASE[1], BASE[3], BASE[4], BASE[5]]),
                (1, 0, 0, 0),
                "3",
            ),
            (
                "added on B",
                side(&[
                    BASE[0],
                    BASE[1],
                    BASE[2],
                    ("x", 75, "其实我改主意了"),
                    BASE[3],
                    BASE[4],
                    BASE[5],
                ]),
                (0, 1, 0, 0),
                "x",
            ),
            (
                "edited on B",
                side(&[
                    BASE[0],
                    BASE[1],
                    BASE[2],
                    ("4", 90, "已经帮您取消订单"),
                    BASE[4],
                    BASE[5],
                ]),
                (0, 0, 1, 0),
                "4",
            ),
            (
                "two swapped on B",
                side(&[BASE[0], BASE[1], BASE[3], BASE[2], BASE[4], BASE[5]]),
                (0, 0, 0, 1),
                "",
            ),
        ];
        for (name, b, (only_a, only_b, alt, reord), key) in cases {
            let r = compare(&a, &b, &Options::default());
            assert_eq!(
                (
                    r.missing_from_b.len(),
                    r.missing_from_a.len(),
                    r.altered.len(),
                    r.reordered.len()
                ),
                (only_a, only_b, alt, reord),
                "{name}: {r:?}"
            );
            if only_a > 0 {
                assert_eq!(r.missing_from_b[0].key, key, "{name}");
            }
            if only_b > 0 {
                assert_eq!(r.missing_from_a[0].key, key, "{name}");
            }
            if alt > 0 {
                assert_eq!(r.altered[0].a.key, key, "{name}");
                assert!(
                    r.altered[0].diff.contains("[-催促物流-]")
                        && r.altered[0].diff.contains("{+取消订单+}"),
                    "{name}: {}",
                    r.altered[0].diff
                );
            }
            assert!(
                !r.identical() && r.verdict.starts_with("the copies differ"),
                "{name}"
            );
        }
    }

    #[test]
    fn far_apart_copies_of_a_text_are_not_matched() {
        let a = side(&[("1", 0, "好的"), ("2", 10, "订单 A-1")]);
        let b = side(&[("1", 0, "好的"), ("2", 10, "订单 A-1"), ("3", 5000, "好的")]);
        let r = compare(&a, &b, &Options::default());
        assert_eq!(
            r.missing_from_a.len(),
            1,
            "the later 好的 is another message"
        );
        assert_eq!(r.missing_from_a[0].key, "3");
    }

    proptest::proptest! {
        /// A copy compared with itself, shifted in time, always agrees.
        #[test]
        fn a_copy_agrees_with_itself(texts in proptest::collection::vec("[a-z一-龥]{1,12}", 1..30), shift in -50_000i64..50_000) {
            let a: Vec<Msg> = texts.iter().enumerate().map(|(i, t)| m(&i.to_string(), i as i64 * 20, t)).collect();
            let b: Vec<Msg> = a.iter().map(|x| Msg { at_ms: x.at_ms + shift, ..x.clone() }).collect();
            let r = compare(&a, &b, &Options::default());
            proptest::prop_assert!(r.identical(), "{:?}", r);
        }
    }
}
