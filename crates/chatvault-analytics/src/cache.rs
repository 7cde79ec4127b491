//! `analytics.db`: the per-conversation summaries, kept so that reports need not decrypt
//! the archive. It is derived data, like the search index: rebuilt from the archive
//! whenever the lexicons or the calendar change or a deletion happened, and never the
//! source of truth. It holds no message text; keywords, topics and risk-word hits are
//! derived from text and are no more revealing than the search index beside it.

//!
//! The rows live behind `chatvault_store::summaries::SummaryStore` (SQLite's is
//! `chatvault_store_sqlite::SqliteSummaries`); this module packs a conversation's figures
//! into its row and reads them back.

use std::path::{Path, PathBuf};

use chatvault_store::summaries::{RiskRow, SummaryRow, SummaryStore, SummaryWrite};

use crate::content::{Content, Resolution, RiskHit};
use crate::metrics::Side;
use crate::{AnalyticsError, Result, Summary};

pub struct Cache {
    store: Box<dyn SummaryStore>,
    path: PathBuf,
}

/// Bumped whenever the layout changes: a cache of another version is dropped and rebuilt.
const VERSION: &str = "2";

/// A conversation's figures in one blob: a report over millions of conversations reads
/// one row each, not one per response (the row overhead of SQLite is what a report pays).
///
/// Layout (little-endian): end_ms i64, messages u32, positive u32, negative u32,
/// greeting u8, closing u8 (0 no, 1 yes, 2 none), resolution u8, last agent u8 (index
/// into the agent list, 255 none), then per response: start_ms i64, reply_ms i64,
/// business_ms i64 (i64::MIN for none), agent u8, first u8.
const HEAD: usize = 8 + 4 + 4 + 4 + 4;
const RESP: usize = 8 + 8 + 8 + 1 + 1;
const NONE: i64 = i64::MIN;

fn tri(b: Option<bool>) -> u8 {
    match b {
        Some(false) => 0,
        Some(true) => 1,
        None => 2,
    }
}

fn untri(b: u8) -> Option<bool> {
    match b {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

const RESOLUTIONS: [Resolution; 5] = [
    Resolution::Confirmed,
    Resolution::Silence,
    Resolution::Pending,
    Resolution::Unresolved,
    Resolution::NoCustomer,
];

/// The agents a conversation names (responses and the last agent), at most 255.
fn agent_list(s: &Summary) -> Vec<&str> {
    let mut v: Vec<&str> = vec![];
    for a in s
        .responses
        .iter()
        .filter_map(|r| r.agent.as_deref())
        .chain(s.last_agent.as_deref())
    {
        if !v.contains(&a) && v.len() < 255 {
            v.push(a);
        }
    }
    v
}

fn pack(s: &Summary, agents: &[&str]) -> Vec<u8> {
    let idx = |a: Option<&str>| {
        a.and_then(|a| agents.iter().position(|x| *x == a))
            .map_or(255u8, |i| i as u8)
    };
    let c = &s.content;
    let mut b = Vec::with_capacity(HEAD + RESP * s.responses.len());
    b.extend_from_slice(&s.end_ms.to_le_bytes());
    b.extend_from_slice(&(s.messages as u32).to_le_bytes());
    b.extend_from_slice(&c.positive.to_le_bytes());
    b.extend_from_slice(&c.negative.to_le_bytes());
    let res = RESOLUTIONS
        .iter()
        .position(|r| *r == c.resolution)
        .unwrap_or(4) as u8;
    b.extend_from_slice(&[
        tri(c.greeting),
        tri(c.closing),
        res,
        idx(s.last_agent.as_deref()),
    ]);
    for (r, biz) in s.responses.iter().zip(&s.business_ms) {
        b.extend_from_slice(&r.start_ms.to_le_bytes());
        b.extend_from_slice(&r.reply_ms.unwrap_or(NONE).to_le_bytes());
        b.extend_from_slice(&biz.unwrap_or(NONE).to_le_bytes());
        b.extend_from_slice(&[idx(r.agent.as_deref()), u8::from(r.first)]);
    }
    b
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    i64::from_le_bytes(x)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

fn side_str(s: Option<Side>) -> Option<&'static str> {
    s.map(|s| match s {
        Side::Customer => "customer",
        Side::Agent => "agent",
    })
}

fn side_of(s: Option<&str>) -> Option<Side> {
    match s {
        Some("customer") => Some(Side::Customer),
        Some("agent") => Some(Side::Agent),
        _ => None,
    }
}

/// One conversation as a report reads it back. Agents are indexes into
/// [`Window::agents`].
#[derive(Debug, Clone)]
pub struct ConvRow {
    pub key: String,
    pub platform: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub messages: u64,
    pub last_agent: Option<u32>,
    pub content: Content,
}

/// One customer turn and its response, as a report reads it back.
#[derive(Debug, Clone, Copy)]
pub struct RespRow {
    pub conv: u32,
    pub start_ms: i64,
    pub reply_ms: Option<i64>,
    pub agent: Option<u32>,
    pub first: bool,
    pub business_ms: Option<i64>,
}

impl RespRow {
    /// As [`crate::metrics::Response::millis`].
    pub fn millis(&self) -> Option<i64> {
        self.reply_ms.map(|r| (r - self.start_ms).max(0))
    }
}

/// What a report window holds: the conversations that started in it and their responses.
#[derive(Debug, Default)]
pub struct Window {
    pub conversations: Vec<ConvRow>,
    pub responses: Vec<RespRow>,
    /// Every agent the window names, once.
    pub agents: Vec<String>,
    /// Each agent's first message anywhere in the archive (same order as `agents`).
    pub agent_first_ms: Vec<Option<i64>>,
}

impl Window {
    pub fn agent(&self, i: u32) -> &str {
        &self.agents[i as usize]
    }
}

/// What a window loads beside the figures: topics and keywords are read only for the
/// topics report, risk hits only where a report uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    /// Topics and keywords.
    pub terms: bool,
    pub risks: bool,
}

impl Cache {
    /// Opens (creating when absent) the cache at `path`, the embedded SQLite one. A cache
    /// of another layout version is emptied and rebuilt by the next sync.
    pub fn open(path: &Path) -> Result<Cache> {
        let store = chatvault_store_sqlite::SqliteSummaries::open(path, VERSION)
            .map_err(|x| cache_error(path, &x))?;
        Ok(Cache {
            store: Box::new(store),
            path: path.to_owned(),
        })
    }

    fn e(&self, x: chatvault_store::StoreError) -> AnalyticsError {
        cache_error(&self.path, &x)
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.store.meta(key).map_err(|x| self.e(x))
    }

    /// Replaces the summaries of these conversations and sets the meta values, in one
    /// transaction: a crash leaves the cache as it was, and the next sync redoes it.
    pub fn store(
        &mut self,
        summaries: &[Summary],
        meta: &[(&str, String)],
        clear_first: bool,
    ) -> Result<()> {
        struct Owned {
            agents: String,
            packed: Vec<u8>,
            topics: String,
            terms: String,
        }
        let owned: Vec<Option<Owned>> = summaries
            .iter()
            .map(|s| {
                (s.messages > 0).then(|| {
                    let agents = agent_list(s);
                    Owned {
                        packed: pack(s, &agents),
                        agents: agents.join("\n"),
                        topics: s.content.topics.join("\n"),
                        terms: s.content.terms.join("\n"),
                    }
                })
            })
            .collect();
        let batch: Vec<SummaryWrite<'_>> = summaries
            .iter()
            .zip(&owned)
            .map(|(s, o)| SummaryWrite {
                key: &s.conversation,
                summary: o.as_ref().map(|o| {
                    (
                        SummaryRow {
                            key: &s.conversation,
                            platform: &s.platform,
                            start_ms: s.start_ms,
                            agents: &o.agents,
                            packed: &o.packed,
                            topics: &o.topics,
                            terms: &o.terms,
                        },
                        s.content
                            .risks
                            .iter()
                            .map(|k| RiskRow {
                                message: &k.message,
                                word: &k.word,
                                side: side_str(k.side),
                                sent_ms: k.sent_ms,
                            })
                            .collect(),
                    )
                }),
                agent_first_ms: if s.messages > 0 {
                    &s.agent_first_ms
                } else {
                    &[]
                },
            })
            .collect();
        self.store
            .write(&batch, meta, clear_first)
            .map_err(|x| self.e(x))
    }

    /// The conversations that started in `[from, to]` (optionally on one platform), with
    /// their responses, and (as `load` says) their keywords and risk hits.
    pub fn window(
        &self,
        from_ms: i64,
        to_ms: i64,
        platform: Option<&str>,
        load: Load,
    ) -> Result<Window> {
        let mut w = Window::default();
        let mut agent_ids: std::collections::HashMap<String, u32> =
            std::collections::HashMap::new();
        let mut ids = std::collections::HashMap::new();
        let mut local: Vec<u32> = vec![];
        let mut malformed: Option<String> = None;
        self.store
            .scan(from_ms, to_ms, platform, load.terms, &mut |row, r| {
                let b = r.packed;
                if b.len() < HEAD || (b.len() - HEAD) % RESP != 0 {
                    malformed = Some(r.key.to_owned());
                    return Err(chatvault_store::StoreError::Corrupt(String::new()));
                }
                local.clear();
                for a in r.agents.split('\n').filter(|a| !a.is_empty()) {
                    let id = match agent_ids.get(a) {
                        Some(id) => *id,
                        None => {
                            let id = w.agents.len() as u32;
                            w.agents.push(a.to_owned());
                            agent_ids.insert(a.to_owned(), id);
                            id
                        }
                    };
                    local.push(id);
                }
                let agent = |i: u8| (i != 255).then(|| local.get(i as usize).copied()).flatten();
                let conv = w.conversations.len() as u32;
                for k in 0..(b.len() - HEAD) / RESP {
                    let o = HEAD + k * RESP;
                    let opt = |v: i64| (v != NONE).then_some(v);
                    w.responses.push(RespRow {
                        conv,
                        start_ms: i64_at(b, o),
                        reply_ms: opt(i64_at(b, o + 8)),
                        business_ms: opt(i64_at(b, o + 16)),
                        agent: agent(b[o + 24]),
                        first: b[o + 25] == 1,
                    });
                }
                let split = |s: &str| {
                    if s.is_empty() {
                        vec![]
                    } else {
                        s.split('\n').map(str::to_owned).collect()
                    }
                };
                let content = Content {
                    topics: split(r.topics),
                    terms: split(r.terms),
                    greeting: untri(b[20]),
                    closing: untri(b[21]),
                    risks: vec![],
                    positive: u32_at(b, 12),
                    negative: u32_at(b, 16),
                    resolution: RESOLUTIONS
                        .get(b[22] as usize)
                        .copied()
                        .unwrap_or(Resolution::NoCustomer),
                };
                ids.insert(row, conv as usize);
                w.conversations.push(ConvRow {
                    platform: r.platform.to_owned(),
                    start_ms: r.start_ms,
                    end_ms: i64_at(b, 0),
                    messages: u32_at(b, 8) as u64,
                    last_agent: agent(b[23]),
                    content,
                    key: r.key.to_owned(),
                });
                Ok(())
            })
            .map_err(|x| match &malformed {
                Some(key) => AnalyticsError::Cache {
                    path: self.path.display().to_string(),
                    why: format!("{key}: a malformed summary (delete the file to rebuild it)"),
                },
                None => self.e(x),
            })?;
        if w.conversations.is_empty() {
            return Ok(w);
        }
        if load.risks {
            let lo = w.conversations[0].start_ms;
            self.store
                .risks_since(lo, &mut |conv, k| {
                    if let Some(conv) = ids.get(&conv).copied() {
                        w.conversations[conv].content.risks.push(RiskHit {
                            message: k.message.to_owned(),
                            word: k.word.to_owned(),
                            side: side_of(k.side),
                            sent_ms: k.sent_ms,
                        });
                    }
                    Ok(())
                })
                .map_err(|x| self.e(x))?;
        }
        for a in &w.agents {
            w.agent_first_ms
                .push(self.store.agent_first_ms(a).map_err(|x| self.e(x))?);
        }
        Ok(w)
    }
}

/// A store error as the cache reports it: the file and what was wrong.
fn cache_error(path: &Path, x: &chatvault_store::StoreError) -> AnalyticsError {
    // The backend's own words when it has them (the path is the cache's already).
    let why = match std::error::Error::source(x) {
        Some(cause) => cause.to_string(),
        None => x.to_string(),
    };
    AnalyticsError::Cache {
        path: path.display().to_string(),
        why,
    }
}
