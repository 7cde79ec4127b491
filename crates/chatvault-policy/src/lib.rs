//! Who may see what: roles and their default reach, retrieval requests (电子证据调取申请)
//! and the grants their approval creates. Every decision is made here, from data the
//! caller passes in, and the answer is deny unless a rule allows.
//!
//! This crate owns:
//! - [`Role`] and [`RolePolicy`]: each role's default reach (own or team conversations
//!   within a time window, everything read-only, or no content at all) and whether it may
//!   approve requests; the defaults are those of `PRODUCT.md`, and a deployment may
//!   replace any of them;
//! - [`Request`]: filing (validated), approval by a different person who holds the right
//!   to approve for the requester, rejection; an approval creates a [`Grant`];
//! - [`Grant`]: a scope (conversations and/or participants, a time range, optional
//!   keywords), rights (view, export, `pii.view`), an expiry, revocation;
//! - [`decide`]: whether a [`Subject`] may exercise a [`Right`] on one message, and why,
//!   within an [`Org`] (the role rules and who is in which team).
//!
//! - [`retention`]: retention policies (most protective wins, locks that only extend),
//!   tag rules, legal holds with two-person release, and the verdict for one message.
//!
//! It never does IO and never reads a clock: callers pass `now`. Storing users, requests
//! and grants, and auditing each decision, belong to the server.

use std::collections::HashMap;

pub mod deletion;
pub mod identity;
pub mod reach;
pub mod restriction;
pub mod retention;

use chatvault_model::normalize::normalize;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// A person's role. The names are those of the config and the API.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 普通客服: the conversations they take part in.
    Agent,
    /// 组长: the team's conversations.
    TeamLead,
    /// 法务专员: whatever a granted retrieval request covers.
    Legal,
    /// 公司高层: everything, read only.
    Executive,
    /// 审计员: the audit log and proofs; no content.
    Auditor,
    /// 管理员: users, configuration and sources; no content.
    Admin,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Agent,
        Role::TeamLead,
        Role::Legal,
        Role::Executive,
        Role::Auditor,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::TeamLead => "team_lead",
            Role::Legal => "legal",
            Role::Executive => "executive",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<Role, PolicyError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| PolicyError::UnknownRole(s.to_owned()))
    }
}

/// What may be done with a message.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Right {
    #[serde(rename = "view")]
    View,
    /// Download attachments and export.
    #[serde(rename = "export")]
    Export,
    /// See personal data unmasked.
    #[serde(rename = "pii.view")]
    PiiView,
    /// Read data in the storage-only state (PIPL Art. 47: kept because the law requires,
    /// with processing withdrawn). Nothing else reads it, whatever the role.
    #[serde(rename = "restricted.view")]
    RestrictedView,
}

impl Right {
    pub fn as_str(self) -> &'static str {
        match self {
            Right::View => "view",
            Right::Export => "export",
            Right::PiiView => "pii.view",
            Right::RestrictedView => "restricted.view",
        }
    }
}

/// A platform account: how a person is recognised in conversations.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Handle {
    pub platform: String,
    pub id: String,
}

/// `platform:id`, as handles are written everywhere (the CLI, the API, the UI).
impl std::fmt::Display for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.platform, self.id)
    }
}

impl Handle {
    /// Whether `key` (`platform:id`) names this handle, without building its text.
    pub fn is(&self, key: &str) -> bool {
        key.split_once(':') == Some((self.platform.as_str(), self.id.as_str()))
    }

    pub fn new(platform: &str, id: &str) -> Handle {
        Handle {
            platform: platform.to_owned(),
            id: id.to_owned(),
        }
    }
}

/// The person asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub user: String,
    pub role: Role,
    pub team: Option<String>,
    pub handles: Vec<Handle>,
    /// A frozen account (熔断) is refused everything, whatever its role or grants.
    pub frozen: bool,
}

/// What a decision needs to know about one message.
#[derive(Debug, Clone, Copy)]
pub struct MessageFacts<'a> {
    /// `platform:id`, as the archive names conversations.
    pub conversation: &'a str,
    /// Everyone who takes part in the conversation.
    pub participants: &'a [Handle],
    pub sent_at_ms: i64,
    /// The text, for grants whose scope names keywords; `None` once purged.
    pub text: Option<&'a str>,
    /// In the storage-only state: only a grant with `restricted.view` reads it.
    pub restricted: bool,
}

/// Which conversations a role reaches by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    /// None: only grants.
    Nothing,
    /// Conversations one of the subject's handles takes part in.
    Own,
    /// Conversations a member of the subject's team takes part in.
    Team,
    All,
}

/// One role's defaults.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoleRules {
    pub reach: Reach,
    /// How far back the default reach goes, in days; `None` for no limit.
    pub window_days: Option<u32>,
    /// The rights the default reach gives (grants add their own).
    pub rights: Vec<Right>,
    /// Whose requests this role may approve.
    pub approves: Approves,
}

/// Whose retrieval requests a role may approve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approves {
    Nobody,
    /// Requests filed by members of the approver's own team.
    OwnTeam,
    Everyone,
}

/// The rules of every role, and the limits on grants.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RolePolicy {
    pub roles: HashMap<Role, RoleRules>,
    /// The longest a grant may run from its approval, in days.
    pub max_grant_days: u32,
}

impl Default for RolePolicy {
    /// The defaults of `PRODUCT.md`: agents their own conversations for 7 days, team
    /// leads their team's for 30, executives everything read only, legal only what a
    /// grant covers, auditors and admins no content. No role sees personal data unmasked
    /// by default; a grant with `pii.view` does.
    fn default() -> Self {
        let rules = |reach, window_days, rights: &[Right], approves| RoleRules {
            reach,
            window_days,
            rights: rights.to_vec(),
            approves,
        };
        let roles = HashMap::from([
            (
                Role::Agent,
                rules(Reach::Own, Some(7), &[Right::View], Approves::Nobody),
            ),
            (
                Role::TeamLead,
                rules(Reach::Team, Some(30), &[Right::View], Approves::OwnTeam),
            ),
            (
                Role::Legal,
                rules(Reach::Nothing, None, &[], Approves::Nobody),
            ),
            (
                Role::Executive,
                rules(Reach::All, None, &[Right::View], Approves::Everyone),
            ),
            (
                Role::Auditor,
                rules(Reach::Nothing, None, &[], Approves::Nobody),
            ),
            (
                Role::Admin,
                rules(Reach::Nothing, None, &[], Approves::Nobody),
            ),
        ]);
        RolePolicy {
            roles,
            max_grant_days: 90,
        }
    }
}

impl RolePolicy {
    /// A role missing from a deployment's config reaches nothing (deny by default).
    pub fn rules(&self, role: Role) -> RoleRules {
        self.roles.get(&role).cloned().unwrap_or(RoleRules {
            reach: Reach::Nothing,
            window_days: None,
            rights: vec![],
            approves: Approves::Nobody,
        })
    }
}

/// The organisation a decision is made in: the role rules and who is in which team.
#[derive(Debug, Clone, Default)]
pub struct Org {
    pub policy: RolePolicy,
    pub directory: Directory,
}

/// Which team each platform handle belongs to: built from the user list.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    teams: HashMap<Handle, String>,
    users: HashMap<String, Option<String>>,
}

impl Directory {
    pub fn add_user(&mut self, user: &str, team: Option<&str>, handles: &[Handle]) {
        self.users.insert(user.to_owned(), team.map(str::to_owned));
        if let Some(team) = team {
            for h in handles {
                self.teams.insert(h.clone(), team.to_owned());
            }
        }
    }
    pub fn team_of_handle(&self, h: &Handle) -> Option<&str> {
        self.teams.get(h).map(String::as_str)
    }
    /// Every handle of the team's members.
    pub fn handles_of_team(&self, team: &str) -> Vec<Handle> {
        let mut v: Vec<Handle> = self
            .teams
            .iter()
            .filter(|(_, t)| t.as_str() == team)
            .map(|(h, _)| h.clone())
            .collect();
        v.sort();
        v
    }
    pub fn team_of_user(&self, user: &str) -> Option<&str> {
        self.users.get(user).and_then(|t| t.as_deref())
    }
}

/// What a request or grant covers.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Scope {
    /// `platform:id` of each conversation.
    #[serde(default)]
    pub conversations: Vec<String>,
    #[serde(default)]
    pub participants: Vec<Handle>,
    /// Inclusive bounds on `sent_at`, in ms since the epoch.
    pub from_ms: i64,
    pub to_ms: i64,
    /// When not empty, a message is covered only if its text contains one of them
    /// (the search's substring match: NFKC, lower case).
    #[serde(default)]
    pub keywords: Vec<String>,
}

impl Scope {
    fn validate(&self) -> Result<(), PolicyError> {
        if self.conversations.is_empty() && self.participants.is_empty() {
            return Err(PolicyError::Invalid(
                "scope: name at least one conversation or participant".into(),
            ));
        }
        if self.from_ms > self.to_ms {
            return Err(PolicyError::Invalid("scope: `from` is after `to`".into()));
        }
        if self.keywords.iter().any(|k| normalize(k).trim().is_empty()) {
            return Err(PolicyError::Invalid("scope: a keyword is empty".into()));
        }
        Ok(())
    }

    /// Whether one message falls inside the scope.
    pub fn covers(&self, m: &MessageFacts<'_>) -> bool {
        let who = reach::WhoRef::Listed(&self.conversations, &self.participants).takes_part(
            m.conversation,
            m.participants,
            &Directory::default(),
        );
        let when = (self.from_ms..=self.to_ms).contains(&m.sent_at_ms);
        let what = self.keywords.is_empty()
            || m.text.is_some_and(|t| {
                let t = normalize(t);
                self.keywords.iter().any(|k| t.contains(&normalize(k)))
            });
        who && when && what
    }
}

/// Access that an approved request gives its requester.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Grant {
    pub id: String,
    pub request: String,
    pub holder: String,
    pub scope: Scope,
    pub rights: Vec<Right>,
    pub approved_by: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub revoked: Option<Revocation>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Revocation {
    pub by: String,
    pub at_ms: i64,
}

impl Grant {
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.revoked.is_none() && now_ms < self.expires_ms && now_ms >= self.created_ms
    }

    pub fn revoke(&mut self, by: &str, now_ms: i64) -> Result<(), PolicyError> {
        if self.revoked.is_some() {
            return Err(PolicyError::State(format!(
                "grant {} is already revoked",
                self.id
            )));
        }
        self.revoked = Some(Revocation {
            by: by.to_owned(),
            at_ms: now_ms,
        });
        Ok(())
    }
}

/// Where a request stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    Pending,
    Approved {
        by: String,
        at_ms: i64,
        comment: String,
        grant: String,
    },
    Rejected {
        by: String,
        at_ms: i64,
        comment: String,
    },
}

/// A retrieval request (电子证据调取申请).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Request {
    pub id: String,
    pub requester: String,
    pub scope: Scope,
    pub reason: String,
    pub case_number: String,
    pub rights: Vec<Right>,
    pub filed_ms: i64,
    #[serde(flatten)]
    pub status: Status,
}

impl Request {
    /// Files a request. It must name a scope, a reason, a case number and at least one
    /// right; `pii.view` comes only with `view`.
    pub fn file(
        id: &str,
        requester: &Subject,
        scope: Scope,
        reason: &str,
        case_number: &str,
        rights: &[Right],
        now_ms: i64,
    ) -> Result<Request, PolicyError> {
        if requester.frozen {
            return Err(PolicyError::Frozen(requester.user.clone()));
        }
        scope.validate()?;
        if reason.trim().is_empty() {
            return Err(PolicyError::Invalid("reason: required".into()));
        }
        if case_number.trim().is_empty() {
            return Err(PolicyError::Invalid("case_number: required".into()));
        }
        let mut rights = rights.to_vec();
        rights.sort();
        rights.dedup();
        if !rights.contains(&Right::View) {
            return Err(PolicyError::Invalid(
                "rights: `view` is required (export and pii.view build on it)".into(),
            ));
        }
        Ok(Request {
            id: id.to_owned(),
            requester: requester.user.clone(),
            scope,
            reason: reason.trim().to_owned(),
            case_number: case_number.trim().to_owned(),
            rights,
            filed_ms: now_ms,
            status: Status::Pending,
        })
    }

    fn check_decider(&self, decider: &Subject, org: &Org) -> Result<(), PolicyError> {
        if decider.frozen {
            return Err(PolicyError::Frozen(decider.user.clone()));
        }
        if decider.user == self.requester {
            return Err(PolicyError::SelfApproval);
        }
        if self.status != Status::Pending {
            return Err(PolicyError::State(format!(
                "request {} was already decided",
                self.id
            )));
        }
        let allowed = match org.policy.rules(decider.role).approves {
            Approves::Nobody => false,
            Approves::Everyone => true,
            Approves::OwnTeam => {
                decider.team.is_some()
                    && org.directory.team_of_user(&self.requester) == decider.team.as_deref()
            }
        };
        if !allowed {
            return Err(PolicyError::NotApprover {
                user: decider.user.clone(),
                requester: self.requester.clone(),
            });
        }
        Ok(())
    }

    /// Approves the request: a grant for its requester, running until `expires_ms`.
    pub fn approve(
        &mut self,
        grant_id: &str,
        approver: &Subject,
        comment: &str,
        expires_ms: i64,
        now_ms: i64,
        org: &Org,
    ) -> Result<Grant, PolicyError> {
        self.check_decider(approver, org)?;
        if expires_ms <= now_ms {
            return Err(PolicyError::Invalid(
                "expires_at: must be in the future".into(),
            ));
        }
        if expires_ms - now_ms > org.policy.max_grant_days as i64 * DAY_MS {
            return Err(PolicyError::Invalid(format!(
                "expires_at: a grant runs at most {} days",
                org.policy.max_grant_days
            )));
        }
        self.status = Status::Approved {
            by: approver.user.clone(),
            at_ms: now_ms,
            comment: comment.to_owned(),
            grant: grant_id.to_owned(),
        };
        Ok(Grant {
            id: grant_id.to_owned(),
            request: self.id.clone(),
            holder: self.requester.clone(),
            scope: self.scope.clone(),
            rights: self.rights.clone(),
            approved_by: approver.user.clone(),
            created_ms: now_ms,
            expires_ms,
            revoked: None,
        })
    }

    pub fn reject(
        &mut self,
        decider: &Subject,
        comment: &str,
        now_ms: i64,
        org: &Org,
    ) -> Result<(), PolicyError> {
        self.check_decider(decider, org)?;
        self.status = Status::Rejected {
            by: decider.user.clone(),
            at_ms: now_ms,
            comment: comment.to_owned(),
        };
        Ok(())
    }
}

/// Why access was given, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    Role(Role),
    Grant(String),
}

/// The answer for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow {
        via: Via,
        /// Whether personal data may be shown unmasked.
        pii: bool,
    },
    Deny(&'static str),
}

impl Decision {
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

/// Whether `subject` may exercise `right` on one message now. Denied unless the role's
/// default reach or an active grant held by the subject allows it; a frozen account is
/// refused everything. `pii` in the answer says whether personal data may be shown.
pub fn decide(
    subject: &Subject,
    right: Right,
    m: &MessageFacts<'_>,
    now_ms: i64,
    grants: &[Grant],
    org: &Org,
) -> Decision {
    if subject.frozen {
        return Decision::Deny("the account is frozen");
    }
    let rules = org.policy.rules(subject.role);
    let usable = |g: &&Grant| g.holder == subject.user && g.is_active(now_ms) && g.scope.covers(m);
    let covering: Vec<&Grant> = grants.iter().filter(usable).collect();
    if m.restricted {
        // Storage only: no role reaches it; a grant must say so, and give the right asked.
        let pii = covering.iter().any(|g| {
            g.rights.contains(&Right::PiiView) && g.rights.contains(&Right::RestrictedView)
        });
        return match covering
            .iter()
            .find(|g| g.rights.contains(&Right::RestrictedView) && g.rights.contains(&right))
        {
            Some(g) => Decision::Allow {
                via: Via::Grant(g.id.clone()),
                pii,
            },
            None => Decision::Deny(
                "storage only (processing withdrawn): only a grant with restricted.view reads it",
            ),
        };
    }
    let by_role = reach::role_reaches(subject, &rules, m, now_ms, &org.directory);
    let pii = (by_role && rules.rights.contains(&Right::PiiView))
        || covering.iter().any(|g| g.rights.contains(&Right::PiiView));
    if by_role && rules.rights.contains(&right) {
        return Decision::Allow {
            via: Via::Role(subject.role),
            pii,
        };
    }
    if let Some(g) = covering.iter().find(|g| g.rights.contains(&right)) {
        return Decision::Allow {
            via: Via::Grant(g.id.clone()),
            pii,
        };
    }
    Decision::Deny(if by_role || !covering.is_empty() {
        "the role and the grants that reach this message do not give this right"
    } else {
        "outside the role's reach and every active grant"
    })
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("unknown role `{0}`; roles: agent, team_lead, legal, executive, auditor, admin")]
    UnknownRole(String),
    #[error("{0}")]
    Invalid(String),
    #[error("a request cannot be approved or rejected by the person who filed it")]
    SelfApproval,
    #[error("{user} may not decide requests filed by {requester}")]
    NotApprover { user: String, requester: String },
    #[error("{0}")]
    State(String),
    #[error("the account {0} is frozen")]
    Frozen(String),
    /// A locked retention policy would be weakened.
    #[error("{0}")]
    Locked(String),
}

impl PolicyError {
    /// The stable code the API reports.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::UnknownRole(_) => "policy.unknown_role",
            PolicyError::Invalid(_) => "policy.invalid",
            PolicyError::SelfApproval => "policy.self_approval",
            PolicyError::NotApprover { .. } => "policy.not_approver",
            PolicyError::State(_) => "policy.state",
            PolicyError::Frozen(_) => "policy.frozen",
            PolicyError::Locked(_) => "retention.locked",
        }
    }
}

#[cfg(test)]
mod tests;
