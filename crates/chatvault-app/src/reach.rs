//! What one user may read, and how a read is recorded: the inputs of
//! [`chatvault_policy::decide`] for a user, the per-message rule built from them, and
//! the audit entries of a content read. The server's guards and the CLI's commands both
//! read through these, so a read decides and audits the same way from either.

use std::collections::BTreeSet;

use chatvault_access::{Access, AccessError, Action, Event};
use chatvault_archive::Visibility;
use chatvault_model::StoredMessage;
use chatvault_policy::{decide, Decision, Grant, Handle, MessageFacts, Org, Right, Subject, Via};
use serde_json::Value;

/// One message's visibility for `subject` exercising `right`: decided by
/// [`chatvault_policy::decide`] (storage-only data included), recorded in `usage`.
#[allow(clippy::too_many_arguments)] // each is one input of the decision, named at the call
pub fn visibility(
    subject: &Subject,
    grants: &[Grant],
    org: &Org,
    restrictions: &[chatvault_policy::retention::Restriction],
    now_ms: i64,
    right: Right,
    usage: &mut Usage,
    m: &StoredMessage,
    members: &[Handle],
) -> Visibility {
    let restricted = restrictions
        .iter()
        .any(|r| r.covers(&m.conversation, members));
    let facts = MessageFacts {
        conversation: &m.conversation,
        participants: members,
        sent_at_ms: m.sent_at_ts.utc_ms,
        text: m.text.as_deref(),
        restricted,
    };
    match decide(subject, right, &facts, now_ms, grants, org) {
        Decision::Allow { via, pii } => {
            match via {
                Via::Role(_) => usage.by_role = true,
                Via::Grant(g) => {
                    usage.grants.insert(g);
                }
            }
            if pii {
                Visibility::Full
            } else {
                usage.masked += 1;
                Visibility::Masked
            }
        }
        Decision::Deny(_) => Visibility::Hidden,
    }
}

/// What a content read used, for its audit entry.
#[derive(Debug, Default)]
pub struct Usage {
    pub grants: BTreeSet<String>,
    pub by_role: bool,
    pub masked: u64,
}

/// A user's decision inputs, loaded from the access database (the CLI's reads as a
/// named user; the server loads the same per request in its guard).
pub struct UserReach {
    pub subject: Subject,
    pub now: i64,
    /// The user's active grants.
    pub grants: Vec<Grant>,
    pub org: Org,
    pub restrictions: Vec<chatvault_policy::retention::Restriction>,
}

impl UserReach {
    pub fn load(
        acc: &mut Access,
        policy: &chatvault_policy::RolePolicy,
        user: &str,
    ) -> Result<UserReach, AccessError> {
        let Some(u) = acc.user(user)? else {
            return Err(AccessError::NoUser(user.to_owned()));
        };
        UserReach::of(acc, policy, u.subject())
    }

    /// The decision inputs of `subject`, a user already looked up (a signed-in caller).
    pub fn of(
        acc: &mut Access,
        policy: &chatvault_policy::RolePolicy,
        subject: Subject,
    ) -> Result<UserReach, AccessError> {
        let now = acc.now_ms();
        Ok(UserReach {
            grants: acc
                .grants(Some(&subject.user))?
                .into_iter()
                .filter(|g| g.is_active(now))
                .collect(),
            org: acc.org(policy)?,
            restrictions: acc.restrictions()?,
            subject,
            now,
        })
    }

    /// One message's visibility under `right`.
    pub fn decide(
        &self,
        right: Right,
        usage: &mut Usage,
        m: &StoredMessage,
        members: &[Handle],
    ) -> Visibility {
        visibility(
            &self.subject,
            &self.grants,
            &self.org,
            &self.restrictions,
            self.now,
            right,
            usage,
            m,
            members,
        )
    }
}

/// The audit entries of one content read: the read itself (its details completed with
/// how it was allowed: by role, by which grants, how many messages masked), then one
/// `grant.use` per grant it used. `event` makes an entry for the front end's caller
/// (its name, address and session, or the console user).
pub fn read_events(
    event: &dyn Fn(Action) -> Event,
    action: Action,
    target: Option<&str>,
    mut details: Value,
    usage: &Usage,
) -> Vec<Event> {
    if let Some(o) = details.as_object_mut() {
        o.insert("via_role".into(), usage.by_role.into());
        o.insert(
            "grants".into(),
            usage.grants.iter().cloned().collect::<Vec<_>>().into(),
        );
        o.insert("masked".into(), usage.masked.into());
    }
    let mut read = event(action).details(details);
    if let Some(t) = target {
        read = read.target(t);
    }
    let mut out = vec![read];
    for g in &usage.grants {
        out.push(
            event(Action::GrantUse)
                .target(g)
                .details(serde_json::json!({"for": action.name(), "on": target})),
        );
    }
    out
}
