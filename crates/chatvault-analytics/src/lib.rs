//! Service quality and timeliness, computed from the raw message stream with no ticket
//! system: turns and response times (`metrics`), business hours (`calendar`), content
//! (`content`: topics, keywords, scripts, risk words, sentiment, resolution), one summary
//! per conversation (`summarise`), the derived cache that keeps those summaries
//! (`cache`), the reports over them (`report`), and the live SLA monitor (`monitor`). Definitions: `docs/metrics.md`.
//!
//! The crate reads no archive: the caller streams each conversation's messages in, in
//! order. Summaries hold no message text, only what was derived from it (topics,
//! keywords, risk-word hits naming the message).

pub mod cache;
pub mod calendar;
pub mod content;
pub mod metrics;
pub mod monitor;
pub mod report;
pub mod settings;

use serde::{Deserialize, Serialize};

pub use calendar::Calendar;
pub use content::{Content, Lexicons, Resolution};
pub use metrics::{Msg, Response, Side};
pub use settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    #[error("config: {0}")]
    Config(String),
    #[error("{path}: {why}")]
    Cache { path: String, why: String },
    #[error("{0}")]
    Invalid(String),
}

impl AnalyticsError {
    pub fn code(&self) -> &'static str {
        match self {
            AnalyticsError::Config(_) => "config.invalid",
            AnalyticsError::Cache { .. } => "analytics.cache",
            AnalyticsError::Invalid(_) => "input.invalid",
        }
    }
}

pub type Result<T, E = AnalyticsError> = std::result::Result<T, E>;

/// Everything the reports need of one conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub conversation: String,
    pub platform: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub messages: u64,
    pub responses: Vec<Response>,
    /// The business-hours milliseconds of each response (same order); `None` unanswered.
    pub business_ms: Vec<Option<i64>>,
    /// The agent who spoke last (breaches of an unanswered turn are theirs).
    pub last_agent: Option<String>,
    /// Each agent's first message in this conversation.
    pub agent_first_ms: Vec<(String, i64)>,
    pub content: Content,
}

/// Summarises one conversation from its messages in order (sent time, then arrival).
pub fn summarise(
    conversation: &str,
    platform: &str,
    msgs: &[Msg<'_>],
    cal: &Calendar,
    lex: &Lexicons,
    as_of_ms: i64,
) -> Summary {
    let turns = metrics::turns(msgs);
    let responses = metrics::responses(&turns);
    let business_ms = responses
        .iter()
        .map(|r| r.reply_ms.map(|to| cal.business_ms(r.start_ms, to)))
        .collect();
    let mut agent_first_ms: Vec<(String, i64)> = vec![];
    for m in msgs.iter().filter(|m| m.side == Some(Side::Agent)) {
        if !agent_first_ms.iter().any(|(a, _)| a == m.sender) {
            agent_first_ms.push((m.sender.to_owned(), m.sent_ms));
        }
    }
    Summary {
        conversation: conversation.to_owned(),
        platform: platform.to_owned(),
        start_ms: msgs.first().map_or(0, |m| m.sent_ms),
        end_ms: msgs.last().map_or(0, |m| m.sent_ms),
        messages: msgs.len() as u64,
        business_ms,
        last_agent: turns
            .iter()
            .rev()
            .find(|t| t.side == Side::Agent)
            .map(|t| t.sender.clone()),
        agent_first_ms,
        content: content::analyse(msgs, lex, as_of_ms, true),
        responses,
    }
}
