//! What a conversation is about and how it went, from its text: topics, keywords, the
//! standard scripts, risk words, sentiment and resolution. All matching is on lowercased
//! text, by substring: Chinese has no spaces to split words on, and a lexicon entry is
//! what a manager wrote down.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::metrics::{Msg, Side};
use crate::settings::Settings;

/// The lexicons of the settings, lowercased once.
#[derive(Debug, Clone)]
pub struct Lexicons {
    topics: Vec<(String, Vec<String>)>,
    greeting: Vec<String>,
    closing: Vec<String>,
    risk: Vec<String>,
    positive: Vec<String>,
    negative: Vec<String>,
    confirm: Vec<String>,
    silence_ms: i64,
}

fn lower(v: &[String]) -> Vec<String> {
    v.iter()
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

impl Lexicons {
    pub fn new(s: &Settings) -> Lexicons {
        Lexicons {
            topics: s
                .topics
                .iter()
                .map(|(k, v)| (k.clone(), lower(v)))
                .collect(),
            greeting: lower(&s.scripts.greeting),
            closing: lower(&s.scripts.closing),
            risk: lower(&s.risk_words),
            positive: lower(&s.sentiment.positive),
            negative: lower(&s.sentiment.negative),
            confirm: lower(&s.resolution.confirm_phrases),
            silence_ms: s.resolution.silence_hours as i64 * 3_600_000,
        }
    }
}

impl Lexicons {
    /// The text holds a confirmation phrase (`[analytics.resolution] confirm_phrases`):
    /// from a customer, it closes what they asked (the resolution rule, and the live
    /// monitor's).
    pub fn confirms(&self, text: &str) -> bool {
        any_in(&text.to_lowercase(), &self.confirm)
    }
}

fn any_in(text: &str, words: &[String]) -> bool {
    words.iter().any(|w| text.contains(w.as_str()))
}

/// Positive and negative hits in one text. Longer entries are matched first and the text
/// they cover is not matched again, so `不满意` (negative) is not also `满意` (positive).
pub fn sentiment_hits(text: &str, lex: &Lexicons) -> (u32, u32) {
    let t = text.to_lowercase();
    let mut entries: Vec<(&str, bool)> = lex
        .positive
        .iter()
        .map(|w| (w.as_str(), true))
        .chain(lex.negative.iter().map(|w| (w.as_str(), false)))
        .collect();
    entries.sort_by_key(|(w, _)| std::cmp::Reverse(w.len()));
    let mut covered = vec![false; t.len()];
    let (mut pos, mut neg) = (0, 0);
    for (w, positive) in entries {
        let mut from = 0;
        while let Some(i) = t[from..].find(w).map(|i| i + from) {
            let span = i..i + w.len();
            if !covered[span.clone()].iter().any(|c| *c) {
                covered[span].iter_mut().for_each(|c| *c = true);
                if positive {
                    pos += 1;
                } else {
                    neg += 1;
                }
            }
            from = i + w.len();
        }
    }
    (pos, neg)
}

/// How a conversation ended (see docs/metrics.md, "Resolution").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// The last customer message holds a confirmation phrase.
    Confirmed,
    /// The agent spoke last and the customer has not written for the silence period.
    Silence,
    /// The agent spoke last, within the silence period: too early to say.
    Pending,
    /// The customer spoke last without confirming.
    Unresolved,
    /// No customer in the conversation.
    NoCustomer,
}

impl Resolution {
    pub fn resolved(self) -> bool {
        matches!(self, Resolution::Confirmed | Resolution::Silence)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Confirmed => "confirmed",
            Resolution::Silence => "silence",
            Resolution::Pending => "pending",
            Resolution::Unresolved => "unresolved",
            Resolution::NoCustomer => "no_customer",
        }
    }

    pub fn parse(s: &str) -> Resolution {
        match s {
            "confirmed" => Resolution::Confirmed,
            "silence" => Resolution::Silence,
            "pending" => Resolution::Pending,
            "unresolved" => Resolution::Unresolved,
            _ => Resolution::NoCustomer,
        }
    }
}

/// One risk-word hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskHit {
    pub message: String,
    pub word: String,
    pub side: Option<Side>,
    pub sent_ms: i64,
}

/// The content side of one conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Content {
    pub topics: Vec<String>,
    /// Distinct keywords of the customer's messages.
    pub terms: Vec<String>,
    /// Whether the first agent message holds a greeting; `None` with no agent message.
    pub greeting: Option<bool>,
    /// Whether the last agent message holds a closing.
    pub closing: Option<bool>,
    pub risks: Vec<RiskHit>,
    /// Sentiment hits in the customer's messages.
    pub positive: u32,
    pub negative: u32,
    pub resolution: Resolution,
}

impl Content {
    /// The customer's sentiment, -1 (all negative) to 1 (all positive); 0 with no hits.
    pub fn sentiment(&self) -> f64 {
        let n = self.positive + self.negative;
        if n == 0 {
            0.0
        } else {
            (self.positive as f64 - self.negative as f64) / n as f64
        }
    }
}

fn jieba() -> &'static jieba_rs::Jieba {
    static J: OnceLock<jieba_rs::Jieba> = OnceLock::new();
    J.get_or_init(jieba_rs::Jieba::new)
}

/// Words that say nothing about what a conversation is about.
const STOP: &[&str] = &[
    "我们", "你们", "他们", "这个", "那个", "什么", "怎么", "可以", "一下", "没有", "就是", "还是",
    "已经", "现在", "请问", "您好", "你好", "谢谢", "好的", "不是", "一个", "因为", "所以", "如果",
    "但是", "the", "and", "for", "you", "are", "this", "that", "with", "have", "not", "can", "was",
    "but", "please", "thanks",
];

/// The keywords of a text: jieba's segmentation, keeping words of two or more Chinese
/// characters or three or more letters, without stop words or numbers.
pub fn keywords(text: &str) -> Vec<String> {
    let lowered = text.to_lowercase();
    jieba()
        .cut(&lowered, true)
        .into_iter()
        .map(str::trim)
        .filter(|w| {
            let cjk = w
                .chars()
                .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
                .count();
            let alpha = w.chars().all(|c| c.is_ascii_alphabetic());
            (cjk >= 2 && cjk == w.chars().count() || alpha && w.len() >= 3) && !STOP.contains(w)
        })
        .map(str::to_owned)
        .collect()
}

/// Analyses one conversation's messages (in order) as of `as_of_ms` (for the silence
/// rule of resolution). `with_terms`: segment the customer's text for keywords.
pub fn analyse(msgs: &[Msg<'_>], lex: &Lexicons, as_of_ms: i64, with_terms: bool) -> Content {
    let mut topics = BTreeSet::new();
    let mut terms = BTreeSet::new();
    let mut risks = vec![];
    let (mut positive, mut negative) = (0, 0);
    let (mut first_agent, mut last_agent, mut last_customer): (
        Option<String>,
        Option<String>,
        Option<String>,
    ) = (None, None, None);
    for m in msgs {
        let t = m.text.to_lowercase();
        for (k, words) in &lex.topics {
            if any_in(&t, words) {
                topics.insert(k.clone());
            }
        }
        for w in lex.risk.iter().filter(|w| t.contains(w.as_str())) {
            risks.push(RiskHit {
                message: m.id.to_owned(),
                word: w.clone(),
                side: m.side,
                sent_ms: m.sent_ms,
            });
        }
        match m.side {
            Some(Side::Customer) => {
                let (p, n) = sentiment_hits(&t, lex);
                positive += p;
                negative += n;
                if with_terms {
                    terms.extend(keywords(&t));
                }
                last_customer = Some(t);
            }
            Some(Side::Agent) => {
                if first_agent.is_none() {
                    first_agent = Some(t.clone());
                }
                last_agent = Some(t);
            }
            None => {}
        }
    }
    let last_side = msgs.iter().rev().find_map(|m| m.side);
    let last_ms = msgs
        .iter()
        .rev()
        .find(|m| m.side.is_some())
        .map_or(0, |m| m.sent_ms);
    let resolution = match (&last_customer, last_side) {
        (None, _) => Resolution::NoCustomer,
        (Some(c), _) if any_in(c, &lex.confirm) => Resolution::Confirmed,
        (Some(_), Some(Side::Agent)) if as_of_ms - last_ms >= lex.silence_ms => Resolution::Silence,
        (Some(_), Some(Side::Agent)) => Resolution::Pending,
        _ => Resolution::Unresolved,
    };
    Content {
        topics: topics.into_iter().collect(),
        terms: terms.into_iter().collect(),
        greeting: first_agent.map(|t| any_in(&t, &lex.greeting)),
        closing: last_agent.map(|t| any_in(&t, &lex.closing)),
        risks,
        positive,
        negative,
        resolution,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn lex() -> Lexicons {
        Lexicons::new(&Settings::default())
    }

    fn m(side: &str, sec: i64, text: &'static str) -> Msg<'static> {
        Msg {
            id: "m",
            sent_ms: sec * 1000,
            side: if side == "c" {
                Some(Side::Customer)
            } else if side == "a" {
                Some(Side::Agent)
            } else {
                None
            },
            sender: "x",
            text,
        }
    }

    #[test]
    fn sentiment_takes_the_longest_entry_first() {
        let cases = [
            ("plain positive", "非常满意，谢谢", (2, 0)),
            ("negated by its own entry", "我很不满意", (0, 1)),
            ("mixed", "太差了，不过客服很好", (1, 1)),
            ("english, any case", "Thanks, GREAT job", (2, 0)),
            ("nothing", "订单号 A-1001", (0, 0)),
            ("repeats count", "慢 慢 慢", (0, 3)),
        ];
        for (name, text, want) in cases {
            assert_eq!(sentiment_hits(text, &lex()), want, "{name}");
        }
    }

    /// docs/metrics.md, "Resolution", with a 24-hour silence period.
    #[test]
    fn the_documented_resolution_examples() {
        let day = 86_400;
        let cases: Vec<(&str, Vec<Msg<'static>>, i64, Resolution)> = vec![
            (
                "the customer confirms",
                vec![
                    m("c", 0, "怎么退货"),
                    m("a", 10, "您好，已为您登记"),
                    m("c", 20, "好的谢谢"),
                ],
                30,
                Resolution::Confirmed,
            ),
            (
                "confirmed, then the agent says goodbye",
                vec![
                    m("c", 0, "怎么退货"),
                    m("a", 10, "已登记"),
                    m("c", 20, "解决了"),
                    m("a", 30, "祝您生活愉快"),
                ],
                40,
                Resolution::Confirmed,
            ),
            (
                "the agent answered, a day of silence",
                vec![m("c", 0, "怎么退货"), m("a", 10, "已登记")],
                10 + day,
                Resolution::Silence,
            ),
            (
                "the agent answered an hour ago",
                vec![m("c", 0, "怎么退货"), m("a", 10, "已登记")],
                10 + 3600,
                Resolution::Pending,
            ),
            (
                "the customer is still waiting",
                vec![
                    m("c", 0, "怎么退货"),
                    m("a", 10, "已登记"),
                    m("c", 20, "还没到账"),
                ],
                10 * day,
                Resolution::Unresolved,
            ),
            (
                "no customer",
                vec![m("a", 0, "活动通知")],
                day,
                Resolution::NoCustomer,
            ),
        ];
        for (name, msgs, as_of, want) in cases {
            assert_eq!(
                analyse(&msgs, &lex(), as_of * 1000, false).resolution,
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn topics_scripts_and_risk_words() {
        let msgs = vec![
            m("c", 0, "快递三天还没到，我要投诉"),
            m("a", 5, "您好，我帮您查一下物流"),
            m("s", 6, "系统：会话转接"),
            m("c", 30, "再不到就要求赔偿"),
            m("a", 40, "已催促配送，感谢耐心等待"),
        ];
        let c = analyse(&msgs, &lex(), 50_000, true);
        assert_eq!(c.topics, vec!["物流".to_string()]);
        assert_eq!((c.greeting, c.closing), (Some(true), Some(true)));
        let words: Vec<&str> = c.risks.iter().map(|r| r.word.as_str()).collect();
        assert_eq!(words, vec!["投诉", "赔偿"]);
        assert!(c.risks.iter().all(|r| r.side == Some(Side::Customer)));
        assert!(
            c.terms.contains(&"快递".to_string()) && c.terms.contains(&"赔偿".to_string()),
            "{:?}",
            c.terms
        );
        assert!(
            !c.terms.iter().any(|t| t == "物流"),
            "keywords are the customer's words only: {:?}",
            c.terms
        );
        let none = analyse(&[m("c", 0, "在吗")], &lex(), 0, false);
        assert_eq!(
            (none.greeting, none.closing),
            (None, None),
            "no agent message: no script verdict"
        );
        let rude = analyse(&[m("c", 0, "在吗"), m("a", 1, "滚")], &lex(), 0, false);
        assert_eq!(
            (rude.greeting, rude.risks[0].side),
            (Some(false), Some(Side::Agent))
        );
    }

    #[test]
    fn keywords_keep_content_words() {
        let k = keywords("我的快递还没有到，订单号12345，please check the delivery");
        assert!(
            k.contains(&"快递".to_string())
                && k.contains(&"delivery".to_string())
                && k.contains(&"check".to_string()),
            "{k:?}"
        );
        assert!(
            !k.iter()
                .any(|w| w == "没有" || w == "12345" || w == "the" || w == "我"),
            "{k:?}"
        );
    }
}
