//! `cargo run --release -p chatvault-bench --bin purge-bench -- --messages 1000000`
//!
//! How fast deleted messages are purged (the goal: 1 M in ≤ 10 s on this machine). On
//! one generated archive every message is deleted (by a retention policy), then purged:
//! content destroyed, attachments and data keys of emptied conversations removed,
//! tombstones written, in crash-safe batches. Beside it, in the same run, the floor: one
//! bare SQLite `UPDATE messages SET body = NULL` over a copy of the same database (with
//! the same `secure_delete`). Then `verify` must pass with every message purged.

use std::time::Instant;

use anyhow::{bail, Result};
use chatvault_archive::{Archive, DeletionReason, KeyProvider, RetentionRules};
use chatvault_gen::{GenOptions, Generator};
use chatvault_policy::retention::{Keep, Matcher, RetentionPolicy, Verdict};
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    messages: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let work = std::env::temp_dir().join(format!("chatvault-purge-bench-{}", std::process::id()));
    let data = work.join("archive");
    std::fs::create_dir_all(&work)?;
    let raw = work.join("raw.jsonl");
    {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(std::fs::File::create(&raw)?);
        for l in Generator::new(
            GenOptions {
                messages: args.messages,
                seed: 11,
                ..Default::default()
            },
            None,
        ) {
            writeln!(w, "{l}")?;
        }
    }
    Archive::init(&data, &KeyProvider::default())?;
    let mut a = Archive::open(&data, &KeyProvider::default())?;
    let t = Instant::now();
    let ctx = chatvault_import::ImportContext {
        file_label: raw.display().to_string(),
        ..Default::default()
    };
    let mut records = chatvault_import::CanonicalJsonl.open(
        Box::new(std::io::BufReader::new(std::fs::File::open(&raw)?)),
        ctx,
    );
    let report = a.import(&mut records, &mut |_| {})?;
    println!(
        "archive: {} messages in {} conversations, imported in {:.1} s",
        report.stored,
        report.conversations,
        t.elapsed().as_secs_f64()
    );

    // Every message is past a one-day default at a far-future date.
    let policies = vec![RetentionPolicy::new(
        "default",
        Matcher::default(),
        Keep::Days(1),
    )?];
    let none = |_: &str, _: &str| vec![];
    let rules = RetentionRules {
        policies: &policies,
        tag_rules: &[],
        holds: &[],
        manual_tags: &none,
    };
    let later = chrono::Utc::now().timestamp_millis() + 3650 * 86_400_000;
    let t = Instant::now();
    let mut ids = vec![];
    a.retention_plan(&rules, later, &mut |e| {
        if matches!(e.verdict, Verdict::Expired { .. }) {
            ids.push(e.id);
        }
        Ok(())
    })?;
    let plan_s = t.elapsed().as_secs_f64();
    let reason = DeletionReason {
        rule: "policy:default".into(),
        requested_by: "bench".into(),
        approved_by: None,
    };
    let t = Instant::now();
    for chunk in ids.chunks(50_000) {
        a.delete_messages(chunk, &reason, later, 0)?;
    }
    let delete_s = t.elapsed().as_secs_f64();

    // The floor, on a copy taken now: one UPDATE, nothing else.
    let copy = work.join("floor.db");
    {
        let c = rusqlite::Connection::open(data.join("archive.db"))?;
        c.execute("VACUUM INTO ?1", [copy.display().to_string()])?;
    }
    let floor_s = {
        let c = rusqlite::Connection::open(&copy)?;
        c.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA secure_delete = ON;",
        )?;
        let t = Instant::now();
        c.execute("UPDATE messages SET body = NULL", [])?;
        t.elapsed().as_secs_f64()
    };

    let t = Instant::now();
    let p = a.purge_due(later, &mut |_| {})?;
    let purge_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let v = a.verify(&mut |_| {})?;
    let verify_s = t.elapsed().as_secs_f64();
    a.close()?;
    let n = ids.len() as f64;
    println!("{:<44} {:>10} {:>14}", "step", "seconds", "messages/s");
    println!(
        "{:<44} {:>10.2} {:>14.0}",
        "plan (every message expired)",
        plan_s,
        n / plan_s
    );
    println!(
        "{:<44} {:>10.2} {:>14.0}",
        "delete (recoverable; out of the index)",
        delete_s,
        n / delete_s
    );
    println!(
        "{:<44} {:>10.2} {:>14.0}",
        "baseline: SQLite UPDATE body = NULL",
        floor_s,
        n / floor_s
    );
    println!(
        "{:<44} {:>10.2} {:>14.0}",
        "purge (content, attachments, keys, tombstones)",
        purge_s,
        n / purge_s
    );
    println!(
        "{:<44} {:>10.2} {:>14.0}",
        "verify (tombstones against the log)",
        verify_s,
        n / verify_s
    );
    println!(
        "purged {} messages, {} attachments, {} conversations' keys destroyed; verify ok = {} with {} tombstones",
        p.purged, p.attachments_removed, p.conversations_shredded, v.ok, v.purged
    );
    let goal = 10.0 * n / 1_000_000.0;
    println!(
        "goal: 1 M purged in ≤ 10 s (here {:.0} messages: ≤ {goal:.2} s) → {}",
        n,
        if purge_s <= goal { "met" } else { "MISSED" }
    );
    std::fs::remove_dir_all(&work)?;
    if !v.ok || v.purged != p.purged {
        bail!(
            "verify after the purge: {:?}",
            v.errors.iter().take(3).collect::<Vec<_>>()
        );
    }
    Ok(())
}
