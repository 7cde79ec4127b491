//! `access.db` on SQLite behind [`AccessOps`]. The same value serves reads on the
//! connection and writes inside one of its transactions (a `rusqlite::Transaction`
//! derefs to its connection).

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use chatvault_store::access::{
    AccessOps, AccessStore, AccessTx, AuditRange, AuditRow, Image, SessionRow, Shelf, TokenRow,
    UserRow, Value,
};
use chatvault_store::{Result, StoreError};

/// The newest schema version of an `access.db`.
pub const SCHEMA_VERSION: i64 = 5;

/// The schema of a new `access.db` (public for the upgrade tests, which derive older
/// schemas from it), and each upgrade step, as files (`migrations/access/`).
pub const SCHEMA: &str = include_str!("../migrations/access/schema_v5.sql");
/// `(to version, step)`, applied in order.
const STEPS: &[(i64, &str)] = &[
    (2, include_str!("../migrations/access/v1_to_v2.sql")),
    (3, include_str!("../migrations/access/v2_to_v3.sql")),
    (4, include_str!("../migrations/access/v3_to_v4.sql")),
    (5, include_str!("../migrations/access/v4_to_v5.sql")),
];

/// An open `access.db`: WAL, `synchronous=FULL`, foreign keys on, a 10 s busy timeout,
/// the file readable by its owner only.
pub struct SqliteAccessDb {
    conn: Connection,
    path: PathBuf,
}

impl SqliteAccessDb {
    /// Opens (creating when absent, upgrading when older) the database at `path`. Several
    /// processes may open it at once: the one that creates or upgrades it first wins and
    /// the others find it done.
    pub fn open(path: &Path) -> Result<SqliteAccessDb> {
        let e = |x| crate::err(path, x);
        let conn = Connection::open(path).map_err(e)?;
        // Cached statements stay compiled (see `SqliteStore::configure`).
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(e)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
        )
        .map_err(e)?;
        let version = |c: &Connection| -> Result<i64> {
            c.query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(e)
        };
        // The caller names the file: the reason alone.
        let corrupt = StoreError::Corrupt;
        match version(&conn)? {
            0 => {
                if let Err(x) = conn.execute_batch(&format!(
                    "BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                )) {
                    // Another process created it first.
                    if version(&conn).map_err(|_| e(x))? != SCHEMA_VERSION {
                        return Err(corrupt("schema creation failed".into()));
                    }
                }
            }
            v if v < SCHEMA_VERSION => {
                for (to, sql) in STEPS.iter().filter(|(to, _)| *to > v) {
                    if let Err(x) = conn.execute_batch(&format!(
                        "BEGIN IMMEDIATE; {sql} PRAGMA user_version = {to}; COMMIT;"
                    )) {
                        // Another process migrated it first.
                        if version(&conn).map_err(|_| e(x))? < *to {
                            return Err(corrupt(format!("migration to schema {to} failed")));
                        }
                    }
                }
            }
            SCHEMA_VERSION => {}
            v => {
                return Err(corrupt(format!(
                    "schema version {v} is newer than this program ({SCHEMA_VERSION})"
                )))
            }
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        install_triggers(&conn).map_err(e)?;
        Ok(SqliteAccessDb {
            conn,
            path: path.to_owned(),
        })
    }

    /// The operations on the connection, for reads outside a transaction.
    fn ops(&self) -> SqliteAccessOps<'_> {
        SqliteAccessOps::new(&self.conn, &self.path)
    }
}

/// The sealed tables' columns in a fixed order, and their rows' order.
const SEALED: &[(&str, &str, &str)] = &[
    (
        "users",
        "name, role, team, handles, password, totp_secret, totp_last_step, frozen, locked, created_ms, updated_ms, lang",
        "ORDER BY name",
    ),
    (
        "tokens",
        "id, hash, user, scope, source, created_ms, revoked_ms",
        "ORDER BY id",
    ),
    (
        "enrolments",
        "ticket_hash, user, expires_ms",
        "ORDER BY ticket_hash",
    ),
    ("requests", "id, requester, body", "ORDER BY id"),
    ("grants", "id, holder, body", "ORDER BY id"),
    ("lifecycle", "kind, key, body", "ORDER BY kind, key"),
    ("meta", "key, value", "ORDER BY key"),
];

fn sealed(table: &str) -> Result<&'static (&'static str, &'static str, &'static str)> {
    SEALED
        .iter()
        .find(|s| s.0 == table)
        .ok_or_else(|| StoreError::Corrupt(format!("`{table}` is not a sealed table")))
}

/// Creates the triggers that note which sealed tables a connection's statements change
/// and, before the first change to one, copy the table as it stood (`temp.pre_TABLE`):
/// the crate above checks the copy against the signed map before it signs the new
/// digest, so a later change through chatvault never makes an earlier edit to the file
/// legitimate. Temporary: they exist on this connection only, and a statement run
/// elsewhere (an edit outside chatvault) fires none.
fn install_triggers(conn: &Connection) -> rusqlite::Result<()> {
    let mut sql = String::from(
        "CREATE TEMP TABLE IF NOT EXISTS sealed_dirty (tbl TEXT PRIMARY KEY) WITHOUT ROWID;",
    );
    for (table, cols, rest) in SEALED {
        // The copy takes the same rows the digest reads.
        let rows = rest.split("ORDER BY").next().unwrap_or("");
        sql.push_str(&format!(
            "CREATE TEMP TABLE IF NOT EXISTS pre_{table} AS SELECT {cols} FROM main.{table} WHERE 0;"
        ));
        for op in ["INSERT", "UPDATE", "DELETE"] {
            sql.push_str(&format!(
                "CREATE TEMP TRIGGER IF NOT EXISTS sealed_{table}_{op} BEFORE {op} ON main.{table} \
                 WHEN NOT EXISTS (SELECT 1 FROM temp.sealed_dirty WHERE tbl = '{table}') \
                 BEGIN INSERT INTO temp.sealed_dirty (tbl) VALUES ('{table}'); \
                 INSERT INTO temp.pre_{table} SELECT {cols} FROM main.{table} {rows}; END;"
            ));
        }
    }
    conn.execute_batch(&sql)
}

/// The operations on one connection or transaction of an `access.db`.
pub struct SqliteAccessOps<'c> {
    conn: &'c Connection,
    path: &'c Path,
}

impl<'c> SqliteAccessOps<'c> {
    pub fn new(conn: &'c Connection, path: &'c Path) -> SqliteAccessOps<'c> {
        SqliteAccessOps { conn, path }
    }

    fn e(&self, x: rusqlite::Error) -> StoreError {
        crate::err(self.path, x)
    }
}

/// A shelf's table, key column, owner column and listing order.
fn table(
    shelf: Shelf<'_>,
) -> (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
) {
    match shelf {
        Shelf::Requests => ("requests", "id", Some("requester"), "id DESC"),
        Shelf::Grants => ("grants", "id", Some("holder"), "id DESC"),
        Shelf::Lifecycle(_) => ("lifecycle", "key", None, "key"),
    }
}

/// The lifecycle table's kind column, or a condition true for the other shelves.
fn kind(shelf: Shelf<'_>) -> Option<&str> {
    match shelf {
        Shelf::Lifecycle(k) => Some(k),
        _ => None,
    }
}

const USER_COLS: &str = "name, role, team, handles, password, totp_secret, totp_last_step, frozen, locked, created_ms, updated_ms, lang";

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        name: r.get(0)?,
        role: r.get(1)?,
        team: r.get(2)?,
        handles: r.get(3)?,
        password: r.get(4)?,
        totp_secret: r.get(5)?,
        totp_last_step: r.get(6)?,
        frozen: r.get::<_, i64>(7)? != 0,
        locked: r.get::<_, i64>(8)? != 0,
        created_ms: r.get(9)?,
        updated_ms: r.get(10)?,
        lang: r.get(11)?,
    })
}

const SESSION_COLS: &str = "id_hash, user, csrf, created_ms, seen_ms, tag";
const TOKEN_COLS: &str = "id, hash, user, scope, source, created_ms, revoked_ms";

fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        id_hash: r.get(0)?,
        user: r.get(1)?,
        csrf: r.get(2)?,
        created_ms: r.get(3)?,
        seen_ms: r.get(4)?,
        tag: r.get(5)?,
    })
}

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        id: r.get(0)?,
        hash: r.get(1)?,
        user: r.get(2)?,
        scope: r.get(3)?,
        source: r.get(4)?,
        created_ms: r.get(5)?,
        revoked_ms: r.get(6)?,
    })
}

impl SqliteAccessOps<'_> {
    /// Runs one statement; how many rows it changed.
    fn exec(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
        self.conn.execute(sql, params).map_err(|x| self.e(x))
    }

    fn all<T>(
        &self,
        sql: &str,
        f: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut st = self.conn.prepare_cached(sql).map_err(|x| self.e(x))?;
        let rows = st.query_map([], f).map_err(|x| self.e(x))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|x| self.e(x))
    }
}

impl AccessOps for SqliteAccessOps<'_> {
    fn take_sealed_changes(&self) -> Result<Vec<String>> {
        let dirty = self.all("SELECT tbl FROM temp.sealed_dirty ORDER BY tbl", |r| {
            r.get(0)
        })?;
        // Most transactions change no sealed table (every session lookup is one): they
        // only read here.
        if !dirty.is_empty() {
            self.exec("DELETE FROM temp.sealed_dirty", [])?;
        }
        Ok(dirty)
    }

    fn mark_all_sealed_changed(&self) -> Result<()> {
        for (table, cols, rest) in SEALED {
            let rows = rest.split("ORDER BY").next().unwrap_or("");
            self.conn
                .execute_batch(&format!(
                    "INSERT OR IGNORE INTO temp.sealed_dirty (tbl) VALUES ('{table}');
                     DELETE FROM temp.pre_{table};
                     INSERT INTO temp.pre_{table} SELECT {cols} FROM main.{table} {rows};"
                ))
                .map_err(|x| self.e(x))?;
        }
        Ok(())
    }

    fn sealed_rows(
        &self,
        table: &str,
        image: Image,
        each: &mut dyn FnMut(&[Value<'_>]),
    ) -> Result<()> {
        let (table, cols, rest) = sealed(table)?;
        let from = match image {
            Image::Now => format!("main.{table}"),
            Image::BeforeChange => format!("temp.pre_{table}"),
        };
        let n = cols.split(',').count();
        let mut st = self
            .conn
            .prepare_cached(&format!("SELECT {cols} FROM {from} {rest}"))
            .map_err(|x| self.e(x))?;
        let mut rows = st.query([]).map_err(|x| self.e(x))?;
        while let Some(r) = rows.next().map_err(|x| self.e(x))? {
            let mut values = Vec::with_capacity(n);
            for i in 0..n {
                use rusqlite::types::ValueRef as V;
                values.push(match r.get_ref(i).map_err(|x| self.e(x))? {
                    V::Null => Value::Null,
                    V::Integer(v) => Value::Integer(v),
                    V::Real(v) => Value::Real(v),
                    V::Text(b) => Value::Text(b),
                    V::Blob(b) => Value::Blob(b),
                });
            }
            each(&values);
        }
        Ok(())
    }

    fn clear_before_image(&self, table: &str) -> Result<()> {
        let (table, _, _) = sealed(table)?;
        self.exec(&format!("DELETE FROM temp.pre_{table}"), [])?;
        Ok(())
    }

    fn audit_head(&self) -> Result<Option<(u64, Vec<u8>)>> {
        self.conn
            .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
            .map_err(|x| self.e(x))?
            .query_row([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
            .optional()
            .map_err(|x| self.e(x))
    }

    fn insert_audit(&self, a: &AuditRow) -> Result<()> {
        self.conn
            .prepare_cached("INSERT INTO audit (seq, time_ms, actor, action, body, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .map_err(|x| self.e(x))?
            .execute(params![a.seq as i64, a.time_ms, a.actor, a.action, a.body, a.hash])
            .map_err(|x| self.e(x))?;
        Ok(())
    }

    fn audit_count(&self, actor: &str, action: &str, since_ms: i64) -> Result<u64> {
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM audit WHERE actor = ?1 AND action = ?2 AND time_ms > ?3",
            )
            .map_err(|x| self.e(x))?
            .query_row(params![actor, action, since_ms], |r| r.get(0))
            .map_err(|x| self.e(x))?;
        Ok(n.max(0) as u64)
    }

    fn audit_scan(
        &self,
        range: &AuditRange<'_>,
        each: &mut dyn FnMut(AuditRow) -> Result<()>,
    ) -> Result<()> {
        // Only the conditions given, so each form uses its index (actor, action, seq),
        // and with no `from_seq` every row is read, whatever its number: a row written
        // outside chatvault with a negative one still reaches the verifier.
        let mut sql =
            String::from("SELECT seq, time_ms, actor, action, body, hash FROM audit WHERE 1");
        let mut args: Vec<rusqlite::types::Value> = vec![];
        let mut and = |cond: &str, v: rusqlite::types::Value| {
            sql.push_str(" AND ");
            sql.push_str(cond);
            args.push(v);
        };
        if range.from_seq > 0 {
            and(
                "seq >= ?",
                (range.from_seq.min(i64::MAX as u64) as i64).into(),
            );
        }
        if let Some(a) = range.actor {
            and("actor = ?", a.to_owned().into());
        }
        if let Some(a) = range.action {
            and("action = ?", a.to_owned().into());
        }
        if let Some(t) = range.from_ms {
            and("time_ms >= ?", t.into());
        }
        if let Some(t) = range.to_ms {
            and("time_ms <= ?", t.into());
        }
        sql.push_str(" ORDER BY seq");
        let mut st = self.conn.prepare_cached(&sql).map_err(|x| self.e(x))?;
        let mut rows = st
            .query(rusqlite::params_from_iter(args))
            .map_err(|x| self.e(x))?;
        while let Some(r) = rows.next().map_err(|x| self.e(x))? {
            each(AuditRow {
                // Cast, not clamped: a negative number (written outside chatvault)
                // reads as a huge one, which the verifier reports as out of sequence.
                seq: r.get::<_, i64>(0).map_err(|x| self.e(x))? as u64,
                time_ms: r.get(1).map_err(|x| self.e(x))?,
                actor: r.get(2).map_err(|x| self.e(x))?,
                action: r.get(3).map_err(|x| self.e(x))?,
                body: r.get(4).map_err(|x| self.e(x))?,
                hash: r.get(5).map_err(|x| self.e(x))?,
            })?;
        }
        Ok(())
    }

    fn audit_last_containing(&self, below_seq: u64, needle: &str) -> Result<Option<(u64, String)>> {
        // LIKE's own wildcards in the needle are matched literally.
        let pattern = format!(
            "%{}%",
            needle
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        self.conn
            .prepare_cached(
                "SELECT seq, body FROM audit WHERE seq < ?1 AND body LIKE ?2 ESCAPE '\\' ORDER BY seq DESC LIMIT 1",
            )
            .map_err(|x| self.e(x))?
            .query_row(params![below_seq.min(i64::MAX as u64) as i64, pattern], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
            })
            .optional()
            .map_err(|x| self.e(x))
    }

    fn put_audit_checkpoint(&self, size: u64, note: &str) -> Result<()> {
        self.conn
            .prepare_cached("INSERT INTO audit_checkpoints (size, note) VALUES (?1, ?2)")
            .map_err(|x| self.e(x))?
            .execute(params![size as i64, note])
            .map_err(|x| self.e(x))?;
        Ok(())
    }

    fn audit_checkpoint(&self, size: u64) -> Result<Option<String>> {
        self.conn
            .prepare_cached("SELECT note FROM audit_checkpoints WHERE size = ?1")
            .map_err(|x| self.e(x))?
            .query_row([size as i64], |r| r.get(0))
            .optional()
            .map_err(|x| self.e(x))
    }

    fn delete_audit_checkpoint(&self, size: u64) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM audit_checkpoints WHERE size = ?1")
            .map_err(|x| self.e(x))?
            .execute([size as i64])
            .map_err(|x| self.e(x))?;
        Ok(())
    }

    fn audit_checkpoints(&self) -> Result<Vec<(u64, String)>> {
        self.all(
            "SELECT size, note FROM audit_checkpoints ORDER BY size",
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
        )
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|x| self.e(x))
    }

    fn put_meta(&self, key: &str, value: &str) -> Result<()> {
        self.exec(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![key, value],
        )?;
        Ok(())
    }

    fn user(&self, name: &str) -> Result<Option<UserRow>> {
        self.conn
            .prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE name = ?1"))
            .map_err(|x| self.e(x))?
            .query_row([name], user_row)
            .optional()
            .map_err(|x| self.e(x))
    }

    fn users(&self) -> Result<Vec<UserRow>> {
        self.all(
            &format!("SELECT {USER_COLS} FROM users ORDER BY name"),
            user_row,
        )
    }

    fn insert_user(&self, u: &UserRow) -> Result<()> {
        self.exec(
                &format!("INSERT INTO users ({USER_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
                params![u.name, u.role, u.team, u.handles, u.password, u.totp_secret, u.totp_last_step, u.frozen, u.locked, u.created_ms, u.updated_ms, u.lang],
            )?;
        Ok(())
    }

    fn update_user(&self, u: &UserRow) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE users SET role = ?2, team = ?3, handles = ?4, password = ?5, totp_secret = ?6, \
                 totp_last_step = ?7, frozen = ?8, locked = ?9, updated_ms = ?10, lang = ?11 WHERE name = ?1",
            )
            .map_err(|x| self.e(x))?
            .execute(params![u.name, u.role, u.team, u.handles, u.password, u.totp_secret, u.totp_last_step, u.frozen, u.locked, u.updated_ms, u.lang])
            .map_err(|x| self.e(x))?;
        Ok(())
    }

    fn add_login_failure(&self, user: &str, at_ms: i64, ip: &str) -> Result<()> {
        self.conn
            .prepare_cached("INSERT INTO login_failures (user, at_ms, ip) VALUES (?1, ?2, ?3)")
            .map_err(|x| self.e(x))?
            .execute(params![user, at_ms, ip])
            .map_err(|x| self.e(x))?;
        Ok(())
    }

    fn login_failures(
        &self,
        user: Option<&str>,
        ip: Option<&str>,
        since_ms: i64,
    ) -> Result<(u64, Option<i64>)> {
        // Each form its own statement, so each uses its index.
        let sql = match (user, ip) {
            (Some(_), Some(_)) => "SELECT count(*), max(at_ms) FROM login_failures WHERE user = ?1 AND ip = ?2 AND at_ms > ?3",
            (Some(_), None) => "SELECT count(*), max(at_ms) FROM login_failures WHERE user = ?1 AND ?2 IS NULL AND at_ms > ?3",
            (None, Some(_)) => "SELECT count(*), max(at_ms) FROM login_failures WHERE ?1 IS NULL AND ip = ?2 AND at_ms > ?3",
            (None, None) => "SELECT count(*), max(at_ms) FROM login_failures WHERE ?1 IS NULL AND ?2 IS NULL AND at_ms > ?3",
        };
        let (n, last): (i64, Option<i64>) = self
            .conn
            .prepare_cached(sql)
            .map_err(|x| self.e(x))?
            .query_row(params![user, ip, since_ms], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|x| self.e(x))?;
        Ok((n.max(0) as u64, last))
    }

    fn clear_login_failures(&self, user: &str, ip: Option<&str>) -> Result<()> {
        match ip {
            Some(ip) => self.exec(
                "DELETE FROM login_failures WHERE user = ?1 AND ip = ?2",
                params![user, ip],
            ),
            None => self.exec("DELETE FROM login_failures WHERE user = ?1", [user]),
        }?;
        Ok(())
    }

    fn remember_address(&self, user: &str, ip: &str, at_ms: i64) -> Result<()> {
        self.exec(
                "INSERT INTO known_addresses (user, ip, last_ms) VALUES (?1, ?2, ?3) ON CONFLICT (user, ip) DO UPDATE SET last_ms = excluded.last_ms",
                params![user, ip, at_ms],
            )?;
        Ok(())
    }

    fn address_known(&self, user: &str, ip: &str, since_ms: i64) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT 1 FROM known_addresses WHERE user = ?1 AND ip = ?2 AND last_ms > ?3",
            )
            .map_err(|x| self.e(x))?
            .query_row(params![user, ip, since_ms], |_| Ok(()))
            .optional()
            .map_err(|x| self.e(x))?
            .is_some())
    }

    fn put_enrolment(&self, ticket_hash: &[u8], user: &str, expires_ms: i64) -> Result<()> {
        self.exec(
            "INSERT INTO enrolments (ticket_hash, user, expires_ms) VALUES (?1, ?2, ?3)",
            params![ticket_hash, user, expires_ms],
        )?;
        Ok(())
    }

    fn enrolment(&self, ticket_hash: &[u8], now_ms: i64) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT user FROM enrolments WHERE ticket_hash = ?1 AND expires_ms > ?2",
                params![ticket_hash, now_ms],
                |r| r.get(0),
            )
            .optional()
            .map_err(|x| self.e(x))
    }

    fn delete_enrolments(&self, user: &str, expired_by: Option<i64>) -> Result<()> {
        match expired_by {
            Some(t) => self.exec(
                "DELETE FROM enrolments WHERE user = ?1 OR expires_ms <= ?2",
                params![user, t],
            ),
            None => self.exec("DELETE FROM enrolments WHERE user = ?1", [user]),
        }?;
        Ok(())
    }

    fn insert_session(&self, s: &SessionRow) -> Result<()> {
        self.exec(
            &format!("INSERT INTO sessions ({SESSION_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
            params![s.id_hash, s.user, s.csrf, s.created_ms, s.seen_ms, s.tag],
        )?;
        Ok(())
    }

    fn session(&self, id_hash: &[u8]) -> Result<Option<SessionRow>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {SESSION_COLS} FROM sessions WHERE id_hash = ?1"
            ))
            .map_err(|x| self.e(x))?
            .query_row([id_hash], session_row)
            .optional()
            .map_err(|x| self.e(x))
    }

    fn touch_session(&self, id_hash: &[u8], seen_ms: i64) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE sessions SET seen_ms = ?2 WHERE id_hash = ?1")
            .map_err(|x| self.e(x))?
            .execute(params![id_hash, seen_ms])
            .map_err(|x| self.e(x))?;
        Ok(())
    }

    fn delete_session(&self, id_hash: &[u8]) -> Result<bool> {
        Ok(self.exec("DELETE FROM sessions WHERE id_hash = ?1", [id_hash])? > 0)
    }

    fn delete_sessions_of(&self, user: &str) -> Result<u64> {
        Ok(self.exec("DELETE FROM sessions WHERE user = ?1", [user])? as u64)
    }

    fn sessions(&self) -> Result<Vec<SessionRow>> {
        self.all(
            &format!("SELECT {SESSION_COLS} FROM sessions ORDER BY created_ms"),
            session_row,
        )
    }

    fn insert_token(&self, t: &TokenRow) -> Result<()> {
        self.exec(
            &format!("INSERT INTO tokens ({TOKEN_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
            params![
                t.id,
                t.hash,
                t.user,
                t.scope,
                t.source,
                t.created_ms,
                t.revoked_ms
            ],
        )?;
        Ok(())
    }

    fn token_by_hash(&self, hash: &[u8]) -> Result<Option<TokenRow>> {
        self.conn
            .prepare_cached(&format!("SELECT {TOKEN_COLS} FROM tokens WHERE hash = ?1"))
            .map_err(|x| self.e(x))?
            .query_row([hash], token_row)
            .optional()
            .map_err(|x| self.e(x))
    }

    fn revoke_token(&self, id: &str, at_ms: i64) -> Result<bool> {
        Ok(self.exec(
            "UPDATE tokens SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
            params![id, at_ms],
        )? > 0)
    }

    fn revoke_tokens_of(&self, user: &str, at_ms: i64) -> Result<u64> {
        Ok(self.exec(
            "UPDATE tokens SET revoked_ms = ?2 WHERE user = ?1 AND revoked_ms IS NULL",
            params![user, at_ms],
        )? as u64)
    }

    fn tokens(&self) -> Result<Vec<TokenRow>> {
        self.all(
            &format!("SELECT {TOKEN_COLS} FROM tokens ORDER BY created_ms"),
            token_row,
        )
    }

    fn document(&self, shelf: Shelf<'_>, key: &str) -> Result<Option<String>> {
        let (t, k, _, _) = table(shelf);
        let sql = match shelf {
            Shelf::Lifecycle(_) => format!("SELECT body FROM {t} WHERE {k} = ?1 AND kind = ?2"),
            _ => format!("SELECT body FROM {t} WHERE {k} = ?1 AND ?2 IS NULL"),
        };
        self.conn
            .prepare_cached(&sql)
            .map_err(|x| self.e(x))?
            .query_row(params![key, kind(shelf)], |r| r.get(0))
            .optional()
            .map_err(|x| self.e(x))
    }

    fn put_document(&self, shelf: Shelf<'_>, key: &str, owner: &str, body: &str) -> Result<()> {
        let (t, k, o, _) = table(shelf);
        match (shelf, o) {
            (Shelf::Lifecycle(kind), _) => self.exec(
                "INSERT OR REPLACE INTO lifecycle (kind, key, body) VALUES (?1, ?2, ?3)",
                params![kind, key, body],
            ),
            (_, Some(o)) => self.exec(
                &format!("INSERT OR REPLACE INTO {t} ({k}, {o}, body) VALUES (?1, ?2, ?3)"),
                params![key, owner, body],
            ),
            // Every shelf but the lifecycle one has an owner column.
            (_, None) => Err(StoreError::Corrupt(format!("{t} has no owner column"))),
        }?;
        Ok(())
    }

    fn delete_document(&self, shelf: Shelf<'_>, key: &str) -> Result<bool> {
        let (t, k, _, _) = table(shelf);
        let sql = match shelf {
            Shelf::Lifecycle(_) => format!("DELETE FROM {t} WHERE {k} = ?1 AND kind = ?2"),
            _ => format!("DELETE FROM {t} WHERE {k} = ?1 AND ?2 IS NULL"),
        };
        Ok(self.exec(&sql, params![key, kind(shelf)])? > 0)
    }

    fn documents(&self, shelf: Shelf<'_>, owner: Option<&str>) -> Result<Vec<(String, String)>> {
        let (t, k, o, order) = table(shelf);
        let sql = match (shelf, o, owner) {
            (Shelf::Lifecycle(_), _, _) => {
                format!("SELECT {k}, body FROM {t} WHERE kind = ?1 ORDER BY {order}")
            }
            (_, Some(o), Some(_)) => {
                format!("SELECT {k}, body FROM {t} WHERE {o} = ?1 ORDER BY {order}")
            }
            _ => format!("SELECT {k}, body FROM {t} WHERE ?1 IS NULL ORDER BY {order}"),
        };
        let arg = match shelf {
            Shelf::Lifecycle(kind) => Some(kind),
            _ => owner,
        };
        let mut st = self.conn.prepare_cached(&sql).map_err(|x| self.e(x))?;
        let rows = st
            .query_map([arg], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(|x| self.e(x))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|x| self.e(x))
    }
}

/// `AccessOps` for a type with an `ops()` that lends a [`SqliteAccessOps`]: an open
/// database (reads on its connection), a transaction and a snapshot.
macro_rules! delegate_access_ops {
    ($ty:ty) => {
        impl AccessOps for $ty {
            fn sealed_rows(
                &self,
                table: &str,
                image: Image,
                each: &mut dyn FnMut(&[Value<'_>]),
            ) -> Result<()> {
                self.ops().sealed_rows(table, image, each)
            }
            fn take_sealed_changes(&self) -> Result<Vec<String>> {
                self.ops().take_sealed_changes()
            }
            fn mark_all_sealed_changed(&self) -> Result<()> {
                self.ops().mark_all_sealed_changed()
            }
            fn clear_before_image(&self, table: &str) -> Result<()> {
                self.ops().clear_before_image(table)
            }
            fn audit_head(&self) -> Result<Option<(u64, Vec<u8>)>> {
                self.ops().audit_head()
            }
            fn insert_audit(&self, row: &AuditRow) -> Result<()> {
                self.ops().insert_audit(row)
            }
            fn audit_count(&self, actor: &str, action: &str, since_ms: i64) -> Result<u64> {
                self.ops().audit_count(actor, action, since_ms)
            }
            fn audit_scan(
                &self,
                range: &AuditRange<'_>,
                each: &mut dyn FnMut(AuditRow) -> Result<()>,
            ) -> Result<()> {
                self.ops().audit_scan(range, each)
            }
            fn audit_last_containing(
                &self,
                below_seq: u64,
                needle: &str,
            ) -> Result<Option<(u64, String)>> {
                self.ops().audit_last_containing(below_seq, needle)
            }
            fn put_audit_checkpoint(&self, size: u64, note: &str) -> Result<()> {
                self.ops().put_audit_checkpoint(size, note)
            }
            fn audit_checkpoint(&self, size: u64) -> Result<Option<String>> {
                self.ops().audit_checkpoint(size)
            }
            fn delete_audit_checkpoint(&self, size: u64) -> Result<()> {
                self.ops().delete_audit_checkpoint(size)
            }
            fn audit_checkpoints(&self) -> Result<Vec<(u64, String)>> {
                self.ops().audit_checkpoints()
            }
            fn meta(&self, key: &str) -> Result<Option<String>> {
                self.ops().meta(key)
            }
            fn put_meta(&self, key: &str, value: &str) -> Result<()> {
                self.ops().put_meta(key, value)
            }
            fn user(&self, name: &str) -> Result<Option<UserRow>> {
                self.ops().user(name)
            }
            fn users(&self) -> Result<Vec<UserRow>> {
                self.ops().users()
            }
            fn insert_user(&self, u: &UserRow) -> Result<()> {
                self.ops().insert_user(u)
            }
            fn update_user(&self, u: &UserRow) -> Result<()> {
                self.ops().update_user(u)
            }
            fn add_login_failure(&self, user: &str, at_ms: i64, ip: &str) -> Result<()> {
                self.ops().add_login_failure(user, at_ms, ip)
            }
            fn login_failures(
                &self,
                user: Option<&str>,
                ip: Option<&str>,
                since_ms: i64,
            ) -> Result<(u64, Option<i64>)> {
                self.ops().login_failures(user, ip, since_ms)
            }
            fn clear_login_failures(&self, user: &str, ip: Option<&str>) -> Result<()> {
                self.ops().clear_login_failures(user, ip)
            }
            fn remember_address(&self, user: &str, ip: &str, at_ms: i64) -> Result<()> {
                self.ops().remember_address(user, ip, at_ms)
            }
            fn address_known(&self, user: &str, ip: &str, since_ms: i64) -> Result<bool> {
                self.ops().address_known(user, ip, since_ms)
            }
            fn put_enrolment(&self, ticket_hash: &[u8], user: &str, expires_ms: i64) -> Result<()> {
                self.ops().put_enrolment(ticket_hash, user, expires_ms)
            }
            fn enrolment(&self, ticket_hash: &[u8], now_ms: i64) -> Result<Option<String>> {
                self.ops().enrolment(ticket_hash, now_ms)
            }
            fn delete_enrolments(&self, user: &str, expired_by: Option<i64>) -> Result<()> {
                self.ops().delete_enrolments(user, expired_by)
            }
            fn insert_session(&self, s: &SessionRow) -> Result<()> {
                self.ops().insert_session(s)
            }
            fn session(&self, id_hash: &[u8]) -> Result<Option<SessionRow>> {
                self.ops().session(id_hash)
            }
            fn touch_session(&self, id_hash: &[u8], seen_ms: i64) -> Result<()> {
                self.ops().touch_session(id_hash, seen_ms)
            }
            fn delete_session(&self, id_hash: &[u8]) -> Result<bool> {
                self.ops().delete_session(id_hash)
            }
            fn delete_sessions_of(&self, user: &str) -> Result<u64> {
                self.ops().delete_sessions_of(user)
            }
            fn sessions(&self) -> Result<Vec<SessionRow>> {
                self.ops().sessions()
            }
            fn insert_token(&self, t: &TokenRow) -> Result<()> {
                self.ops().insert_token(t)
            }
            fn token_by_hash(&self, hash: &[u8]) -> Result<Option<TokenRow>> {
                self.ops().token_by_hash(hash)
            }
            fn revoke_token(&self, id: &str, at_ms: i64) -> Result<bool> {
                self.ops().revoke_token(id, at_ms)
            }
            fn revoke_tokens_of(&self, user: &str, at_ms: i64) -> Result<u64> {
                self.ops().revoke_tokens_of(user, at_ms)
            }
            fn tokens(&self) -> Result<Vec<TokenRow>> {
                self.ops().tokens()
            }
            fn document(&self, shelf: Shelf<'_>, key: &str) -> Result<Option<String>> {
                self.ops().document(shelf, key)
            }
            fn put_document(
                &self,
                shelf: Shelf<'_>,
                key: &str,
                owner: &str,
                body: &str,
            ) -> Result<()> {
                self.ops().put_document(shelf, key, owner, body)
            }
            fn delete_document(&self, shelf: Shelf<'_>, key: &str) -> Result<bool> {
                self.ops().delete_document(shelf, key)
            }
            fn documents(
                &self,
                shelf: Shelf<'_>,
                owner: Option<&str>,
            ) -> Result<Vec<(String, String)>> {
                self.ops().documents(shelf, owner)
            }
        }
    };
}

delegate_access_ops!(SqliteAccessDb);
delegate_access_ops!(SqliteAccessTx<'_>);

/// A transaction on an `access.db`: a write one ([`AccessStore::begin`]) or a read
/// snapshot ([`AccessStore::snapshot`]), rolled back when dropped uncommitted.
pub struct SqliteAccessTx<'c> {
    tx: rusqlite::Transaction<'c>,
    path: &'c Path,
}

impl SqliteAccessTx<'_> {
    fn ops(&self) -> SqliteAccessOps<'_> {
        SqliteAccessOps::new(&self.tx, self.path)
    }
}

impl AccessTx for SqliteAccessTx<'_> {
    fn commit(self: Box<Self>) -> Result<()> {
        let path = self.path;
        self.tx.commit().map_err(|x| crate::err(path, x))
    }
}

impl AccessStore for SqliteAccessDb {
    fn begin(&mut self) -> Result<Box<dyn AccessTx + '_>> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|x| crate::err(&self.path, x))?;
        Ok(Box::new(SqliteAccessTx {
            tx,
            path: &self.path,
        }))
    }

    fn snapshot(&self) -> Result<Box<dyn AccessOps + '_>> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|x| crate::err(&self.path, x))?;
        Ok(Box::new(SqliteAccessTx {
            tx,
            path: &self.path,
        }))
    }
}
