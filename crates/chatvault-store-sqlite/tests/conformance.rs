//! The SQLite store against the conformance suite every store passes
//! (`chatvault_store::conformance`), and its schema upgrades from each older version.

use std::path::PathBuf;

use chatvault_store::conformance::Backend;
use chatvault_store::{Store, StoreRead};
use chatvault_store_sqlite::SqliteStore;

struct Sqlite {
    dir: tempfile::TempDir,
    n: u32,
    last: Option<PathBuf>,
}

impl Sqlite {
    fn new() -> Sqlite {
        Sqlite {
            dir: tempfile::tempdir().expect("tempdir"),
            n: 0,
            last: None,
        }
    }
}

impl Backend for Sqlite {
    fn fresh(&mut self) -> Box<dyn Store> {
        self.n += 1;
        let p = self.dir.path().join(format!("archive-{}.db", self.n));
        self.last = Some(p.clone());
        Box::new(SqliteStore::open(&p).expect("open"))
    }
    fn another(&mut self) -> Box<dyn Store> {
        let p = self.last.clone().expect("fresh first");
        Box::new(SqliteStore::open(&p).expect("open again"))
    }
}

chatvault_store::conformance_tests!(Sqlite::new);

/// The whole schema at version 4: version 5's, with the log one row per stored hash.
fn schema_v4() -> String {
    let v5 = include_str!("../migrations/schema_v5.sql");
    let start = v5
        .find("-- The Merkle log's hashes as tiles")
        .expect("the tiles' comment");
    let end = v5
        .find("CREATE TABLE checkpoints")
        .expect("checkpoints table");
    format!(
        "{}CREATE TABLE log_hashes (idx INTEGER PRIMARY KEY, hash BLOB NOT NULL);\n{}",
        &v5[..start],
        &v5[end..]
    )
}

/// The schema at version 1: version 4's without the PII flags, the sender index and the
/// deletions table.
fn schema_v1() -> String {
    let v4 = schema_v4();
    let cut = v4.find("CREATE TABLE deletions").expect("deletions table");
    v4[..cut].replace("    pii INTEGER,\n", "").replace(
        "CREATE INDEX messages_sender ON messages (sender, conversation);\n",
        "",
    )
}

#[test]
fn older_archives_are_upgraded_step_by_step() {
    for from in 1..=4 {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("archive.db");
        {
            let c = rusqlite::Connection::open(&p).expect("open");
            c.execute_batch(&schema_v1()).expect("v1 schema");
            c.execute_batch(
                "INSERT INTO conversations (id, platform, external_id) VALUES (1, 'wecom', 'c1');
                 INSERT INTO participants (id, platform, handle) VALUES (1, 'wecom', 'u1');
                 INSERT INTO messages (seq, id, conversation, source_id, sender, sender_role, sent_at, received_at, kind, body)
                   VALUES (0, x'00000000000000000000000000000001', 1, 's0', 1, 1, 1000, 1001, 0, x'AA');
                 INSERT INTO log_hashes (idx, hash) VALUES (0, zeroblob(32));",
            )
            .expect("a v1 row");
            // Bring it to `from` with the same steps the store runs.
            for (step, sql) in [
                (1, include_str!("../migrations/v1_to_v2.sql")),
                (2, include_str!("../migrations/v2_to_v3.sql")),
                (3, include_str!("../migrations/v3_to_v4.sql")),
            ] {
                if step < from {
                    c.execute_batch(sql).expect("step");
                }
            }
            c.execute_batch(&format!("PRAGMA user_version = {from};"))
                .expect("version");
        }
        let s = SqliteStore::open(&p).unwrap_or_else(|e| panic!("from v{from}: {e}"));
        let m = s
            .message_by_seq(0)
            .expect("read")
            .expect("the row survives");
        assert_eq!(m.body, Some(vec![0xAA]), "from v{from}");
        assert_eq!(
            m.pii, None,
            "from v{from}: rows before v2 have no PII flags"
        );
        assert!(s.deletions().expect("deletions").is_empty(), "from v{from}");
        assert!(
            s.integrity_check().expect("check").is_empty(),
            "from v{from}"
        );
        let c = rusqlite::Connection::open(&p).expect("open");
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(v, 5, "from v{from}");
        assert_eq!(
            s.read_hashes(&[0]).expect("the log hash, from its tile"),
            vec![[0u8; 32]],
            "from v{from}"
        );
        // The upgraded schema is a new archive's: the same tables, columns and indexes.
        let fresh_path = dir.path().join("fresh.db");
        drop(SqliteStore::open(&fresh_path).expect("fresh"));
        let fresh = rusqlite::Connection::open(&fresh_path).expect("open fresh");
        assert_eq!(shape(&c), shape(&fresh), "from v{from}");
    }
}

/// A version 4 archive's log (one row per stored hash, `log_hashes`) at `p`, holding
/// `hashes`.
fn v4_with_log(p: &std::path::Path, hashes: &[[u8; 32]]) {
    let c = rusqlite::Connection::open(p).expect("open");
    c.execute_batch(&schema_v4()).expect("v4 schema");
    c.execute_batch("PRAGMA user_version = 4; BEGIN;")
        .expect("version");
    for (i, h) in hashes.iter().enumerate() {
        c.execute(
            "INSERT INTO log_hashes (idx, hash) VALUES (?1, ?2)",
            rusqlite::params![i as i64, &h[..]],
        )
        .expect("hash");
    }
    c.execute_batch("COMMIT;").expect("commit");
}

/// Version 5 keeps the log as tiles: an upgrade moves every hash, and reads each one back
/// unchanged, across tiles and tile levels; damage in the old log is recorded, or, when
/// a leaf is missing, the upgrade refused.
#[test]
fn a_version_4_log_moves_into_tiles_unchanged() {
    use chatvault_store::conformance::log_of;
    let dir = tempfile::tempdir().expect("tempdir");
    for n in [0u64, 1, 255, 256, 257, 600, 70_000] {
        let p = dir.path().join(format!("v4-{n}.db"));
        let log = log_of(n);
        v4_with_log(&p, &log);
        let s = SqliteStore::open(&p).unwrap_or_else(|e| panic!("{n} records: {e}"));
        let all: Vec<u64> = (0..log.len() as u64).collect();
        assert_eq!(s.read_hashes(&all).expect("read"), log, "{n} records");
        assert!(s.read_hashes(&[log.len() as u64]).is_err(), "{n} records");
        let c = rusqlite::Connection::open(&p).expect("open");
        let old: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'log_hashes'",
                [],
                |r| r.get(0),
            )
            .expect("schema");
        assert_eq!(old, 0, "{n} records: the old table is gone");
    }
    // Damage in the old log: interior hashes that do not follow from the leaves, or are
    // missing, are found, recorded for `verify`, and the leaves carried over; a missing
    // leaf cannot be carried over, and the archive stays at version 4.
    let log = log_of(600);
    let interior = (0..log.len())
        .rev()
        .find(|&i| tlog_tiles::tlog::split_stored_hash_index(i as u64).0 == 8)
        .expect("a level-8 hash");
    for (name, drop_index, flip_index, refused) in [
        ("a level-1 hash changed", None, Some(2usize), false),
        ("a level-8 hash changed", None, Some(interior), false),
        ("an interior hash missing", Some(2usize), None, false),
        ("a leaf's hash missing", Some(3usize), None, true),
    ] {
        let p = dir
            .path()
            .join(format!("damaged-{}.db", name.replace(' ', "-")));
        let mut old = log.clone();
        if let Some(i) = flip_index {
            old[i][0] ^= 1;
        }
        v4_with_log(&p, &old);
        if let Some(i) = drop_index {
            let c = rusqlite::Connection::open(&p).expect("open");
            c.execute("DELETE FROM log_hashes WHERE idx = ?1", [i as i64])
                .expect("delete");
        }
        match (SqliteStore::open(&p), refused) {
            (Ok(s), false) => {
                let note = s
                    .meta(chatvault_store::LOG_FINDING)
                    .expect("meta")
                    .map(|v| String::from_utf8_lossy(&v).into_owned())
                    .unwrap_or_else(|| panic!("{name}: no finding recorded"));
                assert!(note.contains("damaged"), "{name}: {note}");
                // The tiles give the log the leaves call for.
                let all: Vec<u64> = (0..log.len() as u64).collect();
                assert_eq!(s.read_hashes(&all).expect("read"), log, "{name}");
            }
            (Err(e), true) => {
                assert!(e.to_string().contains("leaf 2 is missing"), "{name}: {e}");
                let c = rusqlite::Connection::open(&p).expect("open");
                let v: i64 = c
                    .query_row("PRAGMA user_version", [], |r| r.get(0))
                    .expect("version");
                assert_eq!(v, 4, "{name}: the archive is left at version 4");
            }
            (Ok(_), true) => panic!("{name}: upgraded"),
            (Err(e), false) => panic!("{name}: refused: {e}"),
        }
    }
    // An intact log records no finding.
    let p = dir.path().join("intact.db");
    v4_with_log(&p, &log);
    let s = SqliteStore::open(&p).expect("open");
    assert_eq!(s.meta(chatvault_store::LOG_FINDING).expect("meta"), None);
}

/// Every table's columns and every index, by name.
fn shape(c: &rusqlite::Connection) -> Vec<String> {
    let mut out = vec![];
    let mut st = c
        .prepare("SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
        .expect("schema");
    let items: Vec<(String, String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    for (kind, name, table) in items {
        out.push(format!("{kind} {name} on {table}"));
        if kind == "table" {
            let mut cols = c
                .prepare(&format!("PRAGMA table_info({name})"))
                .expect("columns");
            let names: Vec<String> = cols
                .query_map([], |r| r.get::<_, String>(1))
                .expect("columns")
                .map(|r| r.expect("column"))
                .collect();
            out.push(format!("  {name}: {}", names.join(", ")));
        }
    }
    out
}

#[test]
fn a_newer_archive_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("archive.db");
    rusqlite::Connection::open(&p)
        .expect("open")
        .execute_batch("PRAGMA user_version = 99;")
        .expect("version");
    let e = SqliteStore::open(&p).err().expect("refused");
    let text = e.to_string();
    assert!(
        text.contains("schema version 99") && text.contains("archive.db"),
        "{text}"
    );
}

/// The report cache's store against its suite.
struct Summaries {
    dir: tempfile::TempDir,
    n: u32,
}

impl chatvault_store::conformance_summaries::SummaryBackend for Summaries {
    fn fresh(&mut self, version: &str) -> Box<dyn chatvault_store::summaries::SummaryStore> {
        self.n += 1;
        self.reopen(version)
    }
    fn reopen(&mut self, version: &str) -> Box<dyn chatvault_store::summaries::SummaryStore> {
        let p = self.dir.path().join(format!("analytics-{}.db", self.n));
        Box::new(chatvault_store_sqlite::SqliteSummaries::open(&p, version).expect("open"))
    }
}

chatvault_store::summaries_conformance_tests!(|| Summaries {
    dir: tempfile::tempdir().expect("tempdir"),
    n: 0
});

/// The access database's store against its suite.
struct AccessDb {
    dir: tempfile::TempDir,
    n: u32,
}

impl chatvault_store::conformance_access::AccessBackend for AccessDb {
    fn fresh(&mut self) -> Box<dyn chatvault_store::access::AccessStore> {
        self.n += 1;
        self.another()
    }
    fn another(&mut self) -> Box<dyn chatvault_store::access::AccessStore> {
        let p = self.dir.path().join(format!("access-{}.db", self.n));
        Box::new(chatvault_store_sqlite::access::SqliteAccessDb::open(&p).expect("open"))
    }
}

chatvault_store::access_conformance_tests!(|| AccessDb {
    dir: tempfile::tempdir().expect("tempdir"),
    n: 0
});
