//! The report cache's storage (`analytics.db` on SQLite): one row per conversation with
//! its figures packed by `chatvault-analytics`, its risk-word hits, and each agent's
//! first message. Derived data, rebuilt from the archive whenever its inputs change; the
//! store keeps rows and never reads what the packed figures say.

use crate::Result;

/// One conversation's summary as stored. `agents`, `topics` and `terms` are lists joined
/// by newlines; `packed` is the analytics crate's encoding of the figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SummaryRow<'a> {
    pub key: &'a str,
    pub platform: &'a str,
    pub start_ms: i64,
    pub agents: &'a str,
    pub packed: &'a [u8],
    pub topics: &'a str,
    pub terms: &'a str,
}

/// A risk word found in one message of a conversation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RiskRow<'a> {
    pub message: &'a str,
    pub word: &'a str,
    /// `customer`, `agent`, or unknown.
    pub side: Option<&'a str>,
    pub sent_ms: i64,
}

/// What one conversation's sync writes: its summary and risk hits (none when the
/// conversation has no message left: its row goes), and its agents' first messages.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryWrite<'a> {
    pub key: &'a str,
    pub summary: Option<(SummaryRow<'a>, Vec<RiskRow<'a>>)>,
    /// Each agent's first message in this conversation; the store keeps the earliest
    /// over all conversations.
    pub agent_first_ms: &'a [(String, i64)],
}

/// The report cache's store. Rows are identified to readers by a number that is stable
/// for one scan and the risk scan after it ([`SummaryStore::scan`]'s `row`).
pub trait SummaryStore: Send {
    fn meta(&self, key: &str) -> Result<Option<String>>;
    /// Writes these conversations (each replacing the row it had) and sets the meta
    /// values, in one transaction; with `clear_first`, every row goes first.
    fn write(
        &mut self,
        batch: &[SummaryWrite<'_>],
        meta: &[(&str, String)],
        clear_first: bool,
    ) -> Result<()>;
    /// Calls `each` with the conversations that started in `[from_ms, to_ms]` (on one
    /// platform when given), oldest first. Without `terms`, topics and terms are empty.
    fn scan(
        &self,
        from_ms: i64,
        to_ms: i64,
        platform: Option<&str>,
        terms: bool,
        each: &mut dyn FnMut(i64, SummaryRow<'_>) -> Result<()>,
    ) -> Result<()>;
    /// Calls `each` with every risk hit sent at or after `from_ms`, with its
    /// conversation's row number.
    fn risks_since(
        &self,
        from_ms: i64,
        each: &mut dyn FnMut(i64, RiskRow<'_>) -> Result<()>,
    ) -> Result<()>;
    /// An agent's first message anywhere in the archive.
    fn agent_first_ms(&self, agent: &str) -> Result<Option<i64>>;
}
