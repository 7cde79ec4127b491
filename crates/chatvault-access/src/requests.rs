//! Retrieval requests (电子证据调取申请) and grants, stored as `chatvault-policy` values.
//! The policy crate validates and decides; this module keeps the records and audits each
//! step in the same transaction.

use chatvault_policy::{Directory, Grant, Org, Request, Right, RolePolicy, Scope};
use chatvault_store::access::Shelf;

use crate::audit::{Action, Event, Outcome};
use crate::{Access, AccessError, Result, Tx};

fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new())
}

impl Tx<'_> {
    fn request(&self, id: &str) -> Result<Request> {
        let body = self.ops.document(Shelf::Requests, id)?;
        let body = body.ok_or_else(|| AccessError::NotFound(format!("request {id}")))?;
        Access::parse_doc(self.path, &format!("request {id}"), &body)
    }

    fn put_request(&self, r: &Request) -> Result<()> {
        let body = serde_json::to_string(r)
            .map_err(|e| AccessError::Corrupt(self.path.to_owned(), e.to_string()))?;
        Ok(self
            .ops
            .put_document(Shelf::Requests, &r.id, &r.requester, &body)?)
    }

    fn put_grant(&self, g: &Grant) -> Result<()> {
        let body = serde_json::to_string(g)
            .map_err(|e| AccessError::Corrupt(self.path.to_owned(), e.to_string()))?;
        Ok(self
            .ops
            .put_document(Shelf::Grants, &g.id, &g.holder, &body)?)
    }

    /// The organisation: role rules from the config, teams and handles from the users.
    pub(crate) fn org(&self, policy: &RolePolicy) -> Result<Org> {
        let mut directory = Directory::default();
        for u in self.ops.users()? {
            let handles: Vec<chatvault_policy::Handle> =
                serde_json::from_str(&u.handles).unwrap_or_default();
            directory.add_user(&u.name, u.team.as_deref(), &handles);
        }
        Ok(Org {
            policy: policy.clone(),
            directory,
        })
    }
}

fn scope_details(r: &Request) -> serde_json::Value {
    serde_json::json!({
        "case_number": r.case_number,
        "conversations": r.scope.conversations,
        "participants": r.scope.participants,
        "from_ms": r.scope.from_ms,
        "to_ms": r.scope.to_ms,
        "keywords": r.scope.keywords.len(),
        "rights": r.rights,
    })
}

impl Access {
    pub fn org(&mut self, policy: &RolePolicy) -> Result<Org> {
        self.in_tx(|t| t.org(policy))
    }

    /// Files a request for `requester`.
    pub fn file_request(
        &mut self,
        requester: &str,
        scope: Scope,
        reason: &str,
        case_number: &str,
        rights: &[Right],
    ) -> Result<Request> {
        self.in_tx(|t| {
            let subject = t.require_user(requester)?.subject();
            let r = Request::file(
                &new_id("req"),
                &subject,
                scope,
                reason,
                case_number,
                rights,
                t.now,
            )?;
            t.put_request(&r)?;
            t.append(
                &Event::new(requester, Action::RequestFile)
                    .target(&r.id)
                    .details(scope_details(&r)),
            )?;
            Ok(r)
        })
    }

    /// Approves a request: the grant runs until `expires_ms`. A refusal by the policy
    /// (self-approval, not an approver, already decided) is audited as denied.
    pub fn approve_request(
        &mut self,
        approver: &str,
        id: &str,
        comment: &str,
        expires_ms: i64,
        policy: &RolePolicy,
    ) -> Result<Grant> {
        self.in_tx(|t| {
            let subject = t.require_user(approver)?.subject();
            let org = t.org(policy)?;
            let mut r = t.request(id)?;
            match r.approve(&new_id("grant"), &subject, comment, expires_ms, t.now, &org) {
                Ok(g) => {
                    t.put_request(&r)?;
                    t.put_grant(&g)?;
                    t.append(&Event::new(approver, Action::RequestApprove).target(id).details(serde_json::json!({
                        "grant": g.id, "requester": r.requester, "expires_ms": expires_ms, "comment": comment,
                    })))?;
                    Ok(Ok(g))
                }
                Err(e) => {
                    t.append(&Event::new(approver, Action::RequestApprove).target(id).result(Outcome::Denied).details(serde_json::json!({"reason": e.code()})))?;
                    Ok(Err(AccessError::Policy(e)))
                }
            }
        })?
    }

    pub fn reject_request(
        &mut self,
        decider: &str,
        id: &str,
        comment: &str,
        policy: &RolePolicy,
    ) -> Result<Request> {
        self.in_tx(|t| {
            let subject = t.require_user(decider)?.subject();
            let org = t.org(policy)?;
            let mut r = t.request(id)?;
            match r.reject(&subject, comment, t.now, &org) {
                Ok(()) => {
                    t.put_request(&r)?;
                    t.append(
                        &Event::new(decider, Action::RequestReject)
                            .target(id)
                            .details(
                                serde_json::json!({"comment": comment, "requester": r.requester}),
                            ),
                    )?;
                    Ok(Ok(r))
                }
                Err(e) => {
                    t.append(
                        &Event::new(decider, Action::RequestReject)
                            .target(id)
                            .result(Outcome::Denied)
                            .details(serde_json::json!({"reason": e.code()})),
                    )?;
                    Ok(Err(AccessError::Policy(e)))
                }
            }
        })?
    }

    /// Revokes a grant: its holder or whoever approved it, or anyone whose role may
    /// approve the holder's requests.
    pub fn revoke_grant(&mut self, actor: &str, id: &str, policy: &RolePolicy) -> Result<Grant> {
        self.in_tx(|t| {
            let body = t.ops.document(Shelf::Grants, id)?;
            let body = body.ok_or_else(|| AccessError::NotFound(format!("grant {id}")))?;
            let mut g: Grant = Access::parse_doc(t.path, &format!("grant {id}"), &body)?;
            let who = t.require_user(actor)?;
            let org = t.org(policy)?;
            let may = actor == g.holder
                || actor == g.approved_by
                || match org.policy.rules(who.role).approves {
                    chatvault_policy::Approves::Everyone => true,
                    chatvault_policy::Approves::OwnTeam => {
                        who.team.is_some()
                            && org.directory.team_of_user(&g.holder) == who.team.as_deref()
                    }
                    chatvault_policy::Approves::Nobody => false,
                };
            if !may {
                return Err(AccessError::Policy(
                    chatvault_policy::PolicyError::NotApprover {
                        user: actor.to_owned(),
                        requester: g.holder.clone(),
                    },
                ));
            }
            g.revoke(actor, t.now)?;
            t.put_grant(&g)?;
            t.append(
                &Event::new(actor, Action::GrantRevoke)
                    .target(id)
                    .details(serde_json::json!({"holder": g.holder})),
            )?;
            Ok(g)
        })
    }

    /// Requests, newest first: all of them, or those filed by `requester`.
    pub fn requests(&self, requester: Option<&str>) -> Result<Vec<Request>> {
        self.list(Shelf::Requests, "requests", requester)
    }

    /// Grants, newest first: all of them, or those held by `holder`.
    pub fn grants(&self, holder: Option<&str>) -> Result<Vec<Grant>> {
        self.list(Shelf::Grants, "grants", holder)
    }

    fn list<T: serde::de::DeserializeOwned>(
        &self,
        shelf: Shelf<'_>,
        what: &str,
        who: Option<&str>,
    ) -> Result<Vec<T>> {
        self.ops()
            .documents(shelf, who)?
            .iter()
            .map(|(id, body)| Access::parse_doc(&self.path, &format!("{what} {id}"), body))
            .collect()
    }
}
