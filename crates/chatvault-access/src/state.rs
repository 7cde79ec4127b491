//! The access database's own state, bound to the signed audit chain.
//!
//! Accounts, tokens, sign-in enrolments, requests, grants, retention policies, holds and
//! deletions give or take away rights. An attacker who can write `access.db` (a stolen
//! disk, a writable backup target) could otherwise raise a role, revive a revoked token
//! or drop a legal hold, and nothing signed would disagree. So every transaction that
//! changes one of the sealed ([`SEALED_TABLES`]) tables writes, into its last audit entry, the SHA-256
//! of each table it changed (and carries the others' forward): the entry's `state`
//! map. The entry is hash-chained and its checkpoint signed by the audit key, so
//! [`Access::audit_verify`] recomputes every table's digest and names each table that
//! no longer matches the newest signed map.
//!
//! Which tables changed the store knows itself (SQLite's temporary triggers on its
//! connection), not each call site remembering to say so: a new write path cannot
//! forget.
//!
//! Sessions change on every request (their idle timer), so they are not in the map:
//! each session row carries a tag (AES-GCM over its immutable fields, under the key
//! that seals TOTP secrets), and a row without a valid tag is no session.
//!
//! The throttling tables (`login_failures`, `known_addresses`) are not bound: they
//! hold no right, and an edit there can at most slow or speed one address's retries.

use std::collections::BTreeMap;

use chatvault_store::access::{AccessOps, Image, Value, SEALED_TABLES};
use sha2::Digest;

use crate::{Result, Tx};

/// The signed digests, table by table (hex SHA-256).
pub type StateMap = BTreeMap<String, String>;

/// The digest of one sealed table's rows, as they are or as they stood before this
/// transaction changed it.
pub(crate) fn table_digest(
    ops: &dyn AccessOps,
    table: &str,
    image: Image,
) -> chatvault_store::Result<String> {
    let mut h = sha2::Sha256::new();
    h.update(b"chatvault/access-state/v1\0");
    h.update(table.as_bytes());
    ops.sealed_rows(table, image, &mut |row| {
        for v in row {
            // Each value framed by its type and length, so no two rows run together.
            match v {
                Value::Null => h.update([0u8]),
                Value::Integer(v) => {
                    h.update([1u8]);
                    h.update(v.to_be_bytes());
                }
                Value::Real(v) => {
                    h.update([2u8]);
                    h.update(v.to_be_bytes());
                }
                Value::Text(b) => {
                    h.update([3u8]);
                    h.update((b.len() as u64).to_be_bytes());
                    h.update(b);
                }
                Value::Blob(b) => {
                    h.update([4u8]);
                    h.update((b.len() as u64).to_be_bytes());
                    h.update(b);
                }
            }
        }
    })?;
    Ok(hex::encode(h.finalize()))
}

impl Tx<'_> {
    /// Marks every bound table changed (the first map of a database).
    pub(crate) fn mark_all_dirty(&self) -> Result<()> {
        Ok(self.ops.mark_all_sealed_changed()?)
    }

    /// The map after this transaction: the previous one with each changed table's new
    /// digest (`None` when no bound table changed), and the changed tables that did not
    /// match the signed map before this transaction touched them: edited outside
    /// chatvault. The entry records those for good, so `audit verify` keeps naming them.
    pub(crate) fn next_state(&self) -> Result<Option<(StateMap, Vec<String>)>> {
        let dirty = self.ops.take_sealed_changes()?;
        if dirty.is_empty() {
            return Ok(None);
        }
        let mut map = newest_state(self.ops)?.map(|(_, m)| m).unwrap_or_default();
        let first = map.is_empty();
        let mut altered = vec![];
        for table in dirty {
            let before = table_digest(self.ops, &table, Image::BeforeChange)?;
            self.ops.clear_before_image(&table)?;
            // A table the newest map lacks was never signed: only the first map may
            // add tables.
            if map.get(&table).map_or(!first, |signed| *signed != before) {
                altered.push(table.clone());
            }
            let d = table_digest(self.ops, &table, Image::Now)?;
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
    ops: &dyn AccessOps,
    signed: Option<(u64, &StateMap)>,
) -> Result<Vec<String>> {
    let Some((seq, map)) = signed else {
        return Ok(vec![
            "no audit entry binds the accounts, tokens, requests, grants and retention rules (the access state is unsigned)".into(),
        ]);
    };
    let mut out = vec![];
    for table in SEALED_TABLES {
        let now = table_digest(ops, table, Image::Now)?;
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

#[cfg(test)]
mod digest_tests {
    use super::*;

    /// The digest's framing is fixed: databases in use carry signed maps made with it.
    /// The constant was computed apart from this code (SHA-256 over the domain tag, the
    /// table name, and each value as type byte, big-endian length and bytes).
    #[test]
    fn a_table_digest_is_the_framed_sha256_of_its_rows() {
        let dir = tempfile::tempdir().expect("tmp");
        let db =
            chatvault_store_sqlite::access::SqliteAccessDb::open(&dir.path().join("access.db"))
                .expect("open");
        db.put_document(chatvault_store::access::Shelf::Requests, "r1", "zoe", "{}")
            .expect("put");
        assert_eq!(
            table_digest(&db, "requests", Image::Now).expect("digest"),
            "5a860a0be950e26cf9f1c615d08c78f74a8d968727dc1b872309b19b37c501a1"
        );
    }
}
