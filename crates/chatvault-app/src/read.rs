//! Content reads for a caller: search, a conversation, a message, an attachment and the
//! case timeline, each decided message by message by [`chatvault_policy::decide`] and
//! audited. The API and the web UI call these.
//!
//! A [`Reader`] is what one caller may read; only [`App::reader`] makes one, for a
//! signed-in user. It holds the caller's decision inputs and no archive: every read below
//! takes the archive from [`App`] and hands back [`Visible`] values, which only the
//! archive's rule-applying reads make. A use case that read a message through the
//! unfiltered [`chatvault_archive::Archive::message`] and returned it would not compile.
//! (`Visible` proves that a rule-applying read made the value; that the rule is the
//! caller's is what the functions here do, and what the authorization matrix tests.)

use std::collections::BTreeSet;

use chatvault_access::{Action, Event, Outcome, User};
use chatvault_archive::{
    ArchiveError, ConversationView, Filters, PersonalData, SearchResponse, Visibility, Visible,
};
use chatvault_model::{pii, AttachmentRef, StoredMessage};
use chatvault_policy::reach::{Part, Who};
use chatvault_policy::{Grant, Handle, Org, Reach, Right, Subject};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::reach::{visibility, Usage, UserReach};
use crate::time::{parse_bound, End};
use crate::{App, Error, Result};

/// What one caller may read: the inputs of every decision on its reads, and who it is
/// for the audit trail. It holds no archive.
pub struct Reader {
    pub(crate) subject: Subject,
    /// The caller's active grants.
    pub(crate) grants: Vec<Grant>,
    pub(crate) org: Org,
    pub(crate) now_ms: i64,
    /// Storage-only data in force: blocked unless a grant has `restricted.view`.
    pub(crate) restrictions: Vec<chatvault_policy::retention::Restriction>,
    /// A token limited to one source sees that platform only.
    source: Option<String>,
    /// The client's address, for the audit trail.
    ip: Option<String>,
}

impl Reader {
    /// A reader for `user`'s decision inputs; `source` limits it to one platform (a
    /// token's), `ip` is recorded with each read.
    pub(crate) fn new(reach: UserReach, source: Option<String>, ip: Option<String>) -> Reader {
        Reader {
            subject: reach.subject,
            grants: reach.grants,
            org: reach.org,
            now_ms: reach.now,
            restrictions: reach.restrictions,
            source,
            ip,
        }
    }

    pub fn name(&self) -> &str {
        &self.subject.user
    }

    /// An audit entry by this reader.
    pub fn event(&self, action: Action) -> Event {
        Event::new(&self.subject.user, action).ip(self.ip.as_deref())
    }

    /// Whether the role reads content by itself (without a grant).
    pub fn role_reads(&self) -> bool {
        let rules = self.org.policy.rules(self.subject.role);
        rules.reach != Reach::Nothing && rules.rights.contains(&Right::View)
    }

    /// Whether the role or an active grant carries `right` at all (each message is
    /// still decided on its own).
    pub fn may(&self, right: Right) -> bool {
        self.org
            .policy
            .rules(self.subject.role)
            .rights
            .contains(&right)
            || self.grants.iter().any(|g| g.rights.contains(&right))
    }

    /// How much of the personal data this caller may see is shown: everywhere (the role
    /// has `pii.view` and so does each of the caller's grants), nowhere (neither the role
    /// nor any grant has it), or in part. Unless shown everywhere, searches match the
    /// masked text (see `Archive::plan_visible`).
    pub fn personal_data(&self) -> PersonalData {
        let by_role = self
            .org
            .policy
            .rules(self.subject.role)
            .rights
            .contains(&Right::PiiView);
        let own = || self.grants.iter().filter(|g| g.holder == self.subject.user);
        if by_role && own().all(|g| g.rights.contains(&Right::PiiView)) {
            PersonalData::Shown
        } else if !by_role && !own().any(|g| g.rights.contains(&Right::PiiView)) {
            PersonalData::Masked
        } else {
            PersonalData::Mixed
        }
    }

    /// The caller's decision on one message under `right`, recording what it used in the
    /// usage it is given.
    pub(crate) fn decider(
        &self,
        right: Right,
    ) -> impl Fn(&StoredMessage, &[Handle], &mut Usage) -> Visibility + '_ {
        move |m: &StoredMessage, members: &[Handle], usage: &mut Usage| {
            if self
                .source
                .as_deref()
                .is_some_and(|s| s != m.platform.as_str())
            {
                return Visibility::Hidden;
            }
            visibility(
                &self.subject,
                &self.grants,
                &self.org,
                &self.restrictions,
                self.now_ms,
                right,
                usage,
                m,
                members,
            )
        }
    }

    /// The visibility rule for `right`, recording what each shown message was shown by.
    pub(crate) fn rule<'a>(
        &'a self,
        right: Right,
        usage: &'a mut Usage,
    ) -> impl FnMut(&StoredMessage, &[Handle]) -> Visibility + 'a {
        let decide = self.decider(right);
        move |m: &StoredMessage, members: &[Handle]| decide(m, members, usage)
    }

    /// What this caller's role and grants reach with `right`: the one rule
    /// ([`chatvault_policy::reach`]) that `decide` judges each message by.
    fn reach(&self, right: Right) -> Vec<Part> {
        chatvault_policy::reach::reach(&self.subject, right, self.now_ms, &self.grants, &self.org)
    }

    /// Narrows a search's filters to a superset of what the caller may see (the
    /// conversations and the time span its role and grants reach), so the index does the
    /// bulk of the filtering; the rule still decides each hit. The flag says whether the
    /// caller sees every match of the narrowed filters: then the index pages and counts,
    /// and the rule is asked about the page only (should it hide one after all, every
    /// match is judged).
    ///
    /// That holds for an executive (everything), and for a caller whose one way in is
    /// their role (an agent, a team lead with no grant) when no storage-only restriction
    /// is in force: `decide` then shows a message exactly when its conversation has a
    /// participant the role reaches and it was sent inside the role's window, which is
    /// what the narrowed filters say (the conversations of those participants, the
    /// window). Grants (keywords, their own windows) and restrictions are judged per
    /// message.
    pub(crate) fn narrow(
        &self,
        archive: &mut chatvault_archive::Archive,
        f: &Filters,
    ) -> Result<(Filters, bool)> {
        let parts = self.reach(Right::View);
        let source = self.source.as_deref();
        let unbounded =
            |p: &Part| p.who == Who::Everyone && p.from_ms == i64::MIN && p.to_ms == i64::MAX;
        if source.is_none() && parts.iter().any(unbounded) {
            return Ok((f.clone(), true));
        }
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        // The reach as the store's conversation ids: a team's can be thousands, and the
        // index checks a long list per match rather than as that many terms.
        let mut convs: Option<Vec<i64>> = Some(vec![]);
        let mut handles: Vec<Handle> = vec![];
        for p in &parts {
            lo = lo.min(p.from_ms);
            hi = hi.max(p.to_ms);
            let b = p.bounds(&self.org.directory);
            if b.everyone {
                convs = None;
            } else if let Some(c) = &mut convs {
                for name in &b.conversations {
                    c.extend(archive.conversation_id_exact(name)?);
                }
                handles.extend(b.handles);
            }
        }
        if let Some(c) = &mut convs {
            handles.sort();
            handles.dedup();
            c.extend(archive.conversation_ids_of(&handles)?);
            c.sort_unstable();
            c.dedup();
            // A narrowing the caller brought along is kept: the reach only ever shrinks it.
            if let Some(asked) = &f.conversation_ids {
                c.retain(|id| asked.contains(id));
            }
        }
        let mut out = f.clone();
        out.from_ms = Some(f.from_ms.map_or(lo, |x| x.max(lo)));
        out.to_ms = Some(f.to_ms.map_or(hi, |x| x.min(hi)));
        let mut list: Option<Vec<i64>> = convs;
        if let Some(s) = source {
            match &f.platform {
                Some(p) if p != s => list = Some(vec![]),
                _ => out.platform = Some(s.to_owned()),
            }
        }
        if out.from_ms > out.to_ms {
            list = Some(vec![]);
        }
        if list.is_some() {
            out.conversation_ids = list;
        }
        let by_role_alone = parts.len() == 1
            && self.restrictions.is_empty()
            && !self.grants.iter().any(|g| {
                g.holder == self.subject.user
                    && g.is_active(self.now_ms)
                    && g.rights.contains(&Right::View)
            });
        Ok((out, by_role_alone))
    }

    /// [`Self::narrow`] for a selection that may name its own conversations: the caller's
    /// reach intersected with them. `None` when no conversation is left (none the caller
    /// reaches, or none named).
    pub(crate) fn narrow_within(
        &self,
        archive: &mut chatvault_archive::Archive,
        f: &Filters,
    ) -> Result<Option<(Filters, bool)>> {
        let (mut n, all_visible) = self.narrow(archive, f)?;
        if let (Some(wanted), Some(reach)) = (&f.conversations, &mut n.conversation_ids) {
            // The caller's reach, when it is bounded, intersected with what was asked
            // for, by id (an executive's filters come back as they were: the same names).
            let mut asked = BTreeSet::new();
            for name in wanted {
                asked.extend(archive.conversation_id_exact(name)?);
            }
            reach.retain(|c| asked.contains(c));
            n.conversations = None;
        }
        Ok(
            if n.conversations.as_ref().is_some_and(Vec::is_empty)
                || n.conversation_ids.as_ref().is_some_and(Vec::is_empty)
            {
                None
            } else {
                Some((n, all_visible))
            },
        )
    }

    /// Whether anything the caller may see could match these bounds: a conversation
    /// and a time range. A search wholly outside the caller's reach is refused (and
    /// audited) rather than answered empty.
    pub(crate) fn might_reach(
        &self,
        archive: &mut chatvault_archive::Archive,
        conversation: Option<&str>,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
    ) -> Result<bool> {
        let members: Option<Vec<Handle>> = match conversation {
            Some(c) => match archive.participants_of(c) {
                Ok(m) => Some(m.to_vec()),
                Err(ArchiveError::NotFound(_)) => return Ok(false),
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let (lo, hi) = (from_ms.unwrap_or(i64::MIN), to_ms.unwrap_or(i64::MAX));
        let within = conversation.zip(members.as_deref());
        Ok(self
            .reach(Right::View)
            .iter()
            .any(|p| p.might_reach(within, lo, hi, &self.org.directory)))
    }
}

/// A search as a caller sends it (the API's query string, the UI's form).
#[derive(Deserialize, Default, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    #[serde(default)]
    pub q: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub sender: Option<String>,
    pub conversation: Option<String>,
    pub platform: Option<String>,
    pub kind: Option<String>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

/// One page of a conversation.
#[derive(Deserialize, Default, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    pub offset: Option<u64>,
    pub limit: Option<u64>,
    /// A message id: the page is centred on it.
    pub around: Option<String>,
}

/// A case timeline's selection: the people (every handle an identity link joins to them
/// too) and conversations it follows, and its time range.
#[derive(Debug, Clone, Default)]
pub struct TimelineAsk {
    pub participants: Vec<Handle>,
    pub conversations: Vec<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub limit: usize,
    pub offset: usize,
}

/// A time bound a caller typed, in the deployment's zone.
fn bound(app: &App, s: &str, field: &str, end: End) -> Result<i64> {
    parse_bound(s, app.zone, end, field).map_err(|e| Error::bad_request(e.to_string()))
}

fn check_range(from_ms: Option<i64>, to_ms: Option<i64>) -> Result<()> {
    match (from_ms, to_ms) {
        (Some(f), Some(t)) if f > t => Err(Error::bad_request("`from` is after `to`")),
        _ => Ok(()),
    }
}

impl App {
    /// The reader for a signed-in `user`: its active grants, the organisation and the
    /// storage-only data in force. A role that reads no content and holds no grant is
    /// refused (`access.role`) and the refusal audited, `path` naming what was asked.
    pub fn reader(
        &self,
        user: &User,
        source: Option<String>,
        ip: Option<String>,
        path: &str,
    ) -> Result<Reader> {
        let reach = {
            let mut acc = self.access()?;
            UserReach::of(&mut acc, &self.config.policy(), user.subject())?
        };
        let r = Reader::new(reach, source, ip);
        if !r.role_reads() && r.grants.is_empty() {
            self.audit(
                r.event(Action::AccessDenied)
                    .result(Outcome::Denied)
                    .details(json!({
                        "reason": "role has no content and no active grant", "path": path,
                    })),
            )?;
            return Err(Error::forbidden(
                "access.role",
                format!(
                    "the {} role sees no content without an approved retrieval request",
                    r.subject.role.as_str()
                ),
            ));
        }
        Ok(r)
    }

    /// Audits a refusal of `r` and returns the error to send: the one answer for
    /// content outside the caller's reach, whether it exists or not.
    pub fn deny(&self, r: &Reader, target: &str, details: Value) -> Error {
        let ev = r
            .event(Action::AccessDenied)
            .target(target)
            .result(Outcome::Denied)
            .details(details);
        match self.audit(ev) {
            Ok(()) => Error::denied(),
            Err(e) => e,
        }
    }

    /// Audits a content read by `r` (and each grant it used).
    pub fn audit_read(
        &self,
        r: &Reader,
        action: Action,
        target: Option<&str>,
        details: Value,
        usage: &Usage,
    ) -> Result<()> {
        let events = crate::reach::read_events(&|a| r.event(a), action, target, details, usage);
        let mut acc = self.access()?;
        for ev in events {
            acc.audit(ev)?;
        }
        Ok(())
    }

    /// A search as the caller may see it, audited.
    pub fn search(&self, r: &Reader, p: &SearchParams) -> Result<Visible<SearchResponse>> {
        let from_ms = p
            .from
            .as_deref()
            .map(|s| bound(self, s, "from", End::From))
            .transpose()?;
        let to_ms =
            p.to.as_deref()
                .map(|s| bound(self, s, "to", End::To))
                .transpose()?;
        check_range(from_ms, to_ms)?;
        if let Some(k) = &p.kind {
            k.parse::<chatvault_model::MessageKind>()
                .map_err(|e| Error::bad_request(format!("kind: {e}")))?;
        }
        let limit = p.limit.unwrap_or(20).min(self.config.limits.max_page);
        let filters = Filters {
            from_ms,
            to_ms,
            sender: p.sender.clone(),
            conversation: p.conversation.clone(),
            platform: p.platform.clone(),
            kind: p.kind.clone(),
            conversations: None,
            conversation_ids: None,
        };
        // What is audited: the query (personal data masked), the filters and the count.
        let mut details = json!({
            "query": pii::mask(&p.q),
            "filters": {"from": p.from, "to": p.to, "sender": p.sender.as_deref().map(pii::mask), "conversation": p.conversation, "platform": p.platform, "kind": p.kind},
        });
        // The archive's lock is held to plan and to read the page, not while the index
        // counts: ingest and other readers go on meanwhile.
        let plan = {
            let mut a = self.archive()?;
            if !r.might_reach(&mut a, p.conversation.as_deref(), from_ms, to_ms)? {
                drop(a);
                return Err(self.deny(r, "search", details));
            }
            let (narrowed, all_visible) = r.narrow(&mut a, &filters)?;
            a.plan_visible(
                &p.q,
                &narrowed,
                limit,
                p.offset.unwrap_or(0),
                all_visible,
                r.personal_data(),
            )?
        };
        let found = plan.run()?;
        let mut usage = Usage::default();
        let found = self
            .archive()?
            .finish_visible(found, &mut r.rule(Right::View, &mut usage))?;
        details["total"] = json!(found.total);
        self.audit_read(r, Action::Search, None, details, &usage)?;
        Ok(found)
    }

    /// One page of a conversation as the caller may see it, audited, and how many of its
    /// messages were masked.
    pub fn conversation(
        &self,
        r: &Reader,
        id: &str,
        p: &PageParams,
    ) -> Result<(Visible<ConversationView>, u64)> {
        let limit = p
            .limit
            .unwrap_or(50)
            .min(self.config.limits.max_page as u64);
        let mut usage = Usage::default();
        let v = self.archive()?.conversation_visible(
            id,
            p.offset.unwrap_or(0),
            limit,
            p.around.as_deref(),
            &mut r.rule(Right::View, &mut usage),
        );
        match v {
            Ok(v) => {
                self.audit_read(r, Action::View, Some(&v.conversation), json!({"conversation": v.conversation, "shown": v.messages.len(), "total": v.total}), &usage)?;
                Ok((v, usage.masked))
            }
            Err(ArchiveError::NotFound(_)) => Err(self.deny(r, id, json!({"conversation": id}))),
            Err(e) => Err(e.into()),
        }
    }

    /// One message as the caller may see it, audited. A message that does not exist and
    /// one outside the reach get the same answer.
    pub fn message(&self, r: &Reader, id: &str) -> Result<Visible<StoredMessage>> {
        let mut usage = Usage::default();
        let v = self
            .archive()?
            .message_visible(id, &mut r.rule(Right::View, &mut usage));
        match v {
            Ok((m, _)) => {
                self.audit_read(
                    r,
                    Action::View,
                    Some(id),
                    json!({"message": id, "conversation": m.conversation}),
                    &usage,
                )?;
                Ok(m)
            }
            Err(ArchiveError::NotFound(_) | ArchiveError::Invalid { .. }) => {
                Err(self.deny(r, id, json!({"message": id})))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// An attachment's bytes, read under `right` (export to download, view to preview),
    /// audited.
    pub fn attachment(
        &self,
        r: &Reader,
        id: &str,
        sha: &str,
        right: Right,
    ) -> Result<(Visible<AttachmentRef>, Vec<u8>)> {
        let mut usage = Usage::default();
        let v = self
            .archive()?
            .attachment_visible(id, sha, &mut r.rule(right, &mut usage));
        let action = if right == Right::Export {
            Action::Export
        } else {
            Action::View
        };
        match v {
            Ok((att, bytes)) => {
                let Some(bytes) = bytes else {
                    return Err(Error::new("attachment.absent", "the export recorded this attachment by hash only; its bytes were never archived"));
                };
                self.audit_read(
                    r,
                    action,
                    Some(id),
                    json!({"message": id, "attachment": sha, "bytes": bytes.len()}),
                    &usage,
                )?;
                Ok((att, bytes))
            }
            Err(ArchiveError::NotFound(_) | ArchiveError::Invalid { .. }) => Err(self.deny(
                r,
                id,
                json!({"message": id, "attachment": sha, "right": right}),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// The handles of the people `given` names: those, and every handle an explicit
    /// identity link joins to them.
    pub fn linked(&self, given: &[Handle]) -> Result<Vec<Handle>> {
        if given.is_empty() {
            return Ok(vec![]);
        }
        let links = self.access()?.identity_links()?;
        Ok(chatvault_policy::retention::expand_linked(given, &links))
    }

    /// The conversations the people `given` took part in, identity links followed.
    pub fn conversations_of_people(&self, given: &[Handle]) -> Result<Vec<String>> {
        let handles = self.linked(given)?;
        Ok(self.archive()?.conversations_of(&handles)?)
    }

    /// A case timeline: the messages of the asked conversations and of every
    /// conversation the participants (and every handle an identity link joins to them)
    /// took part in, within the caller's reach, oldest first. Returns the total and one
    /// page. Audited as a search.
    pub fn timeline(
        &self,
        r: &Reader,
        ask: &TimelineAsk,
    ) -> Result<(u64, Vec<Visible<StoredMessage>>)> {
        check_range(ask.from_ms, ask.to_ms)?;
        let mut details = json!({
            "timeline": true,
            "participants": ask.participants.iter().map(|h| pii::mask(&format!("{}:{}", h.platform, h.id))).collect::<Vec<_>>(),
            "conversations": ask.conversations,
            "from_ms": ask.from_ms, "to_ms": ask.to_ms,
        });
        let participants = self.linked(&ask.participants)?;
        let mut a = self.archive()?;
        let mut wanted: BTreeSet<String> = ask.conversations.iter().cloned().collect();
        wanted.extend(a.conversations_of(&participants)?);
        let base = Filters {
            from_ms: ask.from_ms,
            to_ms: ask.to_ms,
            conversations: Some(wanted.into_iter().collect()),
            ..Filters::default()
        };
        let asked_for_some = base.conversations.as_ref().is_some_and(|c| !c.is_empty());
        let Some((narrowed, all_visible)) = r.narrow_within(&mut a, &base)? else {
            drop(a);
            // A selection wholly outside the caller's reach is refused, as a search of a
            // conversation outside it is: nothing says whether it exists. One that holds
            // no conversation at all (people who never wrote) is answered empty.
            if asked_for_some {
                return Err(self.deny(r, "timeline", details));
            }
            details["total"] = json!(0);
            self.audit_read(r, Action::Search, None, details, &Usage::default())?;
            return Ok((0, vec![]));
        };
        // The index orders newest first; a timeline reads oldest first, so the page is
        // taken from the end and reversed.
        let total = a
            .search_visible(
                "",
                &narrowed,
                1,
                0,
                all_visible,
                r.personal_data(),
                &mut r.rule(Right::View, &mut Usage::default()),
            )?
            .total as usize;
        let end = total.saturating_sub(ask.offset);
        let start = end.saturating_sub(ask.limit);
        let mut usage = Usage::default();
        let mut msgs = vec![];
        if end > 0 {
            let page = a.search_visible(
                "",
                &narrowed,
                end - start,
                start,
                all_visible,
                r.personal_data(),
                &mut r.rule(Right::View, &mut usage),
            )?;
            for h in page.hits.iter().rev() {
                // Each message is read again through the caller's rule, which masks every
                // field that may carry personal data (sender, name, attachments), not
                // only the text the hit carries. (The uses were counted by the search
                // above.)
                match a.message_visible(&h.id, &mut r.rule(Right::View, &mut Usage::default())) {
                    Ok((m, _)) => msgs.push(m),
                    Err(ArchiveError::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let total = total as u64;
        drop(a);
        details["total"] = json!(total);
        self.audit_read(r, Action::Search, None, details, &usage)?;
        Ok((total, msgs))
    }
}
