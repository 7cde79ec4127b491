//! The query language, shared by the CLI, the API and the web UI.
//!
//! - Words separated by spaces must all match (AND).
//! - `a OR b` matches either; `OR` binds tighter than the space: `退款 发票 OR 收据` is
//!   `退款 AND (发票 OR 收据)`.
//! - `-word` excludes; `"quoted phrase"` is one keyword that may contain spaces.
//! - A keyword matches when its normalised form is a substring of the message's
//!   normalised text ([`chatvault_model::normalize`]).
//!
//! [`Query::matches`] is the definition; the index must agree with it exactly.

use chatvault_model::normalize::normalize;

/// A parsed query: every clause must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    pub clauses: Vec<Clause>,
}

/// A clause: one of `any` must be a substring, or, when `negated`, none may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    pub negated: bool,
    /// Normalised keywords, never empty.
    pub any: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("unclosed quote in the query")]
    UnclosedQuote,
    #[error("`OR` needs a keyword on both sides")]
    DanglingOr,
    #[error("an excluded keyword cannot be part of `OR`")]
    NegatedOr,
    #[error("the query has more than {0} keywords")]
    TooLong(usize),
}

pub const MAX_KEYWORDS: usize = 64;

#[derive(Debug, PartialEq)]
enum Tok {
    Word { text: String, negated: bool },
    Or,
}

fn lex(input: &str) -> Result<Vec<Tok>, QueryError> {
    let mut out = vec![];
    let mut chars = input.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else { break };
        let mut negated = false;
        if c == '-' {
            chars.next();
            match chars.peek() {
                Some(c2) if !c2.is_whitespace() => negated = true,
                // A lone '-' is a keyword.
                _ => {
                    out.push(Tok::Word {
                        text: "-".into(),
                        negated: false,
                    });
                    continue;
                }
            }
        }
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut text = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(c) => text.push(c),
                    None => return Err(QueryError::UnclosedQuote),
                }
            }
            out.push(Tok::Word { text, negated });
            continue;
        }
        let mut text = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            text.push(c);
            chars.next();
        }
        if text == "OR" && !negated {
            out.push(Tok::Or);
        } else {
            out.push(Tok::Word { text, negated });
        }
    }
    Ok(out)
}

impl Query {
    /// Whether a keyword could match inside personal data (digits, Latin letters and the
    /// characters of e-mail addresses and number groups): such a query is checked against
    /// the masked text for a reader who may not see personal data, so neither a hit nor a
    /// count reveals what the mask hides. A keyword of CJK text alone cannot.
    pub fn could_match_personal_data(&self) -> bool {
        self.clauses.iter().flat_map(|c| &c.any).any(|k| {
            k.chars()
                .any(|c| c.is_ascii_alphanumeric() || "@._%+-* ".contains(c))
        })
    }

    /// The query without its negated clauses (a superset of its matches).
    pub fn positive(&self) -> Query {
        Query {
            clauses: self
                .clauses
                .iter()
                .filter(|c| !c.negated)
                .cloned()
                .collect(),
        }
    }

    pub fn parse(input: &str) -> Result<Query, QueryError> {
        let toks = lex(input)?;
        let mut clauses: Vec<Clause> = vec![];
        let mut pending_or = false;
        for (i, t) in toks.iter().enumerate() {
            match t {
                Tok::Or => {
                    let has_left =
                        matches!(toks.get(i.wrapping_sub(1)), Some(Tok::Word { .. })) && i > 0;
                    let has_right = matches!(toks.get(i + 1), Some(Tok::Word { .. }));
                    if !has_left || !has_right {
                        return Err(QueryError::DanglingOr);
                    }
                    pending_or = true;
                }
                Tok::Word { text, negated } => {
                    let k = normalize(text);
                    if k.trim().is_empty() {
                        pending_or = false;
                        continue;
                    }
                    if pending_or {
                        let last = clauses.last_mut().ok_or(QueryError::DanglingOr)?;
                        if *negated || last.negated {
                            return Err(QueryError::NegatedOr);
                        }
                        last.any.push(k);
                        pending_or = false;
                    } else {
                        clauses.push(Clause {
                            negated: *negated,
                            any: vec![k],
                        });
                    }
                }
            }
        }
        let n: usize = clauses.iter().map(|c| c.any.len()).sum();
        if n > MAX_KEYWORDS {
            return Err(QueryError::TooLong(MAX_KEYWORDS));
        }
        Ok(Query { clauses })
    }

    /// True when the query has no keywords (filters alone decide).
    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    /// The positive keywords, for highlighting.
    pub fn highlight_terms(&self) -> Vec<&str> {
        self.clauses
            .iter()
            .filter(|c| !c.negated)
            .flat_map(|c| c.any.iter().map(String::as_str))
            .collect()
    }

    /// Whether the index alone decides this query exactly. Keywords with whitespace
    /// inside are found through their words and then checked against the text.
    pub fn index_is_exact(&self) -> bool {
        self.clauses
            .iter()
            .all(|c| c.any.iter().all(|k| !k.chars().any(char::is_whitespace)))
    }

    /// The definition of a match, on already-normalised text.
    pub fn matches(&self, normalized_text: &str) -> bool {
        self.clauses
            .iter()
            .all(|c| c.any.iter().any(|k| normalized_text.contains(k.as_str())) != c.negated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(neg: bool, any: &[&str]) -> Clause {
        Clause {
            negated: neg,
            any: any.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn parse_table() {
        let cases: Vec<(&str, &str, Vec<Clause>)> = vec![
            ("single", "退款", vec![c(false, &["退款"])]),
            (
                "and",
                "退款 发票",
                vec![c(false, &["退款"]), c(false, &["发票"])],
            ),
            (
                "or",
                "退款 发票 OR 收据",
                vec![c(false, &["退款"]), c(false, &["发票", "收据"])],
            ),
            ("or_chain", "a OR b OR c", vec![c(false, &["a", "b", "c"])]),
            (
                "exclude",
                "退款 -测试",
                vec![c(false, &["退款"]), c(true, &["测试"])],
            ),
            (
                "phrase",
                "\"hello world\" x",
                vec![c(false, &["hello world"]), c(false, &["x"])],
            ),
            ("negated_phrase", "-\"a b\"", vec![c(true, &["a b"])]),
            ("normalised", "ＲＥＦＵＮＤ", vec![c(false, &["refund"])]),
            (
                "lowercase_or_is_a_word",
                "a or b",
                vec![c(false, &["a"]), c(false, &["or"]), c(false, &["b"])],
            ),
            (
                "lone_dash",
                "a - b",
                vec![c(false, &["a"]), c(false, &["-"]), c(false, &["b"])],
            ),
            ("empty", "   ", vec![]),
            ("empty_phrase_dropped", "\"\" a", vec![c(false, &["a"])]),
        ];
        for (name, q, want) in cases {
            assert_eq!(
                Query::parse(q)
                    .unwrap_or_else(|e| panic!("{name}: {e}"))
                    .clauses,
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn malformed_queries() {
        let cases = [
            ("unclosed_quote", "\"abc", QueryError::UnclosedQuote),
            ("leading_or", "OR a", QueryError::DanglingOr),
            ("trailing_or", "a OR", QueryError::DanglingOr),
            ("double_or", "a OR OR b", QueryError::DanglingOr),
            ("negated_or", "a OR -b", QueryError::NegatedOr),
        ];
        for (name, q, want) in cases {
            assert_eq!(Query::parse(q), Err(want), "{name}");
        }
        let long = vec!["x"; MAX_KEYWORDS + 1].join(" ");
        assert_eq!(Query::parse(&long), Err(QueryError::TooLong(MAX_KEYWORDS)));
    }

    #[test]
    fn matches_is_substring_logic() {
        let q = Query::parse("简单 -难 安装 OR 卸载").expect("parse");
        assert!(q.matches("安装简单"));
        assert!(q.matches("卸载很简单"));
        assert!(!q.matches("安装不简单但难"));
        assert!(!q.matches("简单"));
    }
}
