//! Retrieval requests and grants as the front ends use them: filing, deciding, revoking,
//! and who may list whose. The API, the web UI and the CLI call these; each change and
//! its audit entry commit together in the access database.

use chatvault_access::User;
use chatvault_policy::{Approves, Grant, Request, Right, Role, Scope};

use crate::{App, Result};

impl App {
    /// Files a retrieval request by `user`.
    pub fn file_request(
        &self,
        user: &str,
        scope: Scope,
        reason: &str,
        case_number: &str,
        rights: &[Right],
    ) -> Result<Request> {
        Ok(self
            .access()?
            .file_request(user, scope, reason, case_number, rights)?)
    }

    /// Approves request `id` as `user`, the grant expiring at `expires_ms`.
    pub fn approve_request(
        &self,
        user: &str,
        id: &str,
        comment: &str,
        expires_ms: i64,
    ) -> Result<Grant> {
        let policy = self.config.policy();
        Ok(self
            .access()?
            .approve_request(user, id, comment, expires_ms, &policy)?)
    }

    /// Rejects request `id` as `user`.
    pub fn reject_request(&self, user: &str, id: &str, comment: &str) -> Result<Request> {
        let policy = self.config.policy();
        Ok(self.access()?.reject_request(user, id, comment, &policy)?)
    }

    /// Revokes grant `id` as `user`.
    pub fn revoke_grant(&self, user: &str, id: &str) -> Result<Grant> {
        let policy = self.config.policy();
        Ok(self.access()?.revoke_grant(user, id, &policy)?)
    }

    /// The requests `user` may see, oldest first: their own, those they may decide, and
    /// every one for the auditor.
    pub fn requests_for(&self, user: &User) -> Result<Vec<Request>> {
        let (all, lister) = {
            let mut acc = self.access()?;
            (acc.requests(None)?, self.lister(&mut acc, user)?)
        };
        Ok(all.into_iter().filter(|r| lister(&r.requester)).collect())
    }

    /// The grants `user` may see (as [`Self::requests_for`]), each with whether it is
    /// active now.
    pub fn grants_for(&self, user: &User) -> Result<Vec<(Grant, bool)>> {
        let (all, now, lister) = {
            let mut acc = self.access()?;
            let lister = self.lister(&mut acc, user)?;
            (acc.grants(None)?, acc.now_ms(), lister)
        };
        Ok(all
            .into_iter()
            .filter(|g| lister(&g.holder))
            .map(|g| {
                let active = g.is_active(now);
                (g, active)
            })
            .collect())
    }

    /// Whose requests and grants `user` may list: their own; those they may decide; all
    /// for the auditor. The organisation is read once.
    fn lister(
        &self,
        acc: &mut chatvault_access::Access,
        user: &User,
    ) -> Result<impl Fn(&str) -> bool> {
        let policy = self.config.policy();
        let approves = policy.rules(user.role).approves;
        let team = user.team.clone();
        let org = match approves {
            Approves::OwnTeam if team.is_some() => Some(acc.org(&policy)?),
            _ => None,
        };
        let (name, role) = (user.name.clone(), user.role);
        Ok(move |owner: &str| {
            if owner == name || role == Role::Auditor {
                return true;
            }
            match approves {
                Approves::Everyone => true,
                Approves::OwnTeam => org
                    .as_ref()
                    .is_some_and(|o| o.directory.team_of_user(owner) == team.as_deref()),
                Approves::Nobody => false,
            }
        })
    }
}
