//! How long each message is kept, and what may hold it longer.
//!
//! - A [`RetentionPolicy`] matches messages by platform, conversation, participant and
//!   tag, and keeps them a number of days from `sent_at`, or forever. The `default`
//!   policy matches every message; among all the policies that match a message, the
//!   **most protective** (the longest keep) wins, so no rule can shorten what the default
//!   (the legal minimum) keeps.
//! - A policy can be **locked** (like a preservation lock): from then on it may only be
//!   extended. [`RetentionPolicy::change`] refuses anything else.
//! - A [`TagRule`] tags messages whose text holds one of its keywords (complaint words
//!   for `complaint`, say); tags can also be set by hand.
//! - A [`LegalHold`] keeps whatever its case scope covers, overriding every policy,
//!   until its release, which a second person approves.
//!
//! [`evaluate`] decides one message. Like the rest of this crate it does no IO and reads
//! no clock.
//!
//! Deletions, restrictions and identity links, which retention works with, are their own
//! modules ([`crate::deletion`], [`crate::restriction`], [`crate::identity`]); they are
//! re-exported here, where the other crates have always found them.

use chatvault_model::normalize::normalize;
use serde::{Deserialize, Serialize};

use crate::{Handle, PolicyError, DAY_MS};

pub use crate::deletion::*;
pub use crate::identity::*;
pub use crate::restriction::*;

/// The name of the policy that matches every message.
pub const DEFAULT_POLICY: &str = "default";
/// The default policy's keep when none was set: the six months the law requires.
pub const DEFAULT_KEEP_DAYS: u32 = 180;

/// How long a policy keeps what it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Keep {
    Days(u32),
    Forever,
}

impl Keep {
    /// `forever`, or a number of days (`365`, `365d`).
    pub fn parse(s: &str) -> Result<Keep, PolicyError> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("forever") {
            return Ok(Keep::Forever);
        }
        let n = s.strip_suffix('d').unwrap_or(s);
        match n.parse::<u32>() {
            Ok(d) if d > 0 && d <= 365 * 200 => Ok(Keep::Days(d)),
            _ => Err(PolicyError::Invalid(format!(
                "keep `{s}`: give a number of days (1 to 73000) or `forever`"
            ))),
        }
    }

    /// When a message sent at `sent_at_ms` may go (`None`: never).
    pub fn until(self, sent_at_ms: i64) -> Option<i64> {
        match self {
            Keep::Days(d) => Some(sent_at_ms.saturating_add(d as i64 * DAY_MS)),
            Keep::Forever => None,
        }
    }
}

impl std::fmt::Display for Keep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Keep::Days(1) => f.write_str("1 day"),
            Keep::Days(d) => write!(f, "{d} days"),
            Keep::Forever => f.write_str("forever"),
        }
    }
}

impl Serialize for Keep {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Keep::Days(d) => s.serialize_u32(*d),
            Keep::Forever => s.serialize_str("forever"),
        }
    }
}

impl<'de> Deserialize<'de> for Keep {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Keep, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Keep::Days)
                .ok_or_else(|| serde::de::Error::custom("keep: days must be a positive integer")),
            serde_json::Value::String(s) => Keep::parse(&s).map_err(serde::de::Error::custom),
            _ => Err(serde::de::Error::custom(
                "keep: a number of days or \"forever\"",
            )),
        }
    }
}

/// Which messages a policy covers. Within a field any value matches; across fields all
/// given fields must match. All empty: every message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matcher {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// `platform:id` of each conversation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conversations: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<Handle>,
    /// Tags or categories (set by a [`TagRule`] or by hand).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl Matcher {
    pub fn is_everything(&self) -> bool {
        self.platforms.is_empty()
            && self.conversations.is_empty()
            && self.participants.is_empty()
            && self.tags.is_empty()
    }

    pub fn matches(&self, m: &MessageMeta<'_>) -> bool {
        (self.platforms.is_empty() || self.platforms.iter().any(|p| p == m.platform))
            && (self.conversations.is_empty()
                || self.conversations.iter().any(|c| c == m.conversation))
            && (self.participants.is_empty()
                || m.participants.iter().any(|h| self.participants.contains(h)))
            && (self.tags.is_empty() || m.tags.iter().any(|t| self.tags.contains(t)))
    }
}

/// A retention policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    pub name: String,
    pub matcher: Matcher,
    pub keep: Keep,
    pub locked: bool,
}

impl RetentionPolicy {
    pub fn new(name: &str, matcher: Matcher, keep: Keep) -> Result<RetentionPolicy, PolicyError> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err(PolicyError::Invalid(format!(
                "policy name `{name}`: use 1 to 64 letters, digits, '-', '_' or '.'"
            )));
        }
        if name == DEFAULT_POLICY && !matcher.is_everything() {
            return Err(PolicyError::Invalid(
                "the default policy matches every message; it takes no filters".into(),
            ));
        }
        if name != DEFAULT_POLICY && matcher.is_everything() {
            return Err(PolicyError::Invalid(format!("policy `{name}` matches every message: give a platform, conversation, participant or tag (or change `default`)")));
        }
        Ok(RetentionPolicy {
            name: name.to_owned(),
            matcher,
            keep,
            locked: false,
        })
    }

    /// The policy after a change of keep: a locked policy may only be extended.
    pub fn change(&self, keep: Keep) -> Result<RetentionPolicy, PolicyError> {
        if self.locked && keep < self.keep {
            return Err(PolicyError::Locked(format!(
                "policy `{}` is locked at {}: it can only be extended, never shortened",
                self.name, self.keep
            )));
        }
        Ok(RetentionPolicy {
            keep,
            ..self.clone()
        })
    }

    /// Whether the policy may be removed (never when locked, never the default).
    pub fn check_removal(&self) -> Result<(), PolicyError> {
        if self.locked {
            return Err(PolicyError::Locked(format!(
                "policy `{}` is locked: it cannot be removed",
                self.name
            )));
        }
        if self.name == DEFAULT_POLICY {
            return Err(PolicyError::Invalid(
                "the default policy cannot be removed (change its keep instead)".into(),
            ));
        }
        Ok(())
    }
}

/// Tags a message whose text contains any keyword (compared after normalisation, like
/// search).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagRule {
    pub tag: String,
    pub keywords: Vec<String>,
}

impl TagRule {
    pub fn new(tag: &str, keywords: Vec<String>) -> Result<TagRule, PolicyError> {
        if tag.trim().is_empty() || tag.len() > 64 {
            return Err(PolicyError::Invalid("tag: 1 to 64 characters".into()));
        }
        let keywords: Vec<String> = keywords
            .into_iter()
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .collect();
        if keywords.is_empty() {
            return Err(PolicyError::Invalid(format!(
                "tag rule `{tag}`: give at least one keyword"
            )));
        }
        Ok(TagRule {
            tag: tag.trim().to_owned(),
            keywords,
        })
    }

    pub fn applies(&self, normalized_text: &str) -> bool {
        self.keywords
            .iter()
            .any(|k| normalized_text.contains(normalize(k).as_str()))
    }
}

/// What a legal hold covers: a case's conversations and/or participants, optionally
/// bounded in time and by keywords.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldScope {
    #[serde(default)]
    pub conversations: Vec<String>,
    #[serde(default)]
    pub participants: Vec<Handle>,
    #[serde(default)]
    pub from_ms: Option<i64>,
    #[serde(default)]
    pub to_ms: Option<i64>,
    #[serde(default)]
    pub keywords: Vec<String>,
}

/// A release, once asked for and once approved by someone else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub requested_by: String,
    pub requested_ms: i64,
    pub reason: String,
    #[serde(default)]
    pub approved_by: Option<String>,
    #[serde(default)]
    pub approved_ms: Option<i64>,
}

/// A legal hold (诉讼保全): it keeps what its scope covers, whatever the policies say,
/// until its release is approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegalHold {
    pub id: String,
    pub case_number: String,
    pub reason: String,
    pub scope: HoldScope,
    pub created_by: String,
    pub created_ms: i64,
    #[serde(default)]
    pub release: Option<Release>,
}

impl LegalHold {
    pub fn new(
        id: &str,
        case_number: &str,
        reason: &str,
        scope: HoldScope,
        by: &str,
        now_ms: i64,
    ) -> Result<LegalHold, PolicyError> {
        if case_number.trim().is_empty() || reason.trim().is_empty() {
            return Err(PolicyError::Invalid(
                "a legal hold needs a case number and a reason".into(),
            ));
        }
        if scope.conversations.is_empty()
            && scope.participants.is_empty()
            && scope.keywords.is_empty()
        {
            return Err(PolicyError::Invalid(
                "a legal hold needs conversations, participants or keywords".into(),
            ));
        }
        if let (Some(f), Some(t)) = (scope.from_ms, scope.to_ms) {
            if f > t {
                return Err(PolicyError::Invalid(
                    "the hold's `from` is after its `to`".into(),
                ));
            }
        }
        Ok(LegalHold {
            id: id.to_owned(),
            case_number: case_number.trim().to_owned(),
            reason: reason.trim().to_owned(),
            scope,
            created_by: by.to_owned(),
            created_ms: now_ms,
            release: None,
        })
    }

    /// In force until a release is approved.
    pub fn active(&self) -> bool {
        self.release
            .as_ref()
            .is_none_or(|r| r.approved_by.is_none())
    }

    pub fn request_release(
        &mut self,
        by: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), PolicyError> {
        if !self.active() {
            return Err(PolicyError::State(format!(
                "hold {} is already released",
                self.id
            )));
        }
        if reason.trim().is_empty() {
            return Err(PolicyError::Invalid("a release needs a reason".into()));
        }
        self.release = Some(Release {
            requested_by: by.to_owned(),
            requested_ms: now_ms,
            reason: reason.trim().to_owned(),
            approved_by: None,
            approved_ms: None,
        });
        Ok(())
    }

    /// Approves the pending release: by someone other than who asked for it.
    pub fn approve_release(&mut self, by: &str, now_ms: i64) -> Result<(), PolicyError> {
        let Some(r) = self.release.as_mut() else {
            return Err(PolicyError::State(format!(
                "hold {} has no release to approve: request one first",
                self.id
            )));
        };
        if r.approved_by.is_some() {
            return Err(PolicyError::State(format!(
                "hold {} is already released",
                self.id
            )));
        }
        if r.requested_by == by {
            return Err(PolicyError::SelfApproval);
        }
        r.approved_by = Some(by.to_owned());
        r.approved_ms = Some(now_ms);
        Ok(())
    }

    /// Whether the hold covers a message (`text` normalised; `None` when purged).
    pub fn covers(&self, m: &MessageMeta<'_>, normalized_text: Option<&str>) -> bool {
        let s = &self.scope;
        let who = (s.conversations.is_empty() && s.participants.is_empty())
            || s.conversations.iter().any(|c| c == m.conversation)
            || m.participants.iter().any(|h| s.participants.contains(h));
        let when = s.from_ms.is_none_or(|f| m.sent_at_ms >= f)
            && s.to_ms.is_none_or(|t| m.sent_at_ms <= t);
        let what = s.keywords.is_empty()
            || normalized_text
                .is_some_and(|t| s.keywords.iter().any(|k| t.contains(normalize(k).as_str())));
        self.active() && who && when && what
    }
}

/// What retention looks at in a message.
pub struct MessageMeta<'a> {
    pub platform: &'a str,
    pub conversation: &'a str,
    /// The conversation's participants.
    pub participants: &'a [Handle],
    pub sent_at_ms: i64,
    /// Stored tags, hand-set tags and the tags of the rules that apply, together.
    pub tags: &'a [String],
}

/// What happens to one message, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// A legal hold keeps it, whatever the policies say.
    Held { holds: Vec<String>, policy: String },
    /// Kept by `policy` until `until_ms` (`None`: forever).
    Keep {
        policy: String,
        until_ms: Option<i64>,
    },
    /// `policy`'s keep ran out at `since_ms`: due for deletion.
    Expired { policy: String, since_ms: i64 },
}

/// The decision for one message: holds first, then the most protective matching policy
/// (the default always matches). `policies` must hold the default.
pub fn evaluate(
    m: &MessageMeta<'_>,
    normalized_text: Option<&str>,
    policies: &[RetentionPolicy],
    holds: &[LegalHold],
    now_ms: i64,
) -> Verdict {
    let winner = policies
        .iter()
        .filter(|p| p.name == DEFAULT_POLICY || p.matcher.matches(m))
        .max_by(|a, b| {
            a.keep
                .cmp(&b.keep)
                .then_with(|| (b.name == DEFAULT_POLICY).cmp(&(a.name == DEFAULT_POLICY)))
        });
    let (policy, keep) = match winner {
        Some(p) => (p.name.clone(), p.keep),
        // No default configured: keep (deny deletion by default).
        None => (DEFAULT_POLICY.to_owned(), Keep::Forever),
    };
    let holding: Vec<String> = holds
        .iter()
        .filter(|h| h.covers(m, normalized_text))
        .map(|h| h.id.clone())
        .collect();
    if !holding.is_empty() {
        return Verdict::Held {
            holds: holding,
            policy,
        };
    }
    match keep.until(m.sent_at_ms) {
        Some(until) if until <= now_ms => Verdict::Expired {
            policy,
            since_ms: until,
        },
        until_ms => Verdict::Keep { policy, until_ms },
    }
}

/// The tags that apply to a message: its own, then those of the rules its text matches.
pub fn tags_for(
    stored: &[String],
    manual: &[String],
    rules: &[TagRule],
    normalized_text: Option<&str>,
) -> Vec<String> {
    let mut out: Vec<String> = stored.iter().chain(manual).cloned().collect();
    if let Some(t) = normalized_text {
        out.extend(rules.iter().filter(|r| r.applies(t)).map(|r| r.tag.clone()));
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)] // tests stop at the first broken expectation; tables are tuples
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn policy(name: &str, m: Matcher, keep: Keep) -> RetentionPolicy {
        RetentionPolicy::new(name, m, keep).unwrap()
    }

    fn policies() -> Vec<RetentionPolicy> {
        vec![
            policy(DEFAULT_POLICY, Matcher::default(), Keep::Days(180)),
            policy(
                "complaints",
                Matcher {
                    tags: vec!["complaint".into()],
                    ..Default::default()
                },
                Keep::Days(365),
            ),
            policy(
                "transactions",
                Matcher {
                    tags: vec!["transaction".into()],
                    ..Default::default()
                },
                Keep::Days(730),
            ),
            policy(
                "wecom-short",
                Matcher {
                    platforms: vec!["wecom".into()],
                    ..Default::default()
                },
                Keep::Days(30),
            ),
            policy(
                "vip",
                Matcher {
                    participants: vec![Handle::new("wecom", "vip-1")],
                    ..Default::default()
                },
                Keep::Forever,
            ),
        ]
    }

    #[test]
    fn the_most_protective_matching_policy_wins() {
        let none: Vec<Handle> = vec![];
        let vip = vec![Handle::new("wecom", "vip-1")];
        let day = |d: i64| NOW - d * DAY_MS;
        let cases: &[(&str, &str, &[Handle], i64, &[&str], &str, bool)] = &[
            // name, platform, participants, sent, tags, winning policy, expired
            (
                "default keeps 180 days",
                "qq",
                &none,
                day(100),
                &[],
                "default",
                false,
            ),
            (
                "default expired",
                "qq",
                &none,
                day(181),
                &[],
                "default",
                true,
            ),
            (
                "a shorter rule never shortens the default",
                "wecom",
                &none,
                day(100),
                &[],
                "default",
                false,
            ),
            (
                "complaint a year",
                "qq",
                &none,
                day(300),
                &["complaint"],
                "complaints",
                false,
            ),
            (
                "complaint past a year",
                "qq",
                &none,
                day(366),
                &["complaint"],
                "complaints",
                true,
            ),
            (
                "transaction beats complaint",
                "qq",
                &none,
                day(500),
                &["complaint", "transaction"],
                "transactions",
                false,
            ),
            (
                "forever beats every day count",
                "wecom",
                &vip,
                day(5000),
                &["transaction"],
                "vip",
                false,
            ),
        ];
        for (name, platform, parts, sent, tags, want, expired) in cases {
            let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
            let m = MessageMeta {
                platform,
                conversation: "qq:c1",
                participants: parts,
                sent_at_ms: *sent,
                tags: &tags,
            };
            let v = evaluate(&m, None, &policies(), &[], NOW);
            match (&v, expired) {
                (Verdict::Expired { policy, .. }, true) | (Verdict::Keep { policy, .. }, false) => {
                    assert_eq!(policy, want, "{name}: {v:?}")
                }
                _ => panic!("{name}: {v:?}"),
            }
        }
    }

    #[test]
    fn a_hold_beats_every_policy_until_its_release_is_approved() {
        let none: Vec<Handle> = vec![];
        let m = MessageMeta {
            platform: "qq",
            conversation: "qq:c1",
            participants: &none,
            sent_at_ms: NOW - 1000 * DAY_MS,
            tags: &[],
        };
        let scope = HoldScope {
            conversations: vec!["qq:c1".into()],
            ..Default::default()
        };
        let mut hold =
            LegalHold::new("hold-1", "（2026）京01民初1号", "诉讼", scope, "lisa", NOW).unwrap();
        assert!(matches!(
            evaluate(&m, None, &policies(), std::slice::from_ref(&hold), NOW),
            Verdict::Held { .. }
        ));
        hold.request_release("lisa", "结案", NOW).unwrap();
        assert!(
            matches!(
                evaluate(&m, None, &policies(), std::slice::from_ref(&hold), NOW),
                Verdict::Held { .. }
            ),
            "a requested release is not yet a release"
        );
        assert_eq!(
            hold.approve_release("lisa", NOW).unwrap_err().code(),
            "policy.self_approval",
            "two people"
        );
        hold.approve_release("boss", NOW).unwrap();
        assert!(
            matches!(
                evaluate(&m, None, &policies(), &[hold], NOW),
                Verdict::Expired { .. }
            ),
            "released: the policy applies again"
        );
    }

    #[test]
    fn hold_scopes() {
        let parts = vec![Handle::new("qq", "cust-1")];
        let base = |f: &dyn Fn(&mut HoldScope)| {
            let mut s = HoldScope::default();
            f(&mut s);
            s
        };
        let cases: Vec<(&str, HoldScope, Option<&str>, bool)> = vec![
            (
                "by conversation",
                base(&|s| s.conversations = vec!["qq:c1".into()]),
                None,
                true,
            ),
            (
                "other conversation",
                base(&|s| s.conversations = vec!["qq:c2".into()]),
                None,
                false,
            ),
            (
                "by participant",
                base(&|s| s.participants = vec![Handle::new("qq", "cust-1")]),
                None,
                true,
            ),
            (
                "inside the time range",
                base(&|s| {
                    s.conversations = vec!["qq:c1".into()];
                    s.from_ms = Some(NOW - 10);
                    s.to_ms = Some(NOW + 10)
                }),
                None,
                true,
            ),
            (
                "before the time range",
                base(&|s| {
                    s.conversations = vec!["qq:c1".into()];
                    s.from_ms = Some(NOW + 1)
                }),
                None,
                false,
            ),
            (
                "keyword present",
                base(&|s| {
                    s.conversations = vec!["qq:c1".into()];
                    s.keywords = vec!["违约".into()]
                }),
                Some("对方违约了"),
                true,
            ),
            (
                "keyword absent",
                base(&|s| {
                    s.conversations = vec!["qq:c1".into()];
                    s.keywords = vec!["违约".into()]
                }),
                Some("你好"),
                false,
            ),
            (
                "keyword, content purged",
                base(&|s| {
                    s.conversations = vec!["qq:c1".into()];
                    s.keywords = vec!["违约".into()]
                }),
                None,
                false,
            ),
            (
                "keywords alone, anywhere",
                base(&|s| s.keywords = vec!["赔偿".into()]),
                Some("要求赔偿"),
                true,
            ),
        ];
        for (name, scope, text, want) in cases {
            let h = LegalHold {
                id: "h".into(),
                case_number: "c".into(),
                reason: "r".into(),
                scope,
                created_by: "x".into(),
                created_ms: 0,
                release: None,
            };
            let m = MessageMeta {
                platform: "qq",
                conversation: "qq:c1",
                participants: &parts,
                sent_at_ms: NOW,
                tags: &[],
            };
            assert_eq!(h.covers(&m, text), want, "{name}");
        }
    }

    #[test]
    fn a_locked_policy_can_only_be_extended() {
        let mut p = policy(
            "complaints",
            Matcher {
                tags: vec!["complaint".into()],
                ..Default::default()
            },
            Keep::Days(365),
        );
        p.locked = true;
        let cases = [
            ("shorten", Keep::Days(30), false),
            ("same", Keep::Days(365), true),
            ("extend", Keep::Days(400), true),
            ("forever", Keep::Forever, true),
        ];
        for (name, keep, ok) in cases {
            assert_eq!(p.change(keep).is_ok(), ok, "{name}");
        }
        assert_eq!(
            p.change(Keep::Days(1)).unwrap_err().code(),
            "retention.locked"
        );
        assert_eq!(p.check_removal().unwrap_err().code(), "retention.locked");
        let forever = RetentionPolicy {
            keep: Keep::Forever,
            ..p.clone()
        };
        assert!(
            forever.change(Keep::Days(73000)).is_err(),
            "forever cannot become a number of days"
        );
        p.locked = false;
        assert!(
            p.change(Keep::Days(1)).is_ok() && p.check_removal().is_ok(),
            "unlocked: anything"
        );
    }

    #[test]
    fn policy_and_keep_validation() {
        let cases: &[(&str, bool)] = &[
            ("365", true),
            ("365d", true),
            ("forever", true),
            ("FOREVER", true),
            ("0", false),
            ("-1", false),
            ("1y", false),
            ("", false),
            ("99999999", false),
        ];
        for (s, ok) in cases {
            assert_eq!(Keep::parse(s).is_ok(), *ok, "{s}");
        }
        assert!(RetentionPolicy::new(
            "default",
            Matcher {
                platforms: vec!["qq".into()],
                ..Default::default()
            },
            Keep::Days(1)
        )
        .is_err());
        assert!(
            RetentionPolicy::new("all", Matcher::default(), Keep::Days(1)).is_err(),
            "only the default matches everything"
        );
        assert!(RetentionPolicy::new(
            "bad name!",
            Matcher {
                platforms: vec!["qq".into()],
                ..Default::default()
            },
            Keep::Days(1)
        )
        .is_err());
        assert!(
            LegalHold::new(
                "h",
                "",
                "r",
                HoldScope {
                    keywords: vec!["x".into()],
                    ..Default::default()
                },
                "a",
                0
            )
            .is_err(),
            "case number required"
        );
        assert!(
            LegalHold::new("h", "c", "r", HoldScope::default(), "a", 0).is_err(),
            "a scope is required"
        );
        let k: Keep = serde_json::from_str("\"forever\"").unwrap();
        assert_eq!(k, Keep::Forever);
        assert_eq!(serde_json::to_string(&Keep::Days(30)).unwrap(), "30");
    }

    #[test]
    fn tag_rules_tag_by_keyword_after_normalisation() {
        let rules = vec![
            TagRule::new("complaint", vec!["投诉".into(), "差评".into()]).unwrap(),
            TagRule::new("transaction", vec!["ORDER".into()]).unwrap(),
        ];
        let t = |s: &str| normalize(s);
        assert_eq!(
            tags_for(&[], &[], &rules, Some(&t("我要投诉"))),
            vec!["complaint"]
        );
        assert_eq!(
            tags_for(&[], &[], &rules, Some(&t("order 123"))),
            vec!["transaction"],
            "case-insensitive like search"
        );
        assert_eq!(
            tags_for(
                &["vip".into()],
                &["complaint".into()],
                &rules,
                Some(&t("给你差评"))
            ),
            vec!["complaint", "vip"],
            "deduplicated"
        );
        assert!(tags_for(&[], &[], &rules, None).is_empty());
        assert!(TagRule::new("x", vec![" ".into()]).is_err());
    }
}
