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
            "hold",
            "add",
            "--as",
            "boss",
            "--case-number",
            "(2026)1",
            "--reason",
            "case",
            "--conversation",
            "wecom:att",
        ],
        &[
            "retention",
            "set",
            "short",
            "--keep",
            "30",
            "--platform",
            "wecom",
        ],
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
            "--json",
            "request",
            "file",
            "--as",
            "lisa",
            "--conversation",
            "wecom:att",
            "--from",
            "2023-01-01",
            "--to",
            "2025-01-01",
            "--reason",
            "case",
            "--case-number",
            "(2026)1",
            "--rights",
            "view,export,pii.view",
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
        &[
            "request",
            "approve",
            "--as",
            "boss",
            "--expires",
            &expires,
            &id,
        ],
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
                    runner::copy_dir(&base, &dir)?;
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
    sweep_files(
        &bin,
        &base,
        tmp.path(),
        &before,
        entries,
        &mut tallies,
        args.show,
    )?;
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

/// Every file under `dir` (recursively), sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Flips one bit at `at` (a fraction of the file's length) in a copy's file.
fn flip(path: &Path, at: f64) -> Result<bool> {
    let mut b = std::fs::read(path)?;
    if b.is_empty() {
        return Ok(false);
    }
    let i = ((b.len() - 1) as f64 * at) as usize;
    b[i] ^= 0x01;
    std::fs::write(path, b)?;
    Ok(true)
}

/// The entries of a zip and their bytes, or None when it cannot be read.
fn zip_entries(path: &Path) -> Option<Vec<(String, Vec<u8>)>> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).ok()?).ok()?;
    let mut out = vec![];
    for i in 0..z.len() {
        let mut f = z.by_index(i).ok()?;
        let mut b = vec![];
        std::io::Read::read_to_end(&mut f, &mut b).ok()?;
        out.push((f.name().to_owned(), b));
    }
    Some(out)
}

/// The files beside the databases: the search index, a backup target and an evidence
/// package. A flipped bit in each file (its start, middle and end) must be detected
/// (`verify`, `backup verify --identity`, `verify PACKAGE`) or harmless (what a person
/// reads is unchanged: the same search answers, the same package entries).
fn sweep_files(
    bin: &Path,
    base: &Path,
    tmp: &Path,
    before: &str,
    entries: usize,
    tallies: &mut BTreeMap<String, Tally>,
    show: bool,
) -> Result<()> {
    const AT: [f64; 3] = [0.0, 0.5, 1.0];
    // The index.
    for file in files(&base.join("index")) {
        let rel = file.strip_prefix(base)?.to_owned();
        if rel.to_string_lossy().ends_with(".lock") {
            continue;
        }
        for at in AT {
            let dir = tmp.join("files-trial");
            let _ = std::fs::remove_dir_all(&dir);
            runner::copy_dir(base, &dir)?;
            if !flip(&dir.join(&rel), at)? {
                continue;
            }
            let t = tallies.entry("files index/".into()).or_default();
            t.changes += 1;
            let (v, _) = run(bin, &dir, &["--json", "verify"])?;
            if v != 0 {
                t.detected += 1;
            } else if snapshot(bin, &dir, entries)? == before {
                t.harmless += 1;
            } else {
                t.undetected.push(rel.display().to_string());
                if show {
                    eprintln!("index {} at {at}: undetected", rel.display());
                }
            }
        }
    }
    // A backup target.
    let key = tmp.join("backup.key");
    let (_, k) = runner::json(
        bin,
        base,
        &["backup", "keygen", "--out", key.to_str().unwrap_or("")],
    )?;
    let recipient = k["recipient"].as_str().unwrap_or_default().to_owned();
    let target = tmp.join("backups");
    let (code, out) = run(
        bin,
        base,
        &[
            "backup",
            "--to",
            target.to_str().unwrap_or(""),
            "--recipient",
            &recipient,
        ],
    )?;
    if code != 0 {
        bail!("backup: {out}");
    }
    for file in files(&target) {
        let rel = file.strip_prefix(&target)?.to_owned();
        for at in AT {
            let copy = tmp.join("backup-trial");
            let _ = std::fs::remove_dir_all(&copy);
            runner::copy_dir(&target, &copy)?;
            if !flip(&copy.join(&rel), at)? {
                continue;
            }
            let t = tallies.entry("files backup/".into()).or_default();
            t.changes += 1;
            let (v, _) = run(
                bin,
                base,
                &[
                    "--json",
                    "backup",
                    "verify",
                    copy.to_str().unwrap_or(""),
                    "--identity",
                    key.to_str().unwrap_or(""),
                ],
            )?;
            if v != 0 {
                t.detected += 1;
            } else {
                // Passing verify must mean the restore gives the same archive.
                let restored = tmp.join("restored-trial");
                let _ = std::fs::remove_dir_all(&restored);
                let (r, _) = run(
                    bin,
                    base,
                    &[
                        "restore",
                        copy.to_str().unwrap_or(""),
                        "--to",
                        restored.to_str().unwrap_or(""),
                        "--identity",
                        key.to_str().unwrap_or(""),
                    ],
                )?;
                if r != 0 {
                    t.undetected
                        .push(format!("{} (verify passed, restore failed)", rel.display()));
                } else {
                    t.harmless += 1;
                }
            }
        }
    }
    // An evidence package (lisa holds a grant on the conversation).
    let pkg = tmp.join("package.zip");
    let (code, out) = run(
        bin,
        base,
        &[
            "export",
            "--as",
            "lisa",
            "--evidence",
            "--conversation",
            "wecom:att",
            "--out",
            pkg.to_str().unwrap_or(""),
        ],
    )?;
    if code != 0 {
        bail!("export --evidence: {out}");
    }
    let original = zip_entries(&pkg).unwrap_or_default();
    let len = std::fs::metadata(&pkg)?.len().max(1);
    // Every 97th byte, and the last ones (the zip's central directory).
    let mut positions: Vec<f64> = (0..len)
        .step_by(97)
        .map(|i| i as f64 / len as f64)
        .collect();
    positions.extend([0.999, 1.0]);
    for at in positions {
        let copy = tmp.join("package-trial.zip");
        std::fs::copy(&pkg, &copy)?;
        flip(&copy, at)?;
        let t = tallies.entry("files evidence.zip".into()).or_default();
        t.changes += 1;
        let (v, _) = run(
            bin,
            base,
            &["--json", "verify", copy.to_str().unwrap_or("")],
        )?;
        if v != 0 {
            t.detected += 1;
        } else if zip_entries(&copy).as_ref() == Some(&original) {
            t.harmless += 1;
        } else {
            t.undetected
                .push(format!("byte {:.0}", at * (len - 1) as f64));
        }
    }
    Ok(())
}
