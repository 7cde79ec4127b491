//! Tamper sweep: change one stored value at a time, in every column of every table of
//! `archive.db` and `access.db`, and check that each change is either detected (`verify`
//! or `audit verify` fails) or harmless (everything a person reads is unchanged: stats,
//! every message as search returns it, the users, the audit log).
//!
//! ```text
//! cargo build --release -p chatvault -p chatvault-bench --bin chatvault --bin tamper-sweep
//! target/release/tamper-sweep [--rows 2]
//! ```
//!
//! Prints one line per table (changes, detected, harmless, undetected) and the columns
//! whose change went unnoticed; exits 1 when there is any.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

#[path = "../runner.rs"]
mod runner;
use clap::Parser;
use rusqlite::types::Value as Sql;

#[derive(Parser)]
struct Args {
    /// Rows changed per column (the first and the last).
    #[arg(long, default_value_t = 2)]
    rows: usize,
    /// Print what changed for each undetected change.
    #[arg(long)]
    show: bool,
    /// The chatvault binary (default: beside this one).
    #[arg(long)]
    chatvault: Option<PathBuf>,
}

use runner::run;

/// What a person reads: the counts, every message, the users and the audit log as it
/// stood before the trial (the checks themselves add entries).
fn snapshot(bin: &Path, data: &Path, audit_entries: usize) -> Result<String> {
    let mut all = String::new();
    for args in [
        &["--json", "stats"][..],
        &["--json", "search", "", "--limit", "100000"],
        &["--json", "user", "list"],
        &["--json", "token", "list"],
        &["--json", "request", "list"],
        &["--json", "grant", "list"],
        &["--json", "hold", "list"],
        &["--json", "retention", "list"],
    ] {
        let (_, out) = run(bin, data, args)?;
        all.push_str(&out);
    }
    let (_, out) = run(bin, data, &["--json", "audit", "list"])?;
    let mut v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    if let Some(e) = v.get_mut("entries").and_then(|e| e.as_array_mut()) {
        e.truncate(audit_entries);
    }
    all.push_str(&v.to_string());
    Ok(all)
}

/// The number of entries the audit log holds.
fn audit_len(bin: &Path, data: &Path) -> Result<usize> {
    let (_, out) = run(bin, data, &["--json", "audit", "list"])?;
    let v: serde_json::Value = serde_json::from_str(&out)?;
    Ok(v["entries"].as_array().map_or(0, |a| a.len()))
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dst = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dst)?;
        } else {
            std::fs::copy(e.path(), &dst)?;
        }
    }
    Ok(())
}

/// Another value of the same type: a byte flipped, a character changed, one added.
fn changed(v: &Sql) -> Option<Sql> {
    match v {
        Sql::Integer(i) => Some(Sql::Integer(i.wrapping_add(1))),
        Sql::Real(r) => Some(Sql::Real(r + 1.0)),
        Sql::Text(t) if t.is_empty() => Some(Sql::Text("x".into())),
        Sql::Text(t) => {
            let mut c: Vec<char> = t.chars().collect();
            let i = c.len() / 2;
            c[i] = if c[i] == 'x' { 'y' } else { 'x' };
            Some(Sql::Text(c.into_iter().collect()))
        }
        Sql::Blob(b) if b.is_empty() => Some(Sql::Blob(vec![1])),
        Sql::Blob(b) => {
            let mut b = b.clone();
            let i = b.len() / 2;
            b[i] ^= 0x01;
            Some(Sql::Blob(b))
        }
        Sql::Null => None,
    }
}

#[derive(Default)]
struct Tally {
    changes: usize,
    detected: usize,
    harmless: usize,
    undetected: Vec<String>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let bin = runner::chatvault_binary(args.chatvault.as_deref())?;
    let tmp = tempfile::tempdir()?;
    let base = tmp.path().join("base");
    let export = tmp.path().join("m.jsonl");
    {
        let mut lines: Vec<String> = chatvault_gen::Generator::new(
            chatvault_gen::GenOptions {
                messages: 300,
                seed: 3,
                ..Default::default()
            },
            None,
        )
        .collect();
        lines.push(r#"{"platform":"wecom","conversation_id":"att","conversation_title":"附件","sender_id":"u","sender_name":"Ann","sent_at":"2024-01-01T00:00:00Z","source_id":"att-1","text":"file","attachments":[{"name":"a.txt","mime":"text/plain","data":"aGVsbG8="}]}"#.into());
        std::fs::write(&export, lines.join("\n") + "\n")?;
    }
    for a in [
        &["init"][..],
        &["import", export.to_str().unwrap_or("")],
        &["user", "add", "admin1", "--role", "admin"],
        &[
            "user", "add", "agent1", "--role", "agent", "--team", "t1", "--handle", "wecom:u",
        ],
        &["token", "create", "agent1", "--scope", "read"],
        &["user", "add", "lisa", "--role", "legal"],
        &["user", "add", "boss", "--role", "executive"],
        &[
            "hold", "add", "--as", "boss", "--case-number", "(2026)1", "--reason", "case",
            "--conversation", "wecom:att",
        ],
        &["retention", "set", "short", "--keep", "30", "--platform", "wecom"],
        &["checkpoint"],
    ] {
        let (code, out) = run(&bin, &base, a)?;
        if code != 0 {
            bail!("{a:?}: {out}");
        }
    }
    // A request and the grant its approval makes.
    let (code, out) = run(
        &bin,
        &base,
        &[
            "--json", "request", "file", "--as", "lisa", "--conversation", "wecom:att",
            "--from", "2023-01-01", "--to", "2025-01-01",
            "--reason", "case", "--case-number", "(2026)1",
        ],
    )?;
    let id = serde_json::from_str::<serde_json::Value>(&out)
        .ok()
        .and_then(|v| v["id"].as_str().map(str::to_owned));
    let Some(id) = id.filter(|_| code == 0) else {
        bail!("request file: {out}");
    };
    let expires = (chrono::Utc::now() + chrono::Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    let (code, out) = run(
        &bin,
        &base,
        &["request", "approve", "--as", "boss", "--expires", &expires, &id],
    )?;
    if code != 0 {
        bail!("request approve: {out}");
    }
    let entries = audit_len(&bin, &base)?;
    let before = snapshot(&bin, &base, entries)?;
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut trial = 0usize;
    for db in ["archive.db", "access.db"] {
        let conn = rusqlite::Connection::open(base.join(db))?;
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for table in tables {
            // Columns, and the primary key that addresses a row (else the rowid).
            let cols: Vec<(String, bool)> = conn
                .prepare(&format!("PRAGMA table_info(\"{table}\")"))?
                .query_map([], |r| {
                    Ok((r.get::<_, String>(1)?, r.get::<_, i64>(5)? > 0))
                })?
                .collect::<rusqlite::Result<_>>()?;
            let pk: Vec<String> = cols.iter().filter(|c| c.1).map(|c| c.0.clone()).collect();
            let key: Vec<String> = if pk.is_empty() {
                vec!["rowid".into()]
            } else {
                pk
            };
            let n: i64 = conn.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
                r.get(0)
            })?;
            let offsets: Vec<i64> = if n == 0 {
                vec![]
            } else {
                let mut o = vec![0, n - 1];
                o.truncate(args.rows.max(1));
                o.dedup();
                o
            };
            for (col, _) in &cols {
                for off in &offsets {
                    let select = format!(
                        "SELECT {}, \"{col}\" FROM \"{table}\" LIMIT 1 OFFSET {off}",
                        key.iter()
                            .map(|k| format!("\"{k}\""))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    let row: Vec<Sql> = conn.query_row(&select, [], |r| {
                        (0..=key.len()).map(|i| r.get::<_, Sql>(i)).collect()
                    })?;
                    let Some(new) = changed(&row[key.len()]) else {
                        continue;
                    };
                    trial += 1;
                    let dir = tmp.path().join(format!("t{trial}"));
                    copy_dir(&base, &dir)?;
                    {
                        let c = rusqlite::Connection::open(dir.join(db))?;
                        let cond = key
                            .iter()
                            .enumerate()
                            .map(|(i, k)| format!("\"{k}\" IS ?{}", i + 2))
                            .collect::<Vec<_>>()
                            .join(" AND ");
                        let mut params: Vec<Sql> = vec![new];
                        params.extend(row[..key.len()].iter().cloned());
                        let sql = format!("UPDATE \"{table}\" SET \"{col}\" = ?1 WHERE {cond}");
                        if c.execute(&sql, rusqlite::params_from_iter(params)).is_err() {
                            // A constraint refused it: nothing changed.
                            let _ = std::fs::remove_dir_all(&dir);
                            continue;
                        }
                    }
                    let t = tallies.entry(format!("{db} {table}")).or_default();
                    t.changes += 1;
                    let (v, _) = run(&bin, &dir, &["--json", "verify"])?;
                    let (a, _) = run(&bin, &dir, &["--json", "audit", "verify"])?;
                    if v != 0 || a != 0 {
                        t.detected += 1;
                    } else {
                        let after = snapshot(&bin, &dir, entries)?;
                        if after == before {
                            t.harmless += 1;
                        } else {
                            t.undetected.push(col.clone());
                            if args.show {
                                let diff = before
                                    .lines()
                                    .zip(after.lines())
                                    .find(|(a, b)| a != b)
                                    .map(|(a, b)| format!("- {a}\n+ {b}"))
                                    .unwrap_or_else(|| "(one is longer)".into());
                                eprintln!("{db} {table}.{col} row {off}: undetected\n{diff}");
                            }
                        }
                    }
                    let _ = std::fs::remove_dir_all(&dir);
                }
            }
        }
    }
    println!(
        "{:<36} {:>7} {:>8} {:>8} {:>10}",
        "table", "changes", "detected", "harmless", "undetected"
    );
    let mut undetected = 0;
    for (name, t) in &tallies {
        let mut cols = t.undetected.clone();
        cols.dedup();
        undetected += t.undetected.len();
        println!(
            "{name:<36} {:>7} {:>8} {:>8} {:>10}{}",
            t.changes,
            t.detected,
            t.harmless,
            t.undetected.len(),
            if cols.is_empty() {
                String::new()
            } else {
                format!("   ({})", cols.join(", "))
            }
        );
    }
    if undetected > 0 {
        eprintln!("{undetected} changes went unnoticed and changed what a person reads");
        std::process::exit(1);
    }
    Ok(())
}
