//! The access database's own state, bound to the signed audit chain.
//!
//! Accounts, tokens, sign-in enrolments, requests, grants, retention policies, holds and
//! deletions give or take away rights. An attacker who can write `access.db` (a stolen
//! disk, a writable backup target) could otherwise raise a role, revive a revoked token
//! or drop a legal hold, and nothing signed would disagree. So every transaction that
//! changes one of the [`SEALED`] tables writes, into its last audit entry, the SHA-256
//! of each table it changed (and carries the others' forward): the entry's `state`
//! map. The entry is hash-chained and its checkpoint signed by the audit key, so
//! [`Access::audit_verify`] recomputes every table's digest and names each table that
//! no longer matches the newest signed map.
//!
//! Which tables changed is known from temporary triggers on this connection, not from
//! each call site remembering to say so: a new write path cannot forget.
//!
//! Sessions change on every request (their idle timer), so they are not in the map:
//! each session row carries a tag (AES-GCM over its immutable fields, under the key
//! that seals TOTP secrets), and a row without a valid tag is no session.
//!
//! The throttling tables (`login_failures`, `known_addresses`) are not bound: they
//! hold no right, and an edit there can at most slow or speed one address's retries.

use std::collections::BTreeMap;

use rusqlite::Connection;
use sha2::Digest;

use crate::{Result, Tx};

/// The bound tables: name, the columns in a fixed order, and which rows.
pub(crate) const SEALED: &[(&str, &str, &str)] = &[
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

/// The signed digests, table by table (hex SHA-256).
pub type StateMap = BTreeMap<String, String>;

/// Creates the triggers that note which bound tables a transaction changes and, before
/// its first change to one, copy the table as it stood (`temp.pre_TABLE`): the copy is
/// checked against the signed map before the new digest is signed, so a later change
/// through chatvault never makes an earlier edit to the file legitimate.
pub(crate) fn install_triggers(conn: &Connection) -> rusqlite::Result<()> {
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

/// The digest of one bound table as stored now.
pub(crate) fn table_digest(conn: &Connection, table: &str) -> rusqlite::Result<String> {
    digest_of(conn, table, &format!("main.{table}"))
}

/// The digest of `table`'s rows as read from `from` (the table, or its copy).
fn digest_of(conn: &Connection, table: &str, from: &str) -> rusqlite::Result<String> {
    let Some((_, cols, rest)) = SEALED.iter().find(|s| s.0 == table) else {
        return Err(rusqlite::Error::InvalidParameterName(table.to_owned()));
    };
    let mut h = sha2::Sha256::new();
    h.update(b"chatvault/access-state/v1\0");
    h.update(table.as_bytes());
    let n = cols.split(',').count();
    let mut st = conn.prepare(&format!("SELECT {cols} FROM {from} {rest}"))?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        for i in 0..n {
            // Each value framed by its type and length, so no two rows run together.
            match r.get_ref(i)? {
                rusqlite::types::ValueRef::Null => h.update([0u8]),
                rusqlite::types::ValueRef::Integer(v) => {
                    h.update([1u8]);
                    h.update(v.to_be_bytes());
                }
                rusqlite::types::ValueRef::Real(v) => {
                    h.update([2u8]);
                    h.update(v.to_be_bytes());
                }
                rusqlite::types::ValueRef::Text(b) => {
                    h.update([3u8]);
                    h.update((b.len() as u64).to_be_bytes());
                    h.update(b);
                }
                rusqlite::types::ValueRef::Blob(b) => {
                    h.update([4u8]);
                    h.update((b.len() as u64).to_be_bytes());
                    h.update(b);
                }
            }
        }
    }
    Ok(hex::encode(h.finalize()))
}

impl Tx<'_> {
    /// The bound tables this transaction changed, forgetting them.
    pub(crate) fn take_dirty(&self) -> Result<Vec<String>> {
        let mut st = self
            .tx
            .prepare("SELECT tbl FROM temp.sealed_dirty ORDER BY tbl")
            .map_err(|e| self.e(e))?;
        let dirty = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.e(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.e(e))?;
        // Most transactions change no bound table (every session lookup is one): they
        // only read here.
        if !dirty.is_empty() {
            self.tx
                .execute("DELETE FROM temp.sealed_dirty", [])
                .map_err(|e| self.e(e))?;
        }
        Ok(dirty)
    }

    /// Marks every bound table changed (the first map of a database).
    pub(crate) fn mark_all_dirty(&self) -> Result<()> {
        for (table, cols, rest) in SEALED {
            let rows = rest.split("ORDER BY").next().unwrap_or("");
            self.tx
                .execute_batch(&format!(
                    "INSERT OR IGNORE INTO temp.sealed_dirty (tbl) VALUES ('{table}');
                     DELETE FROM temp.pre_{table};
                     INSERT INTO temp.pre_{table} SELECT {cols} FROM main.{table} {rows};"
                ))
                .map_err(|e| self.e(e))?;
        }
        Ok(())
    }

    /// The map after this transaction: the previous one with each changed table's new
    /// digest (`None` when no bound table changed), and the changed tables that did not
    /// match the signed map before this transaction touched them: edited outside
    /// chatvault. The entry records those for good, so `audit verify` keeps naming them.
    pub(crate) fn next_state(&self) -> Result<Option<(StateMap, Vec<String>)>> {
        let dirty = self.take_dirty()?;
        if dirty.is_empty() {
            return Ok(None);
        }
        let mut map = newest_state(self.ops)?
            .map(|(_, m)| m)
            .unwrap_or_default();
        let first = map.is_empty();
        let mut altered = vec![];
        for table in dirty {
            let before =
                digest_of(self.tx, &table, &format!("temp.pre_{table}")).map_err(|e| self.e(e))?;
            self.tx
                .execute(&format!("DELETE FROM temp.pre_{table}"), [])
                .map_err(|e| self.e(e))?;
            // A table the newest map lacks was never signed: only the first map may
            // add tables.
            if map.get(&table).map_or(!first, |signed| *signed != before) {
                altered.push(table.clone());
            }
            let d = table_digest(self.tx, &table).map_err(|e| self.e(e))?;
            map.insert(table, d);
        }
        Ok(Some((map, altered)))
    }
}

/// The newest map the chain signs: the last entry that carries one. Read from the
/// chain itself (backwards from the head, so it costs the entries since the last change),
/// never from a pointer a file edit could move.
pub(crate) fn newest_state(
    ops: &dyn chatvault_store::access::AccessOps,
) -> chatvault_store::Result<Option<(u64, StateMap)>> {
    let mut below = u64::MAX;
    loop {
        let Some((seq, body)) = ops.audit_last_containing(below, "\"state\":{")? else {
            return Ok(None);
        };
        // The text may also sit inside `details`: only the entry's own map counts.
        if let Ok(crate::AuditEntry { state: Some(m), .. }) = serde_json::from_str(&body) {
            return Ok(Some((seq, m)));
        }
        below = seq;
    }
}

/// An edit found when chatvault next changed the table (recorded in entry `seq`).
pub(crate) fn altered_problem(seq: u64, table: &str) -> String {
    format!(
        "access.db `{table}`: was changed outside chatvault before audit entry {seq}, which found it ({})",
        what_it_holds(table)
    )
}

/// What differs between the stored tables and the newest signed map.
pub(crate) fn state_problems(
    conn: &Connection,
    signed: Option<(u64, &StateMap)>,
    path: &std::path::Path,
) -> Result<Vec<String>> {
    let Some((seq, map)) = signed else {
        return Ok(vec![
            "no audit entry binds the accounts, tokens, requests, grants and retention rules (the access state is unsigned)".into(),
        ]);
    };
    let mut out = vec![];
    for (table, _, _) in SEALED {
        let now = table_digest(conn, table).map_err(|e| crate::db(path, e))?;
        match map.get(*table) {
            Some(d) if *d == now => {}
            Some(_) => out.push(format!(
                "access.db `{table}`: differs from the state signed in audit entry {seq} ({})",
                what_it_holds(table)
            )),
            None => out.push(format!(
                "access.db `{table}`: missing from the state signed in audit entry {seq}"
            )),
        }
    }
    Ok(out)
}

fn what_it_holds(table: &str) -> &'static str {
    match table {
        "users" => "an account's role, team, handles, password, TOTP or status was changed, or an account added or removed, outside chatvault",
        "tokens" => "an API token was added, changed, revived or removed outside chatvault",
        "enrolments" => "a TOTP enrolment was added or changed outside chatvault",
        "requests" => "a retrieval request was changed outside chatvault",
        "grants" => "a grant was added, widened or removed outside chatvault",
        "lifecycle" => "a retention policy, tag rule, hold, deletion or restriction was changed outside chatvault",
        "audit" => "entries were appended to the audit log outside chatvault, with no signed checkpoint",
        _ => "edited outside chatvault",
    }
}

/// The tag a session row carries: AES-GCM over nothing, its immutable fields as
/// associated data. Only a holder of the sealing key can make one.
pub(crate) fn session_aad(id_hash: &[u8], user: &str, csrf: &str, created_ms: i64) -> Vec<u8> {
    let mut aad = b"chatvault/session/v1\0".to_vec();
    for part in [id_hash, user.as_bytes(), csrf.as_bytes()] {
        aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
        aad.extend_from_slice(part);
    }
    aad.extend_from_slice(&created_ms.to_be_bytes());
    aad
}
