//! Retention policies, tag rules, hand-set tags and legal holds, stored as
//! `chatvault-policy` values in one table. The policy crate validates (a locked policy
//! only extends; a hold's release needs a second person); this module keeps the records
//! and audits every change, and every refused change, in the same transaction.

use chatvault_policy::retention::{
    DeletionKind, DeletionRequest, HoldScope, Keep, LegalHold, Lift, Matcher, Restriction,
    RetentionPolicy, TagRule, DEFAULT_POLICY,
};
use chatvault_policy::Role;
use chatvault_store::access::Shelf;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::audit::{Action, Event, Outcome};
use crate::{Access, AccessError, Result, Tx};

const POLICY: &str = "policy";
const TAG_RULE: &str = "tag_rule";
const TAG: &str = "tag";
const HOLD: &str = "hold";
const DELETION: &str = "deletion";
const RESTRICTION: &str = "restriction";
const IDENTITY: &str = "identity";

/// Roles that may ask for a manual deletion or recovery.
const DELETION_REQUESTERS: [Role; 3] = [Role::Legal, Role::Executive, Role::Admin];
/// Roles that may approve one (never the person who asked).
const DELETION_APPROVERS: [Role; 2] = [Role::Executive, Role::Admin];

/// A tag set by hand on one message (`target` is its id) or a whole conversation
/// (`platform:id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ManualTag {
    pub target: String,
    pub tag: String,
    pub by: String,
}

/// Everything retention needs, read in one go.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    pub policies: Vec<RetentionPolicy>,
    pub tag_rules: Vec<TagRule>,
    pub tags: Vec<ManualTag>,
    pub holds: Vec<LegalHold>,
    pub restrictions: Vec<Restriction>,
}

impl Lifecycle {
    /// The hand-set tags of a message: on it, or on its conversation.
    pub fn manual_tags(&self, message_id: &str, conversation: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .tags
            .iter()
            .filter(|t| t.target == message_id || t.target == conversation)
            .map(|t| t.tag.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Roles that may place legal holds and decide their release.
const HOLD_ROLES: [Role; 3] = [Role::Legal, Role::Executive, Role::Admin];

impl Tx<'_> {
    fn get<T: DeserializeOwned>(&self, kind: &str, key: &str) -> Result<Option<T>> {
        self.ops
            .document(Shelf::Lifecycle(kind), key)?
            .map(|b| Access::parse_doc(self.path, &format!("{kind} {key}"), &b))
            .transpose()
    }

    fn put<T: Serialize>(&self, kind: &str, key: &str, v: &T) -> Result<()> {
        let body = serde_json::to_string(v)
            .map_err(|e| AccessError::Corrupt(self.path.to_owned(), e.to_string()))?;
        Ok(self
            .ops
            .put_document(Shelf::Lifecycle(kind), key, "", &body)?)
    }

    fn delete(&self, kind: &str, key: &str) -> Result<bool> {
        Ok(self.ops.delete_document(Shelf::Lifecycle(kind), key)?)
    }

    /// A refusal, audited as denied, then returned.
    fn refuse<T>(
        &self,
        actor: &str,
        action: Action,
        target: &str,
        e: AccessError,
    ) -> Result<std::result::Result<T, AccessError>> {
        self.append(
            &Event::new(actor, action)
                .target(target)
                .result(Outcome::Denied)
                .details(serde_json::json!({"reason": e.code(), "why": e.to_string()})),
        )?;
        Ok(Err(e))
    }

    fn require_hold_role(&self, actor: &str) -> Result<std::result::Result<(), AccessError>> {
        self.require_role(
            actor,
            &HOLD_ROLES,
            "legal holds are placed and released by legal, executive or admin",
        )
    }

    fn require_role(
        &self,
        actor: &str,
        roles: &[Role],
        why: &str,
    ) -> Result<std::result::Result<(), AccessError>> {
        match self.user(actor)? {
            Some(u) if u.frozen || u.locked => Ok(Err(AccessError::Frozen(actor.to_owned()))),
            Some(u) if roles.contains(&u.role) => Ok(Ok(())),
            Some(u) => Ok(Err(AccessError::invalid(
                "role",
                format!("{actor} is {}: {why}", u.role.as_str()),
            ))),
            None => Ok(Err(AccessError::NoUser(actor.to_owned()))),
        }
    }
}

fn all<T: DeserializeOwned>(acc: &Access, kind: &str) -> Result<Vec<T>> {
    acc.ops()
        .documents(Shelf::Lifecycle(kind), None)?
        .iter()
        .map(|(key, body)| Access::parse_doc(&acc.path, &format!("{kind} {key}"), body))
        .collect()
}

fn keep_json(k: Keep) -> serde_json::Value {
    serde_json::to_value(k).unwrap_or_default()
}

impl Access {
    /// Policies (the default first), tag rules, hand-set tags and holds.
    pub fn lifecycle(&self) -> Result<Lifecycle> {
        let mut policies: Vec<RetentionPolicy> = all(self, POLICY)?;
        policies.sort_by_key(|p| (p.name != DEFAULT_POLICY, p.name.clone()));
        Ok(Lifecycle {
            policies,
            tag_rules: all(self, TAG_RULE)?,
            tags: all(self, TAG)?,
            holds: all(self, HOLD)?,
            restrictions: all(self, RESTRICTION)?,
        })
    }

    /// The restrictions in force (storage-only data), for every content read.
    pub fn restrictions(&self) -> Result<Vec<Restriction>> {
        Ok(all::<Restriction>(self, RESTRICTION)?
            .into_iter()
            .filter(Restriction::active)
            .collect())
    }

    /// Creates a policy, or changes an existing one's matcher and keep. A locked policy
    /// keeps its matcher and only extends; a refusal is audited.
    pub fn set_policy(
        &mut self,
        actor: &str,
        name: &str,
        matcher: Matcher,
        keep: Keep,
    ) -> Result<RetentionPolicy> {
        self.in_tx(|t| {
            let new = match RetentionPolicy::new(name, matcher, keep) {
                Ok(p) => p,
                Err(e) => return t.refuse(actor, Action::RetentionPolicySet, name, e.into()),
            };
            let old: Option<RetentionPolicy> = t.get(POLICY, name)?;
            let next = match &old {
                Some(o) if o.locked && o.matcher != new.matcher => {
                    let e = chatvault_policy::PolicyError::Locked(format!("policy `{name}` is locked: its filters cannot change"));
                    return t.refuse(actor, Action::RetentionPolicySet, name, e.into());
                }
                Some(o) => match o.change(keep) {
                    Ok(p) => p,
                    Err(e) => return t.refuse(actor, Action::RetentionPolicySet, name, e.into()),
                },
                None => new,
            };
            t.put(POLICY, name, &next)?;
            t.append(&Event::new(actor, Action::RetentionPolicySet).target(name).details(serde_json::json!({
                "keep": [old.as_ref().map(|o| keep_json(o.keep)), keep_json(next.keep)], "matcher": next.matcher, "locked": next.locked,
            })))?;
            Ok(Ok(next))
        })?
    }

    /// Locks a policy: from now on it may only be extended, and never removed.
    pub fn lock_policy(&mut self, actor: &str, name: &str) -> Result<RetentionPolicy> {
        self.in_tx(|t| {
            let Some(mut p) = t.get::<RetentionPolicy>(POLICY, name)? else {
                return Err(AccessError::NotFound(format!("retention policy {name}")));
            };
            p.locked = true;
            t.put(POLICY, name, &p)?;
            t.append(
                &Event::new(actor, Action::RetentionPolicyLock)
                    .target(name)
                    .details(serde_json::json!({"keep": keep_json(p.keep)})),
            )?;
            Ok(p)
        })
    }

    pub fn remove_policy(&mut self, actor: &str, name: &str) -> Result<()> {
        self.in_tx(|t| {
            let Some(p) = t.get::<RetentionPolicy>(POLICY, name)? else {
                return Err(AccessError::NotFound(format!("retention policy {name}")));
            };
            if let Err(e) = p.check_removal() {
                return t.refuse(actor, Action::RetentionPolicyRemove, name, e.into());
            }
            t.delete(POLICY, name)?;
            t.append(
                &Event::new(actor, Action::RetentionPolicyRemove)
                    .target(name)
                    .details(serde_json::json!({"keep": keep_json(p.keep)})),
            )?;
            Ok(Ok(()))
        })?
    }

    pub fn set_tag_rule(
        &mut self,
        actor: &str,
        tag: &str,
        keywords: Vec<String>,
    ) -> Result<TagRule> {
        self.in_tx(|t| {
            let rule = TagRule::new(tag, keywords)?;
            t.put(TAG_RULE, &rule.tag, &rule)?;
            t.append(
                &Event::new(actor, Action::TagRuleSet)
                    .target(&rule.tag)
                    .details(serde_json::json!({"keywords": rule.keywords.len()})),
            )?;
            Ok(rule)
        })
    }

    pub fn remove_tag_rule(&mut self, actor: &str, tag: &str) -> Result<()> {
        self.in_tx(|t| {
            if !t.delete(TAG_RULE, tag)? {
                return Err(AccessError::NotFound(format!("tag rule {tag}")));
            }
            t.append(
                &Event::new(actor, Action::TagRuleSet)
                    .target(tag)
                    .details(serde_json::json!({"removed": true})),
            )?;
            Ok(())
        })
    }

    /// Tags a message (by id) or a conversation (`platform:id`) by hand.
    pub fn tag(&mut self, actor: &str, target: &str, tag: &str) -> Result<ManualTag> {
        if target.trim().is_empty() || tag.trim().is_empty() || tag.len() > 64 {
            return Err(AccessError::invalid(
                "tag",
                "give a message id or platform:conversation and a tag of 1 to 64 characters",
            ));
        }
        self.in_tx(|t| {
            let m = ManualTag {
                target: target.trim().to_owned(),
                tag: tag.trim().to_owned(),
                by: actor.to_owned(),
            };
            t.put(TAG, &format!("{}\u{0}{}", m.target, m.tag), &m)?;
            t.append(
                &Event::new(actor, Action::TagSet)
                    .target(&m.target)
                    .details(serde_json::json!({"tag": m.tag})),
            )?;
            Ok(m)
        })
    }

    /// Places a legal hold (legal, executive or admin).
    pub fn add_hold(
        &mut self,
        actor: &str,
        case_number: &str,
        reason: &str,
        scope: HoldScope,
    ) -> Result<LegalHold> {
        self.in_tx(|t| {
            if let Err(e) = t.require_hold_role(actor)? {
                return t.refuse(actor, Action::HoldCreate, case_number, e);
            }
            let id = format!("hold-{}", ulid::Ulid::new());
            let h = LegalHold::new(&id, case_number, reason, scope, actor, t.now)?;
            t.put(HOLD, &h.id, &h)?;
            t.append(&Event::new(actor, Action::HoldCreate).target(&h.id).details(serde_json::json!({
                "case_number": h.case_number, "conversations": h.scope.conversations, "participants": h.scope.participants,
                "from_ms": h.scope.from_ms, "to_ms": h.scope.to_ms, "keywords": h.scope.keywords.len(),
            })))?;
            Ok(Ok(h))
        })?
    }

    /// Asks for a hold's release; it stays in force until someone else approves.
    pub fn request_hold_release(
        &mut self,
        actor: &str,
        id: &str,
        reason: &str,
    ) -> Result<LegalHold> {
        self.hold_step(actor, id, Action::HoldReleaseRequest, |h, now| {
            h.request_release(actor, reason, now)
        })
    }

    /// Approves a requested release: a second person, with a hold role.
    pub fn approve_hold_release(&mut self, actor: &str, id: &str) -> Result<LegalHold> {
        self.hold_step(actor, id, Action::HoldRelease, |h, now| {
            h.approve_release(actor, now)
        })
    }

    fn hold_step(
        &mut self,
        actor: &str,
        id: &str,
        action: Action,
        step: impl FnOnce(&mut LegalHold, i64) -> std::result::Result<(), chatvault_policy::PolicyError>,
    ) -> Result<LegalHold> {
        self.in_tx(|t| {
            if let Err(e) = t.require_hold_role(actor)? {
                return t.refuse(actor, action, id, e);
            }
            let Some(mut h) = t.get::<LegalHold>(HOLD, id)? else {
                return Err(AccessError::NotFound(format!("legal hold {id}")));
            };
            if let Err(e) = step(&mut h, t.now) {
                return t.refuse(actor, action, id, e.into());
            }
            t.put(HOLD, id, &h)?;
            t.append(
                &Event::new(actor, action).target(id).details(
                    serde_json::json!({"case_number": h.case_number, "release": h.release}),
                ),
            )?;
            Ok(Ok(h))
        })?
    }
}

impl Access {
    /// Files a manual deletion or recovery of `messages` (legal, executive or admin). A
    /// request for at least `bulk_deletion_messages` is flagged `bulk_deletion`.
    pub fn file_deletion(
        &mut self,
        actor: &str,
        kind: DeletionKind,
        messages: Vec<String>,
        selector: &str,
        reason: &str,
    ) -> Result<DeletionRequest> {
        self.in_tx(|t| {
            if let Err(e) = t.require_role(actor, &DELETION_REQUESTERS, "deletions are requested by legal, executive or admin")? {
                return t.refuse(actor, Action::DeletionRequest, selector, e);
            }
            let id = format!("del-{}", ulid::Ulid::new());
            let r = DeletionRequest::new(&id, kind, messages, selector, reason, actor, t.now)?;
            t.put(DELETION, &r.id, &r)?;
            t.append(&Event::new(actor, Action::DeletionRequest).target(&r.id).details(serde_json::json!({
                "kind": r.kind, "messages": r.messages.len(), "selector": r.selector, "reason": r.reason,
            })))?;
            Ok(Ok(r))
        })?
    }

    /// Approves or rejects a deletion request: an executive or admin other than who asked.
    /// The caller carries out an approved request and records it with [`Self::audit`].
    pub fn decide_deletion(
        &mut self,
        actor: &str,
        id: &str,
        approve: bool,
        comment: &str,
    ) -> Result<DeletionRequest> {
        let action = if approve {
            Action::DeletionApprove
        } else {
            Action::DeletionReject
        };
        self.in_tx(|t| {
            if let Err(e) = t.require_role(actor, &DELETION_APPROVERS, "deletions are approved by an executive or admin")? {
                return t.refuse(actor, action, id, e);
            }
            let Some(mut r) = t.get::<DeletionRequest>(DELETION, id)? else { return Err(AccessError::NotFound(format!("deletion request {id}"))) };
            let step = if approve { r.approve(actor, t.now) } else { r.reject(actor, comment, t.now) };
            if let Err(e) = step {
                return t.refuse(actor, action, id, e.into());
            }
            t.put(DELETION, id, &r)?;
            t.append(&Event::new(actor, action).target(id).details(serde_json::json!({
                "kind": r.kind, "messages": r.messages.len(), "requested_by": r.requested_by, "comment": comment,
            })))?;
            Ok(Ok(r))
        })?
    }

    /// The requests a `deletion.execute` entry records as carried out: each id with the
    /// time of its (newest) execution.
    pub fn executed_deletions(&self) -> Result<std::collections::HashMap<String, i64>> {
        let mut out = std::collections::HashMap::new();
        let range = chatvault_store::access::AuditRange {
            action: Some(Action::DeletionExecute.name()),
            ..Default::default()
        };
        self.ops().audit_scan(&range, &mut |row| {
            if let Ok(e) = serde_json::from_str::<crate::AuditEntry>(&row.body) {
                if let Some(t) = e.target {
                    out.insert(t, e.time_ms);
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    pub fn deletion_requests(&self) -> Result<Vec<DeletionRequest>> {
        all(self, DELETION)
    }

    /// Puts conversations or participants' data in the storage-only state (legal,
    /// executive or admin): no read reaches it except a grant with `restricted.view`.
    pub fn restrict(
        &mut self,
        actor: &str,
        conversations: Vec<String>,
        participants: Vec<chatvault_policy::Handle>,
        reason: &str,
    ) -> Result<Restriction> {
        self.in_tx(|t| {
            if let Err(e) = t.require_hold_role(actor)? {
                return t.refuse(actor, Action::Restrict, reason, e);
            }
            let r = Restriction::new(&format!("restr-{}", ulid::Ulid::new()), conversations, participants, reason, actor, t.now)?;
            t.put(RESTRICTION, &r.id, &r)?;
            t.append(&Event::new(actor, Action::Restrict).target(&r.id).details(serde_json::json!({"conversations": r.conversations, "participants": r.participants, "reason": r.reason})))?;
            Ok(Ok(r))
        })?
    }

    /// Links handles as one person (an explicit identity link), audited.
    pub fn link_identity(
        &mut self,
        actor: &str,
        handles: Vec<chatvault_policy::Handle>,
        name: Option<&str>,
    ) -> Result<chatvault_policy::retention::IdentityLink> {
        if handles.len() < 2 {
            return Err(AccessError::invalid(
                "handles",
                "a link joins at least two handles",
            ));
        }
        self.in_tx(|t| {
            let l = chatvault_policy::retention::IdentityLink {
                id: format!("idl-{}", ulid::Ulid::new()),
                handles,
                name: name.map(str::to_owned),
                by: actor.to_owned(),
                created_ms: t.now,
            };
            t.put(IDENTITY, &l.id, &l)?;
            t.append(
                &Event::new(actor, Action::IdentityLink)
                    .target(&l.id)
                    .details(serde_json::json!({"handles": l.handles})),
            )?;
            Ok(l)
        })
    }

    pub fn unlink_identity(&mut self, actor: &str, id: &str) -> Result<()> {
        self.in_tx(|t| {
            if !t.delete(IDENTITY, id)? {
                return Err(AccessError::NotFound(format!("identity link {id}")));
            }
            t.append(
                &Event::new(actor, Action::IdentityLink)
                    .target(id)
                    .details(serde_json::json!({"removed": true})),
            )?;
            Ok(())
        })
    }

    pub fn identity_links(&self) -> Result<Vec<chatvault_policy::retention::IdentityLink>> {
        all(self, IDENTITY)
    }

    /// Lifts a restriction: the data is processed (read) normally again.
    pub fn lift_restriction(&mut self, actor: &str, id: &str) -> Result<Restriction> {
        self.in_tx(|t| {
            if let Err(e) = t.require_hold_role(actor)? {
                return t.refuse(actor, Action::Unrestrict, id, e);
            }
            let Some(mut r) = t.get::<Restriction>(RESTRICTION, id)? else {
                return Err(AccessError::NotFound(format!("restriction {id}")));
            };
            if !r.active() {
                return t.refuse(
                    actor,
                    Action::Unrestrict,
                    id,
                    chatvault_policy::PolicyError::State(format!(
                        "restriction {id} is already lifted"
                    ))
                    .into(),
                );
            }
            r.lifted = Some(Lift {
                by: actor.to_owned(),
                at_ms: t.now,
            });
            t.put(RESTRICTION, id, &r)?;
            t.append(&Event::new(actor, Action::Unrestrict).target(id))?;
            Ok(Ok(r))
        })?
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests stop at the first broken expectation
mod tests {
    use super::*;
    use crate::tests_support::fixture;
    use chatvault_policy::Handle;

    #[test]
    fn the_default_policy_exists_and_a_locked_policy_only_extends() {
        let (_d, mut acc) = fixture();
        let l = acc.lifecycle().unwrap();
        assert_eq!(l.policies.len(), 1);
        assert_eq!(
            (l.policies[0].name.as_str(), l.policies[0].keep),
            (DEFAULT_POLICY, Keep::Days(180))
        );
        let complaints = Matcher {
            tags: vec!["complaint".into()],
            ..Default::default()
        };
        acc.set_policy("admin", "complaints", complaints.clone(), Keep::Days(365))
            .unwrap();
        acc.lock_policy("admin", "complaints").unwrap();
        let cases: &[(&str, Matcher, Keep, Option<&str>)] = &[
            (
                "shorten",
                complaints.clone(),
                Keep::Days(30),
                Some("retention.locked"),
            ),
            (
                "change filters",
                Matcher {
                    tags: vec!["other".into()],
                    ..Default::default()
                },
                Keep::Days(400),
                Some("retention.locked"),
            ),
            ("extend", complaints.clone(), Keep::Days(400), None),
            ("forever", complaints.clone(), Keep::Forever, None),
            (
                "back to days",
                complaints.clone(),
                Keep::Days(73000),
                Some("retention.locked"),
            ),
        ];
        for (name, m, keep, err) in cases {
            let r = acc.set_policy("admin", "complaints", m.clone(), *keep);
            assert_eq!(r.as_ref().err().map(|e| e.code()), *err, "{name}");
        }
        assert_eq!(
            acc.remove_policy("admin", "complaints").unwrap_err().code(),
            "retention.locked"
        );
        assert_eq!(
            acc.remove_policy("admin", DEFAULT_POLICY)
                .unwrap_err()
                .code(),
            "policy.invalid"
        );
        let denied = acc
            .audit_list(&crate::AuditFilter {
                action: Some("retention.".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            denied
                .iter()
                .filter(|e| e.result == Outcome::Denied)
                .count(),
            5,
            "every refusal is audited"
        );
        assert_eq!(acc.lifecycle().unwrap().policies[1].keep, Keep::Forever);
    }

    #[test]
    fn holds_need_a_hold_role_and_a_second_person_to_release() {
        let (_d, mut acc) = fixture();
        for (n, r) in [
            ("lisa", Role::Legal),
            ("boss", Role::Executive),
            ("ann", Role::Agent),
        ] {
            acc.add_user(
                "setup",
                n,
                r,
                None,
                &[],
                Some("correct horse battery"),
                false,
            )
            .unwrap();
        }
        let scope = HoldScope {
            participants: vec![Handle::new("wecom", "cust-1")],
            ..Default::default()
        };
        assert_eq!(
            acc.add_hold("ann", "C-1", "诉讼", scope.clone())
                .unwrap_err()
                .code(),
            "input.invalid",
            "an agent cannot place a hold"
        );
        let h = acc.add_hold("lisa", "C-1", "诉讼", scope).unwrap();
        assert!(h.active());
        assert_eq!(
            acc.approve_hold_release("boss", &h.id).unwrap_err().code(),
            "policy.state",
            "nothing requested yet"
        );
        acc.request_hold_release("lisa", &h.id, "结案").unwrap();
        assert_eq!(
            acc.approve_hold_release("lisa", &h.id).unwrap_err().code(),
            "policy.self_approval"
        );
        assert!(acc.lifecycle().unwrap().holds[0].active(), "still in force");
        let released = acc.approve_hold_release("boss", &h.id).unwrap();
        assert!(!released.active());
        let acts: Vec<String> = acc
            .audit_list(&crate::AuditFilter {
                action: Some("hold.".into()),
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .map(|e| format!("{}:{:?}", e.action, e.result))
            .collect();
        assert_eq!(
            acts,
            [
                "hold.create:Denied",
                "hold.create:Ok",
                "hold.release:Denied",
                "hold.release_request:Ok",
                "hold.release:Denied",
                "hold.release:Ok"
            ]
        );
    }

    #[test]
    fn a_deletion_needs_a_second_person_and_a_big_one_is_flagged() {
        let (_d, mut acc) = fixture();
        for (n, r) in [
            ("lisa", Role::Legal),
            ("boss", Role::Executive),
            ("root", Role::Admin),
            ("ann", Role::Agent),
        ] {
            acc.add_user(
                "setup",
                n,
                r,
                None,
                &[],
                Some("correct horse battery"),
                false,
            )
            .unwrap();
        }
        let one = vec!["01A".to_owned()];
        assert_eq!(
            acc.file_deletion("ann", DeletionKind::Delete, one.clone(), "message 01A", "r")
                .unwrap_err()
                .code(),
            "input.invalid"
        );
        let r = acc
            .file_deletion(
                "lisa",
                DeletionKind::Delete,
                one,
                "message 01A",
                "客户依法要求删除",
            )
            .unwrap();
        let cases: &[(&str, &str, bool, &str)] = &[
            ("an agent", "ann", true, "input.invalid"),
            ("legal cannot approve", "lisa", true, "input.invalid"),
        ];
        for (name, who, approve, code) in cases {
            assert_eq!(
                acc.decide_deletion(who, &r.id, *approve, "")
                    .unwrap_err()
                    .code(),
                *code,
                "{name}"
            );
        }
        let d = acc
            .file_deletion(
                "boss",
                DeletionKind::Delete,
                vec!["01B".into()],
                "message 01B",
                "r",
            )
            .unwrap();
        assert_eq!(
            acc.decide_deletion("boss", &d.id, true, "")
                .unwrap_err()
                .code(),
            "policy.self_approval"
        );
        acc.decide_deletion("root", &r.id, true, "同意").unwrap();
        assert_eq!(
            acc.decide_deletion("boss", &r.id, false, "")
                .unwrap_err()
                .code(),
            "policy.state"
        );
        let many: Vec<String> = (0..1000).map(|i| format!("01M{i:05}")).collect();
        acc.file_deletion(
            "root",
            DeletionKind::Delete,
            many,
            "conversation wecom:c1",
            "整会话删除",
        )
        .unwrap();
        let flagged = acc
            .audit_list(&crate::AuditFilter {
                flagged: true,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(flagged.len(), 1);
        assert_eq!(flagged[0].flags, ["bulk_deletion"]);
        assert_eq!(acc.deletion_requests().unwrap().len(), 3);
    }

    #[test]
    fn tags_and_tag_rules() {
        let (_d, mut acc) = fixture();
        acc.set_tag_rule("admin", "complaint", vec!["投诉".into(), "差评".into()])
            .unwrap();
        acc.tag("admin", "wecom:c1", "transaction").unwrap();
        acc.tag("admin", "01ABC", "vip").unwrap();
        let l = acc.lifecycle().unwrap();
        assert_eq!(l.tag_rules.len(), 1);
        assert_eq!(l.manual_tags("01ABC", "wecom:c1"), ["transaction", "vip"]);
        assert_eq!(l.manual_tags("01XYZ", "wecom:c2"), Vec::<String>::new());
        assert_eq!(
            acc.set_tag_rule("admin", "empty", vec![])
                .unwrap_err()
                .code(),
            "policy.invalid"
        );
        acc.remove_tag_rule("admin", "complaint").unwrap();
        assert_eq!(
            acc.remove_tag_rule("admin", "complaint")
                .unwrap_err()
                .code(),
            "not_found"
        );
    }
}
