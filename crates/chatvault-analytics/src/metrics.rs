//! Turns and response times, exactly as `docs/metrics.md` defines them. The worked
//! examples of that document are the table tests at the end of this file.

use serde::{Deserialize, Serialize};

/// Which side of a conversation a message is from. System and unknown senders are no
/// side: they neither start nor end a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Customer,
    Agent,
}

/// One message as the metrics see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Msg<'a> {
    pub id: &'a str,
    pub sent_ms: i64,
    pub side: Option<Side>,
    /// `platform:id` of the sender.
    pub sender: &'a str,
    pub text: &'a str,
}

/// A maximal run of consecutive messages from one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub side: Side,
    pub start_ms: i64,
    pub end_ms: i64,
    pub messages: usize,
    /// The sender of the turn's first message.
    pub sender: String,
}

/// The turns of a conversation whose messages are in order (sent time, then arrival).
pub fn turns(msgs: &[Msg<'_>]) -> Vec<Turn> {
    let mut out: Vec<Turn> = vec![];
    for m in msgs {
        let Some(side) = m.side else { continue };
        match out.last_mut() {
            Some(t) if t.side == side => {
                t.end_ms = m.sent_ms;
                t.messages += 1;
            }
            _ => out.push(Turn {
                side,
                start_ms: m.sent_ms,
                end_ms: m.sent_ms,
                messages: 1,
                sender: m.sender.to_owned(),
            }),
        }
    }
    out
}

/// One customer turn and the agent's answer to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// When the customer turn started.
    pub start_ms: i64,
    /// The first agent message after the turn; `None`: unanswered.
    pub reply_ms: Option<i64>,
    /// Who sent that first agent message.
    pub agent: Option<String>,
    /// The conversation's first customer turn: its response time is the FRT.
    pub first: bool,
}

impl Response {
    /// The response time in milliseconds (never negative: a reply stamped before the
    /// turn it answers, by clock skew between sources, counts as 0).
    pub fn millis(&self) -> Option<i64> {
        self.reply_ms.map(|r| (r - self.start_ms).max(0))
    }
}

/// Every customer turn with its response.
pub fn responses(turns: &[Turn]) -> Vec<Response> {
    let mut out = vec![];
    for (i, t) in turns.iter().enumerate() {
        if t.side != Side::Customer {
            continue;
        }
        let reply = turns.get(i + 1).filter(|n| n.side == Side::Agent);
        out.push(Response {
            start_ms: t.start_ms,
            reply_ms: reply.map(|r| r.start_ms),
            agent: reply.map(|r| r.sender.clone()),
            first: out.is_empty(),
        });
    }
    out
}

/// Whether a conversation is unanswered: its last customer turn got no agent reply
/// (only the last turn can be unanswered).
pub fn unanswered(turns: &[Turn]) -> bool {
    turns.last().is_some_and(|t| t.side == Side::Customer)
}

/// The value at quantile `q` (0 to 1) of sorted values, nearest rank: the smallest value
/// with at least `q` of all values at or below it. `None` for no values.
pub fn quantile(sorted: &[i64], q: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const S: i64 = 1000;

    /// `c` customer, `a`/`b` agents, `s` system; each with its second.
    fn conv(spec: &[(&'static str, i64)]) -> Vec<Msg<'static>> {
        spec.iter()
            .map(|(who, sec)| Msg {
                id: "m",
                sent_ms: sec * S,
                side: match *who {
                    "c" => Some(Side::Customer),
                    "a" | "b" => Some(Side::Agent),
                    _ => None,
                },
                sender: who,
                text: "",
            })
            .collect()
    }

    /// The worked examples of docs/metrics.md, section by section.
    #[test]
    fn the_documented_examples() {
        struct Case {
            name: &'static str,
            msgs: &'static [(&'static str, i64)],
            turns: usize,
            /// (start, response seconds or None, agent, first)
            responses: &'static [(i64, Option<i64>, Option<&'static str>, bool)],
            unanswered: bool,
        }
        let cases = [
            Case {
                name: "example 1: one question, one answer",
                msgs: &[("c", 0), ("a", 20)],
                turns: 2,
                responses: &[(0, Some(20), Some("a"), true)],
                unanswered: false,
            },
            Case {
                name: "example 2: a turn is timed from its first message",
                msgs: &[
                    ("c", 0),
                    ("c", 10),
                    ("c", 25),
                    ("a", 40),
                    ("a", 45),
                    ("c", 100),
                    ("b", 190),
                ],
                turns: 4,
                responses: &[
                    (0, Some(40), Some("a"), true),
                    (100, Some(90), Some("b"), false),
                ],
                unanswered: false,
            },
            Case {
                name: "example 3: the agent speaks first; the FRT is of the first customer turn",
                msgs: &[("a", 0), ("c", 60), ("a", 75)],
                turns: 3,
                responses: &[(60, Some(15), Some("a"), true)],
                unanswered: false,
            },
            Case {
                name: "example 4: system messages neither start nor end a turn",
                msgs: &[("c", 0), ("s", 5), ("c", 8), ("s", 30), ("a", 50)],
                turns: 2,
                responses: &[(0, Some(50), Some("a"), true)],
                unanswered: false,
            },
            Case {
                name: "example 5: the last customer turn got no reply",
                msgs: &[("c", 0), ("a", 30), ("c", 100), ("c", 130)],
                turns: 3,
                responses: &[(0, Some(30), Some("a"), true), (100, None, None, false)],
                unanswered: true,
            },
            Case {
                name: "example 6: no customer at all",
                msgs: &[("a", 0), ("a", 9)],
                turns: 1,
                responses: &[],
                unanswered: false,
            },
            Case {
                name: "example 7: a reply stamped before its question counts as 0",
                msgs: &[("c", 100), ("a", 100), ("c", 200), ("a", 199)],
                turns: 4,
                responses: &[
                    (100, Some(0), Some("a"), true),
                    (200, Some(0), Some("a"), false),
                ],
                unanswered: false,
            },
            Case {
                name: "empty",
                msgs: &[],
                turns: 0,
                responses: &[],
                unanswered: false,
            },
        ];
        for c in cases {
            let t = turns(&conv(c.msgs));
            assert_eq!(t.len(), c.turns, "{}: turns", c.name);
            let r = responses(&t);
            let got: Vec<(i64, Option<i64>, Option<&str>, bool)> = r
                .iter()
                .map(|x| {
                    (
                        x.start_ms / S,
                        x.millis().map(|m| m / S),
                        x.agent.as_deref(),
                        x.first,
                    )
                })
                .collect();
            assert_eq!(got, c.responses, "{}: responses", c.name);
            assert_eq!(unanswered(&t), c.unanswered, "{}: unanswered", c.name);
        }
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let v: Vec<i64> = (1..=10).collect();
        let cases: &[(&str, &[i64], f64, Option<i64>)] = &[
            ("median of ten", &v, 0.5, Some(5)),
            ("p90 of ten", &v, 0.9, Some(9)),
            ("p99 of ten", &v, 0.99, Some(10)),
            ("p0 is the minimum", &v, 0.0, Some(1)),
            ("one value", &[7], 0.9, Some(7)),
            ("none", &[], 0.5, None),
        ];
        for (name, values, q, want) in cases {
            assert_eq!(quantile(values, *q), *want, "{name}");
        }
    }

    proptest::proptest! {
        /// Turns alternate sides, cover every sided message, and every customer turn has
        /// exactly one response, answered unless it is the last turn.
        #[test]
        fn turns_alternate_and_every_customer_turn_is_answered_but_the_last(spec in proptest::collection::vec((0u8..3, 0i64..1000), 0..60)) {
            let mut spec = spec;
            spec.sort_by_key(|x| x.1);
            let msgs: Vec<Msg<'static>> = spec.iter().map(|(w, s)| Msg { id: "m", sent_ms: *s, side: [Some(Side::Customer), Some(Side::Agent), None][*w as usize], sender: "x", text: "" }).collect();
            let t = turns(&msgs);
            proptest::prop_assert!(t.windows(2).all(|w| w[0].side != w[1].side));
            proptest::prop_assert_eq!(t.iter().map(|x| x.messages).sum::<usize>(), msgs.iter().filter(|m| m.side.is_some()).count());
            let r = responses(&t);
            proptest::prop_assert_eq!(r.len(), t.iter().filter(|x| x.side == Side::Customer).count());
            let open = r.iter().filter(|x| x.reply_ms.is_none()).count();
            proptest::prop_assert_eq!(open, usize::from(unanswered(&t)));
            proptest::prop_assert!(r.iter().all(|x| x.millis().is_none_or(|m| m >= 0)));
        }
    }
}
