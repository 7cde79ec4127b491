//! `analytics.db`: the per-conversation summaries, kept so that reports need not decrypt
//! the archive. It is derived data, like the search index: rebuilt from the archive
//! whenever the lexicons or the calendar change or a deletion happened, and never the
//! source of truth. It holds no message text; keywords, topics and risk-word hits are
//! derived from text and are no more revealing than the search index beside it.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use crate::content::{Content, Resolution, RiskHit};
use crate::metrics::{Response, Side};
use crate::{AnalyticsError, Result, Summary};

pub struct Cache {
    conn: Connection,
    path: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS conversations(
  id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, platform TEXT NOT NULL, start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL,
  messages INTEGER NOT NULL, last_agent TEXT, greeting INTEGER, closing INTEGER, positive INTEGER NOT NULL, negative INTEGER NOT NULL,
  resolution TEXT NOT NULL, topics TEXT NOT NULL, terms TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS conversations_start ON conversations(start_ms);
CREATE TABLE IF NOT EXISTS responses(conv INTEGER NOT NULL, start_ms INTEGER NOT NULL, reply_ms INTEGER, agent TEXT, first INTEGER NOT NULL, business_ms INTEGER);
CREATE INDEX IF NOT EXISTS responses_start ON responses(start_ms);
CREATE INDEX IF NOT EXISTS responses_conv ON responses(conv);
CREATE TABLE IF NOT EXISTS risks(conv INTEGER NOT NULL, message TEXT NOT NULL, word TEXT NOT NULL, side TEXT, sent_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS risks_conv ON risks(conv);
CREATE TABLE IF NOT EXISTS agent_first(conv INTEGER NOT NULL, agent TEXT NOT NULL, first_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS agent_first_conv ON agent_first(conv);
";

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

/// One conversation as a report reads it back.
#[derive(Debug, Clone)]
pub struct ConvRow {
    pub key: String,
    pub platform: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub messages: u64,
    pub last_agent: Option<String>,
    pub content: Content,
}

/// One response as a report reads it back.
#[derive(Debug, Clone)]
pub struct RespRow {
    pub conv: usize,
    pub response: Response,
    pub business_ms: Option<i64>,
}

/// What a report window holds: the conversations that started in it and their responses.
#[derive(Debug, Default)]
pub struct Window {
    pub conversations: Vec<ConvRow>,
    pub responses: Vec<RespRow>,
    /// Every agent's first message in the whole archive.
    pub agent_first_ms: std::collections::HashMap<String, i64>,
}

impl Cache {
    pub fn open(path: &Path) -> Result<Cache> {
        let e = |why: String| AnalyticsError::Cache { path: path.display().to_string(), why };
        let conn = Connection::open(path).map_err(|x| e(x.to_string()))?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;").map_err(|x| e(x.to_string()))?;
        conn.execute_batch(SCHEMA).map_err(|x| e(x.to_string()))?;
        Ok(Cache { conn, path: path.to_owned() })
    }

    fn e(&self, x: rusqlite::Error) -> AnalyticsError {
        AnalyticsError::Cache { path: self.path.display().to_string(), why: x.to_string() }
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional().map_err(|x| self.e(x))
    }

    /// Replaces the summaries of these conversations and sets the meta values, in one
    /// transaction: a crash leaves the cache as it was, and the next sync redoes it.
    pub fn store(&mut self, summaries: &[Summary], meta: &[(&str, String)], clear_first: bool) -> Result<()> {
        let path = self.path.display().to_string();
        let e = |x: rusqlite::Error| AnalyticsError::Cache { path: path.clone(), why: x.to_string() };
        let tx = self.conn.transaction().map_err(e)?;
        if clear_first {
            tx.execute_batch("DELETE FROM conversations; DELETE FROM responses; DELETE FROM risks; DELETE FROM agent_first;").map_err(e)?;
        }
        {
            let mut find = tx.prepare_cached("SELECT id FROM conversations WHERE key = ?1").map_err(e)?;
            let mut del = tx.prepare_cached("DELETE FROM conversations WHERE id = ?1").map_err(e)?;
            let mut del_r = tx.prepare_cached("DELETE FROM responses WHERE conv = ?1").map_err(e)?;
            let mut del_k = tx.prepare_cached("DELETE FROM risks WHERE conv = ?1").map_err(e)?;
            let mut del_a = tx.prepare_cached("DELETE FROM agent_first WHERE conv = ?1").map_err(e)?;
            let mut ins = tx
                .prepare_cached("INSERT INTO conversations(key, platform, start_ms, end_ms, messages, last_agent, greeting, closing, positive, negative, resolution, topics, terms) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)")
                .map_err(e)?;
            let mut ins_r = tx.prepare_cached("INSERT INTO responses VALUES (?1,?2,?3,?4,?5,?6)").map_err(e)?;
            let mut ins_k = tx.prepare_cached("INSERT INTO risks VALUES (?1,?2,?3,?4,?5)").map_err(e)?;
            let mut ins_a = tx.prepare_cached("INSERT INTO agent_first VALUES (?1,?2,?3)").map_err(e)?;
            for s in summaries {
                if !clear_first {
                    if let Some(id) = find.query_row([&s.conversation], |r| r.get::<_, i64>(0)).optional().map_err(e)? {
                        for st in [&mut del, &mut del_r, &mut del_k, &mut del_a] {
                            st.execute([id]).map_err(e)?;
                        }
                    }
                }
                if s.messages == 0 {
                    continue;
                }
                let c = &s.content;
                ins.execute(params![
                    s.conversation,
                    s.platform,
                    s.start_ms,
                    s.end_ms,
                    s.messages as i64,
                    s.last_agent,
                    c.greeting,
                    c.closing,
                    c.positive,
                    c.negative,
                    c.resolution.as_str(),
                    c.topics.join("\n"),
                    c.terms.join("\n"),
                ])
                .map_err(e)?;
                let id = tx.last_insert_rowid();
                for (r, b) in s.responses.iter().zip(&s.business_ms) {
                    ins_r.execute(params![id, r.start_ms, r.reply_ms, r.agent, r.first, b]).map_err(e)?;
                }
                for k in &c.risks {
                    ins_k.execute(params![id, k.message, k.word, side_str(k.side), k.sent_ms]).map_err(e)?;
                }
                for (a, t) in &s.agent_first_ms {
                    ins_a.execute(params![id, a, t]).map_err(e)?;
                }
            }
        }
        for (k, v) in meta {
            tx.execute("INSERT INTO meta VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value", params![k, v]).map_err(e)?;
        }
        tx.commit().map_err(e)
    }

    /// The conversations that started in `[from, to]` (optionally on one platform), with
    /// their responses and risk hits.
    pub fn window(&self, from_ms: i64, to_ms: i64, platform: Option<&str>) -> Result<Window> {
        let mut w = Window::default();
        let mut ids = std::collections::HashMap::new();
        {
            let mut st = self
                .conn
                .prepare_cached(
                    "SELECT id, key, platform, start_ms, end_ms, messages, last_agent, greeting, closing, positive, negative, resolution, topics, terms
                     FROM conversations WHERE start_ms BETWEEN ?1 AND ?2 AND (?3 IS NULL OR platform = ?3) ORDER BY start_ms",
                )
                .map_err(|x| self.e(x))?;
            let mut rows = st.query(params![from_ms, to_ms, platform]).map_err(|x| self.e(x))?;
            while let Some(r) = rows.next().map_err(|x| self.e(x))? {
                let split = |s: String| if s.is_empty() { vec![] } else { s.split('\n').map(str::to_owned).collect() };
                let content = Content {
                    topics: split(r.get(12).map_err(|x| self.e(x))?),
                    terms: split(r.get(13).map_err(|x| self.e(x))?),
                    greeting: r.get(7).map_err(|x| self.e(x))?,
                    closing: r.get(8).map_err(|x| self.e(x))?,
                    risks: vec![],
                    positive: r.get(9).map_err(|x| self.e(x))?,
                    negative: r.get(10).map_err(|x| self.e(x))?,
                    resolution: Resolution::parse(&r.get::<_, String>(11).map_err(|x| self.e(x))?),
                };
                ids.insert(r.get::<_, i64>(0).map_err(|x| self.e(x))?, w.conversations.len());
                w.conversations.push(ConvRow {
                    key: r.get(1).map_err(|x| self.e(x))?,
                    platform: r.get(2).map_err(|x| self.e(x))?,
                    start_ms: r.get(3).map_err(|x| self.e(x))?,
                    end_ms: r.get(4).map_err(|x| self.e(x))?,
                    messages: r.get::<_, i64>(5).map_err(|x| self.e(x))? as u64,
                    last_agent: r.get(6).map_err(|x| self.e(x))?,
                    content,
                });
            }
        }
        if w.conversations.is_empty() {
            return Ok(w);
        }
        let lo = w.conversations[0].start_ms;
        {
            // Responses of those conversations: they start at or after the conversation.
            let mut st = self.conn.prepare_cached("SELECT conv, start_ms, reply_ms, agent, first, business_ms FROM responses WHERE start_ms >= ?1").map_err(|x| self.e(x))?;
            let mut rows = st.query([lo]).map_err(|x| self.e(x))?;
            while let Some(r) = rows.next().map_err(|x| self.e(x))? {
                let Some(conv) = ids.get(&r.get::<_, i64>(0).map_err(|x| self.e(x))?).copied() else { continue };
                w.responses.push(RespRow {
                    conv,
                    response: Response { start_ms: r.get(1).map_err(|x| self.e(x))?, reply_ms: r.get(2).map_err(|x| self.e(x))?, agent: r.get(3).map_err(|x| self.e(x))?, first: r.get(4).map_err(|x| self.e(x))? },
                    business_ms: r.get(5).map_err(|x| self.e(x))?,
                });
            }
        }
        {
            let mut st = self.conn.prepare_cached("SELECT conv, message, word, side, sent_ms FROM risks WHERE sent_ms >= ?1").map_err(|x| self.e(x))?;
            let mut rows = st.query([lo]).map_err(|x| self.e(x))?;
            while let Some(r) = rows.next().map_err(|x| self.e(x))? {
                let Some(conv) = ids.get(&r.get::<_, i64>(0).map_err(|x| self.e(x))?).copied() else { continue };
                w.conversations[conv].content.risks.push(RiskHit {
                    message: r.get(1).map_err(|x| self.e(x))?,
                    word: r.get(2).map_err(|x| self.e(x))?,
                    side: side_of(r.get(3).map_err(|x| self.e(x))?),
                    sent_ms: r.get(4).map_err(|x| self.e(x))?,
                });
            }
        }
        let mut st = self.conn.prepare_cached("SELECT agent, MIN(first_ms) FROM agent_first GROUP BY agent").map_err(|x| self.e(x))?;
        let mut rows = st.query([]).map_err(|x| self.e(x))?;
        while let Some(r) = rows.next().map_err(|x| self.e(x))? {
            w.agent_first_ms.insert(r.get(0).map_err(|x| self.e(x))?, r.get(1).map_err(|x| self.e(x))?);
        }
        Ok(w)
    }
}
