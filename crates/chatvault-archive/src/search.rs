//! Search: the index finds, the store supplies, snippets show where.

use chatvault_index::{Filters, IndexHits, Query, Snapshot, TextView};
use chatvault_model::normalize::{normalize, Normalized};
use chatvault_model::{MessageKind, SenderRole, StoredMessage};
use serde::Serialize;

use crate::{Archive, ArchiveError, Result};

/// Characters of context before the first hit in a snippet.
const BEFORE: usize = 30;
/// Longest snippet, in characters.
const SNIPPET: usize = 120;

/// One search hit. `snippet` is plain text; `highlights` are `[start, end)` character
/// offsets into it (Unicode scalar values), so every renderer escapes the text itself.
#[derive(Debug, Serialize)]
pub struct SearchHit {
    pub id: String,
    pub conversation: String,
    pub platform: String,
    /// Display name when the source gave one, else the handle.
    pub sender: String,
    pub sender_id: String,
    pub sender_role: SenderRole,
    pub sent_at: String,
    pub kind: MessageKind,
    pub text: String,
    pub snippet: String,
    pub highlights: Vec<[usize; 2]>,
}

#[derive(Debug, Serialize)]
pub struct SearchResponse {
    /// Every match, whatever the limit.
    pub total: u64,
    pub hits: Vec<SearchHit>,
    /// Messages stored but not yet searchable (an import is running in another process).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_lag: Option<u64>,
}

/// A search between its two holds of the archive. [`Archive::plan_search`] (or
/// `plan_visible`) takes it under the archive's lock; [`SearchPlan::run`] asks the index
/// without any lock, on the generation the plan saw; `finish_search` (or
/// `finish_visible`) reads and judges the page under the lock again. Counting a common
/// keyword's matches grows with the archive, so ingest must not wait for it.
pub struct SearchPlan {
    pub(crate) q: Query,
    pub(crate) filters: Filters,
    pub(crate) limit: usize,
    pub(crate) offset: usize,
    pub(crate) lag: u64,
    /// The deletions' change counter when the plan was made (as its `sync_deleted` read it).
    pub(crate) gen: Option<Option<u64>>,
    pub(crate) snapshot: Snapshot,
    pub(crate) ask: Ask,
    /// Whether the finish asks a visibility rule about each message.
    pub(crate) ruled: bool,
    /// A keyword that could fall inside personal data is matched against masked text.
    pub(crate) pii_check: bool,
    /// The text the index matches: as stored, or masked (a reader who sees no personal
    /// data anywhere).
    pub(crate) view: TextView,
}

/// What a plan asks the index.
pub(crate) enum Ask {
    /// Nothing can match (an empty conversation list).
    Nothing,
    /// One page, newest first, and the count.
    Page,
    /// Every match, for the rule to judge; `positive_only` drops negated keywords (they
    /// are checked against the text the reader sees).
    All { positive_only: bool },
}

/// A plan with the index's answer, ready to finish under the archive's lock.
pub struct SearchFound {
    pub(crate) plan: SearchPlan,
    pub(crate) found: Found,
}

pub(crate) enum Found {
    Nothing,
    Page(IndexHits),
    All { exact: bool, seqs: Vec<u64> },
}

impl SearchPlan {
    /// Runs the index query. Holds no lock of the archive's: call it after releasing one.
    pub fn run(self) -> Result<SearchFound> {
        let found = match self.ask {
            Ask::Nothing => Found::Nothing,
            Ask::Page => Found::Page(self.snapshot.search(
                &self.q,
                &self.filters,
                self.view,
                self.limit,
                self.offset,
            )?),
            Ask::All { positive_only } => {
                let (exact, seqs) = if positive_only {
                    let (_, seqs) =
                        self.snapshot
                            .search_all(&self.q.positive(), &self.filters, self.view)?;
                    (false, seqs)
                } else {
                    self.snapshot
                        .search_all(&self.q, &self.filters, self.view)?
                };
                Found::All { exact, seqs }
            }
        };
        Ok(SearchFound { plan: self, found })
    }
}

impl Archive {
    /// Search with no visibility rule (the CLI, which holds the archive's key).
    pub fn search(
        &mut self,
        query: &str,
        filters: &Filters,
        limit: usize,
        offset: usize,
    ) -> Result<SearchResponse> {
        let plan = self.plan_search(query, filters, limit, offset)?;
        let found = plan.run()?;
        self.finish_search(found)
    }

    /// The first step of [`Self::search`], under the archive's lock.
    pub fn plan_search(
        &mut self,
        query: &str,
        filters: &Filters,
        limit: usize,
        offset: usize,
    ) -> Result<SearchPlan> {
        let q = Query::parse(query)?;
        self.plan(
            q,
            filters,
            limit,
            offset,
            Ask::Page,
            false,
            false,
            TextView::Stored,
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn plan(
        &mut self,
        q: Query,
        filters: &Filters,
        limit: usize,
        offset: usize,
        ask: Ask,
        ruled: bool,
        pii_check: bool,
        view: TextView,
    ) -> Result<SearchPlan> {
        let lag = self.catch_up_for_search()?;
        self.sync_deleted()?;
        Ok(SearchPlan {
            q,
            filters: filters.clone(),
            limit: limit.min(crate::MAX_PAGE as usize),
            offset: offset.min(crate::MAX_OFFSET as usize),
            lag,
            gen: self.deleted_gen,
            snapshot: self.index.snapshot(),
            ask,
            ruled,
            pii_check,
            view,
        })
    }

    /// The last step of [`Self::search`], under the archive's lock.
    pub fn finish_search(&mut self, found: SearchFound) -> Result<SearchResponse> {
        self.finish_rule(found, &mut |_, _| crate::Visibility::Full)
    }

    /// Reads one page the index found, newest first, and the count: deleted messages
    /// (the index may lag a deletion) are left out of both; candidates are checked
    /// against the text as `view` reads it.
    pub(crate) fn read_page(
        &mut self,
        q: &Query,
        view: TextView,
        hits: IndexHits,
        limit: usize,
        offset: usize,
    ) -> Result<(u64, Vec<StoredMessage>)> {
        Ok(match hits {
            IndexHits::Exact { total, page } => {
                let mut views = Vec::with_capacity(page.len());
                let mut stale = 0;
                for (s, _) in page {
                    // The index may lag a deletion by a crash; the store decides.
                    if self.is_deleted(s)? {
                        stale += 1;
                        continue;
                    }
                    views.push(self.view_seq(s)?);
                }
                (total.saturating_sub(stale), views)
            }
            IndexHits::Candidates(mut c) => {
                c.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
                let mut total = 0u64;
                let mut page = vec![];
                for (seq, _) in c {
                    if self.is_deleted(seq)? {
                        continue;
                    }
                    let m = self.view_seq(seq)?;
                    let raw = m.text.as_deref().unwrap_or_default();
                    let read = match view {
                        TextView::Stored => normalize(raw),
                        TextView::Masked => normalize(&chatvault_model::pii::mask(raw)),
                    };
                    if q.matches(&read) {
                        // Keep only the page's messages; count the rest.
                        if total >= offset as u64 && page.len() < limit {
                            page.push(m);
                        }
                        total += 1;
                    }
                }
                (total, page)
            }
        })
    }

    /// The sequence numbers of every message matching a query (unordered). For checks and
    /// benchmarks that compare whole result sets; callers showing results use [`Self::search`].
    pub fn matching_seqs(&mut self, query: &str, filters: &Filters) -> Result<Vec<u64>> {
        let q = Query::parse(query)?;
        self.sync_deleted()?;
        let (exact, seqs) = self.index.search_all(&q, filters)?;
        if exact {
            let mut out = Vec::with_capacity(seqs.len());
            for s in seqs {
                if !self.is_deleted(s)? {
                    out.push(s);
                }
            }
            return Ok(out);
        }
        let mut kept = vec![];
        for seq in seqs {
            if self.is_deleted(seq)? {
                continue;
            }
            if q.matches(&normalize(
                self.view_seq(seq)?.text.as_deref().unwrap_or_default(),
            )) {
                kept.push(seq);
            }
        }
        Ok(kept)
    }

    /// Indexes what is stored but not yet searchable when no other process is writing;
    /// returns how many messages remain unsearchable.
    pub(crate) fn catch_up_for_search(&mut self) -> Result<u64> {
        let size = self.store.log_size()?;
        let lag = size.saturating_sub(self.index.indexed_upto()?);
        if lag > 0 && self.write_lock.is_none() {
            match self.lock_for_writing() {
                Ok(()) => return Ok(0),
                Err(ArchiveError::Locked(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(lag)
    }

    pub(crate) fn view_seq(&mut self, seq: u64) -> Result<StoredMessage> {
        let row = self.store.message_by_seq(seq)?.ok_or_else(|| {
            ArchiveError::Corrupt(format!(
                "the index names message seq {seq}, which the store lacks"
            ))
        })?;
        self.message_view(&row)
    }
}

pub(crate) fn hit(
    m: StoredMessage,
    text: String,
    snippet: String,
    highlights: Vec<[usize; 2]>,
) -> SearchHit {
    SearchHit {
        id: m.id,
        conversation: m.conversation,
        platform: m.platform.to_string(),
        sender: m.sender_name.clone().unwrap_or_else(|| m.sender.clone()),
        sender_id: m.sender,
        sender_role: m.sender_role,
        sent_at: m.sent_at,
        kind: m.kind,
        text,
        snippet,
        highlights,
    }
}

/// A window of `text` around the first hit of any term, with every hit in it marked.
pub fn snippet(text: &str, terms: &[&str]) -> (String, Vec<[usize; 2]>) {
    let n = Normalized::new(text);
    // Byte ranges of hits, in the text we show.
    let (shown, mut ranges): (&str, Vec<(usize, usize)>) = {
        let mut found = vec![];
        for t in terms.iter().filter(|t| !t.is_empty()) {
            let mut from = 0;
            while let Some(i) = n.text[from..].find(t) {
                found.push((from + i, from + i + t.len()));
                from += i + t.len().max(1);
            }
        }
        if n.exact {
            (
                text,
                found
                    .into_iter()
                    .filter_map(|(a, b)| n.original_range(a, b))
                    .collect(),
            )
        } else {
            (&n.text, found)
        }
    };
    ranges.sort_unstable();
    // Byte offset of each character, plus the end.
    let starts: Vec<usize> = shown
        .char_indices()
        .map(|(i, _)| i)
        .chain([shown.len()])
        .collect();
    let char_at = |byte: usize| starts.partition_point(|&s| s < byte);
    let total_chars = starts.len() - 1;
    let first = ranges.first().map_or(0, |r| char_at(r.0));
    let start = first.saturating_sub(BEFORE);
    let end = (start + SNIPPET).min(total_chars);
    let prefix = if start > 0 { "…" } else { "" };
    let suffix = if end < total_chars { "…" } else { "" };
    let body = &shown[starts[start]..starts[end]];
    let shift = prefix.chars().count();
    let mut highlights: Vec<[usize; 2]> = vec![];
    for (a, b) in ranges {
        let (ca, cb) = (char_at(a), char_at(b));
        if ca >= start && cb <= end && ca < cb {
            let r = [ca - start + shift, cb - start + shift];
            match highlights.last_mut() {
                Some(last) if r[0] <= last[1] => last[1] = last[1].max(r[1]),
                _ => highlights.push(r),
            }
        }
    }
    (format!("{prefix}{body}{suffix}"), highlights)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(text: &str, terms: &[&str]) -> String {
        let (s, h) = snippet(text, terms);
        let chars: Vec<char> = s.chars().collect();
        let mut out = String::new();
        for (i, c) in chars.iter().enumerate() {
            if h.iter().any(|r| r[0] == i) {
                out.push('[');
            }
            out.push(*c);
            if h.iter().any(|r| r[1] == i + 1) {
                out.push(']');
            }
        }
        out
    }

    #[test]
    fn snippet_table() {
        let long = format!("{}退款{}", "前".repeat(50), "后".repeat(200));
        let cases: Vec<(&str, &str, Vec<&str>, String)> = vec![
            ("simple", "我要退款", vec!["退款"], "我要[退款]".into()),
            (
                "two_terms_merge",
                "安装简单",
                vec!["安装", "简单"],
                "[安装简单]".into(),
            ),
            (
                "fullwidth_original_is_shown",
                "ＡＢＣ退款",
                vec!["abc"],
                "[ＡＢＣ]退款".into(),
            ),
            (
                "case",
                "Refund please",
                vec!["refund"],
                "[Refund] please".into(),
            ),
            ("no_terms", "hello", vec![], "hello".into()),
            ("repeated", "退款退款", vec!["退款"], "[退款退款]".into()),
            (
                "windowed",
                long.as_str(),
                vec!["退款"],
                format!("…{}[退款]{}…", "前".repeat(30), "后".repeat(88)),
            ),
        ];
        for (name, text, terms, want) in cases {
            assert_eq!(marked(text, &terms), want, "{name}");
        }
    }
}
