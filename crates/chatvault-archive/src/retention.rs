//! The retention plan: every message's verdict under the policies, tag rules and legal
//! holds (`chatvault_policy::retention` decides), computed from the store. The plan is a
//! dry run: it changes nothing.

use chatvault_model::normalize::normalize;
use chatvault_policy::retention::{
    evaluate, tags_for, LegalHold, MessageMeta, RetentionPolicy, TagRule, Verdict,
};
use chatvault_store::MessageRow;
use serde::Serialize;

use crate::{Archive, Result};

/// The rules a plan applies. `manual_tags(message id, conversation)` gives the tags set
/// by hand.
pub struct RetentionRules<'a> {
    pub policies: &'a [RetentionPolicy],
    pub tag_rules: &'a [TagRule],
    pub holds: &'a [LegalHold],
    pub manual_tags: &'a dyn Fn(&str, &str) -> Vec<String>,
}

/// One message's place in the plan.
#[derive(Debug, Serialize)]
pub struct PlanEntry {
    pub id: String,
    pub conversation: String,
    pub sent_at_ms: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// Counts over the whole plan.
#[derive(Debug, Default, Serialize)]
pub struct PlanSummary {
    pub messages: u64,
    pub expired: u64,
    pub held: u64,
    pub kept: u64,
    /// Messages already deleted (recoverable) or purged: not decided again.
    pub deleted: u64,
    /// Expired messages per policy.
    pub expired_by_policy: std::collections::BTreeMap<String, u64>,
    /// Held messages per hold.
    pub held_by_hold: std::collections::BTreeMap<String, u64>,
}

const BATCH: usize = 4096;

impl Archive {
    /// Decides every message at `now_ms`, oldest first, calling `each` with its entry.
    /// Content is decrypted only when a tag rule or a hold's keywords need it.
    pub fn retention_plan(
        &mut self,
        rules: &RetentionRules<'_>,
        now_ms: i64,
        each: &mut dyn FnMut(PlanEntry) -> Result<()>,
    ) -> Result<PlanSummary> {
        let need_text = !rules.tag_rules.is_empty()
            || rules
                .holds
                .iter()
                .any(|h| h.active() && !h.scope.keywords.is_empty());
        let mut summary = PlanSummary::default();
        self.sync_deleted()?;
        let mut next = 0u64;
        loop {
            let mut rows: Vec<MessageRow> = Vec::with_capacity(BATCH);
            self.store.scan_messages(next, &mut |r| {
                rows.push(r);
                Ok(rows.len() < BATCH)
            })?;
            let Some(last) = rows.last() else { break };
            next = last.seq + 1;
            for row in &rows {
                summary.messages += 1;
                if self.is_deleted(row.seq)? {
                    summary.deleted += 1;
                    continue;
                }
                let entry = self.plan_entry(row, rules, need_text, now_ms)?;
                match &entry.verdict {
                    Verdict::Expired { policy, .. } => {
                        summary.expired += 1;
                        *summary.expired_by_policy.entry(policy.clone()).or_default() += 1;
                    }
                    Verdict::Held { holds, .. } => {
                        summary.held += 1;
                        for h in holds {
                            *summary.held_by_hold.entry(h.clone()).or_default() += 1;
                        }
                    }
                    Verdict::Keep { .. } => summary.kept += 1,
                }
                each(entry)?;
            }
        }
        Ok(summary)
    }

    fn plan_entry(
        &mut self,
        row: &MessageRow,
        rules: &RetentionRules<'_>,
        need_text: bool,
        now_ms: i64,
    ) -> Result<PlanEntry> {
        let conv = self.conversation(row.conversation)?;
        let conversation = format!("{}:{}", conv.platform, conv.external_id);
        let platform = conv.platform.clone();
        let id = ulid::Ulid::from_bytes(row.id).to_string();
        let text = if need_text && row.body.is_some() {
            let m = self.message_view(row)?;
            m.text.as_deref().map(normalize)
        } else {
            None
        };
        let stored: Vec<String> = row
            .tags
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        let tags = tags_for(
            &stored,
            &(rules.manual_tags)(&id, &conversation),
            rules.tag_rules,
            text.as_deref(),
        );
        let members = self.members(row.conversation)?;
        let meta = MessageMeta {
            platform: &platform,
            conversation: &conversation,
            participants: &members,
            sent_at_ms: row.sent_at_ms,
            tags: &tags,
        };
        let verdict = evaluate(&meta, text.as_deref(), rules.policies, rules.holds, now_ms);
        Ok(PlanEntry {
            id,
            conversation,
            sent_at_ms: row.sent_at_ms,
            tags,
            verdict,
        })
    }
}

impl Archive {
    /// Which of these messages an active legal hold covers (their ids, with the holds).
    pub fn held_by(
        &mut self,
        ids: &[String],
        holds: &[LegalHold],
    ) -> Result<Vec<(String, Vec<String>)>> {
        let active: Vec<&LegalHold> = holds.iter().filter(|h| h.active()).collect();
        if active.is_empty() {
            return Ok(vec![]);
        }
        let need_text = active.iter().any(|h| !h.scope.keywords.is_empty());
        let mut out = vec![];
        for id in ids {
            let row = self.message_row(id)?;
            let conv = self.conversation(row.conversation)?;
            let conversation = format!("{}:{}", conv.platform, conv.external_id);
            let platform = conv.platform.clone();
            let text = if need_text && row.body.is_some() {
                self.message_view(&row)?.text.as_deref().map(normalize)
            } else {
                None
            };
            let members = self.members(row.conversation)?;
            let meta = MessageMeta {
                platform: &platform,
                conversation: &conversation,
                participants: &members,
                sent_at_ms: row.sent_at_ms,
                tags: &[],
            };
            let by: Vec<String> = active
                .iter()
                .filter(|h| h.covers(&meta, text.as_deref()))
                .map(|h| h.id.clone())
                .collect();
            if !by.is_empty() {
                out.push((id.clone(), by));
            }
        }
        Ok(out)
    }
}
