//! Streaming reads for exports: every message of a selection that a rule shows, in time
//! order, one at a time, in bounded memory.

use chatvault_index::{Filters, Query};
use chatvault_model::normalize::normalize;
use chatvault_model::StoredMessage;

use crate::services::{mask_message, Visibility, VisibleRule};
use crate::{Archive, ArchiveError, Result};

/// What to export.
pub enum Selection<'a> {
    /// One conversation, `platform:id`.
    Conversation(&'a str),
    /// Every message matching a query (the search syntax) and filters.
    Query {
        query: &'a str,
        filters: &'a Filters,
    },
}

/// Counts of one streamed export.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct StreamCounts {
    pub shown: u64,
    pub masked: u64,
    /// Matched but outside the rule (not exported).
    pub hidden: u64,
}

const PAGE: u64 = 2048;

impl Archive {
    /// Calls `each` with every message of the selection the rule shows (masked when it
    /// says so), oldest first. A conversation is read page by page; a query's matches are
    /// ordered by time from their rows (no decryption) first, then read one by one.
    pub fn stream_visible(
        &mut self,
        sel: &Selection<'_>,
        rule: &mut VisibleRule<'_>,
        each: &mut dyn FnMut(crate::Visible<StoredMessage>) -> Result<()>,
    ) -> Result<StreamCounts> {
        self.sync_deleted()?;
        let mut counts = StreamCounts::default();
        let mut emit = |a: &mut Archive,
                        mut m: StoredMessage,
                        counts: &mut StreamCounts,
                        rule: &mut VisibleRule<'_>|
         -> Result<()> {
            let members = a.members_of_view(&m)?;
            match rule(&m, &members) {
                Visibility::Hidden => counts.hidden += 1,
                v => {
                    if v == Visibility::Masked {
                        mask_message(&mut m);
                        counts.masked += 1;
                    }
                    counts.shown += 1;
                    each(crate::Visible::new(m))?;
                }
            }
            Ok(())
        };
        match sel {
            Selection::Conversation(key) => {
                let id = self.conversation_id(key)?;
                let mut after = None;
                loop {
                    let rows = self.store.conversation_messages_after(id, after, PAGE)?;
                    let Some(last) = rows.last() else { break };
                    after = Some((last.sent_at_ms, last.seq));
                    for r in &rows {
                        if self.is_deleted(r.seq)? {
                            continue;
                        }
                        let m = self.message_view(r)?;
                        emit(self, m, &mut counts, rule)?;
                    }
                }
            }
            Selection::Query { query, filters } => {
                let q = Query::parse(query)?;
                let seqs = self.matching_seqs(query, filters)?;
                let mut order: Vec<(i64, u64)> = Vec::with_capacity(seqs.len());
                for s in seqs {
                    let row = self.store.message_by_seq(s)?.ok_or_else(|| {
                        ArchiveError::Corrupt(format!(
                            "the index names message seq {s}, which the store lacks"
                        ))
                    })?;
                    order.push((row.sent_at_ms, s));
                }
                order.sort_unstable();
                for (_, s) in order {
                    let m = self.view_seq(s)?;
                    // `matching_seqs` is exact; the check is cheap insurance against a lagging index.
                    if !q.matches(&normalize(m.text.as_deref().unwrap_or_default())) {
                        continue;
                    }
                    emit(self, m, &mut counts, rule)?;
                }
            }
        }
        Ok(counts)
    }
}
