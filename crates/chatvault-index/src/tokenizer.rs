//! The three tokenizers behind exact substring search.
//!
//! Both read text that is already normalised ([`chatvault_model::normalize`]). Every
//! character takes one position, whitespace included, so positions are character indexes.
//!
//! - `cv_uni` emits each non-whitespace character once (its field keeps documents only):
//!   a one-character keyword is one term lookup.
//! - `cv_bi` emits every pair of adjacent non-whitespace characters (its field keeps
//!   documents only): a two-character keyword is one term lookup.
//! - `cv_tri` emits every run of three non-whitespace characters at the position of the
//!   first (its field keeps positions): a three-character keyword is one term lookup,
//!   counted from the term's document frequency, and a longer one a phrase of trigrams at
//!   offsets 0, 3, 6, … plus the last three characters. Trigrams are rarer than bigrams, so
//!   the phrase checks positions in far fewer documents than a phrase of bigrams would.
//!
//! Because the trigrams of a keyword sit at offsets that cover every one of its characters,
//! positions are character indexes and no trigram spans whitespace, a phrase match is a
//! substring match, exactly: no misses inside longer words (安装简单 contains 装简单), and no
//! false hits across word boundaries. This treats Latin, digits, emoji and CJK alike. Tantivy's `NgramTokenizer` cannot be used:
//! it puts every gram at position 0.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

pub const UNIGRAM: &str = "cv_uni";
pub const BIGRAM: &str = "cv_bi";
pub const TRIGRAM: &str = "cv_tri";

#[derive(Clone, Copy, Default)]
pub struct UnigramTokenizer;

#[derive(Clone, Copy, Default)]
pub struct BigramTokenizer;

#[derive(Clone, Copy, Default)]
pub struct TrigramTokenizer;

pub struct GramStream<'a> {
    text: &'a str,
    chars: std::str::CharIndices<'a>,
    /// The next character, looked ahead: (byte offset, char).
    next: Option<(usize, char)>,
    position: usize,
    /// Characters per gram: 1, 2 or 3.
    n: usize,
    token: Token,
}

impl<'a> GramStream<'a> {
    fn new(text: &'a str, n: usize) -> Self {
        let mut chars = text.char_indices();
        let next = chars.next();
        GramStream {
            text,
            chars,
            next,
            position: 0,
            n,
            token: Token::default(),
        }
    }
}

impl TokenStream for GramStream<'_> {
    fn advance(&mut self) -> bool {
        while let Some((at, c)) = self.next {
            self.next = self.chars.next();
            let pos = self.position;
            self.position += 1;
            if c.is_whitespace() {
                continue;
            }
            // The gram ends n - 1 characters on, none of them whitespace (looking ahead
            // on a copy of the iterator: two pointers, no allocation).
            let mut end = at + c.len_utf8();
            let (mut ahead, mut rest) = (self.next, self.chars.clone());
            let mut whole = true;
            for _ in 1..self.n {
                match ahead {
                    Some((at2, c2)) if !c2.is_whitespace() => {
                        end = at2 + c2.len_utf8();
                        ahead = rest.next();
                    }
                    _ => {
                        whole = false;
                        break;
                    }
                }
            }
            if !whole {
                continue;
            }
            self.token.text.clear();
            self.token.text.push_str(&self.text[at..end]);
            self.token.offset_from = at;
            self.token.offset_to = end;
            self.token.position = pos;
            self.token.position_length = 1;
            return true;
        }
        false
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

impl Tokenizer for UnigramTokenizer {
    type TokenStream<'a> = GramStream<'a>;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> GramStream<'a> {
        GramStream::new(text, 1)
    }
}

impl Tokenizer for BigramTokenizer {
    type TokenStream<'a> = GramStream<'a>;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> GramStream<'a> {
        GramStream::new(text, 2)
    }
}

impl Tokenizer for TrigramTokenizer {
    type TokenStream<'a> = GramStream<'a>;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> GramStream<'a> {
        GramStream::new(text, 3)
    }
}

/// The trigram terms and offsets that pin a keyword (no whitespace, ≥ 3 characters) as a
/// substring: offsets 0, 3, 6, … and the last three characters.
pub fn keyword_trigrams(keyword: &str) -> Vec<(usize, String)> {
    let chars: Vec<char> = keyword.chars().collect();
    let n = chars.len();
    if n < 3 {
        return vec![];
    }
    let mut offsets: Vec<usize> = (0..=n - 3).step_by(3).collect();
    if offsets.last() != Some(&(n - 3)) {
        offsets.push(n - 3);
    }
    offsets
        .into_iter()
        .map(|o| (o, chars[o..o + 3].iter().collect()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens<T: Tokenizer>(mut t: T, text: &str) -> Vec<(String, usize)> {
        let mut s = t.token_stream(text);
        let mut out = vec![];
        while let Some(tok) = s.next() {
            out.push((tok.text.clone(), tok.position));
        }
        out
    }

    #[test]
    fn positions_are_character_indexes() {
        assert_eq!(
            tokens(BigramTokenizer, "待处理 ok"),
            vec![("待处".into(), 0), ("处理".into(), 1), ("ok".into(), 4)]
        );
        assert_eq!(
            tokens(UnigramTokenizer, "a 好👍"),
            vec![("a".into(), 0), ("好".into(), 2), ("👍".into(), 3)]
        );
        assert!(tokens(BigramTokenizer, "a b").is_empty());
        assert_eq!(
            tokens(TrigramTokenizer, "待处理中 ok 好👍a"),
            vec![
                ("待处理".into(), 0),
                ("处理中".into(), 1),
                ("好👍a".into(), 8)
            ]
        );
        assert!(tokens(TrigramTokenizer, "ab c").is_empty());
    }

    #[test]
    fn keyword_trigram_offsets() {
        let k = |s: &str| {
            keyword_trigrams(s)
                .into_iter()
                .map(|(o, t)| format!("{o}:{t}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(k("待处理"), vec!["0:待处理"]);
        assert_eq!(k("安装简单"), vec!["0:安装简", "1:装简单"]);
        assert_eq!(k("abcdef"), vec!["0:abc", "3:def"]);
        assert_eq!(k("abcdefg"), vec!["0:abc", "3:def", "4:efg"]);
        assert!(k("ab").is_empty());
    }
}
