//! Crash points: SIGKILL every writer of the real binary at random moments and check,
//! after each kill, that the archive holds every acknowledged record exactly once and
//! that `verify`, `audit verify` and `backup verify` pass.
//!
//! ```text
//! cargo run --release -p chatvault-bench --bin crash-campaign -- --kills 1000
//! ```
//!
//! Writers: import (acknowledged = the log size of its last `committed` progress event),
//! checkpoint, key rotation, reindex, a retention sweep (which deletes and purges), a
//! backup to a folder, a restore, a deletion approval (`delete approve`), and live ingest
//! (`serve` killed while batches arrive over HTTP; acknowledged = the messages its 200
//! answers said were stored). Each round kills one writer after a random delay
//! (or lets it finish, when it is faster), then checks. Prints one line per writer:
//! tried, killed mid-run, held, failed; exits 1 on any failure. The test suite runs a
//! short pass (`tests/crash_campaign.rs`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

#[path = "../runner.rs"]
mod runner;
use clap::Parser;
use rand::{Rng, SeedableRng};
use serde_json::Value;

#[derive(Parser)]
struct Args {
    /// How many kills in all, spread over the writers.
    #[arg(long, default_value_t = 1000)]
    kills: usize,
    /// Messages in the generated export each import round reads.
    #[arg(long, default_value_t = 20_000)]
    messages: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The chatvault binary (default: beside this one).
    #[arg(long)]
    chatvault: Option<PathBuf>,
}

const WRITERS: &[&str] = &[
    "import",
    "checkpoint",
    "keys-rotate",
    "reindex",
    "sweep",
    "backup",
    "restore",
    "deletion",
    "ingest",
];

#[derive(Default, Clone, Copy)]
struct Tally {
    tried: usize,
    killed: usize,
    held: usize,
    failed: usize,
}

struct World {
    bin: PathBuf,
    dir: PathBuf,
    data: PathBuf,
    export: PathBuf,
    total: u64,
    backups: PathBuf,
    identity: PathBuf,
    recipient: String,
    /// Live ingest: the token, messages sent beside the export (live, and those the
    /// deletion rounds import: at most stored) and acknowledged live (at least stored).
    ingest_token: String,
    live_sent: std::cell::Cell<u64>,
    live_acked: std::cell::Cell<u64>,
}

impl World {
    fn cmd(&self, data: &Path) -> Command {
        runner::command(&self.bin, data)
    }

    fn run(&self, data: &Path, args: &[&str]) -> Result<(i32, String)> {
        runner::run(&self.bin, data, args)
    }

    fn json(&self, data: &Path, args: &[&str]) -> Result<(i32, Value)> {
        runner::json(&self.bin, data, args)
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let bin = runner::chatvault_binary(args.chatvault.as_deref())?;
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().to_owned();
    let data = dir.join("data");
    let export = dir.join("export.jsonl");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&export)?);
        // Half of them old enough for the default 180-day policy to sweep.
        let opts = chatvault_gen::GenOptions {
            messages: args.messages,
            seed: args.seed,
            ..Default::default()
        };
        for l in chatvault_gen::Generator::new(opts, None) {
            writeln!(w, "{l}")?;
        }
    }
    let mut w = World {
        bin,
        data: data.clone(),
        export,
        total: args.messages as u64,
        backups: dir.join("backups"),
        identity: dir.join("backup.key"),
        recipient: String::new(),
        ingest_token: String::new(),
        live_sent: Default::default(),
        live_acked: Default::default(),
        dir,
    };
    let (code, out) = w.run(&data, &["init"])?;
    if code != 0 {
        bail!("init: {out}");
    }
    // An account, so the access database and its audit chain exist from the start.
    for a in [
        &["user", "add", "admin", "--role", "admin"][..],
        &["user", "add", "lisa", "--role", "legal"],
        &["user", "add", "boss", "--role", "executive"],
    ] {
        let (code, out) = w.run(&data, a)?;
        if code != 0 {
            bail!("{a:?}: {out}");
        }
    }
    w.ingest_token = runner::token(
        &w.bin,
        &data,
        &["token", "create", "admin", "--scope", "ingest"],
    )?;

    let (_, k) = w.json(
        &data,
        &[
            "backup",
            "keygen",
            "--out",
            w.identity.to_str().unwrap_or(""),
        ],
    )?;
    w.recipient = k["recipient"].as_str().unwrap_or_default().to_owned();
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let mut tallies = vec![Tally::default(); WRITERS.len()];
    // Each writer's last full run, so kills land inside its run, not after it.
    let mut lengths = vec![400u64; WRITERS.len()];
    let mut failures: Vec<String> = vec![];
    let started = Instant::now();
    for round in 0..args.kills {
        let which = round % WRITERS.len();
        let delay = Duration::from_millis(rng.gen_range(1..=lengths[which].max(2)));
        let t = &mut tallies[which];
        t.tried += 1;
        let began = Instant::now();
        match one_round(&w, WRITERS[which], delay, round) {
            Ok(killed) => {
                t.held += 1;
                t.killed += usize::from(killed);
                if !killed {
                    lengths[which] = began.elapsed().as_millis().clamp(2, 5_000) as u64;
                }
            }
            Err(e) => {
                t.failed += 1;
                failures.push(format!("round {round} ({}): {e:#}", WRITERS[which]));
                if failures.len() > 20 {
                    break;
                }
            }
        }
    }
    // Last: the whole export again stores nothing twice and loses nothing.
    let (code, r) = w.json(&data, &["import", w.export.to_str().unwrap_or("")])?;
    let (stored, dups) = (
        r["stored"].as_u64().unwrap_or(0),
        r["duplicates"].as_u64().unwrap_or(0),
    );
    let (_, st) = w.json(&data, &["stats"])?;
    if code != 0 || stored + dups != w.total {
        failures.push(format!(
            "the final import: exit {code}, {stored} stored + {dups} duplicates of {}",
            w.total
        ));
    }
    println!("writer        tried  killed  held  failed");
    for (name, t) in WRITERS.iter().zip(&tallies) {
        println!(
            "{name:<12} {:>6} {:>7} {:>5} {:>7}",
            t.tried, t.killed, t.held, t.failed
        );
    }
    let sum = tallies.iter().fold(Tally::default(), |a, t| Tally {
        tried: a.tried + t.tried,
        killed: a.killed + t.killed,
        held: a.held + t.held,
        failed: a.failed + t.failed,
    });
    println!(
        "all          {:>6} {:>7} {:>5} {:>7}   ({:.0} s; archive {} messages)",
        sum.tried,
        sum.killed,
        sum.held,
        sum.failed,
        started.elapsed().as_secs_f64(),
        st["messages"]
    );
    for f in &failures {
        eprintln!("FAILED {f}");
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

/// Starts one writer, kills it after `delay` unless it ended first, then checks every
/// invariant. Returns whether it was killed mid-run.
fn one_round(w: &World, writer: &str, delay: Duration, round: usize) -> Result<bool> {
    let restored = w.dir.join(format!("restored-{round}"));
    let export = w.export.to_str().unwrap_or("");
    let backups = w.backups.to_str().unwrap_or("");
    let sweep_at = (chrono::Utc::now() + chrono::Duration::days(400)).to_rfc3339();
    let args: Vec<&str> = match writer {
        "import" => vec!["import", export, "--json", "--progress", "json"],
        "checkpoint" => vec!["checkpoint"],
        "keys-rotate" => vec!["keys", "rotate"],
        "reindex" => vec!["reindex"],
        "sweep" => vec!["retention", "sweep", "--at", &sweep_at],
        "backup" => vec!["backup", "--to", backups, "--recipient", &w.recipient],
        "restore" => vec![
            "restore",
            backups,
            "--to",
            restored.to_str().unwrap_or(""),
            "--identity",
            w.identity.to_str().unwrap_or(""),
        ],
        "deletion" => {
            // Messages of its own to delete (sweeps delete the export's), then a request:
            // the kill lands in its approval.
            let file = w.dir.join(format!("del-{round}.jsonl"));
            let now = chrono::Utc::now().to_rfc3339();
            let lines: Vec<String> = (0..5)
                .map(|i| {
                    serde_json::json!({
                        "platform": "wecom", "conversation_id": format!("del-{round}"),
                        "sender_id": "u1", "sent_at": now,
                        "source_id": format!("del-{round}-{i}"), "text": format!("待删除 {i}"),
                    })
                    .to_string()
                })
                .collect();
            std::fs::write(&file, lines.join("\n") + "\n")?;
            let (code, out) = w.run(&w.data, &["import", file.to_str().unwrap_or("")])?;
            if code != 0 {
                bail!("importing the messages to delete: {out}");
            }
            w.live_sent.set(w.live_sent.get() + 5);
            let conv = format!("wecom:del-{round}");
            let (code, r) = w.json(
                &w.data,
                &[
                    "delete",
                    "request",
                    "--as",
                    "lisa",
                    "--conversation",
                    &conv,
                    "--reason",
                    "campaign",
                ],
            )?;
            let Some(id) = r["id"].as_str().filter(|_| code == 0) else {
                bail!("delete request: exit {code}: {r}");
            };
            return deletion_round(w, id.to_owned(), delay);
        }
        "ingest" => return ingest_round(w, delay, round),
        other => bail!("unknown writer {other}"),
    };
    if writer == "restore" && !w.backups.join("manifests").is_dir() {
        // Nothing to restore yet: take a backup first (not a kill round's subject).
        w.run(
            &w.data,
            &["backup", "--to", backups, "--recipient", &w.recipient],
        )?;
    }
    let mut child = w
        .cmd(&w.data)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    // The import says what is durable as it goes: read it while waiting.
    let stderr = child.stderr.take().context("stderr")?;
    let acknowledged = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let ack = acknowledged.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if v["event"] == "committed" {
                    if let Some(n) = v["log_size"].as_u64() {
                        ack.store(n, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            }
        }
    });
    let killed = kill_after(&mut child, delay)?;
    let _ = reader.join();
    let acknowledged = acknowledged.load(std::sync::atomic::Ordering::SeqCst);

    check_after(w, acknowledged)?;
    // A killed restore leaves nothing, or a whole archive that verifies.
    if restored.exists() {
        let (code, v) = w.json(&restored, &["verify"])?;
        if code != 0 {
            bail!("the restored archive: verify exit {code}: {v}");
        }
        let _ = std::fs::remove_dir_all(&restored);
    }
    let _ = std::fs::remove_dir_all(restored.with_extension("restoring"));
    Ok(killed)
}

/// What must hold after every kill: the log holds what was acknowledged, nothing twice,
/// and `verify`, `audit verify` and `backup verify` pass.
fn check_after(w: &World, acknowledged: u64) -> Result<()> {
    let backups = w.backups.to_str().unwrap_or("");
    let (code, st) = w.json(&w.data, &["stats"])?;
    if code != 0 {
        bail!("stats after the kill: exit {code}: {st}");
    }
    let log = st["log_size"]
        .as_u64()
        .or(st["messages"].as_u64())
        .unwrap_or(0);
    if log < acknowledged {
        bail!("{log} in the log < {acknowledged} acknowledged");
    }
    if st["messages"].as_u64().unwrap_or(0) > w.total + w.live_sent.get() {
        bail!(
            "{} messages > the {} written: stored twice",
            st["messages"],
            w.total + w.live_sent.get()
        );
    }
    let (code, v) = w.json(&w.data, &["verify"])?;
    if code != 0 {
        bail!("verify: exit {code}: {v}");
    }
    let (code, v) = w.json(&w.data, &["audit", "verify"])?;
    if code != 0 {
        bail!("audit verify: exit {code}: {v}");
    }
    if w.backups.join("manifests").is_dir() {
        let (code, v) = w.json(&w.data, &["backup", "verify", backups])?;
        if code != 0 {
            bail!("backup verify: exit {code}: {v}");
        }
    }
    Ok(())
}

/// Kills `delete approve` mid-run. Afterwards the request is pending, or approved and
/// (once the next `delete` command has carried out what a kill cut off) every message it
/// names that no hold covers is deleted.
fn deletion_round(w: &World, id: String, delay: Duration) -> Result<bool> {
    let mut child = w
        .cmd(&w.data)
        .args(["delete", "approve", "--as", "boss", &id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let killed = kill_after(&mut child, delay)?;
    check_after(w, 0)?;
    let (code, list) = w.json(&w.data, &["delete", "list"])?;
    if code != 0 {
        bail!("delete list: exit {code}: {list}");
    }
    let req = list["requests"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["id"] == id.as_str()))
        .cloned()
        .unwrap_or_default();
    if req["status"] == "approved" {
        let deleted: std::collections::HashSet<&str> = list["deletions"]
            .as_array()
            .map(|a| a.iter().filter_map(|d| d["id"].as_str()).collect())
            .unwrap_or_default();
        let missing = req["messages"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|x| x.as_str())
                    .filter(|x| !deleted.contains(x))
                    .count()
            })
            .unwrap_or(0);
        if missing > 0 {
            bail!("request {id} is approved but {missing} of its messages are not deleted");
        }
    } else if req["status"] != "pending" {
        bail!("request {id} after the kill: {req}");
    }
    Ok(killed)
}

/// Kills `serve` while batches arrive over HTTP. Every message a 200 answer acknowledged
/// must be in the archive afterwards.
fn ingest_round(w: &World, delay: Duration, round: usize) -> Result<bool> {
    let (mut server, addr) = runner::serve(&w.bin, &w.data)?;
    let token = w.ingest_token.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let poster = std::thread::spawn(move || {
        let (mut sent, mut acked) = (0u64, 0u64);
        let mut batch = 0u64;
        while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
            let msgs: Vec<Value> = (0..50)
                .map(|i| {
                    serde_json::json!({
                        "platform": "wecom", "conversation_id": "live", "sender_id": "u1",
                        "sent_at": "2026-01-01T00:00:00Z",
                        "source_id": format!("live-{round}-{batch}-{i}"),
                        "text": format!("在线消息 {round} {batch} {i}"),
                    })
                })
                .collect();
            batch += 1;
            sent += msgs.len() as u64;
            let body = serde_json::json!({ "messages": msgs }).to_string();
            match runner::http(&addr, "POST", "/api/v1/messages", &token, Some(&body)) {
                Ok((_, 200, b)) => {
                    acked += serde_json::from_str::<Value>(&b)
                        .ok()
                        .and_then(|v| {
                            v["results"].as_array().map(|r| {
                                r.iter().filter(|x| x["status"] == "stored").count() as u64
                            })
                        })
                        .unwrap_or(0);
                }
                _ => break,
            }
        }
        (sent, acked)
    });
    let killed = kill_after(&mut server, delay)?;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (sent, acked) = poster.join().unwrap_or_default();
    w.live_sent.set(w.live_sent.get() + sent);
    w.live_acked.set(w.live_acked.get() + acked);
    check_after(w, 0)?;
    let (code, c) = w.json(&w.data, &["show", "wecom:live", "--limit", "1"])?;
    let have = c["total"].as_u64().unwrap_or(0);
    if w.live_acked.get() > 0 && (code != 0 || have < w.live_acked.get()) {
        bail!(
            "{have} live messages stored < {} acknowledged (exit {code})",
            w.live_acked.get()
        );
    }
    Ok(killed)
}

/// Waits for `child` until `delay`, then SIGKILLs it. Returns whether it was killed.
fn kill_after(child: &mut std::process::Child, delay: Duration) -> Result<bool> {
    let deadline = Instant::now() + delay;
    loop {
        if child.try_wait()?.is_some() {
            return Ok(false);
        }
        if Instant::now() >= deadline {
            child.kill()?; // SIGKILL
            child.wait()?;
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
