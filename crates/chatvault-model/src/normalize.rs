//! Search normalisation: the one definition of "the message's normalised text".
//!
//! `normalize(s)` = Unicode NFKC of `s`, then every character lower-cased
//! (`char::to_lowercase`). NFKC already folds full-width forms to half-width
//! (`ＡＢＣ１２３` → `abc123`, ideographic space → space) and compatibility characters
//! (`㈱` → `(株)`). Lower-casing is Unicode's default lower case, not full case folding:
//! `ß` stays `ß`. A keyword matches a message exactly when `normalize(keyword)` is a
//! substring of `normalize(text)`; the index, the query and the truth in tests all call
//! this function, so they cannot disagree.

use unicode_normalization::UnicodeNormalization;

/// The normalised form of `s`.
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    normalize_into(s, &mut out);
    out
}

/// Appends the normalised form of `s` to `out`.
pub fn normalize_into(s: &str, out: &mut String) {
    // Fast path: ASCII has no NFKC changes, only case.
    if s.is_ascii() {
        out.extend(s.chars().map(|c| c.to_ascii_lowercase()));
        return;
    }
    for c in s.nfkc() {
        if c.is_uppercase() {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
}

/// Whether a character separates words for the query language and the index
/// (Unicode White_Space).
pub fn is_separator(c: char) -> bool {
    c.is_whitespace()
}

/// A normalised text with a map back to the original, for highlighting.
///
/// `map[i]` is the byte offset in the original text of the character that produced the
/// normalised byte `i`; the map has one extra entry for the end. It is exact when the
/// text normalises character by character (almost always); otherwise [`Self::exact`] is
/// false and callers show the normalised text instead.
pub struct Normalized {
    pub text: String,
    map: Vec<usize>,
    pub exact: bool,
}

impl Normalized {
    pub fn new(original: &str) -> Self {
        let whole = normalize(original);
        let mut pieces = String::with_capacity(whole.len());
        let mut map = Vec::with_capacity(whole.len() + 1);
        let mut buf = [0u8; 4];
        for (at, c) in original.char_indices() {
            let before = pieces.len();
            normalize_into(c.encode_utf8(&mut buf), &mut pieces);
            map.extend(std::iter::repeat_n(at, pieces.len() - before));
        }
        map.push(original.len());
        let exact = pieces == whole;
        Normalized {
            text: whole,
            map,
            exact,
        }
    }

    /// The original byte range that produced the normalised byte range `start..end`.
    pub fn original_range(&self, start: usize, end: usize) -> Option<(usize, usize)> {
        if !self.exact || end > self.text.len() || start > end {
            return None;
        }
        let from = self.map[start];
        // The end maps to the start of the first original character past the range.
        let to = if end == self.text.len() {
            *self.map.last()?
        } else {
            let last_src = self.map[end - 1];
            let mut i = end;
            while i < self.map.len() - 1 && self.map[i] == last_src {
                i += 1;
            }
            self.map[i]
        };
        Some((from, to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_table() {
        let cases = [
            ("ascii_case", "Hello WORLD", "hello world"),
            ("fullwidth_latin", "ＡＢＣ１２３", "abc123"),
            ("ideographic_space", "退款\u{3000}申请", "退款 申请"),
            ("fullwidth_punct", "你好！", "你好!"),
            ("halfwidth_katakana", "ｶﾀｶﾅ", "カタカナ"),
            ("circled", "①", "1"),
            ("compat_ideograph", "㈱", "(株)"),
            ("combining", "e\u{301}", "é"),
            ("greek_upper", "ΣΑΣ", "σασ"),
            ("emoji_kept", "好👍🏽", "好👍🏽"),
            ("chinese_unchanged", "待处理的退款", "待处理的退款"),
        ];
        for (name, input, want) in cases {
            assert_eq!(normalize(input), want, "{name}");
        }
    }

    #[test]
    fn map_points_back_to_the_original() {
        let n = Normalized::new("请把ＡＢＣ退款");
        assert!(n.exact);
        let at = n.text.find("abc退").expect("found");
        let (a, b) = n.original_range(at, at + "abc退".len()).expect("exact");
        assert_eq!(&"请把ＡＢＣ退款"[a..b], "ＡＢＣ退");
    }

    #[test]
    fn inexact_maps_are_reported() {
        // A combining mark composes with its base only when normalised together.
        let n = Normalized::new("e\u{301}");
        assert!(!n.exact);
        assert!(n.original_range(0, 1).is_none());
    }
}
