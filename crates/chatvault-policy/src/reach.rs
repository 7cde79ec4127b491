//! The one reach rule. What a subject's role and grants reach is described once, as
//! [`Part`]s: [`crate::decide`] checks each message against them, and the front ends turn
//! the same parts into the bounds of an index query ([`Part::bounds`]) and into the
//! refusal of a search wholly outside the caller's reach ([`Part::might_reach`]). A part
//! says who (conversations, or the handles taking part) and when; keywords, rights and
//! the storage-only state stay with `decide`, so the bounds are a superset of what it shows.

use crate::{Directory, Grant, Handle, MessageFacts, Org, Reach, Right, RoleRules, Subject};

const DAY_MS: i64 = 86_400_000;

/// Whose conversations a part reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// Every conversation.
    Everyone,
    /// These conversations, and every conversation one of these handles takes part in.
    Listed {
        conversations: Vec<String>,
        handles: Vec<Handle>,
    },
    /// Every conversation one of `handles` or a handle of a member of `team` takes part in.
    Team { team: String, handles: Vec<Handle> },
}

/// One way a subject reaches messages: its role's default reach, or one grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub who: Who,
    /// Inclusive bounds on `sent_at`, in ms since the epoch.
    pub from_ms: i64,
    pub to_ms: i64,
}

/// What an index query is bounded by: conversations (`None`: all), a time span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounds {
    /// Conversations named outright.
    pub conversations: Vec<String>,
    /// Handles whose conversations are reached.
    pub handles: Vec<Handle>,
    /// Every conversation is reached: `conversations` and `handles` do not bound.
    pub everyone: bool,
}

/// [`Who`], borrowed: what `decide` checks each message against without copying.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WhoRef<'a> {
    Everyone,
    Listed(&'a [String], &'a [Handle]),
    Team(&'a str, &'a [Handle]),
}

impl WhoRef<'_> {
    pub(crate) fn takes_part(
        self,
        conversation: &str,
        participants: &[Handle],
        dir: &Directory,
    ) -> bool {
        match self {
            WhoRef::Everyone => true,
            WhoRef::Listed(conversations, handles) => {
                conversations.iter().any(|c| c == conversation)
                    || participants.iter().any(|p| handles.contains(p))
            }
            WhoRef::Team(team, handles) => participants
                .iter()
                .any(|p| handles.contains(p) || dir.team_of_handle(p) == Some(team)),
        }
    }

    fn to_owned(self) -> Who {
        match self {
            WhoRef::Everyone => Who::Everyone,
            WhoRef::Listed(c, h) => Who::Listed {
                conversations: c.to_vec(),
                handles: h.to_vec(),
            },
            WhoRef::Team(t, h) => Who::Team {
                team: t.to_owned(),
                handles: h.to_vec(),
            },
        }
    }
}

impl Who {
    fn as_ref(&self) -> WhoRef<'_> {
        match self {
            Who::Everyone => WhoRef::Everyone,
            Who::Listed {
                conversations,
                handles,
            } => WhoRef::Listed(conversations, handles),
            Who::Team { team, handles } => WhoRef::Team(team, handles),
        }
    }

    fn takes_part(&self, conversation: &str, participants: &[Handle], dir: &Directory) -> bool {
        self.as_ref().takes_part(conversation, participants, dir)
    }
}

impl Part {
    /// Whether the part reaches a message: its conversation and its time.
    pub fn reaches(&self, m: &MessageFacts<'_>, dir: &Directory) -> bool {
        (self.from_ms..=self.to_ms).contains(&m.sent_at_ms)
            && self.who.takes_part(m.conversation, m.participants, dir)
    }

    /// Whether the part could reach anything in `[lo, hi]` in a conversation with these
    /// members (`None`: in any conversation).
    pub fn might_reach(
        &self,
        conversation: Option<(&str, &[Handle])>,
        lo: i64,
        hi: i64,
        dir: &Directory,
    ) -> bool {
        self.from_ms <= hi
            && self.to_ms >= lo
            && conversation.is_none_or(|(c, members)| self.who.takes_part(c, members, dir))
    }

    /// The part as index bounds: the handles of a team are its members' handles now.
    pub fn bounds(&self, dir: &Directory) -> Bounds {
        match &self.who {
            Who::Everyone => Bounds {
                conversations: vec![],
                handles: vec![],
                everyone: true,
            },
            Who::Listed {
                conversations,
                handles,
            } => Bounds {
                conversations: conversations.clone(),
                handles: handles.clone(),
                everyone: false,
            },
            Who::Team { team, handles } => {
                let mut all = handles.clone();
                all.extend(dir.handles_of_team(team));
                all.sort();
                all.dedup();
                Bounds {
                    conversations: vec![],
                    handles: all,
                    everyone: false,
                }
            }
        }
    }
}

/// Whom the role reaches by default, whatever right is asked (`decide` also needs it to
/// know whether personal data may be shown): none for `Reach::Nothing`, or for a team
/// lead without a team.
pub(crate) fn role_who<'a>(subject: &'a Subject, rules: &RoleRules) -> Option<WhoRef<'a>> {
    Some(match rules.reach {
        Reach::Nothing => return None,
        Reach::All => WhoRef::Everyone,
        Reach::Own => WhoRef::Listed(&[], &subject.handles),
        Reach::Team => WhoRef::Team(subject.team.as_deref()?, &subject.handles),
    })
}

/// The oldest `sent_at` the role's window reaches now.
pub(crate) fn role_from_ms(rules: &RoleRules, now_ms: i64) -> i64 {
    rules.window_days.map_or(i64::MIN, |d| {
        now_ms.saturating_sub(i64::from(d).saturating_mul(DAY_MS))
    })
}

/// Whether the role reaches a message by default: its conversation and its time.
pub(crate) fn role_reaches(
    subject: &Subject,
    rules: &RoleRules,
    m: &MessageFacts<'_>,
    now_ms: i64,
    dir: &Directory,
) -> bool {
    m.sent_at_ms >= role_from_ms(rules, now_ms)
        && role_who(subject, rules)
            .is_some_and(|w| w.takes_part(m.conversation, m.participants, dir))
}

fn role_part(subject: &Subject, rules: &RoleRules, now_ms: i64) -> Option<Part> {
    Some(Part {
        who: role_who(subject, rules)?.to_owned(),
        from_ms: role_from_ms(rules, now_ms),
        to_ms: i64::MAX,
    })
}

/// A grant's scope as a part (its keywords stay with `decide`).
pub(crate) fn grant_part(g: &Grant) -> Part {
    Part {
        who: Who::Listed {
            conversations: g.scope.conversations.clone(),
            handles: g.scope.participants.clone(),
        },
        from_ms: g.scope.from_ms,
        to_ms: g.scope.to_ms,
    }
}

/// Everything through which `subject` may exercise `right` now: the role's reach when the
/// role gives the right, and each active grant the subject holds that gives it. Empty for
/// a frozen account. `decide` allows no message outside these parts (property-tested).
pub fn reach(
    subject: &Subject,
    right: Right,
    now_ms: i64,
    grants: &[Grant],
    org: &Org,
) -> Vec<Part> {
    if subject.frozen {
        return vec![];
    }
    let rules = org.policy.rules(subject.role);
    let role = role_part(subject, &rules, now_ms).filter(|_| rules.rights.contains(&right));
    role.into_iter()
        .chain(
            grants
                .iter()
                .filter(|g| {
                    g.holder == subject.user && g.is_active(now_ms) && g.rights.contains(&right)
                })
                .map(grant_part),
        )
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{decide, Revocation, Role, RolePolicy, Scope};
    use proptest::prelude::*;

    const NOW: i64 = 1_780_000_000_000;
    const CONVS: [&str; 4] = ["wecom:c1", "wecom:c2", "qq:c3", "wecom:c4"];

    fn handle(i: usize) -> Handle {
        Handle::new(if i % 2 == 0 { "wecom" } else { "qq" }, &format!("h{i}"))
    }

    fn handles(mask: u8) -> Vec<Handle> {
        (0..6)
            .filter(|i| mask & (1 << i) != 0)
            .map(handle)
            .collect()
    }

    fn org() -> Org {
        // h0, h1: team t1's agents; h2: team t2's; h3-h5: customers.
        let mut directory = Directory::default();
        directory.add_user("a1", Some("t1"), &[handle(0), handle(1)]);
        directory.add_user("a2", Some("t2"), &[handle(2)]);
        Org {
            policy: RolePolicy::default(),
            directory,
        }
    }

    fn rights(mask: u8) -> Vec<Right> {
        [
            Right::View,
            Right::Export,
            Right::PiiView,
            Right::RestrictedView,
        ]
        .into_iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, r)| r)
        .collect()
    }

    prop_compose! {
        fn grant()(mine in any::<bool>(), convs in 0u8..16, parts in 0u8..64, from in -60i64..10, len in 0i64..90,
                   rights_mask in 0u8..16, created in -10i64..2, expires in -2i64..30, revoked in any::<bool>(),
                   keyword in any::<bool>(), id in 0u32..1000) -> Grant {
            Grant {
                id: format!("g{id}"),
                request: "r".into(),
                holder: if mine { "me".into() } else { "someone".into() },
                scope: Scope {
                    conversations: CONVS.iter().enumerate().filter(|(i, _)| convs & (1 << i) != 0).map(|(_, c)| c.to_string()).collect(),
                    participants: handles(parts),
                    from_ms: NOW + from * DAY_MS,
                    to_ms: NOW + (from + len) * DAY_MS,
                    keywords: if keyword { vec!["退款".into()] } else { vec![] },
                },
                rights: rights(rights_mask),
                approved_by: "boss".into(),
                created_ms: NOW + created * DAY_MS,
                expires_ms: NOW + expires * DAY_MS,
                revoked: revoked.then(|| Revocation { by: "boss".into(), at_ms: NOW }),
            }
        }
    }

    proptest! {
        /// For every role, team, handle set and grant set: every message `decide` allows
        /// is inside a part of `reach`, inside that part's index bounds, and counted by
        /// `might_reach`: the narrowing of a search never hides what `decide` would show.
        #[test]
        fn the_narrowed_set_contains_everything_decide_shows(
            role in 0usize..6, team in 0usize..3, own in 0u8..64, frozen in any::<bool>(),
            grants in proptest::collection::vec(grant(), 0..4),
            conv in 0usize..4, parts in 1u8..64, age in -40i64..1, restricted in any::<bool>(),
            refund in any::<bool>(), right in 0usize..4,
        ) {
            let org = org();
            let subject = Subject {
                user: "me".into(),
                role: Role::ALL[role],
                team: [None, Some("t1".to_owned()), Some("t2".to_owned())][team].clone(),
                handles: handles(own),
                frozen: frozen && role == 0,
            };
            let participants = handles(parts);
            let m = MessageFacts {
                conversation: CONVS[conv],
                participants: &participants,
                sent_at_ms: NOW + age * DAY_MS + 1,
                text: Some(if refund { "我要退款" } else { "你好" }),
                restricted,
            };
            let right = [Right::View, Right::Export, Right::PiiView, Right::RestrictedView][right];
            if decide(&subject, right, &m, NOW, &grants, &org).allowed() {
                let found = reach(&subject, right, NOW, &grants, &org).into_iter().any(|p| {
                    let b = p.bounds(&org.directory);
                    let bounded = (b.everyone
                        || b.conversations.iter().any(|c| c == m.conversation)
                        || m.participants.iter().any(|h| b.handles.contains(h)))
                        && (p.from_ms..=p.to_ms).contains(&m.sent_at_ms);
                    p.reaches(&m, &org.directory)
                        && bounded
                        && p.might_reach(Some((m.conversation, m.participants)), m.sent_at_ms, m.sent_at_ms, &org.directory)
                        && p.might_reach(None, m.sent_at_ms, m.sent_at_ms, &org.directory)
                });
                prop_assert!(found, "decide allows {m:?} for {subject:?} with {right:?}, outside every part");
            }
        }
    }

    proptest! {
        /// The converse, where search relies on it: for a subject whose one way in is
        /// the role (one part, no grant giving the right, no restriction), `decide`
        /// allows every message inside that part's index bounds, so the index may page
        /// and count for them (`chatvault_app::read::Reader::narrow`).
        #[test]
        fn a_role_alone_shows_exactly_its_bounds(
            role in 0usize..6, team in 0usize..3, own in 0u8..64,
            grants in proptest::collection::vec(grant(), 0..4),
            conv in 0usize..4, parts in 1u8..64, age in -40i64..1, refund in any::<bool>(),
        ) {
            let org = org();
            let subject = Subject {
                user: "me".into(),
                role: Role::ALL[role],
                team: [None, Some("t1".to_owned()), Some("t2".to_owned())][team].clone(),
                handles: handles(own),
                frozen: false,
            };
            let reached = reach(&subject, Right::View, NOW, &grants, &org);
            let grant_gives_view = grants.iter().any(|g| {
                g.holder == subject.user && g.is_active(NOW) && g.rights.contains(&Right::View)
            });
            prop_assume!(reached.len() == 1 && !grant_gives_view);
            let participants = handles(parts);
            let m = MessageFacts {
                conversation: CONVS[conv],
                participants: &participants,
                sent_at_ms: NOW + age * DAY_MS + 1,
                text: Some(if refund { "我要退款" } else { "你好" }),
                restricted: false,
            };
            let p = &reached[0];
            let b = p.bounds(&org.directory);
            let bounded = (b.everyone
                || b.conversations.iter().any(|c| c == m.conversation)
                || m.participants.iter().any(|h| b.handles.contains(h)))
                && (p.from_ms..=p.to_ms).contains(&m.sent_at_ms);
            let shown = decide(&subject, Right::View, &m, NOW, &grants, &org).allowed();
            prop_assert_eq!(shown, bounded, "{:?} for {:?}", m, subject);
        }
    }

    #[test]
    fn a_team_lead_without_a_team_reaches_nothing_by_role() {
        let org = org();
        let lead = Subject {
            user: "me".into(),
            role: Role::TeamLead,
            team: None,
            handles: vec![handle(0)],
            frozen: false,
        };
        assert_eq!(reach(&lead, Right::View, NOW, &[], &org), vec![]);
        let m = MessageFacts {
            conversation: "wecom:c1",
            participants: &[handle(0)],
            sent_at_ms: NOW,
            text: None,
            restricted: false,
        };
        assert!(!decide(&lead, Right::View, &m, NOW, &[], &org).allowed());
    }
}
