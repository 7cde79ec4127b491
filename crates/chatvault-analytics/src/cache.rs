//! `analytics.db`: the per-conversation summaries, kept so that reports need not decrypt
//! the archive. It is derived data, like the search index: rebuilt from the archive
//! whenever the lexicons or the calendar change or a deletion happened, and never the
//! source of truth. It holds no message text; keywords, topics and risk-word hits are
//! derived from text and are no more revealing than the search index beside it.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use crate::content::{Content, Resolution, RiskHit};
use crate::metrics::Side;
use crate::{AnalyticsError, Result, Summary};

pub struct Cache {
    conn: Connection,
    path: PathBuf,
}

/// Bumped whenever the layout changes: a cache of another version is dropped and rebuilt.
const VERSION: &str = "2";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS conversations(
  id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, platform TEXT NOT NULL, start_ms INTEGER NOT NULL,
  agents TEXT NOT NULL, packed BLOB NOT NULL, topics TEXT NOT NULL, terms TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS conversations_start ON conversations(start_ms);
CREATE TABLE IF NOT EXISTS risks(conv INTEGER NOT NULL, message TEXT NOT NULL, word TEXT NOT NULL, side TEXT, sent_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS risks_conv ON risks(conv);
CREATE TABLE IF NOT EXISTS agents(agent TEXT PRIMARY KEY, first_ms INTEGER NOT NULL);
";

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

fn side_of(s: Option<String>) -> Option<Side> {
    match s.as_deref() {
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
    pub fn open(path: &Path) -> Result<Cache> {
        let e = |why: String| AnalyticsError::Cache {
            path: path.display().to_string(),
            why,
        };
        let conn = Connection::open(path).map_err(|x| e(x.to_string()))?;
        // Cached statements stay compiled (see chatvault-store's `configure`).
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(|x| e(x.to_string()))?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
            .map_err(|x| e(x.to_string()))?;
        conn.execute_batch(SCHEMA).map_err(|x| e(x.to_string()))?;
        let version: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'version'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|x| e(x.to_string()))?;
        if version.as_deref() != Some(VERSION) {
            // Another layout: derived data, so drop it; the next sync rebuilds everything.
            conn.execute_batch("DROP TABLE IF EXISTS conversations; DROP TABLE IF EXISTS responses; DROP TABLE IF EXISTS risks; DROP TABLE IF EXISTS agents; DROP TABLE IF EXISTS agent_first; DELETE FROM meta;")
                .map_err(|x| e(x.to_string()))?;
            conn.execute_batch(SCHEMA).map_err(|x| e(x.to_string()))?;
            conn.execute("INSERT INTO meta VALUES ('version', ?1)", [VERSION])
                .map_err(|x| e(x.to_string()))?;
        }
        Ok(Cache {
            conn,
            path: path.to_owned(),
        })
    }

    fn e(&self, x: rusqlite::Error) -> AnalyticsError {
        AnalyticsError::Cache {
            path: self.path.display().to_string(),
            why: x.to_string(),
        }
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|x| self.e(x))
    }

    /// Replaces the summaries of these conversations and sets the meta values, in one
    /// transaction: a crash leaves the cache as it was, and the next sync redoes it.
    pub fn store(
        &mut self,
        summaries: &[Summary],
        meta: &[(&str, String)],
        clear_first: bool,
    ) -> Result<()> {
        let path = self.path.display().to_string();
        let e = |x: rusqlite::Error| AnalyticsError::Cache {
            path: path.clone(),
            why: x.to_string(),
        };
        let tx = self.conn.transaction().map_err(e)?;
        if clear_first {
            tx.execute_batch("DELETE FROM conversations; DELETE FROM risks; DELETE FROM agents;")
                .map_err(e)?;
        }
        {
            let mut find = tx
                .prepare_cached("SELECT id FROM conversations WHERE key = ?1")
                .map_err(e)?;
            let mut del = tx
                .prepare_cached("DELETE FROM conversations WHERE id = ?1")
                .map_err(e)?;
            let mut del_k = tx
                .prepare_cached("DELETE FROM risks WHERE conv = ?1")
                .map_err(e)?;
            let mut ins = tx.prepare_cached("INSERT INTO conversations(key, platform, start_ms, agents, packed, topics, terms) VALUES (?1,?2,?3,?4,?5,?6,?7)").map_err(e)?;
            let mut ins_k = tx
                .prepare_cached("INSERT INTO risks VALUES (?1,?2,?3,?4,?5)")
                .map_err(e)?;
            let mut ins_a = tx.prepare_cached("INSERT INTO agents VALUES (?1,?2) ON CONFLICT(agent) DO UPDATE SET first_ms = min(first_ms, excluded.first_ms)").map_err(e)?;
            for s in summaries {
                if !clear_first {
                    if let Some(id) = find
                        .query_row([&s.conversation], |r| r.get::<_, i64>(0))
                        .optional()
                        .map_err(e)?
                    {
                        del.execute([id]).map_err(e)?;
                        del_k.execute([id]).map_err(e)?;
                    }
                }
                if s.messages == 0 {
                    continue;
                }
                let c = &s.content;
                let agents = agent_list(s);
                ins.execute(params![
                    s.conversation,
                    s.platform,
                    s.start_ms,
                    agents.join("\n"),
                    pack(s, &agents),
                    c.topics.join("\n"),
                    c.terms.join("\n")
                ])
                .map_err(e)?;
                let id = tx.last_insert_rowid();
                for k in &c.risks {
                    ins_k
                        .execute(params![id, k.message, k.word, side_str(k.side), k.sent_ms])
                        .map_err(e)?;
                }
                for (a, t) in &s.agent_first_ms {
                    ins_a.execute(params![a, t]).map_err(e)?;
                }
            }
        }
        for (k, v) in meta {
            tx.execute("INSERT INTO meta VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value", params![k, v]).map_err(e)?;
        }
        tx.commit().map_err(e)
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
        let sql = if load.terms {
            "SELECT id, key, platform, start_ms, agents, packed, topics, terms FROM conversations WHERE start_ms BETWEEN ?1 AND ?2 AND (?3 IS NULL OR platform = ?3) ORDER BY start_ms"
        } else {
            "SELECT id, key, platform, start_ms, agents, packed, '', '' FROM conversations WHERE start_ms BETWEEN ?1 AND ?2 AND (?3 IS NULL OR platform = ?3) ORDER BY start_ms"
        };
        let mut st = self.conn.prepare_cached(sql).map_err(|x| self.e(x))?;
        let mut rows = st
            .query(params![from_ms, to_ms, platform])
            .map_err(|x| self.e(x))?;
        let corrupt = |key: &str| AnalyticsError::Cache {
            path: self.path.display().to_string(),
            why: format!("{key}: a malformed summary (delete the file to rebuild it)"),
        };
        let mut local: Vec<u32> = vec![];
        while let Some(r) = rows.next().map_err(|x| self.e(x))? {
            let key: String = r.get(1).map_err(|x| self.e(x))?;
            let b = r
                .get_ref(5)
                .map_err(|x| self.e(x))?
                .as_blob()
                .map_err(|x| AnalyticsError::Cache {
                    path: self.path.display().to_string(),
                    why: x.to_string(),
                })?;
            if b.len() < HEAD || (b.len() - HEAD) % RESP != 0 {
                return Err(corrupt(&key));
            }
            local.clear();
            let names = r.get_ref(4).map_err(|x| self.e(x))?.as_str().map_err(|x| {
                AnalyticsError::Cache {
                    path: self.path.display().to_string(),
                    why: x.to_string(),
                }
            })?;
            for a in names.split('\n').filter(|a| !a.is_empty()) {
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
            let topics: String = r.get(6).map_err(|x| self.e(x))?;
            let terms: String = r.get(7).map_err(|x| self.e(x))?;
            let content = Content {
                topics: split(&topics),
                terms: split(&terms),
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
            ids.insert(r.get::<_, i64>(0).map_err(|x| self.e(x))?, conv as usize);
            w.conversations.push(ConvRow {
                platform: r.get(2).map_err(|x| self.e(x))?,
                start_ms: r.get(3).map_err(|x| self.e(x))?,
                end_ms: i64_at(b, 0),
                messages: u32_at(b, 8) as u64,
                last_agent: agent(b[23]),
                content,
                key,
            });
        }
        if w.conversations.is_empty() {
            return Ok(w);
        }
        if load.risks {
            let lo = w.conversations[0].start_ms;
            let mut st = self
                .conn
                .prepare_cached(
                    "SELECT conv, message, word, side, sent_ms FROM risks WHERE sent_ms >= ?1",
                )
                .map_err(|x| self.e(x))?;
            let mut rows = st.query([lo]).map_err(|x| self.e(x))?;
            while let Some(r) = rows.next().map_err(|x| self.e(x))? {
                let Some(conv) = ids
                    .get(&r.get::<_, i64>(0).map_err(|x| self.e(x))?)
                    .copied()
                else {
                    continue;
                };
                w.conversations[conv].content.risks.push(RiskHit {
                    message: r.get(1).map_err(|x| self.e(x))?,
                    word: r.get(2).map_err(|x| self.e(x))?,
                    side: side_of(r.get(3).map_err(|x| self.e(x))?),
                    sent_ms: r.get(4).map_err(|x| self.e(x))?,
                });
            }
        }
        let mut first = self
            .conn
            .prepare_cached("SELECT first_ms FROM agents WHERE agent = ?1")
            .map_err(|x| self.e(x))?;
        for a in &w.agents {
            w.agent_first_ms.push(
                first
                    .query_row([a], |r| r.get(0))
                    .optional()
                    .map_err(|x| self.e(x))?,
            );
        }
        Ok(w)
    }
}
