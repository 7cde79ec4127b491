//! The report cache on SQLite (`analytics.db`), behind [`SummaryStore`]. WAL with
//! `synchronous=NORMAL`: it is derived data, and a lost write is redone by the next sync.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use chatvault_store::summaries::{RiskRow, SummaryRow, SummaryStore, SummaryWrite};
use chatvault_store::{Result, StoreError};

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

pub struct SqliteSummaries {
    conn: Connection,
    path: PathBuf,
}

impl SqliteSummaries {
    /// Opens (creating when absent) the cache at `path`. One of another `version` (the
    /// caller's encoding of the figures) is emptied: the next sync rebuilds it.
    pub fn open(path: &Path, version: &str) -> Result<SqliteSummaries> {
        let e = |x| crate::err(path, x);
        let conn = Connection::open(path).map_err(e)?;
        // Cached statements stay compiled (see `SqliteStore::configure`).
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(e)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
            .map_err(e)?;
        conn.execute_batch(SCHEMA).map_err(e)?;
        let found: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'version'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(e)?;
        if found.as_deref() != Some(version) {
            conn.execute_batch("DROP TABLE IF EXISTS conversations; DROP TABLE IF EXISTS responses; DROP TABLE IF EXISTS risks; DROP TABLE IF EXISTS agents; DROP TABLE IF EXISTS agent_first; DELETE FROM meta;")
                .map_err(e)?;
            conn.execute_batch(SCHEMA).map_err(e)?;
            conn.execute("INSERT INTO meta VALUES ('version', ?1)", [version])
                .map_err(e)?;
        }
        Ok(SqliteSummaries {
            conn,
            path: path.to_owned(),
        })
    }

    fn e(&self, x: rusqlite::Error) -> StoreError {
        crate::err(&self.path, x)
    }
}

impl SummaryStore for SqliteSummaries {
    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|x| self.e(x))
    }

    fn write(
        &mut self,
        batch: &[SummaryWrite<'_>],
        meta: &[(&str, String)],
        clear_first: bool,
    ) -> Result<()> {
        let path = self.path.clone();
        let e = |x| crate::err(&path, x);
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
            for w in batch {
                if !clear_first {
                    if let Some(id) = find
                        .query_row([w.key], |r| r.get::<_, i64>(0))
                        .optional()
                        .map_err(e)?
                    {
                        del.execute([id]).map_err(e)?;
                        del_k.execute([id]).map_err(e)?;
                    }
                }
                let Some((s, risks)) = &w.summary else {
                    continue;
                };
                ins.execute(params![
                    s.key, s.platform, s.start_ms, s.agents, s.packed, s.topics, s.terms
                ])
                .map_err(e)?;
                let id = tx.last_insert_rowid();
                for k in risks {
                    ins_k
                        .execute(params![id, k.message, k.word, k.side, k.sent_ms])
                        .map_err(e)?;
                }
                for (a, t) in w.agent_first_ms {
                    ins_a.execute(params![a, t]).map_err(e)?;
                }
            }
        }
        for (k, v) in meta {
            tx.execute("INSERT INTO meta VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value", params![k, v]).map_err(e)?;
        }
        tx.commit().map_err(e)
    }

    fn scan(
        &self,
        from_ms: i64,
        to_ms: i64,
        platform: Option<&str>,
        terms: bool,
        each: &mut dyn FnMut(i64, SummaryRow<'_>) -> Result<()>,
    ) -> Result<()> {
        let sql = if terms {
            "SELECT id, key, platform, start_ms, agents, packed, topics, terms FROM conversations WHERE start_ms BETWEEN ?1 AND ?2 AND (?3 IS NULL OR platform = ?3) ORDER BY start_ms"
        } else {
            "SELECT id, key, platform, start_ms, agents, packed, '', '' FROM conversations WHERE start_ms BETWEEN ?1 AND ?2 AND (?3 IS NULL OR platform = ?3) ORDER BY start_ms"
        };
        let mut st = self.conn.prepare_cached(sql).map_err(|x| self.e(x))?;
        let mut rows = st
            .query(params![from_ms, to_ms, platform])
            .map_err(|x| self.e(x))?;
        while let Some(r) = rows.next().map_err(|x| self.e(x))? {
            // Read in place: a report scans every conversation of its window.
            each(
                r.get(0).map_err(|x| self.e(x))?,
                SummaryRow {
                    key: text(r, 1, &self.path)?,
                    platform: text(r, 2, &self.path)?,
                    start_ms: r.get(3).map_err(|x| self.e(x))?,
                    agents: text(r, 4, &self.path)?,
                    packed: blob(r, 5, &self.path)?,
                    topics: text(r, 6, &self.path)?,
                    terms: text(r, 7, &self.path)?,
                },
            )?;
        }
        Ok(())
    }

    fn risks_since(
        &self,
        from_ms: i64,
        each: &mut dyn FnMut(i64, RiskRow<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT conv, message, word, side, sent_ms FROM risks WHERE sent_ms >= ?1",
            )
            .map_err(|x| self.e(x))?;
        let mut rows = st.query([from_ms]).map_err(|x| self.e(x))?;
        while let Some(r) = rows.next().map_err(|x| self.e(x))? {
            let message: String = r.get(1).map_err(|x| self.e(x))?;
            let word: String = r.get(2).map_err(|x| self.e(x))?;
            let side: Option<String> = r.get(3).map_err(|x| self.e(x))?;
            each(
                r.get(0).map_err(|x| self.e(x))?,
                RiskRow {
                    message: &message,
                    word: &word,
                    side: side.as_deref(),
                    sent_ms: r.get(4).map_err(|x| self.e(x))?,
                },
            )?;
        }
        Ok(())
    }

    fn agent_first_ms(&self, agent: &str) -> Result<Option<i64>> {
        self.conn
            .prepare_cached("SELECT first_ms FROM agents WHERE agent = ?1")
            .map_err(|x| self.e(x))?
            .query_row([agent], |r| r.get(0))
            .optional()
            .map_err(|x| self.e(x))
    }
}

fn value<'r>(
    r: &'r rusqlite::Row<'_>,
    i: usize,
    path: &Path,
) -> Result<rusqlite::types::ValueRef<'r>> {
    r.get_ref(i).map_err(|x| crate::err(path, x))
}

fn text<'r>(r: &'r rusqlite::Row<'_>, i: usize, path: &Path) -> Result<&'r str> {
    value(r, i, path)?
        .as_str()
        .map_err(|x| StoreError::Corrupt(format!("{}: column {i}: {x}", path.display())))
}

fn blob<'r>(r: &'r rusqlite::Row<'_>, i: usize, path: &Path) -> Result<&'r [u8]> {
    value(r, i, path)?
        .as_blob()
        .map_err(|x| StoreError::Corrupt(format!("{}: column {i}: {x}", path.display())))
}
